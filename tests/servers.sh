#!/usr/bin/env bash
# Start the PostgreSQL and MariaDB servers the tests use, on loopback, and
# create the test roles on each (idempotent; needs root). No systemd: the
# servers are started with pg_ctlcluster and the mariadb init script.
#   tests/servers.sh          start both, create roles
#   tests/servers.sh env      print the test connection settings
# Tests read the settings from these variables (defaults shown):
#   NEXO_TEST_PG_HOST=127.0.0.1 NEXO_TEST_PG_PORT=5432
#   NEXO_TEST_MY_HOST=127.0.0.1 NEXO_TEST_MY_PORT=3306
#   NEXO_TEST_DB_USER=nexo_test NEXO_TEST_DB_PASSWORD=nexo-test-pw
#   NEXO_TEST_TLS_CA=/var/lib/nexo-test-tls/ca.crt NEXO_TEST_TLS_USER=nexo_test_tls
# Each test creates and drops its own databases named nexo_t_*.
#
# TLS: both servers accept TLS (and still plain connections) with a server
# certificate for localhost / 127.0.0.1 / ::1 signed by a test CA made here
# with openssl, in the root-owned folder /var/lib/nexo-test-tls (ca.crt;
# server.crt; the key once per server, root:postgres and root:mysql 0640).
# The material is made again when missing, not signed by ca.crt, or expiring
# within 30 days. The role NEXO_TEST_TLS_USER (same password, CREATEDB on
# PostgreSQL, the nexo_t_* grants on MariaDB) may only connect over TLS:
# pg_hba.conf rejects it on hostnossl, MariaDB has it REQUIRE SSL.
set -euo pipefail
umask 022
USER_=${NEXO_TEST_DB_USER:-nexo_test}
PW=${NEXO_TEST_DB_PASSWORD:-nexo-test-pw}
TLS_USER=${NEXO_TEST_TLS_USER:-nexo_test_tls}
TLS_DIR=/var/lib/nexo-test-tls

if [ "${1:-}" = env ]; then
  echo "NEXO_TEST_PG_HOST=127.0.0.1 NEXO_TEST_PG_PORT=5432 NEXO_TEST_MY_HOST=127.0.0.1"
  echo "NEXO_TEST_MY_PORT=3306 NEXO_TEST_DB_USER=$USER_ NEXO_TEST_DB_PASSWORD=$PW"
  echo "NEXO_TEST_TLS_CA=$TLS_DIR/ca.crt NEXO_TEST_TLS_USER=$TLS_USER"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "servers.sh: needs root" >&2; exit 1; }

TLS_NEW=0

tls_ok() {
  [ -s "$TLS_DIR/ca.crt" ] && [ -s "$TLS_DIR/server.crt" ] &&
    [ -s "$TLS_DIR/server-pg.key" ] && [ -s "$TLS_DIR/server-my.key" ] &&
    openssl verify -CAfile "$TLS_DIR/ca.crt" "$TLS_DIR/server.crt" > /dev/null 2>&1 &&
    openssl x509 -checkend 2592000 -noout -in "$TLS_DIR/server.crt" > /dev/null 2>&1
}

# The test CA and the servers' certificate (once; again when not valid).
make_tls() {
  install -d -m 0755 -o root -g root "$TLS_DIR"
  tls_ok && return 0
  local tmp
  tmp=$(mktemp -d "$TLS_DIR/.new.XXXXXX")
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=nexo-update test CA" -keyout "$tmp/ca.key" -out "$tmp/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2> /dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout "$tmp/server.key" -out "$tmp/server.csr" 2> /dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" > "$tmp/ext"
  openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
    -CAcreateserial -days 825 -extfile "$tmp/ext" -out "$tmp/server.crt" 2> /dev/null
  install -m 0640 -o root -g postgres "$tmp/server.key" "$tmp/server-pg.key"
  install -m 0640 -o root -g mysql "$tmp/server.key" "$tmp/server-my.key"
  chmod 0644 "$tmp/ca.crt" "$tmp/server.crt"
  for f in ca.crt server.crt server-pg.key server-my.key; do
    mv -f "$tmp/$f" "$TLS_DIR/$f"
  done
  rm -rf "$tmp"
  TLS_NEW=1
  echo "test TLS: new CA and server certificate in $TLS_DIR"
}

# Write $1 with the content of stdin when it differs; 0 when it changed.
put_file() {
  local new
  new=$(cat)
  if [ -f "$1" ] && [ "$(cat "$1")" = "$new" ]; then
    return 1
  fi
  printf '%s\n' "$new" > "$1.tmp" && chmod 0644 "$1.tmp" && mv -f "$1.tmp" "$1"
  return 0
}

