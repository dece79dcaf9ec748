#!/usr/bin/env bash
# Registry distribution: the servers download the signed registry every
# second here; a tampered, foreign-signed or rolled-back publication is
# refused and the registry in force stays; a good one is swapped in. The
# rollback floor outlives a restart even without a cached copy; a restart
# without the publisher uses the last good copy kept on disk; an expired
# registry stops exchanges with a clear error.
. "$(dirname "$0")/lib.sh"
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/x
REG=$FED_REGISTRY
FED=$SS_SOURCE_DIR/deploy/federation.sh
tool() { "$SS_BUILD_DIR/registry/secsrv-registry" -f "$REG" "$@"; }
sign() { tool sign --key "$FED_PKI/registry-authority.key" --cert "$FED_PKI/registry-authority.pem" \
  --chain "$FED_PKI/intermediate-ca.pem" "$@" >/dev/null; }
serial_in_force() { # log name -> last serial the server put in force
  sed -n 's/.*registry: serial \([0-9]*\) from .* in force.*/\1/p' "$FED_DIR/$1.log" | tail -n 1
}
# refused NAME REASON: waits for one more refresh of NAME refused for REASON
refused() {
  local n
  n=$(log_count "$1" "refresh failed.*$2")
  wait_until "$1 to refuse: $2" 30 bash -c "[ \$(grep -Ec 'refresh failed.*$2' '$FED_DIR/$1.log') -gt $n ]"
}
# takes NAME SERIAL: waits until NAME puts SERIAL in force
takes() { wait_until "$1 to take serial $2" 30 bash -c "[ \"\$(sed -n 's/.*registry: serial \\([0-9]*\\) from .* in force.*/\\1/p' '$FED_DIR/$1.log' | tail -n 1)\" = $2 ]"; }
publish() { # XML SIG: the signature first, then the document
  cp "$2" "$REG.p7s.new" && mv "$REG.p7s.new" "$REG.p7s"
  cp "$1" "$REG.new" && mv "$REG.new" "$REG"
}

xr GET $CLIENT $Q
expect "exchange works with the first registry" test "$STATUS" = 200
first=$(serial_in_force sh)
cp "$REG" "$T_DIR/reg1.xml"
cp "$REG.p7s" "$T_DIR/reg1.xml.p7s"

# one byte changed after signing
sed -i 's/Landeshauptstadt Schwerin/Landeshauptstadt Schwerim/' "$REG"
expect "a tampered registry is refused" refused sh "signature does not match"
xr GET $CLIENT $Q
expect "the registry in force stays after a tampered one" test "$STATUS" = 200
cp "$T_DIR/reg1.xml" "$REG"

# signed by a certificate with the authority's name from another CA
tool set settings --refresh-interval 60 >/dev/null
tool sign --key "$FED_PKI/rogue/registry-authority.key" --cert "$FED_PKI/rogue/registry-authority.pem" >/dev/null
expect "a registry signed by someone else is refused" \
  refused sh "someone other than the pinned registry authority"
expect "the serial in force is unchanged" test "$(serial_in_force sh)" = "$first"

# a good new registry, one that lowers ocspFreshness below the age of the OCSP responses both
# signers staple: each judges its response again under it before it staples it again, and
# renews it; a request waits for the renewal, and receivers take the renewed response (the old
# would be refused as stale)
ocsp_older_than() { # SECONDS: the responses both servers staple are older than that
  local port
  for port in "$FED_SH_METRICS_PORT" "$FED_MV_METRICS_PORT"; do
    curl -s "http://127.0.0.1:$port/metrics" |
      awk -v s="$1" '/^secsrv_ocsp_response_age_seconds/ {n++; if ($2 <= s) young = 1}
        END {exit !(n > 0 && !young)}' || return 1
  done
}
wait_until "the stapled OCSP responses to be older than 13 s" 60 ocsp_older_than 13
cp "$T_DIR/reg1.xml" "$REG"
tool set settings --ocsp-freshness 12 >/dev/null
sign --serial $((first + 1))
expect "a newer registry is swapped in" takes sh $((first + 1))
expect "the provider's server took it too" takes mv $((first + 1))
xr GET $CLIENT $Q
expect "the first exchange under the lowered ocspFreshness is served" test "$STATUS" = 200
served() { xr GET $CLIENT $Q; [ "$STATUS" = 200 ]; }
for side in sh mv; do
  expect "the $side signer renewed the response the new registry made stale" \
    log_has $side "signer: the OCSP response for .* is not good under registry serial $((first + 1))"
