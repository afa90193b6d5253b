// Model: one ELECTRA network with one HF head. Every heavy call runs in a Worker and returns a
// Promise; one operation in flight per model (ERR_BUSY); dispose() frees it (ERR_DISPOSED after).
#include "binding/addon.h"
#include "binding/config_js.h"
#include "binding/model_state.h"
#include "model/ops.h"
#include "model/autocast.h"
#include "train/cpu_cache.h"

namespace electra {

static int64_t getInt(Napi::Env env, Napi::Object o, const char* k, int64_t dflt) {
  Napi::Value v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throwJs(env, "ERR_CONFIG", std::string("config.") + k + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)))
    throwJs(env, "ERR_CONFIG", std::string("config.") + k + " must be an integer");
  return static_cast<int64_t>(d);
}
static double getNum(Napi::Env env, Napi::Object o, const char* k, double dflt) {
  Napi::Value v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throwJs(env, "ERR_CONFIG", std::string("config.") + k + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

Config readConfig(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) throwJs(env, "ERR_CONFIG", "config must be an object");
  auto o = v.As<Napi::Object>();
  Config c;
  c.vocab_size = getInt(env, o, "vocab_size", c.vocab_size);
  c.embedding_size = getInt(env, o, "embedding_size", c.embedding_size);
  c.hidden_size = getInt(env, o, "hidden_size", c.hidden_size);
  c.num_hidden_layers = getInt(env, o, "num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = getInt(env, o, "num_attention_heads", c.num_attention_heads);
  c.intermediate_size = getInt(env, o, "intermediate_size", c.intermediate_size);
  c.max_position_embeddings = getInt(env, o, "max_position_embeddings", c.max_position_embeddings);
  c.type_vocab_size = getInt(env, o, "type_vocab_size", c.type_vocab_size);
  c.pad_token_id = getInt(env, o, "pad_token_id", c.pad_token_id);
  c.num_labels = getInt(env, o, "num_labels", c.num_labels);
  c.hidden_dropout_prob = getNum(env, o, "hidden_dropout_prob", c.hidden_dropout_prob);
  c.attention_probs_dropout_prob = getNum(env, o, "attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  c.classifier_dropout = getNum(env, o, "classifier_dropout", c.classifier_dropout);
  c.layer_norm_eps = getNum(env, o, "layer_norm_eps", c.layer_norm_eps);
  c.initializer_range = getNum(env, o, "initializer_range", c.initializer_range);
  Napi::Value act = o.Get("hidden_act");
  if (act.IsString()) c.hidden_act = act.As<Napi::String>().Utf8Value();
  guarded(env, [&] {
    c.validate();
    (void)activation(c.hidden_act, torch::zeros({1}));
  });
  return c;
}

bool ModelState::acquire(Napi::Env env) {
  if (!net) throwJs(env, "ERR_DISPOSED", "the model has been disposed");
  if (busy) throwJs(env, "ERR_BUSY", "another operation is in flight on this model; await it first");
  busy = true;
  return true;
}

namespace {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod<&ModelWrap::forward>("forward"),
                        InstanceMethod<&ModelWrap::parameters>("parameters"),
                        InstanceMethod<&ModelWrap::loadState>("loadState"),
                        InstanceMethod<&ModelWrap::getState>("getState"),
                        InstanceMethod<&ModelWrap::dispose>("dispose"),
                        InstanceMethod<&ModelWrap::setupTraining>("setupTraining"),
                        InstanceMethod<&ModelWrap::trainStep>("trainStep"),
                        InstanceAccessor<&ModelWrap::busyGetter>("busy"),
                        InstanceAccessor<&ModelWrap::deviceGetter>("device"),
                        InstanceAccessor<&ModelWrap::headGetter>("head")});
  }
  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    if (!info[0].IsExternal()) throwJs(info.Env(), "ERR_INPUT", "use createModel()");
    state_ = *info[0].As<Napi::External<std::shared_ptr<ModelState>>>().Data();
  }

 private:
  std::shared_ptr<ModelState> state_;

  Napi::Value busyGetter(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), state_->busy); }
  Napi::Value deviceGetter(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), state_->device.str()); }
  Napi::Value headGetter(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), headName(state_->head)); }

  class ModelWorker : public StateWorker<ModelState> {
   public:
    ModelWorker(Napi::Env env, const char* name, ModelWrap* self) : StateWorker(env, name, self->state_, self->Value()) {}
  };

  class ForwardWorker : public ModelWorker {
   public:
    ForwardWorker(Napi::Env env, ModelWrap* self, JsBatch b, bool hidden, std::string precision)
        : ModelWorker(env, "electra:forward", self), batch_(std::move(b)), hidden_(hidden), precision_(std::move(precision)) {}

   protected:
    void run() override {
      c10::InferenceMode im;
      // Large activations reuse cached blocks instead of fresh pages on every call (a model that
      // serves many calls); the cache is returned when the model is disposed.
      CachingCpuAllocator::Scope cache;
      auto& s = *state_;
      auto [ids, types, mask] = batch_.tensors();
      checkInputs(ids, types, mask, s.cfg);
      s.net->eval();
      {
        AutocastScope ac(precision_, s.device, /*cpuToo=*/true);
        out_ = s.net->forward(ids.to(s.device), types.to(s.device), mask.to(s.device), hidden_, hasPadding(mask));
      }
      auto cpu = [](torch::Tensor& t) {
        if (t.defined()) t = t.to(torch::kCPU, torch::kFloat).contiguous();
      };
      cpu(out_.hidden), cpu(out_.discriminator), cpu(out_.generator), cpu(out_.classification), cpu(out_.tokens),
          cpu(out_.start), cpu(out_.end);
    }
    Napi::Value result(Napi::Env env) override {
      auto o = Napi::Object::New(env);
      auto put = [&](const char* k, const torch::Tensor& t) {
        if (t.defined()) o.Set(k, tensorToJs(env, t));
      };
      put("hidden", out_.hidden);
      put("discriminator", out_.discriminator);
      put("generator", out_.generator);
      put("classification", out_.classification);
      put("tokens", out_.tokens);
      put("start", out_.start);
      put("end", out_.end);
      return o;
    }

   private:
    JsBatch batch_;
    bool hidden_;
    std::string precision_;
    Outputs out_;
  };

  // forward({inputIds, tokenTypeIds, attentionMask, shape}, {hidden, precision}) -> Promise<outputs>
  // precision: "fp32" (default) or "bf16" (autocast on the model's device, CPU or CUDA).
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto jb = readBatch(env, info[0], "batch");
    bool hidden = false;
    std::string precision = "fp32";
    if (info[1].IsObject()) {
      auto o = info[1].As<Napi::Object>();
      hidden = o.Get("hidden").ToBoolean();
      auto p = o.Get("precision");
      if (!p.IsUndefined()) {
        if (!p.IsString()) throwJs(env, "ERR_CONFIG", "precision must be 'fp32' or 'bf16'");
        precision = p.As<Napi::String>().Utf8Value();
        if (precision != "fp32" && precision != "bf16") throwJs(env, "ERR_CONFIG", "precision must be 'fp32' or 'bf16', got '" + precision + "'");
      }
    }
    state_->acquire(env);
    return queue(new ForwardWorker(env, this, std::move(jb), hidden, std::move(precision)));
  }

  // parameters() -> [{name, shape}] in the model's order (HF names).
  Napi::Value parameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_->net) throwJs(env, "ERR_DISPOSED", "the model has been disposed");
    auto params = hfParameters(*state_->net);
    auto arr = Napi::Array::New(env, params.size());
    for (size_t i = 0; i < params.size(); i++) {
      auto o = Napi::Object::New(env);
      o.Set("name", params[i].first);
      auto shape = Napi::Array::New(env);
      for (int64_t d = 0; d < params[i].second.dim(); d++) shape.Set(static_cast<uint32_t>(d), static_cast<double>(params[i].second.size(d)));
      o.Set("shape", shape);
      arr.Set(static_cast<uint32_t>(i), o);
    }
    return arr;
  }

  class LoadWorker : public ModelWorker {
   public:
    LoadWorker(Napi::Env env, ModelWrap* self, std::vector<std::pair<std::string, JsTensor>> v)
        : ModelWorker(env, "electra:load", self), values_(std::move(v)) {}

   protected:
    void run() override {
      std::vector<std::pair<std::string, torch::Tensor>> vals;
      vals.reserve(values_.size());
      for (auto& [name, t] : values_) {
        check(t.dtype == torch::kFloat || t.dtype == torch::kHalf || t.dtype == torch::kBFloat16, "ERR_CHECKPOINT", "weight '",
              name, "' has a non-float dtype");
        vals.emplace_back(name, t.copy().to(torch::kFloat));
      }
      loadParameters(*state_->net, vals);
    }
    Napi::Value result(Napi::Env env) override { return env.Undefined(); }

   private:
    std::vector<std::pair<std::string, JsTensor>> values_;
  };

  // loadState([{name, dtype, shape, data}]) -> Promise<void>
  Napi::Value loadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto values = readNamedTensors(env, info[0]);
    state_->acquire(env);
    return queue(new LoadWorker(env, this, std::move(values)));
  }

  class GetStateWorker : public ModelWorker {
   public:
    GetStateWorker(Napi::Env env, ModelWrap* self) : ModelWorker(env, "electra:state", self) {}

   protected:
    void run() override {
      for (auto& [name, t] : hfParameters(*state_->net)) values_.emplace_back(name, t.detach().to(torch::kCPU, torch::kFloat).contiguous().clone());
    }
    Napi::Value result(Napi::Env env) override { return namedTensorsToJs(env, values_); }

   private:
    std::vector<std::pair<std::string, torch::Tensor>> values_;
  };

  Napi::Value getState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    state_->acquire(env);
    return queue(new GetStateWorker(env, this));
  }


  // setupTraining({lr, weightDecay, beta1, beta2, eps, biasCorrection, warmupSteps, totalSteps, clipNorm,
  //                lrScales: number[], precision, skipNonFinite, seed, kernels: {customKernels?, fusedAdamW?}}):
  // a fresh optimizer for fine-tuning.
  Napi::Value setupTraining(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_->net) throwJs(env, "ERR_DISPOSED", "the model has been disposed");
    if (state_->busy) throwJs(env, "ERR_BUSY", "another operation is in flight on this model; await it first");
    if (!info[0].IsObject()) throwJs(env, "ERR_CONFIG", "setupTraining takes an options object");
    auto o = info[0].As<Napi::Object>();
    FinetuneOptions fo;
    fo.adam.lr = getNum(env, o, "lr", 1e-4);
    fo.adam.weight_decay = getNum(env, o, "weightDecay", 0.01);
    fo.adam.beta1 = getNum(env, o, "beta1", 0.9);
    fo.adam.beta2 = getNum(env, o, "beta2", 0.999);
    fo.adam.eps = getNum(env, o, "eps", 1e-6);
    fo.adam.bias_correction = o.Get("biasCorrection").ToBoolean();
    fo.adam.warmup_steps = getInt(env, o, "warmupSteps", 0);
    fo.adam.total_steps = getInt(env, o, "totalSteps", 0);
    fo.adam.clip_norm = getNum(env, o, "clipNorm", 1.0);
    fo.skip_nonfinite = o.Get("skipNonFinite").ToBoolean();
    if (Napi::Value k = o.Get("kernels"); !k.IsUndefined()) {
      if (!k.IsObject()) throwJs(env, "ERR_CONFIG", "kernels must be an object");
      fo.custom_kernels = optionalBool(env, k.As<Napi::Object>(), "customKernels", "kernels.");
      if (auto f = optionalBool(env, k.As<Napi::Object>(), "fusedAdamW", "kernels.")) fo.adam.fused = *f;
    }
    if (o.Get("precision").IsString()) fo.precision = o.Get("precision").As<Napi::String>().Utf8Value();
    Napi::Value sc = o.Get("lrScales");
    if (sc.IsArray()) {
      auto a = sc.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value v = a.Get(i);
        if (!v.IsNumber()) throwJs(env, "ERR_CONFIG", "lrScales must be numbers");
        double d = v.As<Napi::Number>().DoubleValue();
        if (!(d >= 0) || !std::isfinite(d)) throwJs(env, "ERR_CONFIG", "lrScales must be finite and >= 0");
        fo.lr_scales.push_back(d);
      }
    }
    int64_t seed = getInt(env, o, "seed", -1);
    guarded(env, [&] {
      if (seed >= 0) torch::manual_seed(static_cast<uint64_t>(seed));
      Targets none;
      if (state_->head != Head::SequenceClassification && state_->head != Head::TokenClassification &&
          state_->head != Head::QuestionAnswering)
        checkTargets(*state_->net, none, 1, 1);  // throws ERR_CONFIG naming the head
      state_->tuner = std::make_unique<Finetuner>(state_->net, state_->device, fo);
    });
    return env.Undefined();
  }

  class TrainStepWorker : public ModelWorker {
   public:
    TrainStepWorker(Napi::Env env, ModelWrap* self, JsBatch b, JsTensor labels, JsTensor start, JsTensor end, bool hasLabels,
                    bool hasSpan)
        : ModelWorker(env, "electra:finetune-step", self),
          batch_(std::move(b)),
          labels_(std::move(labels)),
          start_(std::move(start)),
          end_(std::move(end)),
          hasLabels_(hasLabels),
          hasSpan_(hasSpan) {}

   protected:
    void run() override {
      auto& s = *state_;
      check(s.tuner != nullptr, "ERR_CONFIG", "call setupTraining() before trainStep()");
      auto [ids, types, mask] = batch_.tensors();
      Targets t;
      auto asTarget = [](const JsTensor& j) {
        auto x = j.copy();
        return x.is_floating_point() ? x.to(torch::kFloat) : x.to(torch::kLong);
      };
      if (hasLabels_) t.labels = asTarget(labels_);
      if (hasSpan_) t.start = asTarget(start_), t.end = asTarget(end_);
      m_ = s.tuner->step(ids, types, mask, t);
    }
    Napi::Value result(Napi::Env env) override {
      auto o = Napi::Object::New(env);
      o.Set("loss", m_.loss);
      o.Set("gradNorm", m_.grad_norm);
      o.Set("lr", m_.lr);
      o.Set("step", static_cast<double>(m_.step));
      o.Set("skipped", m_.skipped);
      return o;
    }

   private:
    JsBatch batch_;
    JsTensor labels_, start_, end_;
    bool hasLabels_, hasSpan_;
    FinetuneMetrics m_;
  };

  // trainStep(batch, {labels?, start?, end?}) -> Promise<{loss, gradNorm, lr, step, skipped}>
  Napi::Value trainStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto jb = readBatch(env, info[0], "batch");
    if (!info[1].IsObject()) throwJs(env, "ERR_INPUT", "trainStep needs targets {labels} or {start, end}");
    auto o = info[1].As<Napi::Object>();
    bool hasLabels = !o.Get("labels").IsUndefined(), hasSpan = !o.Get("start").IsUndefined();
    JsTensor labels, start, end;
    if (hasLabels) labels = readJsTensor(env, o.Get("labels"), "targets.labels");
    if (hasSpan) {
      start = readJsTensor(env, o.Get("start"), "targets.start");
      end = readJsTensor(env, o.Get("end"), "targets.end");
    }
    if (!state_->tuner) throwJs(env, "ERR_CONFIG", "call setupTraining() before trainStep()");
    state_->acquire(env);
    return queue(new TrainStepWorker(env, this, std::move(jb), std::move(labels), std::move(start), std::move(end), hasLabels, hasSpan));
  }

  // dispose(): frees the network now; repeatable.
  Napi::Value dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_->busy) throwJs(env, "ERR_BUSY", "cannot dispose while an operation is in flight; await it first");
    bool had = static_cast<bool>(state_->net);
    state_->release();
    if (had) CachingCpuAllocator::instance().trim();
    return env.Undefined();
  }
};

