/**
 * Fine-tuning: a pre-trained ELECTRA (an HF directory, or a pre-training checkpoint) with a new
 * task head, trained with layer-wise learning-rate decay, warmup + linear decay, evaluation on
 * the dev split after every epoch, early stopping on the dev metric, and the best model saved
 * as an HF directory (`ElectraForSequenceClassification` etc. with `id2label`/`label2id`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { parseConfig, type ElectraConfig } from '../config';
import { Electra, type Head } from '../electra';
import { ElectraError } from '../errors';
import { kernelOverrides } from '../runtime';
import { writeFileAtomic } from '../checkpoint/atomic';
import { inspectHfDir } from '../checkpoint/hf';
import { resolveModel } from '../hub';
import { Rng } from '../data/rng';
import { ElectraTokenizer } from '../tokenizer/tokenizer';
import { ioStep } from '../util/files';
import { OutputLock } from '../util/lock';
import { isPretrainingDir, realPath, refuseNonEmpty, replaceOwnFiles, selfAndAncestors, within } from '../util/outdir';
import { accuracy, detectScheme, entityF1, f1Score, matthews, pearson, schemeViolation, spearman, squadScores, TAG_SCHEMES, tokenAccuracy, type TagScheme } from './metrics';
import { addInto, MAX_WINDOWS, WINDOWS_KEY } from '../data/windows';
import { collate, encodeTask, loadTaskData, TASK_KINDS, type Feature, type QaExample, type TagExample, type TaskData, type TaskKind } from './taskdata';

const finetuneSchema = z
  .object({
    /** HF directory of the pre-trained model (a discriminator), or a pre-training checkpoint directory. */
    model: z.string().min(1),
    /** `spam-assassin` or a training file. */
    task: z.string().min(1),
    head: z.enum(TASK_KINDS as [TaskKind, ...TaskKind[]]).default('sequence-classification'),
    out: z.string().min(1),
    dev: z.string().optional(),
    test: z.string().optional(),
    tokenizer: z.string().optional(),
    epochs: z.number().int().min(1).max(1000).default(3),
    /** Peak learning rate; default by model size as in the paper: 3e-4 Small, 1e-4 Base, 5e-5 Large. */
    lr: z.number().positive().max(1).optional(),
    batch: z.number().int().min(1).max(4096).default(32),
    evalBatch: z.number().int().min(1).max(4096).default(64),
    /** Layer-wise decay: the top layer gets lr * d, the one below lr * d^2, ..., the embeddings lr * d^(L+1). 1 = off. */
    layerDecay: z.number().gt(0).max(1).optional(),
    /** Fraction of the steps spent warming up. */
    warmup: z.number().min(0).max(1).default(0.1),
    weightDecay: z.number().min(0).default(0.01),
    clipNorm: z.number().min(0).default(1),
    /** Adam bias correction (off in the original ELECTRA optimizer, on in PyTorch's AdamW). */
    biasCorrection: z.boolean().default(false),
    maxLength: z.number().int().min(8).max(4096).default(128),
    /**
     * Sequence classification / regression of single texts: cut each text into up to this many
     * windows of `maxLength` tokens instead of truncating it; training sees every window with the
     * text's label, evaluation (and `classify` of the saved model, by default) averages the windows'
     * logits. Recorded in the saved config.json as `electra_node_windows`.
     */
    windows: z.number().int().min(1).max(MAX_WINDOWS).default(1),
    seed: z.number().int().min(0).default(42),
    /** Stop after this many epochs without improvement of the dev metric (0: never). */
    patience: z.number().int().min(0).default(2),
    /** Keep only the first N training examples (after shuffling): sample-efficiency runs. */
    trainLimit: z.number().int().min(1).optional(),
    /** Same architecture, random initialisation (the baseline of the quality benchmark). */
    randomInit: z.boolean().default(false),
    device: z.string().default('cpu'),
    precision: z.enum(['fp32', 'bf16']).default('fp32'),
    textField: z.string().optional(),
    pairField: z.string().optional(),
    labelField: z.string().optional(),
    /** Maximum answer length in tokens (question answering). */
    maxAnswerLength: z.number().int().min(1).default(30),
    /**
     * Token classification: the tag scheme. `auto` (default) detects it from the training and dev
     * tags (see detectScheme); a given one is checked against every split (ERR_DATA on a tag that
     * breaks it, e.g. an I- without its B- under iob2). `plain` tags (POS: NN, VBZ) have no entities.
     */
    scheme: z.enum(['auto', ...TAG_SCHEMES] as ['auto', ...TagScheme[]]).default('auto'),
    /**
     * The dev metric that picks the best epoch and drives early stopping; default by task:
     * accuracy (classification), spearman (regression), entity f1 (token classification with
     * an entity scheme), accuracy (plain tags), f1 (question answering).
     */
    metric: z.string().min(1).optional(),
    /** Write into a non-empty `out` (only the files fine-tuning writes are replaced; see FINETUNE_FILES). */
    overwrite: z.boolean().default(false),
  })
  .strict();

