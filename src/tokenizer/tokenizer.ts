/**
 * The tokenizer: BERT WordPiece through the Hugging Face `tokenizers` binding, with the id
 * bookkeeping (special ids, vocabulary hash) the rest of electra-node needs, and a `save(dir)`
 * whose files Python `BertTokenizerFast` / `AutoTokenizer` load with the same ids.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as hf from 'tokenizers';
import { isRegularFile } from '../util/files';
import { ElectraError } from '../errors';

/** Normalisation options of a WordPiece tokenizer built from a `vocab.txt`. */
export interface VocabOptions {
  /** Lower-case the input (default true; BERT `do_lower_case`). */
  lowercase?: boolean;
  /** Strip accents (default: the value of `lowercase`, as BERT does). */
  stripAccents?: boolean;
  /** Put spaces around CJK ideographs (default true). */
  handleChineseChars?: boolean;
  /** The special tokens (defaults: `[PAD] [UNK] [CLS] [SEP] [MASK]`). */
  specialTokens?: Partial<SpecialTokens>;
  /** `model_max_length` written to `tokenizer_config.json` (default 512). */
  modelMaxLength?: number;
}

/** Names of the five special tokens. */
export interface SpecialTokens {
  pad: string;
  unk: string;
  cls: string;
  sep: string;
  mask: string;
}

/** Default BERT special tokens. */
export const BERT_SPECIAL_TOKENS: SpecialTokens = { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]', mask: '[MASK]' };

/** One encoded text (or pair): parallel arrays, one entry per token. */
export interface Encoded {
  /** Token ids. */
  ids: number[];
  /** Token strings (`##` marks a continuation piece). */
  tokens: string[];
  /** Segment of each token: 0 for the first text (and `[CLS]`), 1 for the second. */
  typeIds: number[];
  /** 1 for every token (there is no padding in a single encoding). */
  attentionMask: number[];
  /** 1 for `[CLS]`/`[SEP]`, 0 for text tokens. */
  specialTokensMask: number[];
  /** `[start, end)` character offsets into the text the token came from (`[0, 0]` for specials). */
  offsets: Array<[number, number]>;
  /** Which text a token came from: 0, 1, or -1 for specials. */
  sequenceIds: number[];
}

/** Options of the encode methods. */
export interface EncodeOptions {
  /** Add `[CLS]` ... `[SEP]` (default true). */
  addSpecialTokens?: boolean;
  /** Truncate to this many tokens, specials included (longest text first for a pair). */
  maxLength?: number;
}

/** What a batch entry may be: a text or a pair of texts. */
export type EncodeInput = string | readonly [string, string];

interface Raw {
  ids: number[];
  tokens: string[];
  offsets: Array<[number, number]>;
}

/**
 * A WordPiece tokenizer. Build one with {@link ElectraTokenizer.load},
 * {@link ElectraTokenizer.fromVocab}, {@link ElectraTokenizer.fromTokenizerJson} or
 * {@link ElectraTokenizer.fromVocabList}.
 */
export class ElectraTokenizer {
  readonly #tk: hf.Tokenizer;
  readonly #vocab: string[];
  readonly #ids: Map<string, number>;
  readonly #special: SpecialTokens;
  readonly #opts: Required<Omit<VocabOptions, 'specialTokens'>>;
  #hash: string | undefined;
  #json: string | undefined;

  /** Id of the padding token. */
  readonly padId: number;
  /** Id of the unknown token. */
  readonly unkId: number;
  /** Id of the classification token that starts every example. */
  readonly clsId: number;
  /** Id of the separator token. */
  readonly sepId: number;
  /** Id of the mask token. */
  readonly maskId: number;

