// Linear layers under autocast with fp32 weight gradients straight from the GEMM
// (ELECTRA_FP32_WGRAD=1; off by default until measured on a GPU).
//
// Under autocast a linear layer casts its fp32 weight to bf16, the backward GEMM writes the weight
// gradient in bf16, and the cast's backward converts it to fp32 for the fp32 master weight: one
// extra kernel per weight and per bias each step (in the H100 profile of ELECTRA-Base, by their
// count, 188 of them, 2.1 ms). With the switch the backward GEMM writes fp32 itself (cuBLAS, bf16 inputs, fp32
// accumulation and output: aten::mm.dtype, CUDA, PyTorch >= 2.8) and the bias gradient is summed
// into fp32 directly; the gradients are then also unrounded, unlike autocast's. The CPU has no
// mm.dtype: there the same product is taken in fp32 from the bf16 values (what the GPU computes,
// up to summation order), which lets the CPU tests run this path.
#pragma once
#include <torch/torch.h>
#include <ATen/autocast_mode.h>
#include "common.h"
#include "model/kernels.h"

namespace electra {

inline bool fp32WeightGrads() {
  static const bool on = envSwitchSet("ELECTRA_FP32_WGRAD");
  return on;
}

// Whether autocast is on in bf16 for x's device (the case both bf16 switches apply to).
inline bool bf16Autocast(const torch::Tensor& x) {
  const auto dev = x.device().type();
  return at::autocast::is_autocast_enabled(dev) && at::autocast::get_autocast_dtype(dev) == at::kBFloat16;
}

struct CastLinearFn : torch::autograd::Function<CastLinearFn> {
  // x (.., in) in any float dtype; w (out, in), b (out) or undefined, fp32 master weights;
  // dt: the autocast dtype. -> (.., out) in dt.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                               at::ScalarType dt) {
    auto xc = x.to(dt), wc = w.to(dt);
    ctx->save_for_backward({xc, wc});
    ctx->saved_data["bias"] = b.defined();
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
    return at::linear(xc, wc, b.defined() ? std::optional<at::Tensor>(b.to(dt)) : std::nullopt);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list go) {
    auto saved = ctx->get_saved_variables();
    const auto& xc = saved[0];
    const auto& wc = saved[1];
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
    auto g = go[0].to(wc.scalar_type());
    const int64_t out = wc.size(0), in = wc.size(1);
    auto g2 = g.reshape({-1, out});
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = at::matmul(g, wc);  // (.., in), the autocast dtype; autograd casts it to x's
    if (ctx->needs_input_grad(1)) {
      auto x2 = xc.reshape({-1, in});
      if (!fp32WeightGrads())
        dw = at::mm(g2.t(), x2).to(at::kFloat);  // autocast's arithmetic (here for ELECTRA_CUSTOM_KERNELS alone)
      else
        dw = g2.is_cuda() ? at::mm(g2.t(), x2, at::kFloat) : at::mm(g2.t().to(at::kFloat), x2.to(at::kFloat));
    }
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2))
      db = customKernels(g2) ? columnSums(g2.contiguous()) : g2.sum(0, false, at::kFloat);
    return {dx, dw, db, torch::Tensor()};
  }
};

// y = x w^T + b, through CastLinearFn when the switch is on, autocast is on in bf16 (fp16 keeps
// autocast's path: its loss-scaled steps are not tested with this) and the weight needs a
// gradient; otherwise ATen's linear (autocast as usual).
// With the custom kernels (ELECTRA_CUSTOM_KERNELS, on by default on CUDA) it takes this path too, for the bias gradient's column sums
// (model/kernels.h); the weight gradient is then autocast's (bf16 GEMM, cast to fp32).
inline torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  if (torch::GradMode::is_enabled() && w.requires_grad() && bf16Autocast(x) && (fp32WeightGrads() || customKernels(x)))
    return CastLinearFn::apply(x, w, b, at::kBFloat16);
  return torch::linear(x, w, b);
}

inline torch::Tensor linear(torch::nn::Linear& l, const torch::Tensor& x) { return linear(x, l->weight, l->bias); }

// A linear layer kept in fp32 under autocast (input cast to fp32, autocast bypassed): for output
// layers whose few outputs are scores, such as the discriminator's one logit per token. In bf16
// those logits carry 8 bits: late in training they differ by less than a bf16 step, so many tie,
// which blurs both the loss's signal and rankings (ROC AUC, R-precision) made from them. The
// product is (tokens x H) by (H x 1): its fp32 cost is negligible.
inline torch::Tensor linearFp32(torch::nn::Linear& l, const torch::Tensor& x) {
  const auto dev = x.device().type();
  if (!at::autocast::is_autocast_enabled(dev)) return l(x);
  c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
  return torch::linear(x.to(at::kFloat), l->weight, l->bias);
}

}  // namespace electra
