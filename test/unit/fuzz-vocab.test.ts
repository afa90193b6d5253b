/*
 * Fuzzes vocab.txt: mutated texts (byte flips, truncation, splicing, invalid UTF-8, lines deleted,
 * duplicated, swapped, emptied or made very long, CR line ends, many lines) through
 * ElectraTokenizer.fromVocabText, which fromVocab and load() use, sometimes with odd special-token
 * options; a subset through load() on a directory with a mutated tokenizer_config.json and
 * special_tokens_map.json. Each case ends in a tokenizer or an ElectraError (ERR_TOKENIZER, or
 * ERR_IO for unreadable files); an accepted tokenizer must encode.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElectraTokenizer, type VocabOptions } from '../../src/tokenizer/tokenizer';
import { fuzz, mutateBytes, mutateJson, nastyValue, report, showJsonish, type Rand, fuzzTmpDir, expectBothOutcomes } from './fuzz-helpers';

const SEED = 0x70cab;
const CASES = 10_000;
const DIR_CASES = 300;
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'tokenizer', 'vocab');
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/** The fixture's first 80 tokens (the cost of a case grows with the vocabulary), and a CRLF copy. */
function bases(): string[][] {
  const lines = fs.readFileSync(path.join(FIXTURE, 'vocab.txt'), 'utf8').split('\n').filter((l) => l !== '');
  return [lines.slice(0, 80), lines.slice(0, 30), [...SPECIALS, 'a', 'b', '##a', '##b', 'the']];
}

function makeLines(r: Rand, lines: string[]): string[] {
  const l = [...lines];
  for (let k = 1 + r.int(3); k > 0; k--) {
    const i = r.int(l.length + 1);
    switch (r.int(10)) {
      case 0: l.splice(i, 1); break; // may drop a special token
      case 1: l.splice(i, 0, l[r.int(l.length)] ?? ''); break; // a duplicate
      case 2: {
        const j = r.int(l.length);
        [l[i], l[j]] = [l[j]!, l[i]!];
        break;
      }
      case 3: l.splice(i, 0, ''); break;
      case 4: l.splice(i, 0, r.pick(['x'.repeat(1 + r.int(100_000)), ' ', '\t', '\u0000', '##', '[unk]', 'ü', '\ud800', '中', ' a ', String(nastyValue(r))])); break;
      case 5: l.splice(i, 0, ...Array.from({ length: 1 + r.int(3000) }, (_, n) => `w${n}`)); break;
      case 6: l.splice(i, 0, ...Array.from({ length: 2 + r.int(10) }, () => 'same')); break;
      case 7: if (l.length) l[r.int(l.length)] = r.pick(SPECIALS); break; // a special twice, another gone
      case 8: l.length = r.int(l.length + 1); break;
      default: l.reverse();
    }
  }
  return l;
}

function makeVocab(r: Rand, b: string[][]): string {
  const base = r.pick(b);
  const mode = r.int(10);
  if (mode < 6) return makeLines(r, base).join(r.chance(0.85) ? '\n' : r.pick(['\r\n', '\r', '\n\n'])) + (r.chance(0.8) ? '\n' : '');
  if (mode < 9) {
    let bytes: Buffer = Buffer.from(base.join('\n') + '\n');
    const others = b.map((x) => Buffer.from(x.join('\n')));
    for (let k = 1 + r.int(2); k > 0; k--) bytes = mutateBytes(bytes, r, others, ['\n', '\r\n', '\r', '\u0000', ...SPECIALS, '##', '\ufeff']);
    return bytes.toString('utf8');
  }
  return r.pick(['', '\n', '\n\n\n', '[PAD]', SPECIALS.join('\r'), '\ufeff' + SPECIALS.join('\n'), SPECIALS.join('\n').repeat(2), 'a\n'.repeat(50_000)]);
}

/** Special-token options as a tokenizer_config.json might give them. */
function makeOpts(r: Rand): VocabOptions {
  if (r.chance(0.8)) return {};
  const o: VocabOptions = {};
  if (r.chance(0.5)) o.lowercase = r.chance(0.5);
  if (r.chance(0.5)) o.specialTokens = { [r.pick(['pad', 'unk', 'cls', 'sep', 'mask'])]: r.pick([...SPECIALS, 'a', '', 'missing', '\u0000']) };
  return o;
}

