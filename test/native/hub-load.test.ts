/*
 * Models by Hub id, end to end on the tiny fixtures served by the mock Hub: Electra.load online
 * and offline, finetune({ model }) and pretrain({ initFrom, tokenizer }) from ids, and the cache
 * shared with Python both ways (hf_hub_download fills a cache we load offline; Python opens the
 * cache we filled with local_files_only=True and gives the same outputs).
 */
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { prepare } from '../../src/data/prepare';
import { Electra } from '../../src/electra';
import { ElectraError } from '../../src/errors';
import type { HubOptions } from '../../src/hub';
import type { NativeTensor } from '../../src/native';
import { ElectraTokenizer } from '../../src/tokenizer/tokenizer';
import { finetune } from '../../src/train/finetune';
import { pretrain } from '../../src/train/loop';
import { writeCorpus } from '../e2e/helpers';
import { FIXTURES, MODEL_FILES, MockHub, repoFromDir } from '../unit/hub-mock';

const run = promisify(execFile);

function pythonMissing(): string | undefined {
  if (process.env.ELECTRA_TEST_PYTHON === '0') return 'ELECTRA_TEST_PYTHON=0';
  const r = spawnSync('python3', ['-c', 'import torch, transformers, huggingface_hub, safetensors'], { encoding: 'utf8' });
  if (r.error) return `python3 not runnable: ${r.error.message}`;
  return r.status === 0 ? undefined : 'python3 lacks torch/transformers/huggingface_hub (pip install torch transformers)';
}
const PY_MISSING = pythonMissing();
const pyTest = PY_MISSING && process.env.CI !== 'true' ? test.skip : test;
const pyName = (name: string) => (PY_MISSING ? `${name} [skipped: ${PY_MISSING}]` : name);

let hub: MockHub;
let tmp: string;
const exp: Map<string, NativeTensor> = readSafetensors(path.join(FIXTURES, 'disc-proj', 'expected.safetensors')).tensors;

