#!/usr/bin/env bash
# A plugin package with a step module of its own (issue 6), on one database
# (args: PREFIX MODDIR DRIVER): the forum example of docs/examples/
# plugin_step, its module forum_log built out of tree with make and the
# installed pkg-config file, packed by nexo-release into forum 1.2.0 with
# the fragment nexo-steps.ini (forum-log after migrate).
#   - forum 1.0.0 -> 1.2.0 with a later step failing (NEXO_FAULT): the row
#     forum_log wrote is gone (its undo ran), forum is back at 1.0.0 on disk
#     and in the database, core untouched;
#   - killed right after forum-log ran: recover runs its undo (the module
#     loaded again from the work folder): the same;
#   - then the update: both migrations and the module's row, forum 1.2.0;
#   - [plugins] native_steps (contracts §9): without it forum 1.2.0 is
#     refused (exit 1) naming the plugin, the module file and the setting,
#     nothing changed; a plugin whose fragment uses only installed modules
#     by name (blog 1.0.0: health_check) installs without it; with
#     native_steps = forum, blog 1.1.0 shipping a module of its own is
#     refused and that module never loaded (its constructor never ran);
#   - a plugin package whose module's constructor would write a file: with
#     the package tampered with, or the index signed by an untrusted key, the
#     file never appears (the module is never loaded); untampered, it does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
DRV=$3
EX="$here/../../docs/examples/plugin_step"
site_setup "$DRV" 1.0.0
NXC=("$NX" -c "$CONF")
export NX_TEST_LOADED="$T/loaded"

# ---- the module, built out of tree from the example ----------------------------
mkdir -p "$T/example"; cp -a "$EX/." "$T/example/"
rm -f "$T/example"/*.o "$T/example"/*.so
rc=0; PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" make -C "$T/example" > "$T/make.log" 2>&1 || rc=$?
check "[$DRV] the example's forum_log.so builds out of tree (make + pkg-config)" \
    bash -c "[ $rc -eq 0 ] && [ -f '$T/example/forum_log.so' ]"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags nexo-update) -c -o "$T/ctor_step.o" \
    "$here/../fixtures/ctor_step.c"
# shellcheck disable=SC2046
cc -o "$T/ctor_step.so" "$T/ctor_step.o" $(pkg-config --variable=step_ldflags nexo-update)

# forum_rel V: the example plugin as release V (its upgrades up to V; the
# steps of its own from 1.2.0 on)
forum_rel() {
    local v=$1 dir="$T/src/forum-$1"
    mkdir -p "$dir"
    cp -a "$T/example/forum/." "$dir/"
    sed -i "s/'version' => '[^']*'/'version' => '$v'/" "$dir/version.php"
    case "$v" in
    1.0.0) rm -f "$dir"/database/upgrades/*.xml "$dir/nexo-steps.ini" ;;
    *) mkdir -p "$dir/steps"; cp "$T/example/forum_log.so" "$dir/steps/" ;;
    esac
    if [ "$v" = 1.3.0 ]; then   # a package with a constructor that shows loading
        cp "$T/ctor_step.so" "$dir/steps/"
        printf '\n[forum-ctor]\nmodule = steps/ctor_step.so\nafter = migrate\ndir = %s\n' "$T" \
            >> "$dir/nexo-steps.ini"
    fi
    "$REL" -q pack --component plugin:forum --src "$dir" --key "$T/keys/vendor.key" --repo "$T/repo"
}
# blog_rel V FRAGMENT: a small plugin "blog" as release V with the fragment
# nexo-steps.ini and steps/ctor_step.so (a module whose constructor shows
# loading)
blog_rel() {
    local v=$1 dir="$T/src/blog-$1"
    mkdir -p "$dir/lib" "$dir/steps"
    printf "<?php\nreturn ['version' => '%s', 'requires' => ['nexosupport' => '>=1.0.0'], 'dependencies' => []];\n" \
        "$v" > "$dir/version.php"
    printf "<?php // blog %s\n" "$v" > "$dir/lib/blog.php"
    cp "$T/ctor_step.so" "$dir/steps/"
    printf '%s\n' "$2" > "$dir/nexo-steps.ini"
    "$REL" -q pack --component plugin:blog --src "$dir" --key "$T/keys/vendor.key" --repo "$T/repo"
}
# the vendor key signs the index, core and plugins (contracts §6 key scopes)
[ -e "$T/trusted/vendor.scope" ] || printf 'index\ncore\nplugin:*\n' > "$T/trusted/vendor.scope"
forum_rel 1.0.0
forum_rel 1.2.0
blog_rel 1.0.0 "$(printf '[blog-check]\nmodule = health_check\nafter = migrate')"
blog_rel 1.1.0 "$(printf '[blog-ctor]\nmodule = steps/ctor_step.so\nafter = migrate\ndir = %s' "$T")"
mkdir -p "$T/src/blog-1.2.0/hooks/update.after.d"
printf '#!/bin/sh\necho "ran as $(id -u)" > %s\n' "$T/blog-hook-ran" > "$T/src/blog-1.2.0/hooks/update.after.d/10-x"
chmod 755 "$T/src/blog-1.2.0/hooks/update.after.d/10-x"
blog_rel 1.2.0 "$(printf '[blog-hooks]\nmodule = hooks\nevent = update.after\ndir = ./hooks\nafter = migrate')"
rc=0; "${NXC[@]}" -y plugin forum --to 1.0.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] forum 1.0.0 installed" [ "$rc" -eq 0 ]
ver() { sed -n "s/.*'version' => '\([^']*\)'.*/\1/p" "$T/site/modules/plugins/forum/version.php"; }
reg() { db_sql "SELECT version_number FROM system_versions WHERE component = 'plugin:forum' ORDER BY id DESC LIMIT 1"; }
upgraded_rows() { db_sql "SELECT count(*) FROM forum_events WHERE event LIKE 'upgraded %'"; }