async function checkTokenizer(tok: ElectraTokenizer, r: Rand): Promise<void> {
  const n = tok.vocabSize;
  for (const id of Object.values(tok.specialIds)) if (!(id >= 0 && id < n)) throw new Error(`special id ${id} outside [0, ${n})`);
  if (tok.vocab().length !== n) throw new Error('vocab() length differs from vocabSize');
  if (r.chance(0.1)) {
    const e = await tok.encodePair('Hello, the nation! 12:30 aaa', 'ünïcode 中文 text');
    for (const id of e.ids) if (!(Number.isInteger(id) && id >= 0 && id < n)) throw new Error(`encode gave id ${id} outside [0, ${n})`);
    await tok.decode(e.ids);
  }
}

test(`${CASES} mutated vocab.txt texts end in a tokenizer or ERR_TOKENIZER (seed 0x${SEED.toString(16)})`, async () => {
  const b = bases();
  const t = await fuzz({
    name: 'vocab.txt',
    seed: SEED,
    cases: CASES,
    codes: ['ERR_TOKENIZER'],
    make: (r) => ({ text: makeVocab(r, b), opts: makeOpts(r) }),
    run: async (c, r) => checkTokenizer(ElectraTokenizer.fromVocabText(c.text, c.opts, 'vocab.txt'), r),
    show: (c) => showJsonish(c),
  });
  console.log(report('vocab.txt (fromVocabText)', t));
  if (process.env.FUZZ_CASE === undefined) {
    expect(t.cases).toBe(Number(process.env.FUZZ_CASES ?? CASES));
    expect(t.ok).toBeGreaterThan(CASES / 10);
    expect(t.rejected).toBeGreaterThan(CASES / 10);
    expect(t.kinds).toBeGreaterThan(5);
  }
  expect(t.slowestMs).toBeLessThan(3000);
});

test(`${DIR_CASES} mutated tokenizer directories (vocab.txt + tokenizer_config.json + special_tokens_map.json) through load()`, async () => {
  const b = bases();
  const dir = fuzzTmpDir('electra-fuzz-vocab-');
  const cfgBase = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'tokenizer_config.json'), 'utf8')) as unknown;
  const mapBase = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'special_tokens_map.json'), 'utf8')) as unknown;
  const keys = ['do_lower_case', 'strip_accents', 'tokenize_chinese_chars', 'model_max_length', 'pad_token', 'unk_token', 'cls_token', 'sep_token', 'mask_token', 'content', 'tokenizer_file', 'vocab_file'];
  try {
    const t = await fuzz({
      name: 'tokenizer dir (vocab.txt)',
      seed: SEED + 1,
      cases: DIR_CASES,
      codes: ['ERR_TOKENIZER', 'ERR_IO'],
      make: (r) => ({
        vocab: r.chance(0.5) ? makeVocab(r, b) : r.pick(b).join('\n'),
        cfg: r.chance(0.3) ? mutateBytes(Buffer.from(JSON.stringify(cfgBase)), r).toString('utf8') : JSON.stringify(r.chance(0.7) ? mutateJson(cfgBase, r, keys, 1 + r.int(2)) : cfgBase),
        map: r.chance(0.5) ? JSON.stringify(mutateJson(mapBase, r, keys)) : r.chance(0.5) ? JSON.stringify(mapBase) : undefined,
      }),
      run: async (c, r) => {
        fs.writeFileSync(path.join(dir, 'vocab.txt'), c.vocab);
        fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), c.cfg);
        if (c.map === undefined) fs.rmSync(path.join(dir, 'special_tokens_map.json'), { force: true });
        else fs.writeFileSync(path.join(dir, 'special_tokens_map.json'), c.map);
        const tok = ElectraTokenizer.load(dir);
        await checkTokenizer(tok, r);
        const o = tok.options;
        if (typeof o.lowercase !== 'boolean' || typeof o.stripAccents !== 'boolean' || typeof o.handleChineseChars !== 'boolean') throw new Error(`options of the wrong type: ${JSON.stringify(o)}`);
        if (!Number.isInteger(o.modelMaxLength) || o.modelMaxLength < 1) throw new Error(`modelMaxLength ${o.modelMaxLength}`);
      },
      show: (c) => showJsonish(c),
    });
    console.log(report('tokenizer dir (load, vocab.txt)', t));
    expectBothOutcomes(t, DIR_CASES);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
