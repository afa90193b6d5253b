// NativeTrainer: the pre-training pair, its optimizer and step, behind Promises (one in flight).
#include "binding/addon.h"
#include "binding/config_js.h"
#include "train/pretrain.h"
#include "train/cpu_cache.h"

namespace electra {

struct TrainerState {
  std::unique_ptr<Pretrainer> trainer;
  bool busy = false;
  void acquire(Napi::Env env) {
    if (!trainer) throwJs(env, "ERR_DISPOSED", "the trainer has been disposed");
    if (busy) throwJs(env, "ERR_BUSY", "another operation is in flight on this trainer; await it first");
    busy = true;
  }
};

namespace {

double numOr(Napi::Object o, const char* k, double d) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : d;
}

// kernels: {cudaGraph?, customKernels?, fusedAdamW?}, as src/train/pretrainer.ts resolves them.
KernelOptions readKernels(Napi::Env env, Napi::Value v) {
  KernelOptions k;
  if (v.IsUndefined()) return k;
  if (!v.IsObject()) throwJs(env, "ERR_CONFIG", "kernels must be an object");
  auto o = v.As<Napi::Object>();
  if (auto b = optionalBool(env, o, "cudaGraph", "kernels.")) k.cuda_graph = *b;
  k.custom_kernels = optionalBool(env, o, "customKernels", "kernels.");
  if (auto b = optionalBool(env, o, "fusedAdamW", "kernels.")) k.fused_adamw = *b;
  return k;
}

Napi::Object metricsToJs(Napi::Env env, const StepMetrics& m) {
  auto o = Napi::Object::New(env);
  o.Set("loss", m.loss);
  o.Set("mlmLoss", m.mlm_loss);
  o.Set("rtdLoss", m.rtd_loss);
  o.Set("generatorAccuracy", m.gen_acc);
  o.Set("discriminatorAccuracy", m.disc_acc);
  o.Set("replacedPrecision", m.precision);
  o.Set("replacedRecall", m.recall);
  o.Set("replacedFraction", m.replaced_fraction);
  o.Set("gradNorm", m.grad_norm);
  o.Set("lr", m.lr);
  o.Set("step", static_cast<double>(m.step));
  if (m.auc >= 0) o.Set("replacedAuc", m.auc);
  if (m.rprec >= 0) o.Set("replacedRPrecision", m.rprec);
  o.Set("skipped", m.skipped);
  o.Set("graph", m.graph);
  return o;
}

enum class Part { Discriminator, Generator, Optimizer };
Part parsePart(Napi::Env env, Napi::Value v) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "discriminator") return Part::Discriminator;
  if (s == "generator") return Part::Generator;
  if (s == "optimizer") return Part::Optimizer;
  throwJs(env, "ERR_INPUT", "expected 'discriminator', 'generator' or 'optimizer'");
}

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeTrainer",
                       {InstanceMethod<&TrainerWrap::step>("step"), InstanceMethod<&TrainerWrap::evaluate>("evaluate"),
                        InstanceMethod<&TrainerWrap::detect>("detect"),
                        InstanceMethod<&TrainerWrap::inspect>("inspect"), InstanceMethod<&TrainerWrap::optimizerInfo>("optimizerInfo"), InstanceMethod<&TrainerWrap::getState>("getState"),
                        InstanceMethod<&TrainerWrap::loadState>("loadState"), InstanceMethod<&TrainerWrap::getRng>("getRng"),
                        InstanceMethod<&TrainerWrap::setRng>("setRng"), InstanceMethod<&TrainerWrap::setStep>("setStep"),
                        InstanceMethod<&TrainerWrap::dispose>("dispose"), InstanceMethod<&TrainerWrap::attach>("attachProcessGroup"), InstanceAccessor<&TrainerWrap::busyGetter>("busy"),
                        InstanceAccessor<&TrainerWrap::stepGetter>("steps")});
  }
  explicit TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
    if (!info[0].IsExternal()) throwJs(info.Env(), "ERR_INPUT", "use createTrainer()");
    state_ = *info[0].As<Napi::External<std::shared_ptr<TrainerState>>>().Data();
  }

 private:
  std::shared_ptr<TrainerState> state_;
  using Base = StateWorker<TrainerState>;

  Napi::Value busyGetter(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), state_->busy); }
  Napi::Value stepGetter(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), state_->trainer ? static_cast<double>(state_->trainer->steps()) : 0);
  }

  class StepWorker : public Base {
   public:
    StepWorker(Napi::Env env, TrainerWrap* self, std::vector<JsBatch> b, int mode)
        : Base(env, "electra:step", self->state_, self->Value()), batches_(std::move(b)), mode_(mode) {}

   protected:
    void run() override {
      auto& t = *state_->trainer;
      std::vector<std::array<torch::Tensor, 3>> micro;
      for (auto& b : batches_) micro.push_back(b.tensors());
      if (mode_ == 0) m_ = t.step(micro);
      else if (mode_ == 1) m_ = t.evaluate(micro[0][0], micro[0][1], micro[0][2]);
      else if (mode_ == 2) probs_ = t.detect(micro[0][0], micro[0][1], micro[0][2]);
      else insp_ = t.inspect(micro[0][0], micro[0][1], micro[0][2]);
    }
    Napi::Value result(Napi::Env env) override {
      if (mode_ == 2) return tensorToJs(env, probs_);
      if (mode_ != 3) return metricsToJs(env, m_);
      auto o = Napi::Object::New(env);
      auto put = [&](const char* k, const torch::Tensor& t) {
        if (t.defined()) o.Set(k, tensorToJs(env, t.cpu()));
      };
      put("maskedInput", insp_.maskedInput);
      put("positions", insp_.positions);
      put("weights", insp_.weights);
      put("original", insp_.original);
      put("sampled", insp_.sampled);
      put("fakeInput", insp_.fakeInput);
      put("labels", insp_.labels.defined() ? insp_.labels.to(torch::kByte) : insp_.labels);
      put("generatorLogits", insp_.generatorLogits);
      put("discriminatorLogits", insp_.discriminatorLogits);
      o.Set("mlmLoss", insp_.mlm.item<double>());
      o.Set("rtdLoss", insp_.rtd.item<double>());
      o.Set("loss", insp_.loss.item<double>());
      return o;
    }

   private:
    std::vector<JsBatch> batches_;
    int mode_;
    StepMetrics m_;
    torch::Tensor probs_;
    Inspection insp_;
  };

  // step(batches[]) -> Promise<metrics>: one update, gradients accumulated over the batches.
  Napi::Value step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() == 0) throwJs(env, "ERR_INPUT", "step takes a non-empty array of batches");
    auto arr = info[0].As<Napi::Array>();
    std::vector<JsBatch> bs;
    for (uint32_t i = 0; i < arr.Length(); i++) bs.push_back(readBatch(env, arr.Get(i), "batches[" + std::to_string(i) + "]"));
    state_->acquire(env);
    return queue(new StepWorker(env, this, std::move(bs), 0));
  }
  Napi::Value evaluate(const Napi::CallbackInfo& info) { return single(info, 1); }
  Napi::Value detect(const Napi::CallbackInfo& info) { return single(info, 2); }
  Napi::Value inspect(const Napi::CallbackInfo& info) { return single(info, 3); }

  // optimizerInfo() -> [{name, decay}]: which parameters get weight decay.
  Napi::Value optimizerInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_->trainer) throwJs(env, "ERR_DISPOSED", "the trainer has been disposed");
    auto& ps = state_->trainer->optimizer().params();
    auto arr = Napi::Array::New(env, ps.size());
    for (size_t i = 0; i < ps.size(); i++) {
      auto o = Napi::Object::New(env);
      o.Set("name", ps[i].name);
      o.Set("decay", ps[i].decay);
      arr.Set(static_cast<uint32_t>(i), o);
    }
    return arr;
  }
  Napi::Value single(const Napi::CallbackInfo& info, int mode) {
    Napi::Env env = info.Env();
    std::vector<JsBatch> bs;
    bs.push_back(readBatch(env, info[0], "batch"));
    state_->acquire(env);
    return queue(new StepWorker(env, this, std::move(bs), mode));
  }

  class GetStateWorker : public Base {
   public:
    GetStateWorker(Napi::Env env, TrainerWrap* self, Part p) : Base(env, "electra:trainerState", self->state_, self->Value()), part_(p) {}

   protected:
    void run() override {
      auto& t = *state_->trainer;
      auto take = [&](const std::string& name, const torch::Tensor& v) {
        values_.emplace_back(name, v.detach().to(torch::kCPU, torch::kFloat).contiguous().clone());
      };
      if (part_ == Part::Optimizer) {
        for (auto& p : t.optimizer().params()) {
          const int64_t V = t.options().disc.vocab_size;
          take(p.name + ".exp_avg", vocabView(p.name, p.exp_avg, V));
          take(p.name + ".exp_avg_sq", vocabView(p.name, p.exp_avg_sq, V));
        }
        values_.emplace_back("__updates__", torch::tensor({t.optimizer().updates()}, torch::kLong));
        return;
      }
      check(part_ == Part::Generator || static_cast<bool>(t.discriminator()), "ERR_INPUT", "an MLM-objective run has no discriminator");
      auto& net = part_ == Part::Discriminator ? t.discriminator() : t.generator();
      for (auto& [name, v] : hfParameters(*net)) take(name, v);
    }
    Napi::Value result(Napi::Env env) override { return namedTensorsToJs(env, values_); }

   private:
    Part part_;
    std::vector<std::pair<std::string, torch::Tensor>> values_;
  };

  Napi::Value getState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto part = parsePart(env, info[0]);
    state_->acquire(env);
    return queue(new GetStateWorker(env, this, part));
  }

  class LoadStateWorker : public Base {
   public:
    LoadStateWorker(Napi::Env env, TrainerWrap* self, Part p, std::vector<std::pair<std::string, JsTensor>> v)
        : Base(env, "electra:trainerLoad", self->state_, self->Value()), part_(p), values_(std::move(v)) {}

   protected:
    void run() override {
      auto& t = *state_->trainer;
      if (part_ == Part::Optimizer) {
        std::map<std::string, const JsTensor*> byName;
        for (auto& [n, v] : values_) byName[n] = &v;
        torch::NoGradGuard ng;
        auto& params = t.optimizer().params();
        for (auto& p : params) {
          for (auto [suffix, dst] : {std::pair<const char*, torch::Tensor*>{".exp_avg", &p.exp_avg}, {".exp_avg_sq", &p.exp_avg_sq}}) {
            auto it = byName.find(p.name + suffix);
            check(it != byName.end(), "ERR_CHECKPOINT", "optimizer state lacks '", p.name, suffix, "'");
            auto v = it->second->copy().to(torch::kFloat);
            auto into = vocabView(p.name, *dst, t.options().disc.vocab_size);
            check(v.sizes() == into.sizes(), "ERR_CHECKPOINT", "optimizer state '", p.name, suffix, "' has shape ", v.sizes(),
                  ", expected ", into.sizes());
            into.copy_(v);
          }
        }
        auto it = byName.find("__updates__");
        check(it != byName.end(), "ERR_CHECKPOINT", "optimizer state lacks '__updates__'");
        t.optimizer().setUpdates(it->second->copy().to(torch::kLong).item<int64_t>());
        check(byName.size() == 2 * params.size() + 1, "ERR_CHECKPOINT", "optimizer state has ", byName.size(),
              " entries, expected ", 2 * params.size() + 1);
        return;
      }
      check(part_ == Part::Generator || static_cast<bool>(t.discriminator()), "ERR_INPUT", "an MLM-objective run has no discriminator");
      std::vector<std::pair<std::string, torch::Tensor>> vals;
      for (auto& [n, v] : values_) vals.emplace_back(n, v.copy().to(torch::kFloat));
      loadParameters(*(part_ == Part::Discriminator ? t.discriminator() : t.generator()), vals);
    }
    Napi::Value result(Napi::Env env) override { return env.Undefined(); }

   private:
    Part part_;
    std::vector<std::pair<std::string, JsTensor>> values_;
  };

  Napi::Value loadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto part = parsePart(env, info[0]);
    auto values = readNamedTensors(env, info[1]);
    state_->acquire(env);
    return queue(new LoadStateWorker(env, this, part, std::move(values)));
  }

  // getRng(which = 'cpu') -> {dtype: 'uint8', shape, data}: the state of the CPU default generator
  // (CPU training draws from it) or, with 'device', of the trainer's CUDA device's generator (CUDA
  // training draws masking, Gumbel noise and dropout from it), for exact resume.
  at::Generator rngFor(Napi::Env env, const Napi::Value& which) {
    const bool dev = which.IsString() && which.As<Napi::String>().Utf8Value() == "device";
    if (!dev) return at::globalContext().defaultGenerator(at::kCPU);
    if (!state_->trainer) throwJs(env, "ERR_DISPOSED", "the trainer has been disposed");
    auto d = state_->trainer->device();
    return at::globalContext().defaultGenerator(d.is_cuda() ? d : torch::Device(at::kCPU));
  }
  Napi::Value getRng(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_->busy) throwJs(env, "ERR_BUSY", "cannot read the random state while a step runs");
    auto g = rngFor(env, info[0]);
    std::lock_guard<std::mutex> lock(g.mutex());
    return tensorToJs(env, g.get_state());
  }
  Napi::Value setRng(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_->busy) throwJs(env, "ERR_BUSY", "cannot set the random state while a step runs");
    auto t = readJsTensor(env, info[0], "rng");
    auto gen = rngFor(env, info[1]);
    guarded(env, [&] {
      auto g = gen;
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_state(t.copy().to(torch::kByte));
    });
    return env.Undefined();
  }
  Napi::Value setStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_->trainer) throwJs(env, "ERR_DISPOSED", "the trainer has been disposed");
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int64Value() < 0) throwJs(env, "ERR_INPUT", "step must be a non-negative integer");
    state_->trainer->setSteps(info[0].As<Napi::Number>().Int64Value());
    return env.Undefined();
  }
  class AttachWorker : public Base {
   public:
    AttachWorker(Napi::Env env, TrainerWrap* self, std::shared_ptr<ProcessGroupHandle> pg)
        : Base(env, "electra:attach", self->state_, self->Value()), pg_(std::move(pg)) {}

   protected:
    void run() override { state_->trainer->attach(pg_); }
    Napi::Value result(Napi::Env env) override { return env.Undefined(); }

   private:
    std::shared_ptr<ProcessGroupHandle> pg_;
  };

  // attachProcessGroup(group) -> Promise: broadcasts rank 0's state, then averages gradients.
  Napi::Value attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto pg = unwrapProcessGroup(env, info[0]);
    state_->acquire(env);
    return queue(new AttachWorker(env, this, std::move(pg)));
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_->busy) throwJs(env, "ERR_BUSY", "cannot dispose while an operation is in flight; await it first");
    state_->trainer.reset();
    CachingCpuAllocator::instance().trim();
    return env.Undefined();
  }
};

