/**
 * Hugging Face directories: `config.json` + `model.safetensors` (or `pytorch_model.bin`), read
 * and written so that Python transformers opens what we save with `from_pretrained`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readConfigFile, writeConfigFile, type ElectraConfig } from '../config';
import { ElectraError } from '../errors';
import type { NamedTensor, NativeHead } from '../native';
import { readSafetensors, writeSafetensors } from './safetensors';
import { isRegularFile } from '../util/files';
import { readTorchBin } from './torchbin';
import { ARCHITECTURE_HEADS, HEAD_ARCHITECTURES, savedName } from './statedict';

export interface HfDirectory {
  dir: string;
  config: ElectraConfig;
  /** The head the directory's architecture implies. */
  head: NativeHead;
  weightsFile: string;
}

/** Inspects an HF directory: config, architecture and which weights file is there. */
export function inspectHfDir(dir: string): HfDirectory {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ElectraError('ERR_CHECKPOINT', `${dir} is not a directory`);
  const cfgFile = path.join(dir, 'config.json');
  if (!isRegularFile(cfgFile, 'config', 'ERR_CHECKPOINT')) throw new ElectraError('ERR_CHECKPOINT', `${dir} has no config.json`);
  const config = readConfigFile(cfgFile);
  const arch = config.architectures?.[0] ?? 'ElectraModel';
  const head = ARCHITECTURE_HEADS[arch];
  if (head === undefined) {
    throw new ElectraError(
      'ERR_CHECKPOINT',
      `${cfgFile}: architecture ${arch} is not supported (${Object.keys(ARCHITECTURE_HEADS).join(', ')})`,
    );
  }
  const candidates = ['model.safetensors', 'pytorch_model.bin'].map((f) => path.join(dir, f));
  // Symlinks to regular files are fine (the Hugging Face cache links to blobs); FIFOs, devices and
  // directories are refused (reading one would block or never end).
  const weightsFile = candidates.find((f) => isRegularFile(f, 'weights file', 'ERR_CHECKPOINT'));
  if (!weightsFile) {
    const sharded = fs.readdirSync(dir).some((f) => f.endsWith('.index.json'));
    throw new ElectraError(
      'ERR_CHECKPOINT',
      `${dir} has no model.safetensors or pytorch_model.bin${sharded ? ' (sharded checkpoints are not supported yet)' : ''}`,
    );
  }
  return { dir, config, head, weightsFile };
}

/** Reads the weights of an HF directory (safetensors preferred, else the .bin). */
export async function readWeights(file: string): Promise<NamedTensor[]> {
  if (file.endsWith('.safetensors')) {
    const { tensors } = readSafetensors(file);
    return [...tensors.entries()].map(([name, t]) => ({ ...t, name }));
  }
  return readTorchBin(file);
}

/** Writes config.json (with the HF architecture of `head`) and model.safetensors into `dir`. */
export function writeHfDir(dir: string, config: ElectraConfig, head: NativeHead, state: NamedTensor[]): void {
  writeConfigFile(path.join(dir, 'config.json'), config, HEAD_ARCHITECTURES[head]);
  writeSafetensors(
    path.join(dir, 'model.safetensors'),
    state.map((t) => ({ ...t, name: savedName(t.name, head) })),
    { format: 'pt' },
  );
}
