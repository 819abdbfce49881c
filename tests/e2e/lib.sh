# Shared helpers for the end-to-end tests (sourced).
# Usage in a test: source lib.sh; nx_setup PREFIX TESTMODS
set -euo pipefail

NX_FAILS=0
NX_OKS=0
ok() { NX_OKS=$((NX_OKS + 1)); echo "ok - $*"; }
not_ok() { NX_FAILS=$((NX_FAILS + 1)); echo "not ok - $*"; }
check() { # check DESCRIPTION COMMAND...
    local d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
nx_finish() {
    echo "$NX_OKS passed, $NX_FAILS failed"
    [ "$NX_FAILS" -eq 0 ]
}

# A private folder (0755: the loader refuses group/world-writable folders).
nx_tmp() {
    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/nx-e2e.XXXXXX")
    chmod 755 "$d"
    echo "$d"
}

# nx_setup PREFIX TESTMODS: sets NX (the installed binary), MODS, T (temp
# folder with site/, fx/, nexo.ini) and CONF.
nx_setup() {
    PREFIX=$(cd "$1" && pwd)
    MODS=$(cd "$2" && pwd)
    NX="$PREFIX/bin/nexo-update"
    T=$(nx_tmp)
    trap 'rm -rf "$T"' EXIT
    mkdir -p "$T/site" "$T/fx"
    CONF="$T/nexo.ini"
    cat > "$CONF" <<CONF
[site]
root = site
[paths]
state = state
backups = backups
modules = $PREFIX/lib/nexo-update
pipelines = pipelines
CONF
}

# nx_pipeline FILE N [extra settings for every step]: N fake steps s1..sN.
nx_pipeline() {
    local file=$1 n=$2 extra=${3:-} i
    { echo "[pipeline]"; echo "name = test"
      for i in $(seq 1 "$n"); do
        echo "[s$i]"; echo "module = $MODS/fake_step.so"; echo "dir = $T/fx"
        if [ -n "$extra" ]; then echo "$extra"; fi
      done; } > "$file"
}

count() { grep -c -x -- "$1" "$2" 2>/dev/null || true; }

# Run a command that may be killed without the shell's "Killed" notice.
quiet_kill() {
    local rc=0
    "$@" &
    wait $! || rc=$?
    return $rc
}

# nx_tree_sum [LINKS]: stdin: lines "PATH TYPE MODE [TARGET]" (find -printf
# '%p %y %m %l\n', sorted), PATH relative to the current folder; stdout:
# each line as "PATH f MODE SHA256" for a regular file, "PATH l TARGET" for
# a symlink when LINKS is 1, else "PATH TYPE MODE" - the order kept. All
# files are hashed by one sha256sum run (a sha256sum per file made these
# tree comparisons the slowest part of the update tests).
nx_tree_sum() {
    local links=${1:-0} lines
    lines=$(cat)
    [ -n "$lines" ] || return 0
    awk '{ p = $0; sub(/ .*/, "", p) } $2 == "f" { printf "%s%c", p, 0 }' <<< "$lines" |
        xargs -0 -r sha256sum -z -- | tr '\0' '\n' |
        awk -v links="$links" '
            FNR == NR { if ($0 != "") sum[substr($0, 67)] = substr($0, 1, 64); next }
            $2 == "f" { if (!($1 in sum)) { print "nx_tree_sum: no sha256 of " $1 > "/dev/stderr"; bad = 1 }
                        print $1 " f " $3 " " sum[$1]; next }
            $2 == "l" && links == 1 { t = $0; sub(/^[^ ]* [^ ]* [^ ]* /, "", t); print $1 " l " t; next }
            { print $1 " " $2 " " $3 }
            END { exit bad }' - <(printf '%s\n' "$lines")
}

# nx_tree_list DIR PATH...: the paths below DIR (relative to it) with type,
# mode and link target, and the sha256 of each file - sorted: two trees are
# the same when their lists are. Three processes (find waits for each
# sha256sum it starts, so their lines never mix): for a check made hundreds
# of times (soak.sh); nx_tree_sum formats a listing a test chose itself.
nx_tree_list() {
    local dir=$1; shift
    (cd "$dir" && find "$@" -printf '%p %y %m %l\n' -type f -exec sha256sum {} + | LC_ALL=C sort)
}

# nx_mask_run T0 (a filter): update ids and epoch seconds between a day
# before T0 and a day after now masked, to compare what two runs at
# different times wrote (database dumps, reports). Perl: it starts in
# milliseconds (a python3 behind a version manager's shim takes seconds).
nx_mask_run() {
    perl -pe 'BEGIN { ($lo, $hi) = ($ARGV[0] - 86400, $ARGV[1] + 86400); @ARGV = () }
        s/\b\d{8}-\d{6}-[0-9a-f]{8}\b/<update-id>/g;
        s/\b(\d{9,11})\b/$1 >= $lo && $1 <= $hi ? "<time>" : $1/ge' "$1" "$(date +%s)"
}
