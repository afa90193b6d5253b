/*
 * ONNX export pieces that need no addon: the committed protobuf schema is what onnx.proto gives,
 * a model round-trips through the encoder, and int8 weight quantization follows onnxruntime's
 * dynamic quantizer (per-channel uint8 with zero points for MatMul weights, symmetric int8 rows for
 * embeddings, round half to even).
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

test('per-column uint8: a scale and zero point per column, 0 exact, error at most half a step', () => {
  // (K=3, N=2): column 0 spans [-0.635, 1.27], column 1 is all zero (scale 1, zero point 0)
  const w = new Float32Array([1.27, 0, -0.635, 0, 0.01, 0]);
  const { q, scale, zeroPoint } = quantizeColumns(w, 3, 2);
  expect(scale[0]).toBeCloseTo(1.905 / 255, 7);
  expect(Array.from(zeroPoint)).toEqual([85, 0]);
  expect(scale[1]).toBe(1);
  expect(Array.from(q)).toEqual([255, 0, 0, 0, 86, 0]);
  let s = 7;
  const big = Float32Array.from({ length: 64 * 16 }, () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.3) * 0.2);
  const r = quantizeColumns(big, 64, 16);
  for (let i = 0; i < big.length; i++) {
    const n = i % 16;
    expect(Math.abs((r.q[i]! - r.zeroPoint[n]!) * r.scale[n]! - big[i]!)).toBeLessThanOrEqual(r.scale[n]! / 2 + 1e-7);
  }
  // every column uses the whole range
  for (let n = 0; n < 16; n++) {
    const col = Array.from({ length: 64 }, (_, k) => r.q[k * 16 + n]!);
    expect([Math.min(...col), Math.max(...col)]).toEqual([0, 255]);
  }
});

test('per-row int8 for embedding tables', () => {
  const { q, scale } = quantizeRows(new Float32Array([0.5, -1, 0, 0, 2, 1]), 3, 2);
  expect(Array.from(scale)).toEqual([Math.fround(1 / 127), 1, Math.fround(2 / 127)]);
  expect(Array.from(q)).toEqual([64, -127, 0, 0, 127, 64]); // 63.5 -> 64 (even), 0.5 * 127 = 63.5
});
