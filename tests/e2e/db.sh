# Database helpers for the end-to-end tests (sourced after lib.sh).
# db_setup DRIVER: a fresh database for this test on DRIVER (sqlite, pgsql,
# mariadb), its [database] section appended to $CONF, and DUMP_CMD set to
# a command printing a canonical dump (schema and rows). Skips (exit 77)
# when the server is not reachable.
NEXO_TEST_DB_USER=${NEXO_TEST_DB_USER:-nexo_test}
NEXO_TEST_DB_PASSWORD=${NEXO_TEST_DB_PASSWORD:-nexo-test-pw}
PGHOST_=${NEXO_TEST_PG_HOST:-127.0.0.1}
PGPORT_=${NEXO_TEST_PG_PORT:-5432}
MYHOST_=${NEXO_TEST_MY_HOST:-127.0.0.1}
MYPORT_=${NEXO_TEST_MY_PORT:-3306}

db_setup() {
    DRIVER=$1
    DBNAME="nexo_t_$$_$RANDOM"
    PWFILE="$T/db.password"
    printf '%s\n' "$NEXO_TEST_DB_PASSWORD" > "$PWFILE"
    chmod 600 "$PWFILE"
    case "$DRIVER" in
    sqlite)
        DBPATH="$T/site.db"
        printf '[database]\ndriver = sqlite\npath = %s\n' "$DBPATH" >> "$CONF"
        ;;
    pgsql)
        export PGPASSFILE="$T/pgpass"
        printf '%s:%s:*:%s:%s\n' "$PGHOST_" "$PGPORT_" "$NEXO_TEST_DB_USER" "$NEXO_TEST_DB_PASSWORD" > "$PGPASSFILE"
        chmod 600 "$PGPASSFILE"
        if ! psql -h "$PGHOST_" -p "$PGPORT_" -U "$NEXO_TEST_DB_USER" -d postgres -qAtc 'select 1' > /dev/null 2>&1; then
            echo "SKIP: no PostgreSQL at $PGHOST_:$PGPORT_"; exit 77
        fi
        psql -h "$PGHOST_" -p "$PGPORT_" -U "$NEXO_TEST_DB_USER" -d postgres -qc "CREATE DATABASE $DBNAME" > /dev/null
        printf '[database]\ndriver = pgsql\nhost = %s\nport = %s\nname = %s\nuser = %s\npassword_file = %s\n' \
            "$PGHOST_" "$PGPORT_" "$DBNAME" "$NEXO_TEST_DB_USER" "$PWFILE" >> "$CONF"
        ;;
    mariadb)
        MYCNF="$T/my.cnf"
        printf '[client]\nhost=%s\nport=%s\nuser=%s\npassword=%s\n' "$MYHOST_" "$MYPORT_" \
            "$NEXO_TEST_DB_USER" "$NEXO_TEST_DB_PASSWORD" > "$MYCNF"
        chmod 600 "$MYCNF"
        if ! mariadb --defaults-extra-file="$MYCNF" -e 'select 1' > /dev/null 2>&1; then
            echo "SKIP: no MariaDB at $MYHOST_:$MYPORT_"; exit 77
        fi
        mariadb --defaults-extra-file="$MYCNF" -e "CREATE DATABASE $DBNAME"
        printf '[database]\ndriver = mariadb\nhost = %s\nport = %s\nname = %s\nuser = %s\npassword_file = %s\n' \
            "$MYHOST_" "$MYPORT_" "$DBNAME" "$NEXO_TEST_DB_USER" "$PWFILE" >> "$CONF"
        ;;
    *) echo "db_setup: unknown driver $DRIVER" >&2; exit 2 ;;
    esac
    trap 'db_drop; rm -rf "$T"' EXIT
}

db_drop() {
    case "$DRIVER" in
    pgsql) psql -h "$PGHOST_" -p "$PGPORT_" -U "$NEXO_TEST_DB_USER" -d postgres -qc "DROP DATABASE IF EXISTS $DBNAME" > /dev/null 2>&1 || true ;;
    mariadb) mariadb --defaults-extra-file="$MYCNF" -e "DROP DATABASE IF EXISTS $DBNAME" 2>/dev/null || true ;;
    esac
}

# A canonical dump of the whole database: schema, rows, sequence positions
# — except the rows of update_history, which nexo-update writes on purpose
# after every attempt (failed ones too) once its outcome is final.
db_dump() {
    case "$DRIVER" in
    sqlite) sqlite3 "$DBPATH" .dump | grep -v -E "^INSERT INTO (update_history|sqlite_sequence VALUES\('update_history')" ;;
    pgsql) pg_dump -h "$PGHOST_" -p "$PGPORT_" -U "$NEXO_TEST_DB_USER" --no-owner \
               --exclude-table-data=update_history "$DBNAME" \
               | grep -v -E '^\\(un)?restrict |update_history_id_seq., [0-9]+, (true|false)\);$' ;;
    mariadb) mariadb-dump --defaults-extra-file="$MYCNF" --skip-dump-date --skip-comments \
               --routines --triggers --ignore-table="$DBNAME.update_history" "$DBNAME" ;;
    esac
}

# db_sql "SQL": one query's rows, tab-separated, no header.
db_sql() {
    case "$DRIVER" in
    sqlite) sqlite3 -separator $'\t' "$DBPATH" "$1" ;;
    pgsql) psql -h "$PGHOST_" -p "$PGPORT_" -U "$NEXO_TEST_DB_USER" -d "$DBNAME" -qAt -F $'\t' -c "$1" ;;
    mariadb) mariadb --defaults-extra-file="$MYCNF" -N -B "$DBNAME" -e "$1" ;;
    esac
}
