/**
 * Evaluation during pre-training: the held-out examples are batched once, and each evaluation
 * averages the trainer's metrics over those batches.
 */
import { BatchLoader, type Batch } from '../data/loader';
import type { DatasetView } from '../data/dataset';
import type { NativeBatch } from '../native';
import type { Pretrainer, StepMetrics } from './pretrainer';

/** The arrays the addon takes from a loader batch. */
export function toNative(b: Batch): NativeBatch {
  return { inputIds: b.inputIds, tokenTypeIds: b.tokenTypeIds, attentionMask: b.attentionMask, shape: b.shape };
}

/** The held-out examples in order, in batches of at most `batchSize` (the last may be smaller). */
export async function loadEvalBatches(heldOut: DatasetView, batchSize: number): Promise<NativeBatch[]> {
  const batches: NativeBatch[] = [];
  if (heldOut.length === 0) return batches;
  const loader = new BatchLoader(heldOut, { batchSize: Math.min(batchSize, heldOut.length), shuffle: false, epochs: 1, dropLast: false });
  for (let b = await loader.next(); b; b = await loader.next()) batches.push(toNative(b));
  await loader[Symbol.asyncDispose]();
  return batches;
}

const AVERAGED = ['loss', 'mlmLoss', 'rtdLoss', 'generatorAccuracy', 'discriminatorAccuracy', 'replacedPrecision', 'replacedRecall', 'replacedFraction'] as const;

function meanOf(xs: (number | undefined)[]): number | undefined {
  const have = xs.filter((x): x is number => x !== undefined);
  return have.length ? have.reduce((s, x) => s + x, 0) / have.length : undefined;
}

/**
 * The mean of per-batch metrics (unweighted, as the batches are equal but for the last); the
 * other fields (step, ...) come from the first batch. AUC and R-precision average over the
 * batches that have them.
 */
export function averageMetrics(ms: readonly StepMetrics[]): StepMetrics {
  const avg = { ...ms[0]! };
  for (const k of AVERAGED) avg[k] = ms.reduce((s, m) => s + m[k], 0) / ms.length;
  const auc = meanOf(ms.map((m) => m.replacedAuc));
  if (auc !== undefined) avg.replacedAuc = auc;
  const rp = meanOf(ms.map((m) => m.replacedRPrecision));
  if (rp !== undefined) avg.replacedRPrecision = rp;
  return avg;
}

/** Evaluates the trainer on fixed held-out batches; only the lead rank evaluates. */
export class Evaluator {
  constructor(
    private readonly trainer: Pretrainer,
    private readonly batches: readonly NativeBatch[],
    private readonly lead: boolean,
  ) {}

  /** The averaged metrics, or null where there is nothing to evaluate (or on other ranks). */
  async run(): Promise<StepMetrics | null> {
    if (this.batches.length === 0 || !this.lead) return null;
    const ms: StepMetrics[] = [];
    for (const b of this.batches) ms.push(await this.trainer.evaluate(b));
    return averageMetrics(ms);
  }
}
