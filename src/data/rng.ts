/**
 * Seeded pseudo-random numbers for the data pipeline. Everything random in data preparation and
 * loading draws from an {@link Rng} built from an explicit seed, so a run is repeatable.
 */

/** Mixes a 32-bit value (the splitmix32 finaliser); used to derive seeds and hash indices. */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** Derives a 32-bit seed from a list of integers (seed, epoch, rank, ...), order-sensitive. */
export function deriveSeed(...parts: number[]): number {
  let h = 0x1234567;
  for (const p of parts) {
    h = mix32(h ^ (p >>> 0));
    h = mix32(h ^ Math.floor(p / 0x100000000));
  }
  return h;
}

/**
 * xoshiro128** generator seeded through splitmix32. Fast, 128-bit state, good statistical
 * quality for shuffling and sampling; not cryptographic.
 */
export class Rng {
  #s = new Uint32Array(4);

  /** @param seed any integer; the same seed always gives the same sequence */
  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      this.#s[i] = mix32(x);
    }
    if ((this.#s[0]! | this.#s[1]! | this.#s[2]! | this.#s[3]!) === 0) this.#s[0] = 1;
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    const s = this.#s;
    const s0 = s[0]!, s1 = s[1]!, s2 = s[2]!, s3 = s[3]!;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    s[1] = s1 ^ n2;
    s[0] = s0 ^ n3;
    s[2] = n2 ^ t;
    s[3] = rotl(n3, 11);
    return r;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  random(): number {
    return this.nextU32() / 0x100000000;
  }

  /** Uniform integer in [0, n), n >= 1 (rejection sampling, no modulo bias). */
  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`Rng.int: n must be >= 1, got ${n}`);
    if (n > 0x100000000) return Math.floor(this.random() * n);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Uniform integer in [a, b], both inclusive (like Python's `random.randint`). */
  randint(a: number, b: number): number {
    return a + this.int(b - a + 1);
  }

  /** Shuffles an array in place (Fisher-Yates) and returns it. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i]!;
      arr[i] = arr[j]!;
      arr[j] = tmp;
    }
    return arr;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
