#!/usr/bin/env bash
# --json of every command (issue 7), on SQLite (args: PREFIX MODDIR): each
# prints exactly one JSON document on stdout — everything else goes to
# stderr — and its fields are checked one by one with jq against what the
# site, the database and the repository say (docs/operations.md, "JSON
# output"): check, list, status, history (all, --id, --id --log), backups
# list, verify, pipeline show; the runs of core (-n, success, failure,
# rollback incomplete, refused, nothing to do), plugin, all, rollback,
# install, update-db and pipeline run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.1.0
NXC=("$NX" -c "$CONF")
rm -rf "$T/site/modules/plugins/demo"   # site_setup's stand-in plugin: not in the repository
ID_RE='^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$'

# js ARGS...: run nexo-update --json ARGS; exit code in $rc, stdout $T/out, stderr $T/err
js() {
    rc=0
    "${NXC[@]}" --json "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?
}
# one_doc: stdout is exactly one JSON document (and nothing else)
one_doc() { [ "$(jq -s 'length' "$T/out" 2>/dev/null)" = 1 ] && [ "$(head -c 1 "$T/out")" = "{" ]; }
# f EXPR: the jq expression is true of the document
f() { jq -e "$1" "$T/out" > /dev/null; }
# fields DESCRIPTION EXPR...: each expression checked on its own
fields() {
    local d=$1 e; shift
    for e in "$@"; do check "$d: $e" f "$e"; done
}
jv() { jq -r "$1" "$T/out"; }

# ---- check, list ------------------------------------------------------------------------
SHA110=$(jq -r '.releases[] | select(.version == "1.1.0") | .checksum.sha256' "$T/repo/index.json")
SIZE110=$(jq -r '.releases[] | select(.version == "1.1.0") | .size_bytes' "$T/repo/index.json")
js check
check "check --json: exit 100, one document" bash -c "[ $rc -eq 100 ]" && check "... one document" one_doc
fields "check" \
    'has("error") | not' \
    '.updates | length == 1' \
    '.updates[0].component == "core"' \
    '.updates[0].installed == "1.0.0"' \
    '.updates[0].version == "1.1.0"' \
    ".updates[0].size_bytes == $SIZE110" \
    '.updates[0].release_date | type == "string"' \
    '.updates[0].is_security_update == false' \
    '.updates[0].is_critical == false' \
    ".updates[0].download_url == \"file://$T/repo/core/nexosupport-1.1.0.tar.zst\"" \
    '.not_offered == []' \
    ".source == \"file://$T/repo/index.json\"" \
    '.mode == "index"' \
    '.notes | type == "array"'
js list
check "list --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "list" \
    ".source == \"file://$T/repo/index.json\"" '.mode == "index"' \
    '.key_id | type == "string"' '.generated_at | type == "string"' '.expires | type == "string"' \
    '.components[0].component == "core"' '.components[0].installed == "1.0.0"' \
    ".components[0].file == \"$T/site/core/version.php\"" '.components[0].offer == "1.1.0"' \
    '.components[0].releases | length == 1' \
    '.components[0].releases[0].version == "1.1.0"' \
    ".components[0].releases[0].sha256 == \"$SHA110\"" \
    ".components[0].releases[0].size_bytes == $SIZE110" \
    '.components[0].releases[0].signature | length > 40' \
    '.components[0].releases[0].offered == true' \
    '.components[0].releases[0].unmet == [] and .components[0].releases[0].conflicts == []' \
    '.components[0].releases[0] | has("requires") and has("compatibility") and has("changelog")' \
    '.notes | type == "array"'

# ---- status, pipeline show --------------------------------------------------------------
js status
check "status --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "status" \
    ".config == \"$CONF\"" ".root == \"$T/site\"" ".state_dir == \"$T/state\"" \
    '.core.version == "1.0.0"' ".core.file == \"$T/site/core/version.php\"" \
    '.plugins == []' '.maintenance.on == false' '.lock.held == false' '.interrupted == null' \
    '.database.driver == "sqlite"' '.database.versions.core == "1.0.0"'
