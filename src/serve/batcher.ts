/**
 * Dynamic batching across callers. The task helpers (classify, embed, ...) run their forward passes
 * through a {@link BatchLease}; the {@link Batcher} takes the rows of every waiting call, merges
 * them into one batch (bounded in padded tokens and in calls), runs it, and hands each call back the
 * rows it sent. Every row is computed as if its call had run alone, so a helper's result through a
 * lease is the result of the direct call.
 *
 * When to run: at once when the model is idle and no announced caller is still on its way (one
 * client pays no added latency); otherwise after at most `maxWaitMs` for the others, or as soon as
 * a batch is full. While a batch runs, the next one fills.
 */
import type { Batch, Electra, ForwardResult, InferencePrecision } from '../electra';
import { ElectraError } from '../errors';
import { answer, type Answer, type AnswerOptions, type QAInput } from '../infer/qa';
import { classify, type Classification, type ClassifyOptions } from '../infer/classify';
import { embed, type EmbedOptions, type Embeddings } from '../infer/embed';
import { detectBatch, type DetectOptions, type Detection } from '../infer/detect';
import { tagTokens, type TagOptions, type TagResult } from '../infer/tag';
import type { TextInput } from '../infer/common';
import { RUN_CALL } from '../infer/queue';

/** Bounds of a merged batch. */
export interface BatcherOptions {
  /** Padded tokens per forward pass: rows x longest row (default 16384; at least the model's max_position_embeddings). */
  maxBatchTokens?: number;
  /** Calls merged into one forward pass (default 64; 1 turns batching across calls off). */
  maxBatchRequests?: number;
  /** Longest wait for more calls when others are announced (default 2 ms). */
  maxWaitMs?: number;
}

/** What one merged forward pass was, for metrics and logs. */
export interface BatchInfo {
  rows: number;
  /** Tokens without padding. */
  tokens: number;
  /** rows x longest row. */
  paddedTokens: number;
  /** Calls that had rows in it. */
  calls: number;
  /** Seconds the forward pass took. */
  seconds: number;
}

interface Call {
  B: number;
  T: number;
  hidden: boolean;
  precision: InferencePrecision | undefined;
  ids: Int32Array;
  typeIds: Int32Array;
  lengths: number[];
  remaining: number;
  out: ForwardResult;
  done: boolean;
  lease: BatchLease | undefined;
  enqueued: number;
  resolve: (r: ForwardResult) => void;
  reject: (e: unknown) => void;
  detach: () => void;
}

interface Entry {
  call: Call;
  row: number;
  len: number;
}

const PER_TOKEN = ['hidden', 'discriminator', 'tokens', 'start', 'end', 'generator'] as const;

/**
 * Merges concurrent forward passes on one model into batches. Use {@link lease} (one per request)
 * with the task helpers, or the shortcuts {@link embed}, {@link classify}, ... for in-process
 * pipelines: `await Promise.all(texts.map((t) => batcher.embed(t)))` runs in merged batches.
 */
export class Batcher {
  readonly model: Electra;
  readonly maxBatchTokens: number;
  readonly maxBatchRequests: number;
  readonly maxWaitMs: number;
  /** Called after every merged forward pass. */
  onBatch: ((info: BatchInfo) => void) | undefined;
  #queue: Entry[] = [];
  #running = false;
  #expected = 0;
  #timer: NodeJS.Timeout | undefined;
  #idle: (() => void)[] = [];

  constructor(model: Electra, opts: BatcherOptions = {}) {
    this.model = model;
    const max = model.config.max_position_embeddings;
    this.maxBatchTokens = positiveInt(opts.maxBatchTokens ?? Math.max(16384, max), 'maxBatchTokens');
    if (this.maxBatchTokens < max) throw new ElectraError('ERR_CONFIG', `Batcher: maxBatchTokens ${this.maxBatchTokens} is below the model's max_position_embeddings ${max}; one text must fit a batch`);
    this.maxBatchRequests = positiveInt(opts.maxBatchRequests ?? 64, 'maxBatchRequests');
    const w = opts.maxWaitMs ?? 2;
    if (typeof w !== 'number' || !(w >= 0) || !Number.isFinite(w)) throw new ElectraError('ERR_CONFIG', `Batcher: maxWaitMs must be a number >= 0, got ${String(w)}`);
    this.maxWaitMs = w;
  }

