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
"$REL" -q keygen "$KEYS/vendor" --scope index --scope core --scope 'plugin:*'
"$REL" -q keygen "$T/intruder"
mkdir -p "$T/trusted"; cp "$KEYS/vendor.pub" "$KEYS/vendor.scope" "$T/trusted/"
"$REL" -q pack --component core --src "$T/src-1.0.0" --key "$KEYS/vendor.key" --repo "$REPO"
"$REL" -q pack --component core --src "$T/src-1.1.0" --key "$KEYS/vendor.key" --repo "$REPO" --security
http_start "$REPO"
# The releases require php: a php that says 8.2.7 ([php] binary, default php
# on the PATH; php may not be installed here; php_check.sh tests the rest).
mkdir -p "$T/bin"
printf '#!/bin/sh\n[ "$1" = -r ] && printf 8.2.7\n' > "$T/bin/php"
chmod 755 "$T/bin/php"
export PATH="$T/bin:$PATH"
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
check "file:// repository: the package was copied, and the copy removed afterwards" \
    bash -c "grep -q 'is a local repository file: copying it' '$T/err' && ! ls '$T'/state/downloads/*1.1.0* > /dev/null 2>&1"
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
# ---- Key scopes (contracts §6) ----------------------------------------------
# keygen --scope writes PREFIX.scope; a bad pattern is a usage error and
# writes nothing.
rc=0; "$REL" -q keygen "$T/badscope" --scope plugin:Forum 2> "$T/err" || rc=$?
check "keygen --scope plugin:Forum: exit 2, nothing written" \
    bash -c "test $rc = 2 && grep -q \"'plugin:Forum': not a scope\" '$T/err' && ! ls '$T'/badscope.* > /dev/null 2>&1"
"$REL" -q keygen "$KEYS/forum" --scope plugin:forum
check "keygen --scope plugin:forum writes forum.scope" \
    bash -c "test \"\$(cat '$KEYS/forum.scope')\" = plugin:forum"
FORUM_ID=$(openssl pkey -pubin -in "$KEYS/forum.pub" -outform DER | tail -c 32 | sha256sum | cut -c1-16)
cp "$KEYS/forum.pub" "$KEYS/forum.scope" "$T/trusted/"

# A second repository: core 1.2.0 signed only by the forum vendor's key,
# listed in an index the vendor signed.
REPO2="$T/repo2"
mk_src 1.2.0 "$T/src-1.2.0"
"$REL" -q pack --component core --src "$T/src-1.2.0" --key "$KEYS/forum.key" --repo "$REPO2"
"$REL" -q index --repo "$REPO2" --key "$KEYS/vendor.key"
sed -i "s|^url = .*|url = file://$REPO2/index.json|" "$CONF"
rm -rf "$T/state/downloads"
rc=0; "$NX" -c "$CONF" -y core > "$T/out" 2> "$T/err" < /dev/null || rc=$?
check "core signed only by a key scoped plugin:forum: exit 1 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 1
check "  the message names the key, its file and its scope" \
    grep -q "signed by key $FORUM_ID (forum.pub, scope plugin:forum) which may not sign core" "$T/err"
check "  nothing changed in the site" nothing_left
check "  the refused package is not kept" bash -c "! ls '$T'/state/downloads/*1.2.0* > /dev/null 2>&1"

# An index signed by the forum key alone is refused too (it may not sign the index).
cp -a "$REPO2" "$T/repo3"
"$REL" -q sign --key "$KEYS/forum.key" "$T/repo3/index.json"
sed -i "s|^url = .*|url = file://$T/repo3/index.json|" "$CONF"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "index signed by the plugin:forum key: exit 1 (got $rc)" test "$rc" = 1
check "  the message says it may not sign the index" \
    grep -q "signed by key $FORUM_ID (forum.pub, scope plugin:forum) which may not sign index" "$T/err"

# A .pub without its .scope: the whole keyring refuses, naming it.
sed -i "s|^url = .*|url = file://$REPO/index.json|" "$CONF"
mv "$T/trusted/forum.scope" "$T/forum.scope.away"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "a .pub without .scope: exit 1 (got $rc)" test "$rc" = 1
check "  the message names the .pub and the missing .scope" \
    grep -q "$T/trusted/forum.pub: refused: no $T/trusted/forum.scope beside it" "$T/err"
