/**
 * The pre-training loop: data, steps, metrics log, evaluation, checkpoints (atomic, keep the
 * last K), exact resume, `--init-from`, abort and signals, and the HTML report. The parts live
 * beside it: run-setup.ts (data, tokenizer, trainer, resume, process group), checkpointer.ts,
 * stop.ts, evaluation.ts and run-log.ts.
 */
import { resolveModel } from '../hub';
import * as path from 'node:path';
import { BatchLoader } from '../data/loader';
import { Progress } from '../data/progress';
import { ElectraError, toElectraError } from '../errors';
import { OutputLock } from '../util/lock';
import type { NativeBatch } from '../native';
import { Checkpointer } from './checkpointer';
import type { ProcessGroup } from './distributed';
import { Evaluator, loadEvalBatches, toNative } from './evaluation';
import type { Pretrainer, StepMetrics } from './pretrainer';
import { givenOptions, parseRunOptions, type RunCallbacks, type RunOptionsInput, type RunSummary } from './run-options';
import { MetricsLog } from './run-log';
import { joinGroup, openData, planRun, prepareOutput, splitData, startTrainer, type RunData, type RunPlan } from './run-setup';
import { StopController, StopReason, stoppedByName, type StoppedBy } from './stop';

export { runOptionsSchema, type RunCallbacks, type RunOptions, type RunOptionsInput, type RunSummary } from './run-options';
export { listCheckpoints } from './checkpointer';

/** What a run holds that must be released, whichever way it ends. */
interface Held {
  trainer?: Pretrainer;
  group?: ProcessGroup;
  loader?: BatchLoader;
}

/** A run set up and ready for its first step. */
interface Run {
  plan: RunPlan;
  trainer: Pretrainer;
  group: ProcessGroup | undefined;
  loader: BatchLoader;
  evaluator: Evaluator;
  log: MetricsLog;
  checkpointer: Checkpointer;
  startStep: number;
  secondsBefore: number;
  tokensPerStep: number;
}

/** Runs (or resumes) a pre-training run. */
export async function pretrain(input: RunOptionsInput, cb: RunCallbacks = {}): Promise<RunSummary> {
  const o = parseRunOptions(input);
  o.tokenizer = await resolveModel(o.tokenizer, { files: 'tokenizer' });
  const plan = planRun(o, givenOptions(input));
  // Rank 0 writes the run directory: one run at a time (ERR_LOCKED for a second one).
  const lock = plan.lead ? OutputLock.acquire(plan.out, 'pretrain') : undefined;
  try {
    await prepareOutput(plan);
    const data = openData(plan);
    const held: Held = {};
    try {
      const run = await setUp(plan, data, held, cb);
      return await train(run, cb);
    } finally {
      if (held.loader) await held.loader[Symbol.asyncDispose]();
      held.trainer?.dispose();
      held.group?.dispose();
      data.dataset.close();
    }
  } finally {
    lock?.release();
  }
}

async function setUp(plan: RunPlan, data: RunData, held: Held, cb: RunCallbacks): Promise<Run> {
  const { o, out, batchSize, world, lead } = plan;
  const { train, heldOut } = splitData(plan, data);
  const metricsFile = path.join(out, 'metrics.jsonl');
  const start = await startTrainer(plan, data, train, metricsFile);
  const trainer = (held.trainer = start.trainer);
  const group = plan.dist ? (held.group = await joinGroup(plan, plan.dist, trainer)) : undefined;
  const log = new MetricsLog(metricsFile, start.rows, lead);
  log.rewrite();
  // Every rank reads the same global batches and keeps its own rows of each, so that N ranks
  // with batch b train exactly as one process with batch N x b would.
  const loader = (held.loader = new BatchLoader(train, { batchSize: batchSize * world, seed: o.seed, prefetch: 4, ...(start.cursor ? { cursor: start.cursor } : {}) }));
  const evaluator = new Evaluator(trainer, await loadEvalBatches(heldOut, batchSize), lead);
  const checkpointer = new Checkpointer({
    out,
    lead,
    keep: o.keep,
    trainer,
    loader,
    tokenizerFiles: data.tokenizerFiles,
    extra: { batch: batchSize, worldSize: world, data: path.resolve(o.data), tokenizer: path.resolve(o.tokenizer) },
    log,
    reportConfig: { ...o, batch: batchSize, worldSize: world, trainer: trainer.options, discriminator: trainer.discriminatorConfig, generator: trainer.generatorConfig },
    totalSteps: o.steps,
    onCheckpoint: cb.onCheckpoint,
  });
  const tokensPerStep = batchSize * world * o.accumulate * data.dataset.maxLength;
  return { plan, trainer, group, loader, evaluator, log, checkpointer, startStep: trainer.step, secondsBefore: start.secondsBefore, tokensPerStep };
}

