/*
 * Shared pieces of the fuzz tests (test/unit/fuzz-*.test.ts): a seeded PRNG, byte- and
 * JSON-level mutators, and a runner that checks every case ends in a result or an ElectraError.
 *
 * Reproducing a failure: each case i draws from its own PRNG seeded with mix(SEED, i), so
 * `FUZZ_CASE=i npx jest test/unit/fuzz-x.test.ts` runs just that case (the failure message names
 * the seed, the case and the start of the input). `FUZZ_SEED=n` changes the seed (e.g. for a longer
 * local run with `FUZZ_CASES=100000`).
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElectraError } from '../../src/errors';

/** A temporary directory, in memory (/dev/shm) when there is one: thousands of small files are written. */
export function fuzzTmpDir(prefix: string): string {
  for (const base of ['/dev/shm', os.tmpdir()]) {
    try {
      return fs.mkdtempSync(path.join(base, prefix));
    } catch {
      // not there or not writable: try the next
    }
  }
  throw new Error('no temporary directory');
}

/** Runs fn and returns the ElectraError it throws (failing when it throws anything else or nothing). */
export function errorOf(fn: () => unknown): ElectraError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ElectraError) return e;
    throw new Error(`expected an ElectraError, got ${String(e)}`);
  }
  throw new Error('expected an ElectraError, got a result');
}

