#!/usr/bin/env bash
# The database's registered version against the files' (issue 12: the
# database's version is the truth). check, list (text and --json) and
# status say when system_versions and version.php differ: files ahead
# (the next update runs the migrations from the database's version first;
# or update-db), database ahead (refused, both versions named). On SQLite,
# PostgreSQL and MariaDB (skipped, exit 77, when the server is not there).
# Usage: db_versions.sh PREFIX TESTMODS DRIVER
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
nx_setup "$1" "$2"
DRIVER=${3:-sqlite}
command -v openssl > /dev/null || { echo "SKIP: openssl not found"; exit 77; }
command -v jq > /dev/null || { echo "SKIP: jq not found"; exit 77; }
rc_of() { local rc=0; "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?; echo "$rc"; }
jqt() { jq -e "$1" "$T/out" > /dev/null; }
has() { grep -qF -- "$1" "$2"; }

mkdir -p "$T/site/core" "$T/site/modules/plugins/forum" "$T/site/modules/plugins/chat" \
         "$T/pipelines" "$T/keys" "$T/repo/p"
printf "<?php\nreturn ['version' => '1.3.0'];\n" > "$T/site/core/version.php"
printf "<?php\nreturn ['version' => '2.0.0'];\n" > "$T/site/modules/plugins/forum/version.php"
printf "<?php\nreturn ['version' => '1.0.0'];\n" > "$T/site/modules/plugins/chat/version.php"
cp "$PREFIX/etc/nexo-update/pipelines/core.ini" "$T/pipelines/"
openssl genpkey -algorithm ed25519 -out "$T/vendor.key" 2>/dev/null
openssl pkey -in "$T/vendor.key" -pubout -out "$T/keys/vendor.pub"
printf 'index\ncore\nplugin:*\n' > "$T/keys/vendor.scope"
python3 - "$T/repo" <<'PY'
import datetime, hashlib, json, os, sys
d = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
z = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
rels = []
for comp, v in (("core", "1.5.0"), ("plugin:forum", "2.2.0"), ("plugin:chat", "1.1.0")):
    path = "p/%s-%s.tar.gz" % (comp.replace(":", "_"), v)
    open(os.path.join(d, path), "wb").write(os.urandom(200))
    data = open(os.path.join(d, path), "rb").read()
    rels.append({"component": comp, "version": v, "download_url": path,
                 "checksum": {"sha256": hashlib.sha256(data).hexdigest()},
                 "signature": "c2lnbmF0dXJl", "size_bytes": len(data)})
idx = {"format": 1, "generated_at": z(now), "expires": z(now + datetime.timedelta(days=7)),
       "releases": rels}
open(os.path.join(d, "index.json"), "w").write(json.dumps(idx, indent=2) + "\n")
PY
openssl pkeyutl -sign -rawin -inkey "$T/vendor.key" -in "$T/repo/index.json" | base64 -w0 > "$T/repo/index.json.sig"

# system_versions: core at 1.2.0 (behind the files' 1.3.0), forum at 2.1.0
# (ahead of the files' 2.0.0), chat at 1.0.0 (the same)
db_setup "$DRIVER"
db_sql "CREATE TABLE system_versions (id INTEGER PRIMARY KEY, component VARCHAR(100) NOT NULL,
      version_number VARCHAR(64) NOT NULL, version_code BIGINT NOT NULL)"
db_sql "INSERT INTO system_versions (id, component, version_number, version_code) VALUES
      (1, 'core', '1.0.0', 1000000), (2, 'core', '1.2.0', 1002000),
      (3, 'plugin:forum', '2.1.0', 2001000), (4, 'plugin:chat', '1.0.0', 1000000)"
if [ "$DRIVER" = sqlite ]; then chmod 600 "$DBPATH"; fi
printf '[server]\nurl = file://%s/repo/index.json\ntrusted_keys = keys\n' "$T" >> "$CONF"

