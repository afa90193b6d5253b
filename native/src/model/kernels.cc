// Host side of the custom kernels (model/kernels.h): the CPU emulation, and on CUDA builds the
// NVRTC compilation, the check against ATen and the launches.
#include "model/kernels.h"
#include <ATen/CPUGeneratorImpl.h>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>
#include "common.h"
#include "model/kernels_src.h"
#include "settings.h"

#ifdef ELECTRA_WITH_CUDA
#include <ATen/Context.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <link.h>
#endif

namespace electra {

namespace {

// The launch shape: 2 columns per thread, up to 128 threads per block, and enough blocks of rows
// to put about 128k threads to work (each block at least 8 rows, at most 65535 blocks).
struct Plan {
  unsigned gx = 1, gy = 1, bx = 32;
  int rows = 1;
};

Plan plan(int64_t M, int64_t N) {
  Plan p;
  const int64_t pairs = N / 2;
  p.bx = static_cast<unsigned>(std::min<int64_t>(128, (pairs + 31) / 32 * 32));
  p.gx = static_cast<unsigned>((pairs + p.bx - 1) / p.bx);
  int64_t blocks = std::clamp<int64_t>((131072 + pairs - 1) / pairs, 1, std::max<int64_t>(1, (M + 7) / 8));
  blocks = std::min<int64_t>(blocks, 65535);
  p.rows = static_cast<int>((M + blocks - 1) / blocks);
  p.gy = static_cast<unsigned>((M + p.rows - 1) / p.rows);
  return p;
}

// Runs body() once per (block, thread) of the plan, with kcpu's threadIdx/blockIdx set: blocks in
// parallel (ATen's pool), the threads of a block one after another.
template <typename F>
void onCpu(const Plan& p, F&& body) {
  const int64_t blocks = static_cast<int64_t>(p.gx) * p.gy;
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) {
      kcpu::blockIdx = {static_cast<unsigned>(b % p.gx), static_cast<unsigned>(b / p.gx), 0};
      kcpu::blockDim = {p.bx, 1, 1};
      for (unsigned t = 0; t < p.bx; t++) {
        kcpu::threadIdx = {t, 0, 0};
        body();
      }
    }
  });
}

// What the kernels take: 2-D, contiguous, an even width, 8-byte aligned, fp32 or bf16, and both
// sizes below 2^30 (the kernels index rows and columns in int, with room for r + 4).
// addLayerNorm's widths: N = 32 * VPL features (hidden sizes 64, 128, 256, 512, 768, 1024).
constexpr int kAddLnWidths[] = {2, 4, 8, 16, 24, 32};

// The CPU emulation's entries of addLayerNorm, by "<tag>_<VPL>".
using AddLnF32 = void (*)(const float*, const float*, const float*, const float*, float*, float*, float*, float*, int, float);
using AddLnBf16F32 = void (*)(const unsigned short*, const float*, const float*, const float*, float*, float*, float*, float*, int, float);
#define EK_CPU_ADDLN(V) {V, &kcpu::electra_addln_f32_##V, &kcpu::electra_addln_bf16f32_##V}
struct CpuAddLn {
  int vpl;
  AddLnF32 f32;
  AddLnBf16F32 bf16f32;
};
const CpuAddLn kCpuAddLn[] = {EK_CPU_ADDLN(2), EK_CPU_ADDLN(4), EK_CPU_ADDLN(8), EK_CPU_ADDLN(16), EK_CPU_ADDLN(24), EK_CPU_ADDLN(32)};
#undef EK_CPU_ADDLN

bool kernelLayout(const torch::Tensor& t) {
  constexpr int64_t kMax = int64_t{1} << 30;
  return t.dim() == 2 && t.is_contiguous() && t.size(0) > 0 && t.size(1) > 0 && t.size(1) % 2 == 0 && t.size(0) < kMax &&
         t.size(1) < kMax && reinterpret_cast<uintptr_t>(t.data_ptr()) % 8 == 0 &&
         (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16);
}

