/**
 * Streaming batch jobs: `electra predict|embed|detect --input rows --output out`. Rows stream in,
 * are grouped in chunks of a fixed number of input rows, run through a {@link Batcher} (batches
 * bounded in padded tokens, longest first), and written in input order, one chunk per write.
 * Memory is one chunk at a time, whatever the file size.
 *
 * Resume: after each chunk, `OUT.progress` records the rows done and the output bytes. `--resume`
 * truncates the output to those bytes and restarts at that row; chunks start at the same rows as in
 * an uninterrupted run, so every batch is the same and the output is byte-identical.
 */
import * as fs from 'node:fs';
import type { Electra } from '../electra';
import { ElectraError, toElectraError } from '../errors';
import { Batcher } from '../serve/batcher';
import { f32 } from '../cli/inputs';
import type { TextInput } from '../infer/common';
import { readRows, type InputRow } from './rows';

export type JobTask = 'embed' | 'predict' | 'detect';

export interface JobOptions {
  task: JobTask;
  model: Electra;
  /** A path or `-` (stdin). */
  input: string;
  inputFormat: 'jsonl' | 'csv';
  /** A path (`.npy` for embeddings as float32 with `.ids.txt` beside) or `-` (stdout). */
  output: string;
  textField: string;
  /** Second text of a pair (classification); used when the row has it. */
  pairField: string;
  /** Question of each row (question answering). */
  questionField: string;
  idField: string;
  /** More fields copied from each row to its output. */
  keep: string[];
  resume: boolean;
  onError: 'skip' | 'fail';
  /** Input rows per chunk (default 1024). */
  chunkRows: number;
  maxBatchTokens: number;
  /** Options of the task helper (batchSize, maxLength, truncation, pooling, normalize, threshold, windows). */
  taskOptions: Record<string, unknown>;
  /** Progress on stderr (default: when stderr is a TTY). */
  progress: boolean;
  log?: (s: string) => void;
}

export interface JobSummary {
  rows: number;
  skipped: number;
  /** Rows already done by the run that was resumed. */
  resumedFrom: number;
  seconds: number;
}

interface Progress {
  rows: number;
  outBytes: number;
  idsBytes?: number;
  npyRows?: number;
  done?: boolean;
}

const NPY_HEADER = 128;

/** The `.npy` header (version 1.0, little-endian float32, C order) padded to {@link NPY_HEADER} bytes. */
function npyHeader(rows: number, cols: number): Buffer {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const head = Buffer.alloc(NPY_HEADER, 0x20);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(NPY_HEADER - 10, 8);
  head.write(dict, 10, 'latin1');
  head[NPY_HEADER - 1] = 0x0a;
  return head;
}

