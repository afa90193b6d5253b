/**
 * `prepare`: corpus -> sentences -> tokens (worker threads) -> examples -> fixed-length shards +
 * `meta.json` (format in ./format.ts).
 *
 * Documents are read in order and sent in jobs of about 256 KB of text to a pool of worker
 * threads; results are taken back in submission order and examples are built in the calling
 * thread from one seeded {@link Rng}, so the output is byte-identical whatever the number of
 * workers. When no built worker file is found (running from TypeScript sources, e.g. under
 * ts-jest) or `workers` is 0, tokenization runs in the calling thread.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { writeFileAtomic } from '../checkpoint/atomic';
import { ElectraError } from '../errors';
import { ElectraTokenizer } from '../tokenizer/tokenizer';
import { ioStep } from '../util/files';
import { LOCK_FILE, OutputLock } from '../util/lock';
import { isBuiltinCorpus } from './builtins';
import { corpusSize, readCorpus, type CorpusOptions } from './corpus';
import { ExampleBuilder, type BuiltExample } from './examples';
import { bytesPerToken, dtypeFor, FORMAT_NAME, FORMAT_VERSION, shardName, type DatasetMeta, type ShardInfo } from './format';
import { formatBytes, Progress } from './progress';
import { Rng } from './rng';
import { SkipLog } from './skips';
import { documentsOf, tokenizeDocuments, type TokenizedDocs } from './tokenize';
import type { SplitOptions } from './sentences';
import type { WorkerInit, WorkerJob } from './worker';

/** Options of {@link prepare}. */
export interface PrepareOptions {
  /** Corpus source(s): files, folders, `-`, `sotu` (see readCorpus). */
  corpus: string | readonly string[];
  /** The tokenizer, or a path that {@link ElectraTokenizer.load} accepts. */
  tokenizer: ElectraTokenizer | string;
  /** Output folder. */
  out: string;
  /** Tokens per example (default 128). */
  maxLength?: number;
  /** Seed of example building (default 1). */
  seed?: number;
  /** Examples per shard (default 65536). */
  shardSize?: number;
  /** Worker threads (default: CPU count, at most 8; 0 = tokenize in this thread). */
  workers?: number;
  /** Path of the built worker script (default: found next to this module or in dist/). */
  workerPath?: string;
  /** Sentence splitting (default `rules`). */
  sentenceSplit?: 'rules' | 'lines';
  /** Corpus reading options (format, textField, docBoundary, stdin). */
  corpusOptions?: Omit<CorpusOptions, 'skips' | 'onProgress'>;
  /** Replace an existing dataset in `out` (default false: ERR_CONFIG). */
  overwrite?: boolean;
  /** Progress bar on stderr (default true; TTY-aware). */
  progress?: boolean;
  /** Characters of text per worker job (default 262144). */
  jobChars?: number;
}

/** What {@link prepare} returns: the written meta plus how it went. */
export interface PrepareResult {
  /** The content of `meta.json`. */
  meta: DatasetMeta;
  /** Wall seconds. */
  seconds: number;
  /** Input tokens per second. */
  tokensPerSecond: number;
  /** Worker threads used (0 = in-thread). */
  workers: number;
}

const candidates = (): string[] => [
  path.join(__dirname, 'worker.cjs'),
  path.join(__dirname, 'data', 'worker.cjs'),
  path.join(__dirname, '..', '..', 'dist', 'data', 'worker.cjs'),
];

/** The built worker script, if one exists (see {@link PrepareOptions.workerPath}). */
export function findWorkerScript(): string | undefined {
  return candidates().find((f) => fs.existsSync(f));
}

