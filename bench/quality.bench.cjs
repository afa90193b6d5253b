#!/usr/bin/env node
// Fine-tuning quality on the spam-assassin test split (fixed seeded split; results in the README, raw output in bench/results/):
// the model pre-trained by `npm run demo` fine-tuned, the same architecture fine-tuned from random
// initialisation with the same budget, and TF-IDF + logistic regression (scikit-learn), all in one
// run; then the same with only 200 labelled training examples.
// Each ELECTRA system is fine-tuned with --seeds seeds (head initialisation, dropout, data order);
// the table gives the mean and the spread over seeds.
// --windows N: each e-mail is read as up to N windows of --max-len tokens (finetune `windows`),
// instead of its first --max-len tokens only; TF-IDF is then also computed on exactly those tokens
// (a second TF-IDF row), so the table shows how much the truncation itself costs.
// The README's main figures fine-tune the demo pre-trained for 20 minutes on SOTU plus the
// unlabelled training e-mails (task-adaptive pre-training; no dev/test e-mail is ever seen):
//   node bin/electra.cjs demo --out runs/demo-tapt20 --corpus sotu --corpus spam-assassin-train --minutes 20
//   node bench/quality.bench.cjs --model runs/demo-tapt20/run/checkpoint-<last step> --windows 4
// usage: node bench/quality.bench.cjs [--model runs/demo/checkpoint-N] [--epochs 3] [--small-epochs 10] [--lr 3e-4] [--layer-decay 1] [--seeds 3] [--first-seed 1] [--only all|200] [--windows 1] [--threads 2]
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { benchArgs } = require('./args.cjs');

const ROOT = path.resolve(__dirname, '..');
const v = benchArgs(__filename, { model: { type: 'string' }, epochs: { type: 'string' }, 'small-epochs': { type: 'string' }, lr: { type: 'string' }, 'layer-decay': { type: 'string' }, seeds: { type: 'string' }, 'first-seed': { type: 'string' }, only: { type: 'string' }, windows: { type: 'string' }, threads: { type: 'string' }, 'max-len': { type: 'string' } });

function latestDemoCheckpoint() {
  const runs = path.join(ROOT, 'runs', 'demo', 'run');
  const c = fs.existsSync(runs) ? fs.readdirSync(runs).filter((n) => /^checkpoint-\d+$/.test(n)).sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1])) : [];
  if (!c.length) throw new Error('no pre-trained model: run `npm run demo` first (or pass --model DIR)');
  return path.join(runs, c[c.length - 1]);
}

function csvFile(file, rows) {
  const q = (s) => `"${s.replace(/"/g, '""')}"`;
  fs.writeFileSync(file, 'text,label\n' + rows.map((r) => `${q(r.text)},${r.label}`).join('\n') + '\n');
}

