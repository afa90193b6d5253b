/**
 * The safetensors reader/writer: round trips, compatibility with Python's `safetensors` in both
 * directions, the golden model fixtures, and every kind of malformed file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ElectraError } from '../../src/errors';
import type { NamedTensor } from '../../src/native';
import { SAFETENSORS_MAX_HEADER_BYTES, readSafetensors, writeSafetensors } from '../../src/checkpoint/safetensors';
import { headerAsWritten, headerAsWrittenIn, parseSafetensors, serializeSafetensors } from '../helpers/safetensors';
import { python, testIf } from '../prerequisites';

// The real module object: the reader's `fs` binding reads through to it, so spies see its calls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const realFs = require('node:fs') as typeof import('node:fs');

const FIXTURES = path.join(__dirname, '..', 'fixtures');
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-st-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** IEEE half bits -> number. */
function f16(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
/** bfloat16 bits -> number. */
function bf16(bits: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, bits << 16);
  return b.getFloat32(0);
}
/** number -> IEEE half bits (exact values only, enough for tests). */
function toF16(x: number): number {
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const s = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  const e = Math.floor(Math.log2(a));
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return s | ((e + 15) << 10) | m;
}
/** number -> bfloat16 bits (truncating; exact for the test values). */
function toBf16(x: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x);
  return b.getUint32(0) >>> 16;
}

/** Elements of any tensor's data as a plain array (empty when absent). */
function vals(d: ArrayLike<number | bigint> | undefined): (number | bigint)[] {
  return d ? Array.from(d) : [];
}

function expectCheckpointError(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ElectraError);
  expect((caught as ElectraError).code).toBe('ERR_CHECKPOINT');
  expect((caught as ElectraError).message).toMatch(pattern);
}

/** Builds a file by hand: a header object (serialised as given) followed by `data`. */
function handMade(header: unknown, data: Uint8Array | number = 0, pad = true): Buffer {
  let json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  if (pad && json.length % 8) json = Buffer.concat([json, Buffer.alloc(8 - (json.length % 8), 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const body = typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data);
  return Buffer.concat([prefix, json, body]);
}

/** A file whose header is exactly `json` (raw bytes, no padding) and no data. */
function rawHeader(json: Buffer): Buffer {
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json]);
}

/** The checks against Python's own safetensors and transformers (skipped, or failed under CI, without them). */
const testPySafetensors = testIf(python(['torch', 'safetensors.torch']));
const testPyTransformers = testIf(python(['torch', 'safetensors.torch', 'transformers']));

function writeTmp(name: string, bytes: Uint8Array): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, bytes);
  return f;
}

const FLOATS = [-1.5, -0.25, 0, 0.5, 3.25, 65504];
const BF_FLOATS = [-1.5, -0.25, 0, 0.5, 3.25, 65536];

