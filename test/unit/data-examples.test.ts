import { ExampleBuilder, Rng, splitSentences, Permutation } from '../../src/data';

describe('sentence splitter', () => {
  test('splits on terminators before capitals, not after abbreviations or initials', () => {
    expect(splitSentences('Mr. Smith met Dr. Jones in the U.S. Senate. They talked! Did J. R. agree? "Yes." 1990 ended.')).toEqual([
      'Mr. Smith met Dr. Jones in the U.S. Senate.',
      'They talked!',
      'Did J. R. agree?',
      '"Yes."',
      '1990 ended.',
    ]);
  });
  test('lines always end sentences; lines mode keeps lines whole', () => {
    expect(splitSentences('a b. c d\n\n e f ')).toEqual(['a b. c d', 'e f']);
    expect(splitSentences('One. Two.\nThree', { mode: 'lines' })).toEqual(['One. Two.', 'Three']);
    expect(splitSentences('  \n ')).toEqual([]);
  });
});

const CLS = 2, SEP = 3;
const sent = (start: number, n: number) => Array.from({ length: n }, (_, i) => 1000 + start + i);

function build(docs: number[][][], seed = 7, maxLength = 32) {
  const b = new ExampleBuilder({ maxLength, clsId: CLS, sepId: SEP, rng: new Rng(seed) });
  const out = docs.map((d) => b.addDocument(d));
  return { b, out };
}

describe('ExampleBuilder (build_pretraining_dataset.py)', () => {
  test('[CLS] A [SEP] B [SEP] structure, lenA marks the segment boundary, length <= maxLength', () => {
    const docs = Array.from({ length: 50 }, (_, d) => Array.from({ length: 8 }, (_, s) => sent(d * 100 + s * 10, 3 + ((d + s) % 7))));
    const { out } = build(docs);
    for (const ex of out.flat()) {
      expect(ex.ids.length).toBeLessThanOrEqual(32);
      expect(ex.ids[0]).toBe(CLS);
      expect(ex.ids[ex.lenA - 1]).toBe(SEP);
      expect(ex.ids[ex.ids.length - 1]).toBe(SEP);
      const seps = Array.from(ex.ids).filter((x) => x === SEP).length;
      expect(seps).toBe(ex.lenA === ex.ids.length ? 1 : 2);
    }
  });

  test('never packs across documents', () => {
    const docs = Array.from({ length: 40 }, (_, d) => [sent(d * 100, 5), sent(d * 100 + 50, 4)]);
    const { out } = build(docs, 3, 64);
    out.forEach((exs, d) => {
      for (const ex of exs) {
        for (const id of ex.ids) if (id >= 1000) expect(Math.floor((id - 1000) / 100)).toBe(d);
      }
    });
    expect(out.every((e) => e.length === 1)).toBe(true);
  });

  test('about 10% single-segment examples and 5% shorter targets, deterministic per seed', () => {
    const docs = [Array.from({ length: 20000 }, (_, s) => sent(s % 50, 6))];
    const { b, out } = build(docs, 11, 64);
    const exs = out.flat();
    const single = exs.filter((e) => e.lenA === e.ids.length).length / exs.length;
    expect(single).toBeGreaterThan(0.07);
    expect(single).toBeLessThan(0.13);
    const short = exs.filter((e) => e.ids.length < 60).length / exs.length;
    expect(short).toBeGreaterThan(0.02);
    expect(short).toBeLessThan(0.09);
    expect(b.stats.examples).toBe(exs.length);
    const again = build(docs, 11, 64).out.flat();
    expect(again.map((e) => Array.from(e.ids))).toEqual(exs.map((e) => Array.from(e.ids)));
    const other = build(docs, 12, 64).out.flat();
    expect(other.map((e) => e.lenA)).not.toEqual(exs.map((e) => e.lenA));
  });

  test('a one-sentence document gives one single-segment example', () => {
    const { b, out } = build([[sent(0, 5)]]);
    expect(out[0]!.length).toBe(1);
    expect(Array.from(out[0]![0]!.ids)).toEqual([CLS, ...sent(0, 5), SEP]);
    expect(b.stats.oneSentenceDocuments).toBe(1);
  });

  test('a sentence longer than the maximum length is cut into pieces, losses are counted', () => {
    const { b, out } = build([[sent(0, 100)]], 5, 32);
    const exs = out[0]!;
    expect(b.stats.longSentences).toBe(1);
    expect(exs.length).toBe(2); // pieces 29+29 -> one example, 29+13 -> another
    const kept = exs.reduce((n, e) => n + e.ids.length - (e.lenA === e.ids.length ? 2 : 3), 0);
    expect(kept + b.stats.truncatedTokens).toBe(100);
  });

  test('empty documents give nothing', () => {
    const { b, out } = build([[], [[]]]);
    expect(out.flat()).toEqual([]);
    expect(b.stats.documents).toBe(0);
  });
});

describe('Permutation', () => {
  test('is a bijection for many sizes, seeded', () => {
    for (const n of [1, 2, 3, 10, 97, 1000, 4097]) {
      const p = new Permutation(n, 5);
      const seen = new Uint8Array(n);
      for (let i = 0; i < n; i++) seen[p.at(i)] = seen[p.at(i)]! + 1;
      expect(seen.every((x) => x === 1)).toBe(true);
    }
    const a = Array.from({ length: 100 }, (_, i) => new Permutation(100, 1).at(i));
    const b = Array.from({ length: 100 }, (_, i) => new Permutation(100, 2).at(i));
    expect(a).not.toEqual(b);
    expect(a).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('Rng', () => {
  test('seeded, uniform-ish, randint inclusive', () => {
    const a = new Rng(42), b = new Rng(42);
    const xs = Array.from({ length: 1000 }, () => a.random());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.random()));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    const r = new Rng(1);
    const ints = new Set(Array.from({ length: 500 }, () => r.randint(5, 8)));
    expect([...ints].sort()).toEqual([5, 6, 7, 8]);
  });
});
