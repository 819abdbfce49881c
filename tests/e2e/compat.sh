#!/usr/bin/env bash
# Compatibility between core and plugins in the update check (args: PREFIX
# MODDIR): a demo site on SQLite with installed plugins whose version.php
# declare requires.nexosupport and dependencies, and a signed file://
# repository packed with nexo-release (core and plugin releases). Each rule
# is shown by `check` (stdout, and why a newer release is not offered on
# stderr), `list` and `list --json` (jq, field by field):
#   core release: compatibility.plugins against the installed plugins (1.2.0);
#                 an installed plugin's requires.nexosupport (1.3.0);
#   plugin release: its requires.nexosupport (demo 1.1.0), its dependencies
#                 (wiki 1.1.0: out of range; wiki 1.2.0: not installed);
#                 an installed plugin's dependencies on it (forum 3.0.0).
# `core --to V` and `plugin SLUG --to V` refuse an incompatible V naming
# plugin, range and installed version (exit 1, site untouched), `core --to
# V` a V with only php unmet; `core` and `plugin forum` install the newest
# compatible release; once forum is updated core 1.3.0's conflict is gone.
# (Force: tests/unit/test_check_force.c.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"
command -v jq > /dev/null || { echo "SKIP: jq not found"; exit 77; }
site_setup sqlite 1.0.0
S="$T/site"
P="$S/modules/plugins"

# A php that says 8.2.7 for the checks (php >=99.0 is then not met).
mkdir -p "$T/bin"
printf '#!/bin/sh\n[ "$1" = -r ] && printf 8.2.7\n' > "$T/bin/php"
chmod 755 "$T/bin/php"

# compat_core V PHP_LINES: pack core V (the fixture site) whose
# core/version.php also holds PHP_LINES.
compat_core() {
    local v=$1 extra=$2 dir="$T/src/$1"
    site_release "$v" "$dir"
    printf "<?php\nreturn [\n    'version' => '%s',\n    'branch' => 'stable',\n%s];\n" \
        "$v" "$extra" > "$dir/core/version.php"
    "$REL" -q pack --component core --src "$dir" --key "$T/keys/vendor.key" --repo "$T/repo"
}

# compat_plugin SLUG V PHP_LINES: pack plugin:SLUG V, a plugin folder whose
# version.php also holds PHP_LINES.
compat_plugin() {
    local slug=$1 v=$2 extra=$3 dir="$T/psrc/$1-$2"
    mkdir -p "$dir/lib"
    printf "<?php\nreturn [\n    'version' => '%s',\n%s];\n" "$v" "$extra" > "$dir/version.php"
    printf "<?php // %s %s\n" "$slug" "$v" > "$dir/lib/$slug.php"
    "$REL" -q pack --component "plugin:$slug" --src "$dir" --key "$T/keys/vendor.key" \
        --repo "$T/repo" --format zip
}

# compat_installed SLUG V PHP_LINES: the plugin as installed on the site.
compat_installed() {
    mkdir -p "$P/$1"
    printf "<?php\nreturn [\n    'version' => '%s',\n%s];\n" "$2" "$3" > "$P/$1/version.php"
}

# ---- the site: core 1.0.0, plugins demo 1.0.0 (site_setup), forum, wiki
compat_installed forum 2.0.0 "    'requires' => ['nexosupport' => '>=1.0.0 <1.3.0'],
"
compat_installed wiki 1.0.0 "    'requires' => ['nexosupport' => '>=1.0.0'],
    'dependencies' => ['forum' => '^2.0'],
"

# ---- the repository
compat_core 1.0.5 "    'requires' => ['php' => '>=99.0'],
"
compat_core 1.1.0 ""
compat_core 1.2.0 "    'compatibility' => ['plugins' => ['forum' => '>=2.1.0', 'gone' => '>=1.0']],
"
compat_core 1.3.0 ""
compat_plugin forum 2.1.0 "    'requires' => ['nexosupport' => '>=1.0.0'],
"
compat_plugin forum 3.0.0 "    'requires' => ['nexosupport' => '>=1.0.0'],
"
compat_plugin wiki 1.0.1 "    'dependencies' => ['forum' => '^2.0'],
"
compat_plugin wiki 1.1.0 "    'dependencies' => ['forum' => '>=2.1.0'],
"
compat_plugin wiki 1.2.0 "    'dependencies' => ['forum' => '^2.0', 'gallery' => '^1.0'],
"
compat_plugin demo 1.1.0 "    'requires' => ['nexosupport' => '>=2.0.0'],
"
check "nexo-release wrote the dependencies into the index" \
    jq -e '.releases[] | select(.component == "plugin:wiki" and .version == "1.2.0") |
           .dependencies == {"forum": "^2.0", "gallery": "^1.0"}' "$T/repo/index.json"

