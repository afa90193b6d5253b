/**
 * The only file that loads the addon (build/Release/electra.node) and types its raw exports.
 * Everything else goes through the typed wrappers in this project.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { ElectraError } from './errors';

export type NativeDtype = 'float32' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'uint8';

/** A tensor as it crosses the boundary (always copied). */
export interface NativeTensor {
  dtype: NativeDtype;
  shape: number[];
  data: Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;
}

export interface NamedTensor extends NativeTensor {
  name: string;
}

export interface NativeBatch {
  inputIds: Int32Array;
  tokenTypeIds: Int32Array;
  attentionMask: Int32Array;
  shape: [number, number];
}

export interface NativeOutputs {
  hidden?: NativeTensor;
  discriminator?: NativeTensor;
  generator?: NativeTensor;
  classification?: NativeTensor;
  tokens?: NativeTensor;
  start?: NativeTensor;
  end?: NativeTensor;
}

export type NativeHead =
  | 'none'
  | 'discriminator'
  | 'generator'
  | 'sequence-classification'
  | 'token-classification'
  | 'question-answering';

export interface NativeModel {
  forward(batch: NativeBatch, opts?: { hidden?: boolean; precision?: 'fp32' | 'bf16' }): Promise<NativeOutputs>;
  parameters(): { name: string; shape: number[] }[];
  loadState(values: NamedTensor[]): Promise<void>;
  getState(): Promise<NamedTensor[]>;
  dispose(): void;
  setupTraining(opts: object): void;
  trainStep(
    batch: NativeBatch,
    targets: Record<string, NativeTensor>,
  ): Promise<{ loss: number; gradNorm: number; lr: number; step: number; skipped: boolean }>;
  readonly busy: boolean;
  readonly device: string;
  readonly head: NativeHead;
}

export interface NativeRuntime {
  libtorchVersion: string;
  buildFlags: string;
  cudaBuild: boolean;
  cudaAvailable: boolean;
  deviceCount: number;
  deviceNames: string[];
  threads: number;
  interopThreads: number;
  /** Native work runs on one executor thread (false with the executor setting off: on Node's worker pool). */
  executor: boolean;
  mkldnn: boolean;
  parallelInfo: string;
}

/** The process's settings as the addon holds them (src/runtime.ts `configure`; docs/switches.md). */
export interface NativeSettings {
  executor: boolean;
  cpuCache: boolean;
  parallelRng: boolean;
  sdpaCudnn: boolean;
  customKernels: boolean;
}

/** A trainer's kernel choices as the addon takes them (resolved by src/train/pretrainer.ts). */
export interface NativeKernels {
  cudaGraph?: boolean;
  /** Unset: the process setting. */
  customKernels?: boolean;
  fusedAdamW?: boolean;
}

export interface NativeTrainerOptions {
  discriminator: Record<string, unknown>;
  generator: Record<string, unknown>;
  device: string;
  seed: number;
  kernels?: NativeKernels;
  [k: string]: unknown;
}

export interface NativeStepMetrics {
  loss: number;
  mlmLoss: number;
  rtdLoss: number;
  generatorAccuracy: number;
  discriminatorAccuracy: number;
  replacedPrecision: number;
  replacedRecall: number;
  replacedFraction: number;
  gradNorm: number;
  lr: number;
  step: number;
  skipped: boolean;
  /** The step was replayed from a captured CUDA graph. */
  graph?: boolean;
  /** ROC AUC of the discriminator on replaced tokens (evaluate() only). */
  replacedAuc?: number;
  /** Precision (= recall) among the k highest-scored tokens, k = the number replaced (evaluate() only). */
  replacedRPrecision?: number;
}

/** Intermediates of one pre-training forward pass (tests and debugging). */
export interface NativeInspection {
  maskedInput: NativeTensor;
  positions: NativeTensor;
  weights: NativeTensor;
  original: NativeTensor;
  sampled?: NativeTensor;
  fakeInput?: NativeTensor;
  labels?: NativeTensor;
  generatorLogits: NativeTensor;
  discriminatorLogits?: NativeTensor;
  mlmLoss: number;
  rtdLoss: number;
  loss: number;
}

