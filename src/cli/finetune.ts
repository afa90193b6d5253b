/** `electra finetune`: fine-tune a pre-trained ELECTRA on a labelled task. */
import { ElectraError, toElectraError } from '../errors';
import { setNumThreads } from '../runtime';
import { finetune, type FinetuneCallbacks, type FinetuneOptionsInput } from '../train/finetune';
import { interruptExitCode, type InterruptSignal } from '../train/stop';
import type { TaskKind } from '../train/taskdata';
import { num, parse } from './args';
import { resolveModel } from '../hub';
import { cliHub } from './hub';

const HELP = `usage: electra finetune --model DIR --task spam-assassin|FILE --out DIR [options]

  --model DIR         pre-trained model: an HF directory (e.g. a discriminator) or a pre-training
                      checkpoint (its discriminator/ is used); tokenizer files are read from it
  --task SRC          spam-assassin (built in) or a training file:
                        classification/regression: .csv/.tsv/.jsonl with text [, text_pair], label
                        token-classification: .jsonl {"tokens": [...], "tags": [...]} (IOB2)
                        question-answering: .jsonl {"question", "context", "answers": {"text", "answer_start"}}
  --head KIND         sequence-classification | regression | token-classification | question-answering
                      (sequence-classification)
  --dev FILE          dev split (default: 10% of the training file, seeded)   --test FILE
  --out DIR           where the best model goes (an HF directory + eval_results.json)
  --epochs N (3)      --lr X (by size: 3e-4 Small, 1e-4 Base, 5e-5 Large)   --batch N (32)   --eval-batch N (64)
  --layer-decay X     layer-wise lr decay (0.8, 0.9 Large; 1 = off): top layer lr*X, embeddings lr*X^(L+1)
  --warmup X          fraction of steps warming up (0.1)   --weight-decay X (0.01)
  --max-len N         tokens per example, longer ones are truncated (128)
  --windows N         classification/regression: cut a long text into up to N windows of max-len
                      tokens instead (trained on each; scored as the mean of their logits) (1)
  --patience N        early stopping: epochs without dev improvement (2; 0 = off)
  --metric M          the dev metric that picks the best epoch: accuracy|f1|mcc (classification),
                      spearman|pearson (regression), f1|accuracy|precision|recall (tagging),
                      f1|exactMatch (QA); default: accuracy, spearman, entity f1 (accuracy for
                      plain tags), f1. A tie goes to the later epoch only if its dev loss is lower.
  --scheme S          tagging: auto|iob1|iob2|bioes|plain (auto: detected from the tags; a given
                      scheme is checked, e.g. an I- without its B- is an error under iob2)
  --train-limit N     use only N training examples (sample-efficiency runs)
  --random-init       same architecture, random weights (baseline)
  --text-field F  --pair-field F  --label-field F   column names (text, text_pair, label)
  --tokenizer DIR     tokenizer, when the model directory has none
  --device D (cpu)    --precision fp32|bf16   --seed N (42)   --threads N   --json
  --overwrite         write into a non-empty --out; only fine-tuning's own files are replaced
                      (config.json, model.safetensors, tokenizer files, eval_results.json)

SIGINT or SIGTERM stops after the current step and exits 130 or 143; the best model of the
finished epochs stays in --out.`;

function parseFinetuneArgs(argv: string[]) {
  return parse(argv, {
    model: { type: 'string' },
    task: { type: 'string' },
    head: { type: 'string' },
    dev: { type: 'string' },
    test: { type: 'string' },
    out: { type: 'string' },
    epochs: { type: 'string' },
    lr: { type: 'string' },
    batch: { type: 'string' },
    'eval-batch': { type: 'string' },
    'layer-decay': { type: 'string' },
    warmup: { type: 'string' },
    'weight-decay': { type: 'string' },
    'max-len': { type: 'string' },
    windows: { type: 'string' },
    patience: { type: 'string' },
    metric: { type: 'string' },
    scheme: { type: 'string' },
    'train-limit': { type: 'string' },
    'random-init': { type: 'boolean' },
    'text-field': { type: 'string' },
    'pair-field': { type: 'string' },
    'label-field': { type: 'string' },
    tokenizer: { type: 'string' },
    device: { type: 'string' },
    precision: { type: 'string' },
    seed: { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'boolean' },
    overwrite: { type: 'boolean' },
  }).values;
}

type FinetuneValues = ReturnType<typeof parseFinetuneArgs>;

