/**
 * electra-node: ELECTRA pre-training, fine-tuning and inference for Node.js on libtorch.
 *
 * The public API, by topic (docs/api.md lists it). Everything else under src/ is internal.
 * @packageDocumentation
 */

// Errors
export { ElectraError, type ErrorCode } from './errors';

// Runtime
export { runtime, configure, setNumThreads, matmul, type RuntimeInfo, type RuntimeSettings, type KernelOptions } from './runtime';

// Models and their configuration
export { Electra, type Batch, type ForwardResult, type Float32Tensor, type CreateOptions, type LoadOptions, type Head, type InferencePrecision } from './electra';
export {
  electraConfigSchema,
  parseConfig,
  readConfigFile,
  writeConfigFile,
  presetConfig,
  generatorConfig,
  PRESETS,
  type ElectraConfig,
  type ElectraConfigInput,
  type Preset,
  type PresetName,
} from './config';

// Pre-training
export { pretrain, type RunOptionsInput, type RunSummary, type RunCallbacks } from './train/loop';
export { Pretrainer, type PretrainerConfig, type StepMetrics, type TrainerState, type SpecialIds } from './train/pretrainer';
export { parseTrainerOptions, type TrainerOptions, type TrainerOptionsInput } from './train/options';
export { ProcessGroup, distributedFromEnv, type DistributedInit } from './train/distributed';

// Models by Hub id, through the shared Hugging Face cache
export { resolveModel, downloadModel, scanCache, removeFromCache, parseHubId, hubSettings, type HubOptions, type ResolveOptions, type Snapshot, type HubRef, type CachedRepo, type CachedRevision, type DownloadProgress, type HubFiles } from './hub';

// Fine-tuning
export { finetune, parseFinetuneOptions, layerLrScales, evaluateTask, type FinetuneOptionsInput, type FinetuneSummary, type EpochReport, type EvalResult, type FinetuneCallbacks } from './train/finetune';
export { loadTaskData, readTagFile, readQaFile, type TaskKind, type TaskData } from './train/taskdata';
export { metrics } from './train/metrics-api';

// Inference
export { classify, type Classification, type ClassifyOptions } from './infer/classify';
export { embed, type EmbedOptions, type Embeddings } from './infer/embed';
export { tagTokens, groupEntities, type TagOptions, type TagResult, type TaggedToken, type Entity } from './infer/tag';
export { answer, type Answer, type AnswerOptions, type QAInput } from './infer/qa';
export { detectReplaced, detectBatch, type DetectedToken, type Detection, type DetectOptions } from './infer/detect';
export { type TextInput, type InferOptions } from './infer/common';

// Data: corpora, fine-tuning sets, prepared shards, the batch loader
export { readCorpus, corpusSize, type CorpusDocument, type CorpusOptions } from './data/corpus';
export { BUILTIN_CORPORA, isBuiltinCorpus, loadSotu, loadSpamAssassin, type SpamAssassinSplit } from './data/builtins';
export { readFinetuneFile, stratifiedSplit, type FinetuneExample, type FinetuneSet, type FinetuneFileOptions } from './data/finetune';
export { splitSentences, type SplitOptions } from './data/sentences';
export { ExampleBuilder, type ExampleBuilderOptions, type BuiltExample, type ExampleStats } from './data/examples';
export { prepare, type PrepareOptions, type PrepareResult } from './data/prepare';
export { PretrainDataset, checkVocab, readMeta, type OpenOptions, type DatasetView, type Cursor } from './data/dataset';
export { BatchLoader, type LoaderOptions } from './data/loader';
export { type DatasetMeta, type ShardInfo } from './data/format';
export { SkipLog, type SkipEntry } from './data/skips';

// Tokenizer
export { ElectraTokenizer, BERT_SPECIAL_TOKENS, type VocabOptions, type SpecialTokens, type Encoded, type EncodeOptions, type EncodeInput } from './tokenizer/tokenizer';
export { trainVocabulary, type TrainVocabularyOptions, type TrainVocabularyResult } from './tokenizer/vocab';
export { trainWordPiece, WordCounter, DEFAULT_SPECIAL_TOKENS, type TrainOptions, type TrainResult } from './tokenizer/trainer';
export { type BertNormalizeOptions } from './tokenizer/normalize';

// Checkpoints
export { listCheckpoints } from './train/checkpointer';
export { readSafetensors, writeSafetensors, type ReadSafetensorsOptions, type SafetensorsContent, type SafetensorsTensor, type SafetensorsInput } from './checkpoint/safetensors';
