// A caching CPU allocator for training steps. Every step allocates and frees the same large
// tensors ((B, N, V) generator logits, activations, gradients). glibc serves blocks over 32 MiB
// with fresh mmaps, and a worker thread's arena unmaps freed heaps, so each step page-faults its
// working set again (PyTorch from Python keeps it: its main-thread arena keeps memory). Blocks of
// 1 MiB and more are kept on exact-size free lists, up to a limit (RAM/8, at most 4 GiB), and
// reused, but only while a training step runs (Scope), so that inference in a long-lived process
// (an Electron app) keeps glibc's usual behaviour; disposing a trainer returns the cache. libtorch's CPU allocator is process-wide, hence one static instance,
// never destroyed (tensors may outlive any owner). The setting cpuCache off leaves libtorch's own
// allocator in place.
#pragma once
#include <c10/core/CPUAllocator.h>
#include "common.h"
#include <c10/core/impl/alloc_cpu.h>
#include <unistd.h>
#include <cstdlib>
#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace electra {

class CachingCpuAllocator final : public c10::Allocator {
 public:
  static constexpr size_t kMinBlock = 1 << 20;

  static CachingCpuAllocator& instance() {
    static auto* a = [] {
      size_t ram = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
      return new CachingCpuAllocator(std::min<size_t>(ram / 8, size_t(4) << 30));
    }();
    return *a;
  }

  // Caching is on while at least one scope is open (training steps).
  struct Scope {
    Scope() { instance().scopes_++; }
    ~Scope() { instance().scopes_--; }
  };

  c10::DataPtr allocate(size_t n) override {
    void* p = n >= kMinBlock ? take(n) : nullptr;
    if (!p) p = c10::alloc_cpu(n);
    if (n >= kMinBlock) {
      std::lock_guard<std::mutex> lock(mutex_);
      live_[p] = n;
    }
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }

  // Returns every cached block to the system; -> bytes released.
  size_t trim() {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = cached_;
    for (auto& [size, v] : free_)
      for (void* p : v) c10::free_cpu(p);
    free_.clear();
    cached_ = 0;
    return n;
  }

 private:
  explicit CachingCpuAllocator(size_t limit) : limit_(limit) {}

  void* take(size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(n);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= n;
    return p;
  }

  static void release(void* p) {
    if (!p) return;
    auto& a = instance();
    {
      std::lock_guard<std::mutex> lock(a.mutex_);
      auto it = a.live_.find(p);
      if (it != a.live_.end()) {
        size_t n = it->second;
        a.live_.erase(it);
        if (a.scopes_.load() > 0 && a.cached_ + n <= a.limit_) {
          a.free_[n].push_back(p);
          a.cached_ += n;
          return;
        }
      }
    }
    c10::free_cpu(p);
  }

  std::mutex mutex_;
  std::atomic<int> scopes_{0};
  std::unordered_map<void*, size_t> live_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  size_t limit_;
};

// Makes the caching allocator libtorch's CPU allocator (on), or libtorch's default one again
// (off: the cached blocks are returned; blocks in use keep their deleter, which frees them).
inline void useCpuCache(bool on) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  c10::SetCPUAllocator(on ? static_cast<c10::Allocator*>(&CachingCpuAllocator::instance()) : c10::GetDefaultCPUAllocator(), /*priority=*/10);
  if (!on) CachingCpuAllocator::instance().trim();
}

}  // namespace electra
