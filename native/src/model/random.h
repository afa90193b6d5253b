// Parallel, reproducible random numbers for CPU training. ATen's CPU bernoulli_/uniform_ draw
// from one mt19937 stream element by element (serial: a fifth of a CPU step in a profile). Here
// each call takes one 64-bit seed from the default CPU generator and fills fixed-size chunks
// from counter-based Philox streams in parallel: the result does not depend on the thread count,
// and the generator state (saved in checkpoints) still determines everything, so resume stays
// exact. CUDA tensors use ATen's own kernels.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/PhiloxRNGEngine.h>
#include <torch/torch.h>

namespace electra {

// ELECTRA_PARALLEL_RNG=0 falls back to ATen's kernels (for comparison).
inline bool parallelRng() {
  static const bool on = [] {
    const char* e = std::getenv("ELECTRA_PARALLEL_RNG");
    return !(e && std::string(e) == "0");
  }();
  return on;
}

inline uint64_t drawSeed() {
  auto gen = at::globalContext().defaultGenerator(at::kCPU);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
}

// Calls fn(i, u) for i in [0, n) with u uniform in [0, 1), in parallel over fixed chunks.
template <typename F>
inline void parallelUniform(int64_t n, uint64_t seed, F&& fn) {
  constexpr int64_t kChunk = 16384;
  int64_t chunks = (n + kChunk - 1) / kChunk;
  at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; c++) {
      at::philox_engine eng(seed, static_cast<uint64_t>(c), 0);
      int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
      for (int64_t i = lo; i < hi; i++) fn(i, static_cast<float>(eng() >> 8) * (1.0f / 16777216.0f));
    }
  });
}

// Uniform [0, 1) floats of `sizes` (CPU: parallel Philox; CUDA: torch::rand).
inline torch::Tensor uniform(at::IntArrayRef sizes, const torch::TensorOptions& opts) {
  if (opts.device().type() != at::kCPU || !parallelRng()) return torch::rand(sizes, opts.dtype(torch::kFloat));
  auto u = torch::empty(sizes, opts.dtype(torch::kFloat));
  float* d = u.data_ptr<float>();
  parallelUniform(u.numel(), drawSeed(), [d](int64_t i, float v) { d[i] = v; });
  return u;
}

// Inverted dropout, as torch::dropout: zeroes each element with probability p and scales the
// rest by 1 / (1 - p). The gradient flows through the product with the (constant) mask.
inline torch::Tensor applyDropout(const torch::Tensor& x, double p, bool train) {
  if (!train || p <= 0) return x;
  if (!x.is_cpu() || p >= 1 || !parallelRng()) return torch::dropout(x, p, train);
  auto mask = torch::empty(x.sizes(), x.options().dtype(torch::kFloat).requires_grad(false));
  float* d = mask.data_ptr<float>();
  const float keep = static_cast<float>(1.0 / (1.0 - p)), pf = static_cast<float>(p);
  parallelUniform(mask.numel(), drawSeed(), [=](int64_t i, float u) { d[i] = u >= pf ? keep : 0.0f; });
  return x * mask.to(x.scalar_type());
}

}  // namespace electra
