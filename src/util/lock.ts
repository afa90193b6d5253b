/**
 * Exclusive locks on output directories: one run at a time writes into a given `--out`.
 *
 * The lock is a file `<dir>/.electra.lock` holding the owner's PID, host, command and start
 * time. It appears atomically (written beside it, then hard-linked into place, which fails when a
 * lock already exists; `open(O_EXCL)` where hard links are not supported), and its mtime is
 * touched every {@link HEARTBEAT_MS} while held. A lock is stale when its holder ran on this host
 * and its PID is no longer alive, or when its heartbeat is older than {@link STALE_MS} (the only
 * test for a lock taken on another host, e.g. over NFS); a stale lock is taken over. A held lock
 * makes the second run fail at once with `ERR_LOCKED`, naming the holder.
 *
 * A lock is released by {@link OutputLock.release}, and also when the process exits (`exit`
 * event: `process.exit`, an uncaught error) or is ended by SIGINT, SIGTERM or SIGHUP while no
 * other handler deals with the signal (the lock is released, then the signal is raised again so
 * that the process ends as it would have). SIGKILL leaves the file, which the PID test then
 * recognises as stale.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElectraError } from '../errors';

/** The lock file's name inside the locked directory. */
export const LOCK_FILE = '.electra.lock';
/** How often a held lock's mtime is touched. */
export const HEARTBEAT_MS = 30_000;
/** A lock whose heartbeat is older than this is stale whatever its host (10 minutes). */
export const STALE_MS = 10 * 60_000;

/** What a lock file says about its holder. */
export interface LockHolder {
  pid: number;
  host: string;
  /** The command that took it (pretrain, finetune, prepare, vocab...). */
  command: string;
  /** When it was taken (ISO 8601). */
  startedAt: string;
  /** A random token that tells this lock from a later one in the same place. */
  token: string;
}

function isHolder(x: unknown): x is LockHolder {
  const h = x as LockHolder;
  return h !== null && typeof h === 'object' && Number.isInteger(h.pid) && typeof h.host === 'string' && typeof h.command === 'string' && typeof h.startedAt === 'string' && typeof h.token === 'string';
}

/** True when process `pid` exists on this host (EPERM: it exists, owned by someone else). */
function pidAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** The lock file's holder and the age of its heartbeat, or undefined when there is none. */
function readLock(file: string): { holder: LockHolder | undefined; ageMs: number; raw: string } | undefined {
  let raw: string;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw new ElectraError('ERR_IO', `cannot read the lock file ${file}: ${(e as Error).message}`, { cause: e });
  }
  let holder: LockHolder | undefined;
  try {
    const j = JSON.parse(raw) as unknown;
    if (isHolder(j)) holder = j;
  } catch {
    // unreadable: judged by its heartbeat alone
  }
  return { holder, ageMs: Date.now() - st.mtimeMs, raw };
}

/** Why a lock is stale, or undefined when it is held. */
function staleReason(l: { holder: LockHolder | undefined; ageMs: number }, staleMs: number): string | undefined {
  const h = l.holder;
  if (h && h.host === os.hostname() && !pidAlive(h.pid)) return `its process ${h.pid} on ${h.host} is no longer running`;
  if (l.ageMs > staleMs) return `its heartbeat is ${Math.round(l.ageMs / 1000)} s old`;
  return undefined;
}

function describe(h: LockHolder | undefined): string {
  return h ? `\`electra ${h.command}\` (PID ${h.pid} on ${h.host}, started ${h.startedAt})` : 'an unreadable lock file';
}

const held = new Set<OutputLock>();
let hooked = false;

function releaseAll(): void {
  for (const l of [...held]) l.release();
}

