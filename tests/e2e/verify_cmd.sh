#!/usr/bin/env bash
# nexo-update verify (args: PREFIX MODDIR): a demo site on SQLite updated
# through the default core pipeline has the release's manifest recorded as
# core/.nexo-release.json (extract's record_manifest), verify is clean; a
# modified file, a chmod, a deleted file, an extra file and a version.php
# that says another version are each reported (text and --json); the
# manifest goes with the files through a second update and a rollback;
# record_manifest = (empty) records nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.1.0 1.2.0 1.3.0
NXC=("$NX" -c "$CONF")
S="$T/site"
# site_setup's stand-in plugin has no recorded manifest: verify would check
# it too (plugins: e2e verify_plugins)
rm -rf "$S/modules/plugins/demo"

# verify: exit code into $rc, stdout into $T/out, stderr into $T/err
run_verify() {
    rc=0
    "${NXC[@]}" "$@" verify > "$T/out" 2> "$T/err" || rc=$?
}
jqo() { jq -r "$1" "$T/out"; }

# ---- no recorded manifest -------------------------------------------------------
run_verify
check "a site copied by hand: verify exits 1" [ "$rc" -eq 1 ]
check "... saying there is no recorded manifest and how one gets recorded" \
    grep -q "core/.nexo-release.json: no recorded manifest: .*record_manifest" "$T/err"
run_verify --json
check "... --json: recorded false, clean false" \
    [ "$(jqo '[.recorded, .clean] | @csv')" = "false,false" ]

# ---- after an update -------------------------------------------------------------
"${NXC[@]}" -n core --to 1.1.0 > "$T/plan" 2>&1 || true
check "the dry run stages the release with its manifest (and drops it)" \
    bash -c "grep -q '\[extract\] done' '$T/plan' && grep -q '\[extract\] removed the staging folder' '$T/plan' && ! test -e '$S/core/.nexo-release.json'"
"${NXC[@]}" -q -y core --to 1.1.0 > /dev/null
check "the update recorded core/.nexo-release.json, 0644" \
    [ "$(stat -c %a "$S/core/.nexo-release.json")" = 644 ]
bsdtar -xOf "$T/repo/core/nexosupport-1.1.0.tar.zst" nexo-release.json > "$T/pkg-manifest.json"
check "... the package's own nexo-release.json, byte for byte" \
    cmp -s "$T/pkg-manifest.json" "$S/core/.nexo-release.json"
run_verify
check "verify after the update: exit 0" [ "$rc" -eq 0 ]
check "... says clean" grep -q "^clean:" "$T/out"
run_verify --json
check "... --json: clean, release 1.1.0, version.php agrees, nothing listed" \
    [ "$(jqo '[.clean, .recorded, .component, .version, .disk_version, .version_matches,
              (.modified | length), (.missing | length), (.extra | length)] | @csv')" \
      = 'true,true,"core","1.1.0","1.1.0",true,0,0,0' ]
check "... --json: entries counts the manifest's entries" \
    [ "$(jqo .entries)" = "$(jq '.files | length' "$T/pkg-manifest.json")" ]
check "... --json is the only thing on stdout (one document)" jq -e . "$T/out" > /dev/null

# ---- each kind of difference ------------------------------------------------------
cp -a "$S/public_html/index.php" "$T/index.php.orig"
sed -i 's/1\.1\.0/1.1.9/' "$S/public_html/index.php"   # same size, other bytes
run_verify
check "a modified file (same size): exit 1" [ "$rc" -eq 1 ]
check "... named with its sha256 difference" \
    grep -q "^modified  public_html/index.php  sha256: expected [0-9a-f]\{64\}, found [0-9a-f]\{64\}" "$T/out"
run_verify --json
check "... --json: modified[0] is public_html/index.php, check sha256" \
    [ "$(jqo '.modified[0] | [.path, .type, .differences[0].check] | @csv')" = '"public_html/index.php","file","sha256"' ]
echo "more" >> "$S/public_html/index.php"
run_verify --json
check "... a longer file: check size, expected and found" \
    [ "$(jqo '.modified[0].differences[0] | [.check, .expected, .found] | @csv')" \
      = "\"size\",\"$(stat -c %s "$T/index.php.orig")\",\"$(stat -c %s "$S/public_html/index.php")\"" ]
cp -a "$T/index.php.orig" "$S/public_html/index.php"

chmod 755 "$S/core/cron.sh"
run_verify
check "a chmod: exit 1" [ "$rc" -eq 1 ]
check "... mode: expected 0750, found 0755" \
    grep -q "^modified  core/cron.sh  mode: expected 0750, found 0755$" "$T/out"
chmod 750 "$S/core/cron.sh"
chmod 700 "$S/public_html"
run_verify --json
check "a folder's mode is checked too" \
    [ "$(jqo '.modified[0] | [.path, .type, .differences[0].expected, .differences[0].found] | @csv')" \
      = '"public_html","dir","0755","0700"' ]
