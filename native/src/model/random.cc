// Philox4x32-10 in blocks, laid out so that the compiler vectorises the rounds across blocks
// (AVX2 clone where the CPU has it), and the element-wise loops of CPU dropout. The values are
// bit for bit those of at::philox_engine, so the streams of model/random.h did not change when
// the scalar engine was replaced.
#include "model/rng_kernels.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ELECTRA_X86_DISPATCH 1
#include <immintrin.h>
#else
#define ELECTRA_X86_DISPATCH 0
#endif
#if ELECTRA_X86_DISPATCH && defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
#define ELECTRA_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define ELECTRA_CLONES
#endif

namespace electra::rng {

namespace {
constexpr uint32_t kMulA = 0xD2511F53u, kMulB = 0xCD9E8D57u;
constexpr uint32_t kKeyA = 0x9E3779B9u, kKeyB = 0xBB67AE85u;
constexpr int kLanes = 32;  // blocks per philoxLanes call

inline void philoxBlock(uint32_t k0, uint32_t k1, uint64_t subseq, uint64_t block, uint32_t* out) {
  uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32);
  uint32_t c2 = static_cast<uint32_t>(subseq), c3 = static_cast<uint32_t>(subseq >> 32);
  for (int r = 0; r < 10; r++) {
    const uint64_t p0 = static_cast<uint64_t>(kMulA) * c0, p1 = static_cast<uint64_t>(kMulB) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0, n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += kKeyA;
    k1 += kKeyB;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

void philoxLanesScalar(uint32_t k0, uint32_t k1, uint64_t subseq, uint64_t block, uint32_t* out) {
  for (int l = 0; l < kLanes; l++) philoxBlock(k0, k1, subseq, block + static_cast<uint64_t>(l), out + 4 * l);
}

#if ELECTRA_X86_DISPATCH
// Eight blocks per vector: lane l of c0..c3 holds counter word 0..3 of block `block + l`. AVX2 has
// no 32-bit high multiply: even and odd lanes go through the 32x32->64 one separately.
__attribute__((target("avx2"))) void philoxLanesAvx2(uint32_t k0, uint32_t k1, uint64_t subseq, uint64_t block, uint32_t* out) {
  constexpr int G = kLanes / 8;  // independent groups interleaved, to hide the multiply latency
  const __m256i mulA = _mm256_set1_epi32(static_cast<int>(kMulA)), mulB = _mm256_set1_epi32(static_cast<int>(kMulB));
  __m256i c0[G], c1[G], c2[G], c3[G];
  for (int g = 0; g < G; g++) {
    alignas(32) uint32_t lo[8], hi[8];
    for (int l = 0; l < 8; l++) {
      const uint64_t off = block + static_cast<uint64_t>(8 * g + l);
      lo[l] = static_cast<uint32_t>(off);
      hi[l] = static_cast<uint32_t>(off >> 32);
    }
    c0[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
    c1[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));
    c2[g] = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(subseq)));
    c3[g] = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(subseq >> 32)));
  }
  uint32_t ka = k0, kb = k1;
  for (int r = 0; r < 10; r++) {
    const __m256i keyA = _mm256_set1_epi32(static_cast<int>(ka)), keyB = _mm256_set1_epi32(static_cast<int>(kb));
    for (int g = 0; g < G; g++) {
      const __m256i pe0 = _mm256_mul_epu32(c0[g], mulA), po0 = _mm256_mul_epu32(_mm256_srli_epi64(c0[g], 32), mulA);
      const __m256i pe1 = _mm256_mul_epu32(c2[g], mulB), po1 = _mm256_mul_epu32(_mm256_srli_epi64(c2[g], 32), mulB);
      const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(pe0, 32), po0, 0xAA);
      const __m256i lo0 = _mm256_blend_epi32(pe0, _mm256_slli_epi64(po0, 32), 0xAA);
      const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(pe1, 32), po1, 0xAA);
      const __m256i lo1 = _mm256_blend_epi32(pe1, _mm256_slli_epi64(po1, 32), 0xAA);
      c0[g] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[g]), keyA);
      c2[g] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[g]), keyB);
      c1[g] = lo1;
      c3[g] = lo0;
    }
    ka += kKeyA;
    kb += kKeyB;
  }
  for (int g = 0; g < G; g++) {
    // 4 x 8 words (word-major) -> 8 blocks of 4 words.
    const __m256i t0 = _mm256_unpacklo_epi32(c0[g], c1[g]), t1 = _mm256_unpackhi_epi32(c0[g], c1[g]);
    const __m256i t2 = _mm256_unpacklo_epi32(c2[g], c3[g]), t3 = _mm256_unpackhi_epi32(c2[g], c3[g]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i* o = reinterpret_cast<__m256i*>(out + 32 * g);
    _mm256_storeu_si256(o, _mm256_permute2x128_si256(u0, u1, 0x20));
    _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
    _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
    _mm256_storeu_si256(o + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
  }
}

const bool kHaveAvx2 = __builtin_cpu_supports("avx2");
#endif

// kLanes consecutive blocks from counter offset `block` of subsequence `subseq`; out receives
// 4 * kLanes words, block by block.
inline void philoxLanes(uint32_t k0, uint32_t k1, uint64_t subseq, uint64_t block, uint32_t* out) {
#if ELECTRA_X86_DISPATCH
  if (kHaveAvx2) return philoxLanesAvx2(k0, k1, subseq, block, out);
#endif
  philoxLanesScalar(k0, k1, subseq, block, out);
}

// x * (scale or 0), as x * mask in torch's dropout (a NaN stays NaN).
ELECTRA_CLONES void dropoutKernel(const float* __restrict__ x, float* __restrict__ y, uint8_t* __restrict__ mask,
                                  const uint32_t* __restrict__ bits, int64_t n, uint32_t dropBelow, float scale) {
  // Two loops (the block is in L1): each vectorises, the fused one does not.
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * (bits[i] >= dropBelow ? scale : 0.0f);
  for (int64_t i = 0; i < n; i++) mask[i] = bits[i] >= dropBelow;
}

ELECTRA_CLONES void maskedScaleKernel(const float* __restrict__ g, const uint8_t* __restrict__ mask, float* __restrict__ out, int64_t n, float scale) {
  for (int64_t i = 0; i < n; i++) out[i] = g[i] * (scale * static_cast<float>(mask[i]));
}
}  // namespace

