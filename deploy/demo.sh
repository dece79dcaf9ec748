#!/usr/bin/env bash
# The secsrv demo: installs what it needs, builds, creates a PKI, builds and
# signs the SH/MV members registry, verifies it (secsrv-registry and stock
# openssl), starts a federation on 127.0.0.1 — registry publisher, OCSP
# responder, time-stamping authority, an SH consumer security server, an MV
# provider security server in front of Schwerin's population register —
# and sends three queries through it: one allowed, one from a client the
# policy does not allow, one without the required purpose. Then one SOAP
# query (the X-Road message protocol 4.0) to Schwerin's vehicle register,
# shown with its response headers, and the metaservices listMethods and
# allowedMethods. It then shows
# the records both servers logged and timestamped, checks one request's
# signature with stock openssl cms -verify and its timestamp token with
# openssl ts -verify. Then the data-protection officer's review with
# secsrv-log: both logs verified end to end, the person P-1001 searched by
# the keyed hash on both servers, and one exchange exported as an
# evidence package that stock openssl verifies. Then it starts the DPO's
# web console over both logs and prints its address and the DPO's
# certificate for the browser. Then it shuts everything down.
#   --keep   leave the federation running and print how to stop it
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
keep=0
[ "${1:-}" = "--keep" ] && keep=1

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Installing Debian packages (if missing), building"
# shellcheck disable=SC1091
. "$src/deploy/prepare.sh"
prepare secsrv secsrv-registry secsrv-policy secsrv-log ss-testserver ss-evidence
bin=$SS_BUILD_DIR

demo=$src/build/demo
if [ -f "$demo/pids" ]; then ./deploy/federation.sh stop "$demo"; fi
rm -rf "$demo"
mkdir -p "$demo"

step "Starting the federation on 127.0.0.1 (PKI, signed registry, publisher, OCSP, TSA, two servers)"
./deploy/federation.sh start "$demo"
# shellcheck disable=SC1091
. "$demo/env"
cleanup() { [ $keep -eq 1 ] || ./deploy/federation.sh stop "$demo"; }
trap cleanup EXIT

step "The members registry"
"$bin/registry/secsrv-registry" -f "$FED_REGISTRY" show | sed -n "1,30p"
echo "  ..."

step "Registry verified by secsrv-registry (pinned authority certificate)"
"$bin/registry/secsrv-registry" -f "$FED_REGISTRY" verify --anchor "$FED_PKI/registry-authority.pem"

step "Registry verified by stock openssl against the federation root"
echo "\$ openssl cms -verify -binary -inform DER -in registry.xml.p7s -content registry.xml -CAfile root-ca.pem"
openssl cms -verify -binary -inform DER -in "$FED_REGISTRY.p7s" -content "$FED_REGISTRY" \
  -CAfile "$FED_PKI/root-ca.pem" -out /dev/null

query() { # title client purpose-or-empty path
  step "$1"
  local args=(-s -i -H "X-Road-Client: $2")
  [ -n "$3" ] && args+=(-H "X-Secsrv-Purpose: $3")
  args+=(-H "X-Secsrv-Subject: P-1001")
  local url="http://127.0.0.1:$FED_SH_CLIENT_PORT/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft$4"
  echo "\$ curl -H 'X-Road-Client: $2'${3:+ -H 'X-Secsrv-Purpose: $3'} $url"
  curl "${args[@]}" "$url" | tr -d '\r'
  echo
}

query "1. Allowed: the SH Ministry of the Interior asks Schwerin's population register (purpose BMG-34)" \
  DE-NORD/GOV/MIKWS-SH/Meldeauskunft BMG-34 /persons/P-1001
query "2. Denied: Kiel's Buergeramt is not allowed by Schwerin's policy" \
  DE-NORD/MUN/01002000/Buergeramt BMG-34 /persons/P-1001
query "3. Denied: the ministry asks without the purpose the policy requires" \
  DE-NORD/GOV/MIKWS-SH/Meldeauskunft "" /persons/P-1001

step "Why query 2 was denied (secsrv-policy explain, offline)"
"$bin/policies/secsrv-policy" explain --dir "$FED_DIR/mv/policies" --registry "$FED_REGISTRY" \
  --client DE-NORD/MUN/01002000/Buergeramt \
  --service DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft \
  --purpose BMG-34 --method GET --path /persons/P-1001 || true

