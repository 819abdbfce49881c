#!/usr/bin/env bash
# The backup step on a real database, in front of migrate: success leaves
# a backup (database.dump, files.tar.zst, meta.json); a later failure or a
# kill + recover restores the database from the backup's snapshot (migrate
# takes none of its own) and removes the unused backup.
# Usage: backup.sh PREFIX TESTMODS DRIVER
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
nx_setup "$1" "$2"
db_setup "$3"
SRC=$(cd "$here/../.." && pwd)
cp -a "$SRC/tests/fixtures/site/." "$T/site/"
printf 'APP_KEY=e2e\n' > "$T/site/.env"
B="$T/backups"

printf '[pipeline]\nname = install\n[install]\nmodule = migrate\nmode = install\n' > "$T/install.ini"
printf '[pipeline]\nname = up\n[backup]\nmodule = backup\n[migrate]\nmodule = migrate\n[after]\nmodule = %s/fake_step.so\ndir = %s/fx\n' \
    "$MODS" "$T" > "$T/up.ini"
run() { local rc=0; "$NX" -c "$CONF" -y "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?; echo "$rc"; }
up() { run pipeline run "$T/up.ini" --component core --from 1.0.0 --to 1.5.0; }
same_dump() { db_dump > "$T/now.sql"; cmp -s "$T/before.sql" "$T/now.sql" || { diff "$T/before.sql" "$T/now.sql" | head -20 | sed 's/^/# /'; return 1; }; }
no_backup() { ! ls -d "$B"/backup_* > /dev/null 2>&1; }
used_shared() { grep -q 'backing up the .* database' "$T/err" && ! grep -q 'taking a snapshot of the database' "$T/err" \
    && ! ls "$T"/state/work/*/*.db-snapshot > /dev/null 2>&1; }

rc=$(run pipeline run "$T/install.ini" --component core --to 1.0.0)
check "$DRIVER: install 1.0.0: exit 0 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 0
db_dump > "$T/before.sql"

# A later step fails: migrate restores from the backup's dump, the backup goes.
rc=$(NEXO_FAULT=after:after-run:fail up)
check "$DRIVER: later step fails: exit 3 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 3
check "$DRIVER: later step fails: dump equals the one before" same_dump
check "$DRIVER: later step fails: migrate used the backup's snapshot" used_shared
check "$DRIVER: later step fails: the unused backup is removed" no_backup

# Killed after the later step ran; recover does the same.
rc=0; NEXO_FAULT=after:after-run:kill quiet_kill "$NX" -c "$CONF" -y pipeline run "$T/up.ini" \
    --component core --from 1.0.0 --to 1.5.0 > /dev/null 2> "$T/err" < /dev/null || rc=$?
check "$DRIVER: killed: exit 137 (got $rc)" test "$rc" = 137
check "$DRIVER: killed: a backup folder is there" bash -c "ls -d '$B'/backup_* > /dev/null 2>&1"
rc=$(run recover)
check "$DRIVER: recover: exit 0 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 0
check "$DRIVER: recover: dump equals the one before" same_dump
check "$DRIVER: recover: the unused backup is removed" no_backup

# Success: the backup stays, complete.
rc=$(up)
check "$DRIVER: success: exit 0 (got $rc: $(tail -n1 "$T/err"))" test "$rc" = 0
dir=$(ls -d "$B"/backup_* 2>/dev/null | head -n1)
check "$DRIVER: success: one backup folder" test "$(ls -d "$B"/backup_* | wc -l)" = 1
check "$DRIVER: success: folder 0700" test "$(stat -c %a "$dir")" = 700
check "$DRIVER: success: database.dump, files.tar.zst, meta.json (0600)" \
    test "$(stat -c %a "$dir/database.dump" "$dir/files.tar.zst" "$dir/meta.json" | sort -u)" = 600
check "$DRIVER: success: meta.json names the database dump and its sha256" \
    test "$(jq -r '.database.driver + " " + .database.sha256' "$dir/meta.json")" = "$DRIVER $(sha256sum "$dir/database.dump" | cut -d' ' -f1)"
check "$DRIVER: success: the archive has .env" bash -c "tar --zstd -tf '$dir/files.tar.zst' | grep -qx .env"
check "$DRIVER: success: no partial folder" bash -c "! ls -d '$B'/*.partial > /dev/null 2>&1"

nx_finish
