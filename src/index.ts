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
