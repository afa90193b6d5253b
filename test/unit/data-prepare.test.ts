import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { ElectraTokenizer, trainWordPiece, WordCounter } from '../../src/tokenizer';
import { prepare, PretrainDataset, checkVocab, BatchLoader, Sampler, readMeta, type Batch } from '../../src/data';
import { logUnigramBias, tokenCounts } from '../../src/train/unigram';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'prep-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const WORDS = 'the a generator discriminator replaces detects token tokens model learns every word sentence document quick brown fox dog'.split(' ');
function corpusText(docs: number, seed = 1): string {
  let x = seed;
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) % 2147483648), x % n);
  const out: string[] = [];
  for (let d = 0; d < docs; d++) {
    const sents: string[] = [];
    const ns = 1 + rnd(12);
    for (let s = 0; s < ns; s++) {
      const w = Array.from({ length: 3 + rnd(15) }, () => WORDS[rnd(WORDS.length)]!);
      w[0] = w[0]![0]!.toUpperCase() + w[0]!.slice(1);
      sents.push(w.join(' ') + '.');
    }
    out.push(sents.join(' '));
  }
  return out.join('\n\n') + '\n';
}

const corpus = path.join(tmp, 'corpus.txt');
fs.writeFileSync(corpus, corpusText(300));
const wc = new WordCounter();
wc.add(fs.readFileSync(corpus, 'utf8'));
const tok = ElectraTokenizer.fromVocabList(trainWordPiece(wc.counts, { size: 120 }).vocab);
const read = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.bin')).sort().map((f) => fs.readFileSync(path.join(dir, f)));

