/**
 * File safety shared by every layer.
 *
 * File names that come out of a model or data directory (a shard list in `meta.json`, a weight
 * map, ...) must stay inside that directory: no absolute names, no `..`, and no symlink that
 * resolves outside it. Files read by a fixed name must be regular files (a FIFO or a device
 * would block or never end); a symlink to a regular file is fine there (the Hugging Face cache
 * links `model.safetensors` to a blob outside the snapshot directory). Writers check their
 * output directory before long work and turn file-system failures into ERR_IO.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElectraError, type ErrorCode } from '../errors';

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** A name for a message: quoted, at most 200 characters. */
function show(name: unknown): string {
  const s = typeof name === 'string' ? JSON.stringify(name) : String(typeof name);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/**
 * The path of `name` (read from a file of `dir`) inside `dir`. Throws `code` when the name is
 * empty, absolute, contains `..` or a NUL byte, or when it (or a symlink on the way) resolves
 * outside `dir` (symlinks are resolved when the file exists; a missing file gives its path).
 */
export function confinedPath(dir: string, name: unknown, what: string, code: ErrorCode): string {
  const refuse = (why: string): never => {
    throw new ElectraError(code, `${what} ${show(name)} ${why}: file names in ${dir} must stay inside it`);
  };
  if (typeof name !== 'string' || name === '') return refuse('is not a file name');
  if (name.includes('\0')) refuse('contains a NUL byte');
  if (path.isAbsolute(name) || path.win32.isAbsolute(name)) refuse('is an absolute path');
  if (name.split(/[\\/]/).includes('..')) refuse('goes up with ".."');
  const root = path.resolve(dir);
  const p = path.resolve(root, name);
  if (!inside(root, p)) refuse('points outside the directory');
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch (e) {
    throw new ElectraError(code, `cannot resolve ${dir}: ${(e as Error).message}`, { cause: e });
  }
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch {
    return p; // missing or a dangling link: nothing can be read through it, the caller reports it
  }
  if (!inside(realRoot, real)) refuse(`resolves to ${real}, outside the directory (a symlink)`);
  return p;
}

/**
 * Checks that `file` is a regular file (symlinks followed); ERR `code` naming `what` otherwise.
 * Returns false when it does not exist (the caller decides whether that is an error).
 */
export function isRegularFile(file: string, what: string, code: ErrorCode): boolean {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file, { throwIfNoEntry: false });
  } catch (e) {
    throw new ElectraError(code, `cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (st === undefined) {
    // A dangling symlink: say so instead of "missing".
    if (fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink()) throw new ElectraError(code, `${what} ${file} is a symlink to a missing file`);
    return false;
  }
  if (!st.isFile()) throw new ElectraError(code, `${what} ${file} is not a regular file (${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'a special file'})`);
  return true;
}

/** The reason of a file-system error for a message: "no space left on the device" for ENOSPC. */
function why(e: unknown): string {
  return (e as { code?: string }).code === 'ENOSPC' ? 'no space left on the device' : (e as Error).message;
}

/**
 * Runs file-system work; a failure (a full disk) becomes ERR_IO saying `cannot ${what}`.
 * ElectraErrors pass through unchanged.
 */
export function ioStep<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ElectraError) throw e;
    throw new ElectraError('ERR_IO', `cannot ${what}: ${why(e)}`, { cause: e });
  }
}

/**
 * Creates `dir` and writes and removes a 64 KiB probe file in it, so that a run fails before it
 * starts (ERR_IO) rather than at its first checkpoint.
 */
export function probeWritable(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `.write-probe-${process.pid}`);
    fs.writeFileSync(probe, Buffer.alloc(64 * 1024));
    fs.rmSync(probe);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ElectraError('ERR_IO', `the output directory ${dir} is not writable (${code === 'ENOSPC' ? 'no space left' : (e as Error).message}); nothing was trained`, { cause: e });
  }
}
