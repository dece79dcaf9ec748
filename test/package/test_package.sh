#!/usr/bin/env bash
# The Debian package on this machine (root; CI runs as root): built and
# lintian-clean (deploy/package.sh); installed; its files, user, state
# directory and unit in place; the unit checked by systemd-analyze verify
# and rated by systemd-analyze security (score printed, 2.0 or better); a
# configuration placed as an operator would (/etc/secsrv/kiel.conf, keys
# root's alone) passing `secsrv -n`; the installed server run with only the
# capabilities the unit leaves it, answering a query through a federation on
# loopback and logging it; then removed and purged cleanly.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
expect() { # NAME COMMAND...
  local name=$1
  shift
  if "$@"; then ok "$name"; else not_ok "$name"; fi
}
[ "$(id -u)" = 0 ] || { echo "test_package: must run as root (it installs the package)"; exit 1; }
if dpkg-query -W -f='${Status}' secsrv 2>/dev/null | grep -q 'ok installed'; then
  echo "test_package: a secsrv package is installed already; not touching it"
  exit 1
fi
for f in /etc/secsrv/kiel.conf /etc/secsrv/kiel /var/lib/secsrv/kiel; do
  [ -e "$f" ] && { echo "test_package: $f exists; not touching it"; exit 1; }
done

work=$(mktemp -d /tmp/secsrv-package.XXXXXX)
chmod 755 "$work"
fed=$work/fed
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  SS_BUILD_DIR=$src/build/release "$src/deploy/federation.sh" stop "$fed" >/dev/null 2>&1 || true
  rm -rf /etc/secsrv/kiel.conf /etc/secsrv/kiel /var/lib/secsrv/kiel
  if dpkg-query -W -f='${Status}' secsrv 2>/dev/null | grep -q 'ok installed'; then
    apt-get purge -y -q secsrv >/dev/null 2>&1 || true
  fi
  rmdir /etc/secsrv 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- build and lint ----------------------------------------------------------------------
deb=$(./deploy/package.sh | tail -n 1)
expect "the package builds and lintian reports no error" test -f "$deb"
size=$(dpkg-deb -f "$deb" Installed-Size)
echo "# package: ${deb##*/}, $(stat -c %s "$deb") bytes, Installed-Size $size KiB"
echo "# depends: $(dpkg-deb -f "$deb" Depends)"

# --- install ------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
expect "the package installs (apt resolves its dependencies)" apt-get install -y -q "$deb"
for f in /usr/bin/secsrv /usr/bin/secsrv-registry /usr/bin/secsrv-policy /usr/bin/secsrv-log \
  /usr/bin/secsrv-backup; do
  expect "$f is installed and runs" bash -c "[ -x $f ] && { $f 2>&1 || true; } | grep -q usage"
done
for f in man8/secsrv.8 man8/secsrv-backup.8 man1/secsrv-registry.1 man1/secsrv-policy.1 \
  man1/secsrv-log.1; do
  expect "man page $f.gz is installed" test -f "/usr/share/man/$f.gz"
done
expect "the XSDs are installed" \
  test "$(ls /usr/share/secsrv/schemas/*.xsd | wc -l)" = 7
expect "the example configuration is in /etc/secsrv and a conffile" \
  bash -c "[ -f /etc/secsrv/secsrv.conf.example ] && grep -q '^/etc/secsrv/secsrv.conf.example$' /var/lib/dpkg/info/secsrv.conffiles"
expect "the system user secsrv exists" getent passwd secsrv
expect "/var/lib/secsrv exists and is root's, readable by group secsrv" \
  test "$(stat -c '%U:%G %a' /var/lib/secsrv)" = "root:secsrv 750"
unit=/lib/systemd/system/secsrv@.service
expect "the unit template is installed" test -f "$unit"

# --- the unit -----------------------------------------------------------------------------
expect "systemd-analyze verify accepts the unit" systemd-analyze verify "$unit"
score=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
echo "# systemd-analyze security --offline=true: exposure $score"
expect "the unit rates 2.0 or better (OK)" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
expect "reload sends SIGHUP" grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit"
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")