  /** Rows waiting for a forward pass. */
  get queueDepth(): number {
    return this.#queue.length;
  }

  /** A forward pass is running. */
  get running(): boolean {
    return this.#running;
  }

  /**
   * A per-request view of the model whose forward passes go through this batcher; pass
   * `lease.model` to any task helper. The lease counts as announced until its first forward
   * pass (or {@link BatchLease.end}), so the batcher waits for it when others are ready.
   */
  lease(opts: { signal?: AbortSignal } = {}): BatchLease {
    return new BatchLease(this, opts.signal);
  }

  /** @internal */
  announce(delta: number): void {
    this.#expected += delta;
    if (delta < 0) this.#kick();
  }

  /** Runs `batch` merged with other callers' rows; the result has the shape a direct `model.forward(batch)` has. */
  forward(batch: Batch, opts: { hidden?: boolean; precision?: InferencePrecision; signal?: AbortSignal } = {}, lease?: BatchLease): Promise<ForwardResult> {
    if (this.model.disposed) return Promise.reject(new ElectraError('ERR_DISPOSED', 'the model has been disposed'));
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const [B, T] = batch.shape;
    if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1 || batch.inputIds.length !== B * T) {
      return Promise.reject(new ElectraError('ERR_INPUT', `Batcher.forward: inputIds has ${batch.inputIds.length} ids for shape [${B}, ${T}]`));
    }
    const lengths: number[] = [];
    for (let b = 0; b < B; b++) {
      let n = T;
      if (batch.attentionMask) {
        n = 0;
        for (let t = 0; t < T; t++) n += batch.attentionMask[b * T + t]! ? 1 : 0;
        // Rows are left-aligned (as every helper builds them): the mask is a prefix of ones.
        for (let t = 0; t < n; t++) {
          if (!batch.attentionMask[b * T + t]) return Promise.reject(new ElectraError('ERR_INPUT', 'Batcher.forward: attention masks must be a prefix of ones (right padding)'));
        }
        if (n === 0) return Promise.reject(new ElectraError('ERR_INPUT', `Batcher.forward: row ${b} has no tokens`));
      }
      lengths.push(n);
    }
    return new Promise<ForwardResult>((resolve, reject) => {
      const call: Call = {
        B,
        T,
        hidden: opts.hidden ?? false,
        precision: opts.precision,
        ids: batch.inputIds,
        typeIds: batch.tokenTypeIds ?? new Int32Array(B * T),
        lengths,
        remaining: B,
        out: {},
        done: false,
        lease,
        enqueued: performance.now(),
        resolve,
        reject,
        detach: () => undefined,
      };
      if (signal) {
        const onAbort = () => this.#fail(call, abortError(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        call.detach = () => signal.removeEventListener('abort', onAbort);
      }
      for (let r = 0; r < B; r++) this.#queue.push({ call, row: r, len: lengths[r]! });
      if (lease) lease.tokens += lengths.reduce((a, b) => a + b, 0);
      this.#kick();
    });
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  /** {@link embed} through this batcher. */
  embed(texts: string | readonly string[], opts?: EmbedOptions & { signal?: AbortSignal }): Promise<Embeddings> {
    return this.#with(opts?.signal, (m) => embed(m, texts, opts));
  }

  /** {@link classify} through this batcher. */
  classify(texts: string | readonly TextInput[], opts?: ClassifyOptions & { signal?: AbortSignal }): Promise<Classification[]> {
    return this.#with(opts?.signal, (m) => classify(m, texts, opts));
  }

  /** {@link tagTokens} through this batcher. */
  tagTokens(texts: string | readonly string[], opts?: TagOptions & { signal?: AbortSignal }): Promise<TagResult[]> {
    return this.#with(opts?.signal, (m) => tagTokens(m, texts, opts));
  }

  /** {@link answer} through this batcher. */
  answer(items: readonly QAInput[], opts?: AnswerOptions & { signal?: AbortSignal }): Promise<Answer[]> {
    return this.#with(opts?.signal, (m) => answer(m, items, opts));
  }