void philoxWords(uint64_t seed, uint64_t subseq, uint64_t word, int64_t n, uint32_t* out) {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  alignas(64) uint32_t buf[4 * kLanes];
  uint64_t block = word / 4;
  int64_t skip = static_cast<int64_t>(word % 4), done = 0;
  while (done < n) {
    if (skip == 0 && n - done >= 4 * kLanes) {
      philoxLanes(k0, k1, subseq, block, out + done);
      done += 4 * kLanes;
    } else {
      philoxLanes(k0, k1, subseq, block, buf);
      const int64_t take = std::min<int64_t>(4 * kLanes - skip, n - done);
      std::memcpy(out + done, buf + skip, static_cast<size_t>(take) * sizeof(uint32_t));
      done += take;
      skip = 0;
    }
    block += kLanes;
  }
}

void bitsRange(uint64_t seed, int64_t first, int64_t n, uint32_t* out) {
  int64_t done = 0;
  while (done < n) {
    int64_t g = first + done, c = g / kChunk, inChunk = g - c * kChunk;
    int64_t take = std::min(kChunk - inChunk, n - done);
    philoxWords(seed, static_cast<uint64_t>(c), static_cast<uint64_t>(inChunk), take, out + done);
    done += take;
  }
}

void uniformRange(uint64_t seed, int64_t first, int64_t n, float* out) {
  constexpr int64_t kSub = 2048;
  alignas(64) uint32_t bits[kSub];
  for (int64_t d = 0; d < n; d += kSub) {
    int64_t m = std::min(kSub, n - d);
    bitsRange(seed, first + d, m, bits);
    for (int64_t i = 0; i < m; i++) out[d + i] = static_cast<float>(bits[i] >> 8) * (1.0f / 16777216.0f);
  }
}

void dropoutRange(uint64_t seed, int64_t first, const float* x, float* y, uint8_t* mask, int64_t n, uint32_t dropBelow, float scale) {
  constexpr int64_t kSub = 2048;
  alignas(64) uint32_t bits[kSub];
  for (int64_t d = 0; d < n; d += kSub) {
    int64_t m = std::min(kSub, n - d);
    bitsRange(seed, first + d, m, bits);
    dropoutKernel(x + d, y + d, mask + d, bits, m, dropBelow, scale);
  }
}

void maskedScale(const float* g, const uint8_t* mask, float* out, int64_t n, float scale) { maskedScaleKernel(g, mask, out, n, scale); }

}  // namespace electra::rng
