/*
 * Faults: SIGKILL at random moments while checkpoints are being written (the CLI with a
 * checkpoint after every step; 20 trials), after which every listed checkpoint loads and
 * `--resume` continues from the newest; and a full disk, for real (a 1 MiB tmpfs as the output
 * directory, skipped with the reason where mount is not permitted) and simulated (writes fail with
 * ENOSPC past a byte budget, at many points of a run): training stops with ERR_IO and the earlier
 * checkpoints stay intact, loadable and resumable.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { Pretrainer } from '../../src/train/pretrainer';
import { listCheckpoints, pretrain, type RunOptionsInput } from '../../src/train/loop';
import { ElectraError } from '../../src/errors';
import { smallSetup, TINY } from './helpers';
import { prng } from '../unit/fuzz-helpers';
import { testIf, tmpfsMount } from '../prerequisites';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'electra.cjs');
const SEED = 0xfa17;
const TRIALS = Number(process.env.FAULT_TRIALS ?? 20);
const testMount = testIf(tmpfsMount());

const TMP = /^\.checkpoint-(\d+)\.(tmp|old)-\d+-[0-9a-z]+$/;
const FILES = ['discriminator/config.json', 'discriminator/model.safetensors', 'discriminator/vocab.txt', 'generator/config.json', 'generator/model.safetensors', 'optimizer.safetensors', 'trainer_state.json'];

/** Checks a checkpoint directory is complete and loads (both networks, the trainer state). */
async function loadCheckpoint(dir: string): Promise<number> {
  for (const f of FILES) if (!fs.existsSync(path.join(dir, f))) throw new Error(`${dir} lacks ${f}`);
  const state = Pretrainer.readState(dir);
  for (const part of ['discriminator', 'generator']) {
    const m = await Electra.load(path.join(dir, part));
    m.dispose();
  }
  return state.step;
}

let setup: Awaited<ReturnType<typeof smallSetup>> | undefined;
/** Children still running (killed when a lane fails, so the other lane does not run on). */
const live = new Set<ChildProcess>();