js pipeline show core
check "pipeline show --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
NSTEPS=$(jv '.steps | length')
fields "pipeline show" \
    '.name == "core"' ".file == \"$PREFIX/etc/nexo-update/pipelines/core.ini\"" \
    '.steps | length >= 14' \
    '.steps[0].name == "health" and .steps[0].module == "health_check"' \
    ".steps[0].file == \"$PREFIX/lib/nexo-update/steps/health_check.so\"" \
    '.steps | all(.version | test("^[0-9]+\\.[0-9]+\\.[0-9]+"))' \
    '.steps | all(.summary | type == "string")' \
    '.steps | all(.settings | type == "object")' \
    '[.steps[] | select(.name == "migrate")][0].module == "migrate"' \
    '.steps | all(has("error") | not)'

# ---- core -n: the plan --------------------------------------------------------------------
js -n core
check "core -n --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "core -n" \
    '.outcome == "planned"' '.exit == 0' '.dry_run == true' ".update_id | test(\"$ID_RE\")" \
    '.component == "core"' '.from_version == "1.0.0"' '.to_version == "1.1.0"' \
    '.installed == "1.0.0"' '.version == "1.1.0"' \
    ".facts[\"param.sha256\"] == \"$SHA110\"" '.facts["param.version"] == "1.1.0"' \
    "(.steps | length) == $NSTEPS" '.steps[0:5] | all(.outcome == "undone")' \
    '.steps[5:] | all(.outcome == "planned")' \
    '.pipeline == "core"' '.error == null' '.log_file | test("/logs/")'
check "... the plan went to stderr" grep -q "dry run .*: pipeline 'core'" "$T/err"

# ---- core: a success --------------------------------------------------------------------
js -y core
check "core --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
ID1=$(jv .update_id)
fields "core" \
    '.outcome == "success"' '.exit == 0' ".update_id | test(\"$ID_RE\")" \
    '.component == "core"' '.from_version == "1.0.0"' '.to_version == "1.1.0"' \
    '.pipeline == "core"' ".pipeline_file == \"$PREFIX/etc/nexo-update/pipelines/core.ini\"" \
    '.dry_run == false' '.started_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")' \
    '.duration_ms | type == "number" and . >= 0' \
    '.maintenance_seconds | type == "number" and . >= 0' \
    '.maintenance_ms | type == "number" and . >= 0' \
    '(.maintenance_ms / 1000 - .maintenance_seconds) | fabs < 0.01' \
    '.error == null' \
    ".log_file == \"$T/state/logs/$ID1.log\"" \
    "(.steps | length) == $NSTEPS" \
    '.steps | all(.outcome == "done")' \
    '.steps | all(.ms | type == "number" and . >= 0)' \
    '.steps | all(.undo == null and .undo_ms == null and .error == null)' \
    '.installed == "1.0.0"' '.version == "1.1.0"' '.is_security_update == false' \
    '.is_critical == false' '.facts["param.component"] == "core"'
"${NXC[@]}" --json pipeline show core | jq -c '[.steps[] | [.name, .module]]' > "$T/show.names"
check "... the steps by name and module, in pipeline order" \
    bash -c "[ \"\$(jq -c '[.steps[] | [.name, .module]]' '$T/out')\" = \"\$(cat '$T/show.names')\" ]"
check "... the log file exists" [ -f "$T/state/logs/$ID1.log" ]
check "... the run's lines went to stderr" grep -q "update $ID1 (core 1.0.0 -> 1.1.0) succeeded" "$T/err"
check "... the offer is not printed as text" bash -c "! grep -q '^  sha256:' '$T/out'"

js -y core
check "core --json, up to date: exit 0, one document" bash -c "[ $rc -eq 0 ]" && check "... one document" one_doc
fields "core (nothing to do)" \
    '.outcome == "nothing_to_do"' '.exit == 0' '.update_id == null' '.component == "core"' \
    '.installed == "1.1.0"' '.version == null' ".source == \"file://$T/repo/index.json\"" \
    '.steps == []' '.error == null'

js -y core --to 9.9.9
check "core --to 9.9.9 --json: exit 1" [ "$rc" -eq 1 ] && check "... one document" one_doc
fields "core --to 9.9.9 (refused)" \
    '.outcome == "refused"' '.exit == 1' '.update_id == null' '.component == "core"' \
    '.error | test("core 9.9.9 is not offered")' '.steps == []'

# ---- history, backups list, verify -------------------------------------------------------
js history
check "history --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "history" \
    ".attempts[0].update_id == \"$ID1\"" '.attempts[0].component == "core"' \
    '.attempts[0].from_version == "1.0.0"' '.attempts[0].to_version == "1.1.0"' \
    '.attempts[0].outcome == "success"' '.attempts[0].started_at | type == "number"' \
    '.attempts[0].finished_at >= .attempts[0].started_at' \
    '.attempts[0].maintenance_seconds | type == "number"' '.attempts[0].error == null' \
    '.attempts[1].from_version == null and .attempts[1].to_version == "1.0.0"'
js history --id "$ID1"
check "history --id --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "history --id" \
    ".update_id == \"$ID1\"" '.attempt.outcome == "success"' '.attempt.component == "core"' \
    '.info.pipeline == "core"' '.info.from_version == "1.0.0"' \
    ".log_file == \"$T/state/logs/$ID1.log\"" ".journal == \"$T/state/journal/$ID1.jnl\"" \
    '.journal_outcome == "success"' "(.steps | length) == $NSTEPS" \
    '.steps | all(.outcome == "done" and (.ms | type == "number"))'
js history --id "$ID1" --log
check "history --id --log --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
NLINES=$(wc -l < "$T/state/logs/$ID1.log")
fields "history --id --log" \
    ".update_id == \"$ID1\"" ".log_file == \"$T/state/logs/$ID1.log\"" \
    ".lines | length == $NLINES" \
    '.lines | all(.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$"))' \
    '.lines | all(.level | IN("error", "warning", "info", "debug", "output"))' \
    '[.lines[] | select(.step == "replace")] | length > 0' \
    ".lines[-1].step == null and (.lines[-1].message | test(\"update $ID1 .* succeeded\"))"
js backups list
check "backups list --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "backups list" \
    ".dir == \"$T/backups\"" '.total_size > 0' ".backups[0].update_id == \"$ID1\"" \
    ".backups[0].name | startswith(\"backup_${ID1}_\")" \
    ".backups[0].path == \"$T/backups/\" + .backups[0].name" \
    '.backups[0].component == "core"' '.backups[0].from_version == "1.0.0"' \
    '.backups[0].to_version == "1.1.0"' '.backups[0].pipeline == "core"' \
    '.backups[0].size > 0' '.backups[0].created > 0' '.backups[0].meta.update_id == .backups[0].update_id'
js verify
check "verify --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "verify" \
    ".root == \"$T/site\"" ".manifest == \"$T/site/core/.nexo-release.json\"" '.recorded == true' \
    '.component == "core"' '.version == "1.1.0"' '.entries > 0' '.disk_version == "1.1.0"' \
    '.version_matches == true' '.clean == true' '.modified == [] and .missing == [] and .extra == []'

# ---- core: failures ------------------------------------------------------------------------
site_release 1.2.0 "$T/src/1.2.0"
"$REL" -q pack --component core --src "$T/src/1.2.0" --key "$T/keys/vendor.key" --repo "$T/repo"
rc=0
NEXO_FAULT=replace:after-run:fail "${NXC[@]}" --json -y core > "$T/out" 2> "$T/err" || rc=$?
check "a failing core --json: exit 3" [ "$rc" -eq 3 ] && check "... one document" one_doc
fields "core (rolled back)" \
    '.outcome == "rolled_back"' '.exit == 3' '.from_version == "1.1.0"' '.to_version == "1.2.0"' \
    '.error == "[replace] NEXO_FAULT: injected failure at after-run"' \
    '.steps[] | select(.name == "replace") | .outcome == "failed" and .undo == "done" and (.ms | type == "number") and (.undo_ms | type == "number") and .error == "NEXO_FAULT: injected failure at after-run"' \
    '.steps[] | select(.name == "migrate") | .outcome == "undone" and .undo == "done"' \
    '.steps[] | select(.name == "health") | .outcome == "undone"' \
    '.steps[] | select(.name == "register") | .outcome == "skipped" and .ms == null and .undo == null' \
    '.steps[] | select(.name == "maintenance-off") | .outcome == "skipped"' \
    '.maintenance_seconds >= 0'
rc=0
NEXO_FAULT=replace:after-run:fail,migrate:before-undo:fail "${NXC[@]}" --json -y core > "$T/out" 2> "$T/err" || rc=$?
check "core --json, an undo fails too: exit 4" [ "$rc" -eq 4 ] && check "... one document" one_doc
fields "core (rollback incomplete)" \
    '.outcome == "rollback_failed"' '.exit == 4' '.error | startswith("[replace]")' \
    '.steps[] | select(.name == "migrate") | .outcome == "done" and .undo == "failed" and (.undo_error | test("NEXO_FAULT"))' \
    '.steps[] | select(.name == "replace") | .outcome == "failed" and .undo == "done"' \
    '.steps[] | select(.name == "backup") | .outcome == "done" and .undo == null'
"${NXC[@]}" -q recover > /dev/null 2>&1
rc=0
NEXO_FAULT=health:before-run:fail "${NXC[@]}" --json -y core > "$T/out" 2> "$T/err" || rc=$?
check "core --json, refused by the first step: exit 1" [ "$rc" -eq 1 ] && check "... one document" one_doc
fields "core (refused by a step)" \
    '.outcome == "refused"' '.exit == 1' ".update_id | test(\"$ID_RE\")" \
    '.steps[0].outcome == "failed"' '.steps[1:] | all(.outcome == "skipped")'
REFID=$(jv .update_id)
check "... history: a refusal that changed nothing is refused, not rolled_back" \
    [ "$(site_history_outcome "$REFID")" = refused ]
js history --id "$REFID"
fields "history --id (refused)" '.attempt.outcome == "refused"' '.journal_outcome == "refused"' \
    '.attempt.error == "[health] NEXO_FAULT: injected failure at before-run"'
# killed during a step, then recover: that step was interrupted, not failed
rc=0
NEXO_FAULT=replace:before-run:kill quiet_kill "${NXC[@]}" -q -y core > /dev/null 2>&1 || rc=$?
check "core killed during replace: exit 137" [ "$rc" -eq 137 ]
js recover
KID=$(db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 1")
check "recover --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "recover" '.outcome == "recovered"' '.exit == 0' ".update_id == \"$KID\"" \
    '.update_outcome == "rolled_back"'
js recover
fields "recover again" '.outcome == "nothing_to_do"' '.exit == 0' '.update_id == null'
check "... one document" one_doc
js history --id "$KID"
fields "history --id (killed, recovered)" '.attempt.outcome == "rolled_back"' \
    '.attempt.error == "interrupted"' \
    '.steps[] | select(.name == "replace") | .outcome == "interrupted" and .undo == "done"' \
    '[.steps[] | select(.outcome == "failed")] == []'
"${NXC[@]}" history --id "$KID" > "$T/hist.txt" 2>&1
check "history --id text: the killed step is interrupted" grep -qE '^ +replace +interrupted ' "$T/hist.txt"
# SIGTERM during a step (a slow update.before hook): unwound, that step interrupted
mkdir -p "$T/hooks/update.before.d"
printf '#!/bin/sh
touch "%s/hook-started"
sleep 2
' "$T" > "$T/hooks/update.before.d/10-slow"
chmod 755 "$T/hooks/update.before.d/10-slow"
rm -f "$T/hook-started"
"${NXC[@]}" -q -y core > /dev/null 2>&1 &
upid=$!
for _ in $(seq 1 200); do [ -e "$T/hook-started" ] && break; sleep 0.05; done
kill -TERM "$upid"
rc=0; wait "$upid" || rc=$?
check "core stopped by SIGTERM during a hook: exit 3 (got $rc)" [ "$rc" -eq 3 ]
TID=$(db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 1")
js history --id "$TID"
fields "history --id (SIGTERM)" '.attempt.outcome == "rolled_back"' \
    '.attempt.error | test("interrupted by signal 15")' \
    '.steps[] | select(.name == "hooks-before") | .outcome == "interrupted"'
rm -rf "$T/hooks/update.before.d"
check "site clean after the failures" site_clean

# ---- plugin, all --------------------------------------------------------------------------
site_pack_plugin forum 1.0.0 1.1.0
js -y plugin forum --to 1.0.0
check "plugin forum --json (install): exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "plugin" \
    '.outcome == "success"' '.component == "plugin:forum"' '.from_version == null' \
    '.to_version == "1.0.0"' '.installed == null' '.version == "1.0.0"' '.pipeline == "plugin"' \
    ".update_id | test(\"$ID_RE\")" '.steps | all(.outcome == "done")'
js -y all
check "all --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "all" \
    '.outcome == "success"' '.exit == 0' '.dry_run == false' '.updates | length == 2' \
    '.updates[0].component == "core" and .updates[0].from == "1.1.0" and .updates[0].to == "1.2.0"' \
    '.updates[1].component == "plugin:forum" and .updates[1].from_version == "1.0.0" and .updates[1].to_version == "1.1.0"' \
    '.updates | all(.outcome == "success" and .exit == 0)' \
    ".updates | all(.update_id | test(\"$ID_RE\"))" \
    '.updates[0].update_id != .updates[1].update_id' \
    '.updates | all(.steps | length > 0 and all(.outcome == "done"))' \
    '.updates | all(.maintenance_seconds | type == "number")' \
    '.updates | all(.log_file | type == "string")' '.updates | all(.error == null)'
js -y all
check "all --json, up to date: exit 0, one document" bash -c "[ $rc -eq 0 ]" && check "... one document" one_doc
fields "all (nothing to do)" '.outcome == "nothing_to_do"' '.updates == []' '.exit == 0'

# ---- rollback ----------------------------------------------------------------------------
PID=$(db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 1")
js -n rollback
check "rollback -n --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "rollback -n" \
    '.outcome == "planned"' '.dry_run == true' '.component == "plugin:forum"' \
    ".backup.update_id == \"$PID\"" '.backup.from_version == "1.0.0"' '.backup.to_version == "1.1.0"' \
    '.backup.path | startswith("'"$T"'/backups/backup_")'
js -y rollback
check "rollback --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
RID=$(jv .update_id)
fields "rollback" \
    '.outcome == "success"' '.exit == 0' '.component == "plugin:forum"' \
    '.from_version == "1.1.0"' '.to_version == "1.0.0"' '.pipeline == "rollback"' \
    ".backup.update_id == \"$PID\"" '.steps | any(.name == "restore" and .outcome == "done")'
check "... recorded as manual_rollback" [ "$(site_history_outcome "$RID")" = manual_rollback ]

# ---- update-db, pipeline run ----------------------------------------------------------------
js -y update-db
check "update-db --json, nothing to do: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "update-db (nothing)" \
    '.outcome == "nothing_to_do"' '.component == "core"' '.database_version == "1.2.0"' \
    '.disk_version == "1.2.0"' '.action == "nothing"' '.update_id == null'
nx_pipeline "$T/one.ini" 2
js -y pipeline run "$T/one.ini" --component custom-thing --from 1 --to 2
check "pipeline run --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "pipeline run" \
    '.outcome == "success"' '.component == "custom-thing"' '.from_version == "1"' \
    '.to_version == "2"' '.pipeline == "test"' '.steps | length == 2' \
    '.steps[0].name == "s1" and .steps[1].name == "s2"'

# ---- install -----------------------------------------------------------------------------
mkdir -p "$T/site2"
sed -e "s|^root = site$|root = site2|" -e "s|^state = state$|state = state2|" \
    -e "s|^backups = backups$|backups = backups2|" -e "s|^path = .*|path = $T/site2.db|" "$CONF" > "$T/conf2.ini"
PKG=$(ls "$T"/repo/core/*-1.0.0.* | grep -v '\.sig$')
rc=0; "$NX" -c "$T/conf2.ini" --json -y install --package "$PKG" > "$T/out" 2> "$T/err" || rc=$?
check "install --package --json: exit 0" [ "$rc" -eq 0 ] && check "... one document" one_doc
fields "install" \
    '.outcome == "success"' '.exit == 0' '.component == "core"' '.from_version == null' \
    '.to_version == "1.0.0"' '.version == "1.0.0"' ".source == \"$PKG\"" \
    '.sha256 | test("^[0-9a-f]{64}$")' '.size_bytes > 0' ".root == \"$T/site2\"" \
    '.database_driver == "sqlite"' '.pipeline == "install"' \
    ".update_id | test(\"$ID_RE\")" '.steps | length > 0 and all(.outcome == "done")' \
    '.log_file | startswith("'"$T"'/state2/logs/")'
rc=0; "$NX" -c "$T/conf2.ini" --json -y install --package "$PKG" > "$T/out" 2> "$T/err" || rc=$?
check "install again --json: refused, exit 1" [ "$rc" -eq 1 ] && check "... one document" one_doc
fields "install (refused)" '.outcome == "refused"' '.exit == 1' '.update_id == null' '.error | test("refused")'

nx_finish
