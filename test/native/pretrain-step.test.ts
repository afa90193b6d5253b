/*
 * The pre-training step against ../shared/ELECTRA.md, point by point, on a tiny pair (CPU).
 * Each intermediate comes from `inspect()` (one forward pass without update).
 */
import { generatorConfig, parseConfig } from '../../src/config';
import { Pretrainer } from '../../src/train/pretrainer';
import { native, type NativeBatch, type NativeInspection, type NativeTrainer } from '../../src/native';
import { runtime } from '../../src/runtime';
import { prerequisite, testIf } from '../prerequisites';

const SP = { pad: 0, cls: 1, sep: 2, mask: 3 };
const V = 60;
const disc = parseConfig({ vocab_size: V, embedding_size: 16, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 });

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/** B rows of length T: [CLS] tokens [SEP] tokens [SEP] then padding; some [MASK] tokens inside. */
function makeBatch(B: number, T: number, seed = 1, lengths?: number[]): NativeBatch {
  const r = rng(seed);
  const ids = new Int32Array(B * T), types = new Int32Array(B * T), mask = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const len = lengths?.[b] ?? T - (b % 3) * 5;
    const mid = Math.floor(len / 2);
    for (let t = 0; t < len; t++) {
      let id = 5 + Math.floor(r() * (V - 5));
      if (t === 0) id = SP.cls;
      else if (t === mid || t === len - 1) id = SP.sep;
      else if (t === 3) id = SP.mask; // an existing [MASK] must never be selected
      ids[b * T + t] = id;
      types[b * T + t] = t > mid ? 1 : 0;
      mask[b * T + t] = 1;
    }
  }
  return { inputIds: ids, tokenTypeIds: types, attentionMask: mask, shape: [B, T] };
}

async function newPair(opts: Record<string, unknown> = {}): Promise<{ p: Pretrainer; n: NativeTrainer }> {
  const p = await Pretrainer.create({ discriminator: disc, generatorFraction: 0.5, special: SP, lr: 1e-3, warmupSteps: 4, totalSteps: 40, seed: 7, ...opts });
  // The native handle, for the test-only inspect()/optimizerInfo().
  const n = (p as unknown as { n: NativeTrainer }).n;
  return { p, n };
}

const i64 = (t: { data: unknown }) => Array.from(t.data as BigInt64Array, Number);