# run ARGS...: nexo-update with the fake php; rc, $T/out, $T/err
run() {
    rc=0
    PATH="$T/bin:$PATH" "$NX" -c "$CONF" "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?
}
has() { grep -qF -- "$1" "$2"; }
jqt() { jq -e "$1" "$T/out" > /dev/null; }

MSG_A="installed plugin forum 2.0.0 requires nexosupport >=1.0.0 <1.3.0 (core 1.3.0 is outside it)"
MSG_COMPAT="plugin forum >=2.1.0 (installed 2.0.0)"
MSG_CORE="nexosupport >=2.0.0 (installed core is 1.0.0)"
MSG_C="installed plugin wiki 1.0.0 depends on forum ^2.0 (forum 3.0.0 is outside it)"
MSG_DEP="plugin forum >=2.1.0 (installed 2.0.0)"
MSG_NOTINST="plugin gallery ^1.0 (not installed)"

# ---- check ---------------------------------------------------------------------
run check
check "check: exit 100 (got $rc)" test "$rc" = 100
check "check: core 1.1.0, the newest without conflicts" grep -qx 'core 1.0.0 -> 1.1.0' "$T/out"
check "check: forum 2.1.0 (3.0.0 would break wiki)" grep -qx 'plugin:forum 2.0.0 -> 2.1.0' "$T/out"
check "check: wiki 1.0.1 (1.1.0 and 1.2.0 conflict)" grep -qx 'plugin:wiki 1.0.0 -> 1.0.1' "$T/out"
check "check: nothing for demo, three lines" \
    bash -c "! grep -q demo '$T/out' && test \$(wc -l < '$T/out') = 3"
check "check: core 1.3.0 not offered: an installed plugin's nexosupport range" \
    has "core 1.3.0 is not offered: $MSG_A" "$T/err"
check "check: core 1.2.0 not offered: compatibility.plugins" \
    has "core 1.2.0 is not offered: $MSG_COMPAT" "$T/err"
check "check: a plugin not installed does not matter to compatibility.plugins" \
    bash -c "! grep -q gone '$T/err'"
check "check: demo 1.1.0 not offered: its nexosupport range" \
    has "plugin:demo 1.1.0 is not offered: $MSG_CORE" "$T/err"
check "check: forum 3.0.0 not offered: wiki depends on forum ^2.0" \
    has "plugin:forum 3.0.0 is not offered: $MSG_C" "$T/err"
check "check: wiki 1.1.0 not offered: its dependency out of range" \
    has "plugin:wiki 1.1.0 is not offered: $MSG_DEP" "$T/err"
check "check: wiki 1.2.0 not offered: a dependency not installed" \
    has "plugin:wiki 1.2.0 is not offered: $MSG_NOTINST" "$T/err"
check "check: 1.0.5 (below the offer) is not explained" bash -c "! grep -q '1.0.5' '$T/err'"

run --json check
check "check --json: exit 100, one document" bash -c "test $rc = 100 && jq -e . '$T/out' > /dev/null"
check "check --json: the three updates" \
    jqt '[.updates[] | "\(.component) \(.version)"] == ["core 1.1.0", "plugin:forum 2.1.0", "plugin:wiki 1.0.1"]'
check "check --json: not_offered, in order" \
    jqt '[.not_offered[] | "\(.component) \(.version)"] == ["core 1.3.0", "core 1.2.0", "plugin:demo 1.1.0", "plugin:forum 3.0.0", "plugin:wiki 1.2.0", "plugin:wiki 1.1.0"]'
