/** The `--input/--output` mode of `electra predict|embed|detect`: options and the glue to {@link runJob}. */
import { Electra } from '../electra';
import { ElectraError } from '../errors';
import { num, precisionOf } from '../cli/args';
import { formatOf } from './rows';
import { runJob, type JobTask } from './stream';

/** The options the three commands add (parseArgs format). */
export const JOB_OPTIONS = {
  input: { type: 'string' },
  output: { type: 'string' },
  'input-format': { type: 'string' },
  'text-field': { type: 'string' },
  'pair-field': { type: 'string' },
  'question-field': { type: 'string' },
  'id-field': { type: 'string' },
  keep: { type: 'string' },
  resume: { type: 'boolean' },
  'on-error': { type: 'string' },
  'chunk-rows': { type: 'string' },
  'max-batch-tokens': { type: 'string' },
  progress: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
} as const;

/** Usage lines of the job mode, shared by the three commands. */
export const JOB_USAGE = `
streaming jobs (files of any size, constant memory):
  --input F           rows: .jsonl (objects) or .csv (header row); - reads JSON Lines from stdin
  --output F          JSON Lines, one per row in input order (- for stdout); embed: F.npy writes
                      float32 (rows, hidden) with the row ids in F.ids.txt
  --text-field K      the text of a row (default "text"); --pair-field K: its pair (default "pair");
                      --question-field K: the question for question answering (default "question")
  --id-field K        copied to the output (default "id"; rows without it get "line")
  --keep K1,K2        more fields copied to the output
  --resume            continue an interrupted job from what OUT and OUT.progress hold
  --on-error skip|fail  a bad row (its line is named): skip it with a message (default) or stop
  --chunk-rows N      input rows per chunk (default 1024); --max-batch-tokens N: padded tokens per
                      forward pass (default 16384)
  --progress, --no-progress   rows/s and ETA on stderr (default: when stderr is a terminal)
`;

type Values = Record<string, string | boolean | undefined>;

/** Runs `electra <task> --input ...`; `taskOptions` are the command's helper options. */
export async function runJobCommand(task: JobTask, v: Values, taskOptions: Record<string, unknown>): Promise<number> {
  const s = (k: string) => v[k] as string | undefined;
  if (!s('model')) throw new ElectraError('ERR_CONFIG', '--model is required');
  if (s('output') === undefined) throw new ElectraError('ERR_CONFIG', '--input needs --output F (or - for stdout)');
  if (s('file') !== undefined) throw new ElectraError('ERR_CONFIG', 'give --input or --file, not both');
  const onError = s('on-error') ?? 'skip';
  if (onError !== 'skip' && onError !== 'fail') throw new ElectraError('ERR_CONFIG', `--on-error must be skip or fail, got ${JSON.stringify(onError)}`);
  const input = s('input')!;
  const model = await Electra.load(s('model')!, { device: s('device') ?? 'cpu', precision: precisionOf(s('precision')) });
  try {
    const r = await runJob({
      task,
      model,
      input,
      inputFormat: formatOf(input, s('input-format')),
      output: s('output')!,
      textField: s('text-field') ?? 'text',
      pairField: s('pair-field') ?? 'pair',
      questionField: s('question-field') ?? 'question',
      idField: s('id-field') ?? 'id',
      keep: (s('keep') ?? '').split(',').filter((x) => x !== ''),
      resume: v.resume === true,
      onError,
      chunkRows: num(s('chunk-rows'), 'chunk-rows', { int: true, min: 1 }) ?? 1024,
      maxBatchTokens: num(s('max-batch-tokens'), 'max-batch-tokens', { int: true, min: 1 }) ?? Math.max(16384, model.config.max_position_embeddings),
      taskOptions,
      progress: v['no-progress'] ? false : v.progress === true || process.stderr.isTTY === true,
      log: (m) => process.stderr.write(m + '\n'),
    });
    process.stderr.write(`${r.rows} rows${r.resumedFrom ? ` (resumed after ${r.resumedFrom})` : ''}, ${r.skipped} skipped, ${r.seconds.toFixed(1)} s\n`);
  } finally {
    model.dispose();
  }
  return 0;
}
