#include "train/pretrain.h"
#include <mutex>
#include <unordered_set>
#include "common.h"
#include "model/autocast.h"
#include "settings.h"
#include "train/cpu_cache.h"

namespace electra {

namespace {
// Runs `fn` with the default generators of the CPU (and `d`, if CUDA) seeded with `seed`, then
// puts their states back, so that evaluation never perturbs the training random stream.
template <typename F>
auto withSeed(uint64_t seed, torch::Device d, F&& fn) {
  std::vector<std::pair<at::Generator, at::Tensor>> saved;
  std::vector<at::Generator> gens{at::globalContext().defaultGenerator(at::kCPU)};
  if (d.is_cuda()) gens.push_back(at::globalContext().defaultGenerator(d));
  for (auto& g : gens) {
    std::lock_guard<std::mutex> lock(g.mutex());
    saved.emplace_back(g, g.get_state());
    g.set_current_seed(seed);
  }
  struct Restore {
    std::vector<std::pair<at::Generator, at::Tensor>>& s;
    ~Restore() {
      for (auto& [g, st] : s) {
        std::lock_guard<std::mutex> lock(g.mutex());
        g.set_state(st);
      }
    }
  } restore{saved};
  return fn();
}
}  // namespace

// The options as the trainer uses them: the vocabulary padding resolved, AdamW's `fused` from the
// kernel choices.
static PretrainOptions resolved(PretrainOptions o, torch::Device d) {
  const int64_t m = o.vocab_multiple > 0 ? o.vocab_multiple : d.is_cuda() ? 64 : 1;
  o.disc.vocab_multiple = m;
  o.gen.vocab_multiple = m;
  o.adam.fused = o.kernels.fused_adamw;
  return o;
}

Pretrainer::Pretrainer(const PretrainOptions& options, torch::Device device) : o_(resolved(options, device)), device_(device) {
  const PretrainOptions& o = o_;
  o.disc.validate();
  torch::manual_seed(o.seed);
  if (o.electra_objective) {
    o.gen.validate();
    check(o.gen.vocab_size == o.disc.vocab_size && o.gen.embedding_size == o.disc.embedding_size &&
              o.gen.max_position_embeddings == o.disc.max_position_embeddings && o.gen.type_vocab_size == o.disc.type_vocab_size,
          "ERR_CONFIG", "the generator must share the discriminator's vocabulary, embedding size, positions and token types");
    disc_ = ElectraNet(o.disc, Head::Discriminator);
    gen_ = ElectraNet(o.gen, Head::Generator, disc_->electra->embeddings);
    // Seeded again after construction (whose default initialisation draws depend on the
    // vocabulary padding): the weights and every later draw depend on the seed alone.
    torch::manual_seed(o.seed);
    initWeights(*disc_, o.disc);
    // The shared embeddings keep the discriminator's initialisation.
    initWeights(*gen_, o.gen, "electra.embeddings.");
  } else {
    gen_ = ElectraNet(o.disc, Head::Generator);
    torch::manual_seed(o.seed);
    initWeights(*gen_, o.disc);
  }
  if (disc_) disc_->to(device);
  gen_->to(device);
  // One optimizer over the unique parameters (the shared embeddings once, under the discriminator).
  std::vector<std::pair<std::string, torch::Tensor>> params;
  std::unordered_set<const void*> seen;
  auto add = [&](ElectraNet& net, const std::string& prefix) {
    for (auto& p : net->named_parameters(true)) {
      if (seen.insert(p.value().unsafeGetTensorImpl()).second) params.emplace_back(prefix + p.key(), p.value());
    }
  };
  if (disc_) add(disc_, "discriminator.");
  add(gen_, "generator.");
  opt_ = std::make_unique<AdamW>(std::move(params), o.adam);
}

void Pretrainer::attach(std::shared_ptr<ProcessGroupHandle> pg) {
  check(!pg_, "ERR_DISTRIBUTED", "this trainer already belongs to a process group");
  const bool nccl = pg->options().backend == "nccl";
  check(!nccl || pg->device() == device_, "ERR_DEVICE", "the trainer is on ", device_.str(), " but its NCCL process group on ",
        pg->device().str(), ": one GPU per process, the trainer on its rank's device (cuda:LOCAL_RANK)");
  check(nccl || device_.is_cpu(), "ERR_DEVICE", "a ", pg->options().backend, " process group trains CPU models; a model on ", device_.str(),
        " needs the NCCL backend");
  std::vector<torch::Tensor> ps, state;
  for (auto& p : opt_->params()) {
    ps.push_back(p.param);
    state.push_back(p.exp_avg);
    state.push_back(p.exp_avg_sq);
  }
  pg->broadcast(ps);
  pg->broadcast(state);
  sync_ = std::make_unique<GradSync>(pg, ps);
  pg_ = std::move(pg);
}

void Pretrainer::checkBatch(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask) const {
  checkInputs(ids, types, mask, o_.disc);
  check(ids.size(1) >= 2, "ERR_INPUT", "sequences must have at least 2 tokens for pre-training");
}

Pretrainer::Forward Pretrainer::forward(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask, bool padded,
                                        std::optional<at::Generator> rng, Inspection* insp) {
  auto B = ids.size(0), T = ids.size(1);
  auto budget = std::min(maskBudget(o_.mask_prob, T), T);
  auto m = maskTokens(ids, mask, o_.mask_prob, budget, o_.special, o_.mask_fraction, rng);
  auto bias = attentionBias(mask, torch::kFloat, padded);
  auto h = gen_->electra(m.input, types, bias);  // (B, T, Hg)
  auto Hg = h.size(2);
  // The generator's output layer only at the selected positions: (B, N, Hg) -> (B, N, V).
  auto hs = h.gather(1, m.positions.unsqueeze(-1).expand({B, budget, Hg}));
  // fp32 for the loss and the sampler. (ATen fuses the cast into log_softmax for fp16 on CUDA
  // only, not for bf16, so keeping bf16 logits would save nothing here.)
  auto logits = gen_->generatorLogits(hs).to(torch::kFloat);
  auto nll = -torch::log_softmax(logits, -1).gather(-1, m.original.unsqueeze(-1)).squeeze(-1);  // (B, N)
  auto wsum = m.weights.sum();
  auto mf = mask.to(torch::kFloat);
  auto real = mf.sum();
  // Data-parallel training: the losses are normalised by the whole batch's counts (masked
  // positions, real tokens), scaled by the world size because gradients are averaged, so that
  // N ranks compute the gradient of exactly the single-process loss even with padding.
  auto wden = wsum, rden = real;
  double worldScale = 1.0;
  if (pg_ && globalDenominators_) {
    auto d = torch::stack({wsum, real}).detach().to(torch::kCPU, torch::kDouble).contiguous();
    pg_->allreduceSum(d);
    wden = torch::full({}, d[0].item<double>(), wsum.options());
    rden = torch::full({}, d[1].item<double>(), real.options());
    worldScale = static_cast<double>(pg_->world());
  }
  Forward f;
  f.mlm = (nll * m.weights).sum() * worldScale / (wden + 1e-6);
  auto genCorrect = ((logits.detach().argmax(-1) == m.original).to(torch::kFloat) * m.weights).sum();
  if (insp) {
    insp->maskedInput = m.input;
    insp->positions = m.positions;
    insp->weights = m.weights;
    insp->original = m.original;
    insp->generatorLogits = logits.detach();
  }
  if (!o_.electra_objective) {
    f.loss = f.mlm;
    f.rtd = torch::zeros({}, f.mlm.options());
    auto z = torch::zeros({}, f.mlm.options());
    f.sums = {.mlm_loss = f.mlm.detach(), .rtd_loss = z, .loss = f.loss.detach(), .gen_correct = genCorrect, .gen_weight = wsum,
              .true_pos = z, .pred_pos = z, .replaced = z, .disc_correct = z, .tokens = real};
    return f;
  }
  // Replacements sampled from the generator (no gradient), scattered into the ORIGINAL sequence.
  auto sampled = gumbelSample(logits, o_.temperature, rng);  // (B, N)
  auto fill = torch::where(m.weights > 0, sampled, m.original);
  auto fake = ids.scatter(1, m.positions, fill);              // (B, T)
  auto maskb = mask.to(torch::kBool);
  auto labels = (fake != ids) & maskb;                        // replaced = differs from the original
  auto dl = disc_->forward(fake, types, mask, false, padded).discriminator.to(torch::kFloat);  // (B, T)
  auto bce = torch::binary_cross_entropy_with_logits(dl, labels.to(torch::kFloat), {}, {}, at::Reduction::None);
  f.rtd = (bce * mf).sum() * worldScale / (rden + 1e-6);
  f.loss = f.mlm + o_.rtd_weight * f.rtd;
  auto pred = (dl.detach() > 0) & maskb;
  auto tp = (pred & labels).sum().to(torch::kFloat);
  auto predPos = pred.sum().to(torch::kFloat);
  auto pos = labels.sum().to(torch::kFloat);
  auto correct = ((pred == labels) & maskb).sum().to(torch::kFloat);
  f.sums = {.mlm_loss = f.mlm.detach(), .rtd_loss = f.rtd.detach(), .loss = f.loss.detach(), .gen_correct = genCorrect, .gen_weight = wsum,
            .true_pos = tp, .pred_pos = predPos, .replaced = pos, .disc_correct = correct, .tokens = real};
  if (insp) {
    insp->sampled = sampled;
    insp->fakeInput = fake;
    insp->labels = labels;
    insp->discriminatorLogits = dl.detach();
  }
  return f;
}

Inspection Pretrainer::inspect(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask) {
  checkBatch(ids, types, mask);
  CustomKernelsScope kernels(o_.kernels.custom_kernels);
  if (disc_) disc_->eval();
  gen_->eval();
  torch::NoGradGuard ng;
  Inspection insp;
  auto f = forward(ids.to(device_), types.to(device_), mask.to(device_), hasPadding(mask), std::nullopt, &insp);
  insp.mlm = f.mlm;
  insp.rtd = f.rtd;
  insp.loss = f.loss;
  return insp;
}

// ROC AUC of scores for binary labels over the positions where mask is 1 (rank-sum form).
double rocAuc(const torch::Tensor& scores, const torch::Tensor& labels, const torch::Tensor& mask) {
  auto sel = mask.to(torch::kBool);
  auto s = scores.masked_select(sel).to(torch::kCPU, torch::kDouble);
  auto y = labels.masked_select(sel).to(torch::kCPU, torch::kDouble);
  auto n = s.numel();
  double P = y.sum().item<double>(), N = static_cast<double>(n) - P;
  if (P == 0 || N == 0) return -1;
  // Mid-ranks: equal scores share the mean of their ranks, so that a tie counts one half (the
  // definition of ROC AUC) whatever order a sort leaves tied scores in.
  auto [sorted, order] = s.sort();
  auto sv = sorted.contiguous();
  const double* v = sv.data_ptr<double>();
  auto ranks = torch::empty({n}, s.options());
  double* r = ranks.data_ptr<double>();
  for (int64_t i = 0; i < n;) {
    int64_t j = i + 1;
    while (j < n && v[j] == v[i]) j++;
    const double mid = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // ranks i+1 .. j
    for (int64_t k = i; k < j; k++) r[k] = mid;
    i = j;
  }
  auto yr = y.index_select(0, order);
  return ((ranks * yr).sum().item<double>() - P * (P + 1) / 2) / (P * N);
}

// R-precision: precision (= recall) among the k highest scores, k = the number of positives.
// Scores tied at the k-th place share its remaining slots: the expected precision when ties are
// broken at random, not whatever order topk leaves them in (as the AUC's mid-ranks).
double rPrecision(const torch::Tensor& scores, const torch::Tensor& labels, const torch::Tensor& mask) {
  auto sel = mask.to(torch::kBool);
  auto s = scores.masked_select(sel).to(torch::kCPU, torch::kDouble);
  auto y = labels.masked_select(sel).to(torch::kCPU, torch::kDouble);
  auto k = static_cast<int64_t>(y.sum().item<double>());
  if (k == 0) return -1;
  const double t = std::get<0>(s.topk(k))[k - 1].item<double>();  // the k-th highest score
  auto above = s > t, tied = s == t;
  const double nAbove = above.sum().item<double>(), posAbove = (y * above).sum().item<double>();
  const double nTied = tied.sum().item<double>(), posTied = (y * tied).sum().item<double>();
  return (posAbove + (static_cast<double>(k) - nAbove) * posTied / nTied) / static_cast<double>(k);
}

torch::Tensor packSums(const StepSums<torch::Tensor>& s) {
  std::vector<torch::Tensor> v;
  StepSums<torch::Tensor>::each(s, [&](const torch::Tensor& t) { v.push_back(t.to(torch::kFloat)); });
  return torch::stack(v);
}

StepSums<double> unpackSums(const torch::Tensor& packed) {
  auto p = packed.to(torch::kCPU, torch::kDouble).contiguous();
  check(p.dim() == 1 && p.size(0) == StepSums<double>::kCount, "ERR_NATIVE", "step sums of shape ", p.sizes());
  const double* a = p.data_ptr<double>();
  StepSums<double> s;
  StepSums<double>::each(s, [&](double& x) { x = *a++; });
  return s;
}

StepMetrics metricsFrom(const StepSums<double>& s, int64_t n) {
  const auto d = static_cast<double>(n);
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0; };
  StepMetrics m;
  m.mlm_loss = s.mlm_loss / d;
  m.rtd_loss = s.rtd_loss / d;
  m.loss = s.loss / d;
  m.gen_acc = ratio(s.gen_correct, s.gen_weight);
  m.precision = ratio(s.true_pos, s.pred_pos);
  m.recall = ratio(s.true_pos, s.replaced);
  m.disc_acc = ratio(s.disc_correct, s.tokens);
  m.replaced_fraction = ratio(s.replaced, s.tokens);
  return m;
}

