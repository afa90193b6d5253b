// Test hooks: native functions that only tests, the GPU check and the kernel benchmark call,
// exported under one object, `_test` (src/native.ts types them as NativeTestHooks). Not part of
// the public API.
//
//   _test.raise(kind)                      throws a coded error ('torch': a c10::Error; 'electra': ERR_INPUT)
//   _test.philox(seed, first, n)           words of a CPU random draw (model/random.h)
//   _test.dropout(x, p)                    CPU training dropout and its gradient
//   _test.auc(scores, labels)              the evaluation's ROC AUC and R-precision
//   _test.customKernels(op, dtype, ...)    a custom kernel against the exact result and ATen's
//   _test.compileCustomKernels(arch)       NVRTC compilation of the custom kernels alone
//   _test.configure({cpuAutocast, cpuKernels})  the test-only settings (settings.h)
#include <ATen/CPUGeneratorImpl.h>
#include <chrono>
#include <cstring>
#include <functional>
#include "binding/addon.h"
#include "binding/convert.h"
#include "model/kernels.h"
#include "model/random.h"
#include "settings.h"
#include "train/masking.h"
#include "train/pretrain.h"

namespace electra {
namespace {

// raise(kind): tests check that codes cross the boundary.
Napi::Value Raise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string kind = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  guarded(env, [&] {
    if (kind == "torch") (void)torch::ones({2, 3}).matmul(torch::ones({2, 3}));  // c10::Error
    if (kind == "electra") fail("ERR_INPUT", "raised for test");
  });
  return env.Undefined();
}

// philox(seed: bigint, first, n) -> Uint32Array: words [first, first + n) of a CPU draw
// (model/random.h), checked against a reference Philox written in the test.
Napi::Value Philox(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool lossless = false;
  const uint64_t seed = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  const int64_t first = info[1].As<Napi::Number>().Int64Value(), n = info[2].As<Napi::Number>().Int64Value();
  if (first < 0 || n < 0 || n > (1 << 24)) {
    Napi::RangeError::New(env, "_test.philox: bad range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto out = Napi::Uint32Array::New(env, static_cast<size_t>(n));
  rng::bitsRange(seed, first, n, out.Data());
  return out;
}

// dropout(x: Float32Array, p) -> {y, grad}: CPU training dropout of x and the gradient of y.sum()
// with respect to x (the mask times 1 / (1 - p)).
Napi::Value Dropout(const Napi::CallbackInfo& info) {
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

// auc(scores: Float64Array, labels: Uint8Array) -> {auc, rprec}: the evaluation's ROC AUC and
// R-precision.
Napi::Value Auc(const Napi::CallbackInfo& info) {
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

// ---- customKernels: one custom kernel against the exact result and ATen's ----

// One comparison: ours, ref (exact, fp64) and aten as flat tensors, and each side's call for timing.
struct KernelCase {
  torch::Tensor ours, ref, aten;
  std::function<void()> runOurs, runAten;
};

std::string deviceNote(const torch::Device& dev) {
  return dev.is_cuda() ? ", kernels on the device: " + customKernelsStatus(dev.index() < 0 ? 0 : dev.index()) : "";
}

// Residual add + LayerNorm of a and an fp32 b: ours [y, mean, rstd, x], ref the same from ATen's
// x = a + b in fp64, so that x must match exactly and y, mean, rstd to rounding.
KernelCase addLayerNormCase(const torch::Tensor& a, at::Generator& gen, const torch::Device& dev) {
  const int64_t rows = a.size(0), cols = a.size(1);
  auto b = (at::randn({rows, cols}, gen, torch::kFloat) * 2).to(dev);
  auto w = (at::randn({cols}, gen, torch::kFloat) * 0.1 + 1).to(dev), bi = (at::randn({cols}, gen, torch::kFloat) * 0.1).to(dev);
  auto r = addLayerNormFused(a, b, w, bi, 1e-12);
  check(r.size() == 4, "ERR_INPUT", "the add + LayerNorm kernel does not apply (width ", cols, ", dtype ", a.scalar_type(), deviceNote(dev), ")");
  auto xd = at::add(a, b).to(at::kDouble);
  auto m = xd.mean(1, true), v = (xd - m).pow(2).mean(1, true);
  auto yd = (xd - m) / (v + 1e-12).sqrt() * w.to(at::kDouble) + bi.to(at::kDouble);
  KernelCase c;
  c.ours = torch::cat({r[0].flatten(), r[2].flatten(), r[3].flatten(), r[1].flatten()});
  c.ref = torch::cat({yd.flatten(), m.flatten(), (v + 1e-12).rsqrt().flatten(), xd.flatten()});
  c.aten = c.ref;
  c.runOurs = [a, b, w, bi] { (void)addLayerNormFused(a, b, w, bi, 1e-12); };
  c.runAten = [a, b, w, bi, cols] { (void)at::native_layer_norm(at::add(a, b), {cols}, w, bi, 1e-12); };
  return c;
}

// Gumbel-max sampling from logits 3a at temperature 1 (odd seed: 0.7) with uniform draws from the
// same generator: ours, the noisy value at our index; aten, at the index ATen's path picks; ref,
// our indices then ATen's (as floats: exact below 2^24 columns; the same unless two values tie to
// float rounding).
KernelCase gumbelCase(const torch::Tensor& a, at::Generator& gen, const torch::Device& dev, int64_t seed) {
  const int64_t rows = a.size(0), cols = a.size(1);
  const double temp = seed % 2 ? 0.7 : 1.0;
  auto lg = a * 3;
  auto u = at::rand({rows, cols}, gen, torch::kFloat).to(dev);
  auto idx = gumbelArgmax(lg, u, temp);
  check(idx.defined(), "ERR_INPUT", "the Gumbel kernel did not run (shape ", rows, " x ", cols, deviceNote(dev), ")");
  auto g = u.clone();
  addGumbelNoise(g, lg, temp);
  auto refIdx = g.argmax(-1);
  KernelCase c;
  c.ours = g.gather(1, idx.unsqueeze(1)).squeeze(1);
  c.aten = g.gather(1, refIdx.unsqueeze(1)).squeeze(1);
  c.ref = torch::stack({idx, refIdx}).to(at::kFloat).flatten();
  c.runOurs = [lg, u, temp] { (void)gumbelArgmax(lg, u, temp); };
  c.runAten = [lg, u, temp] {
    auto n = u.clone();
    addGumbelNoise(n, lg, temp);
    (void)n.argmax(-1);
  };
  return c;
}

// Column sums of a.
KernelCase columnSumsCase(const torch::Tensor& a) {
  KernelCase c;
  c.ours = columnSums(a);
  c.ref = a.to(at::kDouble).sum(0);
  c.aten = a.sum(0, false, at::kFloat);
  c.runOurs = [a] { (void)columnSums(a); };
  c.runAten = [a] { (void)a.sum(0, false, at::kFloat); };
  return c;
}

// LayerNorm's weight then bias gradients for the output gradient a (ATen's from
// native_layer_norm_backward; ref, the exact sums of the same inputs).
KernelCase layerNormCase(const torch::Tensor& a, at::Generator& gen, const torch::Device& dev) {
  const int64_t rows = a.size(0), cols = a.size(1);
  auto x = (at::randn({rows, cols}, gen, torch::kFloat) * 3 + 1).to(dev);
  auto w = (at::randn({cols}, gen, torch::kFloat) * 0.1 + 1).to(dev);
  auto b = (at::randn({cols}, gen, torch::kFloat) * 0.1).to(dev);
  auto [y, mean, rstd] = at::native_layer_norm(x, {cols}, w, b, 1e-12);
  auto [gw, gb] = layerNormWeightGrads(a, x, mean, rstd);
  auto r = at::native_layer_norm_backward(a, x, {cols}, mean, rstd, w, b, {false, true, true});
  auto d = a.to(at::kDouble), xh = (x.to(at::kDouble) - mean.to(at::kDouble).reshape({-1, 1})) * rstd.to(at::kDouble).reshape({-1, 1});
  KernelCase c;
  c.ours = torch::cat({gw, gb});
  c.aten = torch::cat({std::get<1>(r), std::get<2>(r)}).to(at::kFloat);
  c.ref = torch::cat({(d * xh).sum(0), d.sum(0)});
  c.runOurs = [a, x, mean = mean, rstd = rstd] { (void)layerNormWeightGrads(a, x, mean, rstd); };
  c.runAten = [a, x, mean = mean, rstd = rstd, w, b, cols] {
    (void)at::native_layer_norm_backward(a, x, {cols}, mean, rstd, w, b, {false, true, true});
  };
  return c;
}

// The time per call of f over `iters` calls after 3 warm-up calls, the device synchronised
// around them.
double timePerCall(const std::function<void()>& f, int64_t iters, const torch::Device& dev) {
  auto sync = [&] {
#ifdef ELECTRA_WITH_CUDA
    if (dev.is_cuda()) torch::cuda::synchronize(dev.index() < 0 ? 0 : dev.index());
#else
    (void)dev;
#endif
  };
  for (int i = 0; i < 3; i++) f();
  sync();
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; i++) f();
  sync();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(iters);
}

Napi::Float32Array toF32(Napi::Env env, const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat).contiguous();
  auto arr = Napi::Float32Array::New(env, static_cast<size_t>(c.numel()));
  std::memcpy(arr.Data(), c.data_ptr<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
  return arr;
}

// customKernels(op: 'colsum' | 'layernorm' | 'gumbel' | 'addln', dtype: 'float32' | 'bfloat16'
// (colsum) | 'bf16f32' (addln: a bf16 input with an fp32 residual), rows, cols, device = 'cpu',
// seed = 0, iters = 0) -> {ours, ref, aten: Float32Array, status, oursMs?, atenMs?}: on the same
// random input, the custom kernel (model/kernels.h; on the CPU its emulation, whatever the
// settings say), the exact result (fp64) and ATen's (see the cases above). status:
// customKernelsStatus of the device ("" on the CPU). With iters, the time per call of ours and of
// ATen's (bench/gpu-step.cjs).
Napi::Value CustomKernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "_test.customKernels(op, dtype, rows, cols, device?, seed?, iters?)").ThrowAsJavaScriptException();
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
    if (op == "addln")
      check(dtype == "float32" || dtype == "bf16f32", "ERR_INPUT", "addln's dtype is float32 or bf16f32, not '", dtype, "'");
    else if (op == "colsum")
      check(dtype == "float32" || dtype == "bfloat16", "ERR_INPUT", "colsum's dtype is float32 or bfloat16, not '", dtype, "'");
    else
      check(dtype == "float32", "ERR_INPUT", op, " takes float32, not '", dtype, "'");
    check(rows > 0 && cols > 0 && rows <= (int64_t{1} << 28) && cols <= (int64_t{1} << 28) && rows * cols <= (int64_t{1} << 28), "ERR_INPUT",
          "bad shape ", rows, " x ", cols);
    const torch::Device dev = parseDevice(device);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
    // a: the kernel's input, in bf16 for 'bfloat16' and 'bf16f32' (addln's residual stays fp32).
    auto a = at::randn({rows, cols}, gen, torch::kFloat).to(dev).to(dtype == "float32" ? at::kFloat : at::kBFloat16);
    KernelCase c = op == "addln"    ? addLayerNormCase(a, gen, dev)
                   : op == "gumbel" ? gumbelCase(a, gen, dev, seed)
                   : op == "colsum" ? columnSumsCase(a)
                                    : layerNormCase(a, gen, dev);
    if (iters > 0) {
      o.Set("oursMs", timePerCall(c.runOurs, iters, dev));
      o.Set("atenMs", timePerCall(c.runAten, iters, dev));
    }
    o.Set("ours", toF32(env, c.ours));
    o.Set("ref", toF32(env, c.ref));
    o.Set("aten", toF32(env, c.aten));
    o.Set("status", dev.is_cuda() ? customKernelsStatus(dev.index() < 0 ? 0 : dev.index()) : "");
  });
  return o;
}

