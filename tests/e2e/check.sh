#!/usr/bin/env bash
# The update check on the installed binary: `check`, `list` and `core -n`
# against a signed static index (file://, http:// on loopback, https:// with
# ca_file) and against the update server API (tests/e2e/api_server.py),
# with every refusal and error. The repository is made here by hand with
# openssl (no nexo-release needed). Usage: check.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
command -v openssl > /dev/null || { echo "SKIP: openssl not found"; exit 77; }
command -v jq > /dev/null || { echo "SKIP: jq not found"; exit 77; }
rc_of() { local rc=0; "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?; echo "$rc"; }
has() { grep -qF -- "$1" "$2"; }
jqt() { jq -e "$1" "$T/out" > /dev/null; }
jql() { jq -se "$1" "$API_LOG" > /dev/null; }

# ---- the site: core 1.0.0, plugin forum 2.0.0, a plugin folder without version.php
mkdir -p "$T/site/core" "$T/site/modules/plugins/forum" "$T/site/modules/plugins/empty" "$T/pipelines"
cat > "$T/site/core/version.php" <<'PHP'
<?php
return [
    'version' => '1.0.0',
    'version_code' => 1000000,
    'requires' => ['php' => '8.1.0'],
];
PHP
cat > "$T/site/modules/plugins/forum/version.php" <<'PHP'
<?php
return ['version' => '2.0.0', 'requires' => ['nexosupport' => '>=1.0.0']];
PHP
cp "$PREFIX/etc/nexo-update/pipelines/core.ini" "$T/pipelines/"
# A php that says 8.2.7 (the requirement php >=99 is then not met).
mkdir -p "$T/bin"
printf '#!/bin/sh\n[ "$1" = -r ] && printf 8.2.7\n' > "$T/bin/php"
chmod 755 "$T/bin/php"
export PATH="$T/bin:$PATH"

# ---- keys and the repository
mkdir -p "$T/keys" "$T/otherkeys" "$T/nokeys"
openssl genpkey -algorithm ed25519 -out "$T/vendor.key" 2>/dev/null
openssl pkey -in "$T/vendor.key" -pubout -out "$T/keys/vendor.pub"
printf 'index\ncore\nplugin:*\n' > "$T/keys/vendor.scope"
openssl genpkey -algorithm ed25519 -out "$T/rogue.key" 2>/dev/null
openssl pkey -in "$T/rogue.key" -pubout -out "$T/otherkeys/rogue.pub"
printf 'index\ncore\nplugin:*\n' > "$T/otherkeys/rogue.scope"

# mkrepo DIR [EXPIRES_DAYS] [GENERATED_DAYS]: packages and a signed index.
mkrepo() {
    local dir=$1 exp=${2:-7} gen=${3:-0}
    mkdir -p "$dir/core" "$dir/plugins"
    for v in 1.0.0 1.1.0 1.2.0 1.3.0; do
        head -c 1000 /dev/urandom > "$dir/core/nexosupport-$v.tar.gz"
    done
    head -c 500 /dev/urandom > "$dir/plugins/forum-2.1.0.tar.gz"
    head -c 500 /dev/urandom > "$dir/plugins/forum-3.0.0.tar.gz"
    python3 - "$dir" "$exp" "$gen" <<'PY'
import datetime, hashlib, json, os, sys
d, exp, gen = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
z = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
def rel(comp, ver, path, req=None, **kw):
    data = open(os.path.join(d, path), "rb").read()
    r = {"component": comp, "version": ver, "version_code": 0, "download_url": path,
         "checksum": {"sha256": hashlib.sha256(data).hexdigest()},
         "signature": "c2lnbmF0dXJlLW9mLXRoZS1wYWNrYWdl", "size_bytes": len(data),
         "release_date": "2025-11-13", "changelog": "## Version %s\n- change one\n- change two" % ver,
         "is_security_update": False, "is_critical": False, "requires": req or {},
         "compatibility": {}, "branch": "stable"}
    r.update(kw)
    return r
idx = {"format": 1, "generated_at": z(now + datetime.timedelta(days=gen)),
       "expires": z(now + datetime.timedelta(days=exp)), "releases": [
    rel("core", "1.0.0", "core/nexosupport-1.0.0.tar.gz"),
    rel("core", "1.2.0", "core/nexosupport-1.2.0.tar.gz", {"php": ">=99.0"}),
    rel("core", "1.1.0", "core/nexosupport-1.1.0.tar.gz", {"php": ">=8.1.0", "sqlite": ">=3.0"},
        is_security_update=True),
    rel("core", "1.3.0", "core/nexosupport-1.3.0.tar.gz", {"sqlite": ">=99"}),
    rel("plugin:forum", "2.1.0", "plugins/forum-2.1.0.tar.gz", {"nexosupport": ">=1.0.0"},
        is_critical=True),
    rel("plugin:forum", "3.0.0", "plugins/forum-3.0.0.tar.gz", {"nexosupport": ">=2.0.0"}),
    rel("plugin:other", "1.0.0", "plugins/forum-2.1.0.tar.gz"),
]}
open(os.path.join(d, "index.json"), "w").write(json.dumps(idx, indent=2) + "\n")
PY
    sign "$dir/index.json" "$T/vendor.key"
}
sign() { openssl pkeyutl -sign -rawin -inkey "$2" -in "$1" | base64 -w0 > "$1.sig"; }

# The site's database (SQLite: its version is the library's).
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("create table t (x)")' "$T/site.db"
chmod 600 "$T/site.db"

REPO="$T/repo"
mkrepo "$REPO"
SHA110=$(sha256sum "$REPO/core/nexosupport-1.1.0.tar.gz" | cut -d' ' -f1)

BASE=$(cat "$CONF")
# conf SERVER_LINES...: the test config with a [server] section and SQLite.
conf() {
    { echo "$BASE"
      echo "[database]"; echo "driver = sqlite"; echo "path = $T/site.db"
      echo "[server]"; printf '%s\n' "$@"; } > "$CONF"
}
conf "url = file://$REPO/index.json" "trusted_keys = keys" "timeout = 5"

# ---- static index, file://
rc=$(rc_of "$NX" -c "$CONF" check)
check "file:// check: exit 100 (got $rc)" test "$rc" = 100
check "check: core 1.0.0 -> 1.1.0 (security)" grep -qx 'core 1.0.0 -> 1.1.0 (security)' "$T/out"
check "check: plugin:forum 2.0.0 -> 2.1.0 (critical)" grep -qx 'plugin:forum 2.0.0 -> 2.1.0 (critical)' "$T/out"
check "check: two lines, nothing about plugin:other" test "$(wc -l < "$T/out")" = 2
check "check: why 1.2.0 and 1.3.0 are not offered" \
    bash -c "grep -q 'core 1.2.0 is not offered: php >=99.0' '$T/err' && grep -q 'core 1.3.0 is not offered: sqlite >=99' '$T/err'"
check "check: a plugin without version.php is noted" has "plugin empty: no" "$T/err"

rc=$(rc_of "$NX" -c "$CONF" --json check)
check "check --json: exit 100, one document" bash -c "test $rc = 100 && jq -e . '$T/out' > /dev/null"
check "check --json: mode, source" jqt ".mode == \"index\" and .source == \"file://$REPO/index.json\""
check "check --json: core update fields" \
    jqt ".updates[0] | .component == \"core\" and .installed == \"1.0.0\" and .version == \"1.1.0\" and .size_bytes == 1000 and .release_date == \"2025-11-13\" and .is_security_update == true and .is_critical == false"
check "check --json: download_url resolved against the index" \
    jqt ".updates[0].download_url == \"file://$REPO/core/nexosupport-1.1.0.tar.gz\""
check "check --json: the plugin" jqt '.updates[1] | .component == "plugin:forum" and .version == "2.1.0" and .is_critical == true'

rc=$(rc_of "$NX" -c "$CONF" list)
check "list: exit 0" test "$rc" = 0
check "list: the source and its key" grep -q "^source: file://$REPO/index.json (static index signed by key" "$T/out"
check "list: every newer core release, newest first" \
    bash -c "grep -oE '^  1\.[0-9]\.0' '$T/out' | tr -d ' ' | tr '\n' ' ' | grep -qx '1.3.0 1.2.0 1.1.0 '"
check "list: the offered one" grep -q '^  1.1.0  offered (security)' "$T/out"
check "list: an unmet requirement with the site's value" \
    grep -q "not met:   php >=99.0 (the site's php is 8.2.7)" "$T/out"
check "list: an unmet database requirement" grep -q 'not met:   sqlite >=99 (the database server is 3\.' "$T/out"
check "list: an unmet plugin requirement" grep -q 'not met:   nexosupport >=2.0.0 (installed core is 1.0.0)' "$T/out"
check "list: size, date, sha256, changelog" \
    bash -c "grep -q 'size:      1000 bytes' '$T/out' && grep -q 'released:  2025-11-13' '$T/out' && grep -q 'sha256:    $SHA110' '$T/out' && grep -q '      - change two' '$T/out'"
check "list: requirements" grep -q 'requires:  php >=8.1.0, sqlite >=3.0' "$T/out"
rc=$(rc_of "$NX" -c "$CONF" --json list)
check "list --json" \
    jqt '.components[0] | .component == "core" and .offer == "1.1.0" and ([.releases[].version] == ["1.3.0","1.2.0","1.1.0"]) and (.releases[1].unmet[0] | startswith("php >=99.0"))'
check "list --json: plugin without an offer for 3.0.0" \
    jqt '.components[1] | .component == "plugin:forum" and .offer == "2.1.0" and (.releases[0].unmet | length == 1)'

# Without php on the PATH a release requiring php is not offered: the
# requirement cannot be checked ([php] binary named); with [php] check =
# off it is skipped with a note (tests/e2e/php_check.sh has the rest).
mkdir -p "$T/nobin"
rc=$(PATH="$T/nobin" rc_of "$NX" -c "$CONF" check)
check "no php: releases requiring php not offered, [php] binary named (rc $rc)" \
    bash -c "test $rc = 100 && grep -q 'core 1.2.0 is not offered: php >=99.0: not checked: \[php\] binary = php' '$T/err' && ! grep -q '^core' '$T/out'"
cp "$CONF" "$T/conf.keep"
printf '[php]\ncheck = off\n' >> "$CONF"
rc=$(PATH="$T/nobin" rc_of "$NX" -c "$CONF" check)
check "no php, [php] check = off: requirement skipped with a note, 1.2.0 offered (rc $rc)" \
    bash -c "test $rc = 100 && grep -q 'php requirements not checked: \[php\] check = off' '$T/err' && grep -qx 'core 1.0.0 -> 1.2.0' '$T/out'"
cp "$T/conf.keep" "$CONF"

# A SQLite database that does not exist is not created by a check.
sed -i "s|^path = $T/site.db|path = $T/nodb.db|" "$CONF"
rc=$(rc_of "$NX" -c "$CONF" check)
check "no database file: database requirements skipped with a note, file not created" \
    bash -c "grep -q 'database requirements not checked: the SQLite database $T/nodb.db does not exist' '$T/err' && grep -qx 'core 1.0.0 -> 1.3.0' '$T/out' && test ! -e '$T/nodb.db'"
conf "url = file://$REPO/index.json" "trusted_keys = keys" "timeout = 5"

# No updates: exit 0.
cp "$T/site/core/version.php" "$T/core.php.bak"
sed -i "s/'1.0.0'/'1.3.0'/" "$T/site/core/version.php"
sed -i "s/'2.0.0'/'3.0.0'/" "$T/site/modules/plugins/forum/version.php"
rc=$(rc_of "$NX" -c "$CONF" check)
check "nothing newer: 'no updates', exit 0 (got $rc)" bash -c "test $rc = 0 && grep -qx 'no updates' '$T/out'"
rc=$(rc_of "$NX" -c "$CONF" --json check)
check "nothing newer --json: empty updates" bash -c "test $rc = 0 && jq -e '.updates == []' '$T/out' > /dev/null"
rc=$(rc_of "$NX" -c "$CONF" -n core)
check "nothing newer: core -n says so, exit 0" \
    bash -c "test $rc = 0 && grep -q '^core 1.3.0: no update available from file://$REPO/index.json' '$T/out'"
cp "$T/core.php.bak" "$T/site/core/version.php"
sed -i "s/'3.0.0'/'2.0.0'/" "$T/site/modules/plugins/forum/version.php"

# An index written by nexo-release reads the same.
if [ -x "$PREFIX/bin/nexo-release" ]; then
    NR="$PREFIX/bin/nexo-release"
    mkdir -p "$T/nr/src/core" "$T/nr/keys"
    printf "<?php\nreturn ['version' => '1.4.0', 'requires' => ['php' => '>=8.0']];\n" > "$T/nr/src/core/version.php"
    echo '<?php' > "$T/nr/src/index.php"
    if (cd "$T/nr" && "$NR" keygen vendor --scope index --scope core --scope 'plugin:*' && "$NR" pack --component core --src src --key vendor.key --repo repo --security) > "$T/nr/log" 2>&1; then
        cp "$T/nr/vendor.pub" "$T/nr/vendor.scope" "$T/nr/keys/"
        conf "url = file://$T/nr/repo/index.json" "trusted_keys = $T/nr/keys"
        rc=$(rc_of "$NX" -c "$CONF" check)
        check "nexo-release's index: exit 100, core 1.0.0 -> 1.4.0 (got $rc)" \
            bash -c "test $rc = 100 && grep -qx 'core 1.0.0 -> 1.4.0 (security)' '$T/out'"
    else
        not_ok "nexo-release pack: $(tail -1 "$T/nr/log")"
    fi
    conf "url = file://$REPO/index.json" "trusted_keys = keys" "timeout = 5"
fi

# ---- refusals: every one exits 1 naming the index
refused() { # refused DESCRIPTION PATTERN
    local rc
    rc=$(rc_of "$NX" -c "$CONF" check)
    check "$1: exit 1 (got $rc)" test "$rc" = 1
    check "$1: message" grep -q -- "$2" "$T/err"
    check "$1: nothing on stdout" test ! -s "$T/out"
}
mkrepo "$T/expired" -1
conf "url = file://$T/expired/index.json" "trusted_keys = keys"
refused "expired index" "file://$T/expired/index.json: refused: the index expired at 20"
mkrepo "$T/future" 7 3
conf "url = file://$T/future/index.json" "trusted_keys = keys"
refused "index generated in the future" "refused: generated_at .* is in the future"
mkrepo "$T/tampered"
python3 - "$T/tampered/index.json" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.index(b'"1.1.0"') + 5
b[i] = ord("1")   # one byte: "1.1.0" -> "1.1.1"
open(p, "wb").write(bytes(b))
PY
conf "url = file://$T/tampered/index.json" "trusted_keys = keys"
refused "tampered index (one byte)" "file://$T/tampered/index.json: refused: bad signature"
mkrepo "$T/rogue"
sign "$T/rogue/index.json" "$T/rogue.key"
conf "url = file://$T/rogue/index.json" "trusted_keys = keys"
refused "index signed by an untrusted key" "file://$T/rogue/index.json: refused: bad signature"
mkrepo "$T/nosig"
rm "$T/nosig/index.json.sig"
conf "url = file://$T/nosig/index.json" "trusted_keys = keys"
refused "missing index.json.sig" "refused: the index's signature cannot be fetched: file://$T/nosig/index.json.sig"
: > "$T/rogue/index.json.sig"
conf "url = file://$T/rogue/index.json" "trusted_keys = keys"
refused "empty index.json.sig" "refused: the signature file .* is empty"
conf "url = file://$REPO/index.json"
refused "no trusted keys configured" "refused: no trusted keys configured (\[server\] trusted_keys"
conf "url = file://$REPO/index.json" "trusted_keys = nokeys"
refused "an empty trusted keys folder" "file://$REPO/index.json: refused: trusted keys"
conf "url = file://$T/none/index.json" "trusted_keys = keys"
refused "missing index" "file://$T/none/index.json"
conf "url = http://updates.example.invalid/index.json" "trusted_keys = keys"
refused "plain http off loopback" "http://updates.example.invalid/index.json: plain http is allowed only to loopback"
conf "url = ftp://127.0.0.1/index.json" "trusted_keys = keys"
refused "other schemes" "ftp://127.0.0.1/index.json: unsupported scheme"
conf "trusted_keys = keys"
refused "no [server] url" "no update source: \[server\] url is not set"
# A signed but broken index: a release without its checksum.
mkrepo "$T/broken"
python3 - "$T/broken/index.json" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
del d["releases"][2]["checksum"]
open(p, "w").write(json.dumps(d))
PY
sign "$T/broken/index.json" "$T/vendor.key"
conf "url = file://$T/broken/index.json" "trusted_keys = keys"
refused "a release without checksum" "releases\[2\]: version 1.1.0: checksum.sha256 is missing"

# ---- over http(s): nginx (tests/e2e/http.sh) or python's http.server
conf "url = file://$REPO/index.json" "trusted_keys = keys"
if [ -f "$here/http.sh" ] && { command -v nginx || test -x /usr/sbin/nginx; } > /dev/null 2>&1; then
    source "$here/http.sh"
    http_start "$REPO"
    conf "url = $HTTP_URL/index.json" "trusted_keys = keys"
    rc=$(rc_of "$NX" -c "$CONF" --json check)
    check "http:// to loopback: exit 100 (got $rc)" test "$rc" = 100
    check "http://: download_url resolved against the index URL" \
        jqt ".updates[0].download_url == \"$HTTP_URL/core/nexosupport-1.1.0.tar.gz\""
    conf "url = $HTTPS_URL/index.json" "trusted_keys = keys" "ca_file = $HTTP_CA"
    rc=$(rc_of "$NX" -c "$CONF" check)
    check "https:// with ca_file: exit 100 (got $rc)" test "$rc" = 100
    conf "url = $HTTPS_URL/index.json" "trusted_keys = keys"
    rc=$(rc_of "$NX" -c "$CONF" check)
    check "https:// with an unknown CA: exit 1 naming the URL" \
        bash -c "test $rc = 1 && grep -q '$HTTPS_URL/index.json: .*certificate' '$T/err'"
    # The offer reaches the steps: a core pipeline of the download step
    # alone plans the download of exactly the offered package.
    if [ -f "$PREFIX/lib/nexo-update/steps/download.so" ]; then
        mv "$T/pipelines/core.ini" "$T/core.ini.full"
        printf '[pipeline]\nname = core\n[download]\nmodule = download\n' > "$T/pipelines/core.ini"
        conf "url = $HTTP_URL/index.json" "trusted_keys = keys"
        rc=$(rc_of "$NX" -c "$CONF" -n core)
        check "core -n: the download step fetches the offered package, then the dry run drops it (exit $rc)" \
            bash -c "test $rc = 0 && grep -q '$HTTP_URL/core/nexosupport-1.1.0.tar.gz' '$T/err' && grep -q '\[download\] done' '$T/err' && grep -q '\[download\] undone' '$T/err' && test -z \"\$(ls -A '$T/state/downloads' 2>/dev/null)\""
        mv "$T/core.ini.full" "$T/pipelines/core.ini"
    fi
    conf "url = $HTTP_URL/nope/index.json" "trusted_keys = keys"
    rc=$(rc_of "$NX" -c "$CONF" check)
    check "http:// 404: exit 1 with URL and status" \
        bash -c "test $rc = 1 && grep -q '$HTTP_URL/nope/index.json: HTTP status 404' '$T/err'"
    http_stop
else
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (cd "$REPO" && exec python3 -m http.server -b 127.0.0.1 "$PORT") > /dev/null 2>&1 &
    HTTPD=$!
    for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    conf "url = http://127.0.0.1:$PORT/index.json" "trusted_keys = keys"
    rc=$(rc_of "$NX" -c "$CONF" --json check)
    check "http:// to loopback: exit 100 (got $rc)" test "$rc" = 100
    check "http://: download_url resolved against the index URL" \
        jqt ".updates[0].download_url == \"http://127.0.0.1:$PORT/core/nexosupport-1.1.0.tar.gz\""
    kill "$HTTPD"; wait "$HTTPD" 2>/dev/null || true
fi

# ---- API mode
API_CONF="$T/api.json"
API_LOG="$T/api.log"
api() { printf '%s\n' "$1" > "$API_CONF"; }
api '{"mode": "ok"}'
: > "$API_LOG"
python3 "$here/api_server.py" "$API_CONF" "$T/api.port" "$API_LOG" &
APISRV=$!
nx_at_exit_api() { kill "$APISRV" 2>/dev/null || true; }
trap 'nx_at_exit_api; rm -rf "$T"' EXIT
for _ in $(seq 1 100); do test -s "$T/api.port" && break; sleep 0.05; done
API="http://127.0.0.1:$(cat "$T/api.port")"
CHECKURL="$API/api/check"
conf "url = $API/" "api_key = s3cret" "timeout = 1"
core_answer='"core": {"component": "core", "current_version": "1.0.0", "latest_version": "1.1.0",
  "update_available": true, "download_url": "/releases/nexosupport-1.1.0.tar.gz",
  "checksum": {"md5": "5d41402abc4b2a76b9719d911017c592", "sha256": "'$SHA110'"},
  "signature": "c2ln", "size_bytes": 15728640, "release_date": "2025-11-13",
  "changelog": "## Version 1.1.0\n- fix", "is_security_update": true, "is_critical": true,
  "requires": {"nexosupport": ">=1.0.0", "php": ">=8.1.0"}}'