/** The state the steps of a run share. */
interface LoopState {
  t0: number;
  /** Seconds trained, this run and the ones it resumed. */
  elapsed: number;
  lastEval: StepMetrics | null;
  meter: Throughput;
  eager: EagerStepNotice;
  progress: Progress;
}

async function train(run: Run, cb: RunCallbacks): Promise<RunSummary> {
  const { plan, trainer, startStep, checkpointer } = run;
  const { o } = plan;
  const stop = new StopController({ signal: cb.signal, maxSeconds: o.maxSeconds, stopAt: o.stopAt });
  try {
    const firstEval = await firstEvaluation(run);
    const progress = new Progress({ label: 'pretrain', total: o.steps - startStep, enabled: o.progress && plan.lead });
    const t0 = Date.now();
    const st: LoopState = { t0, elapsed: run.secondsBefore, lastEval: firstEval, meter: new Throughput(run.tokensPerStep), eager: new EagerStepNotice((o.kernels.cudaGraph ?? o.cudaGraph) === true && plan.lead), progress };
    const stoppedBy = await steps(run, st, stop, cb);
    await finalEvaluation(run, st);
    if (trainer.step > startStep || !checkpointer.last) await checkpointer.save(st.elapsed);
    if (run.group) await run.group.barrier(); // rank 0 has written the last checkpoint
    progress.finish(`step ${trainer.step}${stoppedBy !== 'steps' ? ` (stopped: ${stoppedBy})` : ''}`);
    const sum = summary(run, st, firstEval, stoppedBy);
    return stop.signal && stoppedBy === 'abort' ? { ...sum, signal: stop.signal } : sum;
  } finally {
    stop.dispose();
  }
}

/** Steps until the last step or a stop; returns why it ended. */
async function steps(run: Run, st: LoopState, stop: StopController, cb: RunCallbacks): Promise<StoppedBy> {
  const { plan, trainer } = run;
  while (trainer.step < plan.o.steps) {
    const reason = await stop.check(trainer.step, (Date.now() - st.t0) / 1000, run.group); // all ranks stop at the same step
    if (reason !== StopReason.None) return stoppedByName(reason);
    const micro = await nextMicroBatches(run);
    const m = await trainStep(run, micro);
    const tps = st.meter.step();
    st.eager.observe(m, micro[0]!);
    st.elapsed = run.secondsBefore + (Date.now() - st.t0) / 1000;
    cb.onStep?.({ ...m, tokensPerSecond: tps });
    await afterStep(run, st, m, tps, cb);
  }
  return 'steps';
}

/** This rank's rows of the next `accumulate` global batches. */
async function nextMicroBatches(run: Run): Promise<NativeBatch[]> {
  const { o, rank, world } = run.plan;
  const micro: NativeBatch[] = [];
  for (let i = 0; i < o.accumulate; i++) {
    const b = await run.loader.next();
    if (!b) throw new ElectraError('ERR_DATA', 'the data loader ended unexpectedly');
    micro.push(shard(toNative(b), rank, world));
  }
  return micro;
}

/**
 * One optimizer step. On divergence nothing is saved (the current state is the one that
 * diverged): ERR_DIVERGED names the last good checkpoint, or says there is none.
 */
async function trainStep(run: Run, micro: NativeBatch[]): Promise<StepMetrics> {
  try {
    return await run.trainer.trainStep(micro);
  } catch (e) {
    const err = toElectraError(e);
    throw err.code === 'ERR_DIVERGED' ? run.checkpointer.diverged(err) : err;
  }
}

