// The N-API boundary: typed arrays <-> tensors (always copied: Electron's memory cage rejects
// external buffers), error mapping to coded errors, and the Promise-returning worker base.
#pragma once
#include <napi.h>
#include <torch/torch.h>
#include <functional>
#include <optional>
#include "common.h"

namespace electra {

// Throws a JS Error carrying `code` (src/errors.ts turns it into an ElectraError).
[[noreturn]] void throwJs(Napi::Env env, const std::string& code, const std::string& message);
Napi::Error makeJsError(Napi::Env env, const std::string& code, const std::string& message);

// Runs `fn` and maps C++ / libtorch exceptions to a (code, message) pair; returns true on success.
bool runMapped(const std::function<void()>& fn, std::string& code, std::string& message);

// Synchronous methods: run `fn`, throwing a coded JS error on failure.
template <typename F>
auto guarded(Napi::Env env, F&& fn) -> decltype(fn()) {
  std::string code, message;
  using R = decltype(fn());
  if constexpr (std::is_void_v<R>) {
    if (!runMapped([&] { fn(); }, code, message)) throwJs(env, code, message);
  } else {
    R result{};
    if (!runMapped([&] { result = fn(); }, code, message)) throwJs(env, code, message);
    return result;
  }
}

// A view of a JS {dtype, shape, data} object, read on the main thread and kept alive by a
// reference so that the worker can copy from it.
struct JsTensor {
  torch::ScalarType dtype = torch::kFloat;
  std::vector<int64_t> shape;
  void* data = nullptr;
  size_t bytes = 0;
  Napi::Reference<Napi::Value> keep;
  // Copies into a new tensor (on the worker thread is fine while `keep` holds the array).
  torch::Tensor copy() const;
};
// `what` names the argument in error messages. Accepts float32/float16/bfloat16/int32/int64/uint8.
JsTensor readJsTensor(Napi::Env env, Napi::Value v, const std::string& what);
// A JS typed array of int32 with a known shape, as in batches.
JsTensor readInt32(Napi::Env env, Napi::Value v, const std::vector<int64_t>& shape, const std::string& what);

// Copies a tensor to a new JS {dtype, shape, data} object (float32, int32, int64 -> as is;
// float16/bfloat16 -> float32).
Napi::Object tensorToJs(Napi::Env env, const torch::Tensor& t);

torch::Device parseDevice(const std::string& s);

// o[key] as a boolean, nothing when undefined; anything else is ERR_CONFIG naming `prefix` + key.
std::optional<bool> optionalBool(Napi::Env env, Napi::Object o, const char* key, const std::string& prefix = "");

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;
// [{name, dtype, shape, data}] from named tensors (copied), and the other way (views kept alive).
Napi::Array namedTensorsToJs(Napi::Env env, const NamedTensors& values);
std::vector<std::pair<std::string, JsTensor>> readNamedTensors(Napi::Env env, Napi::Value v);

// A {inputIds, tokenTypeIds, attentionMask, shape: [B, T]} batch of Int32Arrays.
struct JsBatch {
  JsTensor ids, types, mask;
  // (B, T) int64 ids and types, int32 mask, copied.
  std::array<torch::Tensor, 3> tensors() const;
};
JsBatch readBatch(Napi::Env env, Napi::Value v, const std::string& what);

// The process's libtorch work runs on one thread, the executor: Node's worker pool (libuv, four
// threads) hands each job to it and waits. OpenMP keeps a team of threads per calling thread, so
// jobs spread over the pool's threads kept several teams, more threads than cores, whose idle
// threads slept instead of spinning: every parallel region then paid futex wake-ups. One thread
// also keeps CUDA work in one order, which a CUDA graph capture needs. The setting executor off
// (A/B runs) runs jobs on the pool's threads instead. `threads`: the intra-op thread count the
// executor applies before its next job (setNumThreads; OpenMP's count is per thread).
void runOnExecutor(const std::function<void()>& job);
void setExecutorThreads(int threads);
bool executorEnabled();

class Worker : public Napi::AsyncWorker {
 public:
  Worker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  virtual void run() = 0;                              // worker thread (the executor, see above)
  virtual Napi::Value result(Napi::Env env) = 0;       // main thread, after run()
  virtual void finished() {}                           // main thread, success or failure
  // A job that waits for other processes and does no numeric work (the rendezvous) stays on the
  // pool's thread, so that it never holds the executor.
  virtual bool onExecutor() const { return true; }
  void Execute() final {
    std::string message;
    bool ok = false;
    auto job = [&] { ok = runMapped([this] { run(); }, code_, message); };
    if (onExecutor()) runOnExecutor(job);
    else job();
    if (!ok) SetError(message);
  }
  void OnOK() final;
  void OnError(const Napi::Error& e) final;

  Napi::Promise::Deferred deferred_;
  std::string code_ = "ERR_NATIVE";
};

// A worker on a stateful native object: keeps the JS object alive and clears the object's busy
// flag when it ends, whatever the outcome (one operation in flight per object).
template <typename State>
class StateWorker : public Worker {
 public:
  StateWorker(Napi::Env env, const char* name, std::shared_ptr<State> st, Napi::Object self)
      : Worker(env, name), state_(std::move(st)), self_(Napi::Persistent(self)) {}

 protected:
  void finished() override {
    state_->busy = false;
    self_.Reset();
  }
  std::shared_ptr<State> state_;
  Napi::ObjectReference self_;
};

// Queues a worker and returns its promise.
template <typename W>
Napi::Value queue(W* w) {
  auto p = w->promise();
  w->Queue();
  return p;
}

}  // namespace electra
