#!/usr/bin/env bash
# `nexo-update install` and `nexo-update update-db` end to end on one
# database (args: PREFIX MODDIR DRIVER), through the installed program and
# the default pipelines (install.ini, db.ini):
#   install --package on an empty database and site: tables, files with
#     their modes, the system_versions and update_history rows; the site's
#     own .env, var/ and modules/plugins/ untouched;
#   refused (exit 1, nothing created): a missing or wrong .sig, a database
#     that has tables, a site that already has core/, a plugin package;
#   a failing step (NEXO_FAULT at several steps, and a kill + recover)
#     leaves site and database as they were;
#   -n plans (the SQL of install.xml) and changes nothing; no terminal and
#     no -y: exit 2;
#   install --version=V from the signed repository;
#   update-db: nothing to do on equal versions; after release 1.2.0's files
#     are copied over a 1.0.0 site by hand it migrates 1.0.0 -> 1.2.0
#     (migration_log, system_versions, history) and then has nothing to do;
#     a failing migrate step restores the database dump exactly; refused when
#     the files are older than the database or nothing is registered.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
DRV=$3
REL="$PREFIX/bin/nexo-release"
NXC=("$NX" -c "$CONF")

# a signed repository with 1.0.0, 1.1.0, 1.2.0 (as site_setup builds it),
# but no site installed yet
mkdir -p "$T/keys" "$T/trusted" "$T/repo" "$T/src" "$T/pkg"
"$REL" -q keygen "$T/keys/vendor" --scope index --scope core --scope 'plugin:*'
cp "$T/keys/vendor.pub" "$T/keys/vendor.scope" "$T/trusted/"
for v in 1.0.0 1.1.0 1.2.0; do
    site_release "$v" "$T/src/$v"
    "$REL" -q pack --component core --src "$T/src/$v" --key "$T/keys/vendor.key" --repo "$T/repo"
done
mkdir -p "$T/src/plugin"
printf "<?php\nreturn ['version' => '2.0.0'];\n" > "$T/src/plugin/version.php"
"$REL" -q pack --component plugin:forum --src "$T/src/plugin" --key "$T/keys/vendor.key" --repo "$T/repo"
PKG100="$T/repo/core/nexosupport-1.0.0.tar.zst"
cat > "$CONF" <<CONF
[site]
root = site
[server]
url = file://$T/repo/index.json
trusted_keys = trusted
[paths]
state = state
backups = backups
CONF
db_setup "$DRV"

both() { eval "$1" && eval "$2"; }
run() { RC=0; "$@" > "$T/out" 2>&1 < /dev/null || RC=$?; }

# an empty site root with only what a site keeps of its own
fresh_site() {
    rm -rf "$T/site"
    mkdir -p "$T/site/var/logs" "$T/site/modules/plugins/demo"
    echo "APP_KEY=base64:site-secret" > "$T/site/.env"
    chmod 600 "$T/site/.env"
    echo "site log line" > "$T/site/var/logs/site.log"
    printf "<?php\nreturn ['version' => '1.0.0'];\n" > "$T/site/modules/plugins/demo/version.php"
}

# an empty database (for SQLite: no file at all)
fresh_db() {
    case "$DRV" in
    sqlite) rm -f "$DBPATH" "$DBPATH.nexo-lock" ;;
    pgsql) psql -h "$PGHOST_" -p "$PGPORT_" -U "$NEXO_TEST_DB_USER" -d postgres -qc "DROP DATABASE IF EXISTS $DBNAME" > /dev/null
           psql -h "$PGHOST_" -p "$PGPORT_" -U "$NEXO_TEST_DB_USER" -d postgres -qc "CREATE DATABASE $DBNAME" > /dev/null ;;
    mariadb) mariadb --defaults-extra-file="$MYCNF" -e "DROP DATABASE IF EXISTS $DBNAME; CREATE DATABASE $DBNAME" ;;
    esac
}

