/*
 * The pre-training loop as a user runs it: checkpoints that Python transformers opens, exact
 * resume on CPU, abort with a checkpoint, SIGKILL during checkpoint writing, bad options.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { listCheckpoints, pretrain, type RunOptionsInput } from '../../src/train/loop';
import { logUnigramBias, tokenCounts } from '../../src/train/unigram';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { PretrainDataset } from '../../src/data';
import { ElectraTokenizer } from '../../src/tokenizer';
import { smallSetup, TINY } from './helpers';
import { python, testIf } from '../prerequisites';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'electra.cjs');
const testPy = testIf(python(['torch', 'transformers']));

function trainLosses(out: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const line of fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as { type: string; step: number; loss: number };
    if (r.type === 'train') m.set(r.step, r.loss);
  }
  return m;
}

describe('pre-training loop', () => {
  let s: Awaited<ReturnType<typeof smallSetup>>;
  let base: RunOptionsInput;
  beforeAll(async () => {
    s = await smallSetup();
    base = {
      out: '', data: s.data, tokenizer: s.tokenizer, preset: 'tiny', discriminator: TINY, generatorFraction: 0.5,
      steps: 8, batch: 4, lr: 5e-4, warmupSteps: 2, evalEvery: 4, evalExamples: 8, saveEvery: 4, keep: 2, logEvery: 1, progress: false, seed: 3,
    };
  });
  afterAll(() => fs.rmSync(s.dir, { recursive: true, force: true }));

  test('resume is exact on CPU: losses after resuming from step k equal an uninterrupted run', async () => {
    const a = path.join(s.dir, 'run-a');
    const full = await pretrain({ ...base, out: a });
    expect(full.step).toBe(8);
    const b = path.join(s.dir, 'run-b');
    const ac = new AbortController();
    const first = await pretrain({ ...base, out: b }, { signal: ac.signal, onStep: (m) => m.step === 3 && ac.abort() });
    expect(first.stoppedBy).toBe('abort');
    expect(first.step).toBe(3);
    expect(listCheckpoints(b).map((c) => c.step)).toEqual([3]);
    const second = await pretrain({ ...base, out: b, resume: true });
    expect(second.startStep).toBe(3);
    expect(second.step).toBe(8);
    const la = trainLosses(a), lb = trainLosses(b);
    for (let k = 1; k <= 8; k++) expect({ step: k, loss: lb.get(k) }).toEqual({ step: k, loss: la.get(k) });
    // Keep the last K checkpoints only.
    expect(listCheckpoints(a).map((c) => c.step)).toEqual([4, 8]);
    expect(fs.existsSync(path.join(a, 'report.html'))).toBe(true);
    expect(fs.readFileSync(path.join(a, 'report.html'), 'utf8')).toMatch(/<svg[\s\S]*<path/);
  });

  test('a checkpoint holds HF directories that load here', async () => {
    const ck = listCheckpoints(path.join(s.dir, 'run-a')).pop()!.dir;
    for (const f of ['discriminator/config.json', 'discriminator/model.safetensors', 'discriminator/vocab.txt', 'generator/model.safetensors', 'optimizer.safetensors', 'trainer_state.json']) {
      expect(fs.existsSync(path.join(ck, f))).toBe(true);
    }
    const d = await Electra.load(path.join(ck, 'discriminator'));
    expect(d.head).toBe('discriminator');
    d.dispose();
    const g = await Electra.load(path.join(ck, 'generator'));
    expect(g.head).toBe('generator');
    expect(g.config.hidden_size).toBe(16);
    g.dispose();
  });

  testPy('a checkpoint\'s HF directories open in Python transformers, with no missing weights', () => {
    const ck = listCheckpoints(path.join(s.dir, 'run-a')).pop()!.dir;
    const py = spawnSync('python3', ['-c', `
import sys, warnings
from transformers import ElectraForPreTraining, ElectraForMaskedLM, AutoTokenizer
d, info = ElectraForPreTraining.from_pretrained(sys.argv[1] + '/discriminator', output_loading_info=True)
g, ginfo = ElectraForMaskedLM.from_pretrained(sys.argv[1] + '/generator', output_loading_info=True)
t = AutoTokenizer.from_pretrained(sys.argv[1] + '/discriminator')
assert not info['missing_keys'] and not info['unexpected_keys'], info
assert not ginfo['missing_keys'], ginfo
ids = t('the people of this nation', return_tensors='pt')
print('ok', d(**ids).logits.shape[1])
`, ck], { encoding: 'utf8' });
    expect({ status: py.status, stderr: py.status === 0 ? '' : py.stderr.slice(-2000) }).toEqual({ status: 0, stderr: '' });
    expect(py.stdout).toMatch(/^ok 7$/m); // [CLS] the people of this nation [SEP]
  });

  test('electra detect prints each token with its probability of having been replaced', () => {
    const ck = listCheckpoints(path.join(s.dir, 'run-a')).pop()!.dir;
    const r = spawnSync(process.execPath, [CLI, 'detect', '--model', path.join(ck, 'discriminator'), '--json', 'the people of this nation', 'the budget for every state'], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-500) }).toEqual({ status: 0, stderr: '' });
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { text: string; tokens: { token: string; probability: number }[]; truncated: number });
    expect(lines).toHaveLength(2);
    expect(lines[0]!.tokens.map((t) => t.token)).toEqual(['[CLS]', 'the', 'people', 'of', 'this', 'nation', '[SEP]']);
    for (const t of lines[0]!.tokens) expect(t.probability).toBeGreaterThanOrEqual(0), expect(t.probability).toBeLessThanOrEqual(1);
    const bad = spawnSync(process.execPath, [CLI, 'detect', '--model', path.join(ck, 'generator'), 'x'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/ERR_/);
  });

  test('--init-from continues from HF weights (the discriminator and generator of a checkpoint)', async () => {
    const ck = listCheckpoints(path.join(s.dir, 'run-a')).pop()!.dir;
    const out = path.join(s.dir, 'run-init');
    const r = await pretrain({ ...base, out, steps: 2, initFrom: ck, evalEvery: 0, saveEvery: 0 });
    expect(r.step).toBe(2);
    // The first step starts from the loaded weights: its loss is close to the source run's last.
    const src = trainLosses(path.join(s.dir, 'run-a'));
    const first = trainLosses(out).get(1)!;
    expect(Math.abs(first - src.get(8)!)).toBeLessThan(Math.abs(trainLosses(path.join(s.dir, 'run-b')).get(1)! - src.get(8)!) + 1e-9);
  });

  test('--generator-bias unigram starts the generator at the data\'s log token frequencies', async () => {
    const ds = PretrainDataset.open(s.data);
    const tok = ElectraTokenizer.load(s.tokenizer);
    const sp = tok.specialIds;
    const want = logUnigramBias(tokenCounts(ds.split(Math.min(8, Math.floor(ds.length / 10))).train, tok.vocabSize), [sp.pad, sp.cls, sp.sep, sp.mask]);
    ds.close();
    const run = async (name: string, generatorBias: 'zeros' | 'unigram') => {
      const out = path.join(s.dir, name);
      await pretrain({ ...base, out, steps: 1, lr: 0, generatorBias, evalEvery: 0, saveEvery: 0 });
      const ck = listCheckpoints(out).pop()!.dir;
      const bias = readSafetensors(path.join(ck, 'generator', 'model.safetensors')).tensors.get('generator_lm_head.bias')!.data as Float32Array;
      return { bias, mlm: (JSON.parse(fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n')[0]!) as { mlmLoss: number }).mlmLoss };
    };
    const u = await run('bias-unigram', 'unigram');
    const z = await run('bias-zeros', 'zeros');
    expect(Array.from(u.bias)).toEqual(Array.from(want)); // lr 0: the step leaves it as set
    expect(z.bias.every((x) => x === 0)).toBe(true);
    // Rare ids score lower than frequent ones; special tokens lowest; the generator's first loss
    // drops from about log V towards the unigram entropy.
    expect(want[sp.pad]!).toBeLessThan(Math.min(...Array.from(want).filter((_, i) => ![sp.pad, sp.cls, sp.sep, sp.mask].includes(i))) + 1e-6);
    expect(u.mlm).toBeLessThan(z.mlm - 0.5);
    await expect(pretrain({ ...base, out: path.join(s.dir, 'x'), generatorBias: 'frequent' as 'zeros' })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('generatorBias') });
  });

  test('the CLI passes --temperature and --generator-bias to the run', () => {
    const out = path.join(s.dir, 'cli-flags');
    const r = spawnSync(process.execPath, [CLI, 'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', out, '--preset', 'tiny', '--steps', '1', '--batch', '4', '--lr', '0',
      '--temperature', '2', '--generator-bias', 'unigram', '--eval-every', '0', '--no-progress'], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-800) }).toEqual({ status: 0, stderr: '' });
    const ck = listCheckpoints(out).pop()!.dir;
    const state = JSON.parse(fs.readFileSync(path.join(ck, 'trainer_state.json'), 'utf8')) as { options: { temperature: number } };
    expect(state.options.temperature).toBe(2);
    const bias = readSafetensors(path.join(ck, 'generator', 'model.safetensors')).tensors.get('generator_lm_head.bias')!.data as Float32Array;
    expect(bias.some((x) => x !== 0)).toBe(true);
    const bad = spawnSync(process.execPath, [CLI, 'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', path.join(s.dir, 'cli-bad'), '--steps', '1', '--temperature', 'hot'], { encoding: 'utf8' });
    expect({ status: bad.status, err: bad.stderr }).toMatchObject({ status: 1, err: expect.stringContaining('temperature') });
  });

  test('--cuda-graph where no graph can be captured (the CPU) trains eagerly and says so once', () => {
    const out = path.join(s.dir, 'cli-graph');
    const r = spawnSync(process.execPath, [CLI, 'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', out, '--preset', 'tiny', '--steps', '6', '--batch', '4',
      '--cuda-graph', '--eval-every', '0', '--no-progress'], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-800) }).toEqual({ status: 0, stderr: '' });
    const notes = r.stderr.split('\n').filter((l) => l.includes('--cuda-graph: steps are running eagerly'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('a graph needs CUDA');
    expect(notes[0]).toContain('a batch of 4 x ');
    expect(listCheckpoints(out).pop()!.step).toBe(6);
  });

  test('--no-cuda-graph trains without the note; both --cuda-graph and --no-cuda-graph is ERR_CONFIG', () => {
    const out = path.join(s.dir, 'cli-nograph');
    const args = [CLI, 'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', out, '--preset', 'tiny', '--steps', '3', '--batch', '4', '--eval-every', '0', '--no-progress'];
    const r = spawnSync(process.execPath, [...args, '--no-cuda-graph'], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-800) }).toEqual({ status: 0, stderr: '' });
    expect(r.stderr).not.toContain('running eagerly');
    expect(listCheckpoints(out).pop()!.step).toBe(3);
    const both = spawnSync(process.execPath, [...args, '--cuda-graph', '--no-cuda-graph'], { encoding: 'utf8' });
    expect({ status: both.status, err: both.stderr }).toMatchObject({ status: 1, err: expect.stringContaining('--cuda-graph and --no-cuda-graph contradict') });
  });

  test('an existing run needs --resume; bad values are ERR_CONFIG naming the field', async () => {
    await expect(pretrain({ ...base, out: path.join(s.dir, 'run-a') })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('--resume') });
    await expect(pretrain({ ...base, out: path.join(s.dir, 'x'), batch: 0 })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('batch') });
    await expect(pretrain({ ...base, out: path.join(s.dir, 'x'), lr: -1 })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('lr') });
    await expect(pretrain({ ...base, out: path.join(s.dir, 'x'), discriminator: { ...TINY, hidden_size: 30, num_attention_heads: 4 } })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.stringContaining('hidden_size'),
    });
  });

  test('an unwritable output directory fails before training; the earlier checkpoint stays intact', async () => {
    const file = path.join(s.dir, 'not-a-dir');
    fs.writeFileSync(file, 'x');
    await expect(pretrain({ ...base, out: path.join(file, 'run') })).rejects.toMatchObject({ code: 'ERR_IO', message: expect.stringContaining('not writable') });
    if (process.getuid?.() !== 0) {
      const ro = path.join(s.dir, 'ro');
      fs.mkdirSync(ro, { mode: 0o555 });
      await expect(pretrain({ ...base, out: ro })).rejects.toMatchObject({ code: 'ERR_IO' });
    }
  });

  test('Ctrl-C (SIGINT) finishes the step, writes a checkpoint and exits 130; resuming is exact', async () => {
    const out = path.join(s.dir, 'sigint-run');
    const args = [CLI, 'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', out, '--preset', 'tiny', '--steps', '100000', '--batch', '4', '--save-every', '0', '--eval-every', '0', '--log-every', '1', '--no-progress'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const metrics = path.join(out, 'metrics.jsonl');
    const t0 = Date.now();
    while (!(fs.existsSync(metrics) && fs.readFileSync(metrics, 'utf8').includes('"train"')) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect({ code, stderr: code === 130 ? '' : stderr.slice(-800) }).toEqual({ code: 130, stderr: '' });
    expect(stdout).toMatch(/stopped by abort/);
    const cks = listCheckpoints(out);
    expect(cks).toHaveLength(1);
    const k = cks[0]!.step;
    expect(k).toBeGreaterThan(0);
    // Resume for 3 more steps (same schedule), then compare with an uninterrupted run.
    const again = spawnSync(process.execPath, [...args, '--resume', '--stop-at', String(k + 3)], { encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`pretrained steps ${k}\\.\\.${k + 3}`));
    const ref = path.join(s.dir, 'sigint-ref');
    const r = spawnSync(process.execPath, [...args.map((a) => (a === out ? ref : a)), '--stop-at', String(k + 3)], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const got = trainLosses(out), want = trainLosses(ref);
    expect([got.size, want.size]).toEqual([k + 3, k + 3]);
    for (let i = 1; i <= k + 3; i++) expect({ step: i, loss: got.get(i) }).toEqual({ step: i, loss: want.get(i) });
  });

  test('SIGTERM (a scheduler\'s preemption) writes a checkpoint and exits 143, after the checkpoint is complete', async () => {
    const out = path.join(s.dir, 'sigterm-run');
    const args = [CLI, 'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', out, '--preset', 'tiny', '--steps', '100000', '--batch', '4', '--save-every', '0', '--eval-every', '0', '--log-every', '1', '--no-progress'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Interrupt once a step is logged (a loaded machine may take seconds to start).
    const metrics = path.join(out, 'metrics.jsonl');
    const t0 = Date.now();
    while (!(fs.existsSync(metrics) && fs.readFileSync(metrics, 'utf8').includes('"train"')) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect({ code, stderr: code === 143 ? '' : stderr.slice(-800) }).toEqual({ code: 143, stderr: '' });
    const cks = listCheckpoints(out);
    expect(cks).toHaveLength(1);
    expect(cks[0]!.step).toBeGreaterThan(0);
    const d = await Electra.load(path.join(cks[0]!.dir, 'discriminator'));
    d.dispose();
  });

  test('the CLI trains from a corpus, and SIGKILL while writing checkpoints never leaves a broken one', async () => {
    const out = path.join(s.dir, 'cli-run');
    const args = [CLI, 'pretrain', '--corpus', s.corpus, '--vocab-size', '120', '--max-len', '32', '--out', out, '--preset', 'tiny', '--steps', '400', '--batch', '4', '--save-every', '1', '--keep', '2', '--eval-every', '0', '--no-progress'];
    for (let trial = 0; trial < 4; trial++) {
      const child = spawn(process.execPath, trial === 0 ? args : [...args, '--resume'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // Let it reach the checkpointing phase, then kill at a random moment.
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 2500 + Math.floor(Math.random() * 1500));
        child.on('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
      const cks = listCheckpoints(out);
      expect({ trial, n: cks.length > 0, err: cks.length > 0 ? '' : err.slice(-500) }).toEqual({ trial, n: true, err: '' });
      // The newest complete checkpoint loads.
      const d = await Electra.load(path.join(cks[cks.length - 1]!.dir, 'discriminator'));
      d.dispose();
    }
    // A final resume finishes a few more steps cleanly.
    const r = spawnSync(process.execPath, [...args.slice(0, args.indexOf('--steps') + 1), String(listCheckpoints(out).pop()!.step + 2), ...args.slice(args.indexOf('--steps') + 2), '--resume'], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-1000) }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toMatch(/pretrained steps \d+\.\.\d+/);
  });
});
