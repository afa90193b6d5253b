// Precompiled header: libtorch is the bulk of every translation unit's compile time.
#pragma once
#include <torch/torch.h>
#include <ATen/autocast_mode.h>
#include <napi.h>
