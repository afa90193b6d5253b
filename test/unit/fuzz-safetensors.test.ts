/**
 * Fuzzes the safetensors reader: thousands of mutated files from a seeded PRNG must each end in
 * a result or an ElectraError with code ERR_CHECKPOINT, never any other exception.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElectraError } from '../../src/errors';
import type { NamedTensor } from '../../src/native';
import { prng } from './fuzz-helpers';
import { readSafetensors, type SafetensorsContent } from '../../src/checkpoint/safetensors';
import { parseSafetensors, serializeSafetensors } from '../helpers/safetensors';


const SEED = 0x5afe7e45;
const ITERATIONS = 12_000;
const FILE_ITERATIONS = 400;
const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
function pick<T>(xs: readonly T[]): T {
  return xs[int(xs.length)] as T;
}

const SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1, BOOL: 1, I8: 1 };

function seeds(): Buffer[] {
  const t = (name: string, dtype: NamedTensor['dtype'], shape: number[]): NamedTensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data =
      dtype === 'float32' ? Float32Array.from({ length: n }, (_, i) => i / 3 - 1)
        : dtype === 'int64' ? BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 1234567891n)
          : dtype === 'int32' ? Int32Array.from({ length: n }, (_, i) => i * 77 - 5)
            : dtype === 'uint8' ? Uint8Array.from({ length: n }, (_, i) => i)
              : Uint16Array.from({ length: n }, (_, i) => 0x3c00 + i);
    return { name, dtype, shape, data };
  };
  const fixtures = path.join(__dirname, '..', 'fixtures', 'safetensors');
  return [
    serializeSafetensors([t('w', 'float32', [3, 4]), t('b', 'float32', [4]), t('h', 'float16', [5]), t('i', 'int64', [2])]),
    serializeSafetensors([t('x', 'bfloat16', [2, 3]), t('y', 'uint8', [7]), t('z', 'int32', [3]), t('e', 'float32', [0, 2]), t('s', 'float32', [])]),
    serializeSafetensors([]),
    fs.readFileSync(path.join(fixtures, 'python_all.safetensors')),
    fs.readFileSync(path.join(fixtures, 'python_writable.safetensors')),
  ];
}

const HUGE: unknown[] = [
  -1, -0.5, 0.5, 1e300, -1e300, 2 ** 53, 2 ** 53 + 2, 2 ** 64, Number.MAX_SAFE_INTEGER, 4294967296, 4294967295,
  1e15, 'NaN', '8', null, true, [], [1], {}, 0, 1, 3, 7, 8, 100000, 1e9,
];

function splitFile(b: Buffer): { header: Record<string, unknown>; data: Buffer } {
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>, data: b.subarray(8 + n) };
}

function assemble(headerText: string | Buffer, data: Buffer, lengthDelta = 0): Buffer {
  const json = typeof headerText === 'string' ? Buffer.from(headerText, 'utf8') : headerText;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Math.max(0, json.length + lengthDelta)));
  return Buffer.concat([prefix, json, data]);
}

/** Mutates a tensor entry or the metadata at the JSON level. */
function mutateHeader(header: Record<string, unknown>): void {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = names.length ? pick(names) : 'new';
  const current = header[name];
  const entry = (typeof current === 'object' && current !== null && !Array.isArray(current) ? current : {}) as Record<string, unknown>;
  switch (int(12)) {
    case 0:
      entry.dtype = pick(['F31', '', 'f32', 'F8_E4M3', 'I8', 'U64', 'C64', 'F4', 5, null, ...Object.keys(SIZES)]);
      break;
    case 1: {
      const shape = Array.isArray(entry.shape) ? [...(entry.shape as unknown[])] : [];
      if (shape.length && rand() < 0.6) shape[int(shape.length)] = pick(HUGE);
      else if (rand() < 0.5) shape.push(pick(HUGE));
      else shape.pop();
      entry.shape = shape;
      break;
    }
    case 2:
      entry.shape = pick(HUGE);
      break;
    case 3: {
      const off = Array.isArray(entry.data_offsets) ? [...(entry.data_offsets as unknown[])] : [0, 0];
      const i = int(2);
      const v = off[i];
      off[i] = typeof v === 'number' && rand() < 0.5 ? v + pick([-8, -4, -2, -1, 1, 2, 4, 8]) : pick(HUGE);
      entry.data_offsets = off;
      break;
    }
    case 4: {
      const off = entry.data_offsets;
      entry.data_offsets = Array.isArray(off) ? [...(off as unknown[])].reverse() : pick(HUGE);
      break;
    }
    case 5:
      entry.data_offsets = pick([[0], [0, 1, 2], 'x', null, [0, '4'], [[0], [4]]]);
      break;
    case 6:
      delete entry[pick(['dtype', 'shape', 'data_offsets'])];
      break;
    case 7:
      entry.extra = pick(HUGE);
      break;
    case 8:
      delete header[name];
      return;
    case 9:
      header[`${name}_copy`] = { ...entry };
      break;
    case 10:
      header.__metadata__ = pick([null, 1, 'x', [], { a: 1 }, { a: null }, { a: 'b', format: 'pt' }, { '': '' }]);
      return;
    default:
      header[name] = pick(HUGE);
      return;
  }
  header[name] = entry;
}

