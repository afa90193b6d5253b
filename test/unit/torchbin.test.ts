import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseTorchBin, readTorchBin } from '../../src/checkpoint/torchbin';
import { ElectraError } from '../../src/errors';
import type { NamedTensor } from '../../src/native';
import { errorOf, prng } from './fuzz-helpers';

const DIR = path.join(__dirname, '..', 'fixtures', 'torchbin');
const fixture = (name: string): Buffer => fs.readFileSync(path.join(DIR, name));

interface Expected {
  name: string;
  dtype: string;
  shape: number[];
  sha256: string;
  values?: (number | string)[];
}
const EXPECTED = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as {
  files: Record<string, string>;
  groups: Record<string, Expected[]>;
};

function bytesOf(t: NamedTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}


const ARRAY_OF: Record<string, new (n: number) => ArrayBufferView> = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
};

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------------------------------
// A tiny pickle writer for hand-made legacy files

class Pickle {
  private readonly b: number[] = [0x80, 2];
  op(...bytes: number[]): this {
    this.b.push(...bytes);
    return this;
  }
  str(s: string): this {
    const e = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(4);
    n.writeUInt32LE(e.length);
    return this.op(0x58, ...n, ...e);
  }
  int(v: number): this {
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    const n = Buffer.alloc(4);
    n.writeInt32LE(v);
    return this.op(0x4a, ...n);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  ints(...v: number[]): this {
    this.mark();
    for (const x of v) this.int(x);
    return this.tuple();
  }
  /** Pushes _rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict()). */
  tensor(storageType: string, key: string, numel: number, offset: number, size: number[], stride: number[], view?: [string, number, number]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storageType).str(key).str('cpu').int(numel);
    if (view) this.mark().str(view[0]).int(view[1]).int(view[2]).tuple();
    else this.op(0x4e);
    this.tuple().op(0x51); // BINPERSID
    this.int(offset).ints(...size).ints(...stride).op(0x89);
    this.global('collections', 'OrderedDict').op(0x29, 0x52); // OrderedDict()
    return this.tuple().op(0x52);
  }
  /** Opens {`name`: ... } as an OrderedDict; close with end(). */
  dictOf(): this {
    return this.global('collections', 'OrderedDict').op(0x29, 0x52).mark();
  }
  endDict(): this {
    return this.op(0x75);
  }
  stop(): Buffer {
    return Buffer.from([...this.b, 0x2e]);
  }
}

