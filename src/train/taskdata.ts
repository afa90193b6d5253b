/**
 * Fine-tuning data for the four task heads: reading the files, splitting, and turning examples
 * into features (token ids + targets) with the model's tokenizer.
 *
 * Files:
 * - classification / regression: CSV, TSV or JSONL with `text` (+ optional `text_pair`) and
 *   `label` (a number for regression), or the built-in `spam-assassin` set;
 * - token classification: JSONL, one sentence per line, `{"tokens": [...], "tags": [...]}`
 *   (`ner_tags` also accepted), IOB2 tags;
 * - question answering: JSONL in the SQuAD layout, `{"question", "context", "answers":
 *   {"text": [...], "answer_start": [...]}}` (a list of `{text, answer_start}` also accepted).
 */
import { ElectraError } from '../errors';
import { loadSpamAssassin } from '../data/builtins';
import { readFinetuneFile, readFinetuneText, stratifiedSplit, type FinetuneExample } from '../data/finetune';
import { Rng } from '../data/rng';
import type { ElectraTokenizer } from '../tokenizer/tokenizer';
import { splitWindows } from '../data/windows';

export type TaskKind = 'sequence-classification' | 'regression' | 'token-classification' | 'question-answering';
export const TASK_KINDS: readonly TaskKind[] = ['sequence-classification', 'regression', 'token-classification', 'question-answering'];

export interface TagExample {
  words: string[];
  tags: string[];
  source: string;
}

export interface QaExample {
  question: string;
  context: string;
  answers: { text: string; start: number }[];
  source: string;
}

export type AnyExample = FinetuneExample | TagExample | QaExample;

export interface TaskData {
  kind: TaskKind;
  /** Class names (classification) or tag names (token classification); empty otherwise. */
  labels: string[];
  train: AnyExample[];
  dev: AnyExample[];
  test: AnyExample[];
  /** Human-readable notes: where the splits came from, rows skipped. */
  notes: string[];
}

export interface TaskDataOptions {
  kind: TaskKind;
  /** A separate dev file; without one, 10% of the training file (stratified, seeded) is held out. */
  dev?: string;
  test?: string;
  seed?: number;
  textField?: string;
  pairField?: string;
  labelField?: string;
  /** A fixed label set (e.g. the id2label of a fine-tuned model); labels outside it are an error. */
  labels?: string[];
}

function jsonLines(file: string): { rec: Record<string, unknown>; where: string }[] {
  const out: { rec: Record<string, unknown>; where: string }[] = [];
  readFinetuneText(file)
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      const where = `${file}:${i + 1}`;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        throw new ElectraError('ERR_DATA', `${where}: invalid JSON`);
      }
      if (!o || typeof o !== 'object' || Array.isArray(o)) throw new ElectraError('ERR_DATA', `${where}: not a JSON object`);
      out.push({ rec: o as Record<string, unknown>, where });
    });
  if (out.length === 0) throw new ElectraError('ERR_DATA', `${file} has no examples`);
  return out;
}

/** Reads a token-classification JSONL file. */
export function readTagFile(file: string): TagExample[] {
  return jsonLines(file).map(({ rec, where }) => {
    const words = rec.tokens ?? rec.words;
    const tags = rec.tags ?? rec.ner_tags ?? rec.labels;
    const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (!strings(words) || words.length === 0) throw new ElectraError('ERR_DATA', `${where}: "tokens" must be a non-empty array of strings`);
    if (!strings(tags)) throw new ElectraError('ERR_DATA', `${where}: "tags" must be an array of strings (IOB2 tags)`);
    if (tags.length !== words.length) throw new ElectraError('ERR_DATA', `${where}: ${words.length} tokens but ${tags.length} tags`);
    if (words.some((w) => w.trim() === '' || /\s/.test(w))) throw new ElectraError('ERR_DATA', `${where}: tokens must be non-empty and contain no whitespace`);
    return { words, tags, source: where };
  });
}

