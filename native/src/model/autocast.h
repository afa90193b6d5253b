// Mixed precision by autocast: one scope type for training and inference.
#pragma once
#include <string>
#include <torch/torch.h>
#include <ATen/autocast_mode.h>
#include "common.h"
#include "settings.h"

namespace electra {

// Turns autocast on for `precision` ("bf16" or "fp16"; "fp32" does nothing) on the device's
// type for the scope's lifetime, then puts the thread's previous autocast state back. Training
// runs it on CUDA only (`cpuToo` false: the CPU trains in fp32); inference asked for bf16 runs it
// on the CPU too.
class AutocastScope {
 public:
  AutocastScope(const std::string& precision, torch::Device d, bool cpuToo = false) {
    if (precision == "fp32" || precision.empty()) return;
    // The test-only setting testCpuAutocast: training autocasts on the CPU too, so that the CUDA
    // path's mixed-precision numerics can be tested without a GPU.
    if (!d.is_cuda() && !((cpuToo || settings().testCpuAutocast) && d.is_cpu())) return;
    type_ = d.type();
    prevEnabled_ = at::autocast::is_autocast_enabled(type_);
    prevDtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, precision == "bf16" ? at::kBFloat16 : at::kHalf);
    on_ = true;
  }
  ~AutocastScope() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(type_, prevEnabled_);
    at::autocast::set_autocast_dtype(type_, prevDtype_);
    at::autocast::clear_cache();
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_ = false;
  bool prevEnabled_ = false;
  at::ScalarType prevDtype_ = at::kBFloat16;
  at::DeviceType type_ = at::kCPU;
};

// Autocast off on the device's type for the scope's lifetime, its cache of cast weights kept:
// for backward passes inside an AutocastScope. PyTorch runs backward with the autocast state of
// the thread that calls it (the engine's worker threads inherit it), and autocast is meant for
// forward passes only: each backward operator then went through autocast's wrapper too (a second
// dispatch of every matrix product, seen as doubled `aten::mm` calls in bench/op-census.cjs), and
// those on its lists re-cast their gradients (an fp32 product such as the discriminator's output
// layer ran its backward in bf16). With it off, each backward operator runs in the dtype its
// forward used, as in PyTorch's recommended `with autocast(): loss = ...; loss.backward()`.
class AutocastOff {
 public:
  explicit AutocastOff(torch::Device d) : type_(d.type()), prev_(at::autocast::is_autocast_enabled(type_)) {
    if (prev_) at::autocast::set_autocast_enabled(type_, false);
  }
  ~AutocastOff() {
    if (prev_) at::autocast::set_autocast_enabled(type_, true);
  }
  AutocastOff(const AutocastOff&) = delete;
  AutocastOff& operator=(const AutocastOff&) = delete;

 private:
  at::DeviceType type_;
  bool prev_;
};

}  // namespace electra