export type FinetuneOptionsInput = z.input<typeof finetuneSchema>;
export type FinetuneOptions = z.output<typeof finetuneSchema>;

export interface EvalResult {
  /** The metric early stopping and model selection use (accuracy, spearman, f1, f1; see the `metric` option). */
  metric: number;
  metricName: string;
  /** Mean cross-entropy on the dev split (classification and token classification): breaks ties of `metric`. */
  loss?: number;
  [k: string]: number | string | undefined;
}

export interface EpochReport {
  epoch: number;
  step: number;
  trainLoss: number;
  dev: EvalResult;
  best: boolean;
  seconds: number;
}

export interface FinetuneSummary {
  out: string;
  kind: TaskKind;
  labels: string[];
  /** Token classification: the tag scheme used for scoring. */
  scheme?: TagScheme;
  epochs: EpochReport[];
  bestEpoch: number;
  dev: EvalResult;
  test?: EvalResult;
  trainExamples: number;
  /** Training features: one per example, or one per window with `windows` > 1. */
  trainFeatures: number;
  truncated: number;
  seconds: number;
  stoppedEarly: boolean;
}

export interface FinetuneCallbacks {
  signal?: AbortSignal;
  onStep?: (m: { epoch: number; step: number; totalSteps: number; loss: number; lr: number }) => void;
  onEpoch?: (r: EpochReport) => void;
  log?: (line: string) => void;
}

/** The dev metrics each task reports, the default (selection) one first; token classification's depends on the scheme. */
const TASK_METRICS: Record<TaskKind, readonly string[]> = {
  'sequence-classification': ['accuracy', 'f1', 'mcc'],
  regression: ['spearman', 'pearson'],
  'token-classification': ['f1', 'accuracy', 'precision', 'recall'],
  'question-answering': ['f1', 'exactMatch'],
};