# A scope file with a line that is not a scope: file:line.
printf '# the forum vendor\nplugins:forum\n' > "$T/trusted/forum.scope"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "a bad scope line: exit 1, the message names file:line (got $rc)" \
    bash -c "test $rc = 1 && grep -q \"$T/trusted/forum.scope:2: 'plugins:forum' is not a scope\" '$T/err'"
mv "$T/forum.scope.away" "$T/trusted/forum.scope"
# A trusted_keys folder others may write: refused by name.
chmod 0777 "$T/trusted"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "trusted_keys folder world-writable: exit 1 (got $rc)" test "$rc" = 1
check "  the message names the setting and the folder" \
    grep -q "\[server\] trusted_keys: $T/trusted: refused: folder is world-writable" "$T/err"
chmod 0755 "$T/trusted"
chmod 0664 "$T/trusted/vendor.pub"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "a group-writable key file: exit 1, named (got $rc)" \
    bash -c "test $rc = 1 && grep -q '$T/trusted/vendor.pub: refused: file is group-writable' '$T/err'"
chmod 0644 "$T/trusted/vendor.pub"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "keys and scopes in order again: check exits 100 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 100

# ---- Index replay (contracts §6): the newest generated_at per index URL -------
SEEN="$T/state/index-seen.json"
check "the newest index seen is recorded in [paths] state (0600)" \
    bash -c "test \"\$(stat -c %a '$SEEN')\" = 600 && jq -e --arg u 'file://$REPO/index.json' '.sources[\$u].generated_at | test(\"Z\$\")' '$SEEN' > /dev/null"
cp "$REPO/index.json" "$T/old-index.json"; cp "$REPO/index.json.sig" "$T/old-index.json.sig"
OLD_GEN=$(jq -r .generated_at "$T/old-index.json")
sleep 1.1
"$REL" -q index --repo "$REPO" --key "$KEYS/vendor.key"
NEW_GEN=$(jq -r .generated_at "$REPO/index.json")
check "the re-signed index is newer ($OLD_GEN < $NEW_GEN)" test "$OLD_GEN" \< "$NEW_GEN"
rc=0; "$NX" -c "$CONF" --json -n core > "$T/out" 2> "$T/err" < /dev/null || rc=$?
check "a dry run sees the newer index (exit $rc) and records it" \
    bash -c "jq -e --arg u 'file://$REPO/index.json' '.sources[\$u].generated_at == \"$NEW_GEN\"' '$SEEN' > /dev/null"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "the same index again: accepted (exit 100, got $rc)" test "$rc" = 100
cp "$T/old-index.json" "$REPO/index.json"; cp "$T/old-index.json.sig" "$REPO/index.json.sig"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "a replayed older index: check exits 1 (got $rc)" test "$rc" = 1
check "  the message names both times and the URL" \
    grep -q "file://$REPO/index.json: refused: the index was generated at $OLD_GEN, before the newest index already seen from this source (generated at $NEW_GEN" "$T/err"
rc=0; "$NX" -c "$CONF" -y core > "$T/out" 2> "$T/err" < /dev/null || rc=$?
check "a replayed older index: core exits 1, nothing changed (got $rc)" \
    bash -c "test $rc = 1 && grep -q 'refused: the index was generated at $OLD_GEN' '$T/err'"
check "  nothing left in the site" nothing_left
check "  the record still holds the newer time" \
    bash -c "jq -e --arg u 'file://$REPO/index.json' '.sources[\$u].generated_at == \"$NEW_GEN\"' '$SEEN' > /dev/null"
# another source is remembered on its own
sed -i "s|^url = .*|url = file://$REPO2/index.json|" "$CONF"
rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
check "another index URL is not held to the first one's time (exit $rc)" \
    bash -c "test $rc = 100 || test $rc = 0"
# an index without generated_at, or with a time that is not RFC 3339 UTC, is refused
for bad in 'del(.generated_at)' '.generated_at = "2026-02-30T00:00:00Z"' '.generated_at = "2026-01-01T00:00:00+00:00"' '.generated_at = " 2026-01-01T00:00:00Z"'; do
    mkdir -p "$T/repo4"
    jq "$bad" "$REPO/index.json" > "$T/repo4/index.json"
    "$REL" -q sign --key "$KEYS/vendor.key" "$T/repo4/index.json"
    sed -i "s|^url = .*|url = file://$T/repo4/index.json|" "$CONF"
    rc=0; "$NX" -c "$CONF" check > "$T/out" 2> "$T/err" || rc=$?
    check "index with $bad: refused (exit $rc)" \
        bash -c "test $rc = 1 && grep -q '\"generated_at\" is missing or not RFC 3339 UTC' '$T/err'"
