// The whole pre-training step as one CUDA graph (KernelOptions::cuda_graph): after two eager
// steps at a batch shape, the forward pass, the backward pass, clipping and the AdamW update are
// captured once and replayed for every later step of that shape, from static input tensors the
// batch is copied into. Pretrainer::step() asks graphable() and falls back to an eager step
// whenever graphStep() returns metrics without `graph`.
#include "train/pretrain.h"
#include <mutex>
#include <unordered_map>
#include "model/autocast.h"
#ifdef ELECTRA_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace electra {

#ifdef ELECTRA_WITH_CUDA
struct Pretrainer::Graph {
  std::unique_ptr<at::cuda::CUDAGraph> g;
  torch::Tensor ids, types, mask;  // static inputs, copied into before each replay
  torch::Tensor sums, norm;        // static outputs: the packed StepSums and the gradient norm
  std::vector<int64_t> shape;
  int eager = 0;                   // eager steps taken at this shape
  bool failed = false;             // capture failed: the trainer is unusable with graphs
  int64_t optVersion = -1;         // the optimizer state version the graph was captured with
  bool padded = false;             // captured with the attention mask (any batch) or without (unpadded ones only)
  int paddedRun = 0;               // padded batches in a row that a graph without the mask sent to eager steps
};
#else
struct Pretrainer::Graph {};
#endif

void Pretrainer::GraphDeleter::operator()(Graph* g) const { delete g; }

// Random numbers one captured step may reserve from the CUDA generator: 3/4 of 2^32, leaving the
// rest for masking, Gumbel noise and the other dropouts.
constexpr double kGraphRandomBudget = 0.75 * 4294967296.0;

bool Pretrainer::graphable(const std::vector<std::array<torch::Tensor, 3>>& micro) const {
#ifdef ELECTRA_WITH_CUDA
  if (!(o_.kernels.cuda_graph && device_.is_cuda() && micro.size() == 1 && !pg_ && o_.precision != "fp16" && opt_->fusedEnabled())) return false;
  // Inside a capture the CUDA generator's offset is a 32-bit count (PyTorch asserts against its
  // overflow), and the attention kernel with dropout reserves one random number per attention
  // weight: B x heads x T x T per layer, for both models. Shapes that would come near it train
  // eagerly (docs/gpu.md).
  const double B = static_cast<double>(micro[0][0].size(0)), T = static_cast<double>(micro[0][0].size(1));
  double draws = 0;
  for (const Config* c : {&o_.disc, &o_.gen})
    if (c->attention_probs_dropout_prob > 0) draws += B * T * T * static_cast<double>(c->num_attention_heads * c->num_hidden_layers);
  return draws < kGraphRandomBudget;
#else
  (void)micro;
  return false;
#endif
}

#ifdef ELECTRA_WITH_CUDA
namespace {
// The side stream captures run on: one per device for the process. cuBLAS keeps a workspace per
// (handle, stream) for the process's lifetime, so a fresh pool stream for each capture would
// leave another workspace behind for each trainer, up to the pool's 32 streams.
c10::cuda::CUDAStream captureStream(c10::DeviceIndex d) {
  static std::mutex mu;
  static std::unordered_map<int, c10::cuda::CUDAStream> streams;
  std::lock_guard<std::mutex> lock(mu);
  auto it = streams.find(d);
  if (it == streams.end()) it = streams.emplace(d, at::cuda::getStreamFromPool(false, d)).first;
  return it->second;
}
}  // namespace

bool Pretrainer::graphTurn(const std::array<torch::Tensor, 3>& b) {
  auto& G = *graph_;
  if (G.shape != b[0].sizes().vec() || (G.g && G.optVersion != opt_->stateVersion())) {
    // A new batch shape, or optimizer state loaded since the capture (its step tensors): recapture.
    G.g.reset();
    G.shape = b[0].sizes().vec();
    G.eager = 0;
  }
  // A graph captured from a batch without padding has no attention mask in it (flash attention),
  // so a padded batch cannot replay it. An occasional one (a corpus's last batch) trains eagerly
  // and the graph stays; the third in a row is captured anew, with the mask, which any batch can
  // replay (the eager steps before it at this shape were the warm-up).
  const bool padded = hasPadding(b[2]);
  if (G.g && padded && !G.padded) {
    if (++G.paddedRun < 3) return false;
    G.g.reset();
  }
  if (!padded) G.paddedRun = 0;
  if (!G.g && G.eager < 2) {
    G.eager++;
    return false;
  }
  if (!G.g) {
    auto opts = torch::TensorOptions().device(device_);
    G.ids = torch::empty(b[0].sizes(), opts.dtype(torch::kLong));
    G.types = torch::empty(b[1].sizes(), opts.dtype(torch::kLong));
    G.mask = torch::empty(b[2].sizes(), opts.dtype(torch::kLong));
    G.sums = torch::zeros({StepSums<double>::kCount}, opts.dtype(torch::kFloat));
    G.norm = torch::zeros({}, opts.dtype(torch::kFloat));
    opt_->resetGraph();  // fresh lr and step tensors, from the current update count
    G.optVersion = opt_->stateVersion();
    G.padded = padded;
    G.paddedRun = 0;
  }
  return true;
}

