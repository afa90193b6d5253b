/**
 * Checkpoints of a pre-training run: `out/checkpoint-<step>/` written atomically by the lead
 * rank, the oldest removed beyond `keep`, report.html rewritten, and the caller told.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeDirAtomic } from '../checkpoint/atomic';
import type { BatchLoader } from '../data/loader';
import { ElectraError, toElectraError } from '../errors';
import { ioStep } from '../util/files';
import type { Pretrainer } from './pretrainer';
import { writeReport } from './report';
import type { MetricsLog } from './run-log';

const CKPT = /^checkpoint-(\d+)$/;

/**
 * The `checkpoint-<step>` directories in `out`, oldest first. Checkpoints are written under a
 * temporary name and renamed when complete, so one that lacks a file was damaged afterwards:
 * it is listed, and resuming from it is ERR_CHECKPOINT naming the missing file.
 */
export function listCheckpoints(out: string): { step: number; dir: string }[] {
  if (!fs.existsSync(out)) return [];
  return fs
    .readdirSync(out, { withFileTypes: true })
    .map((e) => ({ m: CKPT.exec(e.name), n: e.name, dir: e.isDirectory() }))
    .filter((x) => x.m && x.dir)
    .map((x) => ({ step: Number(x.m![1]), dir: path.join(out, x.n) }))
    .sort((a, b) => a.step - b.step);
}

export interface CheckpointerOptions {
  out: string;
  /** Whether this process writes (rank 0); the others only track the name. */
  lead: boolean;
  /** How many checkpoints to keep. */
  keep: number;
  trainer: Pretrainer;
  /** The training data's loader: its cursor is saved for an exact resume. */
  loader: BatchLoader;
  /** Tokenizer files copied into each model directory. */
  tokenizerFiles: string[];
  /** What trainer_state.json's `extra` holds besides the cursor and the seconds trained. */
  extra: Record<string, unknown>;
  /** The metrics the report draws. */
  log: MetricsLog;
  /** The configuration the report lists. */
  reportConfig: Record<string, unknown>;
  /** The run's last step, for the report. */
  totalSteps: number;
  onCheckpoint?: ((dir: string) => void) | undefined;
}

export class Checkpointer {
  #last: string | null = null;

  constructor(private readonly o: CheckpointerOptions) {}

  /** The last checkpoint saved by this run (on other ranks: the one rank 0 saved). */
  get last(): string | null {
    return this.#last;
  }

  /** Whether the trainer's current step is saved already. */
  get current(): boolean {
    return this.#last !== null && this.#last.endsWith(`-${this.o.trainer.step}`);
  }

  /**
   * Saves the current step, then removes the oldest checkpoints beyond `keep` and rewrites the
   * report. A state with a non-finite tensor is not written: ERR_DIVERGED, naming the last good
   * checkpoint (see {@link diverged}).
   */
  async save(seconds: number): Promise<string> {
    const { out, trainer } = this.o;
    const dir = path.join(out, `checkpoint-${trainer.step}`);
    if (!this.o.lead) {
      this.#last = dir;
      return dir;
    }
    try {
      await trainer.saveCheckpoint(dir, {
        extra: { cursor: this.o.loader.cursor(), seconds, ...this.o.extra },
        tokenizerFiles: this.o.tokenizerFiles,
      });
    } catch (e) {
      const err = toElectraError(e);
      throw err.code === 'ERR_DIVERGED' ? this.diverged(err) : err;
    }
    this.#last = dir;
    this.rotate();
    this.report(dir);
    this.o.onCheckpoint?.(dir);
    return dir;
  }

  /**
   * The ERR_DIVERGED to report when the run diverged with the trainer at step k (the loss or
   * gradient of step k + 1 was not finite, or the state after step k was): the state after step
   * k is not good, so a checkpoint of it that this run wrote is renamed `checkpoint-k.diverged`
   * (kept for inspection, never resumed from by --resume). A checkpoint is good when training
   * went on from it: the newest one before step k. The message names it, or says none is saved.
   */
  diverged(err: ElectraError): ElectraError {
    const { out, trainer, lead } = this.o;
    const k = trainer.step;
    const bad = path.join(out, `checkpoint-${k}`);
    let note = `the state after step ${k} is not saved (it diverged)`;
    if (lead && this.#last === bad && fs.existsSync(bad)) {
      const to = `${bad}.diverged`;
      fs.rmSync(to, { recursive: true, force: true });
      fs.renameSync(bad, to);
      note = `the checkpoint of step ${k}, which diverged, is renamed ${path.basename(to)}`;
    } else if (fs.existsSync(bad)) {
      note = `${bad} holds the state that diverged`;
    }
    const good = listCheckpoints(out).filter((c) => c.step < k).pop();
    const advice = good
      ? `the last good state is ${good.dir} (step ${good.step}): resume from it with --resume-from ${good.dir} and a lower --lr`
      : `no good state is saved (no checkpoint before step ${k}): start again with a lower --lr`;
    return new ElectraError('ERR_DIVERGED', `${err.message}; ${note}; ${advice}`, { cause: err });
  }

  /** Renamed away before deletion: a kill mid-delete never leaves a half-deleted checkpoint listed. */
  private rotate(): void {
    const all = listCheckpoints(this.o.out);
    for (const c of all.slice(0, Math.max(0, all.length - this.o.keep))) removeDirAtomic(c.dir);
  }

  private report(dir: string): void {
    const { out, trainer, log, reportConfig, totalSteps } = this.o;
    ioStep('write report.html', () =>
      writeReport(path.join(out, 'report.html'), log.rows, reportConfig, { step: trainer.step, of: totalSteps, 'last checkpoint': path.basename(dir) }),
    );
  }
}
