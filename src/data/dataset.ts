/**
 * Reading prepared data: {@link PretrainDataset} opens a folder written by `prepare`, checks it
 * (format, sizes: a truncated shard is ERR_DATA naming the file; each shard's sha256), and reads
 * rows either from memory (shards loaded whole when they fit `memoryLimit`) or with positional
 * reads (`pread`) so datasets larger than memory work too.
 *
 * {@link Sampler} decides which examples come in which order: a seeded shuffle across all shards
 * (a fresh permutation per epoch), per-rank sharding for distributed training, and a
 * {@link Cursor} `{epoch, position, seed}` that restores the exact same order.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { confinedPath, isRegularFile } from '../util/files';
import { ElectraError } from '../errors';
import { bytesPerToken, validateMeta, type DatasetMeta } from './format';
import { Permutation } from './permutation';
import { deriveSeed } from './rng';

/** Options of {@link PretrainDataset.open}. */
export interface OpenOptions {
  /**
   * `auto` (default): shard sizes must match meta.json, and so must every shard's sha256: hashed
   * as the shard is loaded into memory, or streamed for a `pread` dataset unless the same file
   * (size, mtime, inode) was verified before (remembered in this process and in the dataset's
   * `.verified.json`). `checksum`: hash every shard on every open. `size`: sizes only.
   */
  verify?: 'auto' | 'size' | 'checksum';
  /** `auto` (default): load shards into memory when their total fits `memoryLimit`, else `pread`. */
  mode?: 'auto' | 'memory' | 'pread';
  /** Bytes the `auto` mode may load into memory (default 2 GiB or a quarter of RAM, the lower). */
  memoryLimit?: number;
}

/** A contiguous range of a dataset's examples (the train part or the held-out part). */
export interface DatasetView {
  /** The dataset. */
  readonly dataset: PretrainDataset;
  /** First example index. */
  readonly start: number;
  /** Number of examples. */
  readonly length: number;
}

/** Where a stream of batches stands: restore it to get exactly the same batches again. */
export interface Cursor {
  /** Epoch number, from 0. */
  epoch: number;
  /** Examples of this epoch already handed out to this rank. */
  position: number;
  /** Shuffle seed. */
  seed: number;
}

/**
 * Throws ERR_DATA when a dataset was prepared with another vocabulary than the tokenizer's
 * (compared by vocabulary hash and size).
 */
export function checkVocab(meta: Pick<DatasetMeta, 'vocabHash' | 'vocabSize'>, tokenizer: { vocabHash: string; vocabSize: number }): void {
  if (meta.vocabHash !== tokenizer.vocabHash || meta.vocabSize !== tokenizer.vocabSize) {
    throw new ElectraError(
      'ERR_DATA',
      `the dataset was prepared with another vocabulary (size ${meta.vocabSize}, hash ${meta.vocabHash.slice(0, 12)}…) than the model's ` +
        `(size ${tokenizer.vocabSize}, hash ${tokenizer.vocabHash.slice(0, 12)}…): prepare it again with the model's tokenizer`,
    );
  }
}