void Pretrainer::graphBody() {
  auto& G = *graph_;
  Forward f;
  {
    AutocastScope ac(o_.precision, device_);
    f = forward(G.ids, G.types, G.mask, G.padded, std::nullopt);
    AutocastOff off(device_);
    f.loss.backward();
  }
  torch::NoGradGuard ng;
  G.sums.copy_(packSums(f.sums));
  auto norm = opt_->deviceGradNorm();
  G.norm.copy_(norm);
  auto bad = torch::logical_or(torch::isfinite(norm).logical_not(), torch::isfinite(f.loss.detach()).logical_not()).to(torch::kFloat);
  opt_->graphStep(norm, bad);
}

void Pretrainer::captureGraph() {
  auto& G = *graph_;
  // Capture on a side stream once the eager steps have allocated everything; gradients are
  // dropped first so that the graph allocates them in its own pool (as PyTorch's whole-network
  // capture does).
  c10::cuda::CUDAGuard dg(device_);
  c10::cuda::device_synchronize();
  for (auto& p : opt_->params()) p.param.mutable_grad() = torch::Tensor();
  // The graph allocates from a pool of its own, which cannot take the blocks the eager steps
  // left cached, and nothing can be freed while capturing: hand those blocks back first, so that
  // a batch that fits eagerly also fits the capture.
  c10::cuda::CUDACachingAllocator::emptyCache();
  G.g = std::make_unique<at::cuda::CUDAGraph>();
  {
    c10::cuda::CUDAStreamGuard guard(captureStream(device_.index()));
    torch::AutoGradMode on(true);
    try {
      G.g->capture_begin();
      graphBody();
      G.g->capture_end();
    } catch (const std::exception& e) {
      // End the stream capture whatever state it is in: a stream left capturing (global mode)
      // makes every synchronising CUDA call of the process fail. When the capture was
      // invalidated, capture_end throws before it takes the CUDA generator out of capture mode,
      // so later random draws on the GPU may fail: the message says to restart the process.
      G.failed = true;
      std::string msg = e.what();
      try {
        G.g->capture_end();
      } catch (...) {
      }
      G.g.reset();
      const bool oom = msg.find("out of memory") != std::string::npos;
      fail("ERR_TORCH", "capturing the training step as a CUDA graph failed (", msg.substr(0, 300),
           "); restart the process and train without it (kernels.cudaGraph: false, --no-cuda-graph, or ELECTRA_CUDA_GRAPH=0)",
           oom ? " or with a smaller batch" : "");
    }
  }
  c10::cuda::device_synchronize();
}

StepMetrics Pretrainer::replayGraph() {
  auto& G = *graph_;
  c10::cuda::CUDAGuard dg(device_);
  G.g->replay();
  StepMetrics m = metricsFrom(unpackSums(G.sums), 1);
  m.lr = opt_->lrAt(step_);
  m.grad_norm = G.norm.item<double>();
  const bool finite = std::isfinite(m.loss) && std::isfinite(m.grad_norm);
  if (!finite && !o_.skip_nonfinite) {
    // The graph skipped the update (found_inf): parameters and moments are as before this step.
    fail("ERR_DIVERGED", "non-finite ", std::isfinite(m.loss) ? "gradient norm" : "loss", " at step ", step_ + 1, " (loss ", m.loss,
         ", gradient norm ", m.grad_norm, "); lower the learning rate, or skip such steps with skipNonFinite");
  }
  if (finite) opt_->countUpdate();
  m.skipped = !finite;
  step_++;
  m.step = step_;
  m.graph = true;
  return m;
}

StepMetrics Pretrainer::graphStep(const std::array<torch::Tensor, 3>& b) {
  if (!graph_) graph_.reset(new Graph());
  check(!graph_->failed, "ERR_TORCH", "an earlier CUDA graph capture failed; create the trainer again without kernels.cudaGraph");
  if (!graphTurn(b)) return StepMetrics{};  // the caller runs this step eagerly
  torch::NoGradGuard ng;
  auto& G = *graph_;
  G.ids.copy_(b[0]);
  G.types.copy_(b[1]);
  G.mask.copy_(b[2]);
  opt_->setGraphLr(opt_->lrAt(step_));
  if (disc_) disc_->train();
  gen_->train();
  if (!G.g) captureGraph();
  return replayGraph();
}
#else
StepMetrics Pretrainer::graphStep(const std::array<torch::Tensor, 3>&) { return StepMetrics{}; }
#endif

}  // namespace electra