done
sed -i "s|^url = .*|url = file://$REPO/index.json|" "$CONF"

# A user who may not write [paths] state (the site owner running check on a
# root-installed updater) is still held to the record, and cannot read a
# record only root may read: refused, named.
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
    mkdir -p "$T/ro-state" "$T/ro-backups"
    sed -e "s|^state = .*|state = $T/ro-state|" -e "s|^backups = .*|backups = $T/ro-backups|" "$CONF" > "$T/ro.ini"
    grep -q '^state = ' "$T/ro.ini" || printf '[paths]\nstate = %s\nbackups = %s\n' "$T/ro-state" "$T/ro-backups" >> "$T/ro.ini"
    chmod 644 "$T/ro.ini"
    as_owner() { setpriv --reuid=33 --regid=33 --clear-groups "$@"; }
    rc=0; as_owner "$NX" -c "$T/ro.ini" check > "$T/out" 2> "$T/err" || rc=$?
    check "check as a user who may not write the state folder: exit 100 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 100
    check "  a note says the index is not recorded" grep -q "is not recorded: $T/ro-state cannot be written by this user" "$T/err"
    rc=0; "$NX" -c "$T/ro.ini" check > /dev/null 2>&1 || rc=$?
    rc=0; as_owner "$NX" -c "$T/ro.ini" check > "$T/out" 2> "$T/err" || rc=$?
    check "  once root recorded it (0600): exit 1, the record named (got $rc)" \
        bash -c "test $rc = 1 && grep -q 'the record of the newest index seen per source cannot be read.*$T/ro-state/index-seen.json' '$T/err'"
fi

# ---- The forum vendor's key installs the forum plugin (a SQLite site) -----------
# Part two has a site with a database: site.sh's demo site in a folder of
# its own, where the vendor's key may sign the index and core only.
source "$here/db.sh"
source "$here/site.sh"
T_MAIN=$T
T="$T_MAIN/s2"; mkdir -p "$T"; CONF="$T/nexo.ini"
site_setup sqlite 1.0.0
"$REL" -q keygen "$T/keys/forum" --scope plugin:forum
cp "$T/keys/forum.pub" "$T/keys/forum.scope" "$T/trusted/"
printf 'index\ncore\n' > "$T/trusted/vendor.scope"
site_plugin_release forum 1.0.0 "$T/src/plugin-forum-1.0.0"
"$REL" -q pack --component plugin:forum --src "$T/src/plugin-forum-1.0.0" --key "$T/keys/forum.key" --repo "$T/repo"
"$REL" -q index --repo "$T/repo" --key "$T/keys/vendor.key"
rc=0; "$NX" -c "$CONF" -y plugin forum > "$T/out" 2> "$T/err" < /dev/null || rc=$?
check "plugin forum signed by the plugin:forum key: installed (exit $rc: $(tail -n1 "$T/err"))" test "$rc" = 0
check "  its files are in modules/plugins/forum" test -f "$T/site/modules/plugins/forum/only-1.0.0.txt"
check "  the log names the key that may sign it" grep -q "may sign plugin:forum" "$T/err"
# the vendor's key (index, core) may not sign the plugin
site_plugin_release forum 1.1.0 "$T/src/plugin-forum-1.1.0"
"$REL" -q pack --component plugin:forum --src "$T/src/plugin-forum-1.1.0" --key "$T/keys/vendor.key" --repo "$T/repo"
site_snapshot before-vendor-plugin
rc=0; "$NX" -c "$CONF" -y plugin forum > "$T/out" 2> "$T/err" < /dev/null || rc=$?
check "plugin forum 1.1.0 signed by the vendor key scoped index, core: exit 1 (got $rc)" test "$rc" = 1
check "  the message names the key's scope" grep -q "(vendor.pub, scope index, core) which may not sign plugin:forum" "$T/err"
check "  files and database as before" site_same before-vendor-plugin
T=$T_MAIN
nx_finish
