/**
 * A small ONNX graph builder: unique value names, initializers from typed arrays, nodes with
 * typed attributes, and shared scalar constants. It knows nothing about ELECTRA
 * (src/export/electra-graph.ts builds the model with it).
 */
import * as os from 'node:os';
import { ElectraError } from '../errors';
import { AttrType, DataType, type AttributeProto, type DataTypeId, type Dim, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto';

/** Typed arrays an initializer can be made from. */
export type InitData = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

/** Attribute constructors (ONNX attributes are typed; JS numbers are not). */
export const attr = {
  i: (name: string, i: number): AttributeProto => ({ name, type: AttrType.INT, i }),
  f: (name: string, f: number): AttributeProto => ({ name, type: AttrType.FLOAT, f }),
  s: (name: string, s: string): AttributeProto => ({ name, type: AttrType.STRING, s: Buffer.from(s, 'utf8') }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, type: AttrType.INTS, ints }),
};

function dataTypeOf(data: InitData): DataTypeId {
  // By tag, not instanceof: arrays from the addon or another realm (vm, jest, Electron) have other constructors.
  switch (Object.prototype.toString.call(data)) {
    case '[object Float32Array]':
      return DataType.FLOAT;
    case '[object Int8Array]':
      return DataType.INT8;
    case '[object Uint8Array]':
      return DataType.UINT8;
    case '[object Int32Array]':
      return DataType.INT32;
    case '[object BigInt64Array]':
      return DataType.INT64;
    default:
      throw new Error(`initializer data of type ${Object.prototype.toString.call(data)}`);
  }
}

/** A graph under construction. Value names are unique; `name()` makes them so. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  readonly #used = new Set<string>();
  readonly #scalars = new Map<string, string>();
  /** Bytes of initializer data so far. */
  dataBytes = 0;

  constructor(readonly opset: number) {
    // Tensor bytes go into the file as they lie in memory: ONNX stores little-endian.
    if (os.endianness() !== 'LE') throw new ElectraError('ERR_INPUT', 'ONNX export needs a little-endian machine');
  }

  /** `base`, or `base_1`, `base_2`, ... if taken. */
  name(base: string): string {
    let n = base;
    for (let k = 1; this.#used.has(n); k++) n = `${base}_${k}`;
    this.#used.add(n);
    return n;
  }

  /** Adds an initializer (a constant tensor); returns its (unique) name. */
  init(name: string, dims: number[], data: InitData): string {
    const n = this.name(name);
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`initializer ${n}: ${data.length} values for shape [${dims.join(', ')}]`);
    const rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name: n, dims, dataType: dataTypeOf(data), rawData });
    this.dataBytes += data.byteLength;
    return n;
  }

  /** A float32 scalar (shape []), shared between uses. */
  scalar(v: number): string {
    const key = `f32:${Object.is(v, -0) ? '-0' : String(v)}`;
    let n = this.#scalars.get(key);
    if (!n) {
      n = this.init(`const_f32_${String(v).replace(/[^0-9a-zA-Z]/g, '_')}`, [], new Float32Array([v]));
      this.#scalars.set(key, n);
    }
    return n;
  }

  /** An int64 vector (shape [n]), shared between uses. */
  ints(values: number[]): string {
    const key = `i64:${values.join(',')}`;
    let n = this.#scalars.get(key);
    if (!n) {
      n = this.init(`const_i64_${values.join('_').replace(/-/g, 'm')}`, [values.length], BigInt64Array.from(values, BigInt));
      this.#scalars.set(key, n);
    }
    return n;
  }

  /** An int64 scalar (shape []), shared between uses. */
  int(v: number): string {
    const key = `i64s:${v}`;
    let n = this.#scalars.get(key);
    if (!n) {
      n = this.init(`const_i64_scalar_${String(v).replace(/-/g, 'm')}`, [], BigInt64Array.from([BigInt(v)]));
      this.#scalars.set(key, n);
    }
    return n;
  }

  /** Adds a node with `outputs` outputs named after `name`; returns the output names. */
  nodeN(opType: string, inputs: string[], name: string, outputs: number, attrs: AttributeProto[] = []): string[] {
    const n = this.name(name);
    const out = outputs === 1 ? [this.name(`${n}_output_0`)] : Array.from({ length: outputs }, (_, k) => this.name(`${n}_output_${k}`));
    this.nodes.push({ name: n, opType, input: inputs, output: out, attribute: attrs });
    return out;
  }

  /** Adds a one-output node; returns its output name. */
  node(opType: string, inputs: string[], name: string, attrs: AttributeProto[] = []): string {
    return this.nodeN(opType, inputs, name, 1, attrs)[0]!;
  }

  /** Declares a graph input. */
  input(name: string, elemType: DataTypeId, dims: (number | string)[]): string {
    const n = this.name(name);
    if (n !== name) throw new Error(`graph input ${name} is taken`);
    this.inputs.push(valueInfo(n, elemType, dims));
    return n;
  }

  /** Makes `value` a graph output called `name` (through an Identity node when named otherwise). */
  output(value: string, name: string, elemType: DataTypeId, dims: (number | string)[]): void {
    if (this.#used.has(name)) throw new Error(`graph output ${name} is taken`);
    this.#used.add(name);
    this.nodes.push({ name: this.name(`${name}_identity`), opType: 'Identity', input: [value], output: [name], attribute: [] });
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  graph(name: string, docString?: string): GraphProto {
    return { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs, docString };
  }
}

function valueInfo(name: string, elemType: DataTypeId, dims: (number | string)[]): ValueInfoProto {
  const dim: Dim[] = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}
