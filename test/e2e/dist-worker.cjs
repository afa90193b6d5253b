// One rank of the data-parallel tests (run by test/e2e/distributed.test.ts with the built dist/):
// trains a tiny pair for STEPS updates on its rows of fixed global batches, then writes its
// discriminator and generator weights (and the step losses) to OUT/rank-<r>.json.
// argv: out rank world port steps globalBatch dropout(0|1) [dieAfterStep]
const fs = require('node:fs');
const path = require('node:path');
const e = require('../../dist/index.cjs');

async function main() {
  const [out, rank, world, port, steps, globalBatch, dropout, dieAfter] = process.argv.slice(2);
  const r = Number(rank), w = Number(world), B = Number(globalBatch), T = 24, V = 80;
  e.setNumThreads(1);
  const p = dropout === '1' ? {} : { hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
  const pair = await e.Pretrainer.create({
    discriminator: { vocab_size: V, embedding_size: 16, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 32, ...p },
    generatorFraction: 0.5,
    special: { pad: 0, cls: 1, sep: 2, mask: 3 },
    lr: 2e-3, warmupSteps: 2, totalSteps: 20, seed: 5,
  });
  let group = null;
  if (w > 1) {
    group = await e.ProcessGroup.create({ rank: r, worldSize: w, masterAddr: '127.0.0.1', masterPort: Number(port), timeoutMs: 20000 });
    await pair.attach(group);
  }
  let s = 7;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const losses = [];
  for (let k = 0; k < Number(steps); k++) {
    const ids = new Int32Array(B * T), types = new Int32Array(B * T), mask = new Int32Array(B * T).fill(1);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) ids[b * T + t] = t === 0 ? 1 : t === T - 1 ? 2 : 5 + Math.floor(rnd() * (V - 5));
    const rows = B / w, lo = r * rows * T, hi = (r + 1) * rows * T;
    const m = await pair.trainStep([{ inputIds: ids.slice(lo, hi), tokenTypeIds: types.slice(lo, hi), attentionMask: mask.slice(lo, hi), shape: [rows, T] }]);
    losses.push(m.loss);
    if (dieAfter !== undefined && r === 1 && k + 1 === Number(dieAfter)) process.kill(process.pid, 'SIGKILL');
  }
  const state = {};
  for (const part of ['discriminator', 'generator']) {
    for (const t of await pair.state(part)) state[`${part}.${t.name}`] = Array.from(t.data);
  }
  fs.writeFileSync(path.join(out, `rank-${r}.json`), JSON.stringify({ losses, state }));
  pair.dispose();
  group?.dispose();
}
main().catch((err) => {
  process.stderr.write(`${err.code ?? 'ERR'}: ${err.message}\n`);
  process.exit(err.code === 'ERR_DISTRIBUTED' ? 3 : 1);
});
