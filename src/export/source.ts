/**
 * What the exporter reads: the config, the head and the float32 weights of a model, from a
 * Hugging Face directory (the project's safetensors / pytorch_model.bin readers; no addon) or
 * from a loaded {@link Electra}; each weight checked against the shape the config implies, and
 * the config checked for what the graph can express.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { numLabels, parseConfig, type ElectraConfig } from '../config';
import type { Electra, Head } from '../electra';
import { ElectraError } from '../errors';
import { inspectHfDir, readWeights } from '../checkpoint/hf';
import { isRegularFile } from '../util/files';
import { canonicalName } from '../checkpoint/statedict';
import type { NamedTensor } from '../native';
import { SUPPORTED_ACTIVATIONS, type Weight } from './electra-graph';

export const HEADS: readonly Head[] = ['none', 'discriminator', 'generator', 'sequence-classification', 'token-classification', 'question-answering'];

/** A model ready to be turned into a graph. */
export interface ExportSource {
  config: ElectraConfig;
  head: Head;
  labels: number;
  weights: Map<string, Weight>;
  /** The directory it came from (tokenizer files are copied from there), if any. */
  dir?: string;
  /** sha256 of the config's shape, the head and every weight the graph uses: "the same model". */
  fingerprint: string;
}

/** Checks a head name from the caller; ERR_INPUT when it is not one of {@link HEADS}. */
export function checkHead(h: unknown): Head {
  if (typeof h !== 'string' || !(HEADS as readonly string[]).includes(h)) {
    throw new ElectraError('ERR_INPUT', `unknown head ${JSON.stringify(h)}: expected one of ${HEADS.join(', ')}`);
  }
  return h as Head;
}

/**
 * Refuses configs the graph cannot express (ERR_CHECKPOINT, naming the field): a decoder or
 * cross-attention (a causal mask / a second input), pruned heads (layers of different widths),
 * relative position embeddings, an activation without an ONNX form.
 */
export function checkRepresentable(raw: Record<string, unknown>, where: string): void {
  const refuse = (what: string): never => {
    throw new ElectraError('ERR_CHECKPOINT', `${where}: the ONNX exporter cannot represent ${what}`);
  };
  if (raw.is_decoder === true) refuse('is_decoder: true (a causal attention mask)');
  if (raw.add_cross_attention === true) refuse('add_cross_attention: true');
  const pruned = raw.pruned_heads;
  if (pruned !== undefined && pruned !== null && (typeof pruned !== 'object' || Object.keys(pruned).length > 0)) refuse('pruned_heads (layers with different numbers of heads)');
  const pos = raw.position_embedding_type;
  if (pos !== undefined && pos !== 'absolute') refuse(`position_embedding_type ${JSON.stringify(pos)} (only "absolute")`);
  const act = raw.hidden_act;
  if (act !== undefined && !(SUPPORTED_ACTIVATIONS as readonly unknown[]).includes(act)) {
    refuse(`hidden_act ${JSON.stringify(act)} (supported: ${SUPPORTED_ACTIVATIONS.join(', ')})`);
  }
}

/** The weights a head needs, with the shapes the config implies. */
export function expectedWeights(c: ElectraConfig, head: Head, labels: number): Map<string, number[]> {
  const { vocab_size: V, embedding_size: E, hidden_size: H, intermediate_size: I } = c;
  const m = new Map<string, number[]>();
  const linear = (p: string, out: number, inp: number) => {
    m.set(`${p}.weight`, [out, inp]);
    m.set(`${p}.bias`, [out]);
  };
  const norm = (p: string, n: number) => {
    m.set(`${p}.weight`, [n]);
    m.set(`${p}.bias`, [n]);
  };
  m.set('electra.embeddings.word_embeddings.weight', [V, E]);
  m.set('electra.embeddings.position_embeddings.weight', [c.max_position_embeddings, E]);
  m.set('electra.embeddings.token_type_embeddings.weight', [c.type_vocab_size, E]);
  norm('electra.embeddings.LayerNorm', E);
  if (E !== H) linear('electra.embeddings_project', H, E);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `electra.encoder.layer.${i}`;
    for (const w of ['query', 'key', 'value']) linear(`${p}.attention.self.${w}`, H, H);
    linear(`${p}.attention.output.dense`, H, H);
    norm(`${p}.attention.output.LayerNorm`, H);
    linear(`${p}.intermediate.dense`, I, H);
    linear(`${p}.output.dense`, H, I);
    norm(`${p}.output.LayerNorm`, H);
  }
  switch (head) {
    case 'none':
      break;
    case 'discriminator':
      linear('discriminator_predictions.dense', H, H);
      linear('discriminator_predictions.dense_prediction', 1, H);
      break;
    case 'generator':
      linear('generator_predictions.dense', E, H);
      norm('generator_predictions.LayerNorm', E);
      m.set('generator_lm_head.bias', [V]);
      break;
    case 'sequence-classification':
      linear('classifier.dense', H, H);
      linear('classifier.out_proj', labels, H);
      break;
    case 'token-classification':
      linear('classifier', labels, H);
      break;
    case 'question-answering':
      linear('qa_outputs', 2, H);
      break;
  }
  return m;
}

