#!/usr/bin/env bash
# nexo-update backups list | prune | verify ID (args: PREFIX MODDIR): a demo
# site on SQLite updated three times (1.0.0 -> 1.1.0 -> 1.2.0 -> 1.3.0)
# through the default core pipeline has three backups; list (text and
# --json), verify (good, then each kind of damage named), prune with
# keep = 1 (refused without a terminal and -y, -n changes nothing, the
# newest stays, the update lock is respected).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.1.0 1.2.0 1.3.0
NXC=("$NX" -c "$CONF")
B="$T/backups"

run() { # run ARGS...: exit code in $rc, stdout in $T/out, stderr in $T/err
    rc=0
    "${NXC[@]}" "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?
}
jqo() { jq -r "$1" "$T/out"; }
n_backups() { find "$B" -maxdepth 1 -name 'backup_*' -type d | wc -l; }

# ---- an empty store ----------------------------------------------------------------
run backups list
check "no backups yet: list exits 0 and says so" \
    eval '[ "$rc" -eq 0 ] && grep -q "^no backups in $B$" "$T/out"'
run --json backups list
check "... --json: an empty list" [ "$(jqo '.backups | length')" = 0 ]

# ---- three updates, three backups ---------------------------------------------------
for v in 1.1.0 1.2.0 1.3.0; do
    "${NXC[@]}" -q -y core --to "$v" > /dev/null
