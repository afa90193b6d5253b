/*
 * The known-model table of docs/models.md against the config-only fixtures in
 * test/fixtures/hub-configs/: every listed id has a fixture that our parser loads with the head
 * and labels the table says, the google shapes give the parameter counts keras-hub publishes for
 * its conversions of these repositories, and Python transformers accepts each config.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ARCHITECTURE_HEADS } from '../../src/checkpoint/statedict';
import { numLabels, readConfigFile, type ElectraConfig } from '../../src/config';

const ROOT = path.join(__dirname, '..', '..');
const DIR = path.join(ROOT, 'test', 'fixtures', 'hub-configs');

interface Row {
  id: string;
  head: string;
  shape: number[];
  labels: string[];
}

/** The rows of the "Known models" table. */
function table(): Row[] {
  const md = fs.readFileSync(path.join(ROOT, 'docs', 'models.md'), 'utf8');
  const section = md.split('## Known models')[1]!.split('\n## ')[0]!;
  return section
    .split('\n')
    .filter((l) => /^\| `[^`]+\/[^`]+` \|/.test(l))
    .map((l) => {
      const cells = l.split('|').map((c) => c.trim());
      return {
        id: /`(.+)`/.exec(cells[1]!)![1]!,
        head: /`(.+)`/.exec(cells[2]!)![1]!,
        shape: cells[4]!.split('/').map((x) => Number(x.trim())),
        labels: cells[5] ? cells[5].replace(/\(.*\)/, '').split(',').map((x) => x.trim()).filter(Boolean) : [],
      };
    });
}

const ROWS = table();
const dirOf = (id: string) => path.join(DIR, id.replace('/', '--'));

/** Parameters of keras-hub's ElectraBackbone for a config: embeddings, projection, layers, pooler. */
function backboneParams(c: ElectraConfig): number {
  const e = c.embedding_size;
  const h = c.hidden_size;
  const f = c.intermediate_size;
  const emb = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size) * e + 2 * e;
  const proj = e === h ? 0 : e * h + h;
  const layer = 4 * (h * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h;
  return emb + proj + c.num_hidden_layers * layer + (h * h + h);
}

// keras_hub/src/models/electra/electra_presets.py (converted from these HF repositories).
const KERAS_PARAMS: Record<string, number> = {
  'google/electra-small-discriminator': 13_548_800,
  'google/electra-small-generator': 13_548_800,
  'google/electra-base-discriminator': 109_482_240,
  'google/electra-base-generator': 33_576_960,
  'google/electra-large-discriminator': 335_141_888,
  'google/electra-large-generator': 51_065_344,
};

test('the table lists the models the issue names, each with a fixture', () => {
  const ids = ROWS.map((r) => r.id);
  for (const size of ['small', 'base', 'large']) for (const part of ['discriminator', 'generator']) expect(ids).toContain(`google/electra-${size}-${part}`);
  expect(ids).toContain('cross-encoder/ms-marco-electra-base');
  expect(ROWS.map((r) => r.head)).toEqual(expect.arrayContaining(['sequence-classification', 'token-classification', 'question-answering']));
  expect(fs.readdirSync(DIR).filter((d) => d !== 'README.md').sort()).toEqual(ids.map((i) => i.replace('/', '--')).sort());
});

describe.each(ROWS)('$id', (row) => {
  const c = readConfigFile(path.join(dirOf(row.id), 'config.json'));

  test(`loads in our parser as ${row.head}, shape ${row.shape.join('/')}`, () => {
    expect(ARCHITECTURE_HEADS[c.architectures![0]!]).toBe(row.head);
    expect([c.embedding_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size]).toEqual(row.shape);
    expect(c.vocab_size).toBe(30522);
    if (row.labels.length) {
      expect(Object.values(c.id2label!)).toEqual(row.labels);
      expect(numLabels(c)).toBe(row.labels.length);
    }
    if (KERAS_PARAMS[row.id] !== undefined) expect(backboneParams(c)).toBe(KERAS_PARAMS[row.id]);
  });
});

function pythonMissing(): string | undefined {
  const r = spawnSync('python3', ['-c', 'import transformers'], { encoding: 'utf8' });
  if (r.error) return `python3 not runnable: ${r.error.message}`;
  return r.status === 0 ? undefined : 'python3 lacks transformers (pip install transformers)';
}
const PY_MISSING = pythonMissing();
const pyTest = PY_MISSING && process.env.CI !== 'true' ? test.skip : test;

pyTest(`Python transformers accepts every config (AutoConfig and ElectraConfig.from_pretrained)${PY_MISSING ? ` [skipped: ${PY_MISSING}]` : ''}`, () => {
  const script = `
import json, sys, transformers
from transformers import AutoConfig, ElectraConfig
out = {}
for d in sys.argv[1:]:
    a = AutoConfig.from_pretrained(d)
    e = ElectraConfig.from_pretrained(d)
    assert type(a).__name__ == 'ElectraConfig', type(a)
    assert hasattr(transformers, a.architectures[0]), a.architectures[0]
    out[d] = [a.model_type, a.embedding_size, a.hidden_size, a.num_hidden_layers, a.num_attention_heads, a.intermediate_size, a.num_labels, e.hidden_size]
print(json.dumps(out))
`;
  const dirs = ROWS.map((r) => dirOf(r.id));
  const r = spawnSync('python3', ['-c', script, ...dirs], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_VERBOSITY: 'error' } });
  expect(r.status === 0 ? '' : r.stderr).toBe('');
  const py = JSON.parse(r.stdout) as Record<string, [string, number, number, number, number, number, number, number]>;
  for (const row of ROWS) {
    const c = readConfigFile(path.join(dirOf(row.id), 'config.json'));
    expect(py[dirOf(row.id)]).toEqual(['electra', ...row.shape, numLabels(c), c.hidden_size]);
  }
});
