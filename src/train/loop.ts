/**
 * The pre-training loop: data, steps, metrics log, evaluation, checkpoints (atomic, keep the
 * last K), exact resume, `--init-from`, abort and signals, and the HTML report.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { formatIssues, PRESETS, presetConfig, type ElectraConfigInput, type PresetName } from '../config';
import { cleanStaleTemps, removeDirAtomic } from '../checkpoint/atomic';
import { ElectraError, toElectraError } from '../errors';
import { BatchLoader, type Batch } from '../data/loader';
import { checkVocab, PretrainDataset, type Cursor } from '../data/dataset';
import { Progress } from '../data/progress';
import { ElectraTokenizer } from '../tokenizer/tokenizer';
import { resolveModel } from '../hub';
import type { NativeBatch } from '../native';
import { Pretrainer, type StepMetrics } from './pretrainer';
import { trainerOptionsSchema } from './options';
import { distributedFromEnv, ProcessGroup, type DistributedInit } from './distributed';
import { writeReport, type MetricRow } from './report';
import { logUnigramBias, tokenCounts } from './unigram';

export const runOptionsSchema = trainerOptionsSchema
  .omit({ lr: true, warmupSteps: true, totalSteps: true, maskProb: true })
  .extend({
    /** Output directory (checkpoints, metrics.jsonl, report.html). */
    out: z.string().min(1),
    /** A prepared dataset directory (`electra prepare`). */
    data: z.string().min(1),
    /** The tokenizer the data was prepared with (a directory or vocab.txt / tokenizer.json). */
    tokenizer: z.string().min(1),
    preset: z.enum(['tiny', 'small', 'base', 'large']).default('small'),
    /** Overrides of the discriminator config (HF field names). */
    discriminator: z.record(z.string(), z.unknown()).optional(),
    generatorFraction: z.number().gt(0).max(1).optional(),
    steps: z.number().int().positive(),
    batch: z.number().int().positive().optional(),
    /** Micro-batches per update (gradient accumulation). */
    accumulate: z.number().int().positive().default(1),
    lr: z.number().nonnegative().optional(),
    warmupSteps: z.number().int().nonnegative().optional(),
    maskProb: z.number().gt(0).lt(1).optional(),
    evalEvery: z.number().int().nonnegative().default(100),
    evalExamples: z.number().int().nonnegative().default(256),
    saveEvery: z.number().int().nonnegative().default(1000),
    keep: z.number().int().positive().default(3),
    logEvery: z.number().int().positive().default(10),
    resume: z.boolean().default(false),
    initFrom: z.string().optional(),
    /**
     * The generator's output bias at the start of a fresh run: 'zeros' (the paper, HF) or
     * 'unigram' (the log unigram frequencies of the training data; see unigram.ts). Ignored with
     * `initFrom` and on resume, where the bias comes from the checkpoint.
     */
    generatorBias: z.enum(['zeros', 'unigram']).default('zeros'),
    /** Stop (with a checkpoint) after this many seconds of training. */
    maxSeconds: z.number().positive().optional(),
    /** Stop (with a checkpoint) once this step is reached; the schedule still runs to `steps`. */
    stopAt: z.number().int().positive().optional(),
    progress: z.boolean().default(true),
    /** Threads for libtorch on the CPU (default: libtorch's choice). */
    threads: z.number().int().positive().optional(),
    /**
     * Data-parallel training: 'env' (default) joins a group when WORLD_SIZE > 1 is set (torchrun,
     * `electra launch`, Slurm); an object gives the setup directly; false never joins. `batch`
     * is per rank: the global batch is batch x world size.
     */
    distributed: z
      .union([
        z.literal('env'),
        z.literal(false),
        z.object({ rank: z.number().int().min(0), worldSize: z.number().int().min(1), localRank: z.number().int().min(0).optional(), masterAddr: z.string().min(1), masterPort: z.number().int().min(1).max(65535), timeoutMs: z.number().int().positive().optional() }),
      ])
      .default('env'),
  });

export type RunOptionsInput = z.input<typeof runOptionsSchema>;
export type RunOptions = z.output<typeof runOptionsSchema>;

export interface RunCallbacks {
  /** Stops the run after the current step, with a checkpoint. */
  signal?: AbortSignal;
  onStep?: (m: StepMetrics & { tokensPerSecond: number }) => void;
  onEval?: (m: StepMetrics) => void;
  onCheckpoint?: (dir: string) => void;
}

