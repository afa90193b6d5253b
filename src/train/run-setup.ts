/**
 * Setting up a pre-training run: where it writes and how it spreads over processes, the data and
 * tokenizer, the trainer (new, resumed from the last checkpoint, or initialised from weights),
 * and the process group of a data-parallel run.
 */
import { resolveModel } from '../hub';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PRESETS, presetConfig, type ElectraConfigInput, type Preset, type PresetName } from '../config';
import { cleanStaleTemps } from '../checkpoint/atomic';
import { checkVocab, PretrainDataset, type Cursor, type DatasetView } from '../data/dataset';
import { ElectraError } from '../errors';
import { ElectraTokenizer } from '../tokenizer/tokenizer';
import { probeWritable } from '../util/files';
import { listCheckpoints } from './checkpointer';
import { distributedFromEnv, ProcessGroup, type DistributedInit } from './distributed';
import { Pretrainer } from './pretrainer';
import { checkCheckpoint, resumeChanges } from './resume';
import type { MetricRow } from './report';
import type { RunOptions } from './run-options';
import { readMetrics } from './run-log';
import { logUnigramBias, tokenCounts } from './unigram';

/** Where a run writes, its batch, and its place in a data-parallel group. */
export interface RunPlan {
  o: RunOptions;
  preset: Preset;
  /** Examples per step on this rank (the global batch is batchSize x world). */
  batchSize: number;
  /** The output directory, resolved. */
  out: string;
  dist: DistributedInit | null;
  rank: number;
  world: number;
  /** Rank 0: the process that writes logs and checkpoints. */
  lead: boolean;
  /** The options the caller set (the others hold defaults): a resumed run checks these against its checkpoint. */
  given: ReadonlySet<string>;
}

export function planRun(o: RunOptions, given: ReadonlySet<string> = new Set()): RunPlan {
  const preset = PRESETS[o.preset as PresetName];
  const dist: DistributedInit | null = o.distributed === 'env' ? distributedFromEnv() : o.distributed === false ? null : o.distributed;
  const rank = dist?.rank ?? 0;
  // One GPU per process: a bare "cuda" means this process's local rank's device.
  if (dist && o.device === 'cuda') o.device = `cuda:${dist.localRank ?? 0}`;
  return { o, preset, batchSize: o.batch ?? preset.batch, out: path.resolve(o.out), dist, rank, world: dist?.worldSize ?? 1, lead: rank === 0, given };
}

/** Checks that the output directory is writable and clears a killed writer's leftovers (rank 0); sets the CPU threads. */
export async function prepareOutput(plan: RunPlan): Promise<void> {
  if (plan.lead) {
    probeWritable(plan.out);
    cleanStaleTemps(plan.out);
  }
  if (plan.o.threads) (await import('../runtime')).setNumThreads(plan.o.threads);
}

/** The run's tokenizer and prepared dataset (close the dataset when done). */
export interface RunData {
  tokenizer: ElectraTokenizer;
  dataset: PretrainDataset;
  /** The tokenizer's files, copied into every checkpoint. */
  tokenizerFiles: string[];
}

function tokenizerFiles(tokPath: string): string[] {
  const dir = fs.statSync(tokPath).isDirectory() ? tokPath : path.dirname(tokPath);
  return ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']
    .map((f) => path.join(dir, f))
    .filter((f) => fs.existsSync(f));
}

export function openData(plan: RunPlan): RunData {
  const tokenizer = ElectraTokenizer.load(plan.o.tokenizer);
  const dataset = PretrainDataset.open(plan.o.data);
  return { tokenizer, dataset, tokenizerFiles: tokenizerFiles(plan.o.tokenizer) };
}

/** Checks the data against the tokenizer and holds out `evalExamples` (at most a tenth) for evaluation. */
export function splitData(plan: RunPlan, data: RunData): { train: DatasetView; heldOut: DatasetView } {
  const { o, batchSize, world } = plan;
  checkVocab(data.dataset.meta, data.tokenizer);
  const evalN = Math.min(o.evalExamples, Math.floor(data.dataset.length / 10));
  const { train, eval: heldOut } = data.dataset.split(evalN);
  if (train.length < batchSize * world) {
    throw new ElectraError('ERR_DATA', `${o.data} has ${train.length} training examples, fewer than one batch of ${batchSize * world}`);
  }
  return { train, heldOut };
}

/** A trainer ready for its first step, and where the run left off. */
export interface TrainerStart {
  trainer: Pretrainer;
  /** The data position of the checkpoint resumed from. */
  cursor?: Cursor | undefined;
  /** The metrics logged up to the checkpoint resumed from. */
  rows: MetricRow[];
  /** Seconds trained before (resume). */
  secondsBefore: number;
}

