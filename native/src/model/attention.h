// Self-attention (ElectraSelfAttention + ElectraSelfOutput) through scaled_dot_product_attention.
#pragma once
#include "model/config.h"

namespace electra {

struct SelfAttentionImpl : torch::nn::Module {
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  int64_t heads, head_dim;
  double dropout_p;

  explicit SelfAttentionImpl(const Config& c)
      : heads(c.num_attention_heads), head_dim(c.hidden_size / c.num_attention_heads), dropout_p(c.attention_probs_dropout_prob) {
    query = register_module("query", torch::nn::Linear(c.hidden_size, c.hidden_size));
    key = register_module("key", torch::nn::Linear(c.hidden_size, c.hidden_size));
    value = register_module("value", torch::nn::Linear(c.hidden_size, c.hidden_size));
  }

  // x: (B, T, H); bias: additive mask (B, 1, 1, T) or undefined -> (B, T, H)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias) {
    auto B = x.size(0), T = x.size(1);
    auto split = [&](const torch::Tensor& t) { return t.view({B, T, heads, head_dim}).transpose(1, 2); };  // (B, h, T, d)
    torch::Tensor q, k, v;
    if (is_training()) {
      // Training: one projection for query, key and value (weights concatenated per call, HF's
      // three parameters kept): one GEMM of 3H outputs, and in the backward pass one GEMM for the
      // input's gradient instead of three and their sum. Inference keeps the three GEMMs rather
      // than copying the weights at every call. The output is split along its last dimension
      // (chunk), whose backward is one concatenation; indexing a permuted (3, ...) view instead
      // cost each layer's backward three zero-filled buffers, strided copies and adds (by the
      // kernel counts of an H100 profile, about 10 ms of ELECTRA-Base's 67 ms step).
      auto w = torch::cat({query->weight, key->weight, value->weight}, 0);
      auto b = torch::cat({query->bias, key->bias, value->bias}, 0);
      auto qkv = linear(x, w, b).chunk(3, -1);  // 3 x (B, T, H), views
      q = split(qkv[0]), k = split(qkv[1]), v = split(qkv[2]);
    } else {
      q = split(query(x)), k = split(key(x)), v = split(value(x));
    }
    torch::Tensor o;
    if (is_training() && dropout_p > 0 && x.is_cpu() && parallelRng()) {
      // SDPA's CPU kernels fall back to this math with ATen's serial dropout; the parallel one
      // (model/random.h) makes CPU training steps markedly faster.
      auto s = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));  // (B, h, T, T)
      if (bias.defined()) s = s + bias;
      o = torch::matmul(applyDropout(torch::softmax(s, -1), dropout_p, true), v);  // (B, h, T, d)
    } else {
      o = at::scaled_dot_product_attention(q, k, v, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt,
                                           is_training() ? dropout_p : 0.0, false);
    }
    return o.transpose(1, 2).reshape({B, T, heads * head_dim});
  }
};
TORCH_MODULE(SelfAttention);

// Projection, dropout, residual, LayerNorm: ElectraSelfOutput and ElectraOutput share this shape.
struct ResidualOutputImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  double dropout_p;

  ResidualOutputImpl(int64_t in, const Config& c) : dropout_p(c.hidden_dropout_prob) {
    dense = register_module("dense", torch::nn::Linear(in, c.hidden_size));
    LayerNorm = register_module(
        "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)));
  }
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& residual) {
    return addLayerNorm(LayerNorm, applyDropout(linear(dense, h), dropout_p, is_training()), residual);
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
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias) { return output(self(x, bias), x); }
};
TORCH_MODULE(Attention);

}  // namespace electra
