// Kernel profile for benchmarks: libtorch's Kineto profiler around any calls of the process's
// numeric work, summed by kernel name. On CUDA it lists the GPU kernels (and copies) with their
// device time, the figure that says where a GPU-bound step goes; on the CPU it lists the ATen
// operators with their time including the operators they call (so the shares overlap).
//
//   profileStart({shapes?}) -> Promise<void>
//   profileStop()           -> Promise<{device: 'cuda' | 'cpu', totalMs, entries: [{name, ms, count}]}>
//
// shapes (bench/op-census.cjs): CPU operators are summed by name and input shapes,
// "aten::copy_ [[768, 2304], [768, 2304]]", to tell which call sites they come from.
//
// The profiler is per thread: it records the executor thread (all jobs run there) and the
// threads autograd starts from it. With the executor setting off, jobs run on several threads, so
// profileStart refuses (ERR_CONFIG). CUDA graph replays are one launch to the profiler:
// profile eager steps.
#include <torch/csrc/autograd/profiler_kineto.h>
#include <map>
#include "binding/addon.h"
#include "binding/convert.h"

namespace electra {
namespace {

namespace prof = torch::profiler::impl;
namespace kin = torch::autograd::profiler;

// Main thread only. Jobs reach the executor from Node's pool threads in no fixed order, so a
// start or stop is refused while the other is still on its way: each changes the state only when
// it has finished.
enum class State { Idle, Starting, On, Stopping };
State g_state = State::Idle;

// Whether the profile being recorded keeps input shapes (profileStart's `shapes`; main thread).
bool g_shapes = false;
prof::ProfilerConfig config() { return prof::ProfilerConfig(prof::ProfilerState::KINETO, g_shapes); }
std::string shapesOf(const torch::autograd::profiler::KinetoEvent& e, bool withShapes) {
  if (!withShapes || !e.hasShapes()) return "";
  std::string s = " [";
  const auto shapes = e.shapes();
  for (size_t i = 0; i < shapes.size(); i++) {
    s += i ? ", [" : "[";
    for (size_t j = 0; j < shapes[i].size(); j++) s += (j ? ", " : "") + std::to_string(shapes[i][j]);
    s += "]";
  }
  return s + "]";
}
std::set<prof::ActivityType> activities() {
  std::set<prof::ActivityType> acts{prof::ActivityType::CPU};
  if (torch::cuda::is_available()) acts.insert(prof::ActivityType::CUDA);
  return acts;
}

class ProfileStartWorker : public Worker {
 public:
  explicit ProfileStartWorker(Napi::Env env) : Worker(env, "electra:profileStart") {}

 protected:
  void run() override {
    kin::enableProfiler(config(), activities());
    started_ = true;
  }
  Napi::Value result(Napi::Env env) override { return env.Undefined(); }
  void finished() override { g_state = started_ ? State::On : State::Idle; }

 private:
  bool started_ = false;
};

class ProfileStopWorker : public Worker {
 public:
  explicit ProfileStopWorker(Napi::Env env) : Worker(env, "electra:profileStop"), shapes_(g_shapes) {}

 protected:
  struct Sum {
    double ns = 0;
    int64_t count = 0;
  };
  void run() override {
    auto res = kin::disableProfiler();
    std::map<std::string, Sum> cpu, dev;
    for (const auto& e : res->events()) {
      if (e.isHiddenEvent()) continue;
      auto& m = e.deviceType() == c10::DeviceType::CUDA ? dev : cpu;
      auto& s = m[e.deviceType() == c10::DeviceType::CUDA ? e.name() : e.name() + shapesOf(e, shapes_)];
      s.ns += static_cast<double>(e.durationNs());
      s.count++;
    }
    // Ranges named on the host (record_function, the optimizer's in PyTorch) also appear as
    // GPU-side spans around the kernels they hold: kernels only, so nothing counts twice.
    for (auto it = dev.begin(); it != dev.end();) it = cpu.count(it->first) ? dev.erase(it) : std::next(it);
    device_ = dev.empty() ? "cpu" : "cuda";
    for (auto& [name, s] : dev.empty() ? cpu : dev) {
      entries_.push_back({name, s});
      if (!dev.empty()) total_ += s.ns;
    }
    std::sort(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
    if (dev.empty()) {
      // CPU operators nest (aten::linear holds aten::addmm): the total is the largest entry's.
      total_ = entries_.empty() ? 0 : entries_.front().second.ns;
    }
  }
  void finished() override { g_state = State::Idle; }  // a stop that failed leaves it unknown: start again
  Napi::Value result(Napi::Env env) override {
    auto o = Napi::Object::New(env);
    o.Set("device", device_);
    o.Set("totalMs", total_ / 1e6);
    auto a = Napi::Array::New(env, entries_.size());
    for (size_t i = 0; i < entries_.size(); i++) {
      auto e = Napi::Object::New(env);
      e.Set("name", entries_[i].first);
      e.Set("ms", entries_[i].second.ns / 1e6);
      e.Set("count", static_cast<double>(entries_[i].second.count));
      a.Set(static_cast<uint32_t>(i), e);
    }
    o.Set("entries", a);
    return o;
  }

 private:
  bool shapes_;
  std::string device_;
  double total_ = 0;
  std::vector<std::pair<std::string, Sum>> entries_;
};

Napi::Value ProfileStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!executorEnabled())
    throwJs(env, "ERR_CONFIG", "profileStart: the profiler records the executor thread, which the executor setting (ELECTRA_EXECUTOR=0) turns off");
  if (g_state != State::Idle)
    throwJs(env, "ERR_INPUT", g_state == State::Stopping ? "profileStart: the last profile is still being stopped (await profileStop first)"
                                                         : "profileStart: a profile is already being recorded (call profileStop first)");
  bool shapes = false;
  if (info.Length() > 0 && info[0].IsObject()) shapes = optionalBool(env, info[0].As<Napi::Object>(), "shapes").value_or(false);
  g_shapes = shapes;
  // Kineto initialises its client on the thread that registered it (the one that loaded
  // libtorch, this one), and only there: prepare here, record on the executor.
  guarded(env, [] { kin::prepareProfiler(config(), activities()); });
  g_state = State::Starting;
  return queue(new ProfileStartWorker(env));
}

Napi::Value ProfileStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g_state == State::Starting) throwJs(env, "ERR_INPUT", "profileStop: the profile is still starting (await profileStart first)");
  if (g_state != State::On) throwJs(env, "ERR_INPUT", "profileStop: no profile is being recorded (call profileStart first)");
  g_state = State::Stopping;
  return queue(new ProfileStopWorker(env));
}

}  // namespace

void initProfile(Napi::Env env, Napi::Object exports) {
  exports.Set("profileStart", Napi::Function::New(env, ProfileStart, "profileStart"));
  exports.Set("profileStop", Napi::Function::New(env, ProfileStop, "profileStop"));
}

}  // namespace electra
