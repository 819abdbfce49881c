#!/usr/bin/env bash
# Logs, progress and -q (issue 7), on SQLite (args: PREFIX MODDIR):
#   - every update writes STATE/logs/<id>.log (0600, folder 0700) holding
#     every line it printed (stderr and stdout), each with a UTC time, its
#     level and its step; `history --id ID --log` prints it (exit 1 naming
#     the file when there is none);
#   - a failed update's log has the error, the undo lines and the outcome;
#     a killed update's log is continued by `recover` (appended);
#   - retention: a log without a backup of its update, older than
#     [backup] keep_days, is removed at the start of the next update;
#   - syslog: in a private mount namespace whose /dev/log is a socket this
#     test listens on (unshare + overlay; skipped, saying so, when that
#     cannot be set up), each line reaches syslog as LOG_USER with the
#     update id;
#   - progress: on a terminal (script -qc) a bar with rate and ETA; on a
#     pipe per-step lines with durations and plain progress lines;
#   - -q: an update prints nothing, a failed one only errors; the
#     reporting commands print only their report.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.1.0 1.2.0
NXC=("$NX" -c "$CONF")
LOGS="$T/state/logs"

# the newest update id in the history
last_id() { db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 1"; }

# in_log LOG OUT ERR: every line of stdout (OUT, level output) and stderr
# (ERR) is a line of LOG, after its time and level.
in_log() {
    python3 - "$@" <<'PY'
import re, sys
log, out, err = sys.argv[1:4]
pat = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warning|info|debug|output) (\[[^\]]+\]) (.*)$')
have = set()
for line in open(log, encoding='utf-8', errors='replace'):
    m = pat.match(line.rstrip('\n'))
    if not m:
        print('not a log line: %r' % line, file=sys.stderr); sys.exit(1)
    have.add((m.group(1), m.group(2) + ' ' + m.group(3)))
missing = 0
for line in open(out, encoding='utf-8', errors='replace'):
    line = line.rstrip('\n')
    if line and ('output', '[-] ' + line) not in have:
        print('stdout line not in the log: %r' % line, file=sys.stderr); missing += 1
for line in open(err, encoding='utf-8', errors='replace'):
    line = line.rstrip('\n')
    if not line:
        continue
    level = 'info'
    for tag, lv in (('error: ', 'error'), ('warning: ', 'warning'), ('debug: ', 'debug')):
        if line.startswith(tag):
            level, line = lv, line[len(tag):]
    if not re.match(r'^\[[^\]]+\] ', line):
        line = '[-] ' + line
    if (level, line) not in have:
        print('stderr line not in the log: %r' % line, file=sys.stderr); missing += 1
sys.exit(1 if missing else 0)
PY
}

# ---- a successful update (not a terminal): its log ------------------------------------
rc=0; "${NXC[@]}" -y core --to 1.1.0 > "$T/out" 2> "$T/err" || rc=$?
check "core --to 1.1.0: exit 0" [ "$rc" -eq 0 ]
ID=$(last_id)
LOG="$LOGS/$ID.log"
check "the update's log is STATE/logs/<id>.log" [ -f "$LOG" ]
check "... mode 0600, its folder 0700" \
    [ "$(stat -c %a "$LOG") $(stat -c %a "$LOGS")" = "600 700" ]
check "... every line the update printed (stdout and stderr) is in it, with time, level, step" \
    in_log "$LOG" "$T/out" "$T/err"
check "... from the offer (before the update id existed)" grep -q " output \[-\] core 1.0.0 -> 1.1.0$" "$LOG"
check "... to the outcome line" grep -q " info \[-\] update $ID (core 1.0.0 -> 1.1.0) succeeded in " "$LOG"
check "... and the steps' own lines, with their step" grep -q ' info \[verify\] signature verified' "$LOG"
check "... debug lines too (not shown without -v)" \
    bash -c "grep -q ' debug \[extract\] checkpoint 1: staged' '$LOG' && ! grep -q 'checkpoint 1: staged' '$T/err'"
check "... the update says where its log is" grep -q "log $LOG" "$T/err"
"${NXC[@]}" history --id "$ID" --log > "$T/hlog"
check "history --id ID --log prints it" cmp -s "$T/hlog" "$LOG"
rc=0; "${NXC[@]}" history --id "$ID" > "$T/hid" 2>&1 || rc=$?
check "history --id ID: that attempt, its log, its steps" \
    bash -c "[ $rc -eq 0 ] && grep -q '^update $ID' '$T/hid' && grep -q 'outcome:      success' '$T/hid' &&
             grep -q 'log:          $LOG' '$T/hid' && grep -Eq '^    replace +done +[0-9]+ ms' '$T/hid'"

