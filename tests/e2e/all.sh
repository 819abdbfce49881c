#!/usr/bin/env bash
# nexo-update all (issue 6), and --force, on one database (args: PREFIX
# MODDIR DRIVER): core 1.0.0 -> 1.1.0 and three plugins installed at 1.0.0
# with updates to 1.1.0: alpha 1.1.0 depends on zeta >=1.1.0, mid fails
# (a hook exits 1 for it alone).
#   - the order: core first, then zeta before alpha (dependency order,
#     though alpha sorts first by name);
#   - mid's failure is rolled back alone: core, zeta and alpha stay updated;
#     the summary lists each outcome, the exit code is the worst (3);
#   - when zeta fails instead, alpha is skipped (its dependency is not
#     there), saying why; --json gives the summary as one document;
#   - core --to a release that conflicts with an installed plugin is
#     refused naming the plugin, the range and the installed version;
#     --force overrides it (with a warning), never a bad signature.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
DRV=$3
site_setup "$DRV" 1.0.0
NXC=("$NX" -c "$CONF")
rm -rf "$T/site/modules/plugins/demo"   # site_setup's stand-in plugin: not in the repository

# plugin_rel SLUG V [DEPS]: pack plugin SLUG V, version.php with DEPS
plugin_rel() {
    local slug=$1 v=$2 deps=${3:-} dir="$T/src/plugin-$1-$2"
    site_plugin_release "$slug" "$v" "$dir"
    if [ -n "$deps" ]; then
        printf "<?php\nreturn [\n    'version' => '%s',\n    'requires' => ['nexosupport' => '>=1.0.0'],\n    'dependencies' => [%s],\n];\n" \
            "$v" "$deps" > "$dir/version.php"
    fi
    "$REL" -q pack --component "plugin:$slug" --src "$dir" --key "$T/keys/vendor.key" --repo "$T/repo"
}
for s in alpha zeta mid; do plugin_rel "$s" 1.0.0; done
for s in alpha zeta mid; do
    rc=0; "${NXC[@]}" -q -y plugin "$s" --to 1.0.0 > "$T/out" 2>&1 || rc=$?
    check "[$DRV] plugin $s 1.0.0 installed" [ "$rc" -eq 0 ]
done
# the updates: core 1.1.0, zeta 1.1.0, alpha 1.1.0 (needs zeta >=1.1.0), mid 1.1.0
site_release 1.1.0 "$T/src/1.1.0"
"$REL" -q pack --component core --src "$T/src/1.1.0" --key "$T/keys/vendor.key" --repo "$T/repo"
plugin_rel zeta 1.1.0
plugin_rel alpha 1.1.0 "'zeta' => '>=1.1.0'"
plugin_rel mid 1.1.0

# a hook failing the update of one plugin, named by FAIL_FOR
mkdir -p "$T/hooks/update.after.d"
printf '#!/bin/sh\n[ "$NEXO_COMPONENT" = "plugin:$(cat %s/fail-for)" ] && { echo "failing $NEXO_COMPONENT" >&2; exit 1; }\nexit 0\n' \
    "$T" > "$T/hooks/update.after.d/50-fail-one"
chmod 755 "$T/hooks/update.after.d/50-fail-one"
echo mid > "$T/fail-for"
site_snapshot before
jqc() { jq -e "$1" "$2" > /dev/null; }
ver() { sed -n "s/.*'version' => '\([^']*\)'.*/\1/p" "$T/site/modules/plugins/$1/version.php" | head -1; }
reg() { db_sql "SELECT version_number FROM system_versions WHERE component = 'plugin:$1' ORDER BY id DESC LIMIT 1"; }

# ---- the plan ----------------------------------------------------------------
rc=0; "${NXC[@]}" -n all > "$T/out" 2>&1 || rc=$?
check "[$DRV] all -n: exit 0" [ "$rc" -eq 0 ]
order=$(sed -n 's/^  \(core\|plugin:[a-z]*\) .*/\1/p' "$T/out" | tr '\n' ' ')
check "[$DRV] ... the plan: core first, zeta before alpha ($order)" \
    bash -c "[[ '$order' == 'core '* ]] && [[ '$order' == *'plugin:zeta '*'plugin:alpha '* ]] && [[ '$order' == *'plugin:mid '* ]]"
check "[$DRV] ... changes nothing" site_same before
rc=0; "${NXC[@]}" all < /dev/null > "$T/out" 2>&1 || rc=$?
check "[$DRV] all without -y and without a terminal: exit 2" [ "$rc" -eq 2 ]
check "[$DRV] ... changes nothing" site_same before

# ---- one plugin fails --------------------------------------------------------------
rc=0; "${NXC[@]}" -y all > "$T/out" 2>&1 || rc=$?
check "[$DRV] all with mid failing: exit 3 (the worst outcome)" [ "$rc" -eq 3 ]
run_order=$(sed -n 's/.*== \(core\|plugin:[a-z]*\) .*/\1/p' "$T/out" | tr '\n' ' ')
check "[$DRV] ... ran core first, zeta before alpha ($run_order)" \
    bash -c "[[ '$run_order' == 'core '* ]] && [[ '$run_order' == *'plugin:zeta '*'plugin:alpha '* ]]"
