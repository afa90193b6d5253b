// Custom kernels for a training pass on CUDA (on by default: the customKernels setting, or a
// trainer's kernels.customKernels; docs/switches.md): the backward pass's reductions below,
// Gumbel-max sampling and the residual add + LayerNorm (further down).
//
// What they replace: two of ATen's reductions, LayerNorm's weight and bias gradients
// (`GammaBetaBackwardCUDAKernelTemplate`) and the bias gradients' column sums (`reduce_kernel`),
// run far below the card's memory bandwidth at the step's shapes (docs/benchmarks.md). The kernels
// in model/kernels_src.h read each input once, with 128-byte rows per warp, and write fp32
// partial sums per block of rows, which at::sum then adds (a matrix of a few hundred rows).
//
// On CUDA they are compiled at run time by NVRTC (the libnvrtc that PyTorch loads; no CUDA
// compiler at build time), for the GPU in use, on first use, and checked once against ATen on a
// small input; if anything fails (no NVRTC, a compile or launch error, a wrong result) the process
// says so once on stderr and keeps ATen's kernels. On the CPU they run only for tests (the
// test-only setting testCpuKernels: the same source, one thread at a time).
#pragma once
#include <torch/torch.h>
#include <ATen/autocast_mode.h>
#include <utility>

namespace electra {

// Whether the custom kernels replace ATen's for x's device: they are on for this thread
// (customKernelsOn(), settings.h) and x is on a CUDA device where they compiled and passed their
// check (or on the CPU under the test-only setting testCpuKernels).
bool customKernels(const torch::Tensor& x);

// Column sums of a 2-D tensor (M, N), fp32 or bf16, in fp32: (N). Uses the custom kernel where it
// can (contiguous, N even, 4-byte aligned; CUDA, or the CPU emulation), at::sum otherwise.
torch::Tensor columnSums(const torch::Tensor& g);

// LayerNorm's weight and bias gradients in fp32 from dy and x (M, N) and the forward pass's mean
// and rstd (M values each). The kernel takes fp32 (the dtype training normalises in); other
// dtypes get the same sums from ATen's operators.
std::pair<torch::Tensor, torch::Tensor> layerNormWeightGrads(const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& mean,
                                                             const torch::Tensor& rstd);

// Gumbel-max sampling: for each row of the logits l (rows, V) the column of the largest
// l + Gumbel noise from the uniform draws u (same shape; masking.cc's formula and temperature), in
// one pass (model/kernels_src.h) instead of five over (rows, V) buffers and an argmax. Both fp32
// and contiguous, rows <= 65535; an undefined tensor where the kernel cannot run (the caller then
// takes ATen's path).
torch::Tensor gumbelArgmax(const torch::Tensor& l, const torch::Tensor& u, double temperature);

// Residual add and LayerNorm over the last dimension in one pass: {y, x = a + b, mean, rstd}, all
// fp32 (mean and rstd shaped (.., 1) as ATen's), or an empty vector where the kernel does not
// apply. a (fp32 or bf16) and b (fp32) of one shape, contiguous; w and bias fp32; the last
// dimension 64, 128, 256, 512, 768 or 1024.
std::vector<torch::Tensor> addLayerNormFused(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& w, const torch::Tensor& bias,
                                             double eps);
// Whether addLayerNormFused applies to these inputs (layout, dtypes, width, the kernels usable on
// their device), without running it.
bool addLayerNormApplies(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& w, const torch::Tensor& bias);

// What happened to the kernels on a device: "" before first use, "ok", or why ATen's are used.
std::string customKernelsStatus(int device);

// NVRTC compilation alone, for an architecture ("sm_90"), no GPU needed: "" and the CUBIN's size
// in `bytes`, or why it failed ("not a CUDA build" on CPU builds). For the tests.
std::string compileCustomKernels(const std::string& arch, size_t& bytes);

// The backward pass of a LayerNorm whose forward saved {x, its weight in x's dtype, mean, rstd}:
// the input's gradient from ATen's native_layer_norm_backward (input only) when `input`, the
// weight and bias gradients from layerNormWeightGrads when `weights`.
struct LayerNormGrads {
  torch::Tensor dx, gw, gb;
};
inline LayerNormGrads layerNormBackward(torch::autograd::AutogradContext* ctx, const torch::Tensor& gy, bool input, bool weights) {
  auto saved = ctx->get_saved_variables();
  const auto& x = saved[0];
  const auto& wc = saved[1];
  const auto& mean = saved[2];
  const auto& rstd = saved[3];
  const int64_t n = x.size(-1);
  c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
  auto dy = gy.to(x.scalar_type()).contiguous();
  LayerNormGrads g;
  if (input) {
    // ATen's CPU kernel takes a bf16 input's statistics in bf16 (CUDA's in fp32, as the fused
    // kernel's are): the CPU emulation's case only.
    const bool cpuBf16 = x.is_cpu() && x.scalar_type() != at::kFloat;
    g.dx = std::get<0>(at::native_layer_norm_backward(dy, x, {n}, cpuBf16 ? mean.to(x.scalar_type()) : mean,
                                                      cpuBf16 ? rstd.to(x.scalar_type()) : rstd, wc, std::nullopt, {true, false, false}));
  }
  if (weights) std::tie(g.gw, g.gb) = layerNormWeightGrads(dy.view({-1, n}), x.view({-1, n}), mean.reshape({-1}), rstd.reshape({-1}));
  return g;
}

// LayerNorm over the last dimension with its weight and bias gradients from layerNormWeightGrads:
// x in the dtype to normalise in (fp32 in training); w and b the fp32 weights, cast to x's dtype
// for the forward pass; their gradients come back in fp32, straight from the kernel. The input's
// gradient is ATen's (native_layer_norm_backward, input only).
struct LayerNormFn : torch::autograd::Function<LayerNormFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                               double eps) {
    const int64_t n = x.size(-1);
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
    auto wc = w.to(x.scalar_type()), bc = b.to(x.scalar_type());
    auto xc = x.contiguous();
    auto [y, mean, rstd] = at::native_layer_norm(xc, {n}, wc, bc, eps);
    ctx->save_for_backward({xc, wc, mean, rstd});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list go) {
    auto g = layerNormBackward(ctx, go[0], ctx->needs_input_grad(0), ctx->needs_input_grad(1) || ctx->needs_input_grad(2));
    return {g.dx, g.gw, g.gb, torch::Tensor()};
  }
};

