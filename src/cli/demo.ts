/**
 * `electra demo` (npm run demo): the main job end to end on the SOTU corpus: a WordPiece
 * vocabulary (reused when present), prepared data (reused), a short pre-training run (about five
 * minutes on 2 CPU cores; CUDA when available), a checkpoint, and the discriminator spotting a
 * replaced word. Learning is shown as the held-out replaced-token precision/recall at the start
 * and at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isBuiltinCorpus } from '../data/builtins';
import { Electra } from '../electra';
import { ElectraError } from '../errors';
import { detectReplaced } from '../infer/detect';
import { runtime } from '../runtime';
import { pretrain, type RunSummary } from '../train/loop';
import type { ElectraTokenizer } from '../tokenizer/tokenizer';
import { ensureData, ensureVocab } from '../train/pipeline';
import { cudaGraphOf, num, parse } from './args';
import { formatDetection } from './detect';

/** The demo model: ELECTRA-Small's shape scaled down so that five CPU minutes show learning. */
export const DEMO_MODEL = {
  embedding_size: 96,
  hidden_size: 96,
  num_hidden_layers: 3,
  num_attention_heads: 2,
  intermediate_size: 384,
  max_position_embeddings: 128,
};

const SENTENCES: [string, string, string][] = [
  ['the congress must act now to protect the rights of every american citizen .', 'rights', 'cotton'],
  ['we will reduce the federal deficit and balance the budget this year .', 'budget', 'river'],
];

/** What the vocabulary and data under a demo folder were made from: the list, null when unknown, undefined when there are none. */
function previousCorpus(corpusFile: string, tokDir: string): unknown {
  if (fs.existsSync(corpusFile)) {
    try {
      return JSON.parse(fs.readFileSync(corpusFile, 'utf8'));
    } catch {
      return null;
    }
  }
  return fs.existsSync(tokDir) ? ['sotu'] : undefined;
}

function parseDemoArgs(argv: string[]) {
  return parse(argv, {
    out: { type: 'string' },
    minutes: { type: 'string' },
    steps: { type: 'string' },
    device: { type: 'string' },
    'vocab-size': { type: 'string' },
    batch: { type: 'string' },
    'generator-bias': { type: 'string' },
    corpus: { type: 'string', multiple: true },
    'cuda-graph': { type: 'boolean' },
    'no-cuda-graph': { type: 'boolean' },
  }).values;
}

