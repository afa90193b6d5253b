/**
 * What every inference helper shares: input checks, tokenization with truncation, and batched
 * forward passes with length sorting and dynamic padding.
 */
import { ElectraError } from '../errors';
import type { Electra, Float32Tensor, ForwardResult, Head } from '../electra';
import type { Encoded, ElectraTokenizer } from '../tokenizer/tokenizer';
import { RUN_CALL } from './queue';

/** A text, or a pair of texts (`[CLS] a [SEP] b [SEP]`). */
export type TextInput = string | readonly [string, string];

/** Options every batched helper takes. */
export interface InferOptions {
  /** Texts per forward pass (default 32). Texts are sorted by length and each batch is padded only to its longest member. */
  batchSize?: number;
  /** Tokens per text, special tokens included (default and upper bound: the model's `max_position_embeddings`). */
  maxLength?: number;
  /**
   * Cut texts longer than `maxLength` (default true; each result counts the tokens dropped in
   * `truncated`). `false`: such a text is an `ERR_INPUT` error.
   */
  truncation?: boolean;
}

export interface Resolved {
  batchSize: number;
  maxLength: number;
  truncation: boolean;
}

/** An encoded text with the number of tokens truncation dropped. */
export interface Example extends Encoded {
  truncated: number;
}

/** One row of a batched forward pass, cut to the row's own length. */
export interface Row {
  /** Tokens in this row (no padding). */
  length: number;
  /** (length, H) */
  hidden?: Float32Array;
  /** (length) */
  discriminator?: Float32Array;
  /** (L) */
  classification?: Float32Array;
  /** (length, L) */
  tokens?: Float32Array;
  /** (length) */
  start?: Float32Array;
  /** (length) */
  end?: Float32Array;
}

const DEFAULT_BATCH = 32;

/** Throws ERR_DISPOSED before any work on a disposed model. */
export function assertLive(model: Electra): void {
  if (model.disposed) throw new ElectraError('ERR_DISPOSED', 'the model has been disposed');
}

/** Checks and fills in the options (ERR_INPUT names a bad one). */
export function resolveOptions(model: Electra, o: InferOptions | undefined, what: string): Resolved {
  if (o !== undefined && (o === null || typeof o !== 'object')) throw new ElectraError('ERR_INPUT', `${what}: options must be an object`);
  const max = model.config.max_position_embeddings;
  const batchSize = o?.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ElectraError('ERR_INPUT', `${what}: batchSize must be a positive integer, got ${String(batchSize)}`);
  const maxLength = o?.maxLength ?? max;
  if (!Number.isInteger(maxLength) || maxLength < 3) throw new ElectraError('ERR_INPUT', `${what}: maxLength must be an integer >= 3, got ${String(maxLength)}`);
  if (maxLength > max) throw new ElectraError('ERR_INPUT', `${what}: maxLength ${maxLength} exceeds the model's max_position_embeddings ${max}`);
  const truncation = o?.truncation ?? true;
  if (typeof truncation !== 'boolean') throw new ElectraError('ERR_INPUT', `${what}: truncation must be a boolean`);
  return { batchSize, maxLength, truncation };
}

/** The model's tokenizer, or ERR_TOKENIZER saying which files are missing. */
export function requireTokenizer(model: Electra, what: string): ElectraTokenizer {
  const t = model.tokenizer;
  if (t) return t;
  const where = model.source ? `${model.source} has neither tokenizer.json nor vocab.txt` : 'this model was not loaded from a directory with tokenizer files (tokenizer.json or vocab.txt)';
  throw new ElectraError('ERR_TOKENIZER', `${what} needs a tokenizer: ${where}; pass one with Electra.load(dir, { tokenizer }) or set model.tokenizer`);
}

const HEAD_CLASS: Record<Head, string> = {
  none: 'ElectraModel',
  discriminator: 'ElectraForPreTraining',
  generator: 'ElectraForMaskedLM',
  'sequence-classification': 'ElectraForSequenceClassification',
  'token-classification': 'ElectraForTokenClassification',
  'question-answering': 'ElectraForQuestionAnswering',
};

/** ERR_CHECKPOINT when the model lacks the head a helper needs. */
export function requireHead(model: Electra, head: Head, what: string): void {
  if (model.head === head) return;
  const src = model.source ? ` (${model.source})` : '';
  throw new ElectraError(
    'ERR_CHECKPOINT',
    `${what} needs a ${HEAD_CLASS[head]} checkpoint (head "${head}"); this model${src} is ${HEAD_CLASS[model.head]} (head "${model.head}")` +
      (model.head === 'discriminator' || model.head === 'none' ? `: fine-tune it for the task first, or load a directory saved with that head` : ''),
  );
}

