#!/usr/bin/env bash
# The DPO console (secsrv-log serve) over copies of both servers' logs and a
# tampered copy: access only with a DPO certificate from the configured CA
# (or, on loopback, a passphrase), one audit line per page view, the
# person's identifier never in an address or a log, escaped output of
# everything an information system controls, strict parameters, evidence
# packages that stock openssl verifies, verification runs that find the
# tampering; then headless Chromium walks the pages (log in, overview
# chart, search by subject, one exchange verified, its package downloaded
# and verified, the data-subject report, a verification run) and saves a
# screenshot of each (test-logs/test_console/screenshots).
. "$(dirname "$0")/lib.sh"
LOG=$SS_BUILD_DIR/secsrv/secsrv-log
"$LOG" keygen "$T_DIR/dpo.secret" "$T_DIR/dpo.public" >/dev/null
"$LOG" keygen "$T_DIR/other.secret" "$T_DIR/other.public" >/dev/null
FED_SH_LOG_EXTRA="dpo_public_key = $T_DIR/dpo.public"
export FED_SH_LOG_EXTRA
fed_start
CPKI=$T_DIR/console-pki
bash "$SS_SOURCE_DIR/deploy/console-pki.sh" "$CPKI"

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
SVC=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt
XSS='<script>window.__xss=1</script><img/src=x/onerror="window.__xss=1">'
# --- a log: answered exchanges about three people, refusals, markup in what an IS controls ---
for i in $(seq 1 9); do
  xr GET $CLIENT "$SVC/echo/c$i" -H "X-Secsrv-Purpose: BMG-34" -H "X-Secsrv-Subject: P-$((i % 3))"
  [ "$STATUS" = 200 ] || not_ok "exchange $i answered $STATUS"
done
xr GET $CLIENT "$SVC/nope/x" -H "X-Secsrv-Subject: P-1" -H "X-Road-Id: $XSS"
expect "a query for an unknown service with markup in its id is refused" test "$STATUS" != 200
xr GET $CLIENT "$SVC/echo/y" -H "X-Secsrv-Subject: P-1" -H "X-Road-Id: $XSS-2" \
  -H "X-Secsrv-Purpose: BMG-34"
expect "an answered query with markup in its id" test "$STATUS" = 200
xr POST $CLIENT "$SVC/echo/body" -H "X-Secsrv-Purpose: BMG-34" -H "Content-Type: text/html" \
  -H "X-Road-Id: markup-body" --data-binary "$XSS"
expect "a query whose body is markup is answered" test "$STATUS" = 200
xr GET DE-NORD/MUN/01002000/Buergeramt "$SVC/echo/notours"
expect "a client this server does not host is refused" test "$STATUS" = 403
expect "both logs are timestamped" wait_until "the timestamps" 30 stamped
expect "the markup reached the log as it was sent" \
  test "$(msglog sh "SELECT count(*) FROM records WHERE query_id LIKE '<script>%'")" -ge 2

SH=$T_DIR/sh.db MV=$T_DIR/mv.db BAD=$T_DIR/tampered.db
sqlite3 "$FED_DIR/sh/log/messagelog.db" ".backup '$SH'"
sqlite3 "$FED_DIR/mv/log/messagelog.db" ".backup '$MV'"
cp "$SH" "$BAD"
sqlite3 "$BAD" "UPDATE records SET purpose = 'BMG-99' WHERE id = 3"

