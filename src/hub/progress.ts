/** A one-line download progress bar on a TTY (stderr), redrawn at most ten times a second. */
import type { DownloadProgress, HubSettings } from './settings';

function mb(n: number): string {
  return (n / 1e6).toFixed(n >= 1e8 ? 0 : 1);
}

/** A progress sink for one file: the user's callback, a TTY bar, or nothing. */
export function progressFor(s: HubSettings, stream: NodeJS.WriteStream = process.stderr): ((p: DownloadProgress) => void) | undefined {
  if (s.progress === false) return undefined;
  if (typeof s.progress === 'function') return s.progress;
  if (!stream.isTTY) return undefined;
  let lastDraw = 0;
  let t0 = 0;
  let b0 = 0;
  return (p) => {
    const now = Date.now();
    if (t0 === 0) [t0, b0] = [now, p.bytes];
    if (!p.done && now - lastDraw < 100) return;
    lastDraw = now;
    const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 60));
    const frac = p.total ? Math.min(1, p.bytes / p.total) : 0;
    const bar = p.total ? `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${String(Math.floor(frac * 100)).padStart(3)}%` : '';
    const rate = now > t0 ? (p.bytes - b0) / ((now - t0) / 1000) : 0;
    const name = p.file.length > 32 ? `…${p.file.slice(-31)}` : p.file;
    const line = `${name} ${bar} ${mb(p.bytes)}${p.total ? `/${mb(p.total)}` : ''} MB ${mb(rate)} MB/s`;
    stream.write(`\r${line.slice(0, (stream.columns ?? 80) - 1)}\x1b[K${p.done ? '\n' : ''}`);
  };
}
