/*
 * The custom reduction kernels (ELECTRA_CUSTOM_KERNELS=1, native/src/model/kernels.h): their one
 * source runs here through its CPU emulation (one thread at a time), against the exact sums and
 * ATen; and training with them, in child processes (the switches are read once per process).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { native } from '../../src/native';

const addon = native();

const maxAbs = (a: Float32Array) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

// Shapes: one row block and many (the launch plan puts ~128k threads to work), a partial last
// block, widths below one warp's 64 columns and above one block's 256, and Base's (16384 x 768).
const SHAPES: [number, number][] = [[7, 2], [33, 64], [1031, 96], [4096, 256], [2048, 3072], [16384, 768]];

describe('custom kernels: column sums and LayerNorm weight gradients (the CPU emulation of the CUDA source)', () => {
  for (const [op, dtype] of [['colsum', 'float32'], ['colsum', 'bfloat16'], ['layernorm', 'float32']] as const)
    test(`${op} in ${dtype} equals the exact sums to float32 rounding`, () => {
      for (const [rows, cols] of SHAPES) {
        const r = addon._test.customKernels(op, dtype, rows, cols, 'cpu', rows + cols);
        expect(r.ours).toHaveLength(op === 'colsum' ? cols : 2 * cols);
        expect(r.ref).toHaveLength(r.ours.length);
        // float32 sums of a few thousand terms of size ~1-10: errors of order 1e-7 of the total.
        // A row or column off by one would be off by ~1.
        expect(maxDiff(r.ours, r.ref)).toBeLessThan(2e-6 * Math.max(1, maxAbs(r.ref)) + 1e-6);
        if (dtype === 'float32') expect(maxDiff(r.ours, r.aten)).toBeLessThan(1e-5 * Math.max(1, maxAbs(r.ref)));
      }
    });

  test('Gumbel-max sampling picks the same vocabulary entries as the ATen path, at temperatures 1 and 0.7', () => {
    // One segment with idle threads (7 columns), two (5000), eight (30522, a BERT vocabulary);
    // an even seed samples at temperature 1, an odd one at 0.7. (ATen's CPU log may differ from
    // std::log in the last bit; that changes an index only when a row's top two values are that
    // close, which these draws do not have.)
    for (const [rows, cols, seed] of [[5, 7, 2], [5, 7, 3], [300, 5000, 4], [300, 5000, 5], [100, 30522, 6], [100, 30522, 7]] as const) {
      const r = addon._test.customKernels('gumbel', 'float32', rows, cols, 'cpu', seed);
      const ours = Array.from(r.ref.subarray(0, rows)), aten = Array.from(r.ref.subarray(rows));
      expect(ours).toEqual(aten);
      for (const i of ours) expect(i >= 0 && i < cols && Number.isInteger(i)).toBe(true);
      expect(maxDiff(r.ours, r.aten)).toBe(0);
    }
    expect(() => addon._test.customKernels('gumbel', 'bfloat16', 4, 4)).toThrow(/float32/);
  });

  test('residual add + LayerNorm: x = a + b as ATen stores it, y, mean and rstd to rounding, at every width and dtype pair', () => {
    for (const dtype of ['float32', 'bf16f32'] as const)
      for (const [rows, cols] of [[7, 64], [33, 128], [33, 256], [3, 512], [130, 768], [5, 1024]] as const) {
        const r = addon._test.customKernels('addln', dtype, rows, cols, 'cpu', rows + cols);
        const n = rows * cols;
        expect(r.ours).toHaveLength(2 * n + 2 * rows);
        const part = (a: Float32Array, i: number, len: number) => a.subarray(i, i + len);
        const rel = (a: Float32Array, b: Float32Array) => {
          let m = 0;
          for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
          return m;
        };
        // y (fp32) to a few ulps.
        expect(rel(part(r.ours, 0, n), part(r.ref, 0, n))).toBeLessThan(2e-6);
        expect(rel(part(r.ours, n, 2 * rows), part(r.ref, n, 2 * rows))).toBeLessThan(2e-6);
        expect(maxDiff(part(r.ours, n + 2 * rows, n), part(r.ref, n + 2 * rows, n))).toBe(0);
      }
    // A width it does not take (96 is not 32 x {2, 4, 8, 16, 24, 32}): an ElectraError from the hook.
    expect(() => addon._test.customKernels('addln', 'float32', 4, 96)).toThrow(/does not apply/);
  });

  test('a width the kernels do not take (odd) falls back to ATen, with the same result', () => {
    for (const op of ['colsum', 'layernorm'] as const) {
      const r = addon._test.customKernels(op, 'float32', 300, 769, 'cpu', 5);
      expect(r.ours).toHaveLength(op === 'colsum' ? 769 : 2 * 769);
      expect(maxDiff(r.ours, r.ref)).toBeLessThan(1e-5 * maxAbs(r.ref));
    }
  });

  test('bad arguments are ElectraErrors', () => {
    const loose = addon._test.customKernels as (op: string, dtype: string, rows: number, cols: number) => unknown;
    expect(() => loose('max', 'float32', 4, 4)).toThrow(/colsum, layernorm, gumbel or addln/);
    expect(() => loose('colsum', 'float16', 4, 4)).toThrow(/float32 or bfloat16/);
    expect(() => loose('layernorm', 'bfloat16', 4, 4)).toThrow(/float32/);
    expect(() => loose('addln', 'bfloat16', 4, 64)).toThrow(/float32 or bf16f32/);
  });
});

interface Run {
  losses: number[];
  gradNorms: number[];
  ln: Record<string, number[]>;
}

function run(env: Record<string, string>): Run {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'autocast-child.cjs')], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60000 });
  if (r.status !== 0) throw new Error(`autocast-child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Run;
}

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
const ON = { ELECTRA_CUSTOM_KERNELS: '1', ELECTRA_TEST_CPU_KERNELS: '1' };

describe('training with ELECTRA_CUSTOM_KERNELS=1 (emulated on the CPU)', () => {
  test('fp32: the same forward pass, gradients equal up to summation order, the same samples, training the same', () => {
    const plain = run({ PRECISION: 'fp32' });
    const k = run({ PRECISION: 'fp32', ...ON });
    // Hidden size 64, which the fused residual add + LayerNorm takes (32 falls back to ATen's).
    const wide = run({ PRECISION: 'fp32', AC_HIDDEN: '64' });
    const wideK = run({ PRECISION: 'fp32', AC_HIDDEN: '64', ...ON });
    expect(wideK.losses[0]).toBe(wide.losses[0]);
    for (let i = 0; i < wide.losses.length; i++) expect(Math.abs(wideK.losses[i]! - wide.losses[i]!)).toBeLessThan(1e-4 * wide.losses[i]!);
    expect(k.losses[0]).toBe(plain.losses[0]);
    expect(Math.abs(k.gradNorms[0]! - plain.gradNorms[0]!)).toBeLessThan(1e-5 * plain.gradNorms[0]!);
    for (let i = 0; i < k.losses.length; i++) expect(Math.abs(k.losses[i]! - plain.losses[i]!)).toBeLessThan(1e-4 * plain.losses[i]!);
    // With the GPU's whole-tensor sampler (ELECTRA_PARALLEL_RNG=0) the Gumbel kernel samples
    // too: the same tokens from the same draws, so the losses stay as close.
    const serial = run({ PRECISION: 'fp32', ELECTRA_PARALLEL_RNG: '0' });
    const serialK = run({ PRECISION: 'fp32', ELECTRA_PARALLEL_RNG: '0', ...ON });
    expect(serialK.losses[0]).toBe(serial.losses[0]);
    for (let i = 0; i < serial.losses.length; i++) expect(Math.abs(serialK.losses[i]! - serial.losses[i]!)).toBeLessThan(1e-4 * serial.losses[i]!);
    // The switch is off without ELECTRA_TEST_CPU_KERNELS on the CPU: bit for bit the plain run.
    expect(run({ PRECISION: 'fp32', ELECTRA_CUSTOM_KERNELS: '1' }).gradNorms).toEqual(plain.gradNorms);
  });

  test('bf16 autocast, hidden 32 and 64: the first gradient as without the kernels, training as close to fp32', () => {
    const fp32Narrow = run({ PRECISION: 'fp32' });
    const variants: Record<string, string>[] = [{}, { AC_HIDDEN: '64' }];
    for (const extra of variants) {
      const r = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1', ...ON, ...extra });
      const fp32 = extra.AC_HIDDEN ? run({ PRECISION: 'fp32', AC_HIDDEN: extra.AC_HIDDEN }) : fp32Narrow;
      // The same run without the kernels: the first gradient differs only by rounding and order.
      const base = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1', ...extra });
      expect(Math.abs(r.gradNorms[0]! - base.gradNorms[0]!)).toBeLessThan(0.01 * base.gradNorms[0]!);
      expect(Math.abs(mean(r.losses.slice(-10)) - mean(fp32.losses.slice(-10)))).toBeLessThan(0.05 * mean(fp32.losses.slice(-10)));
      // LayerNorm weights get their gradients from the kernel: every one moves from its initial 1.
      for (const w of Object.values(r.ln)) expect(mean(w.map((x) => Math.abs(x - 1)))).toBeGreaterThan(1e-3);
    }
  });
});
