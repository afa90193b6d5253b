// Output heads with Hugging Face names: discriminator, generator, and the task heads.
#pragma once
#include "model/embeddings.h"

namespace electra {

// ElectraDiscriminatorPredictions: dense(H->H), act, dense(H->1), one logit per token.
struct DiscriminatorHeadImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr}, dense_prediction{nullptr};
  std::string activation_fn;
  explicit DiscriminatorHeadImpl(const Config& c) : activation_fn(c.hidden_act) {
    dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size));
    dense_prediction = register_module("dense_prediction", torch::nn::Linear(c.hidden_size, 1));
  }

  // discriminator_hidden_states (B, T, H) -> logits (B, T)
  torch::Tensor forward(const torch::Tensor& discriminator_hidden_states) {
    auto x = linear(dense, discriminator_hidden_states);  // (B, T, H)
    x = activation(activation_fn, x);
    return linearFp32(dense_prediction, x).squeeze(-1);  // fp32 under autocast (ops.h)
  }
};
TORCH_MODULE(DiscriminatorHead);

// ElectraGeneratorPredictions: dense(H->E), GELU, LayerNorm(E).
struct GeneratorHeadImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  explicit GeneratorHeadImpl(const Config& c) {
    LayerNorm = register_module(
        "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.embedding_size}).eps(c.layer_norm_eps)));
    dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.embedding_size));
  }
  // generator_hidden_states (.., H) -> (.., E)
  torch::Tensor forward(const torch::Tensor& generator_hidden_states) {
    auto x = linear(dense, generator_hidden_states);  // (.., E)
    x = activation("gelu", x);
    return layerNorm(LayerNorm, x);
  }
};
TORCH_MODULE(GeneratorHead);

// generator_lm_head: logits = x @ E^T + bias, E the (shared) word embeddings. Only the bias is a
// parameter of its own; the weight is tied, as in HF, and is not saved separately.
struct TiedLMHeadImpl : torch::nn::Module {
  torch::Tensor bias;
  torch::nn::Embedding tied{nullptr};  // not registered: its owner is the embedding block
  int64_t vocab;
  TiedLMHeadImpl(const Config& c, torch::nn::Embedding words) : tied(std::move(words)), vocab(c.vocab_size) {
    bias = register_parameter("bias", torch::zeros({c.vocabRows()}));
  }
  // x (.., E) -> logits (.., V)
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = linear(x, tied->weight, bias);                  // (.., rows)
    return y.size(-1) > vocab ? y.narrow(-1, 0, vocab) : y;  // padding rows cut
  }
};
TORCH_MODULE(TiedLMHead);

// ElectraClassificationHead: [CLS] -> dropout, dense, GELU, dropout, out_proj.
struct ClassificationHeadImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr}, out_proj{nullptr};
  double dropout_p;
  explicit ClassificationHeadImpl(const Config& c) : dropout_p(c.classifierDropout()) {
    dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size));
    out_proj = register_module("out_proj", torch::nn::Linear(c.hidden_size, c.num_labels));
  }
  // features (B, T, H) -> logits (B, L)
  torch::Tensor forward(const torch::Tensor& features) {
    auto x = features.select(1, 0);  // (B, H): [CLS]
    x = applyDropout(x, dropout_p, is_training());
    x = dense(x);
    x = activation("gelu", x);
    x = applyDropout(x, dropout_p, is_training());
    return out_proj(x);  // (B, L)
  }
};
TORCH_MODULE(ClassificationHead);

}  // namespace electra
