#!/usr/bin/env bash
# The provider member's signing key in a PKCS#11 token (SoftHSM2): the
# signer loads it by an RFC 7512 URI with module-path and pin-source, the
# full signed exchange runs and verifies, the PIN is not left in the
# signer's memory; a wrong PIN is named by secsrv -n (file:line) and, at
# run time, by the health endpoint and the refusals, until the PIN is
# right again.
. "$(dirname "$0")/lib.sh"

MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -f "$MODULE" ] || { echo "SoftHSM2 is not installed ($MODULE)"; exit 1; }
export SOFTHSM2_CONF=$T_DIR/softhsm2.conf
mkdir -p "$T_DIR/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$T_DIR/tokens" >"$SOFTHSM2_CONF"
PIN=secsrv-pin-$RANDOM$RANDOM
softhsm2-util --init-token --free --label secsrv --pin "$PIN" --so-pin "so-$PIN" >/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$SS_TEST_PKI/members/MUN-13004000/sign.key" -out "$T_DIR/mv.p8"
softhsm2-util --import "$T_DIR/mv.p8" --token secsrv --label mv-sign --id 01 --pin "$PIN" >/dev/null
rm -f "$T_DIR/mv.p8"
# the signer drops to an unprivileged user, who must reach the token's files
chmod -R a+rwX "$T_DIR/tokens"
printf '%s\n' "$PIN" >"$T_DIR/pin"
# the URI names the key; the module and the PIN file come from [signer] (the URI's own
# module-path and pin-source attributes would make the line longer than libinih reads)
URI="pkcs11:token=secsrv;object=mv-sign;type=private"
# the certificate from a file the operator may replace (reread on SIGHUP)
cp "$SS_TEST_PKI/members/MUN-13004000/sign-chain.pem" "$T_DIR/sign-chain.pem"
FED_MV_SIGNER_KEY="key = MUN/13004000 $URI $T_DIR/sign-chain.pem
pkcs11_module = $MODULE
pkcs11_pin_file = $T_DIR/pin"
export FED_MV_SIGNER_KEY
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft/persons/P-1001
health() { curl -s --max-time 10 -o "$T_DIR/health" -w '%{http_code}' "http://127.0.0.1:$FED_MV_HEALTH_PORT/"; }
signer_pid() {
  local parent
  parent=$(awk '$2 == "mv" {p = $1} END {print p}' "$FED_DIR/pids")
  ps -o pid=,comm= --ppid "$parent" | awk '$2 == "secsrv-signer" {print $1}'
}

expect "the MV server's configuration names the key by its PKCS#11 URI" grep -q "^key = MUN/13004000 pkcs11:" "$FED_MV_CONF"
expect "secsrv -n logs in to the token and accepts the key" "$SS_BUILD_DIR/secsrv/secsrv" -n -c "$FED_MV_CONF"
xr GET $CLIENT "$Q" -H "X-Secsrv-Purpose: BMG-34"
expect "a query is answered, signed with the key in the token and checked by the consumer" \
  test "$STATUS" = 200 -a -n "$(header x-road-request-hash)"
expect "the provider's answer in its log carries a signature" \
  test "$(records mv "direction = 'response' AND status = 200 AND length(signature) > 0")" = 1
expect "the health endpoint is content" test "$(health)" = 200
pin_hex=$(printf '%s' "$PIN" | xxd -p | tr -d '\n')
copies=$("$SS_BUILD_DIR/test/tools/ss-memscan" "$(signer_pid)" "$pin_hex")
echo "# copies of the PIN in the signer's memory: $copies"
# secsrv reads the PIN with read(2) into one buffer, hands it to the engine, has the engine
# forget it and wipes its own; libp11 keeps one copy to log in again after a fork
expect "no copy of the PIN in the signer but the one libp11 keeps for a re-login" test "$copies" -le 1