const MAGIC = Buffer.from([0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
const VERSION = Buffer.from([0x80, 2, 0x4d, 0xe9, 0x03, 0x2e]);
const SYS_INFO = new Pickle().op(0x7d).mark().str('little_endian').op(0x88).op(0x75).stop();

/** A legacy torch.save file from a main pickle and storages (key, element count, raw bytes). */
function legacy(main: Buffer, storages: [string, number | bigint, Buffer][], sysInfo = SYS_INFO): Buffer {
  const keys = new Pickle().op(0x5d).mark();
  for (const [k] of storages) keys.str(k);
  const parts = [MAGIC, VERSION, sysInfo, main, keys.op(0x65).stop()];
  for (const [, count, bytes] of storages) {
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(BigInt(count));
    parts.push(n, bytes);
  }
  return Buffer.concat(parts);
}

const f32 = (...v: number[]): Buffer => Buffer.from(new Float32Array(v).buffer);

// ---------------------------------------------------------------------------------------------------------

describe('torchbin: fixtures written by torch.save', () => {
  for (const [file, group] of Object.entries(EXPECTED.files)) {
    test(`${file} holds exactly the tensors torch saved (${group})`, () => {
      const expected = EXPECTED.groups[group];
      if (!expected) throw new Error(`no group ${group}`);
      const got = parseTorchBin(fixture(file), file);
      expect(got.map((t) => t.name)).toEqual(expected.map((e) => e.name));
      got.forEach((t, i) => {
        const e = expected[i] as Expected;
        expect([t.name, t.dtype, t.shape]).toEqual([e.name, e.dtype, e.shape]);
        expect(t.data).toBeInstanceOf(ARRAY_OF[e.dtype] as unknown as typeof Float32Array);
        expect(t.data.length).toBe(numel(e.shape));
        expect(createHash('sha256').update(bytesOf(t)).digest('hex')).toBe(e.sha256);
        if (e.values) {
          const want = e.values.map((v) => (typeof v === 'string' ? BigInt(v) : e.dtype === 'float32' ? Math.fround(v) : v));
          expect(Array.from(t.data as ArrayLike<number | bigint>)).toEqual(want);
        }
      });
    });
  }

  test('zip, zip64, protocol 4 and legacy files of one state dict give identical tensors', () => {
    const zip = parseTorchBin(fixture('state_zip.bin'));
    for (const f of ['state_legacy.bin', 'state_proto4.bin', 'state_zip64.bin']) expect(parseTorchBin(fixture(f))).toEqual(zip);
  });

  test('views, shared storages, scalars, empty and broadcast tensors come out contiguous', () => {
    const byName = new Map(parseTorchBin(fixture('state_legacy.bin')).map((t) => [t.name, t]));
    const grid = Array.from(byName.get('grid')?.data as Float32Array);
    expect(grid).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5]);
    // grid.t()[1:]: offset 1, stride (1, 4) into grid's storage
    expect(Array.from(byName.get('grid_t')?.data as Float32Array)).toEqual([0.5, 2.5, 4.5, 1, 3, 5, 1.5, 3.5, 5.5]);
    expect(Array.from(byName.get('grid_even')?.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    // the copies do not alias each other
    (byName.get('grid_t')?.data as Float32Array)[0] = 99;
    expect(byName.get('grid')?.data[1]).toBe(0.5);
    expect(byName.get('scalar')).toMatchObject({ shape: [], data: new Float32Array([0.125]) });
    expect(byName.get('empty')).toMatchObject({ dtype: 'float32', shape: [0, 3], data: new Float32Array(0) });
    expect(byName.get('position_ids')).toMatchObject({ dtype: 'int64', shape: [1, 5], data: new BigInt64Array([0n, 1n, 2n, 3n, 4n]) });
    expect(byName.get('dbl')).toMatchObject({ dtype: 'float32', data: new Float32Array([0.1, 1 / 3, -1e10]) });
    expect(byName.get('flag')).toMatchObject({ dtype: 'uint8', data: new Uint8Array([1, 0, 1]) });
    expect(byName.get('f16')).toMatchObject({ dtype: 'float16', data: new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x068e]) });
  });

  test('a dict nested under state_dict is found; the same tensors as the plain dict', () => {
    expect(parseTorchBin(fixture('nested.bin'))).toEqual(parseTorchBin(fixture('plain_dict.bin')));
  });

  test('files that do not hold a state dict are refused', () => {
    const a = errorOf(() => parseTorchBin(fixture('not_state_dict.bin'), 'nsd.bin'));
    expect(a.code).toBe('ERR_CHECKPOINT');
    expect(a.message).toMatch(/nsd\.bin: does not hold a state dict .*entry step/);
    expect(errorOf(() => parseTorchBin(fixture('list.bin'), 'list.bin')).message).toMatch(/does not hold a state dict.*found a list/);
  });

  test('compressed zip entries are refused with the method', () => {
    const e = errorOf(() => parseTorchBin(fixture('deflated.bin'), 'deflated.bin'));
    expect(e.code).toBe('ERR_CHECKPOINT');
    expect(e.message).toMatch(/deflated\.bin: zip entry .* is compressed \(method 8\)/);
  });

  test('a big-endian byteorder record is refused', () => {
    const b = fixture('state_zip.bin');
    const at = b.indexOf('little', 0, 'latin1');
    expect(at).toBeGreaterThan(0);
    b.write('bigend', at, 'latin1');
    expect(errorOf(() => parseTorchBin(b, 'be.bin')).message).toMatch(/only little-endian/);
  });

  test('readTorchBin reads a file; a missing file is ERR_IO', async () => {
    const file = path.join(DIR, 'state_zip.bin');
    expect(await readTorchBin(file)).toEqual(parseTorchBin(fixture('state_zip.bin')));
    await expect(readTorchBin(path.join(DIR, 'evil.bin'))).rejects.toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringMatching(/^refusing to load posix\.system from .*evil\.bin/) });
    await expect(readTorchBin(path.join(DIR, 'nope.bin'))).rejects.toMatchObject({ code: 'ERR_IO', message: expect.stringContaining('nope.bin') });
  });
});

