/**
 * A progress bar on stderr: redrawn in place on a TTY (at most 10 times a second), a plain line
 * every few seconds otherwise (logs, CI), nothing when disabled.
 */

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Label in front of the bar. */
  label: string;
  /** Total amount of work (same unit as `update`), or undefined when unknown. */
  total?: number | undefined;
  /** Formats an amount of the unit, e.g. bytes -> "12.3 MB". */
  format?: (n: number) => string;
  /** Where to write (default process.stderr). */
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  /** false disables output (default: enabled). */
  enabled?: boolean;
  /** Seconds between plain lines when not a TTY (default 5). */
  intervalSeconds?: number;
}

/** See the module comment. */
export class Progress {
  readonly #o: ProgressOptions;
  readonly #t0 = Date.now();
  #last = 0;
  #done = 0;
  #extra = '';
  #tty: boolean;

  /** @param opts see {@link ProgressOptions} */
  constructor(opts: ProgressOptions) {
    this.#o = opts;
    this.#tty = Boolean((opts.stream ?? process.stderr).isTTY);
  }

  /** Sets the amount done and an optional trailing note (e.g. "12,000 examples"). */
  update(done: number, extra?: string): void {
    this.#done = done;
    if (extra !== undefined) this.#extra = extra;
    if (this.#o.enabled === false) return;
    const now = Date.now();
    const every = this.#tty ? 100 : (this.#o.intervalSeconds ?? 5) * 1000;
    if (now - this.#last < every) return;
    this.#last = now;
    this.#draw(false);
  }

  /** Draws the final state and ends the line. */
  finish(extra?: string): void {
    if (extra !== undefined) this.#extra = extra;
    if (this.#o.enabled === false) return;
    this.#draw(true);
  }

  /** The text of the current state (without the carriage return). */
  line(): string {
    const fmt = this.#o.format ?? ((n: number) => String(n));
    const secs = (Date.now() - this.#t0) / 1000;
    const total = this.#o.total;
    let s = this.#o.label;
    if (total && total > 0) {
      const f = Math.min(1, this.#done / total);
      const w = 24;
      const fill = Math.round(f * w);
      s += ` [${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${(f * 100).toFixed(0).padStart(3)}% ${fmt(this.#done)}/${fmt(total)}`;
      if (f > 0 && f < 1) s += ` eta ${Math.round((secs / f) * (1 - f))}s`;
    } else s += ` ${fmt(this.#done)}`;
    s += ` ${secs.toFixed(1)}s`;
    if (this.#extra) s += ` ${this.#extra}`;
    return s;
  }

  #draw(final: boolean): void {
    const out = this.#o.stream ?? process.stderr;
    if (this.#tty) out.write(`\r${this.line()}\x1b[K${final ? '\n' : ''}`);
    else out.write(this.line() + '\n');
  }
}

/** "12.3 MB" style byte counts. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['KB', 'MB', 'GB', 'TB'];
  let x = n / 1024;
  let i = 0;
  while (x >= 1024 && i < u.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(1)} ${u[i]}`;
}
