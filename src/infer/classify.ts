/** Sequence classification (ElectraForSequenceClassification): a label and scores per text or pair. */
import type { Electra } from '../electra';
import { ElectraError } from '../errors';
import type { ElectraTokenizer } from '../tokenizer/tokenizer';
import { numLabels } from '../config';
import { addInto, checkWindows, splitWindows, WINDOWS_KEY } from '../data/windows';
import { assertLive, checkTexts, encodeTexts, labelName, requireHead, requireTokenizer, resolveOptions, runBatched, sigmoid, softmax, type InferOptions, type Resolved, type TextInput } from './common';

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
  /** Windows the text was scored in (1 unless `windows` > 1 and the text is longer than one). */
  windows: number;
}

export interface ClassifyOptions extends InferOptions {
  /**
   * Score a long text in up to this many windows of `maxLength` tokens and average their logits
   * (`src/data/windows.ts`); single texts only. Default: the count the model was fine-tuned with
   * (config.json `electra_node_windows`), else 1 (truncate).
   */
  windows?: number;
}

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
  const fromConfig = (model.config as Record<string, unknown>)[WINDOWS_KEY];
  const windows = checkWindows(opts?.windows ?? fromConfig ?? 1, opts?.windows === undefined ? `classify (config.json ${WINDOWS_KEY})` : 'classify', 'ERR_INPUT');
  const kind = kindOf(model);
  if (windows > 1) return classifyWindows(model, tok, inputs, r, windows, kind);
  const examples = await encodeTexts(tok, inputs, r, 'classify');
  const rows = await runBatched(model, examples, { batchSize: r.batchSize, padId: tok.padId });
  return rows.map((row, i) => result(model, kind, row.classification!, examples[i]!.truncated, 1));
}

/** A result from a text's logits (the mean over its windows). */
function result(model: Electra, kind: Kind, logits: ArrayLike<number>, truncated: number, windows: number): Classification {
  const L = logits.length;
  const probs = kind === 'softmax' ? softmax(logits) : kind === 'sigmoid' ? Array.from(logits, sigmoid) : Array.from(logits);
  let best = 0;
  for (let k = 1; k < L; k++) if (probs[k]! > probs[best]!) best = k;
  const scores: Record<string, number> = {};
  for (let k = 0; k < L; k++) scores[labelName(model, k)] = probs[k]!;
  const out: Classification = { label: labelName(model, best), score: probs[best]!, scores, truncated, windows };
  if (kind === 'regression') out.value = probs[0]!;
  return out;
}

/** Long texts in windows: every window of every text in one batched run, logits averaged per text. */
async function classifyWindows(model: Electra, tok: ElectraTokenizer, inputs: readonly TextInput[], r: Resolved, windows: number, kind: Kind): Promise<Classification[]> {
  inputs.forEach((x, i) => {
    if (typeof x !== 'string') throw new ElectraError('ERR_INPUT', `classify: texts[${i}] is a text pair; windows > 1 takes single texts`);
  });
  if (inputs.length === 0) return [];
  const full = await tok.encodeBatch(inputs);
  const feats: { ids: number[]; typeIds: number[]; text: number }[] = [];
  const split = full.map((e, i) => {
    if (!e.specialTokensMask.some((s) => s === 0)) throw new ElectraError('ERR_INPUT', `classify: texts[${i}] has no tokens (only characters the tokenizer drops)`);
    const w = splitWindows(e.ids, r.maxLength, windows, tok.clsId, tok.sepId);
    if (w.truncated > 0 && !r.truncation) {
      throw new ElectraError('ERR_INPUT', `classify: texts[${i}] has ${e.ids.length} tokens, more than ${windows} windows of ${r.maxLength} hold (truncation: false)`);
    }
    for (const ids of w.windows) feats.push({ ids, typeIds: new Array<number>(ids.length).fill(0), text: i });
    return w;
  });
  const rows = await runBatched(model, feats, { batchSize: r.batchSize, padId: tok.padId });
  const L = rows[0]!.classification!.length;
  const sums = new Float64Array(inputs.length * L);
  rows.forEach((row, k) => addInto(sums, feats[k]!.text * L, row.classification!));
  return split.map((w, i) => {
    const n = w.windows.length;
    const mean = Array.from(sums.subarray(i * L, (i + 1) * L), (x) => x / n);
    return result(model, kind, mean, w.truncated, n);
  });
}

