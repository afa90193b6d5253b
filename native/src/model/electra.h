// ElectraModel (the body) and ElectraNet (the body with one HF head), named after the HF
// state-dict keys so that published weights load without renaming tables.
#pragma once
#include <map>
#include <optional>
#include "model/encoder.h"
#include "model/heads.h"

namespace electra {

enum class Head { None, Discriminator, Generator, SequenceClassification, TokenClassification, QuestionAnswering };
Head parseHead(const std::string& s);
const char* headName(Head h);

// Whether a (B, T) 0/1 attention mask has any padding. Read on the host for a CPU mask; callers
// ask before they move a batch to the GPU, so nothing synchronises with the device. A mask on
// another device counts as padded, which is always correct (only slower).
bool hasPadding(const torch::Tensor& mask);

// Additive attention bias from a (B, T) 0/1 mask: (B, 1, 1, T), 0 where attended, the dtype's
// lowest value where not (as HF does; a fully padded row stays finite). Undefined (no bias) when
// `padded` (hasPadding() of the batch) is false, so that attention takes its unmasked kernels
// (flash attention on CUDA), as HF does.
torch::Tensor attentionBias(const torch::Tensor& mask, torch::ScalarType dtype, bool padded);

struct ElectraModelImpl : torch::nn::Module {
  Embeddings embeddings{nullptr};
  torch::nn::Linear embeddings_project{nullptr};
  Encoder encoder{nullptr};

  // `shared`: an embedding block owned with another model (the pre-training pair).
  explicit ElectraModelImpl(const Config& c, Embeddings shared = nullptr);
  // (B, T) ids, types; bias (B, 1, 1, T) -> (B, T, H)
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& bias);
};
TORCH_MODULE(ElectraModel);

struct Outputs {
  torch::Tensor hidden;          // (B, T, H)
  torch::Tensor discriminator;   // (B, T)
  torch::Tensor generator;       // (B, T, V)
  torch::Tensor classification;  // (B, L)  sequence classification
  torch::Tensor tokens;          // (B, T, L) token classification
  torch::Tensor start, end;      // (B, T)   question answering
};

struct ElectraNetImpl : torch::nn::Module {
  Config cfg;
  Head head;
  ElectraModel electra{nullptr};
  DiscriminatorHead discriminator_predictions{nullptr};
  GeneratorHead generator_predictions{nullptr};
  TiedLMHead generator_lm_head{nullptr};
  ClassificationHead sequence_classifier{nullptr};  // registered as "classifier"
  torch::nn::Linear token_classifier{nullptr};      // registered as "classifier"
  torch::nn::Linear qa_outputs{nullptr};

  ElectraNetImpl(const Config& c, Head h, Embeddings shared = nullptr);
  // Runs the body and the head; `withHidden` keeps the last hidden states in the result.
  // `padded`: hasPadding() of the batch's mask, taken before it moved to the device.
  Outputs forward(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask, bool withHidden, bool padded);
  // Generator head on gathered hidden states only: (N, H) -> (N, V).
  torch::Tensor generatorLogits(const torch::Tensor& h);
};
TORCH_MODULE(ElectraNet);

// Initialisation as the original and HF: normal(0, initializer_range) for weights and
// embeddings, zero biases, LayerNorm (1, 0), the padding row of the word embeddings zero.
// Parameters whose name starts with `skipPrefix` keep their values (shared blocks).
void initWeights(torch::nn::Module& m, const Config& c, const std::string& skipPrefix = "");

// Parameters by HF name (tied weights appear once, under their owner), as the module holds them
// (vocabulary padding included: what optimizers work on).
std::vector<std::pair<std::string, torch::Tensor>> namedParameters(torch::nn::Module& m);
// The same with HF's shapes: vocabulary rows beyond vocab_size left out (views; what is saved).
std::vector<std::pair<std::string, torch::Tensor>> hfParameters(torch::nn::Module& m);
// `t` (parameter `name`, or its optimizer state) without vocabulary padding rows, as a view.
torch::Tensor vocabView(const std::string& name, const torch::Tensor& t, int64_t vocab);

// Copies tensors into parameters by name. Every name must exist with the same shape; checked
// again here because TypeScript may be bypassed.
void loadParameters(torch::nn::Module& m, const std::vector<std::pair<std::string, torch::Tensor>>& values);

// Validates model inputs before any kernel runs (a device-side assert would kill the process).
void checkInputs(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask, const Config& c);

}  // namespace electra
