/** The evaluation metrics of fine-tuning, as the public `metrics` object. */
import { accuracy, entityF1, f1Score, matthews, pearson, spearman, squadScores } from './metrics';

/** Metrics of fine-tuning evaluation: the ones {@link evaluateTask} reports. */
export const metrics = { accuracy, f1Score, matthews, pearson, spearman, entityF1, squadScores } as const;
