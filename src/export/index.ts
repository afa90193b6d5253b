/**
 * ONNX export: a model (a Hugging Face directory or a loaded {@link Electra}) written as the
 * directory layout transformers.js loads from a local path:
 *
 *   config.json, tokenizer.json, tokenizer_config.json (+ vocab.txt, special_tokens_map.json)
 *   onnx/model.onnx             float32
 *   onnx/model_quantized.onnx   int8 weights (`quantize: 'q8'`)
 *   onnx/electra-export.json    what was exported (the model's fingerprint, head, opset, files)
 *
 * The graph is built in TypeScript (src/export/electra-graph.ts) and encoded with protobufjs from
 * the ONNX schema; nothing here needs libtorch when the source is a directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configToJson, type ElectraConfig } from '../config';
import type { Electra, Head } from '../electra';
import { ElectraError } from '../errors';
import { writeDirAtomic } from '../checkpoint/atomic';
import { HEAD_ARCHITECTURES } from '../checkpoint/statedict';
import { packageRoot } from '../native';
import { ElectraTokenizer } from '../tokenizer/tokenizer';
import { buildElectraGraph, headOutputs } from './electra-graph';
import { encodeModel, type ModelProto, type TensorProto } from './proto';
import { checkHead, sourceFromDir, sourceFromModel, type ExportSource } from './source';

/** Opsets the exporter writes (LayerNormalization needs 17), with the IR version each needs. */
export const OPSET_IR: Readonly<Record<number, number>> = { 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };
export const DEFAULT_OPSET = 18;
/** Above this many bytes of weights a model file keeps them in `<file>_data` (protobuf's 2 GiB limit, less room for the graph). */
export const EXTERNAL_DATA_THRESHOLD = 2 ** 31 - 2 ** 26;
const MARKER = 'electra-export.json';

export interface ExportOptions {
  /** The output directory (created; see `overwrite`). */
  out: string;
  /** `q8`: also write `onnx/model_quantized.onnx` (int8 weights, dynamic activation quantization). */
  quantize?: 'q8' | 'none';
  /** ONNX opset, 17 to 21 (default 18). From 20 on, GELU is the `Gelu` operator. */
  opset?: number;
  /** The head to export (default: the model's). `none` exports the encoder alone (`last_hidden_state`). */
  head?: Head;
  /**
   * Replace an output directory that holds something else than an earlier export of this same
   * model (default false: ERR_INPUT). A directory exported from the same weights is replaced either way.
   */
  overwrite?: boolean;
  /** The tokenizer to write: default the model's own (its directory's files); `false` writes none. */
  tokenizer?: ElectraTokenizer | string | false;
  /** Weights in `onnx/<file>_data` files: `auto` (default) when over 2 GiB, or always / never. */
  externalData?: 'auto' | 'always' | 'never';
}

export interface ExportedFile {
  /** Path relative to `out`. */
  path: string;
  bytes: number;
}

export interface ExportResult {
  out: string;
  head: Head;
  opset: number;
  /** Graph inputs (int64, (batch_size, sequence_length)). */
  inputs: string[];
  outputs: string[];
  files: ExportedFile[];
  /** Bytes of `onnx/model.onnx` (+ its data file) and of the quantized model, when written. */
  bytes: { fp32: number; q8?: number };
  /** sha256 of the exported config shape, head and weights. */
  fingerprint: string;
}

interface Resolved {
  out: string;
  quantize: boolean;
  opset: number;
  head: Head | undefined;
  overwrite: boolean;
  tokenizer: ElectraTokenizer | string | false | undefined;
  externalData: 'auto' | 'always' | 'never';
}

function resolveOptions(o: ExportOptions): Resolved {
  if (!o || typeof o !== 'object') throw new ElectraError('ERR_INPUT', 'exportOnnx: options must be an object with `out`');
  if (typeof o.out !== 'string' || o.out === '') throw new ElectraError('ERR_INPUT', 'exportOnnx: `out` must be a directory path');
  const q = o.quantize ?? 'none';
  if (q !== 'q8' && q !== 'none') throw new ElectraError('ERR_INPUT', `exportOnnx: quantize must be "q8" or "none", got ${JSON.stringify(q)}`);
  const opset = o.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || OPSET_IR[opset] === undefined) {
    throw new ElectraError('ERR_INPUT', `exportOnnx: opset must be one of ${Object.keys(OPSET_IR).join(', ')}, got ${JSON.stringify(opset)}`);
  }
  const ext = o.externalData ?? 'auto';
  if (!['auto', 'always', 'never'].includes(ext)) throw new ElectraError('ERR_INPUT', `exportOnnx: externalData must be auto, always or never, got ${JSON.stringify(ext)}`);
  return {
    out: o.out,
    quantize: q === 'q8',
    opset,
    head: o.head === undefined ? undefined : checkHead(o.head),
    overwrite: o.overwrite === true,
    tokenizer: o.tokenizer,
    externalData: ext,
  };
}