#ifdef ELECTRA_WITH_CUDA
// NVRTC through the library PyTorch loads (libcaffe2_nvrtc links it), found among the process's
// loaded objects; the usual sonames as a fallback. Declared here: no CUDA toolkit headers needed.
using nvrtcProgram = struct _nvrtcProgram*;
using nvrtcResult = int;
struct Nvrtc {
  nvrtcResult (*createProgram)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*) = nullptr;
  nvrtcResult (*compileProgram)(nvrtcProgram, int, const char* const*) = nullptr;
  nvrtcResult (*getProgramLogSize)(nvrtcProgram, size_t*) = nullptr;
  nvrtcResult (*getProgramLog)(nvrtcProgram, char*) = nullptr;
  nvrtcResult (*getCUBINSize)(nvrtcProgram, size_t*) = nullptr;
  nvrtcResult (*getCUBIN)(nvrtcProgram, char*) = nullptr;
  nvrtcResult (*destroyProgram)(nvrtcProgram*) = nullptr;
  const char* (*getErrorString)(nvrtcResult) = nullptr;
};

int findNvrtc(struct dl_phdr_info* info, size_t, void* out) {
  std::string name = info->dlpi_name ? info->dlpi_name : "";
  auto base = name.substr(name.find_last_of('/') + 1);
  if (base.rfind("libnvrtc", 0) == 0 && base.find("builtins") == std::string::npos) {
    *static_cast<std::string*>(out) = name;
    return 1;
  }
  return 0;
}

// Loads NVRTC's functions; "" or why not.
std::string loadNvrtc(Nvrtc& n) {
  try {
    (void)at::globalContext().getNVRTC();  // makes PyTorch load its NVRTC (and so libnvrtc)
  } catch (const std::exception&) {
  }
  std::string path;
  dl_iterate_phdr(findNvrtc, &path);
  void* h = path.empty() ? nullptr : dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  for (const char* so : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}) {
    if (!h) h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  }
  if (!h) return "libnvrtc was not found (neither loaded by PyTorch nor on the library path)";
  auto sym = [&](auto& f, const char* name) {
    f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(h, name));
    return f != nullptr;
  };
  if (!(sym(n.createProgram, "nvrtcCreateProgram") && sym(n.compileProgram, "nvrtcCompileProgram") &&
        sym(n.getProgramLogSize, "nvrtcGetProgramLogSize") && sym(n.getProgramLog, "nvrtcGetProgramLog") &&
        sym(n.getCUBINSize, "nvrtcGetCUBINSize") && sym(n.getCUBIN, "nvrtcGetCUBIN") && sym(n.destroyProgram, "nvrtcDestroyProgram") &&
        sym(n.getErrorString, "nvrtcGetErrorString")))
    return "libnvrtc lacks a function it needs (" + path + ")";
  return "";
}

struct GpuKernels {
  std::string status;  // "ok" or why not
  cudaLibrary_t lib = nullptr;
  cudaKernel_t colsumF32 = nullptr, colsumBf16 = nullptr, lnwF32 = nullptr, gumbel = nullptr;
  std::map<std::string, cudaKernel_t> addln;  // "bf16f32_24" -> electra_addln_bf16f32_24
};

std::mutex g_mu;
std::map<int, GpuKernels> g_gpu;

std::string cudaWhy(cudaError_t e) { return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e); }

// Compiles the kernels with NVRTC for `arch` ("sm_90"): the CUBIN, or "" with `why` set.
std::string compileKernels(const std::string& arch, std::string& why) {
  static Nvrtc nv;
  static const std::string nvErr = loadNvrtc(nv);
  if (!nvErr.empty()) {
    why = nvErr;
    return "";
  }
  const std::string src = std::string(ELECTRA_KERNEL_PRELUDE) + kKernelSource + "\n";
  nvrtcProgram prog = nullptr;
  if (auto r = nv.createProgram(&prog, src.c_str(), "electra_kernels.cu", 0, nullptr, nullptr); r != 0) {
    why = std::string("nvrtcCreateProgram: ") + nv.getErrorString(r);
    return "";
  }
  const std::string opt = "--gpu-architecture=" + arch;
  const char* opts[] = {opt.c_str(), "--std=c++17"};
  std::string cubin;
  if (auto r = nv.compileProgram(prog, 2, opts); r != 0) {
    size_t n = 0;
    nv.getProgramLogSize(prog, &n);
    std::string log(n, '\0');
    if (n) nv.getProgramLog(prog, log.data());
    log.resize(std::strlen(log.c_str()));
    why = std::string("NVRTC compile (") + arch + "): " + nv.getErrorString(r) + ": " + log.substr(0, 600);
  } else {
    size_t n = 0;
    nv.getCUBINSize(prog, &n);
    cubin.assign(n, '\0');
    nv.getCUBIN(prog, cubin.data());
    if (cubin.empty()) why = "NVRTC gave no CUBIN for " + arch;
  }
  nv.destroyProgram(&prog);
  return cubin;
}