forum_answer='"plugin:forum": {"update_available": true, "latest_version": "2.1.0",
  "download_url": "https://cdn.example.com/forum-2.1.0.zip", "checksum": {"sha256": "'$SHA110'"},
  "signature": "c2ln", "size_bytes": 10, "requires": {"nexosupport": ">=5.0"}}'
api "{\"mode\": \"ok\", \"api_key\": \"s3cret\", \"answers\": {$core_answer, $forum_answer}}"
rc=$(rc_of "$NX" -c "$CONF" check)
check "API: exit 100 (got $rc)" test "$rc" = 100
check "API: core 1.0.0 -> 1.1.0 (security, critical)" grep -qx 'core 1.0.0 -> 1.1.0 (security, critical)' "$T/out"
check "API: plugin whose requirement fails is not offered" \
    bash -c "test \$(wc -l < '$T/out') = 1 && grep -q 'plugin:forum 2.1.0 is not offered: nexosupport >=5.0' '$T/err'"
check "API: one POST for core, with the spec's fields" \
    jql 'map(select(.form.component == "core")) | length == 1 and (.[0] | .path == "/api/check" and .form.current_version == "1.0.0" and .form.php_version == "8.2.7")'
check "API: one POST for the installed plugin, with its slug" \
    jql 'map(select(.form.component == "plugin")) | length == 1 and .[0].form.slug == "forum" and .[0].form.current_version == "2.0.0"'
