#!/usr/bin/env node
'use strict';
// `npm run bench`: lists the benchmarks; `npm run bench -- NAME [ARGS...]` runs one with its own
// arguments (each prints the peer's figure and ours from the same run, and the ratio).
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const BENCHES = {
  'pretrain-step': ['pretrain-step.cjs', 'one pre-training step, ours vs PyTorch + Hugging Face (CPU; --device cuda --bf16 on a GPU)'],
  'op-census': ['op-census.cjs', 'ATen operator calls in one pre-training step, ours vs PyTorch + Hugging Face, per operator (CPU; --bf16 for the GPU path\'s autocast): kernel counts without a GPU'],
  gpu: ['gpu-step.cjs', 'the GPU step at ELECTRA-Small 128 x 128 and Base 32 x 512, bf16, eager and CUDA graph (needs a CUDA build and a GPU)'],
  prepare: ['prepare.bench.cjs', 'vocabulary + prepare on the SOTU corpus, loader throughput'],
  embed: ['embed.bench.cjs', 'sentence embeddings on the CPU, ours vs transformers and onnxruntime-node'],
  distributed: ['distributed.bench.cjs', 'data-parallel scaling, 1 process vs N (c10d + Gloo on 127.0.0.1)'],
  quality: ['quality.bench.cjs', 'fine-tuning quality on spam-assassin: pre-trained vs random init vs TF-IDF (needs a demo checkpoint)'],
  precision: ['precision.bench.cjs', 'pre-training quality in fp32 vs the GPU path\'s bf16 (emulated on the CPU) and its off-by-default switches (needs runs/demo/data)'],
  'spam-token-stats': ['spam-token-stats.cjs', 'what the spam-assassin e-mails look like to a tokenizer'],
};

const [name, ...args] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  console.log('usage: npm run bench -- NAME [ARGS...]   (the arguments each takes are in its header)\n');
  for (const [n, [file, what]] of Object.entries(BENCHES)) console.log(`  ${n.padEnd(17)} ${what}  (bench/${file})`);
  process.exit(0);
}
const b = BENCHES[name];
if (!b) {
  console.error(`unknown benchmark '${name}'; one of: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, [path.join(__dirname, b[0]), ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
