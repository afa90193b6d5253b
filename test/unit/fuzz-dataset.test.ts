/*
 * Fuzzes prepared datasets: meta.json (JSON-level and byte-level mutations, huge row counts,
 * negative/NaN-like/string numbers, hostile shard names) and the shards (flipped len/lenA/token
 * values, truncation, extension, missing files, a directory, symlinks inside and outside the
 * folder, a FIFO), written to a temporary folder and opened with PretrainDataset.open (memory,
 * pread, checksum), every row read, and batches drawn through BatchLoader. Each case ends in rows
 * that satisfy the format or an ElectraError (ERR_DATA, ERR_IO); nothing is allocated from a count
 * the files do not back (a meta.json claiming 10^12 rows is refused before any allocation).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PretrainDataset, type OpenOptions } from '../../src/data/dataset';
import { BatchLoader } from '../../src/data/loader';
import { FORMAT_NAME, FORMAT_VERSION, validateMeta, type DatasetMeta } from '../../src/data/format';
import { deepJsonText, fuzz, mutateBytes, mutateJson, NASTY_LITERALS, report, showJsonish, type Rand, fuzzTmpDir } from './fuzz-helpers';

const SEED = 0xda7a;
const CASES = 10_000;
const VALIDATE_CASES = 10_000;
const V = 50;
const T = 8;
const META_KEYS = ['format', 'formatVersion', 'dtype', 'maxLength', 'vocabSize', 'vocabHash', 'shards', 'file', 'examples', 'bytes', 'sha256', 'counts', 'specialIds'];

/** A valid dataset: rows [len, lenA, t0..t7] (uint16), two shards. */
function validDataset(dtype: 'uint16' | 'uint32' = 'uint16'): { meta: DatasetMeta; shards: Map<string, Buffer> } {
  const Arr = dtype === 'uint16' ? Uint16Array : Uint32Array;
  const rows = (n: number, seed: number) => {
    const a = new Arr(n * (T + 2));
    for (let r = 0; r < n; r++) {
      const len = 3 + ((r + seed) % (T - 2));
      const lenA = 2 + ((r * 7 + seed) % (len - 1));
      a[r * (T + 2)] = len;
      a[r * (T + 2) + 1] = Math.min(lenA, len);
      for (let i = 0; i < T; i++) a[r * (T + 2) + 2 + i] = i < len ? 5 + ((r * 13 + i * 7 + seed) % (V - 5)) : 0;
    }
    return Buffer.from(a.buffer);
  };
  const shards = new Map([['shard-00000.bin', rows(3, 1)], ['shard-00001.bin', rows(2, 2)]]);
  const meta: DatasetMeta = {
    format: FORMAT_NAME, formatVersion: FORMAT_VERSION, dtype, maxLength: T, vocabSize: V, vocabHash: 'a'.repeat(64),
    specialIds: { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 }, lowercase: true, seed: 1,
    counts: { examples: 5, unknownTokens: 0, characters: 100 } as DatasetMeta['counts'],
    source: { corpus: ['x'], sentenceSplit: 'rules', docBoundary: 'blank-line', createdAt: '2026-11-27', tool: 'test' },
    skipped: [],
    shards: [...shards].map(([file, b]) => ({ file, examples: b.length / ((T + 2) * (dtype === 'uint16' ? 2 : 4)), bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') })),
  };
  return { meta, shards };
}

type Layout = 'files' | 'missing' | 'directory' | 'symlink-outside' | 'symlink-inside' | 'fifo' | 'dangling';

interface Case {
  meta: string;
  shards: [string, Buffer][];
  layout: Layout;
  opts: OpenOptions;
  batches: number;
}

function mutateShard(b: Buffer, r: Rand, bpt: number): Buffer {
  const out = Buffer.from(b);
  const rowBytes = (T + 2) * bpt;
  const rows = Math.floor(out.length / rowBytes);
  switch (r.int(6)) {
    case 0: {
      // len / lenA beyond the row
      if (!rows) return out;
      const at = r.int(rows) * rowBytes + (r.chance(0.5) ? 0 : bpt);
      const v = r.pick([0, 1, T, T + 1, 65535, 0xffffffff, 2 ** 31]);
      if (bpt === 2) out.writeUInt16LE(v & 0xffff, at);
      else out.writeUInt32LE(v >>> 0, at);
      return out;
    }
    case 1: {
      // a token id at or beyond the vocabulary
      if (!rows) return out;
      const at = r.int(rows) * rowBytes + (2 + r.int(T)) * bpt;
      const v = r.pick([V - 1, V, V + 1, 65535, 2 ** 31, 0xffffffff]);
      if (bpt === 2) out.writeUInt16LE(v & 0xffff, at);
      else out.writeUInt32LE(v >>> 0, at);
      return out;
    }
    default:
      return mutateBytes(out, r);
  }
}

function makeCase(r: Rand): Case {
  const { meta, shards } = validDataset(r.chance(0.8) ? 'uint16' : 'uint32');
  const bpt = meta.dtype === 'uint16' ? 2 : 4;
  let metaText: string;
  const m = r.int(10);
  if (m < 5) {
    const mutated = mutateJson(meta, r, META_KEYS, 1 + r.int(2));
    metaText = JSON.stringify(mutated) ?? 'undefined';
  } else if (m < 7) {
    // targeted: counts the files do not back, hostile names
    const s = meta.shards[r.int(meta.shards.length)]!;
    switch (r.int(4)) {
      case 0:
        s.examples = r.pick([1e12, 2 ** 40, 2 ** 53 - 1, -1, 0, s.examples + 1]);
        s.bytes = r.chance(0.5) ? s.examples * (T + 2) * bpt : s.bytes;
        break;
      case 1:
        s.file = r.pick(['../outside.bin', '/etc/passwd', '..', '.', '', 'a/b', 'a\\b', '.hidden', 'x\u0000y', 'meta.json', 'x'.repeat(300), 'C:\\x', 'shard-00000.bin']);
        break;
      case 2:
        meta.maxLength = r.pick([1e9, 2 ** 20 + 1, 2 ** 20, 1e15, 0, -8, 7, 9]);
        break;
      default:
        meta.vocabSize = r.pick([1, 5, 65536, 65537, 2 ** 31, 1e300, 0]);
    }
    metaText = JSON.stringify(meta);
  } else if (m < 9) {
    let b: Buffer = Buffer.from(JSON.stringify(meta, null, r.chance(0.5) ? 1 : undefined));
    for (let k = 1 + r.int(2); k > 0; k--) b = mutateBytes(b, r, [], ['{', '}', '[', ']', ',', '"', ...NASTY_LITERALS, ...META_KEYS.map((k) => `"${k}"`)]);
    metaText = b.toString('utf8');
  } else if (r.chance(0.5)) {
    // a deeply nested value in a field that is printed in the error message
    const key = r.pick(['format', 'dtype', 'formatVersion', 'maxLength', 'vocabSize', 'counts', 'shards']);
    metaText = JSON.stringify({ ...meta, [key]: '\u0000deep' }).replace('"\\u0000deep"', deepJsonText(r));
  } else {
    metaText = JSON.stringify(meta);
  }
  const files = [...shards].map(([f, b]) => [f, r.chance(0.3) ? mutateShard(b, r, bpt) : b] as [string, Buffer]);
  const layout: Layout = r.chance(0.75) ? 'files' : r.pick(['missing', 'directory', 'symlink-outside', 'symlink-inside', 'fifo', 'dangling'] as const);
  const opts: OpenOptions = {};
  if (r.chance(0.3)) opts.mode = r.pick(['memory', 'pread', 'auto'] as const);
  if (r.chance(0.2)) opts.verify = 'checksum';
  if (r.chance(0.1)) opts.memoryLimit = r.pick([0, 10, 1e12]);
  return { meta: metaText, shards: files, layout, opts, batches: r.chance(0.2) ? 1 + r.int(4) : 0 };
}

test(`${VALIDATE_CASES} mutated meta.json values through validateMeta end in a meta or ERR_DATA`, async () => {
  const t = await fuzz({
    name: 'meta.json (validateMeta)',
    seed: SEED + 2,
    cases: VALIDATE_CASES,
    codes: ['ERR_DATA'],
    make: (r) => mutateJson(validDataset().meta, r, META_KEYS, 1 + r.int(3)),
    run: (m) => {
      const meta = validateMeta(m, 'meta.json');
      if (!(Number.isInteger(meta.maxLength) && meta.maxLength >= 1 && meta.maxLength <= 2 ** 20)) throw new Error(`accepted maxLength ${meta.maxLength}`);
      for (const s of meta.shards) {
        if (!/^[^./\\\u0000][^/\\\u0000]*$/.test(s.file)) throw new Error(`accepted shard name ${JSON.stringify(s.file)}`);
        if (!(Number.isSafeInteger(s.examples) && s.examples >= 0)) throw new Error(`accepted examples ${s.examples}`);
      }
    },
    show: showJsonish,
  });
  console.log(report('meta.json (validateMeta, in memory)', t));
  expect(t.rejected).toBeGreaterThan(VALIDATE_CASES / 4);
});

test(`${CASES} mutated datasets on disk (meta.json + shards) end in valid rows or ERR_DATA/ERR_IO (seed 0x${SEED.toString(16)})`, async () => {
  const root = fuzzTmpDir('electra-fuzz-data-');
  const dir = path.join(root, 'data');
  const outside = path.join(root, 'outside.bin');
  const { shards: good } = validDataset();
  fs.writeFileSync(outside, good.get('shard-00000.bin')!); // right size: only the symlink check stops it
  const fifo = path.join(root, 'fifo');
  const haveFifo = spawnSync('mkfifo', [fifo]).status === 0;
  const outcome = { outsideAccepted: 0, outsideRefused: 0, fifoRefused: 0, rowsRead: 0, batches: 0 };
  try {
    const t = await fuzz({
      name: 'dataset',
      seed: SEED,
      cases: CASES,
      codes: ['ERR_DATA', 'ERR_IO'],
      make: makeCase,
      run: async (c) => {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, 'meta.json'), c.meta);
        c.shards.forEach(([name, b], i) => {
          const f = path.join(dir, name);
          if (i > 0 || c.layout === 'files') return fs.writeFileSync(f, b);
          if (c.layout === 'directory') return fs.mkdirSync(f);
          if (c.layout === 'symlink-outside') return fs.symlinkSync(outside, f);
          if (c.layout === 'symlink-inside') {
            fs.writeFileSync(path.join(dir, 'real.bin'), b);
            return fs.symlinkSync('real.bin', f);
          }
          if (c.layout === 'fifo' && haveFifo) return fs.symlinkSync(fifo, f); // outside too, and not a regular file
          if (c.layout === 'dangling') return fs.symlinkSync(path.join(dir, 'nowhere.bin'), f);
          return undefined; // missing
        });
        let ds: PretrainDataset;
        try {
          ds = PretrainDataset.open(dir, c.opts);
        } catch (e) {
          if (c.layout === 'symlink-outside') outcome.outsideRefused++;
          if (c.layout === 'fifo') outcome.fifoRefused++;
          throw e;
        }
        try {
          if (c.layout === 'symlink-outside' || (c.layout === 'fifo' && haveFifo)) {
            // Only acceptable when meta.json does not list the link (a mutated shard list).
            if (ds.meta.shards.some((s) => s.file === 'shard-00000.bin')) throw new Error(`a shard linked outside the folder (${c.layout}) was opened`);
            outcome.outsideAccepted++;
          }
          const ids = new Int32Array(T);
          const types = new Int32Array(T);
          const mask = new Int32Array(T);
          for (let i = 0; i < ds.length; i++) {
            ds.readInto(i, 0, ids, types, mask);
            outcome.rowsRead++;
            let len = 0;
            for (let k = 0; k < T; k++) {
              if (!(ids[k]! >= 0 && ids[k]! < ds.meta.vocabSize)) throw new Error(`row ${i} has token id ${ids[k]}`);
              if (types[k] !== 0 && types[k] !== 1) throw new Error(`row ${i} has token type ${types[k]}`);
              if (mask[k] !== 0 && mask[k] !== 1) throw new Error(`row ${i} has mask ${mask[k]}`);
              if (mask[k] === 1) len++;
              else if (types[k] !== 0) throw new Error(`row ${i}: padding with token type 1`);
            }
            for (let k = 0; k < T; k++) if (mask[k] !== (k < len ? 1 : 0)) throw new Error(`row ${i}: mask is not a prefix`);
          }
          if (c.batches > 0) {
            const loader = new BatchLoader(ds, { batchSize: 1 + (c.batches % 3), seed: c.batches, prefetch: 2 });
            for (let k = 0; k < c.batches; k++) {
              const batch = await loader.next();
              if (!batch) throw new Error('the loader ended on an endless stream');
              outcome.batches++;
            }
            loader.close();
          }
        } finally {
          ds.close();
        }
      },
      show: (c) => showJsonish({ meta: c.meta.slice(0, 1000), layout: c.layout, opts: c.opts, shards: c.shards.map(([n, b]) => [n, b.toString('hex')]) }),
    });
    console.log(report('dataset (PretrainDataset.open + rows + batches, on disk)', t));
    console.log(`fuzz dataset: ${outcome.rowsRead} rows and ${outcome.batches} batches read; shard symlinked outside the folder refused ${outcome.outsideRefused} times; FIFO refused ${outcome.fifoRefused} times${haveFifo ? '' : ' (mkfifo unavailable: FIFO cases skipped)'}`);
    if (process.env.FUZZ_CASE === undefined) {
      expect(t.cases).toBe(Number(process.env.FUZZ_CASES ?? CASES));
      expect(t.ok).toBeGreaterThan(CASES / 10);
      expect(t.rejected).toBeGreaterThan(CASES / 3);
      expect(outcome.outsideRefused).toBeGreaterThan(0);
    }
    expect(t.slowestMs).toBeLessThan(3000);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
