#!/usr/bin/env node
'use strict';
/*
 * Pre-training quality under the CUDA path's mixed precision, emulated on the CPU: the demo model
 * pre-trained on prepared data (npm run demo's runs/demo/data, or --data) for --steps steps in
 * fp32 and in bf16 autocast (ELECTRA_TEST_CPU_AUTOCAST=1, the test-only switch that runs the GPU's
 * autocast on the CPU), each with --seeds seeds. Prints
 * the held-out loss, ROC AUC and R-precision of replaced-token detection (the last --eval
 * examples, never trained on) per run and the mean per setting. Quality, not speed. The model and
 * settings are the demo's (src/cli/demo.ts).
 *   node bench/precision.bench.cjs [--data runs/demo/data] [--steps 600] [--batch 32] [--seeds 2] [--eval 512] [--threads 2]
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { benchArgs } = require('./args.cjs');

const SETTINGS = [
  ['fp32', { PRECISION: 'fp32' }],
  ['bf16 (autocast)', { PRECISION: 'bf16', ELECTRA_TEST_CPU_AUTOCAST: '1' }],
];

async function child() {
  // One run, in its own process (the switches are read once per process); prints one JSON line.
  const E = require('../dist/index.cjs');
  const addon = require(process.env.ELECTRA_ADDON || path.join(__dirname, '..', 'build', 'Release', 'electra.node'));
  const [data, steps, B, seed, nEval, threads] = JSON.parse(process.env.PRECISION_CHILD);
  E.setNumThreads(threads);
  const ds = E.PretrainDataset.open(data);
  const T = ds.maxLength, sp = ds.meta.specialIds;
  const d = E.parseConfig({ vocab_size: ds.meta.vocabSize, embedding_size: 96, hidden_size: 96, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 384, max_position_embeddings: T });
  // The demo's settings (src/cli/demo.ts): generator a quarter of the discriminator, lr 5e-4,
  // samples at temperature 2, warm-up over the first tenth.
  const g = E.generatorConfig(d, 0.25);
  const o = E.parseTrainerOptions({ lr: 5e-4, temperature: 2, warmupSteps: Math.ceil(steps / 10), totalSteps: steps, seed });
  const cfg = (c) => ({ ...c, num_labels: 2, classifier_dropout: -1 });
  const t = await addon.createTrainer({ ...o, precision: process.env.PRECISION, cudaGraph: false, discriminator: cfg(d), generator: cfg(g), special: { pad: sp.pad, cls: sp.cls, sep: sp.sep, mask: sp.mask } });
  const batchOf = (idx) => {
    const ids = new Int32Array(idx.length * T), types = new Int32Array(idx.length * T), mask = new Int32Array(idx.length * T);
    idx.forEach((k, r) => ds.readInto(k, r, ids, types, mask));
    return { inputIds: ids, tokenTypeIds: types, attentionMask: mask, shape: [idx.length, T] };
  };
  const nTrain = ds.length - nEval;
  let s = seed * 7919 + 1;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const t0 = Date.now();
  for (let i = 0; i < steps; i++) await t.step([batchOf(Array.from({ length: B }, () => Math.floor(rnd() * nTrain)))]);
  const trainS = (Date.now() - t0) / 1000;
  let loss = 0, auc = 0, rprec = 0, n = 0;
  for (let k = nTrain; k + B <= ds.length; k += B) {
    const m = await t.evaluate(batchOf(Array.from({ length: B }, (_, j) => k + j)));
    loss += m.loss;
    auc += m.replacedAuc;
    rprec += m.replacedRPrecision;
    n++;
  }
  t.dispose();
  ds.close();
  console.log(JSON.stringify({ loss: loss / n, auc: auc / n, rprec: rprec / n, trainS }));
}

function main() {
  const v = benchArgs(__filename, { data: { type: 'string', default: 'runs/demo/data' }, steps: { type: 'string', default: '600' }, batch: { type: 'string', default: '32' }, seeds: { type: 'string', default: '2' }, eval: { type: 'string', default: '512' }, threads: { type: 'string', default: '2' } });
  for (const k of ['steps', 'batch', 'seeds', 'eval', 'threads']) {
    if (!/^[1-9][0-9]*$/.test(v[k])) {
      console.error(`--${k} takes a positive whole number, not '${v[k]}'`);
      process.exit(2);
    }
  }
  if (!fs.existsSync(path.join(v.data, 'meta.json'))) {
    console.error(`--data ${v.data}: no prepared data there (meta.json); run \`npm run demo\` or \`electra prepare\` first`);
    process.exit(2);
  }
  const args = [path.resolve(v.data), Number(v.steps), Number(v.batch), 0, Number(v.eval), Number(v.threads)];
  console.log(`Pre-training quality by precision (CPU emulation of the CUDA path), demo model, ${v.steps} steps of ${v.batch} x 128, data ${v.data}, ${new Date().toISOString().slice(0, 10)}`);
  for (const [name, env] of SETTINGS) {
    const rows = [];
    for (let seed = 1; seed <= Number(v.seeds); seed++) {
      args[3] = seed;
      const r = spawnSync(process.execPath, [__filename], { encoding: 'utf8', env: { ...process.env, ...env, PRECISION_CHILD: JSON.stringify(args) } });
      if (r.status !== 0) {
        console.log(`  ${name}, seed ${seed}: failed: ${r.stderr.slice(-800)}`);
        continue;
      }
      const x = JSON.parse(r.stdout.trim().split('\n').pop());
      rows.push(x);
      console.log(`  ${name}, seed ${seed}: held-out loss ${x.loss.toFixed(3)}, AUC ${x.auc.toFixed(4)}, R-precision ${x.rprec.toFixed(4)} (${x.trainS.toFixed(0)} s)`);
    }
    if (rows.length) {
      const mean = (k) => rows.reduce((a, x) => a + x[k], 0) / rows.length;
      console.log(`  ${name}: mean loss ${mean('loss').toFixed(3)}, AUC ${mean('auc').toFixed(4)}, R-precision ${mean('rprec').toFixed(4)}`);
    }
  }
}

if (process.env.PRECISION_CHILD) {
  child().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main();
}
