// ElectraEmbeddings: word + position + token-type embeddings, LayerNorm, dropout.
// Shared by the generator and the discriminator in pre-training (ELECTRA.md, Sharing).
#pragma once
#include "model/config.h"
#include "model/ops.h"

namespace electra {

struct EmbeddingsImpl : torch::nn::Module {
  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr}, token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  double dropout_p;

  explicit EmbeddingsImpl(const Config& c) : dropout_p(c.hidden_dropout_prob) {
    word_embeddings = register_module(
        "word_embeddings",
        torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocabRows(), c.embedding_size).padding_idx(c.pad_token_id)));
    position_embeddings = register_module(
        "position_embeddings", torch::nn::Embedding(c.max_position_embeddings, c.embedding_size));
    token_type_embeddings = register_module("token_type_embeddings", torch::nn::Embedding(c.type_vocab_size, c.embedding_size));
    LayerNorm = register_module(
        "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.embedding_size}).eps(c.layer_norm_eps)));
  }

  // input_ids, token_type_ids: (B, T) int64 -> (B, T, E)
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids) {
    auto position_ids = torch::arange(input_ids.size(1), input_ids.options()).unsqueeze(0);  // (1, T)
    auto embeddings = word_embeddings(input_ids) + token_type_embeddings(token_type_ids);
    embeddings = embeddings + position_embeddings(position_ids);
    embeddings = layerNorm(LayerNorm, embeddings);
    return applyDropout(embeddings, dropout_p, is_training());
  }
};
TORCH_MODULE(Embeddings);

}  // namespace electra
