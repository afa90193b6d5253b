/**
 * The per-document work of `prepare` that runs in worker threads (or in the calling thread):
 * split each document into sentences and tokenize them, returning flat typed arrays that
 * transfer between threads without copying.
 */
import type { ElectraTokenizer } from '../tokenizer/tokenizer';
import { splitSentences, type SplitOptions } from './sentences';

/** Tokenized documents, flat: document d has `sentencesPerDoc[d]` sentences, sentence s `sentenceLengths[s]` ids. */
export interface TokenizedDocs {
  /** All token ids, documents and sentences in order. */
  ids: Int32Array;
  /** Tokens per sentence. */
  sentenceLengths: Int32Array;
  /** Sentences per document. */
  sentencesPerDoc: Int32Array;
  /** How many ids are the unknown token. */
  unknown: number;
  /** Characters of input. */
  characters: number;
}

/** Splits and tokenizes documents (no special tokens). */
export async function tokenizeDocuments(tok: ElectraTokenizer, docs: readonly string[], split: SplitOptions = {}): Promise<TokenizedDocs> {
  const sentences: string[] = [];
  const sentencesPerDoc = new Int32Array(docs.length);
  let characters = 0;
  docs.forEach((d, i) => {
    characters += d.length;
    const s = splitSentences(d, split);
    sentencesPerDoc[i] = s.length;
    for (const x of s) sentences.push(x);
  });
  const encoded = await tok.encodeIds(sentences);
  let total = 0;
  for (const e of encoded) total += e.length;
  const ids = new Int32Array(total);
  const sentenceLengths = new Int32Array(encoded.length);
  const unk = tok.unkId;
  let unknown = 0;
  let k = 0;
  encoded.forEach((e, i) => {
    sentenceLengths[i] = e.length;
    for (const id of e) {
      if (id === unk) unknown++;
      ids[k++] = id;
    }
  });
  return { ids, sentenceLengths, sentencesPerDoc, unknown, characters };
}

/** Cuts {@link TokenizedDocs} back into per-document lists of sentence id arrays (views, no copy). */
export function documentsOf(t: TokenizedDocs): Int32Array[][] {
  const out: Int32Array[][] = [];
  let s = 0;
  let off = 0;
  for (let d = 0; d < t.sentencesPerDoc.length; d++) {
    const doc: Int32Array[] = [];
    for (let j = 0; j < t.sentencesPerDoc[d]!; j++, s++) {
      const n = t.sentenceLengths[s]!;
      doc.push(t.ids.subarray(off, off + n));
      off += n;
    }
    out.push(doc);
  }
  return out;
}
