/**
 * The ELECTRA pre-training pair (generator + discriminator sharing their embeddings) with its
 * optimizer, in the native addon; checkpoints as directories Hugging Face can open.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generatorConfig, numLabels, parseConfig, readConfigFile, type ElectraConfig, type ElectraConfigInput } from '../config';
import { writeDirAtomic } from '../checkpoint/atomic';
import { inspectHfDir, readWeights, writeHfDir } from '../checkpoint/hf';
import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors';
import { matchStateDict } from '../checkpoint/statedict';
import { callNative, ElectraError, mapNative } from '../errors';
import { native, type NamedTensor, type NativeBatch, type NativeKernels, type NativeStepMetrics, type NativeTrainer } from '../native';
import { kernelOverrides } from '../runtime';
import { parseTrainerOptions, type TrainerOptions, type TrainerOptionsInput } from './options';

/** Metrics of one step (or one evaluation). */
export type StepMetrics = NativeStepMetrics;

export interface SpecialIds {
  pad: number;
  cls: number;
  sep: number;
  mask: number;
}

export interface PretrainerConfig extends TrainerOptionsInput {
  discriminator: ElectraConfigInput;
  /** The generator's shape; default: derived from the discriminator with `generatorFraction`. */
  generator?: ElectraConfigInput;
  /** Generator hidden size as a fraction of the discriminator's (Small 1/4, Base 1/3). */
  generatorFraction?: number;
  special: SpecialIds;
}

/** What trainer_state.json holds (besides the weights and optimizer files next to it). */
export interface TrainerState {
  format: 1;
  step: number;
  /** The options without the kernel choices, which each run makes for itself. */
  options: Omit<TrainerOptions, 'cudaGraph' | 'kernels'>;
  special: SpecialIds;
  discriminator: ElectraConfig;
  generator: ElectraConfig | null;
  rng: string;
  /** CUDA training: the state of the device's generator (masking, Gumbel noise and dropout draw from it). */
  deviceRng?: string;
  /** Anything the training loop stores (data cursor, metrics, timing). */
  extra: Record<string, unknown>;
  savedAt: string;
}

function nativeConfig(c: ElectraConfig): Record<string, unknown> {
  return { ...c, num_labels: numLabels(c), classifier_dropout: c.classifier_dropout ?? -1 };
}

/**
 * A run's kernel choices as the addon takes them: the environment's A/B overrides, then
 * `kernels`, then the top-level shorthands, then the defaults (the CUDA graph on for CUDA
 * devices; the custom kernels unset, which leaves the process setting).
 */
function kernelChoices(o: TrainerOptions): NativeKernels {
  const env = kernelOverrides();
  return {
    cudaGraph: env.cudaGraph ?? o.kernels.cudaGraph ?? o.cudaGraph ?? o.device.startsWith('cuda'),
    customKernels: env.customKernels ?? o.kernels.customKernels,
    fusedAdamW: env.fusedAdamW ?? o.kernels.fusedAdamW ?? o.fusedAdamW,
  };
}

/** The generator + discriminator pair and its optimizer. */
export class Pretrainer implements Disposable {
  #native: NativeTrainer | undefined;
  readonly options: TrainerOptions;
  readonly discriminatorConfig: ElectraConfig;
  readonly generatorConfig: ElectraConfig | null;
  readonly special: SpecialIds;

  private constructor(n: NativeTrainer, o: TrainerOptions, d: ElectraConfig, g: ElectraConfig | null, special: SpecialIds) {
    this.#native = n;
    this.options = o;
    this.discriminatorConfig = d;
    this.generatorConfig = g;
    this.special = special;
  }

