/*
 * Token classification with plain tags (a POS-style task): tags are scored by word accuracy and
 * the best epoch is chosen by it, not by entity F1 (which is 0 for tags without B-/I- prefixes).
 * The task: sentences of the State of the Union corpus, each word tagged by a deterministic rule
 * (capitalised, number, punctuation, determiner, other), so a small model learns it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSotu } from '../../src/data/builtins';
import { Electra } from '../../src/electra';
import { betterEpoch, finetune } from '../../src/train/finetune';
import { trainVocabulary } from '../../src/tokenizer/vocab';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-pos-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The rule tagger: one plain tag per word. */
function tagOf(w: string): string {
  if (/^\d/.test(w)) return 'NUM';
  if (/^\p{P}+$/u.test(w)) return 'PUNCT';
  if (/^(the|a|an)$/i.test(w)) return 'DET';
  if (/^\p{Lu}/u.test(w)) return 'CAP';
  return 'OTHER';
}

/** Words of SOTU sentences (punctuation split off), 6..24 words each, in corpus order. */
function sentences(n: number): string[][] {
  const out: string[][] = [];
  for (const doc of loadSotu()) {
    for (const s of doc.text.split(/(?<=[.!?])\s+/)) {
      const words = s.match(/\p{L}+|\d+|[^\s\p{L}\d]/gu) ?? [];
      if (words.length >= 6 && words.length <= 24) out.push(words);
      if (out.length >= n) return out;
    }
  }
  return out;
}

function writeTask(name: string, rows: string[][]): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, rows.map((words) => JSON.stringify({ tokens: words, tags: words.map(tagOf) })).join('\n') + '\n');
  return f;
}

test('plain tags: scheme "plain", accuracy in every epoch, best epoch by accuracy (ties only to a lower dev loss)', async () => {
  const all = sentences(460);
  const train = writeTask('pos-train.jsonl', all.slice(0, 400));
  const dev = writeTask('pos-dev.jsonl', all.slice(400));
  // A cased vocabulary: capitalisation is part of the task.
  const corpus = path.join(tmp, 'corpus.txt');
  fs.writeFileSync(corpus, all.map((w) => w.join(' ')).join('\n\n') + '\n');
  const v = await trainVocabulary(corpus, { size: 600, lowercase: false });
  const tokDir = path.join(tmp, 'tok');
  v.tokenizer.save(tokDir);
  const m = await Electra.create(
    { vocab_size: 600, embedding_size: 32, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 },
    { head: 'discriminator', seed: 5 },
  );
  const model = path.join(tmp, 'model');
  await m.save(model, { extraFiles: fs.readdirSync(tokDir).map((f) => path.join(tokDir, f)) });
  m.dispose();

  const logs: string[] = [];
  const s = await finetune(
    { model, task: train, dev, head: 'token-classification', out: path.join(tmp, 'pos-out'), epochs: 5, lr: 3e-3, batch: 16, patience: 0, maxLength: 64 },
    { log: (l) => logs.push(l) },
  );
  expect(s.scheme).toBe('plain');
  expect(logs.join('\n')).toMatch(/tag scheme plain \(detected\): best epoch by accuracy/);
  // The share of the most frequent tag in dev: what a constant tagger scores.
  const devTags = all.slice(400).flatMap((w) => w.map(tagOf));
  const counts = new Map<string, number>();
  for (const t of devTags) counts.set(t, (counts.get(t) ?? 0) + 1);
  const majority = Math.max(...counts.values()) / devTags.length;
  for (const e of s.epochs) {
    expect(e.dev.metricName).toBe('accuracy');
    expect(e.dev.metric).toBe(e.dev.accuracy);
    expect(e.dev.accuracy).toBeGreaterThan(0);
    expect(Number.isFinite(e.dev.loss)).toBe(true);
    expect(e.dev).not.toHaveProperty('f1');
  }
  const accs = s.epochs.map((e) => e.dev.accuracy as number);
  expect(Math.max(...accs)).toBeGreaterThan(Math.max(0.85, majority + 0.1));
  // The best epoch is the one the rule picks: best accuracy; among equal ones the earliest unless a later one has a lower loss.
  let best = s.epochs[0]!;
  for (const e of s.epochs.slice(1)) if (betterEpoch(e.dev, best.dev)) best = e;
  expect(s.bestEpoch).toBe(best.epoch);
  expect(s.dev.accuracy).toBe(Math.max(...accs));
  expect(s.bestEpoch).toBeGreaterThan(1);
  expect(s.epochs.filter((e) => e.best).map((e) => e.epoch)).toContain(s.bestEpoch);

  // --metric f1 makes no sense for plain tags; --scheme iob2 is checked against the tags.
  await expect(finetune({ model, task: train, dev, head: 'token-classification', out: path.join(tmp, 'x1'), metric: 'f1' })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
  const bad = path.join(tmp, 'iob-bad.jsonl');
  fs.writeFileSync(bad, ['{"tokens": ["Paris", "is", "big"], "tags": ["B-LOC", "O", "O"]}', '{"tokens": ["in", "New", "York"], "tags": ["O", "I-LOC", "I-LOC"]}'].join('\n') + '\n');
  await expect(finetune({ model, task: bad, dev: bad, head: 'token-classification', out: path.join(tmp, 'x2'), scheme: 'iob2' })).rejects.toMatchObject({
    code: 'ERR_DATA',
    message: expect.stringMatching(/not IOB2: .*iob-bad\.jsonl:2: sentence 2, tag 2 .*I-LOC does not continue a B-LOC/),
  });
  expect(fs.existsSync(path.join(tmp, 'x2', 'model.safetensors'))).toBe(false);
}, 300_000);
