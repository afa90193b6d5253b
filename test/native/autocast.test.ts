/*
 * The CUDA training path's mixed precision (bf16 autocast), run on the CPU through the test-only
 * switch ELECTRA_TEST_CPU_AUTOCAST=1. Each run is a child process (test/native/autocast-child.cjs:
 * 40 steps of a tiny pair on a learnable corpus).
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

describe('bf16 autocast training on the CPU', () => {
  let fp32: Run, bf16: Run, serial: Run;
  beforeAll(() => {
    fp32 = run({ PRECISION: 'fp32' });
    bf16 = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1' });
    // The GPU's sampler (whole-tensor Gumbel noise), not the CPU's blocks.
    serial = run({ PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1', ELECTRA_PARALLEL_RNG: '0' });
  });

  test('every run trains: finite losses and gradient norms, the loss falls by a quarter', () => {
    for (const r of [fp32, bf16, serial]) {
      expect(r.losses).toHaveLength(40);
      for (const x of [...r.losses, ...r.gradNorms]) expect(Number.isFinite(x)).toBe(true);
      expect(mean(r.losses.slice(-5))).toBeLessThan(0.75 * r.losses[0]!);
    }
  });

  test('autocast takes effect and stays close to fp32: first losses differ, within 0.2%; the last ten within 5%', () => {
    const first = maxDiff(bf16.losses.slice(0, 3), fp32.losses.slice(0, 3));
    expect(first).toBeGreaterThan(1e-4);
    expect(first).toBeLessThan(2e-3 * fp32.losses[0]!);
    expect(Math.abs(mean(bf16.losses.slice(-10)) - mean(fp32.losses.slice(-10)))).toBeLessThan(0.05 * mean(fp32.losses.slice(-10)));
  });

  test('the discriminator\'s output layer stays fp32 under autocast: its logits are not on the bf16 grid', () => {
    // A float32 is a bf16 value when its low 16 bits are zero; bf16 logits cast to fp32 all are.
    const offGrid = (xs: number[]) => {
      const bits = new Uint32Array(Float32Array.from(xs).buffer);
      return bits.filter((b) => (b & 0xffff) !== 0).length / bits.length;
    };
    for (const r of [bf16, serial]) {
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

  test('LayerNorm weights train under autocast: every one moves from its initial 1', () => {
    const names = Object.keys(bf16.ln);
    expect(names.length).toBe(5); // embeddings + 2 per layer
    for (const n of names) expect(mean(bf16.ln[n]!.map((x) => Math.abs(x - 1)))).toBeGreaterThan(1e-3);
  });
});