describe('ELECTRA pre-training step (ELECTRA.md, The pre-training step)', () => {
  let pair: { p: Pretrainer; n: NativeTrainer };
  beforeAll(async () => {
    pair = await newPair();
  });
  afterAll(() => pair.p.dispose());

  test('1. a fixed budget int((p + 0.005) * L); k = round(p * n) real tokens, never [CLS]/[SEP]/[PAD]/[MASK]', async () => {
    const B = 6, T = 40;
    const batch = makeBatch(B, T, 3);
    const x: NativeInspection = await pair.n.inspect(batch);
    const N = Math.floor((0.15 + 0.005) * T);
    expect(x.positions.shape).toEqual([B, N]);
    const pos = i64(x.positions), w = Array.from(x.weights.data as Float32Array);
    for (let b = 0; b < B; b++) {
      let maskable = 0;
      for (let t = 0; t < T; t++) {
        const id = batch.inputIds[b * T + t]!;
        if (batch.attentionMask[b * T + t] && ![SP.cls, SP.sep, SP.pad, SP.mask].includes(id)) maskable++;
      }
      const k = Math.min(N, Math.max(1, Math.round(0.15 * maskable)));
      const chosen = new Set<number>();
      for (let j = 0; j < N; j++) {
        if (w[b * N + j] === 0) continue;
        const t = pos[b * N + j]!;
        chosen.add(t);
        const id = batch.inputIds[b * T + t]!;
        expect(batch.attentionMask[b * T + t]).toBe(1);
        expect([SP.cls, SP.sep, SP.pad, SP.mask]).not.toContain(id);
      }
      expect(chosen.size).toBe(k);
    }
  });

  test('2. 85% of selected positions become [MASK], 15% keep their token (no random tokens); masking is redone each time', async () => {
    const B = 64, T = 64;
    const batch = makeBatch(B, T, 5);
    let masked = 0, kept = 0;
    let prevPositions: number[] | null = null;
    let differs = false;
    for (let rep = 0; rep < 4; rep++) {
      const x = await pair.n.inspect(batch);
      const pos = i64(x.positions), w = Array.from(x.weights.data as Float32Array), orig = i64(x.original), inp = i64(x.maskedInput);
      const N = x.positions.shape[1]!;
      for (let b = 0; b < B; b++) for (let j = 0; j < N; j++) {
        if (!w[b * N + j]) continue;
        const t = pos[b * N + j]!;
        const v = inp[b * T + t]!;
        if (v === SP.mask) masked++;
        else {
          expect(v).toBe(orig[b * N + j]);
          kept++;
        }
      }
      // Unselected positions are untouched.
      const sel = new Set<number>();
      for (let b = 0; b < B; b++) for (let j = 0; j < N; j++) if (w[b * N + j]) sel.add(b * T + pos[b * N + j]!);
      for (let i = 0; i < B * T; i++) if (!sel.has(i)) expect(inp[i]).toBe(batch.inputIds[i]);
      if (prevPositions && pos.some((p, i) => p !== prevPositions![i])) differs = true;
      prevPositions = pos;
    }
    const frac = masked / (masked + kept);
    expect(frac).toBeGreaterThan(0.8);
    expect(frac).toBeLessThan(0.9);
    expect(differs).toBe(true);
  });

  test('3-6. MLM loss over selected positions; discriminator input = original + samples; labels; RTD over non-padding; total = MLM + 50 RTD', async () => {
    const B = 5, T = 30;
    const batch = makeBatch(B, T, 9);
    const x = await pair.n.inspect(batch);
    const N = x.positions.shape[1]!;
    const pos = i64(x.positions), w = Array.from(x.weights.data as Float32Array), orig = i64(x.original);
    const sampled = i64(x.sampled!), fake = i64(x.fakeInput!), labels = Array.from(x.labels!.data as Uint8Array);
    const gl = x.generatorLogits.data as Float32Array;
    expect(x.generatorLogits.shape).toEqual([B, N, V]);
    // MLM: weighted mean cross-entropy at the selected positions only.
    let nll = 0, ws = 0;
    for (let i = 0; i < B * N; i++) {
      if (!w[i]) continue;
      const row = gl.subarray(i * V, (i + 1) * V);
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
      nll += lse - row[orig[i]!]!;
      ws += 1;
    }
    expect(x.mlmLoss).toBeCloseTo(nll / (ws + 1e-6), 4);
    // Discriminator input: the ORIGINAL sequence with samples scattered in (no [MASK] from masking).
    const expectFake = Array.from(batch.inputIds);
    for (let b = 0; b < B; b++) for (let j = 0; j < N; j++) if (w[b * N + j]) expectFake[b * T + pos[b * N + j]!] = sampled[b * N + j]!;
    expect(fake).toEqual(expectFake);
    // Labels: 1 exactly where the token differs from the original (a correct sample is "original").
    let sameSample = 0;
    for (let i = 0; i < B * T; i++) expect(labels[i]).toBe(fake[i] !== batch.inputIds[i] && batch.attentionMask[i] ? 1 : 0);
    for (let i = 0; i < B * N; i++) if (w[i] && sampled[i] === orig[i]) sameSample++;
    // RTD: mean BCE over all non-padding positions, [CLS]/[SEP] included.
    const dl = x.discriminatorLogits!.data as Float32Array;
    let bce = 0, real = 0;
    for (let i = 0; i < B * T; i++) {
      if (!batch.attentionMask[i]) continue;
      const z = dl[i]!, y = labels[i]!;
      bce += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
      real++;
    }
    expect(x.rtdLoss).toBeCloseTo(bce / (real + 1e-6), 5);
    expect(x.loss).toBeCloseTo(x.mlmLoss + 50 * x.rtdLoss, 4);
    expect(sameSample).toBeGreaterThanOrEqual(0);
  });

  test('4. Gumbel-max sampling: draws follow softmax(logits / T); at a tiny temperature it is the argmax', async () => {
    const batch = makeBatch(1, 12, 4, [12]);
    let logpSample = 0, negEntropy = 0;
    const draws = 200;
    for (let i = 0; i < draws; i++) {
      const x = await pair.n.inspect(batch);
      const s = i64(x.sampled!)[0]!;
      const row = (x.generatorLogits.data as Float32Array).subarray(0, V);
      const mx = Math.max(...row);
      const z = row.reduce((acc, v) => acc + Math.exp(v - mx), 0);
      const logp = Array.from(row, (v) => v - mx - Math.log(z));
      logpSample += logp[s]!;
      negEntropy += logp.reduce((acc, l) => acc + Math.exp(l) * l, 0);
    }
    // E[log p(sample)] = -H(p) when samples come from p.
    expect(Math.abs(logpSample - negEntropy) / draws).toBeLessThan(0.05);
    const cold = await newPair({ temperature: 1e-4 });
    for (let i = 0; i < 5; i++) {
      const x = await cold.n.inspect(makeBatch(3, 20, 30 + i));
      const N = x.positions.shape[1]!;
      const gl = x.generatorLogits.data as Float32Array, sampled = i64(x.sampled!), w = Array.from(x.weights.data as Float32Array);
      for (let r = 0; r < 3 * N; r++) {
        if (!w[r]) continue;
        const row = Array.from(gl.subarray(r * V, (r + 1) * V));
        expect(sampled[r]).toBe(row.indexOf(Math.max(...row)));
      }
    }
    cold.p.dispose();
  });

  test('sharing: generator and discriminator hold the same embedding block after training; the generator output is tied', async () => {
    const { p } = await newPair();
    for (let i = 0; i < 3; i++) await p.trainStep([makeBatch(4, 24, 20 + i)]);
    const d = new Map((await p.state('discriminator')).map((t) => [t.name, t]));
    const g = new Map((await p.state('generator')).map((t) => [t.name, t]));
    for (const k of ['word_embeddings.weight', 'position_embeddings.weight', 'token_type_embeddings.weight', 'LayerNorm.weight', 'LayerNorm.bias']) {
      const a = d.get(`electra.embeddings.${k}`)!.data as Float32Array;
      const b = g.get(`electra.embeddings.${k}`)!.data as Float32Array;
      expect(Array.from(b)).toEqual(Array.from(a));
    }
    // Each keeps its own projection (embedding 16 -> hidden 32 / 16).
    expect(d.get('electra.embeddings_project.weight')!.shape).toEqual([32, 16]);
    expect(g.has('electra.embeddings_project.weight')).toBe(false); // generator hidden 16 == embedding 16
    expect(g.has('generator_lm_head.weight')).toBe(false);
    expect(g.get('generator_lm_head.bias')!.shape).toEqual([V]);
    p.dispose();
  });

  test('generator shape: hidden scaled, heads = hidden/64 (>= 1), FFN 4x, same layers', () => {
    const small = parseConfig({ embedding_size: 128, hidden_size: 256, num_hidden_layers: 12, num_attention_heads: 4, intermediate_size: 1024 });
    const g = generatorConfig(small, 0.25);
    expect([g.hidden_size, g.num_attention_heads, g.intermediate_size, g.num_hidden_layers, g.embedding_size]).toEqual([64, 1, 256, 12, 128]);
    const base = parseConfig({ embedding_size: 768, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072 });
    const gb = generatorConfig(base, 1 / 3);
    expect([gb.hidden_size, gb.num_attention_heads, gb.intermediate_size]).toEqual([256, 4, 1024]);
  });

  test('optimizer: no weight decay on LayerNorm weights and biases; lr warms up then decays linearly to 0', async () => {
    const info = pair.n.optimizerInfo();
    for (const { name, decay } of info) {
      expect(decay).toBe(!(name.includes('LayerNorm') || name.endsWith('.bias')));
    }
    // Shared embeddings appear once.
    expect(info.filter((x) => x.name.endsWith('word_embeddings.weight'))).toHaveLength(1);
    const { p } = await newPair({ lr: 1e-3, warmupSteps: 4, totalSteps: 40 });
    const lrs: number[] = [];
    for (let i = 0; i < 6; i++) lrs.push((await p.trainStep([makeBatch(2, 16, i)])).lr);
    const expected = [0, 1, 2, 3, 4, 5].map((s) => 1e-3 * Math.min(1, s / 4) * (1 - s / 40));
    lrs.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
    p.dispose();
  });

  test('AdamW without bias correction: a parameter with no gradient only decays (-lr * wd * p)', async () => {
    const { p } = await newPair({ lr: 1e-2, warmupSteps: 0, totalSteps: 1000000, weightDecay: 0.01 });
    const before = (await p.state('discriminator')).find((t) => t.name === 'electra.embeddings.position_embeddings.weight')!;
    const m = await p.trainStep([makeBatch(2, 16, 1)]); // positions >= 16 get no gradient
    const after = (await p.state('discriminator')).find((t) => t.name === 'electra.embeddings.position_embeddings.weight')!;
    const H = before.shape[1]!;
    const b = before.data as Float32Array, a = after.data as Float32Array;
    for (let i = 20 * H; i < 21 * H; i++) expect(Math.abs(a[i]! - (b[i]! - m.lr * 0.01 * b[i]!))).toBeLessThan(1e-8 + 1e-6 * Math.abs(b[i]!));
    // A position that was used moved by about lr * (1 - b1) / sqrt(1 - b2) = 3.16 lr per coordinate, before clipping.
    expect(Math.abs(a[5]! - b[5]!)).toBeGreaterThan(1e-3);
    p.dispose();
  });

  test('fused AdamW (at::_fused_adamw_) makes the same updates as the per-parameter loop, with and without bias correction', async () => {
    for (const biasCorrection of [false, true]) {
      const runs: Float32Array[][] = [];
      for (const fusedAdamW of [true, false]) {
        const { p } = await newPair({ lr: 3e-3, warmupSteps: 1, totalSteps: 50, biasCorrection, fusedAdamW, weightDecay: 0.05 });
        for (let i = 0; i < 4; i++) await p.trainStep([makeBatch(4, 24, 30 + i)]);
        runs.push([...(await p.state('discriminator')), ...(await p.state('generator'))].map((t) => t.data as Float32Array));
        p.dispose();
      }
      let worst = 0;
      runs[0]!.forEach((a, k) => a.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - runs[1]![k]![i]!)))));
      expect(worst).toBeLessThan(2e-6);
    }
  });

  test('metrics: replaced fraction, precision/recall and accuracies are in range; training lowers the loss', async () => {
    const { p } = await newPair({ lr: 2e-3, warmupSteps: 2, totalSteps: 60 });
    const batch = makeBatch(8, 32, 11);
    const first = await p.evaluate(batch);
    for (let i = 0; i < 40; i++) await p.trainStep([makeBatch(8, 32, 100 + (i % 4))]);
    const last = await p.evaluate(batch);
    for (const m of [first, last]) {
      for (const k of ['generatorAccuracy', 'discriminatorAccuracy', 'replacedPrecision', 'replacedRecall', 'replacedFraction'] as const) {
        expect(m[k]).toBeGreaterThanOrEqual(0);
        expect(m[k]).toBeLessThanOrEqual(1);
      }
      expect(m.replacedFraction).toBeGreaterThan(0);
      expect(m.replacedFraction).toBeLessThan(0.2);
    }
    expect(last.loss).toBeLessThan(first.loss);
    // evaluate() is deterministic and does not disturb training randomness.
    expect((await p.evaluate(batch)).loss).toBe(last.loss);
    p.dispose();
  });

  test('gradient accumulation: one update over micro-batches whose loss is the mean of theirs', async () => {
    const cfg = { ...disc, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
    const b1 = makeBatch(2, 20, 2, [20, 18]);
    const b2 = makeBatch(2, 20, 3, [20, 15]);
    const mk = async () => {
      const t = await Pretrainer.create({ discriminator: cfg, generatorFraction: 0.5, special: SP, lr: 1e-3, warmupSteps: 0, totalSteps: 100, seed: 3 });
      return { t, n: (t as unknown as { n: NativeTrainer }).n };
    };
    const A = await mk(), B = await mk(), C = await mk();
    const s0 = A.n.getRng();
    const la = await A.t.trainStep([b1, b2]);
    expect(la.step).toBe(1);
    B.n.setRng(s0);
    const l1 = await B.t.trainStep([b1]);
    C.n.setRng(B.n.getRng());
    const l2 = await C.t.trainStep([b2]);
    // Same weights before the step and the same random draws: the accumulated loss is the mean.
    expect(la.loss).toBeCloseTo((l1.loss + l2.loss) / 2, 5);
    expect(la.mlmLoss).toBeCloseTo((l1.mlmLoss + l2.mlmLoss) / 2, 5);
    for (const x of [A, B, C]) x.t.dispose();
  });

  test('bad input: ids out of range, batch shape, options', async () => {
    const stepBefore = pair.p.step;
    const bad = makeBatch(2, 10);
    bad.inputIds[3] = V + 5;
    await expect(pair.p.trainStep([bad])).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining(`${V + 5}`) });
    // A mask value other than 0 or 1 (checked natively: the trainer takes batches as they are).
    const badMask = makeBatch(2, 10);
    badMask.attentionMask[4] = -1;
    await expect(pair.p.trainStep([badMask])).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('attentionMask') });
    await expect(Pretrainer.create({ discriminator: disc, special: SP, lr: -1 })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('lr') });
    await expect(Pretrainer.create({ discriminator: { ...disc, hidden_size: 30, num_attention_heads: 4 }, special: SP })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.stringContaining('hidden_size'),
    });
    await expect(Pretrainer.create({ discriminator: disc, special: { ...SP, mask: 999 } })).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('special.mask') });
    expect(pair.p.step).toBe(stepBefore); // a rejected batch is not a step
  });

  test('a non-finite loss stops with ERR_DIVERGED (no update); skipNonFinite skips the step instead', async () => {
    for (const skip of [false, true]) {
      const { p } = await newPair({ lr: 1e30, warmupSteps: 0, totalSteps: 1000, clipNorm: 0, skipNonFinite: skip });
      let err: unknown = null;
      let skipped = false;
      for (let i = 0; i < 6 && !err && !skipped; i++) {
        try {
          skipped = (await p.trainStep([makeBatch(4, 16, i)])).skipped;
        } catch (e) {
          err = e;
        }
      }
      if (skip) expect({ skipped, err }).toEqual({ skipped: true, err: null });
      else expect(err).toMatchObject({ code: 'ERR_DIVERGED', message: expect.stringContaining('non-finite') });
      p.dispose();
    }
  });

  test('one operation in flight: a second call while a step runs is ERR_BUSY; disposed is ERR_DISPOSED', async () => {
    const { p } = await newPair();
    const running = p.trainStep([makeBatch(8, 32)]);
    await expect(p.trainStep([makeBatch(8, 32)])).rejects.toMatchObject({ code: 'ERR_BUSY' });
    await running;
    p.dispose();
    p.dispose();
    await expect(p.trainStep([makeBatch(2, 8)])).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });
});

