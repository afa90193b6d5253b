/** Row readers of the streaming jobs: JSON Lines and CSV (header row), from a file or stdin, one row at a time with its line number. */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { ElectraError } from '../errors';

/** One input row: its fields, or the reason it cannot be read. */
export interface InputRow {
  /** 1-based line of the input. */
  line: number;
  fields?: Record<string, unknown>;
  error?: string;
}

/** The input format from `--input-format` or the file's extension (stdin: jsonl). */
export function formatOf(input: string, explicit?: string): 'jsonl' | 'csv' {
  const f = explicit ?? (/\.csv$/i.test(input) ? 'csv' : 'jsonl');
  if (f !== 'jsonl' && f !== 'csv') throw new ElectraError('ERR_CONFIG', `--input-format must be jsonl or csv, got ${JSON.stringify(f)}`);
  return f;
}

/** Splits one CSV record (RFC 4180 quoting; a field may not span lines). */
export function splitCsv(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        field += line.slice(i, q);
        i = q + 1;
        if (line[i] === '"') {
          field += '"';
          i++;
        } else break;
      }
      if (i < line.length && line[i] !== ',') return undefined;
    } else {
      const c = line.indexOf(',', i);
      field = c < 0 ? line.slice(i) : line.slice(i, c);
      i = c < 0 ? line.length : c;
    }
    out.push(field);
    if (i >= line.length) return out;
    i++; // the comma
  }
}

/** The rows of `input` (a path, or `-` for stdin) with the bytes read so far (for progress). */
export async function* readRows(input: string, format: 'jsonl' | 'csv', progress?: { bytes: number }): AsyncGenerator<InputRow> {
  let stream: NodeJS.ReadableStream;
  if (input === '-') stream = process.stdin;
  else {
    if (!fs.existsSync(input) || !fs.statSync(input).isFile()) throw new ElectraError('ERR_IO', `--input ${input} is not a file`);
    stream = fs.createReadStream(input, { encoding: 'utf8', highWaterMark: 1 << 16 });
  }
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  let header: string[] | undefined;
  for await (const text of rl) {
    line++;
    if (progress) progress.bytes += Buffer.byteLength(text) + 1;
    if (text.trim() === '') continue;
    if (format === 'csv') {
      const cells = splitCsv(text);
      if (!header) {
        if (!cells) throw new ElectraError('ERR_DATA', `${input}:1: the CSV header is not valid`);
        header = cells;
        continue;
      }
      if (!cells) yield { line, error: 'not a valid CSV record (a quoted field may not span lines)' };
      else if (cells.length !== header.length) yield { line, error: `has ${cells.length} fields, the header ${header.length}` };
      else yield { line, fields: Object.fromEntries(header.map((h, k) => [h, cells[k]])) };
      continue;
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      yield { line, error: `not valid JSON: ${(e as Error).message}` };
      continue;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) yield { line, error: 'is not a JSON object' };
    else yield { line, fields: v as Record<string, unknown> };
  }
}
