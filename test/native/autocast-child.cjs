// One tiny pre-training run for test/native/autocast.test.ts and custom-kernels.test.ts, with the built dist/ and addon:
// PRECISION=bf16 runs the CUDA path's autocast on the CPU (ELECTRA_TEST_CPU_AUTOCAST=1 set by the
// test; the public API refuses bf16 training on the CPU). Prints {losses, gradNorms, ln, logits} as
// JSON: ln holds the discriminator's LayerNorm weights after training, which start at exactly 1;
// logits, 256 discriminator logits of the first batch after training.
// Sizes default to the test's; AC_VOCAB, AC_BATCH, AC_LEN, AC_HIDDEN, AC_LAYERS, AC_STEPS and
// AC_SEED change them (the longer comparison in the README, "Prepared without a GPU").
// PROFILE=1 then profiles one more step and adds ops: {name: calls} for its ATen operators.
const path = require('node:path');
const e = require('../../dist/index.cjs');

async function main() {
  const precision = process.env.PRECISION || 'fp32';
  const addon = require(process.env.ELECTRA_ADDON || path.join(__dirname, '..', '..', 'build', 'Release', 'electra.node'));
  e.setNumThreads(1);
  const env = (k, d) => Number(process.env[k] || d);
  const V = env('AC_VOCAB', 64), B = env('AC_BATCH', 8), T = env('AC_LEN', 32), steps = env('AC_STEPS', 40), H = env('AC_HIDDEN', 32);
  const d = e.parseConfig({ vocab_size: V, embedding_size: 16, hidden_size: H, num_hidden_layers: env('AC_LAYERS', 2), num_attention_heads: 2, intermediate_size: 2 * H, max_position_embeddings: Math.max(64, T) });
  const g = e.generatorConfig(d, 0.5);
  const o = e.parseTrainerOptions({ lr: 2e-3, warmupSteps: 2, totalSteps: Math.max(200, steps), seed: env('AC_SEED', 11) });
  const cfg = (c) => ({ ...c, num_labels: 2, classifier_dropout: -1 });
  const special = { pad: 0, cls: 1, sep: 2, mask: 3 };
  const t = await addon.createTrainer({ ...o, precision, cudaGraph: false, discriminator: cfg(d), generator: cfg(g), special });
  let s = 3;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  // A learnable corpus: each row repeats a short random phrase.
  const batches = [];
  for (let k = 0; k < 4; k++) {
    const ids = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const phrase = Array.from({ length: 4 }, () => 5 + Math.floor(rnd() * (V - 5)));
      for (let i = 0; i < T; i++) ids[b * T + i] = i === 0 ? 1 : i === T - 1 ? 2 : phrase[i % 4];
    }
    batches.push({ inputIds: ids, tokenTypeIds: new Int32Array(B * T), attentionMask: new Int32Array(B * T).fill(1), shape: [B, T] });
  }
  const losses = [], gradNorms = [];
  for (let i = 0; i < steps; i++) {
    const m = await t.step([batches[i % batches.length]]);
    losses.push(m.loss);
    gradNorms.push(m.gradNorm);
  }
  // Discriminator logits of one batch (no update): under autocast its output layer stays fp32.
  const logits = Array.from((await t.inspect(batches[0])).discriminatorLogits.data).slice(0, 256);
  const ln = {};
  for (const p of await t.getState('discriminator')) if (/LayerNorm\.weight$/.test(p.name)) ln[p.name] = Array.from(p.data);
  let ops;
  if (process.env.PROFILE === '1') {
    await addon.profileStart();
    await t.step([batches[0]]);
    ops = {};
    for (const x of (await addon.profileStop()).entries) if (x.name.startsWith('aten::')) ops[x.name] = x.count;
  }
  t.dispose();
  process.stdout.write(JSON.stringify({ losses, gradNorms, ln, logits, ops }));
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
