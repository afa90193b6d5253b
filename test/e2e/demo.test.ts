/* electra demo (the Quick start's main job) end to end on a small corpus, and its corpus-aware reuse (needs dist/: npx tsup). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeCorpus } from './helpers';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'electra.cjs');
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });

describe('electra demo (CLI)', () => {
  let tmp: string, a: string, b: string, out: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-demo-'));
    a = path.join(tmp, 'a.txt');
    b = path.join(tmp, 'b.txt');
    writeCorpus(a, 150, 1);
    writeCorpus(b, 150, 2);
    out = path.join(tmp, 'demo');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const demo = (corpus: string[], extra: string[] = []) =>
    run(['demo', '--out', out, '--steps', '3', '--batch', '4', '--vocab-size', '200', '--device', 'cpu', ...corpus.flatMap((c) => ['--corpus', c]), ...extra]);

  test('pre-trains, saves a checkpoint, reports held-out detection and scores the two sentences', () => {
    const r = demo([a]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Pre-trained 3 steps of 4 x 128 tokens/);
    expect(r.stdout).toMatch(/ROC AUC\s+\d\.\d{3} -> \d\.\d{3}/);
    expect(r.stdout).toContain('(rights -> cotton)');
    expect(r.stderr).toMatch(/training a 200-token WordPiece vocabulary on .*a\.txt/);
    expect(fs.existsSync(path.join(out, 'run', 'checkpoint-3', 'discriminator', 'config.json'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'run', 'report.html'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'corpus.json'), 'utf8'))).toEqual([a]);
  }, 120_000);

  test('a second run on the same corpus reuses the vocabulary and the data; another corpus makes them again', () => {
    const vocab = fs.readFileSync(path.join(out, 'tokenizer', 'vocab.txt'), 'utf8');
    // --cuda-graph reaches the run: on the CPU its steps run eagerly, and the run says so once.
    const same = demo([a], ['--cuda-graph']);
    expect(same.status).toBe(0);
    expect(same.stderr.split('--cuda-graph: steps are running eagerly')).toHaveLength(2);
    expect(same.stderr).toMatch(/reusing the vocabulary/);
    expect(same.stderr).toMatch(/reusing the prepared data/);
    expect(same.stderr).toMatch(/replacing the previous demo run/);
    const other = demo([a, b]);
    expect(other.status).toBe(0);
    expect(other.stderr).toMatch(/was made from .*a\.txt.*: training the vocabulary and preparing the data again/);
    expect(other.stderr).not.toMatch(/reusing the vocabulary/);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'corpus.json'), 'utf8'))).toEqual([a, b]);
    expect(fs.readFileSync(path.join(out, 'tokenizer', 'vocab.txt'), 'utf8')).not.toBe(vocab);
  }, 240_000);

  test('an unreadable corpus.json counts as another corpus; standard input is refused', () => {
    fs.writeFileSync(path.join(out, 'corpus.json'), '{not json');
    const r = demo([a, b]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/was made from null, not .*: training the vocabulary and preparing the data again/);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'corpus.json'), 'utf8'))).toEqual([a, b]);
    const stdin = run(['demo', '--out', path.join(tmp, 'y'), '--corpus', '-']);
    expect(stdin.status).not.toBe(0);
    expect(stdin.stderr).toMatch(/ERR_CONFIG.*standard input/);
    expect(fs.existsSync(path.join(tmp, 'y'))).toBe(false);
  }, 120_000);

  test('a corpus that does not exist is ERR_IO naming it, and nothing is written', () => {
    const missing = path.join(tmp, 'nope.txt');
    const r = run(['demo', '--out', path.join(tmp, 'x'), '--steps', '1', '--corpus', missing]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ERR_IO/);
    expect(r.stderr).toContain(missing);
    expect(fs.existsSync(path.join(tmp, 'x', 'corpus.json'))).toBe(false);
  }, 60_000);
});
