/**
 * The safetensors format, read and written in TypeScript (no dependency).
 *
 * Layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {key: value}}` with offsets
 * counted from the first byte after the header, then the tensor bytes, little-endian, covering
 * the data section exactly (no holes, no overlaps, nothing after the last tensor).
 *
 * Reading validates the whole header against the real file size before it allocates anything for
 * the data, then reads the data section (or the span the selected tensors occupy) with one read
 * into one fresh buffer and hands out typed-array views onto it where the offsets are aligned,
 * copies where they are not. Writing follows the reference (Rust) implementation byte for byte:
 * tensors ordered by dtype (widest first) then name, header padded with spaces to a multiple of 8,
 * `{"format": "pt"}` metadata so Hugging Face transformers accepts the file, written atomically
 * (atomic.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { constants as bufferConstants } from 'node:buffer';
import { ElectraError } from '../errors';
import { writeFileAtomic } from './atomic';
import type { NamedTensor, NativeDtype, NativeTensor } from '../native';

/** Element types of the safetensors format that this module understands in a header. */
export type SafetensorsDtype =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'F8_E8M0'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/** Bytes per element, and the rank the reference writer sorts by (higher is laid out first). */
const DTYPES: Readonly<Record<SafetensorsDtype, { size: 1 | 2 | 4 | 8; rank: number }>> = {
  BOOL: { size: 1, rank: 0 },
  U8: { size: 1, rank: 1 },
  I8: { size: 1, rank: 2 },
  F8_E5M2: { size: 1, rank: 3 },
  F8_E4M3: { size: 1, rank: 4 },
  F8_E8M0: { size: 1, rank: 5 },
  I16: { size: 2, rank: 6 },
  U16: { size: 2, rank: 7 },
  F16: { size: 2, rank: 8 },
  BF16: { size: 2, rank: 9 },
  I32: { size: 4, rank: 10 },
  U32: { size: 4, rank: 11 },
  F32: { size: 4, rank: 12 },
  F64: { size: 8, rank: 13 },
  I64: { size: 8, rank: 14 },
  U64: { size: 8, rank: 15 },
};

/** How each readable file dtype arrives in JS. F64 is narrowed to float32; BOOL arrives as uint8. */
const READ_AS: Partial<Record<SafetensorsDtype, NativeDtype>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float32',
  I32: 'int32',
  I64: 'int64',
  U8: 'uint8',
  BOOL: 'uint8',
};

/** How each tensor dtype is stored when written. */
const WRITE_AS: Readonly<Record<NativeDtype, SafetensorsDtype>> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int32: 'I32',
  int64: 'I64',
  uint8: 'U8',
};

/** The largest header accepted, as in the reference implementation (100 MB). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** One tensor as described by the header (no data). Offsets count from the start of the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** `[begin, end)` byte offsets relative to the first byte after the header. */
  dataOffsets: [number, number];
}

/** A validated header. */
export interface SafetensorsHeader {
  /** `__metadata__` (empty when absent). */
  metadata: Record<string, string>;
  /** Every tensor, in data-offset order. */
  entries: SafetensorsEntry[];
  /** N, the JSON header's length in bytes (padding included). */
  headerBytes: number;
  /** Absolute file offset of the data section (8 + N). */
  dataStart: number;
  /** Size of the whole file (or buffer) in bytes. */
  totalBytes: number;
}

/** A tensor read from a file: a {@link NamedTensor} plus the dtype it had in the file. */
export interface SafetensorsTensor extends NamedTensor {
  /** The dtype in the file (`F64` arrives as float32, `BOOL` as uint8). */
  sourceDtype: SafetensorsDtype;
}

/** The content of a safetensors file. */
export interface SafetensorsContent {
  metadata: Record<string, string>;
  /** Tensors by name, in data-offset order. */
  tensors: Map<string, SafetensorsTensor>;
}

/** Options for {@link readSafetensors}. */
export interface ReadSafetensorsOptions {
  /**
   * Which tensors to load. A list must name tensors the file has (a missing one is an error);
   * a predicate simply selects. Unselected tensors are validated in the header but never read,
   * so their dtype may be one this module cannot convert.
   */
  names?: Iterable<string> | ((name: string) => boolean);
  /**
   * Give every tensor its own ArrayBuffer. By default aligned tensors are views onto one shared
   * buffer, which stays alive as long as any of them does.
   */
  copy?: boolean;
}

