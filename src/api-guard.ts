/**
 * The public API's last line of argument checking. Entry points validate what they take and
 * name the field; this wrapper makes sure that a malformed argument they did not foresee (a
 * number where an object goes, a sparse array, an object of the wrong shape) still comes out as
 * an ElectraError (ERR_INPUT, naming the function and what went wrong) and never as a bare
 * TypeError or RangeError from deep inside. Other errors pass through unchanged.
 */
import { ElectraError } from './errors';

function mapArgumentError(name: string, e: unknown): unknown {
  // By name: Node's own argument errors come from another realm under vm contexts (jest).
  const n = e !== null && typeof e === 'object' ? (e as Error).name : undefined;
  if (!(e instanceof ElectraError) && (n === 'TypeError' || n === 'RangeError')) {
    return new ElectraError('ERR_INPUT', `${name}: invalid argument (${(e as Error).message})`, { cause: e });
  }
  return e;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' && typeof (x as { then?: unknown }).then !== 'function';
}

async function* guardIterable<T>(name: string, it: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* it;
  } catch (e) {
    throw mapArgumentError(name, e);
  }
}

/** `fn` with TypeErrors and RangeErrors (thrown, rejected, or from an async iterator it returns) mapped to ERR_INPUT. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function guard<F extends (...args: any[]) => any>(name: string, fn: F): F {
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    let r: unknown;
    try {
      r = fn.apply(this, args);
    } catch (e) {
      throw mapArgumentError(name, e);
    }
    if (r instanceof Promise) return r.catch((e: unknown) => Promise.reject(mapArgumentError(name, e)));
    if (isAsyncIterable(r) && !(r instanceof Map) && !(r instanceof Set)) return guardIterable(name, r);
    return r;
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name });
  return wrapped as F;
}

/** Every function-valued property of `obj` guarded (the `metrics` object). */
export function guardAll<T extends Record<string, unknown>>(prefix: string, obj: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = typeof v === 'function' ? guard(`${prefix}.${k}`, v as (...a: unknown[]) => unknown) : v;
  return Object.freeze(out) as T;
}

/**
 * Methods `names` of `target` guarded in place: the public classes' static factories (`target` the
 * class) or their methods (`target` the prototype; `this` is passed through).
 */
export function guardStatics(target: object, prefix: string, names: readonly string[]): void {
  for (const n of names) {
    const f = (target as Record<string, unknown>)[n];
    if (typeof f !== 'function') throw new Error(`guardStatics: ${prefix}.${n} is not a method`);
    Object.defineProperty(target, n, { value: guard(`${prefix}.${n}`, f as (...a: unknown[]) => unknown), writable: true, configurable: true });
  }
}
