/*
 * Fuzzes fine-tuning files (inputs: fuzz-finetune-gen.ts): 10,000 mutated CSV and 10,000 TSV texts
 * through parseFinetuneBuffer, which readFinetuneFile uses (JSONL: fuzz-finetune-jsonl.test.ts),
 * and a subset of all three formats through readFinetuneFile on disk, gzip included (corrupt and
 * truncated archives, a gzip bomb). Each case ends in a set of examples or an ElectraError
 * (ERR_DATA, ERR_IO, ERR_CONFIG).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { readFinetuneFile } from '../../src/data/finetune';
import { fuzz, fuzzTmpDir, mutateBytes, report, showJsonish, expectBothOutcomes } from './fuzz-helpers';
import { CASES, checkSet, fuzzFormat, makeOpts, makeText, SEED } from './fuzz-finetune-gen';

const FILE_CASES = 300;

for (const [k, format] of (['csv', 'tsv'] as const).entries()) {
  test(`${CASES} mutated ${format} files end in examples or ERR_DATA (seed 0x${(SEED + k).toString(16)})`, async () => {
    const t = await fuzzFormat(format, SEED + k);
    if (process.env.FUZZ_CASE === undefined) {
      expect(t.cases).toBe(Number(process.env.FUZZ_CASES ?? CASES));
      expect(t.ok).toBeGreaterThan(CASES / 10);
      expect(t.rejected).toBeGreaterThan(CASES / 50);
    }
    expect(t.slowestMs).toBeLessThan(3000);
  });
}

test(`${FILE_CASES} mutated files on disk (plain and gzip) through readFinetuneFile`, async () => {
  const dir = fuzzTmpDir('electra-fuzz-ft-');
  try {
    const t = await fuzz({
      name: 'finetune files',
      seed: SEED + 10,
      cases: FILE_CASES,
      codes: ['ERR_DATA', 'ERR_IO', 'ERR_CONFIG'],
      make: (r) => {
        const format = r.pick(['csv', 'tsv', 'jsonl'] as const);
        const text = makeText(format, r);
        const gz = r.chance(0.4);
        let bytes = gz ? zlib.gzipSync(text) : text;
        if (gz && r.chance(0.5)) bytes = mutateBytes(bytes, r);
        const ext = r.chance(0.9) ? `.${format}` : r.pick(['.txt', '', '.CSV', '.ndjson']);
        return { name: `f${ext}${gz ? '.gz' : ''}`, bytes, opts: makeOpts(r) };
      },
      run: (c) => {
        const f = path.join(dir, c.name);
        fs.writeFileSync(f, c.bytes);
        try {
          checkSet(readFinetuneFile(f, c.opts), c.opts);
        } finally {
          fs.rmSync(f, { force: true });
        }
      },
      show: (c) => showJsonish({ name: c.name, opts: c.opts, bytes: c.bytes.toString('base64').slice(0, 1200) }),
    });
    console.log(report('finetune files (readFinetuneFile, on disk, gzip)', t));
    expectBothOutcomes(t, FILE_CASES);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a gzip bomb is refused without inflating it whole; an oversized text is refused', () => {
  const dir = fuzzTmpDir('electra-fuzz-ft-');
  try {
    // 64 gzip members of 1 MiB of zeros each (~1 KiB compressed apiece) inflate to 64 MiB;
    // inflation stops at the limit (1 MiB here, 512 MiB by default).
    const f = path.join(dir, 'bomb.csv.gz');
    const member = zlib.gzipSync(Buffer.concat([Buffer.from('text,label\n'), Buffer.alloc(1 << 20, 0x61)]), { level: 9 });
    fs.writeFileSync(f, Buffer.concat(Array.from({ length: 64 }, () => member)));
    expect(fs.statSync(f).size).toBeLessThan(200 * 1024);
    expect(() => readFinetuneFile(f, { maxBytes: 1 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringContaining('expands to more than 1048576 bytes') }));
    const plain = path.join(dir, 'big.csv');
    fs.writeFileSync(plain, Buffer.alloc(2 << 20, 0x61));
    expect(() => readFinetuneFile(plain, { maxBytes: 1 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringContaining('too large') }));
    // A corrupt archive is ERR_DATA naming it.
    const bad = path.join(dir, 'bad.jsonl.gz');
    fs.writeFileSync(bad, member.subarray(0, 40));
    expect(() => readFinetuneFile(bad)).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringContaining('bad.jsonl.gz') }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
