/*
 * The inference API (issue #6): classify, embed, tagTokens, answer and detectReplaced against
 * Python transformers (test/fixtures/models/inference.json, made by make_fixtures.py), batching
 * with length sorting and dynamic padding, the per-model queue, worker threads, and bad input.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Electra } from '../../src/electra';
import { ElectraTokenizer } from '../../src/tokenizer/tokenizer';
import { groupEntities, type TaggedToken } from '../../src/infer/tag';
import { SerialQueue } from '../../src/infer/queue';

const FIX = path.join(__dirname, '..', 'fixtures', 'models');
const DIST = path.join(__dirname, '..', '..', 'dist', 'index.cjs');

interface Expected {
  max_length: number;
  texts: string[];
  pairs: [string, string][];
  ids: number[][];
  seqcls: { texts: { probs: number[]; label: string; truncated: number }[]; pairs: { probs: number[]; label: string; truncated: number }[] };
  tokcls: {
    text: string;
    tokens: { token: string; index: number; label: string; score: number; start: number; end: number }[];
    entities: { label: string; score: number; word: string; start: number; end: number }[];
  }[];
  qa: { question: string; context: string; answer: string; score: number; start: number; end: number; truncated: number }[];
  embed: Record<string, { mean: number[][]; cls: number[][] }>;
  detect: { tokens: string[]; probabilities: number[]; truncated: number }[];
}

const EXP = JSON.parse(fs.readFileSync(path.join(FIX, 'inference.json'), 'utf8')) as Expected;
const LABELS = ['negative', 'neutral', 'positive'];

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A copy of a fixture directory with only config.json + weights (no tokenizer files). */
function bareCopy(name: string, dir: string): string {
  const out = fs.mkdtempSync(path.join(dir, `${name}-`));
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIX, name, f), path.join(out, f));
  return out;
}

