/** `electra embed`: text embeddings from a model's last hidden states. */
import { Electra } from '../electra';
import { ElectraError } from '../errors';
import { num, parse, precisionOf } from './args';
import { cliHub } from './hub';
import { JOB_OPTIONS, JOB_USAGE, runJobCommand } from '../jobs/cli';
import { f32, textChunks } from './inputs';

const USAGE = `usage: electra embed --model DIR [options] (TEXT... | --file F)

One embedding (hidden_size numbers) per text, from the last hidden states of any ELECTRA model.

options:
  --model DIR         a Hugging Face directory with tokenizer files (tokenizer.json or vocab.txt)
  --file F            one text per line (blank lines skipped); - reads stdin
  --pooling mean|cls  mean over the tokens (default) or the [CLS] row
  --normalize         scale each embedding to unit length
  --json              one JSON object per line: {"text", "embedding": [...], "truncated"}
                      (default: one line of space-separated numbers per text, in order)
  --batch N           texts per forward pass (default 32)
  --max-length N      tokens per text (default: the model's max_position_embeddings)
  --no-truncation     a text longer than that is an error (ERR_INPUT) instead of being cut
  --device D          cpu (default), cuda, cuda:1, ...
  --precision P       fp32 (default) or bf16 (autocast; fast on CUDA)
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      model: { type: 'string' },
      file: { type: 'string' },
      pooling: { type: 'string' },
      normalize: { type: 'boolean' },
      json: { type: 'boolean' },
      batch: { type: 'string' },
      'max-length': { type: 'string' },
      'no-truncation': { type: 'boolean' },
      device: { type: 'string' },
      precision: { type: 'string' },
      ...JOB_OPTIONS,
    },
    true,
  );
  if (values.help) {
    process.stdout.write(USAGE + JOB_USAGE);
    return 0;
  }
  if (!values.model) throw new ElectraError('ERR_CONFIG', '--model is required');
  const pooling = values.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new ElectraError('ERR_CONFIG', `--pooling must be mean or cls, got ${JSON.stringify(pooling)}`);
  const batchSize = num(values.batch, 'batch', { int: true, min: 1 }) ?? 32;
  const maxLength = num(values['max-length'], 'max-length', { int: true, min: 3 });
  if (values.input !== undefined) return runJobCommand('embed', values, { pooling, normalize: values.normalize ?? false, maxLength, truncation: !values['no-truncation'] });
  if (positionals.length === 0 && values.file === undefined) throw new ElectraError('ERR_CONFIG', 'give at least one text, or --file F (- for stdin)');
  const model = await Electra.load(values.model, { device: values.device ?? 'cpu', precision: precisionOf(values.precision), hub: cliHub });
  try {
    for await (const texts of textChunks(positionals, values.file, Math.max(batchSize * 8, 256))) {
      const rows = await model.embed(texts, { pooling, normalize: values.normalize ?? false, batchSize, maxLength, truncation: !values['no-truncation'] });
      let s = '';
      rows.forEach((v, i) => {
        const nums = Array.from(v, f32);
        s += (values.json ? JSON.stringify({ text: texts[i], embedding: nums, truncated: rows.truncated[i] }) : nums.join(' ')) + '\n';
      });
      process.stdout.write(s);
    }
  } finally {
    model.dispose();
  }
  return 0;
}
