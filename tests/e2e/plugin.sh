#!/usr/bin/env bash
# `nexo-update plugin SLUG` end to end on DRIVER (issue 6, contracts §2
# `plugin SLUG`, §6, §7): a demo site at core 1.0.0 (site_setup) and plugin
# forum packed and signed with nexo-release at 1.0.0, 1.1.0 and 1.2.0
# (site_pack_plugin: install.xml at 1.0.0, upgrade_1.0.0_1.1.0 creates
# forum_topics, upgrade_1.1.0_1.2.0 alters forum_posts, each file logs
# itself in forum_log).
#
#   * usage errors, a plugin nobody offers, no terminal: refused, nothing
#     changed; -n and --json -n of an install plan it and change nothing;
#   * a fresh install (`plugin forum --to 1.0.0`): files into
#     modules/plugins/forum/ (with the recorded manifest), its install.xml,
#     system_versions plugin:forum, history; core and the other plugin
#     untouched; `rollback --to <its id>` takes the plugin out again and
#     the database back; installed again;
#   * 1.0.0 -> 1.2.0 failing at every step of `pipeline show plugin`
#     (after-run, `fail`: exit 1 before maintenance mode, 3 after; `kill`
#     from maintenance on, then recover; migrate's and replace's
#     checkpoints): files and database exactly as before, nothing left;
#   * 1.0.0 -> 1.2.0 through both migration files in one update: the
#     folder swapped to exactly the 1.2.0 release, forum_log in order, the
#     tables, plugin:forum rows, the backup holding only the plugin's
#     folder, core and the other plugin untouched (files and core rows),
#     status and history;
#   * `rollback` (the newest update backup) and `rollback --to <id>` of a
#     plugin update: the plugin's folder and the database as before the
#     update, core untouched;
#   * a signed index offering for forum a package of plugin:blog, or of
#     core: refused by verify before maintenance mode, nothing changed.
#
# Usage: plugin.sh PREFIX TESTMODS DRIVER
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
DRV=$3
T0=$(date +%s)
site_setup "$DRV" 1.0.0 1.1.0
site_pack_plugin forum 1.0.0 1.1.0 1.2.0
PDIR="$T/site/modules/plugins/forum"

