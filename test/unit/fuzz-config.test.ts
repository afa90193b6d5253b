/*
 * Fuzzes config.json: mutated texts (JSON-level: wrong types, huge/negative/NaN-like numbers,
 * deep nesting, long strings, deleted and added keys; byte-level: flips, truncation, splicing,
 * invalid UTF-8) through parseConfigText, which readConfigFile and inspectHfDir use, and a subset
 * through inspectHfDir on disk. Each case ends in a config or an ElectraError (ERR_CONFIG /
 * ERR_CHECKPOINT). An accepted config must also survive being written and read back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configToJson, parseConfig, parseConfigText, type ElectraConfig } from '../../src/config';
import { inspectHfDir } from '../../src/checkpoint/hf';
import { deepJsonText, fuzz, mutateBytes, mutateJson, NASTY_LITERALS, report, showJsonish, type Rand, fuzzTmpDir, expectBothOutcomes } from './fuzz-helpers';

const SEED = 0xc0f16;
const CASES = 12_000;
const DISK_CASES = 400;
const MODELS = path.join(__dirname, '..', 'fixtures', 'models');

const HF_SMALL = {
  architectures: ['ElectraForPreTraining'], attention_probs_dropout_prob: 0.1, embedding_size: 128, hidden_act: 'gelu', hidden_dropout_prob: 0.1,
  hidden_size: 256, initializer_range: 0.02, intermediate_size: 1024, layer_norm_eps: 1e-12, max_position_embeddings: 512, model_type: 'electra',
  num_attention_heads: 4, num_hidden_layers: 12, pad_token_id: 0, type_vocab_size: 2, vocab_size: 30522,
};
const CLS = {
  ...HF_SMALL, architectures: ['ElectraForSequenceClassification'], id2label: { '0': 'ham', '1': 'spam' }, label2id: { ham: 0, spam: 1 },
  problem_type: 'single_label_classification', classifier_dropout: null, summary_type: 'first', summary_use_proj: true,
};
const KEYS = [
  'model_type', 'vocab_size', 'embedding_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'hidden_act',
  'hidden_dropout_prob', 'attention_probs_dropout_prob', 'classifier_dropout', 'max_position_embeddings', 'type_vocab_size', 'initializer_range',
  'layer_norm_eps', 'pad_token_id', 'position_embedding_type', 'architectures', 'id2label', 'label2id', 'num_labels', 'problem_type', 'summary_type',
];

function bases(): { json: unknown[]; text: Buffer[] } {
  const json: unknown[] = [HF_SMALL, CLS, { vocab_size: 120 }, {}];
  for (const d of fs.readdirSync(MODELS)) {
    const f = path.join(MODELS, d, 'config.json');
    if (fs.existsSync(f)) json.push(JSON.parse(fs.readFileSync(f, 'utf8')));
  }
  return { json, text: json.map((j) => Buffer.from(JSON.stringify(j, null, 2))) };
}

function makeText(r: Rand, b: ReturnType<typeof bases>): string {
  const mode = r.int(10);
  if (mode < 6) {
    const v = mutateJson(r.pick(b.json), r, KEYS, 1 + r.int(3));
    return JSON.stringify(v, null, r.chance(0.5) ? 2 : undefined) ?? 'undefined';
  }
  if (mode < 9) {
    let bytes: Buffer = r.pick(b.text);
    for (let k = 1 + r.int(2); k > 0; k--) bytes = mutateBytes(bytes, r, b.text, ['{', '}', '[', ']', ',', ':', '"', '\\', ...NASTY_LITERALS, ...KEYS.map((k) => `"${k}"`)]);
    return bytes.toString('utf8');
  }
  // deep nesting (deeper than a recursive writer survives) or odd top levels
  const base = JSON.stringify(r.pick(b.json));
  switch (r.int(4)) {
    case 0:
      return `{"extra": ${deepJsonText(r)}, ${base.slice(1)}`;
    case 1:
      return `{"${r.pick(KEYS)}": ${deepJsonText(r)}}`;
    case 2:
      return deepJsonText(r);
    default:
      return r.pick(['[]', 'null', '1', '"electra"', '', ' ', '{}', '{"model_type": "bert"}', '\ufeff{}', `{"model_type": "${'e'.repeat(100_000)}"}`]);
  }
}

/** What an accepted config must satisfy. */
function checkConfig(c: ElectraConfig): void {
  const ints = ['vocab_size', 'embedding_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings', 'type_vocab_size'] as const;
  for (const k of ints) if (!Number.isSafeInteger(c[k]) || c[k] < 1) throw new Error(`accepted ${k} = ${c[k]}`);
  if (c.hidden_size % c.num_attention_heads !== 0) throw new Error('accepted hidden_size not divisible by heads');
  if (!(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size)) throw new Error(`accepted pad_token_id ${c.pad_token_id}`);
  for (const k of ['hidden_dropout_prob', 'attention_probs_dropout_prob'] as const) if (!(c[k] >= 0 && c[k] <= 1)) throw new Error(`accepted ${k} = ${c[k]}`);
  if (!Number.isFinite(c.layer_norm_eps) || !Number.isFinite(c.initializer_range)) throw new Error('accepted a non-finite float');
  // Writing it back and reading it again gives the same config.
  let again: ElectraConfig;
  try {
    again = parseConfig(JSON.parse(JSON.stringify(configToJson(c))));
  } catch (e) {
    throw new Error(`an accepted config does not survive a write and a read: ${(e as Error).message}`);
  }
  for (const k of [...ints, 'pad_token_id', 'hidden_act'] as const) if (again[k] !== c[k]) throw new Error(`round trip changed ${k}`);
}

