#!/usr/bin/env bash
# The installed hooks step inside a pipeline: update.before and update.after
# hooks run in order on success; rollback.after hooks run only when the
# update is rolled back; a failing update.after hook rolls the update back.
# Usage: hooks.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
STATE="$T/state"
MARK="$T/marks.log"
PIPE="$T/h.ini"
cat > "$PIPE" <<EOF
[pipeline]
name = hooks
[hooks-rollback]
module = hooks
event = rollback.after
[hooks-before]
module = hooks
event = update.before
[s1]
module = $MODS/fake_step.so
dir = $T/fx
[hooks-after]
module = hooks
event = update.after
timeout = 20
EOF

# hook EVENT NAME BODY: an executable hook in the config folder's hooks/.
hook() {
    mkdir -p "$T/hooks/$1.d"
    printf '#!/bin/sh\n%s\n' "$3" > "$T/hooks/$1.d/$2"
    chmod 755 "$T/hooks/$1.d/$2"
}
hook update.before 10-mark "echo \"before \$NEXO_EVENT\" >> '$MARK'"
hook update.after 10-mark "echo \"after \$NEXO_EVENT\" >> '$MARK'"
hook rollback.after 10-mark "echo \"rollback \$NEXO_EVENT\" >> '$MARK'"
reset() { rm -rf "$T/fx" "$STATE" "$MARK"; mkdir -p "$T/fx"; : > "$T/fx/record.log"; }

reset
rc=0; "$NX" -q -c "$CONF" -y pipeline run "$PIPE" || rc=$?
check "success: exit 0" test "$rc" = 0
check "success: before then after ran, rollback.after did not" \
    diff <(printf 'before update.before\nafter update.after\n') "$MARK"

reset
rc=0; NEXO_FAULT=s1:after-run:fail "$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>/dev/null || rc=$?
check "s1 fails: exit 3" test "$rc" = 3
check "s1 fails: before ran, then rollback.after; after did not" \
    diff <(printf 'before update.before\nrollback rollback.after\n') "$MARK"

reset
hook update.after 20-fail "echo 'the load balancer said no' >&2; exit 1"
rc=0; "$NX" -c "$CONF" -y pipeline run "$PIPE" > "$T/out.log" 2>&1 || rc=$?
check "failing update.after hook: exit 3" test "$rc" = 3
check "failing update.after hook: s1 undone" grep -qx "undo s1" "$T/fx/record.log"
check "failing update.after hook: the error names the hook" \
    grep -q "hooks/update.after.d/20-fail exited with 1" "$T/out.log"
check "failing update.after hook: rollback.after ran" grep -qx "rollback rollback.after" "$MARK"
nx_finish
