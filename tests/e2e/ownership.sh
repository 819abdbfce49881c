#!/usr/bin/env bash
# Ownership (args: PREFIX MODDIR): nexo-update run as root on a site that
# belongs to another user (www-data, else nobody) leaves what it puts in
# place that user's: every path under the managed folders (staged by the
# extract step, renamed in by replace_files) and the var/cache folder the
# cache_clear step makes again; the manifest's modes stay. Skips (exit 77)
# when not root or when neither user exists.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
OWNER=
for u in www-data nobody; do
    if id -u "$u" > /dev/null 2>&1; then OWNER=$u; break; fi
done
if [ -z "$OWNER" ]; then echo "SKIP: no www-data or nobody user"; exit 77; fi
nx_setup "$1" "$2"
site_setup sqlite 1.0.0 1.1.0
S="$T/site"
MANAGED=(core public_html resources database)

chown -R "$OWNER:$(id -gn "$OWNER")" "$S"
rc=0
"$NX" -c "$CONF" -y core > "$T/out" 2>&1 || rc=$?
check "the update as root exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$T/out"
check "the site is at 1.1.0" [ "$(site_version_disk)" = 1.1.0 ]
check "the release's own file is in place" [ -f "$S/public_html/release-1.1.0.txt" ]
check "the cache was emptied" [ ! -e "$S/var/cache/views" ]

# not_owned PATH...: every path below them not owned by OWNER (and its group)
not_owned() {
    find "$@" \( ! -user "$OWNER" -o ! -group "$(id -gn "$OWNER")" \) -printf '%p %u:%g\n'
}
wrong=$(cd "$S" && not_owned "${MANAGED[@]}" var/cache)
check "every path under ${MANAGED[*]} and var/cache belongs to $OWNER" [ -z "$wrong" ]
[ -z "$wrong" ] || echo "$wrong" | head -20
check "the site root still belongs to $OWNER" [ "$(stat -c %U "$S")" = "$OWNER" ]
check "core/cron.sh keeps the manifest's mode 750" [ "$(stat -c %a "$S/core/cron.sh")" = 750 ]
check "the site is clean (no staging folder left)" site_clean
nx_finish
