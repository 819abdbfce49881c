#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan + UBSan) and run each for
# SECONDS (default 30), seeded from fuzz/corpus/<target>/ (small files made
# from conf/, the test fixtures and documents the e2e tests make). Targets
# run NEXO_FUZZ_JOBS at a time (default: the number of CPUs). A crash, leak,
# sanitizer report or timeout fails the run and leaves the input in
# BUILD/crashes/; BUILD is $NEXO_FUZZ_BUILD or build-fuzz in the source tree.
# `bash fuzz/run.sh 20` is the CI's smoke run; fuzz/README.md the long ones.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
b=${NEXO_FUZZ_BUILD:-$src/build-fuzz}
jobs=${NEXO_FUZZ_JOBS:-$(nproc)}
targets=(phpver semver ini journal mig manifest sig meta index auto sched extract verify restore
         sqlschema)
cmake -S "$src" -B "$b" -DCMAKE_C_COMPILER=clang -DNEXO_FUZZ=ON -DNEXO_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$b" -j"$(nproc)" --target fuzz_all > "$b/fuzz-build.log" 2>&1 ||
    { tail -n 30 "$b/fuzz-build.log"; exit 1; }
mkdir -p "$b/crashes" "$b/logs"

one() { # one TARGET: fuzz it for $secs seconds; its log in $b/logs/TARGET.log
    local t=$1
    mkdir -p "$b/corpus/$t"
    "$b/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$b/crashes/$t-" "$b/corpus/$t" "$src/fuzz/corpus/$t" \
        > "$b/logs/$t.log" 2>&1
}

report() { # report TARGET RC
    local t=$1 rc=$2 n
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$b/logs/$t.log")
    if [ "$rc" = 0 ]; then
        echo "fuzz_$t: ${n:-?} executions in ${secs}s, no finding"
    else
        echo "fuzz_$t: FAILED (exit $rc), see $b/logs/$t.log:"
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$b/logs/$t.log" | head -n 8
    fi
}

declare -A pid_of=()
failed=()
wait_one() {
    local p t rc
    wait -n -p p || true
    for t in "${!pid_of[@]}"; do
        [ "${pid_of[$t]}" = "$p" ] || continue
        rc=0; wait "$p" 2>/dev/null || rc=$?
        [ -s "$b/logs/$t.done" ] && rc=$(cat "$b/logs/$t.done")
        report "$t" "$rc"
        [ "$rc" = 0 ] || failed+=("$t")
        unset "pid_of[$t]"
    done
}
for t in "${targets[@]}"; do
    while [ "${#pid_of[@]}" -ge "$jobs" ]; do wait_one; done
    rm -f "$b/logs/$t.done"
    ( rc=0; one "$t" || rc=$?; echo "$rc" > "$b/logs/$t.done"; exit "$rc" ) &
    pid_of[$t]=$!
done
while [ "${#pid_of[@]}" -gt 0 ]; do wait_one; done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing: findings in ${failed[*]} (inputs in $b/crashes/)"
    exit 1
fi
echo "fuzzing: ${#targets[@]} targets, ${secs}s each, no finding"
