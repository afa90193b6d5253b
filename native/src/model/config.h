// The model shape, as Hugging Face's ElectraConfig names it. Validated in TypeScript (zod);
// the native side re-checks what would otherwise crash.
#pragma once
#include <torch/torch.h>
#include <ATen/autocast_mode.h>
#include <string>
#include "common.h"
#include "model/random.h"
#include "model/kernels.h"
#include "model/linear.h"

namespace electra {

struct Config {
  int64_t vocab_size = 30522;
  int64_t embedding_size = 128;
  int64_t hidden_size = 256;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 4;
  int64_t intermediate_size = 1024;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  double classifier_dropout = -1;  // < 0: use hidden_dropout_prob (HF's None)
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  double initializer_range = 0.02;
  int64_t pad_token_id = 0;
  int64_t num_labels = 2;
  // Internal, not an HF field: the rows of the word embeddings and of the generator's output bias
  // are rounded up to a multiple of this (64 for CUDA pre-training: aligned GEMMs for the output
  // layer). The extra rows are zero, never looked up, cut from the logits, and never saved.
  int64_t vocab_multiple = 1;
  int64_t vocabRows() const { return vocab_multiple > 1 ? (vocab_size + vocab_multiple - 1) / vocab_multiple * vocab_multiple : vocab_size; }

  void validate() const {
    check(vocab_size > 0 && embedding_size > 0 && hidden_size > 0 && num_hidden_layers > 0 &&
              num_attention_heads > 0 && intermediate_size > 0 && max_position_embeddings > 0 &&
              type_vocab_size > 0 && num_labels > 0,
          "ERR_CONFIG", "config sizes must be positive");
    check(hidden_size % num_attention_heads == 0, "ERR_CONFIG", "hidden_size ", hidden_size,
          " is not divisible by num_attention_heads ", num_attention_heads);
    check(pad_token_id >= 0 && pad_token_id < vocab_size, "ERR_CONFIG", "pad_token_id ", pad_token_id,
          " is outside [0, ", vocab_size, ")");
  }
  double classifierDropout() const { return classifier_dropout < 0 ? hidden_dropout_prob : classifier_dropout; }
};

// Activations by their HF names (transformers.activations.ACT2FN).
inline torch::Tensor activation(const std::string& name, const torch::Tensor& x) {
  if (name == "gelu") return torch::gelu(x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return torch::gelu(x, "tanh");
  if (name == "relu") return torch::relu(x);
  if (name == "silu" || name == "swish") return torch::silu(x);
  if (name == "tanh") return torch::tanh(x);
  fail("ERR_CONFIG", "unsupported hidden_act '", name, "' (gelu, gelu_new, gelu_pytorch_tanh, relu, silu, tanh)");
}

// LayerNorm under bf16 autocast in bf16 (ELECTRA_BF16_LAYERNORM=1; off by default until measured
// on a GPU): autocast runs layer_norm in fp32, so every LayerNorm turns the hidden stream fp32,
// the residual adds, the LayerNorm and its backward move fp32 tensors, and each next GEMM casts
// its input back to bf16. With the switch on, the input is cast to bf16 (a no-op for the residual
// stream, which then stays bf16) and normalised by ATen's kernel, whose mean and variance are
// accumulated in fp32; gamma and beta are cast to bf16 for the call (their fp32 master copies get
// fp32 gradients through the cast). Megatron-LM's default for bf16 (no fp32 residual). Off
// autocast, or under fp16, it is the module's own fp32 LayerNorm.
inline bool bf16LayerNorm() {
  static const bool on = envSwitchSet("ELECTRA_BF16_LAYERNORM");
  return on;
}

// With the custom kernels (model/kernels.h; on by default on CUDA) a training pass's LayerNorm takes its weight
// and bias gradients from the custom kernel, in the dtype autocast would use (fp32 under autocast,
// bf16 with the switch above, the input's own without autocast).
inline torch::Tensor layerNorm(torch::nn::LayerNorm& ln, const torch::Tensor& x) {
  const auto& o = ln->options;
  if (o.normalized_shape().size() == 1 && o.elementwise_affine() && torch::GradMode::is_enabled() && ln->weight.requires_grad() &&
      customKernels(x)) {
    const auto dev = x.device().type();
    const auto dt = bf16LayerNorm() && bf16Autocast(x) ? at::kBFloat16 : at::autocast::is_autocast_enabled(dev) ? at::kFloat : x.scalar_type();
    return LayerNormFn::apply(x.to(dt), ln->weight, ln->bias, o.eps());
  }
  if (!bf16LayerNorm() || !bf16Autocast(x)) return ln(x);
  auto xb = x.scalar_type() == at::kBFloat16 ? x : x.to(at::kBFloat16);
  // Below autocast, which would cast everything back to fp32 (layer_norm is on its fp32 list).
  c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
  return torch::layer_norm(xb, o.normalized_shape(), ln->weight.to(at::kBFloat16), ln->bias.to(at::kBFloat16), o.eps());
}

// LayerNorm(a + residual), the end of ElectraSelfOutput and ElectraOutput. With
// the custom kernels (on by default on CUDA) a training pass adds and normalises in one kernel (model/kernels.h)
// where it reproduces the unfused path's dtypes (under autocast a bf16 + an fp32 residual, fp32
// out; with ELECTRA_BF16_LAYERNORM both bf16; without autocast fp32) and takes the hidden size.
// Otherwise the add, then layerNorm().
inline torch::Tensor addLayerNorm(torch::nn::LayerNorm& ln, const torch::Tensor& a, const torch::Tensor& residual) {
  const auto& o = ln->options;
  if (o.normalized_shape().size() == 1 && o.elementwise_affine() && torch::GradMode::is_enabled() && ln->weight.requires_grad() &&
      customKernels(a)) {
    // Only the dtype pairs whose unfused result the kernel reproduces: with the bf16 switch both
    // bf16 (a bf16 sum normalised in bf16); otherwise an fp32 residual (an fp32 sum normalised in
    // fp32, under autocast or not). A bf16 residual under plain autocast (layer 0 after
    // embeddings_project) would be summed in bf16 and normalised in fp32: unfused.
    const auto ta = a.scalar_type(), tr = residual.scalar_type();
    const bool pair = bf16LayerNorm() && bf16Autocast(a) ? ta == at::kBFloat16 && tr == at::kBFloat16
                                                         : tr == at::kFloat && (ta == at::kFloat || (ta == at::kBFloat16 && bf16Autocast(a)));
    if (pair) {
      auto aa = a.contiguous(), rr = residual.contiguous();
      if (addLayerNormApplies(aa, rr, ln->weight, ln->bias)) return AddLayerNormFn::apply(aa, rr, ln->weight, ln->bias, o.eps());
    }
  }
  return layerNorm(ln, a + residual);
}

}  // namespace electra
