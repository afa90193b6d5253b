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
export { Electra, type Batch, type ForwardResult, type Float32Tensor, type CreateOptions, type LoadOptions, type Head } from './electra';
export { readSafetensors, writeSafetensors } from './checkpoint/safetensors';
export { Pretrainer, type PretrainerConfig, type StepMetrics, type TrainerState, type SpecialIds } from './train/pretrainer';
export { pretrain, listCheckpoints, type RunOptionsInput, type RunSummary, type RunCallbacks } from './train/loop';
export { parseTrainerOptions, type TrainerOptions, type TrainerOptionsInput } from './train/options';
export { detectReplaced, type DetectedToken } from './infer/detect';
export * from './tokenizer';
export * from './data';