chmod 755 "$S/public_html"

mv "$S/resources/lang/en.ini" "$T/en.ini"
run_verify
check "a deleted file: exit 1, listed as missing" \
    eval '[ "$rc" -eq 1 ] && grep -q "^missing   resources/lang/en.ini (file)$" "$T/out"'
run_verify --json
check "... --json: missing[0].path" [ "$(jqo '.missing[0].path')" = resources/lang/en.ini ]
mv "$T/en.ini" "$S/resources/lang/en.ini"

echo '<?php system($_GET["c"]);' > "$S/public_html/shell.php"
mkdir -p "$S/core/extra-dir/deeper"
echo x > "$S/core/extra-dir/deeper/f"
run_verify
check "an extra file: exit 1, listed as extra" \
    eval '[ "$rc" -eq 1 ] && grep -q "^extra     public_html/shell.php (file)$" "$T/out"'
check "... an extra folder is listed once, not its contents" \
    eval 'grep -q "^extra     core/extra-dir (dir)$" "$T/out" && ! grep -q "deeper" "$T/out"'
run_verify --json
check "... --json: extra lists exactly those two" \
    [ "$(jqo '[.extra[].path] | @csv')" = '"core/extra-dir","public_html/shell.php"' ]
check "... preserved paths (modules/plugins) and the recorded manifest are not extra" \
    [ "$(jqo '[.extra[].path | select(startswith("modules/") or . == "core/.nexo-release.json")] | length')" = 0 ]
check "... and the site's own .env and var/ are not looked at" \
    [ "$(jqo '[.extra[].path | select(startswith("var") or startswith(".env"))] | length')" = 0 ]
rm -rf "$S/public_html/shell.php" "$S/core/extra-dir"

cp -a "$S/core/version.php" "$T/version.php.orig"
sed -i "s/'version' => '1.1.0'/'version' => '1.1.7'/" "$S/core/version.php"
run_verify
check "version.php says another version: exit 1, said so" \
    eval '[ "$rc" -eq 1 ] && grep -q "^version   core/version.php says 1.1.7, the recorded manifest is release 1.1.0$" "$T/out"'
run_verify --json
check "... --json: disk_version 1.1.7, version_matches false, version.php modified" \
    [ "$(jqo '[.disk_version, .version_matches, .modified[0].path] | @csv')" = '"1.1.7",false,"core/version.php"' ]
cp -a "$T/version.php.orig" "$S/core/version.php"

printf 'x\001y' > "$S/public_html/ctl$(printf '\001')name"
run_verify
check "a control character in an extra name is shown escaped" grep -q 'public_html/ctl\\x01name' "$T/out"
rm -f "$S/public_html/ctl"*

run_verify
check "everything put back: clean again" [ "$rc" -eq 0 ]

# the package's paths outside [site] managed (scripts/, modules/) are not
# installed by an update: verify does not ask for them
mv "$S/scripts" "$T/scripts.aside"
run_verify
check "a package path outside the managed ones is not checked" [ "$rc" -eq 0 ]
mv "$T/scripts.aside" "$S/scripts"
rc=0; "${NXC[@]}" verify extra-arg > /dev/null 2>&1 || rc=$?
check "verify extra-arg (not core or plugin:SLUG): exit 2" [ "$rc" -eq 2 ]

# ---- the manifest goes with the files ----------------------------------------------
"${NXC[@]}" -q -y core --to 1.2.0 > /dev/null
run_verify --json
check "after a second update: clean against release 1.2.0" \
    [ "$(jqo '[.clean, .version] | @csv')" = 'true,"1.2.0"' ]
rc=0; "${NXC[@]}" -q -y rollback > "$T/rb" 2>&1 || rc=$?
check "rollback to 1.1.0 exits 0" [ "$rc" -eq 0 ]
run_verify --json
check "after the rollback: clean against release 1.1.0 again" \
    [ "$(jqo '[.clean, .version, .disk_version] | @csv')" = 'true,"1.1.0","1.1.0"' ]

# ---- record_manifest = (empty) records nothing -------------------------------------
mkdir -p "$T/pipelines"
cp "$PREFIX/etc/nexo-update/pipelines/"*.ini "$T/pipelines/"
sed -i 's/^module = extract$/module = extract\nrecord_manifest =/' "$T/pipelines/core.ini"
sed -i "s|^\[paths\]$|[paths]\npipelines = $T/pipelines|" "$CONF"
"${NXC[@]}" -q -y core --to 1.3.0 > /dev/null
check "with record_manifest empty the update to 1.3.0 records no manifest" \
    [ ! -e "$S/core/.nexo-release.json" ]
run_verify
check "... and verify says there is none (exit 1)" \
    eval '[ "$rc" -eq 1 ] && grep -q "no recorded manifest" "$T/err"'

nx_finish
