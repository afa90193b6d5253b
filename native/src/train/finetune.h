// Fine-tuning one task head (sequence classification or regression, token classification,
// question answering) on the network a NativeModel owns: the task loss as Hugging Face computes
// it, AdamW with per-parameter learning-rate scales (layer-wise decay, computed by the caller),
// warmup + linear decay, global gradient-norm clipping; bf16 autocast on CUDA when asked.
#pragma once
#include <memory>
#include <optional>
#include "model/electra.h"
#include "train/optimizer.h"

namespace electra {

struct FinetuneOptions {
  AdamWOptions adam;
  std::vector<double> lr_scales;  // one per parameter (namedParameters order); empty = all 1
  std::string precision = "fp32";  // "bf16" only on CUDA
  bool skip_nonfinite = false;
  std::optional<bool> custom_kernels;  // the custom kernels in the steps; unset: the process setting
};

// Targets of one batch: `labels` (B) int64 class ids or float values (regression, num_labels 1),
// or (B, T) int64 tag ids with -100 where ignored; `start`/`end` (B) int64 answer positions (QA).
struct Targets {
  torch::Tensor labels, start, end;
};

struct FinetuneMetrics {
  double loss = 0, grad_norm = 0, lr = 0;
  int64_t step = 0;
  bool skipped = false;
};

// The loss of a task head's outputs, as the HF ElectraFor* classes compute it.
torch::Tensor taskLoss(const ElectraNetImpl& net, const Outputs& out, const Targets& t);
// Validates targets against the batch shape and the head before any kernel runs.
void checkTargets(const ElectraNetImpl& net, const Targets& t, int64_t B, int64_t T);

class Finetuner {
 public:
  Finetuner(ElectraNet net, torch::Device device, FinetuneOptions o);
  FinetuneMetrics step(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask, const Targets& t);
  int64_t steps() const { return step_; }
  void setSteps(int64_t s) { step_ = s; }
  AdamW& optimizer() { return *opt_; }

 private:
  ElectraNet net_;
  torch::Device device_;
  FinetuneOptions o_;
  std::unique_ptr<AdamW> opt_;
  int64_t step_ = 0;
};

}  // namespace electra