// compileCustomKernels(arch = 'sm_90') -> {error, bytes}: the custom kernels through NVRTC for that
// architecture without loading them (no GPU needed; CUDA builds).
Napi::Value CompileCustomKernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string arch = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "sm_90";
  size_t bytes = 0;
  std::string err;
  guarded(env, [&] { err = compileCustomKernels(arch, bytes); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("error", err);
  o.Set("bytes", static_cast<double>(bytes));
  return o;
}

// configure({cpuAutocast?, cpuKernels?}) -> {cpuAutocast, cpuKernels}: the test-only settings.
// cpuAutocast: training autocasts on the CPU too (the CUDA path's mixed precision, testable
// without a GPU); cpuKernels: the model's ops use the custom kernels' CPU emulation.
Napi::Value Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Settings s = settings();
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsObject()) throwJs(env, "ERR_CONFIG", "_test.configure takes an object");
    auto o = info[0].As<Napi::Object>();
    if (auto b = optionalBool(env, o, "cpuAutocast")) s.testCpuAutocast = *b;
    if (auto b = optionalBool(env, o, "cpuKernels")) s.testCpuKernels = *b;
    applySettings(s);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("cpuAutocast", s.testCpuAutocast);
  r.Set("cpuKernels", s.testCpuKernels);
  return r;
}

}  // namespace

void initTest(Napi::Env env, Napi::Object exports) {
  auto t = Napi::Object::New(env);
  t.Set("raise", Napi::Function::New(env, Raise, "raise"));
  t.Set("philox", Napi::Function::New(env, Philox, "philox"));
  t.Set("dropout", Napi::Function::New(env, Dropout, "dropout"));
  t.Set("auc", Napi::Function::New(env, Auc, "auc"));
  t.Set("customKernels", Napi::Function::New(env, CustomKernels, "customKernels"));
  t.Set("compileCustomKernels", Napi::Function::New(env, CompileCustomKernels, "compileCustomKernels"));
  t.Set("configure", Napi::Function::New(env, Configure, "configure"));
  exports.Set("_test", t);
}

}  // namespace electra
