#!/usr/bin/env bash
# The native tests under AddressSanitizer (+ LeakSanitizer): builds the addon with
# -fsanitize=address into build-asan/ (ELECTRA_BUILD_TYPE=Asan), preloads the ASan runtime into
# node, and runs the native test files against that addon. Any ASan report fails the run.
# CI runs it after the main suite (.ci/run). usage: bash scripts/asan.sh [jest args]
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
ELECTRA_BUILD_TYPE=Asan ELECTRA_BUILD_DIR=build-asan node scripts/install.cjs
ASAN_LIB=$(${CXX:-g++} -print-file-name=libasan.so)
log=$(mktemp -d)
export ELECTRA_ADDON="$PWD/build-asan/Release/electra.node"
export ELECTRA_TEST_PYTHON=0     # no Python child processes under the ASan preload
# Node and libtorch are not instrumented; their own exit-time allocations are not ours to fix
# (scripts/lsan.supp names them). Reports go to files so that nothing is lost in jest's output.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_odr_violation=0:log_path=$log/asan"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"
status=0
LD_PRELOAD="$ASAN_LIB" npx jest --runInBand test/native/addon.test.ts test/native/model.test.ts test/native/pretrain-step.test.ts \
  test/native/finetune.test.ts test/native/infer.test.ts test/native/random.test.ts test/native/vocab-padding.test.ts \
  test/native/autocast.test.ts test/native/custom-kernels.test.ts "$@" || status=$?
reports=$(ls "$log" 2>/dev/null | wc -l)
if [ "$reports" -gt 0 ]; then
  echo "asan: $reports report file(s):"
  for f in "$log"/*; do echo "== $f"; head -60 "$f"; done
  status=1
fi
echo "asan: jest exit $status, $reports sanitizer report(s), $(( $(date +%s) - t0 )) s"
rm -rf "$log"
exit $status
