/* Shared pieces of the ONNX export tests: batches, onnxruntime-node runs, differences. */
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Batch, ForwardResult } from '../../src/electra';

export const FIX = path.join(__dirname, '..', 'fixtures', 'models');

/** The fixture directories and the head each one's architecture implies. */
export const FIXTURE_HEADS = {
  base: 'none',
  'disc-proj': 'discriminator',
  'disc-noproj': 'discriminator',
  gen: 'generator',
  seqcls: 'sequence-classification',
  tokcls: 'token-classification',
  qa: 'question-answering',
} as const;
export type FixtureName = keyof typeof FIXTURE_HEADS;

/**
 * A seeded batch of B rows of T tokens: ids in [1, vocab), row b has T - (b % 3) * floor(T / 4)
 * real tokens (so most batches have padding), token type 1 on the second half of each row.
 */
export function randomBatch(B: number, T: number, vocab: number, seed: number): Batch {
  let s = seed >>> 0 || 1;
  const r = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const inputIds = new Int32Array(B * T);
  const attentionMask = new Int32Array(B * T);
  const tokenTypeIds = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const n = Math.max(1, T - (b % 3) * Math.floor(T / 4));
    for (let t = 0; t < T; t++) {
      const real = t < n;
      inputIds[b * T + t] = real ? 1 + Math.floor(r() * (vocab - 1)) : 0;
      attentionMask[b * T + t] = real ? 1 : 0;
      tokenTypeIds[b * T + t] = real && t >= Math.ceil(n / 2) ? 1 : 0;
    }
  }
  return { inputIds, attentionMask, tokenTypeIds, shape: [B, T] };
}

const i64 = (a: Int32Array | undefined, n: number) => (a ? BigInt64Array.from(a, BigInt) : new BigInt64Array(n));

/** Runs a loaded graph on a batch; outputs by name as Float32Arrays. */
export async function ortRun(graph: ort.InferenceSession, b: Batch): Promise<Record<string, Float32Array>> {
  const n = b.shape[0] * b.shape[1];
  const feeds = {
    input_ids: new ort.Tensor('int64', i64(b.inputIds, n), b.shape),
    attention_mask: new ort.Tensor('int64', b.attentionMask ? i64(b.attentionMask, n) : BigInt64Array.from({ length: n }, () => 1n), b.shape),
    token_type_ids: new ort.Tensor('int64', i64(b.tokenTypeIds, n), b.shape),
  };
  const out = await graph.run(feeds);
  const r: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(out)) r[k] = v.data as Float32Array;
  return r;
}

export function openGraph(file: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
}

/** Our outputs under the ONNX output names of each head. */
export function ours(r: ForwardResult): Record<string, Float32Array> {
  const o: Record<string, Float32Array> = {};
  if (r.start) o.start_logits = r.start.data;
  if (r.end) o.end_logits = r.end.data;
  const logits = r.discriminator ?? r.generator ?? r.classification ?? r.tokens;
  if (logits) o.logits = logits.data;
  else if (r.hidden && !r.start) o.last_hidden_state = r.hidden.data;
  return o;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** ||a - b|| / ||b|| (relative L2 error). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / Math.max(n, 1e-30));
}
