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

// The shard of the global batch this thread's random draws belong to (data-parallel training):
// a draw over a batch-major tensor of `localRows` rows takes the values a single process would
// draw for rows [rowsBefore, rowsBefore + localRows) of the whole batch. Set by dist::ShardScope.
inline thread_local int64_t tlShardRowsBefore = 0;
inline thread_local int64_t tlShardLocalRows = 0;

// Index of element 0 of an n-element batch-major tensor within the global batch's draw.
inline int64_t shardOffset(int64_t n) {
  if (tlShardLocalRows <= 0 || n % tlShardLocalRows != 0) return 0;
  return tlShardRowsBefore * (n / tlShardLocalRows);
}

// Calls fn(i, u) for i in [0, n) with u uniform in [0, 1), in parallel over fixed chunks of the
// global index offset + i: the value of an index never depends on the thread count or on the
// offset at which a draw starts.
template <typename F>
inline void parallelUniform(int64_t n, uint64_t seed, F&& fn, int64_t offset = 0) {
  constexpr int64_t kChunk = 16384;
  if (n <= 0) return;
  int64_t first = offset / kChunk, last = (offset + n - 1) / kChunk;
  at::parallel_for(first, last + 1, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; c++) {
      int64_t lo = std::max(offset, c * kChunk), hi = std::min(offset + n, (c + 1) * kChunk);
      int64_t skip = lo - c * kChunk;
      at::philox_engine eng(seed, static_cast<uint64_t>(c), static_cast<uint64_t>(skip / 4));
      for (int64_t k = 0; k < skip % 4; k++) (void)eng();
      for (int64_t g = lo; g < hi; g++) fn(g - offset, static_cast<float>(eng() >> 8) * (1.0f / 16777216.0f));
    }
  });
}

// Uniform [0, 1) floats of `sizes` (CPU: parallel Philox; CUDA: torch::rand).
inline torch::Tensor uniform(at::IntArrayRef sizes, const torch::TensorOptions& opts) {
  if (opts.device().type() != at::kCPU || !parallelRng()) return torch::rand(sizes, opts.dtype(torch::kFloat));
  auto u = torch::empty(sizes, opts.dtype(torch::kFloat));
  float* d = u.data_ptr<float>();
  parallelUniform(u.numel(), drawSeed(), [d](int64_t i, float v) { d[i] = v; }, shardOffset(u.numel()));
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
  parallelUniform(mask.numel(), drawSeed(), [=](int64_t i, float u) { d[i] = u >= pf ? keep : 0.0f; }, shardOffset(mask.numel()));
  return x * mask.to(x.scalar_type());
}

}  // namespace electra
