/** `electra predict`: runs a fine-tuned model's task head over texts (classify, tag, answer, detect). */
import { Electra } from '../electra';
import { ElectraError } from '../errors';
import type { TextInput } from '../infer/common';
import { num, parse, precisionOf } from './args';
import { cliHub } from './hub';
import { JOB_OPTIONS, JOB_USAGE, runJobCommand } from '../jobs/cli';
import { formatDetection } from './detect';
import { textChunks } from './inputs';

const USAGE = `usage: electra predict --model DIR [options] (TEXT... | --file F)

The head of the model in DIR picks the task:
  sequence classification   the best label and its probability (--json: every label's)
  token classification      the entities (--json: every token too)
  question answering        the answer to --question in each TEXT (the context)
  discriminator             each token's probability of having been replaced (as electra detect)

options:
  --model DIR        a Hugging Face directory with tokenizer files (tokenizer.json or vocab.txt)
  --file F           one text per line (blank lines skipped); - reads stdin
  --json             one JSON object per text and line: {"text": ..., ...result}
  --batch N          texts per forward pass (default 32)
  --max-length N     tokens per text (default: the model's max_position_embeddings)
  --no-truncation    a text longer than that is an error (ERR_INPUT) instead of being cut
  --windows N        classification: score a long text in up to N windows of max-length tokens
                     and average them (default: what the model was fine-tuned with, else 1)
  --pairs            each TEXT / line is "text<TAB>pair" (sequence classification of pairs)
  --question Q       the question (question answering)
  --device D         cpu (default), cuda, cuda:1, ...
  --precision P      fp32 (default) or bf16 (autocast; fast on CUDA)
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      model: { type: 'string' },
      file: { type: 'string' },
      json: { type: 'boolean' },
      batch: { type: 'string' },
      'max-length': { type: 'string' },
      'no-truncation': { type: 'boolean' },
      windows: { type: 'string' },
      pairs: { type: 'boolean' },
      question: { type: 'string' },
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
  const batchSize = num(values.batch, 'batch', { int: true, min: 1 }) ?? 32;
  const maxLength = num(values['max-length'], 'max-length', { int: true, min: 3 });
  const windows = num(values.windows, 'windows', { int: true, min: 1 });
  const opts = { batchSize, maxLength, truncation: !values['no-truncation'] };
  if (values.input !== undefined) return runJobCommand('predict', values, { maxLength, truncation: !values['no-truncation'], windows });
  if (positionals.length === 0 && values.file === undefined) throw new ElectraError('ERR_CONFIG', 'give at least one text, or --file F (- for stdin)');
  const model = await Electra.load(values.model, { device: values.device ?? 'cpu', precision: precisionOf(values.precision), hub: cliHub });
  try {
    const head = model.head;
    if (head === 'question-answering' && values.question === undefined) throw new ElectraError('ERR_CONFIG', `${values.model} answers questions: give --question Q (each TEXT is a context)`);
    if (head !== 'question-answering' && values.question !== undefined) throw new ElectraError('ERR_CONFIG', `--question needs a question-answering model; ${values.model} has head "${head}"`);
    if (values.pairs && head !== 'sequence-classification') throw new ElectraError('ERR_CONFIG', '--pairs needs a sequence-classification model');
    if (windows !== undefined && head !== 'sequence-classification') throw new ElectraError('ERR_CONFIG', '--windows needs a sequence-classification model');
    if (head === 'none' || head === 'generator') {
      throw new ElectraError('ERR_CHECKPOINT', `${values.model} has no task head (head "${head}"): fine-tune it first, or use electra embed for embeddings`);
    }
    const out = (s: string) => process.stdout.write(s + '\n');
    for await (const texts of textChunks(positionals, values.file, Math.max(batchSize * 8, 256))) {
      if (head === 'sequence-classification') {
        const inputs: TextInput[] = values.pairs ? texts.map(splitPair) : texts;
        const rs = await model.classify(inputs, { ...opts, windows });
        rs.forEach((r, i) => {
          const t = inputs[i]!;
          if (values.json) out(JSON.stringify(typeof t === 'string' ? { text: t, ...r } : { text: t[0], pair: t[1], ...r }));
          else out(`${r.label}\t${r.value !== undefined ? r.value.toFixed(4) : r.score.toFixed(4)}\t${typeof t === 'string' ? t : t.join('\t')}${note(r.truncated)}`);
        });
      } else if (head === 'token-classification') {
        const rs = await model.tagTokens(texts, opts);
        rs.forEach((r, i) => {
          if (values.json) out(JSON.stringify({ text: texts[i], ...r }));
          else {
            out(texts[i]! + note(r.truncated));
            if (r.entities.length === 0) out('  (no entities)');
            for (const e of r.entities) out(`  ${e.label}\t${e.score.toFixed(3)}\t${e.text}\t[${e.start}, ${e.end})`);
          }
        });
      } else if (head === 'question-answering') {
        const rs = await model.answer(texts.map((context) => ({ question: values.question!, context })), opts);
        rs.forEach((r, i) => {
          if (values.json) out(JSON.stringify({ question: values.question, context: texts[i], ...r }));
          else out(`${r.answer}\t${r.score.toFixed(4)}\t[${r.start}, ${r.end})${note(r.truncated)}`);
        });
      } else {
        const rs = await model.detectReplaced(texts, opts);
        rs.forEach((r, i) => {
          if (values.json) out(JSON.stringify({ text: texts[i], ...r }));
          else out(formatDetection(r.tokens) + note(r.truncated) + '\n');
        });
      }
    }
  } finally {
    model.dispose();
  }
  return 0;
}

function note(truncated: number): string {
  return truncated ? `\t(${truncated} tokens truncated)` : '';
}

function splitPair(line: string, i: number): [string, string] {
  const k = line.indexOf('\t');
  if (k < 0) throw new ElectraError('ERR_INPUT', `--pairs: text ${i} has no tab between the text and its pair`);
  return [line.slice(0, k), line.slice(k + 1)];
}
