/*
 * Honest resume and divergence: an incomplete checkpoint is ERR_CHECKPOINT naming the missing
 * file, --resume-from picks a checkpoint, options that contradict the checkpoint are refused or
 * announced, and a diverged run never saves (or calls good) a state that diverged or is not finite.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../../src/checkpoint/safetensors';
import type { NativeTrainer } from '../../src/native';
import { listCheckpoints, pretrain, type RunOptionsInput } from '../../src/train/loop';
import { Pretrainer } from '../../src/train/pretrainer';
import { smallSetup, TINY } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'electra.cjs');

function trainLosses(out: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const line of fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as { type: string; step: number; loss: number };
    if (r.type === 'train') m.set(r.step, r.loss);
  }
  return m;
}

/** Every float tensor of every .safetensors file under `dir` is finite. */
function allFinite(dir: string): boolean {
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith('.safetensors')) continue;
    for (const t of readSafetensors(path.join(e.parentPath, e.name)).tensors.values()) {
      if (t.dtype === 'float32' && !(t.data as Float32Array).every(Number.isFinite)) return false;
    }
  }
  return true;
}

/** Captures what the run writes to stderr. */
async function withStderr<T>(f: () => Promise<T>): Promise<{ value: T | unknown; err: string }> {
  let err = '';
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  try {
    return { value: await f().catch((e: unknown) => e), err };
  } finally {
    spy.mockRestore();
  }
}

