/**
 * 8-bit weight quantization for the q8 export.
 *
 * MatMul weights: uint8 with a scale and a zero point per output channel (asymmetric over a range
 * that includes 0), as onnxruntime's dynamic quantizer writes them with `per_channel=True,
 * weight_type=QUInt8`. Not int8: onnxruntime's u8 x s8 kernel on x86 CPUs without VNNI (AVX2,
 * AVX-512F) adds pairs of products in saturating 16-bit lanes, and full-range int8 weights
 * overflow them; on the fixtures that cost 5-12% relative error against about 1% for uint8
 * (docs/onnx.md). The u8 x u8 kernel widens to 32 bits first and has no such overflow.
 *
 * Embedding tables: int8, symmetric (zero point 0), one scale per row (scale = max|row| / 127):
 * a row is gathered and scaled, no integer product is formed.
 *
 * Rounding is half to even, as numpy's and onnxruntime's.
 */

/** Rounds half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A uint8 matrix with one scale and zero point per column: w ~ (q - zeroPoint) * scale. */
export interface QuantizedColumns {
  q: Uint8Array;
  scale: Float32Array;
  zeroPoint: Uint8Array;
}

/** Quantizes a row-major (K, N) matrix per column (N channels: the output features of `x @ W`). */
export function quantizeColumns(w: Float32Array, K: number, N: number): QuantizedColumns {
  const lo = new Float64Array(N);
  const hi = new Float64Array(N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) {
      const v = w[row + n]!;
      if (v < lo[n]!) lo[n] = v;
      if (v > hi[n]!) hi[n] = v;
    }
  }
  const scale = new Float32Array(N);
  const zeroPoint = new Uint8Array(N);
  for (let n = 0; n < N; n++) {
    const s = (scale[n] = hi[n]! > lo[n]! ? (hi[n]! - lo[n]!) / 255 : 1);
    zeroPoint[n] = Math.max(0, Math.min(255, roundHalfEven(-lo[n]! / s)));
  }
  const q = new Uint8Array(K * N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) q[row + n] = Math.max(0, Math.min(255, roundHalfEven(w[row + n]! / scale[n]!) + zeroPoint[n]!));
  }
  return { q, scale, zeroPoint };
}

/** An int8 table with one scale per row: w ~ q * scale. */
export interface QuantizedRows {
  q: Int8Array;
  scale: Float32Array;
}

/** Quantizes a row-major (R, C) table per row (an embedding table: one scale per token). */
export function quantizeRows(w: Float32Array, R: number, C: number): QuantizedRows {
  const q = new Int8Array(R * C);
  const scale = new Float32Array(R);
  for (let r = 0; r < R; r++) {
    const row = w.subarray(r * C, (r + 1) * C);
    let m = 0;
    for (let c = 0; c < C; c++) m = Math.max(m, Math.abs(row[c]!));
    const s = (scale[r] = m > 0 ? m / 127 : 1);
    for (let c = 0; c < C; c++) q[r * C + c] = Math.max(-127, Math.min(127, roundHalfEven(row[c]! / s)));
  }
  return { q, scale };
}
