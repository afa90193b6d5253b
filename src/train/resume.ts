/**
 * Resuming a pre-training run honestly: a checkpoint directory is complete or ERR_CHECKPOINT names
 * the missing file, and every option the user gave is checked against the checkpoint. Options
 * that fix the architecture, the vocabulary or the random streams (preset, discriminator sizes,
 * generator fraction, objective, tokenizer, seed, init-from) must agree with it (ERR_CONFIG);
 * optimisation options (learning rate, schedule, masking, loss weights, precision, batch) take
 * the new value, with a printed notice that the run is no longer an exact continuation.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generatorConfig, presetConfig, type ElectraConfigInput, type PresetName } from '../config';
import { ElectraError } from '../errors';
import type { TrainerOptionsInput } from './options';
import { Pretrainer, type TrainerState } from './pretrainer';
import type { RunOptions } from './run-options';

/** The files of a checkpoint directory (discriminator/ only for the ELECTRA objective). */
const FILES = ['generator/config.json', 'generator/model.safetensors', 'optimizer.safetensors'];
const DISCRIMINATOR_FILES = ['discriminator/config.json', 'discriminator/model.safetensors'];

/** The checkpoint's trainer state once every file is there; ERR_CHECKPOINT names the directory and the missing file. */
export function checkCheckpoint(dir: string): TrainerState {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch {
    // reported below
  }
  if (!st?.isDirectory()) throw new ElectraError('ERR_CHECKPOINT', `${dir} is not a checkpoint directory (it does not exist or is not a directory)`);
  const missing = (f: string) => !fs.existsSync(path.join(dir, f));
  if (missing('trainer_state.json')) throw new ElectraError('ERR_CHECKPOINT', `checkpoint ${dir} is incomplete: trainer_state.json is missing`);
  const state = Pretrainer.readState(dir);
  for (const f of [...(state.generator ? DISCRIMINATOR_FILES : []), ...FILES]) {
    if (missing(f)) throw new ElectraError('ERR_CHECKPOINT', `checkpoint ${dir} is incomplete: ${f} is missing`);
  }
  return state;
}

/** What the run's options change in a resumed trainer, and the notices to print. */
export interface ResumeChanges {
  overrides: Partial<TrainerOptionsInput>;
  notes: string[];
}

const ARCH = ['vocab_size', 'embedding_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size'] as const;

/** Trainer options a resumed run may change (the new value applies), with their flags. */
const APPLIED: [keyof TrainerOptionsInput & keyof RunOptions, string][] = [
  ['lr', '--lr'],
  ['warmupSteps', '--warmup'],
  ['maskProb', '--mask-prob'],
  ['temperature', '--temperature'],
  ['rtdWeight', 'rtdWeight'],
  ['weightDecay', 'weightDecay'],
  ['clipNorm', 'clipNorm'],
  ['beta1', 'beta1'],
  ['beta2', 'beta2'],
  ['eps', 'eps'],
  ['biasCorrection', 'biasCorrection'],
  ['precision', '--precision'],
];

/**
 * Checks the options the user gave (`given`: the keys of the run's input that were set) against
 * the checkpoint's state: ERR_CONFIG for a contradiction that would change the model or its
 * random streams, else the changes to apply and a notice for each.
 */
export function resumeChanges(o: RunOptions, given: ReadonlySet<string>, s: TrainerState, tok: { vocabSize: number; specialIds: Record<string, number> }, globalBatch: number, dir: string): ResumeChanges {
  const refuse = (what: string, why: string) => {
    throw new ElectraError('ERR_CONFIG', `${what} contradicts the checkpoint ${dir}: ${why}; drop it to resume, or start a new run in another --out`);
  };
  if (o.initFrom) refuse('--init-from', 'a resumed run takes its weights from the checkpoint');
  const saved = s.options as Record<string, unknown>;
  if (given.has('objective') && o.objective !== saved.objective) refuse(`--objective ${o.objective}`, `it was trained with ${String(saved.objective)}`);
  if (given.has('seed') && o.seed !== saved.seed) refuse(`--seed ${o.seed}`, `it was trained with seed ${String(saved.seed)} (the random state and data order continue from it)`);
  if (given.has('preset') || given.has('discriminator')) {
    const want = presetConfig(o.preset as PresetName, { vocab_size: s.discriminator.vocab_size, ...(o.discriminator as Partial<ElectraConfigInput>) });
    for (const k of ARCH) {
      if (want[k] !== s.discriminator[k]) refuse(given.has('discriminator') && k in (o.discriminator ?? {}) ? `discriminator.${k} ${want[k]}` : `--preset ${o.preset}`, `its discriminator has ${k} ${s.discriminator[k]}, not ${want[k]}`);
    }
  }
  if (given.has('generatorFraction') && s.generator && o.generatorFraction !== undefined) {
    const g = generatorConfig(s.discriminator, o.generatorFraction);
    for (const k of ARCH) if (g[k] !== s.generator[k]) refuse(`generatorFraction ${o.generatorFraction}`, `its generator has ${k} ${s.generator[k]}, not ${g[k]}`);
  }
  if (tok.vocabSize !== s.discriminator.vocab_size) refuse('--tokenizer', `the tokenizer has ${tok.vocabSize} entries, the checkpoint's vocabulary ${s.discriminator.vocab_size}`);
  for (const k of ['pad', 'cls', 'sep', 'mask'] as const) {
    if (tok.specialIds[k] !== s.special[k]) refuse('--tokenizer', `its ${k} token is id ${tok.specialIds[k]}, the checkpoint's ${s.special[k]}`);
  }
  const overrides: Partial<TrainerOptionsInput> = {};
  const notes: string[] = [];
  for (const [k, flag] of APPLIED) {
    const v = (o as Record<string, unknown>)[k];
    if (!given.has(k) || v === undefined || v === saved[k]) continue;
    (overrides as Record<string, unknown>)[k] = v;
    notes.push(`${flag} ${String(saved[k])} -> ${String(v)}`);
  }
  if (o.steps !== saved.totalSteps) {
    overrides.totalSteps = o.steps;
    notes.push(`--steps ${String(saved.totalSteps)} -> ${o.steps} (the learning-rate schedule now ends at step ${o.steps})`);
  }
  const extra = s.extra as { batch?: number; worldSize?: number };
  const before = (extra.batch ?? 0) * (extra.worldSize ?? 1);
  if (before > 0 && before !== globalBatch) notes.push(`global batch ${before} -> ${globalBatch} (the data continues from the checkpoint's position)`);
  if (given.has('generatorBias') && o.generatorBias !== 'zeros') notes.push(`--generator-bias ${o.generatorBias} is ignored: the generator's bias comes from the checkpoint`);
  return { overrides, notes };
}