check "API: the api_key as a Bearer token" jql 'all(.auth == "Bearer s3cret")'
rc=$(rc_of "$NX" -c "$CONF" --json check)
check "API --json: mode api, source, absolute download_url" \
    jqt ".mode == \"api\" and .source == \"$CHECKURL\" and .updates[0].download_url == \"$API/releases/nexosupport-1.1.0.tar.gz\" and .updates[0].size_bytes == 15728640"
conf "url = $API" "api_key = wrong" "timeout = 1"
rc=$(rc_of "$NX" -c "$CONF" check)
check "API: a wrong key: exit 1 with URL and status" \
    bash -c "test $rc = 1 && grep -q '$CHECKURL: HTTP status 401' '$T/err'"
conf "url = $API" "api_key = s3cret" "timeout = 1"
api '{"mode": "ok"}'
rc=$(rc_of "$NX" -c "$CONF" check)
check "API: nothing available: 'no updates', exit 0 (got $rc)" \
    bash -c "test $rc = 0 && grep -qx 'no updates' '$T/out'"
api_error() { # api_error DESCRIPTION MODE PATTERN
    local rc
    api "{\"mode\": \"$2\", \"delay\": 3}"
    rc=$(rc_of "$NX" -c "$CONF" check)
    check "API $1: exit 1 (got $rc)" test "$rc" = 1
    check "API $1: message names the URL" grep -q -- "$3" "$T/err"
}
api_error "HTTP 500" 500 "$CHECKURL: HTTP status 500"
api_error "malformed JSON" malformed "$CHECKURL: malformed JSON at line 2, column"
# the size limit, not the clock, must end these (timeout = 1 is too short
# for 4 MiB under ASan on a busy machine)
conf "url = $API" "api_key = s3cret" "timeout = 20"
api_error "10 MB answer" huge "answer from $CHECKURL larger than 4 MiB"
api_error "10 MB answer (Content-Length)" huge-cl "answer from $CHECKURL larger than 4 MiB"
conf "url = $API" "api_key = s3cret" "timeout = 1"
start=$(date +%s)
api_error "slow answer beyond timeout = 1" slow "$CHECKURL: .*[Tt]imeout\|$CHECKURL: .*timed out"
check "API slow answer: gave up after about a second" test $(( $(date +%s) - start )) -le 3
api '{"mode": "ok", "answers": {"core": {"update_available": true, "latest_version": "1.1.0", "download_url": "x.zip", "checksum": {"sha256": "'$SHA110'"}, "size_bytes": 5}}}'
rc=$(rc_of "$NX" -c "$CONF" check)
check "API: an offer without signature: exit 1" \
    bash -c "test $rc = 1 && grep -q '$CHECKURL (core): latest_version 1.1.0: no signature' '$T/err'"