/** Parses fine-tuning options; ERR_CONFIG names the field. */
export function parseFinetuneOptions(input: FinetuneOptionsInput): FinetuneOptions {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ElectraError('ERR_CONFIG', 'fine-tuning options must be an object');
  const r = finetuneSchema.safeParse(input);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ElectraError('ERR_CONFIG', `fine-tuning option ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const o = r.data;
  if (o.metric !== undefined && !TASK_METRICS[o.head].includes(o.metric)) {
    throw new ElectraError('ERR_CONFIG', `fine-tuning option metric: ${o.head} reports ${TASK_METRICS[o.head].join(', ')}; got ${JSON.stringify(o.metric)}`);
  }
  if (o.scheme !== 'auto' && o.head !== 'token-classification') throw new ElectraError('ERR_CONFIG', `fine-tuning option scheme applies to token-classification, not ${o.head}`);
  return o;
}

/**
 * The tag scheme of a token-classification task: detected from the gold tags, or the one given,
 * checked against every split (ERR_DATA names the sentence and tag that break it).
 */
export function resolveScheme(given: TagScheme | 'auto', splits: Record<string, readonly TagExample[]>): TagScheme {
  if (given === 'auto') return detectScheme(Object.values(splits).flatMap((xs) => xs.map((x) => x.tags)));
  for (const [name, xs] of Object.entries(splits)) {
    const v = schemeViolation(xs.map((x) => x.tags), given);
    if (v) throw new ElectraError('ERR_DATA', `the ${name} tags are not ${given.toUpperCase()}: ${xs[Number(/^sentence (\d+)/.exec(v)![1]) - 1]?.source ?? name}: ${v}`);
  }
  return given;
}

/** Picks `name` (when given) as the result's metric; ERR_CONFIG if the result lacks it. */
function selectMetric(r: EvalResult, name: string | undefined): EvalResult {
  if (name === undefined || name === r.metricName) return r;
  const v = r[name];
  if (typeof v !== 'number') throw new ElectraError('ERR_CONFIG', `metric ${JSON.stringify(name)} is not reported here (${Object.keys(r).filter((k) => typeof r[k] === 'number' && k !== 'metric').join(', ')})`);
  return { ...r, metric: v, metricName: name };
}

/** Cross-entropy of the logits `x[off .. off+n)` against class `gold`. */
function crossEntropy(x: ArrayLike<number>, off: number, n: number, gold: number): number {
  let m = -Infinity;
  for (let j = 0; j < n; j++) m = Math.max(m, x[off + j]!);
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(x[off + j]! - m);
  return m + Math.log(s) - x[off + gold]!;
}

/** A pre-training checkpoint directory's discriminator, else the directory itself. */
export function resolveModelDir(dir: string): string {
  const disc = path.join(dir, 'discriminator');
  if (fs.existsSync(path.join(disc, 'config.json'))) return disc;
  if (!fs.existsSync(path.join(dir, 'config.json'))) throw new ElectraError('ERR_CHECKPOINT', `${dir} has no config.json (an HF model directory or a pre-training checkpoint is expected)`);
  return dir;
}

/**
 * Learning-rate factors per parameter for layer-wise decay, in the model's parameter order. Depth
 * 0 is the embeddings (and their projection), 1..L the encoder layers, L+1 the task head; the
 * factor is decay^(L+1-depth), so the head trains at the full rate and the top layer at lr * d.
 * (The original ELECTRA code gives the top layer decay^2: its head sits at depth L+2 while no
 * layer has depth L+1. We do not copy that off-by-one.)
 */
export function layerLrScales(names: readonly string[], numLayers: number, decay: number): number[] {
  return names.map((n) => {
    let depth = numLayers + 1;
    if (/^electra\.embeddings(_project)?\./.test(n)) depth = 0;
    else {
      const m = /^electra\.encoder\.layer\.(\d+)\./.exec(n);
      if (m) depth = Number(m[1]) + 1;
    }
    return Math.pow(decay, numLayers + 1 - depth);
  });
}

function nativeHead(kind: TaskKind): Head {
  return kind === 'regression' ? 'sequence-classification' : kind;
}

function headConfig(kind: TaskKind, labels: string[], windows: number): Record<string, unknown> {
  // The window count is written only when above 1 (and cleared when a windowed model is fine-tuned again without).
  const win = { [WINDOWS_KEY]: windows > 1 ? windows : undefined };
  if (kind === 'question-answering') return { num_labels: 2, ...win };
  if (kind === 'regression') return { num_labels: 1, id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 }, problem_type: 'regression', ...win };
  const id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  const label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  return {
    num_labels: labels.length,
    id2label,
    label2id,
    ...(kind === 'sequence-classification' ? { problem_type: 'single_label_classification' } : {}),
    ...win,
  };
}

function argmaxAt(data: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (data[off + j]! > data[off + best]!) best = j;
  return best;
}

/** Evaluates `model` on features (sorted by length, dynamic padding). */
export async function evaluateTask(
  model: Electra,
  kind: TaskKind,
  labels: readonly string[],
  examples: readonly unknown[],
  feats: readonly Feature[],
  opts: { batch: number; padId: number; maxAnswerLength?: number; scheme?: TagScheme; metric?: string },
): Promise<EvalResult> {
  return selectMetric(await evaluateRaw(model, kind, labels, examples, feats, opts), opts.metric);
}

/**
 * The best answer span of one feature: the highest start + end logit over spans inside the context
 * of at most `maxLen` tokens; `[-1, -1]` when the feature has no context token. `off`: the feature's
 * first position in the start/end logits.
 */
function bestSpan(st: ArrayLike<number>, en: ArrayLike<number>, off: number, f: Feature, maxLen: number): [number, number] {
  let best = -Infinity, bs = -1, be = -1;
  for (let i = 0; i < f.ids.length; i++) {
    if (!f.contextMask![i]) continue;
    for (let j = i; j < Math.min(f.ids.length, i + maxLen); j++) {
      if (!f.contextMask![j]) break;
      const sc = st[off + i]! + en[off + j]!;
      if (sc > best) {
        best = sc;
        bs = i;
        be = j;
      }
    }
  }
  return [bs, be];
}

/**
 * Sequence classification and regression scores from the per-example sums of the windows' logits
 * (`sums`, `L` per example) and the gold labels (or values).
 */
function sequenceScores(kind: 'sequence-classification' | 'regression', labels: readonly string[], feats: readonly Feature[], sums: Float64Array, gold: number[]): EvalResult {
  const nEx = gold.length;
  const L = kind === 'regression' ? 1 : labels.length;
  // The mean of the windows' logits has the argmax (and, for regression, the value) of their sum / count.
  const count = new Array<number>(nEx).fill(0);
  for (const f of feats) count[f.example]!++;
  const missing = count.findIndex((c) => c === 0);
  if (missing >= 0) throw new ElectraError('ERR_DATA', `evaluation: example ${missing} has no features`);
  if (kind === 'sequence-classification') {
    const pred = Array.from({ length: nEx }, (_, i) => argmaxAt(sums, i * L, L));
    const acc = accuracy(pred, gold);
    // The loss of the mean logits (the windows' mean, as the prediction).
    let loss = 0;
    for (let i = 0; i < nEx; i++) {
      const mean = Array.from(sums.subarray(i * L, (i + 1) * L), (v) => v / count[i]!);
      loss += crossEntropy(mean, 0, L, gold[i]!);
    }
    return { metric: acc, metricName: 'accuracy', accuracy: acc, f1: f1Score(pred, gold, labels.length), mcc: matthews(pred, gold, labels.length), loss: nEx ? loss / nEx : 0, examples: nEx };
  }
  const pred = Array.from({ length: nEx }, (_, i) => sums[i]! / count[i]!);
  const sp = spearman(pred, gold);
  return { metric: sp, metricName: 'spearman', pearson: pearson(pred, gold), spearman: sp, examples: nEx };
}

async function evaluateRaw(
  model: Electra,
  kind: TaskKind,
  labels: readonly string[],
  examples: readonly unknown[],
  feats: readonly Feature[],
  opts: { batch: number; padId: number; maxAnswerLength?: number; scheme?: TagScheme },
): Promise<EvalResult> {
  const order = feats.map((_, i) => i).sort((a, b) => feats[a]!.ids.length - feats[b]!.ids.length);
  // Sequence classification and regression: an example's logits are the mean over its features
  // (one per window; see src/data/windows.ts), so the sums are kept per example.
  const nEx = examples.length;
  const L = kind === 'regression' ? 1 : labels.length;
  const sums = new Float64Array(kind === 'sequence-classification' || kind === 'regression' ? nEx * L : 0);
  const gold = new Array<number>(nEx);
  const predTags: string[][] = new Array(feats.length);
  const predAns: string[] = new Array(feats.length);
  let lossSum = 0, lossCount = 0;
  for (let s = 0; s < order.length; s += opts.batch) {
    const idx = order.slice(s, s + opts.batch);
    const { batch, T } = collate(idx.map((i) => feats[i]!), opts.padId, kind);
    const r = await model.forward(batch);
    idx.forEach((fi, b) => {
      const f = feats[fi]!;
      if (kind === 'sequence-classification' || kind === 'regression') {
        addInto(sums, f.example * L, r.classification!.data.subarray(b * L, (b + 1) * L));
        gold[f.example] = f.label!;
      } else if (kind === 'token-classification') {
        const words = (examples[fi] as TagExample).words.length;
        const tags = new Array<string>(words).fill('O');
        for (let i = 0; i < f.ids.length; i++) {
          // wordOf is set on the first piece of each word only: a word is scored by its first piece.
          const w = f.wordOf![i]!;
          if (w < 0) continue;
          const off = (b * T + i) * labels.length;
          tags[w] = labels[argmaxAt(r.tokens!.data, off, labels.length)]!;
          const g = f.tags?.[i];
          if (g !== undefined && g >= 0) {
            lossSum += crossEntropy(r.tokens!.data, off, labels.length, g);
            lossCount++;
          }
        }
        predTags[fi] = tags;
      } else {
        const ex = examples[fi] as QaExample;
        const [bs, be] = bestSpan(r.start!.data, r.end!.data, b * T, f, opts.maxAnswerLength ?? 30);
        predAns[fi] = bs < 0 ? '' : ex.context.slice(f.offsets![bs]![0], f.offsets![be]![1]);
      }
    });
  }
  if (kind === 'sequence-classification' || kind === 'regression') return sequenceScores(kind, labels, feats, sums, gold);
  if (kind === 'token-classification') {
    const goldTags = examples.map((e) => (e as TagExample).tags);
    const scheme = opts.scheme ?? detectScheme(goldTags);
    const acc = tokenAccuracy(predTags, goldTags);
    const loss = lossCount ? lossSum / lossCount : 0;
    if (scheme === 'plain') return { metric: acc, metricName: 'accuracy', accuracy: acc, loss, scheme, examples: feats.length };
    const r = entityF1(predTags, goldTags);
    return { metric: r.f1, metricName: 'f1', ...r, accuracy: acc, loss, scheme, examples: feats.length };
  }
  let em = 0, f1 = 0;
  predAns.forEach((p, i) => {
    const s = squadScores(p, (examples[i] as QaExample).answers.map((a) => a.text));
    em += s.exact;
    f1 += s.f1;
  });
  return { metric: f1 / feats.length, metricName: 'f1', exactMatch: em / feats.length, f1: f1 / feats.length, examples: feats.length };
}

/** Loads the model for fine-tuning: pre-trained weights with a fresh head, or all random. */
async function loadForTask(o: FinetuneOptions, dir: string, kind: TaskKind, labels: string[]): Promise<Electra> {
  const head = nativeHead(kind);
  const extra = headConfig(kind, labels, o.windows);
  const info = inspectHfDir(dir);
  if (o.randomInit) {
    const { architectures: _a, id2label: _i, label2id: _l, num_labels: _n, problem_type: _p, ...rest } = info.config as ElectraConfig & Record<string, unknown>;
    return Electra.create(parseConfig({ ...rest, ...extra }), { head, device: o.device, seed: o.seed });
  }
  if (info.head === head && kind !== 'question-answering') {
    // Continuing from a model with this head: its labels must be the task's.
    const have = info.config.id2label ? Object.keys(info.config.id2label).length : undefined;
    if (have !== undefined && have !== (extra.num_labels as number)) {
      throw new ElectraError('ERR_DATA', `${dir} has a ${head} head with ${have} labels; the task has ${String(extra.num_labels)}`);
    }
  }
  return Electra.load(dir, { head, device: o.device, config: extra });
}

/** The tokenizer: `tokenizer` when given, else the model directory's. */
function loadTokenizer(o: FinetuneOptions, dir: string): ElectraTokenizer {
  const tokDir = o.tokenizer ?? dir;
  try {
    return ElectraTokenizer.load(tokDir);
  } catch (e) {
    throw new ElectraError('ERR_TOKENIZER', `no tokenizer in ${tokDir} (pass --tokenizer DIR): ${(e as Error).message}`, { cause: e });
  }
}

/** The files fine-tuning writes into `out` (the model, its tokenizer, the results): the only ones it replaces. */
export const FINETUNE_FILES = ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'eval_results.json'] as const;
const MODEL_FILES = FINETUNE_FILES.filter((f) => f !== 'eval_results.json');

/**
 * Refuses, before anything is written, an `out` that is, contains or lies inside the model read
 * (`model`, or `dir`, the directory its weights come from), or that is or lies inside a
 * pre-training checkpoint or run directory: saving there would replace the model or break a
 * later `pretrain --resume`.
 */
function checkOutPlace(o: FinetuneOptions, dir: string): void {
  const out = realPath(o.out);
  const models = [...new Set([realPath(o.model), realPath(dir)])];
  if (models.includes(out)) throw new ElectraError('ERR_CONFIG', `--out ${o.out} is the model directory ${o.model}: fine-tuning would replace the model it reads; choose another --out`);
  for (const m of models) {
    if (within(out, m)) throw new ElectraError('ERR_CONFIG', `--out ${o.out} contains the model directory ${o.model}; choose another --out`);
    if (within(m, out)) throw new ElectraError('ERR_CONFIG', `--out ${o.out} lies inside the model directory ${o.model}; choose another --out`);
  }
  const run = selfAndAncestors(out).find(isPretrainingDir);
  if (run) throw new ElectraError('ERR_CONFIG', `--out ${o.out} lies inside the pre-training checkpoint or run directory ${run}: writing there would break its resume; choose another --out`);
}

/** Refuses, before any work, an output that cannot be written. */
function checkOutput(o: FinetuneOptions): void {
  const outParent = path.dirname(path.resolve(o.out));
  try {
    fs.mkdirSync(outParent, { recursive: true });
    fs.accessSync(outParent, fs.constants.W_OK);
  } catch (e) {
    throw new ElectraError('ERR_IO', `the output directory's parent ${outParent} is not writable: ${(e as Error).message}`, { cause: e });
  }
  if (o.windows > 1 && o.head !== 'sequence-classification' && o.head !== 'regression') {
    throw new ElectraError('ERR_CONFIG', `windows > 1 applies to sequence classification and regression, not ${o.head}`);
  }
}

