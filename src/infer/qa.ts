/** Extractive question answering (ElectraForQuestionAnswering): the best span of the context. */
import type { Electra } from '../electra';
import { ElectraError } from '../errors';
import type { Encoded } from '../tokenizer/tokenizer';
import { assertLive, requireHead, requireTokenizer, resolveOptions, runBatched, softmax, type InferOptions } from './common';

export interface QAInput {
  question: string;
  context: string;
}

export interface Answer {
  /** `context.slice(start, end)`. */
  answer: string;
  /** p(start) * p(end), each a softmax over the context tokens and [CLS] (as transformers' pipeline). */
  score: number;
  /** Character offsets of the answer in the context. */
  start: number;
  end: number;
  /** Context tokens that were not looked at (truncation without `stride`). */
  truncated: number;
}

export interface AnswerOptions extends InferOptions {
  /** Longest answer in tokens (default 30). */
  maxAnswerLength?: number;
  /**
   * Long contexts: read them in overlapping windows that share `stride` tokens (as transformers'
   * `doc_stride`) and answer from the best window, instead of truncating. Off by default.
   */
  stride?: number;
}

interface Window {
  item: number;
  ids: number[];
  typeIds: number[];
  /** Offsets (in the context) of each token; context tokens only are used. */
  offsets: Array<[number, number]>;
  /** Index of the first context token in `ids`. */
  ctxStart: number;
  ctxLen: number;
}

function checkItem(x: unknown, i: number): QAInput {
  const name = `answer: items[${i}]`;
  if (!x || typeof x !== 'object') throw new ElectraError('ERR_INPUT', `${name} must be { question, context }`);
  const { question, context } = x as { question?: unknown; context?: unknown };
  for (const [k, v] of [['question', question], ['context', context]] as const) {
    if (typeof v !== 'string') throw new ElectraError('ERR_INPUT', `${name}.${k} must be a string`);
    if (v.trim() === '') throw new ElectraError('ERR_INPUT', `${name}.${k} is empty`);
  }
  return { question: question as string, context: context as string };
}

/** Answers each question from its context; results in the input order. */
export async function answer(model: Electra, items: readonly QAInput[], opts?: AnswerOptions): Promise<Answer[]> {
  assertLive(model);
  const r = resolveOptions(model, opts, 'answer');
  const maxAnswer = opts?.maxAnswerLength ?? 30;
  if (!Number.isInteger(maxAnswer) || maxAnswer < 1) throw new ElectraError('ERR_INPUT', `answer: maxAnswerLength must be a positive integer, got ${String(maxAnswer)}`);
  const stride = opts?.stride;
  if (stride !== undefined && (!Number.isInteger(stride) || stride < 0)) throw new ElectraError('ERR_INPUT', `answer: stride must be a non-negative integer, got ${String(stride)}`);
  requireHead(model, 'question-answering', 'answer');
  const tok = requireTokenizer(model, 'answer');
  if (!Array.isArray(items)) throw new ElectraError('ERR_INPUT', 'answer takes (question, context) or an array of { question, context }');
  const list = items.map(checkItem);
  const flat: string[] = [];
  for (const it of list) flat.push(it.question, it.context);
  const raw: Encoded[] = flat.length ? await tok.encodeBatch(flat, { addSpecialTokens: false }) : [];
  const windows: Window[] = [];
  const truncated: number[] = [];
  list.forEach((_, i) => {
    const q = raw[2 * i]!;
    const c = raw[2 * i + 1]!;
    if (q.ids.length === 0) throw new ElectraError('ERR_INPUT', `answer: items[${i}].question has no tokens`);
    if (c.ids.length === 0) throw new ElectraError('ERR_INPUT', `answer: items[${i}].context has no tokens`);
    const budget = r.maxLength - 3 - q.ids.length;
    if (budget < 1) {
      throw new ElectraError('ERR_INPUT', `answer: items[${i}].question has ${q.ids.length} tokens, which leaves no room for the context within ${r.maxLength} tokens`);
    }
    const n = c.ids.length;
    if (n > budget && !r.truncation && stride === undefined) {
      throw new ElectraError('ERR_INPUT', `answer: items[${i}] has ${q.ids.length + n + 3} tokens, more than the maximum ${r.maxLength} (truncation: false)`);
    }
    const starts: number[] = [0];
    if (n > budget && stride !== undefined) {
      if (stride >= budget) throw new ElectraError('ERR_INPUT', `answer: stride ${stride} must be below the ${budget} context tokens a window holds`);
      for (let s = budget - stride; s + stride < n; s += budget - stride) starts.push(s);
    }
    truncated.push(stride === undefined ? Math.max(0, n - budget) : 0);
    for (const s of starts) {
      const len = Math.min(budget, n - s);
      const ids = [tok.clsId, ...q.ids, tok.sepId, ...c.ids.slice(s, s + len), tok.sepId];
      const typeIds = ids.map((_, k) => (k < q.ids.length + 2 ? 0 : 1));
      windows.push({ item: i, ids, typeIds, offsets: c.offsets.slice(s, s + len), ctxStart: q.ids.length + 2, ctxLen: len });
    }
  });
  const rows = await runBatched(model, windows, { batchSize: r.batchSize, padId: tok.padId });
  const best: (Answer | undefined)[] = new Array(list.length);
  windows.forEach((w, k) => {
    const row = rows[k]!;
    const span = bestSpan(row.start!, row.end!, w.ctxStart, w.ctxLen, maxAnswer);
    const ctx = list[w.item]!.context;
    const start = w.offsets[span.i]![0];
    const end = w.offsets[span.j]![1];
    const prev = best[w.item];
    if (!prev || span.score > prev.score) best[w.item] = { answer: ctx.slice(start, end), score: span.score, start, end, truncated: truncated[w.item]! };
  });
  return best as Answer[];
}

/**
 * The span (i <= j < i + maxAnswer, both among the `ctxLen` context tokens from `ctxStart`) with the
 * highest p_start(i) * p_end(j); the probabilities are softmaxes over [CLS] and the context tokens.
 */
export function bestSpan(start: Float32Array, end: Float32Array, ctxStart: number, ctxLen: number, maxAnswer: number): { i: number; j: number; score: number } {
  const pick = (x: Float32Array): number[] => {
    const v = [x[0]!];
    for (let k = 0; k < ctxLen; k++) v.push(x[ctxStart + k]!);
    return softmax(v).slice(1);
  };
  const ps = pick(start);
  const pe = pick(end);
  let bi = 0;
  let bj = 0;
  let bs = -1;
  for (let i = 0; i < ctxLen; i++) {
    for (let j = i; j < Math.min(ctxLen, i + maxAnswer); j++) {
      const s = ps[i]! * pe[j]!;
      if (s > bs) {
        bs = s;
        bi = i;
        bj = j;
      }
    }
  }
  return { i: bi, j: bj, score: bs };
}
