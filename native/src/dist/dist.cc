#include "dist/dist.h"
#include "common.h"
#include "model/random.h"

#if defined(ELECTRA_WITH_GLOO) || defined(ELECTRA_WITH_NCCL)
#define ELECTRA_WITH_DIST 1
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#ifndef TORCH_VERSION_MAJOR
#error "torch/version.h did not define TORCH_VERSION_MAJOR"
#endif
#endif
#ifdef ELECTRA_WITH_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef ELECTRA_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace electra {

ShardScope::ShardScope(int64_t rowsBefore, int64_t localRows) {
  tlShardRowsBefore = rowsBefore;
  tlShardLocalRows = localRows;
}
ShardScope::~ShardScope() {
  tlShardRowsBefore = 0;
  tlShardLocalRows = 0;
}

std::vector<std::string> distributedBackends() {
  std::vector<std::string> b;
#ifdef ELECTRA_WITH_GLOO
  b.push_back("gloo");
#endif
#ifdef ELECTRA_WITH_NCCL
  b.push_back("nccl");
#endif
  return b;
}

#ifdef ELECTRA_WITH_DIST

bool distributedAvailable() { return true; }

struct ProcessGroupHandle::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
  torch::Device device{torch::kCPU};  // where the group's own small tensors live
};

// c10d and Gloo failures (a peer gone, a timeout) become ERR_DISTRIBUTED.
template <typename F>
static auto collective(const char* what, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string m = e.what();
    if (m.size() > 400) m = m.substr(0, 400) + "...";
    fail("ERR_DISTRIBUTED", what, " failed (a rank exited or timed out?): ", m);
  }
}

ProcessGroupHandle::ProcessGroupHandle(const DistOptions& o) : o_(o), impl_(std::make_unique<Impl>()) {
  check(o.world >= 1 && o.rank >= 0 && o.rank < o.world, "ERR_CONFIG", "rank ", o.rank, " is outside [0, ", o.world, ")");
  check(o.port > 0 && o.port < 65536, "ERR_CONFIG", "master port ", o.port, " is outside [1, 65535]");
  const auto have = distributedBackends();
  std::string list;
  for (auto& b : have) list += (list.empty() ? "" : ", ") + b;
  check(std::find(have.begin(), have.end(), o.backend) != have.end(), "ERR_CONFIG", "backend '", o.backend,
        "' is not available in this build (", list, ")");
#ifdef ELECTRA_WITH_NCCL
  if (o.backend == "nccl") {
    check(o.device >= 0 && o.device < static_cast<int>(c10::cuda::device_count()), "ERR_DEVICE", "the NCCL backend needs this rank's CUDA device; cuda:",
          o.device, " does not exist (", static_cast<int>(c10::cuda::device_count()), " visible)");
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(o.device));
    impl_->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.device));
  }
#endif
  collective("rendezvous", [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(o.port);
    so.isServer = o.rank == 0;
    so.numWorkers = o.world;
    so.waitWorkers = true;
    so.timeout = std::chrono::milliseconds(o.timeout_ms);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(o.addr, so);
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("electra", tcp);
#ifdef ELECTRA_WITH_NCCL
    if (o.backend == "nccl") {
      // Blocking waits: a timed-out or failed collective throws here (-> ERR_DISTRIBUTED) instead
      // of NCCL's watchdog aborting the process. The user's own setting wins.
      setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
      auto no = c10d::ProcessGroupNCCL::Options::create();
      no->timeout = std::chrono::milliseconds(o.timeout_ms);
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, o.rank, o.world, no);
      return;
    }
#endif
#ifdef ELECTRA_WITH_GLOO
    auto go = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(o.timeout_ms));
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    go->devices.push_back(ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                 : (o.addr == "127.0.0.1" || o.addr == "localhost")
                                       ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                       : c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, o.rank, o.world, go);
#endif
  });
}