// Compiles and loads the kernels for `device`; "" or why not.
std::string buildGpu(int device, GpuKernels& k) {
  cudaDeviceProp prop;
  if (auto e = cudaGetDeviceProperties(&prop, device); e != cudaSuccess) return "cudaGetDeviceProperties: " + cudaWhy(e);
  std::string why;
  const std::string cubin = compileKernels("sm_" + std::to_string(prop.major) + std::to_string(prop.minor), why);
  if (cubin.empty()) return why;
  c10::cuda::CUDAGuard g(static_cast<c10::DeviceIndex>(device));
  if (auto e = cudaLibraryLoadData(&k.lib, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0); e != cudaSuccess) {
    k.lib = nullptr;
    return "cudaLibraryLoadData: " + cudaWhy(e);
  }
  for (auto [name, slot] : {std::pair{"electra_colsum_f32", &k.colsumF32}, std::pair{"electra_colsum_bf16", &k.colsumBf16},
                            std::pair{"electra_lnw_f32", &k.lnwF32}, std::pair{"electra_gumbel_argmax", &k.gumbel}}) {
    if (auto e = cudaLibraryGetKernel(slot, k.lib, name); e != cudaSuccess) {
      cudaLibraryUnload(k.lib);
      k.lib = nullptr;
      return std::string("cudaLibraryGetKernel(") + name + "): " + cudaWhy(e);
    }
  }
  for (const char* tag : {"bf16f32", "f32"})
    for (int vpl : kAddLnWidths) {
      const std::string key = std::string(tag) + "_" + std::to_string(vpl), name = "electra_addln_" + key;
      if (auto e = cudaLibraryGetKernel(&k.addln[key], k.lib, name.c_str()); e != cudaSuccess) {
        cudaLibraryUnload(k.lib);
        k.lib = nullptr;
        return "cudaLibraryGetKernel(" + name + "): " + cudaWhy(e);
      }
    }
  return "";
}

// On the tensors' device and its current stream (the capturing one during a graph capture).
void launch(cudaKernel_t k, const Plan& p, void** args, c10::DeviceIndex device) {
  c10::cuda::CUDAGuard g(device);
  auto e = cudaLaunchKernel(reinterpret_cast<const void*>(k), dim3(p.gx, p.gy), dim3(p.bx), args, 0, at::cuda::getCurrentCUDAStream(device));
  if (e != cudaSuccess) fail("ERR_TORCH", "custom kernel launch failed (", cudaWhy(e), "); train with kernels.customKernels: false (or ELECTRA_CUSTOM_KERNELS=0) to use ATen's kernels");
}

const GpuKernels& gpuKernels(int device);
bool gpuKernelsReady(int device);
#else
struct GpuKernels {};
#endif

// The kernels proper: on CUDA with `k` (compiled for the tensor's device), on the CPU emulated.
torch::Tensor columnSumsKernel(const torch::Tensor& g, const GpuKernels* k) {
  const int M = static_cast<int>(g.size(0)), N = static_cast<int>(g.size(1));
  const Plan p = plan(M, N);
  auto part = torch::empty({static_cast<int64_t>(p.gy), N}, g.options().dtype(at::kFloat));
  float* out = part.data_ptr<float>();
  const bool bf16 = g.scalar_type() == at::kBFloat16;
#ifdef ELECTRA_WITH_CUDA
  if (g.is_cuda()) {
    const void* in = g.data_ptr();
    int rows = p.rows, m = M, n = N;
    void* args[] = {&in, &out, &m, &n, &rows};
    launch(bf16 ? k->colsumBf16 : k->colsumF32, p, args, g.get_device());
    return part.sum(0);
  }
#endif
  (void)k;
  if (bf16) {
    const auto* in = reinterpret_cast<const unsigned short*>(g.data_ptr());
    onCpu(p, [&] { kcpu::electra_colsum_bf16(in, out, M, N, p.rows); });
  } else {
    const float* in = g.data_ptr<float>();
    onCpu(p, [&] { kcpu::electra_colsum_f32(in, out, M, N, p.rows); });
  }
  return part.sum(0);
}

