#!/usr/bin/env bash
# Self-test of the browser half of the web console test (browser.py and
# chromium.sh), without the console: a throw-away PKI, a static HTTPS server
# on 127.0.0.1 serving pages that follow the console's page contract, and
# browser.py run against them. The server, like the console, refuses a TLS
# handshake without a client certificate from the client CA, so every page
# that loads shows that Chromium presented the DPO certificate from its NSS
# database by itself. Then the negative cases: each must make browser.py
# fail, for the right reason.
#
# The server is Python's ssl and http.server rather than `openssl s_server
# -WWW`: s_server cannot serve "/" (it opens the file ""), nor a path
# without .html as HTML, and it serves one connection at a time.
#
# Work files in SS_BUILD_DIR/test-logs/console-selftest, or in a temporary
# folder that is removed if everything passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=chromium.sh
. "$here/chromium.sh"
# shellcheck source=deploy/wait.sh
. "$here/../../../deploy/wait.sh"

if [ -n "${SS_BUILD_DIR:-}" ]; then
  W=$SS_BUILD_DIR/test-logs/console-selftest
  rm -rf "$W"
  mkdir -p "$W"
else
  W=$(mktemp -d /tmp/console-selftest.XXXXXX)
fi
cd "$W"
passed=0 failed=0 server_pid=""
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

cleanup() {
  chromium_cleanup
  [ -z "$server_pid" ] || { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; } || true
}
trap cleanup EXIT

SUBJECT=EE38001085718
SH=$(printf %s "$SUBJECT" | sha256sum | cut -c1-64)
PASSPHRASE='korrekt Pferd Batterie'
P12_PASS='p12-geheim'
CN="Datenschutz Test"

# --- PKI ------------------------------------------------------------------
mkdir pki
ca() { # NAME CN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "pki/$1.key" \
    -out "pki/$1.pem" -days 30 -subj "/CN=$2" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # NAME CN CA EXTENSION...
  local name=$1 cn=$2 ca=$3
  shift 3
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "pki/$name.key" \
    -subj "/CN=$cn" 2>/dev/null |
    openssl x509 -req -CA "pki/$ca.pem" -CAkey "pki/$ca.key" -set_serial "0x$(openssl rand -hex 8)" \
      -days 30 -out "pki/$name.pem" 2>/dev/null -extfile <(printf '%s\n' \
        basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature "$@")
}
ca ca "secsrv selftest TLS CA"
ca other-ca "secsrv selftest other CA"
ca client-ca "secsrv selftest client CA"
leaf server 127.0.0.1 ca extendedKeyUsage=serverAuth subjectAltName=IP:127.0.0.1
leaf dpo "$CN" client-ca extendedKeyUsage=clientAuth
openssl pkcs12 -export -inkey pki/dpo.key -in pki/dpo.pem -certfile pki/client-ca.pem -name "$CN" \
  -passout "pass:$P12_PASS" -out pki/dpo.p12

# --- the pages ------------------------------------------------------------
# Each file holds a whole HTTP response; the server answers GET /PATH?QUERY
# with the file site/PATH?QUERY ("index" for a path that ends in /)
XSS_RAW='<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'
XSS_ESC='&lt;script&gt;window.__xss=1&lt;/script&gt;&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;'
SHA256_JS='async function sh(s) {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return [...new Uint8Array(d)].map(b => b.toString(16).padStart(2, "0")).join("");
}'

page() { # FILE TITLE BODY [HEADER]
  mkdir -p "$(dirname "$1")"
  printf 'HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n%s\r\n' "${4:+$4$'\r\n'}" >"$1"
  printf '<!doctype html><html lang="de"><head><meta charset="utf-8"><title>%s</title></head>\n<body><header id="whoami">Angemeldet als %s</header>\n%s\n</body></html>\n' \
    "$2" "$CN" "$3" >>"$1"
}

