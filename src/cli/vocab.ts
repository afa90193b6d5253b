/** `electra vocab`: train a WordPiece vocabulary on a corpus and save a Hugging Face tokenizer folder. */
import * as path from 'node:path';
import { ElectraError } from '../errors';
import { trainVocabulary, type TrainVocabularyOptions } from '../tokenizer/vocab';
import { OutputLock } from '../util/lock';
import { isModelDir, refuseNonEmpty } from '../util/outdir';
import { num, parse } from './args';

const HELP = `usage: electra vocab --corpus SRC [--corpus SRC...] --out DIR [options]

  --corpus SRC         file, folder, .gz, .jsonl, '-' (stdin), or built-in: 'sotu', 'spam-assassin-train'; repeatable
  --out DIR            where vocab.txt, tokenizer.json, tokenizer_config.json go
  --size N             exact vocabulary size, specials included (default 30522)
  --min-frequency N    a pair must occur N times to be merged (default 2)
  --limit-alphabet N   keep at most N characters (default: all that fit)
  --no-lowercase       keep case (and accents unless --strip-accents)
  --strip-accents      strip accents even without lower-casing
  --no-strip-accents   keep accents even when lower-casing
  --format F           auto | text | jsonl (default auto, by extension)
  --text-field NAME    JSONL field holding the text (default text)
  --doc-boundary B     blank-line | file (default blank-line)
  --overwrite          write into a non-empty --out (only the four tokenizer files are replaced);
                       a model directory (config.json or .safetensors) is always refused
`;

/** Runs `electra vocab`; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    corpus: { type: 'string', multiple: true },
    out: { type: 'string' },
    size: { type: 'string' },
    'min-frequency': { type: 'string' },
    'limit-alphabet': { type: 'string' },
    'no-lowercase': { type: 'boolean' },
    'strip-accents': { type: 'boolean' },
    'no-strip-accents': { type: 'boolean' },
    format: { type: 'string' },
    'text-field': { type: 'string' },
    'doc-boundary': { type: 'string' },
    overwrite: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const corpus = values.corpus as string[] | undefined;
  const out = values.out as string | undefined;
  if (!corpus?.length || !out) {
    process.stderr.write('electra vocab: --corpus and --out are required\n\n' + HELP);
    return 2;
  }
  const lowercase = !values['no-lowercase'];
  const stripAccents = values['strip-accents'] ? true : values['no-strip-accents'] ? false : lowercase;
  const format = values.format as string | undefined;
  if (format !== undefined && !['auto', 'text', 'jsonl'].includes(format)) {
    process.stderr.write(`electra vocab: --format must be auto, text or jsonl, got ${JSON.stringify(format)}\n`);
    return 2;
  }
  const boundary = values['doc-boundary'] as string | undefined;
  if (boundary !== undefined && boundary !== 'blank-line' && boundary !== 'file') {
    process.stderr.write(`electra vocab: --doc-boundary must be blank-line or file, got ${JSON.stringify(boundary)}\n`);
    return 2;
  }
  const t0 = Date.now();
  const limit = num(values['limit-alphabet'] as string | undefined, 'limit-alphabet', { int: true, min: 1 });
  const opts: TrainVocabularyOptions = {
    size: num(values.size as string | undefined, 'size', { int: true, min: 7 }) ?? 30522,
    minFrequency: num(values['min-frequency'] as string | undefined, 'min-frequency', { int: true, min: 1 }) ?? 2,
    ...(limit !== undefined ? { limitAlphabet: limit } : {}),
    lowercase,
    stripAccents,
    corpusOptions: {
      ...(format ? { format: format as 'auto' | 'text' | 'jsonl' } : {}),
      ...(values['text-field'] ? { textField: values['text-field'] as string } : {}),
      ...(boundary ? { docBoundary: boundary as 'blank-line' | 'file' } : {}),
    },
  };
  const dir = path.resolve(out);
  const lock = OutputLock.acquire(dir, 'vocab');
  try {
    checkVocabOut(dir, values.overwrite === true);
    return await trainAndSave(corpus, out, t0, opts);
  } finally {
    lock.release();
  }
}

/** The files `electra vocab` writes: the only ones `--overwrite` replaces. */
const VOCAB_FILES = ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/**
 * A model directory's tokenizer belongs to its model (replacing it would make the model read the
 * wrong ids): always refused. Any other non-empty directory needs --overwrite.
 */
function checkVocabOut(dir: string, overwrite: boolean): void {
  if (isModelDir(dir)) {
    throw new ElectraError('ERR_CONFIG', `${dir} is a model directory (config.json or .safetensors weights): its tokenizer belongs to the model and is not replaced; choose another --out`);
  }
  refuseNonEmpty(dir, overwrite, VOCAB_FILES);
}

async function trainAndSave(corpus: string[], out: string, t0: number, opts: TrainVocabularyOptions): Promise<number> {
  const r = await trainVocabulary(corpus, opts);
  r.tokenizer.save(out);
  const lines = [
    `vocabulary: ${r.vocab.length} tokens -> ${out}`,
    `  ${r.documents} documents, ${r.distinctWords} distinct words, alphabet ${r.alphabet}, learned ${r.merges} pieces` +
      (r.fillers ? `, ${r.fillers} [unusedN] fillers (the corpus ran out of pairs seen >= min-frequency times)` : ''),
    `  vocabulary hash ${r.tokenizer.vocabHash}`,
    ...(r.skippedWords ? [`  ${r.skippedWords} word occurrences not learned from (too long or outside the alphabet)`] : []),
    ...r.skipped.format().map((l) => `  skipped: ${l}`),
    `  ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
