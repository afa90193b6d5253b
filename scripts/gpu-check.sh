#!/usr/bin/env bash
# GPU check: builds the addon against a CUDA host's PyTorch and runs the GPU tests and the GPU
# benchmark there, in a few minutes. The host has PyTorch (CUDA), CMake and ninja but no Node.js
# and no network, so Node and a minimal node_modules travel along (see `stage`).
#
#   On the dev machine:  scripts/gpu-check.sh stage      # packs .gpu-carry/ and .gpu-stage/
#   On the CUDA host:    scripts/gpu-check.sh run        # build + tests + bench, logs in $OUT
#                        scripts/gpu-check.sh demo       # the demo's pre-training on CUDA (GPU_DEMO_MINUTES, 4;
#                                                        # GPU_DEMO_ARGS, e.g. "--cuda-graph --batch 128")
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-run}

if [ "$cmd" = stage ]; then
  npx tsup >/dev/null
  sh ../shared/gpu/pack-node.sh
  rm -rf .gpu-stage && mkdir -p .gpu-stage/node_modules/tokenizers
  cp -r dist .gpu-stage/dist
  cp -r node_modules/zod node_modules/node-addon-api .gpu-stage/node_modules/
  cp node_modules/tokenizers/{package.json,index.js,index.d.ts,tokenizers.linux-x64-gnu.node} .gpu-stage/node_modules/tokenizers/
  du -sh .gpu-carry .gpu-stage
  exit 0
fi

OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
. .gpu-carry/unpack-node.sh
[ -d node_modules ] || cp -r .gpu-stage/node_modules node_modules
[ -d dist ] || cp -r .gpu-stage/dist dist
TORCH=$(python3 -c "import torch, os; print(os.path.dirname(torch.__file__))")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"
t0=$(date +%s)
if [ ! -f build-gpu/electra.node ] || [ "$cmd" != demo ]; then
  cmake -S . -B build-gpu -G Ninja -DLIBTORCH_ROOT="$TORCH" -DELECTRA_CUDA=ON -DTORCH_CXX11_ABI=1 \
    -DCMAKE_JS_INC="$NODE_API_INCLUDE" -DCMAKE_BUILD_TYPE=Release > "$OUT/cmake.log" 2>&1 || { tail -50 "$OUT/cmake.log"; exit 1; }
  cmake --build build-gpu -j 16 >> "$OUT/cmake.log" 2>&1 || { grep -m 20 error "$OUT/cmake.log"; exit 1; }
fi
mkdir -p build/Release && cp build-gpu/electra.node build/Release/electra.node
printf '{"libtorchSource":"gpu-check","libtorchRoot":"%s","libtorchVersion":"%s","cuda":true,"buildType":"Release","builtAt":"%s","buildSeconds":%s}\n' \
  "$TORCH" "$(python3 -c 'import torch;print(torch.__version__)')" "$(date -Is)" "$(( $(date +%s) - t0 ))" > build/electra-build.json
echo "build: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/gpu.txt"

# The demo's pre-training on the GPU (for the quality benchmark, #6): the vocabulary and prepared
# data travel in runs/demo/{tokenizer,data} (copy them along; the corpus package is not needed),
# the discriminator and the metrics come back as one file, $OUT/demo-gpu.tar (one file is easy to
# copy back from a GPU host), for `tar xf demo-gpu.tar -C /tmp/g &&
# node bench/quality.bench.cjs --model /tmp/g/checkpoint-N --seeds 3` on the dev machine.
if [ "$cmd" = demo ]; then
  [ -f runs/demo/tokenizer/vocab.txt ] && [ -f runs/demo/data/meta.json ] || { echo "carry runs/demo/tokenizer and runs/demo/data"; exit 1; }
  node bin/electra.cjs demo --out runs/demo --device cuda --minutes "${GPU_DEMO_MINUTES:-4}" ${GPU_DEMO_ARGS:-} 2>&1 | tee "$OUT/gpu-demo.txt"
  ck=$(ls -d runs/demo/run/checkpoint-* | sort -t- -k2 -n | tail -1)
  tar cf "$OUT/demo-gpu.tar" -C runs/demo/run "$(basename "$ck")/discriminator" metrics.jsonl
  exit 0
fi
# The benchmark runs even when a check fails (device time is scarce); the exit status is the checks'.
rc=0
node scripts/gpu-check.cjs 2>&1 | tee "$OUT/gpu-tests.txt" || rc=$?
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  node bench/gpu-step.cjs 2>&1 | tee "$OUT/gpu-bench.txt" || true
fi
exit $rc
