#!/usr/bin/env bash
# Steps a package brings of its own (the plugin_steps step and the host's
# insert_steps), end to end on SQLite with the installed programs:
#   - a step module built OUT OF TREE (installed headers + pkg-config),
#     shipped inside a signed release with a fragment nexo-steps.ini that
#     inserts it after migrate: it runs, and is undone when a later step
#     fails, and by recover after a kill (loaded again from its copy in the
#     update's work folder);
#   - its constructor writes a file: a tampered package or an index signed
#     by an untrusted key never gets it loaded (the file never appears);
#   - a fragment naming a missing module, a module that does not load, an
#     unknown or passed insertion point, a module path outside the package
#     or an absolute one: refused before maintenance mode, naming the
#     fragment's file:line; the site unchanged.
# Usage: insert_steps.sh PREFIX TESTMODS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
site_setup sqlite 1.0.0
NXC=("$NX" -c "$CONF")
mkdir -p "$T/fx" "$T/pipelines"
export NX_TEST_LOADED="$T/loaded"

# ---- the module, built out of tree ------------------------------------------
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags nexo-update) -c -o "$T/ctor_step.o" \
    "$here/../fixtures/ctor_step.c"
# shellcheck disable=SC2046
cc -o "$T/ctor_step.so" "$T/ctor_step.o" $(pkg-config --variable=step_ldflags nexo-update)
check "the module builds out of tree with pkg-config" [ -f "$T/ctor_step.so" ]

# ---- releases: each with its own fragment -------------------------------------
# pack_release V FRAGMENT: release V of core with steps/ctor_step.so and
# the fragment nexo-steps.ini (empty FRAGMENT: none)
pack_release() {
    local v=$1 frag=$2
    site_release "$v" "$T/src/$v"
    mkdir -p "$T/src/$v/steps"
    cp "$T/ctor_step.so" "$T/src/$v/steps/"
    cp "$MODS/bad_abi.so" "$T/src/$v/steps/"
    [ -z "$frag" ] || printf '%s\n' "$frag" > "$T/src/$v/nexo-steps.ini"
    "$REL" -q pack --component core --src "$T/src/$v" --key "$T/keys/vendor.key" --repo "$T/repo"
}
GOOD=$(printf '[own]\nmodule = steps/ctor_step.so\nafter = migrate\ndir = %s' "$T/fx")
pack_release 1.1.0 "$GOOD"
pack_release 1.2.0 "$(printf '[own]\nmodule = steps/ctor_step.so\nafter = no-such-step\ndir = x')"
pack_release 1.3.0 "$(printf '[own]\nmodule = steps/bad_abi.so\nafter = migrate')"
pack_release 1.4.0 "$(printf '[own]\nmodule = steps/ctor_step.so\nbefore = download\ndir = x')"
pack_release 1.5.0 "$(printf '[own]\nmodule = steps/missing.so\nafter = migrate\ndir = x')"
pack_release 1.6.0 "$(printf '[own]\nmodule = ../../etc/x.so\nafter = migrate\ndir = x')"
pack_release 1.7.0 "$(printf '[own]\nmodule = /usr/lib/x.so\nafter = migrate\ndir = x')"

# the core pipeline with plugin_steps after extract, in a pipelines folder
# of the test's own
cp "$PREFIX"/etc/nexo-update/pipelines/*.ini "$T/pipelines/"
awk '{ print } /^module = extract$/ { print "\n[own-steps]\nmodule = plugin_steps" }' \
    "$PREFIX/etc/nexo-update/pipelines/core.ini" > "$T/pipelines/core.ini"
sed -i "s|^\[paths\]|[paths]\npipelines = $T/pipelines|" "$CONF"
check "the pipeline has plugin_steps after extract" \
    bash -c "'$NX' -c '$CONF' pipeline show core | grep -q 'own-steps. plugin_steps'"

site_snapshot before

# ---- it runs --------------------------------------------------------------------
rc=0; "${NXC[@]}" -y core --to 1.1.0 > "$T/out" 2>&1 || rc=$?
check "core --to 1.1.0 with the package's own step: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "... the step was inserted after migrate" grep -q "inserted \[own\] (ctor_step 1.0.0" "$T/out"
check "... and ran: own.applied" [ -f "$T/fx/own.applied" ]
check "... running as step 12/18, after migrate" grep -q "\[own\] running (12/18)" "$T/out"
check "... its module was loaded from the update's work folder" \
    grep -q "$T/state/work/.*/inserted/own/ctor_step.so" "$T/out"
