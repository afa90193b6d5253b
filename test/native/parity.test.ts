/*
 * Parity with Hugging Face transformers: golden fixtures made by test/fixtures/make_fixtures.py
 * (small random models, fixed seeds). Outputs must match within 1e-5 (fp32, CPU), from both
 * model.safetensors and pytorch_model.bin; a model we save must reload in Python transformers.
 * bf16 inference (autocast) is held to a stated tolerance against the same fp32 references.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra, type ForwardResult } from '../../src/electra';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import type { NativeTensor } from '../../src/native';
import { python, testIf } from '../prerequisites';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');
const CASES: { name: string; cls: string; outputs: [string, keyof ForwardResult][] }[] = [
  { name: 'disc-proj', cls: 'ElectraForPreTraining', outputs: [['discriminator_logits', 'discriminator']] },
  { name: 'disc-noproj', cls: 'ElectraForPreTraining', outputs: [['discriminator_logits', 'discriminator']] },
  { name: 'gen', cls: 'ElectraForMaskedLM', outputs: [['generator_logits', 'generator']] },
  { name: 'seqcls', cls: 'ElectraForSequenceClassification', outputs: [['classification_logits', 'classification']] },
  { name: 'tokcls', cls: 'ElectraForTokenClassification', outputs: [['token_logits', 'tokens']] },
  { name: 'qa', cls: 'ElectraForQuestionAnswering', outputs: [['start_logits', 'start'], ['end_logits', 'end']] },
  { name: 'base', cls: 'ElectraModel', outputs: [] },
];

function expected(name: string): Map<string, NativeTensor> {
  return readSafetensors(path.join(FIXTURES, name, 'expected.safetensors')).tensors;
}

function batchOf(exp: Map<string, NativeTensor>) {
  const ids = exp.get('input_ids')!;
  return {
    inputIds: Int32Array.from(ids.data as Int32Array),
    attentionMask: Int32Array.from(exp.get('attention_mask')!.data as Int32Array),
    tokenTypeIds: Int32Array.from(exp.get('token_type_ids')!.data as Int32Array),
    shape: [ids.shape[0]!, ids.shape[1]!] as [number, number],
  };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function checkOutputs(model: Electra, name: string, outputs: [string, keyof ForwardResult][]): Promise<void> {
  const exp = expected(name);
  const r = await model.forward(batchOf(exp), { hidden: true });
  const hidden = exp.get('last_hidden_state')!;
  expect(r.hidden!.shape).toEqual(hidden.shape);
  expect(maxAbsDiff(r.hidden!.data, hidden.data as Float32Array)).toBeLessThan(1e-5);
  for (const [file, key] of outputs) {
    const want = exp.get(file)!;
    const got = r[key] as { shape: number[]; data: Float32Array };
    expect(got.shape).toEqual(want.shape);
    expect(maxAbsDiff(got.data, want.data as Float32Array)).toBeLessThan(1e-5);
  }
}

/** Max and mean absolute difference. */
function diffs(a: Float32Array, b: Float32Array): { max: number; mean: number } {
  expect(a.length).toBe(b.length);
  let max = 0, sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

// bf16 tolerance (README, "Inference precision"): against Hugging Face's fp32 outputs, max
// absolute difference <= 0.1 and mean <= 0.01 on the last hidden states (LayerNorm output, mean
// |x| ~0.8) and on every head's logits. Measured on the CPU: max 0.039, mean 0.004.
const BF16_MAX = 0.1;
const BF16_MEAN = 0.01;

const testPy = testIf(python(['torch', 'transformers', 'safetensors']));

describe('bf16 inference (autocast, CPU) against the fp32 references', () => {
  for (const c of CASES) {
    test(`${c.name}: within max ${BF16_MAX} / mean ${BF16_MEAN}, and really bf16`, async () => {
      const m = await Electra.load(path.join(FIXTURES, c.name), { precision: 'bf16' });
      try {
        expect(m.precision).toBe('bf16');
        const exp = expected(c.name);
        const r = await m.forward(batchOf(exp), { hidden: true });
        const pairs: [Float32Array, Float32Array][] = [[r.hidden!.data, exp.get('last_hidden_state')!.data as Float32Array]];
        for (const [file, key] of c.outputs) pairs.push([(r[key] as { data: Float32Array }).data, exp.get(file)!.data as Float32Array]);
        for (const [got, want] of pairs) {
          const d = diffs(got, want);
          expect(d.max).toBeLessThanOrEqual(BF16_MAX);
          expect(d.mean).toBeLessThanOrEqual(BF16_MEAN);
        }
        // Not fp32 in disguise: the hidden states differ from fp32's by far more than fp32's 1e-5.
        expect(diffs(pairs[0]![0], pairs[0]![1]).max).toBeGreaterThan(1e-4);
        // A per-call override back to fp32 gives the exact outputs again.
        const r32 = await m.forward(batchOf(exp), { hidden: true, precision: 'fp32' });
        expect(maxAbsDiff(r32.hidden!.data, exp.get('last_hidden_state')!.data as Float32Array)).toBeLessThan(1e-5);
      } finally {
        m.dispose();
      }
    });
  }

  test('an unknown precision is ERR_CONFIG, before or after loading', async () => {
    await expect(Electra.load(path.join(FIXTURES, 'base'), { precision: 'fp8' as never })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('fp8') });
    const m = await Electra.load(path.join(FIXTURES, 'base'));
    try {
      expect(m.precision).toBe('fp32');
      await expect(m.forward(batchOf(expected('base')), { precision: 'half' as never })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
      expect(() => {
        m.precision = 'bf15' as never;
      }).toThrow(/precision must be 'fp32' or 'bf16'/);
    } finally {
      m.dispose();
    }
  });
});

describe('parity with Hugging Face transformers (fp32, CPU)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-parity-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const c of CASES) {
    test(`${c.name}: model.safetensors matches within 1e-5`, async () => {
      const m = await Electra.load(path.join(FIXTURES, c.name));
      try {
        expect(m.head === 'none').toBe(c.cls === 'ElectraModel');
        await checkOutputs(m, c.name, c.outputs);
      } finally {
        m.dispose();
      }
    });

    test(`${c.name}: pytorch_model.bin matches within 1e-5`, async () => {
      const dir = path.join(tmp, `bin-${c.name}`);
      fs.mkdirSync(dir);
      fs.copyFileSync(path.join(FIXTURES, c.name, 'config.json'), path.join(dir, 'config.json'));
      fs.copyFileSync(path.join(FIXTURES, c.name, 'pytorch_model.bin'), path.join(dir, 'pytorch_model.bin'));
      const m = await Electra.load(dir);
      try {
        await checkOutputs(m, c.name, c.outputs);
      } finally {
        m.dispose();
      }
    });
  }

  testPy('round trip: what we save reloads in Python transformers with the same outputs', async () => {
    for (const c of CASES) {
      const m = await Electra.load(path.join(FIXTURES, c.name));
      const out = path.join(tmp, `saved-${c.name}`);
      await m.save(out);
      m.dispose();
      const r = spawnSync('python3', [path.join(__dirname, '..', 'fixtures', 'check_roundtrip.py'), out, c.cls, path.join(FIXTURES, c.name, 'expected.safetensors'), '--tol', '1e-5'], {
        encoding: 'utf8',
      });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      const res = JSON.parse(line) as { ok: boolean; missing: string[]; unexpected: string[]; max_abs_diff: Record<string, number>; error?: string };
      expect({ name: c.name, ok: res.ok, missing: res.missing, unexpected: res.unexpected, error: res.error }).toEqual({
        name: c.name, ok: true, missing: [], unexpected: [], error: undefined,
      });
      for (const v of Object.values(res.max_abs_diff)) expect(v).toBeLessThan(1e-5);
      // And we reload our own output identically.
      const again = await Electra.load(out);
      await checkOutputs(again, c.name, c.outputs);
      again.dispose();
    }
  }, 600_000); // seven Python processes, each importing torch and transformers

  test('a task head absent from the checkpoint is initialised fresh (fine-tuning from a discriminator)', async () => {
    const m = await Electra.load(path.join(FIXTURES, 'disc-proj'), { head: 'sequence-classification' });
    expect(m.head).toBe('sequence-classification');
    const r = await m.forward(batchOf(expected('disc-proj')), { hidden: true });
    expect(r.classification!.shape).toEqual([3, 2]);
    // The body is the discriminator's: hidden states match the fixture.
    expect(maxAbsDiff(r.hidden!.data, expected('disc-proj').get('last_hidden_state')!.data as Float32Array)).toBeLessThan(1e-5);
    m.dispose();
  });
});
