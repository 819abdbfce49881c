#!/usr/bin/env bash
# Benchmark: 100 small migrations (each one table and one row) applied to
# PostgreSQL by
#   nexo-update   (the migrate step: path finding, validation, snapshot,
#                  one transaction, a checkpoint per file)
#   Sqitch        (Debian's sqitch, deploy scripts with the same SQL)
#   psql -f       (one session over the concatenated SQL: the floor)
# in the same go, each on a fresh database, REPEAT times (default 3); the
# median of each is printed, and ratios against the floor.
#   bench/migrations.sh [PREFIX] [REPEAT]
# PREFIX: an installed nexo-update (default: build/stage, made by ctest's
# e2e.install). Needs the test PostgreSQL (tests/servers.sh) and sqitch.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=$(cd "${1:-$src/build/stage}" && pwd)
REPEAT=${2:-3}
N=100
command -v sqitch > /dev/null || { echo "needs sqitch (apt-get install sqitch libdbd-pg-perl)"; exit 1; }
H=${NEXO_TEST_PG_HOST:-127.0.0.1}; P=${NEXO_TEST_PG_PORT:-5432}
U=${NEXO_TEST_DB_USER:-nexo_test}; PW=${NEXO_TEST_DB_PASSWORD:-nexo-test-pw}
T=$(mktemp -d /tmp/nexo-bench.XXXXXX); chmod 755 "$T"
trap 'for d in $(psql -h $H -p $P -U $U -d postgres -qAtc "SELECT datname FROM pg_database WHERE datname LIKE '"'"'nexo_t_bench_%'"'"'"); do psql -h $H -p $P -U $U -d postgres -qc "DROP DATABASE $d"; done; rm -rf "$T"' EXIT
export PGPASSFILE="$T/pgpass"
printf '%s:%s:*:%s:%s\n' "$H" "$P" "$U" "$PW" > "$PGPASSFILE"; chmod 600 "$PGPASSFILE"
printf '%s\n' "$PW" > "$T/pw"; chmod 600 "$T/pw"

# The same migrations three ways.
mkdir -p "$T/site/database/upgrades" "$T/site/database/schema" "$T/sqitch/deploy" "$T/sqitch/revert" "$T/sqitch/verify"
cat > "$T/site/database/schema/install.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<install version="1.0.0"><database><create_table name="base"><columns>
<column name="id" type="INT" primary="true"/></columns></create_table></database></install>
EOF
printf '%%syntax-version=1.0.0\n%%project=bench\n\n' > "$T/sqitch/sqitch.plan"
: > "$T/all.sql"
for i in $(seq 1 $N); do
    from="1.$((i - 1)).0"; to="1.$i.0"
    cat > "$T/site/database/upgrades/upgrade_${from}_${to}.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<upgrade from="$from" to="$to">
  <database><create_table name="t$i"><columns>
    <column name="id" type="INT" primary="true"/><column name="label" type="VARCHAR" length="40"/>
  </columns></create_table></database>
  <data><insert table="t$i"><row><id>1</id><label>row $i</label></row></insert></data>
</upgrade>
EOF
    sql="CREATE TABLE \"t$i\" (\"id\" integer NOT NULL, \"label\" varchar(40), PRIMARY KEY (\"id\"));
INSERT INTO \"t$i\" (\"id\", \"label\") VALUES (1, 'row $i');"
    printf 'BEGIN;\n%s\nCOMMIT;\n' "$sql" > "$T/sqitch/deploy/m$i.sql"
    printf 'BEGIN;\nDROP TABLE "t%s";\nCOMMIT;\n' "$i" > "$T/sqitch/revert/m$i.sql"
    printf 'SELECT 1 FROM "t%s";\n' "$i" > "$T/sqitch/verify/m$i.sql"
    printf 'm%s 2026-01-01T00:00:00Z bench <bench@example.org> # m%s\n' "$i" "$i" >> "$T/sqitch/sqitch.plan"
    printf '%s\n' "$sql" >> "$T/all.sql"
done
printf 'BEGIN;\n%sCOMMIT;\n' "$(cat "$T/all.sql")" > "$T/floor.sql"

newdb() { local d="nexo_t_bench_$1_$RANDOM"; psql -h $H -p $P -U $U -d postgres -qc "CREATE DATABASE $d"; echo "$d"; }
now() { date +%s.%N; }

run_nexo() {
    local db; db=$(newdb nexo)
    cat > "$T/nexo.ini" <<EOF
[site]
root = site
[paths]
state = state-$db
[database]
driver = pgsql
host = $H
port = $P
name = $db
user = $U
password_file = $T/pw
EOF
    printf '[install]\nmodule = migrate\nmode = install\n' > "$T/install.ini"
    printf '[migrate]\nmodule = migrate\n' > "$T/up.ini"
    "$PREFIX/bin/nexo-update" -q -c "$T/nexo.ini" -y pipeline run "$T/install.ini" --to 1.0.0
    local t0; t0=$(now)
    "$PREFIX/bin/nexo-update" -q -c "$T/nexo.ini" -y pipeline run "$T/up.ini" --from 1.0.0 --to "1.$N.0"
    echo "$(now) - $t0" | bc
}
run_sqitch() {
    local db; db=$(newdb sqitch)
    psql -h $H -p $P -U $U -d "$db" -qc 'CREATE TABLE base (id integer PRIMARY KEY)'
    local t0; t0=$(now)
    (cd "$T/sqitch" && sqitch deploy --quiet "db:pg://$U@$H:$P/$db" > /dev/null)
    echo "$(now) - $t0" | bc
}
run_floor() {
    local db; db=$(newdb floor)
    psql -h $H -p $P -U $U -d "$db" -qc 'CREATE TABLE base (id integer PRIMARY KEY)'
    local t0; t0=$(now)
    psql -h $H -p $P -U $U -d "$db" -q -v ON_ERROR_STOP=1 -f "$T/floor.sql" > /dev/null
    echo "$(now) - $t0" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A times
for tool in floor nexo sqitch; do
    for _ in $(seq 1 "$REPEAT"); do "run_$tool"; done | median > "$T/$tool.t"
    times[$tool]=$(cat "$T/$tool.t")
done
printf '%d migrations on PostgreSQL %s, median of %d runs each:\n' "$N" \
    "$(psql -h $H -p $P -U $U -d postgres -qAtc 'SHOW server_version')" "$REPEAT"
for tool in floor nexo sqitch; do
    case $tool in floor) name="psql -f (floor)";; nexo) name="nexo-update";; sqitch) name="sqitch";; esac
    printf '  %-16s %8.3f s   %6.1fx the floor\n' "$name" "${times[$tool]}" \
        "$(echo "${times[$tool]} / ${times[floor]}" | bc -l)"
done
printf '  nexo-update / sqitch: %.2f\n' "$(echo "${times[nexo]} / ${times[sqitch]}" | bc -l)"
