/**
 * Symmetric int8 weight quantization, as onnxruntime's dynamic quantizer does it for MatMul
 * weights with `per_channel=True`: one scale per output channel, scale = max|w| / 127, zero point
 * 0, values rounded half to even and clipped to [-127, 127] (so the range is symmetric).
 */

/** An int8 tensor with one scale per channel (zero points are all 0). */
export interface QuantizedWeights {
  q: Int8Array;
  scale: Float32Array;
}

/** Rounds half to even (numpy's and onnxruntime's rounding). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function scaleOf(maxAbs: number, qmax: number): number {
  return maxAbs > 0 ? maxAbs / qmax : 1;
}

/**
 * Quantizes a row-major (K, N) matrix per column (N channels: the output features of `x @ W`).
 * `qmax` 127 uses the full int8 range.
 */
export function quantizeColumns(w: Float32Array, K: number, N: number, qmax = 127): QuantizedWeights {
  const maxAbs = new Float64Array(N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) {
      const a = Math.abs(w[row + n]!);
      if (a > maxAbs[n]!) maxAbs[n] = a;
    }
  }
  const scale = new Float32Array(N);
  for (let n = 0; n < N; n++) scale[n] = scaleOf(maxAbs[n]!, qmax);
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) q[row + n] = Math.max(-qmax, Math.min(qmax, roundHalfEven(w[row + n]! / scale[n]!)));
  }
  return { q, scale };
}

/** Quantizes a row-major (R, C) table per row (an embedding table: one scale per token). */
export function quantizeRows(w: Float32Array, R: number, C: number, qmax = 127): QuantizedWeights {
  const q = new Int8Array(R * C);
  const scale = new Float32Array(R);
  for (let r = 0; r < R; r++) {
    const row = w.subarray(r * C, (r + 1) * C);
    let m = 0;
    for (let c = 0; c < C; c++) m = Math.max(m, Math.abs(row[c]!));
    const s = (scale[r] = scaleOf(m, qmax));
    for (let c = 0; c < C; c++) q[r * C + c] = Math.max(-qmax, Math.min(qmax, roundHalfEven(row[c]! / s)));
  }
  return { q, scale };
}
