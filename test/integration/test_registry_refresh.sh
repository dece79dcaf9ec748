#!/usr/bin/env bash
# Registry distribution: the servers download the signed registry every
# second here; a tampered, foreign-signed or rolled-back publication is
# refused and the registry in force stays; a good one is swapped in; an
# expired one stops exchanges with a clear error; a restart without the
# publisher uses the last good copy kept on disk.
. "$(dirname "$0")/lib.sh"
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/x
REG=$FED_REGISTRY
tool() { "$SS_BUILD_DIR/registry/secsrv-registry" -f "$REG" "$@"; }
sign() { tool sign --key "$FED_PKI/registry-authority.key" --cert "$FED_PKI/registry-authority.pem" \
  --chain "$FED_PKI/intermediate-ca.pem" "$@" >/dev/null; }
serial_in_force() { # log name -> last serial the server put in force
  sed -n 's/.*registry: serial \([0-9]*\) from .* in force.*/\1/p' "$FED_DIR/$1.log" | tail -n 1
}
wait_refresh() { sleep 2.5; }

xr GET $CLIENT $Q
expect "exchange works with the first registry" test "$STATUS" = 200
first=$(serial_in_force sh)
cp "$REG" "$T_DIR/reg1.xml"
cp "$REG.p7s" "$T_DIR/reg1.xml.p7s"

# one byte changed after signing
sed -i 's/Landeshauptstadt Schwerin/Landeshauptstadt Schwerim/' "$REG"
wait_refresh
expect "a tampered registry is refused" grep -q "refresh failed.*signature does not match" "$FED_DIR/sh.log"
xr GET $CLIENT $Q
expect "the registry in force stays after a tampered one" test "$STATUS" = 200
cp "$T_DIR/reg1.xml" "$REG"

# signed by a certificate with the authority's name from another CA
tool set settings --refresh-interval 60 >/dev/null
tool sign --key "$FED_PKI/rogue/registry-authority.key" --cert "$FED_PKI/rogue/registry-authority.pem" >/dev/null
wait_refresh
expect "a registry signed by someone else is refused" \
  grep -q "refresh failed.*someone other than the pinned registry authority" "$FED_DIR/sh.log"
expect "the serial in force is unchanged" test "$(serial_in_force sh)" = "$first"

# a good new registry
cp "$T_DIR/reg1.xml" "$REG"
sign --serial $((first + 1))
wait_refresh
expect "a newer registry is swapped in" test "$(serial_in_force sh)" = $((first + 1))
expect "the provider's server took it too" test "$(serial_in_force mv)" = $((first + 1))
expect "the last good copy is kept on disk" \
  cmp -s "$REG" "$FED_DIR/sh/state/registry.xml"

# rollback to the first publication
cp "$T_DIR/reg1.xml" "$REG"
cp "$T_DIR/reg1.xml.p7s" "$REG.p7s"
wait_refresh
expect "an older serial is refused (rollback)" grep -q "refresh failed.*rollback refused" "$FED_DIR/sh.log"
xr GET $CLIENT $Q
expect "exchanges go on under the newer registry" test "$STATUS" = 200

# restart the consumer server with the publisher down: the cached copy serves
"$SS_SOURCE_DIR/deploy/federation.sh" stop "$FED_DIR" >/dev/null 2>&1 || true
pub_pid=""
( "$SS_BUILD_DIR/secsrv/secsrv" -c "$FED_SH_CONF" >"$T_DIR/sh2.log" 2>&1 & echo $! >"$T_DIR/sh2.pid" )
( "$SS_BUILD_DIR/secsrv/secsrv" -c "$FED_MV_CONF" >"$T_DIR/mv2.log" 2>&1 & echo $! >"$T_DIR/mv2.pid" )
( "$SS_BUILD_DIR/test/tools/ss-testserver" echo --listen "127.0.0.1:$FED_ECHO_PORT" >"$T_DIR/echo2.log" 2>&1 & echo $! >"$T_DIR/echo2.pid" )
( openssl ocsp -index "$FED_PKI/ca/index.txt" -CA "$FED_PKI/intermediate-ca.pem" \
    -rsigner "$FED_PKI/ocsp.pem" -rkey "$FED_PKI/ocsp.key" -port "$FED_OCSP_PORT" -ignore_err \
    >"$T_DIR/ocsp2.log" 2>&1 & echo $! >"$T_DIR/ocsp2.pid" )
echo "$(cat "$T_DIR/sh2.pid") sh2" >"$FED_DIR/pids"
echo "$(cat "$T_DIR/mv2.pid") mv2" >>"$FED_DIR/pids"
echo "$(cat "$T_DIR/echo2.pid") echo2" >>"$FED_DIR/pids"
echo "$(cat "$T_DIR/ocsp2.pid") ocsp2" >>"$FED_DIR/pids"
sleep 1.5
expect "without the publisher, the restarted server loads its last good copy" \
  grep -q "registry: serial $((first + 1)) from .*state/registry.xml in force" "$T_DIR/sh2.log"
xr GET $CLIENT $Q
expect "and serves exchanges with it" test "$STATUS" = 200

# an expired registry stops exchanges: sign one valid for 3 s, serve it once
kill "$(cat "$T_DIR/sh2.pid")" "$(cat "$T_DIR/mv2.pid")" 2>/dev/null || true
sleep 0.5
cp "$T_DIR/reg1.xml" "$REG"
tool set settings --registry-validity 3 >/dev/null
sign --serial $((first + 2))
for s in sh mv; do
  cp "$REG" "$FED_DIR/$s/state/registry.xml"
  cp "$REG.p7s" "$FED_DIR/$s/state/registry.xml.p7s"
done
( "$SS_BUILD_DIR/secsrv/secsrv" -c "$FED_SH_CONF" >"$T_DIR/sh3.log" 2>&1 & echo $! >"$T_DIR/sh3.pid" )
echo "$(cat "$T_DIR/sh3.pid") sh3" >>"$FED_DIR/pids"
sleep 1
xr GET $CLIENT $Q
sleep 3
xr GET $CLIENT $Q
expect_error "an expired registry stops exchanges" 500 Server.ClientProxy.OutdatedGlobalConf
expect "the error says the registry expired" grep -q "registry in force has expired" "$T_DIR/body"

finish
