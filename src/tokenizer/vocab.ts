/** Training a vocabulary from a corpus: read, count words, train, build the tokenizer. */
import { readCorpus, type CorpusOptions } from '../data/corpus';
import { SkipLog } from '../data/skips';
import { ElectraError } from '../errors';
import { ElectraTokenizer } from './tokenizer';
import { checkVocabSize, DEFAULT_SPECIAL_TOKENS, trainWordPiece, WordCounter, type TrainOptions, type TrainResult } from './trainer';

/** Options of {@link trainVocabulary}. */
export interface TrainVocabularyOptions extends TrainOptions {
  /** Lower-case (default true). */
  lowercase?: boolean;
  /** Strip accents (default: `lowercase`). */
  stripAccents?: boolean;
  /** Corpus reading options. */
  corpusOptions?: Omit<CorpusOptions, 'skips'>;
}

/** A trained tokenizer with what happened on the way. */
export interface TrainVocabularyResult extends TrainResult {
  /** The tokenizer over the new vocabulary (save it with `tokenizer.save(dir)`). */
  tokenizer: ElectraTokenizer;
  /** Documents read. */
  documents: number;
  /** Distinct words counted. */
  distinctWords: number;
  /** Input skipped while reading. */
  skipped: SkipLog;
}

/** Checks the arguments of {@link trainVocabulary} before any corpus is read (ERR_INPUT / ERR_CONFIG). */
function checkVocabularyArgs(corpus: unknown, opts: unknown): void {
  const sources = typeof corpus === 'string' ? [corpus] : corpus;
  if (!Array.isArray(sources) || sources.length === 0 || sources.length !== Object.keys(sources).length || !sources.every((c) => typeof c === 'string' && c !== '')) {
    throw new ElectraError('ERR_INPUT', 'trainVocabulary: corpus must be a non-empty string or a non-empty array of non-empty strings');
  }
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new ElectraError('ERR_CONFIG', 'trainVocabulary: options must be an object with a size');
  const o = opts as Partial<TrainVocabularyOptions>;
  const specials = o.specialTokens ?? DEFAULT_SPECIAL_TOKENS;
  if (!Array.isArray(specials) || !specials.every((t) => typeof t === 'string' && t !== '')) {
    throw new ElectraError('ERR_CONFIG', 'trainVocabulary: specialTokens must be an array of non-empty strings');
  }
  checkVocabSize(o.size, specials.length);
  const posInt = (v: unknown, name: string) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) throw new ElectraError('ERR_CONFIG', `trainVocabulary: ${name} must be a positive integer, got ${String(v)}`);
  };
  posInt(o.minFrequency, 'minFrequency');
  posInt(o.limitAlphabet, 'limitAlphabet');
  posInt(o.maxInputCharsPerWord, 'maxInputCharsPerWord');
  for (const k of ['lowercase', 'stripAccents'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new ElectraError('ERR_CONFIG', `trainVocabulary: ${k} must be a boolean`);
  }
  if (o.corpusOptions !== undefined && (o.corpusOptions === null || typeof o.corpusOptions !== 'object')) {
    throw new ElectraError('ERR_CONFIG', 'trainVocabulary: corpusOptions must be an object');
  }
}

/** Trains a WordPiece vocabulary of exactly `opts.size` tokens on a corpus (see ./trainer.ts). */
export async function trainVocabulary(corpus: string | readonly string[], opts: TrainVocabularyOptions): Promise<TrainVocabularyResult> {
  checkVocabularyArgs(corpus, opts);
  const lowercase = opts.lowercase ?? true;
  const stripAccents = opts.stripAccents ?? lowercase;
  const counter = new WordCounter({ lowercase, stripAccents });
  const skipped = new SkipLog();
  let documents = 0;
  for await (const d of readCorpus(corpus, { ...opts.corpusOptions, skips: skipped })) {
    counter.add(d.text);
    documents++;
  }
  if (counter.counts.size === 0) {
    throw new ElectraError('ERR_DATA', `the corpus ${[corpus].flat().join(', ')} has no text to learn a vocabulary from${skipped.empty ? '' : `; skipped: ${skipped.format().join('; ')}`}`);
  }
  const r = trainWordPiece(counter.counts, opts);
  const tokenizer = ElectraTokenizer.fromVocabList(r.vocab, { lowercase, stripAccents });
  return { ...r, tokenizer, documents, distinctWords: counter.counts.size, skipped };
}
