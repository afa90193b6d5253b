// NativeProcessGroup: a c10d process group (TCPStore rendezvous + Gloo) behind Promises; every
// collective may wait on other processes, so none runs on the JS thread.
#include "binding/addon.h"
#include "binding/convert.h"
#include "dist/dist.h"

namespace electra {

struct GroupState {
  std::shared_ptr<ProcessGroupHandle> pg;
  bool busy = false;
};

namespace {

class GroupWrap : public Napi::ObjectWrap<GroupWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeProcessGroup",
                       {InstanceMethod<&GroupWrap::allreduceMax>("allreduceMax"), InstanceMethod<&GroupWrap::barrier>("barrier"),
                        InstanceMethod<&GroupWrap::dispose>("dispose"), InstanceAccessor<&GroupWrap::rankGetter>("rank"),
                        InstanceAccessor<&GroupWrap::worldGetter>("world")});
  }
  explicit GroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GroupWrap>(info) {
    if (!info[0].IsExternal()) throwJs(info.Env(), "ERR_INPUT", "use createProcessGroup()");
    state_ = *info[0].As<Napi::External<std::shared_ptr<GroupState>>>().Data();
  }
  std::shared_ptr<GroupState> state_;

 private:
  Napi::Value rankGetter(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), state_->pg ? state_->pg->rank() : -1); }
  Napi::Value worldGetter(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), state_->pg ? state_->pg->world() : 0); }

  void acquire(Napi::Env env) {
    if (!state_->pg) throwJs(env, "ERR_DISPOSED", "the process group has been disposed");
    if (state_->busy) throwJs(env, "ERR_BUSY", "another collective is in flight on this process group");
    state_->busy = true;
  }

  class Op : public StateWorker<GroupState> {
   public:
    Op(Napi::Env env, GroupWrap* self, int kind, double v) : StateWorker(env, "electra:collective", self->state_, self->Value()), kind_(kind), v_(v) {}

   protected:
    void run() override {
      if (kind_ == 0) v_ = state_->pg->allreduceMax(v_);
      else state_->pg->barrier();
    }
    Napi::Value result(Napi::Env env) override { return kind_ == 0 ? Napi::Number::New(env, v_) : env.Undefined(); }

   private:
    int kind_;
    double v_;
  };

  // allreduceMax(x) -> Promise<max over ranks>: how ranks agree to stop, to save, ...
  Napi::Value allreduceMax(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) throwJs(env, "ERR_INPUT", "allreduceMax takes a number");
    acquire(env);
    return queue(new Op(env, this, 0, info[0].As<Napi::Number>().DoubleValue()));
  }
  Napi::Value barrier(const Napi::CallbackInfo& info) {
    acquire(info.Env());
    return queue(new Op(info.Env(), this, 1, 0));
  }
  Napi::Value dispose(const Napi::CallbackInfo& info) {
    if (state_->busy) throwJs(info.Env(), "ERR_BUSY", "cannot dispose while a collective is in flight");
    state_->pg.reset();
    return info.Env().Undefined();
  }
};

class CreateGroupWorker : public Worker {
 public:
  CreateGroupWorker(Napi::Env env, DistOptions o) : Worker(env, "electra:createProcessGroup"), o_(std::move(o)) {}

 protected:
  // The rendezvous waits for the other ranks, minutes if they start late: not on the executor.
  bool onExecutor() const override { return false; }
  void run() override {
    state_ = std::make_shared<GroupState>();
    state_->pg = std::make_shared<ProcessGroupHandle>(o_);
  }
  Napi::Value result(Napi::Env env) override {
    auto ext = Napi::External<std::shared_ptr<GroupState>>::New(env, &state_);
    return addonData(env)->groupCtor.New({ext});
  }

 private:
  DistOptions o_;
  std::shared_ptr<GroupState> state_;
};

// createProcessGroup({rank, world, addr, port, timeoutMs, backend}) -> Promise<NativeProcessGroup>
Napi::Value CreateProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throwJs(env, "ERR_CONFIG", "createProcessGroup takes an options object");
  auto o = info[0].As<Napi::Object>();
  DistOptions d;
  auto num = [&](const char* k, double dflt) {
    Napi::Value v = o.Get(k);
    if (v.IsUndefined()) return dflt;
    if (!v.IsNumber()) throwJs(env, "ERR_CONFIG", std::string(k) + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  };
  d.rank = static_cast<int>(num("rank", 0));
  d.world = static_cast<int>(num("world", 1));
  d.port = static_cast<int>(num("port", 29500));
  d.timeout_ms = static_cast<int64_t>(num("timeoutMs", 1800000));
  if (o.Get("addr").IsString()) d.addr = o.Get("addr").As<Napi::String>().Utf8Value();
  if (o.Get("backend").IsString()) d.backend = o.Get("backend").As<Napi::String>().Utf8Value();
  d.device = static_cast<int>(num("device", -1));
  if (!distributedAvailable()) {
    std::string code, msg;
    runMapped([&] { ProcessGroupHandle h(d); }, code, msg);
    throwJs(env, code, msg);
  }
  return queue(new CreateGroupWorker(env, d));
}

}  // namespace

std::shared_ptr<ProcessGroupHandle> unwrapProcessGroup(Napi::Env env, Napi::Value v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addonData(env)->groupCtor.Value()))
    throwJs(env, "ERR_INPUT", "expected a NativeProcessGroup");
  auto* w = GroupWrap::Unwrap(v.As<Napi::Object>());
  if (!w->state_->pg) throwJs(env, "ERR_DISPOSED", "the process group has been disposed");
  return w->state_->pg;
}

void initDist(Napi::Env env, Napi::Object exports) {
  auto ctor = GroupWrap::define(env);
  addonData(env)->groupCtor = Napi::Persistent(ctor);
  exports.Set("NativeProcessGroup", ctor);
  exports.Set("createProcessGroup", Napi::Function::New(env, CreateProcessGroup, "createProcessGroup"));
  exports.Set("distributedAvailable", Napi::Boolean::New(env, distributedAvailable()));
  auto backends = Napi::Array::New(env);
  for (const auto& b : distributedBackends()) backends.Set(backends.Length(), b);
  exports.Set("distributedBackends", backends);
}

}  // namespace electra