api '{"mode": "ok", "answers": {"core": {"latest_version": "1.1.0"}}}'
rc=$(rc_of "$NX" -c "$CONF" check)
check "API: no update_available: exit 1" \
    bash -c "test $rc = 1 && grep -q 'no boolean \"update_available\"' '$T/err'"
DEAD=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
conf "url = http://127.0.0.1:$DEAD" "timeout = 1"
rc=$(rc_of "$NX" -c "$CONF" check)
check "API: nobody listening: exit 1 naming the URL" \
    bash -c "test $rc = 1 && grep -q 'http://127.0.0.1:$DEAD/api/check: ' '$T/err'"
conf "url = $API" "api_key = s3cret" "timeout = 1"
api "{\"mode\": \"ok\", \"answers\": {$core_answer}}"
: > "$API_LOG"
rc=$(rc_of "$NX" -c "$CONF" -n core)
check "API core -n: the offer printed, only core asked" \
    bash -c "grep -q '^  version:    1.1.0' '$T/out' && grep -q '^  sha256:     $SHA110' '$T/out' && test \$(wc -l < '$API_LOG') = 1"
rc=$(rc_of "$NX" -c "$CONF" -n core --to 1.0.5)
check "API core -n --to 1.0.5: the server offers only 1.1.0, exit 1" \
    bash -c "test $rc = 1 && grep -q 'core 1.0.5 is not offered by $CHECKURL (offered: 1.1.0)' '$T/err'"
