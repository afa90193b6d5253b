#pragma once
#include <napi.h>
#include <memory>

namespace electra {
// Per-addon state (worker_threads and Electron load the addon once per environment).
struct AddonData {
  Napi::FunctionReference modelCtor;
  Napi::FunctionReference trainerCtor;
  Napi::FunctionReference groupCtor;
};
inline AddonData* addonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

void initModel(Napi::Env env, Napi::Object exports);
void initTrainer(Napi::Env env, Napi::Object exports);
void initDist(Napi::Env env, Napi::Object exports);
void initProfile(Napi::Env env, Napi::Object exports);
void initTest(Napi::Env env, Napi::Object exports);
struct Settings;
// Stores the process's settings (settings.h) and applies what they change outside the code that
// reads them: the CPU allocator, the attention backends.
void applySettings(const Settings& s);
class ProcessGroupHandle;
std::shared_ptr<ProcessGroupHandle> unwrapProcessGroup(Napi::Env env, Napi::Value v);
}  // namespace electra
