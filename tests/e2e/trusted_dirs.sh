#!/usr/bin/env bash
# Trusted folders (contracts §9, issue 11), on a SQLite demo site at 1.0.0
# with 1.1.0 available, run as root. A folder nexo-update trusts must belong
# to root or the running user and not be writable by group or others (nor
# any folder above it; a root-owned sticky folder like /tmp passes above
# it); otherwise the command refuses, exit 1, naming the path and the
# setting, and nothing changes (site files, database with its
# update_history, the state and backups folders' contents):
#   - [paths] state mode 0777, 1777 (sticky) and owned by uid 33, for
#     `core`, `recover` (a journal waiting in it is never replayed) and
#     `status`; an entry of it (journal/) group-writable;
#   - [paths] backups group-writable: `core`, `rollback`, `backups list`;
#   - [paths] modules writable by others: `core`;
#   - a hook folder writable by others, and a hook owned by uid 33: `core`
#     (refused in validate, before maintenance mode; the hook never runs);
#   - then, with every folder as it should be, the update succeeds and the
#     hook runs (the same commands, so the refusals above are not an
#     accident of the setup).
# Usage: trusted_dirs.sh PREFIX TESTMODS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.1.0
NXC=("$NX" -c "$CONF")
# the vendor key signs the index and core (contracts §6 key scopes)
[ -e "$T/trusted/vendor.scope" ] || printf 'index\ncore\n' > "$T/trusted/vendor.scope"
MARK="$T/hook-ran"
mkdir -p "$T/hooks/update.before.d"
printf '#!/bin/sh\necho "ran as $(id -u)" >> %s\n' "$MARK" > "$T/hooks/update.before.d/10-mark"
chmod 755 "$T/hooks/update.before.d/10-mark"
mkdir -p "$T/backups"
chmod 700 "$T/backups"
"${NXC[@]}" -q status > /dev/null   # creates the state folder, 0700

# the whole database (update_history too) and the trusted folders' contents;
# LOOSE=1: an update refused by a step's validate has written its log and
# the index it read (STATE/logs/, STATE/index-seen.*), nothing else
full_db() { sqlite3 "$DBPATH" .dump; }
folders() {
    (cd "$T" && find state backups -printf '%p %y %m %u %s\n' | LC_ALL=C sort |
        if [ "${LOOSE:-0}" = 1 ]; then grep -v -e '^state/logs' -e '^state/index-seen'; else cat; fi)
}
snap() { site_snapshot "$1"; full_db > "$T/full-$1.db"; folders > "$T/folders-$1"; }
same() {
    site_same "$1" && full_db | diff "$T/full-$1.db" - >&2 && folders | diff "$T/folders-$1" - >&2 &&
        [ ! -e "$MARK" ]
}
snap before

# refused WHAT SETTING PATH WHY CMD...: exit 1, the message names the
# setting, the path and why, and nothing changed
refused() {
    local what=$1 setting=$2 path=$3 why=$4 rc=0; shift 4
    "${NXC[@]}" "$@" > "$T/out" 2>&1 || rc=$?
    check "$what: '$*' exits 1" [ "$rc" -eq 1 ]
    if grep -F -- "$setting" "$T/out" | grep -F -- "$path" | grep -q -F -- "$why"; then
        ok "$what: '$*' names $setting and $path ($why)"
    else
        not_ok "$what: '$*' names $setting and $path ($why)"; sed 's/^/    /' "$T/out"
    fi
    check "$what: '$*' changed nothing (site, database, state, backups)" same before
}

# ---- [paths] state --------------------------------------------------------------
chmod 0777 "$T/state"
snap before
for cmd in "-y core" "recover" "status"; do
    # shellcheck disable=SC2086
    refused "state 0777" "[paths] state" "$T/state" "world-writable (mode 0777)" $cmd
