#!/usr/bin/env bash
# Kill soak (issue 12, item 7): a demo site at 1.0.0 on DRIVER is updated
# to 1.1.0 (one migration, files added, changed and removed) by
# `nexo-update core`, SIGKILLed from outside after a random delay within
# the measured length of an update (the mean of the complete updates so
# far: the reference one and each run's next update), then `recover`. RUNS times (100 on
# SQLite, 30 on PostgreSQL and MariaDB; NEXO_SOAK_RUNS overrides), every
# time:
#   * recover exits 0;
#   * the site is exactly the old or the new release: the managed files
#     (path, type, mode, sha256) equal that release's tree, core/version.php
#     and the registered version (system_versions) name it, and the
#     database (schema and rows; times and update ids masked on the new
#     side) equals the database before the update or after the reference
#     update; the new release only where the kill came after the commit
#     phase began (or the update had ended);
#   * the site's own files untouched, maintenance off, no journal waiting,
#     lock free, nothing .nexo-* left in the site;
#   * the next update works: `core` exits 0 and the site is on 1.1.0.
# Then the site is put back at 1.0.0 (a copy of the site and of the
# database taken before the first update) for the next run.
# At the end: how many kills landed in which step ("before the journal":
# nothing of the update was on disk yet; "finalize": after commit-begin;
# "ended": after the journal was closed; "finished": the update was over
# before the delay ran out), and the time taken.
#
# Runtime (2 cores shared with three other engineers' builds, load 6-8,
# through ctest, 2026-12-08): SQLite 100 runs in 142 s, PostgreSQL 30 in
# 135 s, MariaDB 30 in 102 s (about 1.4, 4.5 and 3.4 s a run: the killed
# update, recover, the checks, the next update, the put-back); at load 9-12
# up to 200 s on SQLite.
#
# Usage: soak.sh PREFIX TESTMODS DRIVER
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
DRV=$3
OLD=1.0.0
NEW=1.1.0
case $DRV in sqlite) RUNS=100 ;; *) RUNS=30 ;; esac
RUNS=${NEXO_SOAK_RUNS:-$RUNS}
MANAGED="core public_html resources database"
T0=$(date +%s)
site_setup "$DRV" "$OLD" "$NEW"
STATE="$T/state"

# --- the site at OLD, kept to be put back after every run -------------------
nx_tree_list "$T/site" $MANAGED .env var/logs modules/plugins > "$T/old.tree"
db_dump > "$T/old.db"
cp -a "$T/site" "$T/site.old"
case $DRV in
sqlite) cp "$DBPATH" "$T/old.sqlite" ;;
pgsql)
    # the tables, sequences and rows at OLD: restored in one session after
    # every table and sequence is dropped (faster than a new database)
    pg_dump -h "$PGHOST_" -p "$PGPORT_" -U "$NEXO_TEST_DB_USER" --no-owner "$DBNAME" > "$T/old.sql"
    ;;
mariadb)
    mariadb-dump --defaults-extra-file="$MYCNF" --routines --triggers "$DBNAME" > "$T/old.sql"
    ;;
esac
put_back() { # the site and its database at OLD again
    rm -rf "$T/site"
    cp -a "$T/site.old" "$T/site"
    case $DRV in
    sqlite) cp "$T/old.sqlite" "$DBPATH" ;;
    pgsql) { echo "SET client_min_messages = warning;"
             echo "DO \$\$ DECLARE r record; BEGIN
                 FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S') ORDER BY c.relkind DESC LOOP
                     EXECUTE format(CASE r.relkind WHEN 'r' THEN 'DROP TABLE IF EXISTS public.%I CASCADE'
                                    ELSE 'DROP SEQUENCE IF EXISTS public.%I CASCADE' END, r.relname);
                 END LOOP; END \$\$;"; cat "$T/old.sql"; } |
               psql -h "$PGHOST_" -p "$PGPORT_" -U "$NEXO_TEST_DB_USER" -d "$DBNAME" -q -v ON_ERROR_STOP=1 > /dev/null ;;
    mariadb)
        mariadb --defaults-extra-file="$MYCNF" -e "DROP DATABASE $DBNAME; CREATE DATABASE $DBNAME"
        mariadb --defaults-extra-file="$MYCNF" "$DBNAME" < "$T/old.sql" ;;
    esac
}