describe('prepare', () => {
  const out = path.join(tmp, 'd1');
  let meta: ReturnType<typeof readMeta>;
  beforeAll(async () => {
    meta = (await prepare({ corpus, tokenizer: tok, out, maxLength: 32, shardSize: 100, workers: 0, progress: false, seed: 3 })).meta;
  });

  test('writes uint16 shards of fixed rows and a complete meta.json', () => {
    expect(meta.dtype).toBe('uint16');
    expect(meta.vocabHash).toBe(tok.vocabHash);
    expect(meta.vocabSize).toBe(120);
    expect(meta.maxLength).toBe(32);
    expect(meta.counts.documents).toBe(300);
    expect(meta.shards.length).toBe(Math.ceil(meta.counts.examples / 100));
    expect(meta.shards.reduce((n, s) => n + s.examples, 0)).toBe(meta.counts.examples);
    for (const s of meta.shards) expect(fs.statSync(path.join(out, s.file)).size).toBe(s.examples * 34 * 2);
    expect(readMeta(out)).toEqual(meta);
    expect(meta.counts.truncatedTokens).toBe(meta.skipped.find((s) => s.reason.startsWith('tokens cut'))?.count ?? 0);
  });

  test('rows decode back to [CLS] A [SEP] B [SEP] of the corpus, with types and mask', async () => {
    const ds = PretrainDataset.open(out);
    expect(ds.length).toBe(meta.counts.examples);
    let tokens = 0;
    for (let i = 0; i < ds.length; i++) {
      const { ids, tokenTypeIds, attentionMask } = ds.get(i);
      const len = attentionMask.reduce((a, b) => a + b, 0);
      tokens += len;
      expect(ids[0]).toBe(tok.clsId);
      expect(ids[len - 1]).toBe(tok.sepId);
      expect(Array.from(ids.subarray(len)).every((x) => x === tok.padId)).toBe(true);
      const lenA = tokenTypeIds.indexOf(1) === -1 ? len : tokenTypeIds.indexOf(1);
      expect(ids[lenA - 1]).toBe(tok.sepId);
    }
    expect(tokens).toBe(meta.counts.tokens);
    const text = await tok.decode(Array.from(ds.get(0).ids));
    expect(fs.readFileSync(corpus, 'utf8').toLowerCase().replace(/\s+/g, ' ')).toContain(text.split(' ').slice(0, 4).join(' '));
    ds.close();
  });

  test('same seed -> identical shards; other seed -> different; worker threads give identical bytes', async () => {
    const again = path.join(tmp, 'd2');
    await prepare({ corpus, tokenizer: tok, out: again, maxLength: 32, shardSize: 100, workers: 0, progress: false, seed: 3 });
    expect(read(again)).toEqual(read(out));
    const other = path.join(tmp, 'd3');
    await prepare({ corpus, tokenizer: tok, out: other, maxLength: 32, shardSize: 100, workers: 0, progress: false, seed: 4 });
    expect(Buffer.concat(read(other)).equals(Buffer.concat(read(out)))).toBe(false);
    // build the worker entry the way tsup does, then run with 2 worker threads and small jobs
    // inside the repository so that the bundle resolves the `tokenizers` package
    const workerPath = path.join(__dirname, '../../node_modules/.cache/electra-test', `worker-${process.pid}.cjs`);
    buildSync({ entryPoints: [path.join(__dirname, '../../src/data/worker.ts')], bundle: true, platform: 'node', format: 'cjs', external: ['tokenizers'], outfile: workerPath, logLevel: 'error' });
    const w = path.join(tmp, 'd4');
    const r = await prepare({ corpus, tokenizer: tok, out: w, maxLength: 32, shardSize: 100, workers: 2, workerPath, jobChars: 2000, progress: false, seed: 3 });
    expect(r.workers).toBe(2);
    expect(read(w)).toEqual(read(out));
    fs.rmSync(workerPath, { force: true });
  });

  test('refuses to overwrite without the flag', async () => {
    await expect(prepare({ corpus, tokenizer: tok, out, maxLength: 32, workers: 0, progress: false })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  });

  test('uint32 rows when the vocabulary exceeds 65536', async () => {
    const big = [...tok.vocab(), ...Array.from({ length: 65600 - 120 }, (_, i) => `zz${i}`)];
    const bigTok = ElectraTokenizer.fromVocabList(big);
    const o = path.join(tmp, 'd32');
    fs.writeFileSync(path.join(tmp, 'small.txt'), 'The dog zz65000 learns. The fox zz70 detects.\n');
    const { meta: m } = await prepare({ corpus: path.join(tmp, 'small.txt'), tokenizer: bigTok, out: o, maxLength: 16, workers: 0, progress: false });
    expect(m.dtype).toBe('uint32');
    const ds = PretrainDataset.open(o);
    expect(Array.from(ds.get(0).ids)).toContain(bigTok.tokenToId('zz65000'));
    ds.close();
  });

  test('bad input: empty corpus, non-UTF-8 file, long line, one-sentence document', async () => {
    const empty = path.join(tmp, 'empty.txt');
    fs.writeFileSync(empty, '\n\n   \n');
    await expect(prepare({ corpus: empty, tokenizer: tok, out: path.join(tmp, 'e'), workers: 0, progress: false })).rejects.toMatchObject({ code: 'ERR_DATA', message: expect.stringMatching(/no examples/) });
    const dir = path.join(tmp, 'mixed');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'a.txt'), `Only one sentence here.\n\n${Array.from({ length: 200 }, () => 'dog').join(' ')}\n`);
    fs.writeFileSync(path.join(dir, 'b.bin'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]));
    const r = await prepare({ corpus: dir, tokenizer: tok, out: path.join(tmp, 'm'), maxLength: 32, workers: 0, progress: false });
    const reasons = r.meta.skipped.map((s) => s.reason);
    expect(reasons).toContain('not UTF-8 (rest of file skipped)');
    expect(r.meta.skipped.find((s) => s.reason.startsWith('not UTF-8'))!.examples[0]).toContain('b.bin');
    expect(r.meta.counts.oneSentenceDocuments).toBe(2); // the short one and the long unpunctuated line
    expect(r.meta.counts.longSentences).toBe(1);
    const n = (await tok.encode('Only one sentence here.', { addSpecialTokens: false })).ids.length + 200;
    expect(r.meta.counts.inputTokens).toBe(n);
    const c = r.meta.counts; // every input token is either in an example or counted as cut
    expect(c.tokens - 2 * c.examples - (c.examples - c.singleSegment) + c.truncatedTokens).toBe(n);
  });
});