export interface NativeTrainer {
  step(batches: NativeBatch[]): Promise<NativeStepMetrics>;
  evaluate(batch: NativeBatch): Promise<NativeStepMetrics>;
  detect(batch: NativeBatch): Promise<NativeTensor>;
  inspect(batch: NativeBatch): Promise<NativeInspection>;
  optimizerInfo(): { name: string; decay: boolean }[];
  getState(which: 'discriminator' | 'generator' | 'optimizer'): Promise<NamedTensor[]>;
  loadState(which: 'discriminator' | 'generator' | 'optimizer', values: NamedTensor[]): Promise<void>;
  attachProcessGroup(group: NativeProcessGroup): Promise<void>;
  getRng(which?: 'cpu' | 'device'): NativeTensor;
  setRng(state: NativeTensor, which?: 'cpu' | 'device'): void;
  setStep(step: number): void;
  dispose(): void;
  readonly busy: boolean;
  readonly steps: number;
}

/**
 * Hooks for tests, the GPU check and the kernel benchmark (native/src/binding/test_binding.cc);
 * not part of the public API.
 */
export interface NativeTestHooks {
  /** Throws a coded error: 'torch' a libtorch error (ERR_TORCH), 'electra' our own (ERR_INPUT). */
  raise(kind: 'torch' | 'electra'): void;
  /** Words [first, first + n) of a CPU random draw under `seed`. */
  philox(seed: bigint, first: number, n: number): Uint32Array;
  /** CPU training dropout of x and the gradient of y.sum() with respect to x. */
  dropout(x: Float32Array, p: number): { y: Float32Array; grad: Float32Array };
  /** The evaluation's ROC AUC and R-precision of scores for 0/1 labels. */
  auc(scores: Float64Array, labels: Uint8Array): { auc: number; rprec: number };
  /** One custom kernel against the exact result and ATen's on the same random input (iters: timings too). */
  customKernels(
    op: 'colsum' | 'layernorm' | 'gumbel' | 'addln',
    dtype: 'float32' | 'bfloat16' | 'bf16f32',
    rows: number,
    cols: number,
    device?: string,
    seed?: number,
    iters?: number,
  ): { ours: Float32Array; ref: Float32Array; aten: Float32Array; status: string; oursMs?: number; atenMs?: number };
  /** NVRTC compilation of the custom kernels for `arch` (CUDA builds; no GPU needed). */
  compileCustomKernels(arch?: string): { error: string; bytes: number };
  /** The test-only settings (src/runtime.ts applies ELECTRA_TEST_CPU_AUTOCAST / ELECTRA_TEST_CPU_KERNELS). */
  configure(s?: { cpuAutocast?: boolean; cpuKernels?: boolean }): { cpuAutocast: boolean; cpuKernels: boolean };
}

export interface NativeAddon {
  runtime(): NativeRuntime;
  setNumThreads(n: number): void;
  matmul(a: NativeTensor, b: NativeTensor, device?: string): Promise<NativeTensor>;
  /** Sets the given process settings; returns those in force. */
  configure(s?: Partial<NativeSettings>): NativeSettings;
  cudaMemory(device?: number): { allocated: number; reserved: number; peakAllocated: number } | null;
  cudaRelease(): void;
  releaseCpuCache(): number;
  /** Kineto profile of the executor's work between the two calls, summed by name (bench --profile). */
  profileStart(opts?: { shapes?: boolean }): Promise<void>;
  profileStop(): Promise<{ device: 'cuda' | 'cpu'; totalMs: number; entries: { name: string; ms: number; count: number }[] }>;
  createModel(opts: { config: Record<string, unknown>; head: NativeHead; device?: string; seed?: number }): Promise<NativeModel>;
  createTrainer?(opts: NativeTrainerOptions): Promise<NativeTrainer>;
  createProcessGroup(opts: { rank: number; world: number; addr: string; port: number; timeoutMs: number; backend?: string; device?: number }): Promise<NativeProcessGroup>;
  /** The c10d backends of this build. */
  distributedBackends?: string[];
  /** Whether this build has c10d + Gloo (data-parallel training). */
  distributedAvailable: boolean;
  _test: NativeTestHooks;
}