check "... the journal records the insertion" \
    bash -c "grep -l '\"ev\":\"insert\"' '$T'/state/journal/*.jnl > /dev/null"
rm -f "$T/fx/own.applied" "$T/loaded"
rc=0; "${NXC[@]}" -y rollback > "$T/out" 2>&1 || rc=$?; [ "$rc" -eq 0 ] || cat "$T/out"
check "rolled back to 1.0.0 for the next cases" [ "$rc" -eq 0 ]
SITE_SKIP_CACHE=1 site_snapshot before

# ---- undone when a later step fails ---------------------------------------------
rc=0; NEXO_FAULT=replace:after-run:fail "${NXC[@]}" -y core --to 1.1.0 > "$T/out" 2>&1 || rc=$?
check "a later step fails: exit 3" [ "$rc" -eq 3 ]
check "... own.applied is gone, own.log says undo" \
    bash -c "[ ! -e '$T/fx/own.applied' ] && grep -qx undo '$T/fx/own.log'"
SITE_SKIP_CACHE=1 site_same before && ok "... site files and database as before" || not_ok "... site files and database as before"
check "... nothing left behind" site_clean
rm -f "$T/fx/own.log" "$T/loaded"

# ---- killed right after it ran: recover undoes it ---------------------------------
rc=0; NEXO_FAULT=own:after-run:kill quiet_kill "${NXC[@]}" -y core --to 1.1.0 > "$T/out" 2>&1 || rc=$?
check "killed after the package's step ran: exit 137" [ "$rc" -eq 137 ]
check "... own.applied is there" [ -f "$T/fx/own.applied" ]
rm -f "$T/loaded"
rc=0; "${NXC[@]}" recover > "$T/out" 2>&1 || rc=$?
check "... recover: exit 0" [ "$rc" -eq 0 ]
check "... recover loaded the step again (from the work folder) and undid it" \
    bash -c "[ -s '$T/loaded' ] && [ ! -e '$T/fx/own.applied' ] && grep -qx 'undo recovering' '$T/fx/own.log'"
SITE_SKIP_CACHE=1 site_same before && ok "... site files and database as before" || not_ok "... site files and database as before"
check "... nothing left behind" site_clean
rm -f "$T/fx/own.log" "$T/loaded"

# ---- never loaded from a package that fails verification ---------------------------
pkg=$(ls "$T"/repo/core/*-1.1.0.* | grep -v '\.sig$')
cp "$pkg" "$T/pkg.good"
printf 'X' | dd of="$pkg" bs=1 seek=300 conv=notrunc status=none
rc=0; "${NXC[@]}" -y core --to 1.1.0 > "$T/out" 2>&1 || rc=$?
check "a tampered package: exit 1" [ "$rc" -eq 1 ]
check "... its module was never loaded (the constructor's file does not exist)" [ ! -e "$T/loaded" ]
check "... nor run" [ ! -e "$T/fx/own.applied" ]
SITE_SKIP_CACHE=1 site_same before && ok "... site as before" || not_ok "... site as before"
cp "$T/pkg.good" "$pkg"
"$REL" -q keygen "$T/keys/other"
"$REL" -q index --repo "$T/repo" --key "$T/keys/other.key"
rc=0; "${NXC[@]}" -y core --to 1.1.0 > "$T/out" 2>&1 || rc=$?
check "an index signed by an untrusted key: exit 1" [ "$rc" -eq 1 ]
check "... the module was never loaded" [ ! -e "$T/loaded" ]
"$REL" -q index --repo "$T/repo" --key "$T/keys/vendor.key"

# ---- bad fragments are refused before maintenance mode -----------------------------
for case in "1.2.0:has no such step" "1.3.0:bad_abi.so" "1.4.0:that point has passed" \
            "1.5.0:missing.so" "1.6.0:are not allowed in a package path" \
            "1.7.0:not a file of the host"; do
    v=${case%%:*}; want=${case#*:}
    rc=0; "${NXC[@]}" -y core --to "$v" > "$T/out" 2>&1 || rc=$?
    check "fragment of $v: refused, exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "... naming nexo-steps.ini:line and why ($want)" \
        bash -c "grep -q 'nexo-steps.ini:[0-9]*: step \[own\]' '$T/out' && grep -q -- '$want' '$T/out'"
    check "... before maintenance mode" bash -c "! grep -q 'maintenance mode on' '$T/out'"
    SITE_SKIP_CACHE=1 site_same before && ok "... site as before" || not_ok "... site as before"
    check "... nothing left behind" site_clean
done

nx_finish