function fail(source: string, what: string, cause?: unknown): never {
  throw new ElectraError('ERR_CHECKPOINT', `invalid safetensors file ${source}: ${what}`, cause === undefined ? undefined : { cause });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isDtype(v: unknown): v is SafetensorsDtype {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, v);
}

/**
 * Validates the 8-byte prefix against the total size and returns N. Nothing is allocated before
 * N has been checked against both the cap and the real size.
 */
function headerLength(prefix: Uint8Array, totalBytes: number, source: string): number {
  if (totalBytes < 8) fail(source, `the file is ${totalBytes} bytes, shorter than the 8-byte header length`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    fail(source, `header length ${n} exceeds the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit`);
  }
  const len = Number(n);
  if (8 + len > totalBytes) fail(source, `header length ${len} runs past the end of the file (${totalBytes} bytes)`);
  if (len < 2) fail(source, `header length ${len} is too short for a JSON object`);
  return len;
}

/** Parses and validates the JSON header against the data-section size. */
function parseHeaderBytes(bytes: Uint8Array, totalBytes: number, source: string): SafetensorsHeader {
  const dataStart = 8 + bytes.length;
  const dataBytes = totalBytes - dataStart;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    fail(source, 'the header is not valid UTF-8', e);
  }
  if (!text.startsWith('{')) fail(source, `the header does not start with '{' (got ${describe(text.slice(0, 16))})`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(source, `the header is not valid JSON (${(e as Error).message})`, e);
  }
  if (!isPlainObject(json)) fail(source, 'the header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (!isPlainObject(value)) fail(source, `__metadata__ must be an object of strings, got ${describe(value)}`);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') fail(source, `__metadata__.${k} must be a string, got ${describe(v)}`);
        // defineProperty, not assignment: a key named "__proto__" must stay an ordinary entry
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(value)) fail(source, `${where}: expected {dtype, shape, data_offsets}, got ${describe(value)}`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (!isDtype(dtype)) fail(source, `${where}: unknown dtype ${describe(dtype)}`);
    if (!Array.isArray(shape)) fail(source, `${where}: shape must be an array, got ${describe(shape)}`);
    const dims: number[] = [];
    for (const d of shape as unknown[]) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        fail(source, `${where}: shape ${describe(shape)} has ${describe(d)}, expected non-negative integers`);
      }
      dims.push(d);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      fail(source, `${where}: data_offsets must be [begin, end], got ${describe(offsets)}`);
    }
    const [begin, end] = offsets as unknown[];
    for (const o of [begin, end]) {
      if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
        fail(source, `${where}: data_offsets ${describe(offsets)} must be non-negative integers`);
      }
    }
    const b = begin as number;
    const e = end as number;
    if (b > e) fail(source, `${where}: data_offsets [${b}, ${e}] end before they begin`);
    if (e > dataBytes) fail(source, `${where}: data_offsets [${b}, ${e}] run past the data section (${dataBytes} bytes)`);
    // numel * size must equal the span; stop multiplying once it exceeds the span (no overflow).
    const size = DTYPES[dtype].size;
    const span = e - b;
    let bytesNeeded: number = size;
    for (const d of dims) {
      bytesNeeded *= d;
      if (bytesNeeded > span) break;
    }
    if (dims.includes(0)) bytesNeeded = 0;
    if (bytesNeeded !== span) {
      const declared = bytesNeeded > span ? `more than ${span}` : String(bytesNeeded);
      fail(source, `${where}: shape ${describe(dims)} of ${dtype} needs ${declared} bytes but data_offsets [${b}, ${e}] span ${span}`);
    }
    entries.push({ name, dtype, shape: dims, dataOffsets: [b, e] });
  }

  entries.sort((x, y) => x.dataOffsets[0] - y.dataOffsets[0] || x.dataOffsets[1] - y.dataOffsets[1]);
  let cursor = 0;
  let previous = 'the start of the data section';
  for (const entry of entries) {
    const [b, e] = entry.dataOffsets;
    if (b < cursor) fail(source, `tensor ${JSON.stringify(entry.name)} at [${b}, ${e}] overlaps ${previous}, which ends at ${cursor}`);
    if (b > cursor) fail(source, `bytes [${cursor}, ${b}) between ${previous} and tensor ${JSON.stringify(entry.name)} belong to no tensor`);
    cursor = e;
    previous = `tensor ${JSON.stringify(entry.name)}`;
  }
  if (cursor !== dataBytes) {
    fail(source, `the data section is ${dataBytes} bytes but the tensors cover ${cursor} (${dataBytes - cursor} trailing bytes belong to no tensor)`);
  }
  return { metadata, entries, headerBytes: bytes.length, dataStart, totalBytes };
}

