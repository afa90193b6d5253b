// Output heads with Hugging Face names: discriminator, generator, and the task heads.
#pragma once
#include "model/embeddings.h"

namespace electra {

// ElectraDiscriminatorPredictions: dense(H->H), act, dense(H->1). (B, T, H) -> (B, T)
struct DiscriminatorHeadImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr}, dense_prediction{nullptr};
  std::string act;
  explicit DiscriminatorHeadImpl(const Config& c) : act(c.hidden_act) {
    dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size));
    dense_prediction = register_module("dense_prediction", torch::nn::Linear(c.hidden_size, 1));
  }
  torch::Tensor forward(const torch::Tensor& h) { return linearFp32(dense_prediction, activation(act, linear(dense, h))).squeeze(-1); }
};
TORCH_MODULE(DiscriminatorHead);

// ElectraGeneratorPredictions: dense(H->E), GELU, LayerNorm(E). (.., H) -> (.., E)
struct GeneratorHeadImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  explicit GeneratorHeadImpl(const Config& c) {
    LayerNorm = register_module(
        "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.embedding_size}).eps(c.layer_norm_eps)));
    dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.embedding_size));
  }
  torch::Tensor forward(const torch::Tensor& h) { return layerNorm(LayerNorm, torch::gelu(linear(dense, h))); }
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
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = linear(x, tied->weight, bias);  // (.., rows)
    return y.size(-1) > vocab ? y.narrow(-1, 0, vocab) : y;        // (.., V): padding rows cut
  }
};
TORCH_MODULE(TiedLMHead);

// ElectraClassificationHead: [CLS] -> dropout, dense, GELU, dropout, out_proj. (B, T, H) -> (B, L)
struct ClassificationHeadImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr}, out_proj{nullptr};
  double dropout_p;
  explicit ClassificationHeadImpl(const Config& c) : dropout_p(c.classifierDropout()) {
    dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size));
    out_proj = register_module("out_proj", torch::nn::Linear(c.hidden_size, c.num_labels));
  }
  torch::Tensor forward(const torch::Tensor& h) {
    auto x = h.select(1, 0);
    x = applyDropout(x, dropout_p, is_training());
    x = torch::gelu(dense(x));
    x = applyDropout(x, dropout_p, is_training());
    return out_proj(x);
  }
};
TORCH_MODULE(ClassificationHead);

}  // namespace electra