describe('inference API', () => {
  let tmp: string;
  const models: Record<string, Electra> = {};
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-infer-'));
    for (const n of ['seqcls', 'tokcls', 'qa', 'base', 'disc-proj']) models[n] = await Electra.load(path.join(FIX, n));
  });
  afterAll(() => {
    for (const m of Object.values(models)) m.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the directory tokenizer is loaded and gives the ids transformers gives', async () => {
    const tok = models.seqcls!.tokenizer!;
    expect(tok).toBeInstanceOf(ElectraTokenizer);
    expect(models.seqcls!.source).toBe(path.join(FIX, 'seqcls'));
    const enc = await tok.encodeBatch(EXP.texts, { maxLength: EXP.max_length });
    expect(enc.map((e) => e.ids)).toEqual(EXP.ids);
  });

  test('classify matches transformers (texts and pairs, one batch, length-sorted, order restored)', async () => {
    const m = models.seqcls!;
    const inputs = [...EXP.texts, ...EXP.pairs];
    const want = [...EXP.seqcls.texts, ...EXP.seqcls.pairs];
    for (const batchSize of [32, 3, 1]) {
      const got = await m.classify(inputs, { batchSize });
      expect(got).toHaveLength(inputs.length);
      got.forEach((r, i) => {
        expect(Object.keys(r.scores)).toEqual(LABELS);
        expect(maxDiff(LABELS.map((l) => r.scores[l]!), want[i]!.probs)).toBeLessThan(1e-5);
        expect(r.label).toBe(want[i]!.label);
        expect(r.score).toBe(Math.max(...Object.values(r.scores)));
        expect(r.truncated).toBe(want[i]!.truncated);
        expect(r.value).toBeUndefined();
      });
    }
    // A string is a batch of one.
    const [one] = await m.classify(EXP.texts[0]!);
    expect(maxDiff(LABELS.map((l) => one!.scores[l]!), EXP.seqcls.texts[0]!.probs)).toBeLessThan(1e-5);
    expect(await m.classify([])).toEqual([]);
  });

  test('dynamic padding: a batch gives what each text gives alone', async () => {
    const m = models.base!;
    const texts = [...EXP.texts].reverse();
    const batched = await m.embed(texts, { batchSize: 4 });
    for (let i = 0; i < texts.length; i++) {
      const [alone] = await m.embed([texts[i]!]);
      expect(maxDiff(batched[i]!, alone!)).toBeLessThan(1e-5);
    }
    const c = models.seqcls!;
    const all = await c.classify(texts, { batchSize: 7 });
    const single = await Promise.all(texts.map((t) => c.classify([t]).then((r) => r[0]!)));
    all.forEach((r, i) => expect(maxDiff(Object.values(r.scores), Object.values(single[i]!.scores))).toBeLessThan(1e-6));
  });

  test('embed matches transformers: mean and [CLS] pooling, normalize, on any head', async () => {
    for (const name of ['base', 'seqcls']) {
      const m = models[name]!;
      const mean = await m.embed(EXP.texts, { batchSize: 3 });
      const cls = await m.embed(EXP.texts, { pooling: 'cls' });
      expect(mean.truncated).toEqual(EXP.seqcls.texts.map((t) => t.truncated));
      EXP.texts.forEach((_, i) => {
        expect(mean[i]).toBeInstanceOf(Float32Array);
        expect(mean[i]!.length).toBe(32);
        expect(maxDiff(mean[i]!, EXP.embed[name]!.mean[i]!)).toBeLessThan(1e-5);
        expect(maxDiff(cls[i]!, EXP.embed[name]!.cls[i]!)).toBeLessThan(1e-5);
      });
      const unit = await m.embed(EXP.texts, { normalize: true });
      unit.forEach((v, i) => {
        const norm = Math.hypot(...v);
        expect(Math.abs(norm - 1)).toBeLessThan(1e-5);
        const ref = EXP.embed[name]!.mean[i]!;
        const rn = Math.hypot(...ref);
        expect(maxDiff(v, ref.map((x) => x / rn))).toBeLessThan(1e-5);
      });
    }
    await expect(models.base!.embed(['x'], { pooling: 'max' as 'mean' })).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('pooling') });
  });

  test('tagTokens matches the transformers token-classification pipeline (per token and "simple" entities)', async () => {
    const m = models.tokcls!;
    const got = await m.tagTokens(EXP.tokcls.map((t) => t.text), { batchSize: 2 });
    got.forEach((r, i) => {
      const want = EXP.tokcls[i]!;
      const text = want.text;
      expect(r.truncated).toBe(0);
      expect(r.tokens.map((t) => [t.index, t.label, t.offsets[0], t.offsets[1]])).toEqual(want.tokens.map((t) => [t.index, t.label, t.start, t.end]));
      // transformers shows an unknown token as the text it covers.
      expect(r.tokens.map((t) => (t.token === '[UNK]' ? text.slice(t.offsets[0], t.offsets[1]) : t.token))).toEqual(want.tokens.map((t) => t.token));
      expect(maxDiff(r.tokens.map((t) => t.score), want.tokens.map((t) => t.score))).toBeLessThan(1e-5);
      expect(r.entities.map((e) => [e.label, e.word, e.start, e.end])).toEqual(want.entities.map((e) => [e.label, e.word, e.start, e.end]));
      expect(maxDiff(r.entities.map((e) => e.score), want.entities.map((e) => e.score))).toBeLessThan(1e-5);
      for (const e of r.entities) expect(e.text).toBe(text.slice(e.start, e.end));
    });
    expect(got.some((r) => r.entities.length > 0)).toBe(true);
  });

  test('entity grouping follows B-/I- tags as transformers "simple" aggregation', () => {
    const text = 'John Smith met Mary in New York';
    const spans: [string, number, number, string][] = [
      ['john', 0, 4, 'B-PER'], ['smith', 5, 10, 'I-PER'], ['met', 11, 14, 'O'], ['mary', 15, 19, 'B-PER'],
      ['in', 20, 22, 'O'], ['new', 23, 26, 'I-LOC'], ['york', 27, 31, 'I-LOC'],
    ];
    const tokens: TaggedToken[] = spans.map(([token, s, e, label], i) => ({ token, index: i + 1, offsets: [s, e], label, score: (i + 1) / 10 }));
    const ents = groupEntities(tokens, spans.map((s) => s[0]), text, new Set(['O']));
    expect(ents.map((e) => [e.label, e.word, e.text])).toEqual([['PER', 'john smith', 'John Smith'], ['PER', 'mary', 'Mary'], ['LOC', 'new york', 'New York']]);
    expect(ents[0]!.score).toBeCloseTo(0.15, 10);
    // B- always starts a new entity; pieces merge; nothing ignored keeps the O groups.
    const t2: TaggedToken[] = [
      { token: 'new', index: 1, offsets: [0, 3], label: 'B-LOC', score: 1 },
      { token: 'york', index: 2, offsets: [4, 8], label: 'B-LOC', score: 1 },
      { token: '##er', index: 3, offsets: [8, 10], label: 'I-LOC', score: 1 },
    ];
    expect(groupEntities(t2, ['new', 'york', '##er'], 'new yorker', new Set()).map((e) => e.word)).toEqual(['new', 'yorker']);
  });

  test('answer matches the reference span search (context only, start <= end, length limit, truncation count)', async () => {
    const m = models.qa!;
    for (const q of EXP.qa) {
      const a = await m.answer(q.question, q.context);
      expect({ answer: a.answer, start: a.start, end: a.end, truncated: a.truncated }).toEqual({ answer: q.answer, start: q.start, end: q.end, truncated: q.truncated });
      expect(Math.abs(a.score - q.score)).toBeLessThan(1e-5 * Math.max(1, q.score) + 1e-7);
      expect(q.context.slice(a.start, a.end)).toBe(a.answer);
    }
    const many = await m.answer(EXP.qa.map(({ question, context }) => ({ question, context })), { batchSize: 2 });
    expect(many.map((a) => a.answer)).toEqual(EXP.qa.map((q) => q.answer));
    const short = await m.answer(EXP.qa[3]!.question, EXP.qa[3]!.context, { maxAnswerLength: 2 });
    expect(short.answer.split(' ').length).toBeLessThanOrEqual(2);
    // Windows over a long context: nothing truncated, the answer lies in the context.
    const long = EXP.qa[3]!;
    const w = await m.answer(long.question, long.context, { stride: 8 });
    expect(w.truncated).toBe(0);
    expect(long.context.slice(w.start, w.end)).toBe(w.answer);
    expect(w.score).toBeGreaterThanOrEqual(0);
    await expect(m.answer(long.question, long.context, { truncation: false })).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('truncation: false') });
    await expect(m.answer('', 'context')).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('question is empty') });
    await expect(m.answer('who?', '  ')).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('context is empty') });
    await expect(m.answer('who '.repeat(40), 'john')).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('no room for the context') });
  });

  test('detectReplaced matches transformers (sigmoid of the discriminator logits)', async () => {
    const m = models['disc-proj']!;
    const all = await m.detectReplaced(EXP.texts, { batchSize: 2 });
    all.forEach((r, i) => {
      expect(r.tokens.map((t) => t.token)).toEqual(EXP.detect[i]!.tokens);
      expect(maxDiff(r.tokens.map((t) => t.probability), EXP.detect[i]!.probabilities)).toBeLessThan(1e-5);
      expect(r.truncated).toBe(EXP.detect[i]!.truncated);
      for (const t of r.tokens) expect(t.replaced).toBe(t.probability > 0.5);
    });
    const one = await m.detectReplaced(EXP.texts[0]!);
    expect(one.tokens.map((t) => t.token)).toEqual(EXP.detect[0]!.tokens);
  });

  test('250 concurrent calls all resolve, each with its own result; forward calls run in call order', async () => {
    const m = models.seqcls!;
    const ref = await m.classify(EXP.texts);
    const calls = Array.from({ length: 250 }, (_, i) => m.classify([EXP.texts[i % EXP.texts.length]!], { batchSize: 1 }).then((r) => r[0]!));
    const done: number[] = [];
    const forwards = Array.from({ length: 250 }, (_, i) => {
      const ids = Int32Array.from(EXP.ids[i % EXP.ids.length]!);
      return m.forward({ inputIds: ids, shape: [1, ids.length] }).then((r) => {
        done.push(i);
        return r.classification!.data;
      });
    });
    const emb = m.embed(EXP.texts);
    const res = await Promise.all(calls);
    res.forEach((r, i) => expect(maxDiff(Object.values(r.scores), Object.values(ref[i % EXP.texts.length]!.scores))).toBeLessThan(1e-6));
    const logits = await Promise.all(forwards);
    logits.forEach((l, i) => expect(l).toEqual(logits[i % EXP.ids.length]));
    expect(done).toEqual(forwards.map((_, i) => i));
    expect(await emb).toHaveLength(EXP.texts.length);
  });

  test('truncation: counted by default, ERR_INPUT with truncation: false, maxLength honoured', async () => {
    const m = models.seqcls!;
    const long = EXP.texts[5]!;
    const [r] = await m.classify([long]);
    expect(r!.truncated).toBe(EXP.seqcls.texts[5]!.truncated);
    expect(r!.truncated).toBeGreaterThan(0);
    await expect(m.classify(['a', long], { truncation: false })).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringMatching(/texts\[1\] has \d+ tokens, more than the maximum 40/) });
    const [s] = await m.classify(['the quick brown fox'], { maxLength: 4 });
    expect(s!.truncated).toBe(2);
    await expect(m.classify(['a'], { maxLength: 41 })).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('max_position_embeddings') });
    await expect(m.classify(['a'], { batchSize: 0 })).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('batchSize') });
    const d = await models['disc-proj']!.detectReplaced(long);
    expect(d.tokens).toHaveLength(40);
    expect(d.truncated).toBe(EXP.detect[5]!.truncated);
  });

  test('empty and malformed texts are ERR_INPUT naming the entry', async () => {
    const m = models.seqcls!;
    await expect(m.classify(['fine', ''])).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('texts[1] is empty') });
    await expect(m.classify('   ')).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('empty') });
    await expect(m.classify([['a', '']])).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('texts[0][1] is empty') });
    await expect(m.classify([42 as unknown as string])).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('must be a string') });
    await expect(m.classify(undefined as unknown as string)).rejects.toMatchObject({ code: 'ERR_INPUT' });
    await expect(m.classify(['\u0001\u0002'])).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('no tokens') });
    await expect(models.base!.embed([''])).rejects.toMatchObject({ code: 'ERR_INPUT' });
    await expect(models.tokcls!.tagTokens([''])).rejects.toMatchObject({ code: 'ERR_INPUT' });
    await expect(models['disc-proj']!.detectReplaced('')).rejects.toMatchObject({ code: 'ERR_INPUT' });
  });

  test('a checkpoint without the task head is a clear ERR_CHECKPOINT', async () => {
    const d = models['disc-proj']!;
    await expect(d.classify(['John lives in Paris.'])).rejects.toMatchObject({
      code: 'ERR_CHECKPOINT',
      message: expect.stringMatching(/classify needs a ElectraForSequenceClassification checkpoint.*ElectraForPreTraining/),
    });
    await expect(models.seqcls!.tagTokens(['x'])).rejects.toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringContaining('ElectraForTokenClassification') });
    await expect(models.base!.answer('q', 'c')).rejects.toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringContaining('ElectraForQuestionAnswering') });
    await expect(models.seqcls!.detectReplaced('x')).rejects.toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringContaining('ElectraForPreTraining') });
  });

  test('an HF directory of another architecture is ERR_CONFIG / ERR_CHECKPOINT', async () => {
    const dir = bareCopy('seqcls', tmp);
    const cfgFile = path.join(dir, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, model_type: 'bert', architectures: ['BertForSequenceClassification'] }));
    await expect(Electra.load(dir)).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('"bert"') });
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, architectures: ['BertForSequenceClassification'] }));
    await expect(Electra.load(dir)).rejects.toMatchObject({ code: 'ERR_CHECKPOINT', message: expect.stringContaining('BertForSequenceClassification') });
  });

  test('no tokenizer files: load works, the helpers say which files are missing; one can be passed', async () => {
    const dir = bareCopy('seqcls', tmp);
    const m = await Electra.load(dir);
    try {
      expect(m.tokenizer).toBeUndefined();
      await expect(m.classify(['x'])).rejects.toMatchObject({ code: 'ERR_TOKENIZER', message: expect.stringMatching(/neither tokenizer\.json nor vocab\.txt/) });
      await expect(m.embed(['x'])).rejects.toMatchObject({ code: 'ERR_TOKENIZER' });
    } finally {
      m.dispose();
    }
    const withPath = await Electra.load(dir, { tokenizer: path.join(FIX, 'seqcls') });
    const withTok = await Electra.load(dir, { tokenizer: models.seqcls!.tokenizer! });
    const none = await Electra.load(path.join(FIX, 'seqcls'), { tokenizer: false });
    try {
      const [a] = await withPath.classify([EXP.texts[0]!]);
      const [b] = await withTok.classify([EXP.texts[0]!]);
      expect(maxDiff(Object.values(a!.scores), EXP.seqcls.texts[0]!.probs)).toBeLessThan(1e-5);
      expect(b!.scores).toEqual(a!.scores);
      expect(none.tokenizer).toBeUndefined();
    } finally {
      withPath.dispose();
      withTok.dispose();
      none.dispose();
    }
    // A tokenizer with more tokens than the model's vocabulary.
    await expect(Electra.load(dir, { tokenizer: path.join(__dirname, '..', 'fixtures', 'tokenizer', 'vocab') })).rejects.toMatchObject({
      code: 'ERR_TOKENIZER',
      message: expect.stringContaining('vocab_size 99'),
    });
  });

  test('regression heads return the value; multi-label heads use sigmoid', async () => {
    const base = JSON.parse(fs.readFileSync(path.join(FIX, 'seqcls', 'config.json'), 'utf8'));
    delete base.id2label;
    delete base.label2id;
    const reg = await Electra.create({ ...base, num_labels: 1, problem_type: 'regression' }, { head: 'sequence-classification', seed: 3 });
    const ml = await Electra.create({ ...base, num_labels: 2, problem_type: 'multi_label_classification' }, { head: 'sequence-classification', seed: 3 });
    try {
      reg.tokenizer = ml.tokenizer = models.seqcls!.tokenizer;
      const ids = Int32Array.from(EXP.ids[0]!);
      const logit = (await reg.forward({ inputIds: ids, shape: [1, ids.length] })).classification!.data[0]!;
      const [r] = await reg.classify([EXP.texts[0]!]);
      expect(r!.value).toBeCloseTo(logit, 5);
      expect(r!.label).toBe('LABEL_0');
      const l2 = (await ml.forward({ inputIds: ids, shape: [1, ids.length] })).classification!.data;
      const [p] = await ml.classify([EXP.texts[0]!]);
      expect(p!.scores.LABEL_0).toBeCloseTo(1 / (1 + Math.exp(-l2[0]!)), 6);
      expect(p!.scores.LABEL_1).toBeCloseTo(1 / (1 + Math.exp(-l2[1]!)), 6);
    } finally {
      reg.dispose();
      ml.dispose();
    }
  });

  test('dispose: the running call finishes, queued calls reject ERR_DISPOSED, later calls too', async () => {
    const m = await Electra.load(path.join(FIX, 'seqcls'));
    const big = { inputIds: new Int32Array(64 * 40).fill(20), shape: [64, 40] as [number, number] };
    const running = m.forward(big); // starts at once
    const queued = expect(m.forward(big)).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    // Still tokenizing: its forward passes come after dispose.
    const pending = expect(m.classify(EXP.texts, { batchSize: 1 })).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    expect(() => m.dispose()).not.toThrow();
    expect(m.disposed).toBe(true);
    m.dispose();
    expect((await running).classification!.shape).toEqual([64, 3]);
    await queued;
    await pending;
    await expect(m.classify(['x'])).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    await expect(m.embed(['x'])).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    await expect(m.detectReplaced('x')).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    await expect(m.answer('q', 'c')).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    await expect(m.forward({ inputIds: Int32Array.from([2, 3]), shape: [1, 2] })).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    expect(() => m.parameters()).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    // Disposing between the batches of a call: the call rejects, nothing crashes.
    const n = await Electra.load(path.join(FIX, 'seqcls'));
    const c = n.classify(EXP.texts, { batchSize: 1 });
    await new Promise((r) => setTimeout(r, 20));
    n.dispose();
    await c.then(
      (r) => expect(r).toHaveLength(EXP.texts.length),
      (e: unknown) => expect(e).toMatchObject({ code: 'ERR_DISPOSED' }),
    );
  });

  test('the queue is FIFO and rejects what waits when closed', async () => {
    const q = new SerialQueue();
    const order: number[] = [];
    const slow = (i: number, ms: number) => q.run(() => new Promise<number>((r) => setTimeout(() => (order.push(i), r(i)), ms)));
    const a = slow(1, 20);
    const b = slow(2, 1);
    const c = q.run(async () => {
      throw new Error('boom');
    });
    const d = slow(4, 1);
    expect(await a).toBe(1);
    expect(await b).toBe(2);
    await expect(c).rejects.toThrow('boom');
    expect(await d).toBe(4);
    expect(order).toEqual([1, 2, 4]);
    const e = slow(5, 20);
    const f = expect(slow(6, 1)).rejects.toThrow('closed');
    q.close(new Error('closed'));
    expect(await e).toBe(5);
    await f;
    await expect(q.run(async () => 1)).rejects.toThrow('closed');
  });

  describe('worker threads (dist/index.cjs)', () => {
    const WORKER = `
      const { parentPort, workerData } = require('node:worker_threads');
      const E = require(workerData.dist);
      (async () => {
        const m = await E.Electra.load(workerData.dir);
        const out = [];
        for (let k = 0; k < workerData.repeat; k++) {
          if (workerData.task === 'classify') out.push(await m.classify(workerData.texts));
          else out.push(Array.from(await m.embed(workerData.texts), (v) => Array.from(v)));
        }
        m.dispose();
        parentPort.postMessage({ ok: true, out });
      })().catch((e) => parentPort.postMessage({ ok: false, code: e.code, message: String(e.message) }));
    `;
    function inWorker(data: { dir: string; task: 'classify' | 'embed'; texts: string[]; repeat: number }): Promise<{ ok: boolean; out?: unknown[]; code?: string; message?: string }> {
      return new Promise((resolve, reject) => {
        const w = new Worker(WORKER, { eval: true, workerData: { ...data, dist: DIST } });
        w.once('message', (msg) => {
          resolve(msg);
          void w.terminate();
        });
        w.once('error', reject);
      });
    }

    beforeAll(() => {
      if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npx tsup\` before these tests`);
    });

    test('a model loaded and run inside a Worker gives the main thread results', async () => {
      const r = await inWorker({ dir: path.join(FIX, 'seqcls'), task: 'classify', texts: EXP.texts, repeat: 1 });
      expect(r).toMatchObject({ ok: true });
      const got = (r.out as { scores: Record<string, number> }[][])[0]!;
      got.forEach((g, i) => expect(maxDiff(LABELS.map((l) => g.scores[l]!), EXP.seqcls.texts[i]!.probs)).toBeLessThan(1e-5));
    });

    test('two models in two workers at once', async () => {
      const [a, b] = await Promise.all([
        inWorker({ dir: path.join(FIX, 'seqcls'), task: 'classify', texts: EXP.texts, repeat: 5 }),
        inWorker({ dir: path.join(FIX, 'base'), task: 'embed', texts: EXP.texts, repeat: 5 }),
      ]);
      expect(a).toMatchObject({ ok: true });
      expect(b).toMatchObject({ ok: true });
      for (const run of a.out as { scores: Record<string, number> }[][]) {
        run.forEach((g, i) => expect(maxDiff(LABELS.map((l) => g.scores[l]!), EXP.seqcls.texts[i]!.probs)).toBeLessThan(1e-5));
      }
      for (const run of b.out as number[][][]) run.forEach((v, i) => expect(maxDiff(v, EXP.embed.base!.mean[i]!)).toBeLessThan(1e-5));
    });
  });
});
