/**
 * The public model class: an ELECTRA network with one Hugging Face head, running in the native
 * addon. Every call is async and runs off the event loop; calls on one model wait in a FIFO queue
 * and run one at a time. The task helpers (classify, embed, tagTokens, answer, detectReplaced)
 * live in src/infer/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { numLabels, parseConfig, type ElectraConfig, type ElectraConfigInput } from './config';
import { writeDirAtomic } from './checkpoint/atomic';
import { inspectHfDir, readWeights, writeHfDir } from './checkpoint/hf';
import { matchStateDict } from './checkpoint/statedict';
import { checkConfigAgainstWeights } from './checkpoint/config-check';
import { callNative, ElectraError, mapNative, toElectraError } from './errors';
import { native, type NativeBatch, type NativeHead, type NativeModel, type NativeTensor } from './native';
import { ElectraTokenizer } from './tokenizer/tokenizer';
import type { KernelOptions } from './runtime';
import { CallScope, RUN_CALL, SerialQueue } from './infer/queue';
import type { TextInput } from './infer/common';
import { classify as classifyTexts, type Classification, type ClassifyOptions } from './infer/classify';
import { embed as embedTexts, type EmbedOptions, type Embeddings } from './infer/embed';
import { tagTokens as tagTexts, type TagOptions, type TagResult } from './infer/tag';
import { answer as answerQuestions, type Answer, type AnswerOptions, type QAInput } from './infer/qa';
import { detectBatch, type DetectOptions, type Detection } from './infer/detect';
import { resolveModel, type HubOptions } from './hub';

export type Head = NativeHead;

/** A batch of token ids, row-major (B * T), with its shape. */
export interface Batch {
  inputIds: Int32Array;
  attentionMask?: Int32Array;
  tokenTypeIds?: Int32Array;
  shape: [number, number];
}

/** A float32 tensor returned by the model. */
export interface Float32Tensor {
  shape: number[];
  data: Float32Array;
}

export interface ForwardResult {
  /** Last hidden states (B, T, H): always for head "none", else when `hidden: true`. */
  hidden?: Float32Tensor;
  /** Discriminator logits (B, T): > 0 means "replaced". */
  discriminator?: Float32Tensor;
  /** Generator (MLM) logits (B, T, V). */
  generator?: Float32Tensor;
  /** Sequence-classification logits (B, L). */
  classification?: Float32Tensor;
  /** Token-classification logits (B, T, L). */
  tokens?: Float32Tensor;
  /** Question-answering start/end logits (B, T). */
  start?: Float32Tensor;
  end?: Float32Tensor;
}

/** Options of {@link Electra.forward}. */
export interface ForwardOptions {
  /** Also return the last hidden states. */
  hidden?: boolean;
  /** This call's precision instead of the model's default. */
  precision?: InferencePrecision;
}

/** Numeric precision of inference: fp32, or bf16 autocast (matrix products in bfloat16; outputs are float32 either way). */
export type InferencePrecision = 'fp32' | 'bf16';

export interface CreateOptions {
  head?: Head;
  device?: string;
  /** Seed for the weight initialisation (normal(0, initializer_range)). */
  seed?: number;
  /**
   * Default precision of {@link Electra.forward} and the task helpers: `fp32` (default) or
   * `bf16` (autocast; on CUDA the fast choice, on a CPU without bfloat16 units usually slower).
   */
  precision?: InferencePrecision;
}

export interface LoadOptions {
  device?: string;
  /**
   * Head to run; defaults to the directory's architecture. Asking for a task head that the
   * checkpoint lacks initialises it fresh (for fine-tuning); other missing weights are an error.
   */
  head?: Head;
  /**
   * The tokenizer of the task helpers (`classify`, `embed`, ...): an {@link ElectraTokenizer}, a
   * path to load one from, or `false` for none. Default: the directory's own `tokenizer.json` or
   * `vocab.txt` when there is one.
   */
  tokenizer?: ElectraTokenizer | string | false;
  /**
   * Config fields to override before the model is built, e.g. `num_labels`/`id2label` for a new
   * task head (the body's shape must stay that of the weights).
   */
  config?: Partial<ElectraConfigInput>;
  /** Default precision of inference, as in {@link CreateOptions.precision}. */
  precision?: InferencePrecision;
  /** Revision, cache, token, offline mode... when `dir` (or `tokenizer`) is a Hub id (docs/models.md). */
  hub?: HubOptions;
}

