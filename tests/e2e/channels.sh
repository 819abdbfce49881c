#!/usr/bin/env bash
# Channels (contracts §11): [server] channel = stable|rc|beta|alpha. A
# release with a pre-release tag is offered by check, list and core only
# where the channel admits it; --to names any release; a pre-release never
# hides a stable release; list (text and --json) shows each release's
# channel; an unknown channel is a config error with file:line. A tag that
# is none of alpha, beta, rc (1.9.0-dev.1) is treated as alpha.
# Usage: channels.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
command -v openssl > /dev/null || { echo "SKIP: openssl not found"; exit 77; }
command -v jq > /dev/null || { echo "SKIP: jq not found"; exit 77; }
rc_of() { local rc=0; "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?; echo "$rc"; }
jqt() { jq -e "$1" "$T/out" > /dev/null; }

mkdir -p "$T/site/core" "$T/pipelines" "$T/keys" "$T/repo/core"
printf "<?php\nreturn ['version' => '1.7.0'];\n" > "$T/site/core/version.php"
cp "$PREFIX/etc/nexo-update/pipelines/core.ini" "$T/pipelines/"
openssl genpkey -algorithm ed25519 -out "$T/vendor.key" 2>/dev/null
openssl pkey -in "$T/vendor.key" -pubout -out "$T/keys/vendor.pub"
printf 'index\ncore\nplugin:*\n' > "$T/keys/vendor.scope"

# 1.8.0 stable and critical; one release per pre-release channel, each
# newer than the one before; 2.2.0-dev.3 has a tag none of alpha/beta/rc.
VERSIONS="1.8.0 1.9.0-rc.1 2.0.0-beta.1 2.1.0-alpha.1 2.2.0-dev.3"
for v in $VERSIONS; do head -c 300 /dev/urandom > "$T/repo/core/nexosupport-$v.tar.gz"; done
python3 - "$T/repo" $VERSIONS <<'PY'
import datetime, hashlib, json, os, sys
d, versions = sys.argv[1], sys.argv[2:]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
z = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
rels = []
for v in versions:
    path = "core/nexosupport-%s.tar.gz" % v
    data = open(os.path.join(d, path), "rb").read()
    rels.append({"component": "core", "version": v, "download_url": path,
                 "checksum": {"sha256": hashlib.sha256(data).hexdigest()},
                 "signature": "c2lnbmF0dXJl", "size_bytes": len(data),
                 "is_critical": v == "1.8.0", "requires": {}})
idx = {"format": 1, "generated_at": z(now), "expires": z(now + datetime.timedelta(days=7)),
       "releases": rels}
open(os.path.join(d, "index.json"), "w").write(json.dumps(idx, indent=2) + "\n")
PY
openssl pkeyutl -sign -rawin -inkey "$T/vendor.key" -in "$T/repo/index.json" | base64 -w0 > "$T/repo/index.json.sig"

BASE=$(cat "$CONF")
conf() { # conf [CHANNEL]
    { echo "$BASE"; echo "[server]"; echo "url = file://$T/repo/index.json"
      echo "trusted_keys = keys"
      if [ -n "${1:-}" ]; then echo "channel = $1"; fi; } > "$CONF"
}

# ---- stable (the default): no pre-release, the stable critical 1.8.0 offered
conf
rc=$(rc_of "$NX" -c "$CONF" check)
check "stable (default): check offers 1.8.0 (critical), exit 100 (got $rc)" \
    bash -c "test $rc = 100 && grep -qx 'core 1.7.0 -> 1.8.0 (critical)' '$T/out'"
check "stable: check does not offer a pre-release" bash -c "! grep -q -- '-rc\|-beta\|-alpha\|-dev' '$T/out'"
rc=$(rc_of "$NX" -c "$CONF" list)
check "stable: list: 1.8.0 offered, not superseded by a pre-release" \
    bash -c "grep -q '^  1.8.0  offered (critical)' '$T/out' && ! grep -q superseded '$T/out'"
check "stable: list: 1.9.0-rc.1 not offered, naming its channel and the setting" \
    grep -q '^  1.9.0-rc.1  not offered: channel rc (\[server\] channel = stable)' "$T/out"
check "stable: list: each release's channel" \
    bash -c "grep -q '^    channel:   stable' '$T/out' && grep -q '^    channel:   beta' '$T/out' && grep -c '^    channel:   alpha' '$T/out' | grep -qx 2"
rc=$(rc_of "$NX" -c "$CONF" --json list)
check "stable: list --json: each release's channel, the offer 1.8.0" \
    jqt '.channel == "stable" and (.components[0] | .offer == "1.8.0" and ([.releases[] | .version + "=" + .channel] == ["2.2.0-dev.3=alpha","2.1.0-alpha.1=alpha","2.0.0-beta.1=beta","1.9.0-rc.1=rc","1.8.0=stable"]))'
rc=$(rc_of "$NX" -c "$CONF" -n core)
check "stable: core -n: the offer is 1.8.0" grep -qx 'core 1.7.0 -> 1.8.0 (critical)' "$T/out"
rc=$(rc_of "$NX" -c "$CONF" -n core --to 1.9.0-rc.1)
check "stable: core -n --to 1.9.0-rc.1 names a pre-release all the same" \
    grep -qx 'core 1.7.0 -> 1.9.0-rc.1' "$T/out"
conf stable
rc=$(rc_of "$NX" -c "$CONF" check)
check "channel = stable: 1.8.0" grep -qx 'core 1.7.0 -> 1.8.0 (critical)' "$T/out"

# ---- rc, beta, alpha
conf rc
rc=$(rc_of "$NX" -c "$CONF" check)
check "rc: check offers 1.9.0-rc.1 (exit $rc)" grep -qx 'core 1.7.0 -> 1.9.0-rc.1' "$T/out"
rc=$(rc_of "$NX" -c "$CONF" list)
check "rc: list: 1.8.0 superseded by 1.9.0-rc.1, 2.0.0-beta.1 not offered (channel)" \
    bash -c "grep -q '^  1.8.0  not offered: superseded by 1.9.0-rc.1' '$T/out' && grep -q '^  2.0.0-beta.1  not offered: channel beta (\[server\] channel = rc)' '$T/out'"
rc=$(rc_of "$NX" -c "$CONF" -n core)
check "rc: core -n: the offer is 1.9.0-rc.1" grep -qx 'core 1.7.0 -> 1.9.0-rc.1' "$T/out"
conf beta
rc=$(rc_of "$NX" -c "$CONF" check)
check "beta: check offers 2.0.0-beta.1" grep -qx 'core 1.7.0 -> 2.0.0-beta.1' "$T/out"
conf alpha
rc=$(rc_of "$NX" -c "$CONF" check)
check "alpha: check offers 2.2.0-dev.3 (an unknown tag is alpha)" grep -qx 'core 1.7.0 -> 2.2.0-dev.3' "$T/out"

# ---- all -n and check --apply-auto -n choose by the same rule
autoconf() { conf "${1:-}"; printf '[auto]\napply = minor\n' >> "$CONF"; }
autoconf
rc=$(rc_of "$NX" -c "$CONF" -n all)
check "stable: all -n plans core 1.7.0 -> 1.8.0" grep -qE '^  core +1\.7\.0 -> 1\.8\.0$' "$T/out"
rc=$(rc_of "$NX" -c "$CONF" -n check --apply-auto)
check "stable: check --apply-auto -n would install 1.8.0, not 1.9.0-rc.1" \
    bash -c "grep -q 'auto: core 1.7.0 -> 1.8.0 (critical): installing automatically' '$T/err' && ! grep -q 'rc.1: installing' '$T/err'"
autoconf rc
rc=$(rc_of "$NX" -c "$CONF" -n all)
check "rc: all -n plans core 1.7.0 -> 1.9.0-rc.1" grep -qE '^  core +1\.7\.0 -> 1\.9\.0-rc\.1$' "$T/out"
rc=$(rc_of "$NX" -c "$CONF" -n check --apply-auto)
check "rc: check --apply-auto -n installs no pre-release unattended: 1.8.0, saying why not 1.9.0-rc.1" \
    bash -c "grep -q 'auto: core 1.9.0-rc.1 is not installed automatically: a pre-release (channel rc) is installed only by hand (core --to 1.9.0-rc.1)' '$T/err' && grep -q 'auto: core 1.7.0 -> 1.8.0 (critical): installing automatically' '$T/err'"

# ---- API mode: a channel other than stable is sent as the form field
# "channel"; an answer the channel does not admit is not offered all the same
API_CONF="$T/api.json" API_LOG="$T/api.log"
core_rc='"core": {"update_available": true, "latest_version": "1.9.0-rc.1",
  "download_url": "/p/core-1.9.0-rc.1.tar.gz", "checksum": {"sha256": "'$(printf '%064d' 0)'"},
  "signature": "c2ln", "size_bytes": 10}'
