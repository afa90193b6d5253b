/**
 * @jest-environment ./test/native/ort-environment.cjs
 */
/*
 * transformers.js (@huggingface/transformers in Node, local files only) loads what exportOnnx
 * writes through pipeline('text-classification' | 'token-classification' | 'feature-extraction'
 * | 'question-answering', dir) and gives the labels and scores of our classify, tagTokens, embed
 * and answer (fp32: within 1e-4), on the fixture texts of test/fixtures/models/inference.json
 * that fit in the model's 40 positions, and fill-mask on the generator gives the softmax of our
 * generator logits. Longer texts are left out: transformers.js 4.3.2 truncates
 * the encoded sequence after adding the special tokens, so its last [SEP] is cut off (our helpers
 * and Python transformers keep it), which changes every output. The int8 model loads with
 * { dtype: 'q8' }.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '@huggingface/transformers';
import { Electra } from '../../src/electra';
import { exportOnnx } from '../../src/export';
import { FIX, maxAbsDiff } from './onnx-helpers';

const EXP = JSON.parse(fs.readFileSync(path.join(FIX, 'inference.json'), 'utf8')) as {
  texts: string[];
  qa: { question: string; context: string }[];
};
const TOL = 1e-4;
/** The fixture texts that fit in 40 tokens with [CLS] and [SEP] (the long one does not). */
let TEXTS: string[];

let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-tjs-'));
  T.env.allowRemoteModels = false;
  T.env.allowLocalModels = true;
  T.env.localModelPath = tmp + path.sep;
  T.env.useBrowserCache = false;
  for (const name of ['seqcls', 'tokcls', 'base', 'qa', 'gen']) await exportOnnx(path.join(FIX, name), { out: path.join(tmp, name), quantize: 'q8' });
  const e = await withModel('base', (m) => m.embed(EXP.texts));
  TEXTS = EXP.texts.filter((_, i) => e.truncated[i] === 0);
  expect(TEXTS.length).toBe(EXP.texts.length - 1);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function withModel<R>(name: string, fn: (m: Electra) => Promise<R>): Promise<R> {
  const m = await Electra.load(path.join(FIX, name));
  try {
    return await fn(m);
  } finally {
    m.dispose();
  }
}

test("text-classification: the label and every label's score of classify()", async () => {
  const pipe = await T.pipeline('text-classification', 'seqcls');
  const got = (await pipe(TEXTS, { top_k: null })) as unknown as { label: string; score: number }[][];
  const want = await withModel('seqcls', (m) => m.classify(TEXTS));
  expect(got).toHaveLength(want.length);
  want.forEach((w, i) => {
    expect(got[i]![0]!.label).toBe(w.label);
    for (const { label, score } of got[i]!) expect(Math.abs(score - w.scores[label]!)).toBeLessThan(TOL);
  });
  await pipe.dispose();
});

test("token-classification: each token's label and score of tagTokens()", async () => {
  const pipe = await T.pipeline('token-classification', 'tokcls');
  const want = await withModel('tokcls', (m) => m.tagTokens(TEXTS));
  let compared = 0;
  for (const [i, text] of TEXTS.entries()) {
    // ignore_labels [] : every token (transformers.js drops the special ones, as tagTokens does)
    const got = (await pipe(text, { ignore_labels: [] })) as unknown as { entity: string; score: number; index: number }[];
    // transformers.js leaves out [UNK] tokens too (it decodes each token with skip_special_tokens)
    const ours = want[i]!.tokens.filter((t) => t.token !== '[UNK]');
    expect(got.map((t) => [t.index, t.entity])).toEqual(ours.map((t) => [t.index, t.label]));
    got.forEach((t, k) => expect(Math.abs(t.score - ours[k]!.score)).toBeLessThan(TOL));
    compared += got.length;
  }
  expect(compared).toBeGreaterThan(40);
  await pipe.dispose();
});

test('feature-extraction: mean and [CLS] pooling as embed(), normalized or not', async () => {
  const pipe = await T.pipeline('feature-extraction', 'base');
  for (const pooling of ['mean', 'cls'] as const) {
    for (const normalize of [false, true]) {
      const got = await pipe(TEXTS, { pooling, normalize });
      const want = await withModel('base', (m) => m.embed(TEXTS, { pooling, normalize }));
      expect(got.dims).toEqual([TEXTS.length, 32]);
      const data = got.data as Float32Array;
      want.forEach((v, i) => expect(maxAbsDiff(data.subarray(i * 32, (i + 1) * 32), v)).toBeLessThan(TOL));
    }
  }
  await pipe.dispose();
});

test('question-answering: the span and score of answer()', async () => {
  const pipe = await T.pipeline('question-answering', 'qa');
  const norm = (s: string) => s.toLowerCase().replace(/\s+/g, '');
  let compared = 0;
  await withModel('qa', async (m) => {
    for (const { question, context } of EXP.qa) {
      // transformers.js puts no limit on the answer length; ours is 30 tokens by default
      const want = await m.answer(question, context, { maxAnswerLength: 512 });
      if (want.truncated > 0) continue;
      compared++;
      const got = (await pipe(question, context)) as unknown as { answer: string; score: number };
      expect(norm(got.answer)).toBe(norm(want.answer));
      expect(Math.abs(got.score - want.score)).toBeLessThan(TOL);
    }
  });
  expect(compared).toBe(3);
  await pipe.dispose();
});

test('fill-mask (the generator): the top tokens and scores of our generator logits', async () => {
  const pipe = await T.pipeline('fill-mask', 'gen');
  await withModel('gen', async (m) => {
    for (const text of ['john lives in [MASK].', 'the quick [MASK] fox', 'mary [MASK] in london, the city of good people!']) {
      const got = (await pipe(text, { top_k: 5 })) as unknown as { token: number; score: number }[];
      const e = await m.tokenizer!.encode(text);
      const T_ = e.ids.length;
      const r = await m.forward({ inputIds: Int32Array.from(e.ids), shape: [1, T_] });
      const at = e.ids.indexOf(m.tokenizer!.specialIds.mask);
      const V = m.config.vocab_size;
      const logits = Array.from(r.generator!.data.subarray(at * V, (at + 1) * V));
      const max = Math.max(...logits);
      const z = logits.reduce((s, x) => s + Math.exp(x - max), 0);
      const want = logits.map((x, id) => ({ token: id, score: Math.exp(x - max) / z })).sort((a, b) => b.score - a.score).slice(0, 5);
      expect(got.map((g) => g.token)).toEqual(want.map((w) => w.token));
      got.forEach((g, k) => expect(Math.abs(g.score - want[k]!.score)).toBeLessThan(TOL));
    }
  });
  await pipe.dispose();
});

test("the int8 model loads with { dtype: 'q8' } and keeps classify()'s labels on the fixture texts", async () => {
  const pipe = await T.pipeline('text-classification', 'seqcls', { dtype: 'q8' });
  const got = (await pipe(TEXTS)) as unknown as { label: string; score: number }[];
  const want = await withModel('seqcls', (m) => m.classify(TEXTS));
  expect(got.map((g) => g.label)).toEqual(want.map((w) => w.label));
  got.forEach((g, i) => expect(Math.abs(g.score - want[i]!.score)).toBeLessThan(0.02));
  await pipe.dispose();
});
