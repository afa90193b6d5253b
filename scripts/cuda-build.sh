#!/usr/bin/env bash
# The CUDA build on a machine without a GPU: builds the addon with ELECTRA_CUDA=1 into
# build-cuda/ through the user's path (scripts/install.cjs; with no nvcc the CUDA headers and
# runtime come from the NVIDIA wheels next to the PyPI torch wheel), checks that it loads and says
# "cuda" in its build flags, runs the native tests on the CPU with it (CUDA_BUILD_JEST=0: not),
# and dry-runs scripts/gpu-check.cjs on the CPU with it. This keeps the CUDA-only code (graph
# capture, NCCL, CUDA generator state) compiling and linking between runs on a GPU host; it cannot run
# it. CI runs it after the main suite (.ci/run). usage: bash scripts/cuda-build.sh [jest args]
# Skips (exit 0, with the reason) where the libtorch has no CUDA libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
root=$(node -e "const i = require('./scripts/libtorch.cjs').resolveLibtorch(); if (!i.notFound && i.hasCuda) console.log(i.root)")
if [ -z "$root" ]; then
  echo "cuda-build: skipped: the libtorch found here has no CUDA libraries (torch_cuda)"
  exit 0
fi
# The CUDA headers: a toolkit (nvcc) or the NVIDIA wheels next to the torch wheel (the pinned
# `pip --no-deps` install in .libtorch/ has neither).
if ! command -v nvcc >/dev/null && [ ! -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ] && ! ls "$root"/../nvidia/*/include/cuda_runtime_api.h >/dev/null 2>&1; then
  echo "cuda-build: skipped: no CUDA headers for $root (no nvcc, no $root/../nvidia/*/include)"
  exit 0
fi
[ -f dist/index.cjs ] || npx tsup
ELECTRA_CUDA=1 ELECTRA_BUILD_DIR=build-cuda node scripts/install.cjs
export ELECTRA_ADDON="$PWD/build-cuda/Release/electra.node"
flags=$(node -p "require(process.env.ELECTRA_ADDON).runtime().buildFlags")
case ",$flags," in
  *,cuda,*) ;;
  *) echo "cuda-build: the addon's build flags are '$flags', not a CUDA build"; exit 1 ;;
esac
echo "cuda-build: built and loaded ($flags)"
if [ "${CUDA_BUILD_JEST:-1}" = 1 ]; then
  npx jest --runInBand test/native/addon.test.ts test/native/model.test.ts test/native/pretrain-step.test.ts \
    test/native/finetune.test.ts test/native/vocab-padding.test.ts "$@"
fi
# The GPU check script itself, on the CPU (its CUDA-only checks skipped): a mistake in it must
# not cost device time.
GPU_CHECK_DEVICE=cpu node scripts/gpu-check.cjs
echo "cuda-build: done in $(( $(date +%s) - t0 )) s"
