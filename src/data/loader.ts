/**
 * Batches for the trainer: an async iterator over a {@link DatasetView} with a bounded prefetch
 * queue. The producer fills the queue between the consumer's awaits (one batch per macrotask,
 * so it never holds the event loop for long); while a training step runs in a native worker, the
 * next batches are already being assembled, so the trainer does not wait on data.
 *
 * Each batch carries the {@link Cursor} that points just after it: store `batch.cursor` (or
 * `loader.cursor()`, which is the cursor of the last batch handed out, not of prefetched ones)
 * and pass it back as `cursor` to get exactly the following batches again.
 */
import { ElectraError } from '../errors';
import { Sampler, type Cursor, type DatasetView, PretrainDataset } from './dataset';

/** One batch, row-major `[B, T]`. */
export interface Batch {
  /** Token ids, `B * T`. */
  inputIds: Int32Array;
  /** Segment ids (0 for `[CLS] A [SEP]` and padding, 1 for `B [SEP]`), `B * T`. */
  tokenTypeIds: Int32Array;
  /** 1 for real tokens, 0 for padding, `B * T`. */
  attentionMask: Int32Array;
  /** `[B, T]`. */
  shape: [number, number];
  /** Example indices of the rows (dataset-global). */
  indices: Uint32Array;
  /** The cursor just after this batch. */
  cursor: Cursor;
}

/** Options of {@link BatchLoader}. */
export interface LoaderOptions {
  /** Examples per batch. */
  batchSize: number;
  /** Shuffle seed (default 0). */
  seed?: number;
  /** Shuffle (default true). */
  shuffle?: boolean;
  /** Rank of this process for distributed training (default 0). */
  rank?: number;
  /** Number of ranks (default 1). */
  worldSize?: number;
  /** Batches kept ready ahead of the consumer (default 4, >= 1). */
  prefetch?: number;
  /** Stop after this many epochs counted from epoch 0 (default: never, the iterator is endless). */
  epochs?: number;
  /** Stop after this many batches from the start or the restored cursor (default: no limit). */
  maxBatches?: number;
  /** Drop an epoch's incomplete last batch (default true). */
  dropLast?: boolean;
  /** Resume from here (its seed wins over `seed`). */
  cursor?: Cursor;
}

/** Async iterator of {@link Batch}es with background prefetch. */
export class BatchLoader implements AsyncIterable<Batch>, AsyncDisposable {
  readonly #view: DatasetView;
  readonly #sampler: Sampler;
  readonly #prefetch: number;
  readonly #epochs: number;
  #budget: number;
  #queue: Batch[] = [];
  #waiter: ((b: Batch | null) => void) | undefined;
  #failer: ((e: unknown) => void) | undefined;
  #error: unknown;
  #producing = false;
  #done = false;
  #closed = false;
  #cursor: Cursor;

  /** @param source a dataset or a view of one (e.g. `dataset.split(n).train`) */
  constructor(source: PretrainDataset | DatasetView, opts: LoaderOptions) {
    this.#view = source instanceof PretrainDataset ? source.all() : source;
    const sOpts = {
      size: this.#view.length,
      batchSize: opts.batchSize,
      shuffle: opts.shuffle ?? true,
      rank: opts.rank ?? 0,
      worldSize: opts.worldSize ?? 1,
      dropLast: opts.dropLast ?? true,
      seed: opts.seed ?? 0,
      ...(opts.cursor ? { cursor: opts.cursor } : {}),
    };
    this.#sampler = new Sampler(sOpts);
    this.#prefetch = Math.max(1, Math.floor(opts.prefetch ?? 4));
    this.#epochs = opts.epochs ?? Infinity;
    this.#budget = opts.maxBatches ?? Infinity;
    this.#cursor = this.#sampler.cursor();
  }

  /** Batches per epoch for this rank. */
  get batchesPerEpoch(): number {
    return this.#sampler.batchesPerEpoch;
  }

  /** Cursor after the last batch handed to the consumer (prefetched batches do not count). */
  cursor(): Cursor {
    return { ...this.#cursor };
  }

  /** The next batch, or null at the end (epochs or maxBatches reached, or closed). */
  async next(): Promise<Batch | null> {
    if (this.#error !== undefined) throw this.#error;
    const b = this.#queue.shift();
    if (b) {
      this.#cursor = b.cursor;
      this.#kick();
      return b;
    }
    if (this.#done || this.#closed) return null;
    const got = await new Promise<Batch | null>((resolve, reject) => {
      this.#waiter = resolve;
      this.#failer = reject;
      this.#kick();
    });
    if (got) this.#cursor = got.cursor;
    return got;
  }

  /** Iterates until the end; `for await (const batch of loader)`. */
  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    try {
      for (let b = await this.next(); b; b = await this.next()) yield b;
    } finally {
      this.close();
    }
  }

  /** Stops producing; pending `next()` calls resolve to null. Repeatable. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#deliver(null);
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  #deliver(b: Batch | null): boolean {
    const w = this.#waiter;
    if (!w) return false;
    this.#waiter = undefined;
    this.#failer = undefined;
    w(b);
    return true;
  }

  #kick(): void {
    if (this.#producing || this.#done || this.#closed) return;
    this.#producing = true;
    setImmediate(() => this.#produce());
  }

  #produce(): void {
    this.#producing = false;
    if (this.#closed || this.#done) return;
    if (this.#queue.length >= this.#prefetch && !this.#waiter) return;
    try {
      const epochNext = this.#sampler.nextEpoch();
      if (this.#budget <= 0 || epochNext >= this.#epochs) {
        this.#done = true;
        this.#deliver(null);
        return;
      }
      const b = this.#make();
      this.#budget--;
      if (!this.#deliver(b)) this.#queue.push(b);
      else this.#cursor = b.cursor;
    } catch (e) {
      this.#error = e instanceof ElectraError ? e : new ElectraError('ERR_DATA', (e as Error).message, { cause: e });
      const f = this.#failer;
      this.#waiter = undefined;
      this.#failer = undefined;
      f?.(this.#error);
      return;
    }
    if (this.#queue.length < this.#prefetch) this.#kick();
  }

  #make(): Batch {
    const rel = this.#sampler.next();
    const ds = this.#view.dataset;
    const B = rel.length;
    const T = ds.maxLength;
    const ids = new Int32Array(B * T);
    const types = new Int32Array(B * T);
    const mask = new Int32Array(B * T);
    const indices = new Uint32Array(B);
    for (let r = 0; r < B; r++) {
      const idx = this.#view.start + rel[r]!;
      indices[r] = idx;
      ds.readInto(idx, r, ids, types, mask);
    }
    return { inputIds: ids, tokenTypeIds: types, attentionMask: mask, shape: [B, T], indices, cursor: this.#sampler.cursor() };
  }
}
