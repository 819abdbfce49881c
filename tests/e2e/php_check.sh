#!/usr/bin/env bash
# The PHP requirement (docs/admin-guide.md "PHP"): a release's requires.php
# and requires.php_extensions, read from the source's version.php by
# `nexo-release pack` into the manifest and the index entry, are checked
# with [php] binary (fake php programs here: php may not be installed).
# When that binary cannot be run, the update is refused before anything
# changed, naming [php] binary and the config file, unless [php] check =
# off (then a note says the requirement was not checked).
# Usage: php_check.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
nx_setup "$1" "$2"
for tool in openssl jq bsdtar; do
    command -v "$tool" > /dev/null || { echo "SKIP: $tool not found"; exit 77; }
done
REL="$PREFIX/bin/nexo-release"
rc_of() { local rc=0; "$@" > "$T/out" 2> "$T/err" < /dev/null || rc=$?; echo "$rc"; }
has() { grep -qF -- "$1" "$2"; }

# ---- the release: core 1.1.0 needs php >=8.1.0 with mbstring and pdo_sqlite
mkdir -p "$T/src/core" "$T/keys" "$T/pipelines" "$T/site/core" "$T/bin"
cat > "$T/src/core/version.php" <<'PHP'
<?php
return [
    'version' => '1.1.0',
    'version_code' => 1001000,
    'release_date' => '2026-11-25',
    'requires' => [
        'php' => '>=8.1.0',
        'php_extensions' => ['mbstring', 'pdo_sqlite'],
    ],
];
PHP
"$REL" -q keygen "$T/keys/vendor"
printf 'index\ncore\nplugin:*\n' > "$T/keys/vendor.scope"
rc=$(rc_of "$REL" -q pack --component core --src "$T/src" --key "$T/keys/vendor.key" --repo "$T/repo" --format tar.gz)
check "pack reads requires.php_extensions from version.php (exit $rc)" test "$rc" = 0
PKG="$T/repo/core/nexosupport-1.1.0.tar.gz"
bsdtar -xOf "$PKG" nexo-release.json > "$T/manifest.json" 2>/dev/null || true
check "the manifest carries requires.php_extensions" \
    jq -e '.requires.php == ">=8.1.0" and .requires.php_extensions == ["mbstring", "pdo_sqlite"]' "$T/manifest.json"
check "the index entry carries requires.php_extensions" \
    jq -e '.releases[0].requires.php_extensions == ["mbstring", "pdo_sqlite"]' "$T/repo/index.json"
cat > "$T/src/core/version.php" <<'PHP'
<?php
return ['version' => '1.1.1', 'requires' => ['php_extensions' => ['mb string']]];
PHP
rc=$(rc_of "$REL" -q pack --component core --src "$T/src" --key "$T/keys/vendor.key" --repo "$T/bad" --format tar.gz)
check "pack refuses an extension name that is not one, naming it (exit $rc)" \
    bash -c "test $rc = 1 && grep -q 'php_extensions' '$T/err' && grep -q 'mb string' '$T/err'"

# ---- the site at 1.0.0; fake php programs
printf "<?php\nreturn ['version' => '1.0.0'];\n" > "$T/site/core/version.php"
cp "$PREFIX/etc/nexo-update/pipelines/core.ini" "$T/pipelines/"
fakephp() { # fakephp NAME VERSION MODULES...
    local f="$T/bin/$1" v=$2; shift 2
    { echo '#!/bin/sh'
      echo "if [ \"\$1\" = -r ]; then printf '%s' '$v'; exit 0; fi"
      echo "if [ \"\$1\" = -m ]; then printf '[PHP Modules]\\nCore\\n'"
      for m in "$@"; do echo "printf '%s\\n' '$m'"; done
      echo "printf '\\n[Zend Modules]\\nZend OPcache\\n'; exit 0; fi"
      echo 'exit 1'; } > "$f"
    chmod 755 "$f"
}
fakephp php82 8.2.7 mbstring pdo_sqlite PDO
fakephp php82-nosqlite 8.2.7 mbstring PDO
fakephp php74 7.4.33 mbstring pdo_sqlite
printf '#!/bin/sh\nexit 3\n' > "$T/bin/php-broken"; chmod 755 "$T/bin/php-broken"
BASE=$(cat "$CONF")
conf() { # conf PHP_LINES...
    { echo "$BASE"; echo "[server]"; echo "url = file://$T/repo/index.json"
      echo "trusted_keys = keys"; echo "[php]"; printf '%s\n' "$@"; } > "$CONF"
}
export PATH=/usr/bin:/bin   # no php on it
command -v php > /dev/null && { echo "SKIP: a php is on /usr/bin:/bin; the tests need none"; exit 77; }

conf "binary = $T/bin/php82"
rc=$(rc_of "$NX" -c "$CONF" check)
check "[php] binary meets php and php_extensions: 1.1.0 offered (exit $rc)" \
    bash -c "test $rc = 100 && grep -qx 'core 1.0.0 -> 1.1.0' '$T/out'"
rc=$(rc_of "$NX" -c "$CONF" list)
check "list shows php_extensions" has "php_extensions mbstring pdo_sqlite" "$T/out"