soap_request() { # out service-code body-sed
  sed -e "s#@ID@#demo-$2-$$#" -e "s#@PLATE@#SN-AB 123#" ${3:+-e "$3"} \
    "$src/test/integration/soap/e1-request.xml" >"$1"
}
soap() { # file
  echo "\$ curl -H 'Content-Type: text/xml; charset=utf-8' --data-binary @${1##*/} http://127.0.0.1:$FED_SH_CLIENT_PORT/"
  curl -s -i -H 'Content-Type: text/xml; charset=utf-8' --data-binary "@$1" \
    "http://127.0.0.1:$FED_SH_CLIENT_PORT/" | tr -d '\r'
  echo
}
step "4. SOAP: the ministry asks Schwerin's vehicle register who holds SN-AB 123 (purpose StVG-35)"
soap_request "$FED_DIR/halterauskunft.xml" halterauskunft
echo "-- the request's X-Road header (test/integration/soap/e1-request.xml, the protocol's example E.1):"
sed -n '/<SOAP-ENV:Header>/,/<\/SOAP-ENV:Header>/p' "$FED_DIR/halterauskunft.xml"
echo "-- the answer: the header echoed, requestHash added by the provider's server"
soap "$FED_DIR/halterauskunft.xml"
echo "-- requestHash is SHA-512 of the request as sent:"
openssl dgst -sha512 -binary "$FED_DIR/halterauskunft.xml" | base64 -w0
echo

meta() { # title code
  step "$1"
  soap_request "$FED_DIR/$2.xml" "$2" "s#>halterauskunft<#>$2<#; /serviceVersion/d; /ss:purpose\|ss:subject/d; /<ns1:halterauskunft>/,/<\/ns1:halterauskunft>/d; s#<SOAP-ENV:Body>#<SOAP-ENV:Body><xrd:$2/>#"
  echo "-- the request's Body: <xrd:$2/>; the answer's Body:"
  soap "$FED_DIR/$2.xml" | sed -n '/^HTTP/p; /<SOAP-ENV:Body/,$p' | sed 's#<xrd:service #\n  <xrd:service #g'
  echo
}
meta "5. SOAP metaservice listMethods: the SOAP services of Schwerin's Kfz-Zulassung" listMethods
meta "6. SOAP metaservice allowedMethods: those the ministry may call" allowedMethods

step "Operator log of the provider server (last lines)"
tail -n 5 "$FED_DIR/mv.log"

step "The message logs: every request and answer, signed, chained, on both sides"
stamped() { [ "$(sqlite3 -readonly "$FED_DIR/$1/log/messagelog.db" "SELECT count(*) FROM records WHERE id > (SELECT coalesce(max(last_id), 0) FROM timestamps)")" = 0 ]; }
both_stamped() { stamped sh && stamped mv; }
wait_until "both message logs timestamped" 120 both_stamped ||
  echo "(not all records are timestamped yet; they are shown as they stand)"
for side in sh mv; do
  echo "-- $side ($FED_DIR/$side/log/messagelog.db)"
  sqlite3 -readonly -header -column "$FED_DIR/$side/log/messagelog.db" \
    "SELECT id, side, direction, status, CASE error_type WHEN '' THEN '-' ELSE error_type END AS error,
            purpose, substr(hex(hash), 1, 12) AS hash, (SELECT t.id FROM timestamps t WHERE records.id BETWEEN t.first_id AND t.last_id) AS timestamp FROM records"
  sqlite3 -readonly -header -column "$FED_DIR/$side/log/messagelog.db" \
    "SELECT id AS timestamp, first_id, last_id, tsa, datetime(gen_time, 'unixepoch') AS time FROM timestamps"
done

step "The first request's evidence, checked with stock openssl (deploy/verify-record.sh)"
./deploy/verify-record.sh "$FED_DIR/sh/log/messagelog.db" 1 "$FED_PKI/ca-chain.pem" \
  "$FED_PKI/ocsp.pem" "$FED_PKI/tsa.pem"

step "The DPO's review: both logs verified end to end (secsrv-log verify)"
log=$bin/secsrv/secsrv-log
for side in sh mv; do
  echo "\$ secsrv-log verify $side/log/messagelog.db --anchor registry-authority.pem"
  "$log" verify "$FED_DIR/$side/log/messagelog.db" --anchor "$FED_PKI/registry-authority.pem"
done

