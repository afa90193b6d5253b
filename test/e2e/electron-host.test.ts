/*
 * The Electron example's model host (examples/electron/model-host.js) under plain Node: forked as
 * a child_process, as Electron's utilityProcess would run it, with `require('electra-node')`
 * resolving to this package (dist/, built by `npm test`). Its answers (electra-node's classify,
 * detectReplaced and embed) are checked against model.forward() run here in-process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { ElectraTokenizer } from '../../src/tokenizer/tokenizer';

const ROOT = path.resolve(__dirname, '..', '..');
const HOST = path.join(ROOT, 'examples', 'electron', 'model-host.js');
const FIX = path.join(ROOT, 'test', 'fixtures', 'models');

// 99 tokens, as the fixtures' vocabulary: BERT specials, then words.
const WORDS = 'the chef cooked ate a meal in kitchen good bad day night was is it and of to we they'.split(' ');
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS];
while (VOCAB.length < 99) VOCAB.push(`w${VOCAB.length}`);

interface Answer {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}

let tmp: string;
let child: ChildProcess;
const dirs: Record<string, string> = {};
const pending = new Map<number, (a: Answer) => void>();
let nextId = 1;

function ask(req: Record<string, unknown>): Promise<Answer> {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    child.send({ ...req, id });
  });
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-electron-host-'));
  // `require('electra-node')` in the host resolves here, as from the example's node_modules
  fs.mkdirSync(path.join(tmp, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(tmp, 'node_modules', 'electra-node'), 'dir');
  for (const [name, fixture] of Object.entries({ classifier: 'seqcls', discriminator: 'disc-proj', encoder: 'base' })) {
    const d = path.join(tmp, name);
    fs.mkdirSync(d);
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIX, fixture, f), path.join(d, f));
    fs.writeFileSync(path.join(d, 'vocab.txt'), VOCAB.join('\n') + '\n');
    dirs[name] = d;
  }
  child = fork(HOST, [], { env: { ...process.env, NODE_PATH: path.join(tmp, 'node_modules'), ELECTRA_THREADS: '1' }, stdio: 'pipe' });
  child.on('message', (m: Answer) => {
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
});

afterAll(() => {
  child?.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function reference(dir: string, texts: string[]) {
  const tok = ElectraTokenizer.load(dir);
  const model = await Electra.load(dir, { tokenizer: false });
  const enc = await tok.encodeBatch(texts);
  const T = Math.max(...enc.map((e) => e.ids.length));
  const ids = new Int32Array(texts.length * T), mask = new Int32Array(texts.length * T);
  enc.forEach((e, b) => {
    ids.set(e.ids, b * T);
    mask.fill(1, b * T, b * T + e.ids.length);
  });
  const out = await model.forward({ inputIds: ids, attentionMask: mask, shape: [texts.length, T] }, { hidden: true });
  return { model, tok, out, T, mask };
}

const TEXTS = ['the chef cooked a meal in the kitchen', 'it was a bad day', 'good'];

test('info answers with the runtime', async () => {
  const a = await ask({ op: 'info' });
  expect(a.ok).toBe(true);
  const r = a.result as { libtorch: string; electron: string | null; threads: number };
  expect(r.libtorch).toMatch(/^2\./);
  expect(r.electron).toBeNull(); // plain Node
  expect(r.threads).toBe(1); // ELECTRA_THREADS
});

test('classify: labels and softmax scores as in-process', async () => {
  const a = await ask({ op: 'classify', model: dirs.classifier, texts: TEXTS });
  expect(a.error).toBeUndefined();
  const got = a.result as { label: string; score: number; scores: Record<string, number> }[];
  const { model, out } = await reference(dirs.classifier!, TEXTS);
  const logits = out.classification!.data;
  const names = ['negative', 'neutral', 'positive'];
  expect(got).toHaveLength(TEXTS.length);
  got.forEach((g, b) => {
    const row = Array.from(logits.subarray(b * 3, b * 3 + 3));
    const e = row.map((x) => Math.exp(x - Math.max(...row)));
    const s = e.reduce((x, y) => x + y, 0);
    names.forEach((n, i) => expect(g.scores[n]).toBeCloseTo(e[i]! / s, 5));
    expect(g.label).toBe(names[row.indexOf(Math.max(...row))]);
  });
  model.dispose();
});

test('detect: per-token probabilities, the sigmoid of the discriminator logits', async () => {
  const text = 'the chef ate the meal';
  const a = await ask({ op: 'detect', model: dirs.discriminator, text });
  expect(a.error).toBeUndefined();
  const got = a.result as { tokens: { token: string; probability: number; replaced: boolean }[]; truncated: number };
  const { model, out } = await reference(dirs.discriminator!, [text]);
  const logits = out.discriminator!.data;
  expect(got.tokens.map((t) => t.token)).toEqual(['[CLS]', 'the', 'chef', 'ate', 'the', 'meal', '[SEP]']);
  got.tokens.forEach((t, i) => {
    expect(t.probability).toBeCloseTo(1 / (1 + Math.exp(-logits[i]!)), 5);
    expect(t.replaced).toBe(t.probability > 0.5);
  });
  expect(got.truncated).toBe(0);
  model.dispose();
});

test('embed: masked mean pooling, L2-normalised, padding ignored', async () => {
  const a = await ask({ op: 'embed', model: dirs.encoder, texts: TEXTS, pooling: 'mean', normalize: true });
  expect(a.error).toBeUndefined();
  const got = a.result as number[][];
  const { model, out, T, mask } = await reference(dirs.encoder!, TEXTS);
  const H = 32, h = out.hidden!.data;
  expect(got).toHaveLength(TEXTS.length);
  got.forEach((v, b) => {
    expect(v).toHaveLength(H);
    const sum = new Array<number>(H).fill(0);
    for (let t = 0; t < T; t++) if (mask[b * T + t]) for (let j = 0; j < H; j++) sum[j]! += h[(b * T + t) * H + j]!;
    const n = Math.hypot(...sum);
    v.forEach((x, j) => expect(x).toBeCloseTo(sum[j]! / n, 5));
  });
  // the single-text embedding equals the padded batch's row
  const one = await ask({ op: 'embed', model: dirs.encoder, texts: [TEXTS[2]] });
  (one.result as number[][])[0]!.forEach((x, j) => expect(x).toBeCloseTo(got[2]![j]!, 5));
  model.dispose();
});

test('errors come back as answers, and the host keeps serving', async () => {
  const u = await ask({ op: 'fly' });
  expect(u).toMatchObject({ ok: false, error: { code: 'ERR_INPUT' } });
  const wrongHead = await ask({ op: 'classify', model: dirs.discriminator, texts: ['good'] });
  expect(wrongHead).toMatchObject({ ok: false, error: { code: 'ERR_CHECKPOINT' } });
  const missing = await ask({ op: 'embed', model: path.join(tmp, 'nope'), texts: ['good'] });
  expect(missing.ok).toBe(false);
  expect(missing.error!.message).toMatch(/nope/);
  const empty = await ask({ op: 'embed', model: dirs.encoder, texts: ['good', ' '] });
  expect(empty).toMatchObject({ ok: false, error: { code: 'ERR_INPUT' } });
  const noModel = await ask({ op: 'classify', texts: ['good'] });
  expect(noModel).toMatchObject({ ok: false, error: { code: 'ERR_INPUT' } });
  expect((await ask({ op: 'info' })).ok).toBe(true);
});
