#!/usr/bin/env bash
# The trust chain end to end: nexo-release packs and signs 1.0.0 and 1.1.0
# into a repository served by nginx; `check` names 1.1.0 (exit 100);
# download + verify + extract of the offer give a staging tree equal to the
# source tree; and every hostile case is refused with a clear message and
# nothing left in the site. Usage: trust.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/http.sh"
nx_setup "$1" "$2"
SRC=$(cd "$here/../.." && pwd)
REL="$PREFIX/bin/nexo-release"
REPO="$T/repo"; KEYS="$T/keys"; mkdir -p "$REPO" "$KEYS"

mk_src() { # mk_src VERSION DIR
    mkdir -p "$2"
    cp -a "$SRC/tests/fixtures/site/." "$2/"
    rm -rf "$2/var"
    printf "<?php\nreturn [\n    'version' => '%s',\n    'release_date' => '2026-11-25',\n    'requires' => ['php' => '>=5.0.0'],\n];\n" "$1" > "$2/core/version.php"
    echo "<?php echo 'NexoSupport $1';" > "$2/public_html/index.php"
}
mk_src 1.0.0 "$T/src-1.0.0"
mk_src 1.1.0 "$T/src-1.1.0"
cp -a "$T/src-1.0.0/." "$T/site/"          # the installed site: 1.0.0
"$REL" -q keygen "$KEYS/vendor"
"$REL" -q keygen "$T/intruder"
mkdir -p "$T/trusted"; cp "$KEYS/vendor.pub" "$T/trusted/"
"$REL" -q pack --component core --src "$T/src-1.0.0" --key "$KEYS/vendor.key" --repo "$REPO"
"$REL" -q pack --component core --src "$T/src-1.1.0" --key "$KEYS/vendor.key" --repo "$REPO" --security
http_start "$REPO"
cat >> "$CONF" <<EOF
[server]
url = $HTTPS_URL/index.json
trusted_keys = $T/trusted
ca_file = $HTTP_CA
EOF
site_listing() { (cd "$T/site" && find . -printf '%p %m %s\n' | sort); }
site_listing > "$T/site.before"
nothing_left() {
    site_listing > "$T/site.now"
    cmp -s "$T/site.before" "$T/site.now" || { diff "$T/site.before" "$T/site.now" | head | sed 's/^/# /'; return 1; }
}

# check: exit 100 and names 1.1.0 (a security update).
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "check exits 100 (got $rc: $(head -c 300 "$T/err"))" test "$rc" = 100
check "check names 1.1.0 and flags it" grep -q 'core 1.0.0 -> 1.1.0.*security' "$T/out"

# The offer, as `core -n` computes it.
"$NX" -c "$CONF" --json -n core > "$T/offer.json" 2> "$T/err" || true
check "core -n offers 1.1.0" bash -c "jq -e '.version == \"1.1.0\"' '$T/offer.json' > /dev/null"
params=()
while IFS=$'\t' read -r k v; do params+=(--param "${k#param.}=$v"); done \
    < <(jq -r '.facts | to_entries[] | [.key, .value] | @tsv' "$T/offer.json")
printf '[pipeline]\nname = fetch\n[download]\nmodule = download\n[verify]\nmodule = verify\n[extract]\nmodule = extract\n' > "$T/fetch.ini"
fetch() { # fetch [extra --param ...]: run download+verify+extract; exit code
    local rc=0
    "$NX" -c "$CONF" -y pipeline run "$T/fetch.ini" --component core --from 1.0.0 --to 1.1.0 \
        "${params[@]}" "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?
    echo "$rc"
}

# Happy path: the staged tree equals the source tree (kept by a kill right
# after extract; recover then removes it).
rc=0; NEXO_FAULT=extract:after-run:kill quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$T/fetch.ini" \
    --component core --from 1.0.0 --to 1.1.0 "${params[@]}" 2> "$T/err" || rc=$?
staging=$(ls -d "$T"/site/.nexo-staging-* 2>/dev/null | head -n 1)
check "download + verify + extract: staged (exit $rc)" test -n "$staging"
check "the staging tree equals the source tree" \
    bash -c "diff -r --no-dereference -x .nexo-release.json '$T/src-1.1.0' '$staging' > /dev/null"
check "modes kept (an executable stays executable)" \
    bash -c "test \"\$(stat -c %a '$T/src-1.1.0/scripts/upgrade_1.4_to_1.5.php')\" = \"\$(stat -c %a '$staging/scripts/upgrade_1.4_to_1.5.php')\""
"$NX" -q -c "$CONF" recover 2>/dev/null || true
check "recover removes the staging folder" nothing_left
rc=$(fetch)
check "a clean run: exit 0 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 0
check "a clean run leaves nothing in the site" nothing_left

# Hostile: each refused with a clear message, nothing left in the site.
refused() { # refused NAME PHRASE RC
    check "$1: refused (exit $3)" bash -c "test '$3' != 0"
    check "$1: the message says '$2'" grep -q -- "$2" "$T/err"
    check "$1: nothing left in the site" nothing_left
}
PKG="$REPO/core/nexosupport-1.1.0.tar.zst"
cp "$PKG" "$T/pkg.orig"
printf 'X' | dd of="$PKG" bs=1 seek=2000 conv=notrunc status=none
rc=$(fetch); refused "tampered byte" "sha256" "$rc"
cp "$T/pkg.orig" "$PKG"