  private get n(): NativeTrainer {
    if (!this.#native) throw new ElectraError('ERR_DISPOSED', 'the pre-trainer has been disposed');
    return this.#native;
  }

  /** A new randomly initialised pair (normal(0, 0.02), shared embeddings). */
  static async create(cfg: PretrainerConfig): Promise<Pretrainer> {
    const o = parseTrainerOptions(cfg);
    const d = parseConfig(cfg.discriminator, 'discriminator');
    const g = o.objective === 'mlm' ? null : cfg.generator ? parseConfig(cfg.generator, 'generator') : generatorConfig(d, cfg.generatorFraction ?? 0.25);
    const sp = cfg.special;
    for (const k of ['pad', 'cls', 'sep', 'mask'] as const) {
      const v = sp?.[k];
      if (!Number.isInteger(v) || v! < 0 || v! >= d.vocab_size) {
        throw new ElectraError('ERR_CONFIG', `special.${k}: expected a token id in [0, ${d.vocab_size}), got ${v}`);
      }
    }
    const n = await mapNative(
      callNative(() =>
        native().createTrainer!({
          ...o,
          kernels: kernelChoices(o),
          discriminator: nativeConfig(d),
          generator: g ? nativeConfig(g) : {},
          special: sp,
        }),
      ),
    );
    return new Pretrainer(n, o, d, g, { ...sp });
  }

  /**
   * Joins a data-parallel group: rank 0's weights and optimizer state are copied to every rank,
   * and from then on every update averages the gradients over the group. Each rank must then
   * pass its own rows of every batch (rank r: rows [r * b, (r + 1) * b) of the global batch).
   */
  async attach(group: import('./distributed').ProcessGroup): Promise<void> {
    await mapNative(callNative(() => this.n.attachProcessGroup(group.native)));
  }

  /** Updates done so far. */
  get step(): number {
    return this.n.steps;
  }

  /** One optimizer update; several batches accumulate gradients (one update). */
  async trainStep(batches: NativeBatch[]): Promise<StepMetrics> {
    return mapNative(callNative(() => this.n.step(batches)));
  }

  /** Metrics on a batch without updating (no dropout, fixed masking seed). */
  async evaluate(batch: NativeBatch): Promise<StepMetrics> {
    return mapNative(callNative(() => this.n.evaluate(batch)));
  }

  /** The discriminator's probability that each token was replaced, (B, T) row-major. */
  async detect(batch: NativeBatch): Promise<Float32Array> {
    const t = await mapNative(callNative(() => this.n.detect(batch)));
    return t.data as Float32Array;
  }

  /**
   * Writes `dir` atomically: discriminator/ and generator/ (HF directories, with `tokenizerFiles`
   * copied into each), optimizer.safetensors and trainer_state.json.
   */
  async saveCheckpoint(dir: string, opts: { extra?: Record<string, unknown>; tokenizerFiles?: string[] } = {}): Promise<void> {
    const disc = this.generatorConfig ? await mapNative(callNative(() => this.n.getState('discriminator'))) : null;
    const gen = await mapNative(callNative(() => this.n.getState('generator')));
    const opt = await mapNative(callNative(() => this.n.getState('optimizer')));
    // A checkpoint holds a state to continue from: never one with NaN or infinite tensors.
    for (const [part, ts] of [['discriminator', disc ?? []], ['generator', gen], ['optimizer', opt]] as const) {
      const bad = firstNonFinite(ts);
      if (bad) throw new ElectraError('ERR_DIVERGED', `refusing to write the checkpoint of step ${this.step} to ${dir}: the ${part} tensor ${bad} is not finite (NaN or infinite)`);
    }
    const rng = callNative(() => this.n.getRng());
    const onCuda = this.options.device.startsWith('cuda');
    const drng = onCuda ? callNative(() => this.n.getRng('device')) : null;
    const b64 = (t: { data: unknown }) => Buffer.from((t.data as Uint8Array).buffer, (t.data as Uint8Array).byteOffset, (t.data as Uint8Array).byteLength).toString('base64');
    // The kernel choices belong to each run, like the device (same results either way): not saved.
    const { cudaGraph: _graph, kernels: _kernels, ...options } = this.options;
    const state: TrainerState = {
      format: 1,
      step: this.step,
      options,
      special: this.special,
      discriminator: this.discriminatorConfig,
      generator: this.generatorConfig,
      rng: b64(rng),
      ...(drng ? { deviceRng: b64(drng) } : {}),
      extra: opts.extra ?? {},
      savedAt: new Date().toISOString(),
    };
    await writeDirAtomic(dir, (tmp) => {
      const copyTok = (d: string) => {
        for (const f of opts.tokenizerFiles ?? []) fs.copyFileSync(f, path.join(d, path.basename(f)));
      };
      if (disc) {
        fs.mkdirSync(path.join(tmp, 'discriminator'));
        writeHfDir(path.join(tmp, 'discriminator'), this.discriminatorConfig, 'discriminator', disc);
        copyTok(path.join(tmp, 'discriminator'));
      }
      fs.mkdirSync(path.join(tmp, 'generator'));
      writeHfDir(path.join(tmp, 'generator'), this.generatorConfig ?? this.discriminatorConfig, 'generator', gen);
      copyTok(path.join(tmp, 'generator'));
      writeSafetensors(path.join(tmp, 'optimizer.safetensors'), opt, { format: 'electra-node-adamw' });
      fs.writeFileSync(path.join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2) + '\n');
    });
  }