export async function run(argv: string[]): Promise<number> {
  const v = parseDemoArgs(argv);
  if (v.help) {
    process.stdout.write(
      'usage: electra demo [--out runs/demo] [--minutes 5] [--steps N] [--device cpu|cuda] [--vocab-size 8192] [--batch 32] [--generator-bias zeros|unigram] [--corpus sotu ...] [--no-cuda-graph]\n' +
        '  --corpus SRC  pre-training text, repeatable (default: sotu). `--corpus sotu --corpus spam-assassin-train` adds the\n' +
        '                unlabelled e-mails of the spam-assassin train split (task-adaptive pre-training; never dev/test e-mails)\n' +
        '  --no-cuda-graph  CUDA: every step eagerly (by default CUDA replays the whole step as a captured graph, as electra pretrain)\n',
    );
    return 0;
  }
  const out = path.resolve(v.out ?? 'runs/demo');
  const minutes = num(v.minutes, 'minutes', { min: 0.1 }) ?? 5;
  const rt = runtime();
  const device = v.device ?? (rt.cudaAvailable ? 'cuda' : 'cpu');
  process.stderr.write(`electra demo: libtorch ${rt.libtorchVersion}, device ${device}, budget ${minutes} min of training\n`);
  const { tok, tokDir, dataDir } = await prepareInputs(v, out);
  const runDir = path.join(out, 'run');
  if (fs.existsSync(runDir)) {
    process.stderr.write(`electra demo: replacing the previous demo run in ${runDir}\n`);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
  const { summary: s, batch } = await train(v, { runDir, dataDir, tokDir, device, minutes });
  printSummary(s, batch, device, runDir);
  await showDetections(s.checkpoint!, tok, device);
  return 0;
}

type DemoValues = ReturnType<typeof parseDemoArgs>;

function say(x: string): void {
  process.stdout.write(x + '\n');
}

/** The vocabulary and the prepared data, reused from an earlier demo made from the same corpus. */
async function prepareInputs(v: DemoValues, out: string): Promise<{ tok: ElectraTokenizer; tokDir: string; dataDir: string }> {
  const tokDir = path.join(out, 'tokenizer');
  const dataDir = path.join(out, 'data');
  // Files and folders by absolute path, so a later run from another directory compares equal.
  const corpus = (v.corpus?.length ? v.corpus : ['sotu']).map((c) => (isBuiltinCorpus(c) ? c : path.resolve(c)));
  if (v.corpus?.includes('-')) throw new ElectraError('ERR_CONFIG', 'electra demo reads its corpus twice (vocabulary, then data) and cannot take standard input: write it to a file');
  // The vocabulary and the prepared data are reused only when they were made from the same corpus
  // (a folder from before corpus.json existed was made from sotu; an unreadable record, from
  // something unknown).
  const corpusFile = path.join(out, 'corpus.json');
  const previous = previousCorpus(corpusFile, tokDir);
  if (previous !== undefined && JSON.stringify(previous) !== JSON.stringify(corpus)) {
    process.stderr.write(`electra demo: ${out} was made from ${JSON.stringify(previous)}, not ${JSON.stringify(corpus)}: training the vocabulary and preparing the data again\n`);
    fs.rmSync(tokDir, { recursive: true, force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const tok = await ensureVocab(corpus, tokDir, num(v['vocab-size'], 'vocab-size', { int: true, min: 64 }) ?? 8192);
  await ensureData(corpus, tok, dataDir, 128);
  fs.writeFileSync(corpusFile, JSON.stringify(corpus) + '\n');
  return { tok, tokDir, dataDir };
}

/** The demo's pre-training run, sized to the time budget. */
async function train(v: DemoValues, p: { runDir: string; dataDir: string; tokDir: string; device: string; minutes: number }): Promise<{ summary: RunSummary; batch: number }> {
  const { runDir, dataDir, tokDir, device, minutes } = p;
  const onGpu = device.startsWith('cuda');
  const batch = num(v.batch, 'batch', { int: true, min: 1 }) ?? (onGpu ? 128 : 32);
  // Steps sized to the time budget (measured on 2 cores: ~0.33 s per 32x128 step); the run also
  // stops at the budget, so a slower machine still finishes on time.
  const steps = num(v.steps, 'steps', { int: true, min: 1 }) ?? (onGpu ? 20000 : Math.max(50, Math.round((minutes * 60) / 0.35)));
  const s = await pretrain({
    out: runDir,
    data: dataDir,
    tokenizer: tokDir,
    preset: 'small',
    discriminator: DEMO_MODEL,
    generatorFraction: 0.25,
    steps,
    batch,
    lr: 5e-4,
    // Replacements sampled at temperature 2 (the paper: 1). At this size and budget a generator
    // sampling at 1 soon draws words at their corpus frequency, and the discriminator, which
    // then needs context to tell replacements apart, stays at its prior for far longer than
    // five minutes; flatter samples give it a learnable signal (AUC 0.5 -> 0.75 in 300 steps).
    temperature: 2,
    generatorBias: (v['generator-bias'] ?? 'zeros') as 'zeros' | 'unigram',
    warmupSteps: Math.min(500, Math.ceil(steps / 10)),
    evalEvery: Math.max(50, Math.round(steps / 10)),
    evalExamples: 256,
    saveEvery: Math.max(100, Math.round(steps / 3)),
    keep: 2,
    maxSeconds: minutes * 60,
    device,
    precision: onGpu ? 'bf16' : 'fp32',
    cudaGraph: cudaGraphOf(v['cuda-graph'], v['no-cuda-graph']),
    seed: 1,
  });
  return { summary: s, batch };
}

/** The start and end of the held-out replaced-token detection, and where the results are. */
function printSummary(s: RunSummary, batch: number, device: string, runDir: string): void {
  if (!s.checkpoint) throw new ElectraError('ERR_CHECKPOINT', 'the demo run wrote no checkpoint');
  const e0 = s.firstEval!, e1 = s.lastEval!;
  say('');
  say(`Pre-trained ${s.step} steps of ${batch} x 128 tokens in ${s.seconds.toFixed(0)} s (${Math.round(s.tokensPerSecond).toLocaleString('en-US')} tokens/s on ${device}).`);
  say(`Held-out replaced-token detection (discriminator), start (random init) -> end; ${(100 * e1.replacedFraction).toFixed(1)}% of tokens replaced:`);
  if (e0.replacedRPrecision !== undefined && e1.replacedRPrecision !== undefined) {
    say(`  precision = recall at the top-k scores  ${e0.replacedRPrecision.toFixed(3)} -> ${e1.replacedRPrecision.toFixed(3)}   (k = replaced tokens; chance = ${e1.replacedFraction.toFixed(3)})`);
  }
  if (e0.replacedAuc !== undefined && e1.replacedAuc !== undefined) say(`  ROC AUC                                ${e0.replacedAuc.toFixed(3)} -> ${e1.replacedAuc.toFixed(3)}   (0.5 = chance)`);
  say(`  at the 0.5 threshold: precision ${e0.replacedPrecision.toFixed(3)} -> ${e1.replacedPrecision.toFixed(3)}, recall ${e0.replacedRecall.toFixed(3)} -> ${e1.replacedRecall.toFixed(3)}   (at random init every token scores ~0.5, so its recall is chance)`);
  say(`  loss      ${e0.loss.toFixed(3)} -> ${e1.loss.toFixed(3)}   (generator accuracy ${e0.generatorAccuracy.toFixed(3)} -> ${e1.generatorAccuracy.toFixed(3)})`);
  say(`Checkpoint: ${s.checkpoint}`);
  say(`Report:     ${path.join(runDir, 'report.html')}`);
}

/** The trained discriminator on sentences with one word replaced. */
async function showDetections(checkpoint: string, tok: ElectraTokenizer, device: string): Promise<void> {
  const disc = await Electra.load(path.join(checkpoint, 'discriminator'), { device });
  try {
    for (const [sentence, word, replacement] of SENTENCES) {
      const altered = sentence.replace(word, replacement);
      const r = await detectReplaced(disc, tok, altered);
      const hit = r.tokens.find((t) => t.token === replacement || t.token.startsWith(replacement.slice(0, 3)));
      const others = r.tokens.filter((t) => t !== hit && t.token !== '[CLS]' && t.token !== '[SEP]');
      const mean = others.reduce((a, t) => a + t.probability, 0) / Math.max(1, others.length);
      say('');
      say(`"${altered}"  (${word} -> ${replacement})`);
      say(formatDetection(r.tokens));
      if (hit) say(`replaced word: p = ${hit.probability.toFixed(3)}; other words: mean p = ${mean.toFixed(3)}`);
    }
  } finally {
    disc.dispose();
  }
}