ProcessGroupHandle::~ProcessGroupHandle() {
  // An explicit shutdown, as torch.distributed.destroy_process_group() does: NCCL's communicators
  // and watchdog thread are released now rather than at process exit (where ProcessGroupNCCL
  // warns that it was never shut down). Gloo's shutdown does nothing. Never throws from here.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  if (impl_ && impl_->pg) {
    try {
      impl_->pg->shutdown();
    } catch (const std::exception&) {
    }
  }
#endif
}

torch::Device ProcessGroupHandle::device() const { return impl_->device; }

void ProcessGroupHandle::broadcast(const std::vector<torch::Tensor>& ts) {
  torch::NoGradGuard ng;
  // One flat buffer per (dtype, device) group, in order.
  std::vector<torch::Tensor> group;
  auto flush = [&] {
    if (group.empty()) return;
    std::vector<torch::Tensor> flat{torch::cat([&] {
      std::vector<torch::Tensor> v;
      for (auto& t : group) v.push_back(t.detach().reshape({-1}));
      return v;
    }())};
    collective("broadcast", [&] { impl_->pg->broadcast(flat, c10d::BroadcastOptions{})->wait(); });
    int64_t off = 0;
    for (auto& t : group) {
      t.detach().copy_(flat[0].narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
    group.clear();
  };
  for (auto& t : ts) {
    if (!group.empty() && (group[0].scalar_type() != t.scalar_type() || group[0].device() != t.device())) flush();
    group.push_back(t);
  }
  flush();
}

void ProcessGroupHandle::allreduceSum(torch::Tensor& t) {
  // NCCL works on the group's CUDA device only: small host tensors (statistics) go there and back.
  const bool moved = t.device() != impl_->device && impl_->device.is_cuda();
  std::vector<torch::Tensor> v{moved ? t.to(impl_->device) : t};
  collective("all-reduce", [&] { impl_->pg->allreduce(v, c10d::AllreduceOptions{})->wait(); });
  if (moved) t.copy_(v[0]);
}

double ProcessGroupHandle::allreduceMax(double x) {
  std::vector<torch::Tensor> v{torch::full({1}, x, torch::TensorOptions().dtype(torch::kDouble).device(impl_->device))};
  c10d::AllreduceOptions ao;
  ao.reduceOp = c10d::ReduceOp::MAX;
  collective("all-reduce", [&] { impl_->pg->allreduce(v, ao)->wait(); });
  return v[0].item<double>();
}

void ProcessGroupHandle::barrier() {
  c10d::BarrierOptions bo;
  if (impl_->device.is_cuda()) bo.device_ids = {impl_->device.index()};
  collective("barrier", [&] { impl_->pg->barrier(bo)->wait(); });
}

GradSync::GradSync(std::shared_ptr<ProcessGroupHandle> pg, std::vector<torch::Tensor> params, int64_t bucket_bytes)
    : pg_(std::move(pg)), params_(std::move(params)), self_(std::make_shared<std::atomic<GradSync*>>(this)) {
  // Buckets in reverse parameter order: gradients arrive roughly from the last layer back.
  bucketOf_.assign(params_.size(), 0);
  seen_.assign(params_.size(), false);
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    auto& p = params_[k];
    int64_t nb = p.numel() * static_cast<int64_t>(p.element_size());
    bool newBucket = buckets_.empty() || bytes + nb > bucket_bytes || buckets_.back().members.empty() ||
                     params_[buckets_.back().members[0]].scalar_type() != p.scalar_type() ||
                     params_[buckets_.back().members[0]].device() != p.device();
    if (newBucket) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().members.push_back(k);
    bucketOf_[k] = buckets_.size() - 1;
    bytes += nb;
  }
  for (size_t i = 0; i < params_.size(); i++) {
    auto acc = torch::autograd::impl::grad_accumulator(params_[i]);
    check(acc != nullptr, "ERR_DISTRIBUTED", "parameter ", i, " has no gradient accumulator");
    acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [self = self_, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          if (GradSync* s = self->load()) s->ready(i);
          return outputs;
        }));
    // Keep the accumulator alive: the hook lives on it.
    hooks_.push_back(std::shared_ptr<void>(nullptr, [acc](void*) mutable { acc.reset(); }));
  }
}