class CreateTrainerWorker : public Worker {
 public:
  CreateTrainerWorker(Napi::Env env, PretrainOptions o, std::string device)
      : Worker(env, "electra:createTrainer"), o_(std::move(o)), device_(std::move(device)) {}

 protected:
  void run() override {
    auto dev = parseDevice(device_);
    state_ = std::make_shared<TrainerState>();
    state_->trainer = std::make_unique<Pretrainer>(o_, dev);
  }
  Napi::Value result(Napi::Env env) override {
    auto ext = Napi::External<std::shared_ptr<TrainerState>>::New(env, &state_);
    return addonData(env)->trainerCtor.New({ext});
  }

 private:
  PretrainOptions o_;
  std::string device_;
  std::shared_ptr<TrainerState> state_;
};

// createTrainer({discriminator, generator, objective, maskProb, rtdWeight, temperature,
//   special: {pad, cls, sep, mask}, lr, weightDecay, beta1, beta2, eps, biasCorrection,
//   warmupSteps, totalSteps, clipNorm, skipNonFinite, kernels, vocabMultiple, precision, device, seed})
Napi::Value CreateTrainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throwJs(env, "ERR_INPUT", "createTrainer takes an options object");
  auto o = info[0].As<Napi::Object>();
  PretrainOptions p;
  p.disc = readConfig(env, o.Get("discriminator"));
  std::string objective = o.Get("objective").IsString() ? o.Get("objective").As<Napi::String>().Utf8Value() : "electra";
  if (objective != "electra" && objective != "mlm") throwJs(env, "ERR_CONFIG", "objective must be 'electra' or 'mlm'");
  p.electra_objective = objective == "electra";
  if (p.electra_objective) p.gen = readConfig(env, o.Get("generator"));
  p.mask_prob = numOr(o, "maskProb", p.mask_prob);
  p.mask_fraction = numOr(o, "maskFraction", p.mask_fraction);
  p.rtd_weight = numOr(o, "rtdWeight", p.rtd_weight);
  p.temperature = numOr(o, "temperature", p.temperature);
  if (o.Get("special").IsObject()) {
    auto s = o.Get("special").As<Napi::Object>();
    p.special.pad = static_cast<int64_t>(numOr(s, "pad", 0));
    p.special.cls = static_cast<int64_t>(numOr(s, "cls", 101));
    p.special.sep = static_cast<int64_t>(numOr(s, "sep", 102));
    p.special.mask = static_cast<int64_t>(numOr(s, "mask", 103));
  }
  p.adam.lr = numOr(o, "lr", p.adam.lr);
  p.adam.weight_decay = numOr(o, "weightDecay", p.adam.weight_decay);
  p.adam.beta1 = numOr(o, "beta1", p.adam.beta1);
  p.adam.beta2 = numOr(o, "beta2", p.adam.beta2);
  p.adam.eps = numOr(o, "eps", p.adam.eps);
  p.adam.bias_correction = o.Get("biasCorrection").ToBoolean();
  p.adam.warmup_steps = static_cast<int64_t>(numOr(o, "warmupSteps", static_cast<double>(p.adam.warmup_steps)));
  p.adam.total_steps = static_cast<int64_t>(numOr(o, "totalSteps", static_cast<double>(p.adam.total_steps)));
  p.adam.clip_norm = numOr(o, "clipNorm", p.adam.clip_norm);
  p.skip_nonfinite = o.Get("skipNonFinite").ToBoolean();
  p.kernels = readKernels(env, o.Get("kernels"));
  p.vocab_multiple = static_cast<int64_t>(numOr(o, "vocabMultiple", 0));
  if (p.vocab_multiple < 0 || p.vocab_multiple > 4096) throwJs(env, "ERR_CONFIG", "vocabMultiple must be in [0, 4096]");
  if (o.Get("precision").IsString()) p.precision = o.Get("precision").As<Napi::String>().Utf8Value();
  if (p.precision != "fp32" && p.precision != "bf16" && p.precision != "fp16")
    throwJs(env, "ERR_CONFIG", "precision must be fp32, bf16 or fp16");
  p.seed = static_cast<uint64_t>(numOr(o, "seed", 0));
  if (!(p.mask_prob > 0 && p.mask_prob < 1)) throwJs(env, "ERR_CONFIG", "maskProb must be in (0, 1)");
  if (!(p.adam.lr >= 0)) throwJs(env, "ERR_CONFIG", "lr must be >= 0");
  if (!(p.temperature > 0)) throwJs(env, "ERR_CONFIG", "temperature must be > 0");
  std::string device = o.Get("device").IsString() ? o.Get("device").As<Napi::String>().Utf8Value() : "cpu";
  return queue(new CreateTrainerWorker(env, std::move(p), device));
}

}  // namespace

void initTrainer(Napi::Env env, Napi::Object exports) {
  auto ctor = TrainerWrap::define(env);
  addonData(env)->trainerCtor = Napi::Persistent(ctor);
  exports.Set("NativeTrainer", ctor);
  exports.Set("createTrainer", Napi::Function::New(env, CreateTrainer, "createTrainer"));
}

}  // namespace electra
