/*
 * Data-parallel training on c10d + Gloo over 127.0.0.1 (CPU): ranks stay identical, 2 ranks x
 * batch B/2 train exactly as 1 rank x batch B, a killed rank makes the others fail fast with
 * ERR_DISTRIBUTED, and checkpoints move between world sizes. Uses the built dist/ (npm test runs
 * tsup first) because every rank is a separate process.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../../src/native';
import { distributedFromEnv } from '../../src/train/distributed';
import { smallSetup } from './helpers';
import { describeIf, prerequisite, underCi } from '../prerequisites';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'electra.cjs');
const WORKER = path.join(__dirname, 'dist-worker.cjs');
// .ci/run installs libgloo-dev, so under CI a build without Gloo fails these tests.
const describeGloo = describeIf(prerequisite('an addon built with Gloo', native().distributedAvailable ? undefined : 'this build has no Gloo headers (apt install libgloo-dev, rebuild)', underCi()));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function runWorker(args: (string | number)[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [WORKER, ...args.map(String)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('exit', (code) => resolve({ code, stderr, ms: Date.now() - t0 }));
  });
}

type Dump = { losses: number[]; state: Record<string, number[]> };
const read = (f: string): Dump => JSON.parse(fs.readFileSync(f, 'utf8')) as Dump;
function maxDiff(a: Dump, b: Dump): number {
  let m = 0;
  expect(Object.keys(b.state).sort()).toEqual(Object.keys(a.state).sort());
  for (const k of Object.keys(a.state)) {
    const x = a.state[k]!, y = b.state[k]!;
    expect(y.length).toBe(x.length);
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  }
  return m;
}

describe('distributed environment', () => {
  test('torchrun and Slurm variables', () => {
    expect(distributedFromEnv({})).toBeNull();
    expect(distributedFromEnv({ WORLD_SIZE: '1', RANK: '0' })).toBeNull();
    expect(distributedFromEnv({ WORLD_SIZE: '4', RANK: '2', LOCAL_RANK: '0', MASTER_ADDR: 'node1', MASTER_PORT: '1234' })).toEqual({ rank: 2, worldSize: 4, localRank: 0, masterAddr: 'node1', masterPort: 1234 });
    expect(distributedFromEnv({ SLURM_NTASKS: '8', SLURM_PROCID: '5', SLURM_LOCALID: '1', SLURM_LAUNCH_NODE_IPADDR: '10.0.0.1' })).toEqual({ rank: 5, worldSize: 8, localRank: 1, masterAddr: '10.0.0.1', masterPort: 29500 });
    expect(() => distributedFromEnv({ WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: 'a' })).toThrow(/RANK 2 is not below WORLD_SIZE 2/);
    expect(() => distributedFromEnv({ WORLD_SIZE: '2', RANK: '0' })).toThrow(/MASTER_ADDR/);
    expect(() => distributedFromEnv({ WORLD_SIZE: 'x', RANK: '0' })).toThrow(/WORLD_SIZE/);
  });
});

describeGloo('data-parallel training (Gloo, 127.0.0.1)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-dist-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('2 ranks stay identical and equal 1 rank with the whole batch (dropout on, within 1e-5)', async () => {
    const one = path.join(tmp, 'one'), two = path.join(tmp, 'two');
    fs.mkdirSync(one);
    fs.mkdirSync(two);
    const r1 = await runWorker([one, 0, 1, 0, 5, 8, 1]);
    expect(r1.code).toBe(0);
    const port = await freePort();
    const [a, b] = await Promise.all([runWorker([two, 0, 2, port, 5, 8, 1]), runWorker([two, 1, 2, port, 5, 8, 1])]);
    expect([a.code, b.code, a.stderr + b.stderr]).toEqual([0, 0, '']);
    const single = read(path.join(one, 'rank-0.json'));
    const d0 = read(path.join(two, 'rank-0.json')), d1 = read(path.join(two, 'rank-1.json'));
    expect(maxDiff(d0, d1)).toBe(0);
    expect(maxDiff(single, d0)).toBeLessThan(1e-5);
    // The logged loss is the whole batch's on every rank, and training moved the weights.
    for (let k = 0; k < 5; k++) expect(Math.abs(d0.losses[k]! - single.losses[k]!)).toBeLessThan(1e-4);
    expect(d0.losses[4]!).toBeLessThan(d0.losses[0]!);
  }, 120_000);

  test('a killed rank: the other exits with ERR_DISTRIBUTED quickly, no hang', async () => {
    const dir = path.join(tmp, 'kill');
    fs.mkdirSync(dir);
    const port = await freePort();
    const [a, b] = await Promise.all([runWorker([dir, 0, 2, port, 8, 8, 0]), runWorker([dir, 1, 2, port, 8, 8, 0, 2])]);
    expect(b.code).toBeNull(); // SIGKILLed after its second step
    expect(a.code).toBe(3);
    expect(a.stderr).toMatch(/^ERR_DISTRIBUTED: /);
    expect(a.ms).toBeLessThan(20_000);
    expect(fs.existsSync(path.join(dir, 'rank-0.json'))).toBe(false);
  }, 60_000);

  describe('electra launch + pretrain', () => {
    let s: Awaited<ReturnType<typeof smallSetup>>;
    beforeAll(async () => {
      s = await smallSetup();
    });
    afterAll(() => fs.rmSync(s.dir, { recursive: true, force: true }));

    const args = (out: string, steps: number, batch: number) => [
      'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', out, '--preset', 'tiny', '--steps', String(steps), '--batch', String(batch),
      '--lr', '5e-4', '--warmup', '2', '--eval-every', '0', '--log-every', '1', '--save-every', '3', '--seed', '3', '--no-progress', '--threads', '1',
    ];
    const cli = (argv: string[]) => spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', timeout: 120_000 });
    const losses = (out: string) =>
      fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; step: number; loss: number }).filter((r) => r.type === 'train');

    test('a 2-process checkpoint resumes in 1 process and a 1-process one in 2, as an uninterrupted run', () => {
      const ref = path.join(s.dir, 'ref');
      let r = cli(args(ref, 6, 4));
      expect(r.status).toBe(0);
      // 2 processes x batch 2 for 3 steps, then 1 process x batch 4 resumes to step 6.
      const a = path.join(s.dir, 'two-then-one');
      r = cli(['launch', '--nproc', '2', '--', ...args(a, 6, 2), '--stop-at', '3']);
      expect([r.status, r.stderr]).toEqual([0, expect.stringContaining('data-parallel over 2 processes')]);
      expect(fs.existsSync(path.join(a, 'checkpoint-3', 'trainer_state.json'))).toBe(true);
      r = cli([...args(a, 6, 4), '--resume']);
      expect(r.status).toBe(0);
      // 1 process for 3 steps, then 2 processes resume to step 6.
      const b = path.join(s.dir, 'one-then-two');
      expect(cli([...args(b, 6, 4), '--stop-at', '3']).status).toBe(0);
      r = cli(['launch', '--nproc', '2', '--', ...args(b, 6, 2), '--resume']);
      expect(r.status).toBe(0);
      const want = losses(ref);
      expect(want.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6]);
      for (const out of [a, b]) {
        const got = losses(out);
        expect(got.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6]);
        got.forEach((x, i) => expect(Math.abs(x.loss - want[i]!.loss)).toBeLessThan(1e-4 * Math.abs(want[i]!.loss)));
      }
    }, 300_000);

    test('launch forwards SIGTERM: the ranks write their checkpoint and the job exits 143', async () => {
      const out = path.join(s.dir, 'launch-sigterm');
      const child = spawn(process.execPath, [CLI, 'launch', '--nproc', '2', '--', ...args(out, 100000, 2)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // Wait until the ranks train (their first checkpoint, --save-every 3), then interrupt.
      const t0 = Date.now();
      while (!fs.existsSync(path.join(out, 'checkpoint-3')) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect({ code, stderr: code === 143 ? '' : stderr.slice(-800) }).toEqual({ code: 143, stderr: '' });
      const steps = fs.readdirSync(out).map((n) => /^checkpoint-(\d+)$/.exec(n)).filter((m) => m).map((m) => Number(m![1]));
      expect(Math.max(...steps)).toBeGreaterThanOrEqual(3);
      expect(fs.existsSync(path.join(out, `checkpoint-${Math.max(...steps)}`, 'trainer_state.json'))).toBe(true);
    }, 120_000);

    test('launch: bad options, and a failing rank stops the job with its exit code', () => {
      let r = cli(['launch', '--', 'doctor']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/--nproc is required/);
      r = cli(['launch', '--nproc', '2']);
      expect(r.stderr).toMatch(/give the command to run after --/);
    }, 120_000);

    test('launch -- pretrain --corpus: rank 0 trains the vocabulary and prepares the data, the other rank waits and trains with it', () => {
      const out = path.join(s.dir, 'from-corpus');
      const corpusArgs = (o: string) => ['pretrain', '--corpus', s.corpus, '--vocab-size', '120', '--max-len', '32', '--out', o, '--preset', 'tiny', '--steps', '3', '--batch', '2',
        '--eval-every', '0', '--log-every', '1', '--seed', '3', '--no-progress', '--threads', '1'];
      const r = cli(['launch', '--nproc', '2', '--', ...corpusArgs(out)]);
      expect([r.status, r.stderr]).toEqual([0, expect.stringContaining('data-parallel over 2 processes')]);
      expect(r.stderr).toMatch(/\[rank 1\] electra: rank 1: waiting for rank 0 to prepare the corpus/);
      // Only rank 0 trained a vocabulary and prepared data.
      expect(r.stderr.match(/training a 120-token WordPiece vocabulary/g)).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\[rank 1\] electra: (training a|prepared)/);
      expect(fs.existsSync(path.join(out, 'tokenizer', 'vocab.txt'))).toBe(true);
      expect(fs.existsSync(path.join(out, 'data', 'meta.json'))).toBe(true);
      expect(fs.existsSync(path.join(out, 'checkpoint-3', 'trainer_state.json'))).toBe(true);
      // No note or lock is left behind; one process from the same corpus gives the same losses.
      expect(fs.readdirSync(out).filter((n) => n.startsWith('.'))).toEqual([]);
      const one = path.join(s.dir, 'from-corpus-one');
      expect(cli([...corpusArgs(one), '--batch', '4']).status).toBe(0);
      const want = losses(one), got = losses(out);
      expect(got.map((x) => x.step)).toEqual([1, 2, 3]);
      got.forEach((x, i) => expect(Math.abs(x.loss - want[i]!.loss)).toBeLessThan(1e-4 * Math.abs(want[i]!.loss)));
      // Rank 0 failing to prepare ends the job; a rank whose rank 0 never comes waits a bounded time.
      const empty = path.join(s.dir, 'empty.txt');
      fs.writeFileSync(empty, '');
      const bad = cli(['launch', '--nproc', '2', '--', ...corpusArgs(path.join(s.dir, 'from-empty')).map((a) => (a === s.corpus ? empty : a))]);
      expect([bad.status, bad.stderr]).toEqual([1, expect.stringContaining('ERR_DATA')]);
      const env = { ...process.env, WORLD_SIZE: '2', RANK: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '1', ELECTRA_LAUNCH_ID: 'alone', ELECTRA_DIST_TIMEOUT_MS: '1000' };
      const alone = spawnSync(process.execPath, [CLI, ...corpusArgs(path.join(s.dir, 'alone'))], { encoding: 'utf8', timeout: 60_000, env });
      expect([alone.status, alone.stderr]).toEqual([1, expect.stringMatching(/ERR_DISTRIBUTED: rank 1 waited 1 s for rank 0 to prepare the corpus/)]);
    }, 240_000);
  });
});
