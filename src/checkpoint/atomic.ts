/**
 * Directory writes that never leave a half-written checkpoint where a complete one is expected:
 * everything goes to a temporary sibling, is fsynced, then renamed into place.
 */
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
