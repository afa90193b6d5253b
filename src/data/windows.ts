/**
 * Long texts as several windows: a text's tokens are cut into consecutive, non-overlapping pieces
 * of `maxLength - 2` tokens, each wrapped as `[CLS] piece [SEP]`, at most `windows` of them. A
 * sequence classifier scores each window and the text gets the mean of its windows' logits (the
 * product of the windows' class probabilities, renormalised). Fine-tuning with `windows` trains
 * on every window with the text's label and evaluates the same way. Single texts only.
 */
import { ElectraError } from '../errors';

/** The `config.json` key that records the window count a classifier was fine-tuned with. */
export const WINDOWS_KEY = 'electra_node_windows';

/** The most windows per text that fine-tuning and inference accept. */
export const MAX_WINDOWS = 64;

export interface Windowed {
  /** One id list per window, each `[CLS] ... [SEP]`. */
  windows: number[][];
  /** Text tokens beyond the last window (dropped). */
  truncated: number;
}

/** Checks a window count (an integer in [1, MAX_WINDOWS]); ERR_CONFIG or ERR_INPUT names `what`. */
export function checkWindows(n: unknown, what: string, code: 'ERR_CONFIG' | 'ERR_INPUT'): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_WINDOWS) {
    throw new ElectraError(code, `${what}: windows must be an integer from 1 to ${MAX_WINDOWS} (got ${String(n)})`);
  }
  return n;
}

/**
 * Splits the ids of one encoded single text (`[CLS] body [SEP]`, no truncation) into windows of at
 * most `maxLength` tokens each. A text with no body tokens gives one `[CLS] [SEP]` window.
 */
export function splitWindows(ids: readonly number[], maxLength: number, windows: number, cls: number, sep: number): Windowed {
  if (maxLength < 3) throw new ElectraError('ERR_CONFIG', `windows need a maximum length of at least 3 tokens (got ${maxLength})`);
  const body = ids.slice(1, Math.max(1, ids.length - 1));
  const w = maxLength - 2;
  const n = Math.max(1, Math.min(windows, Math.ceil(body.length / w)));
  const out: number[][] = [];
  for (let k = 0; k < n; k++) out.push([cls, ...body.slice(k * w, (k + 1) * w), sep]);
  return { windows: out, truncated: Math.max(0, body.length - n * w) };
}

/** Adds `row` (length L) into `acc` at `off` (the running sum of a text's window logits). */
export function addInto(acc: Float64Array, off: number, row: ArrayLike<number>): void {
  for (let k = 0; k < row.length; k++) acc[off + k] = acc[off + k]! + row[k]!;
}
