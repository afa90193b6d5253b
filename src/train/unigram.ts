/**
 * Log-unigram initialisation of the generator's output bias (`--generator-bias unigram`).
 *
 * The generator's logits are `h . E_w + b_w` with E tied to the input word embeddings. With the
 * paper's zero bias, the first thing the generator learns is token frequency, and at a short
 * budget it cannot learn it through the bias (Adam moves each bias entry by about lr per step:
 * ~0.4 in 800 steps at 5e-4, while log frequencies span ~10 nats). It learns it through the tied
 * embeddings instead: every token that is rare in the corpus is pushed along one shared "rare"
 * direction, until those rows are nearly parallel (mean cosine 0.75 among the 2,000 rarest
 * tokens after the 5-minute demo, against ~0 at initialisation), and a fine-tuning task whose
 * keywords are rare in the pre-training corpus starts from embeddings that no longer tell them
 * apart. Starting the bias at the log unigram distribution of the training data relieves that
 * pressure (the generator's loss starts at the unigram entropy, not log V; after the demo the
 * rarest tokens' mean cosine is 0.35 instead of 0.75; bench/embedding-anisotropy.py), though it did not improve spam
 * fine-tuning in our test (README, Fine-tuning quality). Not in the paper, hence opt-in
 * (`electra pretrain|demo --generator-bias unigram`).
 */
import type { DatasetView } from '../data/dataset';

/**
 * Token counts over (a deterministic, evenly strided sample of at most `maxExamples` of) the
 * examples of `view`, attention-masked positions only.
 */
export function tokenCounts(view: DatasetView, vocabSize: number, maxExamples = 50_000): Float64Array {
  const counts = new Float64Array(vocabSize);
  const T = view.dataset.maxLength;
  const ids = new Int32Array(T), types = new Int32Array(T), mask = new Int32Array(T);
  const n = Math.min(view.length, maxExamples);
  for (let k = 0; k < n; k++) {
    const index = view.start + Math.floor((k * view.length) / n);
    view.dataset.readInto(index, 0, ids, types, mask);
    for (let i = 0; i < T && mask[i] === 1; i++) counts[ids[i]!]! += 1;
  }
  return counts;
}

/**
 * The bias: log((count + 1) / (total + V)) (add-one smoothing, so unseen tokens get a finite,
 * low score), with the `exclude`d ids ([PAD], [CLS], [SEP], [MASK]: never a generator target)
 * counted as 0, centred to mean 0 (softmax is shift-invariant; this keeps the values small).
 */
export function logUnigramBias(counts: Float64Array, exclude: readonly number[]): Float32Array {
  const c = Float64Array.from(counts);
  for (const id of exclude) if (id >= 0 && id < c.length) c[id] = 0;
  let total = 0;
  for (const x of c) total += x;
  const logp = Array.from(c, (x) => Math.log((x + 1) / (total + c.length)));
  const mean = logp.reduce((a, b) => a + b, 0) / logp.length;
  return Float32Array.from(logp, (x) => x - mean);
}