n_tables() {
    if [ "$DRV" = sqlite ] && [ ! -e "$DBPATH" ]; then echo 0; return; fi
    case "$DRV" in
    sqlite) db_sql "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'" ;;
    pgsql) db_sql "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')" ;;
    mariadb) db_sql "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()" ;;
    esac
}

# the managed paths of a tree: path, type, mode (and sha256 of files),
# without the manifest the extract step records for `nexo-update verify`
managed_list() {
    (cd "$1" && find core public_html resources database -path core/.nexo-release.json -prune \
        -o -printf '%p %y %m\n' | LC_ALL=C sort | nx_tree_sum)
}

# nothing of an install: no managed path, no table, nothing left behind
nothing_installed() {
    local p rc=0
    for p in core public_html resources database MAINTENANCE; do
        [ ! -e "$T/site/$p" ] || { echo "left in the site: $p" >&2; rc=1; }
    done
    [ "$(n_tables)" = 0 ] || { echo "tables: $(n_tables)" >&2; rc=1; }
    site_clean || rc=1
    return $rc
}

# ---- refusals before anything changes ----------------------------------------
fresh_site
fresh_db
site_snapshot empty
site_own_files > "$T/own"

cp "$PKG100" "$T/pkg/nosig.tar.zst"
run "${NXC[@]}" -y install --package "$T/pkg/nosig.tar.zst"
check "[$DRV] install without FILE.sig: exit 1" [ "$RC" -eq 1 ]
check "[$DRV] ... naming the missing signature" grep -q "nosig.tar.zst.sig" "$T/out"
check "[$DRV] ... nothing created" nothing_installed
check "[$DRV] ... no journal, no state" [ ! -e "$T/state/journal" ]

cp "$PKG100" "$T/pkg/wrongsig.tar.zst"
cp "$T/repo/core/nexosupport-1.1.0.tar.zst.sig" "$T/pkg/wrongsig.tar.zst.sig"
run "${NXC[@]}" -y install --package "$T/pkg/wrongsig.tar.zst"
check "[$DRV] install with another package's .sig: exit 1" [ "$RC" -eq 1 ]
check "[$DRV] ... the signature is refused" grep -q "signature refused" "$T/out"
check "[$DRV] ... nothing created" nothing_installed

"$REL" -q keygen "$T/keys/other"
cp "$PKG100" "$T/pkg/otherkey.tar.zst"
"$REL" -q sign --key "$T/keys/other.key" "$T/pkg/otherkey.tar.zst"
run "${NXC[@]}" -y install --package "$T/pkg/otherkey.tar.zst"
check "[$DRV] install signed by an untrusted key: exit 1" \
    both '[ "$RC" -eq 1 ]' 'grep -q "signature refused" "$T/out"'

run "${NXC[@]}" -y install --package "$T/repo/plugins/forum/forum-2.0.0.tar.zst"
check "[$DRV] install of a plugin package: exit 1" \
    both '[ "$RC" -eq 1 ]' 'grep -q "plugin:forum" "$T/out"'
check "[$DRV] ... nothing created" nothing_installed

run "${NXC[@]}" -y install
check "[$DRV] install without --package or --version: usage, exit 2" [ "$RC" -eq 2 ]
run "${NXC[@]}" -y install --package "$PKG100" --version=1.0.0
check "[$DRV] install with both: usage, exit 2" [ "$RC" -eq 2 ]

run "${NXC[@]}" install --package "$PKG100"
check "[$DRV] install without a terminal and without -y: exit 2" [ "$RC" -eq 2 ]
check "[$DRV] ... nothing created" nothing_installed

mkdir -p "$T/tmp"
run env TMPDIR="$T/tmp" "${NXC[@]}" -n install --package "$PKG100"
check "[$DRV] install -n: exit 0" [ "$RC" -eq 0 ]
check "[$DRV] ... shows the SQL of the package's install.xml" \
    both 'grep -q "install.xml (install 1.0.0)" "$T/out"' 'grep -q "CREATE TABLE .users" "$T/out"'
