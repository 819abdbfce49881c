#!/usr/bin/env bash
# replace_files and cache_clear end to end: nexo-release packs 1.0.0 and
# 1.1.0 into a repository served by nginx; the site (1.0.0, with .env,
# var/ and modules/plugins/x) is updated by download, verify, extract,
# replace and cache. Success gives 1.1.0's files with the preserved paths
# untouched; a failure or a kill at every checkpoint of replace (then
# recover), or a later step failing, gives 1.0.0's files exactly.
# Usage: replace.sh PREFIX TESTMODS
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
mkdir -p "$T/src-1.1.0/resources"; echo "new in 1.1.0" > "$T/src-1.1.0/resources/lang.txt"
rm -rf "$T/src-1.1.0/public_html/old_file.php"
chmod 0750 "$T/src-1.1.0/core"
cp -a "$T/src-1.0.0/." "$T/site/"
echo "DB_PASS=secret" > "$T/site/.env"; chmod 600 "$T/site/.env"
mkdir -p "$T/site/var/cache" "$T/site/modules/plugins/x"
echo data > "$T/site/var/data.txt"; echo cached > "$T/site/var/cache/c.txt"
echo plugin > "$T/site/modules/plugins/x/plugin.php"
"$REL" -q keygen "$KEYS/vendor" --scope index --scope core --scope 'plugin:*'
mkdir -p "$T/trusted"; cp "$KEYS/vendor.pub" "$KEYS/vendor.scope" "$T/trusted/"
"$REL" -q pack --component core --src "$T/src-1.0.0" --key "$KEYS/vendor.key" --repo "$REPO"
"$REL" -q pack --component core --src "$T/src-1.1.0" --key "$KEYS/vendor.key" --repo "$REPO"
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

# A listing with modes and content hashes.
listing() { (cd "$1" && find . ! -name .nexo-release.json -printf '%p %y %m\n' | sort | nx_tree_sum |
             awk '$2 == "f" { print $1 " " $3 " " substr($4, 1, 16); next } { print }'); }
listing "$T/site" > "$T/site.before"
same_as_before() {
    listing "$T/site" > "$T/site.now"
    cmp -s "$T/site.before" "$T/site.now" || { diff "$T/site.before" "$T/site.now" | head | sed 's/^/# /'; return 1; }
}
sub_same() { # sub_same SITE_PATH SRC_DIR
    diff <(listing "$T/site/$1") <(listing "$2") > "$T/diff" || { head "$T/diff" | sed 's/^/# /'; return 1; }
}

"$NX" -c "$CONF" --json -n core > "$T/offer.json" 2> "$T/err" || true
params=()
while IFS=$'\t' read -r k v; do params+=(--param "${k#param.}=$v"); done \
    < <(jq -r '.facts | to_entries[] | [.key, .value] | @tsv' "$T/offer.json")
printf '[pipeline]\nname = upd\n[download]\nmodule = download\n[verify]\nmodule = verify\n[extract]\nmodule = extract\n[replace]\nmodule = replace_files\n[cache]\nmodule = cache_clear\n' > "$T/upd.ini"
upd() { # upd: run the pipeline; prints the exit code
    local rc=0
    quiet_kill "$NX" -c "$CONF" -y pipeline run "$T/upd.ini" --component core --from 1.0.0 --to 1.1.0 \
        "${params[@]}" > "$T/out" 2> "$T/err" < /dev/null || rc=$?
    echo "$rc"
}

for n in 1 2 3 4; do
    rc=$(NEXO_FAULT=replace:checkpoint:$n:fail upd)
    check "fail at replace checkpoint $n: exit 3 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 3
    check "fail at replace checkpoint $n: the site is exactly 1.0.0" same_as_before
    rc=$(NEXO_FAULT=replace:checkpoint:$n:kill upd)
    check "kill at replace checkpoint $n: killed (got $rc)" test "$rc" -gt 128
    "$NX" -q -c "$CONF" recover > /dev/null 2> "$T/err" || true
    check "kill at replace checkpoint $n + recover: the site is exactly 1.0.0" same_as_before
done
rc=$(NEXO_FAULT=cache:after-run:fail upd)
check "cache failing after replace: exit 3 (got $rc)" test "$rc" = 3
check "cache failing after replace: the site is exactly 1.0.0" same_as_before
rc=$(NEXO_FAULT=cache:after-run:kill upd)
"$NX" -q -c "$CONF" recover > /dev/null 2> "$T/err" || true
check "kill after cache + recover: the site is exactly 1.0.0" same_as_before

listing "$T/site/modules" > "$T/modules.before"
listing "$T/site/scripts" > "$T/scripts.before"
rc=$(upd)
check "update: exit 0 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 0
for p in core public_html resources database; do
    check "update: $p is 1.1.0's (content, modes)" sub_same "$p" "$T/src-1.1.0/$p"
done
check "update: .env untouched" bash -c "test \"\$(stat -c %a '$T/site/.env')\" = 600 && grep -q secret '$T/site/.env'"
check "update: var/data.txt untouched" grep -q data "$T/site/var/data.txt"
check "update: the cache is empty" bash -c "test -d '$T/site/var/cache' && test -z \"\$(ls -A '$T/site/var/cache')\""
check "update: modules (with modules/plugins/x) untouched" bash -c "diff -q '$T/modules.before' <(cd '$T/site/modules' && find . -printf '%p %y %m\n' | sort | while read -r p y m; do if [ \"\$y\" = f ]; then echo \"\$p \$m \$(sha256sum < \"\$p\" | cut -c1-16)\"; else echo \"\$p \$y \$m\"; fi; done) > /dev/null"
check "update: modules/plugins/x kept" grep -q plugin "$T/site/modules/plugins/x/plugin.php"
check "update: no staging, old trees or cache aside left" \
    bash -c "! ls -A '$T/site' '$T/site/var' | grep -q nexo"
nx_finish