done
# the OCSP responder stops answering: a signer staples its response only while it stays good
# a few seconds more (a quarter of ocspFreshness here), so that no receiver takes, and logs, one
# that goes stale on the way
ocsp_pids() {
  local p
  for p in $(awk '$2 == "ocsp" {print $1}' "$FED_DIR/pids"); do
    echo "$p"
    ps -o pid= --ppid "$p"
  done
}
SIGNER_KEY='member="DE-NORD/GOV/MIKWS-SH"'
unusable() {
  curl -s "http://127.0.0.1:$FED_SH_METRICS_PORT/metrics" >"$T_DIR/metrics"
  grep -q "^secsrv_signing_key_usable{$SIGNER_KEY} 0\$" "$T_DIR/metrics"
}
# shellcheck disable=SC2046
kill -STOP $(ocsp_pids)
wait_until "the SH signing key to stop being usable" 30 unusable || true
left=$(sed -n "s#^secsrv_ocsp_response_valid_seconds{$SIGNER_KEY} ##p" "$T_DIR/metrics")
expect "the key stops signing while its response is still good for seconds ($left s left)" \
  awk -v l="$left" 'BEGIN {exit !(l > 0)}'
xr GET $CLIENT $Q
expect_error "an exchange then cannot be signed" 500 Server.ClientProxy.CannotCreateSignature
# shellcheck disable=SC2046
kill -CONT $(ocsp_pids)
wait_until "an exchange once the responder answers again" 30 served || true
expect "exchanges go on once the responder answers again" test "$STATUS" = 200
expect "the last good copy is kept on disk" cmp -s "$REG" "$FED_DIR/sh/state/registry.xml"
expect "the rollback floor is kept on disk" \
  grep -q "^$((first + 1)) [0-9a-f]\{64\}\$" "$FED_DIR/sh/state/registry.floor"

# rollback to the first publication
publish "$T_DIR/reg1.xml" "$T_DIR/reg1.xml.p7s"
expect "an older serial is refused (rollback)" refused sh "rollback refused"
xr GET $CLIENT $Q
expect "exchanges go on under the newer registry" test "$STATUS" = 200

# the floor outlives a restart: no cached copy left, the old registry published
"$FED" stop-server "$FED_DIR" sh
rm -f "$FED_DIR/sh/state/registry.xml" "$FED_DIR/sh/state/registry.xml.p7s"
"$FED" start-server "$FED_DIR" sh
fed_env
expect "after a restart without a cached copy, the old registry is refused" \
  refused sh "rollback refused"
xr GET $CLIENT $Q
expect_error "and no exchange is served with it" 500 Server.ClientProxy.OutdatedGlobalConf
cp "$T_DIR/reg1.xml" "$REG"
sign --serial $((first + 2))
expect "a newer registry is taken once published" takes sh $((first + 2))
xr GET $CLIENT $Q
expect "and serves exchanges" test "$STATUS" = 200

# restart the consumer server with the publisher down: the cached copy serves
"$FED" stop-server "$FED_DIR" publisher
"$FED" stop-server "$FED_DIR" sh
"$FED" start-server "$FED_DIR" sh
fed_env
expect "without the publisher, the restarted server loads its last good copy" \
  log_has sh "registry: serial $((first + 2)) from .*state/registry.xml in force"
xr GET $CLIENT $Q
expect "and serves exchanges with it" test "$STATUS" = 200

# an expired registry stops exchanges: one valid for 10 s, given as the cached copy
"$FED" stop-server "$FED_DIR" sh
cp "$T_DIR/reg1.xml" "$REG"
tool set settings --registry-validity 10 >/dev/null
sign --serial $((first + 3))
cp "$REG" "$FED_DIR/sh/state/registry.xml"
cp "$REG.p7s" "$FED_DIR/sh/state/registry.xml.p7s"
"$FED" start-server "$FED_DIR" sh
fed_env
expect "the short-lived registry is in force" test "$(serial_in_force sh)" = $((first + 3))
xr GET $CLIENT $Q
expect "and serves while it is valid" test "$STATUS" = 200
expired() { xr GET $CLIENT $Q; [ "$STATUS" = 500 ]; }
wait_until "the registry to expire" 30 expired || true
expect_error "an expired registry stops exchanges" 500 Server.ClientProxy.OutdatedGlobalConf
expect "the error says the registry expired" grep -q "registry in force has expired" "$T_DIR/body"

finish
