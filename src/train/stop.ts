/**
 * When a pre-training run stops before its last step: an interrupt (SIGINT/SIGTERM, or the
 * caller's AbortSignal), the time budget (`maxSeconds`) or the stop step (`stopAt`). Every case
 * ends with a checkpoint. In a data-parallel run the ranks agree on the reason before each step,
 * so that all of them stop at the same step.
 */
import type { ProcessGroup } from './distributed';

/**
 * Why a run stops. The values order the reasons: ranks agree by taking the largest (an abort
 * anywhere wins over the time budget, which wins over the stop step).
 */
export enum StopReason {
  None = 0,
  StopAt = 1,
  Time = 2,
  Abort = 3,
}

/** How {@link RunSummary.stoppedBy} names a reason (`steps`: the run reached its last step). */
export type StoppedBy = 'steps' | 'time' | 'abort' | 'stopAt';

export function stoppedByName(r: StopReason): StoppedBy {
  switch (r) {
    case StopReason.Abort:
      return 'abort';
    case StopReason.Time:
      return 'time';
    case StopReason.StopAt:
      return 'stopAt';
    default:
      return 'steps';
  }
}

/** The interrupts a run stops on (with a checkpoint). */
export type InterruptSignal = 'SIGINT' | 'SIGTERM';

/**
 * The exit code of a run stopped by `sig` after its checkpoint was written: 128 + the signal's
 * number, as a shell reports a process killed by it (130, 143), so that a scheduler tells an
 * interrupted run from a finished one (exit 0) and requeues it.
 */
export function interruptExitCode(sig: InterruptSignal): number {
  return sig === 'SIGTERM' ? 143 : 130;
}

export interface StopOptions {
  /** The caller's signal: aborting it stops the run after the current step. */
  signal?: AbortSignal | undefined;
  /** Stop once this many seconds of training have passed. */
  maxSeconds?: number | undefined;
  /** Stop once this step is reached. */
  stopAt?: number | undefined;
}

/**
 * Listens for interrupts from its creation until {@link dispose} (SIGINT and SIGTERM: the first
 * finishes the step and checkpoints, a second exits at once with 130 or 143), and answers "stop
 * now?" before each step.
 */
export class StopController implements Disposable {
  #aborted = false;
  #signal: InterruptSignal | null = null;
  readonly #o: StopOptions;
  readonly #onAbort = (): void => {
    this.#aborted = true;
  };
  readonly #onSignal = (sig: NodeJS.Signals): void => {
    if (this.#aborted) {
      process.stderr.write('\nelectra: second interrupt, aborting without a checkpoint\n');
      process.exit(interruptExitCode(sig === 'SIGTERM' ? 'SIGTERM' : 'SIGINT'));
    }
    this.#aborted = true;
    this.#signal = sig === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
    process.stderr.write(`\nelectra: ${sig}: finishing this step and writing a checkpoint (again to abort)\n`);
  };

  constructor(o: StopOptions) {
    this.#o = o;
    o.signal?.addEventListener('abort', this.#onAbort);
    if (o.signal?.aborted) this.#aborted = true;
    process.on('SIGINT', this.#onSignal);
    process.on('SIGTERM', this.#onSignal);
  }

  /** The first interrupt this process received, if any. */
  get signal(): InterruptSignal | null {
    return this.#signal;
  }

  /** This process's reason to stop before the next step, at `step` after `seconds` of training. */
  local(step: number, seconds: number): StopReason {
    if (this.#aborted) return StopReason.Abort;
    if (this.#o.maxSeconds !== undefined && seconds >= this.#o.maxSeconds) return StopReason.Time;
    if (this.#o.stopAt !== undefined && step >= this.#o.stopAt) return StopReason.StopAt;
    return StopReason.None;
  }

  /** The reason all ranks agree on (the largest); without a group, this process's own. */
  async check(step: number, seconds: number, group?: ProcessGroup): Promise<StopReason> {
    const r = this.local(step, seconds);
    return group ? ((await group.allreduceMax(r)) as StopReason) : r;
  }

  dispose(): void {
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
    this.#o.signal?.removeEventListener('abort', this.#onAbort);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
