/* The Electra model API: shapes, bad input, busy/disposed, and weight-file problems. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { readSafetensors, writeSafetensors } from '../../src/checkpoint/safetensors';
import type { NamedTensor } from '../../src/native';

const FIX = path.join(__dirname, '..', 'fixtures', 'models');
const CFG = { vocab_size: 50, embedding_size: 16, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 48, max_position_embeddings: 20 };

function batch(B: number, T: number, fill = 7) {
  return { inputIds: new Int32Array(B * T).fill(fill), shape: [B, T] as [number, number] };
}

function copyFixture(name: string, dir: string): string {
  const out = path.join(dir, name);
  fs.mkdirSync(out);
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIX, name, f), path.join(out, f));
  return out;
}

function toF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >> 16) & 0x8000, exp = ((u >> 23) & 0xff) - 127 + 15, mant = u & 0x7fffff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | Math.round(mant / 8192);
}

describe('Electra model API', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-model-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('create + forward: output shapes per head; hidden on request', async () => {
    for (const [head, key, shape] of [
      ['discriminator', 'discriminator', [2, 5]],
      ['generator', 'generator', [2, 5, 50]],
      ['sequence-classification', 'classification', [2, 2]],
      ['token-classification', 'tokens', [2, 5, 2]],
      ['question-answering', 'start', [2, 5]],
      ['none', 'hidden', [2, 5, 32]],
    ] as const) {
      const m = await Electra.create(CFG, { head, seed: 1 });
      const r = await m.forward(batch(2, 5), { hidden: true });
      expect((r[key] as { shape: number[] }).shape).toEqual([...shape]);
      expect(r.hidden!.shape).toEqual([2, 5, 32]);
      m.dispose();
    }
  });

  test('bad input is ERR_INPUT before any kernel runs', async () => {
    using m = await Electra.create(CFG, { head: 'discriminator' });
    const bad = batch(1, 4);
    bad.inputIds[2] = 50;
    await expect(m.forward(bad)).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('inputIds[2] = 50') });
    await expect(m.forward({ inputIds: new Int32Array([1, 2, -1]), shape: [1, 3] })).rejects.toMatchObject({ code: 'ERR_INPUT' });
    await expect(m.forward({ inputIds: new Int32Array(6), shape: [2, 2] })).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('6 elements') });
    await expect(m.forward({ inputIds: new Int32Array(4), attentionMask: new Int32Array(3), shape: [2, 2] })).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('attentionMask') });
    await expect(m.forward(batch(1, 21))).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('max_position_embeddings') });
    await expect(m.forward({ inputIds: new Int32Array(4), tokenTypeIds: new Int32Array([0, 2, 0, 0]), shape: [1, 4] })).rejects.toMatchObject({ code: 'ERR_INPUT' });
    await expect(m.forward({ inputIds: new Int32Array(4), attentionMask: new Int32Array([1, 1, 2, 0]), shape: [1, 4] })).rejects.toMatchObject({
      code: 'ERR_INPUT',
      message: expect.stringContaining('attentionMask[2] = 2'),
    });
    await expect(m.forward({ inputIds: [1, 2] as unknown as Int32Array, shape: [1, 2] })).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('Int32Array') });
  });

  test('calls queue behind the one in flight (no ERR_BUSY); dispose is repeatable and later calls are ERR_DISPOSED', async () => {
    const m = await Electra.create({ ...CFG, num_hidden_layers: 4, hidden_size: 256, num_attention_heads: 4, intermediate_size: 1024, max_position_embeddings: 512 });
    const big = batch(16, 256);
    const first = m.forward(big);
    const second = m.forward(batch(1, 2));
    const state = m.state();
    expect((await second).discriminator!.shape).toEqual([1, 2]);
    expect((await first).discriminator!.shape).toEqual([16, 256]);
    expect((await state).length).toBeGreaterThan(0);
    // Disposing while a call runs waits for it; what was still queued is ERR_DISPOSED.
    const third = m.forward(big);
    const fourth = expect(m.forward(batch(1, 2))).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    m.dispose();
    expect((await third).discriminator!.shape).toEqual([16, 256]);
    await fourth;
    m.dispose();
    await expect(m.forward(batch(1, 2))).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    const n = await Electra.create(CFG);
    n[Symbol.dispose]();
    expect(() => n.parameters()).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  });

  test('missing, unexpected and mis-shaped weights are one ERR_CHECKPOINT listing them', async () => {
    const dir = copyFixture('disc-proj', tmp);
    const file = path.join(dir, 'model.safetensors');
    const { tensors } = readSafetensors(file, { copy: true });
    const list: NamedTensor[] = [...tensors.entries()].map(([name, t]) => ({ ...t, name }));
    const broken = list.filter((t) => !t.name.endsWith('encoder.layer.1.output.dense.bias'));
    broken.push({ name: 'electra.encoder.layer.9.output.dense.bias', dtype: 'float32', shape: [2], data: new Float32Array(2) });
    const q = broken.find((t) => t.name === 'electra.encoder.layer.0.attention.self.query.weight')!;
    q.shape = [16, 64];
    writeSafetensors(file, broken);
    const e = await Electra.load(dir).catch((x: unknown) => x as { code: string; message: string });
    expect(e).toMatchObject({ code: 'ERR_CHECKPOINT' });
    expect((e as { message: string }).message).toMatch(/missing 1 weight\(s\): electra\.encoder\.layer\.1\.output\.dense\.bias/);
    expect((e as { message: string }).message).toMatch(/unexpected 1 weight\(s\): electra\.encoder\.layer\.9\.output\.dense\.bias/);
    expect((e as { message: string }).message).toMatch(/query\.weight is \[16, 64\], expected \[32, 32\]/);
  });

  test('a config.json of another model type, or another ELECTRA architecture, is a clear error', async () => {
    const dir = copyFixture('disc-noproj', tmp);
    const cfgFile = path.join(dir, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, model_type: 'bert' }));
    await expect(Electra.load(dir)).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('"bert"') });
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, architectures: ['ElectraForMultipleChoice'] }));
    await expect(Electra.load(dir)).rejects.toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringContaining('ElectraForMultipleChoice') });
    fs.writeFileSync(cfgFile, '{"model_type": "electra", "hidden_size": 30, "num_attention_heads": 4}');
    await expect(Electra.load(dir)).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('hidden_size') });
    fs.writeFileSync(cfgFile, '{not json');
    await expect(Electra.load(dir)).rejects.toMatchObject({ code: 'ERR_CONFIG' });
    await expect(Electra.load(path.join(tmp, 'nope'))).rejects.toMatchObject({ code: 'ERR_CHECKPOINT' });
  });

  test('float16 weights load (converted to float32) and give close outputs', async () => {
    const d2 = copyFixture('disc-noproj', fs.mkdtempSync(path.join(tmp, 'f16-')));
    const file = path.join(d2, 'model.safetensors');
    const { tensors } = readSafetensors(file, { copy: true });
    const half: NamedTensor[] = [...tensors.entries()].map(([name, t]) => ({ name, dtype: 'float16', shape: t.shape, data: Uint16Array.from(t.data as Float32Array, toF16) }));
    writeSafetensors(file, half);
    const a = await Electra.load(path.join(FIX, 'disc-noproj'));
    const b = await Electra.load(d2);
    const x = { inputIds: Int32Array.from([2, 10, 20, 30, 3]), shape: [1, 5] as [number, number] };
    const ra = (await a.forward(x)).discriminator!.data, rb = (await b.forward(x)).discriminator!.data;
    for (let i = 0; i < ra.length; i++) expect(Math.abs(ra[i]! - rb[i]!)).toBeLessThan(2e-2);
    a.dispose();
    b.dispose();
  });
});
