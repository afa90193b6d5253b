/**
 * electra-node: ELECTRA pre-training, fine-tuning and inference for Node.js on libtorch.
 *
 * The public API, by topic (docs/api.md lists it). Everything else under src/ is internal.
 * @packageDocumentation
 */

import { guard, guardAll, guardStatics } from './api-guard';
import { configure as _configure, setNumThreads as _setNumThreads, matmul as _matmul } from './runtime';
import { parseConfig as _parseConfig, readConfigFile as _readConfigFile, writeConfigFile as _writeConfigFile, presetConfig as _presetConfig, generatorConfig as _generatorConfig } from './config';
import { pretrain as _pretrain } from './train/loop';
import { parseTrainerOptions as _parseTrainerOptions } from './train/options';
import { distributedFromEnv as _distributedFromEnv } from './train/distributed';
import { finetune as _finetune, parseFinetuneOptions as _parseFinetuneOptions, layerLrScales as _layerLrScales, evaluateTask as _evaluateTask } from './train/finetune';
import { loadTaskData as _loadTaskData, readTagFile as _readTagFile, readQaFile as _readQaFile } from './train/taskdata';
import { classify as _classify } from './infer/classify';
import { embed as _embed } from './infer/embed';
import { tagTokens as _tagTokens, groupEntities as _groupEntities } from './infer/tag';
import { answer as _answer } from './infer/qa';
import { detectReplaced as _detectReplaced, detectBatch as _detectBatch } from './infer/detect';
import { readCorpus as _readCorpus, corpusSize as _corpusSize } from './data/corpus';
import { isBuiltinCorpus as _isBuiltinCorpus, loadSotu as _loadSotu, loadSpamAssassin as _loadSpamAssassin } from './data/builtins';
import { readFinetuneFile as _readFinetuneFile, stratifiedSplit as _stratifiedSplit } from './data/finetune';
import { splitSentences as _splitSentences } from './data/sentences';
import { prepare as _prepare } from './data/prepare';
import { checkVocab as _checkVocab, readMeta as _readMeta } from './data/dataset';
import { trainVocabulary as _trainVocabulary } from './tokenizer/vocab';
import { trainWordPiece as _trainWordPiece } from './tokenizer/trainer';
import { listCheckpoints as _listCheckpoints } from './train/checkpointer';
import { readSafetensors as _readSafetensors, writeSafetensors as _writeSafetensors } from './checkpoint/safetensors';
import { metrics as _metrics } from './train/metrics-api';
import { Electra as _Electra } from './electra';
import { ElectraTokenizer as _ElectraTokenizer } from './tokenizer/tokenizer';
import { PretrainDataset as _PretrainDataset } from './data/dataset';
import { Pretrainer as _Pretrainer } from './train/pretrainer';

// Errors
export { ElectraError, type ErrorCode } from './errors';

// Runtime
export { runtime, type RuntimeInfo, type RuntimeSettings, type KernelOptions } from './runtime';

// Models and their configuration
export { Electra, type Batch, type ForwardResult, type Float32Tensor, type CreateOptions, type LoadOptions, type Head, type InferencePrecision } from './electra';
export { electraConfigSchema, PRESETS, type ElectraConfig, type ElectraConfigInput, type Preset, type PresetName } from './config';

// Pre-training
export { type RunOptionsInput, type RunSummary, type RunCallbacks } from './train/loop';
export { Pretrainer, type PretrainerConfig, type StepMetrics, type TrainerState, type SpecialIds } from './train/pretrainer';
export { type TrainerOptions, type TrainerOptionsInput } from './train/options';
export { ProcessGroup, type DistributedInit } from './train/distributed';

// ONNX export (onnxruntime, transformers.js)
export { exportOnnx, type ExportOptions, type ExportResult, type ExportedFile } from './export';

// Models by Hub id, through the shared Hugging Face cache
export { resolveModel, downloadModel, scanCache, removeFromCache, parseHubId, hubSettings, type HubOptions, type ResolveOptions, type Snapshot, type HubRef, type CachedRepo, type CachedRevision, type DownloadProgress, type HubFiles } from './hub';

// Fine-tuning
export { type FinetuneOptionsInput, type FinetuneSummary, type EpochReport, type EvalResult, type FinetuneCallbacks } from './train/finetune';
export { type TaskKind, type TaskData } from './train/taskdata';
export const metrics = guardAll('metrics', _metrics);

// Inference
export { type Classification, type ClassifyOptions } from './infer/classify';
export { type EmbedOptions, type Embeddings } from './infer/embed';
export { type TagOptions, type TagResult, type TaggedToken, type Entity } from './infer/tag';
export { type Answer, type AnswerOptions, type QAInput } from './infer/qa';
export { type DetectedToken, type Detection, type DetectOptions } from './infer/detect';
export { type TextInput, type InferOptions } from './infer/common';

// Serving: the HTTP server and the request batcher
export { Batcher, BatchLease, type BatcherOptions, type BatchInfo } from './serve/batcher';
export { createServer, type ServerOptions, type ElectraServer } from './serve/server';

