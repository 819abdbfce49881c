#!/usr/bin/env bash
# The fault matrix of the default core pipeline (issue 5, contracts §2, §8):
# a demo site at 1.0.0 on DRIVER is updated to 1.1.0 by `nexo-update core`
# with NEXO_FAULT set at every point of every step, and after each case it
# must be exactly as before the update, or - only when the kill came after
# the commit phase began (architecture §5: recover rolls forward) - exactly
# on the new release.
#
#   * every step of `pipeline show core` (names read from --json) at
#     before-run, after-run and checkpoint:1..N (N = the checkpoints that
#     step reports, learnt from the journal of a reference update), with
#     `fail`: exit 1 while nothing was changed yet (contracts §4: the steps
#     before maintenance mode never touch the live site - the PRECHECK
#     steps, and hooks rollback.after whose run does nothing - so a failure
#     up to maintenance-on:before-run), exit 3 after that;
#     with `kill`: exit 137, `recover` exits 0, a second one says "nothing
#     to recover";
#   * every step at before-undo and after-undo (the unwinding triggered by
#     failing the last step at after-run), `fail`: exit 4 then recover,
#     `kill`: exit 137 then recover;
#   * a hook of update.before.d / update.after.d that exits 1: exit 3;
#   * a kill while committing (a fake_check step first in a copy of
#     core.ini, killing itself in its commit): recover rolls forward onto
#     exactly the new release.
# After each case: files (path, type, mode, sha256) and database dump equal
# the snapshot taken before the update, the site's own rows are there,
# .env, var/ and modules/plugins/ untouched, no MAINTENANCE, no journal
# waiting, lock free, no .nexo-* left, the newest update_history row is
# this attempt, `rolled_back` (`refused` for an exit 1 attempt, which
# changed nothing; `interrupted` for a kill before any step that changes
# the site: the host records every attempt), and the rollback.after hooks
# ran exactly when the hooks-rollback step had started (twice when its undo
# is repeated after an after-undo fault). The site is set up once and
# re-created only after a roll-forward.
#
# One row per attempt: after an undo fault (exit 4) the host writes a
# `rollback_failed` row; recover replaces it with `rolled_back`, keeping
# the first error (check "one row for the attempt").
#
# Runtime (2 cores, measured; the higher figures with other builds running,
# load 4-5): 20-46 s on SQLite, 65-87 s on PostgreSQL, 50-72 s on MariaDB,
# so the whole matrix (undo points included) runs on every driver. It grew
# with the pipeline (16 steps): on PostgreSQL and MariaDB the steps before
# maintenance mode, which never touch the database, are left to the SQLite
# run (FAULT_MATRIX_ALL=1 runs them there too).
#
# Usage: fault_matrix.sh PREFIX TESTMODS DRIVER
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
DRV=$3
OLD=1.0.0
NEW=1.1.0
# [site] managed: contracts §3's default (the test configuration sets none)
MANAGED="core public_html resources database"
T0=$(date +%s)
site_setup "$DRV" "$OLD" "$NEW"

HOOKLOG="$T/hooks.log"
hook() { # hook EVENT NAME BODY: an executable in the config folder's hooks/
    mkdir -p "$T/hooks/$1.d"
    printf '#!/bin/sh\n%s\n' "$3" > "$T/hooks/$1.d/$2"
    chmod 755 "$T/hooks/$1.d/$2"
}
# present in every case: says when the unwinding ran it
hook rollback.after 10-log \
    "echo \"\$NEXO_EVENT \$NEXO_UPDATE_ID \$NEXO_FROM_VERSION \$NEXO_TO_VERSION \$NEXO_SITE_ROOT\" >> '$HOOKLOG'"