/** Resolves the `names` option against the header; returns the selected entries in offset order. */
function select(header: SafetensorsHeader, names: ReadSafetensorsOptions['names'], source: string): SafetensorsEntry[] {
  if (names === undefined) return header.entries;
  if (typeof names === 'function') return header.entries.filter((e) => names(e.name));
  const wanted = new Set<string>();
  for (const n of names) wanted.add(n);
  const have = new Set(header.entries.map((e) => e.name));
  const missing = [...wanted].filter((n) => !have.has(n));
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).map((n) => JSON.stringify(n)).join(', ');
    throw new ElectraError('ERR_CHECKPOINT', `safetensors file ${source} has no tensor ${shown}${missing.length > 5 ? ` (and ${missing.length - 5} more)` : ''}`);
  }
  return header.entries.filter((e) => wanted.has(e.name));
}

/** The byte span [start, end) of the data section that holds the selected tensors, start rounded down to 8. */
function spanOf(entries: SafetensorsEntry[]): [number, number] {
  let lo = Infinity;
  let hi = 0;
  for (const e of entries) {
    if (e.dataOffsets[1] === e.dataOffsets[0]) continue;
    lo = Math.min(lo, e.dataOffsets[0]);
    hi = Math.max(hi, e.dataOffsets[1]);
  }
  if (lo === Infinity) return [0, 0];
  return [lo - (lo % 8), hi];
}

function checkConvertible(entries: SafetensorsEntry[], source: string): void {
  for (const e of entries) {
    if (READ_AS[e.dtype] === undefined) {
      throw new ElectraError(
        'ERR_CHECKPOINT',
        `safetensors file ${source}: tensor ${JSON.stringify(e.name)} has dtype ${e.dtype}, which electra-node cannot load ` +
          `(supported: ${Object.keys(READ_AS).join(', ')}); leave it out with the names option`,
      );
    }
  }
}

type TypedArrayCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | Uint8ArrayConstructor;

function ctorOf(dtype: SafetensorsDtype): TypedArrayCtor {
  switch (dtype) {
    case 'F32':
      return Float32Array;
    case 'F64':
      return Float64Array;
    case 'F16':
    case 'BF16':
      return Uint16Array;
    case 'I32':
      return Int32Array;
    case 'I64':
      return BigInt64Array;
    default:
      return Uint8Array;
  }
}

/** Decodes little-endian bytes on a big-endian host (one element at a time). */
function decodeBigEndianHost(bytes: Uint8Array, dtype: SafetensorsDtype): SafetensorsTensor['data'] | Float64Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / DTYPES[dtype].size;
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    }
    case 'F64': {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    }
    case 'F16':
    case 'BF16': {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
      return out;
    }
    case 'I32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      return out;
    }
    case 'I64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getBigInt64(i * 8, true);
      return out;
    }
    default:
      return bytes.slice();
  }
}

/**
 * Builds the tensors from `data`, which holds the data section from byte `base` on. `data` must
 * start its own ArrayBuffer-relative alignment at a multiple of 8 for views to be used; views are
 * taken only where the element offset is aligned, otherwise the bytes are copied.
 */