test(`${CASES} mutated config.json texts end in a config or ERR_CONFIG (seed 0x${SEED.toString(16)})`, async () => {
  const b = bases();
  const t = await fuzz({
    name: 'config.json',
    seed: SEED,
    cases: CASES,
    codes: ['ERR_CONFIG'],
    make: (r) => makeText(r, b),
    run: (text) => checkConfig(parseConfigText(text, 'config.json')),
    show: showJsonish,
  });
  console.log(report('config.json (parseConfigText)', t));
  expect(t.cases).toBe(process.env.FUZZ_CASE !== undefined ? 1 : Number(process.env.FUZZ_CASES ?? CASES));
  if (process.env.FUZZ_CASE === undefined) {
    expect(t.ok).toBeGreaterThan(CASES / 20); // harmless mutations (unknown keys, valid values) still load
    expect(t.rejected).toBeGreaterThan(CASES / 3);
    expect(t.kinds).toBeGreaterThan(30); // many distinct failure kinds were reached
  }
  expect(t.slowestMs).toBeLessThan(2000);
});

test(`${DISK_CASES} mutated model directories through inspectHfDir end in a result or ERR_CONFIG/ERR_CHECKPOINT`, async () => {
  const b = bases();
  const dir = fuzzTmpDir('electra-fuzz-cfg-');
  try {
    const cfg = path.join(dir, 'config.json');
    const weights = path.join(dir, 'model.safetensors');
    const t = await fuzz({
      name: 'inspectHfDir',
      seed: SEED + 1,
      cases: DISK_CASES,
      codes: ['ERR_CONFIG', 'ERR_CHECKPOINT'],
      make: (r) => ({ text: makeText(r, b), weights: r.int(4) }),
      run: (c) => {
        fs.rmSync(cfg, { force: true, recursive: true });
        fs.rmSync(weights, { force: true, recursive: true });
        fs.writeFileSync(cfg, c.text);
        if (c.weights === 1) fs.writeFileSync(weights, Buffer.alloc(16));
        if (c.weights === 2) fs.mkdirSync(weights);
        const info = inspectHfDir(dir);
        checkConfig(info.config);
        if (info.weightsFile !== weights) throw new Error(`weights file ${info.weightsFile}`);
      },
      show: (c) => showJsonish(c.text),
    });
    console.log(report('config.json (inspectHfDir, on disk)', t));
    expectBothOutcomes(t, DISK_CASES);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