/** Reads a question-answering JSONL file (SQuAD layout). */
export function readQaFile(file: string): QaExample[] {
  return jsonLines(file).map(({ rec, where }) => {
    const { question, context } = rec;
    if (typeof question !== 'string' || !question.trim()) throw new ElectraError('ERR_DATA', `${where}: "question" must be a non-empty string`);
    if (typeof context !== 'string' || !context.trim()) throw new ElectraError('ERR_DATA', `${where}: "context" must be a non-empty string`);
    const a = rec.answers;
    let answers: { text: string; start: number }[] = [];
    if (Array.isArray(a)) {
      answers = a.map((x) => {
        const o = (x ?? {}) as Record<string, unknown>;
        return { text: o.text as string, start: o.answer_start as number };
      });
    } else if (a && typeof a === 'object') {
      const o = a as { text?: unknown; answer_start?: unknown };
      if (!Array.isArray(o.text) || !Array.isArray(o.answer_start) || o.text.length !== o.answer_start.length) {
        throw new ElectraError('ERR_DATA', `${where}: "answers" must have "text" and "answer_start" arrays of the same length`);
      }
      answers = o.text.map((t, i) => ({ text: t as string, start: (o.answer_start as unknown[])[i] as number }));
    } else {
      throw new ElectraError('ERR_DATA', `${where}: "answers" is missing`);
    }
    for (const x of answers) {
      if (typeof x.text !== 'string' || !Number.isInteger(x.start) || x.start < 0 || context.slice(x.start, x.start + x.text.length) !== x.text) {
        throw new ElectraError('ERR_DATA', `${where}: answer ${JSON.stringify(x.text)} is not found at answer_start ${x.start} in the context`);
      }
    }
    return { question, context, answers, source: where };
  });
}

function holdOut<T extends { label?: string }>(all: T[], seed: number, withTest: boolean): { train: T[]; dev: T[]; test: T[] } {
  return stratifiedSplit(all, { seed, ratios: withTest ? [0.8, 0.1, 0.1] : [0.9, 0.1, 0] });
}

/** Loads a task: `spam-assassin` or a training file (plus optional dev/test files). */
export function loadTaskData(task: string, o: TaskDataOptions): TaskData {
  const seed = o.seed ?? 42;
  const notes: string[] = [];
  const kind = o.kind;
  if (task === 'spam-assassin') {
    if (kind !== 'sequence-classification') throw new ElectraError('ERR_CONFIG', `spam-assassin is a sequence-classification task, not ${kind}`);
    const s = loadSpamAssassin({ seed });
    notes.push(`spam-assassin: ${s.train.length} train / ${s.dev.length} dev / ${s.test.length} test (stratified, seed ${seed})`);
    return finish({ kind, labels: s.labels, train: s.train, dev: s.dev, test: s.test, notes }, o);
  }
  if (kind === 'sequence-classification' || kind === 'regression') {
    const read = (f: string) => {
      const r = readFinetuneFile(f, { textField: o.textField, pairField: o.pairField, labelField: o.labelField });
      if (!r.skipped.empty) notes.push(`${f}: skipped ${r.skipped.format().join('; ')}`);
      const unlabelled = r.examples.filter((e) => e.label === undefined).length;
      if (unlabelled) throw new ElectraError('ERR_DATA', `${f}: ${unlabelled} rows have no "${o.labelField ?? 'label'}"`);
      return r.examples;
    };
    const all = read(task);
    let train: FinetuneExample[], dev: FinetuneExample[], test: FinetuneExample[];
    if (o.dev) {
      train = all;
      dev = read(o.dev);
      test = o.test ? read(o.test) : [];
    } else {
      const sp = holdOut(kind === 'regression' ? all.map((e) => ({ ...e, label: undefined, value: e.label })) : all, seed, false);
      const back = (xs: Array<FinetuneExample & { value?: string }>) => xs.map((e) => ('value' in e ? { ...e, label: e.value } : e)) as FinetuneExample[];
      train = back(sp.train);
      dev = back(sp.dev);
      test = o.test ? read(o.test) : [];
      notes.push(`${task}: no --dev file, held out ${dev.length} of ${all.length} examples for evaluation (seed ${seed})`);
    }
    const labels = kind === 'regression' ? [] : [...new Set(train.map((e) => e.label!))].sort();
    return finish({ kind, labels, train, dev, test, notes }, o);
  }
  const reader = kind === 'token-classification' ? readTagFile : readQaFile;
  const all = reader(task) as AnyExample[];
  let train: AnyExample[], dev: AnyExample[];
  if (o.dev) {
    train = all;
    dev = reader(o.dev);
  } else {
    const shuffled = new Rng(seed).shuffle([...all]);
    const nd = Math.max(1, Math.round(all.length * 0.1));
    dev = shuffled.slice(0, nd);
    train = shuffled.slice(nd);
    notes.push(`${task}: no --dev file, held out ${dev.length} of ${all.length} examples for evaluation (seed ${seed})`);
  }
  const test = o.test ? (reader(o.test) as AnyExample[]) : [];
  const labels = kind === 'token-classification' ? tagSet(train as TagExample[]) : [];
  return finish({ kind, labels, train, dev, test, notes }, o);
}

