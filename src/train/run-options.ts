/** The options of a pre-training run (`pretrain()`, `electra pretrain`), and what it returns. */
import { z } from 'zod';
import { formatIssues } from '../config';
import { ElectraError } from '../errors';
import { trainerOptionsSchema } from './options';
import type { StepMetrics } from './pretrainer';
import type { InterruptSignal, StoppedBy } from './stop';

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
    /** Continue from the last checkpoint in `out` (none there: a new run starts). */
    resume: z.boolean().default(false),
    /** Continue from this checkpoint directory (implies `resume`); new checkpoints go to `out`. */
    resumeFrom: z.string().min(1).optional(),
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
  stoppedBy: StoppedBy;
  /** The interrupt (SIGINT or SIGTERM) this process stopped on, its checkpoint written; the CLI exits 130 or 143. */
  signal?: InterruptSignal;
  /** Rank and world size of a data-parallel run (rank 0 writes logs and checkpoints). */
  rank: number;
  worldSize: number;
}

/** Parses run options; ERR_CONFIG names the field. */
export function parseRunOptions(input: RunOptionsInput): RunOptions {
  const parsed = runOptionsSchema.safeParse(input);
  if (!parsed.success) throw new ElectraError('ERR_CONFIG', `pretrain: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/** The options the caller set (not undefined): the others take defaults. */
export function givenOptions(input: RunOptionsInput): Set<string> {
  return new Set(Object.entries(input ?? {}).filter(([, v]) => v !== undefined).map(([k]) => k));
}
