/**
 * The public model class: an ELECTRA network with one Hugging Face head, running in the native
 * addon. Every call is async and runs off the event loop; one call in flight per model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { numLabels, parseConfig, type ElectraConfig, type ElectraConfigInput } from './config';
import { writeDirAtomic } from './checkpoint/atomic';
import { inspectHfDir, readWeights, writeHfDir } from './checkpoint/hf';
import { matchStateDict } from './checkpoint/statedict';
import { callNative, ElectraError, mapNative } from './errors';
import { native, type NativeBatch, type NativeHead, type NativeModel, type NativeTensor } from './native';

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

export interface CreateOptions {
  head?: Head;
  device?: string;
  /** Seed for the weight initialisation (normal(0, initializer_range)). */
  seed?: number;
}

export interface LoadOptions {
  device?: string;
  /**
   * Head to run; defaults to the directory's architecture. Asking for a task head that the
   * checkpoint lacks initialises it fresh (for fine-tuning); other missing weights are an error.
   */
  head?: Head;
}

function toFloat(t: NativeTensor | undefined): Float32Tensor | undefined {
  if (!t) return undefined;
  return { shape: t.shape, data: t.data as Float32Array };
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
  }
  return { inputIds, attentionMask, tokenTypeIds, shape: [B, T] };
}

/** An ELECTRA model with one head (discriminator, generator, a task head, or none). */
export class Electra implements Disposable {
  #native: NativeModel | undefined;
  /** The validated HF config. */
  readonly config: ElectraConfig;
  readonly head: Head;

  private constructor(n: NativeModel, config: ElectraConfig, head: Head) {
    this.#native = n;
    this.config = config;
    this.head = head;
  }

  private get nativeModel(): NativeModel {
    if (!this.#native) throw new ElectraError('ERR_DISPOSED', 'the model has been disposed');
    return this.#native;
  }

  /** A new randomly initialised model (normal(0, initializer_range), as the paper). */
  static async create(config: ElectraConfigInput, opts: CreateOptions = {}): Promise<Electra> {
    const c = parseConfig(config);
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
    return new Electra(n, c, head);
  }

  /** Loads a Hugging Face directory (config.json + model.safetensors or pytorch_model.bin). */
  static async load(dir: string, opts: LoadOptions = {}): Promise<Electra> {
    const info = inspectHfDir(dir);
    const head = opts.head ?? info.head;
    const weights = await readWeights(info.weightsFile);
    const model = await Electra.create(info.config, { head, device: opts.device ?? 'cpu', seed: 0 });
    try {
      const m = matchStateDict(model.nativeModel.parameters(), weights, {
        where: info.weightsFile,
        head,
        allowMissingHead: head !== info.head,
      });
      await mapNative(model.nativeModel.loadState(m.tensors));
    } catch (e) {
      model.dispose();
      throw e;
    }
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

  /** Runs the model on a batch. `hidden: true` also returns the last hidden states. */
  async forward(batch: Batch, opts: { hidden?: boolean } = {}): Promise<ForwardResult> {
    const b = validateBatch(batch, this.config);
    const r = await mapNative(callNative(() => this.nativeModel.forward(b, { hidden: opts.hidden ?? false })));
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
    const s = await mapNative(callNative(() => this.nativeModel.getState()));
    return s.map((t) => ({ name: t.name, shape: t.shape, data: t.data as Float32Array }));
  }

  /**
   * Saves an HF directory (config.json + model.safetensors) that Python transformers opens with
   * the class of this head. Written atomically; `extraFiles` (e.g. tokenizer files) are copied in.
   */
  async save(dir: string, opts: { extraFiles?: string[] } = {}): Promise<void> {
    const state = await mapNative(callNative(() => this.nativeModel.getState()));
    await writeDirAtomic(dir, (tmp) => {
      writeHfDir(tmp, this.config, this.head, state);
      for (const f of opts.extraFiles ?? []) fs.copyFileSync(f, path.join(tmp, path.basename(f)));
    });
  }

  /** Frees the native model now (repeatable). Calls after it fail with ERR_DISPOSED. */
  dispose(): void {
    if (!this.#native) return;
    callNative(() => this.#native!.dispose());
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
