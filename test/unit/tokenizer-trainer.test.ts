import * as hf from 'tokenizers';
import { bertNormalize, bertPreTokenize, trainWordPiece, WordCounter, ElectraTokenizer } from '../../src/tokenizer';

const TEXT = [
  'The generator replaces tokens and the discriminator detects the replaced tokens.',
  'Training trains trainers; retraining is training again.',
  'Café naïve résumé, 1990 and 2024!',
].join('\n');

function counts(text = TEXT, opts = {}) {
  const c = new WordCounter(opts);
  c.add(text);
  return c.counts;
}

describe('WordPiece trainer', () => {
  test('honours the size exactly and puts the specials first, [PAD] at 0', () => {
    for (const size of [120, 150, 200]) {
      const r = trainWordPiece(counts(), { size, minFrequency: 1 });
      expect(r.vocab.length).toBe(size);
      expect(new Set(r.vocab).size).toBe(size);
      expect(r.vocab.slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    }
  });

  test('fills with [unusedN] when the corpus runs out of pairs', () => {
    const r = trainWordPiece(counts('ab ab ab'), { size: 20 });
    expect(r.vocab.length).toBe(20);
    expect(r.vocab).toContain('ab');
    expect(r.fillers).toBe(20 - 5 - 4 - 1);
    expect(r.vocab[19]).toBe(`[unused${r.fillers - 1}]`);
  });

  test('every alphabet character exists as a start and as a ## continuation', () => {
    const r = trainWordPiece(counts(), { size: 200, minFrequency: 1 });
    for (const ch of 'abcdefghijklmnoprstuvwxyz0129') {
      if (!TEXT.toLowerCase().includes(ch)) continue;
      expect(r.vocab).toContain(ch);
      expect(r.vocab).toContain('##' + ch);
    }
  });

  test('frequent words become single tokens, and the result encodes without [UNK]', async () => {
    const r = trainWordPiece(counts(), { size: 200, minFrequency: 2 });
    expect(r.vocab).toContain('the');
    expect(r.vocab).toContain('tokens');
    const tok = ElectraTokenizer.fromVocabList(r.vocab);
    const e = await tok.encode(TEXT);
    expect(e.ids).not.toContain(tok.unkId);
    expect(e.tokens).toContain('the');
  });

  test('is deterministic and order-independent of the input map', () => {
    const a = trainWordPiece(counts(), { size: 180, minFrequency: 1 });
    const reversed = new Map([...counts()].reverse());
    const b = trainWordPiece(reversed, { size: 180, minFrequency: 1 });
    expect(b.vocab.slice(0, 5 + a.alphabet * 2)).toEqual(a.vocab.slice(0, 5 + a.alphabet * 2));
    expect(new Set(b.vocab)).toEqual(new Set(a.vocab));
    expect(trainWordPiece(counts(), { size: 180, minFrequency: 1 }).vocab).toEqual(a.vocab);
  });

  test('limits the alphabet when the size cannot hold it', () => {
    const r = trainWordPiece(counts(), { size: 25 });
    expect(r.vocab.length).toBe(25);
    expect(r.alphabet).toBe(10);
    expect(r.skippedWords).toBeGreaterThan(0);
  });

  test('rejects sizes that cannot hold specials, and an empty corpus', () => {
    expect(() => trainWordPiece(counts(), { size: 5 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    expect(() => trainWordPiece(new Map(), { size: 100 })).toThrow(expect.objectContaining({ code: 'ERR_DATA' }));
  });
});

describe('JS BERT normalisation matches the binding', () => {
  const samples = ['Héllo, WORLD!', 'naïve café\tÜber\u00a0straße', '中文字 and $5+3=8 ~tilde~ <a|b>', 'ctrl\u0001char\u200b zero-width', "it's 3.14%"];
  test.each(samples)('%j', (s) => {
    const n = hf.bertNormalizer({ lowercase: true });
    const p = hf.bertPreTokenizer();
    const ref = p.preTokenizeString(n.normalizeString(s)).map(([w]) => w);
    expect(bertPreTokenize(bertNormalize(s))).toEqual(ref);
  });
  test('cased, accents kept', () => {
    const n = hf.bertNormalizer({ lowercase: false, stripAccents: false });
    expect(bertNormalize('Héllo Wörld', { lowercase: false })).toBe(n.normalizeString('Héllo Wörld'));
  });
});
