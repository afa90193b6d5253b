/**
 * Our WordPiece vocabulary trainer (the npm binding's `train` has no options: a fixed 30,000
 * entries and no special tokens).
 *
 * Algorithm (the same family as Hugging Face's `WordPieceTrainer`, which is BPE with a `##`
 * continuation prefix):
 * 1. Count words after BERT normalisation and pre-tokenisation ({@link WordCounter}).
 * 2. The alphabet is every character of the counted words, most frequent first, cut to
 *    `limitAlphabet` when given or when the vocabulary could not hold it. Each character enters
 *    the vocabulary twice, as a word start `c` and as a continuation `##c`, so that every word
 *    made of alphabet characters can be encoded without `[UNK]`.
 * 3. Every word starts as its characters (`w`, `##o`, `##r`, `##d`). Repeatedly the most frequent
 *    adjacent pair (counts weighted by word frequency; ties go to the pair seen first) is merged
 *    into one piece (`w` + `##o` -> `wo`, `##o` + `##r` -> `##or`), and the piece joins the
 *    vocabulary, until the vocabulary has `size` entries or no pair occurs `minFrequency` times.
 *    Pair counts are updated incrementally with a lazy max-heap, so each merge only touches the
 *    words that contain the pair.
 * 4. If the corpus runs out of pairs first, the vocabulary is filled with `[unused0]`,
 *    `[unused1]`, ... (as BERT's own vocabulary does), so `size` is always met exactly.
 *
 * Layout: `[PAD]` 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3, `[MASK]` 4, the alphabet (word starts in
 * code-point order, then continuations), the learned pieces in the order learned, the fillers.
 */
import { ElectraError } from '../errors';
import { bertNormalize, bertPreTokenize, type BertNormalizeOptions } from './normalize';

/** The special tokens every vocabulary we train starts with, in id order. */
export const DEFAULT_SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/** Counts BERT words of a stream of texts. */
export class WordCounter {
  /** Word -> occurrences. */
  readonly counts = new Map<string, number>();
  /** Characters of text seen. */
  chars = 0;
  /** Words seen (with repetition). */
  words = 0;
  readonly #norm: BertNormalizeOptions;

  /** @param norm the normalisation the tokenizer will use */
  constructor(norm: BertNormalizeOptions = {}) {
    this.#norm = norm;
  }

  /** Adds one text (a document or a line). */
  add(text: string): void {
    this.chars += text.length;
    const words = bertPreTokenize(bertNormalize(text, this.#norm));
    this.words += words.length;
    const c = this.counts;
    for (const w of words) c.set(w, (c.get(w) ?? 0) + 1);
  }
}

/** Options of {@link trainWordPiece}. */
export interface TrainOptions {
  /** Exact vocabulary size, special tokens included. */
  size: number;
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
  /** Keep at most this many alphabet characters, the most frequent (default: all that fit). */
  limitAlphabet?: number;
  /** Special tokens, placed first in this order (default `[PAD] [UNK] [CLS] [SEP] [MASK]`). */
  specialTokens?: readonly string[];
  /** Words longer than this are not learned from: WordPiece encodes them as `[UNK]` (default 100). */
  maxInputCharsPerWord?: number;
}

/** What {@link trainWordPiece} returns. */
export interface TrainResult {
  /** Tokens in id order; `vocab.length === size`. */
  vocab: string[];
  /** Alphabet characters kept. */
  alphabet: number;
  /** Pieces learned by merging. */
  merges: number;
  /** `[unusedN]` fillers appended because the corpus ran out of frequent pairs. */
  fillers: number;
  /** Words left out of training (too long, or with characters outside the kept alphabet). */
  skippedWords: number;
}

/**
 * The largest vocabulary trained (2^22 entries, 128x BERT's). The embedding matrix grows with it
 * and the trainer keeps a candidate table per entry, so a mistyped size is refused before any work.
 */
export const MAX_VOCAB_SIZE = 2 ** 22;

/** ERR_CONFIG unless `size` is an integer in [specials + 2, MAX_VOCAB_SIZE]. */
export function checkVocabSize(size: unknown, specials: number): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < specials + 2) {
    throw new ElectraError('ERR_CONFIG', `vocabulary size must be an integer >= ${specials + 2}, got ${String(size)}`);
  }
  if (size > MAX_VOCAB_SIZE) throw new ElectraError('ERR_CONFIG', `vocabulary size ${size} is above the maximum ${MAX_VOCAB_SIZE} (2^22)`);
  return size;
}