function mutate(base: Buffer): Buffer {
  const b = Buffer.from(base);
  switch (int(10)) {
    case 0: {
      // byte flips anywhere
      for (let k = 1 + int(8); k > 0; k--) b[int(b.length)] = int(256);
      return b;
    }
    case 1: {
      // byte flips in the prefix + header
      const n = Math.min(b.length, 8 + Number(b.readBigUInt64LE(0) & 0xffffn));
      for (let k = 1 + int(4); k > 0; k--) b[int(Math.max(1, n))] = int(256);
      return b;
    }
    case 2:
      return b.subarray(0, int(b.length));
    case 3:
      return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(16) }, () => int(256)))]);
    case 4: {
      const v = pick([0n, 1n, 7n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 53n + 1n, 100_000_001n, BigInt(int(b.length * 2))]);
      b.writeBigUInt64LE(v, 0);
      return b;
    }
    case 5: case 6: case 7: {
      const { header, data } = splitFile(base);
      for (let k = 1 + int(3); k > 0; k--) mutateHeader(header);
      let text = JSON.stringify(header);
      if (rand() < 0.5) text += ' '.repeat(int(8));
      const dataOut = rand() < 0.8 ? data : data.subarray(0, int(data.length + 1));
      return assemble(text, dataOut, rand() < 0.9 ? 0 : pick([-1, 1, -8, 8]));
    }
    case 8: {
      // broken JSON text
      const { header, data } = splitFile(base);
      let text = JSON.stringify(header);
      const at = int(text.length + 1);
      switch (int(5)) {
        case 0: text = text.slice(0, at); break;
        case 1: text = text.slice(0, at) + pick(['{', '}', ',', '"', ':', '\\', 'NaN', '1e999', '\u0000', ']', 'null']) + text.slice(at); break;
        case 2: text = pick(['[]', 'null', '1', '"x"', '', ' {}', '{"a":1}{', '\ufeff{}', '{"__proto__":{"dtype":"F32"}}']); break;
        case 3: text = text.replace(/\d+/, pick(['1e400', '-0', '01', '0x10', '9'.repeat(40)])); break;
        default: text = text.slice(0, at) + text.slice(at + 1 + int(4));
      }
      return assemble(text, data);
    }
    default: {
      // invalid UTF-8 inside the header
      const { header, data } = splitFile(base);
      const json = Buffer.from(JSON.stringify(header), 'utf8');
      const bad = Buffer.from(pick([[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc0, 0xaf]]));
      const at = 1 + int(Math.max(1, json.length - 1));
      return assemble(Buffer.concat([json.subarray(0, at), bad, json.subarray(at)]), data);
    }
  }
}