/** Runs a streaming job; resolves with its counts. */
export async function runJob(o: JobOptions): Promise<JobSummary> {
  const t0 = performance.now();
  const npy = o.output !== '-' && /\.npy$/i.test(o.output);
  if (npy && o.task !== 'embed') throw new ElectraError('ERR_CONFIG', '--output .npy is for embeddings (electra embed)');
  if (o.resume && o.output === '-') throw new ElectraError('ERR_CONFIG', '--resume needs --output FILE (it reads what was written)');
  const progFile = o.output + '.progress';
  const idsFile = o.output.replace(/\.npy$/i, '') + '.ids.txt';
  let state: Progress = { rows: 0, outBytes: npy ? NPY_HEADER : 0, idsBytes: 0, npyRows: 0 };
  if (o.resume && fs.existsSync(progFile)) {
    state = JSON.parse(fs.readFileSync(progFile, 'utf8')) as Progress;
    if (state.done) {
      o.log?.(`${o.output} is complete (${state.rows} rows); nothing to resume`);
      return { rows: 0, skipped: 0, resumedFrom: state.rows, seconds: 0 };
    }
  } else if (o.resume && fs.existsSync(o.output) && fs.statSync(o.output).size > 0) {
    throw new ElectraError('ERR_IO', `--resume: ${o.output} exists but ${progFile} does not; it was not written by a job (or finished before resume existed)`);
  }
  const resumedFrom = state.rows;
  let out: number;
  let ids: number | undefined;
  if (o.output === '-') out = 1;
  else {
    out = fs.openSync(o.output, o.resume && resumedFrom > 0 ? 'r+' : 'w');
    fs.ftruncateSync(out, state.outBytes);
    if (npy) {
      ids = fs.openSync(idsFile, o.resume && resumedFrom > 0 ? 'r+' : 'w');
      fs.ftruncateSync(ids, state.idsBytes ?? 0);
      if (resumedFrom === 0) fs.writeSync(out, npyHeader(0, o.model.config.hidden_size), 0, NPY_HEADER, 0);
    }
  }
  const batcher = new Batcher(o.model, { maxBatchTokens: o.maxBatchTokens, maxBatchRequests: 1, maxWaitMs: 0 });
  const readProgress = { bytes: 0 };
  const total = o.input === '-' ? 0 : fs.statSync(o.input).size;
  let rowIndex = 0;
  let skipped = 0;
  let chunk: InputRow[] = [];
  let lastDraw = 0;
  const draw = (final = false) => {
    if (!o.progress) return;
    const now = performance.now();
    if (!final && now - lastDraw < 500) return;
    lastDraw = now;
    const s = (now - t0) / 1000;
    const rate = (rowIndex - resumedFrom) / Math.max(s, 1e-9);
    const frac = total ? readProgress.bytes / total : 0;
    const eta = frac > 0 && frac < 1 ? (s / frac) * (1 - frac) : 0;
    process.stderr.write(`\r${rowIndex} rows  ${rate.toFixed(0)} rows/s` + (total ? `  ${(frac * 100).toFixed(1)}%  ETA ${fmtTime(eta)}` : '') + (skipped ? `  ${skipped} skipped` : '') + (final ? '\n' : ''));
  };
  const flush = async () => {
    if (chunk.length === 0) return;
    const { text, vectors, idLines, bad } = await runChunk(o, batcher, chunk);
    skipped += bad;
    if (npy) {
      fs.writeSync(out, vectors!, 0, vectors!.length, state.outBytes);
      fs.writeSync(ids!, idLines!, state.idsBytes, 'utf8');
      state.outBytes += vectors!.length;
      state.idsBytes = (state.idsBytes ?? 0) + Buffer.byteLength(idLines!);
      state.npyRows = (state.npyRows ?? 0) + vectors!.length / 4 / o.model.config.hidden_size;
    } else if (text) {
      const buf = Buffer.from(text);
      if (o.output === '-') await writeStdout(buf);
      else fs.writeSync(out, buf, 0, buf.length, state.outBytes);
      state.outBytes += buf.length;
    }
    state.rows = rowIndex;
    if (o.output !== '-') saveProgress(progFile, state);
    chunk = [];
    draw();
  };
  try {
    for await (const row of readRows(o.input, o.inputFormat, readProgress)) {
      rowIndex++;
      if (rowIndex <= resumedFrom) continue;
      chunk.push(row);
      if (rowIndex % o.chunkRows === 0) await flush();
    }
    await flush();
    if (npy) fs.writeSync(out, npyHeader(state.npyRows ?? 0, o.model.config.hidden_size), 0, NPY_HEADER, 0);
    if (o.output !== '-') saveProgress(progFile, { ...state, done: true });
    draw(true);
  } finally {
    if (out !== 1) fs.closeSync(out);
    if (ids !== undefined) fs.closeSync(ids);
  }
  return { rows: rowIndex - resumedFrom, skipped, resumedFrom, seconds: (performance.now() - t0) / 1000 };
}

function saveProgress(file: string, p: Progress): void {
  const tmp = file + '.tmp';
  fs.writeFileSync(tmp, JSON.stringify(p));
  fs.renameSync(tmp, file);
}

