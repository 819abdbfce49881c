#!/usr/bin/env bash
# nexo-update schedule (issue 7, contracts §2) on SQLite (args: PREFIX
# MODDIR), with real time (waits for the next minute once):
#   - --at in the past, a bad time (naming the format), a bad command:
#     refused (exit 2), nothing recorded;
#   - jobs are STATE/schedule/<id>.json, 0600, folder 0700; list (text,
#     --json checked with jq), cancel (only a pending job);
#   - run-due runs a due job, once, as -y, and records its outcome; a job
#     in the near future is not run early; a failing job is recorded as
#     failed; exit: the worst exit code;
#   - a job whose run-due was killed is `interrupted`, never run again;
#   - the shipped systemd units pass `systemd-analyze verify` (when
#     systemd-analyze is installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.0.1 1.1.0
NXC=("$NX" -c "$CONF")
SD="$T/state/schedule"
jqc() { jq -e "$1" "$2" > /dev/null; }
ver() { echo "$(site_version_disk) $(site_version_db)"; }
at() { date -d "@$1" '+%Y-%m-%d %H:%M'; }          # local time of an epoch
minute() { echo $(( ($(date +%s) / 60 + ${1:-1}) * 60 )); }  # start of the minute N ahead
# wait_past EPOCH: until that second has passed
wait_past() { while [ "$(date +%s)" -le "$1" ]; do sleep 1; done; }
# leave at least 8 seconds of the current minute (a job for the next minute
# must not come due before the first run-due)
fresh_minute() { while [ $(( $(date +%s) % 60 )) -ge 52 ]; do sleep 1; done; }
nxrc() { rc=0; "${NXC[@]}" "$@" < /dev/null > "$T/out" 2> "$T/err" || rc=$?; }
id_of() { jq -r .id "$T/out"; }

# ---- refused at --at time ---------------------------------------------------------
past=$(at $(( $(date +%s) - 120 )))
nxrc schedule --at "$past" core
check "--at in the past ($past): exit 2, says so" \
    bash -c "[ $rc -eq 2 ] && grep -q 'is not in the future' '$T/err'"
year=$(( $(date +%Y) + 1 ))
for bad in tomorrow "$year-12-01" "$year-12-01 3:00" "$year-13-01 03:00" "$year-02-30 03:00" \
           "$year-12-01 24:00" "$year-12-01T03:00"; do
    nxrc schedule --at "$bad" core
    check "--at '$bad': exit 2, naming the format" \
        bash -c "[ $rc -eq 2 ] && grep -q 'is not a time YYYY-MM-DD HH:MM' '$T/err'"
done
for cmd in "frob" "plugin" "plugin Bad/Slug" "core --to x.y" "all --to 1.0.1" "core --force" ""; do
    # shellcheck disable=SC2086
    nxrc schedule --at "$year-12-01 03:00" $cmd
    check "command '$cmd': exit 2" [ "$rc" -eq 2 ]
done
check "... nothing recorded" bash -c "! ls '$SD'/*.json > /dev/null 2>&1"
nxrc schedule cancel ../x
check "cancel with a bad id: exit 2" [ "$rc" -eq 2 ]
nxrc schedule cancel 0123abcd
check "cancel of an unknown job: exit 1" [ "$rc" -eq 1 ]
nxrc schedule list
check "list without jobs: exit 0, says so" bash -c "[ $rc -eq 0 ] && grep -q 'no scheduled jobs' '$T/out'"

# ---- jobs ---------------------------------------------------------------------------
fresh_minute
A=$(minute 1)
nxrc --json schedule --at "$(at "$A")" core --to 1.0.1
check "job A (core --to 1.0.1, next minute) recorded: exit 0" [ "$rc" -eq 0 ]
IDA=$(id_of)
nxrc --json schedule --at "$(at "$(minute 10)")" core
IDB=$(id_of)
nxrc --json schedule --at "$(at "$A")" plugin nosuch
IDC=$(id_of)
nxrc schedule --at "$year-06-01 02:30" all
check "job D (all) recorded: text output names its id" \
    bash -c "[ $rc -eq 0 ] && grep -q '^scheduled [0-9a-f]\{8\}: all at $year-06-01 02:30' '$T/out'"
