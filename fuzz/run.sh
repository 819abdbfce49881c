#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for SECONDS (default
# 30) from seeds made of conf/ and the test fixtures. A crash, leak or
# abort fails the run and leaves the input in build-fuzz/crashes/.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
b="$src/build-fuzz"
cmake -S "$src" -B "$b" -DCMAKE_C_COMPILER=clang -DNEXO_FUZZ=ON -DNEXO_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$b" -j"$(nproc)" --target fuzz_phpver fuzz_semver fuzz_ini fuzz_journal fuzz_mig
seeds="$b/seeds"
rm -rf "$seeds"; mkdir -p "$seeds"/{phpver,semver,ini,journal,mig} "$b/crashes"
cp "$src"/tests/fixtures/phpver/* "$seeds/phpver/"
cp "$src"/tests/fixtures/site/database/upgrades/*.xml "$src"/tests/fixtures/site/database/schema/install.xml \
   "$seeds/mig/"
cp "$src"/conf/pipelines/*.ini "$src"/conf/nexo-update.ini.in "$seeds/ini/"
i=0
for s in "1.0.0\n>=1.0.0 <2.0.0" "1.0.0-alpha.1+b\n^1.2" "2.1.3\n~2.1 || *" "0.0.3\n^0.0.3"; do
  i=$((i + 1)); printf "$s" > "$seeds/semver/s$i"
done
printf '%s\n' '{"seq":1,"t":1,"ev":"begin","id":"x","info":{},"pipeline":{"steps":[]}}' \
  '{"seq":2,"t":2,"ev":"step-start","step":0,"name":"a"}' '{"seq":3,"t":3,"ev":"end","outcome":"success"}' \
  > "$seeds/journal/j1"
for f in phpver semver ini journal mig; do
  echo "== fuzz_$f for ${secs}s"
  mkdir -p "$b/corpus/$f"
  "$b/fuzz/fuzz_$f" -max_total_time="$secs" -artifact_prefix="$b/crashes/$f-" \
      -print_final_stats=0 "$b/corpus/$f" "$seeds/$f" 2>&1 | tail -n 2
done
echo "fuzzing: no crash in $((secs * 5)) s"