# run_nx ARGS...: the exit code in $rc, stdout in $T/out, stderr in $T/err
run_nx() { rc=0; "$NX" -c "$CONF" "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?; }
show_err() { sed 's/^/#   /' "$T/err" | tail -n 20; }
has() { grep -q -F -- "$1" "$2"; }
same_nocache() { SITE_SKIP_CACHE=1 site_same "$1"; }
jqt() { jq -e "$1" "$2" > /dev/null; }

# everything of the site but the plugin's folder and var/cache (which a
# successful update empties by design)
core_tree() { SITE_SKIP_CACHE=1 site_files | grep -v -E '^\./modules/plugins/forum( |/)'; }
core_rows() {
    db_sql "SELECT component, version_number, version_code FROM system_versions WHERE component <> 'plugin:forum' ORDER BY id"
    db_sql "SELECT id, email, bio, created_at FROM users ORDER BY id"
    db_sql "SELECT user_id, last_activity FROM sessions ORDER BY id"
    db_sql "SELECT config_key, config_value FROM config ORDER BY id"
}
core_snapshot() { core_tree > "$T/core.files"; core_rows > "$T/core.rows"; }
core_same() {
    local rc=0
    core_tree | diff "$T/core.files" - >&2 || rc=1
    core_rows | diff "$T/core.rows" - >&2 || rc=1
    return $rc
}
# tree DIR: path, type, mode, sha256 below DIR
tree() {
    (cd "$1" && find . -printf '%p %y %m\n' | LC_ALL=C sort | nx_tree_sum)
}
# plugin_is V: the plugin's folder is exactly release V's tree plus the
# manifest the extract step records in it
plugin_is() {
    local pkg="$T/repo/plugins/forum/forum-$1.tar.zst"
    { tree "$T/src/plugin-forum-$1" | grep -v '^\. d'
      echo "./.nexo-release.json f 644 $(bsdtar -xOf "$pkg" nexo-release.json | sha256sum | cut -c1-64)"
    } | LC_ALL=C sort > "$T/plugin.want"
    tree "$PDIR" | grep -v '^\. d' | diff "$T/plugin.want" - >&2
}
forum_rows() { db_sql "SELECT version_number FROM system_versions WHERE component = 'plugin:forum' ORDER BY id" | tr '\n' ' '; }
forum_log() { db_sql "SELECT step FROM forum_log ORDER BY id" | tr '\n' ' '; }
# the update id of the attempt just made: the journal that appeared
journals_before() { ls "$T/state/journal" > "$T/jnl.pre" 2>/dev/null || : > "$T/jnl.pre"; }
new_update_id() {
    local f
    f=$(ls "$T/state/journal" 2>/dev/null | grep -v -x -F -f "$T/jnl.pre" | grep '\.jnl$' | grep -v '^current' | head -n 1 || true)
    echo "${f%.jnl}"
}
history_of() { # history_of ID: component from to outcome
    db_sql "SELECT component, COALESCE(from_version, '-'), COALESCE(to_version, '-'), outcome FROM update_history WHERE update_id = '$1'" | tr '\t' ' '
}
backup_of() { ls -d "$T/backups/backup_$1_"* 2>/dev/null | head -n 1; }

# ---- refusals and plans before the plugin is installed ------------------------
site_snapshot fresh
core_snapshot
run_nx plugin
check "plugin without a slug: usage, exit 2 (got $rc)" test "$rc" = 2
run_nx plugin 'Forum!'
check "plugin with a bad slug: exit 2 (got $rc)" \
    bash -c "test $rc = 2 && grep -q \"'Forum!' is not a plugin slug\" '$T/err'"
run_nx plugin forum --allow-downgrade
check "plugin --allow-downgrade without --to: exit 2 (got $rc)" test "$rc" = 2
run_nx -y plugin nope
check "a plugin nobody offers: exit 1, named (got $rc)" \
    bash -c "test $rc = 1 && grep -q 'plugin:nope is not installed, and .* offers no release' '$T/err'"
run_nx plugin forum
check "no terminal, no -y: exit 2 (got $rc)" \
    bash -c "test $rc = 2 && grep -q 'Install plugin:forum 1.2.0 on the site' '$T/err'"
run_nx -n plugin forum
check "-n plugin forum: exit 0 (got $rc)" test "$rc" = 0
check "-n: the offer of an install" grep -qx 'plugin:forum (not installed) -> 1.2.0' "$T/out"
check "-n: the package is verified and staged, its files listed as added to the plugin's folder" \
    bash -c "grep -q '\[verify\] done' '$T/err' && grep -q '\[extract\] extracting .*plugin:forum 1.2.0' '$T/err' && grep -q '+ modules/plugins/forum/version.php' '$T/err'"
check "-n: its install.xml planned as SQL from the staged package" \
    bash -c "grep -q 'modules/plugins/forum/database/schema/install.xml (install 1.0.0)' '$T/err' && grep -qi 'CREATE TABLE.*forum_posts' '$T/err'"
check "-n: nothing staged or installed is left" \
    bash -c "! test -e '$T/site/modules/plugins/forum' && ! ls -a '$T/site' | grep -q '^\.nexo-'"
check "-n: the plugin's folder is the one path replaced" \
    has "would replace $T/site/modules/plugins/forum with the staged one" "$T/err"
run_nx --json -n plugin:forum --to 1.1.0
check "--json -n plugin:forum --to 1.1.0: exit 0, installed null, no param.installed" \
    bash -c "test $rc = 0 && jq -e '.component == \"plugin:forum\" and .installed == null and .version == \"1.1.0\"
        and .facts[\"param.component\"] == \"plugin:forum\" and (.facts | has(\"param.installed\") | not)' '$T/out' > /dev/null"
check "refusals and plans changed nothing" site_same fresh
check "... nothing left behind" site_clean

# ---- a fresh install ------------------------------------------------------------
SITE_SKIP_CACHE=1 site_snapshot noplugin
journals_before
run_nx -y plugin forum --to 1.0.0
INSTALL_ID=$(new_update_id)
check "plugin forum --to 1.0.0 (not installed): exit 0 (got $rc)" test "$rc" = 0
[ "$rc" = 0 ] || show_err
check "... the outcome line says a new install" has "(plugin:forum new install of 1.0.0) succeeded" "$T/err"
check "... modules/plugins/forum is release 1.0.0 with its recorded manifest" plugin_is 1.0.0
check "... its install.xml ran" test "$(forum_log)" = "install_1.0.0 "
check "... system_versions: plugin:forum 1.0.0" test "$(forum_rows)" = "1.0.0 "
check "... history: plugin:forum - -> 1.0.0 success" test "$(history_of "$INSTALL_ID")" = "plugin:forum - 1.0.0 success"
check "... core, the demo plugin and the site's rows untouched" core_same
check "... nothing left behind" site_clean
run_nx status
check "status: forum 1.0.0 on disk and in the database" \
    grep -qx 'plugin:       forum 1.0.0 (database: 1.0.0)' "$T/out"
check "status: demo has no registered version" \
    grep -qx 'plugin:       demo 1.0.0 (database: not registered)' "$T/out"
run_nx --json status
check "status --json: plugins[].registered" \
    jqt '[.plugins[] | {slug, version, registered}] == [{"slug": "demo", "version": "1.0.0", "registered": null},
           {"slug": "forum", "version": "1.0.0", "registered": "1.0.0"}]' "$T/out"

# rollback of the install: the plugin goes, the database is as before
run_nx -n rollback --to "$INSTALL_ID"
check "-n rollback --to <install>: exit 0, names the plugin's folder (got $rc)" \
    bash -c "test $rc = 0 && grep -q 'Restores: the plugin.s folder modules/plugins/forum and the database as they were then: plugin:forum 1.0.0 -> not installed' '$T/out'"
journals_before
run_nx -y rollback --to "$INSTALL_ID"
RB_ID=$(new_update_id)
check "rollback --to <install>: exit 0 (got $rc)" test "$rc" = 0
[ "$rc" = 0 ] || show_err
check "... plugin gone, files and database as before the install" same_nocache noplugin
check "... history: manual_rollback of plugin:forum" test "$(history_of "$RB_ID")" = "plugin:forum 1.0.0 - manual_rollback"
check "... nothing left behind" site_clean

run_nx -y plugin forum --to 1.0.0
check "installed again: exit 0 (got $rc)" test "$rc" = 0
check "... release 1.0.0" plugin_is 1.0.0

# ---- every step fails: 1.0.0 -> 1.2.0 leaves everything as it was -------------
"$NX" -c "$CONF" --json pipeline show plugin > "$T/show.json"
mapfile -t STEPS < <(jq -r '.steps[].name' "$T/show.json")
mapfile -t MODULES < <(jq -r '.steps[].module' "$T/show.json")
MAINT=-1
for i in "${!STEPS[@]}"; do
    if [ "$MAINT" -lt 0 ] && [ "${MODULES[$i]}" = maintenance ]; then MAINT=$i; fi
done
check "plugin pipeline: ${#STEPS[@]} steps, maintenance-on among them" test "$MAINT" -gt 0
check "plugin pipeline: migrate mode = auto" \
    jqt '.steps[] | select(.name == "migrate") | .settings.mode == "auto"' "$T/show.json"
echo "# steps: ${STEPS[*]}"

site_snapshot old
fault_case() { # fault_case NEXO_FAULT WANT ERRTEXT
    local fault=$1 want=$2 text=$3 id
    journals_before
    rc=0
    NEXO_FAULT=$fault quiet_kill "$NX" -q -c "$CONF" -y plugin forum > "$T/out" 2> "$T/err" < /dev/null || rc=$?
    check "$fault: exit $want (got $rc), stderr: $text" \
        bash -c 'test "$1" = "$2" && grep -q -F -- "$3" "$4"' _ "$rc" "$want" "$text" "$T/err"
    [ "$rc" = "$want" ] || show_err
    if [ "$want" = 137 ]; then
        rc=0
        "$NX" -q -c "$CONF" recover > "$T/rec.out" 2> "$T/rec.err" || rc=$?
        check "$fault: recover exits 0 (got $rc)" test "$rc" = 0
    fi
    id=$(new_update_id)
    check "$fault: the plugin, core and the database exactly as before" site_same old
    check "$fault: nothing left behind" site_clean
    # exit 1 changed nothing: refused (engine.c), else rolled back
    local outcome=rolled_back; [ "$want" != 1 ] || outcome=refused
    check "$fault: history: plugin:forum 1.0.0 -> 1.2.0 $outcome" \
        test "$(history_of "$id")" = "plugin:forum 1.0.0 1.2.0 $outcome"
}
for i in "${!STEPS[@]}"; do
    s=${STEPS[$i]}
    want=3; [ "$i" -ge "$MAINT" ] || want=1
    fault_case "$s:after-run:fail" "$want" "[$s] NEXO_FAULT: injected failure at after-run"
    if [ "$i" -ge "$MAINT" ]; then
        fault_case "$s:after-run:kill" 137 "NEXO_FAULT: kill at $s:after-run"
    fi
done
fault_case "migrate:checkpoint:1:fail" 3 "[migrate] NEXO_FAULT: injected failure at checkpoint 1"
fault_case "migrate:checkpoint:2:kill" 137 "NEXO_FAULT: kill at migrate:checkpoint:2"
fault_case "replace:checkpoint:1:kill" 137 "NEXO_FAULT: kill at replace:checkpoint:1"

# ---- 1.0.0 -> 1.2.0 -------------------------------------------------------------
core_snapshot
SITE_SKIP_CACHE=1 site_snapshot before-update
OLD_INO=$(stat -c %i "$PDIR")
journals_before
run_nx -y plugin:forum
U1=$(new_update_id)
check "plugin:forum 1.0.0 -> 1.2.0: exit 0 (got $rc)" test "$rc" = 0
[ "$rc" = 0 ] || show_err
check "... the outcome line" has "(plugin:forum 1.0.0 -> 1.2.0) succeeded" "$T/err"
check "... both migration files, in order, each once" \
    test "$(forum_log)" = "install_1.0.0 upgrade_1.0.0_1.1.0 upgrade_1.1.0_1.2.0 "
check "... forum_topics created" test "$(db_sql 'SELECT COUNT(*) FROM forum_topics')" = 0
db_sql "INSERT INTO forum_posts (title, topic_id) VALUES ('hello', 1)" > /dev/null 2>&1 &&
    ok "... forum_posts takes a topic_id" || not_ok "... forum_posts takes a topic_id"
db_sql "DELETE FROM forum_posts" > /dev/null
check "... system_versions: plugin:forum 1.0.0, 1.2.0" test "$(forum_rows)" = "1.0.0 1.2.0 "
check "... the folder swapped: exactly release 1.2.0 (only-1.0.0.txt gone)" plugin_is 1.2.0
check "... a new folder in place" test "$(stat -c %i "$PDIR")" != "$OLD_INO"
check "... core, the demo plugin and core's rows untouched" core_same
check "... history: plugin:forum 1.0.0 -> 1.2.0 success" test "$(history_of "$U1")" = "plugin:forum 1.0.0 1.2.0 success"
check "... nothing left behind" site_clean
B1=$(backup_of "$U1")
check "... the backup names plugin:forum 1.0.0 -> 1.2.0" \
    jqt '.component == "plugin:forum" and .from_version == "1.0.0" and .to_version == "1.2.0" and .pipeline == "plugin"' "$B1/meta.json"
check "... the backup holds the plugin's folder only" \
    bash -c "bsdtar -tf '$B1/files.tar.zst' | grep -v -E '^modules/plugins/forum(/|\$)' | wc -l | grep -qx 0 &&
             bsdtar -tf '$B1/files.tar.zst' | grep -qx 'modules/plugins/forum/only-1.0.0.txt'"
run_nx status
check "status: forum 1.2.0 on disk and in the database" \
    grep -qx 'plugin:       forum 1.2.0 (database: 1.2.0)' "$T/out"
run_nx -n plugin forum
check "-n plugin forum: no update available, exit 0 (got $rc)" \
    bash -c "test $rc = 0 && grep -q '^plugin:forum 1.2.0: no update available from ' '$T/out'"
run_nx plugin forum --to 1.0.0
check "--to an older release without --allow-downgrade: exit 1 (got $rc)" \
    bash -c "test $rc = 1 && grep -q 'plugin:forum 1.0.0 is not newer than the installed 1.2.0' '$T/err'"

# ---- rollback of a plugin update ----------------------------------------------
run_nx -n rollback
check "-n rollback: the newest update backup is the plugin's (got $rc)" \
    bash -c "test $rc = 0 && grep -q 'before update $U1 (plugin:forum 1.0.0 -> 1.2.0)' '$T/out'"
journals_before
run_nx -y rollback
RB1=$(new_update_id)
check "rollback: exit 0 (got $rc)" test "$rc" = 0
[ "$rc" = 0 ] || show_err
check "... the plugin's folder and the database as before the update" same_nocache before-update
check "... release 1.0.0" plugin_is 1.0.0
check "... core untouched" core_same
check "... history: plugin:forum 1.2.0 -> 1.0.0 manual_rollback" \
    test "$(history_of "$RB1")" = "plugin:forum 1.2.0 1.0.0 manual_rollback"
check "... nothing left behind" site_clean

journals_before
run_nx -y plugin forum
U2=$(new_update_id)
check "updated again: exit 0 (got $rc)" test "$rc" = 0
check "... release 1.2.0" plugin_is 1.2.0
journals_before
run_nx -y rollback --to "$U2"
RB2=$(new_update_id)
check "rollback --to <plugin update>: exit 0 (got $rc)" test "$rc" = 0
[ "$rc" = 0 ] || show_err
check "... the plugin's folder and the database as before the update" same_nocache before-update
check "... core untouched" core_same
check "... history: manual_rollback" test "$(history_of "$RB2")" = "plugin:forum 1.2.0 1.0.0 manual_rollback"
check "... nothing left behind" site_clean

# ---- a package that names another plugin or component -------------------------
site_pack_plugin blog 1.3.0
cp -a "$T/repo" "$T/evil"
# the signed index offers forum 1.3.0 and 1.4.0, but the files are blog's
# and core's packages (signed by the vendor: only the manifest tells)
jq '.releases += [(.releases[] | select(.component == "plugin:blog" and .version == "1.3.0")
                   | .component = "plugin:forum"),
                  (.releases[] | select(.component == "core" and .version == "1.1.0")
                   | .component = "plugin:forum" | .version = "1.4.0")]' \
    "$T/repo/index.json" > "$T/evil/index.json"
"$REL" -q sign --key "$T/keys/vendor.key" "$T/evil/index.json"
sed "s|^url = .*|url = file://$T/evil/index.json|" "$CONF" > "$T/evil.ini"
site_snapshot old
for c in "1.3.0 plugin:blog" "1.4.0 core"; do
    set -- $c
    journals_before
    rc=0
    "$NX" -c "$T/evil.ini" -y plugin forum --to "$1" > "$T/out" 2> "$T/err" < /dev/null || rc=$?
    id=$(new_update_id)
    check "forum $1 whose package is $2: exit 1 (got $rc)" test "$rc" = 1
    check "... refused by verify: the package is $2" \
        has "[verify] " "$T/err"
    check "... naming both" has "the package is $2, but plugin:forum was offered: refused" "$T/err"
    check "... before maintenance mode" \
        bash -c "! grep -q '\"name\":\"maintenance-on\"' <(grep '\"ev\":\"step-start\"' '$T/state/journal/$id.jnl')"
    check "... nothing changed (files, cache, database)" site_same old
    check "... nothing left behind" site_clean
done

echo "# $DRV: $(( $(date +%s) - T0 )) s"
nx_finish