describe('torchbin: malicious pickles', () => {
  const marker = '/tmp/electra_torchbin_pwned';

  test.each([
    ['evil.bin', 'posix.system'],
    ['evil_legacy.bin', 'posix.system'],
    ['evil_eval.bin', '__builtin__.eval'],
  ])('%s is refused naming %s, and nothing runs', (file, global) => {
    fs.rmSync(marker, { force: true });
    const e = errorOf(() => parseTorchBin(fixture(file), file));
    expect(e.code).toBe('ERR_CHECKPOINT');
    expect(e.message).toBe(`refusing to load ${global} from ${file}: only tensors are allowed`);
    expect(fs.existsSync(marker)).toBe(false);
  });

  test.each([
    ['torch.nn', 'Linear'],
    ['builtins', 'getattr'],
    ['__builtin__', 'getattr'],
    ['torch._utils', '_rebuild_device_tensor_from_numpy'],
    ['collections', 'defaultdict'],
    ['torch', 'load'],
  ])('GLOBAL %s.%s is refused', (module, name) => {
    const main = new Pickle().dictOf().str('w').global(module, name).op(0x29, 0x52).endDict().stop();
    const e = errorOf(() => parseTorchBin(legacy(main, []), 'x.bin'));
    expect(e.message).toBe(`refusing to load ${module}.${name} from x.bin: only tensors are allowed`);
  });

  test('STACK_GLOBAL is held to the same whitelist', () => {
    const main = new Pickle().str('os').str('system').op(0x93).stop();
    expect(errorOf(() => parseTorchBin(legacy(main, []), 'x.bin')).message).toBe('refusing to load os.system from x.bin: only tensors are allowed');
  });

  test('REDUCE may only call the whitelisted constructors', () => {
    const main = new Pickle().global('torch', 'FloatStorage').int(3).op(0x85, 0x52).stop();
    expect(errorOf(() => parseTorchBin(legacy(main, []))).message).toMatch(/REDUCE calls torch\.FloatStorage, which is not a constructor/);
    const od = new Pickle().global('collections', 'OrderedDict').str('x').op(0x85, 0x52).stop();
    expect(errorOf(() => parseTorchBin(legacy(od, []))).message).toMatch(/OrderedDict built from arguments/);
  });

  test('code-running opcodes (INST, OBJ, NEWOBJ, EXT1) are unknown opcodes', () => {
    for (const op of [0x69, 0x6f, 0x81, 0x82, 0xff]) {
      const main = new Pickle().op(op).stop();
      const e = errorOf(() => parseTorchBin(legacy(main, []), 'op.bin'));
      expect(e.code).toBe('ERR_CHECKPOINT');
      expect(e.message).toContain(`op.bin: unsupported pickle opcode 0x${op.toString(16)}`);
    }
  });
});

