/*
 * The CUDA training path's mixed precision, run on the CPU (ELECTRA_TEST_CPU_AUTOCAST=1), and two
 * switches for it: bf16 LayerNorm (ELECTRA_BF16_LAYERNORM=1: the hidden stream stays bf16 under
 * autocast) and fp32 weight gradients from the GEMM (ELECTRA_FP32_WGRAD=1, model/linear.h).
 * Both switches are read once per process, so each run is a child process
 * (test/native/autocast-child.cjs: 40 steps of a tiny pair on a learnable corpus).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

interface Run {
  losses: number[];
  gradNorms: number[];
  ln: Record<string, number[]>;
  logits: number[];
  ops?: Record<string, number>;
}

function run(env: Record<string, string>): Run {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'autocast-child.cjs')], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60000 });
  if (r.status !== 0) throw new Error(`autocast-child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Run;
}

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));

describe('bf16 autocast training on the CPU, with and without bf16 LayerNorm and fp32 weight gradients', () => {
  let fp32: Run, bf16: Run, bf16ln: Run, serial: Run, wgrad: Run, both: Run;
  beforeAll(() => {
    fp32 = run({ PRECISION: 'fp32', ELECTRA_BF16_LAYERNORM: '1' }); // no autocast: the switch must not matter
    bf16 = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1' });
    bf16ln = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1', ELECTRA_BF16_LAYERNORM: '1' });
    // The GPU's sampler (whole-tensor Gumbel noise), not the CPU's blocks.
    serial = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1', ELECTRA_BF16_LAYERNORM: '1', ELECTRA_PARALLEL_RNG: '0' });
    wgrad = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1', ELECTRA_FP32_WGRAD: '1' });
    both = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1', ELECTRA_FP32_WGRAD: '1', ELECTRA_BF16_LAYERNORM: '1' });
  });

  test('every run trains: finite losses and gradient norms, the loss falls by a quarter', () => {
    for (const r of [fp32, bf16, bf16ln, serial, wgrad, both]) {
      expect(r.losses).toHaveLength(40);
      for (const x of [...r.losses, ...r.gradNorms]) expect(Number.isFinite(x)).toBe(true);
      expect(mean(r.losses.slice(-5))).toBeLessThan(0.75 * r.losses[0]!);
    }
  });

  test('the switches take effect: autocast changes the losses, and bf16 LayerNorm changes them again', () => {
    // Off autocast the LayerNorm switch is a no-op: the same as a plain fp32 run.
    const plain = run({ PRECISION: 'fp32' });
    expect(plain.losses).toEqual(fp32.losses);
    expect(maxDiff(bf16.losses.slice(0, 3), fp32.losses.slice(0, 3))).toBeGreaterThan(1e-4);
    expect(maxDiff(bf16ln.losses.slice(0, 3), bf16.losses.slice(0, 3))).toBeGreaterThan(1e-4);
  });

  test('bf16 LayerNorm stays close to fp32: first losses within 0.1%, the last ten within 5%', () => {
    const first = maxDiff(bf16ln.losses.slice(0, 3), fp32.losses.slice(0, 3));
    expect(first).toBeLessThan(1e-3 * fp32.losses[0]!);
    expect(Math.abs(mean(bf16ln.losses.slice(-10)) - mean(fp32.losses.slice(-10)))).toBeLessThan(0.05 * mean(fp32.losses.slice(-10)));
  });

  test('fp32 weight gradients: the same forward pass, gradients as close to fp32 as autocast\'s, training as close', () => {
    // The first step's loss comes before any update: the custom linear computes it bit for bit.
    expect(wgrad.losses[0]).toBe(bf16.losses[0]);
    // Its gradient differs from autocast's (unrounded weight gradients) and stays within 1% of fp32's.
    expect(wgrad.gradNorms[0]).not.toBe(bf16.gradNorms[0]);
    for (const r of [wgrad, both]) {
      expect(Math.abs(r.gradNorms[0]! - fp32.gradNorms[0]!)).toBeLessThan(0.01 * fp32.gradNorms[0]!);
      expect(Math.abs(mean(r.losses.slice(-10)) - mean(fp32.losses.slice(-10)))).toBeLessThan(0.05 * mean(fp32.losses.slice(-10)));
    }
    // Off autocast the switch does nothing.
    const plain = run({ PRECISION: 'fp32' });
    expect(run({ PRECISION: 'fp32', ELECTRA_FP32_WGRAD: '1' }).gradNorms).toEqual(plain.gradNorms);
  });

  test('the discriminator\'s output layer stays fp32 under autocast: its logits are not on the bf16 grid', () => {
    // A float32 is a bf16 value when its low 16 bits are zero; bf16 logits cast to fp32 all are.
    const offGrid = (xs: number[]) => {
      const bits = new Uint32Array(Float32Array.from(xs).buffer);
      return bits.filter((b) => (b & 0xffff) !== 0).length / bits.length;
    };
    for (const r of [bf16, bf16ln, wgrad]) {
      expect(r.logits).toHaveLength(256);
      expect(offGrid(r.logits)).toBeGreaterThan(0.9);
    }
  });

  test('backward passes run with autocast off: each backward matrix product is dispatched once, as in fp32', () => {
    // Autocast's wrapper shows in the profile as a second call of the same operator. Backward
    // inside the autocast scope sent every backward product through it (84 aten::mm calls per step
    // here against fp32's 43, 40 aten::bmm against 24).
    const f = run({ PRECISION: 'fp32', PROFILE: '1', AC_STEPS: '2' });
    const b = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1', PROFILE: '1', AC_STEPS: '2' });
    expect(f.ops!['aten::mm']).toBeGreaterThan(20);
    expect(b.ops!['aten::mm']).toBeLessThanOrEqual(f.ops!['aten::mm']!);
    expect(b.ops!['aten::bmm']).toBe(f.ops!['aten::bmm']);
  });

  test('LayerNorm weights get gradients through the bf16 cast: every one moves from its initial 1', () => {
    const names = Object.keys(bf16ln.ln);
    expect(names.length).toBe(5); // embeddings + 2 per layer
    for (const n of names) {
      const w = bf16ln.ln[n]!;
      expect(mean(w.map((x) => Math.abs(x - 1)))).toBeGreaterThan(1e-3);
    }
  });
});
