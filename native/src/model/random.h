// Parallel, reproducible random numbers for CPU training. ATen's CPU bernoulli_/uniform_ draw
// from one mt19937 stream element by element, on one thread. Here
// each call takes one 64-bit seed from the default CPU generator and fills fixed-size chunks
// from counter-based Philox streams in parallel: the result does not depend on the thread count,
// and the generator state (saved in checkpoints) still determines everything, so resume stays
// exact. CUDA tensors use ATen's own kernels.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/PhiloxRNGEngine.h>
#include <torch/torch.h>
#include "common.h"
#include "model/rng_kernels.h"
#include "settings.h"

namespace electra {

// Whether CPU draws take the parallel streams below (the setting parallelRng; off: ATen's kernels).
inline bool parallelRng() { return settings().parallelRng; }

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

// Counter-based streams: element g of a draw takes 32-bit word g % kChunk of Philox4x32-10
// subsequence g / kChunk under the draw's seed (at::philox_engine's values; random.cc computes
// them in vectorised blocks).

// Calls fn(lo, hi) over [0, n) in parallel, in pieces aligned to the draw's chunks (global index
// offset + i), so that the work split never depends on the thread count.
template <typename F>
inline void parallelChunks(int64_t n, int64_t offset, F&& fn) {
  if (n <= 0) return;
  const int64_t first = offset / rng::kChunk, last = (offset + n - 1) / rng::kChunk;
  at::parallel_for(first, last + 1, 1, [&](int64_t b, int64_t e) {
    int64_t lo = std::max(offset, b * rng::kChunk), hi = std::min(offset + n, e * rng::kChunk);
    if (lo < hi) fn(lo - offset, hi - offset);
  });
}

// Uniform [0, 1) floats of `sizes` (CPU: parallel Philox; CUDA: torch::rand).
inline torch::Tensor uniform(at::IntArrayRef sizes, const torch::TensorOptions& opts) {
  if (opts.device().type() != at::kCPU || !parallelRng()) return torch::rand(sizes, opts.dtype(torch::kFloat));
  auto u = torch::empty(sizes, opts.dtype(torch::kFloat));
  float* d = u.data_ptr<float>();
  const uint64_t seed = drawSeed();
  const int64_t offset = shardOffset(u.numel());
  parallelChunks(u.numel(), offset, [&](int64_t lo, int64_t hi) { rng::uniformRange(seed, offset + lo, hi - lo, d + lo); });
  return u;
}

// CPU dropout in one pass: draws, output and a byte mask together; the backward pass scales the
// gradient by the same mask. Drops exactly where a 24-bit uniform u = (word >> 8) / 2^24 is below
// p, i.e. word < ceil(p * 2^24) * 256.
struct FusedDropout : torch::autograd::Function<FusedDropout> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input, double p) {
    auto x = input.contiguous();
    auto y = torch::empty_like(x);
    auto mask = torch::empty(x.sizes(), x.options().dtype(torch::kUInt8));
    const float pf = static_cast<float>(p), scale = static_cast<float>(1.0 / (1.0 - p));
    const double t = std::ceil(static_cast<double>(pf) * 16777216.0) * 256.0;
    const uint32_t dropBelow = t >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(t);
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    uint8_t* mp = mask.data_ptr<uint8_t>();
    const uint64_t seed = drawSeed();
    const int64_t offset = shardOffset(x.numel());
    parallelChunks(x.numel(), offset, [&](int64_t lo, int64_t hi) { rng::dropoutRange(seed, offset + lo, xp + lo, yp + lo, mp + lo, hi - lo, dropBelow, scale); });
    ctx->save_for_backward({mask});
    ctx->saved_data["scale"] = static_cast<double>(scale);
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto mask = ctx->get_saved_variables()[0];
    const float scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
    auto g = grads[0].contiguous();
    auto out = torch::empty_like(g);
    const float* gp = g.data_ptr<float>();
    const uint8_t* mp = mask.data_ptr<uint8_t>();
    float* op = out.data_ptr<float>();
    at::parallel_for(0, g.numel(), 32768, [&](int64_t b, int64_t e) { rng::maskedScale(gp + b, mp + b, op + b, e - b, scale); });
    return {out, torch::Tensor()};
  }
};

// Inverted dropout, as torch::dropout: zeroes each element with probability p and scales the
// rest by 1 / (1 - p).
inline torch::Tensor applyDropout(const torch::Tensor& x, double p, bool train) {
  if (!train || p <= 0) return x;
  if (!x.is_cpu() || p >= 1 || !parallelRng() || x.scalar_type() != torch::kFloat) return torch::dropout(x, p, train);
  return FusedDropout::apply(x, p);
}

}  // namespace electra
