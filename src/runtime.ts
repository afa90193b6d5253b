/**
 * Runtime facts for `runtime()` and `electra doctor`, and the process's settings (`configure`).
 * This file is the one place that reads the environment's switches (docs/switches.md): they
 * override the options for A/B runs, and are passed down to the addon when it loads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { callNative, ElectraError, mapNative } from './errors';
import { buildInfo, native, onAddonLoad, packageRoot, type NativeRuntime, type NativeTensor } from './native';

/** Process-wide settings: each has a default, an environment override and a reason (docs/switches.md). */
export interface RuntimeSettings {
  /** Native work runs on one executor thread (false: on Node's worker pool). Default true. */
  executor: boolean;
  /** Training steps reuse large CPU blocks through a caching allocator (false: libtorch's own). Default true. */
  cpuCache: boolean;
  /** CPU random draws come from parallel Philox streams (false: ATen's serial generator; other numbers). Default true. */
  parallelRng: boolean;
  /** cuDNN's attention kernels are among scaled_dot_product_attention's choices on CUDA. Default true. */
  sdpaCudnn: boolean;
  /** The custom CUDA kernels, wherever a trainer's `kernels.customKernels` does not choose. Default true. */
  customKernels: boolean;
}

/**
 * A trainer's kernel choices (`kernels` of the pre-training options): the same training, faster
 * or slower. Unset fields take the defaults described on each.
 */
export interface KernelOptions {
  /** CUDA: capture the whole step as a CUDA graph and replay it. Default: on for CUDA devices. */
  cudaGraph?: boolean;
  /** The custom CUDA kernels in this trainer's steps. Default: the process setting (on). */
  customKernels?: boolean;
  /** The multi-tensor fused AdamW kernel. Default: on. */
  fusedAdamW?: boolean;
}

/** The environment overrides, by option name. */
const RUNTIME_ENV: Record<keyof RuntimeSettings, string> = {
  executor: 'ELECTRA_EXECUTOR',
  cpuCache: 'ELECTRA_CPU_CACHE',
  parallelRng: 'ELECTRA_PARALLEL_RNG',
  sdpaCudnn: 'ELECTRA_SDPA_CUDNN',
  customKernels: 'ELECTRA_CUSTOM_KERNELS',
};
const KERNEL_ENV: Record<keyof KernelOptions, string> = {
  cudaGraph: 'ELECTRA_CUDA_GRAPH',
  customKernels: 'ELECTRA_CUSTOM_KERNELS',
  fusedAdamW: 'ELECTRA_FUSED_ADAMW',
};
/** Test-only switches: not user-facing, not in configure(). */
const TEST_ENV = { cpuAutocast: 'ELECTRA_TEST_CPU_AUTOCAST', cpuKernels: 'ELECTRA_TEST_CPU_KERNELS' };

/** An environment switch: 1 / true / on, 0 / false / off, or unset (empty counts as unset). */
function envFlag(name: string, env: NodeJS.ProcessEnv): boolean | undefined {
  const v = env[name]?.trim().toLowerCase();
  if (v === undefined || v === '') return undefined;
  if (v === '1' || v === 'true' || v === 'on') return true;
  if (v === '0' || v === 'false' || v === 'off') return false;
  throw new ElectraError('ERR_CONFIG', `${name} must be 0 or 1 (got '${env[name]}')`);
}

function envFlags<K extends string>(names: Record<K, string>, env: NodeJS.ProcessEnv): Partial<Record<K, boolean>> {
  const out: Partial<Record<K, boolean>> = {};
  for (const [key, name] of Object.entries(names) as [K, string][]) {
    const v = envFlag(name, env);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** The environment's overrides of a trainer's kernel choices (they win over the options). */
export function kernelOverrides(env: NodeJS.ProcessEnv = process.env): KernelOptions {
  return envFlags(KERNEL_ENV, env);
}

/**
 * Sets process-wide settings and returns those in force; `configure()` only reads them. The
 * environment's overrides (ELECTRA_EXECUTOR=0, ...) win over what is passed here. Meant for
 * start-up, before native work runs: the executor and the CPU allocator change for later work only.
 */
export function configure(settings: Partial<RuntimeSettings> = {}): RuntimeSettings {
  if (typeof settings !== 'object' || settings === null) throw new ElectraError('ERR_CONFIG', 'configure takes an object of settings');
  for (const [k, v] of Object.entries(settings)) {
    if (!(k in RUNTIME_ENV)) throw new ElectraError('ERR_CONFIG', `configure: unknown setting '${k}' (${Object.keys(RUNTIME_ENV).join(', ')})`);
    if (v !== undefined && typeof v !== 'boolean') throw new ElectraError('ERR_CONFIG', `configure: ${k} must be true or false, got ${JSON.stringify(v)}`);
  }
  return callNative(() => native().configure({ ...settings, ...envFlags(RUNTIME_ENV, process.env) }));
}

// When the addon loads: the environment's overrides of the process settings and the test-only switches.
onAddonLoad((addon) => {
  addon.configure(envFlags(RUNTIME_ENV, process.env));
  addon._test.configure(envFlags(TEST_ENV, process.env));
});

/** The addon's own facts (libtorch version, CUDA, threads, build flags) plus where it came from. */
export interface RuntimeInfo extends Omit<NativeRuntime, 'mkldnn' | 'parallelInfo'> {
  /** electra-node's version. */
  version: string;
  /** Where libtorch was found at build time (and by which rule). */
  libtorchPath: string | null;
  libtorchSource: string | null;
  nodeVersion: string;
  platform: string;
}

/** Describes the loaded addon and the libtorch behind it. */
export function runtime(): RuntimeInfo {
  const r = callNative(() => native().runtime());
  const b = buildInfo();
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return {
    version: pkg.version,
    libtorchVersion: r.libtorchVersion,
    libtorchPath: b?.libtorchRoot ?? null,
    libtorchSource: b?.libtorchSource ?? null,
    cudaBuild: r.cudaBuild,
    cudaAvailable: r.cudaAvailable,
    deviceCount: r.deviceCount,
    deviceNames: r.deviceNames,
    threads: r.threads,
    interopThreads: r.interopThreads,
    executor: r.executor,
    buildFlags: r.buildFlags,
    nodeVersion: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Sets libtorch's intra-op thread count for this process. */
export function setNumThreads(n: number): void {
  callNative(() => native().setNumThreads(n));
}

/**
 * Matrix product through libtorch, off the event loop: a (m x k) times b (k x n), row-major
 * Float32Arrays. A small end-to-end check of the native path.
 */
export async function matmul(a: Float32Array, aShape: [number, number], b: Float32Array, bShape: [number, number], device = 'cpu'): Promise<{ shape: number[]; data: Float32Array }> {
  const ta: NativeTensor = { dtype: 'float32', shape: aShape, data: a };
  const tb: NativeTensor = { dtype: 'float32', shape: bShape, data: b };
  const r = await mapNative(callNative(() => native().matmul(ta, tb, device)));
  return { shape: r.shape, data: r.data as Float32Array };
}