// Residual add + LayerNorm with addLayerNormFused's forward (the caller has checked that it
// applies): a, b as given (a's dtype picks the kernel), w and b fp32 weights. Backward: the input
// gradient from ATen's native_layer_norm_backward, to both a and b in their dtypes; the weight
// and bias gradients from layerNormWeightGrads.
struct AddLayerNormFn : torch::autograd::Function<AddLayerNormFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& w,
                               const torch::Tensor& bias, double eps) {
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
    auto r = addLayerNormFused(a, b, w, bias, eps);
    TORCH_CHECK(r.size() == 4, "addLayerNormFused does not apply to these inputs");
    ctx->save_for_backward({r[1], w.to(r[1].scalar_type()), r[2], r[3]});
    ctx->saved_data["a"] = static_cast<int64_t>(a.scalar_type());
    ctx->saved_data["b"] = static_cast<int64_t>(b.scalar_type());
    return r[0];
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list go) {
    auto g = layerNormBackward(ctx, go[0], ctx->needs_input_grad(0) || ctx->needs_input_grad(1), ctx->needs_input_grad(2) || ctx->needs_input_grad(3));
    torch::Tensor da, db;
    if (ctx->needs_input_grad(0)) da = g.dx.to(static_cast<at::ScalarType>(ctx->saved_data["a"].toInt()));
    if (ctx->needs_input_grad(1)) db = g.dx.to(static_cast<at::ScalarType>(ctx->saved_data["b"].toInt()));
    return {da, db, g.gw, g.gb, torch::Tensor()};
  }
};

}  // namespace electra
