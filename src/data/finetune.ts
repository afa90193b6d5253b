/**
 * Fine-tuning sets: labelled texts (or text pairs) from CSV, TSV or JSONL, and the seeded,
 * stratified train/dev/test split (the built-in `spam-assassin` set is in builtins.ts).
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { ElectraError } from '../errors';
import { Rng } from './rng';
import { SkipLog } from './skips';

/** One labelled example. */
export interface FinetuneExample {
  /** The text (first segment). */
  text: string;
  /** The second text of a pair task, when there is one. */
  textPair?: string;
  /** The label as written in the file (undefined in unlabelled files). */
  label?: string;
  /** Where it came from (`file:line`, or the spam-assassin id). */
  source: string;
}

/** A set of examples with its label vocabulary. */
export interface FinetuneSet {
  /** Examples in file order. */
  examples: FinetuneExample[];
  /** Distinct labels, sorted; a label's index is its class id. */
  labels: string[];
  /** Rows that could not be used, with reasons. */
  skipped: SkipLog;
}

/** Options of {@link readFinetuneFile}. */
export interface FinetuneFileOptions {
  /** Default: by extension (`.csv`, `.tsv`, `.jsonl`/`.ndjson`, optionally `.gz`). */
  format?: 'csv' | 'tsv' | 'jsonl';
  /** Column/field of the text (default `text`). */
  textField?: string;
  /** Column/field of the second text (default: `text_pair` when present, else none). */
  pairField?: string;
  /** Column/field of the label (default `label`; a file without it is unlabelled). */
  labelField?: string;
  /** Largest text accepted, in bytes after decompression (default and maximum {@link MAX_FINETUNE_BYTES}). */
  maxBytes?: number;
}