check "check --json: core 1.3.0's conflict (rule: installed plugin requires nexosupport)" \
    jqt ".not_offered[0] | .installed == \"1.0.0\" and .unmet == [\"$MSG_A\"] and (.conflicts | length == 1) and
         (.conflicts[0] | .plugin == \"core\" and .range == \">=1.0.0 <1.3.0\" and .installed == \"1.0.0\"
          and .needed_by == \"plugin:forum 2.0.0\" and .message == \"$MSG_A\")"
check "check --json: core 1.2.0's conflict (compatibility.plugins)" \
    jqt '.not_offered[1].conflicts == [{"plugin": "forum", "range": ">=2.1.0", "installed": "2.0.0", "needed_by": "core 1.2.0", "message": "'"$MSG_COMPAT"'"}]'
check "check --json: demo 1.1.0's conflict (its nexosupport)" \
    jqt '.not_offered[2].conflicts == [{"plugin": "core", "range": ">=2.0.0", "installed": "1.0.0", "needed_by": "plugin:demo 1.1.0", "message": "'"$MSG_CORE"'"}]'
check "check --json: forum 3.0.0's conflict (wiki's dependency)" \
    jqt '.not_offered[3].conflicts == [{"plugin": "forum", "range": "^2.0", "installed": "2.0.0", "needed_by": "plugin:wiki 1.0.0", "message": "'"$MSG_C"'"}]'
check "check --json: wiki 1.2.0's conflict (a dependency not installed: installed null)" \
    jqt '.not_offered[4].conflicts == [{"plugin": "gallery", "range": "^1.0", "installed": null, "needed_by": "plugin:wiki 1.2.0", "message": "'"$MSG_NOTINST"'"}]'
check "check --json: wiki 1.1.0's conflict (its dependency)" \
    jqt '.not_offered[5].conflicts == [{"plugin": "forum", "range": ">=2.1.0", "installed": "2.0.0", "needed_by": "plugin:wiki 1.1.0", "message": "'"$MSG_DEP"'"}]'

# ---- list ----------------------------------------------------------------------
run list
check "list: exit 0 (got $rc)" test "$rc" = 0
check "list: core 1.3.0 and 1.2.0 conflict" \
    bash -c "grep -q '^  1.3.0  not offered: conflicts with what is installed' '$T/out' && grep -q '^  1.2.0  not offered: conflicts with what is installed' '$T/out'"
check "list: 1.0.5 does not meet php" grep -q '^  1.0.5  not offered: requirements not met' "$T/out"
check "list: each conflict on a line" \
    bash -c "for m in '$MSG_A' '$MSG_COMPAT' '$MSG_CORE' '$MSG_C' '$MSG_NOTINST'; do grep -qF \"    not met:   \$m\" '$T/out' || exit 1; done"
check "list: the declared ranges" \
    bash -c "grep -qF '    plugins:   forum >=2.1.0, gone >=1.0' '$T/out' && grep -qF '    depends:   forum ^2.0, gallery ^1.0' '$T/out'"

run --json list
check "list --json: exit 0" test "$rc" = 0
check "list --json: core offer and releases" \
    jqt '.components[0] | .component == "core" and .offer == "1.1.0" and ([.releases[].version] == ["1.3.0", "1.2.0", "1.1.0", "1.0.5"])'
check "list --json: core 1.3.0: offered false, one conflict, unmet is its message" \
    jqt ".components[0].releases[0] | .offered == false and (.conflicts | length) == 1 and .conflicts[0].needed_by == \"plugin:forum 2.0.0\" and .unmet == [\"$MSG_A\"]"
check "list --json: core 1.1.0 offered, no conflicts" \
    jqt '.components[0].releases[2] | .offered == true and .conflicts == [] and .unmet == []'
check "list --json: core 1.0.5: php only (unmet, no conflicts)" \
    jqt '.components[0].releases[3] | .offered == false and .conflicts == [] and .unmet == ["php >=99.0 (the site'"'"'s php is 8.2.7)"]'
check "list --json: core 1.2.0 keeps its compatibility" \
    jqt '.components[0].releases[1].compatibility.plugins == {"forum": ">=2.1.0", "gone": ">=1.0"}'
check "list --json: plugins by slug" \
    jqt '[.components[].component] == ["core", "plugin:demo", "plugin:forum", "plugin:wiki"]'
check "list --json: wiki's releases with their dependencies and conflicts" \
    jqt '.components[3] | .offer == "1.0.1" and ([.releases[] | {version, dependencies, offered, n: (.conflicts | length)}] ==
         [{"version": "1.2.0", "dependencies": {"forum": "^2.0", "gallery": "^1.0"}, "offered": false, "n": 1},
          {"version": "1.1.0", "dependencies": {"forum": ">=2.1.0"}, "offered": false, "n": 1},
          {"version": "1.0.1", "dependencies": {"forum": "^2.0"}, "offered": true, "n": 0}])'
