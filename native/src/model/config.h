// The model shape, as Hugging Face's ElectraConfig names it. Validated in TypeScript (zod);
// the native side re-checks what would otherwise crash.
#pragma once
#include <cstdint>
#include <string>
#include "common.h"

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

}  // namespace electra