asice() { # FILE TAMPERED: a package whose VERIFY.txt checks its digests
  python3 - "$1" "$2" <<'EOF'
import hashlib, sys, zipfile
body = b"<exchange id='1'>...</exchange>\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/vnd.etsi.asic-e+zip\r\n"
            b"Content-Disposition: attachment; filename=\"austausch-1.asice\"\r\n\r\n")
with zipfile.ZipFile(sys.argv[1], "a") as z:
    z.writestr("mimetype", "application/vnd.etsi.asic-e+zip", zipfile.ZIP_STORED)
    z.writestr("exchange-1.xml", body + (b"tampered" if sys.argv[2] == "1" else b""))
    z.writestr("SHA256SUMS", f"{hashlib.sha256(body).hexdigest()}  exchange-1.xml\n")
    z.writestr("VERIFY.txt", "sha256sum -c SHA256SUMS\necho 'Paket geprüft: alle Dateien unverändert'\n")
EOF
}

# site PREFIX FLAGS: the console's pages under PREFIX; FLAGS may hold
# leak (the search puts the subject in the URL), badsig (the exchange's
# verification fails), tampered (package and log chain are broken)
site() {
  local p=$1 flags=" $2 " d="site$1"
  local sh=$SH hash='await sh(s)' tampered=0
  local verification='ok">Signatur und Zeitstempel gültig' chain='ok">Kette intakt: 42 Einträge'
  [[ $flags != *" leak "* ]] || { sh=$SUBJECT hash=s; }
  [[ $flags != *" badsig "* ]] || verification='broken">Signatur ungültig'
  [[ $flags != *" tampered "* ]] || { chain='broken">Kette unterbrochen bei Eintrag 17' tampered=1; }
  page "$d/anmelden" Anmelden '<input name="passphrase" type="password">
<button id="login-submit">Anmelden</button><p id="login-error" hidden>Falsche Passphrase</p>
<script>document.getElementById("login-submit").onclick = () => {
  if (document.querySelector("input[name=passphrase]").value === '"'$PASSPHRASE'"') location.href = "'"$p"'/";
  else document.getElementById("login-error").hidden = false;
};</script>'
  sed -i 's|<header id="whoami">[^<]*</header>||' "$d/anmelden" # not logged in yet
  page "$d/index" Übersicht '<svg id="chart" width="300" height="100">
<rect class="bar" x="0" y="40" width="20" height="60"/><rect class="bar" x="30" y="10" width="20" height="90"/></svg>
<p id="log-state">Protokoll: 42 Einträge, Kette intakt</p>
<table><tr><td>'"$XSS_ESC"'</td></tr></table>'
  page "$d/suche" Suche '<input name="subject"><button id="search-submit">Suchen</button>
<script>'"$SHA256_JS"'
document.getElementById("search-submit").onclick = async () => {
  const s = document.querySelector("input[name=subject]").value;
  location.href = "'"$p"'/suche?sh=" + '"$hash"';
};</script>'
  page "$d/suche?sh=$sh" Treffer '<table id="results">
<tr class="exchange"><td>'"$XSS_ESC"'</td><td><a class="open" href="'"$p"'/austausch/1">öffnen</a></td></tr>
<tr class="exchange"><td>GetPerson</td><td><a class="open" href="'"$p"'/austausch/2">öffnen</a></td></tr></table>'
  page "$d/austausch/1" Austausch '<pre id="request">'"$XSS_ESC"'</pre><pre id="response">&lt;ok/&gt;</pre>
<p id="verification" class="'"$verification"'</p>
<a id="package" href="'"$p"'/austausch/1.asice">Beweispaket</a>'
  asice "$d/austausch/1.asice" $tampered
  page "$d/person" Person '<input name="subject"><button id="person-submit">Auskunft</button>
<script>'"$SHA256_JS"'
document.getElementById("person-submit").onclick = async () => {
  location.href = "'"$p"'/person?sh=" + await sh(document.querySelector("input[name=subject]").value);
};</script>'
  page "$d/person?sh=$SH" Auskunft '<table id="cockpit"><thead><tr><th>Wann</th><th>Wer</th></tr></thead>
<tbody><tr><td>2024-05-01</td><td>'"$XSS_ESC"'</td></tr></tbody></table>
<a id="cockpit-json" href="'"$p"'/person.json?sh='"$SH"'">JSON</a>'
  printf 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"subject_hash": "%s", "exchanges": [{"id": 1, "service": "%s"}]}\n' \
    "$SH" '<script>window.__xss=1</script>' >"$d/person.json?sh=$SH"
  page "$d/pruefung" Prüfung '<button id="verify-start">Prüfen</button>