step "The exchanges that concerned person P-1001, found by the keyed hash (secsrv-log search)"
for side in sh mv; do
  echo "\$ secsrv-log search $side/log/messagelog.db --subject-key $side/state/subject.key subject=P-1001"
  "$log" search "$FED_DIR/$side/log/messagelog.db" --subject-key "$FED_DIR/$side/state/subject.key" \
    subject=P-1001
done
echo "-- the same for the citizens' data-protection cockpit (secsrv-log cockpit, SH)"
"$log" cockpit "$FED_DIR/sh/log/messagelog.db" --anchor "$FED_PKI/registry-authority.pem" \
  --subject-key "$FED_DIR/sh/state/subject.key" subject=P-1001

step "The allowed exchange exported as an evidence package and checked with stock openssl"
pkg=$FED_DIR/evidence-1.asice
rm -rf "$pkg" "$FED_DIR/evidence-1"
echo "\$ secsrv-log export sh/log/messagelog.db --anchor registry-authority.pem -o evidence-1.asice id=1-2"
"$log" export "$FED_DIR/sh/log/messagelog.db" --anchor "$FED_PKI/registry-authority.pem" -o "$pkg" id=1-2
mkdir -p "$FED_DIR/evidence-1"
(cd "$FED_DIR/evidence-1" && unzip -q "$pkg" && echo "\$ unzip evidence-1.asice && sh -e VERIFY.txt" &&
  sh -e VERIFY.txt >verify.out 2>&1 && echo "all $(wc -l <VERIFY.txt) commands of VERIFY.txt passed")

step "The DPO console (secsrv-log serve) over both logs"
bash "$src/deploy/console-pki.sh" "$FED_DIR/console-pki"
cpki=$FED_DIR/console-pki
echo "\$ secsrv-log serve sh/log/messagelog.db mv/log/messagelog.db --listen 127.0.0.1:0 \\"
echo "    --cert console.pem --key console.key --dpo-ca dpo-ca.pem --anchor registry-authority.pem \\"
echo "    --subject-key sh/state/subject.key --audit-log console-audit.log --reports console-reports"
"$log" serve "$FED_DIR/sh/log/messagelog.db" "$FED_DIR/mv/log/messagelog.db" --listen 127.0.0.1:0 \
  --cert "$cpki/console.pem" --key "$cpki/console.key" --dpo-ca "$cpki/dpo-ca.pem" \
  --anchor "$FED_PKI/registry-authority.pem" --subject-key "$FED_DIR/sh/state/subject.key" \
  --audit-log "$FED_DIR/console-audit.log" --reports "$FED_DIR/console-reports" \
  >"$FED_DIR/console.out" 2>"$FED_DIR/console.log" &
echo "$! console" >>"$FED_DIR/pids"
wait_until "the console" 20 grep -q '^console: ' "$FED_DIR/console.out" || true
console_url=$(sed -n 's/^console: \(https:[^ ]*\).*/\1/p' "$FED_DIR/console.out")
[ -n "$console_url" ] || { cat "$FED_DIR/console.log" >&2; exit 1; }
echo "console: $console_url"
echo "DPO certificate for the browser: $cpki/dpo.p12 (password: $(cat "$cpki/dpo.p12.pass"))"
echo "trust for the console's certificate: $cpki/dpo-ca.pem"
echo "the same with curl:"
echo "\$ curl --cacert $cpki/dpo-ca.pem --cert $cpki/dpo.pem --key $cpki/dpo.key $console_url"
curl -s --cacert "$cpki/dpo-ca.pem" --cert "$cpki/dpo.pem" --key "$cpki/dpo.key" "$console_url" |
  sed -n 's/.*<p class="totals">\([^<]*\)<span[^>]*>\([^<]*\)<\/span>\([^<]*\)<\/p>.*/overview: \1\2\3/p'

step "Health of the consumer server"
curl -s "http://127.0.0.1:$FED_SH_HEALTH_PORT/"
echo

if [ $keep -eq 1 ]; then
  step "Left running"
  echo "client proxy (SH): http://127.0.0.1:$FED_SH_CLIENT_PORT/r1/..."
  echo "DPO console: $console_url (certificate $cpki/dpo.p12, password $(cat "$cpki/dpo.p12.pass"))"
  echo "logs: $FED_DIR/*.log"
  echo "stop with: ./deploy/federation.sh stop $FED_DIR"
else
  step "Shutting down"
fi
