/** Replaced-token detection with a discriminator: each token and its probability of having been replaced. */
import { ElectraError } from '../errors';
import type { Electra } from '../electra';
import type { ElectraTokenizer } from '../tokenizer/tokenizer';

export interface DetectedToken {
  token: string;
  /** Character offsets `[start, end)` in the text (`[0, 0]` for [CLS]/[SEP]). */
  offsets: [number, number];
  /** Probability that this token was replaced (sigmoid of the discriminator logit). */
  probability: number;
  /** probability > 0.5 */
  replaced: boolean;
}

/** Runs a discriminator over `text` (truncated to the model's maximum length, counted in `truncated`). */
export async function detectReplaced(model: Electra, tokenizer: ElectraTokenizer, text: string): Promise<{ tokens: DetectedToken[]; truncated: number }> {
  if (model.head !== 'discriminator') {
    throw new ElectraError('ERR_INPUT', `detectReplaced needs a discriminator (ElectraForPreTraining); this model's head is ${model.head}`);
  }
  if (typeof text !== 'string' || text.trim() === '') throw new ElectraError('ERR_INPUT', 'detectReplaced needs a non-empty text');
  const max = model.config.max_position_embeddings;
  const full = await tokenizer.encode(text);
  const enc = full.ids.length > max ? await tokenizer.encode(text, { maxLength: max }) : full;
  const T = enc.ids.length;
  const r = await model.forward({ inputIds: Int32Array.from(enc.ids), tokenTypeIds: Int32Array.from(enc.typeIds), attentionMask: new Int32Array(T).fill(1), shape: [1, T] });
  const logits = r.discriminator!.data;
  const tokens = enc.tokens.map((token, i) => {
    const p = 1 / (1 + Math.exp(-logits[i]!));
    return { token, offsets: enc.offsets[i]!, probability: p, replaced: p > 0.5 };
  });
  return { tokens, truncated: full.ids.length - T };
}