  private constructor(tk: hf.Tokenizer, opts: VocabOptions, json?: string) {
    this.#tk = tk;
    this.#json = json;
    const lowercase = opts.lowercase ?? true;
    this.#opts = {
      lowercase,
      stripAccents: opts.stripAccents ?? lowercase,
      handleChineseChars: opts.handleChineseChars ?? true,
      modelMaxLength: opts.modelMaxLength ?? 512,
    };
    const v = tk.getVocab(true);
    const n = tk.getVocabSize(true);
    const vocab = new Array<string>(n);
    for (const [t, id] of Object.entries(v)) {
      if (!Number.isInteger(id) || id < 0 || id >= n) throw new ElectraError('ERR_TOKENIZER', `token ${JSON.stringify(t)} has id ${id} outside [0, ${n})`);
      vocab[id] = t;
    }
    for (let i = 0; i < n; i++) if (vocab[i] === undefined) throw new ElectraError('ERR_TOKENIZER', `the vocabulary has no token with id ${i}`);
    this.#vocab = vocab;
    this.#ids = new Map(vocab.map((t, i) => [t, i]));
    this.#special = { ...BERT_SPECIAL_TOKENS, ...opts.specialTokens };
    const need = (k: keyof SpecialTokens): number => {
      const id = this.#ids.get(this.#special[k]);
      if (id === undefined) throw new ElectraError('ERR_TOKENIZER', `the vocabulary has no ${k} token ${JSON.stringify(this.#special[k])}`);
      return id;
    };
    this.padId = need('pad');
    this.unkId = need('unk');
    this.clsId = need('cls');
    this.sepId = need('sep');
    this.maskId = need('mask');
  }

  /** Builds a BERT WordPiece tokenizer from tokens in id order (what the trainer returns). */
  static fromVocabList(vocab: readonly string[], opts: VocabOptions = {}): ElectraTokenizer {
    const special = { ...BERT_SPECIAL_TOKENS, ...opts.specialTokens };
    const map: Record<string, number> = {};
    vocab.forEach((t, i) => {
      if (Object.prototype.hasOwnProperty.call(map, t)) throw new ElectraError('ERR_TOKENIZER', `token ${JSON.stringify(t)} appears twice in the vocabulary (ids ${map[t]} and ${i})`);
      map[t] = i;
    });
    for (const k of Object.keys(special) as Array<keyof SpecialTokens>) {
      if (map[special[k]] === undefined) throw new ElectraError('ERR_TOKENIZER', `the vocabulary has no ${k} token ${JSON.stringify(special[k])}`);
    }
    const lowercase = opts.lowercase ?? true;
    const tk = new hf.Tokenizer(hf.WordPiece.init(map, { unkToken: special.unk, continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 }));
    tk.setNormalizer(
      hf.bertNormalizer({ cleanText: true, handleChineseChars: opts.handleChineseChars ?? true, stripAccents: opts.stripAccents ?? lowercase, lowercase }),
    );
    tk.setPreTokenizer(hf.bertPreTokenizer());
    tk.setPostProcessor(hf.bertProcessing([special.sep, map[special.sep]!], [special.cls, map[special.cls]!]));
    tk.setDecoder(hf.wordPieceDecoder('##', true));
    tk.addSpecialTokens([special.pad, special.unk, special.cls, special.sep, special.mask]);
    return new ElectraTokenizer(tk, opts);
  }

  /** Loads a BERT `vocab.txt` (one token per line; the line number is the id). */
  static fromVocab(file: string, opts: VocabOptions = {}): ElectraTokenizer {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ElectraError('ERR_IO', `cannot read vocabulary ${file}: ${(e as Error).message}`, { cause: e });
    }
    return ElectraTokenizer.fromVocabText(text, opts, file);
  }

  /** Builds a tokenizer from the text of a `vocab.txt` (`where` names it in errors). */
  static fromVocabText(text: string, opts: VocabOptions = {}, where = 'vocab.txt'): ElectraTokenizer {
    const lines = text.split(/\r?\n/);
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    if (lines.length === 0) throw new ElectraError('ERR_TOKENIZER', `vocabulary ${where} is empty`);
    if (lines.length > MAX_VOCAB) throw new ElectraError('ERR_TOKENIZER', `vocabulary ${where} has ${lines.length} tokens, more than ${MAX_VOCAB}`);
    try {
      return ElectraTokenizer.fromVocabList(lines, opts);
    } catch (e) {
      if (e instanceof ElectraError) throw new ElectraError(e.code, `${where}: ${e.message}`, { cause: e });
      throw new ElectraError('ERR_TOKENIZER', `${where} is not a valid vocabulary: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Loads a Hugging Face `tokenizer.json`. `opts` only names the special tokens and config values. */
  static fromTokenizerJson(file: string, opts: VocabOptions = {}): ElectraTokenizer {
    let json: string;
    try {
      json = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ElectraError('ERR_IO', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    return ElectraTokenizer.fromJSONString(json, opts, file);
  }

  /**
   * Builds a tokenizer from the text of a `tokenizer.json` (used by the data workers). The JSON is
   * checked by {@link validateTokenizerJson} before the `tokenizers` package sees it.
   */
  static fromJSONString(json: string, opts: VocabOptions = {}, where = 'tokenizer.json'): ElectraTokenizer {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (e) {
      throw new ElectraError('ERR_TOKENIZER', `${where} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    const t = validateTokenizerJson(parsed, where);
    // Padding and truncation are ours to do (encode, the data pipeline): a tokenizer.json that
    // asks for them (a fixed padding of 10^9 would allocate that much per text) has them dropped.
    const p = parsed as Record<string, unknown>;
    if ((p.padding !== undefined && p.padding !== null) || (p.truncation !== undefined && p.truncation !== null)) {
      json = JSON.stringify({ ...p, padding: null, truncation: null });
    }
    let tk: hf.Tokenizer;
    try {
      tk = hf.Tokenizer.fromString(json);
    } catch (e) {
      throw new ElectraError('ERR_TOKENIZER', `${where} is not a valid tokenizer: ${(e as Error).message}`, { cause: e });
    }
    const n = t.normalizer;
    const derived: VocabOptions = { ...opts };
    if (n && n.type === 'BertNormalizer') {
      derived.lowercase ??= n.lowercase ?? true;
      derived.stripAccents ??= n.strip_accents ?? derived.lowercase;
      derived.handleChineseChars ??= n.handle_chinese_chars ?? true;
    }
    try {
      return new ElectraTokenizer(tk, derived, json);
    } catch (e) {
      if (e instanceof ElectraError) throw new ElectraError(e.code, `${where}: ${e.message}`, { cause: e });
      throw new ElectraError('ERR_TOKENIZER', `${where} is not a valid tokenizer: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Loads a tokenizer from a directory (`tokenizer.json` if present, else `vocab.txt`, with
   * `tokenizer_config.json` and `special_tokens_map.json` when present) or from a file
   * (`*.json` as tokenizer.json, anything else as vocab.txt). Explicit `opts` win over the files.
   */
  static load(p: string, opts: VocabOptions = {}): ElectraTokenizer {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch (e) {
      throw new ElectraError('ERR_IO', `tokenizer path ${p} does not exist`, { cause: e });
    }
    if (!st.isDirectory()) return p.endsWith('.json') ? ElectraTokenizer.fromTokenizerJson(p, opts) : ElectraTokenizer.fromVocab(p, opts);
    const merged: VocabOptions = { ...readDirOptions(p), ...stripUndefined(opts) };
    if (opts.specialTokens) merged.specialTokens = { ...readDirOptions(p).specialTokens, ...opts.specialTokens };
    // Fixed names only: file names inside tokenizer_config.json (`vocab_file`, `tokenizer_file`) are ignored.
    const tj = path.join(p, 'tokenizer.json');
    if (isRegularFile(tj, 'tokenizer file', 'ERR_TOKENIZER')) return ElectraTokenizer.fromTokenizerJson(tj, merged);
    const vt = path.join(p, 'vocab.txt');
    if (isRegularFile(vt, 'vocabulary', 'ERR_TOKENIZER')) return ElectraTokenizer.fromVocab(vt, merged);
    throw new ElectraError('ERR_TOKENIZER', `${p} has neither tokenizer.json nor vocab.txt`);
  }

  /** Number of tokens, special and added tokens included. */
  get vocabSize(): number {
    return this.#vocab.length;
  }

  /** sha256 (hex) of the tokens in id order joined by `\n`: equal hashes mean equal ids. */
  get vocabHash(): string {
    this.#hash ??= vocabHash(this.#vocab);
    return this.#hash;
  }

  /** The special token strings. */
  get specialTokens(): SpecialTokens {
    return { ...this.#special };
  }

  /** Ids of the five special tokens. */
  get specialIds(): { pad: number; unk: number; cls: number; sep: number; mask: number } {
    return { pad: this.padId, unk: this.unkId, cls: this.clsId, sep: this.sepId, mask: this.maskId };
  }

  /** Normalisation settings (`lowercase`, `stripAccents`, `handleChineseChars`, `modelMaxLength`). */
  get options(): Readonly<Required<Omit<VocabOptions, 'specialTokens'>>> {
    return { ...this.#opts };
  }

  /** A copy of the vocabulary in id order. */
  vocab(): string[] {
    return [...this.#vocab];
  }

  /** Token of an id, or undefined when out of range. */
  idToToken(id: number): string | undefined {
    return this.#vocab[id];
  }

  /** Id of a token, or undefined when not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.#ids.get(token);
  }

  /** Tokens of ids; throws ERR_TOKENIZER on an id outside the vocabulary. */
  idsToTokens(ids: ArrayLike<number>): string[] {
    const out = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const t = this.#vocab[ids[i]!];
      if (t === undefined) throw new ElectraError('ERR_TOKENIZER', `id ${ids[i]} at position ${i} is outside the vocabulary of ${this.#vocab.length}`);
      out[i] = t;
    }
    return out;
  }

  /** Ids of tokens; unknown tokens map to the unk id. */
  tokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.#ids.get(t) ?? this.unkId);
  }

  /** Encodes one text. */
  async encode(text: string, opts: EncodeOptions = {}): Promise<Encoded> {
    const [r] = await this.#raw([text]);
    return this.#assemble(r!, undefined, opts);
  }

  /** Encodes a pair of texts: `[CLS] a [SEP] b [SEP]`, type ids 0 then 1. */
  async encodePair(a: string, b: string, opts: EncodeOptions = {}): Promise<Encoded> {
    const [ra, rb] = await this.#raw([a, b]);
    return this.#assemble(ra!, rb!, opts);
  }

  /** Encodes many texts or pairs in one call into the binding (parallel in Rust). */
  async encodeBatch(inputs: readonly EncodeInput[], opts: EncodeOptions = {}): Promise<Encoded[]> {
    const flat: string[] = [];
    for (const x of inputs) {
      if (typeof x === 'string') flat.push(x);
      else flat.push(x[0], x[1]);
    }
    const raws = await this.#raw(flat);
    const out: Encoded[] = [];
    let k = 0;
    for (const x of inputs) {
      if (typeof x === 'string') out.push(this.#assemble(raws[k++]!, undefined, opts));
      else {
        out.push(this.#assemble(raws[k]!, raws[k + 1]!, opts));
        k += 2;
      }
    }
    return out;
  }

  /** Ids of many texts without special tokens, as flat arrays (the fast path of data preparation). */
  async encodeIds(texts: readonly string[]): Promise<number[][]> {
    if (texts.length === 0) return [];
    const encs = await hfCall('encode', () => this.#tk.encodeBatch([...texts], { addSpecialTokens: false }));
    return encs.map((e) => e.getIds());
  }

  /** Text of ids (pieces joined, `##` removed); special tokens skipped unless asked. */
  async decode(ids: ArrayLike<number>, skipSpecialTokens = true): Promise<string> {
    return hfCall('decode', () => this.#tk.decode(Array.from(ids), skipSpecialTokens));
  }

  /** The `tokenizer.json` text of this tokenizer. */
  toJSONString(): string {
    if (this.#json === undefined) {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-tok-'));
      try {
        const f = path.join(tmp, 'tokenizer.json');
        this.#tk.save(f, false);
        this.#json = fs.readFileSync(f, 'utf8');
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    }
    return this.#json;
  }

  /**
   * Writes `tokenizer.json`, `vocab.txt` (for a WordPiece model), `tokenizer_config.json` and
   * `special_tokens_map.json` into `dir` (created if needed).
   */
  save(dir: string): void {
    try {
      fs.mkdirSync(dir, { recursive: true });
      const json = this.toJSONString();
      fs.writeFileSync(path.join(dir, 'tokenizer.json'), json);
      const model = (JSON.parse(json) as { model?: { type?: string } }).model;
      if (model?.type === 'WordPiece') fs.writeFileSync(path.join(dir, 'vocab.txt'), this.#vocab.join('\n') + '\n');
      const s = this.#special;
      const map = { unk_token: s.unk, sep_token: s.sep, pad_token: s.pad, cls_token: s.cls, mask_token: s.mask };
      const decoder: Record<string, unknown> = {};
      for (const t of [s.pad, s.unk, s.cls, s.sep, s.mask]) {
        decoder[String(this.#ids.get(t))] = { content: t, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
      }
      const config = {
        tokenizer_class: 'BertTokenizer',
        do_lower_case: this.#opts.lowercase,
        strip_accents: this.#opts.stripAccents === this.#opts.lowercase ? null : this.#opts.stripAccents,
        tokenize_chinese_chars: this.#opts.handleChineseChars,
        do_basic_tokenize: true,
        never_split: null,
        model_max_length: this.#opts.modelMaxLength,
        clean_up_tokenization_spaces: true,
        added_tokens_decoder: decoder,
        ...map,
      };
      fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
      fs.writeFileSync(path.join(dir, 'special_tokens_map.json'), JSON.stringify(map, null, 2) + '\n');
    } catch (e) {
      if (e instanceof ElectraError) throw e;
      throw new ElectraError('ERR_IO', `cannot save the tokenizer to ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }

  async #raw(texts: string[]): Promise<Raw[]> {
    if (texts.length === 0) return [];
    const encs = await hfCall('encode', () => this.#tk.encodeBatch(texts, { addSpecialTokens: false }));
    return encs.map((e) => ({ ids: e.getIds(), tokens: e.getTokens(), offsets: e.getOffsets() as Array<[number, number]> }));
  }

  #assemble(a: Raw, b: Raw | undefined, opts: EncodeOptions): Encoded {
    const special = opts.addSpecialTokens ?? true;
    let la = a.ids.length;
    let lb = b ? b.ids.length : 0;
    if (opts.maxLength !== undefined) {
      const budget = opts.maxLength - (special ? (b ? 3 : 2) : 0);
      if (budget < 0) throw new ElectraError('ERR_INPUT', `maxLength ${opts.maxLength} cannot hold the special tokens`);
      while (la + lb > budget) {
        if (la >= lb) la--;
        else lb--;
      }
    }
    const e: Encoded = { ids: [], tokens: [], typeIds: [], attentionMask: [], specialTokensMask: [], offsets: [], sequenceIds: [] };
    const push = (id: number, tok: string, type: number, sp: number, off: [number, number], seq: number) => {
      e.ids.push(id);
      e.tokens.push(tok);
      e.typeIds.push(type);
      e.attentionMask.push(1);
      e.specialTokensMask.push(sp);
      e.offsets.push(off);
      e.sequenceIds.push(seq);
    };
    if (special) push(this.clsId, this.#special.cls, 0, 1, [0, 0], -1);
    for (let i = 0; i < la; i++) push(a.ids[i]!, a.tokens[i]!, 0, 0, [a.offsets[i]![0]!, a.offsets[i]![1]!], 0);
    if (special) push(this.sepId, this.#special.sep, 0, 1, [0, 0], -1);
    if (b) {
      for (let i = 0; i < lb; i++) push(b.ids[i]!, b.tokens[i]!, 1, 0, [b.offsets[i]![0]!, b.offsets[i]![1]!], 1);
      if (special) push(this.sepId, this.#special.sep, 1, 1, [0, 0], -1);
    }
    return e;
  }
}

/** Runs a call into the `tokenizers` binding; its failures become ERR_TOKENIZER. */
async function hfCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ElectraError) throw e;
    throw new ElectraError('ERR_TOKENIZER', `cannot ${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
}

/** sha256 (hex) of a vocabulary in id order, tokens joined by `\n`. */
export function vocabHash(vocab: readonly string[]): string {
  return createHash('sha256').update(vocab.join('\n'), 'utf8').digest('hex');
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const r: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (r as Record<string, unknown>)[k] = v;
  return r;
}

function readJson(file: string): Record<string, unknown> | undefined {
  if (!isRegularFile(file, 'tokenizer file', 'ERR_TOKENIZER')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ElectraError('ERR_TOKENIZER', `${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ElectraError('ERR_TOKENIZER', `${file} must hold a JSON object`);
  return v as Record<string, unknown>;
}

function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

function readDirOptions(dir: string): VocabOptions {
  const cfg = readJson(path.join(dir, 'tokenizer_config.json')) ?? {};
  const map = readJson(path.join(dir, 'special_tokens_map.json')) ?? {};
  const o: VocabOptions = {};
  if (typeof cfg.do_lower_case === 'boolean') o.lowercase = cfg.do_lower_case;
  if (typeof cfg.strip_accents === 'boolean') o.stripAccents = cfg.strip_accents;
  if (typeof cfg.tokenize_chinese_chars === 'boolean') o.handleChineseChars = cfg.tokenize_chinese_chars;
  if (Number.isInteger(cfg.model_max_length) && (cfg.model_max_length as number) > 0 && (cfg.model_max_length as number) < 1e9) o.modelMaxLength = cfg.model_max_length as number;
  const sp: Partial<SpecialTokens> = {};
  for (const k of ['pad', 'unk', 'cls', 'sep', 'mask'] as const) {
    const v = tokenName(map[`${k}_token`]) ?? tokenName(cfg[`${k}_token`]);
    if (v !== undefined) sp[k] = v;
  }
  if (Object.keys(sp).length) o.specialTokens = sp;
  return o;
}

/** Most tokens a vocabulary may have (2^24; BERT has 30,522, the largest multilingual ones 250k). */
export const MAX_VOCAB = 1 << 24;
const MAX_TOKENIZER_DEPTH = 64;
const MODEL_TYPES = ['WordPiece', 'BPE', 'WordLevel', 'Unigram'];

/** The parts of a tokenizer.json that {@link ElectraTokenizer.fromJSONString} reads itself. */
interface TokenizerJsonShape {
  normalizer: { type: string; lowercase?: boolean | null; strip_accents?: boolean | null; handle_chinese_chars?: boolean | null } | null;
}

/**
 * Checks the structure of a parsed `tokenizer.json` before it reaches the `tokenizers` package:
 * an object nested at most 64 levels, a known model type whose vocabulary maps strings to ids,
 * ids forming 0..n-1 with n <= {@link MAX_VOCAB} (added tokens included), `added_tokens` entries
 * with an id and a content, and the pipeline parts (`normalizer`, `pre_tokenizer`,
 * `post_processor`, `decoder`) null or objects with a `type`. ERR_TOKENIZER names what is wrong.
 */
export function validateTokenizerJson(raw: unknown, where = 'tokenizer.json'): TokenizerJsonShape {
  const fail = (msg: string): never => {
    throw new ElectraError('ERR_TOKENIZER', `${where}: ${msg}`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(raw)) return fail('must hold a JSON object');
  const stack: Array<[unknown, number]> = [[raw, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (d > MAX_TOKENIZER_DEPTH) fail(`nested more than ${MAX_TOKENIZER_DEPTH} levels deep`);
    for (const c of Object.values(x as object)) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
  const model = raw.model;
  if (!isObj(model)) return fail('model must be an object');
  const type = model.type;
  if (typeof type !== 'string' || !MODEL_TYPES.includes(type)) fail(`model.type ${shortJson(type)} is not supported (${MODEL_TYPES.join(', ')})`);
  const ids = new Set<number>();
  let maxId = -1;
  const addId = (id: unknown, what: string) => {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= MAX_VOCAB) fail(`${what} has id ${shortJson(id)}, not an integer in [0, ${MAX_VOCAB})`);
    ids.add(id as number);
    if ((id as number) > maxId) maxId = id as number;
  };
  if (type === 'Unigram') {
    const v = model.vocab;
    if (!Array.isArray(v)) return fail('model.vocab must be a list of [token, score] pairs');
    if (v.length > MAX_VOCAB) fail(`model.vocab has ${v.length} tokens, more than ${MAX_VOCAB}`);
    v.forEach((e, i) => {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number') fail(`model.vocab[${i}] must be a [token, score] pair`);
      ids.add(i);
      maxId = i;
    });
  } else {
    const v = model.vocab;
    if (!isObj(v)) return fail('model.vocab must map tokens to ids');
    const entries = Object.entries(v);
    if (entries.length > MAX_VOCAB) fail(`model.vocab has ${entries.length} tokens, more than ${MAX_VOCAB}`);
    for (const [t, id] of entries) addId(id, `token ${shortJson(t)}`);
    if (type === 'WordPiece' || type === 'WordLevel') {
      if (typeof model.unk_token !== 'string') fail('model.unk_token must be a string');
      // `tokenizers` accepts a missing unk token and fails on the first unknown word instead.
      if (!Object.prototype.hasOwnProperty.call(v, model.unk_token as string)) fail(`model.unk_token ${shortJson(model.unk_token)} is not in model.vocab`);
    }
    if (type === 'WordPiece') {
      if (model.continuing_subword_prefix !== undefined && typeof model.continuing_subword_prefix !== 'string') fail('model.continuing_subword_prefix must be a string');
      const m = model.max_input_chars_per_word;
      if (m !== undefined && (!Number.isInteger(m) || (m as number) < 0)) fail('model.max_input_chars_per_word must be a non-negative integer');
    }
  }
  const added = raw.added_tokens;
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added)) return fail('added_tokens must be a list');
    added.forEach((a, i) => {
      if (!isObj(a) || typeof a.content !== 'string') fail(`added_tokens[${i}] needs a string content`);
      addId((a as Record<string, unknown>).id, `added_tokens[${i}]`);
    });
  }
  if (ids.size === 0) fail('the vocabulary is empty');
  if (ids.size !== maxId + 1) {
    let missing = 0;
    while (ids.has(missing)) missing++;
    fail(`token ids must be 0..${maxId} without gaps; id ${missing} has no token`);
  }
  for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'truncation', 'padding']) {
    const part = raw[k];
    if (part === undefined || part === null) continue;
    if (!isObj(part)) fail(`${k} must be an object or null`);
    if (k !== 'truncation' && k !== 'padding' && typeof (part as Record<string, unknown>).type !== 'string') fail(`${k}.type must be a string`);
  }
  const n = raw.normalizer as TokenizerJsonShape['normalizer'] | undefined;
  if (n && n.type === 'BertNormalizer') {
    for (const k of ['lowercase', 'strip_accents', 'handle_chinese_chars', 'clean_text'] as const) {
      const x = (n as Record<string, unknown>)[k];
      if (x !== undefined && x !== null && typeof x !== 'boolean') fail(`normalizer.${k} must be a boolean`);
    }
  }
  return { normalizer: n ?? null };
}

function shortJson(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