describe('dataset checks', () => {
  const out = path.join(tmp, 'chk');
  beforeAll(async () => {
    await prepare({ corpus, tokenizer: tok, out, maxLength: 32, shardSize: 200, workers: 0, progress: false });
  });

  test('checkVocab: ERR_DATA for another vocabulary', () => {
    const meta = readMeta(out);
    expect(() => checkVocab(meta, tok)).not.toThrow();
    const other = ElectraTokenizer.fromVocabList([...tok.vocab().slice(0, 119), 'different']);
    expect(() => checkVocab(meta, other)).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringContaining('another vocabulary') }));
  });

  test('pread datasets remember verified shards by size, mtime and inode; a rewritten shard is hashed again', () => {
    const copy = path.join(tmp, 'verify-cache');
    fs.cpSync(out, copy, { recursive: true });
    PretrainDataset.open(copy, { mode: 'pread' }).close();
    const stamps = JSON.parse(fs.readFileSync(path.join(copy, '.verified.json'), 'utf8')) as Record<string, { sha256: string }>;
    const meta = JSON.parse(fs.readFileSync(path.join(copy, 'meta.json'), 'utf8')) as { shards: { file: string; sha256: string }[] };
    expect(Object.fromEntries(Object.entries(stamps).map(([k, v]) => [k, v.sha256]))).toEqual(Object.fromEntries(meta.shards.map((x) => [x.file, x.sha256])));
    // A flipped byte written in place (a new mtime) is caught despite the remembered stamp.
    const f = path.join(copy, meta.shards[0]!.file);
    const buf = fs.readFileSync(f);
    buf[7] = buf[7]! ^ 0x10;
    fs.writeFileSync(f, buf);
    fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
    expect(() => PretrainDataset.open(copy, { mode: 'pread' })).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringContaining(f) }));
  });

  test('truncated shard: ERR_DATA naming the file; checksum verification', () => {
    const copy = path.join(tmp, 'chk-copy');
    fs.cpSync(out, copy, { recursive: true });
    const f = path.join(copy, 'shard-00001.bin');
    const buf = fs.readFileSync(f);
    fs.writeFileSync(f, buf.subarray(0, buf.length - 10));
    expect(() => PretrainDataset.open(copy)).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringContaining(f) }));
    buf[100] = buf[100]! ^ 1;
    fs.writeFileSync(f, buf);
    // One flipped byte: ERR_DATA naming the shard, whether the shards are loaded or read in place.
    for (const mode of ['memory', 'pread'] as const) {
      expect(() => PretrainDataset.open(copy, { mode })).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringMatching(new RegExp(`shard ${f} has sha256 .*changed or is corrupt`)) }));
    }
    expect(() => PretrainDataset.open(copy, { verify: 'checksum' })).toThrow(/sha256/);
    expect(() => PretrainDataset.open(copy, { verify: 'size' }).close()).not.toThrow();
    fs.rmSync(path.join(copy, 'meta.json'));
    expect(() => PretrainDataset.open(copy)).toThrow(expect.objectContaining({ code: 'ERR_DATA' }));
  });
});

describe('sampler and loader', () => {
  const out = path.join(tmp, 'ld');
  let ds: PretrainDataset;
  beforeAll(async () => {
    await prepare({ corpus, tokenizer: tok, out, maxLength: 32, shardSize: 64, workers: 0, progress: false });
    ds = PretrainDataset.open(out);
  });
  afterAll(() => ds.close());

  async function take(l: BatchLoader, n: number): Promise<Batch[]> {
    const r: Batch[] = [];
    for (let i = 0; i < n; i++) r.push((await l.next())!);
    return r;
  }

  test('batches: shape, Int32Array row-major, consistent with dataset rows', async () => {
    const l = new BatchLoader(ds, { batchSize: 8, seed: 1 });
    const [b] = await take(l, 1);
    expect(b!.shape).toEqual([8, 32]);
    expect(b!.inputIds).toBeInstanceOf(Int32Array);
    expect(b!.inputIds.length).toBe(256);
    for (let r = 0; r < 8; r++) {
      const row = ds.get(b!.indices[r]!);
      expect(Array.from(b!.inputIds.subarray(r * 32, r * 32 + 32))).toEqual(Array.from(row.ids));
      expect(Array.from(b!.tokenTypeIds.subarray(r * 32, r * 32 + 32))).toEqual(Array.from(row.tokenTypeIds));
      expect(Array.from(b!.attentionMask.subarray(r * 32, r * 32 + 32))).toEqual(Array.from(row.attentionMask));
    }
    l.close();
    expect(await l.next()).toBeNull();
  });

  test('an epoch visits every example once, shuffled across shards; epochs differ', async () => {
    const l = new BatchLoader(ds, { batchSize: 1, seed: 9, epochs: 2 });
    const seen: number[] = [];
    for await (const b of l) seen.push(b.indices[0]!);
    expect(seen.length).toBe(2 * ds.length);
    const e0 = seen.slice(0, ds.length), e1 = seen.slice(ds.length);
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: ds.length }, (_, i) => i));
    expect(e0).not.toEqual(e1);
    expect(e0).not.toEqual([...e0].sort((a, b) => a - b));
  });

  test('cursor save/restore gives exactly the same following batches (prefetch does not move the cursor)', async () => {
    const a = new BatchLoader(ds, { batchSize: 37, seed: 5, prefetch: 6 });
    const first = await take(a, 10);
    await new Promise((r) => setTimeout(r, 20)); // let the prefetch queue fill
    const saved = JSON.parse(JSON.stringify(a.cursor()));
    expect(saved).toEqual(first[9]!.cursor);
    const cont = await take(a, 30); // crosses an epoch boundary
    a.close();
    const b = new BatchLoader(ds, { batchSize: 37, seed: 123, cursor: saved });
    const resumed = await take(b, 30);
    b.close();
    expect(resumed.map((x) => Array.from(x.indices))).toEqual(cont.map((x) => Array.from(x.indices)));
    expect(resumed.map((x) => x.cursor)).toEqual(cont.map((x) => x.cursor));
    expect(cont.some((x) => x.cursor.epoch === 1)).toBe(true);
  });

  test('per-rank sharding: ranks are disjoint, equal-sized, and cover the epoch', () => {
    const world = 3;
    const per = Math.floor(ds.length / world);
    const all: number[] = [];
    for (let rank = 0; rank < world; rank++) {
      const s = new Sampler({ size: ds.length, batchSize: 1, seed: 2, rank, worldSize: world });
      expect(s.perRank).toBe(per);
      for (let i = 0; i < per; i++) all.push(s.next()[0]!);
    }
    expect(new Set(all).size).toBe(per * world);
    expect(() => new Sampler({ size: 10, batchSize: 1, rank: 3, worldSize: 3 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });

  test('held-out split: eval is the last N examples in order; train never sees them', async () => {
    const { train, eval: ev } = ds.split(10);
    expect(ev.length).toBe(10);
    const el = new BatchLoader(ev, { batchSize: 4, shuffle: false, epochs: 1, dropLast: false });
    const got: number[] = [];
    for await (const b of el) got.push(...b.indices);
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => ds.length - 10 + i));
    const tl = new BatchLoader(train, { batchSize: 16, epochs: 1 });
    for await (const b of tl) for (const i of b.indices) expect(i).toBeLessThan(ds.length - 10);
  });

  test('pread mode reads the same rows as memory mode; maxBatches stops', async () => {
    const p = PretrainDataset.open(out, { mode: 'pread' });
    expect(p.mode).toBe('pread');
    for (const i of [0, 63, 64, ds.length - 1]) expect(Array.from(p.get(i).ids)).toEqual(Array.from(ds.get(i).ids));
    const l = new BatchLoader(p, { batchSize: 4, maxBatches: 3 });
    let n = 0;
    for await (const b of l) n += b.shape[0];
    expect(n).toBe(12);
    p.close();
  });
});

