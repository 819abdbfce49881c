#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine: installs what is
# missing, builds with -Werror, installs into the build's stage folder and
# runs every test (Check unit tests and end-to-end tests of the installed
# programs) through ctest.
#   tests/run-all.sh             build in ./build
#   tests/run-all.sh --sanitize  ASan+UBSan build in ./build-asan: every test
#                                but the kill soak and the fault matrix on
#                                PostgreSQL and MariaDB (the plain build runs
#                                those; under ASan the fault matrix and a
#                                shorter soak run on SQLite, and every other
#                                PostgreSQL and MariaDB test runs), so that CI
#                                stays under 30 minutes
set -euo pipefail
umask 022
src=$(cd "$(dirname "$0")/.." && pwd)
flags=(-DNEXO_WERROR=ON)
name=build
[ "${1:-}" = "--sanitize" ] && name=build-asan

# nexo-update refuses modules and pipelines in folders others can write to
# (a root-owned sticky folder such as /tmp excepted). If the checkout lies
# below such a folder, build outside it, in a private folder under /tmp.
safe_path() {
  local d=$1 mode owner
  while :; do
    read -r mode owner < <(stat -c '%a %u' "$d")
    if (( (8#$mode & 8#022) != 0 )) && ! { (( (8#$mode & 8#1000) != 0 )) && [ "$owner" = 0 ]; }; then
      echo "note: $d is writable by others; building outside the checkout" >&2
      return 1
    fi
    [ "$d" = / ] && return 0
    d=$(dirname "$d")
  done
}
if safe_path "$src"; then
  build="$src/$name"
else
  build="/tmp/nexo-update-$(id -u)-$(echo "$src" | md5sum | cut -c1-8)/$name"
  mkdir -p "$build"; chmod 755 "$(dirname "$build")"
fi
if [ "$name" = build-asan ]; then
  flags+=(-DNEXO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
# NEXO_DEPS_DONE=1 (set by .ci/run, which ran both already): no check of the
# packages and servers
if [ "${NEXO_DEPS_DONE:-0}" != 1 ]; then
  bash "$src/tests/deps.sh"
  if [ "$(id -u)" -eq 0 ]; then
    bash "$src/tests/servers.sh"
  else
    echo "note: not root: PostgreSQL and MariaDB are not started; their tests skip" >&2
  fi
fi
cmake -S "$src" -B "$build" "${flags[@]}" > /dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
if [ "$name" = build-asan ]; then
  # ASan finds memory errors in our code, whose fault paths the SQLite fault
  # matrix and soak drive; the server-side repeats of them take 20 minutes
  # under ASan and are run by the plain build
  NEXO_SOAK_RUNS=${NEXO_SOAK_RUNS:-30} \
    ctest --output-on-failure -j2 -E '^e2e\.(fault_matrix|soak)\.(pgsql|mariadb)$'
else
  ctest --output-on-failure -j2
fi
