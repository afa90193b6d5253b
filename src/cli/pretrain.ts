/** `electra pretrain`: pre-train an ELECTRA pair from a corpus or prepared data. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../checkpoint/atomic';
import { ElectraError, toElectraError } from '../errors';
import { distributedFromEnv } from '../train/distributed';
import { withOutputLock } from '../util/lock';
import { pretrain, type RunOptionsInput, type RunSummary } from '../train/loop';
import { ensureData, ensureVocab } from '../train/pipeline';
import { interruptExitCode } from '../train/stop';
import { cudaGraphOf, num, parse } from './args';
import { resolveModel } from '../hub';
import { cliHub } from './hub';

const HELP = `usage: electra pretrain (--corpus SRC | --data DIR --tokenizer DIR) --out DIR [options]

  --corpus SRC        text file/folder, .jsonl, .gz, - (stdin), "sotu" or "spam-assassin-train"; trains a vocabulary
                      (unless --tokenizer) and prepares the data under OUT
  --data DIR          data prepared by \`electra prepare\`
  --tokenizer DIR     the tokenizer the data was prepared with (vocab.txt / tokenizer.json)
  --vocab-size N      vocabulary size when one is trained (30522)
  --max-len N         tokens per example when preparing (preset's, 128 for small)
  --out DIR           run directory: checkpoint-<step>/, metrics.jsonl, report.html
  --preset NAME       tiny | small | base | large (small)
  --steps N           optimizer updates (required)
  --batch N           examples per micro-batch (preset's)
  --accumulate N      micro-batches per update (1)
  --lr X              peak learning rate (preset's)   --warmup N   warmup updates (steps/10, at most 10k)
  --objective NAME    electra | mlm (electra)         --mask-prob X (preset's: 0.15, 0.25 large)
  --device D          cpu | cuda | cuda:N (cpu)       --precision fp32|bf16|fp16 (fp32; bf16/fp16 on CUDA)
  --eval-every N      evaluate on held-out data every N updates (100)   --log-every N  metrics.jsonl rows (10)
  --save-every N      checkpoint every N updates (1000); one is always written at the end
  --keep K            keep the last K checkpoints (3)
  --resume            continue from the last checkpoint in OUT (exact on CPU); an incomplete one is ERR_CHECKPOINT
  --resume-from DIR   continue from this checkpoint directory (an older one, or another run's)
                      Resuming: --preset, sizes, --objective, --seed and the tokenizer must agree with the
                      checkpoint (ERR_CONFIG); --lr, --warmup, --steps, --mask-prob, --temperature, --precision
                      and the batch take the new value, with a notice (docs/reliability.md)
  --init-from DIR     start from released HF weights (generator/ + discriminator/, or one discriminator)
  --generator-bias B  zeros | unigram: the generator's output bias at the start (zeros, the paper);
                      unigram = log token frequencies of the data (keeps rare words' embeddings apart)
  --temperature X     generator sampling temperature for the replacements (1, the paper)
  --max-seconds S     stop (with a checkpoint) after S seconds
  --stop-at N         stop (with a checkpoint) at step N; the lr schedule still runs to --steps
  --seed N            (0)   --threads N   libtorch CPU threads   --skip-nonfinite   --no-progress
  --no-cuda-graph     CUDA: run every step eagerly. By default CUDA training captures the whole step as a
                      CUDA graph and replays it (one process, one micro-batch, fp32/bf16; other steps
                      run eagerly); --cuda-graph also says once when steps run eagerly

SIGINT or SIGTERM finishes the step, writes a checkpoint, then exits 130 (SIGINT) or 143 (SIGTERM);
a second one exits at once. Exit 0 means the run reached --steps (or --stop-at, --max-seconds).`;

function parsePretrainArgs(argv: string[]) {
  return parse(argv, {
    corpus: { type: 'string', multiple: true },
    data: { type: 'string' },
    tokenizer: { type: 'string' },
    'vocab-size': { type: 'string' },
    'max-len': { type: 'string' },
    out: { type: 'string' },
    preset: { type: 'string' },
    steps: { type: 'string' },
    batch: { type: 'string' },
    accumulate: { type: 'string' },
    lr: { type: 'string' },
    warmup: { type: 'string' },
    objective: { type: 'string' },
    'mask-prob': { type: 'string' },
    device: { type: 'string' },
    precision: { type: 'string' },
    'eval-every': { type: 'string' },
    'log-every': { type: 'string' },
    'save-every': { type: 'string' },
    keep: { type: 'string' },
    resume: { type: 'boolean' },
    'resume-from': { type: 'string' },
    'init-from': { type: 'string' },
    'generator-bias': { type: 'string' },
    temperature: { type: 'string' },
    'max-seconds': { type: 'string' },
    'stop-at': { type: 'string' },
    seed: { type: 'string' },
    threads: { type: 'string' },
    'skip-nonfinite': { type: 'boolean' },
    'cuda-graph': { type: 'boolean' },
    'no-cuda-graph': { type: 'boolean' },
    'no-progress': { type: 'boolean' },
  }).values;
}

type PretrainValues = ReturnType<typeof parsePretrainArgs>;

export async function run(argv: string[]): Promise<number> {
  const v = parsePretrainArgs(argv);
  if (v.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (!v.out) throw new ElectraError('ERR_CONFIG', '--out is required');
  if (!v.steps) throw new ElectraError('ERR_CONFIG', '--steps is required');
  const steps = num(v.steps, 'steps', { int: true, min: 1 })!;
  const out = path.resolve(v.out);
  const preset = (v.preset ?? 'small') as RunOptionsInput['preset'];
  if (v.corpus && v.data) throw new ElectraError('ERR_CONFIG', 'give either --corpus or --data, not both');
  const { data, tokenizer, done } = await sharedDataOf(v, out, preset);
  let s: RunSummary;
  try {
    s = await pretrain(await runOptions(v, { out, data, tokenizer, preset, steps }));
  } finally {
    done?.();
  }
  printSummary(s, out);
  // The checkpoint is written: an interrupted run exits 130 (SIGINT) or 143 (SIGTERM), not 0.
  return s.signal ? interruptExitCode(s.signal) : 0;
}

/**
 * {@link dataOf} holding OUT's lock. In a data-parallel run only rank 0 trains the vocabulary and
 * prepares the data; the other ranks wait for it on a file in OUT (see corpusBarrier).
 */
