#!/usr/bin/env bash
# The installed maintenance step inside a pipeline: the site's MAINTENANCE
# file is there exactly while an update is under way and is never left
# behind — not on success, not on rollback, not after a kill and recover.
# Usage: maintenance.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
STATE="$T/state"
FLAG="$T/site/MAINTENANCE"
PIPE="$T/m.ini"
cat > "$PIPE" <<EOF
[pipeline]
name = maint
[check]
module = $MODS/fake_check.so
dir = $T/fx
[maintenance-on]
module = maintenance
action = on
message = Back soon
[work]
module = $MODS/fake_step.so
dir = $T/fx
[maintenance-off]
module = maintenance
action = off
[notify]
module = $MODS/fake_step.so
dir = $T/fx
EOF
reset() { rm -rf "$T/fx" "$STATE" "$FLAG"; mkdir -p "$T/fx"; : > "$T/fx/record.log"; }

reset
rc=0; "$NX" -q -c "$CONF" -y pipeline run "$PIPE" || rc=$?
check "success: exit 0" test "$rc" = 0
check "success: no MAINTENANCE left" test ! -e "$FLAG"

reset
rc=0; NEXO_FAULT=notify:after-run:fail "$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>/dev/null || rc=$?
check "failure after maintenance-off: exit 3" test "$rc" = 3
check "failure after maintenance-off: no MAINTENANCE left" test ! -e "$FLAG"

reset
rc=0; NEXO_FAULT=work:after-run:kill quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>/dev/null || rc=$?
check "killed in maintenance: the site shows maintenance" \
    bash -c "test $rc = 137 && jq -e '.message == \"Back soon\" and (.update_id | length > 0)' '$FLAG' >/dev/null"
check "killed in maintenance: status says maintenance ON" \
    bash -c "'$NX' -c '$CONF' status | grep -q '^maintenance:  ON'"
rc=0; "$NX" -q -c "$CONF" recover || rc=$?
check "recover: exit 0" test "$rc" = 0
check "recover: maintenance off" test ! -e "$FLAG"

for step in check maintenance-on work maintenance-off notify; do
    for point in before-run after-run; do
        reset
        rc=0; NEXO_FAULT=$step:$point:kill quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>/dev/null || rc=$?
        rc2=0; "$NX" -q -c "$CONF" recover || rc2=$?
        check "kill at $step:$point, recover: no MAINTENANCE left (exits $rc, $rc2)" \
            bash -c "test $rc = 137 && test $rc2 = 0 && test ! -e '$FLAG'"
    done
    for point in before-undo after-undo; do
        reset
        rc=0; NEXO_FAULT=notify:after-run:fail,$step:$point:kill quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>/dev/null || rc=$?
        rc2=0; "$NX" -q -c "$CONF" recover || rc2=$?
        check "kill at $step:$point while rolling back, recover: no MAINTENANCE left" \
            bash -c "test $rc = 137 && test $rc2 = 0 && test ! -e '$FLAG'"
    done
done

# An admin's own MAINTENANCE file survives an update untouched.
reset
echo "closed for the holidays" > "$FLAG"
"$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>/dev/null || true
check "an admin's MAINTENANCE file is left as it was" grep -qx "closed for the holidays" "$FLAG"
nx_finish
