/*
 * The switches (docs/switches.md): the process settings through configure(), the environment's
 * overrides (read in src/runtime.ts only), a trainer's kernel choices, and the test-only switches.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../../src/config';
import { addonPath, native, type NativeBatch } from '../../src/native';
import { configure, kernelOverrides } from '../../src/runtime';
import { Pretrainer } from '../../src/train/pretrainer';

const DIST = path.join(__dirname, '..', '..', 'dist', 'index.cjs');

/** Runs `code` (with E: the built package, addon(): the raw addon, loaded through E) in a child; its JSON line. */
function child(code: string, env: Record<string, string>): unknown {
  const script = `const E = require(${JSON.stringify(DIST)}); const addon = () => { E.runtime(); return require(${JSON.stringify(addonPath())}); };
    try { ${code} } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(r.stdout);
}

describe('process settings: configure()', () => {
  test('returns the settings in force; a change holds until the next', () => {
    const before = configure();
    expect(Object.keys(before).sort()).toEqual(['cpuCache', 'customKernels', 'executor', 'parallelRng', 'sdpaCudnn']);
    try {
      expect(configure({ parallelRng: !before.parallelRng }).parallelRng).toBe(!before.parallelRng);
      expect(configure()).toEqual({ ...before, parallelRng: !before.parallelRng });
    } finally {
      configure({ parallelRng: before.parallelRng });
    }
    expect(configure()).toEqual(before);
  });

  test('unknown settings and non-booleans are ERR_CONFIG naming them (here and in the addon)', () => {
    expect(() => configure({ executr: true } as never)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining("unknown setting 'executr'") }));
    expect(() => configure({ cpuCache: 'no' } as never)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining('cpuCache must be true or false') }));
    expect(() => native().configure({ sdpaCudnn: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining('sdpaCudnn must be true or false') }));
  });

  test('an environment override wins over configure()', () => {
    const before = configure();
    process.env.ELECTRA_PARALLEL_RNG = '0';
    try {
      expect(configure({ parallelRng: true }).parallelRng).toBe(false);
    } finally {
      delete process.env.ELECTRA_PARALLEL_RNG;
      configure({ parallelRng: before.parallelRng });
    }
  });

  test('the environment applies when the addon loads; a value that is not 0 or 1 is ERR_CONFIG then', () => {
    const r = child('console.log(JSON.stringify(addon().configure()));', { ELECTRA_PARALLEL_RNG: '0', ELECTRA_CPU_CACHE: 'off', ELECTRA_SDPA_CUDNN: '' });
    expect(r).toEqual({ executor: true, cpuCache: false, parallelRng: false, sdpaCudnn: true, customKernels: true });
    expect(child('E.runtime(); console.log("{}");', { ELECTRA_EXECUTOR: 'maybe' })).toEqual({
      code: 'ERR_CONFIG',
      message: "ELECTRA_EXECUTOR must be 0 or 1 (got 'maybe')",
    });
  });

  test("the test-only switches are no settings of configure(): the addon's test hooks hold them", () => {
    const r = child('const a = addon(); console.log(JSON.stringify({ test: a._test.configure(), settings: Object.keys(a.configure()) }));', { ELECTRA_TEST_CPU_KERNELS: '1' });
    expect(r).toEqual({ test: { cpuAutocast: false, cpuKernels: true }, settings: ['executor', 'cpuCache', 'parallelRng', 'sdpaCudnn', 'customKernels'] });
  });
});

describe("a trainer's kernel choices", () => {
  test('kernelOverrides reads ELECTRA_CUDA_GRAPH, ELECTRA_CUSTOM_KERNELS and ELECTRA_FUSED_ADAMW', () => {
    expect(kernelOverrides({})).toEqual({});
    expect(kernelOverrides({ ELECTRA_CUDA_GRAPH: '0', ELECTRA_CUSTOM_KERNELS: 'on', ELECTRA_FUSED_ADAMW: 'false' })).toEqual({ cudaGraph: false, customKernels: true, fusedAdamW: false });
    expect(() => kernelOverrides({ ELECTRA_FUSED_ADAMW: 'yes' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining('ELECTRA_FUSED_ADAMW') }));
  });

  const SP = { pad: 0, cls: 1, sep: 2, mask: 3 };
  // Hidden size 64: a width the fused residual add + LayerNorm takes.
  const disc = parseConfig({ vocab_size: 60, embedding_size: 16, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 128, max_position_embeddings: 64 });
  const T = 24, B = 4;
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? SP.cls : i % T === T - 1 ? SP.sep : 5 + ((i * 7) % 50)));
  const batch: NativeBatch = { inputIds: ids, tokenTypeIds: new Int32Array(B * T), attentionMask: new Int32Array(B * T).fill(1), shape: [B, T] };

  test('an unknown choice or a non-boolean is ERR_CONFIG naming it', async () => {
    await expect(Pretrainer.create({ discriminator: disc, special: SP, kernels: { cudaGrap: true } as never })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('kernels') });
    await expect(Pretrainer.create({ discriminator: disc, special: SP, kernels: { fusedAdamW: 1 } as never })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('kernels.fusedAdamW') });
  });

  test("kernels.customKernels wins over the process setting for that trainer's steps; unset, the process setting holds; not saved", async () => {
    const before = configure();
    // The kernels' CPU emulation (the test-only switch), so that the choice changes what runs on the CPU.
    native()._test.configure({ cpuKernels: true });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-kernels-'));
    // Whether a step ran the custom kernels, from its operators: with them each LayerNorm is their
    // function around at::native_layer_norm (or the fused add + LayerNorm), never aten::layer_norm.
    const layerNormCalls = async (kernels: { customKernels?: boolean }, processSetting: boolean, save = false) => {
      configure({ customKernels: processSetting });
      const p = await Pretrainer.create({ discriminator: disc, generatorFraction: 0.5, special: SP, lr: 1e-3, warmupSteps: 0, totalSteps: 10, seed: 3, kernels });
      try {
        await native().profileStart();
        await p.trainStep([batch]);
        const prof = await native().profileStop();
        if (save) await p.saveCheckpoint(path.join(tmp, 'ck'));
        return prof.entries.filter((e) => e.name === 'aten::layer_norm').reduce((n, e) => n + e.count, 0);
      } finally {
        p.dispose();
      }
    };
    try {
      expect(await layerNormCalls({}, false)).toBeGreaterThan(0);
      expect(await layerNormCalls({}, true, true)).toBe(0);
      expect(await layerNormCalls({ customKernels: true }, false)).toBe(0);
      expect(await layerNormCalls({ customKernels: false }, true)).toBeGreaterThan(0);
      expect(Pretrainer.readState(path.join(tmp, 'ck')).options).not.toHaveProperty('kernels');
    } finally {
      native()._test.configure({ cpuKernels: false });
      configure(before);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
