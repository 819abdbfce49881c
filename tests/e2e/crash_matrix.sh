#!/usr/bin/env bash
# For every step and every point of contracts §8: NEXO_FAULT=...:kill, then
# `nexo-update recover` in a fresh process: every completed step undone
# exactly once, the journal closed, the lock free; a second recover does
# nothing. Also: a kill during recover, and a kill while finalizing (roll
# forward). Usage: crash_matrix.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
N=3
PIPE="$T/p.ini"
nx_pipeline "$PIPE" $N "checkpoints = 2"
STATE="$T/state"

reset() { rm -rf "$T/fx" "$STATE"; mkdir -p "$T/fx"; : > "$T/fx/record.log"; }

# Every step that ran is undone exactly once; nothing else is undone or
# committed; no effect is left; the journal is closed and the lock free.
verify_unwound() {
    local name=$1 log="$T/fx/record.log" good=1 i
    for i in $(seq 1 $N); do
        local ran undone
        ran=$(count "run s$i" "$log")
        undone=$(grep -c -E "^undo s$i( recovering)?$" "$log" || true)
        if [ "$ran" != "$undone" ] || [ "$ran" -gt 1 ]; then
            echo "# $name: s$i ran $ran times, undone $undone times"; good=0
        fi
    done
    if grep -q '^commit' "$log" 2>/dev/null; then echo "# $name: a commit ran"; good=0; fi
    if ls "$T/fx" | grep -q -E '\.(applied|part[0-9])$'; then
        echo "# $name: effects left: $(ls "$T/fx")"; good=0
    fi
    if [ -e "$STATE/journal/current.jnl" ]; then echo "# $name: journal still open"; good=0; fi
    if ! flock -n "$STATE/lock" true; then echo "# $name: lock held"; good=0; fi
    local last
    last=$(tail -n 1 "$(ls -t "$STATE"/journal/*.jnl | head -n 1)")
    if ! echo "$last" | grep -q '"outcome":"rolled_back"'; then
        echo "# $name: last journal record is $last"; good=0
    fi
    [ "$good" = 1 ]
}

scenario() { # scenario NAME FAULTSPEC
    local name=$1 spec=$2 rc=0
    reset
    NEXO_FAULT="$spec" quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>"$T/err" || rc=$?
    if [ "$rc" != 137 ]; then
        not_ok "$name: run should be killed (137), exit $rc: $(cat "$T/err")"; return
    fi
    "$NX" -c "$CONF" status > "$T/status" 2>&1 || true
    check "$name: status shows the interrupted update" grep -q '^interrupted:  update ' "$T/status"
    rc=0; "$NX" -q -c "$CONF" recover 2>"$T/err" || rc=$?
    check "$name: recover exits 0 (got $rc)" test "$rc" = 0
    check "$name: completed steps undone exactly once, journal closed, lock free" verify_unwound "$name"
    touch "$T/fx/record.log"
    cp "$T/fx/record.log" "$T/record.before"
    rc=0; "$NX" -c "$CONF" recover > "$T/out" 2>&1 || rc=$?
    check "$name: second recover does nothing" \
        bash -c "test $rc = 0 && grep -q 'nothing to recover' '$T/out' && cmp -s '$T/record.before' '$T/fx/record.log'"
}

for i in $(seq 1 $N); do
    for point in before-run after-run checkpoint:1 checkpoint:2; do
        scenario "kill at s$i:$point" "s$i:$point:kill"
    done
    for point in before-undo after-undo; do
        scenario "kill at s$i:$point (s$N failed)" "s$N:after-run:fail,s$i:$point:kill"
    done
done

# Killed again during recover: a third process finishes the job.
reset
rc=0; NEXO_FAULT=s3:checkpoint:1:kill quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>/dev/null || rc=$?
check "kill during recover: first run killed" test "$rc" = 137
rc=0; NEXO_FAULT=s2:after-undo:kill quiet_kill "$NX" -q -c "$CONF" recover 2>/dev/null || rc=$?
check "kill during recover: recover killed" test "$rc" = 137
rc=0; "$NX" -q -c "$CONF" recover || rc=$?
check "kill during recover: next recover exits 0" test "$rc" = 0
check "kill during recover: everything undone exactly once" verify_unwound "kill during recover"

# A kill while finalizing (every step had succeeded): recover rolls forward.
reset
PIPE2="$T/p2.ini"
nx_pipeline "$PIPE2" $N
sed -i '0,/^\[s2\]/!b; /^\[s2\]/a kill = commit' "$PIPE2"
rc=0; quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$PIPE2" 2>/dev/null || rc=$?
check "kill while finalizing: killed" test "$rc" = 137
rc=0; "$NX" -q -c "$CONF" recover || rc=$?
check "kill while finalizing: recover exits 0" test "$rc" = 0
log="$T/fx/record.log"
check "kill while finalizing: rolled forward, nothing undone" \
    bash -c "! grep -q '^undo' '$log' && [ \$(grep -c '^commit' '$log') = 3 ]"
check "kill while finalizing: journal ends in success" \
    bash -c "tail -n1 \$(ls -t '$STATE'/journal/*.jnl | head -n1) | grep -q '\"outcome\":\"success\"'"
nx_finish
