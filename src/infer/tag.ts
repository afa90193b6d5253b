/** Token classification (ElectraForTokenClassification): a label per token, and entities grouped from BIO tags. */
import type { Electra } from '../electra';
import { ElectraError } from '../errors';
import { assertLive, checkTexts, encodeTexts, labelName, requireHead, requireTokenizer, resolveOptions, runBatched, softmax, type InferOptions } from './common';

export interface TaggedToken {
  /** The vocabulary token (`##` marks a continuation piece). */
  token: string;
  /** Position in the encoded sequence ([CLS] is 0). */
  index: number;
  /** Character offsets `[start, end)` in the text. */
  offsets: [number, number];
  /** The label with the highest probability. */
  label: string;
  /** Its probability (softmax over the labels). */
  score: number;
}

/** Adjacent tokens grouped as transformers' token-classification pipeline does with `aggregation_strategy: "simple"`. */
export interface Entity {
  /** The label without its `B-`/`I-` prefix. */
  label: string;
  /** Mean of the tokens' scores. */
  score: number;
  /** The tokens joined as the tokenizer decodes them (pieces merged). */
  word: string;
  /** Character offsets `[start, end)` of the entity in the text. */
  start: number;
  end: number;
  /** `text.slice(start, end)`. */
  text: string;
}

export interface TagResult {
  /** Every token of the text (not [CLS]/[SEP]). */
  tokens: TaggedToken[];
  /** Entities, without those labelled with `ignoreLabels`. */
  entities: Entity[];
  /** Tokens dropped by truncation. */
  truncated: number;
}

export interface TagOptions extends InferOptions {
  /** Entity labels left out of `entities` (default `["O"]`). */
  ignoreLabels?: readonly string[];
}

/** Labels every token of each text; results in the input order. */
export async function tagTokens(model: Electra, texts: string | readonly string[], opts?: TagOptions): Promise<TagResult[]> {
  assertLive(model);
  const r = resolveOptions(model, opts, 'tagTokens');
  const ignore = new Set(opts?.ignoreLabels ?? ['O']);
  if (opts?.ignoreLabels !== undefined && !Array.isArray(opts.ignoreLabels)) throw new ElectraError('ERR_INPUT', 'tagTokens: ignoreLabels must be an array of labels');
  requireHead(model, 'token-classification', 'tagTokens');
  const tok = requireTokenizer(model, 'tagTokens');
  const inputs = checkTexts(texts, 'tagTokens', false) as string[];
  const examples = await encodeTexts(tok, inputs, r, 'tagTokens');
  const rows = await runBatched(model, examples, { batchSize: r.batchSize, padId: tok.padId });
  return rows.map((row, i) => {
    const e = examples[i]!;
    const text = inputs[i]!;
    const logits = row.tokens!;
    const L = logits.length / row.length;
    const tokens: TaggedToken[] = [];
    const words: string[] = [];
    for (let t = 0; t < row.length; t++) {
      if (e.specialTokensMask[t]) continue;
      const p = softmax(logits, t * L, L);
      let best = 0;
      for (let k = 1; k < L; k++) if (p[k]! > p[best]!) best = k;
      const offsets = e.offsets[t]!;
      tokens.push({ token: e.tokens[t]!, index: t, offsets: [offsets[0], offsets[1]], label: labelName(model, best), score: p[best]! });
      // As transformers: an unknown token stands for the text it covers.
      words.push(e.ids[t] === tok.unkId ? text.slice(offsets[0], offsets[1]) : e.tokens[t]!);
    }
    return { tokens, entities: groupEntities(tokens, words, text, ignore), truncated: e.truncated };
  });
}

function tagOf(label: string): { bi: 'B' | 'I'; tag: string } {
  if (label.startsWith('B-')) return { bi: 'B', tag: label.slice(2) };
  if (label.startsWith('I-')) return { bi: 'I', tag: label.slice(2) };
  return { bi: 'I', tag: label };
}

/**
 * transformers' "simple" aggregation: a token joins the previous group when its tag (label without
 * B-/I-) is the same and it is not a B- token; groups labelled with an ignored label are dropped.
 */
export function groupEntities(tokens: readonly TaggedToken[], words: readonly string[], text: string, ignore: ReadonlySet<string>): Entity[] {
  const out: Entity[] = [];
  let group: number[] = [];
  const flush = () => {
    if (!group.length) return;
    const first = tokens[group[0]!]!;
    const last = tokens[group[group.length - 1]!]!;
    const label = first.label.includes('-') ? first.label.split('-').slice(1).join('-') : first.label;
    if (!ignore.has(label)) {
      const score = group.reduce((s, k) => s + tokens[k]!.score, 0) / group.length;
      const start = first.offsets[0];
      const end = last.offsets[1];
      out.push({ label, score, word: decodeWordPieces(group.map((k) => words[k]!)), start, end, text: text.slice(start, end) });
    }
    group = [];
  };
  tokens.forEach((t, k) => {
    if (group.length) {
      const cur = tagOf(t.label);
      const prev = tagOf(tokens[group[group.length - 1]!]!.label);
      if (cur.tag !== prev.tag || cur.bi === 'B') flush();
    }
    group.push(k);
  });
  flush();
  return out;
}

/** The WordPiece decoder of `tokenizers` (prefix `##`, cleanup on): pieces merged, spaces before punctuation removed. */
export function decodeWordPieces(pieces: readonly string[]): string {
  return pieces
    .map((p, i) => {
      let s = p;
      if (i !== 0) s = s.startsWith('##') ? s.slice(2) : ` ${s}`;
      return s
        .replaceAll(' .', '.')
        .replaceAll(' ?', '?')
        .replaceAll(' !', '!')
        .replaceAll(' ,', ',')
        .replaceAll(" ' ", "'")
        .replaceAll(" n't", "n't")
        .replaceAll(" 'm", "'m")
        .replaceAll(' do not', " don't")
        .replaceAll(" 's", "'s")
        .replaceAll(" 've", "'ve")
        .replaceAll(" 're", "'re");
    })
    .join('');
}
