// AdamW as in the original ELECTRA (AdamWeightDecayOptimizer): decoupled weight decay, no bias
// correction by default, eps 1e-6, weight decay skipped for LayerNorm and bias parameters;
// global gradient-norm clipping; warmup then linear decay.
#pragma once
#include <map>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace electra {

struct AdamWOptions {
  double lr = 5e-4;
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-6;
  bool bias_correction = false;
  int64_t warmup_steps = 10000;
  int64_t total_steps = 1000000;
  double clip_norm = 1.0;  // <= 0: no clipping
  // at::_fused_adamw_ (one multi-tensor kernel per parameter group, CPU and CUDA) instead of the
  // per-parameter loop; the same update.
  bool fused = true;
};

struct OptParam {
  std::string name;
  torch::Tensor param, exp_avg, exp_avg_sq;
  bool decay = true;
  double lr_scale = 1.0;
};

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions o);
  // lr at update `step` (0-based), as the original: peak * min(1, step / warmup) * (1 - step / total).
  double lrAt(int64_t step) const;
  // The global L2 norm of all gradients (NaN/inf when a gradient is not finite).
  double gradNorm();
  // Clips to clip_norm given the global `norm`, then updates with the lr of `step`.
  void step(int64_t step, double norm);
  int64_t updates() const { return t_; }
  // Loaded state (checkpoint): a captured graph's step tensors no longer apply.
  void setUpdates(int64_t t) {
    t_ = t;
    version_++;
  }
  int64_t stateVersion() const { return version_; }
  // One more update applied (by a replayed CUDA graph, whose step tensors advanced themselves):
  // the state version stays, so the captured graph stays valid.
  void countUpdate() { t_++; }
  // The fused kernel is in use (option `fused`).
  bool fusedEnabled() const { return o_.fused; }
  void zeroGrad();
  std::vector<OptParam>& params() { return params_; }
  const AdamWOptions& options() const { return o_; }
  void setLrScales(const std::vector<double>& scales);

  // For a step captured as a CUDA graph: nothing here synchronises with the host.
  // The global gradient norm as a device scalar.
  torch::Tensor deviceGradNorm();
  // Clips by the device scalar `norm` (scale clip / max(norm, clip)), then a fused AdamW update
  // that the kernel skips where `foundInf` (float scalar) is 1. The learning rates are device
  // scalars that setGraphLr() fills before each replay; with bias correction the step count is a
  // device tensor that setGraphLr() sets to the updates so far and the graph advances.
  void graphStep(const torch::Tensor& norm, const torch::Tensor& foundInf);
  void setGraphLr(double lr);
  void resetGraph() {
    graphLr_.clear();
    graphSteps_.clear();
  }

 private:
  void fusedStep(double lr);
  int64_t version_ = 0;
  std::map<std::string, std::pair<double, torch::Tensor>> graphLr_;  // (lr scale, lr) per (decay, scale, device) group
  std::map<std::string, torch::Tensor> graphSteps_;  // per device
  std::vector<OptParam> params_;
  AdamWOptions o_;
  int64_t t_ = 0;  // updates applied (for the optional bias correction)
};

// LayerNorm weights and biases get no weight decay.
bool decays(const std::string& name);

}  // namespace electra