# ---- per-step lines with durations, plain progress lines (not a terminal) ------------------
"${NXC[@]}" --json pipeline show core > "$T/show.json"
mapfile -t STEPS < <(jq -r '.steps[].name' "$T/show.json")
n=${#STEPS[@]} ok_lines=1
for i in "${!STEPS[@]}"; do
    s=${STEPS[$i]}
    grep -qF "[$s] running ($((i + 1))/$n)" "$T/err" || { echo "no running line of $s" >&2; ok_lines=0; }
    grep -Eq "^\[$s\] done in [0-9.]+ (ms|s)$" "$T/err" || { echo "no duration of $s" >&2; ok_lines=0; }
done
check "not a terminal: every step's line and its duration ($n steps)" [ "$ok_lines" -eq 1 ]
check "... progress as plain lines ending with time and rate" \
    grep -Eq '^\[extract\] extract 100% \(.* of .*\) in [0-9.]+ s, [0-9.]+ [KMG]?i?B/s$' "$T/err"
check "... no terminal bar" bash -c "! grep -q 'ETA' '$T/err' && ! grep -q $'\r' '$T/err'"

# ---- a failed update ------------------------------------------------------------------------
rc=0; NEXO_FAULT=replace:after-run:fail "${NXC[@]}" -y core --to 1.2.0 > "$T/out" 2> "$T/err" || rc=$?
check "a failing update: exit 3" [ "$rc" -eq 3 ]
FID=$(last_id)
FLOG="$LOGS/$FID.log"
check "... has its log too, 0600" [ "$(stat -c %a "$FLOG" 2>/dev/null)" = 600 ]
check "... with everything it printed" in_log "$FLOG" "$T/out" "$T/err"
check "... the error, with its step and level" grep -q " error \[replace\] NEXO_FAULT: injected failure at after-run$" "$FLOG"
check "... the undo of each step" \
    bash -c "grep -q ' info \[replace\] undone in ' '$FLOG' && grep -q ' info \[migrate\] undone in ' '$FLOG'"
check "... the outcome" grep -q " error \[-\] update $FID (core 1.1.0 -> 1.2.0) failed and was rolled back completely" "$FLOG"

# ---- killed, then recovered: recover appends to the same log -----------------------------------
rc=0; NEXO_FAULT=migrate:checkpoint:1:kill quiet_kill "${NXC[@]}" -y core --to 1.2.0 > "$T/out" 2> "$T/err" || rc=$?
check "a killed update: exit 137" [ "$rc" -eq 137 ]
KID=$(jq -r '.id' < <(head -n 1 "$T/state/journal/current.jnl"))
KLOG="$LOGS/$KID.log"
cp "$KLOG" "$T/killed.log"
check "... its log has the lines up to the kill" \
    bash -c "grep -q ' info \[migrate\] running ' '$KLOG' && ! grep -q 'recover' '$KLOG'"
rc=0; "${NXC[@]}" recover > "$T/rout" 2> "$T/rerr" || rc=$?
check "recover: exit 0" [ "$rc" -eq 0 ]
check "... appended to that log: the killed run's lines stay first" \
    bash -c "head -c \$(stat -c %s '$T/killed.log') '$KLOG' | cmp -s - '$T/killed.log'"
check "... then recover's own lines" \
    bash -c "tail -n +\$((\$(wc -l < '$T/killed.log') + 1)) '$KLOG' > '$T/rpart' && grep -q ' info \[-\] recover (pid ' '$T/rpart' &&
             grep -q ' info \[migrate\] undone in ' '$T/rpart' && grep -q ' info \[-\] update $KID: recovered' '$T/rpart'"
check "... every line recover printed is in it" in_log "$KLOG" "$T/rout" "$T/rerr"
check "... history --id shows the recovered attempt's steps" \
    bash -c "'$NX' -c '$CONF' history --id $KID | grep -Eq '^    migrate +interrupted .*undo done'"

# ---- no log ------------------------------------------------------------------------------------
rm -f "$FLOG"
rc=0; "${NXC[@]}" history --id "$FID" --log > "$T/out" 2> "$T/err" || rc=$?
check "history --id ID --log without a log: exit 1, naming the file" \
    bash -c "[ $rc -eq 1 ] && grep -q '$FLOG' '$T/err' && [ ! -s '$T/out' ]"
rc=0; "${NXC[@]}" history --id 20000101-000000-00000000 > "$T/out" 2> "$T/err" || rc=$?
check "history --id of an unknown update: exit 1" bash -c "[ $rc -eq 1 ] && grep -q 'no update 20000101-000000-00000000' '$T/err'"
rc=0; "${NXC[@]}" history --id nonsense > /dev/null 2>&1 || rc=$?
check "history --id with no update id: exit 2" [ "$rc" -eq 2 ]
rc=0; "${NXC[@]}" history --log > /dev/null 2>&1 || rc=$?
check "history --log without --id: exit 2" [ "$rc" -eq 2 ]

# ---- retention: the backups' keep_days -----------------------------------------------------------
printf '[backup]\nkeep_days = 5\n' >> "$CONF"
OLD=20200101-000000-0000dead     # no backup, 10 days old: removed
KEPT=20200101-000000-0000beef    # a backup of it is left: kept
NEW=20200101-000000-0000f00d     # no backup, but written an hour ago: kept
for i in $OLD $KEPT $NEW; do echo "a log" > "$LOGS/$i.log"; chmod 600 "$LOGS/$i.log"; done
touch -d '10 days ago' "$LOGS/$OLD.log" "$LOGS/$KEPT.log"
touch -d '1 hour ago' "$LOGS/$NEW.log"
mkdir -p "$T/backups/backup_${KEPT}_20200101T000000Z"
touch -d '10 days ago' "$LOGS/$ID.log"      # its backup is still there (the successful update)
nx_pipeline "$T/one.ini" 1
rc=0; "${NXC[@]}" -y pipeline run "$T/one.ini" > /dev/null 2> "$T/err" || rc=$?
check "an update (pipeline run): exit 0" [ "$rc" -eq 0 ]
check "... removed the old log without a backup" [ ! -e "$LOGS/$OLD.log" ]
check "... kept an old log whose update has a backup (also a real update's)" \
    bash -c "[ -e '$LOGS/$KEPT.log' ] && [ -e '$LOGS/$ID.log' ]"
check "... kept a log younger than keep_days" [ -e "$LOGS/$NEW.log" ]
check "... and wrote its own" [ "$(ls "$LOGS" | wc -l)" -ge 5 ]
rm -rf "$T/backups/backup_${KEPT}_20200101T000000Z"

# ---- syslog -------------------------------------------------------------------------------
# A private mount namespace: /dev is an overlay of the real one whose
# "log" is a datagram socket this test listens on.
cat > "$T/listen.py" <<'PY'
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(out + '.ready', 'w').close()
with open(out, 'ab') as f:
    while True:
        d = s.recv(65536)
        if d == b'QUIT':
            break
        f.write(d.rstrip(b'\n') + b'\n')
        f.flush()
PY
cat > "$T/syslog-run.sh" <<'SH'
set -e
T=$1; shift
mkdir -p "$T/ov/t" "$T/ov/dev"
mount -t tmpfs tmpfs "$T/ov/t"
mkdir "$T/ov/t/up" "$T/ov/t/wk"
mount -t overlay overlay -o "lowerdir=/dev,upperdir=$T/ov/t/up,workdir=$T/ov/t/wk" "$T/ov/dev"
mount --bind "$T/ov/dev" /dev
python3 "$T/listen.py" /dev/log "$T/syslog.txt" &
for i in $(seq 100); do [ -e "$T/syslog.txt.ready" ] && break; sleep 0.05; done
[ -e "$T/syslog.txt.ready" ] || exit 77
rc=0; "$@" > "$T/out" 2> "$T/err" || rc=$?
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"QUIT", "/dev/log")'
wait
exit $rc
SH
rc=0
if command -v unshare > /dev/null && [ "$(id -u)" = 0 ]; then
    NEXO_FAULT=replace:after-run:fail unshare -m --propagation private \
        bash "$T/syslog-run.sh" "$T" "${NXC[@]}" -y core --to 1.2.0 2> "$T/unshare.err" || rc=$?