# --- a configuration placed as an operator would -------------------------------------------
SS_BUILD_DIR=$src/build/release "$src/deploy/federation.sh" start "$fed" >"$work/fed.log" 2>&1 || {
  cat "$work/fed.log"
  echo "the federation did not start"
  exit 1
}
# shellcheck disable=SC1091
. "$fed/env"
SS_BUILD_DIR=$src/build/release "$src/deploy/federation.sh" stop-server "$fed" sh >/dev/null
pki=$fed/pki
install -d -m 0700 /etc/secsrv/kiel
install -m 0600 "$pki/servers/ss-sh-kiel/auth.key" "$pki/servers/ss-sh-kiel/auth-chain.pem" \
  "$pki/registry-authority.pem" /etc/secsrv/kiel/
for m in GOV-MIKWS-SH MUN-01002000; do
  install -m 0600 "$pki/members/$m/sign.key" "/etc/secsrv/kiel/$m.key"
  install -m 0600 "$pki/members/$m/sign-chain.pem" "/etc/secsrv/kiel/$m-chain.pem"
done
install -d -m 0750 -o root -g secsrv /var/lib/secsrv/kiel
install -d -m 0700 -o secsrv -g secsrv /var/lib/secsrv/kiel/state
install -d -m 0700 /var/lib/secsrv/kiel/log
(umask 077 && openssl rand -hex 32 >/var/lib/secsrv/kiel/subject.key)
cp -r "$fed/sh/policies" /etc/secsrv/kiel/policies
chmod 755 /etc/secsrv/kiel /etc/secsrv/kiel/policies
sed -e "s#^state_dir = .*#state_dir = /var/lib/secsrv/kiel/state#" \
  -e "s#^user = .*#user = secsrv#" \
  -e "s#^certificate = .*#certificate = /etc/secsrv/kiel/auth-chain.pem#" \
  -e "s#^key = $pki/servers/.*#key = /etc/secsrv/kiel/auth.key#" \
  -e "s#^anchor = .*#anchor = /etc/secsrv/kiel/registry-authority.pem#" \
  -e "s#^dir = .*#dir = /etc/secsrv/kiel/policies#" \
  -e "s#^store = .*#store = sqlite:/var/lib/secsrv/kiel/log/messagelog.db\nsubject_key = /var/lib/secsrv/kiel/subject.key#" \
  -e "s#^key = \([A-Z]*\)/\([A-Z0-9-]*\) .*#key = \1/\2 /etc/secsrv/kiel/\1-\2.key /etc/secsrv/kiel/\1-\2-chain.pem#" \
  -e "/^tls_\(listen\|certificate\|key\|client_ca\) = /d" -e "/^is_certificate_sha256/d" \
  "$fed/sh/secsrv.conf" >/etc/secsrv/kiel.conf
grep -q "^user = secsrv" /etc/secsrv/kiel.conf || sed -i 's/^\[server\]$/[server]\nuser = secsrv/' /etc/secsrv/kiel.conf
expect "the configuration names only files under /etc/secsrv and /var/lib/secsrv" \
  bash -c "! grep -q '$work' /etc/secsrv/kiel.conf"
expect "secsrv -n accepts the operator's configuration" \
  bash -c "/usr/bin/secsrv -n -c /etc/secsrv/kiel.conf >'$work/check.log' 2>&1 || { cat '$work/check.log'; false; }"
sed 's#^key = /etc/secsrv/kiel/auth.key$#key = /etc/secsrv/kiel/missing.key#' /etc/secsrv/kiel.conf \
  >/etc/secsrv/kiel/broken.conf
if /usr/bin/secsrv -n -c /etc/secsrv/kiel/broken.conf >"$work/broken.log" 2>&1; then
  not_ok "secsrv -n accepted a configuration whose key files are missing"