# sha matches but the package was signed by a key the site does not trust
"$REL" -q sign --key "$T/intruder.key" "$PKG"
rc=$(fetch --param "signature=$(cat "$PKG.sig")"); refused "signature by an untrusted key" "signature" "$rc"
rc=$(fetch --param "signature="); 
check "missing signature (none offered, none beside the package): refused" bash -c "test '$rc' != 0 && grep -q 'signature' '$T/err'"
check "missing signature: nothing left in the site" nothing_left
"$REL" -q sign --key "$KEYS/vendor.key" "$PKG"

rc=$(fetch --param version=1.2.0); refused "manifest says another version" "version 1.1.0" "$rc"
rc=$(fetch --param installed=1.2.0); refused "offered version older than the installed one" "older than the installed" "$rc"

# A hostile archive, properly signed: an entry that leaves the payload.
python3 - "$T/evil.tar.gz" <<'PY'
import io, json, sys, tarfile, hashlib
data = b"owned\n"
man = {"format": 1, "component": "core", "version": "1.1.0", "version_code": 1001000,
       "files": [{"path": "evil", "type": "file", "size": len(data), "mode": "0644",
                  "sha256": hashlib.sha256(data).hexdigest()}], "total_size": len(data)}
with tarfile.open(sys.argv[1], "w:gz") as t:
    for name, body in (("nexo-release.json", json.dumps(man).encode()), ("../evil", data)):
        ti = tarfile.TarInfo(name); ti.size = len(body); t.addfile(ti, io.BytesIO(body))
PY
"$REL" -q sign --key "$KEYS/vendor.key" "$T/evil.tar.gz"
sum=$(sha256sum "$T/evil.tar.gz" | cut -d' ' -f1)
cp "$T/evil.tar.gz" "$REPO/evil.tar.gz"
rc=$(fetch --param "download_url=$HTTPS_URL/evil.tar.gz" --param "sha256=$sum" \
           --param "size_bytes=$(stat -c %s "$T/evil.tar.gz")" --param "signature=$(cat "$T/evil.tar.gz.sig")")
refused "archive entry ../evil" "evil" "$rc"
check "archive entry ../evil: nothing written outside the site" test ! -e "$T/evil"

# The refused package does not stay in the download folder.
check "a refused download is removed from STATE/downloads" \
    bash -c "! ls '$T'/state/downloads/*evil* > /dev/null 2>&1"

# A local repository over file:// (the README's demo uses one).
sed -i "s|^url = .*|url = file://$REPO/index.json|" "$CONF"
rm -rf "$T/state/downloads"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "file:// repository: check exits 100" test "$rc" = 100
"$NX" -c "$CONF" --json -n core > "$T/offer.json" 2> "$T/err" || true
params=()
while IFS=$'\t' read -r k v; do params+=(--param "${k#param.}=$v"); done \
    < <(jq -r '.facts | to_entries[] | [.key, .value] | @tsv' "$T/offer.json")
check "file:// repository: the offer's URL is a file:// URL" grep -q 'file://' "$T/offer.json"
rc=$(fetch)
check "file:// repository: download + verify + extract: exit 0 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 0
check "file:// repository: the package is used where it is (nothing copied)" \
    bash -c "! ls '$T'/state/downloads/*1.1.0* > /dev/null 2>&1"
check "file:// repository: nothing left in the site" nothing_left

# `core` runs the site's core pipeline (here a shortened one: the steps of
# issue 5 that replace files and migrate come with it).
mkdir -p "$T/pipelines"
printf '[pipeline]\nname = core\n[download]\nmodule = download\n[verify]\nmodule = verify\n[extract]\nmodule = extract\n[maintenance-on]\nmodule = maintenance\naction = on\n[maintenance-off]\nmodule = maintenance\naction = off\n' > "$T/pipelines/core.ini"
rc=0; "$NX" -c "$CONF" core > "$T/out" 2> "$T/err" < /dev/null || rc=$?
check "core without -y and without a terminal: exit 2, nothing done" \
    bash -c "test $rc = 2 && grep -q 'give -y' '$T/err'"
check "core without -y: nothing left in the site" nothing_left
rc=0; "$NX" -c "$CONF" -y core > "$T/out" 2> "$T/err" < /dev/null || rc=$?
check "core -y: exit 0 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 0
check "core -y: the outcome line names the versions" grep -q 'core 1.0.0 -> 1.1.0) succeeded' "$T/err"
check "core -y: maintenance mode is over, nothing left" nothing_left
rc=0; NEXO_FAULT=maintenance-off:after-run:fail "$NX" -q -c "$CONF" -y core 2> "$T/err" < /dev/null || rc=$?
check "core -y with a failing step: exit 3, nothing left" bash -c "test $rc = 3" 
check "core -y with a failing step: nothing left in the site" nothing_left
nx_finish