// Data: corpora, fine-tuning sets, prepared shards, the batch loader
export { type CorpusDocument, type CorpusOptions } from './data/corpus';
export { BUILTIN_CORPORA, type SpamAssassinSplit } from './data/builtins';
export { type FinetuneExample, type FinetuneSet, type FinetuneFileOptions } from './data/finetune';
export { type SplitOptions } from './data/sentences';
export { ExampleBuilder, type ExampleBuilderOptions, type BuiltExample, type ExampleStats } from './data/examples';
export { type PrepareOptions, type PrepareResult } from './data/prepare';
export { PretrainDataset, type OpenOptions, type DatasetView, type Cursor } from './data/dataset';
export { BatchLoader, type LoaderOptions } from './data/loader';
export { type DatasetMeta, type ShardInfo } from './data/format';
export { SkipLog, type SkipEntry } from './data/skips';

// Tokenizer
export { ElectraTokenizer, BERT_SPECIAL_TOKENS, type VocabOptions, type SpecialTokens, type Encoded, type EncodeOptions, type EncodeInput } from './tokenizer/tokenizer';
export { type TrainVocabularyOptions, type TrainVocabularyResult } from './tokenizer/vocab';
export { WordCounter, DEFAULT_SPECIAL_TOKENS, type TrainOptions, type TrainResult } from './tokenizer/trainer';
export { type BertNormalizeOptions } from './tokenizer/normalize';

// Checkpoints

export { type ReadSafetensorsOptions, type SafetensorsContent, type SafetensorsTensor, type SafetensorsInput } from './checkpoint/safetensors';

// Entry points: a malformed argument is an ElectraError (ERR_INPUT), never a bare TypeError (see api-guard.ts).
export const configure = guard('configure', _configure);
export const setNumThreads = guard('setNumThreads', _setNumThreads);
export const matmul = guard('matmul', _matmul);
export const parseConfig = guard('parseConfig', _parseConfig);
export const readConfigFile = guard('readConfigFile', _readConfigFile);
export const writeConfigFile = guard('writeConfigFile', _writeConfigFile);
export const presetConfig = guard('presetConfig', _presetConfig);
export const generatorConfig = guard('generatorConfig', _generatorConfig);
export const pretrain = guard('pretrain', _pretrain);
export const parseTrainerOptions = guard('parseTrainerOptions', _parseTrainerOptions);
export const distributedFromEnv = guard('distributedFromEnv', _distributedFromEnv);
export const finetune = guard('finetune', _finetune);
export const parseFinetuneOptions = guard('parseFinetuneOptions', _parseFinetuneOptions);
export const layerLrScales = guard('layerLrScales', _layerLrScales);
export const evaluateTask = guard('evaluateTask', _evaluateTask);
export const loadTaskData = guard('loadTaskData', _loadTaskData);
export const readTagFile = guard('readTagFile', _readTagFile);
export const readQaFile = guard('readQaFile', _readQaFile);
export const classify = guard('classify', _classify);
export const embed = guard('embed', _embed);
export const tagTokens = guard('tagTokens', _tagTokens);
export const groupEntities = guard('groupEntities', _groupEntities);
export const answer = guard('answer', _answer);
export const detectReplaced = guard('detectReplaced', _detectReplaced);
export const detectBatch = guard('detectBatch', _detectBatch);
export const readCorpus = guard('readCorpus', _readCorpus);
export const corpusSize = guard('corpusSize', _corpusSize);
export const isBuiltinCorpus = guard('isBuiltinCorpus', _isBuiltinCorpus);
export const loadSotu = guard('loadSotu', _loadSotu);
export const loadSpamAssassin = guard('loadSpamAssassin', _loadSpamAssassin);
export const readFinetuneFile = guard('readFinetuneFile', _readFinetuneFile);
export const stratifiedSplit = guard('stratifiedSplit', _stratifiedSplit);
export const splitSentences = guard('splitSentences', _splitSentences);
export const prepare = guard('prepare', _prepare);
export const checkVocab = guard('checkVocab', _checkVocab);
export const readMeta = guard('readMeta', _readMeta);
export const trainVocabulary = guard('trainVocabulary', _trainVocabulary);
export const trainWordPiece = guard('trainWordPiece', _trainWordPiece);
export const listCheckpoints = guard('listCheckpoints', _listCheckpoints);
export const readSafetensors = guard('readSafetensors', _readSafetensors);
export const writeSafetensors = guard('writeSafetensors', _writeSafetensors);
guardStatics(_Electra, 'Electra', ['load', 'create']);
guardStatics(_Electra.prototype, 'Electra', ['forward', 'state', 'save', 'setupTraining', 'trainStep', 'classify', 'embed', 'tagTokens', 'answer', 'detectReplaced']);
guardStatics(_ElectraTokenizer, 'ElectraTokenizer', ['load', 'fromVocabList', 'fromVocab', 'fromVocabText', 'fromTokenizerJson', 'fromJSONString']);
guardStatics(_PretrainDataset, 'PretrainDataset', ['open']);
guardStatics(_ElectraTokenizer.prototype, 'ElectraTokenizer', ['encode', 'encodeBatch', 'decode', 'save']);
guardStatics(_Pretrainer, 'Pretrainer', ['create', 'fromCheckpoint', 'readState']);
