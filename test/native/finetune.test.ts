/*
 * Fine-tuning on tiny synthetic tasks that a small model learns in a few epochs: each head
 * trains, the dev metric rises, the best model is an HF directory with id2label that loads back
 * (and in Python transformers), and bad input gives ElectraErrors.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { ElectraError } from '../../src/errors';
import { finetune, layerLrScales } from '../../src/train/finetune';
import { ElectraTokenizer } from '../../src/tokenizer/tokenizer';
import { python, testIf } from '../prerequisites';

const WORDS = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega good bad paris rome berlin city is the of in capital what which'.split(' ');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-ft-'));
const MODEL = path.join(tmp, 'pretrained');

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}
const filler = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega'.split(' ');

const testPy = testIf(python(['torch', 'transformers']));

beforeAll(async () => {
  const tok = ElectraTokenizer.fromVocabList(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS]);
  const m = await Electra.create(
    { vocab_size: tok.vocabSize, embedding_size: 32, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 },
    { head: 'discriminator', seed: 3 },
  );
  const td = path.join(tmp, 'tok');
  tok.save(td);
  await m.save(MODEL, { extraFiles: fs.readdirSync(td).map((f) => path.join(td, f)) });
  m.dispose();
}, 60_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeLines(name: string, lines: string[]): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

/** Label = whether "good" or "bad" appears; the rest is filler. */
function sentimentRows(n: number, seed: number): string[] {
  const r = rng(seed);
  const rows = ['text,label'];
  for (let i = 0; i < n; i++) {
    const good = r() < 0.5;
    const w = Array.from({ length: 4 + Math.floor(r() * 8) }, () => filler[Math.floor(r() * filler.length)]!);
    w.splice(Math.floor(r() * w.length), 0, good ? 'good' : 'bad');
    rows.push(`${w.join(' ')},${good ? 'pos' : 'neg'}`);
  }
  return rows;
}

describe('layer-wise learning-rate decay', () => {
  test('head at the full rate, top layer d, embeddings d^(L+1) (not the original off-by-one)', () => {
    const names = ['electra.embeddings.word_embeddings.weight', 'electra.embeddings_project.weight', 'electra.encoder.layer.0.attention.self.query.weight', 'electra.encoder.layer.1.output.dense.bias', 'classifier.dense.weight', 'classifier.out_proj.bias'];
    const s = layerLrScales(names, 2, 0.8);
    expect(s[0]).toBeCloseTo(0.8 ** 3, 12);
    expect(s[1]).toBeCloseTo(0.8 ** 3, 12);
    expect(s[2]).toBeCloseTo(0.8 ** 2, 12);
    expect(s[3]).toBeCloseTo(0.8, 12);
    expect(s[4]).toBe(1);
    expect(s[5]).toBe(1);
    expect(layerLrScales(names, 2, 1)).toEqual([1, 1, 1, 1, 1, 1]);
  });
});