describe('unigram counts for --generator-bias unigram', () => {
  const out = path.join(tmp, 'd-unigram');
  let ds: PretrainDataset;
  beforeAll(async () => {
    await prepare({ corpus, tokenizer: tok, out, maxLength: 32, shardSize: 100, workers: 0, progress: false, seed: 3 });
    ds = PretrainDataset.open(out);
  });
  afterAll(() => ds.close());

  test('tokenCounts counts the attended tokens of every example, or of an even sample', () => {
    const direct = (rows: number[]) => {
      const c = new Float64Array(tok.vocabSize);
      for (const i of rows) {
        const e = ds.get(i);
        e.ids.forEach((id, k) => {
          if (e.attentionMask[k] === 1) c[id]! += 1;
        });
      }
      return Array.from(c);
    };
    const all = Array.from({ length: ds.length }, (_, i) => i);
    expect(Array.from(tokenCounts(ds.all(), tok.vocabSize))).toEqual(direct(all));
    // A view in the middle, sampled: 7 rows evenly spread over it.
    const view = { dataset: ds, start: 5, length: 40 };
    expect(Array.from(tokenCounts(view, tok.vocabSize, 7))).toEqual(direct(Array.from({ length: 7 }, (_, k) => 5 + Math.floor((k * 40) / 7))));
    const pad = tok.specialIds.pad;
    expect(tokenCounts(ds.all(), tok.vocabSize)[pad]).toBe(0); // padding is never attended
  });

  test('logUnigramBias: softmax of the bias is the add-one-smoothed frequency; excluded ids count 0', () => {
    const counts = Float64Array.from([5, 0, 100, 3, 7, 0]);
    const b = logUnigramBias(counts, [2]); // id 2 excluded although frequent
    const c = [5, 0, 0, 3, 7, 0].map((x) => x + 1);
    const total = c.reduce((a, x) => a + x, 0);
    const z = Array.from(b, Math.exp).reduce((a, x) => a + x, 0);
    Array.from(b).forEach((x, i) => expect(Math.exp(x) / z).toBeCloseTo(c[i]! / total, 6));
    expect(Math.abs(Array.from(b).reduce((a, x) => a + x, 0))).toBeLessThan(1e-5); // centred
    expect(b[2]).toBe(b[1]); // excluded = unseen
    expect(b[4]!).toBeGreaterThan(b[0]!);
  });
});