# --- the reference update: its length, the new release's files and database --
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t=$(ms)
rc=0; "$NX" -q -c "$CONF" -y core > "$T/out" 2> "$T/err" || rc=$?
D=$(( $(ms) - t ))
check "reference update: exit 0 (got $rc)" test "$rc" = 0
[ "$rc" = 0 ] || { sed 's/^/#   /' "$T/err" | head -n 20; nx_finish; exit 1; }
nx_tree_list "$T/site" $MANAGED .env var/logs modules/plugins > "$T/new.tree"
db_dump | nx_mask_run "$T0" > "$T/new.db"
check "reference update: on $NEW" \
    test "$(site_version_disk) $(site_version_db)" = "$NEW $NEW"
check "reference update: the files changed" bash -c "! cmp -s '$T/old.tree' '$T/new.tree'"
nx_mask_run "$T0" < "$T/old.db" > "$T/old.masked"
check "reference update: the database changed" bash -c "! cmp -s '$T/old.masked' '$T/new.db'"
put_back
OLD_TREE=$(cat "$T/old.tree")
NEW_TREE=$(cat "$T/new.tree")
OLD_DB=$(cat "$T/old.db")
NEW_DB=$(cat "$T/new.db")
D_SUM=$D D_N=1
echo "# $DRV: the reference update took $D ms; $RUNS runs, each killed after 0..D ms, D the mean length of the full updates so far"

