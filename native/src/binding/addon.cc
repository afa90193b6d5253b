// Addon entry: runtime facts, thread settings, and a first numeric function (matmul).
#include <torch/version.h>
#include <chrono>
#include <functional>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "binding/addon.h"
#include "binding/convert.h"
#include "model/kernels.h"
#include "model/random.h"
#include "train/cpu_cache.h"
#include "train/masking.h"
#include "train/pretrain.h"
#ifdef ELECTRA_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace electra {
Napi::Object Init(Napi::Env env, Napi::Object exports);
namespace {

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

// Throws a coded native error on purpose: tests check that codes cross the boundary.
Napi::Value RaiseForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string kind = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  guarded(env, [&] {
    if (kind == "torch") (void)torch::ones({2, 3}).matmul(torch::ones({2, 3}));  // c10::Error
    if (kind == "electra") fail("ERR_INPUT", "raised for test");
  });
  return env.Undefined();
}

// philoxForTest(seed: bigint, first, n) -> Uint32Array: words [first, first + n) of a CPU draw
// (model/random.h), checked against a reference Philox written in the test.
Napi::Value PhiloxForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool lossless = false;
  const uint64_t seed = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  const int64_t first = info[1].As<Napi::Number>().Int64Value(), n = info[2].As<Napi::Number>().Int64Value();
  if (first < 0 || n < 0 || n > (1 << 24)) {
    Napi::RangeError::New(env, "philoxForTest: bad range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto out = Napi::Uint32Array::New(env, static_cast<size_t>(n));
  rng::bitsRange(seed, first, n, out.Data());
  return out;
}

// dropoutForTest(x: Float32Array, p) -> {y, grad}: CPU training dropout of x and the gradient of
// y.sum() with respect to x (the mask times 1 / (1 - p)).
Napi::Value DropoutForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = info[0].As<Napi::Float32Array>();
  const double p = info[1].As<Napi::Number>().DoubleValue();
  Napi::Object o = Napi::Object::New(env);
  guarded(env, [&] {
    auto t = torch::from_blob(x.Data(), {static_cast<int64_t>(x.ElementLength())}, torch::kFloat).clone().requires_grad_(true);
    auto y = applyDropout(t, p, true);
    y.sum().backward();
    auto yo = Napi::Float32Array::New(env, x.ElementLength()), go = Napi::Float32Array::New(env, x.ElementLength());
    std::memcpy(yo.Data(), y.detach().contiguous().data_ptr<float>(), x.ElementLength() * sizeof(float));
    std::memcpy(go.Data(), t.grad().contiguous().data_ptr<float>(), x.ElementLength() * sizeof(float));
    o.Set("y", yo);
    o.Set("grad", go);
  });
  return o;
}

// aucForTest(scores: Float64Array, labels: Uint8Array) -> {auc, rprec}: the evaluation's ROC
// AUC and R-precision.
Napi::Value AucForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = info[0].As<Napi::Float64Array>();
  auto l = info[1].As<Napi::Uint8Array>();
  double auc = 0, rprec = 0;
  guarded(env, [&] {
    check(s.ElementLength() == l.ElementLength(), "ERR_INPUT", "scores and labels differ in length");
    const int64_t n = static_cast<int64_t>(s.ElementLength());
    auto st = torch::from_blob(s.Data(), {n}, torch::kDouble).clone();
    auto lt = torch::from_blob(l.Data(), {n}, torch::kUInt8).to(torch::kBool);
    auto all = torch::ones({n}, torch::kLong);
    auc = rocAuc(st, lt, all);
    rprec = rPrecision(st, lt, all);
  });
  Napi::Object o = Napi::Object::New(env);
  o.Set("auc", auc);
  o.Set("rprec", rprec);
  return o;
}