else
    rc=77
fi
if [ "$rc" -ne 3 ] || [ ! -s "$T/syslog.txt" ]; then
    echo "# SKIP syslog: no private /dev/log could be set up (unshare/mount as root; exit $rc: $(head -c 200 "$T/unshare.err" 2>/dev/null))"
else
    SID=$(last_id)
    check "syslog: a line per log line, tagged nexo-update[pid], naming the update" \
        grep -Eq "^<14>.* nexo-update\[[0-9]+\]: update $SID: \[verify\] signature verified" "$T/syslog.txt"
    check "... LOG_USER|LOG_ERR for errors" \
        grep -Eq "^<11>.* nexo-update\[[0-9]+\]: update $SID: \[replace\] NEXO_FAULT: injected failure at after-run" "$T/syslog.txt"
    check "... the offer printed before the update id existed" \
        grep -Eq "^<14>.* nexo-update\[[0-9]+\]: update $SID: core 1.1.0 -> 1.2.0$" "$T/syslog.txt"
    check "... the outcome line" grep -q "update $SID: update $SID (core 1.1.0 -> 1.2.0) failed and was rolled back" "$T/syslog.txt"
    check "... no debug lines" bash -c "! grep -q 'checkpoint 1: staged' '$T/syslog.txt'"
    check "... as many lines as the log has but debug" \
        [ "$(grep -c "update $SID: " "$T/syslog.txt")" -eq "$(grep -vc ' debug \[' "$LOGS/$SID.log")" ]
