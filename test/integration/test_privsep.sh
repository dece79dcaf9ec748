#!/usr/bin/env bash
# Privilege separation, as DESIGN.md lays it out: each server runs as a
# parent and three children; started as root, the children run as an
# unprivileged user; only the signer holds the members' signing keys (the
# network process can neither read the key files nor has the keys in its
# memory), and only the logger can write the message log (the network
# process can neither open the store nor holds a descriptor of it).
# Run as root (as CI does): only root can start the servers so.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
  not_ok "privilege separation can be tested only as root (run the suite as root)"
  finish
fi
fed_start
SCAN=$SS_BUILD_DIR/test/tools/ss-memscan
KEY=$FED_PKI/members/GOV-MIKWS-SH/sign.key
STORE=$FED_DIR/sh/log/messagelog.db
CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
xr GET $CLIENT /r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/privsep
expect "an exchange works (the signer signed, the logger logged)" test "$STATUS" = 200

parent=$(awk '$2 == "sh" {p = $1} END {print p}' "$FED_DIR/pids")
child() { ps -o pid=,comm= --ppid "$parent" | awk -v c="secsrv-$1" '$2 == c {print $1}'; }
uid_of() { awk '/^Uid:/ {print $2}' "/proc/$1/status"; }
signer=$(child signer)
logger=$(child logger)
network=$(child network)
expect "the parent has three children: signer, logger, network" \
  test -n "$signer" -a -n "$logger" -a -n "$network"
nobody=$(id -u nobody)
expect "the parent stays root (to restart them)" test "$(uid_of "$parent")" = 0
for p in signer logger network; do
  pid=$(child $p)
  expect "the $p runs as nobody" test "$(uid_of "$pid")" = "$nobody"
done

# the signing key: the signer's alone
expect "the key file is root's alone" test "$(stat -c '%U %a' "$KEY")" = "root 600"
expect "the network process's user cannot read it" \
  bash -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$KEY' >/dev/null 2>&1"
expect "while root can (the check can fail)" bash -c "cat '$KEY' >/dev/null"
# the private scalar as it is in the file, and as OpenSSL keeps it in memory (little-endian limbs)
scalar=$(openssl pkey -in "$KEY" -text -noout | sed -n '/^priv:/,/^pub:/p' | sed '1d;$d' | tr -d ' :\n')
reversed=$(printf '%s' "$scalar" | fold -w2 | tac | tr -d '\n')
expect "the key's scalar is 32 bytes" test "${#scalar}" = 64
in_mem() { # pid -> occurrences of the scalar either way round
  echo $(($("$SCAN" "$1" "$scalar") + $("$SCAN" "$1" "$reversed")))
}
expect "the signer holds the key in memory (the scan can find it)" test "$(in_mem "$signer")" -gt 0
expect "the network process does not" test "$(in_mem "$network")" = 0
expect "nor does the logger" test "$(in_mem "$logger")" = 0
expect "nor the parent" test "$(in_mem "$parent")" = 0

# the message log: the logger's alone
expect "the store's folder is root's alone" test "$(stat -c '%U %a' "$(dirname "$STORE")")" = "root 700"
expect "the store is readable by its owner alone" test "$(stat -c '%a' "$STORE")" = 600
expect "the network process's user cannot open the store for writing" \
  bash -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'exec 3>>\"$STORE\"' 2>/dev/null"
holds() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c "messagelog.db" || true; }
expect "the logger holds the store open" test "$(holds "$logger")" -gt 0
expect "the network process holds no descriptor of it" test "$(holds "$network")" = 0
expect "nor does the signer" test "$(holds "$signer")" = 0

finish