# --- a wrong PIN ---------------------------------------------------------------------------
printf 'wrong-%s\n' "$PIN" >"$T_DIR/badpin"
sed "s#^pkcs11_pin_file = .*#pkcs11_pin_file = $T_DIR/badpin#" "$FED_MV_CONF" >"$T_DIR/bad.conf"
expect "secsrv -n names the key's line when the token refuses the PIN" \
  bash -c "! '$SS_BUILD_DIR/secsrv/secsrv' -n -c '$T_DIR/bad.conf' 2>'$T_DIR/bad.err' && grep -q '^$T_DIR/bad.conf:[0-9]*: signing key: pkcs11:token=secsrv;object=mv-sign;type=private: no private key (a wrong PIN' '$T_DIR/bad.err'"
sed "s#^pkcs11_pin_file = .*#pkcs11_pin_file = $T_DIR/nopin#" "$FED_MV_CONF" >"$T_DIR/nopin.conf"
expect "secsrv -n names a PIN file that is not there" \
  bash -c "! '$SS_BUILD_DIR/secsrv/secsrv' -n -c '$T_DIR/nopin.conf' 2>'$T_DIR/nopin.err' && grep -q \"the token's PIN file $T_DIR/nopin: No such file\" '$T_DIR/nopin.err'"

allow_error "signer: pkcs11:token=secsrv;object=mv-sign;type=private: no private key"
allow_error "signer: exited|signer: killed"
printf 'wrong-%s\n' "$PIN" >"$T_DIR/pin"
old=$(signer_pid)
kill -9 "$old"
restarted() { local p; p=$(signer_pid); [ -n "$p" ] && [ "$p" != "$old" ] && log_has mv "signer: .* signing keys loaded"; }
wait_until "the signer restarted" 30 restarted || true
failing() { [ "$(health)" = 500 ] && grep -q 'signing key of DE-NORD/MUN/13004000: pkcs11:.*no private key (a wrong PIN' "$T_DIR/health"; }
expect "with a wrong PIN the health endpoint says the member's key cannot sign, and why" \
  wait_until "health to name the PIN" 30 failing
xr GET $CLIENT "$Q" -H "X-Secsrv-Purpose: BMG-34"
expect "and the provider refuses to answer unsigned" \
  bash -c "[ '$STATUS' = 500 ] && grep -q 'Server.ServerProxy.CannotCreateSignature' '$T_DIR/body'"

printf '%s\n' "$PIN" >"$T_DIR/pin"
old=$(signer_pid)
kill -9 "$old"
content() { [ "$(health)" = 200 ]; }
expect "with the PIN right again and the signer restarted, health is content" \
  wait_until "health" 30 content
xr GET $CLIENT "$Q" -H "X-Secsrv-Purpose: BMG-34"
expect "and queries are answered again" test "$STATUS" = 200
expect "both logs are timestamped to the end" wait_until "the timestamps" 30 stamped
expect "secsrv-log verify accepts the provider's log signed in the token" \
  "$SS_BUILD_DIR/secsrv/secsrv-log" verify "$FED_DIR/mv/log/messagelog.db" --anchor "$FED_PKI/registry-authority.pem"

# SIGHUP rereads the certificate of a key in a token (a renewal for the same key); one for
# another key is not taken, and the key in force goes on signing
allow_error "SIGHUP: the signing key of DE-NORD/MUN/13004000 in force stays"
cp "$SS_TEST_PKI/members/MUN-01002000/sign-chain.pem" "$T_DIR/sign-chain.pem"
kill -HUP "$(parent_of mv)"
expect "SIGHUP: a certificate that is not the token key's is not taken" \
  wait_until "the signer's verdict" 20 log_has mv "SIGHUP: the signing key of DE-NORD/MUN/13004000 in force stays: $URI does not hold the key of $T_DIR/sign-chain.pem"
xr GET $CLIENT "$Q" -H "X-Secsrv-Purpose: BMG-34"
expect "... and the key in the token goes on signing" test "$STATUS" = 200

finish