async function main() {
  const e = require(path.join(ROOT, 'dist', 'index.cjs'));
  const threads = Number(v.threads ?? os.cpus().length);
  e.setNumThreads(threads);
  const model = v.model ?? latestDemoCheckpoint();
  const epochs = Number(v.epochs ?? 3), smallEpochs = Number(v['small-epochs'] ?? 10), lr = Number(v.lr ?? 3e-4), maxLength = Number(v['max-len'] ?? 128);
  const layerDecay = Number(v['layer-decay'] ?? 1), seeds = Number(v.seeds ?? 3), firstSeed = Number(v['first-seed'] ?? 1), windows = Number(v.windows ?? 1);
  const tokJson = [path.join(model, 'discriminator', 'tokenizer.json'), path.join(model, 'tokenizer.json')].find((p) => fs.existsSync(p));
  if (!tokJson) throw new Error(`${model} has no tokenizer.json`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-quality-'));
  const split = e.loadSpamAssassin({ seed: 42 });
  // 200 labelled examples: a seeded, stratified draw from the training split.
  const shuffled = [...split.train].map((x, i) => ({ x, k: (Math.imul(i + 1, 2654435761) >>> 0) })).sort((a, b) => a.k - b.k).map((o) => o.x);
  const spam = shuffled.filter((x) => x.label === 'spam'), ham = shuffled.filter((x) => x.label === 'ham');
  const nSpam = Math.round((200 * spam.length) / shuffled.length);
  const small = [...spam.slice(0, nSpam), ...ham.slice(0, 200 - nSpam)];
  const f = (n) => path.join(dir, n);
  csvFile(f('train.csv'), split.train);
  csvFile(f('train200.csv'), small);
  csvFile(f('dev.csv'), split.dev);
  csvFile(f('test.csv'), split.test);
  console.log(`spam-assassin: ${split.train.length} train / ${split.dev.length} dev / ${split.test.length} test; model ${path.relative(ROOT, model)}; ${threads} threads; max length ${maxLength}`);
  const rows = [];
  const tfidf = (train, cut) =>
    JSON.parse(execFileSync('python3', [path.join(__dirname, 'tfidf_baseline.py'), train, f('test.csv'), ...(cut ? ['--tokenizer', tokJson, '--max-tokens', String(windows * (maxLength - 2))] : [])], { encoding: 'utf8' }));
  console.log(`fine-tuning: lr ${lr}, batch 32, layer decay ${layerDecay}, early stopping (patience 3), seeds ${firstSeed}..${firstSeed + seeds - 1}, ${windows > 1 ? `up to ${windows} windows of ${maxLength} tokens per e-mail` : `first ${maxLength} tokens of each e-mail`}`);
  const ft1 = async (name, train, randomInit, ep, seed) => {
    const t0 = Date.now();
    const s = await e.finetune({ model, task: train, dev: f('dev.csv'), test: f('test.csv'), out: f(`${name}-${seed}`), epochs: ep, lr, batch: 32, layerDecay, patience: 3, maxLength, windows, randomInit, seed }, {
      onEpoch: (r) => process.stderr.write(`  ${name} seed ${seed} epoch ${r.epoch}: dev accuracy ${r.dev.accuracy.toFixed(4)} (${r.seconds.toFixed(0)} s)\n`),
    });
    process.stderr.write(`  ${name} seed ${seed}: test accuracy ${s.test.accuracy.toFixed(4)}\n`);
    return { ...s.test, seconds: (Date.now() - t0) / 1000 };
  };
  // Mean over seeds, with the range of accuracies.
  const ft = async (name, train, randomInit, ep) => {
    const runs = [];
    for (let seed = firstSeed; seed < firstSeed + seeds; seed++) runs.push(await ft1(name, train, randomInit, ep, seed));
    const mean = (k) => runs.reduce((a, r) => a + r[k], 0) / runs.length;
    const acc = runs.map((r) => r.accuracy);
    return { accuracy: mean('accuracy'), f1: mean('f1'), mcc: mean('mcc'), seconds: mean('seconds'), min: Math.min(...acc), max: Math.max(...acc), runs: acc };
  };
  const settings = [['all training examples', f('train.csv'), epochs], ['200 training examples', f('train200.csv'), smallEpochs]].filter((x) => !v.only || x[0].startsWith(v.only));
  if (!settings.length) throw new Error('--only takes all or 200');
  for (const [label, train, ep] of settings) {
    const t0 = Date.now();
    const tf = tfidf(train, false);
    const tfs = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    const tfCut = tfidf(train, true);
    const tfCutS = (Date.now() - t1) / 1000;
    const pre = await ft(`pre-${ep}-${label.length}`, train, false, ep);
    const rnd = await ft(`rnd-${ep}-${label.length}`, train, true, ep);
    rows.push({ label, tf: { ...tf, seconds: tfs }, tfCut: { ...tfCut, seconds: tfCutS }, pre, rnd, ep });
  }
  const fmt = (r) => `${r.accuracy.toFixed(4)}${r.runs ? ` (${r.min.toFixed(3)}-${r.max.toFixed(3)})` : ''} | ${r.f1.toFixed(4)} | ${r.mcc.toFixed(4)} | ${r.seconds.toFixed(0)} s`;
  console.log(`\n| training data | system | accuracy${seeds > 1 ? ` (mean of ${seeds} seeds, range)` : ''} | F1 (spam) | MCC | time per run |`);
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.label} | TF-IDF + logistic regression (whole e-mail) | ${fmt(r.tf)} |`);
    console.log(`| ${r.label} | TF-IDF + logistic regression on the tokens the models see (first ${windows * (maxLength - 2)}) | ${fmt(r.tfCut)} |`);
    console.log(`| ${r.label} | ELECTRA pre-trained by the demo, fine-tuned (${r.ep} epochs max) | ${fmt(r.pre)} |`);
    console.log(`| ${r.label} | same architecture, random init (${r.ep} epochs max) | ${fmt(r.rnd)} |`);
  }
  for (const r of rows) {
    const d = r.pre.accuracy - r.rnd.accuracy;
    console.log(`${r.label}: pre-trained - random init = ${d >= 0 ? '+' : ''}${(100 * d).toFixed(2)} accuracy points (mean); pre-trained - TF-IDF = ${(100 * (r.pre.accuracy - r.tf.accuracy)).toFixed(2)} points`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
main().catch((err) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
