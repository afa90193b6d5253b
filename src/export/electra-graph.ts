/**
 * The ELECTRA network as an ONNX graph, built from the config and the weights under their
 * Hugging Face names (modeling_electra.py): embeddings (+ projection), the encoder layers, and
 * one head. Inputs `input_ids`, `attention_mask`, `token_type_ids` (int64, (batch_size,
 * sequence_length)), outputs named as Hugging Face optimum names them.
 *
 * Standard ONNX operators only: LayerNormalization (opset 17), Gelu where the opset has it (20)
 * and its erf / tanh decomposition before that. With `quantize`, every Linear of the body and the
 * head's hidden dense layers run as onnxruntime's dynamic quantizer writes them
 * (DynamicQuantizeLinear on the activations, MatMulInteger, then the scales), with 8-bit weights
 * that have a scale and a zero point per output channel (uint8: src/export/quantize.ts says why),
 * and the word embeddings are int8 rows with one scale per token. The last projection of each
 * head (onto the labels: 1 or 2 outputs) and the tied generator output stay float32.
 */
import type { ElectraConfig } from '../config';
import type { Head } from '../electra';
import { attr, GraphBuilder } from './graph';
import { DataType, type GraphProto } from './proto';
import { quantizeColumns, quantizeRows } from './quantize';

/** A float32 weight under its canonical HF name (with the `electra.` prefix on body weights). */
export interface Weight {
  shape: number[];
  data: Float32Array;
}
export type Weights = ReadonlyMap<string, Weight>;

export interface GraphOptions {
  opset: number;
  quantize: boolean;
}

/** Output names and their shapes, per head (as optimum's ELECTRA export names them). */
export function headOutputs(config: ElectraConfig, head: Head, labels: number): { name: string; dims: (number | string)[] }[] {
  const BT = ['batch_size', 'sequence_length'];
  switch (head) {
    case 'none':
      return [{ name: 'last_hidden_state', dims: [...BT, config.hidden_size] }];
    case 'discriminator':
      return [{ name: 'logits', dims: BT }];
    case 'generator':
      return [{ name: 'logits', dims: [...BT, config.vocab_size] }];
    case 'sequence-classification':
      return [{ name: 'logits', dims: ['batch_size', labels] }];
    case 'token-classification':
      return [{ name: 'logits', dims: [...BT, labels] }];
    case 'question-answering':
      return [
        { name: 'start_logits', dims: BT },
        { name: 'end_logits', dims: BT },
      ];
  }
}