  /** {@link detectBatch} through this batcher (the model's tokenizer). */
  detectReplaced(texts: string | readonly string[], opts?: DetectOptions & { signal?: AbortSignal }): Promise<Detection[]> {
    return this.#with(opts?.signal, (m) => detectBatch(m, undefined, texts, opts));
  }

  async #with<T>(signal: AbortSignal | undefined, fn: (m: Electra) => Promise<T>): Promise<T> {
    const s = this.lease({ signal });
    try {
      return await fn(s.model);
    } finally {
      s.end();
    }
  }

  #fail(call: Call, err: unknown): void {
    if (call.done) return;
    call.done = true;
    call.detach();
    const before = this.#queue.length;
    this.#queue = this.#queue.filter((e) => e.call !== call);
    call.reject(err);
    if (before !== this.#queue.length) this.#kick();
  }

  #kick(): void {
    if (this.#running || this.#queue.length === 0) return;
    if (this.#expected <= 0 || this.maxWaitMs === 0 || this.#full()) {
      this.#dispatch();
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#dispatch();
    }, this.maxWaitMs);
  }

  /** The queue already holds a full batch. */
  #full(): boolean {
    const calls = new Set<Call>();
    let rows = 0;
    let longest = 0;
    for (const e of this.#queue) {
      calls.add(e.call);
      rows++;
      longest = Math.max(longest, e.len);
      if (calls.size >= this.maxBatchRequests || rows * longest >= this.maxBatchTokens) return true;
    }
    return false;
  }

  /** Takes the next batch from the queue: arrival order, one (hidden, precision) kind, within the bounds. */
  #take(): Entry[] {
    const first = this.#queue[0]!.call;
    const picked: Entry[] = [];
    const calls = new Set<Call>();
    const rest: Entry[] = [];
    let longest = 0;
    for (const e of this.#queue) {
      const c = e.call;
      const fits =
        c.hidden === first.hidden &&
        c.precision === first.precision &&
        (calls.has(c) || calls.size < this.maxBatchRequests) &&
        (picked.length + 1) * Math.max(longest, e.len) <= this.maxBatchTokens;
      if (fits) {
        picked.push(e);
        calls.add(c);
        longest = Math.max(longest, e.len);
      } else rest.push(e);
    }
    this.#queue = rest;
    return picked;
  }

  #dispatch(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#running || this.#queue.length === 0) return;
    const entries = this.#take();
    // Longest first, as runBatched orders a direct call.
    entries.sort((a, b) => b.len - a.len);
    const B = entries.length;
    const T = entries[0]!.len;
    const inputIds = new Int32Array(B * T).fill(this.model.tokenizer?.padId ?? 0);
    const tokenTypeIds = new Int32Array(B * T);
    const attentionMask = new Int32Array(B * T);
    let tokens = 0;
    const now = performance.now();
    const calls = new Set<Call>();
    entries.forEach((e, b) => {
      const c = e.call;
      inputIds.set(c.ids.subarray(e.row * c.T, e.row * c.T + e.len), b * T);
      tokenTypeIds.set(c.typeIds.subarray(e.row * c.T, e.row * c.T + e.len), b * T);
      attentionMask.fill(1, b * T, b * T + e.len);
      tokens += e.len;
      if (!calls.has(c)) {
        calls.add(c);
        c.lease?.noteQueued((now - c.enqueued) / 1000);
      }
    });
    const first = entries[0]!.call;
    this.#running = true;
    const t0 = performance.now();
    this.model
      .forward({ inputIds, tokenTypeIds, attentionMask, shape: [B, T] }, { hidden: first.hidden, precision: first.precision })
      .then(
        (r) => {
          const seconds = (performance.now() - t0) / 1000;
          entries.forEach((e, b) => this.#deliver(e, r, b, T));
          for (const c of calls) c.lease?.noteBatch(B, seconds);
          this.onBatch?.({ rows: B, tokens, paddedTokens: B * T, calls: calls.size, seconds });
        },
        (err) => {
          for (const c of calls) this.#fail(c, err);
        },
      )
      .finally(() => {
        this.#running = false;
        if (this.#queue.length) this.#dispatch();
        else for (const cb of this.#idle.splice(0)) cb();
      });
  }

  /** Copies row `b` of a merged result into its call's own result, at the call's row. */
  #deliver(e: Entry, r: ForwardResult, b: number, T: number): void {
    const c = e.call;
    if (c.done) return;
    for (const key of PER_TOKEN) {
      const t = r[key];
      if (!t) continue;
      const inner = t.shape.slice(2).reduce((x, y) => x * y, 1);
      let dst = c.out[key];
      if (!dst) dst = c.out[key] = { shape: [c.B, c.T, ...t.shape.slice(2)], data: new Float32Array(c.B * c.T * inner) };
      dst.data.set(t.data.subarray(b * T * inner, (b * T + e.len) * inner), e.row * c.T * inner);
    }
    if (r.classification) {
      const L = r.classification.shape[1]!;
      c.out.classification ??= { shape: [c.B, L], data: new Float32Array(c.B * L) };
      c.out.classification.data.set(r.classification.data.subarray(b * L, (b + 1) * L), e.row * L);
    }
    if (--c.remaining === 0) {
      c.done = true;
      c.detach();
      c.resolve(c.out);
    }
  }
}