CORE_MSG="core: the database is at 1.2.0, the files at 1.3.0: the next update of core runs the migrations from 1.2.0 first; or run 'nexo-update update-db'"
FORUM_MSG="plugin:forum: refused: the database is at 2.1.0, ahead of the files' 2.0.0"

rc=$(rc_of "$NX" -c "$CONF" check)
check "check: exit 100, the offers (got $rc)" \
    bash -c "test $rc = 100 && grep -qx 'core 1.3.0 -> 1.5.0' '$T/out'"
check "check: files ahead of the database: the next update runs the database's path, or update-db" has "$CORE_MSG" "$T/err"
check "check: database ahead of the files: refused, both versions named" has "$FORUM_MSG" "$T/err"
check "check: a plugin whose versions agree: nothing said" bash -c "! grep -q 'plugin:chat: .*database' '$T/err'"
rc=$(rc_of "$NX" -c "$CONF" --json check)
check "check --json: database_versions names both, with the state and the message" \
    jqt "(.database_versions | length == 2)
         and (.database_versions[0] | .component == \"core\" and .files == \"1.3.0\" and .database == \"1.2.0\" and .state == \"files_ahead\" and .message == \"${CORE_MSG#core: }\")
         and (.database_versions[1] | .component == \"plugin:forum\" and .files == \"2.0.0\" and .database == \"2.1.0\" and .state == \"database_ahead\")
         and (.updates[] | select(.component == \"core\") | .registered == \"1.2.0\")"

rc=$(rc_of "$NX" -c "$CONF" list)
check "list: the core's registered version and what it means" \
    grep -qF "  database:  1.2.0: the database is at 1.2.0, the files at 1.3.0" "$T/out"
check "list: the forum's" grep -qF "  database:  2.1.0: refused: the database is at 2.1.0, ahead of the files' 2.0.0" "$T/out"
check "list: chat's agree" grep -qx "  database:  1.0.0 (the same)" "$T/out"
rc=$(rc_of "$NX" -c "$CONF" --json list)
check "list --json: registered and database_state per component" \
    jqt '([.components[] | .component + "=" + (.registered // "null") + "=" + .database_state] == ["core=1.2.0=files_ahead", "plugin:chat=1.0.0=same", "plugin:forum=2.1.0=database_ahead"])'

rc=$(rc_of "$NX" -c "$CONF" status)
check "status: the core's mismatch said the same way" has "$CORE_MSG" "$T/out"
check "status: the forum's" has "$FORUM_MSG" "$T/out"
rc=$(rc_of "$NX" -c "$CONF" --json status)
check "status --json: database_versions" \
    jqt '[.database_versions[] | .component + "=" + .state] == ["core=files_ahead", "plugin:forum=database_ahead"]'

# A plugin on disk the database does not know; then a database that is not there.
printf "<?php\nreturn ['version' => '0.1.0'];\n" > "$T/site/modules/plugins/chat/version.php"
db_sql "DELETE FROM system_versions WHERE component = 'plugin:chat'"
rc=$(rc_of "$NX" -c "$CONF" --json list)
check "list --json: a plugin not registered: registered null, state not_registered" \
    jqt '.components[] | select(.component == "plugin:chat") | .registered == null and .database_state == "not_registered"'
if [ "$DRIVER" = sqlite ]; then
    sed -i "s|^path = .*|path = $T/none.db|" "$CONF"
    rc=$(rc_of "$NX" -c "$CONF" check)
    check "no database file: check says the versions were not compared, creates nothing (exit $rc)" \
        bash -c "grep -q 'not compared with the files: .*does not exist' '$T/err' && test ! -e '$T/none.db'"
else
    db_sql "DROP TABLE system_versions"
    rc=$(rc_of "$NX" -c "$CONF" check)
    check "no system_versions table: check says the versions were not compared (exit $rc)" \
        bash -c "test $rc = 100 && grep -q 'not compared with the files' '$T/err'"
fi

nx_finish