/** mulberry32: small, fast, seeded. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes a seed and a case number into one 32-bit seed. */
export function mixSeed(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Random choices of one case. */
export class Rand {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
}

/** Values that break numeric and typed fields. */
export const NASTY_VALUES: readonly unknown[] = [
  -1, 0, 1, -0.5, 0.5, 2.5, 1e300, -1e300, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e12, 4294967295, Number.MAX_SAFE_INTEGER,
  'NaN', 'Infinity', '-1', '12', '', 'x', 'electra', 'bert', null, true, false, [], [1, 2], {}, { a: 1 }, [[[]]],
  '../../etc/passwd', '/etc/passwd', 'C:\\Windows\\x', 'a\u0000b', '\ud800', 'ü'.repeat(50),
];

/** A fresh copy of one of NASTY_VALUES (never the shared object itself). */
export function nastyValue(r: Rand): unknown {
  return clone(r.pick(NASTY_VALUES));
}

/** Number literals spliced into JSON text (some are not valid JSON on purpose). */
export const NASTY_LITERALS: readonly string[] = [
  '1e400', '-1e400', 'NaN', 'Infinity', '-0', '01', '0x10', '9'.repeat(40), '1.5', '-7', '4294967296', '1e-400', '"12"', 'null', 'true', '[]', '{}',
];

/** A long string, a nested value (<= 510 levels; deeper ones go in as text, see deepJsonText) and the like. */
export function bigValue(r: Rand): unknown {
  switch (r.int(5)) {
    case 0:
      return 'x'.repeat(1 + (r.chance(0.1) ? r.int(200_000) : r.int(5000)));
    case 1: {
      let v: unknown = 1;
      for (let d = 10 + r.int(500); d > 0; d--) v = r.chance(0.5) ? [v] : { a: v };
      return v;
    }
    case 2:
      return Array.from({ length: 1 + r.int(1000) }, (_, i) => i);
    case 3:
      return Object.fromEntries(Array.from({ length: 1 + r.int(300) }, (_, i) => [`k${i}`, i]));
    default:
      return '\u{1F600}'.repeat(1 + r.int(2000));
  }
}

/** Deeply nested JSON text (beyond what JSON.stringify can write). */
export function deepJsonText(r: Rand): string {
  const d = 100 + (r.chance(0.02) ? r.int(50_000) : r.int(3000));
  const open = r.chance(0.5) ? '[' : '{"a":';
  const close = open === '[' ? ']' : '}';
  return open.repeat(d) + '1' + close.repeat(d);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Number of nodes of a JSON value (down to depth 40, at most 5000). */
function countNodes(v: unknown, depth = 0, acc = { n: 0 }): number {
  if (acc.n >= 5000) return acc.n;
  acc.n++;
  if (depth < 40 && v !== null && typeof v === 'object') for (const c of Object.values(v)) countNodes(c, depth + 1, acc);
  return acc.n;
}

/** Path to the node number `target` in the same order as countNodes. */
function pathTo(v: unknown, target: number): (string | number)[] {
  let i = 0;
  const walk = (x: unknown, at: (string | number)[], depth: number): (string | number)[] | undefined => {
    if (i++ === target) return at;
    if (depth < 40 && x !== null && typeof x === 'object') {
      const isArr = Array.isArray(x);
      for (const [k, c] of Object.entries(x)) {
        const found = walk(c, [...at, isArr ? Number(k) : k], depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(v, [], 0) ?? [];
}

/** A deep copy (JSON round trip: faster than structuredClone, and the values are JSON). */
function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function getAt(v: unknown, p: readonly (string | number)[]): unknown {
  let x = v;
  for (const k of p) x = (x as Record<string | number, unknown>)[k];
  return x;
}

/**
 * Mutates a parsed JSON value `times` times (a deep copy is changed and returned): replaces a node
 * with a nasty value, a big value or one of another type, deletes or duplicates keys, adds keys,
 * wraps values, nudges numbers and strings, swaps siblings. `keys` are field names worth adding.
 */
export function mutateJson(value: unknown, r: Rand, keys: readonly string[] = [], times = 1): unknown {
  let root = clone(value) as unknown;
  for (let k = 0; k < times; k++) root = mutateOnce(root, r, keys);
  return root;
}

function mutateOnce(root: unknown, r: Rand, keys: readonly string[]): unknown {
  const p = pathTo(root, r.int(countNodes(root)));
  const parent = p.length ? getAt(root, p.slice(0, -1)) : undefined;
  const key = p.length ? p[p.length - 1]! : undefined;
  const set = (v: unknown): unknown => {
    if (parent === undefined) return v;
    (parent as Record<string | number, unknown>)[key!] = v;
    return root;
  };
  const cur = getAt(root, p);
  switch (r.int(10)) {
    case 0:
    case 1:
      return set(nastyValue(r));
    case 2:
      return set(bigValue(r));
    case 3:
      if (typeof cur === 'number') return set(r.pick([cur + 1, cur - 1, -cur, cur * 2 ** 20, cur / 3, cur + 0.5, 0]));
      if (typeof cur === 'string') return set(r.pick([cur + cur, cur.slice(1), cur.toUpperCase(), `${cur}\u0000`, `../${cur}`, `/${cur}`, '']));
      return set(nastyValue(r));
    case 4:
      if (parent !== undefined && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[key as string];
      else if (Array.isArray(parent)) parent.splice(key as number, 1);
      return root;
    case 5:
      if (cur !== null && typeof cur === 'object' && !Array.isArray(cur)) {
        // defineProperty: a key named "__proto__" becomes an own key, as JSON.parse makes it
        Object.defineProperty(cur, r.chance(0.7) && keys.length ? r.pick(keys) : r.pick(['__proto__', 'constructor', 'x', '', 'a'.repeat(1000)]), {
          value: r.chance(0.5) ? nastyValue(r) : clone(cur), enumerable: true, writable: true, configurable: true,
        });
        return root;
      }
      if (Array.isArray(cur)) {
        if (r.chance(0.5)) cur.push(clone(cur[r.int(cur.length)] ?? null));
        else cur.reverse();
        return root;
      }
      return set(nastyValue(r));
    case 6:
      // wrap in a list or an object
      return set(r.chance(0.5) ? [cur] : { value: cur });
    case 7:
      if (cur !== null && typeof cur === 'object') return set(Array.isArray(cur) ? Object.fromEntries(cur.map((c, i) => [String(i), c])) : Object.values(cur));
      return set(String(cur));
    case 8:
      // swap two sibling values
      if (parent !== null && typeof parent === 'object') {
        const ks = Object.keys(parent);
        const other = r.pick(ks);
        const pr = parent as Record<string, unknown>;
        const t = pr[other];
        pr[other] = pr[String(key)];
        pr[String(key)] = t;
        return root;
      }
      return set(nastyValue(r));
    default:
      return set(keys.length && r.chance(0.5) ? r.pick(keys) : nastyValue(r));
  }
}

/** Byte-level mutations: flips, truncation, splicing from another input, insertions, deletions. */
export function mutateBytes(input: Uint8Array, r: Rand, others: readonly Uint8Array[] = [], tokens: readonly string[] = []): Buffer {
  const b = Buffer.from(input);
  switch (r.int(9)) {
    case 0: {
      for (let k = 1 + r.int(8); k > 0 && b.length; k--) b[r.int(b.length)] = r.int(256);
      return b;
    }
    case 1: {
      for (let k = 1 + r.int(4); k > 0 && b.length; k--) {
        const at = r.int(b.length);
        b[at] = b[at]! ^ (1 << r.int(8));
      }
      return b;
    }
    case 2:
      return b.subarray(0, r.int(b.length + 1));
    case 3: {
      const o = others.length ? r.pick(others) : b;
      const a = r.int(b.length + 1);
      const s = r.int(o.length + 1);
      return Buffer.concat([b.subarray(0, a), Buffer.from(o.subarray(s, s + r.int(o.length - s + 1))), r.chance(0.5) ? b.subarray(a) : Buffer.alloc(0)]);
    }
    case 4: {
      const a = r.int(b.length + 1);
      const len = r.int(Math.max(1, b.length - a) + 1);
      return Buffer.concat([b.subarray(0, a), b.subarray(a + len)]);
    }
    case 5: {
      const a = r.int(b.length + 1);
      const ins = tokens.length && r.chance(0.7) ? Buffer.from(r.pick(tokens), 'utf8') : Buffer.from(Array.from({ length: 1 + r.int(16) }, () => r.int(256)));
      return Buffer.concat([b.subarray(0, a), ins, b.subarray(a)]);
    }
    case 6: {
      // duplicate a range
      const a = r.int(b.length + 1);
      const len = r.int(Math.min(4096, b.length - a) + 1);
      const at = r.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(a, a + len), b.subarray(at)]);
    }
    case 7: {
      // replace a number with a nasty literal
      const text = b.toString('latin1');
      const m = [...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g)];
      if (!m.length) return b;
      const x = r.pick(m);
      return Buffer.concat([b.subarray(0, x.index), Buffer.from(r.pick(NASTY_LITERALS)), b.subarray(x.index! + x[0].length)]);
    }
    default: {
      // invalid UTF-8
      const bad = Buffer.from(r.pick([[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc0, 0xaf], [0xef, 0xbb, 0xbf]]));
      const a = r.int(b.length + 1);
      return Buffer.concat([b.subarray(0, a), bad, b.subarray(a)]);
    }
  }
}

/** What one fuzz run saw. */
export interface FuzzTally {
  cases: number;
  ok: number;
  rejected: number;
  /** Rejections by code. */
  codes: Record<string, number>;
  /** Distinct rejection messages (digits and quoted parts folded). */
  kinds: number;
  ms: number;
  /** Slowest single case, ms. */
  slowestMs: number;
  /** Largest `arrayBuffers` + `heapUsed` seen at the sampling points, MiB. */
  peakMiB: number;
}

export interface FuzzSpec<T> {
  name: string;
  seed: number;
  cases: number;
  /** Codes a rejection may have. */
  codes: readonly string[];
  /** Builds case i's input. */
  make: (r: Rand, i: number) => T;
  /** Runs it: returns normally (checking the result) or throws. */
  run: (input: T, r: Rand, i: number) => void | Promise<void>;
  /** How to show an input in a failure message. */
  show: (input: T) => string;
}

function fold(msg: string): string {
  return msg
    .replace(/^[^:]*?(\.json|\.txt|\.csv|\.tsv|\.jsonl|\.bin|\bdata|\bconfig)\b:?\s*/i, '')
    .replace(/"[^"]*"/g, 'S')
    .replace(/[0-9]+/g, 'N')
    .slice(0, 50);
}

/**
 * Runs `spec.cases` cases (or the one named by FUZZ_CASE). A case passes when `run` returns, or
 * throws an ElectraError (name `ElectraError`, `code` starting with `ERR_` and in `spec.codes`);
 * anything else fails the test with the seed, the case number and the input.
 */
export async function fuzz<T>(spec: FuzzSpec<T>): Promise<FuzzTally> {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : spec.seed;
  const only = process.env.FUZZ_CASE !== undefined ? Number(process.env.FUZZ_CASE) : undefined;
  const n = process.env.FUZZ_CASES ? Number(process.env.FUZZ_CASES) : spec.cases;
  const tally: FuzzTally = { cases: 0, ok: 0, rejected: 0, codes: {}, kinds: 0, ms: 0, slowestMs: 0, peakMiB: 0 };
  const kinds = new Set<string>();
  const t0 = Date.now();
  for (let i = only ?? 0; i < (only !== undefined ? only + 1 : n); i++) {
    const r = new Rand(mixSeed(seed, i));
    let input: T | undefined;
    const c0 = performance.now();
    try {
      input = spec.make(r, i);
      await spec.run(input, r, i);
      tally.ok++;
    } catch (e) {
      const err = e as { name?: unknown; code?: unknown; message?: unknown };
      const good = e instanceof Error && err.name === 'ElectraError' && typeof err.code === 'string' && err.code.startsWith('ERR_') && spec.codes.includes(err.code);
      if (!good) {
        const shown = input === undefined ? '(input not built)' : spec.show(input);
        throw new Error(
          `${spec.name}: case ${i} (seed 0x${seed.toString(16)}; rerun with FUZZ_SEED=${seed} FUZZ_CASE=${i}) ended in ` +
            `${e instanceof Error ? `${e.constructor.name}${err.code ? ` ${String(err.code)}` : ''}: ${e.message.slice(0, 500)}` : String(e)}\n` +
            `input: ${shown.slice(0, 1500)}`,
          { cause: e },
        );
      }
      tally.rejected++;
      tally.codes[err.code as string] = (tally.codes[err.code as string] ?? 0) + 1;
      kinds.add(fold(String(err.message)));
    }
    const dt = performance.now() - c0;
    if (dt > tally.slowestMs) tally.slowestMs = dt;
    tally.cases++;
    if (i % 250 === 0) {
      const m = process.memoryUsage();
      tally.peakMiB = Math.max(tally.peakMiB, (m.arrayBuffers + m.heapUsed) / 2 ** 20);
    }
  }
  tally.ms = Date.now() - t0;
  tally.kinds = kinds.size;
  tally.slowestMs = Math.round(tally.slowestMs);
  tally.peakMiB = Math.round(tally.peakMiB);
  return tally;
}

/**
 * A whole run (no FUZZ_CASE) ran every case, and reached both outcomes: some inputs accepted and
 * checked, some rejected with an allowed code. A runner that skipped its cases, or an input
 * generator that only ever makes one kind of input, fails here.
 */
export function expectBothOutcomes(t: FuzzTally, cases: number): void {
  if (process.env.FUZZ_CASE !== undefined) {
    expect(t.cases).toBe(1);
    return;
  }
  expect(t.cases).toBe(Number(process.env.FUZZ_CASES ?? cases));
  expect(t.ok).toBeGreaterThan(0);
  expect(t.rejected).toBeGreaterThan(0);
}

/** One line for the test log. */
export function report(name: string, t: FuzzTally): string {
  return `fuzz ${name}: ${t.cases} cases, ${t.ok} accepted, ${t.rejected} rejected (${Object.entries(t.codes).map(([k, v]) => `${k} ${v}`).join(', ')}; ${t.kinds} kinds) in ${t.ms} ms; slowest case ${t.slowestMs} ms; peak heap+buffers ${t.peakMiB} MiB`;
}

/** Shows bytes as text when they are mostly text, else base64. */
export function showBytes(b: Uint8Array): string {
  const s = Buffer.from(b).toString('utf8');
  return /[\u0000-\u0008\u000e-\u001f\ufffd]/.test(s.slice(0, 1500)) ? `base64:${Buffer.from(b).toString('base64')}` : JSON.stringify(s);
}

export function showJsonish(v: unknown): string {
  try {
    return typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch (e) {
    return `(unprintable: ${(e as Error).message})`;
  }
}