  /** Reads trainer_state.json of a checkpoint directory (ERR_CHECKPOINT when absent or bad). */
  static readState(dir: string): TrainerState {
    const f = path.join(dir, 'trainer_state.json');
    let s: TrainerState;
    try {
      s = JSON.parse(fs.readFileSync(f, 'utf8')) as TrainerState;
    } catch (e) {
      throw new ElectraError('ERR_CHECKPOINT', `cannot read ${f}: ${(e as Error).message}`);
    }
    if (s?.format !== 1 || !Number.isInteger(s.step) || typeof s.rng !== 'string') {
      throw new ElectraError('ERR_CHECKPOINT', `${f} is not an electra-node trainer state`);
    }
    return s;
  }

  /** Re-creates the pair from a checkpoint: weights, optimizer moments, step and random state. */
  static async fromCheckpoint(dir: string, overrides: Partial<TrainerOptionsInput> = {}): Promise<{ trainer: Pretrainer; state: TrainerState }> {
    const s = Pretrainer.readState(dir);
    // Saved kernel choices are ignored: checkpoints written before the CUDA graph became a per-run
    // choice hold its old default (false), which would keep a resumed CUDA run eager. Unset
    // overrides change nothing.
    const { cudaGraph: _savedGraph, kernels: _savedKernels, ...saved } = s.options as TrainerOptions;
    const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<TrainerOptionsInput>;
    const t = await Pretrainer.create({
      ...saved,
      ...given,
      discriminator: s.discriminator,
      generator: s.generator ?? undefined,
      special: s.special,
    });
    try {
      await t.loadWeights(dir);
      const { tensors } = readSafetensors(path.join(dir, 'optimizer.safetensors'));
      const bad = firstNonFinite([...tensors.entries()].map(([name, v]) => ({ ...v, name })));
      if (bad) throw new ElectraError('ERR_CHECKPOINT', `${path.join(dir, 'optimizer.safetensors')}: tensor ${bad} is not finite (NaN or infinite); the optimizer state is corrupt`);
      await mapNative(callNative(() => t.n.loadState('optimizer', [...tensors.entries()].map(([name, v]) => ({ ...v, name })))));
      callNative(() => t.n.setStep(s.step));
      const rng = Buffer.from(s.rng, 'base64');
      callNative(() => t.n.setRng({ dtype: 'uint8', shape: [rng.length], data: new Uint8Array(rng) }));
      // A CUDA run resumed on CUDA continues the device's stream; elsewhere it cannot apply.
      if (typeof s.deviceRng === 'string' && t.options.device.startsWith('cuda')) {
        const d = Buffer.from(s.deviceRng, 'base64');
        callNative(() => t.n.setRng({ dtype: 'uint8', shape: [d.length], data: new Uint8Array(d) }, 'device'));
      }
    } catch (e) {
      t.dispose();
      throw e;
    }
    return { trainer: t, state: s };
  }

