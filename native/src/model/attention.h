// ElectraSelfAttention, ElectraSelfOutput / ElectraOutput and ElectraAttention.
#pragma once
#include "model/config.h"
#include "model/ops.h"

namespace electra {

struct SelfAttentionImpl : torch::nn::Module {
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  int64_t num_attention_heads, attention_head_size;
  double dropout_p;

  explicit SelfAttentionImpl(const Config& c)
      : num_attention_heads(c.num_attention_heads),
        attention_head_size(c.hidden_size / c.num_attention_heads),
        dropout_p(c.attention_probs_dropout_prob) {
    query = register_module("query", torch::nn::Linear(c.hidden_size, c.hidden_size));
    key = register_module("key", torch::nn::Linear(c.hidden_size, c.hidden_size));
    value = register_module("value", torch::nn::Linear(c.hidden_size, c.hidden_size));
  }

  // hidden_states (B, T, H); attention_mask: the additive bias (B, 1, 1, T), or undefined -> (B, T, H)
  torch::Tensor forward(const torch::Tensor& hidden_states, const torch::Tensor& attention_mask) {
    const auto B = hidden_states.size(0), T = hidden_states.size(1);
    auto heads = [&](const torch::Tensor& x) { return x.view({B, T, num_attention_heads, attention_head_size}).transpose(1, 2); };  // (B, h, T, d)
    auto [q, k, v] = linearQkv(query, key, value, hidden_states, is_training());  // 3 x (B, T, H)
    auto context = attention(heads(q), heads(k), heads(v), attention_mask, is_training() ? dropout_p : 0.0);  // (B, h, T, d)
    return context.transpose(1, 2).reshape({B, T, -1});  // (B, T, H)
  }
};
TORCH_MODULE(SelfAttention);

// ElectraSelfOutput and ElectraOutput, which share this forward: dense, dropout, and LayerNorm
// of the sum with the block's input.
struct ResidualOutputImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  double dropout_p;

  ResidualOutputImpl(int64_t in, const Config& c) : dropout_p(c.hidden_dropout_prob) {
    dense = register_module("dense", torch::nn::Linear(in, c.hidden_size));
    LayerNorm = register_module(
        "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  }

  // hidden_states (B, T, in), input_tensor (B, T, H) -> (B, T, H)
  torch::Tensor forward(const torch::Tensor& hidden_states, const torch::Tensor& input_tensor) {
    auto x = linear(dense, hidden_states);          // (B, T, H)
    x = applyDropout(x, dropout_p, is_training());
    return addLayerNorm(LayerNorm, x, input_tensor);  // LayerNorm(x + input_tensor)
  }
};
TORCH_MODULE(ResidualOutput);

struct AttentionImpl : torch::nn::Module {
  SelfAttention self{nullptr};
  ResidualOutput output{nullptr};
  explicit AttentionImpl(const Config& c) {
    self = register_module("self", SelfAttention(c));
    output = register_module("output", ResidualOutput(c.hidden_size, c));
  }

  // hidden_states (B, T, H) -> (B, T, H)
  torch::Tensor forward(const torch::Tensor& hidden_states, const torch::Tensor& attention_mask) {
    auto self_output = self(hidden_states, attention_mask);  // (B, T, H)
    return output(self_output, hidden_states);
  }
};
TORCH_MODULE(Attention);

}  // namespace electra
