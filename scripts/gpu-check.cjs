#!/usr/bin/env node
'use strict';
/*
 * GPU tests (run by scripts/gpu-check.sh on a CUDA host, with the built dist/ and addon):
 * parity fixtures on CUDA (fp32 within 1e-4, bf16 inference within max 0.1 / mean 0.01),
 * pre-training runs whose loss falls, a checkpoint written on GPU and resumed on CPU, memory returned after dispose(), and ERR_OOM
 * with the process living on. Prints one line per check and "N passed, N failed" at the end.
 *
 * GPU_CHECK_DEVICE=cpu runs the same checks on the CPU as a dry run of this script (the ones that
 * need CUDA are skipped, and the graph check expects no replays): it catches mistakes in the
 * script itself before device time is spent on it. It proves nothing about CUDA.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const E = require('../dist/index.cjs');
const { native } = { native: () => require(process.env.ELECTRA_ADDON || '../build/Release/electra.node') };

const DEV = process.env.GPU_CHECK_DEVICE || 'cuda';
const DRY = DEV === 'cpu';
const DEV0 = DRY ? 'cpu' : 'cuda:0';
const prec = (p) => (DRY ? 'fp32' : p);  // the CPU trains in fp32 only
const STEPS = DRY ? 100 : 300;  // pre-training steps of the loss-falls checks
const results = [];
let skipped = 0;
// GPU_CHECK_FILTER: a regular expression; checks whose names do not match are left out.
const FILTER = process.env.GPU_CHECK_FILTER ? new RegExp(process.env.GPU_CHECK_FILTER) : null;
let filtered = 0;
async function check(name, fn, { cudaOnly = false } = {}) {
  if (FILTER && !FILTER.test(name)) {
    filtered++;
    return;
  }
  if (DRY && cudaOnly) {
    skipped++;
    console.log(`skip ${name} (CPU dry run)`);
    return;
  }
  const t0 = Date.now();
  try {
    const note = await fn();
    results.push(true);
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)${note ? ': ' + note : ''}`);
  } catch (e) {
    results.push(false);
    console.log(`FAIL ${name}: ${e && e.code ? e.code + ' ' : ''}${e && e.message ? e.message : e}`);
  }
}
function assert(c, m) {
  if (!c) throw new Error(m);
}
const FIX = path.join(__dirname, '..', 'test', 'fixtures', 'models');
const OUTS = { 'disc-proj': ['discriminator_logits', 'discriminator'], 'disc-noproj': ['discriminator_logits', 'discriminator'], gen: ['generator_logits', 'generator'], seqcls: ['classification_logits', 'classification'], tokcls: ['token_logits', 'tokens'], qa: ['start_logits', 'start'], base: null };

function synthBatch(B, T, V, seed) {
  let s = seed;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const ids = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let x = 5 + Math.floor(r() * (V - 10));
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = t === 0 ? 2 : t === T - 1 ? 3 : x;
      x = 5 + ((x - 5 + 1 + (r() < 0.1 ? Math.floor(r() * 3) : 0)) % (V - 10));
    }
  }
  return { inputIds: ids, tokenTypeIds: new Int32Array(B * T), attentionMask: new Int32Array(B * T).fill(1), shape: [B, T] };
}
// The same with padding: row b keeps T - 3b tokens (its last one [SEP]), the rest [PAD] (id 0), masked out.
function paddedBatch(B, T, V, seed) {
  const x = synthBatch(B, T, V, seed);
  for (let b = 1; b < B; b++) {
    const keep = Math.max(2, T - 3 * b);
    x.inputIds[b * T + keep - 1] = 3;
    for (let t = keep; t < T; t++) x.inputIds[b * T + t] = 0, x.attentionMask[b * T + t] = 0;
  }
  return x;
}

(async () => {
  const rt = E.runtime();
  console.log(`runtime: libtorch ${rt.libtorchVersion}, build ${rt.buildFlags}, CUDA ${rt.cudaAvailable} ${rt.deviceNames.join(', ')}`);
  await check('CUDA is available in the addon', async () => {
    assert(rt.cudaBuild && rt.cudaAvailable && rt.deviceCount > 0, JSON.stringify(rt));
    return rt.deviceNames[0];
  }, { cudaOnly: true });
  await check('matmul on cuda', async () => {
    const r = await E.matmul(new Float32Array([1, 2, 3, 4]), [2, 2], new Float32Array([1, 0, 0, 1]), [2, 2], DEV);
    assert(Array.from(r.data).join() === '1,2,3,4', Array.from(r.data).join());
  });
  // The custom kernels (native/src/model/kernels.h): compiled by NVRTC for this card on first use,
  // whatever the switch says, and compared with the exact sums of the same inputs and with ATen's
  // results. In the CPU dry run it checks their CPU emulation.
  await check('custom kernels: column sums (fp32 and bf16) and LayerNorm weight gradients equal the exact sums, Gumbel-max sampling ATen\'s maximum, add + LayerNorm', async () => {
    const maxAbs = (a) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    const maxDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
    let worst = 0, status = '', compiled = '';
    if (DRY && E.runtime().cudaBuild) {
      // No GPU to run them on, but NVRTC compiles without one: the CUDA text of the kernels must
      // compile for the H100/H200 (sm_90).
      const c = native()._test.compileCustomKernels('sm_90');
      assert(c.error === '' && c.bytes > 0, `NVRTC: ${c.error}`);
      compiled = `, compiled by NVRTC for sm_90 (${c.bytes} bytes)`;
    }
    for (const [op, dtype] of [['colsum', 'float32'], ['colsum', 'bfloat16'], ['layernorm', 'float32']])
      for (const [rows, cols] of [[16384, 768], [16384, 3072], [16384, 64], [1031, 96]]) {
        const r = native()._test.customKernels(op, dtype, rows, cols, DEV0, rows + cols);
        status = r.status;
        assert(DRY || r.status === 'ok', `the kernels are not in use on this card: ${r.status}`);
        const scale = Math.max(1, maxAbs(r.ref));
        const d = maxDiff(r.ours, r.ref) / scale;
        assert(d < 2e-6 + 1e-6 / scale, `${op} ${dtype} ${rows} x ${cols}: differs from the exact sums by ${d.toExponential(2)} of the largest`);
        // ATen's own: fp32, the same sums in another order; bf16, rounded to bf16 (8 bits).
        const da = maxDiff(r.ours, r.aten) / scale;
        assert(da < (dtype === 'float32' ? 1e-5 : 8e-3), `${op} ${dtype} ${rows} x ${cols}: differs from ATen's by ${da.toExponential(2)} of the largest`);
        worst = Math.max(worst, d);
      }
    // Gumbel-max sampling at the generator's shapes (Small: 128 x 20 masked positions, a BERT
    // vocabulary): the value at our index is the row's maximum of the noise ATen's path builds.
    let sameIdx = 0, rowsAll = 0;
    for (const seed of [2, 3]) {
      const rows = 2560, cols = 30522;
      const r = native()._test.customKernels('gumbel', 'float32', rows, cols, DEV0, seed);
      const gap = maxDiff(r.ours, r.aten);
      assert(gap <= 1e-5 * Math.max(1, maxAbs(r.aten)), `Gumbel-max (temperature ${seed % 2 ? 0.7 : 1}): the sampled value is ${gap} below the row's maximum`);
      for (let i = 0; i < rows; i++) if (r.ref[i] === r.ref[rows + i]) sameIdx++;
      rowsAll += rows;
    }
    // Residual add + LayerNorm at Base's and Small's shapes, in both dtype pairs: x = a + b
    // exactly as ATen stores it, y (relative to max(1, |y|)) within 2e-6.
    let worstY = 0;
    for (const dtype of ['bf16f32', 'float32'])
      for (const [rows, cols] of [[16384, 768], [16384, 256], [16384, 64]]) {
        const r = native()._test.customKernels('addln', dtype, rows, cols, DEV0, rows + cols);
        const n = rows * cols;
        let dy = 0, dx = 0;
        for (let i = 0; i < n; i++) dy = Math.max(dy, Math.abs(r.ours[i] - r.ref[i]) / Math.max(1, Math.abs(r.ref[i])));
        for (let i = n + 2 * rows; i < 2 * n + 2 * rows; i++) dx = Math.max(dx, Math.abs(r.ours[i] - r.ref[i]));
        assert(dx === 0, `add + LayerNorm ${dtype} ${rows} x ${cols}: x differs from ATen's a + b by ${dx}`);
        assert(dy < 2e-6, `add + LayerNorm ${dtype} ${rows} x ${cols}: y off by ${dy.toExponential(2)}`);
        worstY = Math.max(worstY, dy);
      }
    return `${DRY ? 'CPU emulation' : `status ${status}`}, largest difference from the exact sums ${worst.toExponential(1)} of the largest sum; Gumbel-max: ${sameIdx}/${rowsAll} rows sample ATen's index; add + LayerNorm: fp32 outputs within ${worstY.toExponential(1)}${compiled}`;
  });
  // A fixture model on the device at `precision`: max and mean absolute differences from
  // transformers' fp32 outputs (last hidden state and the head's output; the worst of the two).
  const fixtureDiffs = async (name, out, precision) => {
    const exp = E.readSafetensors(path.join(FIX, name, 'expected.safetensors')).tensors;
    const m = await E.Electra.load(path.join(FIX, name), { device: DEV, precision });
    assert(m.device.startsWith(DEV), m.device);
    const ids = exp.get('input_ids');
    const r = await m.forward({ inputIds: Int32Array.from(ids.data), attentionMask: Int32Array.from(exp.get('attention_mask').data), tokenTypeIds: Int32Array.from(exp.get('token_type_ids').data), shape: ids.shape }, { hidden: true });
    m.dispose();
    let max = 0, mean = 0;
    const cmp = (a, b) => {
      let sum = 0;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i] - b[i]);
        max = Math.max(max, d);
        sum += d;
      }
      mean = Math.max(mean, sum / a.length);
    };
    cmp(r.hidden.data, exp.get('last_hidden_state').data);
    if (out) cmp(r[out[1]].data, exp.get(out[0]).data);
    return { max, mean };
  };
  for (const [name, out] of Object.entries(OUTS)) {
    await check(`parity on CUDA, fp32 within 1e-4: ${name}`, async () => {
      const { max } = await fixtureDiffs(name, out, 'fp32');
      assert(max < 1e-4, `max abs diff ${max}`);
      return `max abs diff ${max.toExponential(2)}`;
    });
  }
  // bf16 inference (autocast) within the tolerance the CPU suite states (test/native/parity.test.ts).
  for (const [name, out] of Object.entries(OUTS)) {
    await check(`parity on CUDA, bf16 within max 0.1 / mean 0.01: ${name}`, async () => {
      const { max, mean } = await fixtureDiffs(name, out, 'bf16');
      assert(max <= 0.1 && mean <= 0.01, `max abs diff ${max}, mean ${mean}`);
      assert(max > 1e-4, `max abs diff ${max}: not bf16`);
      return `max abs diff ${max.toExponential(2)}, mean ${mean.toExponential(2)}`;
    });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-gpu-'));
  const V = 300;
  const disc = { vocab_size: V, embedding_size: 64, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 256, max_position_embeddings: 64 };
  const special = { pad: 0, cls: 2, sep: 3, mask: 4 };
  let ck = null;
  for (const precision of ['fp32', 'bf16', 'fp16']) {
    await check(`pre-training on CUDA (${precision}): the loss falls${precision === 'fp16' ? '' : ', graph on by default'}`, async () => {
      const p = await E.Pretrainer.create({ discriminator: disc, generatorFraction: 0.5, special, lr: 5e-4, warmupSteps: 20, totalSteps: STEPS, device: DEV, precision: prec(precision), seed: 1 });
      const ev = synthBatch(16, 64, V, 999);
      const first = await p.evaluate(ev);
      let replayed = 0;
      for (let i = 0; i < STEPS; i++) if ((await p.trainStep([synthBatch(16, 64, V, i)])).graph) replayed++;
      const last = await p.evaluate(ev);
      if (precision === 'bf16') {
        ck = path.join(dir, 'ck');
        await p.saveCheckpoint(ck, {});
      }
      p.dispose();
      assert(last.loss < first.loss * 0.9, `loss ${first.loss} -> ${last.loss}`);
      // The CUDA graph is on by default on CUDA (cudaGraph unset): two eager steps, then the
      // capture and replays; fp16 (loss scaling) trains eagerly.
      const want = DRY || precision === 'fp16' ? 0 : STEPS - 2;
      assert(replayed === want, `${replayed} of ${STEPS} steps replayed from a graph by default (expected ${want})`);
      return `loss ${first.loss.toFixed(3)} -> ${last.loss.toFixed(3)}, AUC ${first.replacedAuc?.toFixed(3)} -> ${last.replacedAuc?.toFixed(3)}, ${replayed}/${STEPS} steps replayed (graph by default)`;
    });
  }
  await check('resume on CUDA (fp32) continues the same random stream: losses after resuming equal an uninterrupted run', async () => {
    const p = await E.Pretrainer.create({ discriminator: disc, generatorFraction: 0.5, special, lr: 5e-4, warmupSteps: 2, totalSteps: 50, device: DEV, precision: 'fp32', seed: 21 });
    for (let i = 0; i < 3; i++) await p.trainStep([synthBatch(8, 64, V, 300 + i)]);
    const ckr = path.join(dir, 'ck-resume');
    await p.saveCheckpoint(ckr, {});
    const cont = [];
    for (let i = 3; i < 6; i++) cont.push((await p.trainStep([synthBatch(8, 64, V, 300 + i)])).loss);
    p.dispose();
    const { trainer } = await E.Pretrainer.fromCheckpoint(ckr, { device: DEV });
    const res = [];
    for (let i = 3; i < 6; i++) res.push((await trainer.trainStep([synthBatch(8, 64, V, 300 + i)])).loss);
    trainer.dispose();
    const d = Math.max(...cont.map((x, i) => Math.abs(x - res[i])));
    assert(d < 1e-4, `uninterrupted ${cont} vs resumed ${res}`);
    return `max difference ${d.toExponential(1)}`;
  });
  await check('a checkpoint written on the GPU resumes on the CPU', async () => {
    assert(ck, 'no checkpoint');
    const { trainer, state } = await E.Pretrainer.fromCheckpoint(ck, { device: 'cpu', precision: 'fp32' });
    assert(trainer.step === state.step && state.step === STEPS, `step ${trainer.step}`);
    const m = await trainer.trainStep([synthBatch(16, 64, V, 5)]);
    trainer.dispose();
    assert(Number.isFinite(m.loss) && m.step === STEPS + 1, JSON.stringify(m));
    return `step ${STEPS} -> ${STEPS + 1} on cpu, loss ${m.loss.toFixed(3)}`;
  });
  await check('fine-tuning on CUDA (bf16, fused AdamW): a sequence classifier learns a keyword task', async () => {
    const m = await E.Electra.load(path.join(FIX, 'seqcls'), { device: DEV });
    const L = m.config.num_labels ?? 2;
    m.setupTraining({ lr: 3e-3, totalSteps: 60, warmupSteps: 5, precision: 'bf16' });
    const B = 16, T = 12, V = m.config.vocab_size;
    const make = (seed) => {
      let s = seed;
      const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
      const ids = new Int32Array(B * T), labels = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        labels[b] = Math.floor(r() * L);
        for (let t = 0; t < T; t++) ids[b * T + t] = t === 0 ? 2 : t === T - 1 ? 3 : 10 + Math.floor(r() * (V - 20));
        ids[b * T + 3] = 5 + labels[b];
      }
      return { batch: { inputIds: ids, shape: [B, T] }, labels };
    };
    const first = await m.trainStep(make(1).batch, { labels: make(1).labels });
    let last = first;
    for (let i = 0; i < 59; i++) {
      const x = make(2 + (i % 8));
      last = await m.trainStep(x.batch, { labels: x.labels });
    }
    m.dispose();
    assert(last.loss < first.loss * 0.5, `loss ${first.loss} -> ${last.loss}`);
    return `loss ${first.loss.toFixed(3)} -> ${last.loss.toFixed(3)}`;
  });

  for (const precision of ['fp32', 'bf16']) {
    // fp32 with bias correction: the graph's AdamW step count must stay right across the eager
    // steps between replays (bf16 takes the default, the original's update without it).
    const biasCorrection = precision === 'fp32';
    await check(`CUDA graph (${precision}${biasCorrection ? ', bias correction' : ''}): replayed steps train as eager ones (same seed, same batches)`, async () => {
      // One trainer after the other: both draw from the process's CUDA generator, reseeded by create().
      // Batches: U = 8 x 64 without padding, P = 8 x 64 padded, u = 4 x 64 without padding.
      const schedule = 'UUUUPUPPPUuuu';
      const run = async (cudaGraph) => {
        const p = await E.Pretrainer.create({ discriminator: disc, generatorFraction: 0.5, special, lr: 5e-4, warmupSteps: 3, totalSteps: 100, device: DEV, precision: prec(precision), seed: 11, cudaGraph, biasCorrection });
        const w0 = await p.state('discriminator');
        const losses = [], lrs = [];
        let replayed = 0;
        for (let i = 0; i < schedule.length; i++) {
          if (i === 4) await p.evaluate(synthBatch(8, 64, V, 999));  // RNG state saved and restored
          const k = schedule[i];
          const m = await p.trainStep([k === 'P' ? paddedBatch(8, 64, V, 70 + i) : synthBatch(k === 'u' ? 4 : 8, 64, V, 70 + i)]);
          losses.push(m.loss);
          lrs.push(m.lr);
          if (m.graph) replayed++;
        }
        const ev = await p.evaluate(synthBatch(8, 64, V, 998));
        const w = await p.state('discriminator');
        p.dispose();
        return { losses, lrs, replayed, ev, w0, w };
      };
      // Mean |eager - graph| over the discriminator's weights, relative to the mean change that
      // training made: a step count one behind in the graph's AdamW (4-5% more update at one step)
      // shows up here as about 3e-3 by our estimate, far beyond summation-order noise.
      const weightDiff = (A, Bg) => {
        let diff = 0, moved = 0;
        A.w.forEach((t, j) => {
          const b = Bg.w[j].data, a0 = A.w0[j].data;
          for (let k = 0; k < t.data.length; k++) diff += Math.abs(t.data[k] - b[k]), moved += Math.abs(t.data[k] - a0[k]);
        });
        return diff / Math.max(moved, 1e-30);
      };
      const A = await run(false), Bg = await run(true);
      assert(A.replayed === 0, `cudaGraph: false replayed ${A.replayed} steps`);
      const la = A.losses, lb = Bg.losses, replayed = Bg.replayed, ea = A.ev, eb = Bg.ev;
      assert(JSON.stringify(A.lrs) === JSON.stringify(Bg.lrs), `lr schedules differ: ${A.lrs} vs ${Bg.lrs}`);
      const tol = precision === 'fp32' ? 1e-3 : 3e-2;
      const d = Math.max(...la.map((x, i) => Math.abs(x - lb[i]) / Math.max(1, Math.abs(x))));
      // Per shape two eager steps, then capture (without the mask) and replay: i = 2, 3; the padded
      // batch at 4 trains eagerly and 5 replays; the padded run 6, 7 trains eagerly and 8 is
      // captured anew with the mask, which 9 (no padding) replays; the new shape at 10 takes two
      // eager steps and 12 is captured and replayed. 6 replays; the evaluation changes nothing.
      assert(DRY ? replayed === 0 : replayed === 6, `${replayed} of ${schedule.length} steps were replayed from a graph (expected ${DRY ? 0 : 6})`);
      assert(d < tol, `relative loss difference ${d}: eager ${la.map((x) => x.toFixed(4))} graph ${lb.map((x) => x.toFixed(4))}`);
      assert(Math.abs(ea.loss - eb.loss) / Math.max(1, Math.abs(ea.loss)) < tol, `after training: eval loss ${ea.loss} vs ${eb.loss}`);
      const wd = weightDiff(A, Bg);
      assert(wd < (precision === 'fp32' ? 1e-3 : 0.1), `weights after training differ by ${wd.toExponential(2)} of the change training made`);
      return `${replayed}/${schedule.length} replayed, max relative loss difference ${d.toExponential(1)}, eval loss ${ea.loss.toFixed(4)} vs ${eb.loss.toFixed(4)}, weight difference ${wd.toExponential(1)} of the update`;
    });
  }
  await check('NCCL process group (world 1 on cuda:0): a data-parallel step equals a plain one', async () => {
    const backends = native().distributedBackends || [];
    assert(backends.includes('nccl'), `this CUDA build has no NCCL backend (backends: ${backends.join(', ') || 'none'}; see cmake.log)`);
    const mk = () => E.Pretrainer.create({ discriminator: disc, generatorFraction: 0.5, special, lr: 5e-4, warmupSteps: 0, totalSteps: 100, device: DEV0, precision: 'fp32', seed: 3, cudaGraph: false });  // both eager: the graph has its own check
    // One trainer after the other: create() seeds the process's generators, which both share, so
    // interleaved steps would draw different masks.
    const la = [], lb = [];
    const a = await mk();
    for (let i = 0; i < 3; i++) la.push((await a.trainStep([synthBatch(8, 64, V, 50 + i)])).loss);
    a.dispose();
    const g = await E.ProcessGroup.create({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 29611, timeoutMs: 60000 }, DEV0);
    assert(g.backend === 'nccl', `backend ${g.backend}`);
    const b = await mk();
    await b.attach(g);
    for (let i = 0; i < 3; i++) lb.push((await b.trainStep([synthBatch(8, 64, V, 50 + i)])).loss);
    assert((await g.allreduceMax(2.5)) === 2.5, 'allreduceMax');
    await g.barrier();
    b.dispose();
    g.dispose();
    const d = Math.max(...la.map((x, i) => Math.abs(x - lb[i])));
    assert(d < 1e-4, `losses ${la} vs ${lb}`);
    return `losses ${lb.map((x) => x.toFixed(4)).join(', ')} (max difference ${d.toExponential(1)})`;
  }, { cudaOnly: true });
  if (rt.deviceCount >= 2 || DRY) {
    await check(`electra launch --nproc 2 on ${rt.deviceCount} GPUs (NCCL): pre-training runs and checkpoints`, async () => {
      const { spawnSync } = require('node:child_process');
      const out = path.join(dir, 'ddp'), corpus = path.join(dir, 'corpus.txt');
      const words = 'the a of to and in nation people year work law state budget tax health school energy peace war freedom congress'.split(' ');
      let s = 7;
      const lines = [];
      for (let i = 0; i < 3000; i++) lines.push(Array.from({ length: 40 }, () => words[(s = (s * 1103515245 + 12345) % 2147483648) % words.length]).join(' '));
      fs.writeFileSync(corpus, lines.join('\n') + '\n');
      // A data-parallel run reads prepared data (every rank the same shards).
      const tokenizer = path.join(dir, 'ddp-tokenizer'), data = path.join(dir, 'ddp-data');
      const voc = await E.trainVocabulary(corpus, { size: 200 });
      fs.mkdirSync(tokenizer);
      voc.tokenizer.save(tokenizer);
      await E.prepare({ corpus, tokenizer: voc.tokenizer, out: data, maxLength: 64, workers: 0, progress: false });
      const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'electra.cjs'), 'launch', '--nproc', '2', '--', 'pretrain', '--data', data, '--tokenizer', tokenizer, '--preset', DRY ? 'tiny' : 'small', '--steps', '30', '--batch', '16', '--device', DEV, '--precision', prec('bf16'), '--out', out, '--no-progress'], { encoding: 'utf8', timeout: 300000 });
      assert(r.status === 0, `exit ${r.status}: ${(r.stderr || '').slice(-1500)}`);
      assert(fs.readdirSync(out).some((n) => n.startsWith('checkpoint-')), 'no checkpoint');
      return (r.stderr.match(/data-parallel[^\n]*/) || [''])[0];
    });
  }
  await check('memory is returned after dispose(), a captured CUDA graph included', async () => {
    const n = native();
    const train = async () => {
      const p = await E.Pretrainer.create({ discriminator: { ...disc, hidden_size: 512, intermediate_size: 2048, num_attention_heads: 8 }, special, device: 'cuda' });
      let m;
      for (let i = 0; i < 4; i++) m = await p.trainStep([synthBatch(32, 64, V, 1 + i)]);  // two eager steps, the capture, a replay
      const during = n.cudaMemory(0).allocated;
      p.dispose();
      n.cudaRelease();
      assert(m.graph, 'the steps were not replayed from a graph (the default on CUDA)');
      return during;
    };
    // The first capture of the process leaves cuBLAS's workspace for the capture stream (kept for
    // the process, as PyTorch keeps it); every trainer after it must give back all it took.
    n.cudaRelease();
    const first = n.cudaMemory(0).allocated;
    await train();
    const before = n.cudaMemory(0).allocated, reservedBefore = n.cudaMemory(0).reserved;
    const during = await train();
    const after = n.cudaMemory(0).allocated, reservedAfter = n.cudaMemory(0).reserved;
    assert(before - first < 128e6, `the first captured trainer left ${before - first} bytes allocated`);
    assert(during > before + 10e6 && after <= before + 1e6, `before ${before} during ${during} after ${after}`);
    assert(reservedAfter <= reservedBefore + 32e6, `reserved ${reservedBefore} -> ${reservedAfter}: the graph's pool was not released`);
    return `allocated ${(before / 1e6).toFixed(1)} MB -> ${(during / 1e6).toFixed(1)} MB -> ${(after / 1e6).toFixed(1)} MB, reserved ${(reservedBefore / 1e6).toFixed(1)} -> ${(reservedAfter / 1e6).toFixed(1)} MB; kept for the process after the first capture: ${((before - first) / 2 ** 20).toFixed(1)} MiB`;
  }, { cudaOnly: true });
  await check('out of memory is ERR_OOM; the process lives on and trains at a smaller batch', async () => {
    const big = { vocab_size: 30522, embedding_size: 1024, hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 4096, max_position_embeddings: 512 };
    const p = await E.Pretrainer.create({ discriminator: big, generatorFraction: 0.25, special, device: DEV, precision: prec('bf16') });
    const huge = { inputIds: new Int32Array(2048 * 512).fill(7), tokenTypeIds: new Int32Array(2048 * 512), attentionMask: new Int32Array(2048 * 512).fill(1), shape: [2048, 512] };
    let code = null;
    try {
      await p.trainStep([huge]);
    } catch (e) {
      code = e.code;
    }
    native().cudaRelease();
    assert(code === 'ERR_OOM', `got ${code}`);
    const m = await p.trainStep([synthBatch(4, 64, V, 3)]);
    p.dispose();
    assert(Number.isFinite(m.loss), 'no loss after OOM');
    return `ERR_OOM, then a 4 x 64 step: loss ${m.loss.toFixed(2)}`;
  }, { cudaOnly: true });
  fs.rmSync(dir, { recursive: true, force: true });
  const passed = results.filter(Boolean).length;
  console.log(`${passed} passed, ${results.length - passed} failed${skipped ? `, ${skipped} skipped (CPU dry run)` : ''}${filtered ? `, ${filtered} not matching GPU_CHECK_FILTER` : ''}`);
  if (results.length === 0) process.exitCode = 1; // a filter that matches nothing checks nothing
  if (results.length > 0) process.exitCode = passed === results.length ? 0 : 1;
})();