describe('faults', () => {
  let s: Awaited<ReturnType<typeof smallSetup>>;
  beforeAll(async () => {
    s = setup = await smallSetup();
  });
  afterAll(() => fs.rmSync(s.dir, { recursive: true, force: true }));

  test(`SIGKILL while checkpoints are written, ${TRIALS} trials: the newest complete checkpoint loads and --resume continues from it`, async () => {
    const started = Date.now();
    const writeMs: number[] = [];
    // Two runs side by side (each killed TRIALS / 2 times) to halve the wall time.
    // In memory (/dev/shm) when there is one: a SIGKILL loses no page cache, so a tmpfs tests the same
    // thing as a disk, and the runs start and write faster.
    const base = fs.existsSync('/dev/shm') ? fs.mkdtempSync(path.join('/dev/shm', 'electra-faults-')) : s.dir;
    let lanes: Trial[][];
    try {
      lanes = await Promise.all([0, 1].map((lane) => killLane(path.join(base, `kill-run-${lane}`), Math.ceil(TRIALS / 2) - (lane && TRIALS % 2 ? 1 : 0), SEED + lane, writeMs)));
    } finally {
      for (const c of live) c.kill('SIGKILL');
      if (base !== s.dir) fs.rmSync(base, { recursive: true, force: true });
    }
    const trials = lanes.flat();
    expect(trials).toHaveLength(TRIALS);
    const mid = trials.filter((l) => l.midWrite).length;
    const midPrune = trials.filter((l) => l.midPrune).length;
    const brokenOlder = trials.flatMap((l) => l.brokenOlder);
    writeMs.sort((a, b) => a - b);
    console.log(
      `faults: ${TRIALS} SIGKILL trials in ${((Date.now() - started) / 1000).toFixed(1)} s (two runs side by side); ${mid} killed with a checkpoint ` +
        `half-written (its temporary directory left behind, removed by the next run), ${TRIALS - mid} between writes; checkpoint writes took ` +
        `${writeMs[0]}-${writeMs[writeMs.length - 1]} ms (median ${writeMs[writeMs.length >> 1]}); kills came ${Math.min(...trials.map((t) => t.killedAfterMs))}-` +
        `${Math.max(...trials.map((t) => t.killedAfterMs))} ms after a write began; every trial resumed from the newest complete checkpoint ` +
        `(steps ${trials.map((l) => l.newest).join(', ')}); ${midPrune} killed while --keep removed an old checkpoint; every listed checkpoint loaded`,
    );
    expect(mid).toBeGreaterThan(0);
    // Older checkpoints are renamed away before they are deleted: none is ever listed half-deleted.
    expect(brokenOlder).toEqual([]);
  }, 900_000);

  /** Options of the in-process runs below: tiny pair, a checkpoint after every step. */
  const runOpts = (out: string, steps: number): RunOptionsInput => ({
    out, data: s.data, tokenizer: s.tokenizer, preset: 'tiny', discriminator: TINY, generatorFraction: 0.5, steps, batch: 4, lr: 5e-4,
    warmupSteps: 2, evalEvery: 0, saveEvery: 1, keep: 5, logEvery: 1, progress: false, seed: 3,
  });

  // Where mount is not permitted this one is skipped (the reason in its name); the simulated ENOSPC tests below still run.
  testMount('a full disk (a 1 MiB tmpfs as the output directory): ERR_IO naming it; the earlier checkpoints stay intact, load and resume', async () => {
    const mnt = path.join(s.dir, 'small-disk');
    fs.mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    expect({ status: m.status, stderr: m.stderr }).toEqual({ status: 0, stderr: '' });
    try {
      const out = path.join(mnt, 'run');
      const started = Date.now();
      const e = await pretrain(runOpts(out, 100)).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(ElectraError);
      expect(e).toMatchObject({ code: 'ERR_IO', message: expect.stringMatching(/checkpoint-\d+: no space left on the device/) });
      const cks = listCheckpoints(out);
      expect(cks.length).toBeGreaterThan(0);
      for (const c of cks) expect(await loadCheckpoint(c.dir)).toBe(c.step);
      expect(fs.readdirSync(out).filter((n) => TMP.test(n))).toEqual([]); // the half-written one was removed
      const df = spawnSync('df', ['-k', mnt], { encoding: 'utf8' }).stdout.trim().split('\n').pop();
      // With space again, --resume continues from the newest checkpoint.
      expect(spawnSync('mount', ['-o', 'remount,size=64m', mnt]).status).toBe(0);
      const last = cks[cks.length - 1]!.step;
      const r = await pretrain({ ...runOpts(out, last + 2), resume: true });
      expect({ startStep: r.startStep, step: r.step }).toEqual({ startStep: last, step: last + 2 });
      expect(await loadCheckpoint(listCheckpoints(out).pop()!.dir)).toBe(last + 2);
      console.log(`faults: full disk (1 MiB tmpfs): ${String((e as Error).message).replace(mnt, '<tmpfs>').slice(0, 160)}; checkpoints ${cks.map((c) => c.step).join(', ')} intact (df: ${df}); resumed ${last}..${last + 2}; ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      spawnSync('umount', [mnt]);
    }
  }, 300_000);

  /** Bytes a clean 6-step run writes, and each write in order (file, bytes before it, its index). */
  let reference: { total: number; trace: Write[] } | undefined;
  async function referenceRun(): Promise<NonNullable<typeof reference>> {
    if (reference) return reference;
    const out = path.join(s.dir, 'sim-ref');
    const sim = simulateFullDisk(out, Infinity);
    try {
      await pretrain(runOpts(out, 6));
    } finally {
      sim.restore();
    }
    return (reference = { total: sim.used(), trace: sim.trace });
  }

  /**
   * Runs 6 steps with ENOSPC at the write with index `failAt` (the writes of a run come in the same
   * order every time; their byte counts do not, since metrics carry timings); checks what is left.
   */
  async function fullAt(name: string, failAt: number): Promise<{ e: unknown; where: string; checkpoints: number[] }> {
    const out = path.join(s.dir, name);
    const sim = simulateFullDisk(out, failAt);
    let e: unknown;
    try {
      e = await pretrain(runOpts(out, 6)).then(() => null, (x: unknown) => x);
    } finally {
      sim.restore();
    }
    const cks = listCheckpoints(out);
    for (const c of cks) expect(await loadCheckpoint(c.dir)).toBe(c.step);
    expect(fs.readdirSync(out).filter((n) => TMP.test(n))).toEqual([]);
    return { e, where: sim.failed[0] ?? '(nothing failed)', checkpoints: cks.map((c) => c.step) };
  }

  test('simulated ENOSPC at 12 points of checkpoint writing: ERR_IO, the earlier checkpoints stay intact and resume', async () => {
    // Every file write under the output directory is counted; the chosen one and all after it fail
    // with ENOSPC, as on a full disk. Runs everywhere (no mount needed).
    const ref = await referenceRun();
    // The first write of each file of the checkpoints (configs, weights, tokenizer copies, optimizer, state)
    const firsts = new Map<string, Write>();
    for (const t of ref.trace) if (/checkpoint-\d+\.tmp-/.test(t.file) && !firsts.has(t.file)) firsts.set(t.file, t);
    const ckWrites = [...firsts.values()];
    const seen: string[] = [];
    for (let i = 0; i < 12; i++) {
      // 12 files spread over the checkpoints of the run and over the files of a checkpoint; the first write of each fails
      const w = ckWrites[(i * 37 + 3) % ckWrites.length]!;
      const r = await fullAt(`sim-${i}`, w.index);
      expect(unique(r.where)).toBe(unique(w.where)); // the same write as in the reference run
      expect({ i, where: r.where, e: r.e }).toMatchObject({ i, where: expect.stringContaining('.tmp-'), e: { name: 'ElectraError', code: 'ERR_IO', message: expect.stringMatching(/no space left on the device/) } });
      seen.push(`${r.where.replace(/^\w+ \.checkpoint-(\d+)\.tmp-[^/]+\//, 'checkpoint-$1/').replace(/\.(\w+)\.safetensors\.\d+\.[0-9a-f]+\.tmp$/, '$1.safetensors')}`);
      if (r.checkpoints.length > 0 && i % 4 === 1) {
        const last = r.checkpoints[r.checkpoints.length - 1]!;
        const run = await pretrain({ ...runOpts(path.join(s.dir, `sim-${i}`), last + 1), resume: true });
        expect(run.startStep).toBe(last);
      }
    }
    console.log(`faults: simulated ENOSPC (a ${ref.total}-byte run, ${ckWrites.length} checkpoint files): ERR_IO each time, earlier checkpoints intact, at ${seen.join(', ')}`);
  }, 300_000);

  test('simulated ENOSPC while the loop writes metrics.jsonl or report.html: ERR_IO too, checkpoints intact', async () => {
    const ref = await referenceRun();
    const seen: string[] = [];
    for (const target of [/metrics\.jsonl$/, /report\.html/]) {
      const w = ref.trace.find((t) => target.test(t.file) && t.before > 70_000)!; // after the 64 KiB write probe
      const r = await fullAt(`sim-${target.source.slice(0, 7).replace(/\W/g, '')}`, w.index);
      expect({ where: r.where, e: r.e }).toMatchObject({ where: expect.stringMatching(target), e: { name: 'ElectraError', code: 'ERR_IO', message: expect.stringMatching(/no space left on the device/) } });
      seen.push(`${r.where}: ${(r.e as Error).message.replace(s.dir, '')}`);
    }
    console.log(`faults: simulated ENOSPC in the loop's own files: ${seen.join('; ')}`);
  }, 300_000);
});

/** A write's place with the per-run parts of temporary names (pid, random suffix) taken out. */
function unique(where: string): string {
  return where.replace(/\.tmp-[^/]+/, '.tmp-*').replace(/\.\d+\.[0-9a-f]+\.tmp$/, '.*.tmp');
}

interface Write {
  file: string;
  /** The operation and the file, as in `failed`. */
  where: string;
  /** Bytes written under the directory before this write. */
  before: number;
  /** Position among the (non-empty) writes under the directory. */
  index: number;
}

/** Makes the write with index `failAt` under `under` (and every later one) fail with ENOSPC, as on a full disk. */
function simulateFullDisk(under: string, failAt: number): { restore: () => void; used: () => number; failed: string[]; trace: Write[] } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const real = require('node:fs') as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  const fdPath = new Map<number, string>();
  const failed: string[] = [];
  const trace: Write[] = [];
  let used = 0;
  const root = path.resolve(under);
  const charge = (p: unknown, n: number, what: string): void => {
    if (typeof p !== 'string' || !path.resolve(p).startsWith(root)) return;
    if (n === 0) return;
    const index = trace.length;
    const file = path.relative(root, p);
    const where = `${what} ${file}`;
    trace.push({ file, where, before: used, index });
    if (index >= failAt) {
      failed.push(where);
      const e = new Error(`ENOSPC: no space left on device, ${what}`) as NodeJS.ErrnoException;
      Object.assign(e, { code: 'ENOSPC', errno: -28, syscall: what });
      throw e;
    }
    used += n;
  };
  const size = (d: unknown): number => (typeof d === 'string' ? Buffer.byteLength(d) : ArrayBuffer.isView(d) ? d.byteLength : 0);
  type Fn = (...a: unknown[]) => unknown;
  const wrap = (name: string, f: (orig: Fn, ...a: unknown[]) => unknown) => {
    const orig = real[name] as Fn;
    saved.set(name, orig);
    real[name] = (...a: unknown[]) => f(orig, ...a);
  };
  wrap('openSync', (o, p, ...r) => {
    const fd = o(p, ...r) as number;
    fdPath.set(fd, String(p));
    return fd;
  });
  wrap('writeSync', (o, fd, buf, ...r) => {
    charge(fdPath.get(fd as number), typeof r[1] === 'number' && typeof buf !== 'string' ? r[1] : size(buf), 'write');
    return o(fd, buf, ...r);
  });
  wrap('writeFileSync', (o, p, d, ...r) => {
    charge(p, size(d), 'write');
    return o(p, d, ...r);
  });
  wrap('appendFileSync', (o, p, d, ...r) => {
    charge(p, size(d), 'write');
    return o(p, d, ...r);
  });
  wrap('copyFileSync', (o, a, b, ...r) => {
    charge(b, fs.statSync(a as string).size, 'copyfile');
    return o(a, b, ...r);
  });
  return {
    restore: () => {
      for (const [k, v] of saved) real[k] = v;
    },
    used: () => used,
    failed,
    trace,
  };
}

interface Trial {
  killedAfterMs: number;
  midWrite: boolean;
  /** Killed while --keep removed an old checkpoint (renamed away, not yet deleted). */
  midPrune: boolean;
  resumedFrom: number | null;
  newest: number;
  brokenOlder: string[];
}

/** Runs `trials` kill/resume cycles of one CLI run in `out`, then a final --resume to completion. */
async function killLane(out: string, trials: number, seed: number, writeMs: number[]): Promise<Trial[]> {
  const s = setup!;
  fs.mkdirSync(out);
  const args = [CLI, 'pretrain', '--data', s.data, '--tokenizer', s.tokenizer, '--out', out, '--preset', 'tiny', '--steps', '100000', '--batch', '4',
    '--save-every', '1', '--keep', '2', '--eval-every', '0', '--log-every', '1', '--no-progress', '--resume'];
  const rand = prng(seed);
  const log: Trial[] = [];
  let newest: number | null = null;
  for (let trial = 0; trial < trials; trial++) {
    // Kill on the k-th checkpoint write of this process (k >= 2, so an earlier one is complete),
    // a random time after its temporary directory appears (up to 1.2 x the median write so far).
    const k = 2 + Math.floor(rand() * 3);
    const sorted = [...writeMs].sort((a, b) => a - b);
    const delay = Math.floor(rand() * 1.2 * (sorted.length ? sorted[sorted.length >> 1]! : 100));
    const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(child);
    child.on('exit', () => live.delete(child));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let seen = 0;
    let killedAt = 0;
    let tmpSeenAt = 0;
    const pendingTmp = new Map<string, number>();
    const watcher = fs.watch(out, (_ev, name) => {
      if (!name) return;
      const m = TMP.exec(name);
      if (m && m[2] === 'tmp' && !pendingTmp.has(m[1]!)) {
        pendingTmp.set(m[1]!, Date.now());
        if (++seen === k) {
          tmpSeenAt = Date.now();
          setTimeout(() => {
            killedAt = Date.now();
            child.kill('SIGKILL');
          }, delay);
        }
      }
      const c = /^checkpoint-(\d+)$/.exec(name);
      if (c && pendingTmp.has(c[1]!) && fs.existsSync(path.join(out, name))) {
        writeMs.push(Date.now() - pendingTmp.get(c[1]!)!);
        pendingTmp.delete(c[1]!);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000); // a hang fails below
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(timer);
    watcher.close();
    if (!killedAt) throw new Error(`${out} trial ${trial}: the run ended (code ${code}) before it was killed: ${stderr.slice(-1500)}`);
    const resumed = /resuming from .*checkpoint-(\d+) \(step (\d+)\)/.exec(stderr);
    const resumedFrom = resumed ? Number(resumed[2]) : null;
    // The run resumed from the newest complete checkpoint the previous kill left.
    expect({ out, trial, resumedFrom }).toEqual({ out, trial, resumedFrom: newest });
    const leftovers = fs.readdirSync(out).filter((n) => TMP.exec(n)?.[2] === 'tmp');
    const pruneLeftovers = fs.readdirSync(out).filter((n) => TMP.exec(n)?.[2] === 'old');
    const cks = listCheckpoints(out);
    expect({ out, trial, complete: cks.length > 0 }).toEqual({ out, trial, complete: true });
    // The newest checkpoint-N directory is complete (written under a temporary name, then renamed) and loads.
    newest = await loadCheckpoint(cks[cks.length - 1]!.dir);
    expect(newest).toBe(cks[cks.length - 1]!.step);
    const brokenOlder: string[] = [];
    for (const c of cks.slice(0, -1)) {
      try {
        await loadCheckpoint(c.dir);
      } catch (e) {
        brokenOlder.push(`${path.basename(out)}/${path.basename(c.dir)}: ${(e as Error).message.replace(c.dir, '').slice(0, 80)}`);
      }
    }
    log.push({ killedAfterMs: killedAt - tmpSeenAt, midWrite: leftovers.length > 0, midPrune: pruneLeftovers.length > 0, resumedFrom, newest, brokenOlder });
  }
  // A last --resume runs two more steps to completion.
  const last = listCheckpoints(out).pop()!.step;
  const fin = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, [...args.slice(0, args.indexOf('--steps') + 1), String(last + 2), ...args.slice(args.indexOf('--steps') + 2)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    let e = '';
    c.stdout.on('data', (d: Buffer) => (o += d.toString()));
    c.stderr.on('data', (d: Buffer) => (e += d.toString()));
    c.on('exit', (status) => resolve({ status, stdout: o, stderr: e }));
  });
  expect({ status: fin.status, stderr: fin.status === 0 ? '' : fin.stderr.slice(-1500) }).toEqual({ status: 0, stderr: '' });
  expect(fin.stdout).toMatch(new RegExp(`pretrained steps ${last}\\.\\.${last + 2}`));
  expect(await loadCheckpoint(listCheckpoints(out).pop()!.dir)).toBe(last + 2);
  expect(fs.readdirSync(out).filter((n) => TMP.test(n))).toEqual([]); // the resumed run removed the leftovers
  return log;
}

