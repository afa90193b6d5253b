/**
 * Pre-training examples built as google-research/electra `build_pretraining_dataset.py` does:
 *
 * - Sentences of one document are collected until their length reaches the target length, then
 *   become one example; a document's end always closes the example (never across documents).
 * - 10% of examples are a single segment; otherwise segment A takes sentences while it stays
 *   under `(target - 3) / 2` tokens (the sentence that crosses goes to A half the time if B is
 *   still empty), the rest goes to B. `[CLS] A [SEP] B [SEP]`, then `[PAD]` to `maxLength`.
 * - After each example, 5% of the time the next target length is a random integer in
 *   `[5, maxLength]`, else `maxLength`.
 * - Segments are trimmed to fit (A to `maxLength - 2`, B to what is left after A and 3
 *   specials); those tokens are lost, as in the original, and counted in `truncatedTokens`.
 *
 * One deviation: a sentence longer than `maxLength - 3` tokens is first cut into pieces of that
 * size (`longSentences` counts them), so an unpunctuated line does not lose everything past the
 * first example. Randomness comes from the {@link Rng} passed in, in a fixed order, so equal
 * seeds and inputs give equal examples.
 */
import { ElectraError } from '../errors';
import { Rng } from './rng';

/** Options of {@link ExampleBuilder}. */
export interface ExampleBuilderOptions {
  /** Tokens per example, specials and padding included (>= 8). */
  maxLength: number;
  /** Id of `[CLS]`. */
  clsId: number;
  /** Id of `[SEP]`. */
  sepId: number;
  /** Random source; draws happen in the same order as in the original. */
  rng: Rng;
  /** Probability of a single-segment example (default 0.1). */
  singleSegmentProb?: number;
  /** Probability that the next example gets a shorter random target (default 0.05). */
  shortSeqProb?: number;
}

/** One example: tokens without padding, and where segment B starts. */
export interface BuiltExample {
  /** `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`; at most `maxLength` ids, no padding. */
  ids: Int32Array;
  /** Number of tokens with type id 0 (`[CLS] A [SEP]`); equals `ids.length` for one segment. */
  lenA: number;
}

/** Counters kept by the builder. */
export interface ExampleStats {
  /** Documents seen (with at least one token). */
  documents: number;
  /** Documents of a single sentence (they give a single-segment example). */
  oneSentenceDocuments: number;
  /** Sentences seen (after cutting long ones). */
  sentences: number;
  /** Sentences longer than `maxLength - 3` that were cut into pieces. */
  longSentences: number;
  /** Text tokens that came in. */
  inputTokens: number;
  /** Text tokens lost to segment trimming. */
  truncatedTokens: number;
  /** Examples made. */
  examples: number;
  /** Examples with one segment only. */
  singleSegment: number;
  /** Tokens written, specials included, padding excluded. */
  tokens: number;
}

/** Turns tokenized documents into examples; see the module comment for the algorithm. */
export class ExampleBuilder {
  readonly #maxLength: number;
  readonly #cls: number;
  readonly #sep: number;
  readonly #rng: Rng;
  readonly #single: number;
  readonly #short: number;
  #sentences: ArrayLike<number>[] = [];
  #length = 0;
  #target: number;
  /** Counters so far. */
  readonly stats: ExampleStats = {
    documents: 0, oneSentenceDocuments: 0, sentences: 0, longSentences: 0, inputTokens: 0, truncatedTokens: 0, examples: 0, singleSegment: 0, tokens: 0,
  };

  /** @param opts see {@link ExampleBuilderOptions} */
  constructor(opts: ExampleBuilderOptions) {
    if (opts === null || typeof opts !== 'object') throw new ElectraError('ERR_CONFIG', 'ExampleBuilder: options must be an object');
    if (!Number.isInteger(opts.maxLength) || opts.maxLength < 8) throw new ElectraError('ERR_CONFIG', `maxLength must be an integer >= 8, got ${opts.maxLength}`);
    this.#maxLength = opts.maxLength;
    this.#target = opts.maxLength;
    this.#cls = opts.clsId;
    this.#sep = opts.sepId;
    this.#rng = opts.rng;
    this.#single = opts.singleSegmentProb ?? 0.1;
    this.#short = opts.shortSeqProb ?? 0.05;
  }

  /** Adds one document (its sentences as token ids) and returns the examples it completed. */
  addDocument(sentences: readonly ArrayLike<number>[]): BuiltExample[] {
    const out: BuiltExample[] = [];
    const cut = this.#maxLength - 3;
    let n = 0;
    for (const s of sentences) {
      if (s.length === 0) continue;
      n++;
      this.stats.inputTokens += s.length;
      if (s.length > cut) {
        this.stats.longSentences++;
        for (let i = 0; i < s.length; i += cut) this.#addSentence(slice(s, i, Math.min(s.length, i + cut)), out);
      } else this.#addSentence(s, out);
    }
    if (n === 0) return out;
    this.stats.documents++;
    if (n === 1) this.stats.oneSentenceDocuments++;
    if (this.#length > 0) out.push(this.#create());
    return out;
  }

  #addSentence(s: ArrayLike<number>, out: BuiltExample[]): void {
    this.stats.sentences++;
    this.#sentences.push(s);
    this.#length += s.length;
    if (this.#length >= this.#target) out.push(this.#create());
  }

  #create(): BuiltExample {
    const max = this.#maxLength;
    const firstTarget = this.#rng.random() < this.#single ? 100000 : Math.floor((this.#target - 3) / 2);
    const a: number[] = [];
    const b: number[] = [];
    for (const s of this.#sentences) {
      if (a.length === 0 || a.length + s.length < firstTarget || (b.length === 0 && a.length < firstTarget && this.#rng.random() < 0.5)) {
        for (let i = 0; i < s.length; i++) a.push(s[i]!);
      } else {
        for (let i = 0; i < s.length; i++) b.push(s[i]!);
      }
    }
    const la = Math.min(a.length, max - 2);
    const lb = Math.min(b.length, Math.max(0, max - la - 3));
    this.stats.truncatedTokens += a.length - la + (b.length - lb);
    this.#sentences = [];
    this.#length = 0;
    this.#target = this.#rng.random() < this.#short ? this.#rng.randint(5, max) : max;

    const len = lb > 0 ? la + lb + 3 : la + 2;
    const ids = new Int32Array(len);
    ids[0] = this.#cls;
    for (let i = 0; i < la; i++) ids[1 + i] = a[i]!;
    ids[la + 1] = this.#sep;
    if (lb > 0) {
      for (let i = 0; i < lb; i++) ids[la + 2 + i] = b[i]!;
      ids[len - 1] = this.#sep;
    } else this.stats.singleSegment++;
    this.stats.examples++;
    this.stats.tokens += len;
    return { ids, lenA: la + 2 };
  }
}

function slice(s: ArrayLike<number>, from: number, to: number): ArrayLike<number> {
  if (ArrayBuffer.isView(s)) return (s as unknown as Int32Array).subarray(from, to);
  return Array.prototype.slice.call(s, from, to) as number[];
}
