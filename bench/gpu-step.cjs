#!/usr/bin/env node
'use strict';
// GPU benchmark (issue 7 sizes): ELECTRA-Small 128 x 128 and ELECTRA-Base 32 x 512, bf16, ours vs
// Hugging Face eager with fused AdamW, same card, same run; ours eager and replayed as a CUDA
// graph; then a kernel profile of 3 eager steps of each side (--profile); and ours again with each
// of VARIANTS' switches set (--variant). Runs bench/pretrain-step.cjs twice.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
// Native A/B switches measured against the same run's HF figure (README, GPU, "Prepared without a GPU").
const VARIANTS = ['ELECTRA_BF16_LAYERNORM=1', 'ELECTRA_FP32_WGRAD=1', 'ELECTRA_BF16_LAYERNORM=1,ELECTRA_FP32_WGRAD=1', 'ELECTRA_SDPA_CUDNN=0'];
for (const [preset, batch, len] of [['small', 128, 128], ['base', 32, 512]]) {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'pretrain-step.cjs'), '--preset', preset, '--batch', String(batch), '--len', String(len), '--device', 'cuda', '--bf16', '--steps', '20', '--warmup', '5', '--cuda-graph', '--profile', '3', ...VARIANTS.flatMap((x) => ['--variant', x]), '--variant-steps', '10'], { encoding: 'utf8' });
  process.stdout.write(r.stdout);
  if (r.status !== 0) process.stdout.write(`(failed: ${r.stderr.slice(-1500)})\n`);
}
