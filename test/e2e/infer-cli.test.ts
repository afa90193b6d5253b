/* The inference commands as a user runs them: electra predict, embed and detect (needs dist/: npx tsup). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Electra } from '../../src/electra';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');
const FIX = path.join(__dirname, '..', 'fixtures', 'models');
const EXP = JSON.parse(fs.readFileSync(path.join(FIX, 'inference.json'), 'utf8')) as {
  texts: string[];
  pairs: [string, string][];
  seqcls: { texts: { probs: number[]; label: string; truncated: number }[]; pairs: { probs: number[]; label: string }[] };
  tokcls: { text: string; entities: { label: string; word: string; start: number; end: number }[] }[];
  qa: { question: string; context: string; answer: string; start: number; end: number }[];
  embed: Record<string, { mean: number[][]; cls: number[][] }>;
  detect: { tokens: string[]; probabilities: number[] }[];
};
const LABELS = ['negative', 'neutral', 'positive'];

const run = (args: string[], input?: string) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input });
const lines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const ok = (r: ReturnType<typeof run>) => expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-800) }).toEqual({ status: 0, stderr: '' });

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('electra predict / embed / detect', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-infer-cli-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('every command has --help', () => {
    for (const cmd of ['predict', 'embed', 'detect']) {
      const r = run([cmd, '--help']);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: electra ${cmd} --model DIR`));
      expect(r.stdout).toMatch(/--json/);
    }
    expect(run(['--help']).stdout).toMatch(/predict[\s\S]*embed/);
  });

  test('predict --json classifies texts as transformers does; --file - reads stdin; --pairs', () => {
    const r = run(['predict', '--model', path.join(FIX, 'seqcls'), '--json', '--batch', '3', ...EXP.texts]);
    ok(r);
    const got = lines(r.stdout) as unknown as { text: string; label: string; scores: Record<string, number>; truncated: number }[];
    expect(got.map((g) => g.text)).toEqual(EXP.texts);
    got.forEach((g, i) => {
      expect(g.label).toBe(EXP.seqcls.texts[i]!.label);
      expect(maxDiff(LABELS.map((l) => g.scores[l]!), EXP.seqcls.texts[i]!.probs)).toBeLessThan(1e-5);
      expect(g.truncated).toBe(EXP.seqcls.texts[i]!.truncated);
    });
    const s = run(['predict', '--model', path.join(FIX, 'seqcls'), '--file', '-'], `${EXP.texts[0]}\n\n${EXP.texts[1]}\r\n`);
    ok(s);
    const rows = s.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.map((x) => [x[0], x[2]])).toEqual([[EXP.seqcls.texts[0]!.label, EXP.texts[0]], [EXP.seqcls.texts[1]!.label, EXP.texts[1]]]);
    expect(Number(rows[0]![1])).toBeCloseTo(Math.max(...EXP.seqcls.texts[0]!.probs), 4);
    const file = path.join(tmp, 'pairs.tsv');
    fs.writeFileSync(file, EXP.pairs.map((p) => p.join('\t')).join('\n') + '\n');
    const p = run(['predict', '--model', path.join(FIX, 'seqcls'), '--json', '--pairs', '--file', file]);
    ok(p);
    (lines(p.stdout) as unknown as { pair: string; scores: Record<string, number> }[]).forEach((g, i) => {
      expect(g.pair).toBe(EXP.pairs[i]![1]);
      expect(maxDiff(LABELS.map((l) => g.scores[l]!), EXP.seqcls.pairs[i]!.probs)).toBeLessThan(1e-5);
    });
  });

  test('predict --windows scores long texts in windows, as the classify API does', async () => {
    const r = run(['predict', '--model', path.join(FIX, 'seqcls'), '--json', '--max-length', '8', '--windows', '3', ...EXP.texts]);
    ok(r);
    const got = lines(r.stdout) as unknown as { scores: Record<string, number>; truncated: number; windows: number }[];
    const m = await Electra.load(path.join(FIX, 'seqcls'));
    try {
      const want = await m.classify(EXP.texts, { maxLength: 8, windows: 3 });
      expect(want.some((w) => w.windows > 1)).toBe(true);
      got.forEach((g, i) => {
        expect(g.windows).toBe(want[i]!.windows);
        expect(g.truncated).toBe(want[i]!.truncated);
        expect(maxDiff(LABELS.map((l) => g.scores[l]!), LABELS.map((l) => want[i]!.scores[l]!))).toBeLessThan(1e-6);
      });
    } finally {
      m.dispose();
    }
    expect(run(['predict', '--model', path.join(FIX, 'qa'), '--question', 'q', '--windows', '2', 'x']).stderr).toMatch(/ERR_CONFIG: --windows needs a sequence-classification model/);
    expect(run(['predict', '--model', path.join(FIX, 'seqcls'), '--windows', '0', 'x']).stderr).toMatch(/ERR_CONFIG: .*windows/);
  });

  test('predict tags tokens, answers questions and detects replaced tokens by the head of the model', () => {
    const t = run(['predict', '--model', path.join(FIX, 'tokcls'), '--json', ...EXP.tokcls.map((x) => x.text)]);
    ok(t);
    (lines(t.stdout) as unknown as { entities: { label: string; word: string; start: number; end: number }[] }[]).forEach((g, i) => {
      expect(g.entities.map((e) => [e.label, e.word, e.start, e.end])).toEqual(EXP.tokcls[i]!.entities.map((e) => [e.label, e.word, e.start, e.end]));
    });
    const q = EXP.qa[1]!;
    const a = run(['predict', '--model', path.join(FIX, 'qa'), '--question', q.question, '--json', q.context]);
    ok(a);
    expect(lines(a.stdout)[0]).toMatchObject({ question: q.question, context: q.context, answer: q.answer, start: q.start, end: q.end });
    const human = run(['predict', '--model', path.join(FIX, 'qa'), '--question', q.question, q.context]);
    ok(human);
    expect(human.stdout.split('\t')[0]).toBe(q.answer);
    const d = run(['predict', '--model', path.join(FIX, 'disc-proj'), '--json', EXP.texts[0]!]);
    ok(d);
    expect((lines(d.stdout)[0] as { tokens: { token: string }[] }).tokens.map((x) => x.token)).toEqual(EXP.detect[0]!.tokens);
  });

  test('embed: --json rows as transformers, --normalize, --pooling cls, plain numbers', () => {
    const r = run(['embed', '--model', path.join(FIX, 'base'), '--json', ...EXP.texts]);
    ok(r);
    (lines(r.stdout) as unknown as { text: string; embedding: number[]; truncated: number }[]).forEach((g, i) => {
      expect(g.text).toBe(EXP.texts[i]);
      expect(maxDiff(g.embedding, EXP.embed.base!.mean[i]!)).toBeLessThan(1e-5);
    });
    const n = run(['embed', '--model', path.join(FIX, 'base'), '--json', '--normalize', '--pooling', 'cls', EXP.texts[0]!]);
    ok(n);
    const v = (lines(n.stdout)[0] as { embedding: number[] }).embedding;
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    const ref = EXP.embed.base!.cls[0]!;
    expect(maxDiff(v, ref.map((x) => x / Math.hypot(...ref)))).toBeLessThan(1e-5);
    const plain = run(['embed', '--model', path.join(FIX, 'seqcls'), EXP.texts[0]!, EXP.texts[1]!]);
    ok(plain);
    const rows = plain.stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
    expect(rows).toHaveLength(2);
    expect(maxDiff(rows[1]!, EXP.embed.seqcls!.mean[1]!)).toBeLessThan(1e-5);
    const bad = run(['embed', '--model', path.join(FIX, 'base'), '--pooling', 'max', 'x']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/ERR_CONFIG: --pooling must be mean or cls/);
  });

  test('detect --json and --file', () => {
    const file = path.join(tmp, 'texts.txt');
    fs.writeFileSync(file, EXP.texts.slice(0, 3).join('\n') + '\n');
    const r = run(['detect', '--model', path.join(FIX, 'disc-proj'), '--json', '--file', file]);
    ok(r);
    (lines(r.stdout) as unknown as { text: string; tokens: { token: string; probability: number }[] }[]).forEach((g, i) => {
      expect(g.text).toBe(EXP.texts[i]);
      expect(g.tokens.map((t) => t.token)).toEqual(EXP.detect[i]!.tokens);
      expect(maxDiff(g.tokens.map((t) => t.probability), EXP.detect[i]!.probabilities)).toBeLessThan(1e-5);
    });
  });

  test('--precision bf16: probabilities close to fp32 (not equal), a bad value is ERR_CONFIG', () => {
    const args = ['detect', '--model', path.join(FIX, 'disc-proj'), '--json', EXP.texts[0]!];
    const probs = (r: ReturnType<typeof run>) => (lines(r.stdout)[0] as unknown as { tokens: { probability: number }[] }).tokens.map((t) => t.probability);
    const f = run(args), b = run([...args, '--precision', 'bf16']);
    ok(f);
    ok(b);
    const d = maxDiff(probs(b), probs(f));
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.02);
    for (const cmd of ['predict', 'embed', 'detect']) {
      const r = run([cmd, '--model', path.join(FIX, 'disc-proj'), '--precision', 'fp16', 'x']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/ERR_CONFIG: --precision must be fp32 or bf16, got 'fp16'/);
    }
  });

  test('bad input: clear ElectraError codes and exit status 1, never a crash', () => {
    const cases: [string[], RegExp][] = [
      [['predict', 'x'], /ERR_CONFIG: --model is required/],
      [['predict', '--model', path.join(FIX, 'seqcls')], /ERR_CONFIG: give at least one text/],
      [['predict', '--model', path.join(FIX, 'seqcls'), 'fine', ''], /ERR_INPUT: classify: texts\[1\] is empty/],
      [['predict', '--model', path.join(FIX, 'seqcls'), '--no-truncation', EXP.texts[5]!], /ERR_INPUT: .*truncation: false/],
      [['predict', '--model', path.join(FIX, 'base'), 'x'], /ERR_CHECKPOINT: .*no task head/],
      [['predict', '--model', path.join(FIX, 'qa'), 'x'], /ERR_CONFIG: .*--question/],
      [['predict', '--model', path.join(FIX, 'seqcls'), '--file', path.join(tmp, 'missing.txt')], /ERR_IO/],
      [['detect', '--model', path.join(FIX, 'seqcls'), 'x'], /ERR_CHECKPOINT: detectReplaced needs a ElectraForPreTraining/],
    ];
    for (const [args, re] of cases) {
      const r = run(args);
      expect({ args, status: r.status }).toEqual({ args, status: 1 });
      expect(r.stderr).toMatch(re);
    }
    const bare = path.join(tmp, 'bare');
    fs.mkdirSync(bare);
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIX, 'seqcls', f), path.join(bare, f));
    const r = run(['predict', '--model', bare, 'x']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERR_TOKENIZER: classify needs a tokenizer: .* has neither tokenizer\.json nor vocab\.txt/);
  });
});