function sampleTensors(): NamedTensor[] {
  return [
    { name: 'f32', dtype: 'float32', shape: [2, 3], data: Float32Array.from(FLOATS) },
    { name: 'f16', dtype: 'float16', shape: [2, 3], data: Uint16Array.from(FLOATS.map(toF16)) },
    { name: 'bf16', dtype: 'bfloat16', shape: [2, 3], data: Uint16Array.from(BF_FLOATS.map(toBf16)) },
    { name: 'i32', dtype: 'int32', shape: [4], data: Int32Array.from([-2147483648, 0, 7, 2147483647]) },
    { name: 'i64', dtype: 'int64', shape: [2, 2], data: BigInt64Array.from([-(2n ** 62n), 0n, 1n, 2n ** 40n + 3n]) },
    { name: 'u8', dtype: 'uint8', shape: [3], data: Uint8Array.from([0, 1, 255]) },
    { name: 'scalar', dtype: 'float32', shape: [], data: Float32Array.from([42]) },
    { name: 'empty', dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
    { name: 'layer.ünï.weight', dtype: 'float32', shape: [1, 2], data: Float32Array.from([1, 2]) },
  ];
}

describe('round trip', () => {
  const cases: NamedTensor[] = sampleTensors();
  test.each(cases.map((t) => [t.name, t] as const))('%s survives write + read', (_name, t) => {
    const f = path.join(tmp, `rt-${t.dtype}-${t.shape.length}.safetensors`);
    writeSafetensors(f, [t]);
    const { tensors, metadata } = readSafetensors(f);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual([t.name]);
    const got = tensors.get(t.name);
    expect(got?.dtype).toBe(t.dtype);
    expect(got?.shape).toEqual(t.shape);
    expect(got?.data.constructor).toBe(t.data.constructor);
    expect(vals(got?.data)).toEqual(vals(t.data));
  });

  test('all dtypes together, Map input, custom metadata', () => {
    const f = path.join(tmp, 'rt-all.safetensors');
    const map = new Map(sampleTensors().map((t) => [t.name, t]));
    writeSafetensors(f, map, { note: 'hello', format: 'pt' });
    const a = readSafetensors(f);
    expect(a.metadata).toEqual({ format: 'pt', note: 'hello' });
    expect([...a.tensors.keys()].sort()).toEqual([...map.keys()].sort());
    for (const [name, t] of map) {
      const got = a.tensors.get(name);
      expect(got?.shape).toEqual(t.shape);
      expect(vals(got?.data)).toEqual(vals(t.data));
    }
    const f16Bits = a.tensors.get('f16')?.data as Uint16Array;
    expect(Array.from(f16Bits, f16)).toEqual(FLOATS);
    const bfBits = a.tensors.get('bf16')?.data as Uint16Array;
    expect(Array.from(bfBits, bf16)).toEqual(BF_FLOATS);
  });

  test('the format metadata can be overridden (optimizer files)', () => {
    const f = path.join(tmp, 'rt-meta.safetensors');
    writeSafetensors(f, sampleTensors().slice(0, 1), { format: 'electra-node-adamw' });
    expect(readSafetensors(f).metadata).toEqual({ format: 'electra-node-adamw' });
  });

  test('layout follows the reference: widest dtype first, then name; header padded to 8 with spaces', () => {
    const bytes = serializeSafetensors(sampleTensors());
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = bytes.subarray(8, 8 + n).toString('utf8');
    expect(text).toMatch(/^\{"__metadata__":\{"format":"pt"\},"i64":/);
    expect(text).toMatch(/\} *$/);
    const h = headerAsWritten(bytes);
    expect(h.entries.map((e) => e.name)).toEqual(['i64', 'empty', 'f32', 'layer.ünï.weight', 'scalar', 'i32', 'bf16', 'f16', 'u8']);
    expect(h.dataStart).toBe(8 + n);
    expect(h.totalBytes).toBe(bytes.length);
  });

  test('writes atomically: no temporary file is left, an existing file is replaced whole', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
    const f = path.join(dir, 'model.safetensors');
    writeSafetensors(f, sampleTensors());
    writeSafetensors(f, sampleTensors().slice(0, 2));
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
    expect(readSafetensors(f).tensors.size).toBe(2);
  });

  test('a failed write leaves nothing behind and reports ERR_IO', () => {
    const f = path.join(tmp, 'no-such-dir', 'model.safetensors');
    let caught: unknown;
    try {
      writeSafetensors(f, sampleTensors());
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ElectraError);
    expect((caught as ElectraError).code).toBe('ERR_IO');
    expect((caught as ElectraError).message).toContain(f);
  });

  test.each([
    ['duplicate names', [sampleTensors()[0], sampleTensors()[0]], /appears twice/],
    ['shape/data mismatch', [{ name: 'x', dtype: 'float32', shape: [2, 2], data: new Float32Array(3) }], /4 elements\) but 3 values/],
    ['wrong array type', [{ name: 'x', dtype: 'float16', shape: [2], data: new Float32Array(2) }], /expected Uint16Array/],
    ['negative dimension', [{ name: 'x', dtype: 'float32', shape: [-1], data: new Float32Array(0) }], /non-negative integers/],
    ['unknown dtype', [{ name: 'x', dtype: 'float8', shape: [1], data: new Uint8Array(1) }], /unknown dtype/],
    ['__metadata__ as a name', [{ name: '__metadata__', dtype: 'uint8', shape: [1], data: new Uint8Array(1) }], /__metadata__/],
    ['empty name', [{ name: '', dtype: 'uint8', shape: [1], data: new Uint8Array(1) }], /no name/],
  ])('the writer rejects %s', (_what, tensors, pattern) => {
    const f = path.join(tmp, 'rejected.safetensors');
    expectCheckpointError(() => writeSafetensors(f, tensors as NamedTensor[]), pattern);
    expect(fs.existsSync(f)).toBe(false);
  });

  test('the writer rejects non-string metadata', () => {
    const f = path.join(tmp, 'rejected-meta.safetensors');
    expectCheckpointError(() => writeSafetensors(f, sampleTensors(), { n: 3 as unknown as string }), /metadata "n" must be a string/);
  });
});