fi

# ---- progress on a terminal ------------------------------------------------------------------
if command -v script > /dev/null; then
    rc=0; script -qec "$NX -c $CONF -y core --to 1.2.0" /dev/null > "$T/tty" 2>&1 || rc=$?
    check "on a terminal (script): exit 0" [ "$rc" -eq 0 ]
    check "... a bar with bytes, rate and ETA (extract)" \
        grep -aEq '\[extract\] extract \[[#.]{30}\] +[0-9]+% [0-9.]+ [KMG]?i?B / [0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B/s +ETA [0-9]+:[0-9][0-9]' "$T/tty"
    check "... and for the backup" grep -aEq '\[backup\] backup \[[#.]{30}\] +100% .*/s +ETA 0:00' "$T/tty"
    check "... items counted for the migrations" grep -aEq '\[migrate\] migration files \[[#.]{30}\] +100% 1 / 1 ' "$T/tty"
    check "... redrawn in place (carriage return)" grep -aq $'\r\\[extract\\] extract \\[' "$T/tty"
    check "... step lines still there, with durations" grep -aEq '\[replace\] done in [0-9.]+ (ms|s)' "$T/tty"
    check "... the log has plain progress lines, not the bar" \
        bash -c "f=\$(ls -t '$LOGS' | head -1); grep -q ' info \[extract\] extract 100% (' '$LOGS/'\$f && ! grep -q 'ETA' '$LOGS/'\$f"
    "${NXC[@]}" -q -y rollback > /dev/null 2>&1
else
    echo "# SKIP progress on a terminal: script (util-linux) is not installed"
fi

# ---- -q ------------------------------------------------------------------------------------
rc=0; "${NXC[@]}" -q -y core --to 1.2.0 > "$T/out" 2> "$T/err" || rc=$?
check "-q core: exit 0, prints nothing at all" bash -c "[ $rc -eq 0 ] && [ ! -s '$T/out' ] && [ ! -s '$T/err' ]"
QID=$(last_id)
check "... its log has everything" \
    bash -c "grep -q ' output \[-\] core 1.1.0 -> 1.2.0' '$LOGS/$QID.log' && grep -q 'succeeded in' '$LOGS/$QID.log'"
rc=0; NEXO_FAULT=replace:after-run:fail "${NXC[@]}" -q -y rollback > "$T/out" 2> "$T/err" || rc=$?
check "-q a failing rollback: exit 3, only error lines" \
    bash -c "[ $rc -eq 3 ] && [ ! -s '$T/out' ] && [ -s '$T/err' ] && ! grep -v '^error: ' '$T/err'"
for cmd in "check" "list" "status" "history" "verify core" "backups list" "pipeline show core" "history --id $QID"; do
    rc=0; "${NXC[@]}" -q $cmd > "$T/out" 2> "$T/err" || rc=$?
    check "-q $cmd: its report on stdout, nothing on stderr (exit $rc)" \
        bash -c "[ $rc -eq 0 ] && [ -s '$T/out' ] && [ ! -s '$T/err' ]"
done
rc=0; "${NXC[@]}" -q -y update-db > "$T/out" 2> "$T/err" || rc=$?
check "-q update-db with nothing to do: exit 0, silent" bash -c "[ $rc -eq 0 ] && [ ! -s '$T/out' ] && [ ! -s '$T/err' ]"
rc=0; "${NXC[@]}" -q -y core > "$T/out" 2> "$T/err" || rc=$?
check "-q core when up to date: exit 0, silent" bash -c "[ $rc -eq 0 ] && [ ! -s '$T/out' ] && [ ! -s '$T/err' ]"
rc=0; "${NXC[@]}" -q -y all > "$T/out" 2> "$T/err" || rc=$?
check "-q all when up to date: exit 0, silent" bash -c "[ $rc -eq 0 ] && [ ! -s '$T/out' ] && [ ! -s '$T/err' ]"
rc=0; "${NXC[@]}" -q -y core --to 9.9.9 > "$T/out" 2> "$T/err" || rc=$?
check "-q core --to 9.9.9: exit 1, only the error" \
    bash -c "[ $rc -eq 1 ] && [ -s '$T/err' ] && ! grep -v '^error: ' '$T/err'"

nx_finish
