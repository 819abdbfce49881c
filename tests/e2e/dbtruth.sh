#!/usr/bin/env bash
# The database's version is the truth (docs/updates.md), on one database
# (args: PREFIX MODDIR DRIVER), through the installed nexo-update:
#   * files ahead of the database by one version (copied by hand): `core`
#     runs the database's migration first, then the release's: each file
#     once, in order; by several: the same, and the dry run's SQL is
#     exactly what the real run executes;
#   * a database ahead of the files: refused before anything changed,
#     naming both versions;
#   * nothing registers a version no migrate step brought the database to;
#   * a release without a database/ folder plans and updates with zero
#     migrations;
#   * a dry run fetches, verifies and stages the release privately, shows
#     the files added, changed and removed and a plugin's install.xml SQL,
#     and leaves site, database, state and history as they were.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
DRV=$3
site_setup "$DRV" 1.0.0 1.1.0 1.2.0 1.3.0 1.4.0 1.5.0
NXC=("$NX" -c "$CONF")
# NX_DEBUG_COPY=DIR keeps a copy of the test folder for a look after a failure
[ -z "${NX_DEBUG_COPY:-}" ] || trap "cp -a \"\$T\" \"\$NX_DEBUG_COPY\"; $(trap -p EXIT | sed "s/^trap -- '//; s/' EXIT\$//")" EXIT
# 1.5.1: a patch release that changes files only, without a database/ folder
site_release 1.5.1 "$T/src/1.5.1"
rm -rf "$T/src/1.5.1/database"
"$REL" -q pack --component core --src "$T/src/1.5.1" --key "$T/keys/vendor.key" --repo "$T/repo"

# copy a release's managed trees into the site by hand, as an admin would
by_hand() {
    local v=$1 p
    for p in core public_html resources database; do
        rm -rf "$T/site/$p"
        [ ! -e "$T/src/$v/$p" ] || cp -a "$T/src/$v/$p" "$T/site/$p"
    done
}
mlog() { db_sql "SELECT file FROM migration_log ORDER BY id" | tr '\n' ' '; }
n_history() { db_sql "SELECT count(*) FROM update_history"; }
sql_lines() { sed -n 's/^.*\[migrate\]   \(.*;\)\( -- parameters:.*\)\{0,1\}$/\1\2/p' "$1"; }

# ---- files ahead of the database by one ------------------------------------
by_hand 1.1.0
check "[$DRV] by hand: files 1.1.0, database 1.0.0" \
    test "$(site_version_disk) $(site_version_db)" = "1.1.0 1.0.0"
rc=0; "${NXC[@]}" -y core --to 1.2.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] files ahead by one: core --to 1.2.0 exits 0 (got $rc)" test "$rc" = 0
check "[$DRV] files ahead by one: the run says the database is behind and migrates from 1.0.0" \
    grep -q "the database of core is at 1.0.0, behind the files' version 1.1.0: the migrations start from 1.0.0" "$T/out"
check "[$DRV] files ahead by one: each migration from 1.0.0 ran once, in order" \
    test "$(mlog)" = "upgrade_1.0.0_1.1.0 upgrade_1.1.0_1.2.0 "
check "[$DRV] files ahead by one: files and database at 1.2.0" \
    test "$(site_version_disk) $(site_version_db)" = "1.2.0 1.2.0"

# ---- files ahead by several: the dry run shows the SQL the run executes ----
by_hand 1.4.0
site_snapshot before_dry
hist0=$(n_history)
rc=0; "${NXC[@]}" -n core --to 1.5.0 > "$T/plan" 2>&1 || rc=$?
check "[$DRV] files ahead by two: -n core --to 1.5.0 exits 0 (got $rc)" test "$rc" = 0
check "[$DRV] -n: plans the three files from the database's 1.2.0" \
    grep -q "3 migration file(s) from 1.2.0 to 1.5.0" "$T/plan"
check "[$DRV] -n: the files in order" \
    test "$(grep -o 'upgrade_[0-9._]*\.xml (' "$T/plan" | tr -d ' (' | tr '\n' ' ')" = "upgrade_1.2.0_1.3.0.xml upgrade_1.3.0_1.4.0.xml upgrade_1.4.0_1.5.0.xml "