/** float16 / bfloat16 bits -> float32. */
function toFloat32(t: NamedTensor): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  const bits = t.data as Uint16Array;
  const out = new Float32Array(bits.length);
  if (t.dtype === 'bfloat16') {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
    return out;
  }
  if (t.dtype === 'float16') {
    for (let i = 0; i < bits.length; i++) {
      const h = bits[i]!;
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const f = h & 0x3ff;
      out[i] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
    }
    return out;
  }
  throw new ElectraError('ERR_CHECKPOINT', `weight ${t.name} is ${t.dtype}, expected a floating-point type`);
}

/** Picks and checks the weights a head needs; ERR_CHECKPOINT lists what is missing or mis-shaped. */
function selectWeights(c: ElectraConfig, head: Head, labels: number, tensors: NamedTensor[], where: string): Map<string, Weight> {
  const want = expectedWeights(c, head, labels);
  const have = new Map<string, NamedTensor>();
  for (const t of tensors) {
    const n = canonicalName(t.name);
    if (n !== null && want.has(n)) have.set(n, t);
  }
  const missing: string[] = [];
  const misShaped: string[] = [];
  const out = new Map<string, Weight>();
  for (const [name, shape] of want) {
    const t = have.get(name);
    if (!t) {
      missing.push(name);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      misShaped.push(`${name} is [${t.shape.join(', ')}], the config implies [${shape.join(', ')}]`);
      continue;
    }
    out.set(name, { shape, data: toFloat32(t) });
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`no weights for head ${head}: missing ${missing.length} (${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''})`);
  if (misShaped.length) problems.push(`mis-shaped: ${misShaped.join('; ')}`);
  if (problems.length) throw new ElectraError('ERR_CHECKPOINT', `${where}: ${problems.join('; ')}`);
  return out;
}

/** Labels of a classification head: the config's count, checked against the weights. */
function labelCount(c: ElectraConfig, head: Head, tensors: NamedTensor[], where: string): number {
  const n = numLabels(c);
  const name = head === 'sequence-classification' ? 'classifier.out_proj.bias' : head === 'token-classification' ? 'classifier.bias' : undefined;
  const t = name ? tensors.find((x) => canonicalName(x.name) === name) : undefined;
  if (t && t.shape[0] !== n) throw new ElectraError('ERR_CHECKPOINT', `${where}: ${name} has ${t.shape[0]} labels, the config ${n}`);
  return n;
}

/** JSON with object keys sorted at every level (key order in config.json does not change the model). */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function fingerprint(c: ElectraConfig, head: Head, weights: Map<string, Weight>): string {
  const h = createHash('sha256');
  const shape = { ...c } as Record<string, unknown>;
  for (const k of ['architectures', 'transformers_version', 'transformers.js_config', '_name_or_path', 'dtype', 'torch_dtype']) delete shape[k];
  h.update(stableJson(shape));
  h.update(`\0${head}\0`);
  for (const name of [...weights.keys()].sort()) {
    const w = weights.get(name)!;
    h.update(`${name}:${w.shape.join('x')}\0`);
    h.update(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
  }
  return h.digest('hex');
}

/** Reads a Hugging Face directory without the addon. `head` defaults to its architecture's. */
export async function sourceFromDir(dir: string, head: Head | undefined): Promise<ExportSource> {
  const cfgFile = path.join(dir, 'config.json');
  if (fs.existsSync(dir) && fs.statSync(dir).isDirectory() && isRegularFile(cfgFile, 'config', 'ERR_CHECKPOINT')) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    } catch {
      raw = undefined; // inspectHfDir reports it
    }
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) checkRepresentable(raw as Record<string, unknown>, cfgFile);
  }
  const info = inspectHfDir(dir);
  const h = head ?? info.head;
  const tensors = await readWeights(info.weightsFile);
  const labels = labelCount(info.config, h, tensors, info.weightsFile);
  const weights = selectWeights(info.config, h, labels, tensors, info.weightsFile);
  return { config: info.config, head: h, labels, weights, dir, fingerprint: fingerprint(info.config, h, weights) };
}

/** Reads a loaded model's weights (float32, HF names) through the addon. */
export async function sourceFromModel(model: Electra, head: Head | undefined): Promise<ExportSource> {
  const h = head ?? model.head;
  const config = parseConfig(model.config);
  checkRepresentable(config as Record<string, unknown>, 'the model config');
  const state = (await model.state()).map((t) => ({ ...t, dtype: 'float32' as const }));
  const labels = labelCount(config, h, state, 'the model');
  const weights = selectWeights(config, h, labels, state, 'the model');
  return { config, head: h, labels, weights, dir: model.source, fingerprint: fingerprint(config, h, weights) };
}
