/* The addon loads, reports its runtime, computes, and maps errors to coded ElectraErrors. */
import { ElectraError } from '../../src/errors';
import { matmul, runtime, setNumThreads } from '../../src/runtime';
import { addonPath, native } from '../../src/native';
import { prerequisite, testIf } from '../prerequisites';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

function jsMatmul(a: Float32Array, m: number, k: number, b: Float32Array, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let x = 0; x < k; x++) s += a[i * k + x]! * b[x * n + j]!;
    out[i * n + j] = s;
  }
  return out;
}

describe('native addon', () => {
  test('runtime() describes the build', () => {
    const r = runtime();
    expect(r.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.libtorchVersion).toMatch(/^2\.(\d+)\.\d+/);
    expect(Number(r.libtorchVersion.split('.')[1])).toBeGreaterThanOrEqual(4);
    expect(fs.statSync(r.libtorchPath ?? '').isDirectory()).toBe(true); // where the build found libtorch
    expect(r.buildFlags).toMatch(/^(cpu|cuda)/);
    expect(r.threads).toBeGreaterThanOrEqual(1);
    expect(r.cudaAvailable).toBe(r.deviceCount > 0);
    expect(r.deviceNames).toHaveLength(r.cudaBuild ? r.deviceCount : 0);
    expect(r.executor).toBe(process.env.ELECTRA_EXECUTOR !== '0');
  });

  test('ELECTRA_EXECUTOR=0 runs native work on the worker pool, with the same results', async () => {
    // The same product here (one executor thread) and in a child process without it.
    const code = `const E = require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist', 'index.cjs'))});
      E.setNumThreads(1);
      const a = Float32Array.from({ length: 64 * 48 }, (_, i) => Math.sin(i));
      E.matmul(a, [64, 48], a, [48, 64]).then((r) => console.log(JSON.stringify({ executor: E.runtime().executor, data: Array.from(r.data) })));`;
    const child = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, ELECTRA_EXECUTOR: '0' }, timeout: 60_000 });
    expect(child.stderr).toBe('');
    const out = JSON.parse(child.stdout) as { executor: boolean; data: number[] };
    expect(out.executor).toBe(false);
    const before = runtime().threads;
    setNumThreads(1);
    const a = Float32Array.from({ length: 64 * 48 }, (_, i) => Math.sin(i));
    const here = await matmul(a, [64, 48], a, [48, 64]);
    setNumThreads(before);
    expect(Array.from(here.data)).toEqual(out.data);
  });

  test('matmul matches a JS reference', async () => {
    const m = 7, k = 13, n = 5;
    let s = 1;
    const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const a = Float32Array.from({ length: m * k }, rnd);
    const b = Float32Array.from({ length: k * n }, rnd);
    const r = await matmul(a, [m, k], b, [k, n]);
    expect(r.shape).toEqual([m, n]);
    const ref = jsMatmul(a, m, k, b, n);
    for (let i = 0; i < ref.length; i++) expect(r.data[i]).toBeCloseTo(ref[i]!, 5);
  });

  test('matmul runs off the event loop: timers fire while a large product runs', async () => {
    const N = 700;
    const a = new Float32Array(N * N).fill(1);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const work = Promise.all(Array.from({ length: 6 }, () => matmul(a, [N, N], a, [N, N])));
    await work;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  test('shape errors are ElectraError ERR_INPUT naming the shapes', async () => {
    await expect(matmul(new Float32Array(6), [2, 3], new Float32Array(6), [2, 3])).rejects.toMatchObject({
      name: 'ElectraError',
      code: 'ERR_INPUT',
      message: expect.stringContaining('(2, 3)'),
    });
    await expect(matmul(new Float32Array(5), [2, 3], new Float32Array(3), [3, 1])).rejects.toMatchObject({ code: 'ERR_INPUT' });
  });

  test('libtorch errors cross the boundary as ERR_TORCH; our own keep their code', () => {
    expect(() => native()._test.raise('torch')).toThrow(expect.objectContaining({ code: 'ERR_TORCH' }));
    expect(() => native()._test.raise('electra')).toThrow(expect.objectContaining({ code: 'ERR_INPUT' }));
  });

  test('a bad device is ERR_DEVICE', async () => {
    const e = await matmul(new Float32Array(1), [1, 1], new Float32Array(1), [1, 1], 'tpu').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ElectraError);
    expect((e as ElectraError).code).toBe('ERR_DEVICE');
    if (!runtime().cudaAvailable) {
      await expect(matmul(new Float32Array(1), [1, 1], new Float32Array(1), [1, 1], 'cuda')).rejects.toMatchObject({ code: 'ERR_DEVICE' });
    }
  });

  test('without the executor thread (ELECTRA_EXECUTOR=0) profileStart refuses with ERR_CONFIG', () => {
    const code = `require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist', 'index.cjs'))}).runtime();
      try { require(${JSON.stringify(addonPath())}).profileStart(); console.log('{"started":true}'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const child = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, ELECTRA_EXECUTOR: '0' }, timeout: 60_000 });
    expect({ status: child.status, stderr: child.stderr }).toEqual({ status: 0, stderr: '' });
    expect(JSON.parse(child.stdout)).toEqual({ code: 'ERR_CONFIG', message: expect.stringMatching(/records the executor thread/) });
  });

  // The profiler records the executor thread only.
  const testProfiled = testIf(prerequisite('the executor thread', runtime().executor ? undefined : 'ELECTRA_EXECUTOR=0 turns it off'));

  testProfiled('profileStart/profileStop sum the operators run in between (bench --profile)', async () => {
    const n = native();
    expect(() => n.profileStop()).toThrow(expect.objectContaining({ code: 'ERR_INPUT' }));
    const starting = n.profileStart();
    // Until the start has finished neither a second start nor a stop is taken.
    expect(() => n.profileStop()).toThrow(/still starting/);
    await starting;
    expect(() => n.profileStart()).toThrow(/already being recorded/);
    const a = Float32Array.from({ length: 32 * 32 }, (_, i) => Math.cos(i));
    for (let i = 0; i < 3; i++) await matmul(a, [32, 32], a, [32, 32]);
    const stopping = n.profileStop();
    expect(() => n.profileStart()).toThrow(/still being stopped/);
    const p = await stopping;
    expect(p.device).toBe('cpu');
    const mm = p.entries.find((e) => e.name === 'aten::mm');
    expect(mm?.count).toBe(3);
    expect(mm!.ms).toBeGreaterThan(0);
    expect(p.totalMs).toBeGreaterThanOrEqual(mm!.ms);
    // Sorted, largest first; a second profile starts empty.
    expect(p.entries.map((e) => e.ms)).toEqual([...p.entries.map((e) => e.ms)].sort((x, y) => y - x));
    await n.profileStart();
    expect((await n.profileStop()).entries.find((e) => e.name === 'aten::mm')).toBeUndefined();
  });

  test('setNumThreads validates and applies', () => {
    const before = runtime().threads;
    setNumThreads(1);
    expect(runtime().threads).toBe(1);
    setNumThreads(before);
    expect(() => setNumThreads(0)).toThrow(expect.objectContaining({ code: 'ERR_INPUT' }));
  });
});