class CreateWorker : public Worker {
 public:
  CreateWorker(Napi::Env env, Config c, Head h, std::string device, int64_t seed)
      : Worker(env, "electra:create"), cfg_(std::move(c)), head_(h), device_(std::move(device)), seed_(seed) {}

 protected:
  void run() override {
    auto dev = parseDevice(device_);
    if (seed_ >= 0) torch::manual_seed(static_cast<uint64_t>(seed_));
    state_ = std::make_shared<ModelState>(cfg_, head_, dev);
    initWeights(*state_->net, cfg_);
    state_->net->to(dev);
  }
  Napi::Value result(Napi::Env env) override {
    auto ext = Napi::External<std::shared_ptr<ModelState>>::New(env, &state_);
    return addonData(env)->modelCtor.New({ext});
  }

 private:
  Config cfg_;
  Head head_;
  std::string device_;
  int64_t seed_;
  std::shared_ptr<ModelState> state_;
};

// createModel({config, head, device, seed}) -> Promise<NativeModel>
Napi::Value CreateModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throwJs(env, "ERR_INPUT", "createModel takes an options object");
  auto o = info[0].As<Napi::Object>();
  auto cfg = readConfig(env, o.Get("config"));
  std::string head = o.Get("head").IsString() ? o.Get("head").As<Napi::String>().Utf8Value() : "none";
  auto h = guarded(env, [&] { return parseHead(head); });
  std::string device = o.Get("device").IsString() ? o.Get("device").As<Napi::String>().Utf8Value() : "cpu";
  int64_t seed = o.Get("seed").IsNumber() ? o.Get("seed").As<Napi::Number>().Int64Value() : -1;
  return queue(new CreateWorker(env, cfg, h, device, seed));
}

}  // namespace

void initModel(Napi::Env env, Napi::Object exports) {
  auto ctor = ModelWrap::define(env);
  addonData(env)->modelCtor = Napi::Persistent(ctor);
  exports.Set("NativeModel", ctor);
  exports.Set("createModel", Napi::Function::New(env, CreateModel, "createModel"));
}

}  // namespace electra
