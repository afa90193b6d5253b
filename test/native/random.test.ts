// CPU random streams (native/src/model/random.{h,cc}): the vectorised Philox against a reference
// written here from the Philox4x32-10 definition (Salmon et al. 2011, as at::philox_engine lays
// out counter and key), and the fused dropout's forward and backward.
import { native } from '../../src/native';

const MUL_A = 0xd2511f53n, MUL_B = 0xcd9e8d57n, KEY_A = 0x9e3779b9n, KEY_B = 0xbb67ae85n;
const M32 = 0xffffffffn;

/** Words 0..3 of block `block` of subsequence `subseq` under `seed`. */
function philoxBlock(seed: bigint, subseq: bigint, block: bigint): [bigint, bigint, bigint, bigint] {
  let [c0, c1, c2, c3] = [block & M32, (block >> 32n) & M32, subseq & M32, (subseq >> 32n) & M32];
  let k0 = seed & M32, k1 = (seed >> 32n) & M32;
  for (let r = 0; r < 10; r++) {
    const p0 = MUL_A * c0, p1 = MUL_B * c2;
    [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32n) ^ c3 ^ k1) & M32, p0 & M32];
    k0 = (k0 + KEY_A) & M32;
    k1 = (k1 + KEY_B) & M32;
  }
  return [c0, c1, c2, c3];
}

/** Element g of a draw: word g % 16384 of subsequence g / 16384. */
function reference(seed: bigint, first: number, n: number): number[] {
  const out: number[] = [];
  for (let g = first; g < first + n; g++) {
    const c = Math.floor(g / 16384), j = g % 16384;
    out.push(Number(philoxBlock(seed, BigInt(c), BigInt(Math.floor(j / 4)))[j % 4]!));
  }
  return out;
}

describe('CPU random streams', () => {
  test('Philox words equal the reference at any offset, across block, lane and chunk boundaries', () => {
    const seeds = [0n, 1n, 0x0123456789abcdefn, 0xffffffffffffffffn];
    const ranges: [number, number][] = [[0, 1], [0, 300], [3, 129], [127, 2], [16380, 9], [16383, 1], [16384 * 5 - 37, 100], [40001, 513]];
    for (const seed of seeds) {
      for (const [first, n] of ranges) {
        expect(Array.from(native()._test.philox(seed, first, n))).toEqual(reference(seed, first, n));
      }
    }
  });

  test('a range drawn in pieces equals the same range drawn at once', () => {
    const all = native()._test.philox(42n, 1000, 40000);
    const parts = [native()._test.philox(42n, 1000, 15383), native()._test.philox(42n, 16383, 7), native()._test.philox(42n, 16390, 24610)];
    expect(Array.from(parts.flatMap((p) => Array.from(p)))).toEqual(Array.from(all));
  });

  test('dropout zeroes about p of the elements, scales the rest by 1/(1-p), and its gradient is that mask', () => {
    const n = 1 << 20, p = 0.1;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sin(i) + 2;  // never 0
    const { y, grad } = native()._test.dropout(x, p);
    const scale = Math.fround(1 / (1 - p));
    let dropped = 0;
    const wrong: number[] = [];
    for (let i = 0; i < n; i++) {
      const ok = grad[i] === 0 ? y[i] === 0 : grad[i] === scale && y[i] === Math.fround(x[i]! * scale);
      if (grad[i] === 0) dropped++;
      if (!ok && wrong.length < 5) wrong.push(i);
    }
    expect(wrong).toEqual([]);
    // Binomial(n, 0.1): standard deviation 0.0003 of the fraction.
    expect(Math.abs(dropped / n - p)).toBeLessThan(0.0015);
    // Fresh draws each call.
    const again = native()._test.dropout(x, p);
    let differ = 0;
    for (let i = 0; i < n; i++) if ((again.grad[i] === 0) !== (grad[i] === 0)) differ++;
    expect(differ).toBeGreaterThan(n * 0.1);
  });

  test('p = 0.5 and a small tensor keep the same rules', () => {
    const x = new Float32Array(37).fill(3);
    const { y, grad } = native()._test.dropout(x, 0.5);
    for (let i = 0; i < 37; i++) {
      expect([0, 2]).toContain(grad[i]);
      expect(y[i]).toBe(grad[i]! * 3);
    }
  });
});
