/*
 * Fuzzes tokenizer.json: every mutated text goes through ElectraTokenizer.fromJSONString, i.e. our
 * structural check (validateTokenizerJson) and, when that passes, the `tokenizers` package and
 * our id bookkeeping. A subset goes through ElectraTokenizer.load on a directory together with a
 * mutated tokenizer_config.json and special_tokens_map.json. Each case ends in a tokenizer or an
 * ElectraError (ERR_TOKENIZER, or ERR_IO for unreadable files); an accepted tokenizer must encode.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElectraTokenizer } from '../../src/tokenizer/tokenizer';
import { deepJsonText, fuzz, mutateBytes, mutateJson, NASTY_LITERALS, nastyValue, report, showJsonish, type Rand, fuzzTmpDir, expectBothOutcomes } from './fuzz-helpers';

const SEED = 0x70c3;
const CASES = 10_000;
const DIR_CASES = 300;
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'tokenizer', 'vocab');

const KEYS = [
  'version', 'truncation', 'padding', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model', 'type', 'vocab',
  'unk_token', 'continuing_subword_prefix', 'max_input_chars_per_word', 'id', 'content', 'special', 'lowercase', 'strip_accents',
  'handle_chinese_chars', 'clean_text', 'sep', 'cls', 'prefix', 'cleanup', 'normalizers', 'pretokenizers', 'merges',
];
const TYPES = ['WordPiece', 'BPE', 'WordLevel', 'Unigram', 'BertNormalizer', 'Sequence', 'BertPreTokenizer', 'BertProcessing', 'TemplateProcessing', 'ByteLevel', 'Lowercase', 'x'];

/** Small tokenizers (cost per case grows with the vocabulary): the Python fixture cut to 80 tokens, and one of ours. */
function bases(): { json: Record<string, unknown>[]; text: Buffer[] } {
  const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const model = fixture.model as { vocab: Record<string, number> };
  model.vocab = Object.fromEntries(Object.entries(model.vocab).filter(([, id]) => id < 80));
  const vocab = fs.readFileSync(path.join(FIXTURE, 'vocab.txt'), 'utf8').split('\n').filter((l) => l !== '');
  const ours = JSON.parse(ElectraTokenizer.fromVocabList(vocab.slice(0, 40), { lowercase: false }).toJSONString()) as Record<string, unknown>;
  const json = [fixture, ours];
  return { json, text: json.map((j) => Buffer.from(JSON.stringify(j))) };
}

