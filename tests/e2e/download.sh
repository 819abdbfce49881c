#!/usr/bin/env bash
# The installed download step against real servers on loopback: nginx
# (tests/e2e/http.sh, http and https with a test CA) and a scripted server
# that misbehaves (httpd_die.py): success, reuse, resume after a dropped
# connection and after a kill, a server ignoring Range, a stalled server,
# too many bytes, a wrong sha256, 404, untrusted TLS, plain http to a
# non-loopback host and redirects to one, the api_key's origin rule, a
# local package, progress lines and the dry run.
# Usage: download.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/http.sh"
nx_setup "$1" "$2"
STATE="$T/state"
DL="$STATE/downloads"
WWW="$T/www"
mkdir -p "$WWW" "$T/fx"
: > "$T/fx/record.log"

SIZE=$((5 * 1024 * 1024))
head -c "$SIZE" /dev/urandom > "$WWW/core-1.1.0.tar.gz"
chmod 644 "$WWW/core-1.1.0.tar.gz"
SHA=$(sha256sum "$WWW/core-1.1.0.tar.gz" | cut -d' ' -f1)
TARGET="$DL/core-1.1.0-${SHA:0:16}.tar.gz"
PART="$TARGET.part"
http_start "$WWW" 1m

PIPE="$T/dl.ini"
cat > "$PIPE" <<EOF
[pipeline]
name = dl
[download]
module = download
[next]
module = $MODS/fake_step.so
dir = $T/fx
EOF

# Configurations: the defaults (allow_http = false), the test CA, a short
# timeout, an api_key for the nginx origin.
cp "$CONF" "$T/plain.ini"
printf '[server]\nallow_http = false\n' >> "$T/plain.ini"
cp "$CONF" "$T/ca.ini"
printf '[server]\nca_file = %s\ntimeout = 5\n' "$HTTP_CA" >> "$T/ca.ini"
cp "$CONF" "$T/short.ini"
printf '[server]\ntimeout = 2\n' >> "$T/short.ini"
cp "$CONF" "$T/deadline.ini"
printf '[server]\ntimeout = 2\ndownload_timeout = 3\n' >> "$T/deadline.ini"
cp "$CONF" "$T/key.ini"
printf '[server]\nurl = %s\napi_key = s3cret-key\n' "$HTTP_URL" >> "$T/key.ini"