/** Parses CSV text (RFC 4180: quoted fields, doubled quotes, newlines inside quotes). */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === delimiter) {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\n' || c === '\r') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) throw new ElectraError('ERR_DATA', 'unterminated quoted field at the end of the CSV');
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

/** Largest text a fine-tuning file may hold once decompressed (V8's string limit is ~512 MiB). */
export const MAX_FINETUNE_BYTES = 512 * 1024 * 1024 - 64;

/**
 * The bytes of a fine-tuning file, gunzipped when it ends in `.gz` (at most `opts.maxBytes`
 * decompressed, so a gzip bomb stops there). ERR_IO when unreadable, ERR_DATA when corrupt.
 */
export function readFinetuneBytes(file: string, opts: Pick<FinetuneFileOptions, 'maxBytes'> = {}): Buffer {
  // A number would be read as a file descriptor (0: standard input, which may never end).
  if (typeof file !== 'string' || file === '') throw new ElectraError('ERR_INPUT', `the data file must be a path (a non-empty string), not ${typeof file}`);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new ElectraError('ERR_IO', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (file.endsWith('.gz')) {
    try {
      buf = zlib.gunzipSync(buf, { maxOutputLength: maxBytes(opts) + 1 });
    } catch (e) {
      const big = (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
      throw new ElectraError('ERR_DATA', big ? `${file} expands to more than ${maxBytes(opts)} bytes` : `${file} is not a valid gzip file: ${(e as Error).message}`, { cause: e });
    }
  }
  return buf;
}

/** The UTF-8 text of a fine-tuning file (gzip allowed, BOM dropped), size-capped as {@link readFinetuneBytes}. */
export function readFinetuneText(file: string, opts: Pick<FinetuneFileOptions, 'maxBytes'> = {}): string {
  return decodeFinetuneText(readFinetuneBytes(file, opts), file, opts);
}

/** Size cap, strict UTF-8 and a dropped BOM: the text of fine-tuning bytes (`file` names them in errors). */
function decodeFinetuneText(buf: Uint8Array, file: string, opts: Pick<FinetuneFileOptions, 'maxBytes'>): string {
  if (buf.length > maxBytes(opts)) throw new ElectraError('ERR_DATA', `${file} is too large (${buf.length} bytes; at most ${maxBytes(opts)})`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch (e) {
    throw new ElectraError('ERR_DATA', `${file} is not UTF-8 text`, { cause: e });
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Reads a labelled CSV/TSV/JSONL file (gzip allowed). The first CSV/TSV row names the columns. */
export function readFinetuneFile(file: string, opts: FinetuneFileOptions = {}): FinetuneSet {
  const buf = readFinetuneBytes(file, opts);
  const base = file.replace(/\.gz$/, '');
  const format = opts.format ?? (/\.tsv$/i.test(base) ? 'tsv' : /\.(jsonl|ndjson)$/i.test(base) ? 'jsonl' : /\.csv$/i.test(base) ? 'csv' : undefined);
  if (!format) throw new ElectraError('ERR_CONFIG', `cannot tell the format of ${file} from its name: use .csv, .tsv or .jsonl, or pass format`);
  return parseFinetuneBuffer(buf, { ...opts, format }, file);
}

/**
 * Parses the bytes of a fine-tuning file in `opts.format` (UTF-8, an optional BOM); `where` names
 * it in errors and in each example's `source`. Rows that cannot be used are counted in `skipped`.
 */
export function parseFinetuneBuffer(buf: Uint8Array, opts: FinetuneFileOptions & { format: 'csv' | 'tsv' | 'jsonl' }, where = 'data'): FinetuneSet {
  const file = where;
  const text = decodeFinetuneText(buf, file, opts);
  const format = opts.format;
  const tf = opts.textField ?? 'text';
  const lf = opts.labelField ?? 'label';
  const skipped = new SkipLog();
  const examples: FinetuneExample[] = [];
  const records: Array<{ rec: Record<string, unknown>; where: string }> = [];
  if (format === 'jsonl') {
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const o = JSON.parse(line) as unknown;
        if (o && typeof o === 'object' && !Array.isArray(o)) records.push({ rec: o as Record<string, unknown>, where: `${file}:${i + 1}` });
        else skipped.add('line is not a JSON object', `${file}:${i + 1}`);
      } catch {
        skipped.add('invalid JSON line', `${file}:${i + 1}`);
      }
    });
  } else {
    let rows: string[][];
    try {
      rows = parseCsv(text, format === 'tsv' ? '\t' : ',');
    } catch (e) {
      if (e instanceof ElectraError) throw new ElectraError(e.code, `${file}: ${e.message}`, { cause: e });
      throw e;
    }
    const header = rows[0];
    if (!header) throw new ElectraError('ERR_DATA', `${file} is empty`);
    if (!header.includes(tf)) throw new ElectraError('ERR_DATA', `${file} has no column "${tf}" (columns: ${clip(header.join(', '))})`);
    rows.slice(1).forEach((r, i) => {
      if (r.length !== header.length) {
        skipped.add('row with the wrong number of columns', `${file} row ${i + 2}`);
        return;
      }
      // A null-prototype record: a column named "__proto__" is just a column.
      const rec: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      header.forEach((h, j) => (rec[h] = r[j]));
      records.push({ rec, where: `${file} row ${i + 2}` });
    });
  }
  const own = (o: Record<string, unknown>, k: string): unknown => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);
  const pf = opts.pairField ?? (records.some((r) => Object.prototype.hasOwnProperty.call(r.rec, 'text_pair')) ? 'text_pair' : undefined);
  for (const { rec, where } of records) {
    const t = own(rec, tf);
    if (typeof t !== 'string' || !t.trim()) {
      skipped.add(`missing or empty "${tf}"`, where);
      continue;
    }
    const ex: FinetuneExample = { text: t, source: where };
    if (pf !== undefined) {
      const p = own(rec, pf);
      if (typeof p !== 'string') {
        skipped.add(`missing "${pf}"`, where);
        continue;
      }
      ex.textPair = p;
    }
    const l = own(rec, lf);
    if (l !== undefined && l !== null && l !== '') {
      // Labels are strings, numbers or booleans; an object or a list is not a label.
      if (typeof l !== 'string' && typeof l !== 'number' && typeof l !== 'boolean') {
        skipped.add(`"${lf}" is not a string, number or boolean`, where);
        continue;
      }
      ex.label = String(l);
    }
    examples.push(ex);
  }
  const labels = [...new Set(examples.flatMap((e) => (e.label === undefined ? [] : [e.label])))].sort();
  if (examples.length === 0) throw new ElectraError('ERR_DATA', `${file} has no usable rows${skipped.empty ? '' : `: ${skipped.format().join('; ')}`}`);
  return { examples, labels, skipped };
}

function maxBytes(opts: Pick<FinetuneFileOptions, 'maxBytes'>): number {
  const m = opts.maxBytes;
  return m !== undefined && Number.isFinite(m) && m >= 0 ? Math.min(Math.floor(m), MAX_FINETUNE_BYTES) : MAX_FINETUNE_BYTES;
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** Splits examples into train/dev/test keeping each label's share (seeded shuffle per label). */
export function stratifiedSplit<T extends { label?: string }>(
  examples: readonly T[],
  opts: { seed: number; ratios?: readonly [number, number, number] },
): { train: T[]; dev: T[]; test: T[] } {
  const [rt, rd] = opts.ratios ?? [0.8, 0.1, 0.1];
  const groups = new Map<string, T[]>();
  for (const e of examples) {
    const k = e.label ?? '';
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(e);
  }
  const rng = new Rng(opts.seed);
  const out = { train: [] as T[], dev: [] as T[], test: [] as T[] };
  for (const k of [...groups.keys()].sort()) {
    const g = rng.shuffle([...groups.get(k)!]);
    const nt = Math.round(g.length * rt);
    const nd = Math.round(g.length * rd);
    out.train.push(...g.slice(0, nt));
    out.dev.push(...g.slice(nt, nt + nd));
    out.test.push(...g.slice(nt + nd));
  }
  // interleave labels so a set read in order is not sorted by label
  const r2 = new Rng(opts.seed ^ 0x5bd1e995);
  r2.shuffle(out.train);
  r2.shuffle(out.dev);
  r2.shuffle(out.test);
  return out;
}