# --- the pipeline -----------------------------------------------------------
"$NX" -c "$CONF" --json pipeline show core > "$T/show.json"
mapfile -t STEPS < <(jq -r '.steps[].name' "$T/show.json")
mapfile -t MODULES < <(jq -r '.steps[].module' "$T/show.json")
CORE_INI=$(jq -r '.file' "$T/show.json")
NSTEPS=${#STEPS[@]}
if [ "$NSTEPS" -lt 2 ]; then not_ok "pipeline show core lists the steps"; nx_finish; exit 1; fi
LAST=${STEPS[$((NSTEPS - 1))]}
MAINT=-1 # the first maintenance step: the first that touches the live site
HR=-1    # the hooks instance for rollback.after
for i in "${!STEPS[@]}"; do
    if [ "$MAINT" -lt 0 ] && [ "${MODULES[$i]}" = maintenance ]; then MAINT=$i; fi
    if [ "$HR" -lt 0 ] && [ "${MODULES[$i]}" = hooks ] &&
        [ "$(jq -r ".steps[$i].settings.event" "$T/show.json")" = rollback.after ]; then HR=$i; fi
done
check "core pipeline: $NSTEPS steps, maintenance-on and hooks rollback.after among them" \
    test "$MAINT" -ge 0 -a "$HR" -ge 0
echo "# steps: ${STEPS[*]}"

MAINT_AT_4=0

# --- helpers ----------------------------------------------------------------
site_rows() { # the rows the site wrote before any update
    local got
    got=$(db_sql "SELECT
        (SELECT COUNT(*) FROM users WHERE email IN ('carol@example.org', 'dave@example.org'))
      + (SELECT COUNT(*) FROM sessions WHERE user_id = 3 AND last_activity = 4000000100)
      + (SELECT COUNT(*) FROM config WHERE config_key = 'site_name' AND config_value = 'Demo')")
    [ "$got" = 4 ] || { echo "# the site's rows: $got of 4" >&2; return 1; }
}
own_same() { site_own_files | diff "$T/own.before" - >&2; }
# history_is ID OUTCOME: the newest row is this attempt, with OUTCOME
history_is() {
    local newest outcome
    newest=$(db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 1")
    outcome=$(site_history_outcome)
    [ -n "$1" ] && [ "$newest" = "$1" ] && [ "$outcome" = "$2" ] ||
        { echo "# history: newest row $newest $outcome (want ${1:-?} $2)" >&2; return 1; }
}
# history_once ID: one row for this attempt (host.c: "one row per attempt")
history_once() {
    local rows
    rows=$(site_history_outcome "$1" | tr '\n' ' ')
    [ "$(wc -w <<< "$rows")" = 1 ] || { echo "# history rows of $1: $rows" >&2; return 1; }
}
hook_runs() { # hook_runs ID N: the rollback.after hooks ran N times for ID
    local n
    n=$(grep -c -x -F "rollback.after $1 $OLD $NEW $T/site" "$HOOKLOG" || true)
    [ "$n" = "$2" ] || { echo "# rollback.after hooks ran $n times for $1 (want $2)" >&2; return 1; }
}
# release_tree DIR: the managed paths of DIR (path, type, mode, sha256)
release_tree() {
    (cd "$1" && find $MANAGED -printf '%p %y %m\n' | LC_ALL=C sort | nx_tree_sum)
}
# the new release's tree, with the manifest the extract step records in it
# (record_manifest, docs/updates.md) equal to the package's
new_tree() {
    local pkg
    pkg=$(ls "$T/repo/core/"*"-$NEW.tar."* | head -n 1)
    { release_tree "$T/src/$NEW"
      echo "core/.nexo-release.json f 644 $(bsdtar -xOf "$pkg" nexo-release.json | sha256sum | cut -c1-64)"
    } | LC_ALL=C sort > "$T/tree.want"
    release_tree "$T/site" | LC_ALL=C sort | diff "$T/tree.want" - >&2
}
# the database dump with the times and update ids of this run masked, to
# compare two sites updated at different seconds
db_norm() {
    db_dump | python3 -c '
import re, sys
lo, hi = int(sys.argv[1]) - 86400, int(sys.argv[2]) + 86400
for line in sys.stdin:
    line = re.sub(r"\b\d{8}-\d{6}-[0-9a-f]{8}\b", "<update-id>", line)
    sys.stdout.write(re.sub(r"\b\d{9,11}\b",
        lambda m: "<time>" if lo <= int(m.group()) <= hi else m.group(), line))' "$T0" "$(date +%s)"
}
new_db() { db_norm | diff "$T/ref-new.db" - >&2; }
versions_are() {
    [ "$(site_version_disk)" = "$1" ] && [ "$(site_version_db)" = "$1" ] ||
        { echo "# version.php: $(site_version_disk), system_versions: $(site_version_db) (want $1)" >&2; return 1; }
}
snapshot_before() {
    site_snapshot before
    site_own_files > "$T/own.before"
}
# the update id of the attempt just made: the journal that appeared
new_update_id() {
    local f
    f=$(ls "$T/state/journal" 2>/dev/null | grep -v -x -F -f "$T/jnl.pre" | grep '\.jnl$' | grep -v '^current' | head -n 1 || true)
    echo "${f%.jnl}"
}
# the site at OLD again, on a fresh database, after a roll-forward
reset_site() {
    db_drop
    rm -rf "$T/keys" "$T/trusted" "$T/repo" "$T/src" "$T/state" "$T/backups" "$T/site.db" "$T/fx"
    site_setup "$DRV" "$OLD" "$NEW"
    snapshot_before
}

verify_old() { # verify_old CASE ID HOOKRUNS
    local name=$1 id=$2
    check "$name: files and database equal the snapshot before the update" site_same before
    check "$name: the rows the site wrote are there" site_rows
    check "$name: .env, var/, modules/plugins/ untouched" own_same
    check "$name: no MAINTENANCE, no journal waiting, lock free, no .nexo-* left" site_clean
    check "$name: history: newest attempt ${id:-?} is $OUTCOME" history_is "$id" "$OUTCOME"
    check "$name: history: one row for the attempt" history_once "$id"
    check "$name: rollback.after hooks ran $3 time(s)" hook_runs "$id" "$3"
}
verify_new() { # verify_new CASE ID: exactly the new release, then a fresh site
    local name=$1 id=$2
    check "$name: rolled forward: core/version.php and system_versions say $NEW" versions_are "$NEW"
    check "$name: rolled forward: the managed files equal release $NEW's tree" new_tree
    check "$name: rolled forward: database as after a successful update" new_db
    check "$name: the rows the site wrote are there" site_rows
    check "$name: .env, var/, modules/plugins/ untouched" own_same
    check "$name: no MAINTENANCE, no journal waiting, lock free, no .nexo-* left" site_clean
    check "$name: history: newest attempt ${id:-?} is success" history_is "$id" success
    check "$name: history: one row for the attempt" history_once "$id"
    reset_site
}

# The site after recover: OLD, or NEW only where the kill came after
# commit-begin (then a fresh site for the next case).
verify_after() { # verify_after CASE ID HOOKRUNS COMMITTING
    if [ "$(site_version_disk)" = "$NEW" ] || [ "$(site_version_db)" = "$NEW" ]; then
        ENDED_ON=$NEW
        if [ "$4" = 1 ]; then
            verify_new "$1" "$2"
        else
            not_ok "$1: on $NEW after recover though the commit phase had not begun"
            verify_new "$1" "$2"
        fi
    else
        ENDED_ON=$OLD
        verify_old "$1" "$2" "$3"
    fi
}

show_err() { sed 's/^/#   /' "$T/err" | head -n 20; }

# recover_twice CASE: recover exits 0; a second recover has nothing to do
recover_twice() {
    local rc=0
    "$NX" -q -c "$CONF" recover > "$T/rec.out" 2> "$T/rec.err" || rc=$?
    check "$1: recover exits 0 (got $rc)" test "$rc" = 0
    [ "$rc" = 0 ] || sed 's/^/#   /' "$T/rec.err" | head -n 20
    rc=0
    "$NX" -c "$CONF" recover > "$T/rec.out" 2>&1 || rc=$?
    check "$1: a second recover is a no-op" \
        bash -c "test $rc = 0 && grep -q 'nothing to recover' '$T/rec.out'"
}

# outcome_of NEXO_FAULT WANT: the history outcome of an attempt that ends on
# the old release (engine.c): nothing changed - refused (exit 1), or
# interrupted (killed before a step that changes the site had started: only
# precheck steps, which journal nothing undo needs); else rolled_back.
PRECHECK_MODULES=" health_check notify download verify extract plugin_steps "
outcome_of() {
    local fault=$1 want=$2 k
    if [ "$want" = 1 ]; then echo refused; return; fi
    if [ "$want" = 137 ] && [ -n "$fault" ] && [[ $fault != *,* ]]; then
        for k in "${!STEPS[@]}"; do
            [[ $PRECHECK_MODULES == *" ${MODULES[$k]} "* ]] || break
            if [ "${STEPS[$k]}" = "${fault%%:*}" ]; then echo interrupted; return; fi
        done
    fi
    echo rolled_back
}

# run_case CASE NEXO_FAULT WANT HOOKRUNS ERRTEXT [CONFIG]
#   WANT: 1, 3 or 4 (a fail: that exit code, then recover after 4) or 137
#   (a kill: recover); HOOKRUNS: how often the rollback.after hooks run;
#   ERRTEXT: what stderr must say (the fault was hit where it was meant to).
#   Sets ENDED_ON to the version the site ended on.
run_case() {
    local name=$1 fault=$2 want=$3 runs=$4 errtext=$5 conf=${6:-$CONF} rc=0 id committing=0
    ls "$T/state/journal" > "$T/jnl.pre" 2>/dev/null || : > "$T/jnl.pre"
    : > "$HOOKLOG"
    if [ -n "$fault" ]; then
        NEXO_FAULT=$fault quiet_kill "$NX" -q -c "$conf" -y core > "$T/out" 2> "$T/err" || rc=$?
    else
        quiet_kill "$NX" -q -c "$conf" -y core > "$T/out" 2> "$T/err" || rc=$?
    fi
    if [ "$want" = 137 ] && [ -e "$T/state/journal/current.jnl" ] &&
        grep -q '"ev":"commit-begin"' "$T/state/journal/current.jnl"; then
        committing=1
    fi
    check "$name: exit $want (got $rc)${errtext:+, stderr: $errtext}" \
        bash -c 'test "$1" = "$2" && grep -q -F -- "$3" "$4"' _ "$rc" "$want" "$errtext" "$T/err"
    [ "$rc" = "$want" ] || show_err
    if [ "$want" = 4 ] && [ "$MAINT_AT_4" = 1 ]; then
        check "$name: exit 4 leaves maintenance mode on" test -e "$T/site/MAINTENANCE"
    fi
    case $want in 137|4) recover_twice "$name" ;; esac
    OUTCOME=$(outcome_of "$fault" "$want")
    id=$(new_update_id)
    verify_after "$name" "$id" "$runs" "$committing"
}

# --- the reference update: checkpoints, the new release's database ----------
snapshot_before
ls "$T/state/journal" > "$T/jnl.pre" 2>/dev/null || : > "$T/jnl.pre"
rc=0; "$NX" -q -c "$CONF" -y core > "$T/out" 2> "$T/err" || rc=$?
check "reference update: exit 0 (got $rc)" test "$rc" = 0
REF_ID=$(new_update_id)
declare -a CPS
for i in "${!STEPS[@]}"; do
    CPS[$i]=$(jq -r --argjson s "$i" 'select(.ev == "checkpoint" and .step == $s) | .n' \
        "$T/state/journal/$REF_ID.jnl" 2>/dev/null | sort -n | tail -n 1)
    CPS[$i]=${CPS[$i]:-0}
done
cps_desc=""
for i in "${!STEPS[@]}"; do [ "${CPS[$i]}" = 0 ] || cps_desc+=" ${STEPS[$i]}:${CPS[$i]}"; done
echo "# checkpoints:$cps_desc"
check "reference update: some steps report checkpoints" test -n "$cps_desc"
check "reference update: on $NEW" versions_are "$NEW"
check "reference update: the managed files equal release $NEW's tree" new_tree
check "reference update: history success" history_is "$REF_ID" success
db_norm > "$T/ref-new.db"
reset_site

# --- a kill while committing: recover rolls forward -------------------------
mkdir -p "$T/rf-pipes"
awk -v first="[${STEPS[0]}]" -v mods="$MODS" -v fx="$T/fx" '
    $0 == first && !done { print "[commit-kill]"; print "module = " mods "/fake_check.so";
                           print "dir = " fx; print "kill = commit"; print ""; done = 1 }
    { print }' "$CORE_INI" > "$T/rf-pipes/core.ini"
sed "/^\[paths\]/a pipelines = rf-pipes" "$CONF" > "$T/nexo-rf.ini"
mkdir -p "$T/fx"
run_case "kill while committing" "" 137 0 "" "$T/nexo-rf.ini"
check "kill while committing: recover rolled forward to $NEW" test "$ENDED_ON" = "$NEW"

# On PostgreSQL and MariaDB the steps before the first maintenance step are
# left to the SQLite run: they never touch the database (the PRECHECK steps
# and hooks rollback.after, whose run does nothing), so their faults and
# undos are the same on every driver. From maintenance-on on, every point of
# every step runs on every database. FAULT_MATRIX_ALL=1 runs them all.
FIRST=0
if [ "$DRV" != sqlite ] && [ "${FAULT_MATRIX_ALL:-0}" != 1 ]; then
    FIRST=$MAINT
    echo "# $DRV: steps ${STEPS[*]:0:$MAINT} (before maintenance mode, no database) run on SQLite only"
fi

# --- every step, every run point ---------------------------------------------
fail_code() { # fail_code STEP_INDEX POINT
    if [ "$1" -lt "$MAINT" ] || { [ "$1" = "$MAINT" ] && [ "$2" = before-run ]; }; then echo 1; else echo 3; fi
}
for i in "${!STEPS[@]}"; do
    [ "$i" -ge "$FIRST" ] || continue
    s=${STEPS[$i]}
    points=(before-run after-run)
    for n in $(seq 1 "${CPS[$i]}"); do points+=("checkpoint:$n"); done
    runs=0; [ "$i" -lt "$HR" ] || runs=1
    for p in "${points[@]}"; do
        at=$p; [ "${p%%:*}" != checkpoint ] || at="checkpoint ${p#*:}"
        run_case "$s:$p:fail" "$s:$p:fail" "$(fail_code "$i" "$p")" "$runs" \
            "[$s] NEXO_FAULT: injected failure at $at"
        run_case "$s:$p:kill" "$s:$p:kill" 137 "$runs" "NEXO_FAULT: kill at $s:$p"
    done
done

# --- every step, every undo point (the last step fails) ---------------------
for k in "${!MODULES[@]}"; do [ "${MODULES[$k]}" = maintenance ] && MOFF=$k; done
for i in "${!STEPS[@]}"; do
    [ "$i" -ge "$FIRST" ] || continue
    s=${STEPS[$i]}
    for p in before-undo after-undo; do
        runs=1; [ "$i:$p" != "$HR:after-undo" ] || runs=2
        # exit 4 leaves maintenance mode on (contracts §2) where the undo of
        # maintenance-on has not run yet - except when the undo that fails
        # is maintenance-off's own, the one that would switch it back on
        MAINT_AT_4=0
        if [ "$i" -gt "$MAINT" ] || [ "$i:$p" = "$MAINT:before-undo" ]; then MAINT_AT_4=1; fi
        if [ "${MODULES[$i]}" = maintenance ] && [ "$i" != "$MAINT" ] && [ "$p" = before-undo ]; then MAINT_AT_4=0; fi
        # a step after maintenance-off (notify) whose undo fails stops the
        # unwinding before maintenance-off's undo: maintenance stays off
        # (docs/updates.md: steps after maintenance-off)
        if [ "$i" -gt "$MOFF" ]; then MAINT_AT_4=0; fi
        run_case "$s:$p:fail ($LAST fails)" "$LAST:after-run:fail,$s:$p:fail" 4 "$runs" \
            "[$s] undo failed: NEXO_FAULT: injected failure at $p"
        MAINT_AT_4=0
        run_case "$s:$p:kill ($LAST fails)" "$LAST:after-run:fail,$s:$p:kill" 137 "$runs" \
            "NEXO_FAULT: kill at $s:$p"
    done
done

# --- a hook that exits 1 ----------------------------------------------------
for ev in update.before update.after; do
    hook "$ev" 50-fail "echo \"\$NEXO_EVENT \$NEXO_UPDATE_ID \$NEXO_FROM_VERSION \$NEXO_TO_VERSION \$NEXO_SITE_ROOT\" >> '$HOOKLOG'; echo 'the load balancer said no' >&2; exit 1"
    run_case "$ev hook exits 1" "" 3 1 "hooks/$ev.d/50-fail exited with 1"
    id=$(new_update_id)
    check "$ev hook exits 1: it ran with its environment, then the rollback.after hooks" \
        diff <(printf '%s %s %s %s %s\n' "$ev" "$id" "$OLD" "$NEW" "$T/site" rollback.after "$id" "$OLD" "$NEW" "$T/site") "$HOOKLOG"
    rm -f "$T/hooks/$ev.d/50-fail"
done

echo "# $DRV: $(( $(date +%s) - T0 )) s"
nx_finish
