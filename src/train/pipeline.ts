/** Corpus -> vocabulary -> prepared data, reusing what an earlier run already made. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMeta } from '../data/dataset';
import { prepare } from '../data/prepare';
import { ElectraTokenizer } from '../tokenizer/tokenizer';
import { trainVocabulary } from '../tokenizer/vocab';

function log(m: string): void {
  process.stderr.write(`electra: ${m}\n`);
}

/** A tokenizer directory for `corpus`: reused when `dir` already has one, else trained. */
export async function ensureVocab(corpus: string | string[], dir: string, size: number): Promise<ElectraTokenizer> {
  if (fs.existsSync(path.join(dir, 'vocab.txt'))) {
    const t = ElectraTokenizer.load(dir);
    log(`reusing the vocabulary in ${dir} (${t.vocabSize} tokens)`);
    return t;
  }
  const t0 = Date.now();
  log(`training a ${size}-token WordPiece vocabulary on ${[corpus].flat().join(', ')}`);
  const r = await trainVocabulary(corpus, { size });
  fs.mkdirSync(dir, { recursive: true });
  r.tokenizer.save(dir);
  log(`vocabulary: ${r.documents} documents, ${r.distinctWords} distinct words, ${r.merges} merges, ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${dir}`);
  return r.tokenizer;
}

/** A prepared dataset for `corpus` in `dir`: reused when it matches the tokenizer and length. */
export async function ensureData(corpus: string | string[], tokenizer: ElectraTokenizer, dir: string, maxLength: number): Promise<void> {
  if (fs.existsSync(path.join(dir, 'meta.json'))) {
    const meta = readMeta(dir);
    if (meta.vocabHash === tokenizer.vocabHash && meta.maxLength === maxLength) {
      log(`reusing the prepared data in ${dir} (${meta.counts.examples} examples)`);
      return;
    }
    log(`the data in ${dir} was prepared with another vocabulary or length: preparing again`);
  }
  const r = await prepare({ corpus, tokenizer, out: dir, maxLength, overwrite: true });
  log(`prepared ${r.meta.counts.examples} examples of ${maxLength} tokens in ${r.seconds.toFixed(1)} s (${Math.round(r.tokensPerSecond / 1000)}k tokens/s)`);
}