function batch() {
  const ids = exp.get('input_ids')!;
  return {
    inputIds: Int32Array.from(ids.data as Int32Array),
    attentionMask: Int32Array.from(exp.get('attention_mask')!.data as Int32Array),
    tokenTypeIds: Int32Array.from(exp.get('token_type_ids')!.data as Int32Array),
    shape: [ids.shape[0]!, ids.shape[1]!] as [number, number],
  };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function discriminatorLogits(model: Electra): Promise<Float32Array> {
  try {
    return (await model.forward(batch())).discriminator!.data;
  } finally {
    model.dispose();
  }
}

/** Runs `fn` with HF_* variables set (and every other HF_* variable unset), then restores them. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (/^(HF_|HUGGING)/.test(k) || k === 'TRANSFORMERS_OFFLINE') delete process.env[k];
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

const want = exp.get('discriminator_logits')!.data as Float32Array;

beforeAll(async () => {
  hub = await new MockHub().start();
  hub.add('tiny/disc', repoFromDir(path.join(FIXTURES, 'disc-proj'), MODEL_FILES, 'disc'));
  hub.add('tiny/seqcls', repoFromDir(path.join(FIXTURES, 'seqcls'), MODEL_FILES, 'seqcls'));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-hub-load-'));
});

afterAll(async () => {
  await hub.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  hub.log.length = 0;
});

test("Electra.load('org/name') online, then offline with no request; the same outputs as the directory", async () => {
  const cacheDir = path.join(tmp, 'cache-load');
  const hubOpts: HubOptions = { endpoint: hub.endpoint, cacheDir, token: false, offline: false, progress: false };
  const online = await Electra.load('tiny/disc', { hub: hubOpts });
  expect(online.source).toMatch(/models--tiny--disc[/\\]snapshots[/\\][0-9a-f]{40}$/);
  expect(online.tokenizer?.vocabSize).toBe(99);
  expect(maxDiff(await discriminatorLogits(online), want)).toBeLessThan(1e-5);
  expect(hub.requests('cdn').length).toBe(1);
  hub.log.length = 0;
  const offline = await Electra.load('tiny/disc', { hub: { ...hubOpts, offline: true } });
  expect(maxDiff(await discriminatorLogits(offline), want)).toBeLessThan(1e-5);
  expect(hub.requests()).toEqual([]);
  // A tokenizer by id too.
  const withTok = await Electra.load(path.join(FIXTURES, 'gen'), { tokenizer: 'tiny/seqcls', hub: hubOpts });
  expect(withTok.tokenizer?.vocabSize).toBe(99);
  withTok.dispose();
});

test('the environment alone: HF_ENDPOINT and HF_HUB_CACHE, then HF_HUB_OFFLINE=1', async () => {
  const cacheDir = path.join(tmp, 'cache-env');
  await withEnv({ HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir, HF_HUB_DISABLE_PROGRESS_BARS: '1' }, async () => {
    const m = await Electra.load('tiny/seqcls');
    expect(m.head).toBe('sequence-classification');
    m.dispose();
  });
  expect(fs.existsSync(path.join(cacheDir, 'models--tiny--seqcls', 'refs', 'main'))).toBe(true);
  hub.log.length = 0;
  await withEnv({ HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir, HF_HUB_OFFLINE: '1' }, async () => {
    const m = await Electra.load('tiny/seqcls');
    m.dispose();
    const e = await Electra.load('tiny/disc').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ElectraError);
    expect((e as ElectraError).code).toBe('ERR_OFFLINE');
    expect((e as ElectraError).message).toContain('electra download tiny/disc');
  });
  expect(hub.requests()).toEqual([]);
});

test('finetune({ model: id }) and pretrain({ initFrom: id, tokenizer: id })', async () => {
  const cacheDir = path.join(tmp, 'cache-train');
  await withEnv({ HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir, HF_HUB_DISABLE_PROGRESS_BARS: '1' }, async () => {
    const rows = ['text,label'];
    for (let i = 0; i < 16; i++) rows.push(`${i % 2 ? 'good' : 'bad'} day number ${i},${i % 2}`);
    const task = path.join(tmp, 'task.csv');
    fs.writeFileSync(task, rows.join('\n') + '\n');
    const ft = await finetune({ model: 'tiny/disc', task, dev: task, out: path.join(tmp, 'ft'), epochs: 1, batch: 8, maxLength: 16, lr: 1e-3 });
    expect(fs.existsSync(path.join(tmp, 'ft', 'config.json'))).toBe(true);
    expect(ft.out).toBe(path.join(tmp, 'ft'));

    const corpus = path.join(tmp, 'corpus.txt');
    writeCorpus(corpus, 30);
    const tokDir = path.join(cacheDir, 'models--tiny--disc', 'snapshots', fs.readFileSync(path.join(cacheDir, 'models--tiny--disc', 'refs', 'main'), 'utf8'));
    const data = path.join(tmp, 'data');
    await prepare({ corpus, tokenizer: ElectraTokenizer.load(tokDir), out: data, maxLength: 32, workers: 0, progress: false });
    const disc = { embedding_size: 16, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 37, max_position_embeddings: 40 };
    const s = await pretrain({ out: path.join(tmp, 'pt'), data, tokenizer: 'tiny/disc', initFrom: 'tiny/disc', preset: 'tiny', discriminator: disc, steps: 1, batch: 4, evalEvery: 0, saveEvery: 0, progress: false, distributed: false });
    expect(s.step).toBe(1);
  });
}, 300_000);

pyTest(pyName('Python hf_hub_download (HF_ENDPOINT at the mock) fills a cache that Electra.load reads offline'), async () => {
  const cacheDir = path.join(tmp, 'cache-py-first');
  const script = `
from huggingface_hub import hf_hub_download
for f in ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']:
    print(hf_hub_download('tiny/disc', f))
`;
  const env: NodeJS.ProcessEnv = { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_HUB_OFFLINE: '0' };
  delete env.HF_TOKEN;
  const r = await run('python3', ['-c', script], { env, encoding: 'utf8' });
  expect(r.stdout.trim().split('\n')).toHaveLength(4);
  expect(hub.requests('cdn').length).toBe(1);
  hub.log.length = 0;
  const m = await Electra.load('tiny/disc', { hub: { cacheDir, offline: true } });
  expect(maxDiff(await discriminatorLogits(m), want)).toBeLessThan(1e-5);
  expect(hub.requests()).toEqual([]);
}, 120_000);

pyTest(pyName('our cache opens in Python with local_files_only=True: the same outputs, the same tokens'), async () => {
  const cacheDir = path.join(tmp, 'cache-node-first');
  const m = await Electra.load('tiny/disc', { hub: { endpoint: hub.endpoint, cacheDir, token: false, offline: false, progress: false } });
  const ours = (await m.forward(batch())).discriminator!.data;
  const ourIds = (await m.tokenizer!.encode('the capital of paris is rome')).ids;
  m.dispose();
  hub.log.length = 0;
  const script = `
import json, sys, torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, ElectraForPreTraining
cache, expected = sys.argv[1], sys.argv[2]
m = ElectraForPreTraining.from_pretrained('tiny/disc', cache_dir=cache, local_files_only=True).eval()
e = load_file(expected)
with torch.no_grad():
    out = m(input_ids=e['input_ids'].long(), attention_mask=e['attention_mask'].long(), token_type_ids=e['token_type_ids'].long()).logits
tok = AutoTokenizer.from_pretrained('tiny/disc', cache_dir=cache, local_files_only=True)
print(json.dumps({'logits': out.flatten().tolist(), 'ids': tok('the capital of paris is rome')['input_ids']}))
`;
  const env = { ...process.env, HF_HUB_OFFLINE: '1', HF_HUB_DISABLE_TELEMETRY: '1', HF_ENDPOINT: hub.endpoint };
  const r = await run('python3', ['-c', script, cacheDir, path.join(FIXTURES, 'disc-proj', 'expected.safetensors')], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  const py = JSON.parse(r.stdout.trim().split('\n').pop()!) as { logits: number[]; ids: number[] };
  expect(maxDiff(py.logits, ours)).toBeLessThan(1e-5);
  expect(py.ids).toEqual(Array.from(ourIds));
  expect(hub.requests()).toEqual([]);
}, 120_000);