conf "binary = $T/bin/php82-nosqlite"
rc=$(rc_of "$NX" -c "$CONF" check)
check "a missing extension: not offered, the extension named (exit $rc)" \
    bash -c "test $rc = 0 && grep -q 'core 1.1.0 is not offered: php_extensions: pdo_sqlite is not loaded' '$T/err' && grep -q '$T/bin/php82-nosqlite -m' '$T/err'"
rc=$(rc_of "$NX" -c "$CONF" -y core --to 1.1.0)
check "a missing extension: core --to 1.1.0 refused naming it, exit 1 (got $rc)" \
    bash -c "test $rc = 1 && grep -q 'pdo_sqlite is not loaded' '$T/err' && test ! -e '$T/state/journal/current.jnl'"

conf "binary = $T/bin/php74"
rc=$(rc_of "$NX" -c "$CONF" check)
check "php 7.4 from [php] binary: php >=8.1.0 not met" \
    has "core 1.1.0 is not offered: php >=8.1.0 (the site's php is 7.4.33)" "$T/err"

for case in "missing:$T/bin/nophp" "broken:$T/bin/php-broken" "default:"; do
    what=${case%%:*} bin=${case#*:}
    if [ -n "$bin" ]; then conf "binary = $bin"; shown=$bin; else conf; shown=php; fi
    rc=$(rc_of "$NX" -c "$CONF" check)
    check "$what binary: check does not offer 1.1.0 and says why, naming [php] binary and the config" \
        bash -c "test $rc = 0 && grep -q 'core 1.1.0 is not offered: php >=8.1.0: not checked: \[php\] binary = $shown (in $CONF) cannot be run' '$T/err'"
    rc=$(rc_of "$NX" -c "$CONF" -y core)
    check "$what binary: core refused, exit 1 (got $rc), naming [php] binary, the config and [php] check" \
        bash -c "test $rc = 1 && grep -q 'refused: core 1.1.0' '$T/err' && grep -q '\[php\] binary = $shown (in $CONF) cannot be run' '$T/err' && grep -q '\[php\] check = off' '$T/err'"
    check "$what binary: nothing changed (no journal, the files at 1.0.0)" \
        bash -c "test ! -e '$T/state/journal/current.jnl' && grep -q \"'1.0.0'\" '$T/site/core/version.php'"
    rc=$(rc_of "$NX" -c "$CONF" -n core)
    check "$what binary: core -n refused too, exit 1 (got $rc)" \
        bash -c "test $rc = 1 && grep -q '\[php\] binary' '$T/err'"
done

# all and check --apply-auto refuse the same way (nothing older installed instead)
conf "binary = $T/bin/nophp"
printf '[auto]\napply = minor\n' >> "$CONF"
rc=$(rc_of "$NX" -c "$CONF" -y all)
check "missing binary: all refused, exit 1 (got $rc), naming [php] binary" \
    bash -c "test $rc = 1 && grep -q 'refused: core 1.1.0: php >=8.1.0: not checked: \[php\] binary = $T/bin/nophp' '$T/err'"
rc=$(rc_of "$NX" -c "$CONF" check --apply-auto)
check "missing binary: check --apply-auto installs nothing, exit 1 (got $rc), naming [php] binary" \
    bash -c "test $rc = 1 && grep -q 'auto: refused: core 1.1.0: php >=8.1.0: not checked: \[php\] binary' '$T/err' && grep -q \"'1.0.0'\" '$T/site/core/version.php'"

# A php that does not answer: given up after [server] timeout, refused the same way.
printf '#!/bin/sh\nexec sleep 30\n' > "$T/bin/php-hangs"; chmod 755 "$T/bin/php-hangs"
{ echo "$BASE"; echo "[server]"; echo "url = file://$T/repo/index.json"; echo "trusted_keys = keys"
  echo "timeout = 2"; echo "[php]"; echo "binary = $T/bin/php-hangs"; } > "$CONF"
start=$(date +%s)
rc=$(rc_of "$NX" -c "$CONF" -y core)
took=$(( $(date +%s) - start ))
check "a php that hangs: refused after [server] timeout (exit $rc, ${took}s)" \
    bash -c "test $rc = 1 && test $took -lt 15 && grep -q 'did not finish in 2 seconds' '$T/err' && grep -q '\[php\] binary = $T/bin/php-hangs' '$T/err'"

conf "binary = $T/bin/nophp" "check = off"
rc=$(rc_of "$NX" -c "$CONF" check)
check "[php] check = off: 1.1.0 offered, a note says php was not checked (exit $rc)" \
    bash -c "test $rc = 100 && grep -qx 'core 1.0.0 -> 1.1.0' '$T/out' && grep -q 'php requirements not checked: \[php\] check = off' '$T/err'"
rc=$(rc_of "$NX" -c "$CONF" -n core)
check "[php] check = off: core -n shows the offer" grep -qx 'core 1.0.0 -> 1.1.0' "$T/out"
conf "check = maybe"
rc=$(rc_of "$NX" -c "$CONF" check)
check "[php] check = maybe: a config error with file:line" \
    bash -c "test $rc != 0 && grep -q '$CONF:[0-9]*: .*\[php\] check' '$T/err'"

nx_finish
