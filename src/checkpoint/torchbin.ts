/**
 * A safe reader for PyTorch `torch.save` checkpoints (`pytorch_model.bin`), written because libtorch's C++
 * unpickler cannot read them (it maps `collections.OrderedDict` to None, and the 2020 uploads may be in the
 * pre-1.6 legacy format).
 *
 * Nothing in a checkpoint is ever executed: the pickle is interpreted by a small virtual machine that knows
 * only the opcodes `torch.save` emits for a state dict and only a whitelist of globals (OrderedDict, the
 * tensor rebuild functions, the storage types and dtypes). Any other global — `os.system`, `builtins.eval`,
 * `torch.nn.Linear`, ... — is refused as soon as the pickle names it.
 *
 * Both formats of `torch.save` are read:
 *  - zip (torch >= 1.6): `<archive>/data.pkl` with storages in `<archive>/data/<key>` (stored entries only);
 *  - legacy (`_use_new_zipfile_serialization=False`, torch < 1.6): magic number, protocol version, sys_info,
 *    the main pickle, the list of storage keys, then each storage as an int64 element count and raw bytes.
 *
 * Every size read from the file is checked against the bytes that remain before it is used, so a truncated,
 * corrupt or hostile file ends in an ElectraError `ERR_CHECKPOINT` naming the file, never in another
 * exception or a giant allocation.
 */
import { constants as bufferConstants } from 'node:buffer';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import { ElectraError, toElectraError } from '../errors';
import type { NamedTensor, NativeDtype } from '../native';

// ---------------------------------------------------------------------------------------------------------
// Limits

/** Most values the memo may hold. */
const MAX_MEMO = 1 << 20;
/** Most nested MARKs (the metastack). torch.save nests 3 deep. */
const MAX_MARK_DEPTH = 1024;
/** Most values on one stack frame. */
const MAX_STACK = 1 << 22;
/** Longest module or name line of GLOBAL. */
const MAX_GLOBAL_LINE = 256;
/** Most dimensions of a tensor. */
const MAX_NDIM = 64;
/** Elements a tensor may have beyond its storage's (stride-0 broadcast views); more is treated as corrupt. */
const MAX_BROADCAST_NUMEL = 1 << 20;
/** Most entries in a zip central directory. */
const MAX_ZIP_ENTRIES = 1 << 20;

/** The magic number opening a legacy torch.save stream. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

// ---------------------------------------------------------------------------------------------------------
// Errors

class Fail {
  constructor(readonly file: string) {}
  /** Throws ERR_CHECKPOINT for a corrupt or unsupported file. */
  corrupt(what: string): never {
    throw new ElectraError('ERR_CHECKPOINT', `cannot read PyTorch checkpoint ${this.file}: ${what}`);
  }
  refuse(module: string, name: string): never {
    throw new ElectraError(
      'ERR_CHECKPOINT',
      `refusing to load ${printable(module)}.${printable(name)} from ${this.file}: only tensors are allowed`,
    );
  }
}

/** Makes text read from a file safe to put in a message. */
function printable(s: string, max = 120): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

// ---------------------------------------------------------------------------------------------------------
// Storage types and the whitelist

interface StorageKind {
  /** The whitelisted global, e.g. `torch.FloatStorage`. */
  readonly global: string;
  /** Bytes per element in the file. */
  readonly elemSize: number;
  /** What the reader returns. */
  readonly out: NativeDtype;
  /** How the bytes become the output: copied as they are, float64 narrowed to float32, bool made 0/1. */
  readonly convert: 'copy' | 'f64' | 'bool';
}

const STORAGE_KINDS = new Map<string, StorageKind>();
function kind(name: string, elemSize: number, out: NativeDtype, convert: StorageKind['convert'] = 'copy'): void {
  // CUDA storage types appear in legacy files saved from a GPU; only their type matters here.
  for (const module of ['torch', 'torch.cuda']) {
    const global = `${module}.${name}`;
    STORAGE_KINDS.set(global, { global, elemSize, out, convert });
  }
}
kind('FloatStorage', 4, 'float32');
kind('DoubleStorage', 8, 'float32', 'f64');
kind('HalfStorage', 2, 'float16');
kind('BFloat16Storage', 2, 'bfloat16');
kind('LongStorage', 8, 'int64');
kind('IntStorage', 4, 'int32');
kind('ByteStorage', 1, 'uint8');
kind('BoolStorage', 1, 'uint8', 'bool');
for (const global of ['torch.UntypedStorage', 'torch.storage.UntypedStorage']) {
  STORAGE_KINDS.set(global, { global, elemSize: 1, out: 'uint8', convert: 'copy' });
}

type Callable = 'OrderedDict' | 'rebuild_tensor_v2' | 'rebuild_tensor' | 'rebuild_parameter' | 'rebuild_parameter_with_state';
const CALLABLES = new Map<string, Callable>([
  ['collections.OrderedDict', 'OrderedDict'],
  ['torch._utils._rebuild_tensor_v2', 'rebuild_tensor_v2'],
  ['torch._utils._rebuild_tensor', 'rebuild_tensor'],
  ['torch._utils._rebuild_parameter', 'rebuild_parameter'],
  ['torch._utils._rebuild_parameter_with_state', 'rebuild_parameter_with_state'],
]);
/** dtype globals (`torch.float32` pickles as a global); they are inert values here. */
const DTYPES = new Set(
  ['float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16', 'int64', 'long', 'int32', 'int', 'uint8', 'bool'].map(
    (n) => `torch.${n}`,
  ),
);