/** Small, targeted edits: most keep the file loadable, so the `tokenizers` package and our bookkeeping see them. */
function targeted(base: Record<string, unknown>, r: Rand): Record<string, unknown> {
  const v = JSON.parse(JSON.stringify(base)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const vocab = v.model.vocab as Record<string, number>;
  const tokens = Object.keys(vocab);
  const nasty = () => r.pick([nastyValue(r), true, false, null, 0, 1, 100, 'x']);
  for (let k = 1 + r.int(2); k > 0; k--) {
    if (v.normalizer === null || typeof v.normalizer !== 'object') v.normalizer = { type: 'BertNormalizer' };
    switch (r.int(12)) {
      case 0: v.normalizer.lowercase = r.chance(0.7) ? r.chance(0.5) : nasty(); break;
      case 1: v.normalizer.strip_accents = r.pick([null, true, false, 'x', 1]); break;
      case 2: v.normalizer.handle_chinese_chars = r.chance(0.7) ? r.chance(0.5) : nasty(); break;
      case 3: v.model.max_input_chars_per_word = r.chance(0.5) ? r.int(200) : nasty(); break;
      case 4: v.model.continuing_subword_prefix = r.pick(['##', '', '@@', '#'.repeat(1000), 'x']); break;
      case 5: v.model.unk_token = r.chance(0.7) ? r.pick(tokens) : nasty(); break;
      case 6: {
        // rename a token, keeping its id (a rename onto an existing token leaves a gap)
        const t = r.pick(tokens);
        const id = vocab[t]!;
        delete vocab[t];
        vocab[r.chance(0.5) ? `${t}${r.int(10)}` : r.pick(['', ' ', '\u0000', '##', '[MASK]', 'ü'.repeat(300), t.toUpperCase()])] = id;
        break;
      }
      case 7: {
        const n = Object.keys(vocab).length;
        const id = r.chance(0.7) ? n : r.pick([n + 1, 0, n - 1, -1, 2 ** 24]);
        v.added_tokens.push({ id, content: r.pick(['<new>', '[PAD]', '', 'x'.repeat(500), 'hello']), single_word: r.chance(0.5), lstrip: false, rstrip: false, normalized: r.chance(0.5), special: r.chance(0.5) });
        if (r.chance(0.5)) vocab[`<tok${n}>`] = n;
        break;
      }
      case 8:
        if (v.post_processor) v.post_processor[r.pick(['sep', 'cls'])] = r.pick([['[SEP]', 3], ['[CLS]', 9999], ['x', -1], ['[SEP]'], 'x', null]);
        break;
      case 9:
        v[r.pick(['padding', 'truncation'])] = r.pick([
          { strategy: { Fixed: 1_000_000_000 }, direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]' },
          { direction: 'Right', max_length: 4, strategy: 'LongestFirst', stride: 0 },
          null, 'x', 5,
        ]);
        break;
      case 10:
        v[r.pick(['normalizer', 'pre_tokenizer', 'decoder'])] = r.pick([null, { type: 'Lowercase' }, { type: 'Whitespace' }, { type: 'Sequence', normalizers: [] }, { type: 'Strip', strip_left: true, strip_right: true }]);
        break;
      default:
        v[r.pick(['version', 'extra'])] = nasty();
    }
  }
  return v;
}

/** Mutates outside the vocabulary half of the time (it is most of the tree otherwise). */
function mutateTok(v: Record<string, unknown>, r: Rand, times: number): unknown {
  const model = v.model as Record<string, unknown> | undefined;
  if (r.chance(0.5) && model && typeof model === 'object' && 'vocab' in model) {
    const hole = { ...v, model: { ...model, vocab: '\u0000vocab' } };
    const m = mutateJson(hole, r, KEYS, times) as Record<string, unknown>;
    const mm = m?.model as Record<string, unknown> | undefined;
    if (mm && typeof mm === 'object' && mm.vocab === '\u0000vocab') mm.vocab = JSON.parse(JSON.stringify(model.vocab));
    return m;
  }
  return mutateJson(v, r, KEYS, times);
}

function makeTokenizerJson(r: Rand, b: ReturnType<typeof bases>): string {
  const mode = r.int(10);
  if (mode < 3) return JSON.stringify(targeted(r.pick(b.json), r));
  if (mode < 6) {
    const v = mutateTok(r.pick(b.json), r, 1 + r.int(3)) as Record<string, unknown> | null;
    if (r.chance(0.15) && v !== null && typeof v === 'object') {
      const p = (v as Record<string, unknown>)[r.pick(['normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model'])];
      if (p !== null && typeof p === 'object') (p as Record<string, unknown>).type = r.pick(TYPES);
    }
    return JSON.stringify(v) ?? 'undefined';
  }
  if (mode < 9) {
    let bytes: Buffer = r.pick(b.text);
    for (let k = 1 + r.int(2); k > 0; k--) bytes = mutateBytes(bytes, r, b.text, ['{', '}', '[', ']', ',', ':', '"', ...NASTY_LITERALS, ...KEYS.map((k) => `"${k}"`), ...TYPES.map((t) => `"${t}"`)]);
    return bytes.toString('utf8');
  }
  const base = JSON.stringify(r.pick(b.json));
  switch (r.int(3)) {
    case 0:
      return `{"normalizer": ${deepJsonText(r)}, ${base.slice(1)}`;
    case 1:
      // a vocabulary with ids far apart, or very many tokens
      return JSON.stringify({ ...r.pick(b.json), model: { type: 'WordPiece', unk_token: '[UNK]', vocab: r.chance(0.5) ? { '[UNK]': 0, a: r.pick([2 ** 24, 2 ** 31, 2 ** 32 + 1, 1e15, 99]) } : Object.fromEntries([['[UNK]', 0], ...Array.from({ length: 5000 }, (_, i) => [`t${i}`, i + 1])]) } });
    default:
      return r.pick(['[]', 'null', '1', '""', '', '{}', '{"model": null}', '{"model": {"type": "WordPiece"}}', `{"model": {"type": "${'W'.repeat(100_000)}"}}`]);
  }
}

test(`${CASES} mutated tokenizer.json texts end in a tokenizer or ERR_TOKENIZER (seed 0x${SEED.toString(16)})`, async () => {
  const b = bases();
  const split = { json: 0, validation: 0, tokenizers: 0, ids: 0, encoded: 0 };
  const t = await fuzz({
    name: 'tokenizer.json',
    seed: SEED,
    cases: CASES,
    codes: ['ERR_TOKENIZER'],
    make: (r) => makeTokenizerJson(r, b),
    run: async (text, r) => {
      let tok: ElectraTokenizer;
      try {
        tok = ElectraTokenizer.fromJSONString(text, {}, 'tokenizer.json');
      } catch (e) {
        // Which stage refused it: no cause = our structural check; a SyntaxError = JSON.parse;
        // an ElectraError = our id bookkeeping after the package loaded it; else the package.
        const cause = (e as Error).cause;
        if (cause === undefined) split.validation++;
        else if (cause instanceof SyntaxError) split.json++;
        else if ((cause as Error).name === 'ElectraError') split.ids++;
        else split.tokenizers++;
        throw e;
      }
      const n = tok.vocabSize;
      for (const id of Object.values(tok.specialIds)) if (!(id >= 0 && id < n)) throw new Error(`special id ${id} outside [0, ${n})`);
      if (r.chance(0.1)) {
        split.encoded++;
        const e = await tok.encodePair('Hello, the nation! 12:30', 'ünïcode 中文 text');
        for (const id of e.ids) if (!(Number.isInteger(id) && id >= 0 && id < n)) throw new Error(`encode gave id ${id} outside [0, ${n})`);
        await tok.decode(e.ids);
      }
    },
    show: showJsonish,
  });
  console.log(report('tokenizer.json (fromJSONString)', t));
  console.log(`fuzz tokenizer.json: rejected as invalid JSON ${split.json}, by our structural check ${split.validation}, by the tokenizers package ${split.tokenizers}, by the id checks after it ${split.ids}; ${split.encoded} accepted tokenizers also encoded a pair`);
  if (process.env.FUZZ_CASE === undefined) {
    expect(t.cases).toBe(Number(process.env.FUZZ_CASES ?? CASES));
    expect(t.ok).toBeGreaterThan(CASES / 20);
    expect(t.rejected).toBeGreaterThan(CASES / 3);
    expect(t.kinds).toBeGreaterThan(30);
  }
  expect(t.slowestMs).toBeLessThan(3000);
});

test(`${DIR_CASES} mutated tokenizer directories (tokenizer.json + tokenizer_config.json + special_tokens_map.json) through load()`, async () => {
  const b = bases();
  const dir = fuzzTmpDir('electra-fuzz-tokjson-');
  const cfgBase = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'tokenizer_config.json'), 'utf8')) as unknown;
  const mapBase = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'special_tokens_map.json'), 'utf8')) as unknown;
  const keys = ['do_lower_case', 'strip_accents', 'tokenize_chinese_chars', 'model_max_length', 'pad_token', 'unk_token', 'cls_token', 'sep_token', 'mask_token', 'content', 'tokenizer_file', 'vocab_file'];
  try {
    const t = await fuzz({
      name: 'tokenizer dir (tokenizer.json)',
      seed: SEED + 1,
      cases: DIR_CASES,
      codes: ['ERR_TOKENIZER', 'ERR_IO'],
      make: (r) => ({
        tok: r.chance(0.5) ? makeTokenizerJson(r, b) : JSON.stringify(r.pick(b.json)),
        cfg: r.chance(0.3) ? mutateBytes(Buffer.from(JSON.stringify(cfgBase)), r).toString('utf8') : JSON.stringify(r.chance(0.7) ? mutateJson(cfgBase, r, keys) : cfgBase),
        map: r.chance(0.5) ? JSON.stringify(mutateJson(mapBase, r, keys)) : r.chance(0.5) ? JSON.stringify(mapBase) : undefined,
      }),
      run: async (c) => {
        fs.writeFileSync(path.join(dir, 'tokenizer.json'), c.tok);
        fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), c.cfg);
        if (c.map === undefined) fs.rmSync(path.join(dir, 'special_tokens_map.json'), { force: true });
        else fs.writeFileSync(path.join(dir, 'special_tokens_map.json'), c.map);
        const tok = ElectraTokenizer.load(dir);
        const o = tok.options;
        if (typeof o.lowercase !== 'boolean' || typeof o.stripAccents !== 'boolean' || typeof o.handleChineseChars !== 'boolean') throw new Error(`options of the wrong type: ${JSON.stringify(o)}`);
        if (!Number.isInteger(o.modelMaxLength) || o.modelMaxLength < 1) throw new Error(`modelMaxLength ${o.modelMaxLength}`);
        // Saving what was loaded works and loads again.
        const out = path.join(dir, 'saved');
        fs.rmSync(out, { recursive: true, force: true });
        tok.save(out);
        expect(ElectraTokenizer.load(out).vocabHash).toBe(tok.vocabHash);
      },
      show: (c) => showJsonish(c),
    });
    console.log(report('tokenizer dir (load, tokenizer.json)', t));
    expectBothOutcomes(t, DIR_CASES);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
