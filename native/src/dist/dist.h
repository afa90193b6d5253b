// Data-parallel training on torch.distributed's c10d: rendezvous through TCPStore, ProcessGroupGloo
// for the collectives, gradients all-reduced in buckets from autograd hooks while the backward
// pass is still running (as c10d's Reducer does), parameters broadcast from rank 0.
//
// Backends: Gloo (CPU tensors) when the Gloo headers are found (ELECTRA_WITH_GLOO; libtorch
// ships Gloo's code but not its headers: Debian's libgloo-dev provides them), and NCCL (CUDA
// tensors) in CUDA builds whose libtorch has c10d NCCL and where nccl.h is found
// (ELECTRA_WITH_NCCL). Without either, every entry point throws ERR_DISTRIBUTED saying so.
#pragma once
#include <torch/torch.h>
#include <memory>
#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace electra {

struct DistOptions {
  int rank = 0, world = 1;
  std::string addr = "127.0.0.1";
  int port = 29500;
  int64_t timeout_ms = 1800000;
  std::string backend = "gloo";
  int device = -1;  // NCCL: this rank's CUDA device index
};

bool distributedAvailable();
// The backends of this build ("gloo", "nccl").
std::vector<std::string> distributedBackends();

class ProcessGroupHandle {
 public:
  explicit ProcessGroupHandle(const DistOptions& o);
  ~ProcessGroupHandle();
  int rank() const { return o_.rank; }
  int world() const { return o_.world; }
  const DistOptions& options() const { return o_; }
  // Where the group's collectives run: the CPU (Gloo) or this rank's CUDA device (NCCL).
  torch::Device device() const;
  // Copies rank 0's values into every rank's tensors (flattened per dtype and device).
  void broadcast(const std::vector<torch::Tensor>& ts);
  // Sums `t` in place over ranks.
  void allreduceSum(torch::Tensor& t);
  double allreduceMax(double v);
  void barrier();
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  DistOptions o_;
  std::unique_ptr<Impl> impl_;
};

// Gradient synchronisation for a set of parameters: while armed, each parameter's gradient
// accumulator hook marks it ready; a full bucket (~25 MiB) is flattened and its all-reduce
// launched at once, so communication overlaps the rest of the backward pass. finish() waits,
// divides by the world size and copies the averages back into the gradients.
class GradSync {
 public:
  GradSync(std::shared_ptr<ProcessGroupHandle> pg, std::vector<torch::Tensor> params, int64_t bucket_bytes = 25 << 20);
  ~GradSync();
  void arm();      // before the backward pass whose gradients are to be averaged
  void finish();   // after it
  ProcessGroupHandle& group() { return *pg_; }

 private:
  struct Bucket {
    std::vector<size_t> members;
    size_t ready = 0;
    torch::Tensor flat;
    std::vector<torch::Tensor> io;  // what the all-reduce works on (kept alive until it ends)
    std::function<void()> wait;
    bool launched = false;
  };
  void ready(size_t i);
  void launch(Bucket& b);
  std::shared_ptr<ProcessGroupHandle> pg_;
  std::vector<torch::Tensor> params_;
  std::vector<size_t> bucketOf_;
  std::vector<Bucket> buckets_;
  std::vector<bool> seen_;
  std::vector<std::shared_ptr<void>> hooks_;  // keeps the gradient accumulators (and our hooks) alive
  std::shared_ptr<std::atomic<GradSync*>> self_;  // hooks reach this object only while it lives
  std::mutex mu_;
  bool armed_ = false;
  std::string error_;
};

// Rows of this rank's shard within the global batch, for random draws that must match a
// single-process run (model/random.h reads it).
struct ShardScope {
  ShardScope(int64_t rowsBefore, int64_t localRows);
  ~ShardScope();
};

}  // namespace electra
