/**
 * A seeded pseudo-random permutation of [0, n) that needs no memory: a 4-round Feistel network
 * over the smallest even-bit power of two >= n, with cycle walking back into range. Any position
 * maps to its index in O(1) expected time, so a shuffled epoch never has to be materialised and
 * a cursor `(epoch, position)` restores instantly.
 */
import { deriveSeed, mix32 } from './rng';

/** A bijection of [0, size) chosen by `seed`. */
export class Permutation {
  /** Number of elements. */
  readonly size: number;
  readonly #half: number;
  readonly #mask: number;
  readonly #keys: Uint32Array;

  /** @param size elements (< 2^52); @param seed any integer */
  constructor(size: number, seed: number) {
    if (!Number.isInteger(size) || size < 0 || size >= 2 ** 52) throw new RangeError(`Permutation size must be an integer in [0, 2^52), got ${size}`);
    this.size = size;
    let bits = 2;
    while (2 ** bits < size) bits += 2;
    this.#half = bits / 2;
    this.#mask = 2 ** this.#half - 1;
    this.#keys = new Uint32Array(4);
    for (let r = 0; r < 4; r++) this.#keys[r] = deriveSeed(seed, r);
  }

  /** The element at position `i` (0 <= i < size). */
  at(i: number): number {
    if (this.size <= 1) return 0;
    let x = i;
    do x = this.#round(x);
    while (x >= this.size);
    return x;
  }

  #round(x: number): number {
    const h = this.#half;
    const m = this.#mask;
    const scale = 2 ** h;
    let l = Math.floor(x / scale);
    let r = x % scale;
    for (let k = 0; k < 4; k++) {
      const f = mix32(r ^ this.#keys[k]!) & m;
      const nl = r;
      r = l ^ f;
      l = nl;
    }
    return l * scale + r;
  }
}
