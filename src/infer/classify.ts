/** Sequence classification (ElectraForSequenceClassification): a label and scores per text or pair. */
import type { Electra } from '../electra';
import { numLabels } from '../config';
import { assertLive, checkTexts, encodeTexts, labelName, requireHead, requireTokenizer, resolveOptions, runBatched, sigmoid, softmax, type InferOptions, type TextInput } from './common';

export interface Classification {
  /** The label with the highest score (config `id2label`, else `LABEL_i`). */
  label: string;
  /** Its probability (softmax; sigmoid for multi-label models; the raw value for regression). */
  score: number;
  /** Every label's probability. */
  scores: Record<string, number>;
  /** Regression models (`problem_type: "regression"`, or one label): the predicted value. */
  value?: number;
  /** Tokens dropped by truncation (0 when the text fit). */
  truncated: number;
}

export type ClassifyOptions = InferOptions;

type Kind = 'softmax' | 'sigmoid' | 'regression';

function kindOf(model: Electra): Kind {
  const p = model.config.problem_type;
  if (p === 'regression') return 'regression';
  if (p === 'multi_label_classification') return 'sigmoid';
  if (p === undefined && numLabels(model.config) === 1) return 'regression';
  return 'softmax';
}

/** Classifies texts (or `[text, pair]` pairs); results in the input order. */
export async function classify(model: Electra, texts: string | readonly TextInput[], opts?: ClassifyOptions): Promise<Classification[]> {
  assertLive(model);
  const r = resolveOptions(model, opts, 'classify');
  requireHead(model, 'sequence-classification', 'classify');
  const tok = requireTokenizer(model, 'classify');
  const inputs = checkTexts(texts, 'classify', true);
  const examples = await encodeTexts(tok, inputs, r, 'classify');
  const rows = await runBatched(model, examples, { batchSize: r.batchSize, padId: tok.padId });
  const kind = kindOf(model);
  return rows.map((row, i) => {
    const logits = row.classification!;
    const L = logits.length;
    const probs = kind === 'softmax' ? softmax(logits) : kind === 'sigmoid' ? Array.from(logits, sigmoid) : Array.from(logits);
    let best = 0;
    for (let k = 1; k < L; k++) if (probs[k]! > probs[best]!) best = k;
    const scores: Record<string, number> = {};
    for (let k = 0; k < L; k++) scores[labelName(model, k)] = probs[k]!;
    const out: Classification = { label: labelName(model, best), score: probs[best]!, scores, truncated: examples[i]!.truncated };
    if (kind === 'regression') out.value = probs[0]!;
    return out;
  });
}