# ---- [plugins] native_steps ------------------------------------------------------
rc=0; "${NXC[@]}" -y plugin blog --to 1.0.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] blog 1.0.0, its fragment naming only an installed module, without native_steps: exit 0" \
    [ "$rc" -eq 0 ]
check "[$DRV] ... its step was inserted and ran (health_check, the installed module)" \
    grep -q "inserted \[blog-check\] (health_check " "$T/out"
site_snapshot before
rc=0; "${NXC[@]}" -y plugin forum > "$T/out" 2>&1 || rc=$?
check "[$DRV] forum 1.2.0 ships a native step module, no [plugins] native_steps: exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... the message names the plugin, the module file, the setting and the file" \
    grep -qF "plugin forum ships the native step module steps/forum_log.so (step [forum-log], " "$T/out"
check "[$DRV] ... and says how to allow it" \
    grep -qF "refused: add forum to [plugins] native_steps in $CONF to allow it" "$T/out"
check "[$DRV] ... before maintenance mode, forum-log never inserted" \
    bash -c "! grep -q -e 'maintenance mode on' -e 'inserted \[forum-log\]' '$T/out'"
check "[$DRV] ... nothing changed: forum 1.0.0, site and database as before" \
    [ "$(ver) $(reg) $(upgraded_rows)" = "1.0.0 1.0.0 0" ]
check "[$DRV] ... site and database exactly as before" site_same before
check "[$DRV] ... nothing left behind" site_clean
printf '[plugins]\nnative_steps = forum\n' >> "$CONF"
rc=0; "${NXC[@]}" -y plugin blog --to 1.1.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] native_steps = forum: blog 1.1.0 with a module of its own is refused, exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... naming blog, its module and the setting" \
    grep -qF "plugin blog ships the native step module steps/ctor_step.so (step [blog-ctor], " "$T/out"
check "[$DRV] ... its module was never loaded (no file from its constructor)" [ ! -e "$T/loaded" ]
check "[$DRV] ... site and database exactly as before" site_same before
check "[$DRV] ... nothing left behind" site_clean
rc=0; "${NXC[@]}" -y plugin blog --to 1.2.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] blog 1.2.0: hook executables of its own for the installed hooks step: refused, exit 1" \
    [ "$rc" -eq 1 ]
check "[$DRV] ... naming blog, ./hooks and the setting" \
    bash -c "grep -qF 'plugin blog ships executables ./hooks for the installed hooks step' '$T/out' &&
             grep -qF 'add blog to [plugins] native_steps' '$T/out'"
check "[$DRV] ... the hook never ran" [ ! -e "$T/blog-hook-ran" ]
check "[$DRV] ... site and database exactly as before" site_same before

# ---- a later step fails: the module's undo removes its row ------------------------
rc=0; NEXO_FAULT=register:after-run:fail "${NXC[@]}" -y plugin forum > "$T/out" 2>&1 || rc=$?
check "[$DRV] forum 1.0.0 -> 1.2.0 with register failing: exit 3" [ "$rc" -eq 3 ]
check "[$DRV] ... forum-log was inserted after migrate and ran" \
    bash -c "grep -q 'inserted \[forum-log\] (forum_log 1.0.0' '$T/out' && grep -q 'noted in forum_events: upgraded 1.0.0 -> 1.2.0' '$T/out'"
