// Addon entry: runtime facts, the process's settings, thread settings, and a first numeric
// function (matmul).
#include <torch/version.h>
#include <mutex>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "binding/addon.h"
#include "binding/convert.h"
#include "settings.h"
#include "train/cpu_cache.h"
#ifdef ELECTRA_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace electra {
Napi::Object Init(Napi::Env env, Napi::Object exports);

void applySettings(const Settings& s) {
  // From JavaScript threads (configure() and Init); the side effects run when their setting changes.
  static std::mutex mu;
  static std::optional<Settings> applied;
  std::lock_guard<std::mutex> lock(mu);
  storeSettings(s);
  if (!applied || applied->cpuCache != s.cpuCache) useCpuCache(s.cpuCache);
  if (!applied || applied->sdpaCudnn != s.sdpaCudnn) at::globalContext().setSDPUseCuDNN(s.sdpaCudnn);
  applied = s;
}

namespace {

Napi::Object settingsToJs(Napi::Env env, const Settings& s) {
  auto o = Napi::Object::New(env);
  o.Set("executor", s.executor);
  o.Set("cpuCache", s.cpuCache);
  o.Set("parallelRng", s.parallelRng);
  o.Set("sdpaCudnn", s.sdpaCudnn);
  o.Set("customKernels", s.customKernels);
  return o;
}

// configure({executor?, cpuCache?, parallelRng?, sdpaCudnn?, customKernels?}) -> the settings now
// in force. The process's settings (settings.h; docs/switches.md): src/runtime.ts calls it when
// the addon loads, with the environment's overrides, and from runtime.configure().
Napi::Value Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Settings s = settings();
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsObject()) throwJs(env, "ERR_CONFIG", "configure takes an object");
    auto o = info[0].As<Napi::Object>();
    if (auto b = optionalBool(env, o, "executor")) s.executor = *b;
    if (auto b = optionalBool(env, o, "cpuCache")) s.cpuCache = *b;
    if (auto b = optionalBool(env, o, "parallelRng")) s.parallelRng = *b;
    if (auto b = optionalBool(env, o, "sdpaCudnn")) s.sdpaCudnn = *b;
    if (auto b = optionalBool(env, o, "customKernels")) s.customKernels = *b;
    guarded(env, [&] { applySettings(s); });
  }
  return settingsToJs(env, s);
}

Napi::Value Runtime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("libtorchVersion", TORCH_VERSION);
  o.Set("buildFlags", ELECTRA_BUILD_FLAGS);
#ifdef ELECTRA_WITH_CUDA
  o.Set("cudaBuild", true);
#else
  o.Set("cudaBuild", false);
#endif
  bool cuda = torch::cuda::is_available();
  o.Set("cudaAvailable", cuda);
  auto count = cuda ? static_cast<int>(torch::cuda::device_count()) : 0;
  o.Set("deviceCount", count);
  auto names = Napi::Array::New(env);
#ifdef ELECTRA_WITH_CUDA
  for (int i = 0; i < count; i++) names.Set(static_cast<uint32_t>(i), at::cuda::getDeviceProperties(i)->name);
#endif
  o.Set("deviceNames", names);
  o.Set("threads", at::get_num_threads());
  o.Set("interopThreads", at::get_num_interop_threads());
  o.Set("executor", executorEnabled());
  o.Set("mkldnn", at::hasMKLDNN());
  o.Set("parallelInfo", at::get_parallel_info());
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throwJs(env, "ERR_INPUT", "threads must be a positive integer");
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throwJs(env, "ERR_INPUT", "threads must be a positive integer");
  guarded(env, [&] { at::set_num_threads(n); });
  setExecutorThreads(n);  // the executor thread applies it before its next job
  return env.Undefined();
}

class MatmulWorker : public Worker {
 public:
  MatmulWorker(Napi::Env env, JsTensor a, JsTensor b, torch::Device dev)
      : Worker(env, "electra:matmul"), a_(std::move(a)), b_(std::move(b)), dev_(dev) {}

 protected:
  void run() override {
    c10::InferenceMode im;
    auto a = a_.copy().to(dev_), b = b_.copy().to(dev_);
    out_ = torch::matmul(a, b).cpu();
  }
  Napi::Value result(Napi::Env env) override { return tensorToJs(env, out_); }

 private:
  JsTensor a_, b_;
  torch::Device dev_;
  torch::Tensor out_;
};

