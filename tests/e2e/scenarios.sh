#!/usr/bin/env bash
# The spec's §9.1 scenarios on one database (args: PREFIX MODDIR DRIVER),
# through the installed nexo-update and the default pipelines:
#   1. update flow: a site at 1.0.0, `core --to 1.1.0` (tables and files
#      change), `rollback` returns files and database to 1.0.0 exactly;
#      a second plain rollback has nothing to do; `rollback --to <the
#      rollback>` undoes the rollback; a rollback that fails is undone
#      itself; a damaged backup is refused before anything changes.
#   2. update failure: a corrupt package (and a bad signature) is refused
#      before maintenance mode; the site is untouched.
#   3. multi-version jump: 1.0.0 -> 1.5.0, every intermediate migration
#      once and in order, the custom script once; rollback to 1.0.0.
# In all of them .env, var/ (but var/cache, which the cache_clear step
# empties) and modules/plugins/ are never touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
DRV=$3
site_setup "$DRV" 1.0.0 1.1.0 1.2.0 1.3.0 1.4.0 1.5.0
NXC=("$NX" -c "$CONF")

same_nc() { SITE_SKIP_CACHE=1 site_same "$1"; }
both() { eval "$1" && eval "$2"; }
newest_id() { db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 1"; }
n_backups() { find "$T/backups" -maxdepth 1 -name 'backup_*' -type d | wc -l; }

# ---- 1. update flow ---------------------------------------------------------
site_snapshot v100full
SITE_SKIP_CACHE=1 site_snapshot v100
site_own_files > "$T/own"
rc=0; "${NXC[@]}" -y core --to 1.1.0 > "$T/out" 2>&1 || rc=$?
check "[$DRV] core --to 1.1.0 exits 0" [ "$rc" -eq 0 ]
check "[$DRV] the outcome line gives the time in maintenance mode" \
    grep -q "succeeded in .* maintenance mode for" "$T/out"
check "[$DRV] version.php is 1.1.0" [ "$(site_version_disk)" = 1.1.0 ]
check "[$DRV] system_versions says 1.1.0" [ "$(site_version_db)" = 1.1.0 ]
check "[$DRV] the 1.1.0 migration created audit_log" [ -n "$(db_sql "SELECT action FROM audit_log")" ]
check "[$DRV] migration_log has the 1.0.0 -> 1.1.0 file" \
    [ "$(db_sql "SELECT file FROM migration_log ORDER BY id")" = upgrade_1.0.0_1.1.0 ]
check "[$DRV] the release's own file is there, the old one gone" \
    both '[ -f "$T/site/public_html/release-1.1.0.txt" ]' '[ ! -e "$T/site/public_html/release-1.0.0.txt" ]'
check "[$DRV] index.php is 1.1.0's" grep -q "NexoSupport 1.1.0" "$T/site/public_html/index.php"
check "[$DRV] core/cron.sh kept its mode 750" [ "$(stat -c %a "$T/site/core/cron.sh")" = 750 ]
check "[$DRV] the site's rows are there" \
    [ "$(db_sql "SELECT count(*) FROM users WHERE email IN ('carol@example.org', 'dave@example.org')")" = 2 ]
check "[$DRV] .env, var/ and modules/plugins/ untouched by the update" \
    diff "$T/own" <(site_own_files)
check "[$DRV] var/cache was emptied" [ -z "$(ls -A "$T/site/var/cache")" ]
check "[$DRV] nothing left behind after the update" site_clean
check "[$DRV] history: success" [ "$(site_history_outcome)" = success ]
UPD=$(newest_id)
check "[$DRV] one backup, 0700" \
    both '[ "$(n_backups)" = 1 ]' '[ "$(stat -c %a "$T"/backups/backup_"$UPD"_*)" = 700 ]'
SITE_SKIP_CACHE=1 site_snapshot v110

# a rollback without a terminal and without -y changes nothing
rc=0; "${NXC[@]}" rollback < /dev/null > "$T/out" 2>&1 || rc=$?
check "[$DRV] rollback without -y and without a terminal: exit 2" [ "$rc" -eq 2 ]
check "[$DRV] ... and the site is still 1.1.0" same_nc v110

# a damaged backup is refused before anything changes
bk=$(echo "$T"/backups/backup_"$UPD"_*)
cp "$bk/files.tar.zst" "$T/files.good"
printf 'X' | dd of="$bk/files.tar.zst" bs=1 seek=100 conv=notrunc status=none
rc=0; "${NXC[@]}" -y rollback > "$T/out" 2>&1 || rc=$?
check "[$DRV] rollback from a damaged backup: exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... naming the file and the sha256" grep -q "files.tar.zst: sha256 .*meta.json says" "$T/out"
check "[$DRV] ... nothing changed" same_nc v110
check "[$DRV] ... maintenance mode never began" bash -c "! grep -q 'maintenance mode on' '$T/out'"
cp "$T/files.good" "$bk/files.tar.zst"

# a rollback that fails half-way is undone: the site stays at 1.1.0
for fault in restore:checkpoint:2:fail replace:after-run:fail cache:after-run:fail; do
    rc=0; NEXO_FAULT=$fault "${NXC[@]}" -y rollback > "$T/out" 2>&1 || rc=$?
    check "[$DRV] rollback with $fault: exit 3" [ "$rc" -eq 3 ]
    check "[$DRV] ... the site is still exactly 1.1.0" same_nc v110
    check "[$DRV] ... nothing left behind" site_clean
    check "[$DRV] ... history: rolled_back" [ "$(site_history_outcome)" = rolled_back ]
done
check "[$DRV] failed rollbacks leave no backup of their own" [ "$(n_backups)" = 1 ]

# a kill in the middle of the rollback: recover puts 1.1.0 back
rc=0; NEXO_FAULT=replace:checkpoint:2:kill quiet_kill "${NXC[@]}" -y rollback > "$T/out" 2>&1 || rc=$?
check "[$DRV] rollback killed while replacing files" [ "$rc" -eq 137 ]
rc=0; "${NXC[@]}" recover > "$T/out" 2>&1 || rc=$?
check "[$DRV] ... recover exits 0" [ "$rc" -eq 0 ]
check "[$DRV] ... the site is exactly 1.1.0" same_nc v110
check "[$DRV] ... nothing left behind" site_clean

# the rollback itself
rc=0; "${NXC[@]}" -y rollback > "$T/out" 2>&1 || rc=$?
check "[$DRV] rollback exits 0" [ "$rc" -eq 0 ]
check "[$DRV] ... it names the backup and warns about database changes" \
    grep -q "changes made to the database since" "$T/out"
check "[$DRV] files and database are 1.0.0's again, exactly" same_nc v100
check "[$DRV] version.php and system_versions: 1.0.0" \
    both '[ "$(site_version_disk)" = 1.0.0 ]' '[ "$(site_version_db)" = 1.0.0 ]'
check "[$DRV] migration_log is empty again" [ "$(db_sql "SELECT count(*) FROM migration_log")" = 0 ]
check "[$DRV] .env, var/ and modules/plugins/ untouched by the rollback" diff "$T/own" <(site_own_files)
check "[$DRV] nothing left behind after the rollback" site_clean
RB=$(newest_id)
check "[$DRV] history: manual_rollback 1.1.0 -> 1.0.0" \
    [ "$(db_sql "SELECT outcome, from_version, to_version FROM update_history WHERE update_id = '$RB'")" = \
      "$(printf 'manual_rollback\t1.1.0\t1.0.0')" ]
check "[$DRV] history kept the update and the failed rollbacks" \
    both '[ "$(db_sql "SELECT count(*) FROM update_history WHERE outcome = '"'rolled_back'"'")" -ge 4 ]' \
         '[ "$(db_sql "SELECT outcome FROM update_history WHERE update_id = '"'$UPD'"'")" = success ]'
check "[$DRV] the restored backup is marked" grep -q "\"restored_by\": \"$RB\"" "$bk/meta.json"

rc=0; "${NXC[@]}" -y rollback > "$T/out" 2>&1 || rc=$?
check "[$DRV] a second plain rollback has no backup left: exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... saying so" grep -q "no backup to roll back to" "$T/out"

# undo the rollback with the backup it took of 1.1.0
rc=0; "${NXC[@]}" -y rollback --to "$RB" > "$T/out" 2>&1 || rc=$?
check "[$DRV] rollback --to <the rollback> exits 0" [ "$rc" -eq 0 ]
check "[$DRV] ... the site is exactly 1.1.0 again" same_nc v110
check "[$DRV] ... nothing left behind" site_clean
rc=0; "${NXC[@]}" -y rollback --to no-such-update > "$T/out" 2>&1 || rc=$?
check "[$DRV] rollback --to an unknown id: exit 1" [ "$rc" -eq 1 ]
# undoing the rollback made the update's backup usable again: a plain
# rollback goes back to 1.0.0
rc=0; "${NXC[@]}" -y rollback > "$T/out" 2>&1 || rc=$?
check "[$DRV] a plain rollback after undoing one: exit 0, the update's backup again" \
    both '[ "$rc" -eq 0 ]' 'grep -q "before update $UPD" "$T/out"'
check "[$DRV] back at 1.0.0" same_nc v100

# ---- 2. update failure: a corrupt package ---------------------------------
site_snapshot clean100
pkg=$(ls "$T"/repo/core/*-1.5.0.* | grep -v '\.sig$')
cp "$pkg" "$T/pkg.good"
printf 'X' | dd of="$pkg" bs=1 seek=200 conv=notrunc status=none
rc=0; "${NXC[@]}" -y core > "$T/out" 2>&1 || rc=$?
check "[$DRV] a corrupt package: exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... refused by its checksum or signature" grep -E -q "sha256|signature" "$T/out"
check "[$DRV] ... before maintenance mode" bash -c "! grep -q 'maintenance mode on' '$T/out'"
check "[$DRV] ... the site is untouched (cache too)" site_same clean100
check "[$DRV] ... nothing left behind" site_clean
cp "$T/pkg.good" "$pkg"
# a repository index signed by a key the site does not trust
"$REL" -q keygen "$T/keys/other"
"$REL" -q index --repo "$T/repo" --key "$T/keys/other.key"
rc=0; "${NXC[@]}" -y core > "$T/out" 2>&1 || rc=$?
check "[$DRV] an index signed by an untrusted key: exit 1" [ "$rc" -eq 1 ]
check "[$DRV] ... refused for its signature" grep -q -i "signature" "$T/out"
check "[$DRV] ... the site is untouched" site_same clean100
"$REL" -q index --repo "$T/repo" --key "$T/keys/vendor.key"

# ---- 3. multi-version jump --------------------------------------------------
rc=0; "${NXC[@]}" -y core > "$T/out" 2>&1 || rc=$?
check "[$DRV] core 1.0.0 -> 1.5.0 in one update: exit 0" [ "$rc" -eq 0 ]
check "[$DRV] version.php and system_versions: 1.5.0" \
    both '[ "$(site_version_disk)" = 1.5.0 ]' '[ "$(site_version_db)" = 1.5.0 ]'
# each fixture migration up to 1.4.0 logs itself; 1.4.0 -> 1.5.0 is the
# spec's example verbatim (its marks: the notifications table, the script)
check "[$DRV] every intermediate migration once, in order" \
    [ "$(db_sql "SELECT file FROM migration_log ORDER BY id" | tr '\n' ' ')" = \
      "upgrade_1.0.0_1.1.0 upgrade_1.1.0_1.2.0 upgrade_1.2.0_1.3.0 upgrade_1.3.0_1.4.0 " ]
check "[$DRV] ... and 1.4.0 -> 1.5.0 last: notifications exists" \
    [ "$(db_sql "SELECT count(*) FROM notifications")" = 0 ]
check "[$DRV] the custom script ran once, for 1.4.0 -> 1.5.0" \
    grep -qx "from=1.4.0" "$T/site/var/custom-script.env"
check "[$DRV] the 1.5.0 schema: users.avatar_url, no obsolete_table" \
    [ -n "$(db_sql "SELECT count(avatar_url) FROM users")" ]
check "[$DRV] one history row for the jump" \
    [ "$(db_sql "SELECT from_version, to_version, outcome FROM update_history ORDER BY id DESC LIMIT 1")" = \
      "$(printf '1.0.0\t1.5.0\tsuccess')" ]
check "[$DRV] .env, var/ and modules/plugins/ untouched by the jump" diff "$T/own" <(site_own_files)
rc=0; "${NXC[@]}" -y rollback > "$T/out" 2>&1 || rc=$?
check "[$DRV] rollback from 1.5.0: exit 0" [ "$rc" -eq 0 ]
check "[$DRV] ... files and database are 1.0.0's exactly" same_nc v100
check "[$DRV] ... nothing left behind" site_clean

nx_finish