GradSync::~GradSync() { self_->store(nullptr); }

void GradSync::arm() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = true;
  error_.clear();
  std::fill(seen_.begin(), seen_.end(), false);
  for (auto& b : buckets_) {
    b.ready = 0;
    b.launched = false;
    b.wait = nullptr;
  }
}

void GradSync::launch(Bucket& b) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> parts;
  for (auto k : b.members) {
    auto& p = params_[k];
    auto g = p.grad();
    parts.push_back(g.defined() ? g.reshape({-1}) : torch::zeros({p.numel()}, p.options()));
  }
  b.flat = torch::cat(parts);
  b.io = {b.flat};
  auto work = pg_->impl().pg->allreduce(b.io, c10d::AllreduceOptions{});
  b.wait = [work] { work->wait(); };
  b.launched = true;
}

void GradSync::ready(size_t i) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_ || seen_[i]) return;
  seen_[i] = true;
  auto& b = buckets_[bucketOf_[i]];
  if (++b.ready == b.members.size()) {
    try {
      launch(b);
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }
}

void GradSync::finish() {
  torch::NoGradGuard ng;
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
  if (!error_.empty()) fail("ERR_DISTRIBUTED", "gradient all-reduce failed: ", error_.substr(0, 400));
  const double inv = 1.0 / static_cast<double>(pg_->world());
  for (auto& b : buckets_) {
    collective("gradient all-reduce", [&] {
      if (!b.launched) launch(b);  // parameters without a gradient this step
      b.wait();
    });
    b.flat.mul_(inv);
    int64_t off = 0;
    for (auto k : b.members) {
      auto& p = params_[k];
      auto avg = b.flat.narrow(0, off, p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(avg);
      else p.mutable_grad() = avg.clone();
      off += p.numel();
    }
    b.wait = nullptr;
    b.io.clear();
    b.flat = torch::Tensor();
  }
}

#else

bool distributedAvailable() { return false; }
struct ProcessGroupHandle::Impl {};
static const char* kNoGloo =
    "this build has no distributed support: libtorch ships Gloo's code but not its headers; install them "
    "(Debian/Ubuntu: apt install libgloo-dev) and rebuild (npm run build:native); CUDA builds also find NCCL "
    "(nccl.h from the CUDA toolkit, NCCL_ROOT or the nvidia-nccl wheel)";
ProcessGroupHandle::ProcessGroupHandle(const DistOptions& o) : o_(o) { fail("ERR_DISTRIBUTED", kNoGloo); }
ProcessGroupHandle::~ProcessGroupHandle() = default;
void ProcessGroupHandle::broadcast(const std::vector<torch::Tensor>&) { fail("ERR_DISTRIBUTED", kNoGloo); }
void ProcessGroupHandle::allreduceSum(torch::Tensor&) { fail("ERR_DISTRIBUTED", kNoGloo); }
double ProcessGroupHandle::allreduceMax(double) { fail("ERR_DISTRIBUTED", kNoGloo); }
void ProcessGroupHandle::barrier() { fail("ERR_DISTRIBUTED", kNoGloo); }
torch::Device ProcessGroupHandle::device() const { return torch::kCPU; }
GradSync::GradSync(std::shared_ptr<ProcessGroupHandle> pg, std::vector<torch::Tensor>, int64_t) : pg_(std::move(pg)) {
  fail("ERR_DISTRIBUTED", kNoGloo);
}
GradSync::~GradSync() = default;
void GradSync::arm() {}
void GradSync::finish() {}
void GradSync::ready(size_t) {}
void GradSync::launch(Bucket&) {}

#endif

}  // namespace electra
