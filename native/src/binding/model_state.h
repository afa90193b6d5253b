#pragma once
#include <atomic>
#include <memory>
#include "model/electra.h"
#include "train/finetune.h"
#include <napi.h>

namespace electra {

// What a NativeModel owns. `busy` is only touched on the JS thread.
struct ModelState {
  Config cfg;
  Head head;
  torch::Device device;
  ElectraNet net{nullptr};
  bool busy = false;
  std::unique_ptr<Finetuner> tuner;  // set by setupTraining (fine-tuning)

  ModelState(const Config& c, Head h, torch::Device d) : cfg(c), head(h), device(d), net(ElectraNet(c, h)) {}
  bool acquire(Napi::Env env);
  void release() {
    tuner.reset();
    net = ElectraNet(nullptr);
  }
};

}  // namespace electra