function materialise(entries: SafetensorsEntry[], data: Uint8Array, base: number, copy: boolean): Map<string, SafetensorsTensor> {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const [b, end] = e.dataOffsets;
    const size = DTYPES[e.dtype].size;
    const count = (end - b) / size;
    const byteOffset = data.byteOffset + (b - base);
    const Ctor = ctorOf(e.dtype);
    let arr: SafetensorsTensor['data'] | Float64Array;
    if (count === 0) {
      arr = new Ctor(0);
    } else if (!LITTLE_ENDIAN) {
      arr = decodeBigEndianHost(data.subarray(b - base, end - base), e.dtype);
    } else if (!copy && byteOffset % size === 0) {
      arr = new Ctor(data.buffer as ArrayBuffer, byteOffset, count);
    } else {
      arr = new Ctor(data.slice(b - base, end - base).buffer, 0, count);
    }
    if (arr instanceof Float64Array) arr = Float32Array.from(arr);
    const dtype = READ_AS[e.dtype] as NativeDtype;
    tensors.set(e.name, { name: e.name, dtype, shape: e.shape.slice(), data: arr, sourceDtype: e.dtype });
  }
  return tensors;
}

function allocate(bytes: number, source: string): Uint8Array {
  if (bytes > bufferConstants.MAX_LENGTH) {
    throw new ElectraError('ERR_CHECKPOINT', `safetensors file ${source}: ${bytes} bytes of tensors are too many to read at once; select fewer with the names option`);
  }
  try {
    return new Uint8Array(new ArrayBuffer(bytes));
  } catch (e) {
    throw new ElectraError('ERR_OOM', `cannot allocate ${bytes} bytes to read ${source}`, { cause: e });
  }
}

function readFully(fd: number, into: Uint8Array, position: number, source: string): void {
  let done = 0;
  while (done < into.byteLength) {
    const got = fs.readSync(fd, into, done, into.byteLength - done, position + done);
    if (got === 0) fail(source, `the file ended after ${position + done} bytes while reading (did it change?)`);
    done += got;
  }
}

function ioFailure(file: string, e: unknown): ElectraError {
  if (e instanceof ElectraError) return e;
  const err = e as NodeJS.ErrnoException;
  return new ElectraError('ERR_CHECKPOINT', `cannot read safetensors file ${file}: ${err.code ?? ''}${err.code ? ' ' : ''}${err.message}`, { cause: e });
}

/**
 * Reads a safetensors file: the header (validated in full against the file size first), then the
 * data section, or just the span holding the selected tensors, with one read into one buffer.
 * Aligned tensors are views onto that buffer; unaligned ones (or all, with `copy: true`) are
 * copies. F64 arrives as float32, BOOL as uint8, I64 as a BigInt64Array, F16/BF16 as raw bits
 * in a Uint16Array. Every problem is an `ElectraError` with code `ERR_CHECKPOINT` naming the file.
 *
 * @param file path of the `.safetensors` file
 * @param opts tensor selection (`names`) and copying
 */
export function readSafetensors(file: string, opts: ReadSafetensorsOptions = {}): SafetensorsContent {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const total = fs.fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    if (total >= 8) readFully(fd, prefix, 0, file);
    const n = headerLength(prefix, total, file);
    const headerBytes = new Uint8Array(n);
    readFully(fd, headerBytes, 8, file);
    const header = parseHeaderBytes(headerBytes, total, file);
    const entries = select(header, opts.names, file);
    checkConvertible(entries, file);
    const [lo, hi] = spanOf(entries);
    const data = allocate(hi - lo, file);
    if (hi > lo) readFully(fd, data, header.dataStart + lo, file);
    return { metadata: header.metadata, tensors: materialise(entries, data, lo, opts.copy ?? false) };
  } catch (e) {
    throw ioFailure(file, e);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** What {@link writeSafetensors} accepts: named tensors, or tensors keyed by name. */
export type SafetensorsInput = readonly NamedTensor[] | ReadonlyMap<string, NativeTensor>;

interface Planned {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

const DATA_CTOR: Readonly<Record<NativeDtype, TypedArrayCtor>> = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
};

function writeFail(file: string, what: string): never {
  throw new ElectraError('ERR_CHECKPOINT', `cannot write safetensors file ${file}: ${what}`);
}

/** Little-endian bytes of a typed array (a view on little-endian hosts, a copy otherwise). */
function leBytes(data: NativeTensor['data']): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return view;
  const out = new Uint8Array(data.byteLength);
  const size = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < data.byteLength; i += size) for (let j = 0; j < size; j++) out[i + j] = view[i + size - 1 - j] as number;
  return out;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Validates the tensors and lays them out in the reference order (dtype rank descending, then name). */