describe('torchbin: more malicious pickles (nothing runs, the whole file is refused)', () => {
  const marker = '/tmp/electra_torchbin_pwned2';
  beforeEach(() => fs.rmSync(marker, { force: true }));
  afterAll(() => fs.rmSync(marker, { force: true }));

  test.each([
    ['builtins', 'eval'],
    ['builtins', 'exec'],
    ['builtins', 'compile'],
    ['builtins', '__import__'],
    ['builtins', 'open'],
    ['builtins', 'setattr'],
    ['__builtin__', 'exec'],
    ['os', 'system'],
    ['os', 'popen'],
    ['posix', 'system'],
    ['nt', 'system'],
    ['subprocess', 'Popen'],
    ['subprocess', 'check_output'],
    ['importlib', 'import_module'],
    ['pickle', 'loads'],
    ['_pickle', 'loads'],
    ['shutil', 'rmtree'],
    ['runpy', '_run_code'],
    ['webbrowser', 'open'],
    ['numpy.core.multiarray', '_reconstruct'],
    ['torch.storage', '_load_from_bytes'],
    ['torch', 'load'],
    ['torch.serialization', 'load'],
    // dotted names reach attributes of whitelisted globals
    ['collections', 'OrderedDict.fromkeys'],
    ['collections', 'OrderedDict.__init__'],
    ['torch._utils', '_rebuild_tensor_v2.__globals__'],
    ['torch', 'FloatStorage.__reduce_ex__'],
    ['torch._utils ', '_rebuild_tensor_v2'],
    // (module "torch", name "_utils._rebuild_tensor_v2" is the same whitelisted function, as in Python)
  ])('GLOBAL %j %j called with REDUCE is refused at the GLOBAL', (module, name) => {
    const payload = `open(${JSON.stringify(marker)}, 'w').write('x')`;
    const main = new Pickle().global(module, name).str(payload).op(0x85, 0x52).stop();
    const e = errorOf(() => parseTorchBin(legacy(main, []), 'x.bin'));
    expect(e.code).toBe('ERR_CHECKPOINT');
    expect(e.message).toBe(`refusing to load ${module}.${name} from x.bin: only tensors are allowed`);
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('STACK_GLOBAL of builtins.exec with a code string (protocol 4 framing and memo) is refused', () => {
    const main = new Pickle().op(0x95, 1, 0, 0, 0, 0, 0, 0, 0).op(0x8c, 8, ...Buffer.from('builtins')).op(0x94).op(0x8c, 4, ...Buffer.from('exec')).op(0x94, 0x93)
      .str(`open(${JSON.stringify(marker)}, 'w')`).op(0x85, 0x52).stop();
    expect(errorOf(() => parseTorchBin(legacy(main, []), 'x.bin')).message).toBe('refusing to load builtins.exec from x.bin: only tensors are allowed');
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('a malicious value after good tensors in a state dict still refuses the whole file', () => {
    const main = new Pickle().dictOf()
      .str('w').tensor('FloatStorage', '0', 2, 0, [2], [1])
      .str('evil').global('os', 'system').str('touch /tmp/x').op(0x85, 0x52)
      .endDict().stop();
    expect(errorOf(() => parseTorchBin(legacy(main, [['0', 2, f32(1, 2)]]), 'x.bin')).message).toBe('refusing to load os.system from x.bin: only tensors are allowed');
  });

  test('a malicious global as the storage type inside a persistent id is refused', () => {
    const main = new Pickle().dictOf().str('w')
      .global('torch._utils', '_rebuild_tensor_v2').mark()
      .mark().str('storage').global('os', 'system').str('0').str('cpu').int(2).op(0x4e).tuple().op(0x51)
      .int(0).ints(2).ints(1).op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52).tuple().op(0x52)
      .endDict().stop();
    expect(errorOf(() => parseTorchBin(legacy(main, [['0', 2, f32(1, 2)]]), 'x.bin')).message).toBe('refusing to load os.system from x.bin: only tensors are allowed');
  });

  test('whitelisted globals cannot be called with the wrong arguments or built with state', () => {
    // OrderedDict called with a list of pairs (would be a constructor call with data), _rebuild_tensor_v2 with junk
    const od = new Pickle().global('collections', 'OrderedDict').op(0x5d).op(0x85, 0x52).stop();
    expect(errorOf(() => parseTorchBin(legacy(od, []))).code).toBe('ERR_CHECKPOINT');
    const rb = new Pickle().global('torch._utils', '_rebuild_tensor_v2').str('x').op(0x85, 0x52).stop();
    expect(errorOf(() => parseTorchBin(legacy(rb, []))).code).toBe('ERR_CHECKPOINT');
    // BUILD (which would call __setstate__) on a global
    const build = new Pickle().global('collections', 'OrderedDict').op(0x7d).op(0x62).stop();
    expect(errorOf(() => parseTorchBin(legacy(build, []))).message).toMatch(/BUILD on a collections\.OrderedDict/);
  });

  test('other object-building and out-of-band opcodes are unknown opcodes', () => {
    // EXT2, EXT4 (copyreg registry), NEWOBJ_EX, PERSID (text form), BYTEARRAY8, NEXT_BUFFER, READONLY_BUFFER
    for (const op of [0x83, 0x84, 0x92, 0x50, 0x96, 0x97, 0x98]) {
      const main = new Pickle().op(op).stop();
      const e = errorOf(() => parseTorchBin(legacy(main, []), 'op.bin'));
      expect(e.code).toBe('ERR_CHECKPOINT');
      expect(e.message).toContain(`op.bin: unsupported pickle opcode 0x${op.toString(16)}`);
    }
  });
});

describe('torchbin: hand-made legacy files', () => {
  test('a tensor over a legacy storage view (view_metadata) reads the slice', () => {
    const main = new Pickle().dictOf()
      .str('whole').tensor('FloatStorage', 'k', 6, 0, [6], [1])
      .str('view').tensor('FloatStorage', 'k', 6, 1, [2], [1], ['k2', 2, 3])
      .endDict().stop();
    const got = parseTorchBin(legacy(main, [['k', 6, f32(0, 1, 2, 3, 4, 5)]]));
    expect(got.map((t) => [t.name, Array.from(t.data as Float32Array)])).toEqual([['whole', [0, 1, 2, 3, 4, 5]], ['view', [3, 4]]]);
  });

  test('bounds: strides past the storage, huge broadcasts, lying counts, missing data', () => {
    const one = (size: number[], stride: number[], offset = 0, numel = 4): Buffer =>
      new Pickle().dictOf().str('t').tensor('FloatStorage', 'k', numel, offset, size, stride).endDict().stop();
    const data: [string, number, Buffer][] = [['k', 4, f32(1, 2, 3, 4)]];
    expect(Array.from(parseTorchBin(legacy(one([2, 2], [1, 2]), data))[0]?.data as Float32Array)).toEqual([1, 3, 2, 4]);
    expect(errorOf(() => parseTorchBin(legacy(one([2, 3], [3, 1]), data), 'b.bin')).message).toMatch(/b\.bin: tensor t of shape \[2, 3\] reaches past its storage/);
    expect(errorOf(() => parseTorchBin(legacy(one([2], [1], 3), data))).message).toMatch(/reaches past its storage/);
    const huge = one([1 << 20, 1 << 20], [0, 0]);
    expect(errorOf(() => parseTorchBin(legacy(huge, data))).message).toMatch(/has 1099511627776 elements but its storage only 4/);
    // a small broadcast is fine
    expect(parseTorchBin(legacy(one([3, 2], [0, 1]), data))[0]?.data).toEqual(new Float32Array([1, 2, 1, 2, 1, 2]));
    expect(errorOf(() => parseTorchBin(legacy(one([2], [1]), [['k', 2n ** 60n, f32(1, 2, 3, 4)]]))).message).toMatch(/claims 1152921504606846976 elements/);
    expect(errorOf(() => parseTorchBin(legacy(one([2], [1]), [['k', 1, f32(1)]]))).message).toMatch(/reaches past its storage \(1 elements\)/);
    expect(errorOf(() => parseTorchBin(legacy(one([2], [1]), []))).message).toMatch(/storage k has no data/);
    expect(errorOf(() => parseTorchBin(legacy(one([2], [1]), [['other', 1, f32(1)]]))).message).toMatch(/storage other is listed but never used/);
  });

  test('malformed structure: negative sizes, wrong argument types, one storage with two dtypes', () => {
    const neg = new Pickle().dictOf().str('t').tensor('FloatStorage', 'k', 4, 0, [-2], [1]).endDict().stop();
    expect(errorOf(() => parseTorchBin(legacy(neg, [['k', 4, f32(1, 2, 3, 4)]]))).message).toMatch(/tensor size holds -2/);
    const two = new Pickle().dictOf()
      .str('a').tensor('FloatStorage', 'k', 2, 0, [2], [1])
      .str('b').tensor('LongStorage', 'k', 1, 0, [1], [1])
      .endDict().stop();
    expect(errorOf(() => parseTorchBin(legacy(two, [['k', 2, f32(1, 2)]]))).message).toMatch(/storage k is used with two dtypes/);
    const notStorage = new Pickle().global('torch._utils', '_rebuild_tensor_v2').mark().int(1).int(0).ints(1).ints(1).op(0x89, 0x4e).tuple().op(0x52).stop();
    expect(errorOf(() => parseTorchBin(legacy(notStorage, []))).message).toMatch(/_rebuild_tensor_v2 of a number, not a storage/);
    const buildPlain = new Pickle().op(0x7d).op(0x7d).op(0x62).stop();
    expect(errorOf(() => parseTorchBin(legacy(buildPlain, []))).message).toMatch(/BUILD on a plain dict/);
    const buildList = new Pickle().op(0x5d).op(0x7d).op(0x62).stop();
    expect(errorOf(() => parseTorchBin(legacy(buildList, []))).message).toMatch(/BUILD on a list/);
    const badPid = new Pickle().str('module').op(0x51).stop();
    expect(errorOf(() => parseTorchBin(legacy(badPid, []))).message).toMatch(/unsupported persistent id/);
    const bigEndian = new Pickle().op(0x7d).mark().str('little_endian').op(0x89).op(0x75).stop();
    expect(errorOf(() => parseTorchBin(legacy(new Pickle().op(0x7d).stop(), [], bigEndian))).message).toMatch(/big-endian/);
  });

  test('pickle VM limits: memo, marks, stack, lengths', () => {
    expect(errorOf(() => parseTorchBin(legacy(new Pickle().op(0x68, 7).stop(), []))).message).toMatch(/memo key 7 is not set/);
    expect(errorOf(() => parseTorchBin(legacy(new Pickle().op(...new Array<number>(5000).fill(0x28)).stop(), []))).message).toMatch(/nested too deep/);
    expect(errorOf(() => parseTorchBin(legacy(new Pickle().op(0x74).stop(), []))).message).toMatch(/MARK missing/);
    expect(errorOf(() => parseTorchBin(legacy(new Pickle().op(0x30).stop(), []))).message).toMatch(/stack underflow/);
    expect(errorOf(() => parseTorchBin(legacy(new Pickle().op(0x58, 0xff, 0xff, 0xff, 0xff).stop(), []))).message).toMatch(/truncated pickle \(a string needs 4294967295 bytes/);
    expect(errorOf(() => parseTorchBin(legacy(new Pickle().op(0x8c, 2, 0xc3, 0x28).stop(), []))).message).toMatch(/invalid UTF-8/);
    expect(errorOf(() => parseTorchBin(legacy(new Pickle().op(0x63, ...Buffer.from('a'.repeat(1000))).stop(), []))).message).toMatch(/overlong GLOBAL/);
  });

  test('legacy header checks: magic number and protocol version', () => {
    const plainPickle = new Pickle().op(0x7d).stop();
    expect(errorOf(() => parseTorchBin(plainPickle, 'p.pkl')).message).toMatch(/p\.pkl: not a torch\.save file \(the pickle does not start with the legacy magic number\)/);
    const v = Buffer.concat([MAGIC, Buffer.from([0x80, 2, 0x4d, 0xe8, 0x03, 0x2e])]);
    expect(errorOf(() => parseTorchBin(v)).message).toMatch(/unsupported legacy protocol version 1000/);
  });
});

describe('torchbin: bad input', () => {
  test('empty, text, and random bytes are not checkpoints', () => {
    expect(errorOf(() => parseTorchBin(Buffer.alloc(0), 'e.bin')).message).toBe('cannot read PyTorch checkpoint e.bin: the file is empty');
    expect(errorOf(() => parseTorchBin(Buffer.from('hello world'), 't.bin')).message).toMatch(/t\.bin: not a torch\.save file \(neither a zip archive nor a pickle\)/);
    expect(errorOf(() => parseTorchBin(Buffer.from('PK\x03\x04 not really a zip'), 'z.bin')).message).toMatch(/z\.bin: zip end-of-central-directory record not found/);
  });

  test.each(['state_zip.bin', 'state_zip64.bin', 'state_legacy.bin', 'electra_tiny_legacy.bin'])('%s truncated anywhere fails with ERR_CHECKPOINT naming the file', (file) => {
    const full = fixture(file);
    const cuts = [1, 2, 5, 14, 20, 30, 100, 137, 500, full.length >> 1, full.length - 200, full.length - 23, full.length - 8, full.length - 1];
    for (const cut of cuts) {
      const e = errorOf(() => parseTorchBin(full.subarray(0, cut), `cut-${cut}.bin`));
      expect(e.code).toBe('ERR_CHECKPOINT');
      expect(e.message).toContain(`cut-${cut}.bin`);
      expect(e.message).not.toContain('internal error');
    }
  });

  test('a zip whose data.pkl is missing or whose storage file is missing', () => {
    const b = fixture('plain_dict.bin');
    const renamed = Buffer.from(b.toString('latin1').replace(/plain_dict\/data\.pkl/g, 'plain_dict/data.pkx'), 'latin1');
    expect(errorOf(() => parseTorchBin(renamed, 'r.bin')).message).toMatch(/r\.bin: zip archive has no plain_dict\/data\.pkl/);
    const noStorage = Buffer.from(b.toString('latin1').replace(/plain_dict\/data\/0/g, 'plain_dict/data/X'), 'latin1');
    expect(errorOf(() => parseTorchBin(noStorage, 's.bin')).message).toMatch(/storage 0 is missing from the archive/);
  });
});

describe('torchbin: fuzz', () => {

  test('10,000+ mutated files end in a result or ERR_CHECKPOINT, never another exception', () => {
    const bases = ['state_zip.bin', 'state_legacy.bin', 'state_proto4.bin', 'state_zip64.bin', 'electra_tiny_legacy.bin', 'evil.bin'].map(fixture);
    const rand = prng(20240607);
    const int = (n: number): number => Math.floor(rand() * n);
    const LENGTHS = [0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff, 0xfffffffe];
    const started = Date.now();
    let slowestMs = 0;
    const outcomes = { ok: 0, refused: 0, corrupt: 0 };
    const N = 12000;
    for (let i = 0; i < N; i++) {
      const base = bases[i % bases.length] as Buffer;
      let b = Buffer.from(base);
      // where the pickle lives: the first ~1000 bytes of a zip, everything in a legacy file
      const hot = (): number => (rand() < 0.7 ? int(Math.min(b.length, 1100)) : int(b.length));
      const kind = int(6);
      if (kind === 0) {
        for (let k = 1 + int(4); k > 0; k--) {
          const at = hot();
          b[at] = (b[at] as number) ^ (1 << int(8));
        }
      } else if (kind === 1) {
        b = b.subarray(0, int(b.length));
      } else if (kind === 2) {
        // a length, count or offset field replaced by an extreme value
        const at = hot();
        if (at + 4 <= b.length) b.writeUInt32LE(LENGTHS[int(LENGTHS.length)] as number, at);
      } else if (kind === 3) {
        b[hot()] = int(256);
        b[hot()] = [0x28, 0x2e, 0x51, 0x52, 0x62, 0x68, 0x71, 0x74, 0x75, 0x8a][int(10)] as number;
      } else if (kind === 4) {
        // the zip directory at the end
        for (let k = 1 + int(3); k > 0; k--) b[b.length - 1 - int(Math.min(b.length, 600))] = int(256);
      } else {
        const at = hot();
        b = rand() < 0.5 ? Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(8))]) : Buffer.concat([b.subarray(0, at), Buffer.from([int(256), int(256)]), b.subarray(at)]);
      }
      let result: NamedTensor[] | undefined;
      const c0 = performance.now();
      try {
        result = parseTorchBin(b, `fuzz-${i}.bin`);
      } catch (e) {
        // (plain checks rather than expect() in this hot loop)
        if (!(e instanceof ElectraError)) throw new Error(`case ${i} (kind ${kind}) threw ${String(e)}`);
        if (e.code !== 'ERR_CHECKPOINT' || !e.message.includes(`fuzz-${i}.bin`) || e.message.includes('internal error')) {
          throw new Error(`case ${i} (kind ${kind}): ${e.code} ${e.message}`);
        }
        outcomes[e.message.startsWith('refusing') ? 'refused' : 'corrupt']++;
      } finally {
        slowestMs = Math.max(slowestMs, performance.now() - c0);
      }
      if (result) {
        outcomes.ok++;
        for (const t of result) {
          const Ctor = ARRAY_OF[t.dtype];
          if (typeof t.name !== 'string' || !Ctor || !(t.data instanceof Ctor) || t.data.length !== numel(t.shape)) {
            throw new Error(`case ${i} (kind ${kind}): malformed tensor ${t.name} ${t.dtype} [${t.shape.join(', ')}] of ${t.data.length}`);
          }
        }
      }
    }
    const seconds = (Date.now() - started) / 1000;
    // No input makes the parser crawl. Per case, not in total: a shared, loaded machine stretches
    // the whole run's wall time, not the cost of a single pathological file.
    // both outcomes happen: many mutations hit tensor bytes (a result), most corrupt the structure
    expect(outcomes.ok).toBeGreaterThan(100);
    expect(outcomes.corrupt).toBeGreaterThan(1000);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes.ok + outcomes.refused + outcomes.corrupt).toBe(N);
    expect(slowestMs).toBeLessThan(2000);
    process.stdout.write(`torchbin fuzz: ${JSON.stringify(outcomes)} in ${seconds.toFixed(1)} s; slowest case ${slowestMs.toFixed(0)} ms\n`);
  });
});