/** Tokenizes a corpus into pre-training shards; see the module comment. */
export async function prepare(opts: PrepareOptions): Promise<PrepareResult> {
  const t0 = Date.now();
  const maxLength = opts.maxLength ?? 128;
  const seed = opts.seed ?? 1;
  const shardSize = opts.shardSize ?? 65536;
  if (!Number.isInteger(maxLength) || maxLength < 8 || maxLength > 65535) throw new ElectraError('ERR_CONFIG', `maxLength must be an integer in [8, 65535], got ${maxLength}`);
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new ElectraError('ERR_CONFIG', `shardSize must be a positive integer, got ${shardSize}`);
  const tok = typeof opts.tokenizer === 'string' ? ElectraTokenizer.load(opts.tokenizer) : opts.tokenizer;
  const split: SplitOptions = { mode: opts.sentenceSplit ?? 'rules' };
  const sources = typeof opts.corpus === 'string' ? [opts.corpus] : [...opts.corpus];
  const out = path.resolve(opts.out);
  const lock = OutputLock.acquire(out, 'prepare');
  try {
    refuseOldDataset(out, opts.overwrite ?? false);
    clearDeadStaging(out);
    // Built beside the old dataset and swapped in at the end: a failure or an interrupt
    // (the lock's release removes the staging directory) leaves the old one as it was.
    const staging = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${process.pid}-${Date.now().toString(36)}`);
    lock.onRelease(() => fs.rmSync(staging, { recursive: true, force: true }));
    ioStep(`create ${staging}`, () => fs.mkdirSync(staging));
    const r = await build({ ...opts, out: staging }, { t0, maxLength, seed, shardSize, tok, split, sources });
    swapIn(out, staging, lock);
    return r;
  } finally {
    lock.release();
  }
}

interface BuildPlan {
  t0: number;
  maxLength: number;
  seed: number;
  shardSize: number;
  tok: ElectraTokenizer;
  split: SplitOptions;
  sources: string[];
}

/** Tokenizes the corpus into `opts.out` (an empty directory): shards, then meta.json. */
async function build(opts: PrepareOptions, p: BuildPlan): Promise<PrepareResult> {
  const { t0, maxLength, seed, shardSize, tok, split, sources } = p;
  const skips = new SkipLog();
  const total = corpusSize(sources);
  const builtinOnly = sources.every(isBuiltinCorpus);
  const bar = new Progress({ label: 'prepare', total, format: builtinOnly ? (n) => `${n} docs` : formatBytes, enabled: opts.progress ?? true });
  const pool = startPool(opts, tok);
  const dtype = dtypeFor(tok.vocabSize);
  const writer = new ShardWriter(opts.out, maxLength, dtype, shardSize, tok.padId);
  const builder = new ExampleBuilder({ maxLength, clsId: tok.clsId, sepId: tok.sepId, rng: new Rng(seed) });
  const counts = await tokenizeInto({ opts, sources, split, tok, pool, skips, bar, writer, builder });

  const st = builder.stats;
  if (st.truncatedTokens > 0) skips.add('tokens cut by segment trimming (as the original; counted, not kept)', undefined, st.truncatedTokens);
  if (st.examples === 0) {
    writer.abort();
    const why = skips.empty ? '' : `; skipped: ${skips.format().join('; ')}`;
    throw new ElectraError('ERR_DATA', `the corpus ${sources.join(', ')} gave no examples (${st.documents} documents with text)${why}`);
  }
  const shards = writer.close();
  bar.finish(`${st.examples.toLocaleString('en-US')} examples, ${shards.length} shard(s)`);
  const meta: DatasetMeta = {
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    dtype,
    maxLength,
    vocabSize: tok.vocabSize,
    vocabHash: tok.vocabHash,
    specialIds: { pad: tok.padId, cls: tok.clsId, sep: tok.sepId, mask: tok.maskId, unk: tok.unkId },
    lowercase: tok.options.lowercase,
    seed,
    counts: { ...st, unknownTokens: counts.unknown, characters: counts.characters },
    source: {
      corpus: sources,
      sentenceSplit: split.mode ?? 'rules',
      docBoundary: opts.corpusOptions?.docBoundary ?? 'blank-line',
      createdAt: new Date().toISOString(),
      tool: `electra-node ${packageVersion()}`,
    },
    skipped: skips.entries(),
    shards,
  };
  writeFileAtomic(path.join(opts.out, 'meta.json'), [JSON.stringify(meta, null, 2) + '\n']);
  const seconds = (Date.now() - t0) / 1000;
  return { meta, seconds, tokensPerSecond: st.inputTokens / Math.max(seconds, 1e-9), workers: pool ? pool.size : 0 };
}

/** The worker pool for tokenization, or none (in-thread) with `workers: 0` or without a built worker script. */
function startPool(opts: PrepareOptions, tok: ElectraTokenizer): Pool | undefined {
  const requested = opts.workers ?? Math.min(8, os.availableParallelism());
  const script = requested > 0 ? (opts.workerPath ?? findWorkerScript()) : undefined;
  if (opts.workerPath && !fs.existsSync(opts.workerPath)) throw new ElectraError('ERR_CONFIG', `worker script ${opts.workerPath} does not exist`);
  return script ? new Pool(script, requested, tok) : undefined;
}

interface TokenizeJob {
  opts: PrepareOptions;
  sources: string[];
  split: SplitOptions;
  tok: ElectraTokenizer;
  pool: Pool | undefined;
  skips: SkipLog;
  bar: Progress;
  writer: ShardWriter;
  builder: ExampleBuilder;
}

/**
 * Reads the corpus, tokenizes it in jobs of about `jobChars` characters (a few in flight per
 * worker, results taken in order), and builds and writes the examples. The pool is closed at the
 * end; on failure the shards written so far are removed.
 */
async function tokenizeInto(j: TokenizeJob): Promise<{ unknown: number; characters: number }> {
  const { opts, pool, skips, builder, writer } = j;
  let unknown = 0;
  let characters = 0;
  let consumed = 0;
  const consume = (r: TokenizedDocs) => {
    unknown += r.unknown;
    characters += r.characters;
    for (const doc of documentsOf(r)) {
      if (doc.every((s) => s.length === 0)) {
        skips.add('document without tokens (no sentences after splitting)');
        continue;
      }
      for (const ex of builder.addDocument(doc)) writer.add(ex);
    }
    j.bar.update(consumed, `${builder.stats.examples.toLocaleString('en-US')} examples`);
  };
  const inFlight: Promise<TokenizedDocs>[] = [];
  const maxInFlight = pool ? pool.size * 3 : 1;
  const run = (docs: string[]) => (pool ? pool.run({ id: 0, docs, split: j.split }) : tokenizeDocuments(j.tok, docs, j.split));
  const jobChars = opts.jobChars ?? 262144;
  try {
    let batch: string[] = [];
    let chars = 0;
    const corpusOpts: CorpusOptions = { ...opts.corpusOptions, skips, onProgress: (n) => (consumed = n) };
    for await (const doc of readCorpus(j.sources, corpusOpts)) {
      batch.push(doc.text);
      chars += doc.text.length;
      if (chars >= jobChars) {
        inFlight.push(run(batch));
        batch = [];
        chars = 0;
        while (inFlight.length >= maxInFlight) consume(await inFlight.shift()!);
      }
    }
    if (batch.length) inFlight.push(run(batch));
    while (inFlight.length) consume(await inFlight.shift()!);
  } catch (e) {
    await Promise.allSettled(inFlight);
    writer.abort();
    throw e;
  } finally {
    await pool?.close();
  }
  return { unknown, characters };
}

function packageVersion(): string {
  for (const p of [path.join(__dirname, '..', 'package.json'), path.join(__dirname, '..', '..', 'package.json')]) {
    try {
      const j = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (j.name === 'electra-node' && j.version) return j.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}

/** The files of a prepared dataset (meta.json and its shards). */
const isDatasetFile = (n: string): boolean => n === 'meta.json' || /^shard-\d+\.bin(\.partial)?$/.test(n);

function refuseOldDataset(out: string, overwrite: boolean): void {
  const old = fs.readdirSync(out).filter(isDatasetFile);
  if (old.length && !overwrite) {
    throw new ElectraError('ERR_CONFIG', `${out} already holds a prepared dataset (${old.length} file(s)); pass overwrite (--force) to replace it`);
  }
}

/**
 * Removes the staging directories of earlier runs on `out` that were killed (SIGKILL): with the
 * lock held, no other run is building one. They only ever hold an incomplete new dataset.
 */
function clearDeadStaging(out: string): void {
  const re = new RegExp(`^\\.${path.basename(out).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.tmp-\\d+-[0-9a-z]+$`);
  for (const n of fs.readdirSync(path.dirname(out))) if (re.test(n)) fs.rmSync(path.join(path.dirname(out), n), { recursive: true, force: true });
}

/**
 * Puts the dataset built in `staging` in the place of `out`: `out` is renamed away, `staging`
 * renamed in (with a copy of the lock, so that `out` stays locked), the other files of the old
 * directory (anything that is not the old dataset) moved into the new one, and the old dataset
 * deleted. Until the first rename the old dataset is untouched.
 */
function swapIn(out: string, staging: string, lock: OutputLock): void {
  ioStep(`write the lock into ${staging}`, () => fs.writeFileSync(path.join(staging, LOCK_FILE), lock.body));
  const old = path.join(path.dirname(out), `.${path.basename(out)}.old-${process.pid}-${Date.now().toString(36)}`);
  ioStep(`move ${out} aside to ${old}`, () => fs.renameSync(out, old));
  try {
    fs.renameSync(staging, out);
  } catch (e) {
    try {
      fs.renameSync(old, out);
    } catch {
      throw new ElectraError('ERR_IO', `cannot move the new dataset ${staging} to ${out} (${(e as Error).message}); the previous dataset is in ${old}`, { cause: e });
    }
    throw new ElectraError('ERR_IO', `cannot move the new dataset ${staging} to ${out}: ${(e as Error).message}; the previous dataset is unchanged`, { cause: e });
  }
  ioStep(`move the other files of ${old} into ${out}`, () => {
    for (const n of fs.readdirSync(old)) if (!isDatasetFile(n) && n !== LOCK_FILE) fs.renameSync(path.join(old, n), path.join(out, n));
  });
  fs.rmSync(old, { recursive: true, force: true });
}

/** Writes rows into shard files, hashing as it goes; each shard is renamed into place when full. */
class ShardWriter {
  readonly #dir: string;
  readonly #T: number;
  readonly #row: number;
  readonly #shardSize: number;
  readonly #pad: number;
  readonly #buf: Uint16Array | Uint32Array;
  readonly #rowsPerFlush: number;
  readonly #shards: ShardInfo[] = [];
  #fd: number | undefined;
  #hash: Hash | undefined;
  #inShard = 0;
  #inBuf = 0;
  #bytes = 0;

  constructor(dir: string, maxLength: number, dtype: DatasetMeta['dtype'], shardSize: number, padId: number) {
    this.#dir = dir;
    this.#T = maxLength;
    this.#row = maxLength + 2;
    this.#shardSize = shardSize;
    this.#pad = padId;
    this.#rowsPerFlush = Math.max(1, Math.floor((1 << 20) / (this.#row * bytesPerToken(dtype))));
    this.#buf = dtype === 'uint16' ? new Uint16Array(this.#rowsPerFlush * this.#row) : new Uint32Array(this.#rowsPerFlush * this.#row);
  }

  add(ex: BuiltExample): void {
    if (this.#fd === undefined) this.#open();
    const o = this.#inBuf * this.#row;
    const b = this.#buf;
    b[o] = ex.ids.length;
    b[o + 1] = ex.lenA;
    b.set(ex.ids, o + 2);
    b.fill(this.#pad, o + 2 + ex.ids.length, o + 2 + this.#T);
    this.#inBuf++;
    this.#inShard++;
    if (this.#inBuf === this.#rowsPerFlush) this.#flush();
    if (this.#inShard === this.#shardSize) this.#closeShard();
  }

  close(): ShardInfo[] {
    if (this.#fd !== undefined) this.#closeShard();
    return this.#shards;
  }

  abort(): void {
    if (this.#fd !== undefined) fs.closeSync(this.#fd);
    this.#fd = undefined;
    for (const n of fs.readdirSync(this.#dir)) if (/^shard-\d+\.bin(\.partial)?$/.test(n)) fs.rmSync(path.join(this.#dir, n), { force: true });
  }

  #open(): void {
    const name = shardName(this.#shards.length);
    this.#fd = fs.openSync(path.join(this.#dir, name + '.partial'), 'w');
    this.#hash = createHash('sha256');
    this.#inShard = 0;
    this.#bytes = 0;
  }

  #flush(): void {
    if (this.#inBuf === 0) return;
    const view = new Uint8Array(this.#buf.buffer, 0, this.#inBuf * this.#row * this.#buf.BYTES_PER_ELEMENT);
    let off = 0;
    while (off < view.length) off += fs.writeSync(this.#fd!, view, off, view.length - off);
    this.#hash!.update(view);
    this.#bytes += view.length;
    this.#inBuf = 0;
  }

  #closeShard(): void {
    this.#flush();
    fs.closeSync(this.#fd!);
    this.#fd = undefined;
    const name = shardName(this.#shards.length);
    fs.renameSync(path.join(this.#dir, name + '.partial'), path.join(this.#dir, name));
    this.#shards.push({ file: name, examples: this.#inShard, bytes: this.#bytes, sha256: this.#hash!.digest('hex') });
  }
}

/** A fixed pool of tokenizer workers; jobs go to the least busy worker, results come back per job. */
class Pool {
  readonly size: number;
  readonly #workers: Worker[] = [];
  readonly #busy: number[] = [];
  readonly #pending = new Map<number, { resolve: (r: TokenizedDocs) => void; reject: (e: unknown) => void; w: number }>();
  #next = 1;
  #failed: Error | undefined;

  constructor(script: string, n: number, tok: ElectraTokenizer) {
    this.size = n;
    const init: WorkerInit = {
      electraDataWorker: 1,
      tokenizerJson: tok.toJSONString(),
      vocabOptions: { ...tok.options, specialTokens: tok.specialTokens },
    };
    for (let i = 0; i < n; i++) {
      const w = new Worker(script, { workerData: init });
      w.on('message', (m: { id: number; result?: TokenizedDocs; error?: string }) => {
        const p = this.#pending.get(m.id);
        if (!p) return;
        this.#pending.delete(m.id);
        this.#busy[p.w]!--;
        if (m.result) p.resolve(m.result);
        else p.reject(new ElectraError('ERR_TOKENIZER', `tokenizer worker failed: ${m.error}`));
      });
      const fail = (e: Error) => {
        this.#failed = e;
        for (const [id, p] of this.#pending) {
          if (p.w !== i) continue;
          this.#pending.delete(id);
          p.reject(new ElectraError('ERR_TOKENIZER', `tokenizer worker ${i} failed: ${e.message}`, { cause: e }));
        }
      };
      w.on('error', fail);
      w.on('exit', (code) => {
        if (code !== 0) fail(new Error(`exited with code ${code}`));
      });
      this.#workers.push(w);
      this.#busy.push(0);
    }
  }

  run(job: WorkerJob): Promise<TokenizedDocs> {
    if (this.#failed) return Promise.reject(new ElectraError('ERR_TOKENIZER', `a tokenizer worker failed: ${this.#failed.message}`));
    let w = 0;
    for (let i = 1; i < this.#busy.length; i++) if (this.#busy[i]! < this.#busy[w]!) w = i;
    const id = this.#next++;
    this.#busy[w]!++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, w });
      this.#workers[w]!.postMessage({ ...job, id });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