describe('resume and divergence', () => {
  let s: Awaited<ReturnType<typeof smallSetup>>;
  let base: RunOptionsInput;
  let ref: string;
  beforeAll(async () => {
    s = await smallSetup();
    base = {
      out: '', data: s.data, tokenizer: s.tokenizer, preset: 'tiny', discriminator: TINY, generatorFraction: 0.5,
      steps: 8, batch: 4, lr: 5e-4, warmupSteps: 2, evalEvery: 0, evalExamples: 8, saveEvery: 4, keep: 3, logEvery: 1, progress: false, seed: 3,
    };
    ref = path.join(s.dir, 'ref');
    await pretrain({ ...base, out: ref });
  }, 120_000);
  afterAll(() => fs.rmSync(s.dir, { recursive: true, force: true }));

  test('--resume with an incomplete newest checkpoint is ERR_CHECKPOINT naming the directory and the missing file', async () => {
    for (const f of ['trainer_state.json', 'optimizer.safetensors', 'generator/model.safetensors', 'discriminator/config.json']) {
      const out = path.join(s.dir, `incomplete-${f.replace(/\W/g, '_')}`);
      fs.cpSync(ref, out, { recursive: true });
      const ck = path.join(out, 'checkpoint-8');
      fs.rmSync(path.join(ck, f));
      await expect(pretrain({ ...base, out, steps: 10, resume: true })).rejects.toMatchObject({ code: 'ERR_CHECKPOINT', message: `checkpoint ${ck} is incomplete: ${f} is missing` });
    }
    // The CLI says the same, with --resume-from too.
    const ck = path.join(s.dir, 'incomplete-trainer_state_json', 'checkpoint-8');
    const r = spawnSync(process.execPath, [CLI, 'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', path.join(s.dir, 'cli-from'), '--steps', '10', '--batch', '4', '--resume-from', ck, '--no-progress'], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining(`ERR_CHECKPOINT: checkpoint ${ck} is incomplete: trainer_state.json is missing`)]);
  });

  test('--resume-from an older checkpoint continues exactly from it, into another --out', async () => {
    const out = path.join(s.dir, 'from-4');
    const r = await pretrain({ ...base, out, resumeFrom: path.join(ref, 'checkpoint-4') });
    expect([r.startStep, r.step]).toEqual([4, 8]);
    const want = trainLosses(ref), got = trainLosses(out);
    for (let k = 5; k <= 8; k++) expect({ step: k, loss: got.get(k) }).toEqual({ step: k, loss: want.get(k) });
  });

  test('resuming: contradicting --preset, sizes, seed, objective or vocabulary is ERR_CONFIG; a new lr or step count applies, with a notice', async () => {
    const from = path.join(ref, 'checkpoint-4');
    const out = path.join(s.dir, 'contra');
    const cases: [Partial<RunOptionsInput>, string][] = [
      [{ preset: 'small', discriminator: undefined }, '--preset small contradicts the checkpoint'],
      [{ discriminator: { ...TINY, num_hidden_layers: 3 } }, 'discriminator.num_hidden_layers 3 contradicts'],
      [{ generatorFraction: 0.25 }, 'generatorFraction 0.25 contradicts'],
      [{ seed: 4 }, '--seed 4 contradicts'],
      [{ objective: 'mlm' }, '--objective mlm contradicts'],
      [{ initFrom: from }, '--init-from contradicts'],
    ];
    for (const [o, msg] of cases) {
      await expect(pretrain({ ...base, out, resumeFrom: from, ...o })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining(msg) });
    }
    // Another vocabulary (with data prepared for it): refused before any step.
    const other = await smallSetup(32, 100);
    try {
      await expect(pretrain({ ...base, out, data: other.data, tokenizer: other.tokenizer, resumeFrom: from })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('the tokenizer has') });
    } finally {
      fs.rmSync(other.dir, { recursive: true, force: true });
    }
    // Without --preset and the sizes the checkpoint's architecture is used; a new lr and step count apply.
    const { value, err } = await withStderr(() => pretrain({ ...base, preset: undefined, discriminator: undefined, generatorFraction: undefined, out, resumeFrom: from, lr: 1e-4, steps: 6 }));
    expect(value).toMatchObject({ startStep: 4, step: 6 });
    expect(err).toMatch(/changed from the checkpoint \(not an exact continuation\): --lr 0\.0005 -> 0\.0001; --steps 8 -> 6/);
    const st = Pretrainer.readState(path.join(out, 'checkpoint-6'));
    expect([st.options.lr, st.options.totalSteps, st.discriminator.hidden_size]).toEqual([1e-4, 6, TINY.hidden_size]);
  });

  test('--lr 1e30: ERR_DIVERGED saves nothing non-finite or diverged, names the last good checkpoint, and resuming from it with a sane lr trains', async () => {
    // A fresh run that diverges at step 2: its only checkpoint (step 1) is the diverged state.
    const fresh = path.join(s.dir, 'diverge-fresh');
    const e1 = await pretrain({ ...base, out: fresh, lr: 1e30, warmupSteps: 0, clipNorm: 0, steps: 20, saveEvery: 1 }).catch((x: unknown) => x);
    expect(e1).toMatchObject({ code: 'ERR_DIVERGED', message: expect.stringMatching(/non-finite .* at step 2 .*checkpoint-1\.diverged.*no good state is saved/) });
    expect(listCheckpoints(fresh)).toEqual([]);
    // Steps 1-4 at a sane lr, then 1e30 from step 5: step 6 diverges; checkpoint-4 is the last good one.
    const out = path.join(s.dir, 'diverge');
    fs.cpSync(ref, out, { recursive: true });
    fs.rmSync(path.join(out, 'checkpoint-8'), { recursive: true });
    const e2 = await pretrain({ ...base, out, resumeFrom: path.join(out, 'checkpoint-4'), lr: 1e30, warmupSteps: 0, clipNorm: 0, saveEvery: 1 }).catch((x: unknown) => x);
    const good = path.join(out, 'checkpoint-4');
    expect(e2).toMatchObject({ code: 'ERR_DIVERGED', message: expect.stringContaining(`the last good state is ${good} (step 4)`) });
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([4]);
    for (const c of listCheckpoints(out)) expect({ dir: c.dir, finite: allFinite(c.dir) }).toEqual({ dir: c.dir, finite: true });
    const again = await pretrain({ ...base, out, resume: true });
    expect([again.startStep, again.step]).toEqual([4, 8]);
    const want = trainLosses(ref), got = trainLosses(out);
    for (let k = 5; k <= 8; k++) expect({ step: k, loss: got.get(k) }).toEqual({ step: k, loss: want.get(k) });
  });

  test('a NaN optimizer state is refused: on resume (ERR_CHECKPOINT naming the file) and when saving (ERR_DIVERGED, nothing written)', async () => {
    const out = path.join(s.dir, 'nan-opt');
    fs.cpSync(ref, out, { recursive: true });
    const f = path.join(out, 'checkpoint-8', 'optimizer.safetensors');
    const { tensors, metadata } = readSafetensors(f);
    const [name, t] = [...tensors.entries()].find(([, v]) => v.dtype === 'float32')!;
    (t.data as Float32Array)[0] = NaN;
    writeSafetensors(f, [...tensors.entries()].map(([n, v]) => ({ ...v, name: n })), metadata);
    await expect(pretrain({ ...base, out, steps: 10, resume: true })).rejects.toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringContaining(`${f}: tensor ${name} is not finite`) });
    // In memory: the checkpointer refuses to write it.
    const { trainer } = await Pretrainer.fromCheckpoint(path.join(ref, 'checkpoint-8'));
    try {
      const n = (trainer as unknown as { n: NativeTrainer }).n;
      const opt = await n.getState('optimizer');
      const o = opt.find((x) => x.dtype === 'float32')!;
      (o.data as Float32Array)[0] = NaN;
      await n.loadState('optimizer', opt);
      const dir = path.join(s.dir, 'nan-save');
      await expect(trainer.saveCheckpoint(dir)).rejects.toMatchObject({ code: 'ERR_DIVERGED', message: expect.stringContaining(`refusing to write the checkpoint of step 8 to ${dir}: the optimizer tensor ${o.name} is not finite`) });
      expect(fs.existsSync(dir)).toBe(false);
    } finally {
      trainer.dispose();
    }
  });
});
