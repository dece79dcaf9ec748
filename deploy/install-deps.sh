#!/usr/bin/env bash
# Installs the Debian packages that secsrv's build, demo and tests need.
# Idempotent: packages already present are skipped. Runs as root, or via
# sudo otherwise. With --bench also installs the benchmark tools
# (wrk, nginx); with --package what building, checking and installing the
# Debian package needs (lintian, systemd-analyze).
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # libraries
  libssl-dev libmicrohttpd-dev libxml2-dev libsodium-dev libcurl4-openssl-dev
  libsqlite3-dev libinih-dev libpq-dev
  # tests
  libcmocka-dev openssl curl xxd sqlite3 procps jq faketime unzip
  # the web console's browser tests: headless Chromium driven over WebDriver
  chromium chromium-driver libnss3-tools python3
  # signing keys in a PKCS#11 token: OpenSSL's pkcs11 engine, and SoftHSM2 for the tests
  libengine-pkcs11-openssl softhsm2
  # the shared message-log store's tests: PostgreSQL's server programs (each test starts a
  # throw-away cluster of its own; none is created or started for the machine, see below)
  postgresql-15
  # the cluster tests and demo: HAProxy in front of a server's nodes (each test runs its own)
  haproxy
)
case "${1:-}" in
--bench) packages+=(wrk nginx-light procps) ;;
--package) packages+=(dpkg-dev lintian adduser systemd) ;;
esac

# promtool (to check the metrics output) from Debian's prometheus package,
# unpacked into build/tools rather than installed: installing the package
# would start a Prometheus server on the machine
promtool_for_tests() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/build/tools"
  [ -x "$dir/promtool" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  chmod 755 "$tmp" # apt's download user writes there
  (cd "$tmp" && apt-get download -q prometheus >/dev/null && dpkg-deb -x prometheus_*.deb x) ||
    { echo "install-deps: cannot download Debian's prometheus package for promtool" >&2; rm -rf "$tmp"; return 1; }
  mkdir -p "$dir"
  cp "$tmp/x/usr/bin/promtool" "$dir/promtool"
  rm -rf "$tmp"
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  promtool_for_tests
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
# the PostgreSQL server package would create and start a cluster for the whole machine;
# the tests need only the programs (initdb, postgres, pg_ctl)
if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
  "${as_root[@]}" mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" |
    "${as_root[@]}" tee /etc/postgresql-common/createcluster.d/secsrv-tests.conf >/dev/null
fi
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
promtool_for_tests
