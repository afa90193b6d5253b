// The model's operations, each chosen in one place: linear layers, LayerNorm, the residual add +
// LayerNorm, activations and attention. The modules (embeddings.h, attention.h, encoder.h,
// heads.h) call these as Hugging Face's modeling_electra.py calls nn.Linear, nn.LayerNorm, ACT2FN
// and its attention function; which kernel runs (ATen's, or the custom kernels of
// model/kernels.h in a training pass, or the CPU's parallel dropout of model/random.h) is decided
// here.
#pragma once
#include <torch/torch.h>
#include <ATen/autocast_mode.h>
#include <array>
#include <cmath>
#include <string>
#include "common.h"
#include "model/kernels.h"
#include "model/random.h"

namespace electra {

// Whether autocast is on in bf16 for x's device.
inline bool bf16Autocast(const torch::Tensor& x) {
  const auto dev = x.device().type();
  return at::autocast::is_autocast_enabled(dev) && at::autocast::get_autocast_dtype(dev) == at::kBFloat16;
}

// Activations by their HF names (transformers.activations.ACT2FN).
inline torch::Tensor activation(const std::string& name, const torch::Tensor& x) {
  if (name == "gelu") return torch::gelu(x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return torch::gelu(x, "tanh");
  if (name == "relu") return torch::relu(x);
  if (name == "silu" || name == "swish") return torch::silu(x);
  if (name == "tanh") return torch::tanh(x);
  fail("ERR_CONFIG", "unsupported hidden_act '", name, "' (gelu, gelu_new, gelu_pytorch_tanh, relu, silu, tanh)");
}

// ---- Linear layers ----

// A linear layer under bf16 autocast whose bias gradient comes from the custom kernels' column
// sums (model/kernels.h); the weight gradient is autocast's (a bf16 GEMM, cast to fp32).
// x (.., in) in any float dtype; w (out, in), b (out) or undefined, fp32 master weights; dt: the
// autocast dtype. -> (.., out) in dt.
struct CastLinearFn : torch::autograd::Function<CastLinearFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                               at::ScalarType dt) {
    auto xc = x.to(dt), wc = w.to(dt);
    ctx->save_for_backward({xc, wc});
    ctx->saved_data["bias"] = b.defined();
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
    return at::linear(xc, wc, b.defined() ? std::optional<at::Tensor>(b.to(dt)) : std::nullopt);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list go) {
    auto saved = ctx->get_saved_variables();
    const auto& xc = saved[0];
    const auto& wc = saved[1];
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
    auto g = go[0].to(wc.scalar_type());
    const int64_t out = wc.size(0), in = wc.size(1);
    auto g2 = g.reshape({-1, out});
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = at::matmul(g, wc);  // (.., in), the autocast dtype; autograd casts it to x's
    if (ctx->needs_input_grad(1)) dw = at::mm(g2.t(), xc.reshape({-1, in})).to(at::kFloat);  // autocast's arithmetic
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) db = columnSums(g2.contiguous());
    return {dx, dw, db, torch::Tensor()};
  }
};

// y = x w^T + b: through CastLinearFn in a training pass under bf16 autocast with the custom
// kernels on (fp16 keeps autocast's path: its loss-scaled steps are not tested with this);
// otherwise ATen's linear (autocast as usual).
inline torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  if (torch::GradMode::is_enabled() && w.requires_grad() && bf16Autocast(x) && customKernels(x)) return CastLinearFn::apply(x, w, b, at::kBFloat16);
  return torch::linear(x, w, b);
}

inline torch::Tensor linear(torch::nn::Linear& l, const torch::Tensor& x) { return linear(x, l->weight, l->bias); }

// A linear layer kept in fp32 under autocast (input cast to fp32, autocast bypassed): for output
// layers whose few outputs are scores, such as the discriminator's one logit per token. In bf16
// those logits carry 8 bits: late in training they differ by less than a bf16 step, so many tie,
// which blurs both the loss's signal and rankings (ROC AUC, R-precision) made from them. The
// product is (tokens x H) by (H x 1): its fp32 cost is negligible.
inline torch::Tensor linearFp32(torch::nn::Linear& l, const torch::Tensor& x) {
  if (!at::autocast::is_autocast_enabled(x.device().type())) return l(x);
  c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
  return torch::linear(x.to(at::kFloat), l->weight, l->bias);
}

