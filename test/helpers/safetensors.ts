/**
 * Safetensors helpers for tests, built on the library's one reader and one writer: bytes held in
 * memory go through a scratch file, and the header is read back as written (raw JSON, without the
 * reader's validation) to check the writer's layout.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors, type ReadSafetensorsOptions, type SafetensorsContent, type SafetensorsInput } from '../../src/checkpoint/safetensors';

let scratchDir: string | undefined;
let scratchCount = 0;

// Jest loads this module once per test file: the scratch directory goes with the file's tests.
afterAll(() => {
  if (scratchDir) fs.rmSync(scratchDir, { recursive: true, force: true });
  scratchDir = undefined;
  parseFile = undefined;
});

function scratchFile(): string {
  if (!scratchDir) {
    // Memory-backed where there is one: rewriting a file in place on ext4 waits for the disk.
    const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
    scratchDir = fs.mkdtempSync(path.join(base, 'electra-st-helper-'));
  }
  return path.join(scratchDir, `${scratchCount++}.safetensors`);
}

/** The bytes {@link writeSafetensors} writes for `tensors`. */
export function serializeSafetensors(tensors: SafetensorsInput, metadata?: Record<string, string>): Buffer {
  const f = scratchFile();
  try {
    writeSafetensors(f, tensors, metadata);
    return fs.readFileSync(f);
  } finally {
    fs.rmSync(f, { force: true });
  }
}

/** What {@link readSafetensors} makes of `bytes` (written to a scratch file first, reused from call to call). */
export function parseSafetensors(bytes: Uint8Array, opts: ReadSafetensorsOptions = {}): SafetensorsContent {
  parseFile ??= scratchFile();
  fs.writeFileSync(parseFile, bytes);
  return readSafetensors(parseFile, opts);
}
let parseFile: string | undefined;

export interface RawHeader {
  metadata: Record<string, string> | undefined;
  /** Tensor entries in data-offset order. */
  entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[];
  /** Where the data section starts (8 + the header length). */
  dataStart: number;
  totalBytes: number;
}

/** The header of well-formed safetensors bytes, as written. */
export function headerAsWritten(bytes: Buffer): RawHeader {
  const n = Number(bytes.readBigUInt64LE(0));
  const json = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__?: Record<string, string> };
  const { __metadata__: metadata, ...tensors } = json;
  const entries = Object.entries(tensors)
    .map(([name, e]) => ({ name, dtype: e.dtype, shape: e.shape, begin: e.data_offsets[0], end: e.data_offsets[1] }))
    .sort((a, b) => a.begin - b.begin || a.end - b.end);
  return { metadata, entries, dataStart: 8 + n, totalBytes: bytes.length };
}

/** {@link headerAsWritten} of a file. */
export function headerAsWrittenIn(file: string): RawHeader {
  return headerAsWritten(fs.readFileSync(file));
}
