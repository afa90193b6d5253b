// Philox4x32-10 streams and the element loops of CPU dropout (random.cc, compiled on its own with
// vectorisation; no libtorch headers).
#pragma once
#include <cstdint>

namespace electra {
namespace rng {
constexpr int64_t kChunk = 16384;
// n consecutive words of one subsequence from word index `word`.
void philoxWords(uint64_t seed, uint64_t subseq, uint64_t word, int64_t n, uint32_t* out);
// The words of global elements [first, first + n) of a draw (serial).
void bitsRange(uint64_t seed, int64_t first, int64_t n, uint32_t* out);
// Uniform [0, 1) floats (24 bits) of global elements [first, first + n) (serial).
void uniformRange(uint64_t seed, int64_t first, int64_t n, float* out);
// y = keep ? x * scale : 0 and mask = keep, keep = word >= dropBelow, for elements [first, first + n).
void dropoutRange(uint64_t seed, int64_t first, const float* x, float* y, uint8_t* mask, int64_t n, uint32_t dropBelow, float scale);
// out = mask ? g * scale : 0.
void maskedScale(const float* g, const uint8_t* mask, float* out, int64_t n, float scale);
}  // namespace rng
}  // namespace electra