pg_tls() {
  local ver=$1 changed=$TLS_NEW hba
  put_file "/etc/postgresql/$ver/main/conf.d/nexo-test-tls.conf" <<CONF && changed=1
# tests/servers.sh: TLS with the test CA (plain connections stay allowed)
ssl = on
ssl_cert_file = '$TLS_DIR/server.crt'
ssl_key_file = '$TLS_DIR/server-pg.key'
ssl_ca_file = '$TLS_DIR/ca.crt'
CONF
  hba=$(su postgres -c "psql -qAtc 'show hba_file'")
  if ! grep -q '^# nexo-test-tls' "$hba"; then
    { printf '%s\n' "# nexo-test-tls: $TLS_USER only over TLS (tests/servers.sh)" \
        "hostnossl all $TLS_USER 0.0.0.0/0 reject" "hostnossl all $TLS_USER ::/0 reject" \
        "hostssl all $TLS_USER 127.0.0.1/32 scram-sha-256" \
        "hostssl all $TLS_USER ::1/128 scram-sha-256"
      cat "$hba"; } > "$hba.tmp"
    chown --reference="$hba" "$hba.tmp"
    chmod --reference="$hba" "$hba.tmp"
    mv -f "$hba.tmp" "$hba"
    changed=1
  fi
  if [ "$changed" = 1 ]; then
    pg_ctlcluster "$ver" main reload
  fi
  for _ in $(seq 1 60); do
    [ "$(su postgres -c "psql -qAtc 'show ssl'" 2> /dev/null)" = on ] && return 0
    sleep 0.5
  done
  echo "servers.sh: PostgreSQL $ver did not turn ssl on (see its log)" >&2
  exit 1
}

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
  pg_tls "$ver"
  su postgres -c "psql -v ON_ERROR_STOP=1 -qAt" <<SQL > /dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$USER_') THEN
    CREATE ROLE $USER_ LOGIN CREATEDB PASSWORD '$PW';
  ELSE
    ALTER ROLE $USER_ LOGIN CREATEDB PASSWORD '$PW';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$TLS_USER') THEN
    CREATE ROLE $TLS_USER LOGIN CREATEDB PASSWORD '$PW';
  ELSE
    ALTER ROLE $TLS_USER LOGIN CREATEDB PASSWORD '$PW';
  END IF;
END \$\$;
SQL
  echo "postgresql $ver: up on 127.0.0.1:5432 (TLS: CA $TLS_DIR/ca.crt), roles $USER_, $TLS_USER (TLS only)"
}

my_up() {
  if ! mariadb-admin ping > /dev/null 2>&1; then
    service mariadb start > /dev/null 2>&1 || {
      mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
      (mysqld_safe > /dev/null 2>&1 &)
    }
  fi
  for _ in $(seq 1 60); do
    mariadb-admin ping > /dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "servers.sh: MariaDB did not start" >&2
  exit 1
}

my_tls() {
  local changed=$TLS_NEW
  put_file /etc/mysql/mariadb.conf.d/90-nexo-test-tls.cnf <<CONF && changed=1
# tests/servers.sh: TLS with the test CA (plain connections stay allowed)
[mysqld]
ssl_cert = $TLS_DIR/server.crt
ssl_key = $TLS_DIR/server-my.key
ssl_ca = $TLS_DIR/ca.crt
CONF
  if [ "$(mariadb -uroot -N -e "SELECT @@have_ssl")" != YES ]; then
    changed=1
  fi
  [ "$changed" = 1 ] || return 0
  mariadb-admin -uroot shutdown > /dev/null 2>&1 || true
  for _ in $(seq 1 60); do
    mariadb-admin ping > /dev/null 2>&1 || break
    sleep 0.5
  done
  my_up
  if [ "$(mariadb -uroot -N -e "SELECT @@have_ssl")" != YES ]; then
    echo "servers.sh: MariaDB has no TLS after the restart (have_ssl is not YES)" >&2
    exit 1
  fi
}

start_my() {
  my_up
  my_tls
  mariadb -uroot <<SQL
CREATE USER IF NOT EXISTS '$USER_'@'127.0.0.1' IDENTIFIED BY '$PW';
CREATE USER IF NOT EXISTS '$USER_'@'localhost' IDENTIFIED BY '$PW';
ALTER USER '$USER_'@'127.0.0.1' IDENTIFIED BY '$PW';
ALTER USER '$USER_'@'localhost' IDENTIFIED BY '$PW';
GRANT ALL PRIVILEGES ON \`nexo\\_t\\_%\`.* TO '$USER_'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`nexo\\_t\\_%\`.* TO '$USER_'@'localhost';
GRANT RELOAD, PROCESS ON *.* TO '$USER_'@'127.0.0.1';
GRANT RELOAD, PROCESS ON *.* TO '$USER_'@'localhost';
CREATE USER IF NOT EXISTS '$TLS_USER'@'127.0.0.1' IDENTIFIED BY '$PW' REQUIRE SSL;
CREATE USER IF NOT EXISTS '$TLS_USER'@'localhost' IDENTIFIED BY '$PW' REQUIRE SSL;
ALTER USER '$TLS_USER'@'127.0.0.1' IDENTIFIED BY '$PW' REQUIRE SSL;
ALTER USER '$TLS_USER'@'localhost' IDENTIFIED BY '$PW' REQUIRE SSL;
GRANT ALL PRIVILEGES ON \`nexo\\_t\\_%\`.* TO '$TLS_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`nexo\\_t\\_%\`.* TO '$TLS_USER'@'localhost';
GRANT RELOAD, PROCESS ON *.* TO '$TLS_USER'@'127.0.0.1';
GRANT RELOAD, PROCESS ON *.* TO '$TLS_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
  echo "mariadb $(mariadb -uroot -N -e 'select version()'): up on 127.0.0.1:3306 (TLS: CA $TLS_DIR/ca.crt), users $USER_, $TLS_USER (TLS only)"
}

make_tls
start_pg
start_my
