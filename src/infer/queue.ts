/**
 * A first-in first-out queue that runs one async job at a time. The native model allows one
 * operation in flight; every call on a model goes through its queue, so any number of concurrent
 * callers are served in the order they called.
 */

interface Job {
  fn: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
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

  /** Runs `fn` after every job queued before it; rejects at once once the queue is closed. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#running) void this.#pump();
    });
  }

  /** Rejects every waiting job (and every later one) with `err`; a running job finishes. */
  close(err: Error): void {
    this.#closed ??= err;
    const waiting = this.#jobs.slice(this.#head);
    this.#jobs = [];
    this.#head = 0;
    for (const j of waiting) j?.reject(err);
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
