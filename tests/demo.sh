#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine: build and install nexo-update,
# make a local signed release repository with NexoSupport 1.0.0 ... 1.5.0
# (nexo-release; the migrations end with the spec's §5.2 example), install a
# demo site at 1.0.0 on SQLite from its signed package (`nexo-update install
# --package`), update it to 1.5.0 with `nexo-update core` (with progress),
# then show `history` and `status`.
#   bash tests/demo.sh [DIR]    (DIR: where the demo lives; default /tmp/nexo-demo)
set -euo pipefail
umask 022
src=$(cd "$(dirname "$0")/.." && pwd)
demo=${1:-/tmp/nexo-demo}
bash "$src/tests/deps.sh"
build="$demo/build"; prefix="$demo/prefix"
rm -rf "$demo"; mkdir -p "$demo"; chmod 755 "$demo"
echo "== building nexo-update into $prefix"
cmake -S "$src" -B "$build" -DNEXO_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$prefix" > /dev/null
cmake --build "$build" -j"$(nproc)" > /dev/null
cmake --install "$build" > /dev/null
NX="$prefix/bin/nexo-update"; REL="$prefix/bin/nexo-release"
cd "$demo"

echo "== a signed release repository with 1.0.0 ... 1.5.0 (nexo-release)"
mkdir -p keys trusted repo
"$REL" -q keygen keys/vendor --scope index --scope core --scope 'plugin:*'
cp keys/vendor.pub keys/vendor.scope trusted/
for v in 1.0.0 1.1.0 1.2.0 1.3.0 1.4.0 1.5.0; do
    mkdir -p "src-$v"
    cp -a "$src/tests/fixtures/site/." "src-$v/"
    rm -rf "src-$v/var"
    printf "<?php\n// NexoSupport core version (spec §2.2)\nreturn [\n    'version' => '%s',\n    'branch' => 'stable',\n    'requires' => ['sqlite' => '>=3.35'],\n];\n" "$v" > "src-$v/core/version.php"
    echo "<?php echo 'NexoSupport $v';" > "src-$v/public_html/index.php"
    printf 'NexoSupport %s\n' "$v" > "changelog-$v"
    "$REL" -q pack --component core --src "src-$v" --key keys/vendor.key --repo repo --changelog "changelog-$v"
done
ls repo/core

echo "== the demo site at 1.0.0 on SQLite (nexo-update install)"
mkdir -p site/var/cache site/modules/plugins
echo "APP_KEY=demo" > site/.env
cat > nexo-update.ini <<EOF
[site]
root = site
[database]
driver = sqlite
path = site.db
[server]
url = file://$demo/repo/index.json
trusted_keys = trusted
[paths]
state = state
backups = backups
EOF
"$NX" -q -c nexo-update.ini -y install --package repo/core/nexosupport-1.0.0.tar.zst

echo "== nexo-update check"
"$NX" -c nexo-update.ini check || [ $? -eq 100 ]
echo "== nexo-update core (1.0.0 -> 1.5.0)"
"$NX" -c nexo-update.ini -y core
echo "== nexo-update history"
"$NX" -c nexo-update.ini history
echo "== nexo-update status"
"$NX" -c nexo-update.ini status
echo "== nexo-update verify (the installed files against 1.5.0's manifest)"
"$NX" -c nexo-update.ini verify
