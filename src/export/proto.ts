/**
 * ONNX protobuf messages, encoded with protobufjs (light build) from the JSON descriptor of
 * onnx.proto (src/export/onnx-schema.ts). Only the fields the exporter writes are typed here;
 * names are protobufjs' camelCase of the .proto names.
 */
import * as protobuf from 'protobufjs/light';
import { ONNX_SCHEMA } from './onnx-schema';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10 } as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values used here. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export interface StringEntry {
  key: string;
  value: string;
}

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: DataTypeId;
  rawData?: Uint8Array;
  /** 1 = EXTERNAL: the bytes are in the file named by `externalData` (location, offset, length). */
  dataLocation?: 0 | 1;
  externalData?: StringEntry[];
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: number[];
}

export interface NodeProto {
  name: string;
  opType: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
}

export interface Dim {
  dimValue?: number;
  dimParam?: string;
}

export interface ValueInfoProto {
  name: string;
  type: { tensorType: { elemType: DataTypeId; shape: { dim: Dim[] } } };
  docString?: string;
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  docString?: string;
}

export interface ModelProto {
  irVersion: number;
  opsetImport: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: GraphProto;
  metadataProps?: StringEntry[];
}

let modelType: protobuf.Type | undefined;

function model(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(ONNX_SCHEMA as protobuf.INamespace).lookupType('onnx.ModelProto');
  return modelType;
}

/** Serialises a model (protobuf wire format); the caller keeps it under 2 GiB (external data above). */
export function encodeModel(m: ModelProto): Uint8Array {
  return model().encode(m).finish();
}

/** Parses a serialised model (tests and the re-export check): int64 fields as numbers, bytes as Buffers. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const t = model();
  return t.toObject(t.decode(bytes), { longs: Number, defaults: false, arrays: true }) as unknown as ModelProto;
}