std::pair<torch::Tensor, torch::Tensor> layerNormKernel(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean,
                                                        const torch::Tensor& rstd, const GpuKernels* k) {
  const int M = static_cast<int>(dy.size(0)), N = static_cast<int>(dy.size(1));
  const Plan p = plan(M, N);
  auto gw = torch::empty({static_cast<int64_t>(p.gy), N}, dy.options().dtype(at::kFloat)), gb = torch::empty_like(gw);
  float* w = gw.data_ptr<float>();
  float* b = gb.data_ptr<float>();
  const float* m = mean.data_ptr<float>();
  const float* s = rstd.data_ptr<float>();
  const float* d = dy.data_ptr<float>();
  const float* xx = x.data_ptr<float>();
#ifdef ELECTRA_WITH_CUDA
  if (dy.is_cuda()) {
    int rows = p.rows, mm = M, nn = N;
    void* args[] = {&d, &xx, &m, &s, &w, &b, &mm, &nn, &rows};
    launch(k->lnwF32, p, args, dy.get_device());
    return {gw.sum(0), gb.sum(0)};
  }
#endif
  (void)k;
  onCpu(p, [&] { kcpu::electra_lnw_f32(d, xx, m, s, w, b, M, N, p.rows); });
  return {gw.sum(0), gb.sum(0)};
}

// Gumbel-max sampling over the rows of l (rows, V) with uniform draws u of the same shape, both
// fp32 and contiguous: (rows) int64. Each block takes 4096 columns of a row (32 per thread).
torch::Tensor gumbelArgmaxKernel(const torch::Tensor& l, const torch::Tensor& u, double temperature, const GpuKernels* k) {
  constexpr int kThreads = 128, kSeg = kThreads * 32;
  const int rows = static_cast<int>(l.size(0)), V = static_cast<int>(l.size(1));
  const int nseg = (V + kSeg - 1) / kSeg;
  auto pval = torch::empty({rows, static_cast<int64_t>(nseg) * kThreads}, l.options());
  auto pidx = torch::empty({rows, static_cast<int64_t>(nseg) * kThreads}, l.options().dtype(at::kInt));
  float* pv = pval.data_ptr<float>();
  int* pi = pidx.data_ptr<int>();
  const float* lp = l.data_ptr<float>();
  const float* up = u.data_ptr<float>();
  float invTemp = static_cast<float>(1.0 / temperature);
  int tempIsOne = temperature == 1.0 ? 1 : 0, segCols = kSeg, vv = V, ns = nseg;
  Plan p;  // rows across (up to 2^31 - 1), segments down (at most 65535: V < 2^28)
  p.gx = static_cast<unsigned>(rows), p.gy = static_cast<unsigned>(nseg), p.bx = kThreads;
#ifdef ELECTRA_WITH_CUDA
  if (l.is_cuda()) {
    void* args[] = {&lp, &up, &pv, &pi, &vv, &segCols, &ns, &invTemp, &tempIsOne};
    launch(k->gumbel, p, args, l.get_device());
  } else
#endif
  {
    (void)k;
    onCpu(p, [&] { kcpu::electra_gumbel_argmax(lp, up, pv, pi, V, segCols, nseg, invTemp, tempIsOne); });
  }
  return pidx.gather(1, pval.argmax(1, true)).squeeze(1).to(at::kLong);
}

