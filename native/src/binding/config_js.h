// Reads the validated config object TypeScript passes (HF ElectraConfig field names).
#pragma once
#include <napi.h>
#include "binding/convert.h"
#include "model/config.h"

namespace electra {
Config readConfig(Napi::Env env, Napi::Value v);
}
