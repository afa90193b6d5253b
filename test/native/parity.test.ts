/*
 * Parity with Hugging Face transformers: golden fixtures made by test/fixtures/make_fixtures.py
 * (small random models, fixed seeds). Outputs must match within 1e-5 (fp32, CPU), from both
 * model.safetensors and pytorch_model.bin; a model we save must reload in Python transformers.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra, type ForwardResult } from '../../src/electra';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import type { NativeTensor } from '../../src/native';

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

function pythonHasTransformers(): boolean {
  const r = spawnSync('python3', ['-c', 'import torch, transformers, safetensors'], { encoding: 'utf8' });
  return r.status === 0;
}

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

  test('round trip: what we save reloads in Python transformers with the same outputs', async () => {
    if (!pythonHasTransformers()) {
      console.warn('round trip not checked: python3 lacks torch/transformers/safetensors (pip install torch transformers)');
      return;
    }
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
  });

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
