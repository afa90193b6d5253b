// The ELECTRA pre-training pair and its step: generator (MLM) + discriminator (replaced-token
// detection) sharing one embedding block, loss = MLM + lambda * RTD (ELECTRA.md, The step).
#pragma once
#include <optional>
#include "model/electra.h"
#include "train/masking.h"
#include "train/optimizer.h"
#include "dist/dist.h"

namespace electra {

// A trainer's kernel choices (src/train/options.ts `kernels`): the same training, faster or
// slower. Each is a field here; nothing reads the environment (src/runtime.ts applies its
// overrides before the options reach the addon).
struct KernelOptions {
  // CUDA: capture the whole step (forward, backward, clipping, AdamW) as a CUDA graph after two
  // eager steps and replay it while the batch shape stays the same (one micro-batch, no process
  // group, fp32 or bf16, fused AdamW; other steps run eagerly).
  bool cuda_graph = false;
  // The custom kernels (model/kernels.h) in this trainer's steps; unset: the process setting.
  std::optional<bool> custom_kernels;
  // at::_fused_adamw_ instead of the per-parameter update (AdamWOptions::fused).
  bool fused_adamw = true;
};

struct PretrainOptions {
  Config disc, gen;
  bool electra_objective = true;  // false: the same body trained as a BERT-style MLM
  double mask_prob = 0.15;
  double mask_fraction = 0.85;  // selected positions that become [MASK]; the rest keep their token
  double rtd_weight = 50.0;
  double temperature = 1.0;
  SpecialIds special;
  AdamWOptions adam;
  bool skip_nonfinite = false;
  KernelOptions kernels;
  // Vocabulary rows rounded up to this multiple inside the model (Config::vocab_multiple);
  // 0: 64 on CUDA, none on the CPU.
  int64_t vocab_multiple = 0;
  std::string precision = "fp32";  // fp32 | bf16 | fp16 (CUDA only for the last two)
  uint64_t seed = 0;
};

struct StepMetrics {
  double loss = 0, mlm_loss = 0, rtd_loss = 0;
  double gen_acc = 0, disc_acc = 0, precision = 0, recall = 0, replaced_fraction = 0;
  double grad_norm = 0, lr = 0;
  double auc = -1;    // ROC AUC of the discriminator on replaced tokens (evaluate() only; -1 if undefined)
  double rprec = -1;  // precision = recall among the k top-scored tokens, k = replaced tokens (evaluate() only)
  int64_t step = 0;
  bool skipped = false;
  bool graph = false;  // replayed from a captured CUDA graph
};

// The sums over one forward pass that a step's metrics are made of, summed as they are over
// micro-batches and over the ranks of a process group, then divided (metricsFrom). T is
// torch::Tensor (scalars on the device) or double (on the host).
template <typename T>
struct StepSums {
  T mlm_loss, rtd_loss, loss;      // the losses, each the mean over its batch
  T gen_correct, gen_weight;       // generator: weighted correct predictions; the weight of the selected positions
  T true_pos, pred_pos, replaced;  // discriminator: replaced tokens it found; tokens it called replaced; replaced tokens
  T disc_correct, tokens;          // discriminator: right calls; real (unpadded) tokens

  static constexpr int64_t kCount = 10;
  // f on every field of s (a StepSums, const or not), always in this order: packing relies on it.
  template <typename S, typename F>
  static void each(S& s, F&& f) {
    f(s.mlm_loss), f(s.rtd_loss), f(s.loss), f(s.gen_correct), f(s.gen_weight);
    f(s.true_pos), f(s.pred_pos), f(s.replaced), f(s.disc_correct), f(s.tokens);
  }
};
// The sums as one fp32 tensor of kCount values (one copy to the host, one all-reduce), and back.
torch::Tensor packSums(const StepSums<torch::Tensor>& s);
StepSums<double> unpackSums(const torch::Tensor& packed);
// The metrics of `n` forward passes from their summed sums.
StepMetrics metricsFrom(const StepSums<double>& s, int64_t n);

// Every intermediate of one forward pass, for tests and debugging (inspect()).
struct Inspection {
  torch::Tensor maskedInput, positions, weights, original, sampled, fakeInput, labels;
  torch::Tensor generatorLogits;      // (B, N, V) at the selected positions
  torch::Tensor discriminatorLogits;  // (B, T)
  torch::Tensor mlm, rtd, loss;
};

class Pretrainer {
 public:
  Pretrainer(const PretrainOptions& o, torch::Device device);