/** Releases every lock on exit, and on a signal that nothing else handles (then re-raises it). */
function hookProcess(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', releaseAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(sig) > 1) return; // another handler (a training loop's) decides
      releaseAll();
      process.off(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

export interface LockOptions {
  /** The heartbeat age after which a lock is stale (default {@link STALE_MS}). */
  staleMs?: number;
}

/** An exclusive lock on an output directory; see the module comment. */
export class OutputLock {
  readonly dir: string;
  readonly file: string;
  readonly holder: LockHolder;
  #timer: NodeJS.Timeout | undefined;
  readonly #cleanups: (() => void)[] = [];
  /** The directory was created for this lock: removed on release when left empty. */
  readonly #created: boolean;

  private constructor(dir: string, holder: LockHolder, created: boolean) {
    this.dir = dir;
    this.#created = created;
    this.file = path.join(dir, LOCK_FILE);
    this.holder = holder;
    this.#timer = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#timer.unref();
    held.add(this);
    hookProcess();
  }

  /**
   * Locks `dir` (created when missing) for `command`. Throws ERR_LOCKED naming the holder when
   * another run holds it (in this process too); a stale lock is taken over with a notice.
   */
  static acquire(dir: string, command: string, opts: LockOptions = {}): OutputLock {
    const abs = path.resolve(dir);
    let created: string | undefined;
    try {
      created = fs.mkdirSync(abs, { recursive: true });
    } catch (e) {
      throw new ElectraError('ERR_IO', `the output directory ${abs} is not writable (cannot create it: ${(e as Error).message})`, { cause: e });
    }
    const file = path.join(abs, LOCK_FILE);
    const holder: LockHolder = { pid: process.pid, host: os.hostname(), command, startedAt: new Date().toISOString(), token: randomBytes(8).toString('hex') };
    const body = JSON.stringify(holder) + '\n';
    for (let attempt = 0; attempt < 5; attempt++) {
      if (createExclusive(file, body)) return new OutputLock(abs, holder, created !== undefined);
      const cur = readLock(file);
      if (!cur) continue; // released meanwhile
      const why = staleReason(cur, opts.staleMs ?? STALE_MS);
      if (!why) {
        throw new ElectraError('ERR_LOCKED', `${abs} is locked by ${describe(cur.holder)}: another run is writing there. Wait for it to end, or choose another output directory (lock file ${file})`);
      }
      if (takeOver(file, cur.raw)) process.stderr.write(`electra: taking over the stale lock on ${abs} held by ${describe(cur.holder)}: ${why}\n`);
    }
    throw new ElectraError('ERR_LOCKED', `cannot lock ${abs}: its lock file ${file} keeps changing (another run is starting there)`);
  }

  /**
   * Runs `fn` when the lock is released (also on exit or a signal): removal of a temporary
   * directory that only this run knows about.
   */
  onRelease(fn: () => void): void {
    this.#cleanups.push(fn);
  }

  /** Whether this lock is still held. */
  get held(): boolean {
    return held.has(this);
  }

  /** The lock file's content, for a second copy of it (see prepare's swap). */
  get body(): string {
    return JSON.stringify(this.holder) + '\n';
  }

  #beat(): void {
    try {
      const now = new Date();
      fs.utimesSync(this.file, now, now);
    } catch {
      // The directory may be between renames (prepare's swap); the next beat touches it.
    }
  }

  /** Removes the lock file if it is still this lock's (repeatable). */
  release(): void {
    if (!held.delete(this)) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const fn of this.#cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // a cleanup that fails must not keep the lock
      }
    }
    try {
      const cur = readLock(this.file);
      if (cur?.holder?.token === this.holder.token) fs.rmSync(this.file, { force: true });
      if (this.#created) fs.rmdirSync(this.dir);
    } catch {
      // already gone, not empty, or unreadable: nothing more of ours to remove
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** Creates `file` with `body` unless it exists; false when it exists. */
function createExclusive(file: string, body: string): boolean {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.new`;
  try {
    fs.writeFileSync(tmp, body, { flag: 'wx' });
  } catch (e) {
    throw new ElectraError('ERR_IO', `cannot write the lock file in ${path.dirname(file)}: ${(e as Error).message}`, { cause: e });
  }
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') {
      throw new ElectraError('ERR_IO', `cannot create the lock file ${file}: ${(e as Error).message}`, { cause: e });
    }
    // No hard links on this file system: O_EXCL (a reader may see the file empty for an instant).
    try {
      fs.writeFileSync(file, body, { flag: 'wx' });
      return true;
    } catch (e2) {
      if ((e2 as { code?: string }).code === 'EEXIST') return false;
      throw new ElectraError('ERR_IO', `cannot create the lock file ${file}: ${(e2 as Error).message}`, { cause: e2 });
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Moves the stale lock whose content is `raw` out of the way. When the file moved turns out to be
 * another, fresh lock (a run that took it over first), it is put back and false returned.
 */
function takeOver(file: string, raw: string): boolean {
  const aside = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.stale`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return false;
    throw new ElectraError('ERR_IO', `cannot remove the stale lock ${file}: ${(e as Error).message}`, { cause: e });
  }
  let same = false;
  try {
    same = fs.readFileSync(aside, 'utf8') === raw;
    if (!same) {
      try {
        fs.linkSync(aside, file);
      } catch {
        // a third run holds it now; it will be reported on the next attempt
      }
    }
  } finally {
    fs.rmSync(aside, { force: true });
  }
  return same;
}

/**
 * Runs `fn` holding the lock on `dir` for `command`; releases it however `fn` ends.
 */
export async function withOutputLock<T>(dir: string, command: string, fn: (lock: OutputLock) => Promise<T>): Promise<T> {
  const lock = OutputLock.acquire(dir, command);
  try {
    return await fn(lock);
  } finally {
    lock.release();
  }
}