kill "$APISRV" 2>/dev/null || true
wait "$APISRV" 2>/dev/null || true

# ---- check --notify without an address (e-mail: tests/e2e/notify.sh)
conf "url = file://$REPO/index.json" "trusted_keys = keys"
rc=$(rc_of "$NX" -c "$CONF" check --notify)
check "check --notify without [notify] email: exit 1, saying so" \
    bash -c "test $rc = 1 && grep -q 'no \[notify\] email' '$T/err'"

# ---- core without -n and without a terminal asks for -y (exit 2)
rc=$(rc_of "$NX" -c "$CONF" core)
check "core without -n and without -y: exit 2" bash -c "test $rc = 2 && grep -q 'give -y' '$T/err'"
rc=$(rc_of "$NX" -c "$CONF" -n core)
check "core -n: the offer: 1.0.0 -> 1.1.0" grep -qx 'core 1.0.0 -> 1.1.0 (security)' "$T/out"
check "core -n: version, sha256, size, url, changelog" \
    bash -c "grep -q '^  version:    1.1.0' '$T/out' && grep -q '^  sha256:     $SHA110' '$T/out' && grep -q '^  size:       1000 bytes' '$T/out' && grep -q '^  url:        file://$REPO/core/nexosupport-1.1.0.tar.gz' '$T/out' && grep -q '^    - change one' '$T/out'"
