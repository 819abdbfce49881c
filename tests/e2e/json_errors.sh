#!/usr/bin/env bash
# --json when a command fails (contracts §1; args: PREFIX MODDIR): every
# command of nexo-update and of nexo-release, given --json, prints exactly
# one JSON document on stdout also when it fails — {"error": "<message>",
# "exit": <code>, ...} — for a usage error (exit 2), a configuration that
# cannot be loaded (exit 1) and a failure of the command itself (exit 1);
# the message still goes to stderr too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
REL="$PREFIX/bin/nexo-release"
mkdir -p "$T/site/core" "$T/pipelines"
printf "<?php\nreturn ['version' => '1.0.0'];\n" > "$T/site/core/version.php"
cp "$PREFIX/etc/nexo-update/pipelines/"*.ini "$T/pipelines/"

jqt() { jq -e "$@" > /dev/null; }
# js EXPECTED_EXIT PROGRAM ARGS...: run with --json first; stdout $T/out,
# stderr $T/err; then check the error document.
js() {
    local want=$1 prog=$2; shift 2
    local what="$(basename "$prog") --json $*"
    rc=0
    "$prog" --json "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?
    check "$what: exit $want" [ "$rc" -eq "$want" ]
    check "$what: one JSON document on stdout, nothing else" \
        bash -c "[ \"\$(jq -s length '$T/out' 2>/dev/null)\" = 1 ] && [ \"\$(head -c 1 '$T/out')\" = '{' ]"
    check "$what: .exit is $want" jqt ".exit == $want" "$T/out"
    check "$what: .error is the message" jqt '.error | type == "string" and length > 0' "$T/out"
    check "$what: the message is on stderr too" \
        grep -qF -- "$(jq -r '.error' "$T/out" 2>/dev/null | head -c 60)" "$T/err"
}

NXC=("$NX" -c "$CONF")

# ---- usage errors (exit 2), every command ----------------------------------------------
js 2 "$NX" -c "$CONF" nosuchcommand
js 2 "$NX" -c
js 2 "$NX" -c "$CONF" check --bogus
js 2 "$NX" -c "$CONF" list --bogus
js 2 "$NX" -c "$CONF" core --bogus
js 2 "$NX" -c "$CONF" plugin
js 2 "$NX" -c "$CONF" plugin 'Bad Slug'
js 2 "$NX" -c "$CONF" all --bogus
js 2 "$NX" -c "$CONF" update-db --bogus
js 2 "$NX" -c "$CONF" install
js 2 "$NX" -c "$CONF" rollback --bogus
js 2 "$NX" -c "$CONF" recover extra
js 2 "$NX" -c "$CONF" history --bogus
js 2 "$NX" -c "$CONF" history --log
js 2 "$NX" -c "$CONF" status extra
js 2 "$NX" -c "$CONF" verify --bogus
js 2 "$NX" -c "$CONF" backups bogus
js 2 "$NX" -c "$CONF" pipeline bogus
js 2 "$NX" -c "$CONF" pipeline run
js 2 "$NX" -c "$CONF" schedule bogus
js 2 "$NX" -c "$CONF" schedule --at "2001-01-01 00:00" core
js 2 "$NX" -c "$CONF" schedule cancel nothex
js 2 "$NX" -c "$CONF" nosuchcommand
check "unknown command: .error names it" jqt '.error | contains("nosuchcommand")' "$T/out"
js 2 "$NX" -c "$CONF" plugin 'Bad Slug'
check "plugin 'Bad Slug': .error names the slug" jqt '.error | contains("Bad Slug")' "$T/out"

# ---- a configuration that cannot be loaded (exit 1), every command ------------------------
NOCONF="$T/none/nexo.ini"
for cmd in check list core "plugin demo" all update-db "install --package $T/x.tar.zst" \
           rollback recover history status verify "backups list" "backups prune" \
           "backups verify 20260101-000000-abcdef01" "pipeline show" "pipeline validate core" \
           "pipeline run core" "schedule list" "schedule run-due" \
           "schedule --at 2099-01-01_00:00 core" "schedule cancel abcdef01"; do
    # shellcheck disable=SC2086
    set -- $cmd
    [ "$1 ${2:-}" = "schedule --at" ] && set -- schedule --at "2099-01-01 00:00" core
    js 1 "$NX" -y -c "$NOCONF" "$@"
    check "$cmd with a missing config: .error names the file" \
        jqt --arg f "$NOCONF" '.error | contains($f)' "$T/out"
done
js 1 "$NX" -c "$CONF" serve

# ---- failures of the command itself (exit 1) -------------------------------------------------
js 1 "$NX" -c "$CONF" history --id 20260101-000000-abcdef01
js 1 "$NX" -c "$CONF" backups verify 20260101-000000-abcdef01
js 1 "$NX" -c "$CONF" pipeline validate "$T/no-such-pipeline.ini"
js 1 "$NX" -c "$CONF" schedule cancel abcdef01
js 1 "$NX" -c "$CONF" verify
check "verify without a recorded manifest: the document still says recorded false" \
    jqt '.recorded == false and .clean == false' "$T/out"

# ---- nexo-release: usage errors (exit 2) and failures (exit 1), every command ---------------
js 2 "$REL" nosuchcommand
js 2 "$REL" --bogus
js 2 "$REL" keygen
js 2 "$REL" keygen "$T/k" --scope 'not a scope'
js 2 "$REL" pack --component core
js 2 "$REL" index --repo "$T/repo"
js 2 "$REL" sign "$T/file"
js 2 "$REL" pack --component core --src "$T/site" --key "$T/k.key" --repo "$T/repo" --expires x
mkdir -p "$T/repo"
"$REL" -q keygen "$T/k" --scope core --scope index
js 1 "$REL" keygen "$T/k"
check "keygen over an existing key: .error names it" \
    jqt --arg f "$T/k.key" '.error | contains($f)' "$T/out"
js 1 "$REL" sign --key "$T/k.key" "$T/no-such-file"
check "sign a missing file: .error names it" \
    jqt --arg f "$T/no-such-file" '.error | contains($f)' "$T/out"
js 1 "$REL" index --repo "$T/no-repo" --key "$T/k.key"
js 1 "$REL" pack --component core --src "$T/no-src" --key "$T/k.key" --repo "$T/repo"

# success still prints the command's own document, unchanged
rc=0
"$REL" --json sign --key "$T/k.key" "$T/site/core/version.php" > "$T/out" 2> "$T/err" || rc=$?
check "nexo-release --json sign that works: exit 0, its own document without error" \
    bash -c "[ $rc -eq 0 ] && jq -e 'has(\"error\") | not' '$T/out' > /dev/null"
rc=0
"${NXC[@]}" --json pipeline show core > "$T/out" 2> "$T/err" || rc=$?
check "nexo-update --json pipeline show that works: exit 0, no error member" \
    bash -c "[ $rc -eq 0 ] && jq -e 'has(\"error\") | not' '$T/out' > /dev/null"

nx_finish