StepMetrics Pretrainer::step(const std::vector<std::array<torch::Tensor, 3>>& micro) {
  check(!micro.empty(), "ERR_INPUT", "a step needs at least one batch");
  CustomKernelsScope kernels(o_.kernels.custom_kernels);
  CachingCpuAllocator::Scope cache;
  for (auto& b : micro) checkBatch(b[0], b[1], b[2]);
  if (graphable(micro)) {
    auto m = graphStep(micro[0]);
    if (m.graph) return m;
  } else if (graph_) {
    graph_.reset();  // a step of another kind: the captured one no longer applies
  }
  if (disc_) disc_->train();
  gen_->train();
  opt_->zeroGrad();
  auto n = static_cast<int64_t>(micro.size());
  // fp16 needs dynamic loss scaling: the loss is multiplied before backward and the gradients
  // divided after; an overflow skips the update and halves the scale, 2000 clean steps double it.
  const bool scaled = o_.precision == "fp16" && device_.is_cuda();
  const double scale = scaled ? loss_scale_ : 1.0;
  torch::Tensor sums;  // packSums of the micro-batches, added up
  {
    AutocastScope ac(o_.precision, device_);
    for (size_t i = 0; i < micro.size(); i++) {
      auto& b = micro[i];
      std::optional<ShardScope> shard;
      if (pg_) {
        const int64_t rows = b[0].size(0);
        shard.emplace(static_cast<int64_t>(pg_->rank()) * rows, rows);
        if (i + 1 == micro.size()) sync_->arm();  // average only the accumulated gradient
      }
      struct Flag {
        bool& f;
        ~Flag() { f = false; }
      } flag{globalDenominators_ = true};
      auto f = forward(b[0].to(device_), b[1].to(device_), b[2].to(device_), hasPadding(b[2]), std::nullopt);
      AutocastOff off(device_);  // the weights' casts stay cached for the next micro-batch
      (f.loss * (scale / static_cast<double>(n))).backward();
      auto packed = packSums(f.sums);
      sums = sums.defined() ? sums + packed : packed;
    }
  }
  if (pg_) {
    sync_->finish();
    sums = sums.to(torch::kCPU, torch::kDouble).contiguous();
    pg_->allreduceSum(sums);  // metrics of the whole batch, the same on every rank
    n *= pg_->world();
  }
  StepMetrics m = metricsFrom(unpackSums(sums), n);
  m.lr = opt_->lrAt(step_);
  if (scaled) {
    torch::NoGradGuard ng;
    for (auto& p : opt_->params())
      if (p.param.grad().defined()) p.param.mutable_grad().mul_(1.0 / scale);
  }
  double norm = opt_->gradNorm();
  m.grad_norm = norm;
  if (scaled && std::isfinite(m.loss) && !std::isfinite(norm)) {
    opt_->zeroGrad();
    loss_scale_ = std::max(1.0, loss_scale_ / 2);
    clean_steps_ = 0;
    m.skipped = true;
    step_++;
    m.step = step_;
    return m;
  }
  if (scaled && ++clean_steps_ % 2000 == 0) loss_scale_ = std::min(loss_scale_ * 2, 16777216.0);
  if (!std::isfinite(m.loss) || !std::isfinite(norm)) {
    if (!o_.skip_nonfinite) {
      opt_->zeroGrad();
      fail("ERR_DIVERGED", "non-finite ", std::isfinite(m.loss) ? "gradient norm" : "loss", " at step ", step_ + 1,
           " (loss ", m.loss, ", gradient norm ", norm, "); lower the learning rate, or skip such steps with skipNonFinite");
    }
    opt_->zeroGrad();
    m.skipped = true;
  } else {
    opt_->step(step_, norm);
  }
  step_++;
  m.step = step_;
  return m;
}

