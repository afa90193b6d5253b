/** Replaced-token detection with a discriminator: each token and its probability of having been replaced. */
import { ElectraError } from '../errors';
import type { Electra } from '../electra';
import type { ElectraTokenizer } from '../tokenizer/tokenizer';
import { assertLive, checkTexts, encodeTexts, requireHead, requireTokenizer, resolveOptions, runBatched, sigmoid, type InferOptions } from './common';

export interface DetectedToken {
  token: string;
  /** Character offsets `[start, end)` in the text (`[0, 0]` for [CLS]/[SEP]). */
  offsets: [number, number];
  /** Probability that this token was replaced (sigmoid of the discriminator logit). */
  probability: number;
  /** probability > threshold (default 0.5) */
  replaced: boolean;
}

export interface Detection {
  /** Every token, [CLS] and [SEP] included. */
  tokens: DetectedToken[];
  /** Tokens dropped by truncation. */
  truncated: number;
}

export interface DetectOptions extends InferOptions {
  /** Probability above which a token counts as replaced (default 0.5). */
  threshold?: number;
}

/** Runs a discriminator over texts (batched, in the input order). */
export async function detectBatch(model: Electra, tokenizer: ElectraTokenizer | undefined, texts: string | readonly string[], opts?: DetectOptions): Promise<Detection[]> {
  assertLive(model);
  const r = resolveOptions(model, opts, 'detectReplaced');
  const threshold = opts?.threshold ?? 0.5;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) throw new ElectraError('ERR_INPUT', `detectReplaced: threshold must be in [0, 1], got ${String(threshold)}`);
  requireHead(model, 'discriminator', 'detectReplaced');
  const tok = tokenizer ?? requireTokenizer(model, 'detectReplaced');
  const inputs = checkTexts(texts, 'detectReplaced', false);
  const examples = await encodeTexts(tok, inputs, r, 'detectReplaced');
  const rows = await runBatched(model, examples, { batchSize: r.batchSize, padId: tok.padId });
  return rows.map((row, i) => {
    const e = examples[i]!;
    const logits = row.discriminator!;
    const tokens = e.tokens.map((token, t) => {
      const p = sigmoid(logits[t]!);
      const o = e.offsets[t]!;
      return { token, offsets: [o[0], o[1]] as [number, number], probability: p, replaced: p > threshold };
    });
    return { tokens, truncated: e.truncated };
  });
}

/**
 * Runs a discriminator over `text` (truncated to the model's maximum length, counted in
 * `truncated`); `tokenizer` defaults to the model's. Same as `model.detectReplaced(text)`.
 */
export async function detectReplaced(model: Electra, tokenizer: ElectraTokenizer | undefined, text: string, opts?: DetectOptions): Promise<Detection> {
  if (typeof text !== 'string') throw new ElectraError('ERR_INPUT', 'detectReplaced needs a text (a string)');
  const [d] = await detectBatch(model, tokenizer, text, opts);
  return d!;
}