export async function run(argv: string[]): Promise<number> {
  const v = parseFinetuneArgs(argv);
  if (v.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  for (const k of ['model', 'task', 'out'] as const) if (!v[k]) throw new ElectraError('ERR_CONFIG', `--${k} is required`);
  const threads = num(v.threads, 'threads', { int: true, min: 1 });
  if (threads) setNumThreads(threads);
  const interrupt = new Interrupt();
  let s;
  try {
    s = await finetune(await finetuneOptions(v), { ...progressCallbacks(), signal: interrupt.signal });
  } catch (e) {
    const err = toElectraError(e);
    if (err.code !== 'ERR_ABORTED' || !interrupt.received) throw err;
    // The step in flight finished; the best model of the epochs done so far stays in --out.
    say(`electra finetune: ${interrupt.received}: stopped; the best model of the finished epochs (if any) is in ${v.out}`);
    return interruptExitCode(interrupt.received);
  } finally {
    interrupt.dispose();
  }
  if (v.json) process.stdout.write(JSON.stringify(s) + '\n');
  else {
    say(`best epoch ${s.bestEpoch}: dev ${s.dev.metricName} ${s.dev.metric.toFixed(4)}${s.test ? `; test ${s.test.metricName} ${s.test.metric.toFixed(4)}` : ''}`);
    say(`model saved to ${s.out} (Hugging Face directory, with eval_results.json)`);
  }
  return 0;
}

/** The fine-tuning options from the command line (unset ones left out, for the defaults). */
async function finetuneOptions(v: FinetuneValues): Promise<FinetuneOptionsInput> {
  const opts: FinetuneOptionsInput = {
    model: await resolveModel(v.model!, cliHub),
    task: v.task!,
    out: v.out!,
    head: v.head as TaskKind | undefined,
    dev: v.dev,
    test: v.test,
    tokenizer: await resolveModel(v.tokenizer, { ...cliHub, files: 'tokenizer' }),
    epochs: num(v.epochs, 'epochs', { int: true, min: 1 }),
    lr: num(v.lr, 'lr', { min: Number.MIN_VALUE }),
    batch: num(v.batch, 'batch', { int: true, min: 1 }),
    evalBatch: num(v['eval-batch'], 'eval-batch', { int: true, min: 1 }),
    layerDecay: num(v['layer-decay'], 'layer-decay', { min: Number.MIN_VALUE, max: 1 }),
    warmup: num(v.warmup, 'warmup', { min: 0, max: 1 }),
    weightDecay: num(v['weight-decay'], 'weight-decay', { min: 0 }),
    maxLength: num(v['max-len'], 'max-len', { int: true, min: 8 }),
    windows: num(v.windows, 'windows', { int: true, min: 1 }),
    patience: num(v.patience, 'patience', { int: true, min: 0 }),
    metric: v.metric,
    scheme: v.scheme as FinetuneOptionsInput['scheme'],
    trainLimit: num(v['train-limit'], 'train-limit', { int: true, min: 1 }),
    randomInit: v['random-init'] ?? false,
    textField: v['text-field'],
    pairField: v['pair-field'],
    labelField: v['label-field'],
    device: v.device,
    precision: v.precision as 'fp32' | 'bf16' | undefined,
    seed: num(v.seed, 'seed', { int: true, min: 0 }),
    overwrite: v.overwrite ?? false,
  };
  for (const k of Object.keys(opts) as Array<keyof FinetuneOptionsInput>) if (opts[k] === undefined) delete opts[k];
  return opts;
}

function say(s: string): void {
  process.stderr.write(s + '\n');
}

/** Progress on stderr: the step on a terminal, a line per epoch. */
function progressCallbacks(): FinetuneCallbacks {
  const tty = process.stderr.isTTY;
  let lastDraw = 0;
  return {
    log: say,
    onStep: (m) => {
      const now = Date.now();
      if (tty && now - lastDraw > 200) {
        lastDraw = now;
        process.stderr.write(`\r  epoch ${m.epoch} step ${m.step}/${m.totalSteps} loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)}   `);
      }
    },
    onEpoch: (r) => {
      if (tty) process.stderr.write('\r\x1b[K');
      const d = Object.entries(r.dev)
        .filter(([k, x]) => typeof x === 'number' && k !== 'metric' && k !== 'examples')
        .map(([k, x]) => `${k} ${(x as number).toFixed(4)}`)
        .join('  ');
      say(`epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)}  dev ${d}${r.best ? '  (best, saved)' : ''}  ${r.seconds.toFixed(0)} s`);
    },
  };
}

/**
 * SIGINT and SIGTERM stop fine-tuning after the current step (the best model saved at the end of
 * an epoch is written atomically, so it stays whole); the command then exits 130 or 143. A second
 * interrupt exits at once.
 */
class Interrupt implements Disposable {
  readonly #ac = new AbortController();
  received: InterruptSignal | null = null;
  readonly #on = (sig: NodeJS.Signals): void => {
    const s: InterruptSignal = sig === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
    if (this.received) process.exit(interruptExitCode(s));
    this.received = s;
    say(`\nelectra finetune: ${s}: finishing this step (again to abort)`);
    this.#ac.abort();
  };

  constructor() {
    process.on('SIGINT', this.#on);
    process.on('SIGTERM', this.#on);
  }

  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  dispose(): void {
    process.off('SIGINT', this.#on);
    process.off('SIGTERM', this.#on);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