/** The task's splits; the training examples cut to `trainLimit` (after a seeded shuffle). */
function loadTask(o: FinetuneOptions, log: (line: string) => void): { data: TaskData; train: TaskData['train'] } {
  const data = loadTaskData(o.task, { kind: o.head, dev: o.dev, test: o.test, seed: o.seed, textField: o.textField, pairField: o.pairField, labelField: o.labelField });
  for (const n of data.notes) log(n);
  let train = data.train;
  if (o.trainLimit !== undefined && o.trainLimit < train.length) {
    train = new Rng(o.seed).shuffle([...train]).slice(0, o.trainLimit);
    log(`using ${train.length} training examples (--train-limit)`);
  }
  return { data, train };
}

interface TaskFeatures {
  train: Feature[];
  dev: Feature[];
  test: Feature[];
  /** Training examples cut short. */
  truncated: number;
}

async function encodeSplits(o: FinetuneOptions, tok: ElectraTokenizer, model: Electra, data: TaskData, train: TaskData['train'], log: (line: string) => void): Promise<TaskFeatures> {
  const kind = o.head;
  const maxLength = Math.min(o.maxLength, model.config.max_position_embeddings);
  const [trainF, devF, testF] = await Promise.all([
    encodeTask(tok, kind, train, data.labels, maxLength, o.windows),
    encodeTask(tok, kind, data.dev, data.labels, maxLength, o.windows),
    encodeTask(tok, kind, data.test, data.labels, maxLength, o.windows),
  ]);
  const truncated = trainF.filter((f) => f.truncated > 0).length;
  if (o.windows > 1) log(`${train.length} training examples as ${trainF.length} windows of up to ${maxLength} tokens (at most ${o.windows} per text)`);
  if (truncated) log(`${truncated} of ${train.length} training examples truncated to ${o.windows > 1 ? `${o.windows} windows of ` : ''}${maxLength} tokens`);
  return { train: trainF, dev: devF, test: testF, truncated };
}