StepMetrics Pretrainer::evaluate(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask) {
  checkBatch(ids, types, mask);
  CustomKernelsScope kernels(o_.kernels.custom_kernels);
  if (disc_) disc_->eval();
  gen_->eval();
  torch::NoGradGuard ng;
  AutocastScope ac(o_.precision, device_);
  auto m = withSeed(o_.seed + 0x9e3779b9ULL, device_, [&] {
    Inspection insp;
    auto f = forward(ids.to(device_), types.to(device_), mask.to(device_), hasPadding(mask), std::nullopt, &insp);
    auto r = metricsFrom(unpackSums(packSums(f.sums)), 1);
    if (insp.discriminatorLogits.defined()) {
      r.auc = rocAuc(insp.discriminatorLogits, insp.labels, mask.to(device_));
      r.rprec = rPrecision(insp.discriminatorLogits, insp.labels, mask.to(device_));
    }
    return r;
  });
  m.step = step_;
  m.lr = opt_->lrAt(step_);
  return m;
}

torch::Tensor Pretrainer::detect(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask) {
  check(static_cast<bool>(disc_), "ERR_INPUT", "an MLM-objective run has no discriminator");
  checkInputs(ids, types, mask, o_.disc);
  disc_->eval();
  c10::InferenceMode im;
  auto out = disc_->forward(ids.to(device_), types.to(device_), mask.to(device_), false, hasPadding(mask));
  return torch::sigmoid(out.discriminator.to(torch::kFloat)).cpu();
}

}  // namespace electra