/** Logging, progress, evaluation and checkpoints after step `m`. */
async function afterStep(run: Run, st: LoopState, m: StepMetrics, tps: number, cb: RunCallbacks): Promise<void> {
  const { o } = run.plan;
  if (m.step % o.logEvery === 0 || m.step === o.steps || m.step === run.startStep + 1) {
    run.log.append({ type: 'train', ...m, tokensPerSecond: Math.round(tps), seconds: Math.round(st.elapsed) });
  }
  st.progress.update(m.step - run.startStep, `step ${m.step} ${(tps / 1000).toFixed(1)}k tok/s ${fmtMetrics(m)}`);
  if (o.evalEvery > 0 && m.step % o.evalEvery === 0) {
    const e = await run.evaluator.run();
    if (e) {
      st.lastEval = e;
      run.log.append({ type: 'eval', ...e, step: m.step });
      cb.onEval?.(e);
    }
  }
  if (o.saveEvery > 0 && m.step % o.saveEvery === 0 && m.step < o.steps) await run.checkpointer.save(st.elapsed);
}

/** A new run evaluates (and logs) before its first step; a resumed one takes the logged first evaluation. */
async function firstEvaluation(run: Run): Promise<StepMetrics | null> {
  if (run.startStep !== 0) return run.log.firstEval();
  const e = await run.evaluator.run();
  if (e) run.log.append({ type: 'eval', ...e, step: 0 });
  return e;
}

/** Evaluates the last step unless that was just done. */
async function finalEvaluation(run: Run, st: LoopState): Promise<void> {
  if (st.lastEval?.step === run.trainer.step) return;
  const e = await run.evaluator.run();
  if (e) {
    st.lastEval = e;
    run.log.append({ type: 'eval', ...e, step: run.trainer.step });
  }
}

function summary(run: Run, st: LoopState, firstEval: StepMetrics | null, stoppedBy: StoppedBy): RunSummary {
  const { plan, trainer, startStep } = run;
  const seconds = (Date.now() - st.t0) / 1000;
  return {
    out: plan.out,
    startStep,
    step: trainer.step,
    checkpoint: run.checkpointer.last,
    seconds,
    tokensPerSecond: ((trainer.step - startStep) * run.tokensPerStep) / Math.max(seconds, 1e-3),
    firstEval,
    lastEval: st.lastEval,
    stoppedBy,
    rank: plan.rank,
    worldSize: plan.world,
  };
}

function fmtMetrics(m: StepMetrics): string {
  return `loss ${m.loss.toFixed(3)} mlm ${m.mlmLoss.toFixed(3)} rtd ${m.rtdLoss.toFixed(4)} disc-acc ${m.discriminatorAccuracy.toFixed(3)}`;
}

/** Tokens per second over a window of about five seconds. */
class Throughput {
  #start = Date.now();
  #steps = 0;

  constructor(private readonly tokensPerStep: number) {}

  /** Counts one more step and returns the window's rate (the window restarts after five seconds). */
  step(): number {
    this.#steps++;
    const now = Date.now();
    const tps = (this.#steps * this.tokensPerStep) / Math.max(1e-3, (now - this.#start) / 1000);
    if (now - this.#start > 5000) {
      this.#start = now;
      this.#steps = 0;
    }
    return tps;
  }
}

/**
 * With the CUDA graph asked for (`kernels.cudaGraph` or `cudaGraph`), says once when the steps
 * run eagerly. Two eager steps per batch shape come before the capture; a third eager one means
 * this run's steps are not graphable.
 */
class EagerStepNotice {
  #done: boolean;
  #eager = 0;

  constructor(enabled: boolean) {
    this.#done = !enabled;
  }

  observe(m: StepMetrics, batch: NativeBatch): void {
    if (this.#done) return;
    if (m.graph) this.#done = true;
    else if (++this.#eager > 2) {
      this.#done = true;
      process.stderr.write(
        `electra: --cuda-graph: steps are running eagerly (a graph needs CUDA, one process, one micro-batch, fp32 or bf16, fused AdamW, and a batch of ${batch.shape.join(' x ')} whose attention dropout fits a capture's random-number budget)\n`,
      );
    }
  }
}

/** Rows [rank * b, (rank + 1) * b) of a global batch of world * b rows. */
function shard(b: NativeBatch, rank: number, world: number): NativeBatch {
  if (world === 1) return b;
  const [B, T] = b.shape;
  const rows = B / world;
  const lo = rank * rows * T, hi = (rank + 1) * rows * T;
  return {
    inputIds: b.inputIds.slice(lo, hi),
    tokenTypeIds: b.tokenTypeIds.slice(lo, hi),
    attentionMask: b.attentionMask.slice(lo, hi),
    shape: [rows, T],
  };
}