check "[$DRV] -n: shows SQL" test "$(sql_lines "$T/plan" | wc -l)" -gt 3
check "[$DRV] -n: the package was fetched, verified and staged" \
    bash -c "grep -q '\[verify\] done' '$T/plan' && grep -q '\[extract\] done' '$T/plan'"
check "[$DRV] -n: files changed and added are listed" \
    bash -c "grep -q '~ core/version.php' '$T/plan' && grep -q '+ public_html/release-1.5.0.txt' '$T/plan' && grep -q -- '- public_html/release-1.4.0.txt' '$T/plan'"
check "[$DRV] -n: register would register 1.5.0" grep -q "would register core 1.5.0" "$T/plan"
if [ "$DRV" = pgsql ]; then
    check "[$DRV] -n: says the driver plans without a private copy" \
        grep -q "the database driver offers no private copy for a dry run" "$T/plan"
else
    check "[$DRV] -n: the plan ran on a private copy of the database" \
        grep -q "the plan runs on a private copy of the database" "$T/plan"
fi
[ "$DRV" != mariadb ] || check "[$DRV] -n: the copy (a database of its own) was dropped" \
    test -z "$(db_sql "SHOW DATABASES LIKE '${DBNAME}\\_plan\\_%'")"
check "[$DRV] -n: site and database unchanged" site_same before_dry
check "[$DRV] -n: nothing left in the site or state" \
    bash -c "[ -z \"\$(ls -A '$T/state/downloads' 2>/dev/null)\" ] && [ -z \"\$(ls -A '$T/state/work' 2>/dev/null)\" ]"
check "[$DRV] -n: no history row" test "$(n_history)" = "$hist0"
check "[$DRV] -n: site clean (no journal waiting, lock free)" site_clean
rc=0; "${NXC[@]}" -v -y core --to 1.5.0 > "$T/run" 2>&1 || rc=$?
check "[$DRV] files ahead by two: core --to 1.5.0 exits 0 (got $rc)" test "$rc" = 0
# {{TIMESTAMP}} is the time a statement runs: the plan says so and shows its own
check "[$DRV] -n: says {{TIMESTAMP}} is the time the update runs" \
    grep -q "{{TIMESTAMP}} is shown as the time of this plan" "$T/plan"
sql_lines "$T/plan" | sed -E 's/[0-9]{10}-2592000/NOW-2592000/' > "$T/plan.sql"
sql_lines "$T/run" | sed -E 's/[0-9]{10}-2592000/NOW-2592000/' > "$T/run.sql"
check "[$DRV] the real run executed exactly the statements the dry run printed" \
    diff "$T/plan.sql" "$T/run.sql"
check "[$DRV] every migration from 1.0.0 ran once, in order (1.4.0 -> 1.5.0 logs none)" \
    test "$(mlog)" = "upgrade_1.0.0_1.1.0 upgrade_1.1.0_1.2.0 upgrade_1.2.0_1.3.0 upgrade_1.3.0_1.4.0 "
check "[$DRV] the 1.4.0 -> 1.5.0 custom script ran once" \
    test "$(grep -c 'custom script ran for 1.4.0 -> 1.5.0' "$T/run")" = 1
check "[$DRV] files and database at 1.5.0" test "$(site_version_disk) $(site_version_db)" = "1.5.0 1.5.0"

# ---- a dry run killed halfway is unwound by recover ------------------------
site_snapshot before_kill
hist0=$(n_history)
rc=0; NEXO_FAULT=extract:after-run:kill quiet_kill "${NXC[@]}" -n core --to 1.5.1 > "$T/out" 2>&1 || rc=$?
check "[$DRV] dry run killed after extract: a journal waits" test -e "$T/state/journal/current.jnl"
check "[$DRV] dry run killed: the staging folder is there" bash -c "ls -a '$T/site' | grep -q '^\.nexo-staging-'"
rc=0; "${NXC[@]}" recover > "$T/out" 2>&1 || rc=$?
check "[$DRV] recover after a killed dry run: exit 0 (got $rc)" test "$rc" = 0
check "[$DRV] recover after a killed dry run: staging, download and journal gone, lock free" site_clean
check "[$DRV] recover after a killed dry run: downloads empty" \
    test -z "$(ls -A "$T/state/downloads" 2>/dev/null)"