async function sharedDataOf(v: PretrainValues, out: string, preset: RunOptionsInput['preset']): Promise<{ data: string; tokenizer: string; done?: () => void }> {
  if (!v.corpus) return dataOf(v, out, preset);
  const dist = distributedFromEnv();
  if (!dist) return withOutputLock(out, 'pretrain', () => dataOf(v, out, preset));
  const barrier = corpusBarrier(out, dist.rank);
  if (dist.rank !== 0) return barrier.wait(dist.timeoutMs ?? 1_800_000);
  return withOutputLock(out, 'pretrain', async () => {
    barrier.clearOld();
    try {
      const r = await dataOf(v, out, preset);
      barrier.signal({ ok: true, ...r });
      // Once the run is over every rank has read the note (they all joined the process group).
      return { ...r, done: () => barrier.clearOld() };
    } catch (e) {
      barrier.signal({ ok: false, error: toElectraError(e, 'ERR_DATA').message });
      throw e;
    }
  });
}

type BarrierNote = { ok: true; data: string; tokenizer: string } | { ok: false; error: string };

/**
 * How rank 0 tells the other ranks that the vocabulary and data under OUT are ready (or that
 * preparing them failed): a file `.corpus-ready-<job>.json` in OUT, named after the job
 * (ELECTRA_LAUNCH_ID, set by \`electra launch\`; else torchrun's or Slurm's job id, else the
 * rendezvous address), which the others poll for, up to the rendezvous timeout. Across nodes,
 * OUT must be on a shared file system (as the prepared data must be).
 */
