/*
 * Output-directory locks (src/util/lock.ts) and the overwrite rules (src/util/outdir.ts): a held
 * lock refuses a second run with ERR_LOCKED naming its holder; a lock of a dead process on this
 * host, or with an old heartbeat from any host, is taken over; another host's fresh lock is
 * honoured; a killed holder's lock is released on SIGTERM.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElectraError } from '../../src/errors';
import { LOCK_FILE, OutputLock, type LockHolder } from '../../src/util/lock';
import { isModelDir, isPretrainingDir, realPath, refuseNonEmpty, replaceOwnFiles } from '../../src/util/outdir';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-lock-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function errorOf(fn: () => unknown): ElectraError {
  try {
    fn();
  } catch (e) {
    return e as ElectraError;
  }
  throw new Error('expected a throw');
}

function writeLock(dir: string, h: Partial<LockHolder>, ageMs = 0): void {
  fs.mkdirSync(dir, { recursive: true });
  const f = path.join(dir, LOCK_FILE);
  fs.writeFileSync(f, JSON.stringify({ pid: 1, host: os.hostname(), command: 'pretrain', startedAt: '2026-01-01T00:00:00.000Z', token: 'x', ...h }));
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(f, t, t);
}

/** The PID of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('OutputLock', () => {
  test('a second acquire fails with ERR_LOCKED naming the holder; release frees it', () => {
    const dir = path.join(tmp, 'a');
    const l = OutputLock.acquire(dir, 'pretrain');
    const f = path.join(dir, LOCK_FILE);
    const h = JSON.parse(fs.readFileSync(f, 'utf8')) as LockHolder;
    expect(h).toMatchObject({ pid: process.pid, host: os.hostname(), command: 'pretrain' });
    const e = errorOf(() => OutputLock.acquire(dir, 'finetune'));
    expect(e).toBeInstanceOf(ElectraError);
    expect(e.code).toBe('ERR_LOCKED');
    expect(e.message).toContain(`electra pretrain\` (PID ${process.pid} on ${os.hostname()}, started ${h.startedAt})`);
    l.release();
    l.release();
    expect(fs.existsSync(f)).toBe(false);
    OutputLock.acquire(dir, 'finetune').release();
  });

  test('a stale lock (this host, dead PID) is taken over', () => {
    const dir = path.join(tmp, 'dead');
    writeLock(dir, { pid: deadPid() });
    const l = OutputLock.acquire(dir, 'prepare');
    expect((JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as LockHolder).pid).toBe(process.pid);
    l.release();
  });

  test("another host's lock is honoured while its heartbeat is fresh, taken over when old", () => {
    const dir = path.join(tmp, 'remote');
    writeLock(dir, { pid: 4242, host: 'elsewhere.example' }, 5_000);
    expect(errorOf(() => OutputLock.acquire(dir, 'vocab')).message).toMatch(/locked by `electra pretrain` \(PID 4242 on elsewhere\.example/);
    writeLock(dir, { pid: 4242, host: 'elsewhere.example' }, 20 * 60_000);
    OutputLock.acquire(dir, 'vocab').release();
    // A live process on this host keeps its lock until its heartbeat is older than the bound.
    writeLock(dir, { pid: process.ppid }, 1_000);
    expect(errorOf(() => OutputLock.acquire(dir, 'vocab', { staleMs: 60_000 })).code).toBe('ERR_LOCKED');
    writeLock(dir, { pid: process.ppid }, 120_000);
    OutputLock.acquire(dir, 'vocab', { staleMs: 60_000 }).release();
  });

  test('an unreadable lock file is judged by its heartbeat', () => {
    const dir = path.join(tmp, 'garbled');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, LOCK_FILE), 'not json');
    expect(errorOf(() => OutputLock.acquire(dir, 'prepare')).message).toMatch(/locked by an unreadable lock file/);
    const t = new Date(Date.now() - 3_600_000);
    fs.utimesSync(path.join(dir, LOCK_FILE), t, t);
    OutputLock.acquire(dir, 'prepare').release();
  });

  test('a directory created for the lock is removed when left empty; release runs the cleanups', () => {
    const dir = path.join(tmp, 'fresh', 'out');
    const side = path.join(tmp, 'side');
    fs.mkdirSync(side);
    const l = OutputLock.acquire(dir, 'prepare');
    l.onRelease(() => fs.rmSync(side, { recursive: true }));
    l.release();
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(side)).toBe(false);
  });

  test('a holder ended by SIGTERM releases its lock (and dies by the signal)', async () => {
    const dir = path.join(tmp, 'signal');
    const src = path.resolve(__dirname, '..', '..', 'src', 'util', 'lock.ts');
    // The lock module has no dependency but ../errors: run it through a tiny CommonJS shim.
    const shim = path.join(tmp, 'shim.cjs');
    const ts = require('typescript') as typeof import('typescript');
    const js = (f: string) => ts.transpileModule(fs.readFileSync(f, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
    fs.mkdirSync(path.join(tmp, 'm', 'util'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'm', 'util', 'lock.js'), js(src));
    fs.writeFileSync(path.join(tmp, 'm', 'errors.js'), js(path.resolve(__dirname, '..', '..', 'src', 'errors.ts')));
    fs.writeFileSync(shim, `const { OutputLock } = require(${JSON.stringify(path.join(tmp, 'm', 'util', 'lock.js'))});\nOutputLock.acquire(process.argv[2], 'prepare');\nprocess.stdout.write('locked\\n');\nsetInterval(() => {}, 1000);\n`);
    const c = spawn(process.execPath, [shim, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => c.stdout.once('data', () => resolve()));
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(true);
    const exit = new Promise<NodeJS.Signals | null>((resolve) => c.on('exit', (_code, sig) => resolve(sig)));
    c.kill('SIGTERM');
    expect(await exit).toBe('SIGTERM');
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  }, 30_000);
});

describe('output directory rules', () => {
  test('a non-empty directory needs overwrite; the lock file alone does not count', () => {
    const dir = path.join(tmp, 'rules');
    fs.mkdirSync(dir);
    refuseNonEmpty(dir, false, ['config.json']);
    fs.writeFileSync(path.join(dir, LOCK_FILE), '{}');
    refuseNonEmpty(dir, false, ['config.json']);
    fs.writeFileSync(path.join(dir, 'NOTES.md'), 'mine');
    const e = errorOf(() => refuseNonEmpty(dir, false, ['config.json']));
    expect([e.code, e.message]).toEqual(['ERR_CONFIG', expect.stringMatching(/is not empty \(NOTES\.md\): pass --overwrite .*config\.json/)]);
    refuseNonEmpty(dir, true, ['config.json']);
  });

  test('model and pre-training directories are recognised', () => {
    const m = path.join(tmp, 'model');
    fs.mkdirSync(m);
    expect(isModelDir(m)).toBe(false);
    fs.writeFileSync(path.join(m, 'pytorch.safetensors'), '');
    expect(isModelDir(m)).toBe(true);
    const run = path.join(tmp, 'run');
    fs.mkdirSync(path.join(run, 'checkpoint-300'), { recursive: true });
    expect(isPretrainingDir(run)).toBe(true);
    expect(isPretrainingDir(path.join(run, 'checkpoint-300'))).toBe(false);
    fs.writeFileSync(path.join(run, 'checkpoint-300', 'trainer_state.json'), '{}');
    expect(isPretrainingDir(path.join(run, 'checkpoint-300'))).toBe(true);
  });

  test('replaceOwnFiles replaces and removes only the listed files', () => {
    const from = path.join(tmp, 'from'), to = path.join(tmp, 'to');
    fs.mkdirSync(from);
    fs.mkdirSync(path.join(to, 'extra'), { recursive: true });
    fs.writeFileSync(path.join(from, 'config.json'), 'new');
    fs.writeFileSync(path.join(to, 'config.json'), 'old');
    fs.writeFileSync(path.join(to, 'vocab.txt'), 'stale');
    fs.writeFileSync(path.join(to, 'NOTES.md'), 'mine');
    replaceOwnFiles(from, to, ['config.json', 'vocab.txt']);
    expect(fs.readdirSync(to).sort()).toEqual(['NOTES.md', 'config.json', 'extra']);
    expect(fs.readFileSync(path.join(to, 'config.json'), 'utf8')).toBe('new');
  });

  test('realPath follows symlinks of the existing part', () => {
    const real = path.join(tmp, 'real');
    fs.mkdirSync(real);
    fs.symlinkSync(real, path.join(tmp, 'link'));
    expect(realPath(path.join(tmp, 'link', 'a', 'b'))).toBe(path.join(fs.realpathSync(real), 'a', 'b'));
  });
});