/** Tag names: 'O' first, then the others sorted. */
function tagSet(xs: TagExample[]): string[] {
  const s = new Set<string>();
  for (const x of xs) for (const t of x.tags) s.add(t);
  const rest = [...s].filter((t) => t !== 'O').sort();
  return s.has('O') ? ['O', ...rest] : rest;
}

function finish(d: TaskData, o: TaskDataOptions): TaskData {
  if (d.train.length === 0) throw new ElectraError('ERR_DATA', 'the training split is empty');
  if (d.dev.length === 0) throw new ElectraError('ERR_DATA', 'the evaluation (dev) split is empty');
  if (o.labels) {
    if (d.kind === 'sequence-classification' || d.kind === 'token-classification') d.labels = [...o.labels];
  }
  if (d.kind === 'sequence-classification' && d.labels.length < 2) {
    throw new ElectraError('ERR_DATA', `classification needs at least 2 labels; the training data has ${JSON.stringify(d.labels)}`);
  }
  const known = new Set(d.labels);
  const splits: Array<[string, AnyExample[]]> = [['train', d.train], ['dev', d.dev], ['test', d.test]];
  for (const [name, xs] of splits) {
    for (const x of xs) {
      if (d.kind === 'sequence-classification') {
        const l = (x as FinetuneExample).label!;
        if (!known.has(l)) throw new ElectraError('ERR_DATA', `${x.source} (${name}): label ${JSON.stringify(l)} is not in the label set ${JSON.stringify(d.labels)}`);
      } else if (d.kind === 'regression') {
        const v = Number((x as FinetuneExample).label);
        if (!Number.isFinite(v)) throw new ElectraError('ERR_DATA', `${x.source} (${name}): regression label ${JSON.stringify((x as FinetuneExample).label)} is not a number`);
      } else if (d.kind === 'token-classification') {
        for (const t of (x as TagExample).tags) {
          if (!known.has(t)) throw new ElectraError('ERR_DATA', `${x.source} (${name}): tag ${JSON.stringify(t)} is not in the tag set ${JSON.stringify(d.labels)}`);
        }
      }
    }
  }
  return d;
}

/** One encoded example with its targets. */
export interface Feature {
  ids: number[];
  typeIds: number[];
  /** Class id or regression value. */
  label?: number;
  /** Per token tag id, -100 where not scored (specials, continuation pieces). */
  tags?: number[];
  start?: number;
  end?: number;
  /** QA: character offsets into the context per token, and which tokens belong to it. */
  offsets?: Array<[number, number]>;
  contextMask?: number[];
  /** Token classification: index of the word each scored token starts. */
  wordOf?: number[];
  /** Tokens dropped by truncation. */
  truncated: number;
  /** Index of the example this feature came from (several features per example with windows). */
  example: number;
}

/**
 * Encodes examples for `kind` (truncating to `maxLength` tokens). With `windows` > 1 (sequence
 * classification and regression of single texts), a long text gives up to `windows` features, one
 * per window of `maxLength` tokens (`src/data/windows.ts`), each with the text's label.
 */