describe('eager steps leave gradients to the backward pass (set to none, not zero-filled)', () => {
  // Operator counts of one step from the profiler, for pairs of 2 and 4 layers: a per-parameter
  // zero fill (and the add into it) would add 16 zero_ and 16 add_ calls per layer (measured with
  // the old zeroGrad: 18 and 21 per layer; now 2 and 5).
  async function opsPerStep(layers: number): Promise<Map<string, number>> {
    const cfg = parseConfig({ vocab_size: V, embedding_size: 16, hidden_size: 32, num_hidden_layers: layers, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 });
    const p = await Pretrainer.create({ discriminator: cfg, generatorFraction: 0.5, special: SP, lr: 1e-3, seed: 1 });
    try {
      const b = makeBatch(4, 32, 5);
      await p.trainStep([b]);
      await p.trainStep([b]); // gradients from an earlier step exist when the next one starts
      await native().profileStart();
      await p.trainStep([b]);
      const pr = await native().profileStop();
      return new Map(pr.entries.map((e) => [e.name, e.count]));
    } finally {
      p.dispose();
    }
  }

  // The profiler records the executor thread only.
  const testProfiled = testIf(prerequisite('the executor thread', runtime().executor ? undefined : 'ELECTRA_EXECUTOR=0 turns it off'));

  testProfiled('zero_ and add_ calls per extra layer stay far below one per parameter', async () => {
    const two = await opsPerStep(2), four = await opsPerStep(4);
    const perLayer = (name: string) => ((four.get(name) ?? 0) - (two.get(name) ?? 0)) / 4; // 2 more layers in each model
    expect(two.get('aten::mm') ?? two.get('aten::addmm')).toBeGreaterThan(0); // the profile saw the step
    expect(perLayer('aten::zero_')).toBeLessThan(8);
    expect(perLayer('aten::add_')).toBeLessThan(10);
  });
});