<script>document.getElementById("verify-start").onclick = () => setTimeout(() => {
  document.body.insertAdjacentHTML("beforeend", '"'<p id=\"verify-result\" class=\"$chain</p>'"');
}, 1000);</script>'
}
site "" ""
site /leck leak
site /falsch badsig
site /manipuliert tampered
page site/boese/index Übersicht "<svg id=\"chart\"><rect class=\"bar\"/></svg><p id=\"log-state\">$XSS_RAW</p>"
# a Content-Security-Policy stops the script, but the tag is still in the page
page site/csp/index Übersicht "<svg id=\"chart\"><rect class=\"bar\"/></svg><p id=\"log-state\">$XSS_RAW</p>" \
  "Content-Security-Policy: script-src 'none'"

# --- the server -----------------------------------------------------------
cat >server.py <<'EOF'
import http.server, os, ssl, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.lstrip("/")
        if name == "" or name.endswith("/"):
            name += "index"
        if ".." in name or not os.path.isfile(name):
            return self.send_error(404)
        with open(name, "rb") as f:  # a whole response
            self.wfile.write(f.read())
        self.log_request(200)

    def log_message(self, fmt, *args):
        cn = dict(x[0] for x in self.connection.getpeercert()["subject"])["commonName"]
        print(f"{cn}: {fmt % args}", flush=True)

class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, address):
        print(f"refused {address[0]}:{address[1]}: {sys.exc_info()[1]}", flush=True)

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ctx.load_verify_locations(sys.argv[3])
ctx.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no handshake
server = Server(("127.0.0.1", 0), Handler)
# handshakes in the request threads, so that a stalled one stalls no other
server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
print("listening on port", server.server_address[1], flush=True)
server.serve_forever()
EOF
(cd site && exec python3 ../server.py ../pki/server.pem ../pki/server.key ../pki/client-ca.pem) >server.log 2>&1 &
server_pid=$!
wait_until "the server's port" 10 grep -q "^listening on port" server.log || { cat server.log; exit 1; }
BASE=https://127.0.0.1:$(sed -n 's/^listening on port //p' server.log)

if curl -s --cacert pki/ca.pem "$BASE/" >/dev/null; then
  not_ok "the server lets a client without a certificate in"
else
  ok "the server refuses a client without a certificate"
fi
if [ "$(curl -s --cacert pki/ca.pem --cert pki/dpo.pem --key pki/dpo.key "$BASE/suche?sh=$SH" | grep -c 'class="exchange"')" = 2 ]; then
  ok "the server serves the DPO certificate"
else
  not_ok "the server does not serve the DPO certificate"
fi

# --- the browser ----------------------------------------------------------
# browse NAME ARGS...: browser.py with screenshots in shots/NAME, downloads in
# downloads/NAME, its output in NAME.out and NAME.err
browse() {
  local name=$1
  shift
  python3 "$here/browser.py" --driver "$CHROMEDRIVER_URL" --out "shots/$name" \
    --downloads "downloads/$name" "$@" >"$name.out" 2>"$name.err"
}

# expect_fail NAME REGEX ARGS...: browser.py fails with a FAIL line matching REGEX
expect_fail() {
  local name=$1 re=$2
  shift 2
  if browse "$name" "$@"; then
    not_ok "$name: browser.py passed: $(tr '\n' ' ' <"$name.out")"
  elif grep -Eq -- "$re" "$name.err"; then
    ok "$name: $(head -n 1 "$name.err")"
  else
    not_ok "$name: expected a failure matching /$re/, got: $(cat "$name.err")"
  fi
}

