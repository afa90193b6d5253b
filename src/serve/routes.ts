/**
 * The inference routes, in text-embeddings-inference's request and response shapes (plus /detect,
 * /tag, /answer). Each handler calls the library's task helper on the request's batch lease, so
 * a response is what the direct call returns.
 */
import type { Electra } from '../electra';
import { ElectraError } from '../errors';
import { classify, type Classification } from '../infer/classify';
import { encodeTexts, labelName, requireHead, requireTokenizer, resolveOptions, runBatched, sigmoid, softmax, type TextInput } from '../infer/common';
import { embed } from '../infer/embed';
import { detectBatch } from '../infer/detect';
import { tagTokens } from '../infer/tag';
import { answer, type QAInput } from '../infer/qa';
import type { Example } from '../infer/common';

/** What a handler gets: the request's model view and the server's settings. */
export interface RouteContext {
  /** The batch lease's stand-in for the model. */
  model: Electra;
  pooling: 'mean' | 'cls';
  maxClientBatchSize: number;
  /** A name for the model in responses (/v1/embeddings `model`). */
  modelId: string;
  /** Inputs in this request (for logs), set by the handler. */
  inputs: number;
  /** Tokens this request has sent to the model so far. */
  tokens: () => number;
}

const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const strOrList = { anyOf: [str, { type: 'array', items: str }] } as const;

/** JSON schemas of the request bodies (Fastify validates them; errors become 422). */
export const SCHEMAS = {
  embed: { type: 'object', required: ['inputs'], properties: { inputs: strOrList, normalize: bool, truncate: bool }, additionalProperties: false },
  predict: {
    type: 'object',
    required: ['inputs'],
    properties: {
      inputs: { anyOf: [str, { type: 'array', items: { anyOf: [str, { type: 'array', items: str, minItems: 1, maxItems: 2 }] } }] },
      raw_scores: bool,
      truncate: bool,
    },
    additionalProperties: false,
  },
  rerank: {
    type: 'object',
    required: ['query', 'texts'],
    properties: { query: str, texts: { type: 'array', items: str }, raw_scores: bool, return_text: bool, truncate: bool },
    additionalProperties: false,
  },
  tokenize: { type: 'object', required: ['inputs'], properties: { inputs: strOrList, add_special_tokens: bool }, additionalProperties: false },
  openai: {
    type: 'object',
    required: ['input'],
    properties: { input: strOrList, model: str, encoding_format: { type: 'string', enum: ['float', 'base64'] }, user: str, dimensions: { type: 'integer' } },
    additionalProperties: false,
  },
  detect: { type: 'object', required: ['inputs'], properties: { inputs: strOrList, threshold: { type: 'number' }, truncate: bool }, additionalProperties: false },
  tag: { type: 'object', required: ['inputs'], properties: { inputs: strOrList, truncate: bool, ignore_labels: { type: 'array', items: str } }, additionalProperties: false },
  answer: {
    type: 'object',
    required: ['inputs'],
    properties: {
      inputs: {
        anyOf: [
          { type: 'object', required: ['question', 'context'], properties: { question: str, context: str }, additionalProperties: false },
          { type: 'array', items: { type: 'object', required: ['question', 'context'], properties: { question: str, context: str }, additionalProperties: false } },
        ],
      },
      truncate: bool,
      max_answer_length: { type: 'integer' },
      stride: { type: 'integer' },
    },
    additionalProperties: false,
  },
} as const;

/** `inputs` as a list, 422 (ERR_INPUT) when empty or longer than the client batch limit. */
function listOf<T>(ctx: RouteContext, x: T | T[], what = 'inputs'): T[] {
  const list = Array.isArray(x) ? x : [x];
  if (list.length === 0) throw new ElectraError('ERR_INPUT', `${what} is empty`);
  if (list.length > ctx.maxClientBatchSize) {
    throw new ElectraError('ERR_INPUT', `${what} has ${list.length} entries, more than --max-client-batch-size ${ctx.maxClientBatchSize}`);
  }
  ctx.inputs = list.length;
  return list;
}

