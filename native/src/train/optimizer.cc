#include "train/optimizer.h"
#include "common.h"
#include <map>

namespace electra {

bool decays(const std::string& name) {
  return name.find("LayerNorm") == std::string::npos && name.find("layer_norm") == std::string::npos &&
         !(name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) && name != "bias";
}

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions o) : o_(o) {
  for (auto& [name, p] : params) {
    OptParam op;
    op.name = name;
    op.param = p;
    op.exp_avg = torch::zeros_like(p);
    op.exp_avg_sq = torch::zeros_like(p);
    op.decay = decays(name);
    params_.push_back(std::move(op));
  }
}

void AdamW::setLrScales(const std::vector<double>& scales) {
  check(scales.size() == params_.size(), "ERR_CONFIG", "lr scales: ", scales.size(), " given for ", params_.size(), " parameters");
  for (size_t i = 0; i < scales.size(); i++) params_[i].lr_scale = scales[i];
}

double AdamW::lrAt(int64_t step) const {
  double s = static_cast<double>(step);
  double warm = o_.warmup_steps > 0 ? std::min(1.0, s / static_cast<double>(o_.warmup_steps)) : 1.0;
  double decay = o_.total_steps > 0 ? std::max(0.0, 1.0 - s / static_cast<double>(o_.total_steps)) : 1.0;
  return o_.lr * warm * decay;
}

// Gradients are dropped, not zero-filled (PyTorch's set_to_none): the next backward pass then
// keeps each incoming gradient as it is instead of filling a buffer with zeros and adding into it
// (a fill kernel and an add for every parameter). A parameter that gets no gradient is skipped by
// the update, as PyTorch's optimizers skip one whose grad is None.
void AdamW::zeroGrad() {
  for (auto& p : params_) p.param.mutable_grad().reset();
}

double AdamW::gradNorm() {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (auto& p : params_)
    if (p.param.grad().defined()) grads.push_back(p.param.grad());
  if (grads.empty()) return 0;
  auto norms = torch::_foreach_norm(grads, 2);
  return torch::stack(norms).to(torch::kFloat).norm().item<double>();
}

void AdamW::step(int64_t step, double norm) {
  torch::NoGradGuard ng;
  if (o_.clip_norm > 0 && norm > o_.clip_norm) {
    // The original's clip_by_global_norm: scale by clip / max(norm, clip).
    std::vector<torch::Tensor> grads;
    for (auto& p : params_)
      if (p.param.grad().defined()) grads.push_back(p.param.grad());
    torch::_foreach_mul_(grads, o_.clip_norm / norm);
  }
  double lr = lrAt(step);
  t_++;
  if (fusedEnabled()) {
    fusedStep(lr);
    return;
  }
  double bc1 = o_.bias_correction ? 1.0 - std::pow(o_.beta1, static_cast<double>(t_)) : 1.0;
  double bc2 = o_.bias_correction ? 1.0 - std::pow(o_.beta2, static_cast<double>(t_)) : 1.0;
  for (auto& p : params_) {
    auto g = p.param.grad();
    if (!g.defined()) continue;
    p.exp_avg.mul_(o_.beta1).add_(g, 1.0 - o_.beta1);
    p.exp_avg_sq.mul_(o_.beta2).addcmul_(g, g, 1.0 - o_.beta2);
    auto denom = (p.exp_avg_sq / bc2).sqrt_().add_(o_.eps);
    auto update = (p.exp_avg / bc1).div_(denom);
    if (p.decay && o_.weight_decay > 0) update.add_(p.param, o_.weight_decay);
    p.param.add_(update, -lr * p.lr_scale);
  }
}