chromium_setup chromium pki/ca.pem pki/dpo.p12 "$P12_PASS"
chromium_start_driver
started=$SECONDS
if browse all --base "$BASE" --subject "$SUBJECT" --min-results 2 --passphrase "$PASSPHRASE" \
  --expect-cn "$CN" login overview search exchange package person verify xss; then
  ok "all steps pass in $((SECONDS - started)) s"
  sed 's/^/#   /' all.out
else
  not_ok "all steps: $(cat all.err) (after: $(tr '\n' ' ' <all.out))"
fi
shots=$(cd shots/all && echo *.png)
if [ "$shots" = "01-login.png 02-overview.png 03-search.png 04-exchange.png 05-package.png 06-person.png 07-verify.png 08-xss.png" ]; then
  ok "a screenshot for each step"
else
  not_ok "screenshots: $shots"
fi
# every request came with the DPO certificate (the server logs its CN)
if grep -q "^$CN: \"GET /suche?sh=$SH " server.log && ! grep -v "^$CN: \|^listening on port\|^refused " server.log; then
  ok "every request the server answered came with the DPO certificate"
else
  not_ok "requests without the DPO certificate (see $W/server.log)"
fi

expect_fail wrong-cn "^FAIL overview: #whoami is .*not the CN" --base "$BASE" --expect-cn "Jemand Anders" overview
expect_fail xss-runs "^FAIL overview: script from logged data executed" --base "$BASE/boese" overview
expect_fail xss-unescaped "^FAIL xss: the page holds '<script>window.__xss' unescaped" --base "$BASE/csp" overview xss
expect_fail subject-in-url "^FAIL search: the URL contains the subject identifier" \
  --base "$BASE/leck" --subject "$SUBJECT" search
expect_fail bad-signature "^FAIL exchange: #verification is not ok: 'Signatur ungültig'" \
  --base "$BASE/falsch" --subject "$SUBJECT" search exchange
expect_fail tampered-package "^FAIL package: sh -e VERIFY.txt .* exited 1: .*FAILED" \
  --base "$BASE/manipuliert" --subject "$SUBJECT" search exchange package
expect_fail broken-chain "^FAIL verify: #verify-result is not ok: .Kette unterbrochen" --base "$BASE/manipuliert" verify
expect_fail http-error "^FAIL overview: no svg#chart rect.bar: HTTP status 404" --base "$BASE/nirgends" overview
expect_fail login-needs-passphrase "^FAIL login: needs --passphrase" --base "$BASE" login

# without the client certificate in the NSS database, the server refuses
# Chromium, and the page does not load
chromium_setup chromium-nocert pki/ca.pem "" ""
chromium_start_driver
refused=$(grep -c "PEER_DID_NOT_RETURN_A_CERTIFICATE" server.log || true)
expect_fail no-client-cert "^FAIL overview: page did not load: ERR_" --base "$BASE" overview
if [ "$(grep -c "PEER_DID_NOT_RETURN_A_CERTIFICATE" server.log)" -gt "$refused" ]; then
  ok "no-client-cert: the server refused Chromium for want of a client certificate"
else
  not_ok "no-client-cert: the server did not refuse a handshake without a client certificate"
fi
# trusting another CA than the server's, Chromium refuses the server
chromium_setup chromium-other-ca pki/other-ca.pem pki/dpo.p12 "$P12_PASS"
chromium_start_driver
expect_fail unknown-server-ca "^FAIL overview: page did not load: .*ERR_CERT_AUTHORITY_INVALID" --base "$BASE" overview

echo "$passed passed, $failed failed in $SECONDS s (work files in $W)"
if [ "$failed" -eq 0 ] && [ -z "${SS_BUILD_DIR:-}" ]; then
  cd /
  rm -rf "$W"
fi
[ "$failed" -eq 0 ]
