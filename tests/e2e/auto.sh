#!/usr/bin/env bash
# check --apply-auto (issue 7, contracts §2 and §3 [auto]) on SQLite (args:
# PREFIX MODDIR): a site at core 1.0.0, releases packed as the test goes.
#   - apply = none: says so, installs nothing;
#   - [auto] window is checked (HH:MM-HH:MM, may wrap midnight; a bad one
#     is an error naming file:line); outside it nothing happens;
#   - patch installs the newest 1.0.x, not 1.1.0; minor installs 1.1.0;
#     never a MAJOR release; a security release is flagged in the log;
#   - core first, then plugins, each its own update; "applied" in --json;
#   - a failed automatic attempt (NEXO_FAULT) is not retried for that
#     version; a newer version is tried; an attempt by hand lets it retry;
#   - exit codes: the update's worst when one failed, else check's (100);
#   - STATE/auto.json, 0600, records each attempt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.0.1 1.1.0
NXC=("$NX" -c "$CONF")
BASE=$(cat "$CONF")
jqc() { jq -e "$1" "$2" > /dev/null; }
# auto_conf APPLY [WINDOW]: the configuration with that [auto] section
auto_conf() {
    { echo "$BASE"; echo "[auto]"; echo "apply = $1"
      if [ -n "${2:-}" ]; then echo "window = $2"; fi; } > "$CONF"
}
# pack core V [--security]
pack_core() {
    site_release "$1" "$T/src/$1"
    "$REL" -q pack --component core --src "$T/src/$1" --key "$T/keys/vendor.key" --repo "$T/repo" "${@:2}"
}
# auto [ENV...]: check --apply-auto --json into $T/json, stderr into $T/err; rc in $rc
auto() {
    rc=0
    env "$@" "${NXC[@]}" --json check --apply-auto < /dev/null > "$T/json" 2> "$T/err" || rc=$?
}
ver() { echo "$(site_version_disk) $(site_version_db)"; }
plugver() { sed -n "s/.*'version' => '\([^']*\)'.*/\1/p" "$T/site/modules/plugins/$1/version.php" | head -1; }

# ---- apply = none ------------------------------------------------------------
rc=0; "${NXC[@]}" check --apply-auto < /dev/null > "$T/out" 2>&1 || rc=$?
check "apply = none (the default): check's exit code 100, says so" \
    bash -c "[ $rc -eq 100 ] && grep -q 'apply = none' '$T/out'"
check "... nothing installed" [ "$(ver)" = "1.0.0 1.0.0" ]
auto_conf none
auto
check "... --json: applied is empty, auto.apply is none" \
    jqc '.applied == [] and .auto.apply == "none" and (.updates | length) == 1' "$T/json"

