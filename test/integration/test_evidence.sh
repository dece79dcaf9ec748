#!/usr/bin/env bash
# Evidence between the servers: every request and answer is signed, checked,
# logged on both sides and timestamped; whatever does not hold up is
# refused, nothing of it is forwarded, and the refusal is logged. Signed
# messages and a provider's server are made here by ss-evidence from the
# documented formats alone, faults included.
. "$(dirname "$0")/lib.sh"
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
SVC=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt
EV=$SS_BUILD_DIR/test/tools/ss-evidence
hits() { log_count echo '^ss-testserver: [A-Z]+ '; }

# --- the ordinary exchange, on both sides -------------------------------------------
xr GET $CLIENT "$SVC/echo/evidence?x=1" -H "X-Secsrv-Purpose: BMG-34" -H "X-Secsrv-Subject: P-1001"
expect "a signed exchange answers 200" test "$STATUS" = 200
rid=$(header x-road-request-id)
for side in sh mv; do
  expect "$side logged the request and the answer with signature and OCSP response" \
    test "$(records $side "request_id = '$rid' AND manifest IS NOT NULL AND signature IS NOT NULL AND ocsp IS NOT NULL AND error_type = ''")" = 2
done
expect "the subject reference is logged only as a keyed hash" \
  bash -c "[ \$(sqlite3 -readonly $FED_DIR/mv/log/messagelog.db \"SELECT length(subject_hash) FROM records WHERE request_id = '$rid' LIMIT 1\") = 32 ] && ! grep -aq 'P-1001' <(sqlite3 -readonly $FED_DIR/mv/log/messagelog.db \"SELECT hex(subject_hash) || purpose FROM records\")"
expect "the answer does not carry the evidence fields to the information system" \
  test -z "$(header x-secsrv-signature)"

# the provider's signature over the request, checked with stock openssl from the log
msglog sh "SELECT writefile('$T_DIR/manifest', manifest), writefile('$T_DIR/sig.der', signature), writefile('$T_DIR/ocsp.der', ocsp) FROM signed_records WHERE request_id = '$rid' AND direction = 'response'" >/dev/null
expect "the provider's signature verifies with stock openssl cms -verify" \
  openssl cms -verify -binary -inform DER -in "$T_DIR/sig.der" -content "$T_DIR/manifest" \
  -CAfile "$FED_PKI/ca-chain.pem" -purpose any -out /dev/null
expect "it carries the signer's certificate only (the registry lists the intermediate)" \
  bash -c "[ \$(openssl pkcs7 -inform DER -in $T_DIR/sig.der -print_certs | grep -c '^subject=') = 1 ] &&
    openssl pkcs7 -inform DER -in $T_DIR/sig.der -print_certs | grep -q '^subject=.*serialNumber *= *DE-NORD/MUN/13004000'"
expect "its stapled OCSP response verifies with stock openssl ocsp" \
  bash -c "openssl ocsp -no_nonce -respin $T_DIR/ocsp.der -CAfile $FED_PKI/ca-chain.pem -VAfile $FED_PKI/ocsp.pem -issuer $FED_PKI/intermediate-ca.pem -cert $FED_PKI/members/MUN-13004000/sign.pem 2>&1 | grep -q ': good'"
expect "and binds the request's manifest" \
  bash -c "grep -q \"request-manifest-sha256: \$(sqlite3 -readonly $FED_DIR/sh/log/messagelog.db \"SELECT writefile('$T_DIR/req.manifest', manifest) FROM records WHERE request_id = '$rid' AND direction = 'request'\" >/dev/null; sha256sum $T_DIR/req.manifest | cut -d' ' -f1)\" $T_DIR/manifest"

# both logs are chained and timestamped
chain_ok() { # NAME: every record's prev_hash is the hash of the one before
  [ "$(msglog "$1" "SELECT count(*) FROM records r JOIN records p ON p.id = r.id - 1 WHERE r.prev_hash != p.hash")" = 0 ] &&
    [ "$(msglog "$1" "SELECT count(*) FROM records WHERE id = 1 AND prev_hash != zeroblob(32)")" = 0 ]
}
expect "the consumer's log is one hash chain" chain_ok sh
expect "the provider's log is one hash chain" chain_ok mv
stamped() { [ "$(records "$1" "id > (SELECT coalesce(max(last_id), 0) FROM timestamps)")" = 0 ] && [ "$(msglog "$1" "SELECT count(*) FROM timestamps")" -gt 0 ]; }
expect "the consumer's records get timestamped" wait_until "sh timestamps" 20 stamped sh
expect "the provider's records get timestamped" wait_until "mv timestamps" 20 stamped mv
msglog mv "SELECT writefile('$T_DIR/token.der', token), hex(root) FROM timestamps ORDER BY id LIMIT 1" >"$T_DIR/root"
root=$(cut -d'|' -f2 "$T_DIR/root" | tr 'A-F' 'a-f')
expect "the timestamp token verifies with stock openssl ts -verify over its tree's root" \
  openssl ts -verify -digest "$root" -in "$T_DIR/token.der" -token_in \
  -CAfile "$FED_PKI/ca-chain.pem" -untrusted "$FED_PKI/tsa.pem"