IDD=$(sed -n 's/^scheduled \([0-9a-f]*\):.*/\1/p' "$T/out")
check "four job files, 0600, in a 0700 folder" \
    bash -c "[ \$(ls '$SD'/*.json | wc -l) = 4 ] && [ \$(stat -c %a '$SD') = 700 ] &&
             [ \"\$(stat -c %a '$SD'/*.json | sort -u)\" = 600 ]"
nxrc --json schedule list
check "list --json: four jobs, by time, pending" \
    jqc "(.jobs | length) == 4 and [.jobs[].status] == [\"pending\",\"pending\",\"pending\",\"pending\"] and
         (.jobs | map(.at_epoch) | . == sort) and .dir == \"$SD\"" "$T/out"
check "... job A: command, at, at_epoch, at_utc, created_at" \
    jqc ".jobs[] | select(.id == \"$IDA\") | .command == [\"core\",\"--to\",\"1.0.1\"] and
         .command_line == \"core --to 1.0.1\" and .at == \"$(at "$A")\" and .at_epoch == $A and
         (.at_utc | test(\"^[0-9-]{10}T[0-9:]{8}Z$\")) and (.created_at | test(\"Z$\"))" "$T/out"
check "... job C: plugin nosuch; job D: all" \
    jqc ".jobs | map({(.id): .command}) | add | .[\"$IDC\"] == [\"plugin\",\"nosuch\"] and .[\"$IDD\"] == [\"all\"]" "$T/out"
nxrc schedule list
check "list (text): a row per job" \
    bash -c "[ \$(grep -c -E '^($IDA|$IDB|$IDC|$IDD) .*pending' '$T/out') = 4 ]"
nxrc schedule cancel "$IDD"
check "cancel D: exit 0" [ "$rc" -eq 0 ]
check "... D is cancelled" jqc '.status == "cancelled" and (.cancelled_at | test("Z$"))' "$SD/$IDD.json"
nxrc schedule cancel "$IDD"
check "cancel D again: exit 1, it is not pending" \
    bash -c "[ $rc -eq 1 ] && grep -q 'is cancelled, not pending' '$T/err'"

# ---- run-due --------------------------------------------------------------------------
nxrc schedule run-due
check "run-due before A's time: exit 0, no job is due" \
    bash -c "[ $rc -eq 0 ] && grep -q 'no job is due' '$T/out'"
check "... A not run early: still pending, the site at 1.0.0" \
    bash -c "jq -e '.status == \"pending\"' '$SD/$IDA.json' > /dev/null && [ '$(ver)' = '1.0.0 1.0.0' ]"
wait_past "$A"
nxrc --json schedule run-due
check "run-due at A's time: runs A and C, exit 1 (C's)" [ "$rc" -eq 1 ]
check "... --json: ran A (success, 0) then C (refused, 1); exit 1" \
    jqc "[.ran[] | \"\(.id) \(.outcome) \(.exit)\"] == [\"$IDA success 0\", \"$IDC refused 1\"] and .exit == 1" "$T/out"
check "... A installed core 1.0.1" [ "$(ver)" = "1.0.1 1.0.1" ]
check "... A's file: done, exit 0, started and finished" \
    jqc '.status == "done" and .exit == 0 and .outcome == "success" and (.started_at | test("Z$")) and (.finished_at | test("Z$"))' "$SD/$IDA.json"
check "... C's file: failed, exit 1" jqc '.status == "failed" and .exit == 1' "$SD/$IDC.json"
check "... B and D untouched" \
    bash -c "jq -e '.status == \"pending\"' '$SD/$IDB.json' > /dev/null && jq -e '.status == \"cancelled\"' '$SD/$IDD.json' > /dev/null"
check "... nothing left behind" site_clean
h=$(db_sql "SELECT COUNT(*) FROM update_history")
nxrc schedule run-due
check "run-due again: nothing runs twice" \
    bash -c "[ $rc -eq 0 ] && grep -q 'no job is due' '$T/out' && [ \$(echo \"SELECT COUNT(*) FROM update_history\" | sqlite3 '$DBPATH') = $h ]"
nxrc schedule cancel "$IDA"
check "cancel of a job that ran: exit 1" [ "$rc" -eq 1 ]
nxrc schedule list
check "list (text) shows the results" \
    bash -c "grep -q \"^$IDA .*done .*success, exit 0\" '$T/out' && grep -q \"^$IDC .*failed .*refused, exit 1\" '$T/out' &&
             grep -q \"^$IDD .*cancelled\" '$T/out'"

# ---- a run-due killed in the middle of a job ------------------------------------------
# A above showed a job coming due at its time; E is made due at once (its
# at_epoch in its file moved a second into the past, the file rewritten in
# place, 0600 kept) instead of waiting for another minute.
E=$(minute 2)
nxrc --json schedule --at "$(at "$E")" core --to 1.1.0
IDE=$(id_of)
jq --argjson t $(( $(date +%s) - 1 )) '.at_epoch = $t' "$SD/$IDE.json" > "$T/job.json"
cat "$T/job.json" > "$SD/$IDE.json"
rc=0; NEXO_FAULT=replace:after-run:kill quiet_kill "${NXC[@]}" schedule run-due > "$T/out" 2>&1 || rc=$?
check "run-due killed while E runs (exit 137)" [ "$rc" -eq 137 ]
check "... E is running in its file" jqc '.status == "running"' "$SD/$IDE.json"
"${NXC[@]}" -q recover > /dev/null 2>&1 || true
check "... recover put the site back at 1.0.1" [ "$(ver)" = "1.0.1 1.0.1" ]
nxrc --json schedule run-due
check "the next run-due marks E interrupted and does not run it again: exit 0" \
    bash -c "[ $rc -eq 0 ] && jq -e '.ran == []' '$T/out' > /dev/null && grep -q 'interrupted' '$T/err' &&
             jq -e '.status == \"interrupted\"' '$SD/$IDE.json' > /dev/null && [ '$(ver)' = '1.0.1 1.0.1' ]"
nxrc schedule cancel "$IDE"
check "... and it cannot be cancelled" [ "$rc" -eq 1 ]
check "nothing left behind" site_clean

# ---- the systemd units -----------------------------------------------------------------
UNITS="$PREFIX/share/nexo-update/systemd"
check "four units installed" \
    bash -c "ls '$UNITS'/nexo-update-{check,schedule}.{service,timer} > /dev/null"
check "... they run the installed program" \
    bash -c "grep -q '^ExecStart=$NX check --notify --apply-auto\$' '$UNITS/nexo-update-check.service' &&
             grep -q '^ExecStart=$NX schedule run-due\$' '$UNITS/nexo-update-schedule.service'"
check "... and may write the prefix's state and backups" \
    bash -c "grep -q '^ReadWritePaths=.*$PREFIX/var/lib/nexo-update .*$PREFIX/var/backups/nexo-update' '$UNITS/nexo-update-check.service'"
check "... the check timer: daily time, randomized delay, persistent" \
    bash -c "grep -q '^OnCalendar=' '$UNITS/nexo-update-check.timer' && grep -q '^RandomizedDelaySec=' '$UNITS/nexo-update-check.timer' &&
             grep -q '^Persistent=true' '$UNITS/nexo-update-check.timer'"
if command -v systemd-analyze > /dev/null 2>&1; then
    rc=0; (cd "$UNITS" && systemd-analyze verify ./*.service ./*.timer) > "$T/out" 2>&1 || rc=$?
    check "systemd-analyze verify: exit 0, no complaint" bash -c "[ $rc -eq 0 ] && [ ! -s '$T/out' ]" || cat "$T/out"
else
    echo "# SKIP: systemd-analyze is not installed: the units were not verified"
fi
nx_finish