/** The optimizer with the paper's settings by model size unless given; returns the steps per epoch. */
function setupOptimizer(o: FinetuneOptions, model: Electra, trainFeatures: number, log: (line: string) => void): { stepsPerEpoch: number; totalSteps: number } {
  const stepsPerEpoch = Math.ceil(trainFeatures / o.batch);
  const totalSteps = stepsPerEpoch * o.epochs;
  const params = model.parameters();
  // The paper's fine-tuning settings by size: Small (hidden <= 256) 3e-4, Base 1e-4, Large 5e-5;
  // layer decay 0.8, 0.9 for Large.
  const hidden = model.config.hidden_size;
  const lr = o.lr ?? (hidden <= 256 ? 3e-4 : hidden <= 768 ? 1e-4 : 5e-5);
  const layerDecay = o.layerDecay ?? (hidden > 768 ? 0.9 : 0.8);
  log(`lr ${lr}, layer decay ${layerDecay}, ${o.epochs} epochs of ${stepsPerEpoch} steps (batch ${o.batch})`);
  model.setupTraining({
    lr,
    weightDecay: o.weightDecay,
    warmupSteps: Math.round(o.warmup * totalSteps),
    totalSteps,
    clipNorm: o.clipNorm,
    biasCorrection: o.biasCorrection,
    lrScales: layerLrScales(params.map((p) => p.name), model.config.num_hidden_layers, layerDecay),
    precision: o.precision,
    seed: o.seed,
    // The A/B overrides of the environment (ELECTRA_FUSED_ADAMW, ELECTRA_CUSTOM_KERNELS), as pre-training takes them.
    kernels: kernelOverrides(),
  });
  return { stepsPerEpoch, totalSteps };
}