check "[$DRV] ... names every managed path to add" grep -q "would replace $T/site/resources" "$T/out"
check "[$DRV] ... changes nothing" nothing_installed
check "[$DRV] ... and leaves no temporary folder" [ -z "$(ls -A "$T/tmp")" ]

# ---- a failing step leaves site and database as they were --------------------
for f in extract:after-run:fail maintenance-on:after-run:fail migrate:checkpoint:1:fail \
         migrate:after-run:fail replace:checkpoint:2:fail replace:after-run:fail \
         register:after-run:fail cache:after-run:fail maintenance-off:after-run:fail; do
    fresh_db
    run env NEXO_FAULT="$f" "${NXC[@]}" -y install --package "$PKG100"
    check "[$DRV] install with NEXO_FAULT=$f: exit 1 or 3" \
        both '[ "$RC" -eq 3 ] || [ "$RC" -eq 1 ]' 'grep -q "injected failure" "$T/out"'
    check "[$DRV] ... nothing installed, nothing left behind" nothing_installed
    check "[$DRV] ... the site's files as before" site_same empty
done

fresh_db
rc=0; quiet_kill env NEXO_FAULT=replace:checkpoint:3:kill "${NXC[@]}" -y install --package "$PKG100" \
    > "$T/out" 2>&1 || rc=$?
check "[$DRV] install killed in the replace step: exit 137" [ "$rc" -eq 137 ]
run "${NXC[@]}" recover
check "[$DRV] ... recover: exit 0" [ "$RC" -eq 0 ]
check "[$DRV] ... nothing installed, nothing left behind" nothing_installed
check "[$DRV] ... the site's files as before" site_same empty

# ---- install --package ---------------------------------------------------------
fresh_db
run "${NXC[@]}" -y install --package "$PKG100"
check "[$DRV] install --package: exit 0" [ "$RC" -eq 0 ]
check "[$DRV] ... says so" grep -q "core 1.0.0 is installed on the site" "$T/out"
check "[$DRV] ... the tables of install.xml and nexo-update's own" \
    [ "$(db_sql "SELECT count(*) FROM users") $(db_sql "SELECT count(*) FROM config") $(db_sql "SELECT count(*) FROM update_notifications")" = "2 1 0" ]
check "[$DRV] ... the managed paths are release 1.0.0's, with their modes" \
    diff <(managed_list "$T/src/1.0.0") <(managed_list "$T/site")
check "[$DRV] ... core/cron.sh is 750, public_html/index.php 644" \
    [ "$(stat -c %a "$T/site/core/cron.sh") $(stat -c %a "$T/site/public_html/index.php")" = "750 644" ]
check "[$DRV] ... the verified manifest is recorded in core/" [ -f "$T/site/core/.nexo-release.json" ]
check "[$DRV] ... only the managed paths of the package were added" \
    both '[ ! -e "$T/site/scripts" ]' '[ ! -e "$T/site/modules/deprecated" ]'
check "[$DRV] ... system_versions: core 1.0.0 (code 1000000)" \
    [ "$(db_sql "SELECT component, version_number, version_code FROM system_versions")" = "$(printf 'core\t1.0.0\t1000000')" ]
check "[$DRV] ... update_history: a success to 1.0.0 from nothing" \
    [ "$(db_sql "SELECT component, coalesce(from_version, '-'), to_version, outcome FROM update_history")" = "$(printf 'core\t-\t1.0.0\tsuccess')" ]
check "[$DRV] ... .env, var/ and modules/plugins/ untouched" diff "$T/own" <(site_own_files)
check "[$DRV] ... nothing left behind" site_clean
check "[$DRV] ... status shows core 1.0.0 on disk and in the database" \
    both '"${NXC[@]}" status > "$T/st"' 'grep -q "core 1.0.0 (registered)" "$T/st"'
site_snapshot installed