/** The options every helper takes: one forward call per request (the batcher splits it by tokens). */
function inferOpts(ctx: RouteContext, truncate: boolean | undefined) {
  return { batchSize: ctx.maxClientBatchSize, truncation: truncate ?? false };
}

type Body<K extends keyof typeof SCHEMAS> = Record<string, unknown> & { _k?: K };

export async function embedRoute(ctx: RouteContext, b: Body<'embed'>): Promise<number[][]> {
  const texts = listOf(ctx, b.inputs as string | string[]);
  const rows = await embed(ctx.model, texts, { ...inferOpts(ctx, b.truncate as boolean | undefined), pooling: ctx.pooling, normalize: (b.normalize as boolean | undefined) ?? true });
  return rows.map((v) => Array.from(v));
}

export async function openaiRoute(ctx: RouteContext, b: Body<'openai'>): Promise<unknown> {
  const texts = listOf(ctx, b.input as string | string[], 'input');
  const rows = await embed(ctx.model, texts, { ...inferOpts(ctx, undefined), pooling: ctx.pooling, normalize: true });
  const base64 = b.encoding_format === 'base64';
  const tokens = ctx.tokens();
  return {
    object: 'list',
    data: rows.map((v, index) => ({ object: 'embedding', index, embedding: base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v) })),
    model: (b.model as string | undefined) ?? ctx.modelId,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

/** TEI's predict input: a text, a [text] or [text, pair], or a list of those. */
function predictInputs(x: unknown): { inputs: TextInput[]; single: boolean } {
  const seq = (v: unknown): TextInput => (typeof v === 'string' ? v : (v as string[]).length === 1 ? (v as string[])[0]! : [(v as string[])[0]!, (v as string[])[1]!]);
  if (typeof x === 'string') return { inputs: [x], single: true };
  const list = x as unknown[];
  if (list.length >= 1 && list.length <= 2 && list.every((v) => typeof v === 'string')) return { inputs: [seq(list)], single: true };
  if (list.some((v) => typeof v === 'string')) {
    throw new ElectraError('ERR_INPUT', 'inputs: a batch is a list of [text] or [text, pair] arrays (as text-embeddings-inference); a plain list of strings is one text or one pair');
  }
  return { inputs: list.map(seq), single: false };
}

export async function predictRoute(ctx: RouteContext, b: Body<'predict'>): Promise<unknown> {
  const { inputs, single } = predictInputs(b.inputs);
  listOf(ctx, inputs);
  const raw = (b.raw_scores as boolean | undefined) ?? false;
  const truncate = b.truncate as boolean | undefined;
  let out: { label: string; score: number }[][];
  if (!raw) {
    const rs = await classify(ctx.model, inputs, inferOpts(ctx, truncate));
    out = rs.map(scoresOf);
  } else {
    requireHead(ctx.model, 'sequence-classification', 'predict');
    const tok = requireTokenizer(ctx.model, 'predict');
    const r = resolveOptions(ctx.model, inferOpts(ctx, truncate), 'predict');
    const examples = await encodeTexts(tok, inputs, r, 'predict');
    const rows = await runBatched(ctx.model, examples, { batchSize: r.batchSize, padId: tok.padId });
    out = rows.map((row) => Array.from(row.classification!, (score, k) => ({ label: labelName(ctx.model, k), score })).sort((x, y) => y.score - x.score));
  }
  return single ? out[0] : out;
}

function scoresOf(c: Classification): { label: string; score: number }[] {
  return Object.entries(c.scores)
    .map(([label, score]) => ({ label, score }))
    .sort((x, y) => y.score - x.score);
}

/**
 * Cross-encoder scores of (query, text) pairs, truncating only the text. With one label the score
 * is sigmoid(logit); with several, the softmax probability of the last label (label 1 of a binary
 * relevance classifier). `raw_scores`: that label's logit.
 */
export async function rerankRoute(ctx: RouteContext, b: Body<'rerank'>): Promise<unknown> {
  const query = b.query as string;
  const texts = listOf(ctx, b.texts as string[], 'texts');
  requireHead(ctx.model, 'sequence-classification', 'rerank');
  const tok = requireTokenizer(ctx.model, 'rerank');
  const r = resolveOptions(ctx.model, inferOpts(ctx, b.truncate as boolean | undefined), 'rerank');
  if (query.trim() === '') throw new ElectraError('ERR_INPUT', 'rerank: query is empty');
  texts.forEach((t, i) => {
    if (t.trim() === '') throw new ElectraError('ERR_INPUT', `rerank: texts[${i}] is empty`);
  });
  const full = await tok.encodeBatch(texts.map((t) => [query, t] as const));
  const examples: Example[] = full.map((e, i) => {
    const q = e.sequenceIds.filter((s) => s === 0).length;
    if (q + 4 > r.maxLength) throw new ElectraError('ERR_INPUT', `rerank: the query has ${q} tokens, which leaves no room for texts[${i}] within ${r.maxLength} tokens`);
    if (e.ids.length <= r.maxLength) return { ...e, truncated: 0 };
    if (!r.truncation) throw new ElectraError('ERR_INPUT', `rerank: (query, texts[${i}]) has ${e.ids.length} tokens, more than the maximum ${r.maxLength} (truncate: false)`);
    const keep = r.maxLength - 1;
    const cut = <T>(a: T[]): T[] => [...a.slice(0, keep), a[a.length - 1]!];
    return { ids: cut(e.ids), tokens: cut(e.tokens), typeIds: cut(e.typeIds), attentionMask: cut(e.attentionMask), specialTokensMask: cut(e.specialTokensMask), offsets: cut(e.offsets), sequenceIds: cut(e.sequenceIds), truncated: e.ids.length - r.maxLength };
  });
  const rows = await runBatched(ctx.model, examples, { batchSize: r.batchSize, padId: tok.padId });
  const raw = (b.raw_scores as boolean | undefined) ?? false;
  const out = rows.map((row, index) => {
    const l = row.classification!;
    const last = l.length - 1;
    const score = raw ? l[last]! : l.length === 1 ? sigmoid(l[0]!) : softmax(l)[last]!;
    return b.return_text ? { index, score, text: texts[index] } : { index, score };
  });
  return out.sort((x, y) => y.score - x.score || x.index - y.index);
}

export async function tokenizeRoute(ctx: RouteContext, b: Body<'tokenize'>): Promise<unknown> {
  const texts = listOf(ctx, b.inputs as string | string[]);
  const tok = requireTokenizer(ctx.model, 'tokenize');
  const enc = await tok.encodeBatch(texts, { addSpecialTokens: (b.add_special_tokens as boolean | undefined) ?? true });
  return enc.map((e, i) =>
    e.ids.map((id, t) => {
      const [start, stop] = e.offsets[t]!;
      const special = e.specialTokensMask[t] === 1;
      return { id, text: special ? e.tokens[t]! : texts[i]!.slice(start, stop), special, start: special ? null : start, stop: special ? null : stop };
    }),
  );
}

export async function detectRoute(ctx: RouteContext, b: Body<'detect'>): Promise<unknown> {
  const texts = listOf(ctx, b.inputs as string | string[]);
  return detectBatch(ctx.model, undefined, texts, { ...inferOpts(ctx, b.truncate as boolean | undefined), threshold: b.threshold as number | undefined });
}

export async function tagRoute(ctx: RouteContext, b: Body<'tag'>): Promise<unknown> {
  const texts = listOf(ctx, b.inputs as string | string[]);
  return tagTokens(ctx.model, texts, { ...inferOpts(ctx, b.truncate as boolean | undefined), ignoreLabels: b.ignore_labels as string[] | undefined });
}

export async function answerRoute(ctx: RouteContext, b: Body<'answer'>): Promise<unknown> {
  const single = !Array.isArray(b.inputs);
  const items = listOf(ctx, b.inputs as QAInput | QAInput[]);
  const rs = await answer(ctx.model, items, { ...inferOpts(ctx, b.truncate as boolean | undefined), maxAnswerLength: b.max_answer_length as number | undefined, stride: b.stride as number | undefined });
  return single ? rs[0] : rs;
}
