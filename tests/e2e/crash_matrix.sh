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

# A journal without its begin record (empty, or a torn partial first line:
# left by an update killed while creating it, before this version created
# it atomically) is from before any step ran: recover closes it (moved
# aside as journal/unstarted-*.jnl, said in its output), exits 0, and the
# next update runs.
unstarted() { # unstarted NAME CONTENT (printf format)
    local name=$1 rc=0
    reset
    mkdir -p "$STATE/journal"
    chmod 700 "$STATE/journal"
    # shellcheck disable=SC2059
    printf "$2" > "$STATE/journal/current.jnl"
    chmod 600 "$STATE/journal/current.jnl"
    cp "$STATE/journal/current.jnl" "$T/unstarted.before"
    rc=0; "$NX" -c "$CONF" pipeline run "$PIPE" -y > "$T/out" 2>&1 || rc=$?
    check "$name: an update refuses while it waits (exit $rc)" \
        bash -c "test $rc = 1 && grep -q \"run 'nexo-update recover' first\" '$T/out'"
    check "$name: status says no step ran and recover closes it" \
        bash -c "'$NX' -c '$CONF' status 2>&1 | grep -q \"^interrupted:  an update stopped while creating its journal, before any step ran: 'nexo-update recover' closes it\""
    rc=0; "$NX" -c "$CONF" recover > "$T/out" 2>&1 || rc=$?
    check "$name: recover exits 0 (got $rc)" test "$rc" = 0
    [ "$rc" = 0 ] || sed 's/^/#   /' "$T/out" | head -n 5
    check "$name: recover says it closed a journal without a begin record" \
        grep -q 'no begin record' "$T/out"
    check "$name: the journal is closed, kept byte for byte as journal/unstarted-*.jnl" \
        bash -c "test ! -e '$STATE/journal/current.jnl' && cmp -s '$T/unstarted.before' \"\$(ls '$STATE'/journal/unstarted-*.jnl | head -n 1)\""
    check "$name: nothing was undone or committed" test ! -s "$T/fx/record.log"
    check "$name: lock free" flock -n "$STATE/lock" true
    rc=0; "$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>"$T/err" || rc=$?
    check "$name: the next update runs (exit $rc)" test "$rc" = 0
    check "$name: ... every step once, then committed" \
        bash -c "[ \$(grep -c '^run ' '$T/fx/record.log') = $N ] && [ \$(grep -c '^commit ' '$T/fx/record.log') = $N ]"
    rc=0; "$NX" -c "$CONF" recover > "$T/out" 2>&1 || rc=$?
    check "$name: then nothing to recover" \
        bash -c "test $rc = 0 && grep -q 'nothing to recover' '$T/out'"
}
unstarted "empty journal" ''
unstarted "journal with a torn first line" '{"seq":1,"t":1795596344847,"ev":"begin","id":"2026'

# A first record that is whole but no begin record is not a crash's trace:
# recover refuses it (exit 4) and leaves it where it is.
reset
mkdir -p "$STATE/journal"
printf '{"seq":2,"t":1795596344847,"ev":"step-start","step":0,"name":"s1"}\n' > "$STATE/journal/current.jnl"
rc=0; "$NX" -c "$CONF" recover > "$T/out" 2>&1 || rc=$?
check "intact first record that is not begin: recover exits 4 (got $rc), the journal stays" \
    bash -c "test $rc = 4 && grep -q 'does not start with a begin record' '$T/out' && test -s '$STATE/journal/current.jnl'"

# A torn later record (the kill cut the last write short) is cut off and
# the update recovered as before.
reset
rc=0; NEXO_FAULT=s2:checkpoint:1:kill quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$PIPE" 2>/dev/null || rc=$?
check "torn last record: run killed" test "$rc" = 137
printf '{"seq":99,"t":1795596344847,"ev":"sta' >> "$STATE/journal/current.jnl"
rc=0; "$NX" -q -c "$CONF" recover 2>"$T/err" || rc=$?
check "torn last record: recover exits 0 (got $rc)" test "$rc" = 0
check "torn last record: completed steps undone exactly once, journal closed, lock free" \
    verify_unwound "torn last record"
check "torn last record: the torn line was cut off" \
    bash -c "! grep -q '\"seq\":99' '$STATE'/journal/*.jnl"
nx_finish