# ---- refused on a database or a site that is not empty -------------------------
mv "$T/site" "$T/site.installed"
fresh_site
run "${NXC[@]}" -y install --package "$PKG100"
check "[$DRV] install on a database with tables: exit 1" [ "$RC" -eq 1 ]
check "[$DRV] ... naming the tables and the registered version" \
    both 'grep -q "system_versions, update_history" "$T/out"' 'grep -q "core 1.0.0 registered" "$T/out"'
check "[$DRV] ... the site is untouched" diff "$T/snap-empty.files" <(site_files)
rm -rf "$T/site"
mv "$T/site.installed" "$T/site"
check "[$DRV] ... the database is untouched" site_same installed

fresh_db
fresh_site
mkdir -p "$T/site/core"
run "${NXC[@]}" -y install --package "$PKG100"
check "[$DRV] install on a site that has core/: exit 1" [ "$RC" -eq 1 ]
check "[$DRV] ... naming the path" grep -q "$T/site/core exists" "$T/out"
check "[$DRV] ... the database is untouched (no table)" [ "$(n_tables)" = 0 ]
if [ "$DRV" = sqlite ]; then
    check "[$DRV] ... not even created" [ ! -e "$DBPATH" ]
fi

# ---- install --version from the signed repository ------------------------------
fresh_site
run "${NXC[@]}" -y install --version=9.9.9
check "[$DRV] install --version=9.9.9 (not in the repository): exit 1" \
    both '[ "$RC" -eq 1 ]' 'grep -q "9.9.9 is not offered" "$T/out"'
run "${NXC[@]}" -n install --version=1.0.0
check "[$DRV] install --version=1.0.0 -n: exit 0, the SQL of its install.xml" \
    both '[ "$RC" -eq 0 ]' 'grep -q "CREATE TABLE .sessions" "$T/out"'
check "[$DRV] ... changes nothing" nothing_installed
run "${NXC[@]}" -y install --version=1.0.0
check "[$DRV] install --version=1.0.0 (of 1.0.0, 1.1.0, 1.2.0): exit 0" [ "$RC" -eq 0 ]
check "[$DRV] ... core 1.0.0 on disk and in the database" \
    [ "$(site_version_disk) $(site_version_db)" = "1.0.0 1.0.0" ]
check "[$DRV] ... the managed paths are release 1.0.0's" \
    diff <(managed_list "$T/src/1.0.0") <(managed_list "$T/site")
check "[$DRV] ... nothing left behind" site_clean

# ---- update-db -------------------------------------------------------------------
run "${NXC[@]}" -y update-db
check "[$DRV] update-db on equal versions: nothing to do, exit 0" \
    both '[ "$RC" -eq 0 ]' 'grep -q "nothing to do" "$T/out"'

cp -a "$T/src/1.2.0/." "$T/site/"   # the admin copies release 1.2.0 by hand
db_dump > "$T/db-before"
run "${NXC[@]}" -n update-db
check "[$DRV] update-db -n: exit 0" [ "$RC" -eq 0 ]
check "[$DRV] ... lists the migration files in order" \
    [ "$(grep -o 'upgrade_[0-9.]*_[0-9.]*\.xml ([0-9. >-]*)' "$T/out" | tr '\n' ' ')" = "upgrade_1.0.0_1.1.0.xml (1.0.0 -> 1.1.0) upgrade_1.1.0_1.2.0.xml (1.1.0 -> 1.2.0) " ]
check "[$DRV] ... with their SQL" grep -q "idx_users_last_login" "$T/out"
check "[$DRV] ... changes nothing" diff "$T/db-before" <(db_dump)

run "${NXC[@]}" update-db
check "[$DRV] update-db without a terminal and without -y: exit 2" [ "$RC" -eq 2 ]

run env NEXO_FAULT=migrate:after-run:fail "${NXC[@]}" -y update-db
check "[$DRV] update-db with NEXO_FAULT=migrate:after-run:fail: exit 3" [ "$RC" -eq 3 ]
check "[$DRV] ... the database dump is exactly as before" diff "$T/db-before" <(db_dump)
check "[$DRV] ... history: rolled_back" [ "$(site_history_outcome)" = rolled_back ]
check "[$DRV] ... nothing left behind" site_clean

