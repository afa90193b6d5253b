#!/usr/bin/env node
'use strict';
// GPU benchmark (issue 7 sizes): ELECTRA-Small 128 x 128 and ELECTRA-Base 32 x 512, bf16, ours vs
// Hugging Face eager with fused AdamW, same card, same run; ours eager and replayed as a CUDA
// graph; then a kernel profile of 3 eager steps of each side (--profile); and ours again with each
// of VARIANTS' switches set (--variant). Runs bench/pretrain-step.cjs twice. First, the custom
// reduction kernels against ATen's, per call.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
// A/B switches (docs/switches.md) measured against the same run's HF figure: the defaults'
// alternatives, each in a child process with its environment override.
const VARIANTS = ['ELECTRA_CUSTOM_KERNELS=0', 'ELECTRA_SDPA_CUDNN=0'];

// The custom kernels against the ATen kernels they replace, per call, at the shapes of the two
// steps (tokens x features; the dtype each step reduces in).
try {
  const addon = require(process.env.ELECTRA_ADDON || '../build/Release/electra.node');
  const dev = process.env.GPU_CHECK_DEVICE || 'cuda:0';
  console.log(`custom kernels vs ATen's, ${dev}, time per call (50 calls after 3), ${new Date().toISOString().slice(0, 10)}:`);
  for (const [op, dtype, rows, cols, what] of [
    ['colsum', 'bfloat16', 16384, 3072, 'bias gradient, Base intermediate'], ['colsum', 'bfloat16', 16384, 2304, 'bias gradient, Base query/key/value'],
    ['colsum', 'bfloat16', 16384, 768, 'bias gradient, Base hidden'], ['colsum', 'bfloat16', 16384, 256, 'bias gradient, Small hidden'],
    ['colsum', 'bfloat16', 16384, 64, 'bias gradient, Small generator'],
    ['layernorm', 'float32', 16384, 768, 'LayerNorm weights, Base'], ['layernorm', 'float32', 16384, 256, 'LayerNorm weights, Small / Base generator'],
    ['layernorm', 'float32', 16384, 64, 'LayerNorm weights, Small generator'],
    ['gumbel', 'float32', 2560, 30522, 'Gumbel-max sampling, Small (128 x 20 positions)'], ['gumbel', 'float32', 2464, 30522, 'Gumbel-max sampling, Base (32 x 77 positions)'],
    ['addln', 'bf16f32', 16384, 768, 'residual add + LayerNorm, Base'], ['addln', 'bf16f32', 16384, 256, 'residual add + LayerNorm, Small / Base generator'],
    ['addln', 'bf16f32', 16384, 64, 'residual add + LayerNorm, Small generator'],
  ]) {
    const r = addon._test.customKernels(op, dtype, rows, cols, dev, 1, 50);
    console.log(`  ${`${op} ${dtype} ${rows} x ${cols}`.padEnd(32)} ours ${(r.oursMs * 1000).toFixed(1).padStart(7)} us, ATen ${(r.atenMs * 1000).toFixed(1).padStart(7)} us, ${(r.atenMs / r.oursMs).toFixed(2)}x  (${what}${r.status && r.status !== 'ok' ? `; kernels not in use: ${r.status}` : ''})`);
  }
} catch (e) {
  console.log(`custom kernels vs ATen's: failed (${e.message})`);
}
// Base first: its target (1.5x) is the one not yet met.
for (const [preset, batch, len] of [['base', 32, 512], ['small', 128, 128]]) {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'pretrain-step.cjs'), '--preset', preset, '--batch', String(batch), '--len', String(len), '--device', 'cuda', '--bf16', '--steps', '20', '--warmup', '5', '--cuda-graph', '--profile', '3', ...VARIANTS.flatMap((x) => ['--variant', x]), '--variant-steps', '10'], { encoding: 'utf8' });
  process.stdout.write(r.stdout);
  if (r.status !== 0) process.stdout.write(`(failed: ${r.stderr.slice(-1500)})\n`);
}