export interface RunSummary {
  out: string;
  startStep: number;
  step: number;
  checkpoint: string | null;
  seconds: number;
  tokensPerSecond: number;
  firstEval: StepMetrics | null;
  lastEval: StepMetrics | null;
  stoppedBy: 'steps' | 'time' | 'abort' | 'stopAt';
  /** Rank and world size of a data-parallel run (rank 0 writes logs and checkpoints). */
  rank: number;
  worldSize: number;
}

const CKPT = /^checkpoint-(\d+)$/;

/** Complete checkpoints in `out`, oldest first. */
export function listCheckpoints(out: string): { step: number; dir: string }[] {
  if (!fs.existsSync(out)) return [];
  return fs
    .readdirSync(out)
    .map((n) => ({ m: CKPT.exec(n), n }))
    .filter((x) => x.m && fs.existsSync(path.join(out, x.n, 'trainer_state.json')))
    .map((x) => ({ step: Number(x.m![1]), dir: path.join(out, x.n) }))
    .sort((a, b) => a.step - b.step);
}

function probeWritable(out: string): void {
  try {
    fs.mkdirSync(out, { recursive: true });
    const probe = path.join(out, `.write-probe-${process.pid}`);
    fs.writeFileSync(probe, Buffer.alloc(64 * 1024));
    fs.rmSync(probe);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ElectraError('ERR_IO', `the output directory ${out} is not writable (${code === 'ENOSPC' ? 'no space left' : (e as Error).message}); nothing was trained`, { cause: e });
  }
}

function tokenizerFiles(tokPath: string): string[] {
  const dir = fs.statSync(tokPath).isDirectory() ? tokPath : path.dirname(tokPath);
  return ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']
    .map((f) => path.join(dir, f))
    .filter((f) => fs.existsSync(f));
}

function readMetrics(file: string, upTo: number): MetricRow[] {
  if (!fs.existsSync(file)) return [];
  const rows: MetricRow[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricRow;
      if (r.step <= upTo) rows.push(r);
    } catch {
      // A line cut by a kill; dropped on rewrite.
    }
  }
  return rows;
}

function fmtMetrics(m: StepMetrics): string {
  return `loss ${m.loss.toFixed(3)} mlm ${m.mlmLoss.toFixed(3)} rtd ${m.rtdLoss.toFixed(4)} disc-acc ${m.discriminatorAccuracy.toFixed(3)}`;
}