function writeStdout(buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.stdout.write(buf)) resolve();
    else process.stdout.once('drain', resolve).once('error', reject);
  });
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(ss).padStart(2, '0')}s`;
}

interface Good {
  row: InputRow;
  input: TextInput;
  question?: string;
}

/** Checks a row's fields; the reason when it cannot be used. */
function inputOf(o: JobOptions, row: InputRow): { input?: TextInput; question?: string; error?: string } {
  if (row.error) return { error: row.error };
  const f = row.fields!;
  const text = f[o.textField];
  if (typeof text !== 'string') return { error: `field "${o.textField}" is ${text === undefined ? 'missing' : 'not a string'}` };
  if (text.trim() === '') return { error: `field "${o.textField}" is empty` };
  if (o.model.head === 'question-answering') {
    const q = f[o.questionField];
    if (typeof q !== 'string' || q.trim() === '') return { error: `field "${o.questionField}" (the question) is missing or empty` };
    return { input: text, question: q };
  }
  const pair = f[o.pairField];
  if (pair !== undefined && o.task === 'predict' && o.model.head === 'sequence-classification') {
    if (typeof pair !== 'string' || pair.trim() === '') return { error: `field "${o.pairField}" is not a non-empty string` };
    return { input: [text, pair] };
  }
  return { input: text };
}

function reportBad(o: JobOptions, row: InputRow, error: string): void {
  const msg = `${o.input === '-' ? 'stdin' : o.input}:${row.line}: ${error}`;
  if (o.onError === 'fail') throw new ElectraError('ERR_DATA', `${msg} (--on-error fail; --on-error skip skips such rows)`);
  o.log?.(`${msg}: skipped`);
}

/** Runs one chunk: results in input order; a chunk whose run fails on an input is rerun row by row to name the row. */
async function runChunk(o: JobOptions, batcher: Batcher, rows: InputRow[]): Promise<{ text?: string; vectors?: Buffer; idLines?: string; bad: number }> {
  const good: Good[] = [];
  let bad = 0;
  for (const row of rows) {
    const r = inputOf(o, row);
    if (r.error) {
      reportBad(o, row, r.error);
      bad++;
    } else good.push({ row, input: r.input!, question: r.question });
  }
  let results: unknown[];
  try {
    results = await runTask(o, batcher, good);
  } catch (e) {
    const err = toElectraError(e);
    if (err.code !== 'ERR_INPUT') throw err;
    results = [];
    const kept: Good[] = [];
    for (const g of good) {
      try {
        results.push((await runTask(o, batcher, [g]))[0]);
        kept.push(g);
      } catch (e2) {
        const err2 = toElectraError(e2);
        if (err2.code !== 'ERR_INPUT') throw err2;
        reportBad(o, g.row, err2.message);
        bad++;
      }
    }
    good.splice(0, good.length, ...kept);
  }
  if (/\.npy$/i.test(o.output) && o.output !== '-') {
    const H = o.model.config.hidden_size;
    const buf = Buffer.alloc(good.length * H * 4);
    results.forEach((v, k) => Buffer.from((v as Float32Array).buffer, (v as Float32Array).byteOffset, H * 4).copy(buf, k * H * 4));
    const idLines = good.map((g) => `${String(g.row.fields![o.idField] ?? g.row.line)}\n`).join('');
    return { vectors: buf, idLines, bad };
  }
  let text = '';
  good.forEach((g, k) => {
    const rec: Record<string, unknown> = {};
    const f = g.row.fields!;
    if (f[o.idField] !== undefined) rec[o.idField] = f[o.idField];
    else rec.line = g.row.line;
    for (const key of o.keep) if (f[key] !== undefined) rec[key] = f[key];
    const r = results[k];
    if (o.task === 'embed') {
      const v = r as Float32Array & { truncated?: number };
      rec.embedding = Array.from(v, f32);
      rec.truncated = v.truncated ?? 0;
    } else Object.assign(rec, r);
    text += JSON.stringify(rec) + '\n';
  });
  return { text, bad };
}

async function runTask(o: JobOptions, b: Batcher, good: Good[]): Promise<unknown[]> {
  if (good.length === 0) return [];
  const opts = { ...o.taskOptions, batchSize: good.length };
  if (o.task === 'embed') {
    const rows = await b.embed(good.map((g) => g.input as string), opts);
    return rows.map((v, i) => Object.assign(v, { truncated: rows.truncated[i] }));
  }
  if (o.task === 'detect') return b.detectReplaced(good.map((g) => g.input as string), opts);
  switch (o.model.head) {
    case 'sequence-classification':
      return b.classify(good.map((g) => g.input), opts);
    case 'token-classification':
      return b.tagTokens(good.map((g) => g.input as string), opts);
    case 'question-answering':
      return b.answer(good.map((g) => ({ question: g.question!, context: g.input as string })), opts);
    case 'discriminator':
      return b.detectReplaced(good.map((g) => g.input as string), opts);
    default:
      throw new ElectraError('ERR_CHECKPOINT', `the model has no task head (head "${o.model.head}"): use electra embed`);
  }
}