# --- the provider checks the consumer's signature ----------------------------------------
# signed requests made by ss-evidence and sent straight to the provider's server
OCSP_GOOD=$T_DIR/mikws.ocsp
openssl ocsp -issuer "$FED_PKI/intermediate-ca.pem" -cert "$FED_PKI/members/GOV-MIKWS-SH/sign.pem" \
  -url "http://127.0.0.1:$FED_OCSP_PORT/" -respout "$OCSP_GOOD" -noverify >/dev/null 2>&1
openssl ocsp -issuer "$FED_PKI/intermediate-ca.pem" -cert "$FED_PKI/members/revoked-GOV-MIKWS-SH/sign.pem" \
  -url "http://127.0.0.1:$FED_OCSP_PORT/" -respout "$T_DIR/revoked.ocsp" -noverify >/dev/null 2>&1
"$EV" ocsp --cert "$FED_PKI/members/GOV-MIKWS-SH/sign.pem" --issuer "$FED_PKI/intermediate-ca.pem" \
  --responder-cert "$FED_PKI/ocsp.pem" --responder-key "$FED_PKI/ocsp.key" --age 7200 \
  --out "$T_DIR/stale.ocsp"
n=0
# signed NAME [ss-evidence options...]: sends one signed echo request; sets STATUS, BODY, QID
signed() {
  n=$((n + 1))
  QID=ev-$n-$$
  local rid
  rid=$(cat /proc/sys/kernel/random/uuid)
  local target="$SVC/echo/signed-$n" key=GOV-MIKWS-SH
  local hdrs=(-H "X-Road-Client: $CLIENT" -H "X-Road-Id: $QID" -H "X-Road-Request-Id: $rid"
    -H "Accept: application/json" -H "User-Agent:")
  "$EV" request --key "$FED_PKI/members/$key/sign.key" --cert "$FED_PKI/members/$key/sign-chain.pem" \
    --ocsp "$OCSP_GOOD" --method GET --target "$target" --client "$CLIENT" \
    --service "DE-NORD/MUN/13004000/Einwohnermeldeamt/echo" --query-id "$QID" --request-id "$rid" \
    --header "X-Road-Client: $CLIENT" --header "X-Road-Id: $QID" --header "X-Road-Request-Id: $rid" \
    --header "Accept: application/json" "$@" >"$T_DIR/evidence" || { STATUS=tool-failed; return; }
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -k \
    --cert "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" --key "$FED_PKI/servers/ss-sh-kiel/auth.key" \
    "${hdrs[@]}" -H "@$T_DIR/evidence" "https://127.0.0.1:$FED_MV_SERVER_PORT$target"
}
refused() { # NAME TYPE: the refusal is in the provider's message log
  expect "$1: the refusal is logged by the provider" \
    test "$(records mv "query_id = '$QID' AND error_type = '$2'")" = 1
}

before=$(hits)
signed
expect "a request signed by ss-evidence is accepted (the formats agree)" test "$STATUS" = 200
signed --batch
expect "so is one signed as part of a batch" test "$STATUS" = 200
expect "both reached the backend" test "$(hits)" = $((before + 2))

before=$(hits)
signed --fault body
expect_error "a tampered body" 500 Server.ServerProxy.InvalidSignatureValue
refused "a tampered body" Server.ServerProxy.InvalidSignatureValue
expect "the operator log names the part" log_has mv "body-sha256 differs"
signed --fault header
expect_error "a tampered header field" 500 Server.ServerProxy.InvalidSignatureValue
refused "a tampered header field" Server.ServerProxy.InvalidSignatureValue
signed --fault signature
expect_error "a tampered signature" 500 Server.ServerProxy.InvalidSignatureValue
refused "a tampered signature" Server.ServerProxy.InvalidSignatureValue
signed --batch --fault path
expect_error "a wrong inclusion path" 500 Server.ServerProxy.InvalidSignatureValue
signed --fault no-ess
expect_error "a signature without the ESS signing-certificate-v2 attribute" \
  500 Server.ServerProxy.InvalidSignatureValue
openssl ocsp -issuer "$FED_PKI/intermediate-ca.pem" -cert "$FED_PKI/members/MUN-13004000/sign.pem" \
  -url "http://127.0.0.1:$FED_OCSP_PORT/" -respout "$T_DIR/other.ocsp" -noverify >/dev/null 2>&1
signed --key "$FED_PKI/members/MUN-13004000/sign.key" --cert "$FED_PKI/members/MUN-13004000/sign-chain.pem" \
  --ocsp "$T_DIR/other.ocsp"
