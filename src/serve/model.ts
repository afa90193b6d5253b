/**
 * How `electra serve` gets its model. Every path goes through {@link resolveModel}, the one place
 * where a model reference (a directory or a Hub id `org/name[@rev]`) becomes a local directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Electra, type InferencePrecision } from '../electra';
import { ElectraError } from '../errors';
import { resolveModel as resolveHub } from '../hub';
import { cliHub } from '../cli/hub';

/** Turns `--model` into a local directory with config.json: a directory, or a Hub id through the shared cache. */
export async function resolveModel(ref: string): Promise<string> {
  if (typeof ref !== 'string' || ref === '') throw new ElectraError('ERR_CONFIG', '--model is required (a model directory or a Hub id org/name)');
  const dir = path.resolve(await resolveHub(ref, cliHub));
  if (fs.existsSync(path.join(dir, 'config.json'))) return dir;
  if (fs.existsSync(dir)) throw new ElectraError('ERR_CHECKPOINT', `${ref} has no config.json: not a model directory`);
  throw new ElectraError('ERR_CHECKPOINT', `${ref} is not a directory with a model (config.json)`);
}

/** Loads the served model (head from config.json `architectures`). */
export async function loadModel(ref: string, opts: { device?: string; precision?: InferencePrecision } = {}): Promise<Electra> {
  const dir = await resolveModel(ref);
  const model = await Electra.load(dir, { device: opts.device ?? 'cpu', precision: opts.precision });
  if (!model.tokenizer) {
    model.dispose();
    throw new ElectraError('ERR_TOKENIZER', `${ref} has no tokenizer files (tokenizer.json or vocab.txt); the server needs them`);
  }
  return model;
}