// Residual add and LayerNorm (model/kernels_src.h's addLayerNorm): a (M, N) fp32 or bf16 and b
// (M, N) fp32, w and bias fp32 (N) -> {y, x, mean, rstd}, all fp32. The caller has checked the
// layout (addLayerNormFused).
std::vector<torch::Tensor> addLayerNormKernel(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& w, const torch::Tensor& bias,
                                              double eps, const std::string& tag, const GpuKernels* k) {
  const int M = static_cast<int>(a.size(0)), N = static_cast<int>(a.size(1)), vpl = N / 32;
  auto y = torch::empty({M, N}, a.options().dtype(at::kFloat)), x = torch::empty_like(y);
  auto mean = torch::empty({M}, a.options().dtype(at::kFloat)), rstd = torch::empty_like(mean);
  const void* ap = a.data_ptr();
  const float* bp = b.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  const float* bip = bias.data_ptr<float>();
  float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  float* mp = mean.data_ptr<float>();
  float* rp = rstd.data_ptr<float>();
  int m = M;
  float e = static_cast<float>(eps);
  Plan p;  // 4 warps (rows) per block
  p.bx = 128, p.gx = static_cast<unsigned>((M + 3) / 4), p.gy = 1;
#ifdef ELECTRA_WITH_CUDA
  if (a.is_cuda()) {
    void* args[] = {&ap, &bp, &wp, &bip, &xp, &yp, &mp, &rp, &m, &e};
    launch(k->addln.at(tag + "_" + std::to_string(vpl)), p, args, a.get_device());
    return {y, x, mean, rstd};
  }
#endif
  (void)k;
  const CpuAddLn* f = nullptr;
  for (const auto& c : kCpuAddLn)
    if (c.vpl == vpl) f = &c;
  // One call per warp: the lanes are a loop inside the kernel on the CPU.
  const int64_t warps = static_cast<int64_t>(p.gx) * 4;
  at::parallel_for(0, warps, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t wi = w0; wi < w1; wi++) {
      kcpu::blockIdx = {static_cast<unsigned>(wi / 4), 0, 0};
      kcpu::blockDim = {p.bx, 1, 1};
      kcpu::threadIdx = {static_cast<unsigned>(wi % 4) * 32, 0, 0};
      if (tag == "f32")
        f->f32(static_cast<const float*>(ap), bp, wp, bip, xp, yp, mp, rp, m, e);
      else
        f->bf16f32(static_cast<const unsigned short*>(ap), bp, wp, bip, xp, yp, mp, rp, m, e);
    }
  });
  return {y, x, mean, rstd};
}

#ifdef ELECTRA_WITH_CUDA
// The first use on a device: compile, then check the kernels against ATen on small inputs (the
// reductions in both dtypes: odd row count, several row blocks; Gumbel-max at temperatures 1 and 0.7;
// the residual add + LayerNorm). Runs before any graph capture (the eager steps
// come first), and synchronises once.
const GpuKernels& gpuKernels(int device) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto& k = g_gpu[device];
  if (!k.status.empty()) return k;
  std::string why = buildGpu(device, k);
  if (why.empty()) {
    k.status = "ok";  // lets the check below launch them
    try {
      // Its first use is inside a training step's forward pass: no gradients, no autocast, and the
      // inputs drawn on the CPU from a generator of its own (drawing them on the device would move
      // the CUDA generator, and so the training's random stream, on first use only).
      c10::cuda::CUDAGuard g(static_cast<c10::DeviceIndex>(device));
      torch::NoGradGuard ng;
      c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
      auto cpuGen = at::make_generator<at::CPUGeneratorImpl>(12345);
      const auto cuda = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(device));
      // 1031 x 768: several blocks across (3 of 128 threads) and down, a partial last block.
      auto gen = at::randn({1031, 768}, cpuGen, torch::kFloat).to(cuda);
      auto xs = at::randn({1031, 768}, cpuGen, torch::kFloat).to(cuda);
      auto mean = xs.mean(1), rstd = 1 / (xs.var(1, false) + 1e-5).sqrt();
      for (auto dt : {at::kFloat, at::kBFloat16}) {
        auto gd = gen.to(dt), xd = xs.to(dt);
        auto ref = gd.to(at::kFloat).sum(0);
        auto [rw, rb] = std::pair{(gd.to(at::kFloat) * ((xd.to(at::kFloat) - mean.unsqueeze(1)) * rstd.unsqueeze(1))).sum(0), gd.to(at::kFloat).sum(0)};
        auto cs = columnSumsKernel(gd, &k);
        std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs{{cs, ref}};
        if (dt == at::kFloat) {  // LayerNorm's weight gradients are taken in fp32 only
          auto [lw, lb] = layerNormKernel(gd, xd, mean, rstd, &k);
          pairs.insert(pairs.end(), {{lw, rw}, {lb, rb}});
        }
        for (auto& [a, e] : pairs) {
          if (!torch::allclose(a, e, 1e-3, 1e-3)) {
            why = std::string("their check against ATen failed (") + (dt == at::kFloat ? "fp32" : "bf16") + ", max difference " +
                  std::to_string((a - e).abs().max().item<double>()) + ")";
            break;
          }
        }
        if (!why.empty()) break;
      }
      if (why.empty()) {
        // Gumbel-max against the same noise built by ATen's kernels (masking.cc's formula): the
        // value at our index must be the row's maximum.
        auto lg = (at::randn({37, 30522}, cpuGen, torch::kFloat) * 3).to(cuda);
        auto u = at::rand({37, 30522}, cpuGen, torch::kFloat).to(cuda);
        for (double temp : {1.0, 0.7}) {
          auto ours = gumbelArgmaxKernel(lg, u, temp, &k);
          auto noise = (1e-9 - (u + 1e-9).log()).log();
          auto g = temp == 1.0 ? lg - noise : lg * static_cast<float>(1.0 / temp) - noise;
          auto gap = (std::get<0>(g.max(1)) - g.gather(1, ours.unsqueeze(1)).squeeze(1)).abs().max().item<double>();
          if (!(gap <= 1e-5)) {
            why = "their check against ATen failed (Gumbel-max at temperature " + std::to_string(temp) + ": the sampled value is " +
                  std::to_string(gap) + " below the row's maximum)";
            break;
          }
        }
      }
      if (why.empty()) {
        // Residual add + LayerNorm against ATen's add and layer_norm, both dtype pairs (an fp32
        // residual plus fp32 or bf16).
        auto af = at::randn({1031, 768}, cpuGen, torch::kFloat).to(cuda), b = at::randn({1031, 768}, cpuGen, torch::kFloat).to(cuda);
        auto w = (at::randn({768}, cpuGen, torch::kFloat) * 0.1 + 1).to(cuda), bi = (at::randn({768}, cpuGen, torch::kFloat) * 0.1).to(cuda);
        for (std::string tag : {"bf16f32", "f32"}) {
          auto a = tag == "f32" ? af : af.to(at::kBFloat16);
          auto r = addLayerNormKernel(a, b, w, bi, 1e-12, tag, &k);
          auto ref = at::layer_norm(a + b, {768}, w, bi, 1e-12);
          if (!torch::allclose(r[0], ref, 1e-4, 1e-4) || !torch::equal(r[1], a + b)) {
            why = "their check against ATen failed (add + LayerNorm, " + tag + ": max difference " +
                  std::to_string((r[0] - ref).abs().max().item<double>()) + ")";
            break;
          }
        }
      }
    } catch (const std::exception& e) {
      why = std::string("their check threw: ") + std::string(e.what()).substr(0, 400);
    }
  }
  k.status = why.empty() ? "ok" : why;
  if (!why.empty()) {
    std::fprintf(stderr, "electra: the custom kernels (customKernels) are not used on cuda:%d: %s; ATen's kernels are\n", device,
                 why.c_str());
  }
  return k;
}

