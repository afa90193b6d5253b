/**
 * The on-disk format of prepared pre-training data (format version 1).
 *
 * A dataset is a folder with `meta.json` and shards `shard-00000.bin`, `shard-00001.bin`, ...
 * Each shard is a raw little-endian array of rows, no header, readable with
 * `numpy.fromfile(f, dtype).reshape(-1, maxLength + 2)`:
 *
 *     row = [len, lenA, t0, t1, ..., t(maxLength-1)]     (dtype uint16, or uint32 when vocab > 65536)
 *
 * - `len`: tokens before padding (attention mask = 1 for positions < len);
 * - `lenA`: tokens of type 0, i.e. `[CLS] A [SEP]` (token type = 1 for lenA <= position < len);
 * - `t*`: token ids, `[PAD]` (the tokenizer's pad id) after `len`.
 *
 * A shard's size is exactly `examples * (maxLength + 2) * bytesPerToken`; anything else means a
 * truncated or foreign file. `meta.json` ({@link DatasetMeta}) lists every shard with its example
 * count, byte size and sha256.
 */
import { ElectraError } from '../errors';
import type { SkipEntry } from './skips';
import type { ExampleStats } from './examples';

/** Current format version; readers refuse other versions. */
export const FORMAT_VERSION = 1;
/** The `format` field of `meta.json`. */
export const FORMAT_NAME = 'electra-node/pretraining-shards';

/** One shard as listed in `meta.json`. */
export interface ShardInfo {
  /** File name relative to the dataset folder. */
  file: string;
  /** Examples (rows) in the file. */
  examples: number;
  /** File size in bytes. */
  bytes: number;
  /** sha256 (hex) of the file. */
  sha256: string;
}

/** The content of `meta.json`. */
export interface DatasetMeta {
  format: typeof FORMAT_NAME;
  formatVersion: number;
  /** Token dtype of the rows. */
  dtype: 'uint16' | 'uint32';
  /** Tokens per example (the row has two more values: len, lenA). */
  maxLength: number;
  /** Vocabulary size of the tokenizer used. */
  vocabSize: number;
  /** sha256 of the tokenizer's vocabulary in id order ({@link ElectraTokenizer.vocabHash}). */
  vocabHash: string;
  /** Special ids used in the rows. */
  specialIds: { pad: number; cls: number; sep: number; mask: number; unk: number };
  /** Normalisation of the tokenizer. */
  lowercase: boolean;
  /** Seed of example building. */
  seed: number;
  /** Counts: examples, tokens and what happened on the way. */
  counts: ExampleStats & { unknownTokens: number; characters: number };
  /** What was read and how. */
  source: { corpus: string[]; sentenceSplit: 'rules' | 'lines'; docBoundary: 'blank-line' | 'file'; createdAt: string; tool: string };
  /** Input skipped or shortened, with reasons (nothing is dropped silently). */
  skipped: SkipEntry[];
  /** The shards in order; example i of the dataset is row i of their concatenation. */
  shards: ShardInfo[];
}

/** Bytes per token of a dtype. */
export function bytesPerToken(dtype: DatasetMeta['dtype']): 2 | 4 {
  return dtype === 'uint16' ? 2 : 4;
}

/** The dtype for a vocabulary size: uint16 up to 65536 tokens, else uint32. */
export function dtypeFor(vocabSize: number): DatasetMeta['dtype'] {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
}

/** Shard file name of index i. */
export function shardName(i: number): string {
  return `shard-${String(i).padStart(5, '0')}.bin`;
}

/** Longest example a dataset may declare (tokens per row); far above any model's positions. */
export const MAX_EXAMPLE_LENGTH = 1 << 20;

/**
 * Checks the shape of a parsed `meta.json`; throws ERR_DATA naming the field. Shard file names
 * must be plain names (no separators, no leading dot, no NUL); {@link PretrainDataset.open}
 * also refuses names that resolve outside the folder through a symlink.
 */
export function validateMeta(m: unknown, where: string): DatasetMeta {
  const fail = (msg: string): never => {
    throw new ElectraError('ERR_DATA', `${where}: ${msg}`);
  };
  const show = (v: unknown): string => {
    let s: string;
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = Array.isArray(v) ? 'a list' : typeof v; // too deep to print
    }
    return s.length > 80 ? `${s.slice(0, 80)}…` : s;
  };
  if (!m || typeof m !== 'object' || Array.isArray(m)) return fail('not a JSON object');
  const o = m as Record<string, unknown>;
  if (o.format !== FORMAT_NAME) fail(`format must be "${FORMAT_NAME}", got ${show(o.format)}`);
  if (o.formatVersion !== FORMAT_VERSION) fail(`formatVersion ${show(o.formatVersion)} is not supported (this version reads ${FORMAT_VERSION})`);
  if (o.dtype !== 'uint16' && o.dtype !== 'uint32') fail(`dtype must be uint16 or uint32, got ${show(o.dtype)}`);
  if (!Number.isInteger(o.maxLength) || (o.maxLength as number) < 1 || (o.maxLength as number) > MAX_EXAMPLE_LENGTH) {
    fail(`maxLength must be an integer in [1, ${MAX_EXAMPLE_LENGTH}], got ${show(o.maxLength)}`);
  }
  const maxVocab = o.dtype === 'uint16' ? 65536 : 2 ** 31 - 1; // ids become int32 in batches
  if (!Number.isInteger(o.vocabSize) || (o.vocabSize as number) < 1 || (o.vocabSize as number) > maxVocab) {
    fail(`vocabSize must be an integer in [1, ${maxVocab}] for ${o.dtype}, got ${show(o.vocabSize)}`);
  }
  if (typeof o.vocabHash !== 'string' || !/^[0-9a-f]{64}$/.test(o.vocabHash)) fail('vocabHash must be a sha256 hex string');
  const c = o.counts as Record<string, unknown> | null | undefined;
  if (!c || typeof c !== 'object' || Array.isArray(c) || !Number.isSafeInteger(c.examples) || (c.examples as number) < 0) fail('counts must be an object with a non-negative integer examples');
  if (!Array.isArray(o.shards)) fail('shards must be a list');
  for (const [i, s] of (o.shards as unknown[]).entries()) {
    const r = s as Record<string, unknown>;
    if (!r || typeof r !== 'object' || typeof r.file !== 'string' || !Number.isSafeInteger(r.examples) || !Number.isSafeInteger(r.bytes)) fail(`shards[${i}] needs file, examples and bytes`);
    if ((r.examples as number) < 0 || (r.bytes as number) < 0) fail(`shards[${i}]: examples and bytes must not be negative`);
    const file = r.file as string;
    if (file === '' || file.length > 255 || file.includes('/') || file.includes('\\') || file.includes('\0') || file.startsWith('.')) {
      fail(`shards[${i}].file must be a plain file name, got ${show(r.file)}`);
    }
  }
  return o as unknown as DatasetMeta;
}
