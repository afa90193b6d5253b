// Pre-training bindings are added with the training step (native/src/train/).
#include "binding/addon.h"
namespace electra {
void initTrainer(Napi::Env env, Napi::Object exports) {}
}  // namespace electra