/** Optimizer settings of {@link Electra.setupTraining} (fine-tuning). */
export interface TrainingSetup {
  lr: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  biasCorrection?: boolean;
  warmupSteps?: number;
  totalSteps?: number;
  clipNorm?: number;
  /** One factor per parameter, in {@link Electra.parameters} order (layer-wise decay). */
  lrScales?: number[];
  precision?: 'fp32' | 'bf16';
  skipNonFinite?: boolean;
  seed?: number;
  /** Kernel choices for these steps (as pre-training's `kernels`; cudaGraph does not apply). */
  kernels?: Omit<KernelOptions, 'cudaGraph'>;
}

/** Targets of one fine-tuning batch: class ids / values (B), tags (B*T, -100 ignored), or answer spans. */
export interface TrainTargets {
  labels?: Int32Array | Float32Array;
  start?: Int32Array;
  end?: Int32Array;
}

export interface TrainStepResult {
  loss: number;
  gradNorm: number;
  lr: number;
  step: number;
  skipped: boolean;
}

function toFloat(t: NativeTensor | undefined): Float32Tensor | undefined {
  if (!t) return undefined;
  return { shape: t.shape, data: t.data as Float32Array };
}

function checkPrecision(p: unknown): InferencePrecision {
  if (p !== 'fp32' && p !== 'bf16') throw new ElectraError('ERR_CONFIG', `precision must be 'fp32' or 'bf16', got ${JSON.stringify(p)}`);
  return p;
}

/** Validates a batch at the edge (ids in range, lengths agree); ERR_INPUT names the problem. */
export function validateBatch(b: Batch, config: ElectraConfig): NativeBatch {
  if (!b || typeof b !== 'object') throw new ElectraError('ERR_INPUT', 'batch must be an object');
  const shape = b.shape;
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ElectraError('ERR_INPUT', `batch.shape must be [B, T] with positive integers, got ${JSON.stringify(shape)}`);
  }
  const [B, T] = shape;
  const n = B * T;
  if (T > config.max_position_embeddings) {
    throw new ElectraError('ERR_INPUT', `sequence length ${T} exceeds max_position_embeddings ${config.max_position_embeddings}`);
  }
  const check = (a: unknown, name: string): Int32Array => {
    if (!(a instanceof Int32Array)) throw new ElectraError('ERR_INPUT', `batch.${name} must be an Int32Array`);
    if (a.length !== n) throw new ElectraError('ERR_INPUT', `batch.${name} has ${a.length} elements, shape [${B}, ${T}] needs ${n}`);
    return a;
  };
  const inputIds = check(b.inputIds, 'inputIds');
  for (let i = 0; i < n; i++) {
    const v = inputIds[i]!;
    if (v < 0 || v >= config.vocab_size) {
      throw new ElectraError('ERR_INPUT', `batch.inputIds[${i}] = ${v} is outside [0, ${config.vocab_size})`);
    }
  }
  const attentionMask = b.attentionMask === undefined ? new Int32Array(n).fill(1) : check(b.attentionMask, 'attentionMask');
  const tokenTypeIds = b.tokenTypeIds === undefined ? new Int32Array(n) : check(b.tokenTypeIds, 'tokenTypeIds');
  for (let i = 0; i < n; i++) {
    const t = tokenTypeIds[i]!;
    if (t < 0 || t >= config.type_vocab_size) {
      throw new ElectraError('ERR_INPUT', `batch.tokenTypeIds[${i}] = ${t} is outside [0, ${config.type_vocab_size})`);
    }
    const m = attentionMask[i]!;
    if (m !== 0 && m !== 1) throw new ElectraError('ERR_INPUT', `batch.attentionMask[${i}] = ${m}: must be 0 (padding) or 1 (token)`);
  }
  return { inputIds, attentionMask, tokenTypeIds, shape: [B, T] };
}