/** What the epochs share: the model, the features, and how each epoch is evaluated and saved. */
interface EpochRun {
  o: FinetuneOptions;
  model: Electra;
  tok: ElectraTokenizer;
  data: TaskData;
  feats: TaskFeatures;
  stepsPerEpoch: number;
  totalSteps: number;
  evalOpts: { batch: number; padId: number; maxAnswerLength: number; scheme?: TagScheme; metric?: string };
  /** Tokenizer files saved with the best model. */
  extraFiles: string[];
  cb: FinetuneCallbacks;
  log: (line: string) => void;
}

/** One pass over the training features in a seeded order; returns the last step and the mean loss. */
async function trainEpoch(r: EpochRun, epoch: number, rng: Rng): Promise<{ step: number; trainLoss: number }> {
  const { o, model, feats, cb } = r;
  const order = rng.shuffle(feats.train.map((_, i) => i));
  let lossSum = 0, step = 0;
  for (let s = 0; s < order.length; s += o.batch) {
    if (cb.signal?.aborted) throw new ElectraError('ERR_ABORTED', 'fine-tuning aborted');
    const { batch, targets } = collate(order.slice(s, s + o.batch).map((i) => feats.train[i]!), r.tok.padId, o.head);
    const m = await model.trainStep(batch, targets);
    step = m.step;
    lossSum += m.loss;
    cb.onStep?.({ epoch, step, totalSteps: r.totalSteps, loss: m.loss, lr: m.lr });
  }
  return { step, trainLoss: lossSum / r.stepsPerEpoch };
}

