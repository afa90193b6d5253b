// Process-wide settings in one struct, set from JavaScript through the addon's configure()
// (src/runtime.ts, which applies the environment's overrides; docs/switches.md lists every
// switch) and read where they apply. Nothing in the native code reads the environment for them.
#pragma once
#include <atomic>
#include <cstdint>
#include <optional>

namespace electra {

struct alignas(8) Settings {
  bool executor = true;       // libtorch work on one executor thread (binding/convert.h)
  bool cpuCache = true;       // the caching CPU allocator during training steps (train/cpu_cache.h)
  bool parallelRng = true;    // CPU random draws from parallel Philox streams (model/random.h)
  bool sdpaCudnn = true;      // cuDNN's kernels among scaled_dot_product_attention's choices
  bool customKernels = true;  // the custom kernels (model/kernels.h) where no trainer chose
  // Test-only, never user-facing (the addon's _test.configure):
  bool testCpuAutocast = false;  // training autocasts on the CPU too (model/autocast.h)
  bool testCpuKernels = false;   // the model's ops use the custom kernels' CPU emulation
};

namespace detail {
inline std::atomic<Settings> g_settings{Settings{}};
static_assert(std::atomic<Settings>::is_always_lock_free, "Settings must stay one lock-free word");
inline thread_local int8_t tl_customKernels = -1;  // -1: no trainer's choice on this thread
}  // namespace detail

// The current settings (read on any thread; a copy of one word).
inline Settings settings() { return detail::g_settings.load(std::memory_order_relaxed); }
// Stores new settings; binding/addon.cc's configure() also applies their side effects.
inline void storeSettings(const Settings& s) { detail::g_settings.store(s, std::memory_order_relaxed); }

// Whether the model's ops use the custom kernels on this thread: the trainer's choice inside its
// steps (CustomKernelsScope), the process setting elsewhere (inference).
inline bool customKernelsOn() {
  const int8_t t = detail::tl_customKernels;
  return t < 0 ? settings().customKernels : t > 0;
}

// A trainer's choice of the custom kernels for the work it runs on this thread (its steps, their
// graph capture); unset keeps the process setting. Autograd may run a backward pass on another
// thread (CUDA's device threads), so a custom function decides in its forward pass and keeps the
// decision for its backward.
class CustomKernelsScope {
 public:
  explicit CustomKernelsScope(std::optional<bool> on) : prev_(detail::tl_customKernels) {
    if (on) detail::tl_customKernels = *on ? 1 : 0;
  }
  ~CustomKernelsScope() { detail::tl_customKernels = prev_; }
  CustomKernelsScope(const CustomKernelsScope&) = delete;
  CustomKernelsScope& operator=(const CustomKernelsScope&) = delete;

 private:
  int8_t prev_;
};

}  // namespace electra