/**
 * Exports a model to ONNX in the transformers.js layout. `model` is a Hugging Face directory
 * (read without libtorch) or a loaded {@link Electra}. Errors: ERR_INPUT (bad options, unknown
 * head, an output directory holding another model without `overwrite`), ERR_CHECKPOINT (weights
 * missing for the head, a config the graph cannot express), ERR_TOKENIZER (no tokenizer), ERR_IO.
 */
export async function exportOnnx(model: Electra | string, opts: ExportOptions): Promise<ExportResult> {
  const o = resolveOptions(opts);
  if (typeof model === 'string') checkNotSource(model, o.out);
  else if (model.source) checkNotSource(model.source, o.out);
  const src = typeof model === 'string' ? await sourceFromDir(model, o.head) : await sourceFromModel(model, o.head);
  checkOutDir(o.out, src.fingerprint, o.overwrite);
  const tokenizer = resolveTokenizer(o.tokenizer, src, typeof model === 'string' ? undefined : model);
  const files: ExportedFile[] = [];
  const bytes: ExportResult['bytes'] = { fp32: 0 };
  await writeDirAtomic(o.out, (tmp) => {
    const onnxDir = path.join(tmp, 'onnx');
    fs.mkdirSync(onnxDir);
    const external: Record<string, number> = {};
    bytes.fp32 = writeModel(src, o, false, onnxDir, 'model.onnx', external);
    if (o.quantize) bytes.q8 = writeModel(src, o, true, onnxDir, 'model_quantized.onnx', external);
    writeConfig(tmp, src.config, src.head, o.quantize, external);
    writeTokenizer(tmp, tokenizer, src.dir);
    const marker = { format: 1, producer: `electra-node ${packageVersion()}`, fingerprint: src.fingerprint, head: src.head, opset: o.opset, quantize: o.quantize ? 'q8' : 'none' };
    fs.writeFileSync(path.join(onnxDir, MARKER), JSON.stringify(marker, null, 2) + '\n');
    for (const f of listFiles(tmp)) files.push({ path: f, bytes: fs.statSync(path.join(tmp, f)).size });
  });
  return {
    out: o.out,
    head: src.head,
    opset: o.opset,
    inputs: ['input_ids', 'attention_mask', 'token_type_ids'],
    outputs: headOutputs(src.config, src.head, src.labels).map((s) => s.name),
    files,
    bytes,
    fingerprint: src.fingerprint,
  };
}

function sameDir(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}

function checkNotSource(source: string, out: string): void {
  if (sameDir(source, out)) throw new ElectraError('ERR_INPUT', `exportOnnx: out ${out} is the model's own directory; export to another one`);
}

/** An existing, non-empty `out` must be an export of the same model, unless `overwrite`. */
function checkOutDir(out: string, fp: string, overwrite: boolean): void {
  if (!fs.existsSync(out)) return;
  if (!fs.statSync(out).isDirectory()) throw new ElectraError('ERR_INPUT', `exportOnnx: out ${out} exists and is not a directory`);
  if (overwrite || fs.readdirSync(out).length === 0) return;
  let prior: { fingerprint?: unknown } | undefined;
  try {
    prior = JSON.parse(fs.readFileSync(path.join(out, 'onnx', MARKER), 'utf8')) as { fingerprint?: unknown };
  } catch {
    prior = undefined;
  }
  if (prior?.fingerprint === fp) return;
  const what = prior ? 'an export of a different model' : 'files that are not an electra-node export';
  throw new ElectraError('ERR_INPUT', `exportOnnx: ${out} already holds ${what}; pass overwrite (--overwrite) to replace it`);
}