  // One optimizer update over the micro-batches (gradient accumulation); ids/types/mask are
  // (B, T) int64 on the CPU.
  StepMetrics step(const std::vector<std::array<torch::Tensor, 3>>& micro);
  // Metrics on a batch without updating (eval mode, fixed masking seed).
  StepMetrics evaluate(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask);
  // One forward pass in eval mode without update, returning its intermediates.
  Inspection inspect(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask);
  // Discriminator probability that each token was replaced: (B, T).
  torch::Tensor detect(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask);

  ElectraNet& discriminator() { return disc_; }
  ElectraNet& generator() { return gen_; }
  AdamW& optimizer() { return *opt_; }
  int64_t steps() const { return step_; }
  void setSteps(int64_t s) { step_ = s; }
  const PretrainOptions& options() const { return o_; }
  torch::Device device() const { return device_; }
  // Data-parallel: broadcasts rank 0's parameters and optimizer state, then averages gradients
  // over the group at every update; each rank passes its shard of every micro-batch.
  void attach(std::shared_ptr<ProcessGroupHandle> pg);
  ProcessGroupHandle* group() { return pg_.get(); }

 private:
  struct Forward {
    torch::Tensor loss, mlm, rtd;
    StepSums<torch::Tensor> sums;
  };
  // `padded`: hasPadding() of the batch's mask, taken before it moved to the device.
  Forward forward(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask, bool padded,
                  std::optional<at::Generator> gen, Inspection* insp = nullptr);
  void checkBatch(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask) const;

  // The step as a CUDA graph (train/graph_step.cc).
  struct Graph;
  bool graphable(const std::vector<std::array<torch::Tensor, 3>>& micro) const;
  // One step replayed from the graph (captured first where needed), or metrics without `graph`
  // when this step must run eagerly.
  StepMetrics graphStep(const std::array<torch::Tensor, 3>& batch);
  bool graphTurn(const std::array<torch::Tensor, 3>& batch);  // false: eager this time; true: static inputs ready
  void graphBody();                                           // what the graph holds
  void captureGraph();
  StepMetrics replayGraph();
  struct GraphDeleter {
    void operator()(Graph* g) const;  // graph_step.cc, where Graph is complete
  };
  std::unique_ptr<Graph, GraphDeleter> graph_;

  PretrainOptions o_;
  torch::Device device_;
  ElectraNet disc_{nullptr}, gen_{nullptr};
  std::unique_ptr<AdamW> opt_;
  int64_t step_ = 0;
  double loss_scale_ = 65536.0;  // fp16 only
  int64_t clean_steps_ = 0;
  std::shared_ptr<ProcessGroupHandle> pg_;
  std::unique_ptr<GradSync> sync_;
  bool globalDenominators_ = false;  // inside a distributed training step
};

// ROC AUC of scores for 0/1 labels over the positions where mask is 1 (rank-sum with mid-ranks:
// a tie counts one half); -1 when only one class is present.
double rocAuc(const torch::Tensor& scores, const torch::Tensor& labels, const torch::Tensor& mask);
// Precision (= recall) among the k highest scores, k = the number of positives, ties at the k-th
// place sharing its slots (the expectation under random tie-breaking); -1 without positives.
double rPrecision(const torch::Tensor& scores, const torch::Tensor& labels, const torch::Tensor& mask);

}  // namespace electra
