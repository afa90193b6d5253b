#include "train/masking.h"
#include "model/kernels.h"
#include "model/random.h"

namespace electra {

Masked maskTokens(const torch::Tensor& ids, const torch::Tensor& attention, double prob, int64_t budget,
                  const SpecialIds& sp, double maskFraction, std::optional<at::Generator> gen) {
  torch::NoGradGuard ng;
  auto B = ids.size(0), T = ids.size(1);
  budget = std::min(budget, T);
  auto maskable = attention.to(torch::kBool) & (ids != sp.cls) & (ids != sp.sep) & (ids != sp.pad) & (ids != sp.mask);  // (B, T)
  auto n = maskable.sum(1);                                                                                             // (B)
  // k = clamp(round(p * n), 1, budget), never more than n.
  auto k = torch::clamp((n.to(torch::kFloat) * prob).round().to(torch::kLong), 1, budget);
  k = torch::minimum(k, n);
  // Uniform selection without replacement: the top-`budget` random scores among maskable tokens.
  auto scores = gen ? torch::rand({B, T}, gen, ids.options().dtype(torch::kFloat)) : uniform({B, T}, ids.options());
  scores = scores.masked_fill(~maskable, -1.0f);
  auto positions = std::get<1>(scores.topk(budget, 1, true, true));  // (B, N)
  auto slot = torch::arange(budget, ids.options()).unsqueeze(0);     // (1, N)
  auto valid = slot < k.unsqueeze(1);                                // (B, N)
  Masked m;
  m.positions = positions;
  m.weights = valid.to(torch::kFloat);
  m.original = ids.gather(1, positions);
  auto r = gen ? torch::rand({B, budget}, gen, ids.options().dtype(torch::kFloat)) : uniform({B, budget}, ids.options());
  auto toMask = valid & (r < maskFraction);
  auto fill = torch::where(toMask, torch::full_like(m.original, sp.mask), m.original);
  m.input = ids.scatter(1, positions, fill);
  return m;
}

// Uniform draws u in g -> l / temperature + Gumbel noise, in place, with the original's noise
// -log(-log(u + 1e-9) + 1e-9). Written as l - log(1e-9 - log(u + 1e-9)): the same floats bit for
// bit (a - b is a + (-b)), in five passes over the (B, N, V) buffer instead of seven.
void addGumbelNoise(torch::Tensor& g, const torch::Tensor& l, double temperature) {
  const auto eps = torch::scalar_tensor(1e-9, torch::kFloat);  // a CPU scalar: fine with any device
  g.add_(1e-9).log_();
  at::sub_out(g, eps, g).log_();
  if (temperature == 1.0) at::sub_out(g, l, g);
  else g.neg_().add_(l, 1.0 / temperature);
}

torch::Tensor gumbelSample(const torch::Tensor& logits, double temperature, std::optional<at::Generator> gen) {
  torch::NoGradGuard ng;
  auto l = logits.detach().to(torch::kFloat);
  if (!gen && l.is_cpu() && parallelRng() && l.dim() >= 1 && l.numel() > 0) {
    // CPU: rows in blocks that stay in cache, noise built and consumed per block instead of as
    // one (B, N, V) tensor walked five times; the values are those of the whole-tensor path.
    auto lc = l.contiguous();
    const int64_t V = lc.size(-1), rows = lc.numel() / V;
    auto out = torch::empty({rows}, lc.options().dtype(torch::kLong));
    const uint64_t seed = drawSeed();
    const int64_t offset = shardOffset(lc.numel());
    const int64_t block = std::max<int64_t>(1, (1 << 18) / V);  // ~1 MiB of noise
    const float* lp = lc.data_ptr<float>();
    int64_t* op = out.data_ptr<int64_t>();
    // Blocks at fixed row multiples: the split never depends on the thread count.
    at::parallel_for(0, (rows + block - 1) / block, 1, [&](int64_t b, int64_t e) {
      for (int64_t bi = b; bi < e; bi++) {
        const int64_t r0 = bi * block, nr = std::min(block, rows - r0);
        auto g = torch::empty({nr, V}, lc.options());
        rng::uniformRange(seed, offset + r0 * V, nr * V, g.data_ptr<float>());
        auto lb = torch::from_blob(const_cast<float*>(lp) + r0 * V, {nr, V}, lc.options());
        addGumbelNoise(g, lb, temperature);
        auto a = g.argmax(-1);
        std::memcpy(op + r0, a.data_ptr<int64_t>(), static_cast<size_t>(nr) * sizeof(int64_t));
      }
    });
    auto sizes = lc.sizes().vec();
    sizes.pop_back();
    return out.view(sizes);
  }
  // The noise is built in place in one buffer: (B, N, V) tensors are the largest of the step, and
  // every temporary of that size costs fresh pages.
  auto g = gen ? torch::rand(l.sizes(), gen, l.options()) : uniform(l.sizes(), l.options());
  if (l.dim() >= 1 && l.numel() > 0 && customKernels(l)) {
    // The custom kernels: noise and argmax in one pass over the logits and the draws.
    const int64_t V = l.size(-1);
    auto idx = gumbelArgmax(l.contiguous().view({-1, V}), g.view({-1, V}), temperature);
    if (idx.defined()) {
      auto sizes = l.sizes().vec();
      sizes.pop_back();
      return idx.view(sizes);
    }
  }
  addGumbelNoise(g, l, temperature);
  return g.argmax(-1);
}

}  // namespace electra