// ---------------------------------------------------------------------------------------------------------
// Pickle values

class PTuple {
  constructor(readonly items: readonly PValue[]) {}
}
class PList {
  constructor(readonly items: PValue[]) {}
}
type DictKey = string | number | bigint | boolean | null;
class PDict {
  readonly map = new Map<DictKey, PValue>();
  constructor(readonly ordered: boolean) {}
}
class PBytes {
  constructor(readonly bytes: Uint8Array) {}
}
/** A whitelisted global. */
class PGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get full(): string {
    return `${this.module}.${this.name}`;
  }
}
/** The bytes behind one storage key. */
interface RootStorage {
  readonly key: string;
  readonly kind: StorageKind;
  /** Filled when the storage's bytes are known (at once in zip files, after the pickles in legacy ones). */
  data?: Uint8Array;
}
/** A storage as a tensor sees it: `numel` elements from element `offset` of a root storage. */
class PStorage {
  constructor(
    readonly root: RootStorage,
    readonly offset: number,
    readonly numel: number,
  ) {}
}
class PTensor {
  constructor(
    readonly storage: PStorage,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}
type PValue = null | boolean | number | bigint | string | PTuple | PList | PDict | PBytes | PGlobal | PStorage | PTensor;

function describe(v: PValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'number';
  if (typeof v === 'string') return 'str';
  if (v instanceof PTuple) return 'tuple';
  if (v instanceof PList) return 'list';
  if (v instanceof PDict) return 'dict';
  if (v instanceof PBytes) return 'bytes';
  if (v instanceof PGlobal) return v.full;
  if (v instanceof PStorage) return 'storage';
  return 'tensor';
}

// ---------------------------------------------------------------------------------------------------------
// Pickle virtual machine

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Called for BINPERSID with the persistent id; returns the object it stands for. */
type PersistentLoad = (pid: PValue) => PValue;

/**
 * Runs one pickle from `bytes[start..end)` and returns its value and where it stopped. Only inert values are
 * built; the only "calls" are the whitelisted constructors, interpreted here.
 */
function unpickle(
  bytes: Uint8Array,
  start: number,
  end: number,
  fail: Fail,
  persistentLoad: PersistentLoad | undefined,
): { value: PValue; next: number } {
  return new Unpickler(bytes, start, end, fail, persistentLoad).run();
}

/** The reading side of the virtual machine: bounds-checked little-endian reads from the pickle's bytes. */
class PickleReader {
  protected readonly view: DataView;
  protected pos: number;

  constructor(
    protected readonly bytes: Uint8Array,
    start: number,
    protected readonly end: number,
    protected readonly fail: Fail,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }

  protected need(n: number, what: string): void {
    if (n > this.end - this.pos) this.fail.corrupt(`truncated pickle (${what} needs ${n} bytes at offset ${this.pos}, ${this.end - this.pos} remain)`);
  }

  protected u8(): number {
    this.need(1, 'a byte');
    return this.bytes[this.pos++] as number;
  }

