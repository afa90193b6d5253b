/* Shared pieces of the end-to-end tests: a small synthetic corpus, a tokenizer and prepared data. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepare } from '../../src/data/prepare';
import { trainVocabulary } from '../../src/tokenizer/vocab';

const WORDS = 'the people of this nation have built roads schools and hospitals while the congress debated taxes trade and the budget for every state'.split(' ');

/** A deterministic corpus of `docs` documents separated by blank lines. */
export function writeCorpus(file: string, docs = 60, seed = 1): void {
  let s = seed;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const out: string[] = [];
  for (let d = 0; d < docs; d++) {
    const sentences: string[] = [];
    const n = 3 + Math.floor(r() * 5);
    for (let i = 0; i < n; i++) {
      const len = 5 + Math.floor(r() * 10);
      const w: string[] = [];
      for (let j = 0; j < len; j++) w.push(WORDS[Math.floor(r() * WORDS.length)]!);
      sentences.push(w.join(' ') + '.');
    }
    out.push(sentences.join(' '));
  }
  fs.writeFileSync(file, out.join('\n\n') + '\n');
}

/** A temp dir with corpus.txt, tokenizer/ (vocab of `size`) and data/ (max length `maxLength`). */
export async function smallSetup(maxLength = 32, size = 120): Promise<{ dir: string; corpus: string; tokenizer: string; data: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'electra-e2e-'));
  const corpus = path.join(dir, 'corpus.txt');
  writeCorpus(corpus);
  const tokenizer = path.join(dir, 'tokenizer');
  const v = await trainVocabulary(corpus, { size });
  fs.mkdirSync(tokenizer);
  v.tokenizer.save(tokenizer);
  const data = path.join(dir, 'data');
  await prepare({ corpus, tokenizer: v.tokenizer, out: data, maxLength, workers: 0, progress: false });
  return { dir, corpus, tokenizer, data };
}

export const TINY = { embedding_size: 16, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 };