describe('evaluation ROC AUC (mid-ranks: a tie counts one half) and R-precision (ties share the last slots)', () => {
  const metrics = (s: number[], y: number[]) => native()._test.auc(Float64Array.from(s), Uint8Array.from(y));
  const auc = (s: number[], y: number[]) => metrics(s, y).auc;
  const rprec = (s: number[], y: number[]) => metrics(s, y).rprec;
  /** Pairwise definition: P(score of a positive > score of a negative) + P(tie) / 2. */
  function pairwise(s: number[], y: number[]): number {
    let num = 0, pairs = 0;
    for (let i = 0; i < s.length; i++) {
      if (!y[i]) continue;
      for (let j = 0; j < s.length; j++) {
        if (y[j]) continue;
        pairs++;
        num += s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0;
      }
    }
    return num / pairs;
  }

  test('ranked, reversed, tied, and a hand-computed case', () => {
    expect(auc([0.1, 0.2, 0.9, 0.8], [0, 0, 1, 1])).toBe(1);
    expect(auc([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1])).toBe(0);
    // Scores that all tie (a discriminator still at its prior, in bf16) rank nothing: exactly 0.5,
    // where an arbitrary order of the ties gave anything from 0 to 1.
    const r = rng(5);
    const y = Array.from({ length: 1000 }, () => (r() < 0.15 ? 1 : 0));
    expect(auc(new Array(1000).fill(-1.8125), y)).toBe(0.5);
    expect(auc([1, 1, 2], [1, 0, 1])).toBe(0.75);
    expect(auc([1, 2, 3], [1, 1, 1])).toBe(-1); // one class only
  });

  test('R-precision: the top k, k = positives; scores tied at the k-th place share its slots', () => {
    expect(rprec([3, 2, 1, 0], [1, 0, 1, 0])).toBe(0.5);
    expect(rprec([3, 2, 1, 0], [1, 1, 0, 0])).toBe(1);
    // k = 3: one positive above the tie, then two slots among three tied scores holding one positive.
    expect(rprec([2, 1, 1, 1, 0], [1, 1, 0, 0, 1])).toBeCloseTo((1 + (2 * 1) / 3) / 3, 12);
    // All tied: the base rate, whatever order the ties are in.
    const y = Array.from({ length: 1000 }, (_, i) => (i % 20 < 3 ? 1 : 0));
    expect(rprec(new Array(1000).fill(-1.8125), y)).toBeCloseTo(0.15, 12);
    expect(rprec([1, 2], [0, 0])).toBe(-1);
  });

  test('equals the pairwise definition on scores with many ties', () => {
    const r = rng(9);
    for (const levels of [2, 5, 40]) {
      const s = Array.from({ length: 700 }, () => Math.floor(r() * levels) / levels);
      const y = s.map((v) => (r() < 0.1 + 0.5 * v ? 1 : 0));
      expect(auc(s, y)).toBeCloseTo(pairwise(s, y), 12);
    }
  });
});
