#!/usr/bin/env node
'use strict';
/*
 * One ELECTRA pre-training step (generator + discriminator, masking, sampling, MLM + 50 RTD,
 * AdamW, clipping), ours vs Python PyTorch with Hugging Face modules, same config, same threads,
 * same run. Prints both figures and the ratio.
 *   node bench/pretrain-step.cjs [--preset small] [--batch 32] [--len 128] [--threads 2] [--steps 10] [--rounds 1]
 *   ... --device cuda --bf16 [--cuda-graph]   (--cuda-graph also measures our step replayed as a CUDA graph)
 * --rounds N alternates the two sides N times (order reversed each round) and reports the median
 * of each side: on a shared, noisy machine one sequential pair can be off by 1.5x either way.
 * --profile N then runs N more eager steps of each side under libtorch's Kineto profiler and prints
 * where the time goes, summed by name: on CUDA the GPU kernels (device time per step), on the CPU
 * the operators (time including the operators they call, so shares overlap). Not timed.
 * --variant NAME=VALUE[,NAME=VALUE...] (repeatable) then measures our step again in a child
 * process with those environment variables set (the A/B overrides of docs/switches.md, such as
 * ELECTRA_CUSTOM_KERNELS=0, applied when the addon loads), eager and (with --cuda-graph) as a graph,
 * against the HF figure of this same run; with --profile, the child's kernel profile too (its
 * largest 12 entries). --variant-steps N times the variants over N steps instead of --steps.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { benchArgs } = require('./args.cjs');
const E = require('../dist/index.cjs');

const v = benchArgs(__filename, { preset: { type: 'string', default: 'small' }, batch: { type: 'string', default: '32' }, len: { type: 'string', default: '128' }, threads: { type: 'string', default: '2' }, steps: { type: 'string', default: '10' }, rounds: { type: 'string', default: '1' }, warmup: { type: 'string', default: '3' }, device: { type: 'string', default: 'cpu' }, bf16: { type: 'boolean', default: false }, 'cuda-graph': { type: 'boolean', default: false }, profile: { type: 'string', default: '0' }, variant: { type: 'string', multiple: true, default: [] }, 'variant-steps': { type: 'string' }, 'ours-only': { type: 'boolean', default: false } });
const B = Number(v.batch), T = Number(v.len), threads = Number(v.threads), steps = Number(v.steps), warm = Number(v.warmup), V = 30522;
const profileSteps = Number(v.profile);
if (!Number.isInteger(profileSteps) || profileSteps < 0) {
  console.error(`--profile takes a number of steps, not '${v.profile}'`);
  process.exit(2);
}
if (v['variant-steps'] !== undefined && !/^[1-9][0-9]*$/.test(v['variant-steps'])) {
  console.error(`--variant-steps takes a positive whole number, not '${v['variant-steps']}'`);
  process.exit(2);
}
for (const x of v.variant) {
  if (!/^ELECTRA_[A-Z0-9_]+=[^,\s]*(,ELECTRA_[A-Z0-9_]+=[^,\s]*)*$/.test(x)) {
    console.error(`--variant takes NAME=VALUE[,NAME=VALUE...] with ELECTRA_ variables, not '${x}'`);
    process.exit(2);
  }
}

// The addon dist/ loads (ELECTRA_ADDON when set), for its CUDA memory functions.
const addon = () => require(process.env.ELECTRA_ADDON || '../build/Release/electra.node');

async function ours(cudaGraph = false, profileOnly = false) {
  if (v.device === 'cpu') E.setNumThreads(threads);
  // Peak memory per variant: the eager and the graph runs share this process.
  else addon().cudaRelease();
  const preset = E.PRESETS[v.preset];
  const disc = E.presetConfig(v.preset, { vocab_size: V, max_position_embeddings: Math.max(512, T) });
  const p = await E.Pretrainer.create({ discriminator: disc, generatorFraction: preset.generatorFraction, special: { pad: 0, cls: 2, sep: 3, mask: 4 }, lr: 5e-4, warmupSteps: 0, totalSteps: 1e6, device: v.device, precision: v.bf16 ? 'bf16' : 'fp32', cudaGraph });
  let s = 1;
  const ids = new Int32Array(B * T);
  for (let i = 0; i < B * T; i++) ids[i] = 5 + ((s = (s * 1103515245 + 12345) % 2147483648) % (V - 5));
  for (let b = 0; b < B; b++) { ids[b * T] = 2; ids[b * T + T - 1] = 3; }
  const batch = { inputIds: ids, tokenTypeIds: new Int32Array(B * T), attentionMask: new Int32Array(B * T).fill(1), shape: [B, T] };
  for (let i = 0; i < warm; i++) await p.trainStep([batch]);
  if (profileOnly) {
    // Run after the figures are printed (a profiler failure cannot lose them): warm, untimed.
    await addon().profileStart();
    for (let i = 0; i < profileSteps; i++) await p.trainStep([batch]);
    const profile = { ...(await addon().profileStop()), steps: profileSteps };
    p.dispose();
    return { profile };
  }
  const t0 = process.hrtime.bigint();
  let m;
  for (let i = 0; i < steps; i++) m = await p.trainStep([batch]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / steps;
  p.dispose();
  const mem = v.device === 'cpu' ? null : addon().cudaMemory(0);
  if (cudaGraph && !m.graph) throw new Error('--cuda-graph: the timed steps were not replayed from a CUDA graph');
  return { impl: cudaGraph ? 'electra-node (CUDA graph)' : 'electra-node', ms_per_step: ms, tokens_per_s: (B * T) / ms * 1000, loss: m.loss, trainedSteps: warm + steps, threads: E.runtime().threads, peak_mem_gib: mem ? mem.peakAllocated / 2 ** 30 : undefined };
}

function python() {
  const py = spawnSync('python3', [path.join(__dirname, 'hf_pretrain_step.py'), '--preset', v.preset, '--batch', String(B), '--len', String(T), '--device', v.device, '--threads', String(threads), '--steps', String(steps), '--warmup', String(warm), ...(v.bf16 ? ['--bf16', '--fused'] : []), ...(profileSteps > 0 ? ['--profile', String(profileSteps)] : [])], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (py.status !== 0) {
    console.error('python peer failed:', py.stderr.slice(-2000));
    process.exit(1);
  }
  return JSON.parse(py.stdout.trim().split('\n').pop());
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

// A variant's figures: this script again in a child process with `--ours-only` and the variable set.
function variant(assigns) {
  const vars = Object.fromEntries(assigns.split(',').map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  const drop = new Set(['--variant', '--variant-steps']);
  const args = process.argv.slice(2).filter((a, i, all) => !drop.has(a) && !drop.has(all[i - 1]) && !a.startsWith('--variant=') && !a.startsWith('--variant-steps='));
  if (v['variant-steps'] !== undefined) args.push('--steps', v['variant-steps']);
  const r = spawnSync(process.execPath, [__filename, ...args, '--ours-only'], { encoding: 'utf8', env: { ...process.env, ...vars }, maxBuffer: 64 << 20 });
  if (r.status !== 0) return { error: (r.stderr || r.stdout).slice(-1500) };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

(async () => {
  const rt = E.runtime();
  if (v['ours-only']) {
    // A variant's child: our figures only, as one JSON line.
    const res = { eager: await ours() };
    if (v['cuda-graph']) res.graph = await ours(true);
    if (profileSteps > 0) res.profile = (await ours(false, true)).profile;
    console.log(JSON.stringify(res));
    return;
  }
  const rounds = Math.max(1, Number(v.rounds));
  const os_ = [], hs = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      os_.push(await ours());
      hs.push(python());
    } else {
      hs.push(python());
      os_.push(await ours());
    }
  }
  const pick = (xs) => xs.find((x) => x.ms_per_step === median(xs.map((y) => y.ms_per_step)));
  const o = pick(os_), h = pick(hs);
  console.log(`ELECTRA ${v.preset} pre-training step, batch ${B} x ${T}, ${v.device}${v.device === 'cpu' ? `, ${threads} threads` : ''}${v.bf16 ? ', bf16' : ''}, libtorch ${rt.libtorchVersion}, ${new Date().toISOString().slice(0, 10)}${rounds > 1 ? `, median of ${rounds} alternating rounds` : ''}`);
  if (rounds > 1) {
    console.log(`  rounds, python + HF: ${hs.map((x) => x.ms_per_step.toFixed(0)).join(', ')} ms/step`);
    console.log(`  rounds, electra-node: ${os_.map((x) => x.ms_per_step.toFixed(0)).join(', ')} ms/step`);
  }
  const best = [['defaults', o]]; // [configuration, our figures]: the eager defaults, replaced by the graph's when measured
  const mem = (x) => (x.peak_mem_gib !== undefined ? `, peak ${x.peak_mem_gib.toFixed(2)} GiB` : '');
  console.log(`  python + HF transformers: ${h.ms_per_step.toFixed(1)} ms/step, ${Math.round(h.tokens_per_s)} tokens/s${mem(h)} (torch ${h.torch})`);
  console.log(`  electra-node:             ${o.ms_per_step.toFixed(1)} ms/step, ${Math.round(o.tokens_per_s)} tokens/s${mem(o)}, loss ${o.loss.toFixed(3)} at step ${o.trainedSteps}`);
  console.log(`  ratio (ours / HF, speed): ${(h.ms_per_step / o.ms_per_step).toFixed(2)}x`);
  if (v['cuda-graph']) {
    const gph = await ours(true);
    best[0] = ['defaults', gph];
    console.log(`  electra-node, CUDA graph: ${gph.ms_per_step.toFixed(1)} ms/step, ${Math.round(gph.tokens_per_s)} tokens/s${mem(gph)}, loss ${gph.loss.toFixed(3)} at step ${gph.trainedSteps}`);
    console.log(`  ratio (ours with CUDA graph / HF, speed): ${(h.ms_per_step / gph.ms_per_step).toFixed(2)}x`);
  }
  for (const x of v.variant) {
    const r = variant(x);
    if (!r.error) best.push([x, r.graph ?? r.eager]);
    if (r.error) {
      console.log(`  variant ${x}: failed: ${r.error}`);
      continue;
    }
    for (const [kind, f] of [['eager', r.eager], ['CUDA graph', r.graph]]) {
      if (!f) continue;
      console.log(`  variant ${x}, ${kind}: ${f.ms_per_step.toFixed(1)} ms/step, ${Math.round(f.tokens_per_s)} tokens/s${mem(f)}, loss ${f.loss.toFixed(3)} at step ${f.trainedSteps}; ratio to HF: ${(h.ms_per_step / f.ms_per_step).toFixed(2)}x`);
    }
    if (r.profile) printProfile(`variant ${x} (eager)`, r.profile, 12);
  }
  if (best.length > 1) {
    // The fastest configuration measured against this run's HF figure (graph steps when measured).
    const [name, f] = best.reduce((a, b) => (b[1].ms_per_step < a[1].ms_per_step ? b : a));
    console.log(`  fastest: ${name}, ${f.ms_per_step.toFixed(1)} ms/step, ${(h.ms_per_step / f.ms_per_step).toFixed(2)}x HF`);
  }
  if (profileSteps > 0) {
    printProfile('python + HF transformers', h.profile);
    printProfile('electra-node (eager)', (await ours(false, true)).profile);
  }
})();

// The profile's largest entries, per step: ms, share of the total, calls, name.
function printProfile(who, pr, top = 30) {
  if (!pr) return console.log(`  profile, ${who}: none`);
  const what = pr.device === 'cuda' ? 'GPU kernels and copies, device time' : 'CPU operators, time including callees';
  console.log(`  profile, ${who}: ${what}, ${(pr.totalMs / pr.steps).toFixed(2)} ms per step in all (${pr.steps} steps)`);
  for (const e of pr.entries.slice(0, top)) {
    const name = e.name.length > 110 ? e.name.slice(0, 107) + '...' : e.name;
    console.log(`    ${(e.ms / pr.steps).toFixed(3).padStart(8)} ms ${((100 * e.ms) / pr.totalMs).toFixed(1).padStart(5)}% ${String(e.count / pr.steps).padStart(5)}x  ${name}`);
  }
}