/** A c10d process group (TCPStore + Gloo). */
export interface NativeProcessGroup {
  allreduceMax(x: number): Promise<number>;
  barrier(): Promise<void>;
  dispose(): void;
  readonly rank: number;
  readonly world: number;
}

/** Where the package lives (works from src/ under ts-jest and from dist/). */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'scripts', 'install.cjs'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..');
}

export function addonPath(): string {
  return process.env.ELECTRA_ADDON ?? path.join(packageRoot(), 'build', 'Release', 'electra.node');
}

let cached: NativeAddon | undefined;
let onLoad: ((addon: NativeAddon) => void) | undefined;

/**
 * Sets what runs when the addon has loaded, before anything uses it: src/runtime.ts passes the
 * process settings and the environment's overrides down. Runs at once if it is loaded already.
 */
export function onAddonLoad(hook: (addon: NativeAddon) => void): void {
  onLoad = hook;
  if (cached) hook(cached);
}

/** Loads the addon once per environment; throws ERR_NATIVE with the fix when it is missing. */
export function native(): NativeAddon {
  if (cached) return cached;
  const p = addonPath();
  if (!fs.existsSync(p)) {
    if (process.env.ELECTRA_ADDON) {
      throw new ElectraError('ERR_NATIVE', `the native addon ${p} named by ELECTRA_ADDON does not exist: unset ELECTRA_ADDON to use the package's own build, or build that one`);
    }
    // Installed as a dependency, the build is npm's install script (which a policy may have
    // skipped); in a checkout of this package, its own script.
    const fix = packageRoot().split(path.sep).includes('node_modules')
      ? '`npm rebuild electra-node` in your project (if npm skipped the install script, allow it first, e.g. `npm install-scripts approve electra-node`)'
      : '`npm run build:native`';
    throw new ElectraError('ERR_NATIVE', `the native addon is not built (${p} is missing): run ${fix}; it finds or installs libtorch and builds`);
  }
  // libtorch's OpenMP (libgomp) reads its spin-wait budget when the addon loads it. All native
  // work runs on one executor thread, so its team's idle workers spin rather than sleep; libgomp's
  // default budget (300,000 spins) costs heavily when the cores are shared with other busy
  // processes, and 100,000 loses nothing measurable on idle cores. A value the user set
  // (GOMP_SPINCOUNT, OMP_WAIT_POLICY) wins.
  if (process.env.GOMP_SPINCOUNT === undefined && process.env.OMP_WAIT_POLICY === undefined) process.env.GOMP_SPINCOUNT = '100000';
  let addon: NativeAddon;
  try {
    // createRequire works in the CommonJS and the ES module build alike.
    addon = createRequire(path.join(packageRoot(), 'package.json'))(p) as NativeAddon;
  } catch (e) {
    throw new ElectraError('ERR_NATIVE', `cannot load the native addon ${p}: ${(e as Error).message}`, { cause: e });
  }
  onLoad?.(addon);
  cached = addon;
  return cached;
}

/** Build facts written by scripts/install.cjs next to the addon. */
export interface BuildInfo {
  libtorchSource: string;
  libtorchRoot: string;
  libtorchVersion: string;
  cuda: boolean;
  buildType: string;
  builtAt: string;
  buildSeconds: number;
}

export function buildInfo(): BuildInfo | undefined {
  const p = path.join(packageRoot(), 'build', 'electra-build.json');
  if (!fs.existsSync(p)) return undefined;
  return JSON.parse(fs.readFileSync(p, 'utf8')) as BuildInfo;
}