/** Builds the graph; weights must already be checked against the config (src/export/weights.ts). */
export function buildElectraGraph(config: ElectraConfig, head: Head, weights: Weights, labels: number, opts: GraphOptions): GraphProto {
  const b = new ElectraGraph(config, weights, opts);
  const ids = b.g.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const mask = b.g.input('attention_mask', DataType.INT64, ['batch_size', 'sequence_length']);
  const types = b.g.input('token_type_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  let x = b.embeddings(ids, types, head !== 'generator');
  const bias = b.attentionBias(mask);
  for (let i = 0; i < config.num_hidden_layers; i++) x = b.layer(x, bias, i);
  const outs = b.head(x, head);
  const specs = headOutputs(config, head, labels);
  specs.forEach((s, k) => b.g.output(outs[k]!, s.name, DataType.FLOAT, s.dims));
  return b.g.graph('electra', `ELECTRA ${head === 'none' ? 'encoder' : head} (${config.num_hidden_layers} layers, hidden ${config.hidden_size})`);
}

class ElectraGraph {
  readonly g: GraphBuilder;
  /** Quantized copies of activations (DynamicQuantizeLinear outputs), shared by the Linears that read the same input. */
  readonly #quantized = new Map<string, [string, string, string]>();

  constructor(
    readonly config: ElectraConfig,
    readonly weights: Weights,
    readonly opts: GraphOptions,
  ) {
    this.g = new GraphBuilder(opts.opset);
  }

  w(name: string): Weight {
    const t = this.weights.get(name);
    if (!t) throw new Error(`weight ${name} is missing (checked before building)`);
    return t;
  }

  /** A float32 initializer from a weight. */
  param(name: string): string {
    const t = this.w(name);
    return this.g.init(name, t.shape, t.data);
  }

  /** word + position + token type embeddings, LayerNorm, projection: (B, T) ids -> (B, T, H). */
  embeddings(ids: string, types: string, quantizeWords: boolean): string {
    const p = 'electra.embeddings';
    const g = this.g;
    const words = this.opts.quantize && quantizeWords ? this.quantizedGather(`${p}.word_embeddings.weight`, ids) : g.node('Gather', [this.param(`${p}.word_embeddings.weight`), ids], '/embeddings/word_embeddings/Gather');
    const tt = g.node('Gather', [this.param(`${p}.token_type_embeddings.weight`), types], '/embeddings/token_type_embeddings/Gather');
    // Positions 0..T-1: the first T rows of the table.
    const T = g.node('Shape', [ids], '/embeddings/Shape', [attr.i('start', 1), attr.i('end', 2)]);
    const pos = g.node('Slice', [this.param(`${p}.position_embeddings.weight`), g.ints([0]), T, g.ints([0])], '/embeddings/position_embeddings/Slice');
    let x = g.node('Add', [words, tt], '/embeddings/Add');
    x = g.node('Add', [x, pos], '/embeddings/Add_1');
    x = this.layerNorm(x, `${p}.LayerNorm`, '/embeddings/LayerNorm');
    if (this.config.embedding_size !== this.config.hidden_size) x = this.linear(x, 'electra.embeddings_project', '/embeddings_project');
    return x;
  }

  /** Int8 rows with a scale per token: Gather both, then q * scale. */
  quantizedGather(name: string, ids: string): string {
    const g = this.g;
    const t = this.w(name);
    const [V, E] = t.shape as [number, number];
    const { q, scale } = quantizeRows(t.data, V, E);
    const qt = g.init(`${name}_quantized`, [V, E], q);
    const st = g.init(`${name}_scale`, [V, 1], scale);
    const rows = g.node('Gather', [qt, ids], '/embeddings/word_embeddings/Gather');
    const f = g.node('Cast', [rows], '/embeddings/word_embeddings/Cast', [attr.i('to', DataType.FLOAT)]);
    const s = g.node('Gather', [st, ids], '/embeddings/word_embeddings/Gather_scale');
    return g.node('Mul', [f, s], '/embeddings/word_embeddings/Mul');
  }

  /** (1 - mask) * lowest float, shaped (B, 1, 1, T) to add to the attention scores. */
  attentionBias(mask: string): string {
    const g = this.g;
    let m = g.node('Cast', [mask], '/extended_attention_mask/Cast', [attr.i('to', DataType.FLOAT)]);
    m = g.node('Unsqueeze', [m, g.ints([1, 2])], '/extended_attention_mask/Unsqueeze');
    m = g.node('Sub', [g.scalar(1), m], '/extended_attention_mask/Sub');
    return g.node('Mul', [m, g.scalar(-3.4028234663852886e38)], '/extended_attention_mask/Mul');
  }

  /** One encoder layer (ElectraLayer): self-attention, residual + LayerNorm, FFN, residual + LayerNorm. */
  layer(x: string, bias: string, i: number): string {
    const g = this.g;
    const c = this.config;
    const p = `electra.encoder.layer.${i}`;
    const n = `/encoder/layer.${i}`;
    const heads = c.num_attention_heads;
    const d = c.hidden_size / heads;
    const split = g.ints([0, 0, heads, d]);
    const proj = (which: string, perm: number[]): string => {
      const y = this.linear(x, `${p}.attention.self.${which}`, `${n}/attention/self/${which}`);
      const r = g.node('Reshape', [y, split], `${n}/attention/self/${which}/Reshape`);
      return g.node('Transpose', [r], `${n}/attention/self/${which}/Transpose`, [attr.ints('perm', perm)]);
    };
    const q = proj('query', [0, 2, 1, 3]); // (B, h, T, d)
    const k = proj('key', [0, 2, 3, 1]); // (B, h, d, T)
    const v = proj('value', [0, 2, 1, 3]); // (B, h, T, d)
    let s = g.node('MatMul', [q, k], `${n}/attention/self/MatMul`); // (B, h, T, T)
    s = g.node('Div', [s, g.scalar(Math.fround(Math.sqrt(d)))], `${n}/attention/self/Div`);
    s = g.node('Add', [s, bias], `${n}/attention/self/Add`);
    const a = g.node('Softmax', [s], `${n}/attention/self/Softmax`, [attr.i('axis', -1)]);
    let o = g.node('MatMul', [a, v], `${n}/attention/self/MatMul_1`); // (B, h, T, d)
    o = g.node('Transpose', [o], `${n}/attention/self/Transpose`, [attr.ints('perm', [0, 2, 1, 3])]);
    o = g.node('Reshape', [o, g.ints([0, 0, c.hidden_size])], `${n}/attention/self/Reshape`); // (B, T, H)
    o = this.linear(o, `${p}.attention.output.dense`, `${n}/attention/output/dense`);
    x = this.layerNorm(g.node('Add', [o, x], `${n}/attention/output/Add`), `${p}.attention.output.LayerNorm`, `${n}/attention/output/LayerNorm`);
    let f = this.linear(x, `${p}.intermediate.dense`, `${n}/intermediate/dense`);
    f = this.activation(f, c.hidden_act, `${n}/intermediate/act`);
    f = this.linear(f, `${p}.output.dense`, `${n}/output/dense`);
    return this.layerNorm(g.node('Add', [f, x], `${n}/output/Add`), `${p}.output.LayerNorm`, `${n}/output/LayerNorm`);
  }

  /** The head's outputs, in the order of {@link headOutputs}. */
  head(x: string, head: Head): string[] {
    const g = this.g;
    const act = this.config.hidden_act;
    switch (head) {
      case 'none':
        return [x];
      case 'discriminator': {
        let h = this.linear(x, 'discriminator_predictions.dense', '/discriminator_predictions/dense');
        h = this.activation(h, act, '/discriminator_predictions/act');
        h = this.linear(h, 'discriminator_predictions.dense_prediction', '/discriminator_predictions/dense_prediction', false);
        return [g.node('Squeeze', [h, g.ints([-1])], '/discriminator_predictions/Squeeze')];
      }
      case 'generator': {
        let h = this.linear(x, 'generator_predictions.dense', '/generator_predictions/dense');
        h = this.activation(h, 'gelu', '/generator_predictions/act');
        h = this.layerNorm(h, 'generator_predictions.LayerNorm', '/generator_predictions/LayerNorm');
        // Tied to the word embeddings: logits = h @ E^T + bias (the transpose is folded when onnxruntime loads the graph).
        const e = g.initializers.find((t) => t.name === 'electra.embeddings.word_embeddings.weight')!.name;
        const et = g.node('Transpose', [e], '/generator_lm_head/Transpose', [attr.ints('perm', [1, 0])]);
        h = g.node('MatMul', [h, et], '/generator_lm_head/MatMul');
        return [g.node('Add', [h, this.param('generator_lm_head.bias')], '/generator_lm_head/Add')];
      }
      case 'sequence-classification': {
        // ElectraClassificationHead: the [CLS] row, dense, GELU (exact, whatever hidden_act says), out_proj.
        let h = g.node('Gather', [x, g.int(0)], '/classifier/Gather', [attr.i('axis', 1)]); // (B, H)
        h = this.linear(h, 'classifier.dense', '/classifier/dense');
        h = this.activation(h, 'gelu', '/classifier/act');
        return [this.linear(h, 'classifier.out_proj', '/classifier/out_proj', false)];
      }
      case 'token-classification':
        return [this.linear(x, 'classifier', '/classifier', false)];
      case 'question-answering': {
        const l = this.linear(x, 'qa_outputs', '/qa_outputs', false); // (B, T, 2)
        return [g.node('Gather', [l, g.int(0)], '/qa_outputs/Gather_start', [attr.i('axis', 2)]), g.node('Gather', [l, g.int(1)], '/qa_outputs/Gather_end', [attr.i('axis', 2)])];
      }
    }
  }

  layerNorm(x: string, p: string, name: string): string {
    return this.g.node('LayerNormalization', [x, this.param(`${p}.weight`), this.param(`${p}.bias`)], name, [attr.i('axis', -1), attr.f('epsilon', this.config.layer_norm_eps)]);
  }

  /** x @ W^T + b for the HF Linear `p` (weight (out, in)); quantized unless `quantizable` is false. */
  linear(x: string, p: string, name: string, quantizable = true): string {
    const g = this.g;
    const w = this.w(`${p}.weight`);
    const [N, K] = w.shape as [number, number];
    const wt = transpose(w.data, N, K); // (K, N)
    let y: string;
    if (this.opts.quantize && quantizable) {
      const { q, scale, zeroPoint } = quantizeColumns(wt, K, N);
      const [xq, xs, xz] = this.dynamicQuantize(x);
      const qw = g.init(`${p}.weight_quantized`, [K, N], q);
      const zp = g.init(`${p}.weight_zero_point`, [N], zeroPoint);
      const sw = g.init(`${p}.weight_scale`, [N], scale);
      const mi = g.node('MatMulInteger', [xq, qw, xz, zp], `${name}/MatMul_quant`);
      const f = g.node('Cast', [mi], `${name}/MatMul_quant_cast`, [attr.i('to', DataType.FLOAT)]);
      const s = g.node('Mul', [xs, sw], `${name}/MatMul_quant_scales_mul`);
      y = g.node('Mul', [f, s], `${name}/MatMul_quant_output`);
    } else {
      y = g.node('MatMul', [x, g.init(`${p}.weight_transposed`, [K, N], wt)], `${name}/MatMul`);
    }
    return g.node('Add', [y, this.param(`${p}.bias`)], `${name}/Add`);
  }

  /** DynamicQuantizeLinear of `x` (uint8, one scale and zero point per tensor), once per value. */
  dynamicQuantize(x: string): [string, string, string] {
    let q = this.#quantized.get(x);
    if (!q) {
      q = this.g.nodeN('DynamicQuantizeLinear', [x], `${x}_QuantizeLinear`, 3) as [string, string, string];
      this.#quantized.set(x, q);
    }
    return q;
  }

  /** HF activations (ACT2FN) by config name; exact and tanh GELU as Gelu from opset 20, decomposed before. */
  activation(x: string, act: string, name: string): string {
    const g = this.g;
    switch (act) {
      case 'gelu':
        if (this.opts.opset >= 20) return g.node('Gelu', [x], `${name}/Gelu`);
        return this.geluErf(x, name);
      case 'gelu_new':
      case 'gelu_pytorch_tanh':
      case 'gelu_fast':
        if (this.opts.opset >= 20) return g.node('Gelu', [x], `${name}/Gelu`, [attr.s('approximate', 'tanh')]);
        return this.geluTanh(x, name);
      case 'relu':
        return g.node('Relu', [x], `${name}/Relu`);
      case 'silu':
      case 'swish':
        return g.node('Mul', [x, g.node('Sigmoid', [x], `${name}/Sigmoid`)], `${name}/Mul`);
      case 'tanh':
        return g.node('Tanh', [x], `${name}/Tanh`);
      default:
        throw new Error(`activation ${act} (checked before building)`);
    }
  }

  /** 0.5 x (1 + erf(x / sqrt 2)), in the node order onnxruntime's Gelu fusion matches. */
  geluErf(x: string, name: string): string {
    const g = this.g;
    let y = g.node('Div', [x, g.scalar(Math.fround(Math.SQRT2))], `${name}/Div`);
    y = g.node('Erf', [y], `${name}/Erf`);
    y = g.node('Add', [y, g.scalar(1)], `${name}/Add`);
    y = g.node('Mul', [x, y], `${name}/Mul`);
    return g.node('Mul', [y, g.scalar(0.5)], `${name}/Mul_1`);
  }

  /** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (HF NewGELUActivation). */
  geluTanh(x: string, name: string): string {
    const g = this.g;
    let y = g.node('Pow', [x, g.scalar(3)], `${name}/Pow`);
    y = g.node('Mul', [y, g.scalar(0.044715)], `${name}/Mul`);
    y = g.node('Add', [x, y], `${name}/Add`);
    y = g.node('Mul', [y, g.scalar(Math.fround(Math.sqrt(2 / Math.PI)))], `${name}/Mul_1`);
    y = g.node('Tanh', [y], `${name}/Tanh`);
    y = g.node('Add', [y, g.scalar(1)], `${name}/Add_1`);
    y = g.node('Mul', [x, y], `${name}/Mul_2`);
    return g.node('Mul', [y, g.scalar(0.5)], `${name}/Mul_3`);
  }
}

/** Row-major (R, C) -> (C, R). */
export function transpose(a: Float32Array, R: number, C: number): Float32Array {
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) {
    const row = r * C;
    for (let c = 0; c < C; c++) out[c * R + r] = a[row + c]!;
  }
  return out;
}

/** Activations the graph can express (the config schema's `hidden_act` values). */
export const SUPPORTED_ACTIVATIONS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'relu', 'silu', 'swish', 'tanh'] as const;
