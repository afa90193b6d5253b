/** Runtime facts for `runtime()` and `electra doctor`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { callNative, mapNative } from './errors';
import { buildInfo, native, packageRoot, type NativeRuntime, type NativeTensor } from './native';

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