# --- one run ---------------------------------------------------------------
# The checks run hundreds of times on a busy machine: shell builtins where
# they do as well as a program (a process costs 5-20 ms here).
declare -A WHERE
# what the tree lists cover: the managed paths and what the site owns
# (var/cache aside: cache_clear empties it on success, by design)
TREE="$MANAGED .env var/logs modules/plugins"
tree_is() { # tree_is LIST: the site's files equal the list (diff on stdout)
    local now
    now=$(nx_tree_list "$T/site" $TREE)
    [ "$now" = "$1" ] || { diff <(echo "$1") <(echo "$now") | head -n 10 | sed 's/^/#   /'; return 1; }
}
db_is() { # db_is DUMP [T0]: the database's dump (masked with T0) equals DUMP
    local now
    if [ -n "${2:-}" ]; then now=$(db_dump | nx_mask_run "$2"); else now=$(db_dump); fi
    [ "$now" = "$1" ] || { diff <(echo "$1") <(echo "$now") | head -n 10 | sed 's/^/#   /'; return 1; }
}
ON=""
on_version() { # ON="<version.php's> <system_versions'>"
    local line v=""
    while IFS= read -r line; do
        if [[ $line =~ \'version\'\ =\>\ \'([^\']*)\' ]]; then v=${BASH_REMATCH[1]}; break; fi
    done < "$T/site/core/version.php"
    ON="$v $(site_version_db)"
}
NJ=0
journals() { # NJ: journals in STATE/journal
    local f
    NJ=0
    for f in "$STATE"/journal/*.jnl; do [ ! -e "$f" ] || NJ=$((NJ + 1)); done
}
clean() { # like site_clean, with builtins; what is wrong in DIRT
    DIRT=""
    [ ! -e "$T/site/MAINTENANCE" ] || DIRT+="MAINTENANCE left behind; "
    [ ! -e "$STATE/journal/current.jnl" ] || DIRT+="a journal is waiting; "
    ! compgen -G "$T/site/.nexo-*" > /dev/null || DIRT+="left in the site: $(compgen -G "$T/site/.nexo-*"); "
    flock -n "$STATE/lock" true || DIRT+="lock held; "
    [ -z "$DIRT" ]
}

# the random delay: read -t on a FIFO nobody writes (no process per run)
mkfifo "$T/never"
exec {NEVER}<> "$T/never"

one_run() { # one_run N
    local n=$1 rc=0 where committing=0 pid delay before line fails=$NX_FAILS
    journals; before=$NJ
    delay=$(( (RANDOM * 32768 + RANDOM) % (D + 1) ))
    "$NX" -q -c "$CONF" -y core > "$T/out" 2> "$T/err" &
    pid=$!
    read -r -t "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))" -u "$NEVER" || true
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || rc=$?
    # where the kill landed
    if [ "$rc" = 0 ]; then
        where=finished; committing=1
    elif [ "$rc" != 137 ]; then
        where="exit $rc"
        not_ok "run $n: the update exited $rc (not killed, not 0) after $delay ms"
        sed 's/^/#   /' "$T/err" | head -n 10
    elif [ -e "$STATE/journal/current.jnl" ]; then
        where=""
        while IFS= read -r line; do # jansson's compact records, in order
            if [[ $line =~ \"ev\":\"step-start\",.*\"name\":\"([^\"]*)\" ]]; then where=${BASH_REMATCH[1]}
            elif [[ $line == *'"ev":"commit-begin"'* ]]; then where=finalize
            elif [[ $line == *'"ev":"begin"'* ]]; then where=begin; fi
        done < "$STATE/journal/current.jnl"
        [ "$where" != finalize ] || committing=1
    else
        journals
        if [ "$NJ" -gt "$before" ]; then where=ended; committing=1; else where="before the journal"; fi
    fi
    WHERE[$where]=$(( ${WHERE[$where]:-0} + 1 ))

    rc=0
    "$NX" -q -c "$CONF" recover > "$T/rec.out" 2> "$T/rec.err" || rc=$?
    [ "$rc" = 0 ] || { not_ok "run $n ($where, $delay ms): recover exits $rc"; sed 's/^/#   /' "$T/rec.err" | head -n 10; }

    # exactly OLD or NEW
    on_version
    if [ "$ON" = "$OLD $OLD" ]; then
        tree_is "$OLD_TREE" || not_ok "run $n ($where): on $OLD but the files differ from its tree"
        db_is "$OLD_DB" || not_ok "run $n ($where): on $OLD but the database differs"
        [ "$committing" = 0 ] || not_ok "run $n ($where): the update had ended but the site is on $OLD"
    elif [ "$ON" = "$NEW $NEW" ]; then
        tree_is "$NEW_TREE" || not_ok "run $n ($where): on $NEW but the files differ from its tree"
        db_is "$NEW_DB" "$T0" || not_ok "run $n ($where): on $NEW but the database differs"
        [ "$committing" = 1 ] || not_ok "run $n ($where): on $NEW though the commit phase had not begun"
    else
        not_ok "run $n ($where, $delay ms): neither $OLD nor $NEW: version.php and system_versions say $ON"
    fi
    clean || not_ok "run $n ($where): $DIRT"

    # the next update works (from OLD: its length joins D's mean)
    local from=$ON t=${EPOCHREALTIME/./}
    rc=0
    "$NX" -q -c "$CONF" -y core > "$T/out" 2> "$T/err" || rc=$?
    if [ "$rc" = 0 ] && [ "$from" = "$OLD $OLD" ]; then
        D_SUM=$(( D_SUM + (${EPOCHREALTIME/./} - t) / 1000 )); D_N=$((D_N + 1)); D=$((D_SUM / D_N))
    fi
    on_version
    if [ "$rc" != 0 ] || [ "$ON" != "$NEW $NEW" ]; then
        not_ok "run $n ($where): the next update exits $rc, version.php and system_versions say $ON"
        sed 's/^/#   /' "$T/err" | head -n 10
    fi
    [ "$NX_FAILS" != "$fails" ] || NX_OKS=$((NX_OKS + 1))
    put_back
}

for n in $(seq 1 "$RUNS"); do
    one_run "$n"
    if [ "$NX_FAILS" -gt 20 ]; then echo "# too many failures: stopping"; break; fi
done
check "$RUNS runs: recover exit 0, old or new release, clean, next update works" test "$NX_FAILS" = 0

echo "# $DRV: where the kills landed:"
for s in "before the journal" begin $("$NX" -c "$CONF" --json pipeline show core | jq -r '.steps[].name') finalize ended finished; do
    [ -z "${WHERE[$s]:-}" ] || printf '#   %-20s %d\n' "$s" "${WHERE[$s]}"
done
echo "# $DRV: $RUNS runs in $(( $(date +%s) - T0 )) s (D ended at $D ms over $D_N updates)"
nx_finish