/** Trains epoch by epoch, saving the best on the dev set, until the last epoch or early stopping. */
async function trainEpochs(r: EpochRun): Promise<{ epochs: EpochReport[]; best: EpochReport; stoppedEarly: boolean }> {
  const { o, model, data } = r;
  const rng = new Rng(o.seed ^ 0x9e3779b9);
  const epochs: EpochReport[] = [];
  let best: EpochReport | undefined;
  let since = 0, step = 0, stoppedEarly = false;
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const te = Date.now();
    const t = await trainEpoch(r, epoch, rng);
    step = t.step || step;
    const dev = await evaluateTask(model, o.head, data.labels, data.dev, r.feats.dev, r.evalOpts);
    const isBest = !best || betterEpoch(dev, best.dev);
    const report: EpochReport = { epoch, step, trainLoss: t.trainLoss, dev, best: isBest, seconds: (Date.now() - te) / 1000 };
    epochs.push(report);
    r.cb.onEpoch?.(report);
    if (isBest) {
      best = report;
      since = 0;
      await saveBest(model, o.out, r.extraFiles);
    } else if (o.patience > 0 && ++since >= o.patience) {
      stoppedEarly = epoch < o.epochs;
      r.log(`early stop: no dev improvement for ${o.patience} epochs`);
      break;
    }
  }
  return { epochs, best: best!, stoppedEarly };
}

/**
 * Saves the model into `out`, replacing only fine-tuning's own files there: it is written
 * (atomically) into a temporary directory inside `out`, whose files are then renamed into place.
 */
