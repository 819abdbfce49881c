#!/usr/bin/env bash
# End to end: an integrator's step module built OUTSIDE the source tree
# against an installed nexo-update (headers + pkg-config file only,
# contracts §5), then run through a pipeline with the installed program:
# validation, dry run, success, a failure that is rolled back (exit 3), and
# a SIGKILL that `recover` finishes. The step is docs/examples/hello_step,
# used twice (two instances writing two different files).
#
# Usage: tests/e2e/out_of_tree.sh PREFIX
#   PREFIX: the tree installed with `cmake --install build --prefix PREFIX`.
# Prints "ok - ..." per check; stops at the first failure with "not ok - ..."
# and exit 1. NX_KEEP_TMP=1 keeps the temporary folder.
set -euo pipefail
umask 022

if [ $# -lt 1 ]; then
    echo "usage: $0 PREFIX" >&2
    exit 2
fi
PREFIX=$(cd "$1" && pwd -P)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SRC=$(cd "$HERE/../.." && pwd -P)
EXAMPLE="$SRC/docs/examples/hello_step"
NX="$PREFIX/bin/nexo-update"
unset NEXO_FAULT NEXO_UPDATE_CONFIG

T=$(mktemp -d "${TMPDIR:-/tmp}/nx-out-of-tree.XXXXXX")
chmod 755 "$T"   # the loader refuses group/world-writable folders
LAST=""          # stderr file of the last nexo-update call, shown on failure
cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ] || [ -n "${NX_KEEP_TMP:-}" ]; then
        echo "# temporary folder kept: $T" >&2
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
fail() {
    echo "not ok - $*"
    if [ -n "$LAST" ] && [ -f "$LAST" ]; then
        echo "# last nexo-update output ($LAST):" >&2
        sed 's/^/#   /' "$LAST" >&2
    fi
    exit 1
}
check() { # check DESCRIPTION COMMAND...
    local d=$1
    shift
    if "$@"; then ok "$d"; else fail "$d"; fi
}