/** Trains a WordPiece vocabulary of exactly `opts.size` entries from word counts. */
export function trainWordPiece(counts: Map<string, number>, opts: TrainOptions): TrainResult {
  const specials = [...(opts.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
  const size = checkVocabSize(opts.size, specials.length);
  const maxChars = opts.maxInputCharsPerWord ?? 100;
  if (new Set(specials).size !== specials.length) throw new ElectraError('ERR_CONFIG', `special tokens repeat: ${specials.join(' ')}`);
  const alphabet = chooseAlphabet(counts, maxChars, Math.min(opts.limitAlphabet ?? Infinity, Math.floor((size - specials.length) / 2)));
  const vocab = new VocabBuilder();
  for (const s of specials) vocab.add(s);
  for (const c of alphabet) vocab.add(c);
  for (const c of alphabet) vocab.add('##' + c);
  const { words, freqs, skippedWords } = symbolWords(counts, new Set(alphabet), vocab, maxChars);
  const merges = learnMerges(vocab, words, freqs, size, opts.minFrequency ?? 2);
  const fillers = vocab.fill(size);
  return { vocab: vocab.tokens, alphabet: alphabet.length, merges, fillers, skippedWords };
}

/** The `keep` most frequent characters of words up to `maxChars` long, sorted. */
function chooseAlphabet(counts: Map<string, number>, maxChars: number, keep: number): string[] {
  const charFreq = new Map<string, number>();
  for (const [w, n] of counts) {
    if ([...w].length > maxChars) continue;
    for (const ch of w) charFreq.set(ch, (charFreq.get(ch) ?? 0) + n);
  }
  if (charFreq.size === 0) throw new ElectraError('ERR_DATA', 'the corpus has no words to learn a vocabulary from');
  const byFreq = [...charFreq].sort((a, b) => b[1] - a[1] || cmp(a[0], b[0])).map(([c]) => c);
  return byFreq.slice(0, Math.min(byFreq.length, keep)).sort(cmp);
}

/** Tokens in id order. */
class VocabBuilder {
  readonly tokens: string[] = [];
  readonly ids = new Map<string, number>();

  get size(): number {
    return this.tokens.length;
  }

  /** The id of `t`, added at the end when new. */
  add(t: string): number {
    let id = this.ids.get(t);
    if (id === undefined) {
      id = this.tokens.length;
      this.tokens.push(t);
      this.ids.set(t, id);
    }
    return id;
  }

  /** Appends `[unusedN]` fillers up to `size` tokens; returns how many fillers were numbered. */
  fill(size: number): number {
    let fillers = 0;
    while (this.tokens.length < size) {
      const t = `[unused${fillers++}]`;
      if (this.ids.has(t)) continue;
      this.add(t);
    }
    return fillers;
  }
}

/** Words as symbol-id arrays (first character, then `##` continuations), with their frequencies. */
function symbolWords(counts: Map<string, number>, alphabet: Set<string>, vocab: VocabBuilder, maxChars: number): { words: number[][]; freqs: number[]; skippedWords: number } {
  const words: number[][] = [];
  const freqs: number[] = [];
  let skippedWords = 0;
  for (const [w, n] of counts) {
    const chars = [...w];
    if (chars.length > maxChars || !chars.every((c) => alphabet.has(c))) {
      skippedWords += n;
      continue;
    }
    words.push(chars.map((c, i) => vocab.ids.get(i === 0 ? c : '##' + c)!));
    freqs.push(n);
  }
  return { words, freqs, skippedWords };
}

/** A pair key packs two symbol ids into one exact double. */
const K = 0x200000;

/** Counts of adjacent symbol pairs, the words each occurs in, and a heap of (count, pair). */
class PairStats {
  readonly count = new Map<number, number>();
  readonly words = new Map<number, Set<number>>();
  readonly heap = new MaxHeap();
  /** Pairs whose count changed since the last {@link requeue}. */
  readonly #touched = new Set<number>();

  constructor(words: number[][], freqs: number[]) {
    for (let w = 0; w < words.length; w++) {
      const sy = words[w]!;
      for (let i = 0; i + 1 < sy.length; i++) this.bump(sy[i]! * K + sy[i + 1]!, freqs[w]!, w, false);
    }
    for (const [key, n] of this.count) this.heap.push(n, key);
  }

  bump(key: number, delta: number, word: number, touch = true): void {
    const n = (this.count.get(key) ?? 0) + delta;
    if (n <= 0) this.count.delete(key);
    else this.count.set(key, n);
    if (delta > 0) {
      let set = this.words.get(key);
      if (!set) this.words.set(key, (set = new Set()));
      set.add(word);
    }
    if (touch) this.#touched.add(key);
  }

  /** Drops a merged pair, and queues the new counts of the pairs its merge changed. */
  retire(key: number): void {
    this.count.delete(key);
    this.words.delete(key);
    for (const t of this.#touched) {
      const c = this.count.get(t);
      if (c !== undefined) this.heap.push(c, t);
    }
    this.#touched.clear();
  }
}

/** Replaces every `a b` in the words that hold the pair with `m`, updating the pair counts around it. */
function mergeInWords(stats: PairStats, words: number[][], freqs: number[], key: number, a: number, b: number, m: number): void {
  for (const w of stats.words.get(key) ?? []) {
    const sy = words[w]!;
    const f = freqs[w]!;
    for (let i = 0; i + 1 < sy.length; i++) {
      if (sy[i] !== a || sy[i + 1] !== b) continue;
      if (i > 0) stats.bump(sy[i - 1]! * K + a, -f, w);
      if (i + 2 < sy.length) stats.bump(b * K + sy[i + 2]!, -f, w);
      sy.splice(i, 2, m);
      if (i > 0) stats.bump(sy[i - 1]! * K + m, f, w);
      if (i + 1 < sy.length) stats.bump(m * K + sy[i + 1]!, f, w);
    }
  }
}

/** Merges the most frequent pair until the vocabulary has `size` tokens or no pair occurs `minFrequency` times; returns the tokens added. */
function learnMerges(vocab: VocabBuilder, words: number[][], freqs: number[], size: number, minFrequency: number): number {
  const stats = new PairStats(words, freqs);
  let merges = 0;
  while (vocab.size < size) {
    const top = stats.heap.pop();
    if (!top) break;
    const [n, key] = top;
    const cur = stats.count.get(key) ?? 0;
    if (cur !== n) continue; // stale entry; the current count has its own entry
    if (n < minFrequency) break;
    const a = Math.floor(key / K);
    const b = key % K;
    const before = vocab.size;
    const m = vocab.add(vocab.tokens[a]! + vocab.tokens[b]!.slice(2));
    if (vocab.size > before) merges++;
    mergeInWords(stats, words, freqs, key, a, b, m);
    stats.retire(key);
  }
  return merges;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Binary max-heap of (count, key); ties pop the smaller key first, which keeps training deterministic. */
class MaxHeap {
  #n: number[] = [];
  #k: number[] = [];

  push(n: number, k: number): void {
    this.#n.push(n);
    this.#k.push(k);
    let i = this.#n.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#above(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  pop(): [number, number] | undefined {
    const len = this.#n.length;
    if (len === 0) return undefined;
    const top: [number, number] = [this.#n[0]!, this.#k[0]!];
    const ln = this.#n.pop()!;
    const lk = this.#k.pop()!;
    if (len > 1) {
      this.#n[0] = ln;
      this.#k[0] = lk;
      let i = 0;
      const m = len - 1;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < m && this.#above(l, best)) best = l;
        if (r < m && this.#above(r, best)) best = r;
        if (best === i) break;
        this.#swap(i, best);
        i = best;
      }
    }
    return top;
  }

  #above(i: number, j: number): boolean {
    const ni = this.#n[i]!, nj = this.#n[j]!;
    return ni > nj || (ni === nj && this.#k[i]! < this.#k[j]!);
  }

  #swap(i: number, j: number): void {
    const n = this.#n[i]!;
    this.#n[i] = this.#n[j]!;
    this.#n[j] = n;
    const k = this.#k[i]!;
    this.#k[i] = this.#k[j]!;
    this.#k[j] = k;
  }
}