// The query, key and value projections of x: 3 x (B, T, H). In training one GEMM of 3H outputs
// (the weights concatenated per call, HF's three parameters kept), and in the backward pass one
// GEMM for the input's gradient instead of three and their sum; the output is split along its
// last dimension (chunk), whose backward is one concatenation. Inference keeps the three GEMMs
// rather than copying the weights at every call.
inline std::array<torch::Tensor, 3> linearQkv(torch::nn::Linear& query, torch::nn::Linear& key, torch::nn::Linear& value, const torch::Tensor& x,
                                              bool training) {
  if (!training) return {query(x), key(x), value(x)};
  auto w = torch::cat({query->weight, key->weight, value->weight}, 0);
  auto b = torch::cat({query->bias, key->bias, value->bias}, 0);
  auto qkv = linear(x, w, b).chunk(3, -1);  // views
  return {qkv[0], qkv[1], qkv[2]};
}

// ---- LayerNorm ----

// With the custom kernels (model/kernels.h; on by default on CUDA) a training pass's LayerNorm
// takes its weight and bias gradients from the custom kernel, normalising in fp32 under autocast
// (as autocast's layer_norm does) and in the input's dtype without it.
inline torch::Tensor layerNorm(torch::nn::LayerNorm& ln, const torch::Tensor& x) {
  const auto& o = ln->options;
  if (o.normalized_shape().size() == 1 && o.elementwise_affine() && torch::GradMode::is_enabled() && ln->weight.requires_grad() &&
      customKernels(x)) {
    const auto dt = at::autocast::is_autocast_enabled(x.device().type()) ? at::kFloat : x.scalar_type();
    return LayerNormFn::apply(x.to(dt), ln->weight, ln->bias, o.eps());
  }
  return ln(x);
}

// LayerNorm(a + residual), the end of ElectraSelfOutput and ElectraOutput. With the custom
// kernels (on by default on CUDA) a training pass adds and normalises in one kernel
// (model/kernels.h) where it reproduces the unfused path's dtypes: an fp32 residual plus an fp32
// a, or a bf16 a under bf16 autocast (an fp32 sum normalised in fp32). A bf16 residual under
// autocast (layer 0 after embeddings_project) would be summed in bf16: unfused. Otherwise the
// add, then layerNorm().
inline torch::Tensor addLayerNorm(torch::nn::LayerNorm& ln, const torch::Tensor& a, const torch::Tensor& residual) {
  const auto& o = ln->options;
  if (o.normalized_shape().size() == 1 && o.elementwise_affine() && torch::GradMode::is_enabled() && ln->weight.requires_grad() &&
      customKernels(a)) {
    const auto ta = a.scalar_type();
    if (residual.scalar_type() == at::kFloat && (ta == at::kFloat || (ta == at::kBFloat16 && bf16Autocast(a)))) {
      auto aa = a.contiguous(), rr = residual.contiguous();
      if (addLayerNormApplies(aa, rr, ln->weight, ln->bias)) return AddLayerNormFn::apply(aa, rr, ln->weight, ln->bias, o.eps());
    }
  }
  return layerNorm(ln, a + residual);
}

// ---- Attention ----

// softmax(q k^T / sqrt(d) + bias) v with dropout p on the weights: q, k, v (B, h, T, d); bias
// (B, 1, 1, T) additive or undefined -> (B, h, T, d). scaled_dot_product_attention, except for
// CPU training with dropout: SDPA's CPU kernels fall back to this same math with ATen's serial
// dropout, and the parallel one (model/random.h) makes CPU training steps markedly faster.
inline torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& bias, double p) {
  if (p > 0 && q.is_cpu() && parallelRng()) {
    auto s = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(q.size(-1))));  // (B, h, T, T)
    if (bias.defined()) s = s + bias;
    return torch::matmul(applyDropout(torch::softmax(s, -1), p, true), v);
  }
  return at::scaled_dot_product_attention(q, k, v, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt, p, false);
}

}  // namespace electra