// customKernelsForTest(op: 'colsum' | 'layernorm' | 'gumbel' | 'addln', dtype: 'float32' | 'bfloat16' (addln:
// also 'bf16f32', a bf16 input with an fp32 residual), rows, cols,
// device = 'cpu', seed = 0, iters = 0) -> {ours, ref, aten: Float32Array, status, oursMs?, atenMs?}:
// on the same random input,
// the custom kernel (model/kernels.h; on the CPU its emulation, whatever the switches say), the
// exact sums (fp64) and ATen's result. colsum: the column sums; layernorm: LayerNorm's weight then
// bias gradients (ATen's from native_layer_norm_backward); gumbel (float32 only): ours, the noisy
// value at our sampled index; aten, at ATen's path's index; ref, our indices then ATen's (as
// floats: exact below 2^24 columns; the same unless two values tie to float rounding). status: customKernelsStatus of the
// device ("" on the CPU). With iters, the time per call of ours and of ATen's (bench/gpu-step.cjs).
Napi::Value CustomKernelsForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "customKernelsForTest(op, dtype, rows, cols, device?, seed?, iters?)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string op = info[0].As<Napi::String>(), dtype = info[1].As<Napi::String>();
  const int64_t rows = info[2].As<Napi::Number>().Int64Value(), cols = info[3].As<Napi::Number>().Int64Value();
  const std::string device = info.Length() > 4 && info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "cpu";
  const int64_t seed = info.Length() > 5 && info[5].IsNumber() ? info[5].As<Napi::Number>().Int64Value() : 0;
  const int64_t iters = info.Length() > 6 && info[6].IsNumber() ? info[6].As<Napi::Number>().Int64Value() : 0;
  Napi::Object o = Napi::Object::New(env);
  guarded(env, [&] {
    check(op == "colsum" || op == "layernorm" || op == "gumbel" || op == "addln", "ERR_INPUT", "op is colsum, layernorm, gumbel or addln, not '", op,
          "'");
    check(dtype == "float32" || dtype == "bfloat16" || (op == "addln" && dtype == "bf16f32"), "ERR_INPUT",
          "dtype is float32 or bfloat16 (addln also bf16f32), not '", dtype, "'");
    check(rows > 0 && cols > 0 && rows <= (int64_t{1} << 28) && cols <= (int64_t{1} << 28) && rows * cols <= (int64_t{1} << 28), "ERR_INPUT",
          "bad shape ", rows, " x ", cols);
    const auto dt = dtype == "float32" ? at::kFloat : at::kBFloat16;  // bf16f32: a in bf16, b in fp32
    const torch::Device dev = parseDevice(device);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
    auto a = at::randn({rows, cols}, gen, torch::kFloat).to(dev).to(dt);
    torch::Tensor ours, ref, aten, lnX, lnW, lnB, lnMean, lnRstd;
    if (op == "addln") {
      // Residual add + LayerNorm: ours [y, mean, rstd, x], ref [the same from ATen's x = a + b in
      // float64], so x must match exactly and y, mean, rstd to rounding.
      auto b = (at::randn({rows, cols}, gen, torch::kFloat) * 2).to(dev).to(dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
      auto w = (at::randn({cols}, gen, torch::kFloat) * 0.1 + 1).to(dev), bi = (at::randn({cols}, gen, torch::kFloat) * 0.1).to(dev);
      auto r = addLayerNormFused(a, b, w, bi, 1e-12);
      check(r.size() == 4, "ERR_INPUT", "the add + LayerNorm kernel does not apply (width ", cols, ", dtype ", dtype,
            dev.is_cuda() ? std::string(", kernels on the device: ") + customKernelsStatus(dev.index() < 0 ? 0 : dev.index()) : std::string(), ")");
      auto xa = at::add(a, b);
      auto xd = xa.to(at::kDouble);
      auto m = xd.mean(1, true), v = (xd - m).pow(2).mean(1, true);
      // In bf16 the weights are those of the unfused path, cast to bf16.
      const auto wt = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
      auto yd = (xd - m) / (v + 1e-12).sqrt() * w.to(wt).to(at::kDouble) + bi.to(wt).to(at::kDouble);
      ours = torch::cat({r[0].to(at::kFloat).flatten(), r[2].flatten(), r[3].flatten(), r[1].to(at::kFloat).flatten()});
      ref = torch::cat({yd.flatten(), m.flatten(), (v + 1e-12).rsqrt().flatten(), xd.flatten()});
      aten = ref;
    } else if (op == "gumbel") {
      // Logits a (rows, cols) at a temperature of 1 (seed odd: 0.7), uniform draws from the same
      // generator; ref: the index ATen's path picks, aten: the value there, ours: the value at ours.
      check(dt == at::kFloat, "ERR_INPUT", "gumbel takes float32");
      const double temp = seed % 2 ? 0.7 : 1.0;
      auto lg = a * 3;
      auto u = at::rand({rows, cols}, gen, torch::kFloat).to(dev);
      auto idx = gumbelArgmax(lg, u, temp);
      check(idx.defined(), "ERR_INPUT", "the Gumbel kernel did not run (shape ", rows, " x ", cols,
            dev.is_cuda() ? std::string(", kernels on the device: ") + customKernelsStatus(dev.index() < 0 ? 0 : dev.index()) : std::string(), ")");
      auto g = u.clone();
      addGumbelNoise(g, lg, temp);
      auto refIdx = g.argmax(-1);
      ours = g.gather(1, idx.unsqueeze(1)).squeeze(1);
      aten = g.gather(1, refIdx.unsqueeze(1)).squeeze(1);
      ref = torch::stack({idx, refIdx}).to(at::kFloat).flatten();
      lnX = lg, lnW = u, lnB = torch::scalar_tensor(temp, torch::kDouble);
    } else if (op == "colsum") {
      ours = columnSums(a);
      ref = a.to(at::kDouble).sum(0);
      aten = a.sum(0, false, at::kFloat);
    } else {
      auto x = (at::randn({rows, cols}, gen, torch::kFloat) * 3 + 1).to(dev).to(dt);
      auto w = (at::randn({cols}, gen, torch::kFloat) * 0.1 + 1).to(dev).to(dt);
      auto b = (at::randn({cols}, gen, torch::kFloat) * 0.1).to(dev).to(dt);
      auto [y, mean, rstd] = at::native_layer_norm(x, {cols}, w, b, 1e-12);
      lnX = x, lnW = w, lnB = b, lnMean = mean, lnRstd = rstd;
      auto [gw, gb] = layerNormWeightGrads(a, x, mean, rstd);
      auto r = at::native_layer_norm_backward(a, x, {cols}, mean, rstd, w, b, {false, true, true});
      ours = torch::cat({gw, gb});
      aten = torch::cat({std::get<1>(r), std::get<2>(r)}).to(at::kFloat);
      // The exact sums of the same inputs (ATen's bf16 result is rounded to bf16, and on the CPU
      // partly accumulated in bf16).
      auto d = a.to(at::kDouble), xh = (x.to(at::kDouble) - mean.to(at::kDouble).reshape({-1, 1})) * rstd.to(at::kDouble).reshape({-1, 1});
      ref = torch::cat({(d * xh).sum(0), d.sum(0)});
    }
    // iters > 0: each side's time per call over `iters` calls after 3 warm-up calls (the device
    // synchronised around each side), for the benchmark.
    if (iters > 0) {
      auto timeIt = [&](const std::function<void()>& f) {
        for (int i = 0; i < 3; i++) f();
#ifdef ELECTRA_WITH_CUDA
        if (dev.is_cuda()) torch::cuda::synchronize(dev.index() < 0 ? 0 : dev.index());
#endif
        auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < iters; i++) f();
#ifdef ELECTRA_WITH_CUDA
        if (dev.is_cuda()) torch::cuda::synchronize(dev.index() < 0 ? 0 : dev.index());
#endif
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(iters);
      };
      if (op == "addln") {
        auto b = at::randn({rows, cols}, gen, torch::kFloat).to(dev).to(dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
        auto w = at::ones({cols}, a.options().dtype(at::kFloat)), bi = at::zeros({cols}, a.options().dtype(at::kFloat));
        auto wc = w.to(dtype == "bfloat16" ? at::kBFloat16 : at::kFloat), bc = bi.to(wc.scalar_type());
        o.Set("oursMs", timeIt([&] { (void)addLayerNormFused(a, b, w, bi, 1e-12); }));
        o.Set("atenMs", timeIt([&] { (void)at::native_layer_norm(at::add(a, b), {cols}, wc, bc, 1e-12); }));
      } else if (op == "gumbel") {
        const double temp = lnB.item<double>();
        o.Set("oursMs", timeIt([&] { (void)gumbelArgmax(lnX, lnW, temp); }));
        o.Set("atenMs", timeIt([&] {
          auto g = lnW.clone();
          addGumbelNoise(g, lnX, temp);
          (void)g.argmax(-1);
        }));
      } else if (op == "colsum") {
        o.Set("oursMs", timeIt([&] { (void)columnSums(a); }));
        o.Set("atenMs", timeIt([&] { (void)a.sum(0, false, at::kFloat); }));
      } else {
        o.Set("oursMs", timeIt([&] { (void)layerNormWeightGrads(a, lnX, lnMean, lnRstd); }));
        o.Set("atenMs", timeIt([&] { (void)at::native_layer_norm_backward(a, lnX, {cols}, lnMean, lnRstd, lnW, lnB, {false, true, true}); }));
      }
    }
    auto toF32 = [&](const torch::Tensor& t) {
      auto c = t.to(torch::kCPU, torch::kFloat).contiguous();
      auto arr = Napi::Float32Array::New(env, static_cast<size_t>(c.numel()));
      std::memcpy(arr.Data(), c.data_ptr<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
      return arr;
    };
    o.Set("ours", toF32(ours));
    o.Set("ref", toF32(ref));
    o.Set("aten", toF32(aten));
    o.Set("status", dev.is_cuda() ? customKernelsStatus(dev.index() < 0 ? 0 : dev.index()) : "");
  });
  return o;
}

// compileCustomKernelsForTest(arch = 'sm_90') -> {error, bytes}: the custom kernels through NVRTC
// for that architecture without loading them (no GPU needed; CUDA builds).
Napi::Value CompileCustomKernelsForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string arch = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "sm_90";
  size_t bytes = 0;
  std::string err;
  guarded(env, [&] { err = compileCustomKernelsForTest(arch, bytes); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("error", err);
  o.Set("bytes", static_cast<double>(bytes));
  return o;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#if defined(__GLIBC__)
  // Tensors of a training step are allocated and freed every step. glibc serves blocks above its
  // mmap threshold with fresh mmaps, so each step page-faults its whole working set again (15% of
  // a CPU step in a profile). Keep such blocks in the heap instead, as PyTorch's docs suggest
  // doing with a caching allocator.
  static bool tuned = [] {
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // glibc's maximum
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    return true;
  }();
  (void)tuned;
#endif
  installCpuCache();
  // A/B switch for the GPU benchmark: ELECTRA_SDPA_CUDNN=0 takes cuDNN's attention kernels (what
  // PyTorch picks first on an H100) out of scaled_dot_product_attention's choice, so that it runs
  // FlashAttention-2's (or the memory-efficient kernels where flash does not apply).
  if (!envSwitchOn("ELECTRA_SDPA_CUDNN")) at::globalContext().setSDPUseCuDNN(false);
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  exports.Set("runtime", Napi::Function::New(env, Runtime, "runtime"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("cudaMemory", Napi::Function::New(env, CudaMemory, "cudaMemory"));
  exports.Set("releaseCpuCache", Napi::Function::New(env, ReleaseCpuCache, "releaseCpuCache"));
  exports.Set("cudaRelease", Napi::Function::New(env, CudaRelease, "cudaRelease"));
  exports.Set("raiseForTest", Napi::Function::New(env, RaiseForTest, "raiseForTest"));
  exports.Set("philoxForTest", Napi::Function::New(env, PhiloxForTest, "philoxForTest"));
  exports.Set("dropoutForTest", Napi::Function::New(env, DropoutForTest, "dropoutForTest"));
  exports.Set("aucForTest", Napi::Function::New(env, AucForTest, "aucForTest"));
  exports.Set("customKernelsForTest", Napi::Function::New(env, CustomKernelsForTest, "customKernelsForTest"));
  exports.Set("compileCustomKernelsForTest", Napi::Function::New(env, CompileCustomKernelsForTest, "compileCustomKernelsForTest"));
  initModel(env, exports);
  initTrainer(env, exports);
  initDist(env, exports);
  initProfile(env, exports);
  return exports;
}

}  // namespace electra

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return electra::Init(env, exports); }
NODE_API_MODULE(electra, InitAddon)
