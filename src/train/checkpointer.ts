/**
 * Checkpoints of a pre-training run: `out/checkpoint-<step>/` written atomically by the lead
 * rank, the oldest removed beyond `keep`, report.html rewritten, and the caller told.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeDirAtomic } from '../checkpoint/atomic';
import type { BatchLoader } from '../data/loader';
import { ioStep } from '../util/files';
import type { Pretrainer } from './pretrainer';
import { writeReport } from './report';
import type { MetricsLog } from './run-log';

const CKPT = /^checkpoint-(\d+)$/;

/** Complete checkpoints in `out`, oldest first. */
export function listCheckpoints(out: string): { step: number; dir: string }[] {
  if (!fs.existsSync(out)) return [];
  return fs
    .readdirSync(out)
    .map((n) => ({ m: CKPT.exec(n), n }))
    .filter((x) => x.m && fs.existsSync(path.join(out, x.n, 'trainer_state.json')))
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

  /** Saves the current step, then removes the oldest checkpoints beyond `keep` and rewrites the report. */
  async save(seconds: number): Promise<string> {
    const { out, trainer } = this.o;
    const dir = path.join(out, `checkpoint-${trainer.step}`);
    if (!this.o.lead) {
      this.#last = dir;
      return dir;
    }
    await trainer.saveCheckpoint(dir, {
      extra: { cursor: this.o.loader.cursor(), seconds, ...this.o.extra },
      tokenizerFiles: this.o.tokenizerFiles,
    });
    this.#last = dir;
    this.rotate();
    this.report(dir);
    this.o.onCheckpoint?.(dir);
    return dir;
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