done
IDS=$(db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 3" | tr '\n' ' ')
read -r ID3 ID2 ID1 <<< "$IDS"
check "three updates made three backups" [ "$(n_backups)" = 3 ]

run backups list
check "list: exit 0, a header and three rows" \
    eval '[ "$rc" -eq 0 ] && [ "$(wc -l < "$T/out")" = 4 ] && head -1 "$T/out" | grep -q "UPDATE ID .*CREATED .*COMPONENT .*FROM -> TO .*PIPELINE .*SIZE .*PATH"'
check "... newest first, with versions and pipeline" \
    eval 'sed -n 2p "$T/out" | grep -q "^$ID3 .* core .* 1.2.0 -> 1.3.0 .* core .* $B/backup_${ID3}_"'
check "... the oldest last" \
    eval 'sed -n 4p "$T/out" | grep -q "^$ID1 .* 1.0.0 -> 1.1.0 "'

run --json backups list
check "list --json: one document, dir and three backups" \
    eval '[ "$rc" -eq 0 ] && [ "$(jqo .dir)" = "$B" ] && [ "$(jqo ".backups | length")" = 3 ]'
check "... newest first by update id" \
    [ "$(jqo '[.backups[].update_id] | join(" ")')" = "$ID3 $ID2 $ID1" ]
check "... versions, component and pipeline" \
    [ "$(jqo '[.backups[] | "\(.component):\(.from_version)->\(.to_version):\(.pipeline)"] | join(" ")')" \
      = "core:1.2.0->1.3.0:core core:1.1.0->1.2.0:core core:1.0.0->1.1.0:core" ]
folder_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
check "... sizes are the folders' bytes, total_size their sum" \
    eval '[ "$(jqo ".backups[0].size")" = "$(folder_bytes "$(jqo ".backups[0].path")")" ] &&
          [ "$(jqo "[.backups[].size] | add")" = "$(jqo .total_size)" ]'
check "... created_at and created agree, meta is the whole meta.json" \
    eval '[ "$(jqo ".backups[0].created")" = "$(date -u -d "$(jqo ".backups[0].created_at")" +%s)" ] &&
          [ "$(jqo ".backups[0].meta.files.file")" = files.tar.zst ] &&
          [ "$(jqo ".backups[0].meta.database.driver")" = sqlite ]'
check "... paths are the backup folders" \
    eval '[ -d "$(jqo ".backups[2].path")" ] && [ "$(basename "$(jqo ".backups[2].path")")" = "$(jqo ".backups[2].name")" ]'

# ---- verify -------------------------------------------------------------------------
run backups verify "$ID1"
check "verify ID of a good backup: exit 0, says good" \
    eval '[ "$rc" -eq 0 ] && grep -q "^good:" "$T/out"'
check "... the whole archive was read" grep -q "files.tar.zst (archive)  [0-9]* entries read" "$T/out"
run --json backups verify "$(basename "$B/backup_${ID2}"_*)"
check "verify by folder name, --json: ok, no problems" \
    [ "$(jqo '[.ok, (.problems | length), .update_id] | @csv')" = "true,0,\"$ID2\"" ]
run backups verify nope
check "verify of an unknown backup: exit 1, naming it and the store" \
    eval '[ "$rc" -eq 1 ] && grep -q "no backup '"'"'nope'"'"' in $B" "$T/err"'
for args in "backups" "backups verify" "backups frob" "backups list x" "backups verify a b"; do
    run $args
    check "usage: '$args' exits 2" [ "$rc" -eq 2 ]
done

D1=$(echo "$B/backup_${ID1}"_*)
cp -a "$D1" "$T/saved"
put_back() { rm -rf "$D1"; cp -a "$T/saved" "$D1"; }

# a flipped byte in files.tar.zst
python3 - "$D1/files.tar.zst" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x55
open(p, 'r+b').write(b)
PY
run backups verify "$ID1"
check "a flipped byte in files.tar.zst: exit 1" [ "$rc" -eq 1 ]
check "... sha256 expected (meta.json) vs found, naming the file" \
    grep -q "PROBLEM  $D1/files.tar.zst: sha256: expected [0-9a-f]\{64\} (meta.json), found [0-9a-f]\{64\}" "$T/out"
# (whether the flipped byte also breaks decoding depends on where it lands:
# zstd frames carry no checksum here; the truncated archive below always does)
check "... stderr names the backup and the count" grep -q -E "error: backup $D1: [1-9][0-9]* problem\(s\)" "$T/err"
run --json backups verify "$ID1"
check "... --json: ok false, problem sha256 on files.tar.zst" \
    [ "$(jqo '[.ok, (.problems[] | select(.check == "sha256") | .file)] | @csv')" = "false,\"$D1/files.tar.zst\"" ]
put_back

# a truncated files.tar.zst: the archive does not read to its end
sz=$(stat -c %s "$D1/files.tar.zst")
truncate -s $((sz / 2)) "$D1/files.tar.zst"
run backups verify "$ID1"
check "a truncated files.tar.zst: exit 1, the archive does not read to its end" \
    eval '[ "$rc" -eq 1 ] && grep -q "PROBLEM  $D1/files.tar.zst: cannot read the archive" "$T/out"'
put_back

# a truncated database.dump
size=$(stat -c %s "$D1/database.dump")
truncate -s 100 "$D1/database.dump"
run backups verify "$ID1"
check "a truncated database.dump: exit 1, size expected vs found" \
    eval '[ "$rc" -eq 1 ] && grep -q "PROBLEM  $D1/database.dump: size: expected $size bytes (meta.json), found 100$" "$T/out"'
check "... and its sha256" grep -q "PROBLEM  $D1/database.dump: sha256: expected" "$T/out"
check "... the files archive is still fine" grep -q "ok       files.tar.zst (archive)" "$T/out"
put_back

# meta.json edited: another sha256 for the archive
jq '.files.sha256 = "0000000000000000000000000000000000000000000000000000000000000000"' \
    "$D1/meta.json" > "$T/meta" && cat "$T/meta" > "$D1/meta.json"
run backups verify "$ID1"
check "meta.json edited (files sha256): exit 1, expected the edited value, found the real one" \
    eval '[ "$rc" -eq 1 ] && grep -q "PROBLEM  $D1/files.tar.zst: sha256: expected 0\{64\} (meta.json), found $(sha256sum < "$D1/files.tar.zst" | cut -c1-64)$" "$T/out"'
jq '.files.entries = 99999' "$T/saved/meta.json" > "$T/meta" && cat "$T/meta" > "$D1/meta.json"
run backups verify "$ID1"
check "meta.json edited (entries): exit 1, entries expected vs found" \
    eval '[ "$rc" -eq 1 ] && grep -q "PROBLEM  $D1/files.tar.zst: entries: expected 99999 (meta.json), found [0-9]*$" "$T/out"'
jq '.update_id = "20000101-000000-00000000"' "$T/saved/meta.json" > "$T/meta" && cat "$T/meta" > "$D1/meta.json"
run backups verify "$(basename "$D1")"
check "meta.json edited (update_id): does not match the folder name" \
    eval '[ "$rc" -eq 1 ] && grep -q "PROBLEM  $D1/meta.json: update_id 20000101-000000-00000000 does not match the folder name" "$T/out"'
printf '{ "update_id": ' > "$D1/meta.json"
run backups verify "$(basename "$D1")"
check "meta.json not JSON: exit 1, not readable as a backup's meta.json" \
    eval '[ "$rc" -eq 1 ] && grep -q "PROBLEM  $D1/meta.json: not readable as a backup" "$T/out"'
put_back

# modes and an unsafe archive entry
chmod 755 "$D1"
chmod 644 "$D1/files.tar.zst"
run backups verify "$ID1"
check "folder 0755 and file 0644: both named, expected vs found" \
    eval '[ "$rc" -eq 1 ] && grep -q "PROBLEM  $D1: mode: expected 0700, found 0755$" "$T/out" &&
          grep -q "PROBLEM  $D1/files.tar.zst: mode: expected 0600, found 0644$" "$T/out"'
put_back
echo evil > "$T/evil"
rm "$D1/files.tar.zst"
(cd "$T" && bsdtar --zstd -cf "$D1/files.tar.zst" -s ',^evil$,../evil,' evil)
chmod 600 "$D1/files.tar.zst"
sha=$(sha256sum < "$D1/files.tar.zst" | cut -c1-64)
jq --arg s "$sha" --argjson n "$(stat -c %s "$D1/files.tar.zst")" \
    '.files.sha256 = $s | .files.size = $n | .files.entries = 1' "$T/saved/meta.json" > "$T/meta"
cat "$T/meta" > "$D1/meta.json"
run backups verify "$ID1"
check "an archive entry '../evil' (sizes and sha256 consistent): exit 1, the entry named" \
    eval '[ "$rc" -eq 1 ] && grep -q "PROBLEM  $D1/files.tar.zst: entry '"'"'../evil'"'"': not a plain relative name" "$T/out"'
put_back
run backups verify "$ID1"
check "put back: good again" [ "$rc" -eq 0 ]

# ---- prune --------------------------------------------------------------------------
run -y backups prune
check "prune with the defaults (keep 5, keep_days 30): nothing to prune, exit 0" \
    eval '[ "$rc" -eq 0 ] && grep -q "^nothing to prune: 3 backup(s) in $B, all kept (keep 5, keep_days 30)$" "$T/out"'
printf '[backup]\nkeep = 1\nkeep_days = 0\n' >> "$CONF"

run backups prune
check "prune without a terminal and without -y: exit 2" [ "$rc" -eq 2 ]
check "... saying why" grep -q "standard input is not a terminal; give -y to confirm" "$T/err"
check "... nothing removed" [ "$(n_backups)" = 3 ]

find "$B" -printf '%p %s %T@\n' | sort > "$T/before"
run -n backups prune
check "prune -n: exit 0, the two older backups would go" \
    eval '[ "$rc" -eq 0 ] && [ "$(grep -c "^would remove " "$T/out")" = 2 ] &&
          grep -q "^would remove $B/backup_${ID1}_" "$T/out" && grep -q "^would remove $B/backup_${ID2}_" "$T/out"'
check "... and changes nothing" diff "$T/before" <(find "$B" -printf '%p %s %T@\n' | sort)
run --json -n backups prune
check "prune -n --json: dry_run, remove_count 2, actions" \
    [ "$(jqo '[.dry_run, .keep, .keep_days, .remove_count, ([.backups[].action] | join(" "))] | @csv')" \
      = 'true,1,0,2,"kept would_remove would_remove"' ]

rc=0; flock -n "$T/state/lock" "${NXC[@]}" -y backups prune > "$T/out" 2> "$T/err" || rc=$?
check "prune while an update holds the lock: exit 5, nothing removed" \
    eval '[ "$rc" -eq 5 ] && [ "$(n_backups)" = 3 ] && grep -q "another update holds the lock" "$T/err"'

run -y backups prune
check "prune -y: exit 0, two removed" \
    eval '[ "$rc" -eq 0 ] && [ "$(grep -c "^removed " "$T/out")" = 2 ] && [ "$(n_backups)" = 1 ]'
check "... the newest backup stays" [ -d "$(echo "$B/backup_${ID3}"_*)" ]
run --json backups list
check "... list shows only it" [ "$(jqo '[.backups[].update_id] | join(" ")')" = "$ID3" ]
run backups verify "$ID3"
check "... and it is still good" [ "$rc" -eq 0 ]
run -y backups prune
check "a second prune: nothing to prune" grep -q "^nothing to prune: 1 backup(s)" "$T/out"

nx_finish
