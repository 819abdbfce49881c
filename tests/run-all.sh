#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine: installs what is
# missing, builds with -Werror, installs into the build's stage folder and
# runs every test (Check unit tests and end-to-end tests of the installed
# programs) through ctest.
#   tests/run-all.sh             build in ./build
#   tests/run-all.sh --sanitize  ASan+UBSan build in ./build-asan
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
flags=(-DNEXO_WERROR=ON)
build="$src/build"
if [ "${1:-}" = "--sanitize" ]; then
  flags+=(-DNEXO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  build="$src/build-asan"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
bash "$src/tests/deps.sh"
cmake -S "$src" -B "$build" "${flags[@]}" > /dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j2