async function saveBest(model: Electra, out: string, extraFiles: string[]): Promise<void> {
  const staging = path.join(out, `.best.tmp-${process.pid}-${Date.now().toString(36)}`);
  try {
    await model.save(staging, { extraFiles });
    ioStep(`move the model into ${out}`, () => replaceOwnFiles(staging, out, MODEL_FILES));
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Whether a later epoch's dev result `a` beats the best so far, `b`: a higher metric, or the same
 * metric with a lower dev loss (a tie without a lower loss keeps the earlier epoch).
 */
export function betterEpoch(a: EvalResult, b: EvalResult): boolean {
  if (a.metric !== b.metric) return a.metric > b.metric;
  return a.loss !== undefined && b.loss !== undefined && a.loss < b.loss;
}

/** The saved (best) model on the test split, when there is one. */
async function testBest(r: EpochRun): Promise<EvalResult | undefined> {
  if (r.feats.test.length === 0) return undefined;
  const bestModel = await Electra.load(r.o.out, { device: r.o.device });
  try {
    return await evaluateTask(bestModel, r.o.head, r.data.labels, r.data.test, r.feats.test, r.evalOpts);
  } finally {
    bestModel.dispose();
  }
}

/** Trains with the tokenizer's files in a temporary directory (saved with each best model). */
async function withTokenizerFiles<T>(tok: ElectraTokenizer, fn: (files: string[]) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-tok-'));
  try {
    tok.save(dir);
    return await fn(fs.readdirSync(dir).map((f) => path.join(dir, f)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function writeResults(o: FinetuneOptions, summary: FinetuneSummary): void {
  writeFileAtomic(path.join(o.out, 'eval_results.json'), [JSON.stringify({ ...summary, options: { ...o } }, null, 2) + '\n']);
}

/** Fine-tunes a model on a task (the engine of `electra finetune`). */
export async function finetune(input: FinetuneOptionsInput, cb: FinetuneCallbacks = {}): Promise<FinetuneSummary> {
  const o = parseFinetuneOptions(input);
  const t0 = Date.now();
  const dir = resolveModelDir(await resolveModel(o.model));
  o.tokenizer = await resolveModel(o.tokenizer, { files: 'tokenizer' });
  const tok = loadTokenizer(o, dir);
  checkOutPlace(o, dir);
  checkOutput(o);
  const lock = OutputLock.acquire(o.out, 'finetune');
  try {
    refuseNonEmpty(path.resolve(o.out), o.overwrite, FINETUNE_FILES);
    return await finetuneLocked(o, dir, tok, cb, t0);
  } finally {
    lock.release();
  }
}

async function finetuneLocked(o: FinetuneOptions, dir: string, tok: ElectraTokenizer, cb: FinetuneCallbacks, t0: number): Promise<FinetuneSummary> {
  const log = cb.log ?? (() => {});
  const { data, train } = loadTask(o, log);
  const model = await loadForTask(o, dir, o.head, data.labels);
  try {
    const feats = await encodeSplits(o, tok, model, data, train, log);
    const steps = setupOptimizer(o, model, feats.train.length, log);
    const scheme = o.head === 'token-classification' ? resolveScheme(o.scheme, { training: train as TagExample[], dev: data.dev as TagExample[], test: data.test as TagExample[] }) : undefined;
    if (scheme === 'plain' && o.metric !== undefined && o.metric !== 'accuracy') throw new ElectraError('ERR_CONFIG', `metric ${o.metric} needs entity tags; the tags here are plain (no B-/I- prefixes): use accuracy`);
    if (scheme) log(`tag scheme ${scheme}${o.scheme === 'auto' ? ' (detected)' : ''}: best epoch by ${o.metric ?? (scheme === 'plain' ? 'accuracy' : 'entity f1')}`);
    const evalOpts = { batch: o.evalBatch, padId: tok.padId, maxAnswerLength: o.maxAnswerLength, scheme, metric: o.metric };
    const run = (extraFiles: string[]): EpochRun => ({ o, model, tok, data, feats, ...steps, evalOpts, extraFiles, cb, log });
    const { epochs, best, stoppedEarly } = await withTokenizerFiles(tok, (files) => trainEpochs(run(files)));
    const test = await testBest(run([]));
    const summary: FinetuneSummary = {
      out: o.out,
      kind: o.head,
      labels: data.labels,
      ...(scheme ? { scheme } : {}),
      epochs,
      bestEpoch: best.epoch,
      dev: best.dev,
      test,
      trainExamples: train.length,
      trainFeatures: feats.train.length,
      truncated: feats.truncated,
      seconds: (Date.now() - t0) / 1000,
      stoppedEarly,
    };
    writeResults(o, summary);
    return summary;
  } finally {
    model.dispose();
  }
}
