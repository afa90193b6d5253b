/*
 * Saved work is never lost (issue 22, items 1-4): two runs on one --out (the second fails with
 * ERR_LOCKED, the first's checkpoints and metrics are whole), a stale lock taken over; finetune
 * refusing an --out that is, contains or lies inside its model or a pre-training run, and
 * replacing only its own files with overwrite; `prepare --force` leaving the old dataset intact
 * when the corpus is missing or empty or the run is interrupted; `vocab --out` refusing a
 * non-empty directory without --overwrite and a model directory always. The CLI runs from dist/.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepare } from '../../src/data/prepare';
import { ElectraError } from '../../src/errors';
import { finetune, type FinetuneOptionsInput } from '../../src/train/finetune';
import { listCheckpoints, pretrain, type RunOptionsInput } from '../../src/train/loop';
import { LOCK_FILE, OutputLock } from '../../src/util/lock';
import { smallSetup, TINY, writeCorpus } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'electra.cjs');

const cli = (argv: string[]) => spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', timeout: 180_000 });

function start(argv: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  return { child, done };
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every file under `dir` with its size and content hash (directories as entries). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name), r = path.join(rel, e.name);
      if (e.isDirectory()) {
        out[r + '/'] = 'dir';
        walk(p, r);
      } else out[r] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return out;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return `${(e as ElectraError).code}: ${(e as Error).message}`;
  }
}

let s: Awaited<ReturnType<typeof smallSetup>>;
let base: RunOptionsInput;
beforeAll(async () => {
  s = await smallSetup();
  base = {
    out: '', data: s.data, tokenizer: s.tokenizer, preset: 'tiny', discriminator: TINY, generatorFraction: 0.5,
    steps: 4, batch: 4, lr: 5e-4, warmupSteps: 1, evalEvery: 0, evalExamples: 8, saveEvery: 2, keep: 5, logEvery: 1, progress: false, seed: 3,
  };
}, 120_000);
afterAll(() => fs.rmSync(s.dir, { recursive: true, force: true }));

const pretrainArgs = (out: string, steps: number) => [
  'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', out, '--preset', 'tiny', '--steps', String(steps), '--batch', '4',
  '--eval-every', '0', '--log-every', '1', '--save-every', '10', '--keep', '10', '--seed', '3', '--no-progress', '--threads', '1',
];

describe('output locks (item 1)', () => {
  test('two pretrain runs on one --out started 0.3 s apart: one fails with ERR_LOCKED, the other is whole', async () => {
    const out = path.join(s.dir, 'twice');
    const a = start(pretrainArgs(out, 40));
    await new Promise((r) => setTimeout(r, 300));
    const b = start(pretrainArgs(out, 40));
    const [ra, rb] = await Promise.all([a.done, b.done]);
    const failed = ra.code === 0 ? rb : ra;
    expect([ra.code, rb.code].sort()).toEqual([0, 1]);
    expect(failed.stderr).toMatch(/ERR_LOCKED: .* is locked by `electra pretrain` \(PID \d+ on /);
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([10, 20, 30, 40]);
    const rows = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; step: number });
    expect(rows.filter((r) => r.type === 'train').map((r) => r.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(fs.existsSync(path.join(out, LOCK_FILE))).toBe(false);
  }, 240_000);

  test('a lock left by a dead process is taken over by the CLI', () => {
    const out = path.join(s.dir, 'stale');
    fs.mkdirSync(out);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    fs.writeFileSync(path.join(out, LOCK_FILE), JSON.stringify({ pid: Number(dead), host: os.hostname(), command: 'pretrain', startedAt: new Date().toISOString(), token: 'old' }));
    const r = cli(pretrainArgs(out, 2));
    expect([r.status, r.stderr]).toEqual([0, expect.stringContaining(`taking over the stale lock on ${out}`)]);
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([2]);
    expect(fs.existsSync(path.join(out, LOCK_FILE))).toBe(false);
  }, 120_000);

  test('library calls: pretrain, finetune and prepare on a locked directory fail with ERR_LOCKED and write nothing', async () => {
    const out = path.join(s.dir, 'held');
    const lock = OutputLock.acquire(out, 'pretrain');
    try {
      expect(await codeOf(pretrain({ ...base, out }))).toMatch(/^ERR_LOCKED: .*locked by `electra pretrain` \(PID \d+/);
      expect(await codeOf(prepare({ corpus: s.corpus, tokenizer: s.tokenizer, out, workers: 0, progress: false }))).toMatch(/^ERR_LOCKED/);
      const ckpt = path.join(s.dir, 'lib-run');
      await pretrain({ ...base, out: ckpt, steps: 2 });
      expect(await codeOf(finetune({ model: path.join(ckpt, 'checkpoint-2'), task: 'spam-assassin', out, epochs: 1 }))).toMatch(/^ERR_LOCKED/);
      expect(fs.readdirSync(out)).toEqual([LOCK_FILE]);
    } finally {
      lock.release();
    }
  }, 120_000);
});

describe('finetune --out (item 2)', () => {
  let run: string, ckpt: string, task: string;
  beforeAll(async () => {
    run = path.join(s.dir, 'ft-run');
    await pretrain({ ...base, out: run, steps: 2 });
    ckpt = path.join(run, 'checkpoint-2');
    task = path.join(s.dir, 'task.csv');
    const words = 'the people of this nation have built roads schools'.split(' ');
    const rows = ['text,label'];
    for (let i = 0; i < 40; i++) rows.push(`${words.slice(0, 2 + (i % 7)).join(' ')},${i % 2 ? 'pos' : 'neg'}`);
    fs.writeFileSync(task, rows.join('\n') + '\n');
  }, 120_000);
  const opts = (model: string, out: string, more: Partial<FinetuneOptionsInput> = {}): FinetuneOptionsInput => ({ model, task, out, epochs: 1, batch: 8, maxLength: 32, patience: 0, ...more });

  test('an --out that is, contains or lies inside the model or a pre-training run is refused before anything is written', async () => {
    const hf = path.join(s.dir, 'hf-model');
    fs.cpSync(path.join(ckpt, 'discriminator'), hf, { recursive: true });
    fs.writeFileSync(path.join(hf, 'NOTES.md'), 'my notes');
    const before = { run: snapshot(run), hf: snapshot(hf) };
    const cases: [string, string, RegExp][] = [
      [ckpt, ckpt, /is the model directory/],
      [ckpt, path.join(ckpt, 'discriminator'), /is the model directory/],
      [ckpt, path.join(ckpt, 'ft'), /lies inside the model directory/],
      [ckpt, run, /contains the model directory/],
      [ckpt, path.join(run, 'ft'), /lies inside the pre-training checkpoint or run directory/],
      [hf, hf, /is the model directory/],
      [hf, path.join(hf, 'sub'), /lies inside the model directory/],
      [hf, s.dir, /contains the model directory/],
    ];
    for (const [model, out, why] of cases) {
      expect(await codeOf(finetune(opts(model, out, { overwrite: true })))).toMatch(new RegExp(`^ERR_CONFIG: .*${why.source}`));
    }
    expect({ run: snapshot(run), hf: snapshot(hf) }).toEqual(before);
    // The command line says the same, and `pretrain --resume` of the checkpoint still works.
    const r = cli(['finetune', '--model', hf, '--task', task, '--out', hf, '--epochs', '1']);
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/ERR_CONFIG: --out .* is the model directory/)]);
    expect(snapshot(hf)).toEqual(before.hf);
    const resumed = await pretrain({ ...base, out: run, steps: 3, resume: true });
    expect([resumed.startStep, resumed.step]).toEqual([2, 3]);
  }, 180_000);

  test('a non-empty --out needs overwrite, which replaces only fine-tuning\'s own files', async () => {
    const out = path.join(s.dir, 'ft-out');
    fs.mkdirSync(path.join(out, 'extra'), { recursive: true });
    fs.writeFileSync(path.join(out, 'NOTES.md'), 'my notes');
    fs.writeFileSync(path.join(out, 'extra', 'data.txt'), 'mine');
    fs.writeFileSync(path.join(out, 'config.json'), '{"old": true}');
    const before = snapshot(out);
    expect(await codeOf(finetune(opts(ckpt, out)))).toMatch(/^ERR_CONFIG: .*is not empty \(.*NOTES\.md.*\): pass --overwrite/);
    expect(snapshot(out)).toEqual(before);
    const r = await finetune(opts(ckpt, out, { overwrite: true }));
    expect(r.bestEpoch).toBe(1);
    expect(fs.readFileSync(path.join(out, 'NOTES.md'), 'utf8')).toBe('my notes');
    expect(fs.readFileSync(path.join(out, 'extra', 'data.txt'), 'utf8')).toBe('mine');
    expect(fs.readdirSync(out).sort()).toEqual(['NOTES.md', 'config.json', 'eval_results.json', 'extra', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'))).not.toHaveProperty('old');
  }, 180_000);
});

describe('prepare --force keeps the old dataset until the new one is complete (item 3)', () => {
  let data: string, before: Record<string, string>;
  beforeAll(() => {
    data = path.join(s.dir, 'prep');
    const r = cli(['prepare', '--corpus', s.corpus, '--vocab', s.tokenizer, '--out', data, '--max-len', '32', '--workers', '0', '--no-progress']);
    expect(r.status).toBe(0);
    fs.writeFileSync(path.join(data, 'NOTES.md'), 'my notes');
    before = snapshot(data);
  }, 60_000);
  const leftovers = () => fs.readdirSync(path.dirname(data)).filter((n) => n.startsWith(`.${path.basename(data)}.`));

  test('a missing corpus and an empty one fail and leave it as it was', () => {
    let r = cli(['prepare', '--force', '--corpus', path.join(s.dir, 'missing.txt'), '--vocab', s.tokenizer, '--out', data, '--max-len', '32', '--workers', '0', '--no-progress']);
    expect(r.status).not.toBe(0);
    expect(snapshot(data)).toEqual(before);
    const empty = path.join(s.dir, 'empty.txt');
    fs.writeFileSync(empty, '');
    r = cli(['prepare', '--force', '--corpus', empty, '--vocab', s.tokenizer, '--out', data, '--max-len', '32', '--workers', '0', '--no-progress']);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining('ERR_DATA')]);
    expect(snapshot(data)).toEqual(before);
    expect(leftovers()).toEqual([]);
  }, 60_000);

  test('SIGINT after the new dataset\'s first shard leaves the old one intact', async () => {
    const big = path.join(s.dir, 'big.txt');
    writeCorpus(big, 30000, 7);
    const p = start(['prepare', '--force', '--corpus', big, '--vocab', s.tokenizer, '--out', data, '--max-len', '32', '--shard-size', '64', '--workers', '0', '--no-progress']);
    const shardInStaging = () => leftovers().some((n) => fs.existsSync(path.join(path.dirname(data), n, 'shard-00000.bin')));
    await until(shardInStaging, 60_000);
    p.child.kill('SIGINT');
    const r = await p.done;
    expect(r.code === 0).toBe(false);
    expect(snapshot(data)).toEqual(before);
    expect(leftovers()).toEqual([]);
  }, 120_000);

  test('a successful --force replaces the dataset, keeps the other files and clears a killed run\'s staging directory', () => {
    fs.mkdirSync(path.join(path.dirname(data), `.${path.basename(data)}.tmp-99999999-abc`));
    fs.writeFileSync(path.join(path.dirname(data), `.${path.basename(data)}.tmp-99999999-abc`, 'shard-00000.bin'), 'partial');
    const corpus = path.join(s.dir, 'other.txt');
    writeCorpus(corpus, 40, 9);
    const r = cli(['prepare', '--force', '--corpus', corpus, '--vocab', s.tokenizer, '--out', data, '--max-len', '32', '--workers', '0', '--no-progress']);
    expect(r.status).toBe(0);
    const now = snapshot(data);
    expect(now['meta.json']).not.toBe(before['meta.json']);
    expect(now['NOTES.md']).toBe(before['NOTES.md']);
    expect(Object.keys(now)).not.toContain(LOCK_FILE);
    expect(leftovers()).toEqual([]);
  }, 60_000);
});

describe('vocab --out (item 4)', () => {
  const vocab = (out: string, ...more: string[]) => cli(['vocab', '--corpus', s.corpus, '--out', out, '--size', '120', ...more]);

  test('a non-empty directory needs --overwrite, which keeps the other files', () => {
    const out = path.join(s.dir, 'voc');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'NOTES.md'), 'my notes');
    let r = vocab(out);
    expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/ERR_CONFIG: .*is not empty \(NOTES\.md\): pass --overwrite/)]);
    expect(fs.readdirSync(out)).toEqual(['NOTES.md']);
    r = vocab(out, '--overwrite');
    expect(r.status).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['NOTES.md', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']);
    expect(vocab(path.join(s.dir, 'voc-new')).status).toBe(0);
  }, 60_000);

  test('a model directory is always refused', async () => {
    const run = path.join(s.dir, 'voc-run');
    await pretrain({ ...base, out: run, steps: 2 });
    const model = path.join(run, 'checkpoint-2', 'discriminator');
    const before = snapshot(model);
    for (const more of [[], ['--overwrite']]) {
      const r = vocab(model, ...more);
      expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/ERR_CONFIG: .* is a model directory/)]);
    }
    expect(snapshot(model)).toEqual(before);
  }, 120_000);
});