check "core -n: the pipeline is planned (or names what it misses), exit 0 or 1 (got $rc)" \
    bash -c "test $rc = 0 -o $rc = 1 && grep -q 'core' '$T/err'"
check "core -n: nothing changed, no journal waiting" test ! -e "$T/state/journal/current.jnl"
rc=$(rc_of "$NX" -c "$CONF" --dry-run --json core)
check "core --dry-run --json: the offer facts" \
    jqt ".version == \"1.1.0\" and (.facts | .[\"param.sha256\"] == \"$SHA110\" and .[\"param.download_url\"] == \"file://$REPO/core/nexosupport-1.1.0.tar.gz\" and .[\"param.size_bytes\"] == \"1000\" and .[\"param.component\"] == \"core\" and .[\"param.version\"] == \"1.1.0\" and .[\"param.installed\"] == \"1.0.0\" and .[\"param.allow_downgrade\"] == \"0\" and .[\"param.signature\"] == \"c2lnbmF0dXJlLW9mLXRoZS1wYWNrYWdl\")"
rc=$(rc_of "$NX" -c "$CONF" -n core --to 1.2.0)
check "core -n --to 1.2.0: requirements not met, exit 1" \
    bash -c "test $rc = 1 && grep -q 'core 1.2.0: the site does not meet its requirements: php >=99.0' '$T/err'"
rc=$(rc_of "$NX" -c "$CONF" -n core --to 9.9.9)
check "core -n --to 9.9.9: not offered, exit 1" \
    bash -c "test $rc = 1 && grep -q 'core 9.9.9 is not offered by file://$REPO/index.json (offered: 1.3.0, 1.2.0, 1.1.0, 1.0.0)' '$T/err'"
rc=$(rc_of "$NX" -c "$CONF" -n core --to 1.0.0)
check "core -n --to 1.0.0 (not newer): refused, exit 1" \
    bash -c "test $rc = 1 && grep -q 'not newer than the installed 1.0.0: refused' '$T/err'"
rc=$(rc_of "$NX" -c "$CONF" -n core --to 1.0.0 --allow-downgrade)
check "core -n --to 1.0.0 --allow-downgrade: offered" grep -q '^  version:    1.0.0' "$T/out"
rc=$(rc_of "$NX" -c "$CONF" -n core --allow-downgrade)
check "core --allow-downgrade without --to: usage, exit 2" test "$rc" = 2

nx_finish
