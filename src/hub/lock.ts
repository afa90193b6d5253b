/**
 * A lock file so that two processes downloading the same blob do not write one `.incomplete`
 * together. Created with O_EXCL; it holds the owner's pid, host and a random token and its mtime
 * is refreshed while held. A waiter breaks it when the owner is a dead process on this host, or
 * when it has not been refreshed for `staleMs` (an owner on another host of a shared cache).
 *
 * The lock is advisory and ours alone (Python's huggingface_hub uses flock(2) on `<etag>.lock`
 * beside it; Node has no flock). It is not what keeps the cache correct: a blob is renamed into
 * place only after its sha256 matched, so a broken lock costs bandwidth, never a bad blob.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElectraError } from '../errors';

interface Owner {
  pid: number;
  host: string;
  token: string;
}

export interface LockOptions {
  /** How often a waiter looks again (ms). */
  pollMs?: number;
  /** A lock not refreshed for this long is stale (ms). */
  staleMs?: number;
  /** Called once when the lock is busy (to tell the user why we wait). */
  onWait?: (owner: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): { owner: Owner | undefined; mtimeMs: number } | undefined {
  try {
    const st = fs.statSync(file);
    let owner: Owner | undefined;
    try {
      const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Owner>;
      if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') owner = v as Owner;
    } catch {
      // being written, or garbage: judged by its age alone
    }
    return { owner, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  }
}

function tryCreate(file: string, me: Owner): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new ElectraError('ERR_IO', `cannot create the lock ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    fs.writeSync(fd, JSON.stringify(me));
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** Moves a stale lock aside and deletes it; puts it back if it turned out to be a fresh one. */
function breakStale(file: string, seen: Owner | undefined): void {
  const aside = `${file}.stale-${crypto.randomBytes(6).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return; // someone else broke it first
  }
  const got = readOwner(aside)?.owner;
  if (seen && got && got.token !== seen.token) {
    // We moved a lock taken between our look and the rename: give it back if the name is free.
    try {
      fs.linkSync(aside, file);
    } catch {
      // taken again meanwhile: both proceed; the sha256 check still guards the blob
    }
  }
  fs.rmSync(aside, { force: true });
}

/** Runs `fn` holding the lock `file` (its directory is created). */
export async function withLock<T>(file: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const pollMs = opts.pollMs ?? 200;
  const staleMs = opts.staleMs ?? 60_000;
  const me: Owner = { pid: process.pid, host: os.hostname(), token: crypto.randomBytes(12).toString('hex') };
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  } catch (e) {
    throw new ElectraError('ERR_IO', `cannot create ${path.dirname(file)}: ${(e as Error).message}`, { cause: e });
  }
  let told = false;
  for (;;) {
    if (tryCreate(file, me)) break;
    const cur = readOwner(file);
    if (cur === undefined) continue; // released between our attempt and our look
    const deadHere = cur.owner !== undefined && cur.owner.host === me.host && !alive(cur.owner.pid);
    if (deadHere || Date.now() - cur.mtimeMs > staleMs) {
      breakStale(file, cur.owner);
      continue;
    }
    if (!told) {
      told = true;
      opts.onWait?.(cur.owner ? `process ${cur.owner.pid} on ${cur.owner.host}` : 'another process');
    }
    await sleep(pollMs);
  }
  const beat = setInterval(() => {
    const t = new Date();
    try {
      fs.utimesSync(file, t, t);
    } catch {
      // gone (broken by a waiter that judged us stale): nothing to refresh
    }
  }, Math.max(1000, Math.floor(staleMs / 4)));
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    if (readOwner(file)?.owner?.token === me.token) fs.rmSync(file, { force: true });
  }
}
