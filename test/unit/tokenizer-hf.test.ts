import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElectraTokenizer, trainVocabulary } from '../../src/tokenizer';

const FIX = path.join(__dirname, '..', 'fixtures', 'tokenizer');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8')) as {
  vocab_size: number;
  special_ids: Record<string, number>;
  texts: Array<{ text: string; ids: number[]; auto_ids: number[]; tokens: string[] }>;
  pairs: Array<{ a: string; b: string; ids: number[]; type_ids: number[]; auto_ids: number[] }>;
};

describe('tokenizer vs Python transformers (fixture from make_tokenizer_fixture.py)', () => {
  const fromDir = ElectraTokenizer.load(path.join(FIX, 'vocab'));
  const fromVocabTxt = ElectraTokenizer.fromVocab(path.join(FIX, 'vocab', 'vocab.txt'));

  test('Python BertTokenizerFast and AutoTokenizer agree with each other on our saved folder', () => {
    for (const t of expected.texts) expect(t.auto_ids).toEqual(t.ids);
    for (const p of expected.pairs) expect(p.auto_ids).toEqual(p.ids);
  });

  test('single texts give the same ids and tokens as Python', async () => {
    for (const tok of [fromDir, fromVocabTxt]) {
      for (const t of expected.texts) {
        const e = await tok.encode(t.text);
        expect(e.ids).toEqual(t.ids);
        expect(e.tokens).toEqual(t.tokens);
      }
    }
  });

  test('pairs give the same ids and token types as Python', async () => {
    for (const p of expected.pairs) {
      const e = await fromDir.encodePair(p.a, p.b);
      expect(e.ids).toEqual(p.ids);
      expect(e.typeIds).toEqual(p.type_ids);
    }
  });

  test('vocab size and special ids match Python; [PAD] is 0', () => {
    expect(fromDir.vocabSize).toBe(expected.vocab_size);
    expect(fromDir.specialIds).toEqual(expected.special_ids);
    expect(fromDir.padId).toBe(0);
  });

  test('training again on the fixture corpus gives the committed vocabulary (deterministic trainer)', async () => {
    const r = await trainVocabulary(path.join(FIX, 'corpus.txt'), { size: 300, minFrequency: 1 });
    const committed = fs.readFileSync(path.join(FIX, 'vocab', 'vocab.txt'), 'utf8').trimEnd().split('\n');
    expect(r.vocab).toEqual(committed);
    expect(r.tokenizer.vocabHash).toBe(fromDir.vocabHash);
  });
});

describe('ElectraTokenizer API', () => {
  const tok = ElectraTokenizer.load(path.join(FIX, 'vocab'));

  test('encodeBatch equals encode/encodePair one by one', async () => {
    const batch = await tok.encodeBatch(['The dog sleeps.', ['Questions?', 'Answers.'], '']);
    expect(batch[0]).toEqual(await tok.encode('The dog sleeps.'));
    expect(batch[1]).toEqual(await tok.encodePair('Questions?', 'Answers.'));
    expect(batch[2]!.ids).toEqual([tok.clsId, tok.sepId]);
  });

  test('offsets point into the input text; specials are marked', async () => {
    const text = 'The Quick fox.';
    const e = await tok.encode(text);
    expect(e.specialTokensMask[0]).toBe(1);
    expect(e.specialTokensMask[e.ids.length - 1]).toBe(1);
    const words = e.offsets.slice(1, -1).map(([a, b]) => text.slice(a, b).toLowerCase());
    expect(words.join('')).toBe('thequickfox.');
    expect(e.sequenceIds).toEqual([-1, ...Array(e.ids.length - 2).fill(0), -1]);
  });

  test('maxLength truncates longest text first and keeps the specials', async () => {
    const e = await tok.encodePair('the dog the dog the dog the dog', 'fox', { maxLength: 8 });
    expect(e.ids.length).toBe(8);
    expect(e.ids[0]).toBe(tok.clsId);
    expect(e.ids.filter((x) => x === tok.sepId).length).toBe(2);
    expect(e.typeIds.filter((x) => x === 1).length).toBe(2); // 'fox' + [SEP] kept
    const noSpecial = await tok.encode('the dog', { addSpecialTokens: false });
    expect(noSpecial.ids).not.toContain(tok.clsId);
  });

  test('ids <-> tokens, decode', async () => {
    const e = await tok.encode('the quick fox');
    expect(tok.idsToTokens(e.ids)).toEqual(e.tokens);
    expect(tok.tokensToIds(e.tokens)).toEqual(e.ids);
    expect(tok.tokensToIds(['no-such-token'])).toEqual([tok.unkId]);
    expect(tok.idToToken(tok.maskId)).toBe('[MASK]');
    expect(() => tok.idsToTokens([tok.vocabSize])).toThrow(expect.objectContaining({ code: 'ERR_TOKENIZER' }));
    expect(await tok.decode(e.ids)).toBe('the quick fox');
  });

  test('save(dir) round-trips: same vocabulary hash and ids; the hash tracks vocabulary order', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tok-save-'));
    tok.save(dir);
    for (const f of ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) expect(fs.existsSync(path.join(dir, f))).toBe(true);
    const back = ElectraTokenizer.load(dir);
    expect(back.vocabHash).toBe(tok.vocabHash);
    expect((await back.encode('Café naïve')).ids).toEqual((await tok.encode('Café naïve')).ids);
    const swapped = tok.vocab();
    [swapped[10], swapped[11]] = [swapped[11]!, swapped[10]!];
    expect(ElectraTokenizer.fromVocabList(swapped).vocabHash).not.toBe(tok.vocabHash);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('lowercase / stripAccents options of vocab.txt loading', async () => {
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'cafe', 'café', 'Cafe'];
    const lower = ElectraTokenizer.fromVocabList(vocab);
    const keepAccents = ElectraTokenizer.fromVocabList(vocab, { lowercase: true, stripAccents: false });
    const cased = ElectraTokenizer.fromVocabList(vocab, { lowercase: false });
    expect((await lower.encode('Café', { addSpecialTokens: false })).tokens).toEqual(['cafe']);
    expect((await keepAccents.encode('Café', { addSpecialTokens: false })).tokens).toEqual(['café']);
    expect((await cased.encode('Cafe', { addSpecialTokens: false })).tokens).toEqual(['Cafe']);
  });

  test('a vocabulary without a special token or with duplicates is ERR_TOKENIZER', () => {
    expect(() => ElectraTokenizer.fromVocabList(['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'a'])).toThrow(expect.objectContaining({ code: 'ERR_TOKENIZER' }));
    expect(() => ElectraTokenizer.fromVocabList(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'a'])).toThrow(/appears twice/);
    expect(() => ElectraTokenizer.load(path.join(os.tmpdir(), 'no-such-tokenizer-dir'))).toThrow(expect.objectContaining({ code: 'ERR_IO' }));
  });
});