/** Runs (or resumes) a pre-training run. */
export async function pretrain(input: RunOptionsInput, cb: RunCallbacks = {}): Promise<RunSummary> {
  const parsed = runOptionsSchema.safeParse(input);
  if (!parsed.success) throw new ElectraError('ERR_CONFIG', `pretrain: ${formatIssues(parsed.error)}`);
  const o = parsed.data;
  o.tokenizer = await resolveModel(o.tokenizer, { files: 'tokenizer' });
  const preset = PRESETS[o.preset as PresetName];
  const batchSize = o.batch ?? preset.batch;
  const out = path.resolve(o.out);
  const distInit: DistributedInit | null = o.distributed === 'env' ? distributedFromEnv() : o.distributed === false ? null : o.distributed;
  const rank = distInit?.rank ?? 0;
  const world = distInit?.worldSize ?? 1;
  const lead = rank === 0;
  // One GPU per process: a bare "cuda" means this process's local rank's device.
  if (distInit && o.device === 'cuda') o.device = `cuda:${distInit.localRank ?? 0}`;
  if (lead) {
    probeWritable(out);
    cleanStaleTemps(out);
  }
  if (o.threads) (await import('../runtime')).setNumThreads(o.threads);

  const tokenizer = ElectraTokenizer.load(o.tokenizer);
  const dataset = PretrainDataset.open(o.data);
  const tokFiles = tokenizerFiles(o.tokenizer);
  let trainer: Pretrainer | undefined;
  let loader: BatchLoader | undefined;
  let group: ProcessGroup | undefined;
  try {
    checkVocab(dataset.meta, tokenizer);
    const evalN = Math.min(o.evalExamples, Math.floor(dataset.length / 10));
    const { train, eval: heldOut } = dataset.split(evalN);
    if (train.length < batchSize * world) {
      throw new ElectraError('ERR_DATA', `${o.data} has ${train.length} training examples, fewer than one batch of ${batchSize * world}`);
    }
    const metricsFile = path.join(out, 'metrics.jsonl');
    const existing = listCheckpoints(out);
    let cursor: Cursor | undefined;
    let rows: MetricRow[] = [];
    let elapsedBefore = 0;
    if (o.resume && existing.length > 0) {
      const last = existing[existing.length - 1]!;
      const r = await Pretrainer.fromCheckpoint(last.dir, { device: o.device, skipNonFinite: o.skipNonFinite, cudaGraph: o.cudaGraph });
      trainer = r.trainer;
      cursor = r.state.extra.cursor as Cursor | undefined;
      elapsedBefore = Number(r.state.extra.seconds ?? 0);
      rows = readMetrics(metricsFile, trainer.step);
      if (lead) process.stderr.write(`electra: resuming from ${last.dir} (step ${trainer.step})\n`);
    } else {
      if (existing.length > 0) {
        throw new ElectraError('ERR_CONFIG', `${out} already holds checkpoints (${existing.map((c) => path.basename(c.dir)).join(', ')}): pass --resume to continue, or choose another --out`);
      }
      const disc = presetConfig(o.preset as PresetName, {
        vocab_size: tokenizer.vocabSize,
        max_position_embeddings: Math.max(dataset.maxLength, (preset.discriminator.max_position_embeddings as number | undefined) ?? 512),
        pad_token_id: tokenizer.specialIds.pad,
        ...(o.discriminator as Partial<ElectraConfigInput>),
      });
      trainer = await Pretrainer.create({
        ...o,
        lr: o.lr ?? preset.lr,
        maskProb: o.maskProb ?? preset.maskProb,
        warmupSteps: o.warmupSteps ?? Math.min(10000, Math.ceil(o.steps / 10)),
        totalSteps: o.steps,
        discriminator: disc,
        generatorFraction: o.generatorFraction ?? preset.generatorFraction,
        special: tokenizer.specialIds,
      });
      if (o.initFrom) {
        const parts = await trainer.loadWeights(await resolveModel(o.initFrom));
        if (lead) process.stderr.write(`electra: initialised the ${parts.join(' and ')} from ${o.initFrom}\n`);
      } else if (o.generatorBias === 'unigram') {
        // Every rank computes the same counts (the same deterministic sample of the training view).
        const sp = tokenizer.specialIds;
        await trainer.setGeneratorBias(logUnigramBias(tokenCounts(train, tokenizer.vocabSize), [sp.pad, sp.cls, sp.sep, sp.mask]));
      }
    }
    if (distInit) {
      group = await ProcessGroup.create(distInit, o.device ?? 'cpu');
      await trainer.attach(group);
      if (lead) process.stderr.write(`electra: data-parallel over ${world} processes (${group.backend === 'nccl' ? 'NCCL' : 'Gloo'}), ${batchSize} examples per rank, ${batchSize * world} per step\n`);
    }
    if (lead) ioStep(`write ${metricsFile}`, () => fs.writeFileSync(metricsFile, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '')));
    const startStep = trainer.step;
    const configForReport = { ...o, batch: batchSize, worldSize: world, trainer: trainer.options, discriminator: trainer.discriminatorConfig, generator: trainer.generatorConfig };

    // Every rank reads the same global batches and keeps its own rows of each, so that N ranks
    // with batch b train exactly as one process with batch N x b would.
    loader = new BatchLoader(train, { batchSize: batchSize * world, seed: o.seed, prefetch: 4, ...(cursor ? { cursor } : {}) });
    const evalBatches: NativeBatch[] = [];
    if (heldOut.length > 0) {
      const el = new BatchLoader(heldOut, { batchSize: Math.min(batchSize, heldOut.length), shuffle: false, epochs: 1, dropLast: false });
      for (let b = await el.next(); b; b = await el.next()) evalBatches.push(toNative(b));
      await el[Symbol.asyncDispose]();
    }
    const evaluate = async (): Promise<StepMetrics | null> => {
      if (evalBatches.length === 0 || !lead) return null;
      const ms: StepMetrics[] = [];
      for (const b of evalBatches) ms.push(await trainer!.evaluate(b));
      const avg = { ...ms[0]! };
      for (const k of ['loss', 'mlmLoss', 'rtdLoss', 'generatorAccuracy', 'discriminatorAccuracy', 'replacedPrecision', 'replacedRecall', 'replacedFraction'] as const) {
        avg[k] = ms.reduce((s, m) => s + m[k], 0) / ms.length;
      }
      const aucs = ms.map((m) => m.replacedAuc).filter((x): x is number => x !== undefined);
      if (aucs.length) avg.replacedAuc = aucs.reduce((s, x) => s + x, 0) / aucs.length;
      const rps = ms.map((m) => m.replacedRPrecision).filter((x): x is number => x !== undefined);
      if (rps.length) avg.replacedRPrecision = rps.reduce((s, x) => s + x, 0) / rps.length;
      return avg;
    };
    const log = (row: MetricRow) => {
      if (!lead) return;
      rows.push(row);
      ioStep(`write ${metricsFile}`, () => fs.appendFileSync(metricsFile, JSON.stringify(row) + '\n'));
    };

    let lastSaved: string | null = null;
    let elapsed = elapsedBefore;
    const save = async () => {
      const dir = path.join(out, `checkpoint-${trainer!.step}`);
      if (!lead) {
        lastSaved = dir;
        return;
      }
      await trainer!.saveCheckpoint(dir, {
        extra: { cursor: loader!.cursor(), seconds: elapsed, batch: batchSize, worldSize: world, data: path.resolve(o.data), tokenizer: path.resolve(o.tokenizer) },
        tokenizerFiles: tokFiles,
      });
      lastSaved = dir;
      const all = listCheckpoints(out);
      // Renamed away before deletion: a kill mid-delete never leaves a half-deleted checkpoint listed.
      for (const c of all.slice(0, Math.max(0, all.length - o.keep))) removeDirAtomic(c.dir);
      ioStep('write report.html', () =>
        writeReport(path.join(out, 'report.html'), rows, configForReport, { step: trainer!.step, of: o.steps, 'last checkpoint': path.basename(dir) }),
      );
      cb.onCheckpoint?.(dir);
    };

    // Signals: the first finishes the step and checkpoints; a second aborts at once.
    let stopRequested: 'abort' | null = null;
    const onSignal = () => {
      if (stopRequested) {
        process.stderr.write('\nelectra: second interrupt, aborting without a checkpoint\n');
        process.exit(130);
      }
      stopRequested = 'abort';
      process.stderr.write('\nelectra: interrupt: finishing this step and writing a checkpoint (again to abort)\n');
    };
    const onAbort = () => {
      stopRequested = 'abort';
    };
    cb.signal?.addEventListener('abort', onAbort);
    if (cb.signal?.aborted) stopRequested = 'abort';
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const firstEval = startStep === 0 ? await evaluate() : (rows.find((r) => r.type === 'eval') as unknown as StepMetrics | undefined) ?? null;
    if (startStep === 0 && firstEval) log({ type: 'eval', ...firstEval, step: 0 });
    let lastEval: StepMetrics | null = firstEval;
    const progress = new Progress({ label: 'pretrain', total: o.steps - startStep, enabled: o.progress && lead });
    const tokensPerStep = batchSize * world * o.accumulate * dataset.maxLength;
    let stoppedBy: RunSummary['stoppedBy'] = 'steps';
    const t0 = Date.now();
    let windowStart = Date.now();
    let windowSteps = 0;
    let graphNoted = false, eagerSteps = 0;
    try {
      while (trainer.step < o.steps) {
        let stop = stopRequested ? 3 : o.maxSeconds !== undefined && (Date.now() - t0) / 1000 >= o.maxSeconds ? 2 : o.stopAt !== undefined && trainer.step >= o.stopAt ? 1 : 0;
        if (group) stop = await group.allreduceMax(stop); // all ranks stop at the same step
        if (stop) {
          stoppedBy = stop === 3 ? 'abort' : stop === 2 ? 'time' : 'stopAt';
          break;
        }
        const micro: NativeBatch[] = [];
        for (let i = 0; i < o.accumulate; i++) {
          const b = await loader.next();
          if (!b) throw new ElectraError('ERR_DATA', 'the data loader ended unexpectedly');
          micro.push(shard(toNative(b), rank, world));
        }
        let m: StepMetrics;
        try {
          m = await trainer.trainStep(micro);
        } catch (e) {
          const err = toElectraError(e);
          if (err.code === 'ERR_DIVERGED') {
            elapsed = elapsedBefore + (Date.now() - t0) / 1000;
            if (!lastSaved || !lastSaved.endsWith(`-${trainer.step}`)) await save();
            throw new ElectraError('ERR_DIVERGED', `${err.message}; the last good state is saved in ${lastSaved}`);
          }
          throw err;
        }
        windowSteps++;
        if (o.cudaGraph === true && lead && !graphNoted) {
          // Two eager steps per batch shape come before the capture; a third eager one means this
          // run's steps are not graphable (README, "Whole-step CUDA graph"): say so once.
          if (m.graph) graphNoted = true;
          else if (++eagerSteps > 2) {
            graphNoted = true;
            process.stderr.write(
              `electra: --cuda-graph: steps are running eagerly (a graph needs CUDA, one process, one micro-batch, fp32 or bf16, fused AdamW, and a batch of ${micro[0]!.shape.join(' x ')} whose attention dropout fits a capture's random-number budget)\n`,
            );
          }
        }
        const now = Date.now();
        const tps = (windowSteps * tokensPerStep) / Math.max(1e-3, (now - windowStart) / 1000);
        if (now - windowStart > 5000) {
          windowStart = now;
          windowSteps = 0;
        }
        elapsed = elapsedBefore + (now - t0) / 1000;
        cb.onStep?.({ ...m, tokensPerSecond: tps });
        if (m.step % o.logEvery === 0 || m.step === o.steps || m.step === startStep + 1) {
          log({ type: 'train', ...m, tokensPerSecond: Math.round(tps), seconds: Math.round(elapsed) });
        }
        progress.update(m.step - startStep, `step ${m.step} ${(tps / 1000).toFixed(1)}k tok/s ${fmtMetrics(m)}`);
        if (o.evalEvery > 0 && m.step % o.evalEvery === 0) {
          const e = await evaluate();
          if (e) {
            lastEval = e;
            log({ type: 'eval', ...e, step: m.step });
            cb.onEval?.(e);
          }
        }
        if (o.saveEvery > 0 && m.step % o.saveEvery === 0 && m.step < o.steps) await save();
      }
      if (lastEval?.step !== trainer.step) {
        const e = await evaluate();
        if (e) {
          lastEval = e;
          log({ type: 'eval', ...e, step: trainer.step });
        }
      }
      if (trainer.step > startStep || !lastSaved) await save();
      if (group) await group.barrier(); // rank 0 has written the last checkpoint
      progress.finish(`step ${trainer.step}${stoppedBy !== 'steps' ? ` (stopped: ${stoppedBy})` : ''}`);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      cb.signal?.removeEventListener('abort', onAbort);
    }
    const seconds = (Date.now() - t0) / 1000;
    return {
      out,
      startStep,
      step: trainer.step,
      checkpoint: lastSaved,
      seconds,
      tokensPerSecond: ((trainer.step - startStep) * tokensPerStep) / Math.max(seconds, 1e-3),
      firstEval: firstEval ?? null,
      lastEval,
      stoppedBy,
      rank,
      worldSize: world,
    };
  } finally {
    if (loader) await loader[Symbol.asyncDispose]();
    trainer?.dispose();
    group?.dispose();
    dataset.close();
  }
}

/** File-system work of the loop: failures (a full disk) become ERR_IO naming what was written. */
function ioStep<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ElectraError) throw e;
    const code = (e as { code?: string }).code;
    throw new ElectraError('ERR_IO', `cannot ${what}: ${code === 'ENOSPC' ? 'no space left on the device' : (e as Error).message}`, { cause: e });
  }
}

/** Rows [rank * b, (rank + 1) * b) of a global batch of world * b rows. */
function shard(b: NativeBatch, rank: number, world: number): NativeBatch {
  if (world === 1) return b;
  const [B, T] = b.shape;
  const rows = B / world;
  const lo = rank * rows * T, hi = (rank + 1) * rows * T;
  return {
    inputIds: b.inputIds.slice(lo, hi),
    tokenTypeIds: b.tokenTypeIds.slice(lo, hi),
    attentionMask: b.attentionMask.slice(lo, hi),
    shape: [rows, T],
  };
}

function toNative(b: Batch): NativeBatch {
  return { inputIds: b.inputIds, tokenTypeIds: b.tokenTypeIds, attentionMask: b.attentionMask, shape: b.shape };
}