// False while the current stream is capturing a CUDA graph and the kernels have not been set up
// on `device` yet: their first use compiles, loads and synchronises, which a capture cannot hold.
// (Training always runs eager steps before it captures, so this is a guard, not a path.)
bool gpuKernelsReady(int device) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_gpu.find(device);
    if (it != g_gpu.end() && !it->second.status.empty()) return true;
  }
  c10::cuda::CUDAGuard g(static_cast<c10::DeviceIndex>(device));
  return c10::cuda::currentStreamCaptureStatusMayInitCtx() == c10::cuda::CaptureStatus::None;
}
#endif

// The kernels for t's device: null for the CPU (emulated), the compiled ones on CUDA; false when
// t's device cannot run them (ATen's then).
bool kernelsFor(const torch::Tensor& t, const GpuKernels*& k) {
  k = nullptr;
  if (t.is_cpu()) return true;
#ifdef ELECTRA_WITH_CUDA
  if (t.is_cuda()) {
    if (!gpuKernelsReady(t.get_device())) return false;
    k = &gpuKernels(t.get_device());
    return k->status == "ok";
  }
#endif
  return false;
}

}  // namespace

bool customKernels(const torch::Tensor& x) {
  if (!customKernelsOn()) return false;
#ifdef ELECTRA_WITH_CUDA
  if (x.is_cuda()) return gpuKernelsReady(x.get_device()) && gpuKernels(x.get_device()).status == "ok";
#endif
  return x.is_cpu() && settings().testCpuKernels;
}

std::string compileCustomKernels(const std::string& arch, size_t& bytes) {
#ifdef ELECTRA_WITH_CUDA
  std::string why;
  bytes = compileKernels(arch, why).size();
  return why;
#else
  (void)arch;
  bytes = 0;
  return "not a CUDA build";
#endif
}

std::string customKernelsStatus(int device) {
#ifdef ELECTRA_WITH_CUDA
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_gpu.find(device);
  return it == g_gpu.end() ? "" : it->second.status;
#else
  (void)device;
  return "not a CUDA build";
#endif
}