  protected u16(): number {
    this.need(2, 'a uint16');
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  protected u32(): number {
    this.need(4, 'a uint32');
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  protected i32(): number {
    this.need(4, 'an int32');
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  protected u64(): number {
    this.need(8, 'a uint64');
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  /** BINFLOAT's big-endian float64. */
  protected f64be(): number {
    this.need(8, 'a float');
    const v = this.view.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }

  protected take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  protected text(n: number): string {
    const b = this.take(n, 'a string');
    try {
      return utf8.decode(b);
    } catch {
      return this.fail.corrupt(`invalid UTF-8 in a pickled string at offset ${this.pos - n}`);
    }
  }

  /** LONG1: little-endian two's complement of n bytes; a number where it is safe, else a bigint. */
  protected long1(): number | bigint {
    const b = this.take(this.u8(), 'a long');
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
    if (b.length > 0 && ((b[b.length - 1] as number) & 0x80) !== 0) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  protected line(): string {
    const limit = Math.min(this.end, this.pos + MAX_GLOBAL_LINE + 1);
    for (let i = this.pos; i < limit; i++) {
      if (this.bytes[i] === 0x0a) {
        const s = latin1.decode(this.bytes.subarray(this.pos, i));
        this.pos = i + 1;
        return s;
      }
    }
    return this.fail.corrupt(`unterminated or overlong GLOBAL name at offset ${this.pos}`);
  }
}

/** The pickle virtual machine: the stack, the MARK metastack and the memo, and the opcodes torch.save emits. */
class Unpickler extends PickleReader {
  #stack: PValue[] = [];
  readonly #metastack: PValue[][] = [];
  readonly #memo = new Map<number, PValue>();

  constructor(
    bytes: Uint8Array,
    start: number,
    end: number,
    fail: Fail,
    private readonly persistentLoad: PersistentLoad | undefined,
  ) {
    super(bytes, start, end, fail);
  }

  run(): { value: PValue; next: number } {
    for (;;) {
      if (this.pos >= this.end) this.fail.corrupt(`truncated pickle (no STOP before offset ${this.end})`);
      const at = this.pos;
      const op = this.bytes[this.pos++] as number;
      if (op === 0x2e) return { value: this.pop(), next: this.pos }; // STOP
      if (!this.scalar(op, at) && !this.structure(op) && !this.memoOp(op) && !this.object(op, at)) {
        this.fail.corrupt(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at offset ${at}`);
      }
    }
  }

  private push(v: PValue): void {
    if (this.#stack.length >= MAX_STACK) this.fail.corrupt('pickle stack too deep');
    this.#stack.push(v);
  }

  private pop(): PValue {
    if (this.#stack.length === 0) this.fail.corrupt(`pickle stack underflow at offset ${this.pos - 1}`);
    return this.#stack.pop() as PValue;
  }

  private top(): PValue {
    if (this.#stack.length === 0) this.fail.corrupt(`pickle stack underflow at offset ${this.pos - 1}`);
    return this.#stack[this.#stack.length - 1] as PValue;
  }

  private mark(): void {
    if (this.#metastack.length >= MAX_MARK_DEPTH) this.fail.corrupt('pickle MARKs nested too deep');
    this.#metastack.push(this.#stack);
    this.#stack = [];
  }

  private popMark(): PValue[] {
    const items = this.#stack;
    const prev = this.#metastack.pop();
    if (prev === undefined) this.fail.corrupt(`pickle MARK missing at offset ${this.pos - 1}`);
    this.#stack = prev;
    return items;
  }

  private memoPut(index: number, v: PValue): void {
    if (!this.#memo.has(index) && this.#memo.size >= MAX_MEMO) this.fail.corrupt('pickle memo too large');
    this.#memo.set(index, v);
  }

  private memoGet(index: number): PValue {
    const v = this.#memo.get(index);
    if (v === undefined) this.fail.corrupt(`pickle memo key ${index} is not set (offset ${this.pos})`);
    return v;
  }

  private dictKey(k: PValue): DictKey {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
    return this.fail.corrupt(`unsupported dict key of type ${describe(k)}`);
  }

  private setItems(dict: PValue, items: PValue[]): void {
    if (!(dict instanceof PDict)) this.fail.corrupt(`SETITEM(S) on a ${describe(dict)}`);
    if (items.length % 2 !== 0) this.fail.corrupt('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) dict.map.set(this.dictKey(items[i] as PValue), items[i + 1] as PValue);
  }

  private appendItems(list: PValue, items: PValue[]): void {
    if (!(list instanceof PList)) this.fail.corrupt(`APPEND(S) on a ${describe(list)}`);
    for (const it of items) list.items.push(it);
  }

  private global(module: string, name: string): PGlobal {
    const full = `${module}.${name}`;
    if (CALLABLES.has(full) || STORAGE_KINDS.has(full) || DTYPES.has(full)) return new PGlobal(module, name);
    return this.fail.refuse(module, name);
  }

  /** Strings, bytes, numbers, booleans and None; false for other opcodes. */
  private scalar(op: number, at: number): boolean {
    switch (op) {
      case 0x58: // BINUNICODE
        this.push(this.text(this.u32()));
        return true;
      case 0x8c: // SHORT_BINUNICODE
        this.push(this.text(this.u8()));
        return true;
      case 0x8d: // BINUNICODE8
        this.push(this.text(this.u64()));
        return true;
      case 0x54: {
        // BINSTRING (Python 2 str, read as latin-1)
        const n = this.i32();
        if (n < 0) this.fail.corrupt(`negative BINSTRING length at offset ${at}`);
        this.push(latin1.decode(this.take(n, 'a string')));
        return true;
      }
      case 0x55: // SHORT_BINSTRING
        this.push(latin1.decode(this.take(this.u8(), 'a string')));
        return true;
      case 0x42: // BINBYTES
        this.push(new PBytes(this.take(this.u32(), 'bytes')));
        return true;
      case 0x43: // SHORT_BINBYTES
        this.push(new PBytes(this.take(this.u8(), 'bytes')));
        return true;
      case 0x4a: // BININT
        this.push(this.i32());
        return true;
      case 0x4b: // BININT1
        this.push(this.u8());
        return true;
      case 0x4d: // BININT2
        this.push(this.u16());
        return true;
      case 0x8a: // LONG1
        this.push(this.long1());
        return true;
      case 0x47: // BINFLOAT (big-endian)
        this.push(this.f64be());
        return true;
      case 0x88: // NEWTRUE
        this.push(true);
        return true;
      case 0x89: // NEWFALSE
        this.push(false);
        return true;
      case 0x4e: // NONE
        this.push(null);
        return true;
      default:
        return false;
    }
  }

  /** Protocol, frames, MARK, containers and the stack opcodes; false for other opcodes. */
  private structure(op: number): boolean {
    switch (op) {
      case 0x80: {
        // PROTO
        const proto = this.u8();
        if (proto < 2 || proto > 5) this.fail.corrupt(`unsupported pickle protocol ${proto}`);
        return true;
      }
      case 0x95: // FRAME: only a buffering hint; the frame must fit in what remains.
        this.need(this.u64(), 'a frame');
        return true;
      case 0x28: // MARK
        this.mark();
        return true;
      case 0x7d: // EMPTY_DICT
        this.push(new PDict(false));
        return true;
      case 0x5d: // EMPTY_LIST
        this.push(new PList([]));
        return true;
      case 0x29: // EMPTY_TUPLE
        this.push(new PTuple([]));
        return true;
      case 0x64: {
        // DICT
        const d = new PDict(false);
        this.setItems(d, this.popMark());
        this.push(d);
        return true;
      }
      case 0x6c: // LIST
        this.push(new PList(this.popMark()));
        return true;
      case 0x74: // TUPLE
        this.push(new PTuple(this.popMark()));
        return true;
      case 0x85: // TUPLE1
        this.push(new PTuple([this.pop()]));
        return true;
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const items = op === 0x86 ? [this.pop(), this.pop()] : [this.pop(), this.pop(), this.pop()];
        this.push(new PTuple(items.reverse()));
        return true;
      }
      case 0x30: // POP
        this.pop();
        return true;
      case 0x31: // POP_MARK
        this.popMark();
        return true;
      case 0x32: // DUP
        this.push(this.top());
        return true;
      default:
        return false;
    }
  }

  /** The memo opcodes; false for other opcodes. */
  private memoOp(op: number): boolean {
    switch (op) {
      case 0x71: // BINPUT
        this.memoPut(this.u8(), this.top());
        return true;
      case 0x72: // LONG_BINPUT
        this.memoPut(this.u32(), this.top());
        return true;
      case 0x94: // MEMOIZE
        this.memoPut(this.#memo.size, this.top());
        return true;
      case 0x68: // BINGET
        this.push(this.memoGet(this.u8()));
        return true;
      case 0x6a: // LONG_BINGET
        this.push(this.memoGet(this.u32()));
        return true;
      default:
        return false;
    }
  }

  /** Globals, REDUCE, BUILD, persistent ids, and filling dicts and lists; false for other opcodes. */
  private object(op: number, at: number): boolean {
    switch (op) {
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = this.line();
        const name = this.line();
        this.push(this.global(module, name));
        return true;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') this.fail.corrupt(`STACK_GLOBAL needs two strings (offset ${at})`);
        this.push(this.global(module, name));
        return true;
      }
      case 0x52: {
        // REDUCE
        const args = this.pop();
        const fn = this.pop();
        this.push(reduce(fn, args, this.fail));
        return true;
      }
      case 0x62: {
        // BUILD: only the `_metadata` of an OrderedDict state dict, which is ignored.
        this.pop();
        const obj = this.top();
        if (!(obj instanceof PDict) || !obj.ordered) this.fail.corrupt(`BUILD on a ${obj instanceof PDict ? 'plain dict' : describe(obj)} (offset ${at})`);
        return true;
      }
      case 0x51: {
        // BINPERSID
        const pid = this.pop();
        if (!this.persistentLoad) this.fail.corrupt(`unexpected persistent id at offset ${at}`);
        this.push(this.persistentLoad(pid));
        return true;
      }
      default:
        return this.fill(op);
    }
  }

  /** SETITEM(S) and APPEND(S); false for other opcodes. */
  private fill(op: number): boolean {
    switch (op) {
      case 0x73: {
        // SETITEM
        const v = this.pop();
        const k = this.pop();
        this.setItems(this.top(), [k, v]);
        return true;
      }
      case 0x75: {
        // SETITEMS
        const items = this.popMark();
        this.setItems(this.top(), items);
        return true;
      }
      case 0x61: {
        // APPEND
        const v = this.pop();
        this.appendItems(this.top(), [v]);
        return true;
      }
      case 0x65: {
        // APPENDS
        const items = this.popMark();
        this.appendItems(this.top(), items);
        return true;
      }
      default:
        return false;
    }
  }
}

function isIndex(v: PValue): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function intTuple(v: PValue, what: string, fail: Fail): number[] {
  if (!(v instanceof PTuple) && !(v instanceof PList)) fail.corrupt(`tensor ${what} is a ${describe(v)}, not a tuple`);
  if (v.items.length > MAX_NDIM) fail.corrupt(`tensor ${what} has ${v.items.length} dimensions`);
  return v.items.map((x) => {
    if (!isIndex(x)) fail.corrupt(`tensor ${what} holds ${typeof x === 'number' ? x : describe(x)}, not a non-negative integer`);
    return x;
  });
}

/** Interprets REDUCE: only the whitelisted constructors, whose results are inert values. */
function reduce(fn: PValue, args: PValue, fail: Fail): PValue {
  if (!(fn instanceof PGlobal)) return fail.corrupt(`REDUCE calls a ${describe(fn)}`);
  const what = CALLABLES.get(fn.full);
  if (what === undefined) return fail.corrupt(`REDUCE calls ${fn.full}, which is not a constructor`);
  if (!(args instanceof PTuple)) return fail.corrupt(`REDUCE of ${fn.full} with ${describe(args)} arguments`);
  const a = args.items;
  switch (what) {
    case 'OrderedDict':
      if (a.length !== 0) fail.corrupt('OrderedDict built from arguments');
      return new PDict(true);
    case 'rebuild_tensor':
    case 'rebuild_tensor_v2': {
      const n = what === 'rebuild_tensor' ? [4, 4] : [6, 7];
      if (a.length < (n[0] as number) || a.length > (n[1] as number)) fail.corrupt(`${fn.full} with ${a.length} arguments`);
      const [storage, offset, size, stride] = a;
      if (!(storage instanceof PStorage)) return fail.corrupt(`${fn.full} of a ${describe(storage ?? null)}, not a storage`);
      if (!isIndex(offset ?? null)) return fail.corrupt('tensor storage offset is not a non-negative integer');
      const sz = intTuple(size ?? null, 'size', fail);
      const st = intTuple(stride ?? null, 'stride', fail);
      if (sz.length !== st.length) fail.corrupt(`tensor size has ${sz.length} dimensions but stride ${st.length}`);
      if (what === 'rebuild_tensor_v2' && typeof a[4] !== 'boolean') fail.corrupt('tensor requires_grad is not a bool');
      return new PTensor(storage, offset as number, sz, st);
    }
    case 'rebuild_parameter':
    case 'rebuild_parameter_with_state': {
      const n = what === 'rebuild_parameter' ? 3 : 4;
      if (a.length !== n) fail.corrupt(`${fn.full} with ${a.length} arguments`);
      if (!(a[0] instanceof PTensor)) return fail.corrupt(`${fn.full} of a ${describe(a[0] ?? null)}, not a tensor`);
      return a[0];
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Persistent ids: ('storage', storage_type, key, location, numel[, view_metadata])

interface StorageId {
  kind: StorageKind;
  key: string;
  numel: number;
  view: PValue;
}

function storageId(pid: PValue, fail: Fail): StorageId {
  if (!(pid instanceof PTuple) || pid.items[0] !== 'storage') return fail.corrupt(`unsupported persistent id (${describe(pid)})`);
  const [, type, key, location, numel, view] = pid.items;
  if (pid.items.length < 5 || pid.items.length > 6) fail.corrupt(`storage id with ${pid.items.length} fields`);
  if (!(type instanceof PGlobal)) return fail.corrupt(`storage type is a ${describe(type ?? null)}`);
  const kind = STORAGE_KINDS.get(type.full);
  if (kind === undefined) return fail.corrupt(`${type.full} is not a storage type`);
  if (typeof key !== 'string') return fail.corrupt('storage key is not a string');
  if (typeof location !== 'string') fail.corrupt('storage location is not a string');
  if (!isIndex(numel ?? null)) fail.corrupt('storage size is not a non-negative integer');
  return { kind, key, numel: numel as number, view: view ?? null };
}

// ---------------------------------------------------------------------------------------------------------
// Tensors

/** Copies a tensor out of its storage into a new contiguous array of the output dtype. */
function materialize(name: string, t: PTensor, fail: Fail): NamedTensor {
  const { root } = t.storage;
  const kind = root.kind;
  const data = root.data;
  if (data === undefined) return fail.corrupt(`tensor ${printable(name)}: storage ${printable(root.key)} has no data`);
  const es = kind.elemSize;
  const ndim = t.size.length;
  let numel = t.size.includes(0) ? 0 : 1;
  let maxIndex = t.offset;
  for (let d = 0; d < ndim && numel > 0; d++) {
    const s = t.size[d] as number;
    numel *= s;
    maxIndex += (s - 1) * (t.stride[d] as number);
  }
  // Elements this view of the storage may reach: bounded by the view and by the bytes actually present.
  const avail = Math.min(t.storage.numel, Math.floor(data.length / es) - t.storage.offset);
  if (numel > 0) {
    if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(maxIndex) || maxIndex >= avail) {
      fail.corrupt(`tensor ${printable(name)} of shape [${t.size.join(', ')}] reaches past its storage (${Math.max(avail, 0)} elements)`);
    }
    if (numel > avail && numel > MAX_BROADCAST_NUMEL) {
      fail.corrupt(`tensor ${printable(name)} has ${numel} elements but its storage only ${avail}`);
    }
  }
  const base = t.storage.offset + t.offset;
  const raw = new Uint8Array(numel * es);
  if (numel > 0) {
    // Row-major contiguous? (dimensions of size 1 have any stride)
    let contiguous = true;
    let expect = 1;
    for (let d = ndim - 1; d >= 0; d--) {
      const s = t.size[d] as number;
      if (s !== 1 && t.stride[d] !== expect) contiguous = false;
      expect *= s;
    }
    if (contiguous) {
      raw.set(data.subarray(base * es, (base + numel) * es));
    } else {
      copyStrided(data, raw, base, t.size, t.stride, es);
    }
  }
  return { name, dtype: kind.out, shape: [...t.size], data: convert(raw, numel, kind) };
}

function copyStrided(src: Uint8Array, dst: Uint8Array, base: number, size: readonly number[], stride: readonly number[], es: number): void {
  const ndim = size.length;
  const inner = size[ndim - 1] as number;
  const innerStride = stride[ndim - 1] as number;
  const index = new Array<number>(Math.max(ndim - 1, 0)).fill(0);
  let out = 0;
  for (;;) {
    let off = base;
    for (let d = 0; d < ndim - 1; d++) off += (index[d] as number) * (stride[d] as number);
    if (innerStride === 1) {
      dst.set(src.subarray(off * es, (off + inner) * es), out);
      out += inner * es;
    } else {
      for (let j = 0; j < inner; j++) {
        const from = (off + j * innerStride) * es;
        for (let b = 0; b < es; b++) dst[out++] = src[from + b] as number;
      }
    }
    // odometer over the outer dimensions
    let d = ndim - 2;
    for (; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      if ((index[d] as number) < (size[d] as number)) break;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

function convert(raw: Uint8Array, numel: number, kind: StorageKind): NamedTensor['data'] {
  switch (kind.convert) {
    case 'f64': {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const out = new Float32Array(numel);
      for (let i = 0; i < numel; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    }
    case 'bool':
      for (let i = 0; i < raw.length; i++) raw[i] = raw[i] ? 1 : 0;
      return raw;
    case 'copy':
      switch (kind.out) {
        case 'float32':
          return new Float32Array(raw.buffer, 0, numel);
        case 'float16':
        case 'bfloat16':
          return new Uint16Array(raw.buffer, 0, numel);
        case 'int64':
          return new BigInt64Array(raw.buffer, 0, numel);
        case 'int32':
          return new Int32Array(raw.buffer, 0, numel);
        case 'uint8':
          return raw;
      }
  }
}

/** Picks the {name: tensor} dict out of the unpickled value (or one level down, under state_dict/model). */
function stateDict(value: PValue, fail: Fail): NamedTensor[] {
  const tensorsOf = (v: PValue): [string, PTensor][] | undefined => {
    if (!(v instanceof PDict)) return undefined;
    const out: [string, PTensor][] = [];
    for (const [k, t] of v.map) {
      if (typeof k !== 'string' || !(t instanceof PTensor)) return undefined;
      out.push([k, t]);
    }
    return out;
  };
  let entries = tensorsOf(value);
  if (entries === undefined && value instanceof PDict) {
    for (const key of ['state_dict', 'model']) {
      const inner = value.map.get(key);
      if (inner !== undefined && (entries = tensorsOf(inner)) !== undefined) break;
    }
  }
  if (entries === undefined) {
    let why = describe(value);
    if (value instanceof PDict) {
      for (const [k, v] of value.map) {
        if (typeof k !== 'string' || !(v instanceof PTensor)) {
          why = `dict whose entry ${printable(String(k))} is a ${describe(v)}`;
          break;
        }
      }
    }
    return fail.corrupt(`does not hold a state dict (a dict of name -> tensor); found a ${why}`);
  }
  return entries.map(([name, t]) => materialize(name, t, fail));
}

// ---------------------------------------------------------------------------------------------------------
// Zip format

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function readZipDirectory(buf: Uint8Array, fail: Fail): Map<string, ZipEntry> {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = buf.length;
  const u64 = (at: number): number => {
    const v = dv.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  // End of central directory: the last signature whose comment fits.
  let eocd = -1;
  for (let i = len - 22; i >= 0 && i >= len - 22 - 0xffff; i--) {
    if (dv.getUint32(i, true) === 0x06054b50 && i + 22 + dv.getUint16(i + 20, true) <= len) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail.corrupt('zip end-of-central-directory record not found (truncated?)');
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) fail.corrupt('zip64 end-of-central-directory locator missing');
    const rec = u64(loc + 8);
    if (rec > loc - 56 || dv.getUint32(rec, true) !== 0x06064b50) fail.corrupt('zip64 end-of-central-directory record missing');
    count = u64(rec + 32);
    cdSize = u64(rec + 40);
    cdOffset = u64(rec + 48);
  }
  if (cdOffset > len || cdSize > len - cdOffset) fail.corrupt('zip central directory lies outside the file');
  if (count > MAX_ZIP_ENTRIES || count * 46 > cdSize) fail.corrupt(`zip central directory claims ${count} entries in ${cdSize} bytes`);
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdEnd || dv.getUint32(p, true) !== 0x02014b50) fail.corrupt(`zip central directory entry ${i} is corrupt`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const nameAt = p + 46;
    const extraAt = nameAt + nameLen;
    const next = extraAt + extraLen + commentLen;
    if (next > cdEnd) fail.corrupt(`zip central directory entry ${i} overruns the directory`);
    const name = latin1.decode(buf.subarray(nameAt, extraAt));
    // zip64 extended information: the 64-bit values of the fields that read 0xffffffff, in order.
    for (let x = extraAt; x + 4 <= extraAt + extraLen; ) {
      const id = dv.getUint16(x, true);
      const n = dv.getUint16(x + 2, true);
      const body = x + 4;
      if (body + n > extraAt + extraLen) fail.corrupt(`zip extra field of ${printable(name)} overruns its entry`);
      if (id === 0x0001) {
        let q = body;
        const field = (): number => {
          if (q + 8 > body + n) fail.corrupt(`zip64 extra field of ${printable(name)} is too short`);
          const v = u64(q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = field();
        if (compressedSize === 0xffffffff) compressedSize = field();
        if (localOffset === 0xffffffff) localOffset = field();
      }
      x = body + n;
    }
    if (entries.has(name)) fail.corrupt(`zip entry ${printable(name)} appears twice`);
    entries.set(name, { name, method, flags, compressedSize, size, localOffset });
    p = next;
  }
  return entries;
}

function zipEntryData(buf: Uint8Array, e: ZipEntry, fail: Fail): Uint8Array {
  const name = printable(e.name);
  if (e.flags & 0x1) fail.corrupt(`zip entry ${name} is encrypted`);
  if (e.method !== 0) fail.corrupt(`zip entry ${name} is compressed (method ${e.method}); only stored (uncompressed) entries are supported`);
  if (e.compressedSize !== e.size) fail.corrupt(`zip entry ${name} is stored but its sizes differ`);
  const at = e.localOffset;
  if (at > buf.length - 30) fail.corrupt(`zip local header of ${name} lies outside the file`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(at, true) !== 0x04034b50) fail.corrupt(`zip local header of ${name} is corrupt`);
  const start = at + 30 + dv.getUint16(at + 26, true) + dv.getUint16(at + 28, true);
  if (start > buf.length || e.size > buf.length - start) fail.corrupt(`zip entry ${name} is truncated`);
  return buf.subarray(start, start + e.size);
}

function parseZip(buf: Uint8Array, fail: Fail): NamedTensor[] {
  const entries = readZipDirectory(buf, fail);
  const first = entries.keys().next();
  const slash = first.done ? -1 : first.value.indexOf('/');
  if (first.done || slash <= 0) fail.corrupt('zip archive does not look like torch.save output (no <archive>/ folder)');
  const prefix = (first.value as string).slice(0, slash);
  const get = (rel: string): Uint8Array | undefined => {
    const e = entries.get(`${prefix}/${rel}`);
    return e === undefined ? undefined : zipEntryData(buf, e, fail);
  };
  const byteorder = get('byteorder');
  if (byteorder !== undefined && latin1.decode(byteorder) !== 'little') {
    fail.corrupt(`storages are ${printable(latin1.decode(byteorder))}-endian; only little-endian is supported`);
  }
  const pkl = get('data.pkl');
  if (pkl === undefined) return fail.corrupt(`zip archive has no ${printable(prefix)}/data.pkl`);
  const roots = new Map<string, RootStorage>();
  const load: PersistentLoad = (pid) => {
    const id = storageId(pid, fail);
    if (id.view !== null) fail.corrupt('storage views are not used by the zip format');
    let root = roots.get(id.key);
    if (root === undefined) {
      const data = get(`data/${id.key}`);
      if (data === undefined) return fail.corrupt(`storage ${printable(id.key)} is missing from the archive`);
      root = { key: id.key, kind: id.kind, data };
      roots.set(id.key, root);
    } else if (root.kind.elemSize !== id.kind.elemSize || root.kind.out !== id.kind.out) {
      fail.corrupt(`storage ${printable(id.key)} is used with two dtypes`);
    }
    if (id.numel * id.kind.elemSize > (root.data as Uint8Array).length) {
      fail.corrupt(`storage ${printable(id.key)} claims ${id.numel} elements but holds ${(root.data as Uint8Array).length} bytes`);
    }
    return new PStorage(root, 0, id.numel);
  };
  const { value } = unpickle(pkl, 0, pkl.length, fail, load);
  return stateDict(value, fail);
}

// ---------------------------------------------------------------------------------------------------------
// Legacy format

function parseLegacy(buf: Uint8Array, fail: Fail): NamedTensor[] {
  let pos = 0;
  const next = (persistentLoad?: PersistentLoad): PValue => {
    const r = unpickle(buf, pos, buf.length, fail, persistentLoad);
    pos = r.next;
    return r.value;
  };
  const magic = next();
  if (magic !== LEGACY_MAGIC) fail.corrupt('not a torch.save file (the pickle does not start with the legacy magic number)');
  const version = next();
  if (version !== LEGACY_PROTOCOL_VERSION) fail.corrupt(`unsupported legacy protocol version ${typeof version === 'number' ? version : describe(version)}`);
  const sysInfo = next();
  if (sysInfo instanceof PDict && sysInfo.map.get('little_endian') === false) {
    fail.corrupt('the checkpoint was written on a big-endian machine; only little-endian is supported');
  }

  const roots = new Map<string, RootStorage & { numel: number }>();
  const load: PersistentLoad = (pid) => {
    const id = storageId(pid, fail);
    let root = roots.get(id.key);
    if (root === undefined) {
      root = { key: id.key, kind: id.kind, numel: id.numel };
      roots.set(id.key, root);
    } else if (root.kind.elemSize !== id.kind.elemSize || root.kind.out !== id.kind.out) {
      fail.corrupt(`storage ${printable(id.key)} is used with two dtypes`);
    }
    if (id.view === null) return new PStorage(root, 0, id.numel);
    // (view_key, offset, view_size): a slice of the root storage (torch < 1.0)
    const v = id.view;
    if (!(v instanceof PTuple) || v.items.length !== 3 || !isIndex(v.items[1] ?? null) || !isIndex(v.items[2] ?? null)) {
      return fail.corrupt(`storage ${printable(id.key)} has malformed view metadata`);
    }
    const offset = v.items[1] as number;
    const size = v.items[2] as number;
    if (offset + size > root.numel) fail.corrupt(`storage view of ${printable(id.key)} reaches past it`);
    return new PStorage(root, offset, size);
  };
  const value = next(load);

  const keys = next();
  if (!(keys instanceof PList)) return fail.corrupt(`the storage key list is a ${describe(keys)}`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const key of keys.items) {
    if (typeof key !== 'string') fail.corrupt('a storage key is not a string');
    const root = roots.get(key);
    if (root === undefined) return fail.corrupt(`storage ${printable(key)} is listed but never used`);
    if (buf.length - pos < 8) fail.corrupt(`truncated before the data of storage ${printable(key)}`);
    const count = dv.getBigUint64(pos, true);
    pos += 8;
    const nbytes = count * BigInt(root.kind.elemSize);
    if (nbytes > BigInt(buf.length - pos)) {
      fail.corrupt(`storage ${printable(key)} claims ${count} elements but only ${buf.length - pos} bytes remain (truncated?)`);
    }
    root.data = buf.subarray(pos, pos + Number(nbytes));
    pos += Number(nbytes);
  }
  return stateDict(value, fail);
}

// ---------------------------------------------------------------------------------------------------------
// Public API

/**
 * Parses the bytes of a `torch.save` checkpoint (zip or legacy format) into its tensors, safely: no code in
 * the file is run, and only tensors, OrderedDict/dict and storages may appear in it.
 *
 * The file must hold a dict of name -> tensor (an OrderedDict state dict or a plain dict); for leniency, a
 * dict whose `state_dict` or `model` entry is such a dict is also accepted. Tensors come back in the order of
 * the file, each as a new contiguous array (views and shared storages are copied out): float32 (float64 is
 * narrowed to float32), float16/bfloat16 as raw 16-bit patterns in a Uint16Array, int64 as BigInt64Array,
 * int32, and uint8 (uint8 and bool).
 *
 * @param bytes the whole file
 * @param name how messages name the file (default `<buffer>`)
 * @throws ElectraError `ERR_CHECKPOINT` for a corrupt, truncated or unsupported file, and for any global
 *   outside the whitelist (`refusing to load <module>.<name> from <file>: only tensors are allowed`)
 */
export function parseTorchBin(bytes: Buffer | Uint8Array, name = '<buffer>'): NamedTensor[] {
  const fail = new Fail(name);
  if (os.endianness() !== 'LE') fail.corrupt('reading checkpoints needs a little-endian host');
  try {
    if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
      return parseZip(bytes, fail);
    }
    if (bytes.length >= 2 && bytes[0] === 0x80) return parseLegacy(bytes, fail);
    return fail.corrupt(
      bytes.length === 0 ? 'the file is empty' : 'not a torch.save file (neither a zip archive nor a pickle)',
    );
  } catch (e) {
    if (e instanceof ElectraError) throw e;
    // A failed allocation or an unforeseen corruption: still a checkpoint error, never a raw exception.
    const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new ElectraError('ERR_CHECKPOINT', `cannot read PyTorch checkpoint ${name}: internal error (${why})`, { cause: e });
  }
}

/**
 * Reads a `torch.save` checkpoint such as a Hugging Face `pytorch_model.bin` (see {@link parseTorchBin}).
 * The whole file is read into memory (so it must fit in a Buffer: 4 GiB on Node 20), then each tensor is
 * copied out of it.
 *
 * @param file path of the checkpoint
 * @returns the tensors of its state dict, in file order
 * @throws ElectraError `ERR_IO` when the file cannot be read, `ERR_CHECKPOINT` when it is not a safe,
 *   readable state dict
 */
export async function readTorchBin(file: string): Promise<NamedTensor[]> {
  let bytes: Buffer;
  try {
    bytes = await readWhole(file);
  } catch (e) {
    if (e instanceof ElectraError) throw e;
    const err = toElectraError(e, 'ERR_IO');
    throw new ElectraError(err.code, `cannot read PyTorch checkpoint ${file}: ${err.message}`, { cause: e });
  }
  return parseTorchBin(bytes, file);
}

/** Reads a file whole, in chunks (fs.readFile stops at 2 GiB; a Buffer may be larger). */
async function readWhole(file: string): Promise<Buffer> {
  const fh = await fsp.open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size > bufferConstants.MAX_LENGTH) {
      throw new ElectraError('ERR_CHECKPOINT', `cannot read PyTorch checkpoint ${file}: ${size} bytes is more than this Node.js can hold in memory (${bufferConstants.MAX_LENGTH})`);
    }
    const buf = Buffer.allocUnsafe(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, at, Math.min(size - at, 1 << 30), at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    // a file that shrank while being read is parsed as truncated
    return at === size ? buf : buf.subarray(0, at);
  } finally {
    await fh.close();
  }
}
