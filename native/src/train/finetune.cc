#include "train/finetune.h"
#include "common.h"
#include "model/autocast.h"
#include "settings.h"
#include "train/cpu_cache.h"

namespace electra {

void checkTargets(const ElectraNetImpl& net, const Targets& t, int64_t B, int64_t T) {
  const int64_t L = net.cfg.num_labels;
  switch (net.head) {
    case Head::SequenceClassification: {
      check(t.labels.defined(), "ERR_INPUT", "sequence classification needs labels (B)");
      check(t.labels.dim() == 1 && t.labels.size(0) == B, "ERR_INPUT", "labels must have shape [", B, "], got ", t.labels.sizes());
      if (L == 1) {
        check(t.labels.is_floating_point(), "ERR_INPUT", "regression (num_labels 1) needs float32 labels");
        check(torch::isfinite(t.labels).all().item<bool>(), "ERR_INPUT", "regression labels must be finite");
      } else {
        check(!t.labels.is_floating_point(), "ERR_INPUT", "classification labels must be integer class ids");
        auto mn = t.labels.min().item<int64_t>(), mx = t.labels.max().item<int64_t>();
        check(mn >= 0 && mx < L, "ERR_INPUT", "label ", mn < 0 ? mn : mx, " is outside [0, ", L, ")");
      }
      break;
    }
    case Head::TokenClassification: {
      check(t.labels.defined() && !t.labels.is_floating_point(), "ERR_INPUT", "token classification needs integer labels (B, T)");
      check(t.labels.dim() == 2 && t.labels.size(0) == B && t.labels.size(1) == T, "ERR_INPUT", "labels must have shape [", B,
            ", ", T, "], got ", t.labels.sizes());
      auto ok = ((t.labels >= 0) & (t.labels < L)) | (t.labels == -100);
      check(ok.all().item<bool>(), "ERR_INPUT", "token labels must be in [0, ", L, ") or -100 (ignored)");
      break;
    }
    case Head::QuestionAnswering: {
      check(t.start.defined() && t.end.defined(), "ERR_INPUT", "question answering needs start and end positions (B)");
      for (auto* p : {&t.start, &t.end}) {
        check(p->dim() == 1 && p->size(0) == B && !p->is_floating_point(), "ERR_INPUT", "answer positions must be integers of shape [", B, "]");
        auto mn = p->min().item<int64_t>(), mx = p->max().item<int64_t>();
        check(mn >= 0 && mx < T, "ERR_INPUT", "answer position ", mn < 0 ? mn : mx, " is outside [0, ", T, ")");
      }
      break;
    }
    default:
      fail("ERR_CONFIG", "fine-tuning needs a task head (sequence-classification, token-classification or question-answering); this model's head is ",
           headName(net.head));
  }
}

torch::Tensor taskLoss(const ElectraNetImpl& net, const Outputs& out, const Targets& t) {
  namespace F = torch::nn::functional;
  const int64_t L = net.cfg.num_labels;
  switch (net.head) {
    case Head::SequenceClassification:
      if (L == 1) return F::mse_loss(out.classification.squeeze(-1).to(torch::kFloat), t.labels.to(torch::kFloat));
      return F::cross_entropy(out.classification.to(torch::kFloat), t.labels);
    case Head::TokenClassification:
      return F::cross_entropy(out.tokens.reshape({-1, L}).to(torch::kFloat), t.labels.reshape({-1}),
                              F::CrossEntropyFuncOptions().ignore_index(-100));
    case Head::QuestionAnswering: {
      auto s = F::cross_entropy(out.start.to(torch::kFloat), t.start);
      auto e = F::cross_entropy(out.end.to(torch::kFloat), t.end);
      return (s + e) / 2;
    }
    default: fail("ERR_CONFIG", "no task loss for head ", headName(net.head));
  }
}


Finetuner::Finetuner(ElectraNet net, torch::Device device, FinetuneOptions o) : net_(std::move(net)), device_(device), o_(std::move(o)) {
  check(o_.adam.lr > 0 && std::isfinite(o_.adam.lr), "ERR_CONFIG", "lr must be > 0, got ", o_.adam.lr);
  check(o_.precision == "fp32" || o_.precision == "bf16", "ERR_CONFIG", "precision must be fp32 or bf16, got ", o_.precision);
  auto params = namedParameters(*net_);
  opt_ = std::make_unique<AdamW>(params, o_.adam);
  if (!o_.lr_scales.empty()) opt_->setLrScales(o_.lr_scales);
}

FinetuneMetrics Finetuner::step(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask, const Targets& t) {
  checkInputs(ids, types, mask, net_->cfg);
  checkTargets(*net_, t, ids.size(0), ids.size(1));
  CustomKernelsScope kernels(o_.custom_kernels);
  CachingCpuAllocator::Scope cache;
  net_->train();
  opt_->zeroGrad();
  FinetuneMetrics m;
  Targets dt;
  if (t.labels.defined()) dt.labels = t.labels.to(device_);
  if (t.start.defined()) dt.start = t.start.to(device_), dt.end = t.end.to(device_);
  {
    AutocastScope ac(o_.precision, device_);
    auto out = net_->forward(ids.to(device_), types.to(device_), mask.to(device_), false, hasPadding(mask));
    auto loss = taskLoss(*net_, out, dt);
    AutocastOff off(device_);
    loss.backward();
    m.loss = loss.item<double>();
  }
  m.lr = opt_->lrAt(step_);
  double norm = opt_->gradNorm();
  m.grad_norm = norm;
  if (!std::isfinite(m.loss) || !std::isfinite(norm)) {
    opt_->zeroGrad();
    if (!o_.skip_nonfinite)
      fail("ERR_DIVERGED", "non-finite ", std::isfinite(m.loss) ? "gradient norm" : "loss", " at fine-tuning step ", step_ + 1,
           "; lower the learning rate");
    m.skipped = true;
  } else {
    opt_->step(step_, norm);
  }
  opt_->zeroGrad();
  step_++;
  m.step = step_;
  return m;
}

}  // namespace electra