function plan(tensors: SafetensorsInput, file: string): Planned[] {
  const list: [string, NativeTensor][] = Array.isArray(tensors)
    ? (tensors as readonly NamedTensor[]).map((t) => [t.name, t])
    : [...(tensors as ReadonlyMap<string, NativeTensor>).entries()];
  const seen = new Set<string>();
  const out: Planned[] = [];
  for (const [name, t] of list) {
    if (typeof name !== 'string' || name.length === 0) writeFail(file, `a tensor has no name (${describe(name)})`);
    if (name === '__metadata__') writeFail(file, 'a tensor cannot be called __metadata__');
    if (seen.has(name)) writeFail(file, `tensor ${JSON.stringify(name)} appears twice`);
    seen.add(name);
    const dtype = WRITE_AS[t.dtype];
    if (dtype === undefined) writeFail(file, `tensor ${JSON.stringify(name)} has unknown dtype ${describe(t.dtype)}`);
    const Ctor = DATA_CTOR[t.dtype];
    // Compared by tag, not instanceof: arrays from the addon or a vm context come from another realm.
    if (!ArrayBuffer.isView(t.data) || Object.prototype.toString.call(t.data) !== `[object ${Ctor.name}]`) {
      writeFail(file, `tensor ${JSON.stringify(name)} is ${t.dtype} but its data is a ${t.data?.constructor?.name ?? typeof t.data}, expected ${Ctor.name}`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      writeFail(file, `tensor ${JSON.stringify(name)} has shape ${describe(t.shape)}, expected non-negative integers`);
    }
    const numel = t.shape.reduce((a, d) => a * d, 1);
    if (numel !== t.data.length) {
      writeFail(file, `tensor ${JSON.stringify(name)} has shape ${describe(t.shape)} (${numel} elements) but ${t.data.length} values`);
    }
    out.push({ name, dtype, shape: t.shape.slice(), bytes: leBytes(t.data) });
  }
  out.sort((a, b) => DTYPES[b.dtype].rank - DTYPES[a.dtype].rank || compareUtf8(a.name, b.name));
  return out;
}

/** The 8-byte length and the space-padded JSON header for a planned layout. */
function headerFor(planned: Planned[], metadata: Record<string, string> | undefined, file: string): Uint8Array {
  const meta: Record<string, string> = { format: 'pt', ...(metadata ?? {}) };
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== 'string') writeFail(file, `metadata ${JSON.stringify(k)} must be a string, got ${describe(v)}`);
  }
  const parts: string[] = [`"__metadata__":${JSON.stringify(meta)}`];
  let offset = 0;
  for (const p of planned) {
    const end = offset + p.bytes.byteLength;
    parts.push(`${JSON.stringify(p.name)}:{"dtype":"${p.dtype}","shape":[${p.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = json.byteLength + ((8 - (json.byteLength % 8)) % 8);
  if (padded > SAFETENSORS_MAX_HEADER_BYTES) writeFail(file, `the header would be ${padded} bytes, over the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit`);
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return out;
}

/**
 * Writes tensors to a safetensors file atomically: a temporary file in the same directory is
 * written, fsynced and renamed over `file`, so readers never see a partial file. The layout
 * matches the reference implementation (tensors by dtype width, then name; header padded with
 * spaces to a multiple of 8) and the metadata carries `format: "pt"` unless told otherwise.
 * Invalid tensors fail with `ERR_CHECKPOINT`, file-system failures with `ERR_IO`.
 *
 * @param file destination path (its directory must exist)
 * @param tensors named tensors, or a map from name to tensor
 * @param metadata extra `__metadata__` entries (strings)
 */
export function writeSafetensors(file: string, tensors: SafetensorsInput, metadata?: Record<string, string>): void {
  const planned = plan(tensors, file);
  const head = headerFor(planned, metadata, file);
  writeFileAtomic(file, [head, ...planned.map((p) => p.bytes)], `safetensors file ${file}`);
}