// PyTorch's fused AdamW corrects with bc1 = 1 - beta1^step, bc2 = 1 - beta2^step. Without bias
// correction (the original's update) the step passed is so large that both are exactly 1.
void AdamW::fusedStep(double lr) {
  struct Group {
    std::vector<torch::Tensor> p, g, m, v, steps;
  };
  std::map<std::tuple<bool, double, std::string>, Group> groups;
  const double stepValue = o_.bias_correction ? static_cast<double>(t_) : 1e12;
  std::map<std::string, torch::Tensor> stepTensors;
  for (auto& op : params_) {
    auto g = op.param.grad();
    if (!g.defined() || op.lr_scale == 0) continue;
    auto dev = op.param.device().str();
    auto& st = stepTensors[dev];
    if (!st.defined()) st = torch::full({}, stepValue, op.param.options().dtype(torch::kFloat));
    auto& gr = groups[{op.decay, op.lr_scale, dev}];
    gr.p.push_back(op.param);
    gr.g.push_back(g);
    gr.m.push_back(op.exp_avg);
    gr.v.push_back(op.exp_avg_sq);
    gr.steps.push_back(st);
  }
  for (auto& [key, gr] : groups) {
    auto [decay, scale, dev] = key;
    at::_fused_adamw_(gr.p, gr.g, gr.m, gr.v, {}, gr.steps, lr * scale, o_.beta1, o_.beta2, decay ? o_.weight_decay : 0.0, o_.eps,
                      false, false);
  }
}

torch::Tensor AdamW::deviceGradNorm() {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> grads;
  for (auto& p : params_)
    if (p.param.grad().defined()) grads.push_back(p.param.grad());
  check(!grads.empty(), "ERR_INTERNAL", "no gradients to take the norm of");
  return torch::stack(torch::_foreach_norm(grads, 2)).to(torch::kFloat).norm();
}

static std::string groupKey(bool decay, double scale, const std::string& dev) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%a", scale);  // exact
  return std::to_string(decay) + "|" + buf + "|" + dev;
}

void AdamW::setGraphLr(double lr) {
  torch::NoGradGuard ng;
  for (auto& op : params_) {
    const auto dev = op.param.device().str();
    auto key = groupKey(op.decay, op.lr_scale, dev);
    auto& e = graphLr_[key];
    if (!e.second.defined()) e = {op.lr_scale, torch::zeros({}, op.param.options().dtype(torch::kFloat))};
    // Made here, outside any capture: a fill inside the graph would run again at every replay.
    auto& st = graphSteps_[dev];
    if (!st.defined()) st = torch::zeros({}, op.param.options().dtype(torch::kFloat));
  }
  for (auto& [key, e] : graphLr_) e.second.fill_(lr * e.first);
  // The updates so far, which the graph advances by one (none when it skips a non-finite step):
  // set before every replay, so that eager steps between replays keep the count.
  for (auto& [dev, st] : graphSteps_) st.fill_(o_.bias_correction ? static_cast<double>(t_) : 1e12);
}

void AdamW::graphStep(const torch::Tensor& norm, const torch::Tensor& foundInf) {
  torch::NoGradGuard ng;
  struct Group {
    std::vector<torch::Tensor> p, g, m, v, steps;
    torch::Tensor lr;
    bool decay = false;
  };
  std::map<std::string, Group> groups;
  std::vector<torch::Tensor> grads;
  for (auto& op : params_) {
    auto g = op.param.grad();
    if (!g.defined() || op.lr_scale == 0) continue;
    const auto dev = op.param.device().str();
    auto st = graphSteps_[dev];
    auto key = groupKey(op.decay, op.lr_scale, dev);
    auto it = graphLr_.find(key);
    check(it != graphLr_.end() && st.defined(), "ERR_INTERNAL", "setGraphLr() was not called before the graph step");
    auto& gr = groups[key];
    gr.p.push_back(op.param);
    gr.g.push_back(g);
    gr.m.push_back(op.exp_avg);
    gr.v.push_back(op.exp_avg_sq);
    gr.steps.push_back(st);
    gr.lr = it->second.second;
    gr.decay = op.decay;
    grads.push_back(g);
  }
  if (grads.empty()) return;
  if (o_.clip_norm > 0) {
    // clip / max(norm, clip): 1 when the norm is within bounds, as the original's clip_by_global_norm.
    auto coef = (torch::full({}, o_.clip_norm, norm.options()) / torch::clamp_min(norm, o_.clip_norm)).to(grads[0].scalar_type());
    torch::_foreach_mul_(grads, coef);
  }
  if (o_.bias_correction) {
    for (auto& [dev, st] : graphSteps_) st.add_(1.0 - foundInf.to(st.device()));
  }
  for (auto& [key, gr] : groups) {
    at::_fused_adamw_(gr.p, gr.g, gr.m, gr.v, {}, gr.steps, gr.lr, o_.beta1, o_.beta2, gr.decay ? o_.weight_decay : 0.0, o_.eps, false, false,
                      std::nullopt, foundInf);
  }
}

}  // namespace electra