# dl CONF URL [SHA [SIZE [more arguments]]]: run the pipeline; rc, $T/err.
dl() {
    local conf=$1 url=$2 sha=${3:-$SHA} size=${4:-$SIZE}
    shift; shift; shift || true; shift || true
    rc=0
    "$NX" -c "$conf" -y pipeline run "$PIPE" --component core --to 1.1.0 \
        --param download_url="$url" --param sha256="$sha" --param size_bytes="$size" "$@" \
        > "$T/out" 2> "$T/err" < /dev/null || rc=$?
}
err_has() { grep -qF -- "$1" "$T/err"; }
empty_dl() { [ ! -d "$DL" ] || [ -z "$(ls -A "$DL")" ]; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
mode_of() { stat -c %a "$1"; }
nginx_gets() { grep -c "\"GET $1 " "$HTTP_LOG" || true; }
reset() { rm -rf "$STATE"; }

# Die server: die_start MODE [options]; sets DIE_URL, DIE_LOG; die_stop.
DIE_PID=
die_start() {
    local mode=$1; shift
    DIE_LOG="$T/die.log"
    rm -f "$T/die.port" "$DIE_LOG"
    : > "$DIE_LOG"
    python3 "$here/httpd_die.py" --file "$WWW/core-1.1.0.tar.gz" --port-file "$T/die.port" \
        --log "$DIE_LOG" --mode "$mode" --max-seconds 120 "$@" &
    DIE_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$T/die.port" ] && break
        sleep 0.05
    done
    DIE_URL="http://127.0.0.1:$(cat "$T/die.port")/core-1.1.0.tar.gz"
}
die_stop() {
    if [ -n "$DIE_PID" ]; then
        kill "$DIE_PID" 2>/dev/null || true
        wait "$DIE_PID" 2>/dev/null || true
        DIE_PID=
    fi
}
nx_at_exit die_stop

# 1. Plain http over loopback; a later step fails, so the update rolls back
#    and the verified download is kept for the next attempt.
reset
NEXO_FAULT=next:after-run:fail dl "$T/plain.ini" "$HTTP_URL/core-1.1.0.tar.gz"
check "http loopback, later step fails: exit 3 (got $rc)" test "$rc" = 3
check "the package is in STATE/downloads with the offered sha256" \
    bash -c "test -f '$TARGET' && test \"\$(sha256sum '$TARGET' | cut -d' ' -f1)\" = '$SHA'"
check "the package is 0600, its folder 0700" \
    bash -c "test \"$(mode_of "$TARGET" 2>/dev/null)\" = 600 && test \"$(mode_of "$DL")\" = 700"
check "no .part left" test ! -e "$PART"
check "undo keeps the verified package for the next attempt" err_has "keeping $TARGET"
check "the package was published as package_file (journal)" \
    test "$(jq -r 'select(.ev == "shared" and .key == "package_file") | .value' "$STATE"/journal/*.jnl | sort -u)" = "$TARGET"
check "a progress line on a non-terminal" grep -q '^\[download\] download 100% (5.0 MiB of 5.0 MiB)' "$T/err"
check "User-Agent nexo-update/VERSION" grep -q 'ua="nexo-update/[0-9]' "$HTTP_LOG"
check "no Authorization header without an api_key" bash -c "! grep -q 'auth=\"Bearer' '$HTTP_LOG'"

# 2. The next attempt reuses it without a request; commit removes it.
gets=$(nginx_gets /core-1.1.0.tar.gz)
dl "$T/plain.ini" "$HTTP_URL/core-1.1.0.tar.gz"
check "second attempt: exit 0 (got $rc)" test "$rc" = 0
check "second attempt: reused the download" err_has "reusing $TARGET"
check "second attempt: no new request" test "$(nginx_gets /core-1.1.0.tar.gz)" = "$gets"
check "success: commit removed the package" test ! -e "$TARGET"

# 3. https with the test CA ([server] ca_file), by IP and by name.
reset
dl "$T/ca.ini" "$HTTPS_URL/core-1.1.0.tar.gz"
check "https with ca_file: exit 0 (got $rc)" test "$rc" = 0
check "https with ca_file: downloaded" err_has "sha256 ok"
reset
dl "$T/ca.ini" "https://localhost:$HTTPS_PORT/core-1.1.0.tar.gz"
check "https://localhost with ca_file: exit 0 (got $rc)" test "$rc" = 0

# 4. https with a certificate nobody trusts here: refused.
reset
dl "$T/plain.ini" "$HTTPS_URL/core-1.1.0.tar.gz"
check "untrusted certificate: exit 1 (got $rc)" test "$rc" = 1
check "untrusted certificate: the message names the URL and the certificate" \
    bash -c "grep -F '$HTTPS_URL/core-1.1.0.tar.gz' '$T/err' | grep -qi 'certificate'"
check "untrusted certificate: nothing left" empty_dl

# 5. Plain http to a host that is not this machine: refused before any
#    connection (192.0.2.1 is TEST-NET-1 and never contacted).
reset
: > "$T/fx/record.log"
start=$(date +%s)
dl "$T/plain.ini" "http://192.0.2.1/core-1.1.0.tar.gz"
check "plain http to another host: exit 1 (got $rc)" test "$rc" = 1
check "plain http to another host: refused, naming the URL" \
    err_has "http://192.0.2.1/core-1.1.0.tar.gz: refused: plain http is allowed only to this machine"
check "plain http to another host: refused at once, no step ran" \
    bash -c "test $(( $(date +%s) - start )) -le 2 && test ! -e '$STATE/downloads' && ! grep -q 'run next' '$T/fx/record.log'"
reset
dl "$T/plain.ini" "ftp://127.0.0.1/core-1.1.0.tar.gz"
check "ftp: refused (got $rc)" bash -c "test $rc = 1 && grep -q 'only http and https' '$T/err'"

# 6. Wrong sha256: refused, the file removed.
reset
dl "$T/plain.ini" "$HTTP_URL/core-1.1.0.tar.gz" "$(printf '%064d' 0)"
check "wrong sha256: exit 1 (got $rc)" test "$rc" = 1
check "wrong sha256: the message names expected and actual" \
    bash -c "grep -q 'sha256 mismatch: expected 0\{64\}, got $SHA' '$T/err'"
check "wrong sha256: nothing left" empty_dl

# 7. A server sending more than size_bytes: cut off, nothing left.
reset
die_start more --extra 100000
dl "$T/plain.ini" "$DIE_URL"
die_stop
check "too many bytes: exit 1 (got $rc)" test "$rc" = 1
check "too many bytes: refused" err_has "server sent more than the offered $SIZE bytes"
check "too many bytes: nothing left" empty_dl

# 8. The connection drops after 1000000 bytes: the first attempt keeps the
#    .part, the second resumes it with a Range request.
reset
die_start die --after 1000000
dl "$T/plain.ini" "$DIE_URL"
check "dropped connection: exit 1 (got $rc)" test "$rc" = 1
check "dropped connection: interrupted, resumable" \
    err_has "download interrupted at 1000000 of $SIZE bytes"
check "dropped connection: the .part is kept" \
    bash -c "test \"\$(stat -c %s '$PART' 2>/dev/null)\" = 1000000"
NEXO_FAULT=next:after-run:fail dl "$T/plain.ini" "$DIE_URL"
die_stop
check "resumed: the download step succeeded (rolled back by next: exit 3, got $rc)" test "$rc" = 3
check "resumed: the server saw Range: bytes=1000000-" grep -q 'range=bytes=1000000- ' "$DIE_LOG"
check "resumed: the log says so" err_has "resuming $DIE_URL at 1000000 of $SIZE bytes"
check "resumed: the package has the offered sha256" test "$(sha_of "$TARGET")" = "$SHA"

# 9. A server that ignores Range: the .part is thrown away and the
#    download starts over.
reset
mkdir -p "$DL"
head -c 4096 /dev/urandom > "$PART"
die_start ignore-range
dl "$T/plain.ini" "$DIE_URL"
die_stop
check "Range ignored: exit 0 (got $rc)" test "$rc" = 0
check "Range ignored: started over" err_has "the server ignored the Range request; starting over"
check "Range ignored: it asked with Range" grep -q 'range=bytes=4096- ' "$DIE_LOG"

# 10. A server that stops sending: [server] timeout ends it (low-speed
#     limit), the .part stays.
reset
die_start stall --after 500000 --stall 30
start=$(date +%s)
dl "$T/short.ini" "$DIE_URL"
elapsed=$(( $(date +%s) - start ))
die_stop
check "stalled server: exit 1 after about the timeout (got $rc in ${elapsed}s)" \
    bash -c "test $rc = 1 && test $elapsed -le 6"
check "stalled server: interrupted, resumable" err_has "download interrupted at 500000 of $SIZE bytes"
check "stalled server: the .part is kept" test -s "$PART"

# 10b. A server that trickles (a byte now and then, never silent for
#     [server] timeout): [server] download_timeout ends the whole download.
reset
die_start trickle --after 200000
start=$(date +%s)
dl "$T/deadline.ini" "$DIE_URL"
elapsed=$(( $(date +%s) - start ))
die_stop
check "trickling server: exit 1 after about download_timeout (got $rc in ${elapsed}s)" \
    bash -c "test $rc = 1 && test $elapsed -ge 3 && test $elapsed -le 8"
check "trickling server: the message names the setting" \
    err_has "the whole download took longer than [server] download_timeout = 3 s"
check "trickling server: the .part is kept for the next attempt" test -s "$PART"

# 11. 404: the message names the URL and the status.
reset
dl "$T/plain.ini" "$HTTP_URL/nope-1.1.0.tar.gz"
check "404: exit 1 (got $rc)" test "$rc" = 1
check "404: names the URL and the status" err_has "$HTTP_URL/nope-1.1.0.tar.gz: download failed: HTTP status 404"

# 12. Redirects: to loopback http followed, to another host's plain http
#     refused before connecting.
reset
die_start redirect --location "$HTTP_URL/core-1.1.0.tar.gz"
dl "$T/plain.ini" "$DIE_URL"
die_stop
check "redirect to loopback: exit 0 (got $rc)" test "$rc" = 0
reset
die_start redirect --location "http://192.0.2.1/core-1.1.0.tar.gz"
start=$(date +%s)
dl "$T/plain.ini" "$DIE_URL"
die_stop
check "redirect to plain http elsewhere: refused at once (got $rc)" \
    bash -c "test $rc = 1 && test $(( $(date +%s) - start )) -le 2 && grep -q 'http://192.0.2.1/core-1.1.0.tar.gz: refused: plain http' '$T/err'"

# 13. [server] api_key goes to the origin of [server] url only.
reset
dl "$T/key.ini" "$HTTP_URL/core-1.1.0.tar.gz?k=1"
check "api_key: sent to the [server] url's origin" \
    bash -c "test $rc = 0 && grep -F 'GET /core-1.1.0.tar.gz?k=1 ' '$HTTP_LOG' | grep -q 'auth=\"Bearer s3cret-key\"'"
reset
die_start redirect --location "$HTTP_URL/core-1.1.0.tar.gz?k=2"
dl "$T/key.ini" "$DIE_URL"
die_stop
check "api_key: not sent to another origin; sent where its redirect leads to the origin" \
    bash -c "test $rc = 0 && grep -q 'auth=-$' '$DIE_LOG' && grep -F 'GET /core-1.1.0.tar.gz?k=2 ' '$HTTP_LOG' | grep -q 'auth=\"Bearer s3cret-key\"'"
reset
die_start redirect --location "$HTTP_URL/core-1.1.0.tar.gz?k=3"
cp "$CONF" "$T/key2.ini"
printf '[server]\nurl = http://127.0.0.1:%s\napi_key = s3cret-key\n' "$(cat "$T/die.port")" >> "$T/key2.ini"
dl "$T/key2.ini" "$DIE_URL"
die_stop
check "api_key: sent to the origin, not to the other host it redirects to" \
    bash -c "test $rc = 0 && grep -q 'auth=Bearer s3cret-key$' '$DIE_LOG' && grep -F 'GET /core-1.1.0.tar.gz?k=3 ' '$HTTP_LOG' | grep -q 'auth=\"-\"'"

# 14. Killed while downloading (nginx's limit_rate), recover, then resume
#     from nginx with a Range request.
reset
"$NX" -c "$T/plain.ini" -y pipeline run "$PIPE" --component core --to 1.1.0 \
    --param download_url="$HTTP_SLOW/core-1.1.0.tar.gz" --param sha256="$SHA" \
    --param size_bytes="$SIZE" > /dev/null 2>&1 < /dev/null &
pid=$!
for _ in $(seq 1 100); do
    [ "$(stat -c %s "$PART" 2>/dev/null || echo 0)" -gt 100000 ] && break
    sleep 0.05
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
have=$(stat -c %s "$PART" 2>/dev/null || echo 0)
check "killed mid-download: a partial .part ($have bytes)" bash -c "test $have -gt 0 && test $have -lt $SIZE"
rc=0; "$NX" -q -c "$T/plain.ini" recover > /dev/null 2>&1 || rc=$?
check "recover after the kill: exit 0 (got $rc), .part kept" bash -c "test $rc = 0 && test -e '$PART'"
dl "$T/plain.ini" "$HTTP_URL/core-1.1.0.tar.gz"
check "after the kill: the next attempt resumes from nginx (exit $rc)" \
    bash -c "test $rc = 0 && grep -q '^206 .*range=\"bytes=$have-\"' '$HTTP_LOG'"

# 15. A local package (param.package): copied through one descriptor into
# STATE/downloads (0600), the copy checked and published, the original
# left alone; the copy is gone when the update is over.
reset
cp "$WWW/core-1.1.0.tar.gz" "$T/local.tar.gz"
dl "$T/plain.ini" "" "$SHA" "$SIZE" --param package="$T/local.tar.gz"
check "local package: exit 0 (got $rc)" test "$rc" = 0
check "local package: copied into the state folder, the original kept" \
    bash -c "test -f '$T/local.tar.gz' && grep -qF 'copied the local package $T/local.tar.gz' '$T/err' && grep -q \"to $T/state/downloads/.*-local-.*\\.tar\\.gz\" '$T/err'"
check "local package: the private copy is removed with the update" \
    bash -c "! ls '$T'/state/downloads/*-local-* > /dev/null 2>&1"
reset
dl "$T/plain.ini" "" "$(printf '%064d' 1)" "$SIZE" --param package="$T/local.tar.gz"
check "local package with another sha256: refused (got $rc)" \
    bash -c "test $rc = 1 && grep -q 'sha256 mismatch' '$T/err' && test -f '$T/local.tar.gz'"

# 16. Bad offers and the dry run.
reset
dl "$T/plain.ini" "$HTTP_URL/core-1.1.0.tar.gz" "$SHA" 0
check "size_bytes 0: refused (got $rc)" bash -c "test $rc = 1 && grep -q 'size_bytes' '$T/err'"
dl "$T/plain.ini" "$HTTP_URL/core-1.1.0.tar.gz" "abc"
check "malformed sha256: refused (got $rc)" bash -c "test $rc = 1 && grep -q 'expected 64 hex digits' '$T/err'"
gets=$(nginx_gets /core-1.1.0.tar.gz)
rc=0; "$NX" -c "$T/plain.ini" -n pipeline run "$PIPE" --component core --to 1.1.0 \
    --param download_url="$HTTP_URL/core-1.1.0.tar.gz" --param sha256="$SHA" \
    --param size_bytes="$SIZE" > "$T/out" 2> "$T/err" || rc=$?
check "dry run: fetches the package once (as the update would), then removes it" \
    bash -c "test $rc = 0 && test $(nginx_gets /core-1.1.0.tar.gz) = $((gets + 1)) && grep -qF 'removed $DL/' '$T/err' && grep -qF '(a dry run keeps nothing)' '$T/err' && test -z \"\$(ls -A '$DL')\""
nx_finish