run env NEXO_FAULT=migrate:checkpoint:2:fail "${NXC[@]}" -y update-db
check "[$DRV] update-db failing after the first migration file: exit 3, database as before" \
    both '[ "$RC" -eq 3 ]' 'diff "$T/db-before" <(db_dump)'

run "${NXC[@]}" -y update-db
check "[$DRV] update-db 1.0.0 -> 1.2.0: exit 0" [ "$RC" -eq 0 ]
check "[$DRV] ... migration_log has both files in order" \
    [ "$(db_sql "SELECT file FROM migration_log ORDER BY id" | tr '\n' ' ')" = "upgrade_1.0.0_1.1.0 upgrade_1.1.0_1.2.0 " ]
check "[$DRV] ... system_versions says 1.2.0" [ "$(site_version_db)" = 1.2.0 ]
check "[$DRV] ... history: a success 1.0.0 -> 1.2.0" \
    [ "$(db_sql "SELECT from_version, to_version, outcome FROM update_history ORDER BY id DESC LIMIT 1")" = "$(printf '1.0.0\t1.2.0\tsuccess')" ]
check "[$DRV] ... the files on disk are untouched" grep -q "NexoSupport 1.2.0" "$T/site/public_html/index.php"
check "[$DRV] ... nothing left behind" site_clean
run "${NXC[@]}" -y update-db
check "[$DRV] update-db again: nothing to do, exit 0" \
    both '[ "$RC" -eq 0 ]' 'grep -q "nothing to do: the database is at core 1.2.0" "$T/out"'

cp "$T/src/1.0.0/core/version.php" "$T/site/core/version.php"
db_dump > "$T/db-before"
run "${NXC[@]}" -y update-db
check "[$DRV] update-db with files older than the database: exit 1" \
    both '[ "$RC" -eq 1 ]' 'grep -q "older than the database" "$T/out"'
check "[$DRV] ... the database is untouched" diff "$T/db-before" <(db_dump)
cp "$T/src/1.2.0/core/version.php" "$T/site/core/version.php"

fresh_db
run "${NXC[@]}" -y update-db
check "[$DRV] update-db on an empty database: exit 1, suggests install" \
    both '[ "$RC" -eq 1 ]' 'grep -q "nexo-update install" "$T/out"'
check "[$DRV] ... creates no table" [ "$(n_tables)" = 0 ]

# ---- a dry run creates nothing, not even an empty SQLite file ----------------
if [ "$DRV" = sqlite ]; then
    fresh_db
    fresh_site
    run "${NXC[@]}" -n install --package "$PKG100"
    check "[$DRV] install -n on a missing database file: exit 0, the plan" \
        both '[ "$RC" -eq 0 ]' 'grep -q "CREATE TABLE .sessions" "$T/out"'
    check "[$DRV] ... the database file is not created" [ ! -e "$DBPATH" ]
fi

# ---- install of a release whose install.xml is older than it ----------------
# (the fixture's releases all carry the 1.0.0 install.xml: the upgrades
# 1.0.0 -> 1.2.0 of the same release follow it)
fresh_db
fresh_site
run "${NXC[@]}" -y install --version 1.2.0
check "[$DRV] install --version 1.2.0 (a space, install.xml of 1.0.0): exit 0" [ "$RC" -eq 0 ]
check "[$DRV] ... core 1.2.0 on disk and in the database" \
    [ "$(site_version_disk) $(site_version_db)" = "1.2.0 1.2.0" ]
check "[$DRV] ... the schema is 1.2.0's: the upgrades ran after install.xml" \
    [ "$(db_sql "SELECT file FROM migration_log ORDER BY id" | tr '\n' ' ')" = "upgrade_1.0.0_1.1.0 upgrade_1.1.0_1.2.0 " ]
check "[$DRV] ... nothing left behind" site_clean

nx_finish
