/** `electra prepare`: tokenize a corpus into fixed-length pre-training shards + meta.json. */
import { prepare } from '../data/prepare';
import { num, parse } from './args';

const HELP = `usage: electra prepare --corpus SRC [--corpus SRC...] --vocab DIR --out DIR [options]

  --corpus SRC         file, folder, .gz, .jsonl, '-' (stdin), or built-in: 'sotu', 'spam-assassin-train'; repeatable
  --vocab PATH         tokenizer folder (tokenizer.json or vocab.txt) or file
  --out DIR            output folder (shards + meta.json)
  --max-len N          tokens per example (default 128)
  --seed N             seed of example building (default 1)
  --shard-size N       examples per shard (default 65536)
  --workers N          tokenizer worker threads (default: CPUs, max 8; 0 = in this thread)
  --sentences MODE     rules | lines (default rules; lines = one sentence per line, as the original)
  --format F           auto | text | jsonl (default auto, by extension)
  --text-field NAME    JSONL field holding the text (default text)
  --doc-boundary B     blank-line | file (default blank-line)
  --force              replace a dataset already in --out (the new one is built beside it and swapped
                       in at the end: a failure or an interrupt leaves the old one as it was)
  --no-progress        no progress bar
`;

/** Runs `electra prepare`; resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    corpus: { type: 'string', multiple: true },
    vocab: { type: 'string' },
    out: { type: 'string' },
    'max-len': { type: 'string' },
    seed: { type: 'string' },
    'shard-size': { type: 'string' },
    workers: { type: 'string' },
    sentences: { type: 'string' },
    format: { type: 'string' },
    'text-field': { type: 'string' },
    'doc-boundary': { type: 'string' },
    force: { type: 'boolean' },
    'no-progress': { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const corpus = values.corpus as string[] | undefined;
  const vocab = values.vocab as string | undefined;
  const out = values.out as string | undefined;
  if (!corpus?.length || !vocab || !out) {
    process.stderr.write('electra prepare: --corpus, --vocab and --out are required\n\n' + HELP);
    return 2;
  }
  const choice = (name: string, allowed: string[]): string | undefined => {
    const v = (values as Record<string, unknown>)[name] as string | undefined;
    if (v !== undefined && !allowed.includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v;
  };
  let sentences: string | undefined, format: string | undefined, boundary: string | undefined;
  try {
    sentences = choice('sentences', ['rules', 'lines']);
    format = choice('format', ['auto', 'text', 'jsonl']);
    boundary = choice('doc-boundary', ['blank-line', 'file']);
  } catch (e) {
    process.stderr.write(`electra prepare: ${(e as Error).message}\n`);
    return 2;
  }
  const workers = num(values.workers as string | undefined, 'workers', { int: true, min: 0, max: 64 });
  const r = await prepare({
    corpus,
    tokenizer: vocab,
    out,
    maxLength: num(values['max-len'] as string | undefined, 'max-len', { int: true, min: 8, max: 65535 }) ?? 128,
    seed: num(values.seed as string | undefined, 'seed', { int: true }) ?? 1,
    shardSize: num(values['shard-size'] as string | undefined, 'shard-size', { int: true, min: 1 }) ?? 65536,
    ...(workers !== undefined ? { workers } : {}),
    sentenceSplit: (sentences ?? 'rules') as 'rules' | 'lines',
    corpusOptions: {
      ...(format ? { format: format as 'auto' | 'text' | 'jsonl' } : {}),
      ...(values['text-field'] ? { textField: values['text-field'] as string } : {}),
      ...(boundary ? { docBoundary: boundary as 'blank-line' | 'file' } : {}),
    },
    overwrite: Boolean(values.force),
    progress: !values['no-progress'],
  });
  const c = r.meta.counts;
  const lines = [
    `prepared ${c.examples} examples of ${r.meta.maxLength} tokens in ${r.meta.shards.length} shard(s) -> ${out}`,
    `  ${c.documents} documents, ${c.sentences} sentences, ${c.inputTokens} text tokens (${c.unknownTokens} unknown), ${c.singleSegment} single-segment examples`,
    `  ${r.seconds.toFixed(1)} s, ${Math.round(r.tokensPerSecond).toLocaleString('en-US')} tokens/s, ${r.workers ? `${r.workers} worker thread(s)` : 'in-thread tokenization'}`,
    ...(c.longSentences ? [`  ${c.longSentences} sentences longer than ${r.meta.maxLength - 3} tokens were cut into pieces`] : []),
    ...(c.oneSentenceDocuments ? [`  ${c.oneSentenceDocuments} one-sentence documents (single-segment examples)`] : []),
    ...r.meta.skipped.map((s) => `  skipped: ${s.reason}: ${s.count}${s.examples.length ? ` (e.g. ${s.examples.join(', ')})` : ''}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
