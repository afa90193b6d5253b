/*
 * ONNX export pieces that need no addon: the committed protobuf schema is what onnx.proto gives,
 * a model round-trips through the encoder, and int8 weight quantization follows onnxruntime's
 * dynamic quantizer (per-channel symmetric, scale max|w| / 127, round half to even).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { decodeModel, encodeModel, type ModelProto } from '../../src/export/proto';
import { quantizeColumns, quantizeRows, roundHalfEven } from '../../src/export/quantize';

test('src/export/onnx-schema.ts is what scripts/make-onnx-schema.cjs makes of onnx.proto', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'make-onnx-schema.cjs'), '--check'], { encoding: 'utf8' });
  expect({ status: r.status, out: r.stdout.trim() }).toEqual({ status: 0, out: 'onnx-schema.ts is up to date' });
});

test('a model encodes and decodes with its fields intact (int64 dims, raw bytes, attributes)', () => {
  const m: ModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 18 }],
    producerName: 'electra-node',
    producerVersion: '0.1.0',
    graph: {
      name: 'g',
      node: [{ name: 'n', opType: 'Softmax', input: ['x'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: -1 }] }],
      initializer: [{ name: 'w', dims: [2, 3], dataType: 1, rawData: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, -6]).buffer) }],
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch_size' }, { dimValue: 3 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch_size' }, { dimValue: 3 }] } } } }],
    },
  };
  const d = decodeModel(encodeModel(m));
  expect(d.irVersion).toBe(8);
  expect(d.graph.node[0]).toMatchObject({ opType: 'Softmax', attribute: [{ name: 'axis', i: -1 }] });
  const w = d.graph.initializer[0]!;
  expect(w.dims).toEqual([2, 3]);
  expect(Array.from(new Float32Array(Uint8Array.from(w.rawData!).buffer))).toEqual([1, 2, 3, 4, 5, -6]);
  expect(d.graph.input[0]!.type.tensorType.shape.dim).toEqual([{ dimParam: 'batch_size' }, { dimValue: 3 }]);
});

test('round half to even, as numpy and onnxruntime round', () => {
  expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, 3, -3]);
});

test('per-column int8: scale max|w| / 127, zero point 0, error at most half a step', () => {
  // (K=3, N=2): column 0 spans +-1.27, column 1 is all zero (scale 1, values 0)
  const w = new Float32Array([1.27, 0, -0.635, 0, 0.01, 0]);
  const { q, scale } = quantizeColumns(w, 3, 2);
  expect(Array.from(scale)).toEqual([Math.fround(0.01), 1]);
  expect(Array.from(q)).toEqual([127, 0, -64, 0, 1, 0]); // -63.5 rounds to even
  let s = 7;
  const big = Float32Array.from({ length: 64 * 16 }, () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2);
  const r = quantizeColumns(big, 64, 16);
  for (let i = 0; i < big.length; i++) expect(Math.abs(r.q[i]! * r.scale[i % 16]! - big[i]!)).toBeLessThanOrEqual(r.scale[i % 16]! / 2 + 1e-9);
  expect(Math.max(...Array.from(r.q, Math.abs))).toBe(127);
});

test('per-row int8 for embedding tables', () => {
  const { q, scale } = quantizeRows(new Float32Array([0.5, -1, 0, 0, 2, 1]), 3, 2);
  expect(Array.from(scale)).toEqual([Math.fround(1 / 127), 1, Math.fround(2 / 127)]);
  expect(Array.from(q)).toEqual([64, -127, 0, 0, 127, 64]); // 63.5 -> 64 (even), 0.5 * 127 = 63.5
});