// matmul(a, b, device?) -> Promise<{dtype, shape, data}>; a: (m, k), b: (k, n), float32.
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = readJsTensor(env, info[0], "a");
  auto b = readJsTensor(env, info[1], "b");
  if (a.dtype != torch::kFloat || b.dtype != torch::kFloat) throwJs(env, "ERR_INPUT", "matmul takes float32 tensors");
  if (a.shape.size() != 2 || b.shape.size() != 2) throwJs(env, "ERR_INPUT", "matmul takes 2-D tensors");
  if (a.shape[1] != b.shape[0])
    throwJs(env, "ERR_INPUT", "matmul: a is (" + std::to_string(a.shape[0]) + ", " + std::to_string(a.shape[1]) +
                                  ") but b is (" + std::to_string(b.shape[0]) + ", " + std::to_string(b.shape[1]) + ")");
  std::string dev = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "cpu";
  auto d = guarded(env, [&] { return std::optional<torch::Device>(parseDevice(dev)); });
  return queue(new MatmulWorker(env, std::move(a), std::move(b), *d));
}

// cudaMemory(device?) -> {allocated, reserved, peakAllocated} in bytes, or null on a CPU build.
Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef ELECTRA_WITH_CUDA
  if (!torch::cuda::is_available()) return env.Null();
  const int dev = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  const int n = static_cast<int>(torch::cuda::device_count());
  if (dev < 0 || dev >= n) throwJs(env, "ERR_DEVICE", "cudaMemory: no CUDA device " + std::to_string(dev) + " (" + std::to_string(n) + " visible)");
  // The allocator has no per-device state before CUDA's lazy initialisation (its statistics calls
  // throw "Invalid device argument" then); initialising is what the first CUDA tensor would do.
  auto st = guarded(env, [&] {
    at::globalContext().lazyInitDevice(at::kCUDA);
    return std::optional(c10::cuda::CUDACachingAllocator::getDeviceStats(dev));
  });
  auto idx = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  auto o = Napi::Object::New(env);
  o.Set("allocated", static_cast<double>(st->allocated_bytes[idx].current));
  o.Set("reserved", static_cast<double>(st->reserved_bytes[idx].current));
  o.Set("peakAllocated", static_cast<double>(st->allocated_bytes[idx].peak));
  return o;
#else
  return env.Null();
#endif
}

// releaseCpuCache() -> bytes: returns the CPU blocks kept for reuse (train/cpu_cache.h).
Napi::Value ReleaseCpuCache(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CachingCpuAllocator::instance().trim()));
}

// cudaRelease(): returns cached blocks to the driver and resets peak statistics.
Napi::Value CudaRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef ELECTRA_WITH_CUDA
  if (torch::cuda::is_available()) {
    guarded(env, [&] {
      at::globalContext().lazyInitDevice(at::kCUDA);  // as in cudaMemory
      c10::cuda::CUDACachingAllocator::emptyCache();
      for (int d = 0; d < static_cast<int>(torch::cuda::device_count()); d++) c10::cuda::CUDACachingAllocator::resetPeakStats(d);
    });
  }
#endif
  return env.Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#if defined(__GLIBC__)
  // Tensors of a training step are allocated and freed every step. glibc serves blocks above its
  // mmap threshold with fresh mmaps, so each step page-faults its whole working set again. Keep
  // such blocks in the heap instead, as PyTorch's docs suggest doing with a caching allocator.
  static bool tuned = [] {
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // glibc's maximum
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    return true;
  }();
  (void)tuned;
#endif
  applySettings(settings());  // the defaults until configure() (the caching allocator on)
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  exports.Set("runtime", Napi::Function::New(env, Runtime, "runtime"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("cudaMemory", Napi::Function::New(env, CudaMemory, "cudaMemory"));
  exports.Set("releaseCpuCache", Napi::Function::New(env, ReleaseCpuCache, "releaseCpuCache"));
  exports.Set("cudaRelease", Napi::Function::New(env, CudaRelease, "cudaRelease"));
  exports.Set("configure", Napi::Function::New(env, Configure, "configure"));
  initModel(env, exports);
  initTrainer(env, exports);
  initDist(env, exports);
  initProfile(env, exports);
  initTest(env, exports);
  return exports;
}

}  // namespace electra

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return electra::Init(env, exports); }
NODE_API_MODULE(electra, InitAddon)
