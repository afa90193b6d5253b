/**
 * Writes that never leave a half-written file or checkpoint where a complete one is expected:
 * everything goes to a temporary sibling, is fsynced, then renamed into place. Every atomic write
 * of the library goes through this file.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElectraError } from '../errors';

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some filesystems do not support fsync on directories; the rename is still atomic.
  }
}

function fsyncTree(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) fsyncTree(p);
    else if (e.isFile()) {
      const fd = fs.openSync(p, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  fsyncDir(dir);
}

/**
 * Calls `fill(tmpDir)` then moves tmpDir to `target`, replacing an existing directory only after
 * the new one is complete. On failure the temporary directory is removed and `target` is untouched.
 */
export async function writeDirAtomic(target: string, fill: (tmp: string) => Promise<void> | void): Promise<void> {
  const parent = path.dirname(path.resolve(target));
  try {
    fs.mkdirSync(parent, { recursive: true });
  } catch (e) {
    throw new ElectraError('ERR_IO', `cannot create ${parent}: ${(e as Error).message}`, { cause: e });
  }
  const base = path.basename(target);
  const tmp = path.join(parent, `.${base}.tmp-${process.pid}-${Date.now().toString(36)}`);
  try {
    fs.mkdirSync(tmp);
    await fill(tmp);
    fsyncTree(tmp);
    if (fs.existsSync(target)) {
      const old = path.join(parent, `.${base}.old-${process.pid}-${Date.now().toString(36)}`);
      fs.renameSync(target, old);
      fs.renameSync(tmp, target);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, target);
    }
    fsyncDir(parent);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (e instanceof ElectraError) {
      // A full disk while writing one of the files: say so for the whole checkpoint.
      if (e.code === 'ERR_IO' && (e.cause as { code?: string } | undefined)?.code === 'ENOSPC') {
        throw new ElectraError('ERR_IO', `cannot write ${target}: no space left on the device (${e.message})`, { cause: e });
      }
      throw e;
    }
    const code = (e as { code?: string }).code;
    const why = code === 'ENOSPC' ? 'no space left on the device' : (e as Error).message;
    throw new ElectraError('ERR_IO', `cannot write ${target}: ${why}`, { cause: e });
  }
}

/** Removes stale temporary directories left by a killed writer. */
export function cleanStaleTemps(parent: string): void {
  if (!fs.existsSync(parent)) return;
  for (const name of fs.readdirSync(parent)) {
    if (/^\..+\.(tmp|old)-\d+-[0-9a-z]+$/.test(name)) fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
}

/**
 * Deletes a directory so that it is never seen half-deleted under its name: it is renamed to a
 * temporary sibling first (atomic), then removed. A writer killed in between leaves only the
 * temporary name, which {@link cleanStaleTemps} removes. Missing directories are fine.
 */
export function removeDirAtomic(dir: string): void {
  const parent = path.dirname(path.resolve(dir));
  const old = path.join(parent, `.${path.basename(dir)}.old-${process.pid}-${Date.now().toString(36)}`);
  try {
    fs.renameSync(dir, old);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return;
    throw new ElectraError('ERR_IO', `cannot remove ${dir}: ${(e as Error).message}`, { cause: e });
  }
  fs.rmSync(old, { recursive: true, force: true });
}

/** The message for a file-system error: "no space left on the device" for ENOSPC. */
function why(e: unknown): string {
  return (e as { code?: string }).code === 'ENOSPC' ? 'no space left on the device' : (e as Error).message;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
}

/**
 * Writes `chunks`, in order, to `file` atomically: a temporary sibling is written, fsynced and
 * renamed over `file`, so that readers see the old file or the new one, never a part. The
 * directory must exist. Failures are ERR_IO saying `cannot write ${what}`; the temporary file
 * is removed.
 *
 * @param what how messages name the file (default: its path)
 */
export function writeFileAtomic(file: string, chunks: readonly (Uint8Array | string)[], what = file): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    for (const c of chunks) writeAll(fd, typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    fs.rmSync(tmp, { force: true });
    throw new ElectraError('ERR_IO', `cannot write ${what}: ${why(e)}`, { cause: e });
  }
  fsyncDir(path.dirname(file));
}