export async function encodeTask(tok: ElectraTokenizer, kind: TaskKind, xs: readonly AnyExample[], labels: readonly string[], maxLength: number, windows = 1): Promise<Feature[]> {
  const out: Feature[] = [];
  const labelId = new Map(labels.map((l, i) => [l, i]));
  const chunk = 256;
  for (let b = 0; b < xs.length; b += chunk) {
    const part = xs.slice(b, b + chunk);
    if (kind === 'sequence-classification' || kind === 'regression') {
      const ex = part as FinetuneExample[];
      const inputs = ex.map((e) => (e.textPair !== undefined ? ([e.text, e.textPair] as const) : e.text));
      const full = await tok.encodeBatch(inputs);
      const label = (i: number) => (kind === 'regression' ? Number(ex[i]!.label) : labelId.get(ex[i]!.label!)!);
      if (windows > 1) {
        full.forEach((e, i) => {
          if (ex[i]!.textPair !== undefined) throw new ElectraError('ERR_CONFIG', 'windows > 1 takes single texts, not text pairs');
          const w = splitWindows(e.ids, maxLength, windows, tok.clsId, tok.sepId);
          w.windows.forEach((ids, k) =>
            out.push({ ids, typeIds: new Array<number>(ids.length).fill(0), label: label(i), truncated: k === 0 ? w.truncated : 0, example: b + i }),
          );
        });
        continue;
      }
      const enc = await tok.encodeBatch(inputs, { maxLength });
      enc.forEach((e, i) =>
        out.push({
          ids: e.ids,
          typeIds: e.typeIds,
          label: label(i),
          truncated: full[i]!.ids.length - e.ids.length,
          example: b + i,
        }),
      );
    } else if (kind === 'token-classification') {
      for (const x of part as TagExample[]) {
        const starts: number[] = [];
        let text = '';
        for (const w of x.words) {
          if (text) text += ' ';
          starts.push(text.length);
          text += w;
        }
        const full = await tok.encode(text);
        const e = full.ids.length > maxLength ? await tok.encode(text, { maxLength }) : full;
        const tags = new Array<number>(e.ids.length).fill(-100);
        const wordOf = new Array<number>(e.ids.length).fill(-1);
        let lastWord = -1;
        for (let i = 0; i < e.ids.length; i++) {
          if (e.sequenceIds[i] !== 0) continue;
          const s = e.offsets[i]![0];
          let lo = 0, hi = starts.length - 1;
          while (lo < hi) {
            const mid = (lo + hi + 1) >> 1;
            if (starts[mid]! <= s) lo = mid;
            else hi = mid - 1;
          }
          if (lo !== lastWord) {
            tags[i] = labelId.get(x.tags[lo]!)!;
            wordOf[i] = lo;
            lastWord = lo;
          }
        }
        out.push({ ids: e.ids, typeIds: e.typeIds, tags, wordOf, truncated: full.ids.length - e.ids.length, example: out.length });
      }
    } else {
      for (const x of part as QaExample[]) {
        const full = await tok.encodePair(x.question, x.context);
        const e = full.ids.length > maxLength ? await tok.encodePair(x.question, x.context, { maxLength }) : full;
        const contextMask = e.sequenceIds.map((s) => (s === 1 ? 1 : 0));
        let start = 0, end = 0;
        const a = x.answers[0];
        if (a) {
          const cs = a.start, ce = a.start + a.text.length;
          let ts = -1, te = -1;
          for (let i = 0; i < e.ids.length; i++) {
            if (!contextMask[i]) continue;
            const [s, en] = e.offsets[i]!;
            if (ts < 0 && en > cs) ts = i;
            if (s < ce) te = i;
          }
          if (ts >= 0 && te >= ts && e.offsets[te]![1] >= ce) {
            start = ts;
            end = te;
          }
        }
        out.push({ ids: e.ids, typeIds: e.typeIds, start, end, offsets: e.offsets, contextMask, truncated: full.ids.length - e.ids.length, example: out.length });
      }
    }
  }
  return out;
}

/** A padded batch of features (dynamic padding: to the longest member). */
export function collate(fs: readonly Feature[], padId: number, kind: TaskKind) {
  const T = Math.max(...fs.map((f) => f.ids.length));
  const B = fs.length;
  const inputIds = new Int32Array(B * T).fill(padId);
  const tokenTypeIds = new Int32Array(B * T);
  const attentionMask = new Int32Array(B * T);
  const labels = kind === 'regression' ? new Float32Array(B) : kind === 'token-classification' ? new Int32Array(B * T).fill(-100) : new Int32Array(B);
  const start = new Int32Array(B), end = new Int32Array(B);
  fs.forEach((f, b) => {
    for (let i = 0; i < f.ids.length; i++) {
      inputIds[b * T + i] = f.ids[i]!;
      tokenTypeIds[b * T + i] = f.typeIds[i]!;
      attentionMask[b * T + i] = 1;
      if (f.tags) labels[b * T + i] = f.tags[i]!;
    }
    if (f.label !== undefined) labels[b] = f.label;
    start[b] = f.start ?? 0;
    end[b] = f.end ?? 0;
  });
  const batch = { inputIds, tokenTypeIds, attentionMask, shape: [B, T] as [number, number] };
  const targets = kind === 'question-answering' ? { start, end } : { labels };
  return { batch, targets, T };
}