torch::Tensor columnSums(const torch::Tensor& g) {
  const GpuKernels* k = nullptr;
  if (kernelLayout(g) && kernelsFor(g, k)) return columnSumsKernel(g, k);
  return g.sum(0, false, at::kFloat);
}

namespace {
// The kernel entry's dtype tag for these inputs, or "" where addLayerNorm does not apply.
std::string addLayerNormTag(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& w, const torch::Tensor& bias) {
  if (a.dim() < 2 || a.sizes() != b.sizes() || !a.is_contiguous() || !b.is_contiguous() || a.device() != b.device() ||
      reinterpret_cast<uintptr_t>(a.data_ptr()) % 8 != 0 || reinterpret_cast<uintptr_t>(b.data_ptr()) % 8 != 0)
    return "";
  const int64_t N = a.size(-1), M = a.numel() / std::max<int64_t>(N, 1);
  if (N % 32 != 0 || std::find(std::begin(kAddLnWidths), std::end(kAddLnWidths), static_cast<int>(N / 32)) == std::end(kAddLnWidths)) return "";
  if (M <= 0 || M >= (int64_t{1} << 30) || w.scalar_type() != at::kFloat || bias.scalar_type() != at::kFloat || w.numel() != N ||
      bias.numel() != N || w.device() != a.device() || bias.device() != a.device())
    return "";
  if (b.scalar_type() != at::kFloat) return "";
  if (a.scalar_type() == at::kFloat) return "f32";
  if (a.scalar_type() == at::kBFloat16) return "bf16f32";
  return "";
}

}  // namespace

bool addLayerNormApplies(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& w, const torch::Tensor& bias) {
  const GpuKernels* k = nullptr;
  return !addLayerNormTag(a, b, w, bias).empty() && kernelsFor(a, k);
}

std::vector<torch::Tensor> addLayerNormFused(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& w, const torch::Tensor& bias,
                                             double eps) {
  const std::string tag = addLayerNormTag(a, b, w, bias);
  const GpuKernels* k = nullptr;
  if (tag.empty() || !kernelsFor(a, k)) return {};
  const int64_t N = a.size(-1), M = a.numel() / N;
  auto r = addLayerNormKernel(a.view({M, N}), b.view({M, N}), w.contiguous(), bias.contiguous(), eps, tag, k);
  auto shape = a.sizes().vec();
  r[0] = r[0].view(shape);
  r[1] = r[1].view(shape);
  shape.back() = 1;
  r[2] = r[2].view(shape);  // ATen's shape for LayerNorm statistics: (.., 1)
  r[3] = r[3].view(shape);
  return r;
}

torch::Tensor gumbelArgmax(const torch::Tensor& l, const torch::Tensor& u, double temperature) {
  const GpuKernels* k = nullptr;
  if (l.dim() == 2 && l.sizes() == u.sizes() && l.scalar_type() == at::kFloat && u.scalar_type() == at::kFloat && l.is_contiguous() &&
      u.is_contiguous() && l.device() == u.device() && l.size(0) > 0 && l.size(0) < (int64_t{1} << 31) && l.size(1) > 0 &&
      l.size(1) < (int64_t{1} << 28) && kernelsFor(l, k))
    return gumbelArgmaxKernel(l, u, temperature, k);
  return torch::Tensor();
}

std::pair<torch::Tensor, torch::Tensor> layerNormWeightGrads(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean,
                                                             const torch::Tensor& rstd) {
  auto m = mean.to(at::kFloat).reshape({-1}).contiguous(), s = rstd.to(at::kFloat).reshape({-1}).contiguous();
  const GpuKernels* k = nullptr;
  if (kernelLayout(dy) && kernelLayout(x) && dy.sizes() == x.sizes() && dy.scalar_type() == at::kFloat && x.scalar_type() == at::kFloat &&
      dy.device() == x.device() &&
      m.numel() == dy.size(0) && s.numel() == dy.size(0) && m.device() == dy.device() && s.device() == dy.device() && kernelsFor(dy, k))
    return layerNormKernel(dy, x, m, s, k);
  auto d = dy.to(at::kFloat);
  auto xhat = (x.to(at::kFloat) - m.unsqueeze(1)) * s.unsqueeze(1);
  return {(d * xhat).sum(0), d.sum(0)};
}

}  // namespace electra