/** Reads `meta.json` of a dataset folder (ERR_DATA when missing or malformed). */
export function readMeta(dir: string): DatasetMeta {
  const f = path.join(dir, 'meta.json');
  let text: string;
  try {
    if (!isRegularFile(f, 'dataset metadata', 'ERR_DATA')) throw new ElectraError('ERR_DATA', `${f} does not exist`);
    text = fs.readFileSync(f, 'utf8');
  } catch (e) {
    throw new ElectraError('ERR_DATA', `${dir} is not a prepared dataset: cannot read ${f}${e instanceof ElectraError ? ` (${e.message})` : ''}`, { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ElectraError('ERR_DATA', `${f} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return validateMeta(parsed, f);
}

type TokenArray = Uint16Array | Uint32Array;

/** A prepared dataset on disk; rows are read by global example index. */
export class PretrainDataset implements Disposable {
  /** The parsed `meta.json`. */
  readonly meta: DatasetMeta;
  /** The folder. */
  readonly dir: string;
  /** Number of examples. */
  readonly length: number;
  /** Tokens per example. */
  readonly maxLength: number;
  /** `memory` or `pread`: how rows are read. */
  readonly mode: 'memory' | 'pread';
  readonly #starts: number[] = [];
  readonly #data: TokenArray[] = [];
  readonly #fds: number[] = [];
  readonly #row: number;
  readonly #bpt: 2 | 4;
  readonly #scratch: TokenArray;
  #closed = false;

  private constructor(dir: string, meta: DatasetMeta, mode: 'memory' | 'pread') {
    this.dir = dir;
    this.meta = meta;
    this.mode = mode;
    this.maxLength = meta.maxLength;
    this.#row = meta.maxLength + 2;
    this.#bpt = bytesPerToken(meta.dtype);
    let n = 0;
    for (const s of meta.shards) {
      this.#starts.push(n);
      n += s.examples;
    }
    this.length = n;
    this.#scratch = meta.dtype === 'uint16' ? new Uint16Array(this.#row) : new Uint32Array(this.#row);
  }

  /** Opens and checks a dataset folder. */
  static open(dir: string, opts: OpenOptions = {}): PretrainDataset {
    if (os.endianness() !== 'LE') throw new ElectraError('ERR_DATA', 'prepared shards are little-endian; this machine is big-endian');
    const meta = readMeta(dir);
    const bpt = bytesPerToken(meta.dtype);
    const rowBytes = (meta.maxLength + 2) * bpt;
    let total = 0;
    const files: string[] = [];
    for (const s of meta.shards) {
      // The name comes from meta.json: it must stay inside the folder, symlinks included.
      const f = confinedPath(dir, s.file, 'shard', 'ERR_DATA');
      if (!isRegularFile(f, 'shard', 'ERR_DATA')) throw new ElectraError('ERR_DATA', `shard ${f} listed in meta.json is missing`);
      const size = fs.statSync(f).size;
      const want = s.examples * rowBytes;
      if (size !== want || s.bytes !== want) {
        throw new ElectraError(
          'ERR_DATA',
          `shard ${f} is ${size} bytes, expected ${want} (${s.examples} rows of ${rowBytes} bytes)${size < want ? ': the file is truncated' : ''}`,
        );
      }
      files.push(f);
      total += size;
    }
    const limit = opts.memoryLimit ?? Math.min(2 * 1024 ** 3, os.totalmem() / 4);
    const mode = opts.mode === 'memory' || opts.mode === 'pread' ? opts.mode : total <= limit ? 'memory' : 'pread';
    const verify = opts.verify ?? 'auto';
    const seen = new VerifiedShards(dir);
    const ds = new PretrainDataset(dir, meta, mode);
    try {
      for (const [i, f] of files.entries()) {
        const want = meta.shards[i]!.sha256;
        if (mode === 'memory') {
          const buf = readShard(f);
          if (buf.length !== fs.statSync(f).size) throw new ElectraError('ERR_DATA', `shard ${f} changed while it was read`);
          // Hashing what was just read costs little next to reading it: always done.
          if (verify !== 'size') seen.check(f, want, createHash('sha256').update(buf).digest('hex'));
          const ab = buf.byteOffset % bpt === 0 ? buf : Buffer.from(buf);
          ds.#data.push(bpt === 2 ? new Uint16Array(ab.buffer, ab.byteOffset, ab.length / 2) : new Uint32Array(ab.buffer, ab.byteOffset, ab.length / 4));
        } else {
          if (verify === 'checksum' || (verify === 'auto' && !seen.has(f, want))) seen.check(f, want, hashFile(f));
          try {
            ds.#fds.push(fs.openSync(f, 'r'));
          } catch (e) {
            throw new ElectraError('ERR_IO', `cannot open shard ${f}: ${(e as Error).message}`, { cause: e });
          }
        }
      }
    } catch (e) {
      ds.close();
      throw e;
    }
    seen.save();
    return ds;
  }

  /** The whole dataset as a view. */
  all(): DatasetView {
    return { dataset: this, start: 0, length: this.length };
  }

  /**
   * Splits off the last `heldOut` examples (in file order, never shuffled into training) for
   * evaluation. `heldOut` may be a count or a fraction in (0, 1).
   */
  split(heldOut: number): { train: DatasetView; eval: DatasetView } {
    const n = heldOut > 0 && heldOut < 1 ? Math.max(1, Math.round(this.length * heldOut)) : heldOut;
    if (!Number.isInteger(n) || n < 0 || n >= this.length) {
      throw new ElectraError('ERR_CONFIG', `held-out examples must be an integer in [0, ${this.length}) or a fraction in (0, 1), got ${heldOut}`);
    }
    return { train: { dataset: this, start: 0, length: this.length - n }, eval: { dataset: this, start: this.length - n, length: n } };
  }

  /**
   * Copies example `index` into row `r` of the batch arrays (each `batch * maxLength` long):
   * ids, token types (0 for `[CLS] A [SEP]`, 1 for `B [SEP]`, 0 for padding), attention mask.
   */
  readInto(index: number, r: number, ids: Int32Array, types: Int32Array, mask: Int32Array): void {
    if (this.#closed) throw new ElectraError('ERR_DISPOSED', 'the dataset is closed');
    if (!(index >= 0 && index < this.length)) throw new ElectraError('ERR_INPUT', `example index ${index} is outside [0, ${this.length})`);
    let s = this.#starts.length - 1;
    // shards are few; a binary search keeps this O(log shards)
    let lo = 0;
    while (lo < s) {
      const mid = (lo + s + 1) >> 1;
      if (this.#starts[mid]! <= index) lo = mid;
      else s = mid - 1;
    }
    s = lo;
    const local = index - this.#starts[s]!;
    const T = this.maxLength;
    let src: TokenArray;
    let off: number;
    if (this.mode === 'memory') {
      src = this.#data[s]!;
      off = local * this.#row;
    } else {
      src = this.#scratch;
      const rb = this.#row * this.#bpt;
      let got: number;
      try {
        got = fs.readSync(this.#fds[s]!, new Uint8Array(src.buffer, src.byteOffset, rb), 0, rb, local * rb);
      } catch (e) {
        throw new ElectraError('ERR_IO', `cannot read shard ${path.join(this.dir, this.meta.shards[s]!.file)}: ${(e as Error).message}`, { cause: e });
      }
      if (got !== rb) throw new ElectraError('ERR_DATA', `shard ${path.join(this.dir, this.meta.shards[s]!.file)} ended early at row ${local}: the file is truncated`);
      off = 0;
    }
    const len = src[off]!;
    const lenA = src[off + 1]!;
    if (len > T || lenA > len) {
      throw new ElectraError('ERR_DATA', `shard ${path.join(this.dir, this.meta.shards[s]!.file)} row ${local} is corrupt (len ${len}, lenA ${lenA}, maxLength ${T})`);
    }
    const o = r * T;
    const t0 = off + 2;
    const V = this.meta.vocabSize;
    for (let i = 0; i < T; i++) {
      const id = src[t0 + i]!;
      if (id >= V) {
        throw new ElectraError('ERR_DATA', `shard ${path.join(this.dir, this.meta.shards[s]!.file)} row ${local} is corrupt (token id ${id} at position ${i} is not below vocabSize ${V})`);
      }
      ids[o + i] = id;
    }
    types.fill(0, o, o + lenA);
    types.fill(1, o + lenA, o + len);
    types.fill(0, o + len, o + T);
    mask.fill(1, o, o + len);
    mask.fill(0, o + len, o + T);
  }

  /** Reads one example as plain arrays (handy in tests and tools). */
  get(index: number): { ids: Int32Array; tokenTypeIds: Int32Array; attentionMask: Int32Array } {
    const ids = new Int32Array(this.maxLength);
    const types = new Int32Array(this.maxLength);
    const mask = new Int32Array(this.maxLength);
    this.readInto(index, 0, ids, types, mask);
    return { ids, tokenTypeIds: types, attentionMask: mask };
  }

  /** Closes the shard files (pread mode) and drops loaded shards. Repeatable. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of this.#fds) fs.closeSync(fd);
    this.#fds.length = 0;
    this.#data.length = 0;
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Options of {@link Sampler}. */
export interface SamplerOptions {
  /** Examples in the view being sampled. */
  size: number;
  /** Examples per batch. */
  batchSize: number;
  /** Shuffle seed (default 0); a restored cursor brings its own. */
  seed?: number;
  /** Shuffle (default true); false gives file order. */
  shuffle?: boolean;
  /** This process's rank (default 0). */
  rank?: number;
  /** Number of ranks (default 1). */
  worldSize?: number;
  /** Drop the last incomplete batch of an epoch (default true). */
  dropLast?: boolean;
  /** Where to start (default `{epoch: 0, position: 0, seed}`). */
  cursor?: Cursor;
}

/**
 * Which example indices (relative to the view) each batch gets. Epoch e uses a permutation
 * seeded by `(seed, e)`; rank r takes positions r, r + worldSize, ... of it, and every rank gets
 * `floor(size / worldSize)` examples per epoch, so all ranks run the same number of steps.
 */
export class Sampler {
  /** Examples each rank sees per epoch (before dropping an incomplete last batch). */
  readonly perRank: number;
  /** Batches per epoch for this rank. */
  readonly batchesPerEpoch: number;
  readonly #o: Required<Omit<SamplerOptions, 'cursor' | 'seed'>>;
  #cursor: Cursor;
  #perm: Permutation | undefined;
  #permEpoch = -1;

  /** @param opts see {@link SamplerOptions} */
  constructor(opts: SamplerOptions) {
    const rank = opts.rank ?? 0;
    const world = opts.worldSize ?? 1;
    if (!Number.isInteger(world) || world < 1) throw new ElectraError('ERR_CONFIG', `worldSize must be a positive integer, got ${world}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new ElectraError('ERR_CONFIG', `rank must be an integer in [0, ${world}), got ${rank}`);
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new ElectraError('ERR_CONFIG', `batchSize must be a positive integer, got ${opts.batchSize}`);
    this.#o = { size: opts.size, batchSize: opts.batchSize, shuffle: opts.shuffle ?? true, rank, worldSize: world, dropLast: opts.dropLast ?? true };
    this.perRank = Math.floor(opts.size / world);
    this.batchesPerEpoch = this.#o.dropLast ? Math.floor(this.perRank / opts.batchSize) : Math.ceil(this.perRank / opts.batchSize);
    if (this.batchesPerEpoch === 0) {
      throw new ElectraError('ERR_DATA', `${opts.size} examples over ${world} rank(s) do not fill one batch of ${opts.batchSize}`);
    }
    const c = opts.cursor ?? { epoch: 0, position: 0, seed: opts.seed ?? 0 };
    if (!Number.isInteger(c.epoch) || c.epoch < 0 || !Number.isInteger(c.position) || c.position < 0 || !Number.isInteger(c.seed)) {
      throw new ElectraError('ERR_DATA', `invalid cursor ${JSON.stringify(c)}`);
    }
    if (c.position > this.perRank) throw new ElectraError('ERR_DATA', `cursor position ${c.position} is beyond the ${this.perRank} examples of an epoch for this rank`);
    this.#cursor = { epoch: c.epoch, position: c.position, seed: c.seed };
  }

  /** The position after everything handed out so far (a copy). */
  cursor(): Cursor {
    return { ...this.#cursor };
  }

  /** Epoch the next batch belongs to (the cursor's, or the following one when this epoch is used up). */
  nextEpoch(): number {
    return this.#rolls() ? this.#cursor.epoch + 1 : this.#cursor.epoch;
  }

  #rolls(): boolean {
    const left = this.perRank - this.#cursor.position;
    return left <= 0 || (this.#o.dropLast && left < this.#o.batchSize);
  }

  /** Indices (relative to the view) of the next batch; moves the cursor, rolling over epochs. */
  next(): Uint32Array {
    const { batchSize, rank, worldSize, shuffle } = this.#o;
    let c = this.#cursor;
    if (this.#rolls()) {
      c = this.#cursor = { epoch: c.epoch + 1, position: 0, seed: c.seed };
    }
    const n = Math.min(batchSize, this.perRank - c.position);
    const out = new Uint32Array(n);
    let perm: Permutation | undefined;
    if (shuffle) {
      if (this.#permEpoch !== c.epoch) {
        this.#perm = new Permutation(this.#o.size, deriveSeed(c.seed, c.epoch));
        this.#permEpoch = c.epoch;
      }
      perm = this.#perm;
    }
    for (let i = 0; i < n; i++) {
      const g = (c.position + i) * worldSize + rank;
      out[i] = perm ? perm.at(g) : g;
    }
    this.#cursor = { epoch: c.epoch, position: c.position + n, seed: c.seed };
    return out;
  }
}

/** Reads a whole shard (ERR_IO naming it on failure). */
/** A shard's identity on disk: a rewrite or a copy changes it. */
interface ShardStamp {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

/** Shards verified in this process, by absolute path. */
const verifiedInProcess = new Map<string, ShardStamp>();

/**
 * Which shards of a dataset were verified against meta.json's sha256: a file with the same size,
 * mtime and inode as when it was hashed is not hashed again. Kept in this process and, best
 * effort (a read-only dataset is fine), in `<dataset>/.verified.json`.
 */
class VerifiedShards {
  readonly #file: string;
  #stamps: Record<string, ShardStamp> = {};
  #changed = false;

  constructor(dir: string) {
    this.#file = path.join(dir, '.verified.json');
    try {
      const j = JSON.parse(fs.readFileSync(this.#file, 'utf8')) as unknown;
      if (j && typeof j === 'object' && !Array.isArray(j)) this.#stamps = j as Record<string, ShardStamp>;
    } catch {
      // None yet, or unreadable: every shard is hashed.
    }
  }

  /** Whether `f` was verified to hash to `sha256` and has not changed since. */
  has(f: string, sha256: string): boolean {
    const st = fs.statSync(f);
    const same = (s: ShardStamp | undefined) => !!s && s.sha256 === sha256 && s.size === st.size && s.mtimeMs === st.mtimeMs && s.ino === st.ino;
    return same(verifiedInProcess.get(path.resolve(f))) || same(this.#stamps[path.basename(f)]);
  }

  /** ERR_DATA naming the shard when `got` is not the sha256 meta.json lists; else remembers the file. */
  check(f: string, want: string, got: string): void {
    if (got !== want) {
      throw new ElectraError('ERR_DATA', `shard ${f} has sha256 ${got}, meta.json says ${String(want).slice(0, 64)}: the file changed or is corrupt (prepare the data again)`);
    }
    const st = fs.statSync(f);
    const stamp: ShardStamp = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha256: want };
    verifiedInProcess.set(path.resolve(f), stamp);
    this.#stamps[path.basename(f)] = stamp;
    this.#changed = true;
  }

  /** Writes `.verified.json` when something new was verified (never fails the open). */
  save(): void {
    if (!this.#changed) return;
    try {
      const tmp = `${this.#file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, JSON.stringify(this.#stamps) + '\n');
      fs.renameSync(tmp, this.#file);
    } catch {
      // A read-only dataset: verified again next time.
    }
  }
}

/** sha256 of a file, streamed in 4 MiB reads. */
function hashFile(f: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  let fd: number;
  try {
    fd = fs.openSync(f, 'r');
  } catch (e) {
    throw new ElectraError('ERR_IO', `cannot read shard ${f}: ${(e as Error).message}`, { cause: e });
  }
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } catch (e) {
    throw new ElectraError('ERR_IO', `cannot read shard ${f}: ${(e as Error).message}`, { cause: e });
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function readShard(f: string): Buffer {
  try {
    return fs.readFileSync(f);
  } catch (e) {
    throw new ElectraError('ERR_IO', `cannot read shard ${f}: ${(e as Error).message}`, { cause: e });
  }
}