check "[$DRV] ... its undo removed the row" grep -q "removed from forum_events: upgraded 1.0.0 -> 1.2.0" "$T/out"
check "[$DRV] ... no such row in the database" [ "$(upgraded_rows)" = 0 ]
check "[$DRV] ... forum back at 1.0.0 on disk and in the database" [ "$(ver) $(reg)" = "1.0.0 1.0.0" ]
check "[$DRV] ... core, the site and the database exactly as before" site_same before
check "[$DRV] ... nothing left behind" site_clean

# ---- killed right after the module ran: recover undoes it ------------------------
rc=0; NEXO_FAULT=forum-log:after-run:kill quiet_kill "${NXC[@]}" -y plugin forum > "$T/out" 2>&1 || rc=$?
check "[$DRV] killed after forum-log ran: exit 137" [ "$rc" -eq 137 ]
check "[$DRV] ... its row is there meanwhile" [ "$(upgraded_rows)" = 1 ]
rc=0; "${NXC[@]}" recover > "$T/out" 2>&1 || rc=$?
check "[$DRV] ... recover: exit 0, the module's undo removed the row" \
    bash -c "[ $rc -eq 0 ] && grep -q 'removed from forum_events' '$T/out'"
check "[$DRV] ... forum at 1.0.0, everything as before" site_same before
check "[$DRV] ... nothing left behind" site_clean

# ---- the update ------------------------------------------------------------------
rc=0; "${NXC[@]}" -y plugin forum > "$T/out" 2>&1 || rc=$?
check "[$DRV] forum 1.0.0 -> 1.2.0: exit 0" [ "$rc" -eq 0 ]
check "[$DRV] ... both migrations, then the module's row, in order" \
    [ "$(db_sql "SELECT event FROM forum_events ORDER BY id" | sed 's/ by update .*//' | tr '\n' '|')" = \
      "migration 1.0.0 -> 1.1.0|migration 1.1.0 -> 1.2.0|upgraded 1.0.0 -> 1.2.0|" ]
check "[$DRV] ... forum 1.2.0 on disk and in the database" [ "$(ver) $(reg)" = "1.2.0 1.2.0" ]
check "[$DRV] ... core untouched" [ "$(site_version_disk) $(site_version_db)" = "1.0.0 1.0.0" ]

# ---- never loaded from a package that fails verification ---------------------------
forum_rel 1.3.0
pkg=$(ls "$T"/repo/plugins/forum/*-1.3.0.* | grep -v '\.sig$')
cp "$pkg" "$T/pkg.good"
site_snapshot at120
printf 'X' | dd of="$pkg" bs=1 seek=300 conv=notrunc status=none
rc=0; "${NXC[@]}" -y plugin forum > "$T/out" 2>&1 || rc=$?
check "[$DRV] a tampered plugin package: exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... its module was never loaded (no file from its constructor)" [ ! -e "$T/loaded" ]
check "[$DRV] ... the site as before" site_same at120
cp "$T/pkg.good" "$pkg"
"$REL" -q keygen "$T/keys/other"
"$REL" -q index --repo "$T/repo" --key "$T/keys/other.key"
rc=0; "${NXC[@]}" -y plugin forum > "$T/out" 2>&1 || rc=$?
check "[$DRV] an index signed by an untrusted key: exit 1, the module never loaded" \
    bash -c "[ $rc -eq 1 ] && [ ! -e '$T/loaded' ]"
"$REL" -q index --repo "$T/repo" --key "$T/keys/vendor.key"
rc=0; "${NXC[@]}" -y plugin forum > "$T/out" 2>&1 || rc=$?
check "[$DRV] the same package untampered: exit 0, and the constructor did run (the test sees loading)" \
    bash -c "[ $rc -eq 0 ] && [ -s '$T/loaded' ]"

# ---- as root on a site owned by www-data (contracts §9) --------------------------
# The fragment and the module come from the staging folder in the site
# root, which belongs to uid 33: they are read through the private folder's
# checked descriptor, trusted by the package's signature.
if [ "$(id -u)" = 0 ] && [ "$DRV" = sqlite ]; then
    forum_rel 1.4.0
    chown -R 33:33 "$T/site"
    rc=0; "${NXC[@]}" -y plugin forum > "$T/out" 2>&1 || rc=$?
    check "[$DRV] a site owned by uid 33, updated as root: forum 1.3.0 -> 1.4.0 with its own step: exit 0 (got $rc)" \
        bash -c "[ $rc -eq 0 ] && grep -q 'upgraded 1.3.0 -> 1.4.0' '$T/out'"
    check "[$DRV] ... forum 1.4.0, its files the site owner's" \
        bash -c "[ \"\$(sed -n \"s/.*'version' => '\\([^']*\\)'.*/\\1/p\" '$T/site/modules/plugins/forum/version.php')\" = 1.4.0 ] && [ -z \"\$(find '$T/site/modules/plugins/forum' ! -uid 33)\" ]"
fi

nx_finish