printf '{"mode": "ok", "answers": {%s}}\n' "$core_rc" > "$API_CONF"
: > "$API_LOG"
python3 "$here/api_server.py" "$API_CONF" "$T/api.port" "$API_LOG" &
APISRV=$!
trap 'kill "$APISRV" 2>/dev/null || true; rm -rf "$T"' EXIT
for _ in $(seq 1 100); do test -s "$T/api.port" && break; sleep 0.05; done
apiconf() { { echo "$BASE"; echo "[server]"; echo "url = http://127.0.0.1:$(cat "$T/api.port")/"
              if [ -n "${1:-}" ]; then echo "channel = $1"; fi; } > "$CONF"; }
apiconf
rc=$(rc_of "$NX" -c "$CONF" check)
check "API, stable: the server's 1.9.0-rc.1 is not offered, no channel field sent (exit $rc)" \
    bash -c "test $rc = 0 && grep -qx 'no updates' '$T/out' && jq -se 'all(.form.channel == null)' '$API_LOG' > /dev/null"
: > "$API_LOG"
apiconf rc
rc=$(rc_of "$NX" -c "$CONF" check)
check "API, rc: channel=rc sent, 1.9.0-rc.1 offered (exit $rc)" \
    bash -c "test $rc = 100 && grep -qx 'core 1.7.0 -> 1.9.0-rc.1' '$T/out' && jq -se 'all(.form.channel == \"rc\")' '$API_LOG' > /dev/null"

# ---- an unknown channel: a config error with file:line
{ echo "$BASE"; echo "[server]"; echo "url = file://$T/repo/index.json"; echo "channel = nightly"; } > "$CONF"
line=$(grep -n '^channel = nightly' "$CONF" | cut -d: -f1)
rc=$(rc_of "$NX" -c "$CONF" check)
check "channel = nightly: refused with file:line, exit != 0 (got $rc)" \
    bash -c "test $rc != 0 && grep -q '$CONF:$line' '$T/err' && grep -q 'channel' '$T/err' && grep -q 'stable|rc|beta|alpha' '$T/err'"

nx_finish
