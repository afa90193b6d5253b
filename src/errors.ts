/**
 * Stable error codes. Every failure the library reports is an {@link ElectraError} with one of
 * these codes, naming what was wrong. Each is in the README's error table; `ERR_NATIVE` is the
 * addon that is missing or cannot load, and the fallback for a failure inside the addon that no
 * other code describes (a bug to report).
 */
export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_INPUT'
  | 'ERR_CHECKPOINT'
  | 'ERR_DATA'
  | 'ERR_OOM'
  | 'ERR_BUSY'
  | 'ERR_DISPOSED'
  | 'ERR_DEVICE'
  | 'ERR_TORCH'
  | 'ERR_NATIVE'
  | 'ERR_LIBTORCH'
  | 'ERR_DIVERGED'
  | 'ERR_IO'
  | 'ERR_ABORTED'
  | 'ERR_DISTRIBUTED'
  | 'ERR_TOKENIZER'
  | 'ERR_LOCKED'
  | 'ERR_NOT_FOUND'
  | 'ERR_AUTH'
  | 'ERR_OFFLINE'
  | 'ERR_NETWORK';

/** The one error class of electra-node; `code` is stable, `message` says what and where. */
export class ElectraError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ElectraError';
    this.code = code;
  }
}

const KNOWN = new Set<string>([
  'ERR_CONFIG', 'ERR_INPUT', 'ERR_CHECKPOINT', 'ERR_DATA', 'ERR_OOM', 'ERR_BUSY', 'ERR_DISPOSED', 'ERR_DEVICE',
  'ERR_TORCH', 'ERR_NATIVE', 'ERR_LIBTORCH', 'ERR_DIVERGED', 'ERR_IO', 'ERR_ABORTED', 'ERR_DISTRIBUTED', 'ERR_TOKENIZER',
  'ERR_LOCKED',
  'ERR_NOT_FOUND', 'ERR_AUTH', 'ERR_OFFLINE', 'ERR_NETWORK',
]);

/** Turns an error from the addon (a plain Error with `code`) or from Node into an ElectraError. */
export function toElectraError(e: unknown, fallback: ErrorCode = 'ERR_NATIVE'): ElectraError {
  if (e instanceof ElectraError) return e;
  // Duck-typed: errors from the addon may come from another realm (vm contexts, jest).
  if (e !== null && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') {
    const code = (e as { code?: unknown }).code;
    const message = (e as Error).message;
    if (typeof code === 'string' && KNOWN.has(code)) return new ElectraError(code as ErrorCode, message, { cause: e });
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new ElectraError('ERR_IO', message, { cause: e });
    return new ElectraError(fallback, (e as Error).message, { cause: e });
  }
  return new ElectraError(fallback, String(e));
}

/** Awaits a native promise, rethrowing its failure as an ElectraError. */
export async function mapNative<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw toElectraError(e);
  }
}

/** Runs a synchronous native call, rethrowing its failure as an ElectraError. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toElectraError(e);
  }
}