# --- the console, with DPO certificates --------------------------------------------------------
CONSOLES=()
stop_consoles() {
  for p in "${CONSOLES[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${CONSOLES[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${CHROMIUM_CLEANUP:-}" ] && chromium_cleanup || true
}
trap 'stop_consoles; t_cleanup' EXIT
serve() { # NAME ARGS...: starts a console; sets PORT
  local name=$1
  shift
  "$LOG" serve --listen 127.0.0.1:0 --cert "$CPKI/console.pem" --key "$CPKI/console.key" \
    --anchor "$FED_PKI/registry-authority.pem" --reports "$T_DIR/$name-reports" \
    --audit-log "$T_DIR/$name-audit.log" "$@" >"$T_DIR/$name.out" 2>"$T_DIR/console-$name.log" &
  CONSOLES+=($!)
  wait_until "the console $name" 20 grep -q '^console: https' "$T_DIR/$name.out"
  PORT=$(sed -n 's|^console: https://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T_DIR/$name.out")
}
serve dpo --dpo-ca "$CPKI/dpo-ca-crl.pem" --subject-key "$FED_DIR/sh/state/subject.key" "$SH" "$MV" "$BAD"
BASE=https://127.0.0.1:$PORT
AUDIT=$T_DIR/dpo-audit.log
c() { # PATH [curl args]: as the DPO; sets STATUS, body in T_DIR/body, headers in T_DIR/headers
  local path=$1
  shift
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' --cacert "$CPKI/dpo-ca.pem" \
    --cert "$CPKI/dpo.pem" --key "$CPKI/dpo.key" "$@" "$BASE$path"
}
has() { grep -qF -- "$1" "$T_DIR/body"; }
token() { sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$T_DIR/body" | head -1; }

c /
expect "the overview answers the DPO" test "$STATUS" = 200
expect "it names the DPO from the certificate" has 'CN=Datenschutzbeauftragte SH'
expect "it draws the exchanges per day" grep -q '<rect class="bar answered"' "$T_DIR/body"
expect "the refused ones stand out" grep -q 'class="exchange refused"' "$T_DIR/body"
expect "it tells the state of the log" has 'id="log-state"'
expect "the registry's official names are shown" has 'Ministerium für Inneres'
for h in "Content-Security-Policy: default-src 'none'; script-src 'self'" "X-Frame-Options: DENY" \
  "Cache-Control: no-store" "X-Content-Type-Options: nosniff"; do
  expect "every page says $h" grep -qiF "$h" "$T_DIR/headers"
done

# who gets in
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' --cacert "$CPKI/dpo-ca.pem" "$BASE/"
expect "without a certificate: 403 and why" test "$STATUS" = 403 -a "$(grep -c 'kein Zertifikat\|keines vorgelegt' "$T_DIR/body")" -ge 1
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' --cacert "$CPKI/dpo-ca.pem" --cert "$CPKI/rogue.pem" \
  --key "$CPKI/rogue.key" "$BASE/"
expect "a certificate from another CA with the DPO's name: 403" test "$STATUS" = 403
expect "... saying it is not recognised" has 'nicht anerkannt'
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' --cacert "$CPKI/dpo-ca.pem" --cert "$CPKI/revoked.pem" \
  --key "$CPKI/revoked.key" "$BASE/"
expect "a revoked DPO certificate (on the CA's CRL): 403" test "$STATUS" = 403
expect "... saying it is revoked" has 'revoked'
t_curl -s -o /dev/null -D "$T_DIR/headers" -w '%{http_code}' --cacert "$FED_PKI/root-ca.pem" "$BASE/" || true
expect "a client that does not trust the console's certificate gets nothing" test "$CURL_RC" != 0

# the search; markup escaped everywhere
c "/suche?size=200"
expect "the search lists the exchanges" test "$(grep -o 'class="exchange ' "$T_DIR/body" | wc -l)" -ge 12
expect "markup from a logged query id is shown escaped" has '&lt;script&gt;window.__xss=1&lt;/script&gt;'
expect "... and never as markup" bash -c "! grep -qF '<script>window.__xss' '$T_DIR/body'"
expect "... nor as an attribute" bash -c "! grep -qF 'onerror=\"window' '$T_DIR/body'"
c "/suche?client=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
expect "markup in a search term comes back escaped" has 'value="&lt;script&gt;alert(1)&lt;/script&gt;"'
c "/suche?client=x%27%20OR%20%271%27%3D%271"
expect "SQL in a search term is a term like any other: nothing found" has '0 Austausche'
c "/suche?client=%0d%0aSet-Cookie:%20a%3Db"
expect "a line break in a term (header injection): 400" test "$STATUS" = 400
expect "... and no such header" bash -c "! grep -qi '^Set-Cookie' '$T_DIR/headers'"
c "/suche?size=100000000"
expect "a huge page size: 400 naming the limit" test "$STATUS" = 400 -a "$(grep -c 'size: eine Zahl von 1 bis 200' "$T_DIR/body")" = 1
c "/suche?size=1&page=2&sort=client&order=asc"
expect "results are paged and sortable" test "$STATUS" = 200 -a "$(grep -o 'class="exchange ' "$T_DIR/body" | wc -l)" = 1
expect "... with links to the next page" has 'id="next"'
c "/suche?sort=hash"
expect "an unknown sort: 400" test "$STATUS" = 400
c "/suche?subject=P-1"
expect "a person's identifier in an address: 400 (unknown parameter)" test "$STATUS" = 400
c "/suche?%73ubject=P-1"
expect "... escaped too" test "$STATUS" = 400
c "/suche?a=%zz"
expect "a bad escape: 400 naming it" test "$STATUS" = 400 -a "$(grep -c 'two hex digits' "$T_DIR/body")" = 1
c "/suche?outcome=refused"
expect "refused exchanges found by outcome" test "$(grep -o 'class="exchange refused' "$T_DIR/body" | wc -l)" -ge 2

# the subject: typed into a form, hashed, never in an address or a log
c /suche
tok=$(token)
c /suche --data-urlencode "csrf=$tok" --data-urlencode "subject=P-1"
loc=$(sed -n 's/^[Ll]ocation: \([^\r]*\).*/\1/p' "$T_DIR/headers")
expect "a subject search answers with the address of its results" test "$STATUS" = 303
expect "... that carries the keyed hash, not the identifier" bash -c "[[ '$loc' == *sh=* && '$loc' != *P-1* ]]"
c "$loc"
expect "the person's exchanges are found (5 of them)" test "$(grep -o 'class="exchange ' "$T_DIR/body" | wc -l)" = 5
c /suche --data-urlencode "csrf=0000" --data-urlencode "subject=P-1"
expect "a form without this DPO's token: 403" test "$STATUS" = 403
c /suche --data-urlencode "csrf=$tok" --data-urlencode "subject=P 1"
expect "an identifier with a blank: 400 naming the rule" test "$STATUS" = 400 -a "$(grep -c 'ohne Leerzeichen' "$T_DIR/body")" = 1
c /suche -H 'Content-Type: application/json' --data '{"subject":"P-1"}'
expect "a form that is not url-encoded: 415" test "$STATUS" = 415
c /suche -X PUT --data "x=1"
expect "another method: 405" test "$STATUS" = 405
c /suche --data "csrf=$tok&subject=$(head -c 70000 /dev/zero | tr '\0' a)"
expect "an oversized form is refused" test "$STATUS" = 413 -o "$STATUS" = 400

# one exchange, its evidence, its content and its package
rec=$(msglog sh "SELECT id FROM records WHERE side='client' AND direction='request' AND purpose='BMG-34' ORDER BY id LIMIT 1")
c "/austausch/$rec"
expect "an exchange shows request and response side by side" has 'id="request"'
expect "... verified" grep -q 'id="verification" class="ok' "$T_DIR/body"
expect "... with the signer's certificate" has 'class="signer"'
expect "... the OCSP status" grep -q '<span class="ok">good</span>' "$T_DIR/body"
expect "... and the timestamp" has 'RFC 3161'
expect "the sealed content is not shown unasked" bash -c "! grep -q 'id=\"body-request\"' '$T_DIR/body'"
tok=$(token)
c "/austausch/$rec" --data-urlencode "csrf=$tok" --data-urlencode "secret=$(cat "$T_DIR/dpo.secret")"
expect "the DPO's secret key opens the sealed messages" grep -q 'id="body-request">GET /r1/' "$T_DIR/body"
body_rec=$(msglog sh "SELECT id FROM records WHERE query_id = 'markup-body' AND direction = 'request'")
c "/austausch/$body_rec" --data-urlencode "csrf=$tok" --data-urlencode "secret=$(cat "$T_DIR/dpo.secret")"
expect "markup in a message body is shown as text" has '&lt;script&gt;window.__xss=1&lt;/script&gt;&lt;img/src=x/onerror=&quot;'
expect "... never as markup" bash -c "! grep -qF '<script>window.__xss' '$T_DIR/body'"
c "/austausch/$rec" --data-urlencode "csrf=$tok" --data-urlencode "secret=$(cat "$T_DIR/other.secret")"
expect "another key does not, and the page says so" has 'öffnet die versiegelte Nachricht nicht'
c "/austausch/$rec" --data-urlencode "csrf=$tok" --data-urlencode "secret=xyz"
expect "a malformed key: the page says what a key is" has '64 Hexadezimalziffern'
c "/austausch/$rec" --data-urlencode "csrf=$tok"
expect "without a key the sealed content stays closed" has 'versiegelt: zum Lesen'
c "/austausch/999999"
expect "an unknown record: 404 naming it" test "$STATUS" = 404 -a "$(grep -c 'record 999999 is not in this log' "$T_DIR/body")" = 1
c "/austausch/abc"
expect "a record number that is none: 404" test "$STATUS" = 404
c "/paket/$rec"
expect "the package downloads as ASiC-E" test "$STATUS" = 200 -a "$(grep -ci 'content-type: application/vnd.etsi.asic-e+zip' "$T_DIR/headers")" = 1
mkdir "$T_DIR/pkg"
if (cd "$T_DIR/pkg" && unzip -q "$T_DIR/body" && sh -e VERIFY.txt >verify.out 2>&1); then
  ok "the package verifies with stock openssl ($(grep -c 'Verification successful\|: OK' "$T_DIR/pkg/verify.out") checks)"
else
  not_ok "the package does not verify: $(tail -3 "$T_DIR/pkg/verify.out")"
fi
bad_rec=3
c "/austausch/$bad_rec?log=2"
expect "the tampered copy: the exchange shows the first broken point" grep -q 'id="verification" class="broken"' "$T_DIR/body"
c "/?log=1"
expect "the provider's log is the second one" has 'Protokoll: <code>mv.db</code>'
c "/?log=9"
expect "a log the console does not have: 400" test "$STATUS" = 400

# the data-subject report
c /person
tok=$(token)
c /person --data-urlencode "csrf=$tok" --data-urlencode "subject=P-2"
loc=$(sed -n 's/^[Ll]ocation: \([^\r]*\).*/\1/p' "$T_DIR/headers")
c "$loc"
expect "the report lists the person's exchanges" test "$(grep -o '<tr class="answered"' "$T_DIR/body" | wc -l)" = 3
expect "... with the authority's official name" has 'Ministerium für Inneres'
c "/person.json?${loc#*\?}"
expect "... and as the documented JSON" test "$(jq -r '.format + " " + (.exchanges | length | tostring)' "$T_DIR/body")" = "secsrv-cockpit 1 3"
expect "... the same as secsrv-log cockpit writes" test "$("$LOG" cockpit "$SH" --anchor "$FED_PKI/registry-authority.pem" \
  --subject-key "$FED_DIR/sh/state/subject.key" subject=P-2 2>/dev/null | jq -c .exchanges)" = "$(jq -c .exchanges "$T_DIR/body")"

# verification runs, kept reports
c /pruefung
tok=$(token)
c /pruefung --data-urlencode "csrf=$tok"
expect "a verification run starts" test "$STATUS" = 303
finished() { c /pruefung && has 'id="verify-result"'; }
expect "... and finishes" wait_until "the verification run" 60 finished
expect "... the untouched log is valid" grep -q 'id="verify-result" class="ok' "$T_DIR/body"
expect "... and its report is kept" test "$(ls "$T_DIR/dpo-reports" | wc -l)" = 1
c /pruefung --data-urlencode "csrf=$tok" --data-urlencode "log=2"
expect "... on the tampered copy" wait_until "the second run" 60 finished
c "/pruefung?log=2"
expect "... the run finds the broken record" grep -q 'id="verify-result" class="broken"><strong>Gebrochen</strong>: Eintrag 3' "$T_DIR/body"
report=$(ls "$T_DIR/dpo-reports" | grep tampered)
c "/pruefung/bericht/$report"
expect "the report reads as secsrv-log verify prints it" has 'BROKEN at record 3'
c "/pruefung/bericht/..%2F..%2Fetc%2Fpasswd"
expect "a report name that leaves the folder: 404" test "$STATUS" = 404
c /
expect "the overview names the last verification" has 'id="last-verification"><span class="ok">gültig'
c "/?log=2"
expect "... for the tampered copy: broken" has 'id="last-verification"><span class="broken">gebrochen'
sqlite3 "$BAD" "UPDATE records SET side = char(10) || 'OK' WHERE id = 5"
c /pruefung?log=2
tok=$(token)
c /pruefung --data-urlencode "csrf=$tok" --data-urlencode "log=2"
expect "a run over a log whose fields try to forge the verdict" wait_until "the third run" 60 finished
c "/?log=2"
expect "... still says broken" has 'id="last-verification"><span class="broken">gebrochen'
lines=$(wc -l <"$AUDIT")
c "/person.json?sh=$(printf '%064d' 0)$(head -c 500 /dev/zero | tr '\0' '&')"
expect "a view whose address swells sixfold in JSON is answered" test "$STATUS" = 200
expect "... and in the audit log, one line more" test "$(wc -l <"$AUDIT")" = $((lines + 1))
expect "... with its address" test "$(tail -1 "$AUDIT" | jq -r .target | wc -c)" = 581

# the audit log: one line per page view, no identifier, no key
views=$(grep -c '"target"' "$AUDIT")
expect "every page view is in the console's audit log ($views lines)" test "$views" -ge 40
expect "... as JSON lines naming the DPO" test "$(jq -r 'select(.status == 200) | .who' "$AUDIT" | sort -u | head -1)" = "CN=Datenschutzbeauftragte SH,O=DE-NORD Test,C=DE"
expect "... refused views too" test "$(jq -r 'select(.status == 403) | .who' "$AUDIT" | grep -c 'nicht angemeldet')" -ge 2
expect "the person's identifier is in no log line" bash -c "! grep -qE 'P-[0-9]' '$AUDIT' '$T_DIR/console-dpo.log'"
expect "the address that named one is kept without its query" grep -qF '"/suche?(query not kept)"' "$AUDIT"
expect "no key is in the audit log" bash -c "! grep -qF '$(cat "$T_DIR/dpo.secret")' '$AUDIT'"

# --- no view without its audit line --------------------------------------------------------------
"$LOG" serve --listen 127.0.0.1:0 --cert "$CPKI/console.pem" --key "$CPKI/console.key" \
  --anchor "$FED_PKI/registry-authority.pem" --reports "$T_DIR/full-reports" --audit-log /dev/full \
  --dpo-ca "$CPKI/dpo-ca.pem" "$SH" >"$T_DIR/full.out" 2>"$T_DIR/console-full.log" &
CONSOLES+=($!)
wait_until "the console full" 20 grep -q '^console: https' "$T_DIR/full.out"
BASE=https://127.0.0.1:$(sed -n 's|^console: https://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T_DIR/full.out")
c /
expect "an audit log that cannot be written: 503, nothing shown" test "$STATUS" = 503 -a "$(grep -c 'Einträge' "$T_DIR/body")" = 0
expect "... and the operator is told" grep -q 'cannot write the audit log' "$T_DIR/console-full.log"

# --- the passphrase console, loopback only ----------------------------------------------------------
printf 'richtig-lange-passphrase\n' | "$LOG" passphrase "$T_DIR/pass.hash" >/dev/null
set +e
out=$("$LOG" serve --listen 0.0.0.0:0 --cert "$CPKI/console.pem" --key "$CPKI/console.key" \
  --anchor "$FED_PKI/registry-authority.pem" --reports "$T_DIR/r" --audit-log "$T_DIR/a.log" \
  --passphrase-file "$T_DIR/pass.hash" "$SH" 2>&1)
rc=$?
set -e
expect "a passphrase console on a public address does not start" test "$rc" = 2
expect "... and says why" grep -q 'only on a loopback address' <<<"$out"
serve pass --passphrase-file "$T_DIR/pass.hash" "$SH"
BASE=https://127.0.0.1:$PORT
p() { # PATH [curl args]: without a certificate, with the cookie jar
  local path=$1
  shift
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' --cacert "$CPKI/dpo-ca.pem" \
    -b "$T_DIR/jar" -c "$T_DIR/jar" "$@" "$BASE$path"
}
p /
expect "without a session: to the login page" test "$STATUS" = 303
p /anmelden
tok=$(token)
for i in 1 2 3 4 5; do p /anmelden --data-urlencode "csrf=$tok" --data-urlencode "passphrase=falsch-$i"; done
expect "a wrong passphrase: 403" test "$STATUS" = 403
p /anmelden --data-urlencode "csrf=$tok" --data-urlencode "passphrase=richtig-lange-passphrase"
expect "after five wrong ones even the right one waits" test "$STATUS" = 429
serve pass2 --passphrase-file "$T_DIR/pass.hash" "$SH"
BASE=https://127.0.0.1:$PORT
rm -f "$T_DIR/jar"
p /anmelden
tok=$(token)
p /anmelden --data-urlencode "csrf=$tok" --data-urlencode "passphrase=richtig-lange-passphrase"
expect "the right passphrase: a session" test "$STATUS" = 303 -a "$(grep -ci 'Set-Cookie: secsrv_console=.*Secure; HttpOnly; SameSite=Strict' "$T_DIR/headers")" = 1
p /
expect "... that opens the console" test "$STATUS" = 200
expect "... naming the session" has 'Passphrase (Sitzung'
tok=$(token)
p /abmelden --data-urlencode "csrf=$tok"
p /
expect "after signing out the session is gone" test "$STATUS" = 303

# --- headless Chromium ---------------------------------------------------------------------------
# shellcheck disable=SC1091
. "$SS_SOURCE_DIR/test/integration/console/chromium.sh"
BASE=https://127.0.0.1:$(sed -n 's|^console: https://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T_DIR/dpo.out")
mkdir -p "$T_DIR/screenshots" "$T_DIR/downloads"
CHROMIUM_CLEANUP=1
chromium_setup "$T_DIR/chromium" "$CPKI/dpo-ca.pem" "$CPKI/dpo.p12" "$(cat "$CPKI/dpo.p12.pass")"
chromium_start_driver
if python3 "$SS_SOURCE_DIR/test/integration/console/browser.py" --driver "$CHROMEDRIVER_URL" \
  --base "$BASE" --out "$T_DIR/screenshots" --downloads "$T_DIR/downloads" --subject P-1 \
  --min-results 4 --expect-cn 'Datenschutzbeauftragte SH' \
  overview search exchange package person verify xss >"$T_DIR/browser.log" 2>&1; then
  ok "Chromium: $(grep -c '^ok ' "$T_DIR/browser.log") steps (screenshots in $T_DIR/screenshots)"
else
  not_ok "Chromium: $(cat "$T_DIR/browser.log")"
fi
expect "a screenshot of each page" test "$(ls "$T_DIR/screenshots"/*.png | wc -l)" -ge 6
stop_consoles
finish
