/**
 * electra-node: ELECTRA pre-training, fine-tuning and inference for Node.js on libtorch.
 * @packageDocumentation
 */
export { ElectraError, type ErrorCode } from './errors';
export { runtime, setNumThreads, matmul, type RuntimeInfo } from './runtime';
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
export { Electra, type Batch, type ForwardResult, type Float32Tensor, type CreateOptions, type LoadOptions, type Head, type InferencePrecision } from './electra';
export { readSafetensors, writeSafetensors } from './checkpoint/safetensors';
export { Pretrainer, type PretrainerConfig, type StepMetrics, type TrainerState, type SpecialIds } from './train/pretrainer';
export { pretrain, listCheckpoints, type RunOptionsInput, type RunSummary, type RunCallbacks } from './train/loop';
export { parseTrainerOptions, type TrainerOptions, type TrainerOptionsInput } from './train/options';
export { detectReplaced, type DetectedToken } from './infer/detect';
export * from './tokenizer';
export * from './data';
export { finetune, parseFinetuneOptions, layerLrScales, evaluateTask, type FinetuneOptionsInput, type FinetuneSummary, type EpochReport, type EvalResult, type FinetuneCallbacks } from './train/finetune';
export { loadTaskData, readTagFile, readQaFile, type TaskKind, type TaskData } from './train/taskdata';
export * as metrics from './train/metrics';
export { classify, type Classification, type ClassifyOptions } from './infer/classify';
export { embed, type EmbedOptions, type Embeddings } from './infer/embed';
export { tagTokens, groupEntities, type TagOptions, type TagResult, type TaggedToken, type Entity } from './infer/tag';
export { answer, type Answer, type AnswerOptions, type QAInput } from './infer/qa';
export { detectBatch, type Detection, type DetectOptions } from './infer/detect';
export { type TextInput, type InferOptions } from './infer/common';
export { ProcessGroup, distributedFromEnv, type DistributedInit } from './train/distributed';
export { Batcher, BatchSession, type BatcherOptions, type BatchInfo } from './serve/batcher';
export { createServer, type ServerOptions, type ElectraServer } from './serve/server';
