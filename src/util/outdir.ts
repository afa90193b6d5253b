/**
 * Rules for the directories runs write into: a run never deletes files it did not write.
 * Writing into a non-empty directory needs `--overwrite` (API `overwrite: true`), and then only
 * the run's own files are replaced; a directory that holds a model or a pre-training run is
 * refused where writing there would break it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElectraError } from '../errors';
import { LOCK_FILE } from './lock';

/** The entries of `dir` other than the lock file ([] when it does not exist). */
export function entriesOf(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((n) => n !== LOCK_FILE);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') return [];
    if (code === 'ENOTDIR') throw new ElectraError('ERR_CONFIG', `${dir} is a file, not a directory`);
    throw new ElectraError('ERR_IO', `cannot read ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

function list(names: string[]): string {
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown}, ... (${names.length} entries)` : shown;
}

/**
 * Refuses a non-empty `dir` unless `overwrite`; `ours` names the files the run writes (the only
 * ones it replaces).
 */
export function refuseNonEmpty(dir: string, overwrite: boolean, ours: readonly string[]): void {
  const have = entriesOf(dir);
  if (have.length === 0 || overwrite) return;
  throw new ElectraError(
    'ERR_CONFIG',
    `${dir} is not empty (${list(have)}): pass --overwrite (API: overwrite: true) to write into it anyway; only these files are then replaced: ${ours.join(', ')}`,
  );
}

/** A model directory: `config.json` or a `.safetensors` file. */
export function isModelDir(dir: string): boolean {
  return entriesOf(dir).some((n) => n === 'config.json' || n.endsWith('.safetensors'));
}

/** A pre-training checkpoint (`trainer_state.json`) or a run directory (a `checkpoint-N/` in it). */
export function isPretrainingDir(dir: string): boolean {
  return entriesOf(dir).some((n) => n === 'trainer_state.json' || (/^checkpoint-\d+$/.test(n) && fs.statSync(path.join(dir, n), { throwIfNoEntry: false })?.isDirectory() === true));
}

/** `p` resolved, symlinks of its existing part followed (a missing tail is appended as given). */
export function realPath(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(head), ...tail.reverse());
    } catch {
      const up = path.dirname(head);
      if (up === head) return abs;
      tail.push(path.basename(head));
      head = up;
    }
  }
}

/** Whether `p` is `root` or lies inside it (both resolved by the caller). */
export function within(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** `dir` and every directory above it, nearest first. */
export function selfAndAncestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    out.push(d);
    if (path.dirname(d) === d) return out;
  }
}

/**
 * Moves the files of `from` into `to`, replacing files of the same names, and deletes the files
 * of `ours` that `from` did not have (stale files of an earlier save, e.g. a `vocab.txt` after a
 * tokenizer without one). Every other file of `to` is left as it is. Each file is renamed, so a
 * reader sees the old file or the new one.
 */
export function replaceOwnFiles(from: string, to: string, ours: readonly string[]): void {
  const names = fs.readdirSync(from);
  for (const n of names) fs.renameSync(path.join(from, n), path.join(to, n));
  for (const n of ours) if (!names.includes(n)) fs.rmSync(path.join(to, n), { force: true });
}