function corpusBarrier(out: string, rank: number) {
  const env = process.env;
  const job = env.ELECTRA_LAUNCH_ID ?? env.TORCHELASTIC_RUN_ID ?? (env.SLURM_JOB_ID ? `${env.SLURM_JOB_ID}.${env.SLURM_STEP_ID ?? 0}` : `${env.MASTER_ADDR ?? ''}-${env.MASTER_PORT ?? ''}`);
  const file = path.join(out, `.corpus-ready-${job.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  return {
    clearOld(): void {
      for (const n of fs.readdirSync(out)) if (/^\.corpus-ready-.*\.json$/.test(n)) fs.rmSync(path.join(out, n), { force: true });
    },
    signal(note: BarrierNote): void {
      writeFileAtomic(file, [JSON.stringify(note) + '\n']);
    },
    async wait(timeoutMs: number): Promise<{ data: string; tokenizer: string }> {
      const t0 = Date.now();
      process.stderr.write(`electra: rank ${rank}: waiting for rank 0 to prepare the corpus in ${out}\n`);
      for (;;) {
        let note: BarrierNote | undefined;
        try {
          note = JSON.parse(fs.readFileSync(file, 'utf8')) as BarrierNote;
        } catch {
          // not written yet
        }
        if (note?.ok) return { data: note.data, tokenizer: note.tokenizer };
        if (note) throw new ElectraError('ERR_DISTRIBUTED', `rank 0 failed to prepare the corpus: ${note.error}`);
        if (Date.now() - t0 > timeoutMs) {
          throw new ElectraError('ERR_DISTRIBUTED', `rank ${rank} waited ${Math.round(timeoutMs / 1000)} s for rank 0 to prepare the corpus in ${out} (${file} did not appear); on several nodes, --out must be on a shared file system`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}

/** `--data` and `--tokenizer`, or, with `--corpus`, a vocabulary trained and the data prepared under OUT. */
async function dataOf(v: PretrainValues, out: string, preset: RunOptionsInput['preset']): Promise<{ data: string; tokenizer: string }> {
  let data = v.data;
  // With --corpus, --tokenizer names the directory to train a vocabulary into (or reuse): a local path.
  let tokenizer = v.corpus ? v.tokenizer : await resolveModel(v.tokenizer, { ...cliHub, files: 'tokenizer' });
  if (v.corpus) {
    const tokDir = tokenizer ?? path.join(out, 'tokenizer');
    const tok = await ensureVocab(v.corpus, tokDir, num(v['vocab-size'], 'vocab-size', { int: true, min: 16 }) ?? 30522);
    tokenizer = tokDir;
    data = path.join(out, 'data');
    const maxLen = num(v['max-len'], 'max-len', { int: true, min: 8, max: 4096 }) ?? ({ tiny: 64, small: 128, base: 512, large: 512 } as const)[preset ?? 'small'];
    await ensureData(v.corpus, tok, data, maxLen);
  }
  if (!data || !tokenizer) throw new ElectraError('ERR_CONFIG', 'give --corpus, or --data with --tokenizer');
  return { data, tokenizer };
}

/** The run's options from the command line. */
async function runOptions(v: PretrainValues, base: Pick<RunOptionsInput, 'out' | 'data' | 'tokenizer' | 'preset' | 'steps'>): Promise<RunOptionsInput> {
  return {
    ...base,
    batch: num(v.batch, 'batch', { int: true, min: 1 }),
    accumulate: num(v.accumulate, 'accumulate', { int: true, min: 1 }),
    lr: num(v.lr, 'lr', { min: 0 }),
    warmupSteps: num(v.warmup, 'warmup', { int: true, min: 0 }),
    objective: v.objective as 'electra' | 'mlm' | undefined,
    maskProb: num(v['mask-prob'], 'mask-prob'),
    device: v.device,
    precision: v.precision as 'fp32' | 'bf16' | 'fp16' | undefined,
    evalEvery: num(v['eval-every'], 'eval-every', { int: true, min: 0 }),
    logEvery: num(v['log-every'], 'log-every', { int: true, min: 1 }),
    saveEvery: num(v['save-every'], 'save-every', { int: true, min: 0 }),
    keep: num(v.keep, 'keep', { int: true, min: 1 }),
    resume: v.resume ?? false,
    resumeFrom: v['resume-from'],
    // Unset when not given: a resumed run checks the options given against its checkpoint.
    ...(v.preset ? {} : { preset: undefined }),
    initFrom: await resolveModel(v['init-from'], cliHub),
    generatorBias: v['generator-bias'] as 'zeros' | 'unigram' | undefined,
    temperature: num(v.temperature, 'temperature', { min: 0 }),
    maxSeconds: num(v['max-seconds'], 'max-seconds', { min: 0 }),
    stopAt: num(v['stop-at'], 'stop-at', { int: true, min: 1 }),
    seed: num(v.seed, 'seed', { int: true, min: 0 }),
    threads: num(v.threads, 'threads', { int: true, min: 1 }),
    skipNonFinite: v['skip-nonfinite'] ?? false,
    cudaGraph: cudaGraphOf(v['cuda-graph'], v['no-cuda-graph']),
    progress: !v['no-progress'],
  };
}

function printSummary(s: RunSummary, out: string): void {
  const e0 = s.firstEval, e1 = s.lastEval;
  process.stdout.write(
    `pretrained steps ${s.startStep}..${s.step} in ${s.seconds.toFixed(1)} s (${Math.round(s.tokensPerSecond)} tokens/s)${s.stoppedBy !== 'steps' ? `, stopped by ${s.stoppedBy}` : ''}\n` +
      (e0 && e1
        ? `held-out replaced-token precision ${e0.replacedPrecision.toFixed(3)} -> ${e1.replacedPrecision.toFixed(3)}, recall ${e0.replacedRecall.toFixed(3)} -> ${e1.replacedRecall.toFixed(3)}, loss ${e0.loss.toFixed(3)} -> ${e1.loss.toFixed(3)}\n`
        : '') +
      `checkpoint: ${s.checkpoint}\nreport: ${path.join(out, 'report.html')}\n`,
  );
}
