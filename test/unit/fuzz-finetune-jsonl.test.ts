/*
 * Fuzzes fine-tuning JSONL files (inputs: fuzz-finetune-gen.ts): 10,000 mutated texts through
 * parseFinetuneBuffer, which readFinetuneFile uses. Each case ends in a set of examples or an
 * ElectraError (ERR_DATA).
 */
import { CASES, fuzzFormat, SEED } from './fuzz-finetune-gen';

test(`${CASES} mutated jsonl files end in examples or ERR_DATA (seed 0x${(SEED + 2).toString(16)})`, async () => {
  const t = await fuzzFormat('jsonl', SEED + 2);
  if (process.env.FUZZ_CASE === undefined) {
    expect(t.cases).toBe(Number(process.env.FUZZ_CASES ?? CASES));
    expect(t.ok).toBeGreaterThan(CASES / 10);
    expect(t.rejected).toBeGreaterThan(CASES / 50);
  }
  expect(t.slowestMs).toBeLessThan(3000);
});
