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

/** Trains a WordPiece vocabulary of exactly `opts.size` entries from word counts. */
export function trainWordPiece(counts: Map<string, number>, opts: TrainOptions): TrainResult {
  const specials = [...(opts.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
  const size = opts.size;
  const minFrequency = opts.minFrequency ?? 2;
  const maxChars = opts.maxInputCharsPerWord ?? 100;
  if (!Number.isInteger(size) || size < specials.length + 2) {
    throw new ElectraError('ERR_CONFIG', `vocabulary size must be an integer >= ${specials.length + 2}, got ${size}`);
  }
  if (new Set(specials).size !== specials.length) throw new ElectraError('ERR_CONFIG', `special tokens repeat: ${specials.join(' ')}`);

  // Alphabet, most frequent first.
  const charFreq = new Map<string, number>();
  let skippedWords = 0;
  for (const [w, n] of counts) {
    if ([...w].length > maxChars) continue;
    for (const ch of w) charFreq.set(ch, (charFreq.get(ch) ?? 0) + n);
  }
  if (charFreq.size === 0) throw new ElectraError('ERR_DATA', 'the corpus has no words to learn a vocabulary from');
  const byFreq = [...charFreq].sort((a, b) => b[1] - a[1] || cmp(a[0], b[0])).map(([c]) => c);
  const room = Math.floor((size - specials.length) / 2);
  const keep = Math.min(byFreq.length, opts.limitAlphabet ?? Infinity, room);
  const alphabet = byFreq.slice(0, keep).sort(cmp);

  const vocab: string[] = [];
  const ids = new Map<string, number>();
  const addToken = (t: string): number => {
    let id = ids.get(t);
    if (id === undefined) {
      id = vocab.length;
      vocab.push(t);
      ids.set(t, id);
    }
    return id;
  };
  for (const s of specials) addToken(s);
  for (const c of alphabet) addToken(c);
  for (const c of alphabet) addToken('##' + c);
  const alphabetSet = new Set(alphabet);

  // Words as symbol-id arrays, with their frequencies.
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [w, n] of counts) {
    const chars = [...w];
    if (chars.length > maxChars || !chars.every((c) => alphabetSet.has(c))) {
      skippedWords += n;
      continue;
    }
    words.push(chars.map((c, i) => ids.get(i === 0 ? c : '##' + c)!));
    freqs.push(n);
  }

  // Pair statistics. A pair key packs two symbol ids into one exact double.
  const K = 0x200000;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const heap = new MaxHeap();
  const bump = (key: number, delta: number, word: number) => {
    const n = (pairCount.get(key) ?? 0) + delta;
    if (n <= 0) pairCount.delete(key);
    else pairCount.set(key, n);
    if (delta > 0) {
      let set = pairWords.get(key);
      if (!set) pairWords.set(key, (set = new Set()));
      set.add(word);
    }
  };
  for (let w = 0; w < words.length; w++) {
    const sy = words[w]!;
    for (let i = 0; i + 1 < sy.length; i++) bump(sy[i]! * K + sy[i + 1]!, freqs[w]!, w);
  }
  for (const [key, n] of pairCount) heap.push(n, key);

  let merges = 0;
  const touched = new Set<number>();
  while (vocab.length < size) {
    const top = heap.pop();
    if (!top) break;
    const [n, key] = top;
    const cur = pairCount.get(key) ?? 0;
    if (cur !== n) continue; // stale entry; the current count has its own entry
    if (n < minFrequency) break;
    const a = Math.floor(key / K);
    const b = key % K;
    const merged = vocab[a]! + vocab[b]!.slice(2);
    const before = vocab.length;
    const m = addToken(merged);
    if (vocab.length > before) merges++;
    touched.clear();
    for (const w of pairWords.get(key) ?? []) {
      const sy = words[w]!;
      const f = freqs[w]!;
      for (let i = 0; i + 1 < sy.length; i++) {
        if (sy[i] !== a || sy[i + 1] !== b) continue;
        if (i > 0) {
          bump(sy[i - 1]! * K + a, -f, w);
          touched.add(sy[i - 1]! * K + a);
        }
        if (i + 2 < sy.length) {
          bump(b * K + sy[i + 2]!, -f, w);
          touched.add(b * K + sy[i + 2]!);
        }
        sy.splice(i, 2, m);
        if (i > 0) {
          bump(sy[i - 1]! * K + m, f, w);
          touched.add(sy[i - 1]! * K + m);
        }
        if (i + 1 < sy.length) {
          bump(m * K + sy[i + 1]!, f, w);
          touched.add(m * K + sy[i + 1]!);
        }
      }
    }
    pairCount.delete(key);
    pairWords.delete(key);
    for (const t of touched) {
      const c = pairCount.get(t);
      if (c !== undefined) heap.push(c, t);
    }
  }

  let fillers = 0;
  while (vocab.length < size) {
    const t = `[unused${fillers++}]`;
    if (ids.has(t)) continue;
    addToken(t);
  }
  return { vocab, alphabet: alphabet.length, merges, fillers, skippedWords };
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
