/** `electra detect`: which tokens a discriminator thinks were replaced. */
import { Electra } from '../electra';
import { ElectraError } from '../errors';
import { num, parse, precisionOf } from './args';
import { cliHub } from './hub';
import { JOB_OPTIONS, JOB_USAGE, runJobCommand } from '../jobs/cli';
import { textChunks } from './inputs';

const USAGE = `usage: electra detect --model DIR [options] (TEXT... | --file F)

Each token of each text with its probability of having been replaced.

options:
  --model DIR      a discriminator directory (ElectraForPreTraining) with tokenizer files
  --file F         one text per line (blank lines skipped); - reads stdin
  --json           one JSON object per text and line: {"text", "tokens": [{token, offsets, probability, replaced}], "truncated"}
  --threshold P    probability above which a token counts as replaced (default 0.5)
  --batch N        texts per forward pass (default 32)
  --device D       cpu (default), cuda, cuda:1, ...
  --precision P    fp32 (default) or bf16 (autocast; fast on CUDA)
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { model: { type: 'string' }, file: { type: 'string' }, json: { type: 'boolean' }, threshold: { type: 'string' }, batch: { type: 'string' }, device: { type: 'string' }, precision: { type: 'string' }, ...JOB_OPTIONS },
    true,
  );
  if (values.help) {
    process.stdout.write(USAGE + JOB_USAGE);
    return 0;
  }
  if (!values.model) throw new ElectraError('ERR_CONFIG', '--model is required');
  const threshold = num(values.threshold, 'threshold', { min: 0, max: 1 }) ?? 0.5;
  const batchSize = num(values.batch, 'batch', { int: true, min: 1 }) ?? 32;
  if (values.input !== undefined) return runJobCommand('detect', values, { threshold });
  if (positionals.length === 0 && values.file === undefined) throw new ElectraError('ERR_CONFIG', 'give at least one text');
  const model = await Electra.load(values.model, { device: values.device ?? 'cpu', precision: precisionOf(values.precision), hub: cliHub });
  try {
    for await (const texts of textChunks(positionals, values.file, Math.max(batchSize * 8, 256))) {
      const rs = await model.detectReplaced(texts, { threshold, batchSize });
      rs.forEach((r, i) => {
        if (values.json) process.stdout.write(JSON.stringify({ text: texts[i], ...r }) + '\n');
        else process.stdout.write(formatDetection(r.tokens) + (r.truncated ? `\n(${r.truncated} tokens truncated)` : '') + '\n');
      });
    }
  } finally {
    model.dispose();
  }
  return 0;
}

/** One line per token with a bar for its probability of having been replaced. */
export function formatDetection(tokens: { token: string; probability: number; replaced: boolean }[]): string {
  return tokens
    .map((t) => `${t.token.padEnd(14)} ${t.probability.toFixed(3)} ${'#'.repeat(Math.round(t.probability * 20)).padEnd(20)}${t.replaced ? '  <- replaced' : ''}`)
    .join('\n');
}
