#!/usr/bin/env bash
# Start the PostgreSQL and MariaDB servers the tests use, on loopback, and
# create the test role on each (idempotent; needs root). No systemd: the
# servers are started with pg_ctlcluster and the mariadb init script.
#   tests/servers.sh          start both, create roles
#   tests/servers.sh env      print the test connection settings
# Tests read the settings from these variables (defaults shown):
#   NEXO_TEST_PG_HOST=127.0.0.1 NEXO_TEST_PG_PORT=5432
#   NEXO_TEST_MY_HOST=127.0.0.1 NEXO_TEST_MY_PORT=3306
#   NEXO_TEST_DB_USER=nexo_test NEXO_TEST_DB_PASSWORD=nexo-test-pw
# Each test creates and drops its own databases named nexo_t_*.
set -euo pipefail
USER_=${NEXO_TEST_DB_USER:-nexo_test}
PW=${NEXO_TEST_DB_PASSWORD:-nexo-test-pw}

if [ "${1:-}" = env ]; then
  echo "NEXO_TEST_PG_HOST=127.0.0.1 NEXO_TEST_PG_PORT=5432 NEXO_TEST_MY_HOST=127.0.0.1"
  echo "NEXO_TEST_MY_PORT=3306 NEXO_TEST_DB_USER=$USER_ NEXO_TEST_DB_PASSWORD=$PW"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "servers.sh: needs root" >&2; exit 1; }

start_pg() {
  local ver
  ver=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
  if [ -z "$ver" ]; then
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_createcluster "$ver" main > /dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
    pg_ctlcluster "$ver" main start
  fi
  for _ in $(seq 1 60); do
    su postgres -c "psql -qAtc 'select 1'" > /dev/null 2>&1 && break
    sleep 0.5
  done
  su postgres -c "psql -v ON_ERROR_STOP=1 -qAt" <<SQL > /dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$USER_') THEN
    CREATE ROLE $USER_ LOGIN CREATEDB PASSWORD '$PW';
  ELSE
    ALTER ROLE $USER_ LOGIN CREATEDB PASSWORD '$PW';
  END IF;
END \$\$;
SQL
  echo "postgresql $ver: up on 127.0.0.1:5432, role $USER_"
}

start_my() {
  if ! mariadb-admin ping > /dev/null 2>&1; then
    service mariadb start > /dev/null 2>&1 || {
      mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
      (mysqld_safe > /dev/null 2>&1 &)
    }
  fi
  for _ in $(seq 1 60); do
    mariadb-admin ping > /dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb -uroot <<SQL
CREATE USER IF NOT EXISTS '$USER_'@'127.0.0.1' IDENTIFIED BY '$PW';
CREATE USER IF NOT EXISTS '$USER_'@'localhost' IDENTIFIED BY '$PW';
ALTER USER '$USER_'@'127.0.0.1' IDENTIFIED BY '$PW';
ALTER USER '$USER_'@'localhost' IDENTIFIED BY '$PW';
GRANT ALL PRIVILEGES ON \`nexo\\_t\\_%\`.* TO '$USER_'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`nexo\\_t\\_%\`.* TO '$USER_'@'localhost';
GRANT RELOAD, PROCESS ON *.* TO '$USER_'@'127.0.0.1';
GRANT RELOAD, PROCESS ON *.* TO '$USER_'@'localhost';
FLUSH PRIVILEGES;
SQL
  echo "mariadb $(mariadb -uroot -N -e 'select version()'): up on 127.0.0.1:3306, user $USER_"
}

start_pg
start_my
