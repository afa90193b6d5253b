/** `electra detect`: which tokens a discriminator thinks were replaced. */
import { Electra } from '../electra';
import { ElectraError } from '../errors';
import { detectReplaced } from '../infer/detect';
import { ElectraTokenizer } from '../tokenizer/tokenizer';
import { parse } from './args';

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { model: { type: 'string' }, json: { type: 'boolean' }, device: { type: 'string' } }, true);
  if (values.help) {
    process.stdout.write('usage: electra detect --model DIR [--json] [--device D] TEXT...\n  DIR: a discriminator directory (ElectraForPreTraining) with tokenizer files\n');
    return 0;
  }
  if (!values.model) throw new ElectraError('ERR_CONFIG', '--model is required');
  if (positionals.length === 0) throw new ElectraError('ERR_CONFIG', 'give at least one text');
  const tok = ElectraTokenizer.load(values.model);
  const model = await Electra.load(values.model, { device: values.device ?? 'cpu' });
  try {
    for (const text of positionals) {
      const r = await detectReplaced(model, tok, text);
      if (values.json) process.stdout.write(JSON.stringify({ text, ...r }) + '\n');
      else process.stdout.write(formatDetection(r.tokens) + '\n');
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
