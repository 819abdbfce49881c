#!/usr/bin/env bash
# TLS to the database server (args: PREFIX MODDIR DRIVER, DRIVER pgsql or
# mariadb), through the installed nexo-update, against the servers of
# tests/servers.sh (their certificate signed by the test CA
# $NEXO_TEST_TLS_CA). The whole test connects as $NEXO_TEST_TLS_USER, whom
# the server admits only over TLS (PostgreSQL: pg_hba hostnossl reject;
# MariaDB: REQUIRE SSL), so every connection that works was TLS:
#   1. sslmode = verify-full with a CA that did not sign the server's
#      certificate: core refused, exit 1, the message names the server and
#      the TLS failure; nothing changed.
#   2. verify-full with the test CA: the install and a whole core update
#      (backup with the dump tool, migrations, register) work, and the
#      server's own view of the session (pg_stat_ssl / Ssl_cipher) is TLS.
#   3. sslmode = require (no CA): a core update and a rollback — the dump
#      and restore tools over TLS — return files and database exactly; on
#      PostgreSQL with PGSSLMODE=disable in the environment, which the
#      tools must not follow.
# Skipped (exit 77) when the server is not reachable or the test CA is
# missing (run tests/servers.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
DRV=$3
TLS_CA=${NEXO_TEST_TLS_CA:-/var/lib/nexo-test-tls/ca.crt}
export NEXO_TEST_DB_USER=${NEXO_TEST_TLS_USER:-nexo_test_tls}
source "$here/db.sh"
source "$here/site.sh"
case "$DRV" in pgsql | mariadb) ;; *) echo "db_tls.sh: pgsql or mariadb, not $DRV" >&2; exit 2 ;; esac
if [ ! -r "$TLS_CA" ]; then
    echo "SKIP: no test CA at $TLS_CA (run tests/servers.sh)"; exit 77
fi
nx_setup "$1" "$2"

# Every connection of the install in site_setup already uses TLS, verified.
eval "plain_db_setup() $(declare -f db_setup | tail -n +2)"
db_setup() {
    plain_db_setup "$@"
    printf 'sslmode = verify-full\nsslrootcert = %s\n' "$TLS_CA" >> "$CONF"
}
site_setup "$DRV" 1.0.0 1.1.0 1.2.0
# the vendor key's scope (contracts §6), in case site_setup did not write it
[ -e "$T/trusted/vendor.scope" ] || printf 'index\ncore\n' > "$T/trusted/vendor.scope"
NXC=("$NX" -c "$CONF")
case "$DRV" in
pgsql) HOSTPORT="$PGHOST_:$PGPORT_"; TLS_FAILURE="certificate verify failed"
       SERVER_SAYS="SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
       SERVER_TLS=$'^t\tTLSv1'
       PRE=(env PGSSLMODE=disable) ;; # which the tools must not follow
mariadb) HOSTPORT="$MYHOST_:$MYPORT_"; TLS_FAILURE="TLS/SSL error"
         SERVER_SAYS="SHOW SESSION STATUS LIKE 'Ssl_cipher'"
         SERVER_TLS=$'^Ssl_cipher\t.'
         PRE=(env) ;;
esac
set_db() { # set_db KEY VALUE: replace or add a [database] key (the last section)
    sed -i "/^$1 = /d" "$CONF"
    [ -z "$2" ] || printf '%s = %s\n' "$1" "$2" >> "$CONF"
}
server_sees_tls() { db_sql "$SERVER_SAYS" | grep -q -E "$SERVER_TLS"; }
versions_are() { [ "$(site_version_disk)" = "$1" ] && [ "$(site_version_db)" = "$1" ]; }
same_nc() { SITE_SKIP_CACHE=1 site_same "$1"; }
no_maintenance_began() { ! grep -q 'maintenance mode on' "$T/out"; }
all_tls() { ! grep -q 'without TLS' "$T/out"; }
check "[$DRV] the test's own sessions are TLS too (the TLS-only user)" server_sees_tls

# ---- 1. a CA that did not sign the server's certificate --------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=not the test CA" -keyout "$T/wrong-ca.key" -out "$T/wrong-ca.crt" 2> /dev/null
site_snapshot v100
set_db sslrootcert "$T/wrong-ca.crt"
rc=0; "${NXC[@]}" -y core --to 1.1.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] verify-full with the wrong CA: exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... the message names the server and the TLS failure" \
    grep -q "$HOSTPORT/$DBNAME.*sslmode verify-full, sslrootcert $T/wrong-ca.crt.*$TLS_FAILURE" "$T/out"
check "[$DRV] ... nothing changed" site_same v100
check "[$DRV] ... maintenance mode never began" no_maintenance_began
check "[$DRV] ... nothing left behind" site_clean
[ "$NX_FAILS" -eq 0 ] || cat "$T/out"

# ---- 2. verify-full with the test CA: a whole core update ------------------
set_db sslrootcert "$TLS_CA"
rc=0; "${NXC[@]}" -v -y core --to 1.1.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] verify-full with the test CA: core --to 1.1.0 exits 0" [ "$rc" -eq 0 ]
check "[$DRV] ... version.php and the database say 1.1.0" versions_are 1.1.0
check "[$DRV] ... the server saw TLS (its own view, logged by the driver)" \
    grep -q "connected to $HOSTPORT/$DBNAME as $NEXO_TEST_DB_USER over TLS (server: TLSv1" "$T/out"
check "[$DRV] ... no session without TLS" all_tls
check "[$DRV] ... the backup was taken (the dump tool over verified TLS)" \
    compgen -G "$T/backups/backup_*" > /dev/null
check "[$DRV] ... history: success" [ "$(site_history_outcome)" = success ]
[ "$rc" -eq 0 ] || cat "$T/out"
SITE_SKIP_CACHE=1 site_snapshot v110

# ---- 3. require: backup and rollback through the tools over TLS -------------
set_db sslmode require
set_db sslrootcert ""
rc=0; "${PRE[@]}" "${NXC[@]}" -v -y core --to 1.2.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] sslmode require: core --to 1.2.0 exits 0" [ "$rc" -eq 0 ]
check "[$DRV] ... over TLS" grep -q "as $NEXO_TEST_DB_USER over TLS (server: TLSv1" "$T/out"
check "[$DRV] ... no session without TLS" all_tls
check "[$DRV] ... 1.2.0 on disk and in the database" versions_are 1.2.0
[ "$rc" -eq 0 ] || cat "$T/out"
rc=0; "${PRE[@]}" "${NXC[@]}" -v -y rollback > "$T/out" 2>&1 || rc=$?
check "[$DRV] sslmode require: rollback exits 0" [ "$rc" -eq 0 ]
check "[$DRV] ... files and database are 1.1.0's exactly" same_nc v110
check "[$DRV] ... nothing left behind" site_clean
[ "$rc" -eq 0 ] || cat "$T/out"
nx_finish