describe('finetune', () => {
  test('sequence classification learns, saves the best model with id2label, reloads with the same dev accuracy', async () => {
    const train = writeLines('sent-train.csv', sentimentRows(240, 1));
    const dev = writeLines('sent-dev.csv', sentimentRows(60, 2));
    const out = path.join(tmp, 'sent-out');
    const epochs: number[] = [];
    const s = await finetune({ model: MODEL, task: train, dev, test: dev, out, epochs: 6, lr: 2e-3, batch: 16, layerDecay: 0.9, patience: 0, seed: 1 }, { onEpoch: (r) => epochs.push(r.dev.metric) });
    expect(epochs.length).toBe(6);
    expect(s.dev.metric).toBeGreaterThan(0.9);
    expect(epochs[0]!).toBeLessThan(s.dev.metric + 1e-9);
    expect(s.test!.accuracy).toBeCloseTo(s.dev.accuracy as number, 10); // same file, best weights reloaded
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.architectures).toEqual(['ElectraForSequenceClassification']);
    expect(cfg.id2label).toEqual({ 0: 'neg', 1: 'pos' });
    expect(cfg.label2id).toEqual({ neg: 0, pos: 1 });
    expect(fs.existsSync(path.join(out, 'tokenizer.json'))).toBe(true);
    const res = JSON.parse(fs.readFileSync(path.join(out, 'eval_results.json'), 'utf8'));
    expect(res.bestEpoch).toBe(s.bestEpoch);
  }, 240_000);

  testPy('the fine-tuned sequence classifier opens in Python transformers with the same logits', async () => {
    const out = path.join(tmp, 'sent-out'); // written by the test above
    const texts = ['alpha good beta', 'gamma bad delta', 'pi rho good'];
    const py = execFileSync('python3', ['-c', `
import sys, json, torch
from transformers import AutoTokenizer, ElectraForSequenceClassification
tok = AutoTokenizer.from_pretrained(sys.argv[1]); m = ElectraForSequenceClassification.from_pretrained(sys.argv[1]).eval()
enc = tok(json.loads(sys.argv[2]), return_tensors='pt', padding=True)
with torch.no_grad(): print(json.dumps(m(**enc).logits.tolist()))
`, out, JSON.stringify(texts)]).toString();
    const want = JSON.parse(py) as number[][];
    const m = await Electra.load(out);
    const tok = ElectraTokenizer.load(out);
    for (let i = 0; i < texts.length; i++) {
      const e = await tok.encode(texts[i]!);
      const r = await m.forward({ inputIds: Int32Array.from(e.ids), shape: [1, e.ids.length] });
      expect(Math.abs(r.classification!.data[0]! - want[i]![0]!)).toBeLessThan(1e-4);
      expect(Math.abs(r.classification!.data[1]! - want[i]![1]!)).toBeLessThan(1e-4);
    }
    m.dispose();
  }, 240_000);

  test('regression: Spearman rises (value = number of "good")', async () => {
    const mk = (n: number, seed: number) => {
      const r = rng(seed);
      const rows = ['text,label'];
      for (let i = 0; i < n; i++) {
        const k = Math.floor(r() * 4);
        const w = Array.from({ length: 6 }, () => filler[Math.floor(r() * filler.length)]!);
        for (let j = 0; j < k; j++) w.splice(Math.floor(r() * w.length), 0, 'good');
        rows.push(`${w.join(' ')},${k}`);
      }
      return rows;
    };
    const s = await finetune({ model: MODEL, task: writeLines('reg.csv', mk(240, 3)), dev: writeLines('reg-dev.csv', mk(60, 4)), head: 'regression', out: path.join(tmp, 'reg-out'), epochs: 6, lr: 2e-3, batch: 16, patience: 0 });
    expect(s.dev.metricName).toBe('spearman');
    expect(s.dev.spearman).toBeGreaterThan(0.8);
    const cfg = JSON.parse(fs.readFileSync(path.join(tmp, 'reg-out', 'config.json'), 'utf8'));
    expect(cfg.num_labels ?? Object.keys(cfg.id2label).length).toBe(1);
    expect(cfg.problem_type).toBe('regression');
  }, 240_000);

  test('token classification: city names are B-LOC; entity F1 rises', async () => {
    const mk = (n: number, seed: number) => {
      const r = rng(seed);
      const cities = ['paris', 'rome', 'berlin'];
      return Array.from({ length: n }, () => {
        const tokens = Array.from({ length: 6 }, () => filler[Math.floor(r() * filler.length)]!);
        const tags = tokens.map(() => 'O');
        const at = Math.floor(r() * 6);
        tokens[at] = cities[Math.floor(r() * 3)]!;
        tags[at] = 'B-LOC';
        return JSON.stringify({ tokens, tags });
      });
    };
    const s = await finetune({ model: MODEL, task: writeLines('ner.jsonl', mk(200, 5)), dev: writeLines('ner-dev.jsonl', mk(50, 6)), head: 'token-classification', out: path.join(tmp, 'ner-out'), epochs: 6, lr: 2e-3, batch: 16, patience: 0 });
    expect(s.labels).toEqual(['O', 'B-LOC']);
    expect(s.dev.f1).toBeGreaterThan(0.9);
    const cfg = JSON.parse(fs.readFileSync(path.join(tmp, 'ner-out', 'config.json'), 'utf8'));
    expect(cfg.architectures).toEqual(['ElectraForTokenClassification']);
  }, 240_000);

  test('question answering: the answer is the word after "is"; F1 rises', async () => {
    const mk = (n: number, seed: number) => {
      const r = rng(seed);
      return Array.from({ length: n }, () => {
        const city = ['paris', 'rome', 'berlin'][Math.floor(r() * 3)]!;
        const pre = Array.from({ length: 1 + Math.floor(r() * 4) }, () => filler[Math.floor(r() * filler.length)]!).join(' ');
        const post = Array.from({ length: 1 + Math.floor(r() * 4) }, () => filler[Math.floor(r() * filler.length)]!).join(' ');
        const context = `${pre} the capital is ${city} ${post}`;
        return JSON.stringify({ question: 'what is the capital', context, answers: { text: [city], answer_start: [context.indexOf(` ${city} `) + 1] } });
      });
    };
    const s = await finetune({ model: MODEL, task: writeLines('qa.jsonl', mk(200, 7)), dev: writeLines('qa-dev.jsonl', mk(50, 8)), head: 'question-answering', out: path.join(tmp, 'qa-out'), epochs: 8, lr: 2e-3, batch: 16, patience: 0 });
    expect(s.dev.f1).toBeGreaterThan(0.8);
    expect(s.dev.exactMatch).toBeGreaterThan(0.8);
  }, 240_000);

  test('windows: a label word beyond the first window is learned with windows and not without; classify averages the windows', async () => {
    // 20-30 filler words, then "good" or "bad" among 4-8 more: always past the first 14 text
    // tokens (maxLength 16), so a truncating model never sees it.
    const longRows = (n: number, seed: number) => {
      const r = rng(seed);
      const rows = ['text,label'];
      for (let i = 0; i < n; i++) {
        const good = r() < 0.5;
        const pick = () => filler[Math.floor(r() * filler.length)]!;
        const tail = Array.from({ length: 4 + Math.floor(r() * 5) }, pick);
        tail.splice(Math.floor(r() * tail.length), 0, good ? 'good' : 'bad');
        rows.push(`${[...Array.from({ length: 20 + Math.floor(r() * 11) }, pick), ...tail].join(' ')},${good ? 'pos' : 'neg'}`);
      }
      return rows;
    };
    const train = writeLines('win-train.csv', longRows(200, 21));
    const dev = writeLines('win-dev.csv', longRows(60, 22));
    const common = { model: MODEL, task: train, dev, test: dev, epochs: 6, lr: 2e-3, batch: 16, layerDecay: 0.9, patience: 0, seed: 1, maxLength: 16 };
    const out = path.join(tmp, 'win-out');
    const w = await finetune({ ...common, out, windows: 3 });
    const t = await finetune({ ...common, out: path.join(tmp, 'win-trunc') });
    expect(w.trainExamples).toBe(200);
    expect(w.trainFeatures).toBeGreaterThan(2 * 200); // 22-39 text tokens: 2-3 windows of 14
    expect(t.trainFeatures).toBe(200);
    expect(w.dev.metric).toBeGreaterThan(0.9);
    expect(t.dev.metric).toBeLessThan(0.75); // the label word is never in the first window
    expect(w.dev.examples).toBe(60); // scored per text, not per window
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.electra_node_windows).toBe(3);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'win-trunc', 'config.json'), 'utf8')).electra_node_windows).toBeUndefined();
    // classify: the saved window count is the default; the result is the softmax of the mean of
    // the windows' logits, computed here from forward passes over the windows.
    const m = await Electra.load(out);
    const tok = ElectraTokenizer.load(out);
    try {
      const text = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau good upsilon phi';
      const [r] = await m.classify([text], { maxLength: 16 });
      const e = await tok.encode(text);
      const body = e.ids.slice(1, -1);
      expect(r!.windows).toBe(Math.ceil(body.length / 14));
      let m0 = 0, m1 = 0;
      for (let k = 0; k < r!.windows; k++) {
        const ids = [tok.clsId, ...body.slice(k * 14, (k + 1) * 14), tok.sepId];
        const f = await m.forward({ inputIds: Int32Array.from(ids), shape: [1, ids.length] });
        m0 += f.classification!.data[0]! / r!.windows;
        m1 += f.classification!.data[1]! / r!.windows;
      }
      const p1 = 1 / (1 + Math.exp(m0 - m1));
      expect(r!.scores.pos!).toBeCloseTo(p1, 5);
      expect(r!.truncated).toBe(0);
      const [one] = await m.classify([text], { maxLength: 16, windows: 1 });
      expect(one!.windows).toBe(1);
      expect(one!.truncated).toBe(body.length - 14);
      // More text than the windows hold: counted, or ERR_INPUT without truncation; pairs are refused.
      const long = Array.from({ length: 60 }, (_, i) => filler[i % filler.length]).join(' ');
      const [lr] = await m.classify([long], { maxLength: 16 });
      expect(lr!.windows).toBe(3);
      expect(lr!.truncated).toBe(60 - 42);
      await expect(m.classify([long], { maxLength: 16, truncation: false })).rejects.toThrow(/texts\[0\] has 62 tokens, more than 3 windows of 16/);
      await expect(m.classify([['alpha', 'beta']], { maxLength: 16 })).rejects.toThrow(/text pair; windows > 1 takes single texts/);
      await expect(m.classify(['alpha'], { windows: 0 })).rejects.toMatchObject({ code: 'ERR_INPUT' });
      await expect(m.classify(['alpha'], { windows: 1.5 })).rejects.toThrow(/windows must be an integer from 1 to 64/);
    } finally {
      m.dispose();
    }
    await expect(finetune({ ...common, head: 'token-classification', task: writeLines('win-tag.jsonl', ['{"tokens": ["paris"], "tags": ["B-LOC"]}']), dev: undefined, test: undefined, out: path.join(tmp, 'win-bad'), windows: 2 })).rejects.toThrow(
      /windows > 1 applies to sequence classification and regression/,
    );
  }, 240_000);

  test('early stopping ends the run when the dev metric stops improving', async () => {
    const train = writeLines('es-train.csv', sentimentRows(64, 9));
    const s = await finetune({ model: MODEL, task: train, dev: writeLines('es-dev.csv', sentimentRows(40, 10)), out: path.join(tmp, 'es-out'), epochs: 30, lr: 3e-3, batch: 16, patience: 1 });
    expect(s.stoppedEarly).toBe(true);
    expect(s.epochs.length).toBeLessThan(30);
    expect(s.epochs[s.epochs.length - 1]!.best).toBe(false);
  }, 240_000);

  test('bad input: unknown dev label, non-numeric regression label, missing model, bad options, a model without a tokenizer', async () => {
    const train = writeLines('bad-train.csv', sentimentRows(20, 11));
    const dev = writeLines('bad-dev.csv', ['text,label', 'alpha good,pos', 'beta bad,maybe']);
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        expect(e).toBeInstanceOf(ElectraError);
        return `${(e as ElectraError).code}: ${(e as Error).message}`;
      }
      return 'no error';
    };
    expect(await code(finetune({ model: MODEL, task: train, dev, out: path.join(tmp, 'b1') }))).toMatch(/^ERR_DATA: .*label "maybe" is not in the label set/);
    expect(await code(finetune({ model: MODEL, task: train, head: 'regression', out: path.join(tmp, 'b2') }))).toMatch(/^ERR_DATA: .*regression label "(pos|neg)" is not a number/);
    expect(await code(finetune({ model: path.join(tmp, 'nope'), task: train, out: path.join(tmp, 'b3') }))).toMatch(/^ERR_CHECKPOINT: .*config.json/);
    expect(await code(finetune({ model: MODEL, task: train, out: path.join(tmp, 'b4'), lr: -1 }))).toMatch(/^ERR_CONFIG: fine-tuning option lr/);
    expect(await code(finetune({ model: MODEL, task: train, out: path.join(tmp, 'b5'), batch: 0 }))).toMatch(/^ERR_CONFIG: fine-tuning option batch/);
    const noTok = path.join(tmp, 'notok');
    fs.mkdirSync(noTok);
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(MODEL, f), path.join(noTok, f));
    expect(await code(finetune({ model: noTok, task: train, out: path.join(tmp, 'b6') }))).toMatch(/^ERR_TOKENIZER: no tokenizer/);
    expect(fs.existsSync(path.join(tmp, 'b1'))).toBe(false);
  }, 120_000);

  test('trainStep: targets are checked before any kernel runs', async () => {
    const m = await Electra.load(MODEL, { head: 'sequence-classification', config: { num_labels: 3 } });
    const batch = { inputIds: new Int32Array([2, 10, 3, 2, 11, 3]), shape: [2, 3] as [number, number] };
    expect(() => m.setupTraining({ lr: -1 })).toThrow(/lr must be > 0/);
    m.setupTraining({ lr: 1e-3, totalSteps: 10 });
    await expect(m.trainStep(batch, { labels: new Int32Array([0, 3]) })).rejects.toThrow(/label 3 is outside \[0, 3\)/);
    await expect(m.trainStep(batch, { labels: new Int32Array([0]) })).rejects.toThrow(ElectraError);
    await expect(m.trainStep(batch, { labels: new Float32Array([0, 1]) })).rejects.toThrow(/integer class ids/);
    const r = await m.trainStep(batch, { labels: new Int32Array([0, 2]) });
    expect(r.step).toBe(1);
    expect(Number.isFinite(r.loss)).toBe(true);
    m.dispose();
    const d = await Electra.load(MODEL);
    expect(() => d.setupTraining({ lr: 1e-3 })).toThrow(/needs a task head/);
    d.dispose();
  }, 60_000);
});