/** An ELECTRA model with one head (discriminator, generator, a task head, or none). */
export class Electra implements Disposable {
  #native: NativeModel | undefined;
  #disposed = false;
  #precision: InferencePrecision = 'fp32';
  readonly #queue = new SerialQueue();
  /** Helper calls (classify, embed, ...) in progress; a started one keeps the model until it ends. */
  readonly #calls = new Set<CallScope>();
  /** The validated HF config. */
  readonly config: ElectraConfig;
  readonly head: Head;
  /** The tokenizer the task helpers use (loaded with the directory when it has tokenizer files). */
  tokenizer: ElectraTokenizer | undefined;
  /** The directory the model was loaded from. */
  source: string | undefined;

  private constructor(n: NativeModel, config: ElectraConfig, head: Head) {
    this.#native = n;
    this.config = config;
    this.head = head;
  }

  private get nativeModel(): NativeModel {
    if (!this.#native || this.#disposed) throw new ElectraError('ERR_DISPOSED', 'the model has been disposed');
    return this.#native;
  }

  /** True once {@link dispose} was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Runs `fn` on the native model after every call queued before it (the native model runs one at a time). */
  #enqueue<T>(fn: (n: NativeModel) => Promise<T>, scope?: CallScope): Promise<T> {
    if ((this.#disposed && !scope?.started) || !this.#native) return Promise.reject(new ElectraError('ERR_DISPOSED', 'the model has been disposed'));
    return this.#queue.run(() => {
      const n = this.#native;
      if (!n) throw new ElectraError('ERR_DISPOSED', 'the model has been disposed');
      return mapNative(callNative(() => fn(n)));
    }, scope);
  }