expect_error "a signature by another member's certificate" 500 Server.ServerProxy.InvalidSignatureValue
expect "the operator log says whose certificate signed" log_has mv "signed by a certificate of DE-NORD/MUN/13004000, not of DE-NORD/GOV/MIKWS-SH"
signed --key "$FED_PKI/members/revoked-GOV-MIKWS-SH/sign.key" \
  --cert "$FED_PKI/members/revoked-GOV-MIKWS-SH/sign-chain.pem" --ocsp "$T_DIR/revoked.ocsp"
expect_error "a revoked signing certificate" 500 Server.ServerProxy.CertValidation
refused "a revoked signing certificate" Server.ServerProxy.CertValidation
signed --key "$FED_PKI/members/revoked-GOV-MIKWS-SH/sign.key" \
  --cert "$FED_PKI/members/revoked-GOV-MIKWS-SH/sign-chain.pem"
expect_error "a revoked signing certificate with another certificate's good OCSP response" \
  500 Server.ServerProxy.IncorrectValidationInfo
signed --ocsp "$T_DIR/stale.ocsp"
expect_error "a stale OCSP response" 500 Server.ServerProxy.IncorrectValidationInfo
signed --ocsp /dev/null
expect_error "no OCSP response" 500 Server.ServerProxy.IncorrectValidationInfo
# the test federation allows 10 s of clock skew; a signing time 20 s back must fall in the
# certificate's validity, so wait until the certificate is older than that
not_before=$(date -d "$(openssl x509 -in "$FED_PKI/members/GOV-MIKWS-SH/sign.pem" -noout -startdate | cut -d= -f2)" +%s)
cert_old() { [ $(($(date +%s) - not_before)) -gt 25 ]; }
wait_until "the signing certificate to be older than 25 s" 40 cert_old || true
signed --time-offset -20
expect_error "a signing time 20 s old (skew 10 s)" 500 Server.ServerProxy.SignatureTimeOutOfRange
refused "a stale signing time" Server.ServerProxy.SignatureTimeOutOfRange
signed --time-offset 20
expect_error "a signing time 20 s ahead" 500 Server.ServerProxy.SignatureTimeOutOfRange
expect "nothing of the refused requests reached the backend" test "$(hits)" = "$before"

# a replay: the same signed request twice
replay() { # sends the last signed request again, byte for byte; sets STATUS, BODY
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -k \
    --cert "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" --key "$FED_PKI/servers/ss-sh-kiel/auth.key" \
    -H "X-Road-Client: $CLIENT" -H "X-Road-Id: $QID" \
    -H "X-Road-Request-Id: $(sed -n 's/.*request-id: //p' <(base64 -d <<<"$(sed -n 's/^X-Secsrv-Manifest: //p' "$T_DIR/evidence")"))" \
    -H "Accept: application/json" -H "User-Agent:" -H "@$T_DIR/evidence" \
    "https://127.0.0.1:$FED_MV_SERVER_PORT$SVC/echo/signed-$n"
}
signed
expect "a signed request" test "$STATUS" = 200
before=$(hits)
replay
expect_error "the same request again (a replay)" 409 Client.DuplicateRequest
expect "the replay did not reach the backend" test "$(hits)" = "$before"
refused "a replay" Client.DuplicateRequest
# a consumer whose clock runs 9 s ahead (within the 10 s skew): its signature is taken until
# 19 s after the first arrival, so a replay 11 s later, past one skew, is still caught
signed --time-offset 9
first=$(date +%s)
expect "a request signed 9 s ahead" test "$STATUS" = 200
before=$(hits)
wait_s=$((first + 11 - $(date +%s)))
[ "$wait_s" -le 0 ] || sleep "$wait_s"
replay
expect_error "its replay 11 s later" 409 Client.DuplicateRequest
expect "... did not reach the backend" test "$(hits)" = "$before"

# --- the consumer checks the provider's signature -----------------------------------------
EVSVC=/r1/DE-NORD/MUN/13075000/Kfz-Zulassung
xr GET $CLIENT "$EVSVC/ok"
expect "an answer signed by ss-evidence is accepted (the formats agree)" \
  test "$STATUS" = 200 -a -n "$(printf '%s' "$BODY" | grep ss-evidence)"
for f in binding body status signature; do
  xr GET $CLIENT "$EVSVC/fault-$f"
  expect_error "an answer with a wrong $f" 500 Server.ClientProxy.InvalidSignatureValue
  expect "its content did not reach the information system ($f)" \
    bash -c "! grep -q ss-evidence $T_DIR/body"
  rid=$(header x-road-request-id)
done
xr GET $CLIENT "$EVSVC/fault-unsigned"
expect_error "an unsigned answer" 500 Server.ClientProxy.MissingSignature
expect "its content did not reach the information system (unsigned)" \
  bash -c "! grep -q ss-evidence $T_DIR/body"
expect "the consumer logged each refused answer" \
  test "$(records sh "direction = 'response' AND service LIKE '%Kfz-Zulassung%' AND error_type != ''")" = 5

finish
