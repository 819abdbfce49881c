#!/usr/bin/env bash
# The migrate step on a real database: install, the 1.0.0 -> 1.5.0 path
# (ending in the spec's §5.2 example verbatim), dry run, failures and
# kills at every checkpoint with undo/recover back to an identical dump,
# a failing statement, rejections, the direct file preferred, and two
# nodes sharing one database. Usage: migrate.sh PREFIX TESTMODS DRIVER
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
nx_setup "$1" "$2"
db_setup "$3"
SRC=$(cd "$here/../.." && pwd)
STATE="$T/state"
cp -a "$SRC/tests/fixtures/site/." "$T/site/"

printf '[pipeline]\nname = install\n[install]\nmodule = migrate\nmode = install\n' > "$T/install.ini"
printf '[pipeline]\nname = db\n[migrate]\nmodule = migrate\n' > "$T/up.ini"
printf '[pipeline]\nname = db\n[migrate]\nmodule = migrate\n[after]\nmodule = %s/fake_step.so\ndir = %s/fx\n' \
    "$MODS" "$T" > "$T/up2.ini"
run() { local rc=0; "$NX" -c "$CONF" -y "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?; echo "$rc"; }
up() { run pipeline run "$T/up.ini" --component core --from 1.0.0 --to 1.5.0; }
same_dump() { db_dump > "$T/now.sql"; cmp -s "$T/before.sql" "$T/now.sql" || { diff "$T/before.sql" "$T/now.sql" | head -20 | sed 's/^/# /'; return 1; }; }
site_intact() { test -f "$T/site/public_html/old_file.php" && test -d "$T/site/modules/deprecated" \
    && test -f "$T/site/var/cache/template_cache/page.html" && ! ls -d "$T"/site/.nexo-trash-* > /dev/null 2>&1; }

# Install 1.0.0 on the empty database.
rc=$(run pipeline run "$T/install.ini" --component core --to 1.0.0)
check "$DRIVER: install 1.0.0: exit 0 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 0
check "$DRIVER: install: rows of install.xml" test "$(db_sql 'SELECT COUNT(*) FROM users')" = 2
check "$DRIVER: install: nexo-update's tables exist (the install itself in the history)" \
    test "$(db_sql 'SELECT COUNT(*) FROM system_versions')$(db_sql 'SELECT COUNT(*) FROM update_history')$(db_sql 'SELECT COUNT(*) FROM update_notifications')" = 010
db_dump > "$T/before.sql"

# Dry run: the SQL of every file in the dialect, nothing changes.
rc=$(run -n pipeline run "$T/up.ini" --component core --from 1.0.0 --to 1.5.0)
check "$DRIVER: dry run: exit 0" test "$rc" = 0
check "$DRIVER: dry run: prints each file and its SQL" \
    bash -c "grep -c 'upgrade_1\.[0-4]\.0_1\.[1-5]\.0\.xml' '$T/err' | grep -qx 5 && grep -qi 'CREATE TABLE.*notifications' '$T/err'"
check "$DRIVER: dry run: database unchanged" same_dump

# fail and kill at every checkpoint of the five-file path.
for n in 1 2 3 4 5; do
    rc=0; NEXO_FAULT=migrate:checkpoint:$n:fail "$NX" -q -c "$CONF" -y pipeline run "$T/up.ini" --from 1.0.0 --to 1.5.0 2>"$T/err" || rc=$?
    check "$DRIVER: fail at checkpoint $n: exit 3" test "$rc" = 3
    check "$DRIVER: fail at checkpoint $n: dump equals the one before" same_dump
    check "$DRIVER: fail at checkpoint $n: cleaned files are back" site_intact
    rc=0; NEXO_FAULT=migrate:checkpoint:$n:kill quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$T/up.ini" --from 1.0.0 --to 1.5.0 2>"$T/err" || rc=$?
    rc2=0; "$NX" -q -c "$CONF" recover 2>"$T/err" || rc2=$?
    check "$DRIVER: kill at checkpoint $n, recover: exits 137, 0 (got $rc, $rc2)" test "$rc$rc2" = 1370
    check "$DRIVER: kill at checkpoint $n, recover: dump equals the one before" same_dump
    check "$DRIVER: kill at checkpoint $n, recover: cleaned files are back" site_intact
done

# A later step fails after the migrations were committed: undo restores.
mkdir -p "$T/fx"
rc=0; NEXO_FAULT=after:after-run:fail "$NX" -q -c "$CONF" -y pipeline run "$T/up2.ini" --from 1.0.0 --to 1.5.0 2>"$T/err" || rc=$?
check "$DRIVER: a later step fails: exit 3" test "$rc" = 3
check "$DRIVER: a later step fails: dump equals the one before" same_dump
rc=0; NEXO_FAULT=after:after-run:kill quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$T/up2.ini" --from 1.0.0 --to 1.5.0 2>"$T/err" || rc=$?
"$NX" -q -c "$CONF" recover 2>>"$T/err" || true
check "$DRIVER: killed after migrate, recover: dump equals the one before" same_dump

# A file whose third statement fails.
BAD="$T/bad"; mkdir -p "$BAD/database/upgrades"
cat > "$BAD/database/upgrades/upgrade_1.0.0_1.1.0.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<upgrade from="1.0.0" to="1.1.0">
    <database>
        <create_table name="first_table">
            <columns><column name="id" type="INT" primary="true"/></columns>
        </create_table>
        <modify_table name="users">
            <add_column name="nickname" type="VARCHAR" length="40"/>
        </modify_table>
    </database>
    <data>
        <insert table="no_such_table">
            <row><x>1</x></row>
        </insert>
    </data>
</upgrade>
EOF
printf '[pipeline]\nname = db\n[migrate]\nmodule = migrate\nupgrades = %s/database/upgrades\n' "$BAD" > "$T/bad.ini"
rc=$(run pipeline run "$T/bad.ini" --from 1.0.0 --to 1.1.0)
check "$DRIVER: third statement fails: exit 3" test "$rc" = 3
check "$DRIVER: third statement fails: the error names file:line and the SQL" \
    bash -c "grep -q 'upgrade_1.0.0_1.1.0.xml:1[12]' '$T/err' && grep -qi 'no_such_table' '$T/err'"
check "$DRIVER: third statement fails: dump equals the one before" same_dump

# Rejections: nothing runs, nothing changes, file:line named.
reject() { # reject NAME LINE PHRASE XML
    local name=$1 line=$2 phrase=$3
    rm -rf "$BAD/database/upgrades"; mkdir -p "$BAD/database/upgrades"
    printf '%s\n' "$4" > "$BAD/database/upgrades/upgrade_1.0.0_1.1.0.xml"
    local rc
    rc=$(run pipeline run "$T/bad.ini" --from 1.0.0 --to 1.1.0)
    check "$DRIVER: reject $name: exit 1 (got $rc)" test "$rc" = 1
    check "$DRIVER: reject $name: message names file:$line" \
        bash -c "grep -q 'upgrade_1.0.0_1.1.0.xml:$line: .*$phrase' '$T/err' || { cat '$T/err' | sed 's/^/# /'; false; }"
    check "$DRIVER: reject $name: nothing changed" same_dump
}
H='<?xml version="1.0" encoding="UTF-8"?>'
reject "malformed XML" 3 "malformed" "$H
<upgrade from=\"1.0.0\" to=\"1.1.0\">
  <database><create_table name=\"x\"></database>
</upgrade>"
reject "unknown element" 3 "unknown element" "$H
<upgrade from=\"1.0.0\" to=\"1.1.0\">
  <database><rename_table name=\"x\" to=\"y\"/></database>
</upgrade>"
reject "bad identifier" 3 "invalid identifier" "$H
<upgrade from=\"1.0.0\" to=\"1.1.0\">
  <database><drop_table name=\"users; DROP\"/></database>
</upgrade>"
reject "cleanup leaving the site" 3 "leaves the site root" "$H
<upgrade from=\"1.0.0\" to=\"1.1.0\">
  <cleanup><delete_file>../../etc</delete_file></cleanup>
</upgrade>"

# The whole path 1.0.0 -> 1.5.0.
rc=$(up)
check "$DRIVER: 1.0.0 -> 1.5.0: exit 0 (got $rc: $(tail -n2 "$T/err" | tr '\n' ' '))" test "$rc" = 0
check "$DRIVER: every intermediate file once and in order" \
    test "$(db_sql 'SELECT file FROM migration_log ORDER BY id' | tr '\n' ' ')" = "upgrade_1.0.0_1.1.0 upgrade_1.1.0_1.2.0 upgrade_1.2.0_1.3.0 upgrade_1.3.0_1.4.0 "
check "$DRIVER: booleans: 'true' stored as true" test "$(db_sql 'SELECT COUNT(*) FROM tags WHERE visible')" = 1
check "$DRIVER: §5.2: notifications created" test "$(db_sql 'SELECT COUNT(*) FROM notifications')" = 0
check "$DRIVER: §5.2: avatar_url added and filled" \
    test "$(db_sql "SELECT COUNT(*) FROM users WHERE avatar_url = '/assets/images/default-avatar.png'")" = 2
check "$DRIVER: §5.2: obsolete_table dropped" bash -c "! db_sql 'SELECT 1 FROM obsolete_table' > /dev/null 2>&1"
check "$DRIVER: §5.2: config row inserted" \
    test "$(db_sql "SELECT config_value FROM config WHERE config_key = 'notifications.enabled'")" = true
check "$DRIVER: §5.2: old sessions deleted with {{TIMESTAMP}}" test "$(db_sql 'SELECT COUNT(*) FROM sessions')" = 1
check "$DRIVER: §5.2: custom script ran with its environment" \
    bash -c "grep -qx 'from=1.4.0' '$T/site/var/custom-script.env' && grep -qx 'to=1.5.0' '$T/site/var/custom-script.env' && grep -qx 'driver=$DRIVER' '$T/site/var/custom-script.env' && grep -qx 'args=0' '$T/site/var/custom-script.env'"
check "$DRIVER: §5.2: cleanup removed the file, the folder and the cache" \
    bash -c "! test -e '$T/site/public_html/old_file.php' && ! test -e '$T/site/modules/deprecated' && ! test -e '$T/site/var/cache/template_cache'"
check "$DRIVER: no trash left after success" bash -c "! ls -d '$T'/site/.nexo-trash-* > /dev/null 2>&1"

# The direct file is preferred over the path through 1.1 ... 1.4.
DIR2="$T/direct"; mkdir -p "$DIR2/database/upgrades"
cp "$T/site/database/upgrades/"*.xml "$DIR2/database/upgrades/"
mkmig() { # mkmig FROM TO LOGNAME
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<upgrade from="%s" to="%s">\n  <data><insert table="migration_log"><row><file>%s</file></row></insert></data>\n</upgrade>\n' \
        "$1" "$2" "$3" > "$DIR2/database/upgrades/upgrade_$1_$2.xml"
}
mkmig 1.5.0 2.0.0 via-2.0.0
mkmig 2.0.0 2.1.0 via-2.1.0
mkmig 1.5.0 2.1.0 direct-1.5.0-2.1.0
printf '[pipeline]\nname = db\n[migrate]\nmodule = migrate\nupgrades = %s/database/upgrades\n' "$DIR2" > "$T/direct.ini"
rc=$(run pipeline run "$T/direct.ini" --from 1.5.0 --to 2.1.0)
check "$DRIVER: direct file preferred: exit 0" test "$rc" = 0
check "$DRIVER: direct file preferred: only it ran" \
    test "$(db_sql "SELECT file FROM migration_log WHERE file NOT LIKE 'upgrade%' ORDER BY id" | tr '\n' ' ')" = "direct-1.5.0-2.1.0 "

# Two nodes (two state folders) sharing the database: never both at once.
CONF2="$T/nexo2.ini"
sed 's/^state = state$/state = state2/' "$CONF" > "$CONF2"
printf '[pipeline]\nname = slow\n[migrate]\nmodule = migrate\nupgrades = %s/database/upgrades\n[slow]\nmodule = %s/fake_step.so\ndir = %s/fx\nsleep_ms = 3000\n' \
    "$DIR2" "$MODS" "$T" > "$T/slow.ini"
: > "$T/fx/record.log"
"$NX" -q -c "$CONF" -y pipeline run "$T/slow.ini" --from 2.0.0 --to 2.1.0 2> "$T/err1" &
first=$!
for _ in $(seq 1 100); do grep -q '^run slow' "$T/fx/record.log" && break; sleep 0.1; done
rc=0; "$NX" -c "$CONF2" -y pipeline run "$T/slow.ini" --from 2.0.0 --to 2.1.0 > /dev/null 2> "$T/err2" || rc=$?
rc1=0; wait "$first" || rc1=$?
check "$DRIVER: two nodes: the second exits 5 (got $rc)" test "$rc" = 5
check "$DRIVER: two nodes: it says the database is locked" grep -qi 'lock' "$T/err2"
check "$DRIVER: two nodes: the first succeeds" test "$rc1" = 0
check "$DRIVER: two nodes: migrated once" \
    test "$(db_sql "SELECT COUNT(*) FROM migration_log WHERE file = 'via-2.1.0'")" = 1

# Custom scripts (driver-independent; run once, on SQLite): a failing
# script fails the migration, a hanging one is killed after script_timeout.
if [ "$DRIVER" = sqlite ]; then
    db_dump > "$T/before-scripts.sql"
    SC="$T/scripts"; mkdir -p "$SC/database/upgrades" "$SC/scripts"
    printf '<?xml version="1.0"?>\n<upgrade from="2.1.0" to="2.2.0">\n  <data><insert table="migration_log"><row><file>2.2.0</file></row></insert></data>\n  <custom><script>scripts/s.sh</script></custom>\n</upgrade>\n' \
        > "$SC/database/upgrades/upgrade_2.1.0_2.2.0.xml"
    printf '[pipeline]\nname = db\n[migrate]\nmodule = migrate\nupgrades = %s/database/upgrades\nscript_timeout = 2\n' "$SC" > "$T/sc.ini"
    # the script lives below the source root, which is the site here
    mkdir -p "$T/site/scripts"
    printf '#!/bin/sh\necho "about to fail"\nexit 7\n' > "$T/site/scripts/s.sh"; chmod 755 "$T/site/scripts/s.sh"
    rc=$(run pipeline run "$T/sc.ini" --from 2.1.0 --to 2.2.0)
    check "$DRIVER: a failing custom script: exit 3, named with its exit code" \
        bash -c "test $rc = 3 && grep -q 'custom script scripts/s.sh failed with exit code 7' '$T/err' && grep -q 'about to fail' '$T/err'"
    db_dump > "$T/now.sql"
    check "$DRIVER: a failing custom script: database restored" cmp -s "$T/before-scripts.sql" "$T/now.sql"
    # it starts a child of its own that ignores SIGTERM: the whole process
    # group goes; its environment is the documented one, PATH fixed
    printf '#!/bin/sh\nenv > "$NEXO_SITE_ROOT/var/script-env"\n(trap "" TERM; sleep 40) &\necho $! > "$NEXO_SITE_ROOT/var/script-child"\nsleep 30\n' > "$T/site/scripts/s.sh"
    t0=$(date +%s)
    rc=$(NEXO_SECRET_OF_THE_CALLER=x run pipeline run "$T/sc.ini" --from 2.1.0 --to 2.2.0)
    check "$DRIVER: a hanging custom script is killed after script_timeout" \
        bash -c "test $rc = 3 && grep -q 'did not finish within 2 s' '$T/err' && test \$(( \$(date +%s) - $t0 )) -lt 20"
    child=$(cat "$T/site/var/script-child" 2> /dev/null || echo 0)
    check "$DRIVER: a hanging custom script: what it started was killed with it (pid $child)" \
        bash -c "test $child -gt 0 && { ! test -e /proc/$child || grep -q '^State:.*Z' /proc/$child/status; }"
    check "$DRIVER: a custom script gets a fixed PATH and not the caller's environment" \
        bash -c "grep -qx 'PATH=/usr/local/bin:/usr/bin:/bin' '$T/site/var/script-env' && ! grep -q NEXO_SECRET_OF_THE_CALLER '$T/site/var/script-env' && grep -qx 'NEXO_DB_DRIVER=sqlite' '$T/site/var/script-env'"
    db_dump > "$T/now.sql"
    check "$DRIVER: a hanging custom script: database restored" cmp -s "$T/before-scripts.sql" "$T/now.sql"
    printf '#!/bin/sh\nexit 0\n' > "$T/site/scripts/s.sh"; chmod 644 "$T/site/scripts/s.sh"
    rc=$(run pipeline run "$T/sc.ini" --from 2.1.0 --to 2.2.0)
    check "$DRIVER: a script that is not executable is refused before anything changes (exit 1)" \
        bash -c "test $rc = 1 && grep -q 'is not an executable file' '$T/err'"
fi

# register_version: a system_versions row, removed again by undo/recover.
printf '[pipeline]\nname = reg\n[register]\nmodule = register_version\nrequire_migrations = no\n[after]\nmodule = %s/fake_step.so\ndir = %s/fx\n' "$MODS" "$T" > "$T/reg.ini"
rc=$(run pipeline run "$T/reg.ini" --component core --from 2.1.0 --to 2.5.0)
check "$DRIVER: register_version: exit 0" test "$rc" = 0
check "$DRIVER: register_version: the row (component, version, code)" \
    test "$(db_sql "SELECT component, version_number, version_code FROM system_versions WHERE version_number = '2.5.0'" | tr '\t' ' ')" = "core 2.5.0 2005000"
rc=0; NEXO_FAULT=after:after-run:fail "$NX" -q -c "$CONF" -y pipeline run "$T/reg.ini" --component core --to 2.6.0 2>/dev/null || rc=$?
check "$DRIVER: register_version: a later failure: exit 3" test "$rc" = 3
check "$DRIVER: register_version: no row for the failed 2.6.0" \
    test "$(db_sql "SELECT COUNT(*) FROM system_versions WHERE version_number = '2.6.0'")" = 0
rc=0; NEXO_FAULT=after:after-run:kill quiet_kill "$NX" -q -c "$CONF" -y pipeline run "$T/reg.ini" --component core --to 2.7.0 2>/dev/null || rc=$?
"$NX" -q -c "$CONF" recover 2>/dev/null || true
check "$DRIVER: register_version: killed, recover removes the row" \
    test "$(db_sql "SELECT COUNT(*) FROM system_versions WHERE version_number = '2.7.0'")" = 0

# history: every attempt, failed ones too, written after the outcome.
"$NX" -c "$CONF" --json history --limit 1000 > "$T/history.json" 2> "$T/err"
check "$DRIVER: history --json lists the attempts" \
    bash -c "jq -e '.attempts | length >= 10' '$T/history.json' > /dev/null"
check "$DRIVER: history: the checkpoint failures are rolled_back with their error" \
    bash -c "jq -e '[.attempts[] | select(.outcome == \"rolled_back\" and (.error // \"\" | test(\"NEXO_FAULT\")))] | length >= 5' '$T/history.json' > /dev/null"
check "$DRIVER: history: killed attempts recovered are recorded (interrupted)" \
    bash -c "jq -e '[.attempts[] | select(.outcome == \"rolled_back\" and .error == \"interrupted\")] | length >= 5' '$T/history.json' > /dev/null"
check "$DRIVER: history: the 1.0.0 -> 1.5.0 update is a success" \
    bash -c "jq -e '[.attempts[] | select(.outcome == \"success\" and .from_version == \"1.0.0\" and .to_version == \"1.5.0\")] | length == 1' '$T/history.json' > /dev/null"
"$NX" -c "$CONF" history --limit 3 > "$T/history.txt"
check "$DRIVER: history (text): a header and 3 attempts" \
    bash -c "grep -c -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' '$T/history.txt' | grep -qx 3"

# status: versions on disk and in the database.
"$NX" -c "$CONF" status > "$T/status.txt" 2>&1
check "$DRIVER: status shows the registered versions" grep -q '^database: *core 2.5.0 (registered)' "$T/status.txt"
"$NX" -c "$CONF" --json status > "$T/status.json"
check "$DRIVER: status --json: database versions" \
    bash -c "jq -e '.database.versions.core == \"2.5.0\" and .core.version == \"1.0.0\"' '$T/status.json' > /dev/null"
nx_finish
