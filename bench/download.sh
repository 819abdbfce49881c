#!/usr/bin/env bash
# Benchmark: fetch and check a SIZE_MB (default 200) MB package served by
# nginx on loopback (tests/e2e/http.sh), each way REPEAT times (default 3),
# alternating, after one untimed warm-up; prints the medians and the ratio.
#   nexo-update      a pipeline with the download step (it hashes while it
#                    downloads, writes 0600, renames into place), followed
#                    by the verify step (signature, manifest) when PREFIX
#                    has steps/verify.so and nexo-release can make a signed
#                    package; else the download step alone
#   curl + sha256sum curl -s -o FILE URL && sha256sum FILE (the floor)
#
#   bench/download.sh [PREFIX] [REPEAT] [SIZE_MB]
# PREFIX: an installed nexo-update (default: build/stage, made by ctest's
# e2e.install). Needs nginx (nginx-light), openssl, curl and python3.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$(cd "${1:-$src/build/stage}" && pwd)
REPEAT=${2:-3}
MB=${3:-200}
NX=$PREFIX/bin/nexo-update
REL=$PREFIX/bin/nexo-release
command -v curl > /dev/null || { echo "needs curl (apt-get install curl)"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/nexo-bench.XXXXXX")
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
# shellcheck source=../tests/e2e/http.sh
source "$src/tests/e2e/http.sh"
mkdir -p "$T/www" "$T/site" "$T/keys"

# A signed core package (for download + verify), when the tools are there.
signed_package() {
    [ -x "$REL" ] && [ -f "$PREFIX/lib/nexo-update/steps/verify.so" ] || return 1
    local s="$T/pkgsrc" fmt
    mkdir -p "$s/core" "$s/public_html"
    printf "<?php\nreturn [\n    'version' => '1.1.0',\n    'version_code' => 1001000,\n];\n" \
        > "$s/core/version.php"
    head -c $((MB * 1024 * 1024)) /dev/urandom > "$s/public_html/blob.bin"
    "$REL" keygen "$T/bench" --scope index --scope core --scope 'plugin:*' > /dev/null 2>&1 || return 1
    cp "$T/bench.pub" "$T/bench.scope" "$T/keys/"
    for fmt in tar.zst tar.gz; do
        if "$REL" pack --component core --src "$s" --key "$T/bench.key" --repo "$T/repo" \
            --format "$fmt" > /dev/null 2>&1; then
            PKG=$(find "$T/repo/core" -name "*.$fmt" | head -1)
            rm -rf "$s"
            [ -n "$PKG" ] && [ -f "$PKG.sig" ] && return 0
        fi
    done
    return 1
}

VERIFY=0
if signed_package; then
    VERIFY=1
    case $PKG in *.tar.zst) NAME=core-1.1.0.tar.zst ;; *) NAME=core-1.1.0.tar.gz ;; esac
    cp "$PKG" "$T/www/$NAME"
    SIG=$(tr -d '\n' < "$PKG.sig")
    rm -rf "$T/repo" "$T/pkgsrc"
else
    NAME=core-1.1.0.tar.gz
    head -c $((MB * 1024 * 1024)) /dev/urandom > "$T/www/$NAME"
fi
chmod 644 "$T/www/$NAME"
SIZE=$(stat -c %s "$T/www/$NAME")
SHA=$(sha256sum "$T/www/$NAME" | cut -d' ' -f1)
http_start "$T/www"
URL=$HTTP_URL/$NAME

cat > "$T/nexo.ini" <<EOF
[site]
root = site
[paths]
state = state
backups = backups
modules = $PREFIX/lib/nexo-update
pipelines = pipelines
[server]
trusted_keys = keys
EOF
{ printf '[pipeline]\nname = bench\n[download]\nmodule = download\n'
  [ "$VERIFY" = 1 ] && printf '[verify]\nmodule = verify\n'; } > "$T/p.ini"
params=(--param download_url="$URL" --param sha256="$SHA" --param size_bytes="$SIZE")
[ "$VERIFY" = 1 ] && params+=(--param signature="$SIG")

now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.3f\n", a - b }'; }
run_nexo() {
    rm -rf "$T/state"
    local t0; t0=$(now)
    "$NX" -q -c "$T/nexo.ini" -y pipeline run "$T/p.ini" --component core --to 1.1.0 \
        "${params[@]}" < /dev/null
    since "$t0"
}
run_curl() {
    rm -f "$T/curl.bin"
    local t0 sum; t0=$(now)
    curl -s -o "$T/curl.bin" "$URL" && sum=$(sha256sum "$T/curl.bin" | cut -d' ' -f1)
    [ "$sum" = "$SHA" ] || { echo "curl: wrong sha256" >&2; exit 1; }
    since "$t0"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

what="download"
[ "$VERIFY" = 1 ] && what="download + verify"
echo "package: $NAME, $SIZE bytes, from nginx on $HTTP_URL; nexo-update runs: $what"
run_nexo > /dev/null
run_curl > /dev/null
: > "$T/nexo.times"
: > "$T/curl.times"
for _ in $(seq 1 "$REPEAT"); do
    run_nexo >> "$T/nexo.times"
    run_curl >> "$T/curl.times"
done
n=$(median < "$T/nexo.times")
c=$(median < "$T/curl.times")
printf 'nexo-update (%s): median %.3f s of %s\n' "$what" "$n" "$(tr '\n' ' ' < "$T/nexo.times")"
printf 'curl + sha256sum:  median %.3f s of %s\n' "$c" "$(tr '\n' ' ' < "$T/curl.times")"
awk -v n="$n" -v c="$c" 'BEGIN { printf "ratio nexo-update / (curl + sha256sum): %.2f\n", n / c }'
