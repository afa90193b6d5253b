/* electra finetune as a user runs it, then electra predict on the model it saved (needs dist/: npx tsup). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra } from '../../src/electra';
import { ElectraTokenizer } from '../../src/tokenizer/tokenizer';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const FILLER = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon'.split(' ');

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/** 20-26 filler words, then "good" or "bad" (twice) among a few more: past the first window of 14 text tokens. */
function rows(n: number, seed: number): string {
  const r = rng(seed);
  const out = ['text,label'];
  const pick = () => FILLER[Math.floor(r() * FILLER.length)]!;
  for (let i = 0; i < n; i++) {
    const good = r() < 0.5;
    const tail = Array.from({ length: 3 + Math.floor(r() * 4) }, pick);
    tail.splice(Math.floor(r() * tail.length), 0, good ? 'good' : 'bad');
    tail.splice(Math.floor(r() * tail.length), 0, good ? 'good' : 'bad');
    out.push(`${[...Array.from({ length: 20 + Math.floor(r() * 7) }, pick), ...tail].join(' ')},${good ? 'pos' : 'neg'}`);
  }
  return out.join('\n') + '\n';
}

describe('electra finetune (CLI)', () => {
  let tmp: string, model: string;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-ft-cli-'));
    model = path.join(tmp, 'pretrained');
    const tok = ElectraTokenizer.fromVocabList(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'good', 'bad', ...FILLER]);
    const m = await Electra.create(
      { vocab_size: tok.vocabSize, embedding_size: 32, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 },
      { head: 'discriminator', seed: 3 },
    );
    const td = path.join(tmp, 'tok');
    tok.save(td);
    await m.save(model, { extraFiles: fs.readdirSync(td).map((f) => path.join(td, f)) });
    m.dispose();
    fs.writeFileSync(path.join(tmp, 'train.csv'), rows(200, 31));
    fs.writeFileSync(path.join(tmp, 'dev.csv'), rows(60, 32));
  }, 60_000);
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('--windows: trains, reports per epoch, saves the window count; predict uses it', () => {
    expect(run(['finetune', '--help']).stdout).toMatch(/--windows N/);
    const out = path.join(tmp, 'out');
    const r = run(['finetune', '--model', model, '--task', path.join(tmp, 'train.csv'), '--dev', path.join(tmp, 'dev.csv'), '--out', out, '--epochs', '8', '--lr', '3e-3', '--batch', '16', '--layer-decay', '0.9', '--patience', '0', '--max-len', '16', '--windows', '3', '--seed', '1', '--json']);
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-800) }).toEqual({ status: 0, stderr: '' });
    expect(r.stderr).toMatch(/200 training examples as \d+ windows of up to 16 tokens \(at most 3 per text\)/);
    expect(r.stderr.match(/^epoch \d: train loss/gm)?.length).toBe(8);
    const s = JSON.parse(r.stdout) as { dev: { accuracy: number; examples: number }; trainExamples: number; trainFeatures: number };
    expect(s.trainExamples).toBe(200);
    expect(s.trainFeatures).toBeGreaterThan(400);
    expect(s.dev.examples).toBe(60);
    expect(s.dev.accuracy).toBeGreaterThan(0.9);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).electra_node_windows).toBe(3);
    const text = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho good sigma tau';
    const p = run(['predict', '--model', out, '--max-length', '16', '--json', text, text.replace('good', 'bad')]);
    expect(p.status).toBe(0);
    const got = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { label: string; windows: number });
    expect(got.map((g) => g.windows)).toEqual([2, 2]);
    expect(got.map((g) => g.label)).toEqual(['pos', 'neg']);
    const one = run(['predict', '--model', out, '--max-length', '16', '--windows', '1', '--json', text]);
    expect(JSON.parse(one.stdout.trim()).windows).toBe(1);
  }, 240_000);

  test('bad --windows values are ERR_CONFIG; windows with a tagging head is refused before training', () => {
    const base = ['finetune', '--model', model, '--task', path.join(tmp, 'train.csv'), '--out', path.join(tmp, 'bad')];
    expect(run([...base, '--windows', '0']).stderr).toMatch(/ERR_CONFIG: .*windows/);
    expect(run([...base, '--windows', '65']).stderr).toMatch(/ERR_CONFIG: fine-tuning option windows/);
    const tag = path.join(tmp, 'tag.jsonl');
    fs.writeFileSync(tag, '{"tokens": ["good"], "tags": ["B-LOC"]}\n');
    expect(run(['finetune', '--model', model, '--task', tag, '--head', 'token-classification', '--out', path.join(tmp, 'bad2'), '--windows', '2']).stderr).toMatch(
      /ERR_CONFIG: windows > 1 applies to sequence classification and regression/,
    );
    expect(fs.existsSync(path.join(tmp, 'bad'))).toBe(false);
  }, 60_000);
});