done
chmod 1777 "$T/state"
snap before
refused "state 1777 (sticky, root's)" "[paths] state" "$T/state" "world-writable (mode 1777)" -y core
chmod 0700 "$T/state"
chown 33:33 "$T/state"
snap before
for cmd in "-y core" "recover" "status"; do
    # shellcheck disable=SC2086
    refused "state owned by uid 33" "[paths] state" "$T/state" "owned by uid 33" $cmd
done
chown 0:0 "$T/state"

# a journal planted in a state folder others may write is never replayed
mkdir -p "$T/state/journal"
chmod 700 "$T/state/journal"
printf '{"ev":"begin","id":"20260101-000000-deadbeef"}\n' > "$T/state/journal/current.jnl"
chmod 600 "$T/state/journal/current.jnl"
chmod 0757 "$T/state"
snap before
refused "state 0757 with a journal waiting" "[paths] state" "$T/state" "world-writable" recover
check "... the journal was not read (no recover line, still there)" \
    bash -c "! grep -q -e 'recovering' -e 'cannot recover' '$T/out' && [ -f '$T/state/journal/current.jnl' ]"
chmod 0700 "$T/state"
chmod 0770 "$T/state/journal"
snap before
refused "state/journal/ 0770" "[paths] state" "$T/state/journal" "group-writable (mode 0770)" recover
rm -rf "$T/state/journal"

# ---- [paths] backups ------------------------------------------------------------
chmod 0770 "$T/backups"
snap before
for cmd in "-y core" "-y rollback" "backups list"; do
    # shellcheck disable=SC2086
    refused "backups 0770" "[paths] backups" "$T/backups" "group-writable (mode 0770)" $cmd
done
chmod 0700 "$T/backups"

# ---- [paths] modules ------------------------------------------------------------
LOOSE=1
cp -a "$PREFIX/lib/nexo-update" "$T/mods"
cp "$CONF" "$T/conf.orig"
sed -i "s|^\[paths\]$|[paths]\nmodules = $T/mods|" "$CONF"
chmod 0777 "$T/mods"
snap before
refused "modules 0777" "[paths] modules" "$T/mods" "world-writable (mode 0777)" -y core
cp "$T/conf.orig" "$CONF"

# ---- hook folders and hooks -------------------------------------------------------
chmod 0757 "$T/hooks/update.before.d"
snap before
refused "hook folder 0757" "hook folder" "$T/hooks/update.before.d" "world-writable (mode 0757)" \
    -y core
check "... before maintenance mode: the message comes from [hooks-before]'s validate" \
    bash -c "grep -q 'hooks-before' '$T/out' && ! grep -q 'maintenance mode on' '$T/out'"
chmod 0755 "$T/hooks/update.before.d"
chmod 0777 "$T/hooks"
snap before
refused "the folder above a hook folder 0777" "hook folder" "$T/hooks" "world-writable (mode 0777)" \
    -y core
chmod 0755 "$T/hooks"
chown 33:33 "$T/hooks/update.before.d/10-mark"
snap before
refused "a hook owned by uid 33" "hook" "$T/hooks/update.before.d/10-mark" "owned by uid 33" -y core
chown 0:0 "$T/hooks/update.before.d/10-mark"

# ---- every folder as it should be: the same update succeeds -------------------------
rc=0; "${NXC[@]}" status > "$T/out" 2>&1 || rc=$?
check "trusted folders: status exits 0" [ "$rc" -eq 0 ]
rc=0; "${NXC[@]}" -y core > "$T/out" 2>&1 || rc=$?
check "trusted folders: core 1.0.0 -> 1.1.0 exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/    /' "$T/out"
check "... the hook ran, as root" grep -qx "ran as 0" "$MARK"
check "... core 1.1.0 on disk and in the database" \
    [ "$(site_version_disk) $(site_version_db)" = "1.1.0 1.1.0" ]
rc=0; "${NXC[@]}" recover > "$T/out" 2>&1 || rc=$?
check "trusted folders: recover has nothing to do, exit 0" [ "$rc" -eq 0 ]

nx_finish