async function resumeTrainer(plan: RunPlan, data: RunData, dir: string, metricsFile: string): Promise<TrainerStart> {
  const { o } = plan;
  const state = checkCheckpoint(dir);
  const changes = resumeChanges(o, plan.given, state, data.tokenizer, plan.batchSize * plan.world, dir);
  // The data order continues with the checkpoint's seed.
  o.seed = state.options.seed;
  // Kernel choices are the run's own, not the checkpoint's.
  const r = await Pretrainer.fromCheckpoint(dir, { ...changes.overrides, device: o.device, skipNonFinite: o.skipNonFinite, cudaGraph: o.cudaGraph, kernels: o.kernels });
  try {
    const start = { trainer: r.trainer, cursor: r.state.extra.cursor as Cursor | undefined, secondsBefore: Number(r.state.extra.seconds ?? 0), rows: readMetrics(metricsFile, r.trainer.step) };
    if (plan.lead) {
      process.stderr.write(`electra: resuming from ${dir} (step ${start.trainer.step})\n`);
      if (changes.notes.length) process.stderr.write(`electra: changed from the checkpoint (not an exact continuation): ${changes.notes.join('; ')}\n`);
      const newer = listCheckpoints(plan.out).filter((c) => c.step > start.trainer.step);
      if (newer.length) process.stderr.write(`electra: ${newer.map((c) => path.basename(c.dir)).join(', ')} in ${plan.out} are newer than the checkpoint resumed from: each is replaced when this run reaches its step\n`);
    }
    return start;
  } catch (e) {
    r.trainer.dispose();
    throw e;
  }
}

async function createTrainer(plan: RunPlan, data: RunData, train: DatasetView): Promise<Pretrainer> {
  const { o, preset } = plan;
  const { tokenizer, dataset } = data;
  const disc = presetConfig(o.preset as PresetName, {
    vocab_size: tokenizer.vocabSize,
    max_position_embeddings: Math.max(dataset.maxLength, (preset.discriminator.max_position_embeddings as number | undefined) ?? 512),
    pad_token_id: tokenizer.specialIds.pad,
    ...(o.discriminator as Partial<ElectraConfigInput>),
  });
  const trainer = await Pretrainer.create({
    ...o,
    lr: o.lr ?? preset.lr,
    maskProb: o.maskProb ?? preset.maskProb,
    warmupSteps: o.warmupSteps ?? Math.min(10000, Math.ceil(o.steps / 10)),
    totalSteps: o.steps,
    discriminator: disc,
    generatorFraction: o.generatorFraction ?? preset.generatorFraction,
    special: tokenizer.specialIds,
  });
  try {
    if (o.initFrom) {
      const parts = await trainer.loadWeights(await resolveModel(o.initFrom));
      if (plan.lead) process.stderr.write(`electra: initialised the ${parts.join(' and ')} from ${o.initFrom}\n`);
    } else if (o.generatorBias === 'unigram') {
      // Every rank computes the same counts (the same deterministic sample of the training view).
      const sp = tokenizer.specialIds;
      await trainer.setGeneratorBias(logUnigramBias(tokenCounts(train, tokenizer.vocabSize), [sp.pad, sp.cls, sp.sep, sp.mask]));
    }
    return trainer;
  } catch (e) {
    trainer.dispose();
    throw e;
  }
}

/**
 * The trainer: resumed from `resumeFrom`, or from the last checkpoint in `out` with `resume`
 * (ERR_CHECKPOINT when it is incomplete), else new (from `initFrom`'s weights, or with the
 * unigram generator bias). A new run refuses an `out` that holds checkpoints.
 */
export async function startTrainer(plan: RunPlan, data: RunData, train: DatasetView, metricsFile: string): Promise<TrainerStart> {
  if (plan.o.resumeFrom) return resumeTrainer(plan, data, path.resolve(plan.o.resumeFrom), metricsFile);
  const existing = listCheckpoints(plan.out);
  if (plan.o.resume && existing.length > 0) return resumeTrainer(plan, data, existing[existing.length - 1]!.dir, metricsFile);
  if (plan.o.resume && plan.lead) process.stderr.write(`electra: --resume: no checkpoint in ${plan.out} yet, starting at step 0\n`);
  if (existing.length > 0) {
    throw new ElectraError('ERR_CONFIG', `${plan.out} already holds checkpoints (${existing.map((c) => path.basename(c.dir)).join(', ')}): pass --resume to continue, or choose another --out`);
  }
  return { trainer: await createTrainer(plan, data, train), rows: [], secondsBefore: 0 };
}

/** Joins the data-parallel group and attaches the trainer to it. */
export async function joinGroup(plan: RunPlan, dist: DistributedInit, trainer: Pretrainer): Promise<ProcessGroup> {
  const { batchSize, world } = plan;
  const group = await ProcessGroup.create(dist, plan.o.device ?? 'cpu');
  try {
    await trainer.attach(group);
  } catch (e) {
    group.dispose();
    throw e;
  }
  if (plan.lead) process.stderr.write(`electra: data-parallel over ${world} processes (${group.backend === 'nccl' ? 'NCCL' : 'Gloo'}), ${batchSize} examples per rank, ${batchSize * world} per step\n`);
  return group;
}
