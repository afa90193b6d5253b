/**
 * The data module's exports: corpora, fine-tuning sets, example building, prepared shards, the batch
 * loader. The package's public API is src/index.ts, which exports a part of these.
 */
export { readCorpus, listFiles, corpusSize, streamOf, type CorpusDocument, type CorpusOptions } from './corpus';
export { loadSotu, loadBuiltinPackage, BUILTIN_CORPORA, isBuiltinCorpus, loadSpamAssassin, stripEmailHeaders, SPAM_ASSASSIN_GROUPS, type SpamAssassinSplit } from './builtins';
export {
  readFinetuneFile,
  parseFinetuneBuffer,
  MAX_FINETUNE_BYTES,
  parseCsv,
  stratifiedSplit,
  type FinetuneExample,
  type FinetuneSet,
  type FinetuneFileOptions,
} from './finetune';
export { splitSentences, type SplitOptions } from './sentences';
export { ExampleBuilder, type ExampleBuilderOptions, type BuiltExample, type ExampleStats } from './examples';
export { prepare, findWorkerScript, type PrepareOptions, type PrepareResult } from './prepare';
export { tokenizeDocuments, documentsOf, type TokenizedDocs } from './tokenize';
export { PretrainDataset, Sampler, checkVocab, readMeta, type OpenOptions, type DatasetView, type Cursor, type SamplerOptions } from './dataset';
export { BatchLoader, type Batch, type LoaderOptions } from './loader';
export { FORMAT_NAME, FORMAT_VERSION, dtypeFor, bytesPerToken, shardName, validateMeta, MAX_EXAMPLE_LENGTH, type DatasetMeta, type ShardInfo } from './format';
export { Permutation } from './permutation';
export { Rng, deriveSeed, mix32 } from './rng';
export { SkipLog, type SkipEntry } from './skips';
export { Progress, formatBytes, type ProgressOptions } from './progress';
