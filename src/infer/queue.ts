/**
 * A first-in first-out queue that runs one async job at a time. The native model allows one
 * operation in flight; every call on a model goes through its queue, so any number of concurrent
 * callers are served in the order they called.
 */

/**
 * The jobs of one call made of several (an inference helper's batches). Once the first of them
 * has started, the call is under way: {@link SerialQueue.close} lets its jobs, queued and later
 * ones, run to the end, so a call that has started finishes.
 */
export class CallScope {
  /** One of the call's jobs has started. */
  started = false;
}

/** Internal: the method of a model that runs one helper call as a {@link CallScope}. */
export const RUN_CALL: unique symbol = Symbol('electra.runCall');

interface Job {
  fn: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  scope: CallScope | undefined;
}

export class SerialQueue {
  #jobs: (Job | undefined)[] = [];
  #head = 0;
  #running = false;
  #closed: Error | undefined;
  #idle: (() => void)[] = [];

  /** A job is running now. */
  get running(): boolean {
    return this.#running;
  }

  /** Jobs waiting (not counting the running one). */
  get pending(): number {
    return this.#jobs.length - this.#head;
  }

  /**
   * Runs `fn` after every job queued before it; rejects at once once the queue is closed, unless
   * `scope` (the call it belongs to) has started.
   */
  run<T>(fn: () => Promise<T>, scope?: CallScope): Promise<T> {
    if (this.#closed && !scope?.started) return Promise.reject(this.#closed);
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ fn, resolve: resolve as (v: unknown) => void, reject, scope });
      if (!this.#running) void this.#pump();
    });
  }

  /**
   * Rejects every waiting job (and every later one) with `err`; a running job finishes, and so do
   * the jobs of a call that has started (see {@link CallScope}).
   */
  close(err: Error): void {
    this.#closed ??= err;
    const waiting = this.#jobs.slice(this.#head).filter((j): j is Job => j !== undefined);
    this.#jobs = waiting.filter((j) => j.scope?.started);
    this.#head = 0;
    for (const j of waiting) if (!j.scope?.started) j.reject(err);
  }

  /** Calls `cb` once nothing is running (now, if nothing is). */
  onIdle(cb: () => void): void {
    if (this.#running) this.#idle.push(cb);
    else cb();
  }

  async #pump(): Promise<void> {
    this.#running = true;
    while (this.#head < this.#jobs.length) {
      const job = this.#jobs[this.#head]!;
      this.#jobs[this.#head++] = undefined;
      if (this.#head >= 1024 && this.#head * 2 >= this.#jobs.length) {
        this.#jobs = this.#jobs.slice(this.#head);
        this.#head = 0;
      }
      if (job.scope) job.scope.started = true;
      try {
        job.resolve(await job.fn());
      } catch (e) {
        job.reject(e);
      }
    }
    this.#jobs = [];
    this.#head = 0;
    this.#running = false;
    const idle = this.#idle.splice(0);
    for (const cb of idle) cb();
  }
}
