// Mixed precision by autocast: one scope type for training and inference.
#pragma once
#include <string>
#include <torch/torch.h>
#include <ATen/autocast_mode.h>
#include "common.h"

namespace electra {

// Turns autocast on for `precision` ("bf16" or "fp16"; "fp32" does nothing) on the device's
// type for the scope's lifetime, then puts the thread's previous autocast state back. Training
// runs it on CUDA only (`cpuToo` false: the CPU trains in fp32); inference asked for bf16 runs it
// on the CPU too.
class AutocastScope {
 public:
  AutocastScope(const std::string& precision, torch::Device d, bool cpuToo = false) {
    if (precision == "fp32" || precision.empty()) return;
    // ELECTRA_TEST_CPU_AUTOCAST=1 (tests only): training autocasts on the CPU too, so that the
    // CUDA path's mixed-precision numerics can be tested without a GPU.
    static const bool cpuTest = envSwitchSet("ELECTRA_TEST_CPU_AUTOCAST");
    if (!d.is_cuda() && !((cpuToo || cpuTest) && d.is_cpu())) return;
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

}  // namespace electra