  /**
   * Internal (the inference helpers): runs one call's forward passes as a unit. Once its first
   * pass has started, {@link dispose} lets the call finish; before that it fails with ERR_DISPOSED.
   */
  [RUN_CALL]<T>(fn: (forward: (batch: Batch, opts?: ForwardOptions) => Promise<ForwardResult>) => Promise<T>): Promise<T> {
    if (this.#disposed) return Promise.reject(new ElectraError('ERR_DISPOSED', 'the model has been disposed'));
    const scope = new CallScope();
    this.#calls.add(scope);
    const end = () => {
      this.#calls.delete(scope);
      if (this.#disposed) this.#release();
    };
    return fn((batch, opts = {}) => this.#forward(batch, opts, scope)).finally(end);
  }

  /** A new randomly initialised model (normal(0, initializer_range), as the paper). */
  static async create(config: ElectraConfigInput, opts: CreateOptions = {}): Promise<Electra> {
    const c = parseConfig(config);
    const precision = checkPrecision(opts.precision ?? 'fp32');
    const head = opts.head ?? 'discriminator';
    const n = await mapNative(
      callNative(() =>
        native().createModel({
          config: { ...c, num_labels: numLabels(c), classifier_dropout: c.classifier_dropout ?? -1 },
          head,
          device: opts.device ?? 'cpu',
          seed: opts.seed ?? 0,
        }),
      ),
    );
    const model = new Electra(n, c, head);
    model.#precision = precision;
    return model;
  }

  /**
   * Loads a Hugging Face directory (config.json + model.safetensors or pytorch_model.bin), or a
   * Hub id `org/name[@revision][/subfolder]` through the shared Hugging Face cache.
   */
  static async load(dir: string, opts: LoadOptions = {}): Promise<Electra> {
    dir = await resolveModel(dir, opts.hub);
    if (typeof opts.tokenizer === 'string') opts = { ...opts, tokenizer: await resolveModel(opts.tokenizer, { ...opts.hub, files: 'tokenizer' }) };
    const info = inspectHfDir(dir);
    const head = opts.head ?? info.head;
    const tokenizer = loadTokenizer(dir, opts.tokenizer);
    const weights = await readWeights(info.weightsFile);
    const config = opts.config ? parseConfig({ ...info.config, ...opts.config }) : info.config;
    checkConfigAgainstWeights(config, weights, dir);
    const model = await Electra.create(config, { head, device: opts.device ?? 'cpu', seed: 0, precision: opts.precision });
    try {
      const m = matchStateDict(model.nativeModel.parameters(), weights, {
        where: info.weightsFile,
        head,
        allowMissingHead: head !== info.head,
      });
      await model.#enqueue((n) => n.loadState(m.tensors));
      if (tokenizer && tokenizer.vocabSize > model.config.vocab_size) {
        throw new ElectraError('ERR_TOKENIZER', `the tokenizer of ${dir} has ${tokenizer.vocabSize} tokens, more than the model's vocab_size ${model.config.vocab_size}`);
      }
    } catch (e) {
      model.dispose();
      throw e;
    }
    model.tokenizer = tokenizer;
    model.source = dir;
    return model;
  }

  /** The device the weights live on ("cpu", "cuda:0"). */
  get device(): string {
    return this.nativeModel.device;
  }

  /** Parameter names (HF) and shapes. */
  parameters(): { name: string; shape: number[] }[] {
    return callNative(() => this.nativeModel.parameters());
  }

  /** Default precision of {@link forward} and the task helpers (`fp32` or `bf16`). */
  get precision(): InferencePrecision {
    return this.#precision;
  }
  set precision(p: InferencePrecision) {
    this.#precision = checkPrecision(p);
  }

  /**
   * Runs the model on a batch. `hidden: true` also returns the last hidden states; `precision`
   * overrides the model's default for this call.
   */
  forward(batch: Batch, opts: ForwardOptions = {}): Promise<ForwardResult> {
    return this.#forward(batch, opts, undefined);
  }

  async #forward(batch: Batch, opts: ForwardOptions, scope: CallScope | undefined): Promise<ForwardResult> {
    if (this.#disposed && !scope?.started) throw new ElectraError('ERR_DISPOSED', 'the model has been disposed');
    if (opts === null || typeof opts !== 'object') throw new ElectraError('ERR_INPUT', 'forward: options must be an object');
    const b = validateBatch(batch, this.config);
    const precision = opts.precision === undefined ? this.#precision : checkPrecision(opts.precision);
    const r = await this.#enqueue((n) => n.forward(b, { hidden: opts.hidden ?? false, precision }), scope);
    return {
      hidden: toFloat(r.hidden),
      discriminator: toFloat(r.discriminator),
      generator: toFloat(r.generator),
      classification: toFloat(r.classification),
      tokens: toFloat(r.tokens),
      start: toFloat(r.start),
      end: toFloat(r.end),
    };
  }

  /** The weights as float32 tensors under their HF names. */
  async state(): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
    const s = await this.#enqueue((n) => n.getState());
    return s.map((t) => ({ name: t.name, shape: t.shape, data: t.data as Float32Array }));
  }

  /**
   * Saves an HF directory (config.json + model.safetensors) that Python transformers opens with
   * the class of this head. Written atomically; `extraFiles` (e.g. tokenizer files) are copied in.
   */
  async save(dir: string, opts: { extraFiles?: string[] } = {}): Promise<void> {
    const state = await this.#enqueue((n) => n.getState());
    await writeDirAtomic(dir, (tmp) => {
      writeHfDir(tmp, this.config, this.head, state);
      for (const f of opts.extraFiles ?? []) fs.copyFileSync(f, path.join(tmp, path.basename(f)));
    });
  }

  /**
   * Prepares fine-tuning of this model's task head: a fresh AdamW (decoupled weight decay, not on
   * LayerNorm/bias), warmup + linear decay, clipping. Low level: `finetune()` drives it.
   */
  setupTraining(setup: TrainingSetup): void {
    // Synchronous and cheap; ERR_BUSY if a call is running (await pending calls first).
    callNative(() => this.nativeModel.setupTraining(setup));
  }

  /** One fine-tuning step on a batch (training mode: dropout on). */
  async trainStep(batch: Batch, targets: TrainTargets): Promise<TrainStepResult> {
    const b = validateBatch(batch, this.config);
    const [B, T] = b.shape;
    const t: Record<string, NativeTensor> = {};
    if (targets.labels) {
      const tokenLevel = this.head === 'token-classification';
      t.labels = {
        dtype: targets.labels instanceof Float32Array ? 'float32' : 'int32',
        shape: tokenLevel ? [B, T] : [B],
        data: targets.labels,
      };
    }
    if (targets.start && targets.end) {
      t.start = { dtype: 'int32', shape: [B], data: targets.start };
      t.end = { dtype: 'int32', shape: [B], data: targets.end };
    }
    return this.#enqueue((n) => n.trainStep(b, t));
  }

  /**
   * Classifies texts or `[text, pair]` pairs with a sequence-classification head: the best label,
   * its probability and every label's (config `id2label`). A string is a batch of one.
   */
  classify(texts: string | readonly TextInput[], opts?: ClassifyOptions): Promise<Classification[]> {
    return classifyTexts(this, texts, opts);
  }

  /** Embeds texts with the last hidden states (any head): one Float32Array per text, mean or [CLS] pooled. */
  embed(texts: string | readonly string[], opts?: EmbedOptions): Promise<Embeddings> {
    return embedTexts(this, texts, opts);
  }

  /** Labels every token with a token-classification head, and groups B-/I- tags into entities. */
  tagTokens(texts: string | readonly string[], opts?: TagOptions): Promise<TagResult[]> {
    return tagTexts(this, texts, opts);
  }

  /** The best answer span in the context, with a question-answering head. */
  answer(question: string, context: string, opts?: AnswerOptions): Promise<Answer>;
  answer(items: readonly QAInput[], opts?: AnswerOptions): Promise<Answer[]>;
  async answer(a: string | readonly QAInput[], b?: string | AnswerOptions, c?: AnswerOptions): Promise<Answer | Answer[]> {
    if (typeof a === 'string') {
      if (typeof b !== 'string') throw new ElectraError('ERR_INPUT', 'answer(question, context): the context must be a string');
      const [r] = await answerQuestions(this, [{ question: a, context: b }], c);
      return r!;
    }
    return answerQuestions(this, a, typeof b === 'object' ? b : c);
  }

  /** Each token (with [CLS]/[SEP]) and its probability of having been replaced, with a discriminator. */
  detectReplaced(text: string, opts?: DetectOptions): Promise<Detection>;
  detectReplaced(texts: readonly string[], opts?: DetectOptions): Promise<Detection[]>;
  async detectReplaced(x: string | readonly string[], opts?: DetectOptions): Promise<Detection | Detection[]> {
    const r = await detectBatch(this, this.tokenizer, x, opts);
    return typeof x === 'string' ? r[0]! : r;
  }

  /**
   * Frees the native model (repeatable). Calls still waiting in the queue fail with ERR_DISPOSED,
   * as does every later call; a call already running finishes first (all the batches of a
   * `classify`/`embed`/... call whose first batch has started), then the memory is freed.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#queue.close(new ElectraError('ERR_DISPOSED', 'the model was disposed before this call ran'));
    if (this.#queue.running || this.#queue.pending > 0 || this.#startedCalls()) this.#release();
    else this.#free(true);
  }

  #startedCalls(): boolean {
    for (const c of this.#calls) if (c.started) return true;
    return false;
  }

  /** Frees the native model once disposed and nothing runs or is left of a started call. */
  #release(): void {
    if (!this.#native) return;
    // A started call between two batches: its end calls this again.
    if (this.#startedCalls()) return;
    if (this.#queue.running) this.#queue.onIdle(() => this.#release());
    else this.#free(false);
  }

  #free(rethrow: boolean): void {
    const n = this.#native;
    if (!n) return;
    if (n.busy) {
      // A native call outside the queue is still running: free once it is done.
      setTimeout(() => this.#free(false), 2);
      return;
    }
    try {
      n.dispose();
      this.#native = undefined;
    } catch (e) {
      const err = toElectraError(e);
      if (err.code === 'ERR_BUSY') {
        setTimeout(() => this.#free(false), 2);
        return;
      }
      this.#native = undefined;
      if (rethrow) throw err;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The tokenizer for {@link Electra.load}: explicit, from a path, none, or the directory's own. */
function loadTokenizer(dir: string, t: ElectraTokenizer | string | false | undefined): ElectraTokenizer | undefined {
  if (t === false) return undefined;
  if (typeof t === 'string') return ElectraTokenizer.load(t);
  // Duck-typed: the ESM and CommonJS builds each have their own ElectraTokenizer class.
  if (t instanceof ElectraTokenizer || (t !== null && typeof t === 'object' && typeof (t as { encodeBatch?: unknown }).encodeBatch === 'function')) return t;
  if (t !== undefined) throw new ElectraError('ERR_INPUT', 'LoadOptions.tokenizer must be an ElectraTokenizer, a path or false');
  const has = ['tokenizer.json', 'vocab.txt'].some((f) => fs.existsSync(path.join(dir, f)));
  return has ? ElectraTokenizer.load(dir) : undefined;
}
