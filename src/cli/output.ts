/**
 * The CLI's standard output when its reader goes away. Node reports a failed write to stdout as
 * an 'error' event on the stream; without a listener that is an uncaught exception with a stack
 * trace. A closed reader (EPIPE, `electra predict ... | head -1`) ends the command quietly with
 * exit 0, as Unix tools do; any other failure (ENOSPC on `> /dev/full`, EIO) is ERR_IO, exit 1.
 */
import { ElectraError } from '../errors';

/** What to do about a failed write to stdout: 0 (quiet end) for EPIPE, else an ERR_IO to report. */
export function stdoutFailure(e: unknown): { exitCode: 0 } | { exitCode: 1; error: ElectraError } {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED') return { exitCode: 0 };
  const msg = e instanceof Error ? e.message : String(e);
  return { exitCode: 1, error: new ElectraError('ERR_IO', `cannot write to standard output: ${msg}`, { cause: e }) };
}

let installed = false;

/**
 * Listens for write failures on process.stdout for the rest of the process (once). The command
 * is ended at once: nothing it writes later could reach the reader.
 */
export function guardStdout(prefix: string, exit: (code: number) => void = (c) => process.exit(c)): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (e) => {
    const r = stdoutFailure(e);
    if (r.exitCode === 1) {
      try {
        process.stderr.write(`${prefix}: ${r.error.code}: ${r.error.message}\n`);
      } catch {
        // stderr is gone as well: the exit code still says it.
      }
    }
    exit(r.exitCode);
  });
}
