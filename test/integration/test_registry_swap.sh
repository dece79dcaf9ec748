#!/usr/bin/env bash
# Registry swaps under load: while clients query through both servers,
# the authority publishes new registries one after the other; every
# server takes each one, and no query fails because of a swap. Run under
# ThreadSanitizer this is the test of the snapshot hand-over.
. "$(dirname "$0")/lib.sh"
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
URL="http://127.0.0.1:$FED_SH_CLIENT_PORT/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/swap"
REG=$FED_REGISTRY
SWAPS=${SWAPS:-8}
tool() { "$SS_BUILD_DIR/registry/secsrv-registry" -f "$REG" "$@"; }
serial=$(tool show | awk '$1 == "serial" && !s {print $2; s = 1}')
in_force() { grep -q "registry: serial $2 from .* in force" "$FED_DIR/$1.log"; }

# four clients querying in loops until told to stop; each counts its answers by status
mkdir -p "$T_DIR/load"
rm -f "$T_DIR/load/stop"
loader() { # n
  local ok=0 bad=0 code
  while [ ! -e "$T_DIR/load/stop" ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Road-Client: $CLIENT" "$URL" || true)
    if [ "$code" = 200 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "$code" >>"$T_DIR/load/bad.$1"; fi
  done
  echo "$ok $bad" >"$T_DIR/load/result.$1"
}
pids=()
for i in 1 2 3 4; do loader "$i" & pids+=($!); done

took=0
for i in $(seq 1 "$SWAPS"); do
  serial=$((serial + 1))
  tool sign --serial "$serial" --key "$FED_PKI/registry-authority.key" \
    --cert "$FED_PKI/registry-authority.pem" --chain "$FED_PKI/intermediate-ca.pem" >/dev/null
  if wait_until "both servers to take serial $serial" 30 bash -c \
    "grep -q 'registry: serial $serial from .* in force' '$FED_DIR/sh.log' &&
     grep -q 'registry: serial $serial from .* in force' '$FED_DIR/mv.log'"; then
    took=$((took + 1))
  fi
done
touch "$T_DIR/load/stop"
wait "${pids[@]}"

expect "both servers took all $SWAPS registries" test "$took" = "$SWAPS"
total_ok=0 total_bad=0
for i in 1 2 3 4; do
  read -r o b <"$T_DIR/load/result.$i"
  total_ok=$((total_ok + o))
  total_bad=$((total_bad + b))
done
echo "# $total_ok queries answered 200 during the swaps, $total_bad otherwise"
expect "queries ran during the swaps" test "$total_ok" -gt "$SWAPS"
expect "no query failed because of a swap" test "$total_bad" = 0

finish
