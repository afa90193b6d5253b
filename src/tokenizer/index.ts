/**
 * The tokenizer module's exports: WordPiece through the Hugging Face binding, and our vocabulary
 * trainer. The package's public API is src/index.ts, which exports a part of these.
 */
export {
  ElectraTokenizer,
  BERT_SPECIAL_TOKENS,
  vocabHash,
  validateTokenizerJson,
  MAX_VOCAB,
  type VocabOptions,
  type SpecialTokens,
  type Encoded,
  type EncodeOptions,
  type EncodeInput,
} from './tokenizer';
export { trainWordPiece, WordCounter, DEFAULT_SPECIAL_TOKENS, type TrainOptions, type TrainResult } from './trainer';
export { trainVocabulary, type TrainVocabularyOptions, type TrainVocabularyResult } from './vocab';
export { bertNormalize, bertPreTokenize, type BertNormalizeOptions } from './normalize';
