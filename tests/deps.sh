#!/usr/bin/env bash
# Install the Debian 12 packages nexo-update builds and tests with, if any
# is missing. Needs root (or sudo) only when something must be installed.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config git
  libinih-dev libjansson-dev check libsubunit-dev
  libcurl4-openssl-dev libarchive-dev libxml2-dev libssl-dev
  libpq-dev libmariadb-dev libsqlite3-dev libmicrohttpd-dev
  jq util-linux
  clang libclang-rt-14-dev
  postgresql postgresql-client mariadb-server mariadb-client sqlite3
  nginx-light openssl python3 curl ca-certificates libarchive-tools
  python3-aiosmtpd
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
