#pragma once
#include <napi.h>

namespace electra {
// Per-addon state (worker_threads and Electron load the addon once per environment).
struct AddonData {
  Napi::FunctionReference modelCtor;
  Napi::FunctionReference trainerCtor;
};
inline AddonData* addonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

void initModel(Napi::Env env, Napi::Object exports);
void initTrainer(Napi::Env env, Napi::Object exports);
}  // namespace electra