check "list --json: forum 3.0.0 conflicts, installed forum version" \
    jqt '.components[2].releases[0] | .version == "3.0.0" and .conflicts[0].plugin == "forum" and .conflicts[0].installed == "2.0.0" and .conflicts[0].range == "^2.0"'

# ---- core ----------------------------------------------------------------------
site_snapshot before
hist=$(db_sql "SELECT COUNT(*) FROM update_history")
run -y core --to 1.3.0
check "core --to 1.3.0: refused, exit 1 (got $rc)" test "$rc" = 1
check "... naming the plugin, its range and its installed version" \
    has "core 1.3.0: the site does not meet its requirements: $MSG_A" "$T/err"
run -y core --to 1.2.0
check "core --to 1.2.0: refused, exit 1 (got $rc)" test "$rc" = 1
check "... naming the plugin, the range and the installed version" \
    has "core 1.2.0: the site does not meet its requirements: $MSG_COMPAT" "$T/err"
run -y core --to 1.0.5
check "core --to 1.0.5 (only php unmet): refused, exit 1 (got $rc)" test "$rc" = 1
check "... naming php" has "core 1.0.5: the site does not meet its requirements: php >=99.0 (the site's php is 8.2.7)" "$T/err"
run -y plugin wiki --to 1.1.0
check "plugin wiki --to 1.1.0: refused, exit 1 (got $rc)" test "$rc" = 1
check "... naming its dependency, the range and the installed version" \
    has "plugin:wiki 1.1.0: the site does not meet its requirements: $MSG_DEP" "$T/err"
run -y plugin forum --to 3.0.0
check "plugin forum --to 3.0.0: refused, exit 1 (got $rc)" test "$rc" = 1
check "... naming the plugin that depends on it, the range and its version" \
    has "plugin:forum 3.0.0: the site does not meet its requirements: $MSG_C" "$T/err"
run -y plugin demo --to 1.1.0
check "plugin demo --to 1.1.0: refused, exit 1 (got $rc)" test "$rc" = 1
check "... naming the core range and the installed core" \
    has "plugin:demo 1.1.0: the site does not meet its requirements: $MSG_CORE" "$T/err"
check "the refusals changed nothing" site_same before
check "the refusals left the site clean" site_clean
check "the refusals wrote no update history" \
    test "$(db_sql "SELECT COUNT(*) FROM update_history")" = "$hist"

run -n core
check "core -n: plans 1.1.0, says why 1.3.0 and 1.2.0 are not" \
    bash -c "grep -qx 'core 1.0.0 -> 1.1.0' '$T/out' && grep -qF 'core 1.3.0 is not offered: $MSG_A' '$T/err' && grep -qF 'core 1.2.0 is not offered: $MSG_COMPAT' '$T/err'"

run -q -y core
check "core: the newest compatible release, 1.1.0 (exit $rc)" \
    bash -c "test $rc = 0 && test \"\$(sed -n \"s/.*'version' => '\\([^']*\\)'.*/\\1/p\" '$S/core/version.php' | head -1)\" = 1.1.0"
check "core: plugins untouched" \
    bash -c "grep -q \"'2.0.0'\" '$P/forum/version.php' && grep -q \"'1.0.0'\" '$P/wiki/version.php'"

# ---- the conflict goes when the plugin does --------------------------------------
run -q -y plugin forum
check "plugin forum: the newest compatible release, 2.1.0 (exit $rc)" \
    bash -c "test $rc = 0 && grep -q \"'version' => '2.1.0'\" '$P/forum/version.php'"
run check
check "forum 2.1.0 installed: core 1.3.0 offered, wiki 1.1.0 too (exit $rc)" \
    bash -c "test $rc = 100 && grep -qx 'core 1.1.0 -> 1.3.0' '$T/out' && grep -qx 'plugin:wiki 1.0.0 -> 1.1.0' '$T/out'"
check "... and nothing explains core any more" bash -c "! grep -q '^core ' '$T/err'"
run --json list
check "list --json: core 1.2.0 and 1.3.0 without conflicts now" \
    jqt '[.components[0].releases[] | .conflicts | length] == [0, 0]'

nx_finish
