/** Pre-training options: one zod schema, validated at the edge with ERR_CONFIG naming the field. */
import { z } from 'zod';
import { ElectraError } from '../errors';
import { formatIssues } from '../config';

export const trainerOptionsSchema = z.object({
  objective: z.enum(['electra', 'mlm']).default('electra'),
  /** Fraction of real tokens selected for masking (0.15; 0.25 for Large). */
  maskProb: z.number().gt(0).lt(1).default(0.15),
  /** Weight of the replaced-token-detection loss (lambda, 50 in the paper). */
  rtdWeight: z.number().nonnegative().default(50),
  /** Sampling temperature for the generator's replacements. */
  temperature: z.number().positive().default(1),
  lr: z.number().nonnegative().default(5e-4),
  weightDecay: z.number().nonnegative().default(0.01),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  eps: z.number().positive().default(1e-6),
  /** Adam bias correction; the original ELECTRA has none. */
  biasCorrection: z.boolean().default(false),
  /** Shorthand for `kernels.fusedAdamW` (which wins where both are set). */
  fusedAdamW: z.boolean().default(true),
  warmupSteps: z.number().int().nonnegative().default(10000),
  totalSteps: z.number().int().positive().default(1000000),
  /** Global gradient-norm clip (0 disables). */
  clipNorm: z.number().nonnegative().default(1),
  /** Skip an update whose loss or gradient is not finite instead of stopping with ERR_DIVERGED. */
  skipNonFinite: z.boolean().default(false),
  /** Shorthand for `kernels.cudaGraph` (which wins where both are set). */
  cudaGraph: z.boolean().optional(),
  /**
   * Kernel choices of this run: the same training, faster or slower (docs/switches.md). The
   * environment's A/B overrides (ELECTRA_CUDA_GRAPH, ELECTRA_CUSTOM_KERNELS, ELECTRA_FUSED_ADAMW)
   * win over these. Not saved in checkpoints: each run chooses its own.
   */
  kernels: z
    .strictObject({
      /**
       * CUDA: capture the whole step as a CUDA graph (after two eager steps) and replay it while
       * the batch shape stays the same; one micro-batch, one process, fp32 or bf16, fused AdamW
       * (other steps run eagerly). Unset: on for CUDA devices, off on the CPU (no graphs there).
       */
      cudaGraph: z.boolean().optional(),
      /** CUDA: the custom kernels (native/src/model/kernels.h) in this run's steps. Unset: the process setting (on). */
      customKernels: z.boolean().optional(),
      /** The multi-tensor fused AdamW kernel (same update; false: one parameter at a time). Unset: `fusedAdamW` (on). */
      fusedAdamW: z.boolean().optional(),
    })
    .default({}),
  /**
   * Vocabulary rows rounded up to this multiple inside the model (aligned output-layer GEMMs);
   * never visible in saved weights. 0 (default): 64 on CUDA, none on the CPU.
   */
  vocabMultiple: z.number().int().min(0).max(4096).default(0),
  precision: z.enum(['fp32', 'bf16', 'fp16']).default('fp32'),
  device: z.string().default('cpu'),
  seed: z.number().int().nonnegative().default(0),
});

export type TrainerOptions = z.output<typeof trainerOptionsSchema>;
export type TrainerOptionsInput = z.input<typeof trainerOptionsSchema>;

export function parseTrainerOptions(raw: unknown): TrainerOptions {
  const r = trainerOptionsSchema.safeParse(raw ?? {});
  if (!r.success) throw new ElectraError('ERR_CONFIG', `pre-training options: ${formatIssues(r.error)}`);
  if (r.data.precision !== 'fp32' && !r.data.device.startsWith('cuda')) {
    throw new ElectraError('ERR_CONFIG', `precision: ${r.data.precision} needs a CUDA device (got ${r.data.device}); use fp32 on the CPU`);
  }
  return r.data;
}
