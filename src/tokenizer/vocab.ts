/** Training a vocabulary from a corpus: read, count words, train, build the tokenizer. */
import { readCorpus, type CorpusOptions } from '../data/corpus';
import { SkipLog } from '../data/skips';
import { ElectraError } from '../errors';
import { ElectraTokenizer } from './tokenizer';
import { trainWordPiece, WordCounter, type TrainOptions, type TrainResult } from './trainer';

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

/** Trains a WordPiece vocabulary of exactly `opts.size` tokens on a corpus (see ./trainer.ts). */
export async function trainVocabulary(corpus: string | readonly string[], opts: TrainVocabularyOptions): Promise<TrainVocabularyResult> {
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
