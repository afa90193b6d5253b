// ELECTRA's dynamic masking with a fixed budget of positions per sequence (static shapes).
#pragma once
#include <optional>
#include <torch/torch.h>

namespace electra {

struct SpecialIds {
  int64_t pad = 0, cls = 101, sep = 102, mask = 103;
};

struct Masked {
  torch::Tensor positions;  // (B, N) int64: selected positions (slots past `count` are padding)
  torch::Tensor weights;    // (B, N) float: 1 for a real selection, 0 for a padding slot
  torch::Tensor original;   // (B, N) int64: the original tokens at `positions`
  torch::Tensor input;      // (B, T) int64: the generator's input ([MASK] at 85% of selections)
};

// Selects, per sequence, k = clamp(round(p * n), 1, budget) of its n maskable tokens (real
// tokens that are not [CLS], [SEP], [PAD] or [MASK]), uniformly without replacement; 85% of
// them become [MASK] and 15% keep their token. Everything stays on the ids' device.
Masked maskTokens(const torch::Tensor& ids, const torch::Tensor& attention, double prob, int64_t budget,
                  const SpecialIds& sp, double maskFraction = 0.85, std::optional<at::Generator> gen = std::nullopt);

// l / temperature + Gumbel noise from the uniform draws in g, in place (the whole-tensor path).
void addGumbelNoise(torch::Tensor& g, const torch::Tensor& l, double temperature);

// Gumbel-max sampling from logits / temperature in fp32, without gradient: (.., V) -> (..)
torch::Tensor gumbelSample(const torch::Tensor& logits, double temperature, std::optional<at::Generator> gen = std::nullopt);

// The budget used by the original: int((p + 0.005) * L).
inline int64_t maskBudget(double prob, int64_t length) {
  return std::max<int64_t>(1, static_cast<int64_t>((prob + 0.005) * static_cast<double>(length)));
}

}  // namespace electra
