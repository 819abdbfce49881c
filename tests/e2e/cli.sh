#!/usr/bin/env bash
# The nexo-update command line on the installed binary: help, version,
# exit codes, confirmation, the lock, fail-closed loading, dry run,
# pipeline show/validate, status. Usage: cli.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
STATE="$T/state"
PIPE="$T/p.ini"
nx_pipeline "$PIPE" 3
reset() { rm -rf "$T/fx" "$STATE"; mkdir -p "$T/fx"; : > "$T/fx/record.log"; }
rc_of() { local rc=0; "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?; echo "$rc"; }

# --version, --help, and --help of every command.
check "--version" bash -c "'$NX' --version | grep -q '^nexo-update [0-9]'"
check "--help lists commands" bash -c "'$NX' --help | grep -q 'recover'"
for cmd in check list core plugin all update-db install rollback recover history status verify \
           backups pipeline schedule serve; do
    check "$cmd --help" bash -c "'$NX' $cmd --help | grep -q '^Usage: nexo-update .*$cmd'"
done
check "help status" bash -c "'$NX' help status | grep -q '^Usage: nexo-update .*status'"
check "no command: usage, exit 2" test "$(rc_of "$NX")" = 2
check "unknown command: exit 2" test "$(rc_of "$NX" frobnicate)" = 2
check "plugin:SLUG is the plugin command" bash -c "'$NX' plugin:foo --help | grep -q 'plugin SLUG'"
for cmd in serve; do
    # shellcheck disable=SC2086
    rc=$(rc_of "$NX" -c "$CONF" $cmd)
    check "$cmd: not available yet, exit 1 (got $rc)" \
        bash -c "test $rc = 1 && grep -q 'not available yet' '$T/err'"
done

# The installed program's defaults point into its install prefix.
check "default config is in the prefix" \
    bash -c "env -u NEXO_UPDATE_CONFIG '$NX' --help | grep -q '$PREFIX/etc/nexo-update/nexo-update.ini'"
check "without -c: the installed config and default pipelines" \
    bash -c "env -u NEXO_UPDATE_CONFIG '$NX' pipeline show core 2>&1 | grep -qF \"pipeline 'core' ($PREFIX/etc/nexo-update/pipelines/core.ini)\""
check "the installed config's paths are in the prefix" \
    grep -qx "modules = $PREFIX/lib/nexo-update" "$PREFIX/etc/nexo-update/nexo-update.ini"

# Bad NEXO_FAULT is a usage error naming the spec.
rc=$(NEXO_FAULT=s1:sideways:kill rc_of "$NX" -c "$CONF" status)
check "bad NEXO_FAULT: exit 2 with message" bash -c "test $rc = 2 && grep -q \"unknown point 'sideways'\" '$T/err'"

# Missing or broken config.
rc=$(rc_of "$NX" -c "$T/nope.ini" status)
check "missing config: exit 1 naming it" bash -c "test $rc = 1 && grep -q 'nope.ini' '$T/err'"
printf '[site]\nroot = x\n[paths]\nstat = y\n' > "$T/bad.ini"
rc=$(rc_of "$NX" -c "$T/bad.ini" status)
check "unknown config key: exit 1 with file:line" bash -c "test $rc = 1 && grep -q 'bad.ini:4: unknown key .stat. in \[paths\]' '$T/err'"
check "NEXO_UPDATE_CONFIG is used" bash -c "NEXO_UPDATE_CONFIG='$CONF' '$NX' status | grep -q 'site root:    $T/site'"

# Confirmation: stdin not a terminal and no -y: refused with exit 2.
reset
rc=$(rc_of "$NX" -c "$CONF" pipeline run "$PIPE")
check "no -y without a terminal: exit 2, nothing ran" \
    bash -c "test $rc = 2 && grep -q 'give -y' '$T/err' && ! test -s '$T/fx/record.log'"

# Success, failure with rollback (3), failure in prechecks only (1).
reset
check "success: exit 0" test "$(rc_of "$NX" -c "$CONF" -y pipeline run "$PIPE")" = 0
check "success: three runs and three commits" test "$(grep -c -E '^(run|commit) ' "$T/fx/record.log")" = 6
reset
rc=$(NEXO_FAULT=s2:after-run:fail rc_of "$NX" -c "$CONF" -y pipeline run "$PIPE")
check "failure after changes: exit 3" test "$rc" = 3
check "failure: s2 and s1 undone in that order" \
    bash -c "grep '^undo' '$T/fx/record.log' | tr '\n' ' ' | grep -qx 'undo s2 undo s1 '"
check "failure: outcome line says rolled back" grep -q 'rolled back completely' "$T/err"
check "failure: the error names the step" grep -q '^error: \[s2\] NEXO_FAULT' "$T/err"
PRE="$T/pre.ini"
printf '[c1]\nmodule = %s/fake_check.so\ndir = %s/fx\n[c2]\nmodule = %s/fake_check.so\ndir = %s/fx\nfail = run\n[s3]\nmodule = %s/fake_step.so\ndir = %s/fx\n' \
    "$MODS" "$T" "$MODS" "$T" "$MODS" "$T" > "$PRE"
reset
check "failure in precheck steps: exit 1" test "$(rc_of "$NX" -c "$CONF" -y pipeline run "$PRE")" = 1

# Undo fails: exit 4, journal kept, status shows it; recover finishes.
reset
rc=$(NEXO_FAULT=s3:after-run:fail,s2:before-undo:fail rc_of "$NX" -c "$CONF" -y pipeline run "$PIPE")
check "undo failure: exit 4" test "$rc" = 4
check "undo failure: says to run recover" grep -q "run 'nexo-update recover'" "$T/err"
check "undo failure: s1 not undone before s2 is" bash -c "! grep -q '^undo s1' '$T/fx/record.log'"
"$NX" -c "$CONF" status > "$T/status"
check "undo failure: status shows the update rolling back" \
    bash -c "grep -q 'rolling back' '$T/status' && grep -q 's2 *undo failed' '$T/status' && grep -q 'will undo: s2 s1' '$T/status'"
rc=$(rc_of "$NX" -c "$CONF" -y pipeline run "$PIPE")
check "a new update refuses while one is interrupted: exit 1" \
    bash -c "test $rc = 1 && grep -q 'recover' '$T/err'"
check "recover finishes: exit 0" test "$(rc_of "$NX" -c "$CONF" recover)" = 0
check "recover undid s2 then s1" \
    bash -c "grep '^undo' '$T/fx/record.log' | tr '\n' ' ' | grep -qx 'undo s3 undo s2 recovering undo s1 recovering '"

# The lock: a second update exits 5; status names the holder.
reset
SLOW="$T/slow.ini"
nx_pipeline "$SLOW" 1 "sleep_ms = 3000"
"$NX" -q -c "$CONF" -y pipeline run "$SLOW" &
holder=$!
for _ in $(seq 1 50); do grep -q '^run s1' "$T/fx/record.log" && break; sleep 0.1; done
rc=$(rc_of "$NX" -c "$CONF" -y pipeline run "$PIPE")
check "second update: exit 5" test "$rc" = 5
check "second update: names the holder's pid" grep -q "pid $holder" "$T/err"
"$NX" -c "$CONF" status > "$T/status"
check "status names the lock holder pid and update id" \
    grep -q -E "^lock: +held by pid $holder, update [0-9]{8}-[0-9]{6}-[0-9a-f]{8}$" "$T/status"
check "status shows the update as running, not interrupted" \
    bash -c "grep -q '^running: ' '$T/status' && ! grep -q '^interrupted: ' '$T/status'"
"$NX" -c "$CONF" --json status > "$T/status.json"
check "status --json: lock held by the holder" \
    bash -c "jq -e '.lock.held == true and .lock.pid == $holder' '$T/status.json' > /dev/null"
check "recover while an update runs: exit 5" test "$(rc_of "$NX" -c "$CONF" recover)" = 5
wait "$holder"
check "lock free after the update" bash -c "'$NX' -c '$CONF' status | grep -q '^lock: *free'"

# SIGTERM / SIGINT during an update: it is unwound like a failure.
for sig in TERM INT; do
    reset
    SIG="$T/sig.ini"
    nx_pipeline "$SIG" 3
    sed -i '/^\[s2\]/a sleep_ms = 2000' "$SIG"
    "$NX" -q -c "$CONF" -y pipeline run "$SIG" 2> "$T/err" &
    pid=$!
    for _ in $(seq 1 50); do grep -q '^run s2' "$T/fx/record.log" && break; sleep 0.1; done
    kill -s "$sig" "$pid"
    rc=0; wait "$pid" || rc=$?
    check "SIG$sig during an update: exit 3, s2 and s1 undone, s3 never ran" \
        bash -c "test $rc = 3 && grep '^undo' '$T/fx/record.log' | tr '\n' ' ' | grep -qx 'undo s2 undo s1 ' && ! grep -q 's3' '$T/fx/record.log'"
    check "SIG$sig: the error names the signal" grep -q 'interrupted by signal' "$T/err"
done

# Fail closed: a broken module anywhere means no step runs.
reset
cp "$PIPE" "$T/broken.ini"
printf '[s4]\nmodule = %s/bad_abi.so\n' "$MODS" >> "$T/broken.ini"
rc=$(rc_of "$NX" -c "$CONF" -y pipeline run "$T/broken.ini")
check "broken 4th module: exit 1, no step ran" \
    bash -c "test $rc = 1 && ! test -s '$T/fx/record.log' && grep -q 'broken.ini:13: step \[s4\]: .*bad_abi.so: is not binary compatible' '$T/err'"
chmod 777 "$T/fx"
cp "$MODS/fake_step.so" "$T/fx/fake_step.so"; chmod 666 "$T/fx/fake_step.so"
printf '[w]\nmodule = %s/fx/fake_step.so\ndir = %s/fx\n' "$T" "$T" > "$T/ww.ini"
rc=$(rc_of "$NX" -c "$CONF" -y pipeline run "$T/ww.ini")
check "world-writable module: refused naming the file" \
    bash -c "test $rc = 1 && grep -q '$T/fx/fake_step.so.*writable' '$T/err'"
chmod 755 "$T/fx"; rm -f "$T/fx/fake_step.so"

# A world-writable pipeline file or configuration is refused: it names code to run.
cp "$PIPE" "$T/ww-pipe.ini"; chmod 666 "$T/ww-pipe.ini"
rc=$(rc_of "$NX" -c "$CONF" -y pipeline run "$T/ww-pipe.ini")
check "world-writable pipeline: refused naming it" \
    bash -c "test $rc = 1 && grep -q 'ww-pipe.ini.*world-writable' '$T/err'"
cp "$CONF" "$T/ww-conf.ini"; chmod 666 "$T/ww-conf.ini"
rc=$(rc_of "$NX" -c "$T/ww-conf.ini" status)
check "world-writable configuration: refused naming it" \
    bash -c "test $rc = 1 && grep -q 'ww-conf.ini.*world-writable' '$T/err'"

# Dry run: validates and plans, changes nothing; its journal is closed
# (archived, outcome planned), none is left waiting.
reset
rc=$(rc_of "$NX" -c "$CONF" -n pipeline run "$PIPE")
check "dry run: exit 0, nothing ran, no journal waiting, its own says planned" \
    bash -c "test $rc = 0 && ! test -s '$T/fx/record.log' && ! test -e '$STATE/journal/current.jnl' && grep -q 'would create' '$T/err' && tail -1 '$STATE'/journal/*.jnl | grep -q '\"outcome\":\"planned\"'"

# pipeline validate / show.
check "validate: a good file" test "$(rc_of "$NX" -c "$CONF" pipeline validate "$PIPE")" = 0
printf '[pipeline]\nname = x\n[a]\nmodule = %s/fake_step.so\ndir = %s\ncolour = blue\n' "$MODS" "$T" > "$T/v.ini"
rc=$(rc_of "$NX" -c "$CONF" pipeline validate "$T/v.ini")
check "validate: undeclared setting, file:line" \
    bash -c "test $rc = 1 && grep -q 'v.ini:6: step \[a\]: module .fake_step. has no setting .colour.' '$T/err'"
printf '[a]\nmodule = %s/fake_step.so\n' "$MODS" > "$T/v2.ini"
rc=$(rc_of "$NX" -c "$CONF" pipeline validate "$T/v2.ini")
check "validate: missing required setting, file:line" \
    bash -c "test $rc = 1 && grep -q 'v2.ini:1: step \[a\]: module .fake_step. requires the setting .dir.' '$T/err'"
printf '[a]\nmodule = %s/fake_step.so\ndir = %s/none\n' "$MODS" "$T" > "$T/v3.ini"
rc=$(rc_of "$NX" -c "$CONF" pipeline validate "$T/v3.ini")
check "validate: the step's own validation runs" \
    bash -c "test $rc = 1 && grep -q '\[a\] dir .*none is not a writable folder' '$T/err'"
"$NX" -c "$CONF" pipeline show "$PIPE" > "$T/show" 2>&1
check "show: steps with module file and version" \
    bash -c "grep -q '^ 1. \[s1\] .*fake_step.so 1.0.0' '$T/show' && grep -q 'checkpoints = 0' '$T/show'"
"$NX" -c "$CONF" --json pipeline show "$PIPE" > "$T/show.json"
check "show --json" bash -c "jq -e '.steps | length == 3 and .[0].version == \"1.0.0\"' '$T/show.json' >/dev/null"
mkdir -p "$T/pipelines"; cp "$PREFIX/etc/nexo-update/pipelines/core.ini" "$T/pipelines/"
rc=$(rc_of "$NX" -c "$CONF" pipeline show core)
check "show core: every module of the default pipeline loads (exit $rc)" test "$rc" = 0
check "show core: the default pipeline's steps in contract order" \
    bash -c "grep -oE '^ *[0-9]+\. \[[a-z-]+\] [a-z_]+' '$T/out' | awk '{print \$3}' | tr '\n' ' ' | grep -qx 'health_check notify download verify extract hooks maintenance backup hooks migrate replace_files hooks register_version cache_clear maintenance notify '"
# status with a missing site root: exit 1 naming the path (issue 12, item 5).
printf '[site]\nroot = %s/no-site\n[paths]\nstate = %s/state\nmodules = %s/lib/nexo-update\n' \
    "$T" "$T" "$PREFIX" > "$T/noroot.ini"
rc=$(rc_of "$NX" -c "$T/noroot.ini" status)
check "status, site root missing: exit 1 (got $rc)" test "$rc" = 1
check "... naming the path and the setting" grep -q "$T/no-site: the site root (\[site\] root in .*noroot.ini) cannot be read" "$T/err"
check "... the rest is still shown" grep -q "^lock: *free" "$T/out"
rc=$(rc_of "$NX" -c "$T/noroot.ini" --json status)
check "status --json, site root missing: exit 1, error and exit in the document" \
    bash -c "test $rc = 1 && jq -e '.exit == 1 and (.error | contains(\"$T/no-site\")) and .lock.held == false' '$T/out' > /dev/null"
mkdir -p "$T/site"
check "status with the site root there: exit 0" test "$(rc_of "$NX" -c "$CONF" status)" = 0

# Every command's --help names the global options it honours (--json where it
# prints a document).
for cmd in check list core plugin all update-db install rollback recover history status verify \
           backups pipeline schedule; do
    check "$cmd --help names -c and --json among its global options" \
        bash -c "'$NX' $cmd --help | grep -q '^Global options: -c FILE, --json'"
done
for cmd in core plugin all update-db install rollback; do
    check "$cmd --help names -y and -n" \
        bash -c "'$NX' $cmd --help | grep '^Global options:' | grep -q -- '-y, -n'"
done
check "status --help says what --json prints" \
    bash -c "'$NX' status --help | grep -q -- '^--json: {config, root'"

# nexo-release pack --help tells what a second pack of the same version does.
"$PREFIX/bin/nexo-release" pack --help > "$T/packhelp"
check "pack --help: the same version again is refused without --force" \
    bash -c "tr '\n' ' ' < '$T/packhelp' | grep -q 'is refused unless --force'"
check "pack --help does not say a release simply replaces one of the same version" \
    bash -c "! tr '\n' ' ' < '$T/packhelp' | grep -q 'The release replaces the one of the same'"
# pipeline validate by name ([paths] pipelines) and the shipped pipelines
# validate with no update running (no component, no versions, no backup).
mkdir -p "$T/pipelines" "$T/site"
cp "$PREFIX/etc/nexo-update/pipelines/"*.ini "$T/pipelines/"
printf '[database]\ndriver = sqlite\npath = %s/v.db\n' "$T" >> "$CONF"
for p in core plugin db install rollback; do
    rc=$(rc_of "$NX" -c "$CONF" pipeline validate "$T/pipelines/$p.ini")
    check "validate the shipped $p.ini: exit 0 (got $rc: $(head -c 200 "$T/err"))" test "$rc" = 0
done
rc=$(rc_of "$NX" -c "$CONF" pipeline validate core)
check "validate core (by name): exit 0 (got $rc)" test "$rc" = 0
check "... names the file it found in [paths] pipelines" \
    grep -qF "$T/pipelines/core.ini: valid pipeline 'core'" "$T/out"
rc=$(rc_of "$NX" -c "$CONF" pipeline validate nosuch)
check "validate nosuch (by name): exit 1 naming $T/pipelines/nosuch.ini" \
    bash -c "test $rc = 1 && grep -qF '$T/pipelines/nosuch.ini' '$T/err'"
printf '[pipeline]\nname = x\n[register]\nmodule = register_version\ncomponent = bad name\n' > "$T/pipelines/badreg.ini"
rc=$(rc_of "$NX" -c "$CONF" pipeline validate badreg)
check "validate: a register_version setting that cannot be registered is still refused" \
    bash -c "test $rc = 1 && grep -q \"component 'bad name' cannot be registered\" '$T/err'"
# docs/admin-guide.md says what the code and tests/demo.sh do (issue 12,
# item 5): rollback.ini runs the rollback.after hooks, so the guide must not
# say they do not run after 'rollback'; tests/demo.sh makes no plugin, so
# the guide must not say its demo has one.
SRC=$(cd "$here/../.." && pwd)
GUIDE="$SRC/docs/admin-guide.md"
check "rollback.ini runs the rollback.after hooks (when = run)" \
    bash -c "grep -A6 '^\[hooks-after\]' '$SRC/conf/pipelines/rollback.ini' | grep -q '^event = rollback.after' &&
             grep -A6 '^\[hooks-after\]' '$SRC/conf/pipelines/rollback.ini' | grep -q '^when = run'"
check "admin-guide: does not say rollback.after hooks do not run after rollback" \
    bash -c "! tr '\n' ' ' < '$GUIDE' | grep -q 'they did not run after a successful .nexo-update *rollback'"
check "admin-guide: says they run after a successful rollback" \
    bash -c "tr '\n' ' ' < '$GUIDE' | grep -q 'and after a successful .nexo-update rollback'"
if ! grep -q 'component plugin:' "$SRC/tests/demo.sh"; then
    check "admin-guide: the demo of tests/demo.sh is not said to have a forum plugin" \
        bash -c "! tr '\n' ' ' < '$GUIDE' | grep -qE 'NexoSupport 1.0.0 … 1.5.0 and a .forum. plugin'"
    check "admin-guide §3: the forum plugin is not the demo's own" \
        bash -c "! tr '\n' ' ' < '$GUIDE' | grep -q 'at core 1.4.0 with the forum plugin (§4)'"
fi
nx_finish