# ---- the window --------------------------------------------------------------
# A time zone where it is 23:xx now, so that a window wrapping midnight
# (22:00-04:00) holds now and 12:00-20:00 does not, whatever the hour.
uh=$((10#$(date -u +%H)))
export TZ="NXT-$(((23 - uh + 24) % 24))"
check "TZ=$TZ: the local hour is 23 (or 00 right after the hour)" \
    bash -c "[ \"\$(date +%H)\" = 23 ] || [ \"\$(date +%H)\" = 00 ]"
auto_conf patch 12:00-20:00
auto
check "outside the window: check's exit code 100, nothing installed" \
    bash -c "[ $rc -eq 100 ] && [ '$(ver)' = '1.0.0 1.0.0' ]"
check "... logged, naming the window" grep -q 'outside the maintenance window .*12:00-20:00' "$T/err"
check "... --json: applied empty, in_window false" \
    jqc '.applied == [] and .auto.window == "12:00-20:00" and .auto.in_window == false' "$T/json"
check "... no attempt recorded" [ ! -e "$T/state/auto.json" ]
for w in 25:00-04:00 2:00-04:00 02:00-02:00 02:00 "02:00 - 04:00"; do
    auto_conf patch "$w"
    rc=0; "${NXC[@]}" check --apply-auto > "$T/out" 2>&1 || rc=$?
    check "window '$w' refused: exit 1, file:line and the format" \
        bash -c "[ $rc -eq 1 ] && grep -q 'nexo.ini:[0-9]*: .*window.*HH:MM-HH:MM' '$T/out'"
done

# ---- patch: the newest 1.0.x, inside a window wrapping midnight ---------------------
pack_core 1.0.2
auto_conf patch 22:00-04:00
rc=0; "${NXC[@]}" -n --json check --apply-auto < /dev/null > "$T/json" 2> "$T/err" || rc=$?
check "-n: would install 1.0.2, installs nothing" \
    bash -c "jq -e '.applied == [{\"component\":\"core\",\"from\":\"1.0.0\",\"to\":\"1.0.2\",\"outcome\":\"planned\",\"is_security_update\":false,\"is_critical\":false,\"exit\":null}]' '$T/json' > /dev/null && [ '$(ver)' = '1.0.0 1.0.0' ]"
auto
check "patch: installs the newest patch release 1.0.2, not 1.1.0" [ "$(ver)" = "1.0.2 1.0.2" ]
check "... check's exit code 100 (updates were found)" [ "$rc" -eq 100 ]
check "... --json applied: core 1.0.0 -> 1.0.2, success, exit 0; in_window true" \
    jqc '.auto.in_window == true and (.applied | length) == 1 and .applied[0].component == "core" and
         .applied[0].from == "1.0.0" and .applied[0].to == "1.0.2" and
         .applied[0].outcome == "success" and .applied[0].exit == 0' "$T/json"
check "... names 1.1.0 as not installed under patch" \
    grep -q 'core 1.1.0 is not installed automatically: \[auto\] apply = patch installs only 1.0.x' "$T/err"
check "... the history has the update" [ "$(site_history_outcome)" = success ]
check "... nothing left behind" site_clean
check "... STATE/auto.json is 0600 and records the success" \
    bash -c "[ \"\$(stat -c %a '$T/state/auto.json')\" = 600 ] &&
             jq -e '.attempts.core | .version == \"1.0.2\" and .outcome == \"success\" and .exit == 0' '$T/state/auto.json' > /dev/null"
auto
check "patch again: 1.1.0 is a minor release: nothing installed" \
    bash -c "[ $rc -eq 100 ] && [ '$(ver)' = '1.0.2 1.0.2' ] && jq -e '.applied == []' '$T/json' > /dev/null"

# ---- minor, MAJOR, security -------------------------------------------------------
pack_core 2.0.0
auto_conf minor
auto
check "minor: installs 1.1.0 (not the MAJOR 2.0.0 that check offers)" \
    bash -c "[ '$(ver)' = '1.1.0 1.1.0' ] && jq -e '.updates[0].version == \"2.0.0\" and .applied[0].to == \"1.1.0\" and .applied[0].outcome == \"success\"' '$T/json' > /dev/null"
check "... says 2.0.0 is not installed automatically" \
    grep -q 'core 2.0.0 is not installed automatically: \[auto\] apply = minor installs only 1.x' "$T/err"
pack_core 1.2.0 --security
auto
check "a security release 1.2.0 is installed and flagged in the log" \
    bash -c "[ '$(ver)' = '1.2.0 1.2.0' ] && grep -q 'core 1.1.0 -> 1.2.0 (security release)' '$T/err' &&
             jq -e '.applied[0].is_security_update == true' '$T/json' > /dev/null"
auto
check "only 2.0.0 is left: never installed automatically" \
    bash -c "[ $rc -eq 100 ] && [ '$(ver)' = '1.2.0 1.2.0' ] && jq -e '.applied == []' '$T/json' > /dev/null"

# ---- a failed attempt is not retried for that version -------------------------------
pack_core 1.2.1
site_snapshot before
auto NEXO_FAULT=replace:after-run:fail
check "1.2.1 fails (replace:after-run:fail): exit 3, rolled back" \
    bash -c "[ $rc -eq 3 ] && [ '$(ver)' = '1.2.0 1.2.0' ]"
check "... the site is exactly as before" site_same before
check "... --json applied: rolled_back, exit 3" \
    jqc '.applied[0].to == "1.2.1" and .applied[0].outcome == "rolled_back" and .applied[0].exit == 3' "$T/json"
check "... recorded as failed" \
    jqc '.attempts.core | .version == "1.2.1" and .outcome == "rolled_back" and .exit == 3' "$T/state/auto.json"
n0=$(ls "$T/state/journal" | wc -l)
auto
check "the next run does not retry 1.2.1: check's exit code, nothing ran" \
    bash -c "[ $rc -eq 100 ] && [ '$(ver)' = '1.2.0 1.2.0' ] && [ $n0 = $(ls "$T/state/journal" | wc -l) ]"
check "... says why" grep -q 'skipped: the last automatic attempt of core 1.2.1 failed' "$T/err"
check "... --json: skipped with the reason, exit null" \
    jqc '.applied[0].to == "1.2.1" and .applied[0].outcome == "skipped" and .applied[0].exit == null and
         (.applied[0].reason | test("not retried"))' "$T/json"
pack_core 1.2.2
auto
check "a newer version 1.2.2 is tried, and installed" \
    bash -c "[ '$(ver)' = '1.2.2 1.2.2' ] && jq -e '.applied[0].to == \"1.2.2\" and .applied[0].outcome == \"success\"' '$T/json' > /dev/null"

# ---- an attempt by hand lets it retry ----------------------------------------------
pack_core 1.2.3
auto NEXO_FAULT=replace:after-run:fail
auto
check "1.2.3 failed automatically and is skipped" \
    bash -c "[ '$(ver)' = '1.2.2 1.2.2' ] && jq -e '.applied[0].outcome == \"skipped\"' '$T/json' > /dev/null"
rc=0; NEXO_FAULT=replace:after-run:fail "${NXC[@]}" -y core --to 1.2.3 > "$T/out" 2>&1 || rc=$?
check "the admin tries 1.2.3 by hand (fails too: exit 3)" [ "$rc" -eq 3 ]
auto
check "... the next automatic run tries 1.2.3 again, and installs it" \
    bash -c "[ '$(ver)' = '1.2.3 1.2.3' ] && jq -e '.applied[0].to == \"1.2.3\" and .applied[0].outcome == \"success\"' '$T/json' > /dev/null"

# ---- core first, then plugins ------------------------------------------------------
rm -rf "$T/site/modules/plugins/demo"   # site_setup's stand-in: not in the repository
site_pack_plugin forum 1.0.0
rc=0; "${NXC[@]}" -q -y plugin forum --to 1.0.0 > "$T/out" 2>&1 || rc=$?
check "plugin forum 1.0.0 installed by hand" [ "$rc" -eq 0 ]
site_pack_plugin forum 1.0.1 1.1.0
pack_core 1.2.4
auto_conf patch
auto
check "patch: core 1.2.4 first, then plugin:forum 1.0.1 (not 1.1.0)" \
    jqc '[.applied[] | "\(.component) \(.from) \(.to) \(.outcome)"] ==
         ["core 1.2.3 1.2.4 success", "plugin:forum 1.0.0 1.0.1 success"]' "$T/json"
check "... on disk and in the database" \
    [ "$(ver) $(plugver forum) $(db_sql "SELECT version_number FROM system_versions WHERE component = 'plugin:forum' ORDER BY id DESC LIMIT 1")" = \
      "1.2.4 1.2.4 1.0.1 1.0.1" ]
check "... each was its own update (two history rows)" \
    [ "$(db_sql "SELECT component || ' ' || outcome FROM update_history ORDER BY id DESC LIMIT 2" | tr '\n' ,)" = \
      "plugin:forum success,core success," ]
pack_core 1.2.5
site_pack_plugin forum 1.0.2
auto NEXO_FAULT=replace:after-run:fail
check "core 1.2.5 fails (the first replace), plugin:forum 1.0.2 is still updated: exit 3" \
    [ "$rc" -eq 3 ]
check "... applied: core rolled_back, then plugin:forum success" \
    jqc '[.applied[] | "\(.component) \(.to) \(.outcome)"] == ["core 1.2.5 rolled_back", "plugin:forum 1.0.2 success"]' "$T/json"
check "... core is at 1.2.4, forum at 1.0.2" [ "$(ver) $(plugver forum)" = "1.2.4 1.2.4 1.0.2" ]
auto_conf minor
auto
check "minor: core 1.2.5 skipped (failed), plugin:forum 1.1.0 installed: exit 100" \
    bash -c "[ $rc -eq 100 ] && jq -e '[.applied[] | .outcome] == [\"skipped\", \"success\"] and .applied[1].to == \"1.1.0\"' '$T/json' > /dev/null &&
             [ '$(plugver forum)' = 1.1.0 ]"
check "nothing left behind" site_clean

# ---- the record ---------------------------------------------------------------------
echo '{"attempts": ' > "$T/state/auto.json"
auto
check "an unreadable STATE/auto.json: exit 1, nothing installed, names the file" \
    bash -c "[ $rc -eq 1 ] && [ '$(ver)' = '1.2.4 1.2.4' ] && grep -q 'state/auto.json' '$T/err'"
nx_finish