check "[$DRV] ... the summary lists every outcome" \
    bash -c "grep -q 'core .*1.0.0 -> 1.1.0: updated' '$T/out' && grep -q 'plugin:zeta .*: updated' '$T/out' &&
             grep -q 'plugin:alpha .*: updated' '$T/out' && grep -q 'plugin:mid .*: failed and rolled back' '$T/out' &&
             grep -q '^exit 3' '$T/out'"
check "[$DRV] ... core, zeta and alpha are at 1.1.0" \
    [ "$(site_version_disk) $(site_version_db) $(ver zeta) $(reg zeta) $(ver alpha) $(reg alpha)" = \
      "1.1.0 1.1.0 1.1.0 1.1.0 1.1.0 1.1.0" ]
check "[$DRV] ... mid is back at 1.0.0, on disk and in the database" \
    [ "$(ver mid) $(reg mid)" = "1.0.0 1.0.0" ]
check "[$DRV] ... mid's update is in the history as rolled_back" \
    [ "$(db_sql "SELECT outcome FROM update_history WHERE component = 'plugin:mid' ORDER BY id DESC LIMIT 1")" = rolled_back ]
check "[$DRV] ... nothing left behind" site_clean
rc=0; "${NXC[@]}" -y all > "$T/out" 2>&1 || rc=$?
check "[$DRV] all again: only mid is left, and fails again: exit 3" \
    bash -c "[ $rc -eq 3 ] && ! grep -q '== core' '$T/out' && grep -q '== plugin:mid' '$T/out'"
echo none > "$T/fail-for"
rc=0; "${NXC[@]}" -y --json all > "$T/json" 2> "$T/err" || rc=$?
check "[$DRV] all --json: mid updated, exit 0" [ "$rc" -eq 0 ]
check "[$DRV] ... one JSON document: updates[] and exit" \
    jqc '(.updates | length) == 1 and .updates[0].component == "plugin:mid" and
           .updates[0].from == "1.0.0" and .updates[0].to == "1.1.0" and
           .updates[0].outcome == "success" and .updates[0].exit == 0 and .exit == 0' "$T/json"
rc=0; "${NXC[@]}" -y all > "$T/out" 2>&1 || rc=$?
check "[$DRV] all with everything up to date: exit 0, says so" \
    bash -c "[ $rc -eq 0 ] && grep -q 'everything is up to date' '$T/out'"

# ---- a dependency fails: its dependent is skipped ------------------------------------
plugin_rel zeta 1.2.0
plugin_rel alpha 1.2.0 "'zeta' => '>=1.2.0'"
echo zeta > "$T/fail-for"
rc=0; "${NXC[@]}" -y --json all > "$T/json" 2> "$T/err" || rc=$?
check "[$DRV] zeta fails: exit 3" [ "$rc" -eq 3 ]
check "[$DRV] ... zeta rolled back, alpha skipped saying why" \
    jqc '[.updates[] | {(.component): .outcome}] | add |
           .["plugin:zeta"] == "rolled_back" and .["plugin:alpha"] == "skipped"' "$T/json"
check "[$DRV] ... the reason names the dependency" \
    jqc '.updates[] | select(.component == "plugin:alpha") | .reason | test("zeta")' "$T/json"
check "[$DRV] ... zeta and alpha still at 1.1.0" [ "$(ver zeta) $(ver alpha)" = "1.1.0 1.1.0" ]
echo none > "$T/fail-for"
"${NXC[@]}" -q -y all > /dev/null 2>&1 || true

# ---- --force -----------------------------------------------------------------------
site_release 1.2.0 "$T/src/1.2.0"
printf "<?php\nreturn [\n    'version' => '1.2.0',\n    'compatibility' => ['plugins' => ['alpha' => '>=9.0.0']],\n];\n" \
    > "$T/src/1.2.0/core/version.php"
"$REL" -q pack --component core --src "$T/src/1.2.0" --key "$T/keys/vendor.key" --repo "$T/repo"
site_snapshot at110
rc=0; "${NXC[@]}" -y core --to 1.2.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] core --to 1.2.0 (compatibility.plugins alpha >=9.0.0): refused, exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... naming the plugin, the range and the installed version" \
    grep -q "plugin alpha >=9.0.0 (installed 1.2.0)" "$T/out"
check "[$DRV] ... nothing changed" site_same at110
pkg=$(ls "$T"/repo/core/*-1.2.0.* | grep -v '\.sig$')
cp "$pkg" "$T/pkg.good"
printf 'X' | dd of="$pkg" bs=1 seek=100 conv=notrunc status=none
rc=0; "${NXC[@]}" -y core --to 1.2.0 --force > "$T/out" 2>&1 || rc=$?
check "[$DRV] --force never overrides a bad checksum: exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... nothing changed" site_same at110
cp "$T/pkg.good" "$pkg"
rc=0; "${NXC[@]}" -y core --to 1.2.0 --force > "$T/out" 2>&1 || rc=$?
check "[$DRV] core --to 1.2.0 --force: exit 0" [ "$rc" -eq 0 ]
check "[$DRV] ... warning what it overrides" grep -q "overridden by --force: .*alpha" "$T/out"
check "[$DRV] ... core 1.2.0" [ "$(site_version_disk) $(site_version_db)" = "1.2.0 1.2.0" ]

nx_finish