  /**
   * Loads weights from `dir`: our checkpoint layout or any directory with `generator/` and/or
   * `discriminator/` HF subdirectories, or a single HF discriminator directory (then the generator
   * keeps its initialisation apart from the shared embeddings). Used by `--init-from`.
   */
  async loadWeights(dir: string): Promise<string[]> {
    const loaded: string[] = [];
    const sub = (name: string) => path.join(dir, name);
    // Generator first: the discriminator's copy of the shared embeddings wins.
    if (fs.existsSync(sub('generator'))) {
      await this.loadPart('generator', sub('generator'));
      loaded.push('generator');
    }
    if (this.generatorConfig) {
      if (fs.existsSync(sub('discriminator'))) {
        await this.loadPart('discriminator', sub('discriminator'));
        loaded.push('discriminator');
      } else if (fs.existsSync(path.join(dir, 'config.json'))) {
        await this.loadPart('discriminator', dir);
        loaded.push('discriminator');
      }
    }
    if (loaded.length === 0) throw new ElectraError('ERR_CHECKPOINT', `${dir} has no generator/ or discriminator/ directory nor config.json`);
    return loaded;
  }

  private async loadPart(which: 'generator' | 'discriminator', dir: string): Promise<void> {
    const info = inspectHfDir(dir);
    const want = which === 'discriminator' ? this.discriminatorConfig : (this.generatorConfig ?? this.discriminatorConfig);
    for (const k of ['vocab_size', 'hidden_size', 'embedding_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size'] as const) {
      if (info.config[k] !== want[k]) {
        throw new ElectraError('ERR_CHECKPOINT', `${dir}: ${k} is ${info.config[k]}, the ${which} here has ${want[k]}`);
      }
    }
    const current = await mapNative(callNative(() => this.n.getState(which)));
    const m = matchStateDict(current, await readWeights(info.weightsFile), { where: info.weightsFile, head: which });
    const bad = firstNonFinite(m.tensors);
    if (bad) throw new ElectraError('ERR_CHECKPOINT', `${info.weightsFile}: tensor ${bad} is not finite (NaN or infinite)`);
    await mapNative(callNative(() => this.n.loadState(which, m.tensors)));
  }

  /**
   * Sets the generator's output bias (`generator_lm_head.bias`), one value per vocabulary entry:
   * the `--generator-bias unigram` initialisation (see unigram.ts).
   */
  async setGeneratorBias(bias: Float32Array): Promise<void> {
    const V = this.discriminatorConfig.vocab_size;
    if (bias.length !== V) throw new ElectraError('ERR_INPUT', `generator bias has ${bias.length} values; the vocabulary has ${V}`);
    if (!bias.every(Number.isFinite)) throw new ElectraError('ERR_INPUT', 'generator bias has a value that is not finite');
    await mapNative(callNative(() => this.n.loadState('generator', [{ name: 'generator_lm_head.bias', dtype: 'float32', shape: [V], data: bias }])));
  }

  /** Weights of one network as float32 tensors under HF names. */
  async state(which: 'generator' | 'discriminator'): Promise<NamedTensor[]> {
    return mapNative(callNative(() => this.n.getState(which)));
  }

  /** Frees the native pair now (repeatable). */
  dispose(): void {
    if (!this.#native) return;
    callNative(() => this.#native!.dispose());
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The name of the first floating-point tensor with a NaN or infinite value, or null. */
export function firstNonFinite(tensors: readonly { name: string; dtype: string; data: unknown }[]): string | null {
  for (const t of tensors) {
    if (t.dtype !== 'float32' && t.dtype !== 'float64') continue;
    const d = t.data as ArrayLike<number>;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return t.name;
  }
  return null;
}

/** Reads a discriminator's config from an HF directory (for `--init-from`). */
export function configFromDir(dir: string): ElectraConfig {
  return readConfigFile(path.join(dir, 'config.json'));
}
