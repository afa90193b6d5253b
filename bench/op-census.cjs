#!/usr/bin/env node
'use strict';
/*
 * Operator census of one pre-training step, ours against PyTorch + Hugging Face, on the CPU.
 *   node bench/op-census.cjs [--preset base] [--batch 1] [--len 128] [--bf16] [--min-diff 1] [--variant NAME=VALUE,...]
 *                            [--shapes [--op REGEX]]
 *
 * Runs one step of each side under the profiler and prints, per ATen operator, how many times
 * each side called it in that step, with the operators whose counts differ first. On a GPU each
 * of those calls is (at least) one kernel launch, so this is the CPU's view of the kernel counts
 * that the GPU profile of `bench/gpu-step.cjs` reports: a structural defect such as a backward
 * pass that zero-fills and adds buffers it does not need shows up here as extra `fill_`, `copy_`
 * and `add` calls, without a GPU. Counts, not times: nothing here is a speed figure.
 *
 * --bf16 runs both sides under bf16 autocast on the CPU (ours through the test-only
 * ELECTRA_TEST_CPU_AUTOCAST=1, which runs the CUDA path's mixed precision on the CPU), which is
 * what the GPU trains with. --variant sets A/B overrides (docs/switches.md: ELECTRA_PARALLEL_RNG=0,
 * ...) for our side. The step is the same as bench/pretrain-step.cjs's (same config, same batch,
 * the peer with fused AdamW and gradients set to none). --shapes counts calls by operator and
 * input shapes (which tells call sites apart: a weight-sized copy from an activation-sized one);
 * --op REGEX then keeps the operators whose names match.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { benchArgs } = require('./args.cjs');

const v = benchArgs(__filename, {
  preset: { type: 'string', default: 'base' },
  batch: { type: 'string', default: '1' },
  len: { type: 'string', default: '128' },
  bf16: { type: 'boolean', default: false },
  'min-diff': { type: 'string', default: '1' },
  variant: { type: 'string', default: '' },
  shapes: { type: 'boolean', default: false },
  op: { type: 'string', default: '' },
  child: { type: 'boolean', default: false },
});
const B = Number(v.batch), T = Number(v.len), V = 30522;

async function ours() {
  const E = require('../dist/index.cjs');
  const addon = require(process.env.ELECTRA_ADDON || '../build/Release/electra.node');
  E.setNumThreads(2);
  const preset = E.PRESETS[v.preset];
  const d = E.presetConfig(v.preset, { vocab_size: V, max_position_embeddings: Math.max(512, T) });
  const g = E.generatorConfig(d, preset.generatorFraction);
  const o = E.parseTrainerOptions({ lr: 5e-4, warmupSteps: 0, totalSteps: 1e6 });
  const cfg = (c) => ({ ...c, num_labels: 2, classifier_dropout: -1 });
  // The addon directly: the public API refuses bf16 training on the CPU (the test-only switch
  // below is what lets it autocast there).
  const t = await addon.createTrainer({ ...o, precision: v.bf16 ? 'bf16' : 'fp32', cudaGraph: false, discriminator: cfg(d), generator: cfg(g), special: { pad: 0, cls: 2, sep: 3, mask: 4 } });
  let s = 1;
  const ids = new Int32Array(B * T);
  for (let i = 0; i < B * T; i++) ids[i] = 5 + ((s = (s * 1103515245 + 12345) % 2147483648) % (V - 5));
  for (let b = 0; b < B; b++) {
    ids[b * T] = 2;
    ids[b * T + T - 1] = 3;
  }
  const batch = { inputIds: ids, tokenTypeIds: new Int32Array(B * T), attentionMask: new Int32Array(B * T).fill(1), shape: [B, T] };
  for (let i = 0; i < 2; i++) await t.step([batch]);
  await addon.profileStart({ shapes: v.shapes });
  await t.step([batch]);
  const p = await addon.profileStop();
  t.dispose();
  return p;
}

function peer() {
  const py = spawnSync('python3', [path.join(__dirname, 'hf_pretrain_step.py'), '--preset', v.preset, '--batch', String(B), '--len', String(T), '--device', 'cpu', '--threads', '2', '--steps', '1', '--warmup', '2', '--fused', ...(v.bf16 ? ['--bf16'] : []), '--profile', '1', '--profile-all', ...(v.shapes ? ['--profile-shapes'] : [])], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (py.status !== 0) throw new Error(`python peer failed: ${py.stderr.slice(-2000)}`);
  return JSON.parse(py.stdout.trim().split('\n').pop()).profile;
}

let opFilter;
try {
  opFilter = new RegExp(v.op);
} catch (e) {
  console.error(`--op takes a regular expression: ${e.message}`);
  process.exit(2);
}

function counts(profile) {
  const m = new Map();
  for (const e of profile.entries) {
    if (!e.name.startsWith('aten::') || !opFilter.test(e.name.split(' ')[0])) continue;
    m.set(e.name, (m.get(e.name) || 0) + e.count);
  }
  return m;
}

(async () => {
  if (v.child) {
    console.log(JSON.stringify(await ours()));
    return;
  }
  // Ours in a child process: the environment's switches apply when the addon loads.
  const env = { ...process.env, ...(v.bf16 ? { ELECTRA_TEST_CPU_AUTOCAST: '1' } : {}) };
  for (const a of v.variant ? v.variant.split(',') : []) {
    if (!/^ELECTRA_[A-Z0-9_]+=\S*$/.test(a)) {
      console.error(`--variant takes NAME=VALUE[,NAME=VALUE...] with ELECTRA_ variables, not '${a}'`);
      process.exit(2);
    }
    env[a.slice(0, a.indexOf('='))] = a.slice(a.indexOf('=') + 1);
  }
  const args = ['--preset', v.preset, '--batch', String(B), '--len', String(T), ...(v.bf16 ? ['--bf16'] : []), ...(v.shapes ? ['--shapes'] : [])];
  const r = spawnSync(process.execPath, [__filename, ...args, '--child'], { encoding: 'utf8', env, maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`our side failed: ${(r.stderr || r.stdout).slice(-2000)}`);
  const o = counts(JSON.parse(r.stdout.trim().split('\n').pop()));
  const h = counts(peer());
  const names = [...new Set([...o.keys(), ...h.keys()])];
  const minDiff = Number(v['min-diff']);
  const rows = names.map((n) => ({ n, o: o.get(n) || 0, h: h.get(n) || 0 })).map((x) => ({ ...x, d: x.o - x.h }));
  const total = (m) => [...m.values()].reduce((a, b) => a + b, 0);
  console.log(`ELECTRA ${v.preset} pre-training step, batch ${B} x ${T}, cpu, ${v.bf16 ? 'bf16 autocast' : 'fp32'}${v.variant ? `, ours with ${v.variant}` : ''}: ATen operator calls in one step`);
  console.log(`  all aten:: calls (nested ones included): ours ${total(o)}, python + HF ${total(h)}`);
  console.log('     ours     HF   diff  operator (|diff| >= ' + minDiff + ', largest first)');
  for (const x of rows.filter((x) => Math.abs(x.d) >= minDiff).sort((a, b) => Math.abs(b.d) - Math.abs(a.d) || a.n.localeCompare(b.n))) {
    console.log(`  ${String(x.o).padStart(7)} ${String(x.h).padStart(6)} ${(x.d > 0 ? '+' : '') + x.d}`.padEnd(24) + `  ${x.n}`);
  }
})().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