/** Normalises `string | TextInput[]` into a checked list (ERR_INPUT names the bad entry). */
export function checkTexts(x: unknown, what: string, pairs: boolean): TextInput[] {
  const list: unknown[] = typeof x === 'string' ? [x] : Array.isArray(x) ? x : [];
  if (typeof x !== 'string' && !Array.isArray(x)) {
    throw new ElectraError('ERR_INPUT', `${what} takes a text or an array of texts${pairs ? ' (or [text, pair] pairs)' : ''}, got ${describe(x)}`);
  }
  const checkOne = (s: unknown, name: string): string => {
    if (typeof s !== 'string') throw new ElectraError('ERR_INPUT', `${what}: ${name} must be a string, got ${describe(s)}`);
    if (s.trim() === '') throw new ElectraError('ERR_INPUT', `${what}: ${name} is empty`);
    return s;
  };
  return list.map((v, i) => {
    if (Array.isArray(v) && pairs) {
      if (v.length !== 2) throw new ElectraError('ERR_INPUT', `${what}: texts[${i}] must be a string or a [text, pair] array of two strings`);
      return [checkOne(v[0], `texts[${i}][0]`), checkOne(v[1], `texts[${i}][1]`)] as const;
    }
    return checkOne(v, typeof x === 'string' ? 'the text' : `texts[${i}]`);
  });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

/**
 * Encodes texts (or pairs) with `[CLS]`/`[SEP]`; texts over `maxLength` are cut (longest text first
 * for a pair) with the count in `truncated`, or ERR_INPUT when `truncation` is false.
 */
export async function encodeTexts(tok: ElectraTokenizer, inputs: readonly TextInput[], r: Resolved, what: string): Promise<Example[]> {
  if (inputs.length === 0) return [];
  const full = await tok.encodeBatch(inputs);
  const long: number[] = [];
  full.forEach((e, i) => {
    if (e.ids.length > r.maxLength) long.push(i);
  });
  if (long.length && !r.truncation) {
    const i = long[0]!;
    throw new ElectraError('ERR_INPUT', `${what}: texts[${i}] has ${full[i]!.ids.length} tokens, more than the maximum ${r.maxLength} (truncation: false)`);
  }
  const cut = long.length ? await tok.encodeBatch(long.map((i) => inputs[i]!), { maxLength: r.maxLength }) : [];
  const out: Example[] = full.map((e) => ({ ...e, truncated: 0 }));
  long.forEach((i, k) => {
    out[i] = { ...cut[k]!, truncated: full[i]!.ids.length - cut[k]!.ids.length };
  });
  out.forEach((e, i) => {
    if (!e.specialTokensMask.some((s) => s === 0)) {
      throw new ElectraError('ERR_INPUT', `${what}: texts[${i}] has no tokens (only characters the tokenizer drops)`);
    }
  });
  return out;
}

const PER_TOKEN = ['hidden', 'discriminator', 'tokens', 'start', 'end'] as const;

/**
 * Runs the model over examples in batches of `batchSize`: longest first, each batch padded to its
 * own longest member; rows come back in the input order, cut to their own length. At most two
 * batches of a call are built and queued ahead, so a long input does not sit in memory as batches.
 * The batches run as one call: once the first has started, dispose() lets the others finish.
 */
export function runBatched(
  model: Electra,
  examples: readonly { ids: readonly number[]; typeIds: readonly number[] }[],
  opts: { batchSize: number; hidden?: boolean; padId: number },
): Promise<Row[]> {
  return model[RUN_CALL]((forward) => runBatches(forward, examples, opts));
}

async function runBatches(
  forward: (batch: Parameters<Electra['forward']>[0], o: { hidden: boolean }) => Promise<ForwardResult>,
  examples: readonly { ids: readonly number[]; typeIds: readonly number[] }[],
  opts: { batchSize: number; hidden?: boolean; padId: number },
): Promise<Row[]> {
  const order = examples.map((_, i) => i).sort((a, b) => examples[b]!.ids.length - examples[a]!.ids.length || a - b);
  const rows = new Array<Row>(examples.length);
  const ahead: Promise<void>[] = [];
  for (let s = 0; s < order.length; s += opts.batchSize) {
    if (ahead.length >= 2) await ahead.shift();
    const idx = order.slice(s, s + opts.batchSize);
    const B = idx.length;
    const T = examples[idx[0]!]!.ids.length;
    const inputIds = new Int32Array(B * T).fill(opts.padId);
    const tokenTypeIds = new Int32Array(B * T);
    const attentionMask = new Int32Array(B * T);
    idx.forEach((k, b) => {
      const e = examples[k]!;
      inputIds.set(e.ids, b * T);
      tokenTypeIds.set(e.typeIds, b * T);
      attentionMask.fill(1, b * T, b * T + e.ids.length);
    });
    const p = forward({ inputIds, tokenTypeIds, attentionMask, shape: [B, T] }, { hidden: opts.hidden ?? false }).then((r: ForwardResult) => {
      idx.forEach((k, b) => {
        const len = examples[k]!.ids.length;
        const row: Row = { length: len };
        for (const key of PER_TOKEN) {
          const t: Float32Tensor | undefined = r[key];
          if (!t) continue;
          const inner = t.shape.slice(2).reduce((x, y) => x * y, 1);
          row[key] = t.data.subarray(b * T * inner, (b * T + len) * inner);
        }
        if (r.classification) {
          const L = r.classification.shape[1]!;
          row.classification = r.classification.data.subarray(b * L, (b + 1) * L);
        }
        rows[k] = row;
      });
    });
    // Awaited below; this keeps a failure of a batch not yet awaited from being reported as unhandled.
    p.catch(() => undefined);
    ahead.push(p);
  }
  await Promise.all(ahead);
  return rows;
}

/** The name of label `i`: config id2label, else `LABEL_i` (as transformers). */
export function labelName(model: Electra, i: number): string {
  return model.config.id2label?.[String(i)] ?? `LABEL_${i}`;
}

/** Softmax in float64 of `n` values from `x` at `off`. */
export function softmax(x: ArrayLike<number>, off = 0, n = x.length - off): number[] {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, x[off + i]!);
  const e = new Array<number>(n);
  let s = 0;
  for (let i = 0; i < n; i++) s += e[i] = Math.exp(x[off + i]! - m);
  for (let i = 0; i < n; i++) e[i] = e[i]! / s;
  return e;
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