/** What a successful parse must satisfy. */
function checkResult(r: SafetensorsContent, size: number): void {
  let bytes = 0;
  for (const t of r.tensors.values()) {
    const numel = t.shape.reduce((a, d) => a * d, 1);
    if (t.data.length !== numel) throw new Error(`tensor ${t.name}: ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
    bytes += numel * (SIZES[t.sourceDtype] ?? 1);
  }
  if (bytes > size) throw new Error(`tensors claim ${bytes} bytes from a ${size}-byte file`);
}

test(`${ITERATIONS} mutated files end in a result or ERR_CHECKPOINT (seed ${SEED.toString(16)})`, () => {
  const bases = seeds();
  const started = Date.now();
  const tally = { ok: 0, rejected: 0 };
  const reasons = new Map<string, number>();
  let slowestMs = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = mutate(pick(bases));
    const c0 = performance.now();
    try {
      const r = parseSafetensors(input, { names: rand() < 0.2 ? (n) => n.length % 2 === 0 : undefined, copy: rand() < 0.1 });
      checkResult(r, input.length);
      tally.ok++;
    } catch (e) {
      if (!(e instanceof ElectraError) || e.code !== 'ERR_CHECKPOINT') {
        throw new Error(`iteration ${i}: ${String(e)} for input ${input.toString('base64').slice(0, 400)}`);
      }
      tally.rejected++;
      const key = e.message.replace(/^.*?: /, '').replace(/[0-9]+/g, 'N').replace(/"[^"]*"/g, 'S').slice(0, 40);
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    } finally {
      slowestMs = Math.max(slowestMs, performance.now() - c0);
    }
  }
  const ms = Date.now() - started;
  expect(tally.ok + tally.rejected).toBe(ITERATIONS);
  expect(tally.ok).toBeGreaterThan(100); // harmless mutations (data bytes, padding) still parse
  expect(tally.rejected).toBeGreaterThan(ITERATIONS / 2);
  expect(reasons.size).toBeGreaterThan(15); // many distinct failure kinds were reached
  // No input makes the reader crawl. Per case, not in total: a shared, loaded machine stretches the
  // whole run's wall time, not the cost of a single pathological file.
  expect(slowestMs).toBeLessThan(2000);
  console.log(`fuzz: ${tally.ok} parsed, ${tally.rejected} rejected (${reasons.size} kinds) in ${ms} ms; slowest case ${slowestMs.toFixed(0)} ms`);
});

test(`a names filter keeps exactly the chosen tensors of a file that reads whole (${FILE_ITERATIONS} mutated files)`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-st-fuzz-'));
  try {
    const bases = seeds();
    const f = path.join(dir, 'm.safetensors');
    const tally = { ok: 0, rejected: 0, kept: 0, dropped: 0 };
    const differ: string[] = [];
    const keep = (n: string) => n.length % 2 === 0;
    for (let i = 0; i < FILE_ITERATIONS; i++) {
      const input = mutate(pick(bases));
      fs.writeFileSync(f, input);
      let whole: SafetensorsContent;
      try {
        whole = readSafetensors(f);
        checkResult(whole, input.length);
      } catch (e) {
        if (!(e instanceof ElectraError) || e.code !== 'ERR_CHECKPOINT') {
          throw new Error(`file iteration ${i}: ${String(e)} for input ${input.toString('base64').slice(0, 400)}`);
        }
        tally.rejected++;
        continue;
      }
      tally.ok++;
      // Every tensor is valid, so the filtered read must succeed and hold the same bytes.
      const some = readSafetensors(f, { names: keep });
      const want = [...whole.tensors.values()].filter((t) => keep(t.name));
      const got = [...some.tensors.values()];
      tally.kept += want.length;
      tally.dropped += whole.tensors.size - want.length;
      const same = got.length === want.length && got.every((t, k) => {
        const w = want[k]!;
        return t.name === w.name && t.dtype === w.dtype && JSON.stringify(t.shape) === JSON.stringify(w.shape) &&
          Buffer.compare(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)) === 0;
      });
      if (!same) differ.push(`iteration ${i}: kept ${got.map((t) => t.name).join(',')}, expected ${want.map((t) => t.name).join(',')}, input ${input.toString('base64').slice(0, 200)}`);
    }
    expect(differ).toEqual([]);
    expect(tally.ok).toBeGreaterThan(0);
    expect(tally.rejected).toBeGreaterThan(FILE_ITERATIONS / 2);
    expect(tally.kept).toBeGreaterThan(0); // the filter both kept and dropped tensors
    expect(tally.dropped).toBeGreaterThan(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