check "[$DRV] recover after a killed dry run: site and database unchanged" site_same before_kill
check "[$DRV] recover after a killed dry run: no history row" test "$(n_history)" = "$hist0"

# ---- a release without a database/ folder ----------------------------------
rc=0; "${NXC[@]}" -n core --to 1.5.1 > "$T/plan" 2>&1 || rc=$?
check "[$DRV] no database/ folder: -n exits 0 (got $rc)" test "$rc" = 0
check "[$DRV] no database/ folder: -n plans zero migrations" \
    grep -q "0 migration file(s) from 1.5.0 to 1.5.1" "$T/plan"
rc=0; "${NXC[@]}" -y core --to 1.5.1 > "$T/out" 2>&1 || rc=$?
check "[$DRV] no database/ folder: core --to 1.5.1 exits 0 (got $rc)" test "$rc" = 0
check "[$DRV] no database/ folder: files and database at 1.5.1" \
    test "$(site_version_disk) $(site_version_db)" = "1.5.1 1.5.1"
check "[$DRV] no database/ folder: no migration ran" \
    test "$(db_sql "SELECT count(*) FROM migration_log")" = 4

# ---- the database ahead of the files ----------------------------------------
by_hand 1.3.0
site_snapshot ahead
hist0=$(n_history)
for dry in "" -n; do
    rc=0; "${NXC[@]}" $dry -y core --to 1.5.1 > "$T/out" 2>&1 || rc=$?
    check "[$DRV] database ahead ${dry:-(real run)}: exit 1 (got $rc)" test "$rc" = 1
    check "[$DRV] database ahead ${dry:-(real run)}: the refusal names both versions" \
        grep -q "core: refused: the database is at 1.5.1, ahead of the files' 1.3.0" "$T/out"
    check "[$DRV] database ahead ${dry:-(real run)}: nothing changed" site_same ahead
done
check "[$DRV] database ahead: no maintenance mode, no backup taken" \
    bash -c "! grep -q '\[maintenance-on\] running\|\[backup\] running' '$T/out'"
# the migrate step refuses it as well, before any step ran (a pipeline run
# directly, an integrator's pipeline)
rc=0; "${NXC[@]}" -y pipeline run "$PREFIX/etc/nexo-update/pipelines/db.ini" --component core --from 1.3.0 --to 1.5.1 > "$T/out" 2>&1 || rc=$?
check "[$DRV] database ahead, db.ini run directly: exit 1 (got $rc)" test "$rc" = 1
check "[$DRV] database ahead, db.ini run directly: migrate names both versions" \
    grep -q "the database of core is at 1.5.1, ahead of the files' version 1.3.0: refused" "$T/out"
check "[$DRV] database ahead, db.ini run directly: nothing changed" site_same ahead
by_hand 1.5.1

# ---- nothing registers a version no migration brought the database to -----
printf '[pipeline]\nname = reg\n[register]\nmodule = register_version\n' > "$T/reg.ini"
rc=0; "${NXC[@]}" -y pipeline run "$T/reg.ini" --component core --from 1.5.1 --to 1.6.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] register without migrate: refused (exit $rc)" test "$rc" = 1
check "[$DRV] register without migrate: the message names the database's version" \
    grep -q "refused to register core 1.6.0: no migrate step of this update brought the database to it (the database is at 1.5.1)" "$T/out"
check "[$DRV] register without migrate: nothing registered" test "$(site_version_db)" = 1.5.1

# ---- a plugin's dry run shows its install.xml from the package -------------
site_pack_plugin forum 1.0.0
rc=0; "${NXC[@]}" -n plugin forum --to 1.0.0 > "$T/plan" 2>&1 || rc=$?
check "[$DRV] -n plugin forum (not installed): exit 0 (got $rc)" test "$rc" = 0
check "[$DRV] -n plugin forum: plans its install.xml" grep -q "install.xml (install 1.0.0)" "$T/plan"
check "[$DRV] -n plugin forum: shows the CREATE TABLE of forum_posts" \
    grep -qi "CREATE TABLE.*forum_posts" "$T/plan"
check "[$DRV] -n plugin forum: lists its files as added" grep -q "+ modules/plugins/forum/version.php" "$T/plan"
check "[$DRV] -n plugin forum: nothing installed" test ! -e "$T/site/modules/plugins/forum"
nx_finish
