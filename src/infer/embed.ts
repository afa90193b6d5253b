/** Text embeddings from the last hidden states of any ELECTRA model (mean or [CLS] pooling). */
import type { Electra } from '../electra';
import { ElectraError } from '../errors';
import { assertLive, checkTexts, encodeTexts, requireTokenizer, resolveOptions, runBatched, type InferOptions } from './common';

export interface EmbedOptions extends InferOptions {
  /** `mean`: the average of the last hidden states over the attention mask ([CLS] and [SEP] included); `cls`: the [CLS] row. Default `mean`. */
  pooling?: 'mean' | 'cls';
  /** Scale each row to unit L2 norm (default false). */
  normalize?: boolean;
}

/** One Float32Array (hidden_size) per text, in the input order; `truncated[i]` counts the tokens text i lost. */
export type Embeddings = Float32Array[] & { truncated: number[] };

/** Embeds texts with the model's last hidden states. Works with every head. */
export async function embed(model: Electra, texts: string | readonly string[], opts?: EmbedOptions): Promise<Embeddings> {
  assertLive(model);
  const r = resolveOptions(model, opts, 'embed');
  const pooling = opts?.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new ElectraError('ERR_INPUT', `embed: pooling must be "mean" or "cls", got ${JSON.stringify(pooling)}`);
  const normalize = opts?.normalize ?? false;
  if (typeof normalize !== 'boolean') throw new ElectraError('ERR_INPUT', 'embed: normalize must be a boolean');
  const tok = requireTokenizer(model, 'embed');
  const inputs = checkTexts(texts, 'embed', false);
  const examples = await encodeTexts(tok, inputs, r, 'embed');
  const rows = await runBatched(model, examples, { batchSize: r.batchSize, hidden: true, padId: tok.padId });
  const H = model.config.hidden_size;
  const out = rows.map((row) => {
    const h = row.hidden!;
    const v = new Float32Array(H);
    if (pooling === 'cls') {
      v.set(h.subarray(0, H));
    } else {
      const acc = new Float64Array(H);
      for (let t = 0; t < row.length; t++) for (let k = 0; k < H; k++) acc[k] = acc[k]! + h[t * H + k]!;
      for (let k = 0; k < H; k++) v[k] = acc[k]! / row.length;
    }
    if (normalize) {
      let n = 0;
      for (let k = 0; k < H; k++) n += v[k]! * v[k]!;
      n = Math.sqrt(n);
      // As torch.nn.functional.normalize: divide by max(norm, 1e-12).
      const d = Math.max(n, 1e-12);
      for (let k = 0; k < H; k++) v[k] = v[k]! / d;
    }
    return v;
  }) as Embeddings;
  out.truncated = examples.map((e) => e.truncated);
  return out;
}