else
  expect "secsrv -n names the line of a key file that is missing" \
    grep -q '^/etc/secsrv/kiel/broken.conf:[0-9]*: .*missing.key' "$work/broken.log"
fi

# --- the installed server, with only the unit's capabilities ---------------------------------
bounding=$(echo "$caps" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
setpriv --bounding-set=-all,"$bounding" --inh-caps=-all /usr/bin/secsrv -c /etc/secsrv/kiel.conf \
  >"$work/kiel.log" 2>&1 &
server_pid=$!
serving() { grep -q " network: serving$" "$work/kiel.log"; }
# shellcheck disable=SC1091
. "$src/deploy/wait.sh"
if wait_until "the installed server serves" 30 serving; then
  ok "the installed server starts with the capabilities $caps only"
else
  not_ok "the installed server did not start:"
  tail -n 20 "$work/kiel.log"
fi
port=$(sed -n "s/.* client-proxy: listening on .* (port \([0-9]*\)).*/\1/p" "$work/kiel.log" | tail -n 1)
in_force() { grep -q "registry: serial .* in force" "$work/kiel.log"; }
wait_until "the registry in force" 30 in_force || true
status=$(curl -s --max-time 20 -o "$work/answer" -w '%{http_code}' -H "X-Road-Client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft" \
  -H "X-Secsrv-Purpose: BMG-34" \
  "http://127.0.0.1:$port/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft/persons/P-1001" || true)
expect "a query through the installed server is answered" \
  bash -c "[ '$status' = 200 ] && grep -q P-1001 '$work/answer'"
expect "its children run as secsrv" \
  bash -c "[ \"\$(ps -o user= --ppid $server_pid | sort -u)\" = secsrv ]"
expect "the exchange is in its message log, request and answer" \
  test "$(sqlite3 -readonly /var/lib/secsrv/kiel/log/messagelog.db 'SELECT count(*) FROM records')" = 2
expect "the installed secsrv-backup backs the running server up, keys encrypted" \
  secsrv-backup backup -c /etc/secsrv/kiel.conf -o "$work/kiel.tar" --keys /etc/secsrv/kiel/auth-chain.pem
expect "and verifies its archive" secsrv-backup verify "$work/kiel.tar"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
# the logger marks the log's end in the state directory (the user's own, which root without
# CAP_DAC_OVERRIDE cannot read) and holds the log to it at the next start
expect "the stopped server's logger marked the log's end (record 2) in its state directory" \
  bash -c "[ \"\$(stat -c %U /var/lib/secsrv/kiel/state/messagelog.mark)\" = secsrv ] && cut -d' ' -f1 /var/lib/secsrv/kiel/state/messagelog.mark | grep -qx 2"
setpriv --bounding-set=-all,"$bounding" --inh-caps=-all /usr/bin/secsrv -c /etc/secsrv/kiel.conf \
  >"$work/kiel2.log" 2>&1 &
server_pid=$!
opened() { grep -q "logger: message log .* open, 2 records" "$work/kiel2.log"; }
expect "started again, its logger reads the mark and takes the log" wait_until "the logger" 30 opened
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""

# --- remove and purge ----------------------------------------------------------------------
expect "the package is removed" apt-get remove -y -q secsrv
expect "the binaries and the unit are gone" \
  bash -c "[ ! -e /usr/bin/secsrv ] && [ ! -e /usr/bin/secsrv-log ] && [ ! -e $unit ] && [ ! -e /usr/share/secsrv ]"
expect "the conffile stays until purge" test -f /etc/secsrv/secsrv.conf.example
expect "the package is purged" apt-get purge -y -q secsrv
expect "the conffile is gone after purge" test ! -e /etc/secsrv/secsrv.conf.example
expect "the message logs in /var/lib/secsrv outlive the purge" \
  test -f /var/lib/secsrv/kiel/log/messagelog.db
expect "dpkg knows no secsrv file any more" bash -c "! dpkg -L secsrv >/dev/null 2>&1"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
