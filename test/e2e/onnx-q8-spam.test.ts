/**
 * @jest-environment ./test/native/ort-environment.cjs
 */
/*
 * The int8 export on a fine-tuned model, as a user runs it (needs dist/: npx tsup): a spam
 * classifier fine-tuned with electra-node (test/fixtures/make_spam_model.cjs; about a minute of
 * CPU on an idle 2-core machine, several on a busy one; ELECTRA_SPAM_MODEL=DIR reuses one), then
 * `electra export --quantize q8`, then the 604 e-mails of the spam-assassin test split through
 * onnxruntime-node in fp32 and q8 and through our classify().
 *
 * Stated q8 tolerance: labels agree with fp32 on >= 99% of the e-mails, accuracy within 1 point,
 * mean |p(spam) difference| <= 0.01, max |logit difference| <= 0.25. fp32 agrees with ours on
 * every label.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { loadSpamAssassin } from '../../src/data/builtins';
import { ortRun, openGraph } from '../native/onnx-helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'electra.cjs');

let tmp: string;
let modelDir: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-q8-spam-'));
  modelDir = process.env.ELECTRA_SPAM_MODEL ?? path.join(tmp, 'spam');
  if (!process.env.ELECTRA_SPAM_MODEL) {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'test', 'fixtures', 'make_spam_model.cjs'), '--out', modelDir], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-2000) }).toEqual({ status: 0, stderr: '' });
  }
}, 30 * 60_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('q8 keeps >= 99% of the fp32 labels on the spam-assassin test split, within the stated tolerance', async () => {
  const out = path.join(tmp, 'onnx');
  const r = spawnSync(process.execPath, [CLI, 'export', '--model', modelDir, '--out', out, '--quantize', 'q8'], { encoding: 'utf8' });
  expect({ status: r.status, stderr: r.stderr.slice(-2000) }).toEqual({ status: 0, stderr: '' });
  expect(r.stdout).toMatch(/onnx\/model_quantized\.onnx: [\d.]+ MiB \(\d+% of fp32\)/);

  const items = loadSpamAssassin({ seed: 42 }).test;
  const texts = items.map((x) => x.text);
  const gold = items.map((x) => (x.label === 'spam' ? 1 : 0));
  const model = await Electra.load(modelDir);
  const fp32 = await openGraph(path.join(out, 'onnx', 'model.onnx'));
  const q8 = await openGraph(path.join(out, 'onnx', 'model_quantized.onnx'));
  try {
    const ours = (await model.classify(texts, { batchSize: 32 })).map((c) => (c.label === 'spam' ? 1 : 0));
    // the same tokens as classify(): truncated to max_position_embeddings, batches sorted by length
    const enc = await model.tokenizer!.encodeBatch(texts, { maxLength: model.config.max_position_embeddings });
    const order = enc.map((_, i) => i).sort((a, b) => enc[a]!.ids.length - enc[b]!.ids.length);
    const logits = { fp32: new Float32Array(2 * items.length), q8: new Float32Array(2 * items.length) };
    for (let s = 0; s < order.length; s += 32) {
      const idx = order.slice(s, s + 32);
      const T = Math.max(...idx.map((i) => enc[i]!.ids.length));
      const inputIds = new Int32Array(idx.length * T);
      const attentionMask = new Int32Array(idx.length * T);
      idx.forEach((i, b) => enc[i]!.ids.forEach((id, t) => ((inputIds[b * T + t] = id), (attentionMask[b * T + t] = 1))));
      const batch = { inputIds, attentionMask, shape: [idx.length, T] as [number, number] };
      for (const [k, sess] of [['fp32', fp32], ['q8', q8]] as const) {
        const l = (await ortRun(sess, batch)).logits!;
        idx.forEach((i, b) => logits[k].set(l.subarray(2 * b, 2 * b + 2), 2 * i));
      }
    }
    const label = (l: Float32Array, i: number) => (l[2 * i + 1]! > l[2 * i]! ? 1 : 0);
    const pSpam = (l: Float32Array, i: number) => 1 / (1 + Math.exp(l[2 * i]! - l[2 * i + 1]!));
    const n = items.length;
    let agreeOurs = 0, agreeQ8 = 0, right32 = 0, rightQ8 = 0, dp = 0, dl = 0;
    for (let i = 0; i < n; i++) {
      const a = label(logits.fp32, i), b = label(logits.q8, i);
      agreeOurs += a === ours[i] ? 1 : 0;
      agreeQ8 += a === b ? 1 : 0;
      right32 += a === gold[i] ? 1 : 0;
      rightQ8 += b === gold[i] ? 1 : 0;
      dp += Math.abs(pSpam(logits.fp32, i) - pSpam(logits.q8, i));
      dl = Math.max(dl, Math.abs(logits.fp32[2 * i]! - logits.q8[2 * i]!), Math.abs(logits.fp32[2 * i + 1]! - logits.q8[2 * i + 1]!));
    }
    const report = { n, fp32Accuracy: right32 / n, q8Accuracy: rightQ8 / n, agreementQ8: agreeQ8 / n, meanProbDiff: dp / n, maxLogitDiff: dl };
    console.log(`q8 on spam-assassin test: ${JSON.stringify(report)}`);
    expect(n).toBe(604);
    expect(agreeOurs).toBe(n);
    expect(report.fp32Accuracy).toBeGreaterThan(0.85); // the model learned something: ham is 69%
    expect(report.agreementQ8).toBeGreaterThanOrEqual(0.99);
    expect(Math.abs(report.q8Accuracy - report.fp32Accuracy)).toBeLessThanOrEqual(0.01);
    expect(report.meanProbDiff).toBeLessThanOrEqual(0.01);
    expect(report.maxLogitDiff).toBeLessThanOrEqual(0.25);
  } finally {
    model.dispose();
    await fp32.release();
    await q8.release();
  }
}, 10 * 60_000);