function resolveTokenizer(t: Resolved['tokenizer'], src: ExportSource, model: Electra | undefined): ElectraTokenizer | 'copy' | undefined {
  if (t === false) return undefined;
  if (typeof t === 'string') return ElectraTokenizer.load(t);
  if (t !== undefined) return t;
  if (src.dir && ['tokenizer.json', 'tokenizer_config.json'].every((f) => fs.existsSync(path.join(src.dir!, f)))) return 'copy';
  if (model?.tokenizer) return model.tokenizer;
  if (src.dir && ['tokenizer.json', 'vocab.txt'].some((f) => fs.existsSync(path.join(src.dir!, f)))) return ElectraTokenizer.load(src.dir);
  throw new ElectraError('ERR_TOKENIZER', 'exportOnnx: the model has no tokenizer (transformers.js needs tokenizer.json); pass `tokenizer` (a path or an ElectraTokenizer), or `tokenizer: false` to export the graph alone');
}

function writeTokenizer(dir: string, t: ElectraTokenizer | 'copy' | undefined, srcDir: string | undefined): void {
  if (t === undefined) return;
  if (t !== 'copy') return t.save(dir);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt']) {
    const p = path.join(srcDir!, f);
    if (fs.existsSync(p)) fs.copyFileSync(p, path.join(dir, f));
  }
}

function writeConfig(dir: string, config: ElectraConfig, head: Head, quantized: boolean, external: Record<string, number>): void {
  const json = configToJson(config, HEAD_ARCHITECTURES[head]);
  // transformers.js: in a browser (wasm) it loads model_quantized.onnx unless told otherwise.
  const tjs: Record<string, unknown> = {};
  if (!quantized) tjs.dtype = 'fp32';
  if (Object.keys(external).length) tjs.use_external_data_format = external;
  if (Object.keys(tjs).length) json['transformers.js_config'] = tjs;
  else delete json['transformers.js_config'];
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2) + '\n');
}

/** Builds, encodes and writes one model file; returns its bytes (with its data file). */
function writeModel(src: ExportSource, o: Resolved, quantize: boolean, dir: string, file: string, external: Record<string, number>): number {
  const graph = buildElectraGraph(src.config, src.head, src.weights, src.labels, { opset: o.opset, quantize });
  const dataBytes = graph.initializer.reduce((s, t) => s + (t.rawData?.byteLength ?? 0), 0);
  const useExternal = o.externalData === 'always' || (o.externalData === 'auto' && dataBytes > EXTERNAL_DATA_THRESHOLD);
  let total = 0;
  if (useExternal) {
    total += writeExternalData(graph.initializer, path.join(dir, `${file}_data`), `${file}_data`);
    external[file] = 1;
  }
  const m: ModelProto = {
    irVersion: OPSET_IR[o.opset]!,
    opsetImport: [{ domain: '', version: o.opset }],
    producerName: 'electra-node',
    producerVersion: packageVersion(),
    docString: `ELECTRA (${src.head}) exported by electra-node${quantize ? ', int8 weights (dynamic quantization)' : ''}`,
    graph,
    metadataProps: [{ key: 'electra_node.fingerprint', value: src.fingerprint }],
  };
  let bytes: Uint8Array;
  try {
    bytes = encodeModel(m);
  } catch (e) {
    throw new ElectraError('ERR_INPUT', `cannot encode ${file}: ${(e as Error).message}${useExternal ? '' : ' (try externalData: "always")'}`, { cause: e });
  }
  fs.writeFileSync(path.join(dir, file), bytes);
  return total + bytes.byteLength;
}

/** Moves every initializer of 1 KiB or more into `file` (64-byte aligned), as onnx's external data format describes. */
function writeExternalData(inits: TensorProto[], file: string, location: string): number {
  const fd = fs.openSync(file, 'w');
  let offset = 0;
  try {
    for (const t of inits) {
      const raw = t.rawData;
      if (!raw || raw.byteLength < 1024) continue;
      const pad = (64 - (offset % 64)) % 64;
      if (pad) fs.writeSync(fd, new Uint8Array(pad));
      offset += pad;
      for (let done = 0; done < raw.byteLength; ) done += fs.writeSync(fd, raw, done, Math.min(raw.byteLength - done, 1 << 30));
      t.dataLocation = 1;
      t.externalData = [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.byteLength) },
      ];
      delete t.rawData;
      offset += raw.byteLength;
    }
  } finally {
    fs.closeSync(fd);
  }
  return offset;
}

function listFiles(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(root, p));
    else out.push(p);
  }
  return out.sort();
}

let version: string | undefined;
function packageVersion(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