/**
 * One request's view of a batched model: `model` stands in for the Electra in any task helper, and
 * the lease counts what its forward passes cost (tokens, the batches they ran in, time queued and
 * computing).
 */
export class BatchLease {
  readonly #batcher: Batcher;
  readonly #signal: AbortSignal | undefined;
  #announced = true;
  /** Tokens this request sent to the model (no padding). */
  tokens = 0;
  /** The largest merged batch (rows) its rows ran in. */
  batchSize = 0;
  /** Seconds its forward calls waited in the queue, summed. */
  queueSeconds = 0;
  /** Seconds of forward passes its rows ran in, summed. */
  inferSeconds = 0;
  /** A stand-in for the model: the task helpers' forward passes go through the batcher. */
  readonly model: Electra;

  constructor(batcher: Batcher, signal: AbortSignal | undefined) {
    this.#batcher = batcher;
    this.#signal = signal;
    batcher.announce(1);
    const m = batcher.model;
    const self = this;
    // The helpers read these members of a model and nothing else.
    const view = {
      get disposed() {
        return m.disposed;
      },
      get config() {
        return m.config;
      },
      get head() {
        return m.head;
      },
      get tokenizer() {
        return m.tokenizer;
      },
      get source() {
        return m.source;
      },
      get precision() {
        return m.precision;
      },
      forward(batch: Batch, opts: { hidden?: boolean; precision?: InferencePrecision } = {}) {
        const p = batcher.forward(batch, { ...opts, signal: self.#signal }, self);
        self.#settle();
        return p;
      },
      // A helper's call runs its batches through this view's forward (the batcher decides how
      // they merge with other requests'); the model's own dispose rules apply inside it.
      [RUN_CALL]<T>(fn: (forward: (batch: Batch, opts?: { hidden?: boolean; precision?: InferencePrecision }) => Promise<ForwardResult>) => Promise<T>): Promise<T> {
        return fn((batch, opts) => view.forward(batch, opts));
      },
    };
    this.model = view as unknown as Electra;
  }

  /** The request is done (or will not call forward again before it is): stop waiting for it. */
  end(): void {
    this.#settle();
  }

  #settle(): void {
    if (!this.#announced) return;
    this.#announced = false;
    this.#batcher.announce(-1);
  }

  /** @internal */
  noteQueued(seconds: number): void {
    this.queueSeconds += seconds;
  }

  /** @internal */
  noteBatch(rows: number, seconds: number): void {
    this.batchSize = Math.max(this.batchSize, rows);
    this.inferSeconds += seconds;
  }
}

function positiveInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ElectraError('ERR_CONFIG', `Batcher: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

function abortError(signal: AbortSignal): ElectraError {
  const reason: unknown = signal.reason;
  if (reason instanceof ElectraError) return reason;
  return new ElectraError('ERR_ABORTED', reason instanceof Error ? reason.message : 'the request was aborted');
}