describe('reading', () => {
  test('aligned tensors are views onto one buffer read once; the data is read exactly once', () => {
    const f = writeTmp('views.safetensors', serializeSafetensors(sampleTensors()));
    const size = fs.statSync(f).size;
    const spy = jest.spyOn(realFs, 'readSync');
    try {
      const { tensors } = readSafetensors(f);
      const lengths = spy.mock.calls.map((c) => (c as unknown[])[3] as number);
      expect(lengths.reduce((a, b) => a + b, 0)).toBe(size);
      expect(spy).toHaveBeenCalledTimes(3); // 8-byte prefix, header, data
      const buffers = new Set([...tensors.values()].filter((t) => t.data.length > 0).map((t) => t.data.buffer));
      expect(buffers.size).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });

  test('unaligned tensors are copied with the right values; copy: true copies everything', () => {
    // 3 bytes of U8 first puts the F32 tensor at offset 3 (legal, if unusual).
    const data = Buffer.alloc(3 + 8);
    data.set([9, 8, 7], 0);
    data.writeFloatLE(1.25, 3);
    data.writeFloatLE(-2, 7);
    const bytes = handMade({
      a: { dtype: 'U8', shape: [3], data_offsets: [0, 3] },
      b: { dtype: 'F32', shape: [2], data_offsets: [3, 11] },
    }, data);
    const f = writeTmp('unaligned.safetensors', bytes);
    const { tensors } = readSafetensors(f);
    expect(vals(tensors.get('a')?.data)).toEqual([9, 8, 7]);
    expect(vals(tensors.get('b')?.data)).toEqual([1.25, -2]);
    expect(tensors.get('b')?.data.buffer).not.toBe(tensors.get('a')?.data.buffer);
    const copied = readSafetensors(writeTmp('views2.safetensors', serializeSafetensors(sampleTensors())), { copy: true });
    const buffers = new Set([...copied.tensors.values()].map((t) => t.data.buffer));
    expect(buffers.size).toBe(copied.tensors.size);
  });

  test('names selects tensors and reads only their span; a missing name is an error', () => {
    const f = writeTmp('names.safetensors', serializeSafetensors(sampleTensors()));
    const spy = jest.spyOn(realFs, 'readSync');
    try {
      const { tensors } = readSafetensors(f, { names: ['u8'] });
      expect([...tensors.keys()]).toEqual(['u8']);
      expect(vals(tensors.get('u8')?.data)).toEqual([0, 1, 255]);
      const dataRead = (spy.mock.calls[2] as unknown[] | undefined)?.[3] as number;
      expect(dataRead).toBeLessThan(16);
    } finally {
      spy.mockRestore();
    }
    const pred = readSafetensors(f, { names: (n) => n.startsWith('f') });
    expect([...pred.tensors.keys()].sort()).toEqual(['f16', 'f32']);
    expectCheckpointError(() => readSafetensors(f, { names: ['u8', 'nope'] }), /has no tensor "nope"/);
  });

  test('dtypes it cannot convert are an error unless left out with names', () => {
    const bytes = handMade({
      a: { dtype: 'I8', shape: [2], data_offsets: [0, 2] },
      b: { dtype: 'U8', shape: [2], data_offsets: [2, 4] },
    }, Uint8Array.from([1, 2, 3, 4]));
    const f = writeTmp('i8.safetensors', bytes);
    expectCheckpointError(() => readSafetensors(f), /tensor "a" has dtype I8, which electra-node cannot load/);
    expect(vals(readSafetensors(f, { names: ['b'] }).tensors.get('b')?.data)).toEqual([3, 4]);
    expect(headerAsWrittenIn(f).entries.map((e) => e.dtype)).toEqual(['I8', 'U8']);
  });

  test('a metadata key named __proto__ stays an ordinary entry', () => {
    const bytes = handMade('{"__metadata__":{"__proto__":"x","format":"pt"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1);
    const { metadata } = parseSafetensors(bytes);
    expect(Object.keys(metadata)).toEqual(['__proto__', 'format']);
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
  });

  test('an empty file set (no tensors) is valid', () => {
    const f = writeTmp('none.safetensors', serializeSafetensors([]));
    const r = readSafetensors(f);
    expect(r.tensors.size).toBe(0);
    expect(r.metadata).toEqual({ format: 'pt' });
  });
});

describe('compatibility with Python safetensors', () => {
  const dir = path.join(FIXTURES, 'safetensors');

  test('reads python_all.safetensors (every readable dtype) made by make_safetensors_fixture.py', () => {
    const { metadata, tensors } = readSafetensors(path.join(dir, 'python_all.safetensors'));
    expect(metadata).toEqual({ made_by: 'make_safetensors_fixture.py' });
    const t = (n: string) => {
      const v = tensors.get(n);
      if (!v) throw new Error(`no ${n}`);
      return v;
    };
    expect(t('f32')).toMatchObject({ dtype: 'float32', shape: [2, 3], sourceDtype: 'F32' });
    expect(vals(t('f32').data)).toEqual(FLOATS);
    expect(t('f16')).toMatchObject({ dtype: 'float16', shape: [2, 3] });
    expect(Array.from(t('f16').data as Uint16Array, f16)).toEqual(FLOATS);
    expect(t('bf16')).toMatchObject({ dtype: 'bfloat16', shape: [2, 3] });
    expect(Array.from(t('bf16').data as Uint16Array, bf16)).toEqual(BF_FLOATS);
    expect(t('f64')).toMatchObject({ dtype: 'float32', shape: [3], sourceDtype: 'F64' });
    expect(vals(t('f64').data)).toEqual([Math.fround(0.1), -2.5, Math.fround(1e10)]);
    expect(t('i64').data).toBeInstanceOf(BigInt64Array);
    expect(vals(t('i64').data)).toEqual([-(2n ** 62n), 0n, 1n, 2n ** 40n + 3n]);
    expect(vals(t('i32').data)).toEqual([-2147483648, 0, 7, 2147483647]);
    expect(t('u8')).toMatchObject({ dtype: 'uint8', sourceDtype: 'U8' });
    expect(vals(t('u8').data)).toEqual([0, 1, 255]);
    expect(t('bool')).toMatchObject({ dtype: 'uint8', sourceDtype: 'BOOL', shape: [3] });
    expect(vals(t('bool').data)).toEqual([1, 0, 1]);
    expect(t('scalar')).toMatchObject({ shape: [] });
    expect(vals(t('scalar').data)).toEqual([42]);
    expect(t('empty')).toMatchObject({ shape: [0, 4] });
    expect(t('empty').data.length).toBe(0);
    expect(vals(t('layer.ünï.weight').data)).toEqual([1, 2]);
  });

  test('our writer reproduces python_writable.safetensors byte for byte', () => {
    const file = path.join(dir, 'python_writable.safetensors');
    const original = fs.readFileSync(file);
    const { tensors, metadata } = readSafetensors(file);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Buffer.compare(serializeSafetensors([...tensors.values()]), original)).toBe(0);
    expect(Buffer.compare(serializeSafetensors(sampleTensors()), original)).toBe(0);
  });

  testPySafetensors('python3 safetensors.torch.load_file reads what we write', () => {
    const f = path.join(tmp, 'for-python.safetensors');
    writeSafetensors(f, sampleTensors(), { note: 'from node' });
    const script = [
      'import json, sys, torch',
      'from safetensors.torch import load_file',
      'from safetensors import safe_open',
      'f = sys.argv[1]',
      'out = {}',
      'for k, t in load_file(f).items():',
      '    vals = [str(v) for v in t.flatten().tolist()] if not t.is_floating_point() else t.float().flatten().tolist()',
      '    out[k] = {"dtype": str(t.dtype), "shape": list(t.shape), "values": vals}',
      'with safe_open(f, "pt") as h:',
      '    meta = h.metadata()',
      'print(json.dumps({"tensors": out, "metadata": meta}))',
    ].join('\n');
    const r = spawnSync('python3', ['-c', script, f], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const got = JSON.parse(r.stdout) as { tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>; metadata: Record<string, string> };
    expect(got.metadata).toEqual({ format: 'pt', note: 'from node' });
    const torchDtype: Record<string, string> = {
      float32: 'torch.float32', float16: 'torch.float16', bfloat16: 'torch.bfloat16', int32: 'torch.int32', int64: 'torch.int64', uint8: 'torch.uint8',
    };
    expect(Object.keys(got.tensors).sort()).toEqual(sampleTensors().map((t) => t.name).sort());
    for (const t of sampleTensors()) {
      const p = got.tensors[t.name];
      expect(p?.dtype).toBe(torchDtype[t.dtype]);
      expect(p?.shape).toEqual(t.shape);
      let want: (number | string)[];
      if (t.dtype === 'float16') want = Array.from(t.data as Uint16Array, f16);
      else if (t.dtype === 'bfloat16') want = Array.from(t.data as Uint16Array, bf16);
      else if (t.dtype === 'float32') want = Array.from(t.data as Float32Array);
      else want = Array.from(t.data as ArrayLike<number | bigint>, (v) => String(v));
      expect(p?.values).toEqual(want);
    }
  });
});

describe('golden model fixtures', () => {
  const models = path.join(FIXTURES, 'models');
  const expected: Record<string, Record<string, number[]>> = {
    'disc-proj': { last_hidden_state: [3, 11, 32], discriminator_logits: [3, 11] },
    'disc-noproj': { last_hidden_state: [3, 11, 32], discriminator_logits: [3, 11] },
    gen: { last_hidden_state: [3, 11, 24], generator_logits: [3, 11, 99] },
    seqcls: { last_hidden_state: [3, 11, 32], classification_logits: [3, 3] },
    tokcls: { last_hidden_state: [3, 11, 32], token_logits: [3, 11, 4] },
    qa: { last_hidden_state: [3, 11, 32], start_logits: [3, 11], end_logits: [3, 11] },
    base: { last_hidden_state: [3, 11, 32] },
  };

  test.each(Object.keys(expected))('%s: expected.safetensors and model.safetensors read, and re-serialise byte for byte', (name) => {
    const dir = path.join(models, name);
    const exp = readSafetensors(path.join(dir, 'expected.safetensors'));
    const shapes = Object.fromEntries([...exp.tensors.values()].map((t) => [t.name, t.shape]));
    expect(shapes).toEqual({ input_ids: [3, 11], attention_mask: [3, 11], token_type_ids: [3, 11], ...expected[name] });
    for (const n of ['input_ids', 'attention_mask', 'token_type_ids']) expect(exp.tensors.get(n)?.dtype).toBe('int32');
    const mask = Array.from(exp.tensors.get('attention_mask')?.data as Int32Array);
    expect([0, 1, 2].map((b) => mask.slice(b * 11, b * 11 + 11).reduce((a, v) => a + v, 0))).toEqual([11, 7, 4]);
    expect(JSON.parse(exp.metadata.fixture ?? '{}')).toMatchObject({ model: name });

    const file = path.join(dir, 'model.safetensors');
    const weights = readSafetensors(file);
    expect(weights.metadata).toEqual({ format: 'pt' });
    const prefix = name === 'base' ? '' : 'electra.';
    expect(weights.tensors.get(`${prefix}embeddings.word_embeddings.weight`)?.shape[0]).toBe(99);
    expect(weights.tensors.has(`${prefix}embeddings_project.weight`)).toBe(name !== 'disc-noproj');
    for (const t of weights.tensors.values()) expect(t.dtype).toBe('float32');
    expect(Buffer.compare(serializeSafetensors([...weights.tensors.values()]), fs.readFileSync(file))).toBe(0);
  });

  for (const [name, cls] of [['disc-proj', 'ElectraForPreTraining'], ['gen', 'ElectraForMaskedLM']] as const) {
    testPyTransformers(`check_roundtrip.py reproduces ${name} from its own directory (within 1e-5)`, () => {
      const dir = path.join(models, name);
      const r = spawnSync('python3', [path.join(FIXTURES, 'check_roundtrip.py'), dir, cls, path.join(dir, 'expected.safetensors')], { encoding: 'utf8' });
      const lines = r.stdout.trim().split('\n');
      const result = JSON.parse(lines[lines.length - 1] ?? '{}') as { ok: boolean; max_abs_diff: Record<string, number>; missing: string[]; unexpected: string[] };
      expect(result).toMatchObject({ ok: true, missing: [], unexpected: [] });
      expect(Object.keys(result.max_abs_diff).sort()).toEqual(Object.keys(expected[name] ?? {}).sort());
      // Bit for bit on the machine that wrote the fixtures; another CPU's kernels sum in another
      // order (an AMD EPYC with AVX-512, 2026-11-28: 4.8e-7 on the hidden states). A weight loaded
      // wrongly moves these outputs by far more than 1e-5.
      for (const d of Object.values(result.max_abs_diff)) expect(d).toBeLessThan(1e-5);
      expect(r.status).toBe(0);
    });
  }
});

describe('malformed files are ERR_CHECKPOINT naming the file and the problem', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: [string, Buffer, RegExp][] = [
    ['an empty file', Buffer.alloc(0), /0 bytes, shorter than the 8-byte header length/],
    ['a 5-byte file', Buffer.from([1, 0, 0, 0, 0]), /5 bytes, shorter than the 8-byte/],
    ['a header length past the end', (() => { const b = handMade(ok, 8); b.writeBigUInt64LE(10_000n); return b; })(), /header length 10000 runs past the end of the file/],
    ['a header length of 2^64-1', (() => { const b = handMade(ok, 8); b.writeBigUInt64LE(2n ** 64n - 1n); return b; })(), /exceeds the 100000000-byte limit/],
    ['a header length just over the cap', (() => { const b = handMade(ok, 8); b.writeBigUInt64LE(BigInt(SAFETENSORS_MAX_HEADER_BYTES + 1)); return b; })(), /exceeds the 100000000-byte limit/],
    ['a header that is not UTF-8', rawHeader(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])), /the header is not valid UTF-8/],
    ['a header that is not JSON', handMade('{"a": {', 0), /not valid JSON/],
    ['a header that is a JSON array', handMade('[1, 2]', 0), /does not start with '\{'/],
    ['a header that is JSON null inside braces', handMade('{} null', 0), /not valid JSON/],
    ['an entry that is not an object', handMade({ a: 3 }, 0), /tensor "a": expected \{dtype, shape, data_offsets\}/],
    ['an unknown dtype', handMade({ a: { dtype: 'F31', shape: [2], data_offsets: [0, 8] } }, 8), /tensor "a": unknown dtype "F31"/],
    ['a missing dtype', handMade({ a: { shape: [2], data_offsets: [0, 8] } }, 8), /unknown dtype undefined/],
    ['a negative dimension', handMade({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8), /shape \[-2\] has -2, expected non-negative integers/],
    ['a fractional dimension', handMade({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, 6), /has 1.5, expected non-negative integers/],
    ['a string dimension', handMade({ a: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, 8), /expected non-negative integers/],
    ['a shape that is not an array', handMade({ a: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, 8), /shape must be an array/],
    ['shape x dtype != span', handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /shape \[3\] of F32 needs more than 8 bytes but data_offsets \[0, 8\] span 8/],
    ['span larger than shape', handMade({ a: { dtype: 'F16', shape: [2], data_offsets: [0, 8] } }, 8), /needs 4 bytes but data_offsets \[0, 8\] span 8/],
    ['a huge shape', handMade({ a: { dtype: 'F64', shape: [1e15, 1e15, 1e15], data_offsets: [0, 8] } }, 8), /needs more than 8 bytes/],
    ['offsets out of range', handMade({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /run past the data section \(8 bytes\)/],
    ['huge offsets', handMade({ a: { dtype: 'U8', shape: [2 ** 52], data_offsets: [0, 2 ** 52] } }, 8), /run past the data section/],
    ['offsets beyond 2^53', handMade('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551615]}}', 8), /must be non-negative integers/],
    ['negative offsets', handMade({ a: { dtype: 'U8', shape: [1], data_offsets: [-1, 0] } }, 1), /must be non-negative integers/],
    ['decreasing offsets', handMade({ a: { dtype: 'U8', shape: [0], data_offsets: [8, 0] } }, 8), /end before they begin/],
    ['three offsets', handMade({ a: { dtype: 'U8', shape: [8], data_offsets: [0, 8, 9] } }, 8), /data_offsets must be \[begin, end\]/],
    ['overlapping tensors', handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12), /tensor "b" at \[4, 12\] overlaps tensor "a", which ends at 8/],
    ['a hole between tensors', handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, 12), /bytes \[4, 8\) between tensor "a" and tensor "b" belong to no tensor/],
    ['a hole at the start', handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /bytes \[0, 4\) between the start of the data section and tensor "a"/],
    ['trailing bytes', handMade(ok, 12), /data section is 12 bytes but the tensors cover 8 \(4 trailing bytes/],
    ['a truncated data section', handMade(ok, 6), /run past the data section \(6 bytes\)/],
    ['non-string metadata', handMade({ __metadata__: { format: 1 }, ...ok }, 8), /__metadata__.format must be a string, got 1/],
    ['metadata that is an array', handMade({ __metadata__: ['pt'], ...ok }, 8), /__metadata__ must be an object of strings/],
  ];

  test.each(cases)('%s', (what, bytes, pattern) => {
    const f = writeTmp(`bad-${what.replace(/[^a-z0-9]+/gi, '-')}.safetensors`, bytes);
    expectCheckpointError(() => readSafetensors(f), pattern);
    expectCheckpointError(() => readSafetensors(f), new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });

  test('a missing file or a directory is ERR_CHECKPOINT naming it', () => {
    const missing = path.join(tmp, 'does-not-exist.safetensors');
    expectCheckpointError(() => readSafetensors(missing), /cannot read safetensors file .*does-not-exist\.safetensors: ENOENT/);
    expectCheckpointError(() => readSafetensors(tmp), /cannot read safetensors file/);
  });

  test('a huge declared size fails before any large allocation', () => {
    // A header that claims a 1 TB tensor in a 100-byte file: rejected from the header alone.
    const bytes = handMade({ a: { dtype: 'F32', shape: [2 ** 38], data_offsets: [0, 2 ** 40] } }, 8);
    const f = writeTmp('bad-huge.safetensors', bytes);
    const spy = jest.spyOn(global, 'ArrayBuffer');
    try {
      expectCheckpointError(() => readSafetensors(f), /run past the data section/);
      const big = (spy.mock.calls as unknown[][]).filter((c) => typeof c[0] === 'number' && c[0] > 1_000_000);
      expect(big).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });
});