# run_nx NAME FAULT ARGS...: nexo-update -c CONF ARGS with NEXO_FAULT=FAULT
# (none when empty); stdout in $T/NAME.out, stderr in $T/NAME.err, exit
# code in RC. The subshell waits for nexo-update itself (no exec), so that
# the shell's "Killed" notice lands in NAME.err, not on the terminal.
RC=0
run_nx() {
    local name=$1 fault=$2
    shift 2
    LAST="$T/$name.err"
    RC=0
    (
        exec > "$T/$name.out" 2> "$T/$name.err" < /dev/null
        if [ -n "$fault" ]; then export NEXO_FAULT="$fault"; fi
        "$NX" -c "$CONF" "$@"
        exit $?
    ) || RC=$?
}
said() { # said NAME EXTENDED-REGEX: in stdout or stderr of that call
    cat "$T/$1.out" "$T/$1.err" | grep -qE -- "$2"
}
content_is() { # content_is FILE TEXT: the file holds exactly TEXT and a newline
    [ -f "$1" ] && [ "$(cat "$1"; echo x)" = "$2"$'\n'"x" ]
}
absent() { [ ! -e "$1" ]; }
under_prefix() { # under_prefix PATH: PATH exists inside PREFIX
    local p
    p=$(realpath -e "$1" 2> /dev/null) || return 1
    case "$p/" in "$PREFIX"/*) return 0 ;; *) return 1 ;; esac
}

case "$T/" in
"$SRC"/*) fail "the temporary folder $T must be outside the source tree $SRC" ;;
esac
for tool in pkg-config make nm realpath; do
    command -v "$tool" > /dev/null || fail "$tool is needed"
done
check "installed program $NX" test -x "$NX"
check "installed pkg-config file" test -f "$PREFIX/lib/pkgconfig/nexo-update.pc"

# --- The pkg-config file points into this prefix -------------------------
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
INCDIR=$(pkg-config --variable=includedir nexo-update)
MAPDIR=$(pkg-config --variable=mapdir nexo-update)
under_prefix "$INCDIR/nexo/step.h" ||
    fail "nexo-update.pc gives includedir=$INCDIR, which has no nexo/step.h inside $PREFIX (was the build configured for another install prefix?)"
ok "pkg-config: headers at $INCDIR"
under_prefix "$MAPDIR/nexo-step.map" ||
    fail "nexo-update.pc gives mapdir=$MAPDIR, which has no nexo-step.map inside $PREFIX"
ok "pkg-config: version script at $MAPDIR/nexo-step.map"

# --- Build the example outside the source tree ----------------------------
BUILD="$T/hello_step"
cp -R "$EXAMPLE" "$BUILD"
rm -f "$BUILD"/*.o "$BUILD"/*.so
make -C "$BUILD" > "$T/build.log" 2>&1 || { LAST="$T/build.log"; fail "make builds hello_step.so"; }
SO="$BUILD/hello_step.so"
check "make builds hello_step.so" test -f "$SO"
LAST="$T/build.log"
check "the build has no warnings" bash -c "! grep -qi 'warning' '$T/build.log'"
if grep -q -- "-I$SRC/core" "$T/build.log"; then fail "the build used the source tree's headers"; fi
ok "the build used only the installed headers"

# Exactly one exported symbol, versioned NEXO_1 (the "A NEXO_1" line nm
# prints is the version node itself, not a symbol).
SYMS=$(nm -D --defined-only "$SO" | awk '!($2 == "A" && $3 !~ /@/) { print $3 }')
check "exports exactly nexo_step_module@@NEXO_1 (got: ${SYMS//$'\n'/ })" \
    test "$SYMS" = "nexo_step_module@@NEXO_1"

# --- Site, configuration, pipeline ----------------------------------------
SITE="$T/site"
ONE="$SITE/hello.txt"
TWO="$SITE/public/greeting.txt"
STATE="$T/state"
mkdir -p "$SITE/public" "$T/modules/steps" "$T/pipelines"
install -m 0644 "$SO" "$T/modules/steps/hello_step.so"
CONF="$T/nexo-update.ini"
cat > "$CONF" << EOF
[site]
root = $SITE

[paths]
state = $STATE
backups = $T/backups
modules = $T/modules
pipelines = $T/pipelines
EOF
PIPE="$T/pipelines/hello.ini"
# hello-one by absolute path, hello-two by name ([paths] modules/steps/).
cat > "$PIPE" << EOF
[pipeline]
name = hello
description = two instances of the example step

[hello-one]
module = $SO
file = hello.txt
text = first file, new content

[hello-two]
module = hello_step
file = public/greeting.txt
text = second file, new content
EOF
NEW1="first file, new content"
NEW2="second file, new content"
journals() { find "$STATE/journal" -name '*.jnl' ! -name current.jnl 2> /dev/null | wc -l; }
no_leftovers() { # no temporary files of the step, no work folder left
    [ -z "$(find "$SITE" -name '*.hello_step.tmp')" ] &&
        [ -z "$(ls -A "$STATE/work" 2> /dev/null)" ]
}

run_nx validate "" pipeline validate "$PIPE"
check "pipeline validate: exit 0 (got $RC)" test "$RC" = 0
check "pipeline validate: 2 steps" said validate "valid pipeline 'hello' with 2 steps"

sed 's|^file = hello.txt|file = ../outside.txt|' "$PIPE" > "$T/bad.ini"
run_nx bad "" pipeline validate "$T/bad.ini"
check "validate refuses file = ../outside.txt: exit 1 (got $RC)" test "$RC" = 1
check "the refusal names the step and the reason" said bad "\[hello-one\].*must not contain '\.\.'"

mkdir "$T/ww"
install -m 0666 "$SO" "$T/ww/hello_step.so"
sed "s|^module = $SO|module = $T/ww/hello_step.so|" "$PIPE" > "$T/ww.ini"
run_nx ww "" pipeline validate "$T/ww.ini"
check "a world-writable module is refused: exit 1 (got $RC)" test "$RC" = 1
check "the refusal names the file" said ww "$T/ww/hello_step.so.*world-writable"

# --- Dry run ---------------------------------------------------------------
printf 'original one\n' > "$ONE"
rm -f "$TWO"
run_nx dry "" -n pipeline run "$PIPE"
check "dry run: exit 0 (got $RC)" test "$RC" = 0
check "dry run: plans both files" \
    bash -c "grep -q 'would replace $ONE' '$T/dry.err' && grep -q 'would create $TWO' '$T/dry.err'"
check "dry run: nothing changed" bash -c "$(declare -f content_is absent); content_is '$ONE' 'original one' && absent '$TWO'"
check "dry run: no journal" absent "$STATE/journal/current.jnl"

# --- Success ---------------------------------------------------------------
run_nx ok "" -y pipeline run "$PIPE"
check "run: exit 0 (got $RC)" test "$RC" = 0
check "run: hello.txt replaced" content_is "$ONE" "$NEW1"
check "run: public/greeting.txt created" content_is "$TWO" "$NEW2"
check "run: journal archived, none current (the dry run's and the run's)" \
    bash -c "test ! -e '$STATE/journal/current.jnl' && test \$(find '$STATE/journal' -name '*.jnl' | wc -l) = 2"
JNL=$(grep -l '"outcome":"success"' "$STATE"/journal/*.jnl)
check "run: the journal has the step's state, then success" \
    bash -c "grep -q '\"ev\":\"state\",\"step\":1,\"key\":\"existed\",\"value\":\"0\"' '$JNL' &&
             grep -q '\"ev\":\"state\",\"step\":0,\"key\":\"old_content\",\"value\":\"original one\\\\n\"' '$JNL' &&
             tail -n 1 '$JNL' | grep -q '\"ev\":\"end\".*\"outcome\":\"success\"'"
check "run: no temporary files, no work folder" no_leftovers

# --- Failure after the second step ran: both undone, exit 3 ---------------
printf 'before failure\n' > "$ONE"
chmod 640 "$ONE"
rm -f "$TWO"
run_nx fail "hello-two:after-run:fail" -y pipeline run "$PIPE"
check "NEXO_FAULT=hello-two:after-run:fail: exit 3 (got $RC)" test "$RC" = 3
check "failure: hello.txt has its previous content" content_is "$ONE" "before failure"
check "failure: hello.txt has its previous mode" test "$(stat -c %a "$ONE")" = 640
check "failure: public/greeting.txt is gone again" absent "$TWO"
check "failure: the error names the step" said fail "^error: \[hello-two\] NEXO_FAULT"
check "failure: outcome says rolled back" said fail "rolled back completely"
check "failure: journal closed" absent "$STATE/journal/current.jnl"
check "failure: no temporary files, no work folder" no_leftovers

# --- SIGKILL after the second step ran; status; recover --------------------
rm -f "$ONE"
printf 'before kill\n' > "$TWO"
run_nx kill "hello-two:after-run:kill" -y pipeline run "$PIPE"
check "NEXO_FAULT=hello-two:after-run:kill: killed, exit 137 (got $RC)" test "$RC" = 137
check "kill: both files have the new content" \
    bash -c "$(declare -f content_is); content_is '$ONE' '$NEW1' && content_is '$TWO' '$NEW2'"
check "kill: the journal is still current" test -f "$STATE/journal/current.jnl"
run_nx status "" status
check "status: exit 0 (got $RC)" test "$RC" = 0
check "status: names the interrupted update" said status "^interrupted: +update [0-9]{8}-[0-9]{6}-[0-9a-f]{8} .*pipeline 'hello'"
check "status: hello-one done, hello-two started" \
    bash -c "grep -qE '^ +hello-one +done\$' '$T/status.out' && grep -qE '^ +hello-two +started\$' '$T/status.out'"
check "status: recover would undo hello-two then hello-one" said status "will undo: hello-two hello-one\$"
check "status: the lock died with the process" said status "^lock: +free"
run_nx again "" -y pipeline run "$PIPE"
check "a new run refuses while an update is interrupted: exit 1 (got $RC)" \
    bash -c "test $RC = 1 && grep -q 'recover' '$T/again.err'"
run_nx recover "" recover
check "recover: exit 0 (got $RC)" test "$RC" = 0
check "recover: says recovered" said recover "recovered; the journal is closed"
check "recover: undo ran in the fresh process" said recover "\[hello-two\] restored $TWO \(recovering\)"
check "recover: hello.txt is absent again" absent "$ONE"
check "recover: public/greeting.txt has its previous content" content_is "$TWO" "before kill"
check "recover: journal archived" \
    bash -c "test ! -e '$STATE/journal/current.jnl' && grep -l '\"recovered\":true' '$STATE'/journal/*.jnl > /dev/null"
check "recover: no temporary files, no work folder" no_leftovers
run_nx recover2 "" recover
check "second recover: exit 0 (got $RC)" test "$RC" = 0
check "second recover: nothing to recover" said recover2 "nothing to recover"

# --- SIGKILL after an undo, before its undo-done record: recover repeats it --
printf 'before undo kill\n' > "$ONE"
rm -f "$TWO"
run_nx undokill "hello-two:after-run:fail,hello-one:after-undo:kill" -y pipeline run "$PIPE"
check "kill after hello-one's undo: exit 137 (got $RC)" test "$RC" = 137
check "undo kill: files already restored" \
    bash -c "$(declare -f content_is absent); content_is '$ONE' 'before undo kill' && absent '$TWO'"
run_nx recover3 "" recover
check "recover after the undo kill: exit 0 (got $RC)" test "$RC" = 0
check "recover repeated only hello-one's undo" \
    bash -c "grep -q '\[hello-one\] undoing' '$T/recover3.err' && ! grep -q '\[hello-two\] undoing' '$T/recover3.err'"
check "undo kill: files still restored" \
    bash -c "$(declare -f content_is absent); content_is '$ONE' 'before undo kill' && absent '$TWO'"
check "undo kill: no temporary files, no work folder" no_leftovers

LAST=""
echo "# all checks passed"
