#!/usr/bin/env bash
# Rotating a server's TLS authentication certificate without a flag day:
# the registry lists the next certificate beside the current one, the
# operator puts the new files in place and sends SIGHUP, and both proxies
# of the SH server take it (outbound: the MV server accepts it as the
# client's server; inbound: the server-proxy port presents it), while
# exchanges go on. A certificate the registry does not list is not taken
# on SIGHUP (the old one stays in force); once the old certificate is
# removed from the registry the new one alone serves. The same SIGHUP
# rereads the CAs and certificate for register services over https://
# ([service-tls]) and those of the HTTPS client proxy (IS side): new ones
# are taken, files that are not are refused.
. "$(dirname "$0")/lib.sh"
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/rot
REG=$FED_REGISTRY
FED=$SS_SOURCE_DIR/deploy/federation.sh
OLD=$FED_PKI/servers/ss-sh-kiel
NEW=$FED_PKI/servers/ss-sh-kiel/next
tool() { "$SS_BUILD_DIR/registry/secsrv-registry" -f "$REG" "$@"; }
sign() {
  tool sign --key "$FED_PKI/registry-authority.key" --cert "$FED_PKI/registry-authority.pem" \
    --chain "$FED_PKI/intermediate-ca.pem" "$@" >/dev/null
}
serial_in_force() { sed -n 's/.*registry: serial \([0-9]*\) from .* in force.*/\1/p' "$FED_DIR/$1.log" | tail -n 1; }
takes() { wait_until "$1 to take serial $2" 30 bash -c "[ \"\$(sed -n 's/.*registry: serial \\([0-9]*\\) from .* in force.*/\\1/p' '$FED_DIR/$1.log' | tail -n 1)\" = $2 ]"; }
presented() { # the fingerprint of the certificate SH's server proxy presents
  openssl s_client -connect "127.0.0.1:$FED_SH_SERVER_PORT" -cert "$FED_PKI/servers/ss-mv-schwerin/auth.pem" \
    -key "$FED_PKI/servers/ss-mv-schwerin/auth.key" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}
sh_pid() { awk '$2 == "sh" {print $1}' "$FED_DIR/pids" | tail -n 1; }
reloads() { grep -c "SIGHUP: reloading policies" "$FED_DIR/sh.log" || true; }
hup() { # sends SIGHUP to the SH server and waits until its network process took it
  local n
  n=$(reloads)
  kill -HUP "$(sh_pid)"
  wait_until "the SH server's reload" 20 bash -c "[ \$(grep -c 'SIGHUP: reloading policies' '$FED_DIR/sh.log') -gt $n ]"
}

# the SH server reads its certificate and key from files the operator replaces
mkdir -p "$T_DIR/tls"
cp "$OLD/auth-chain.pem" "$T_DIR/tls/auth-chain.pem"
cp "$OLD/auth.key" "$T_DIR/tls/auth.key"
sed -i "s|^certificate = .*ss-sh-kiel/auth-chain.pem|certificate = $T_DIR/tls/auth-chain.pem|; s|^key = .*ss-sh-kiel/auth.key|key = $T_DIR/tls/auth.key|" "$FED_SH_CONF"
# and those of its HTTPS client proxy (the IS side: its certificate, the CAs of IS certificates)
put_tls() { # DIR [CA] [SERVER-DIR]: CAs (ca.pem), certificate chain and key (cert.pem, key.pem)
  mkdir -p "$1"
  [ -z "${2:-}" ] || cp "$2" "$1/ca.pem"
  [ -z "${3:-}" ] || { cp "$3/auth-chain.pem" "$1/cert.pem" && cp "$3/auth.key" "$1/key.pem"; }
}
restart() { # NAME: stops and starts that server (its ports change)
  "$FED" stop-server "$FED_DIR" "$1" >/dev/null
  "$FED" start-server "$FED_DIR" "$1" >/dev/null
  fed_env
}
put_tls "$T_DIR/is" "$FED_PKI/ca-chain.pem" "$OLD"
# ... and the ministry's signing key too
SIGN=$FED_PKI/members/GOV-MIKWS-SH
mkdir -p "$T_DIR/sign"
cp "$SIGN/sign.key" "$SIGN/sign-chain.pem" "$T_DIR/sign/"
sed -i "s|^key = GOV/MIKWS-SH .*|key = GOV/MIKWS-SH $T_DIR/sign/sign.key $T_DIR/sign/sign-chain.pem|" "$FED_SH_CONF"
sed -i "s|^tls_certificate = .*|tls_certificate = $T_DIR/is/cert.pem|; s|^tls_key = .*|tls_key = $T_DIR/is/key.pem|; s|^tls_client_ca = .*|tls_client_ca = $T_DIR/is/ca.pem|" "$FED_SH_CONF"
restart sh

xr GET $CLIENT $Q
expect "an exchange with the first certificate" test "$STATUS" = 200
expect "SH presents its first certificate" test "$(presented)" = "$(cat "$OLD/auth.sha256")"

# the certificate that signed the last request MV received: its CN
signed_by() {
  rm -f "$T_DIR/sig.der"
  sqlite3 -readonly "$FED_DIR/mv/log/messagelog.db" "SELECT writefile('$T_DIR/sig.der', signature) \
    FROM signed_records WHERE side = 'server' AND direction = 'request' ORDER BY id DESC LIMIT 1" >/dev/null
  openssl pkcs7 -inform DER -in "$T_DIR/sig.der" -print_certs -noout 2>/dev/null |
    sed -n 's/^subject=.*CN = \(GOV-MIKWS-SH[^,]*\).*/\1/p' | head -n 1
}
expect "the first signing certificate signs" test "$(signed_by)" = GOV-MIKWS-SH

# the next certificate in place, but not yet in the registry: not taken
cp "$NEW/auth-chain.pem" "$T_DIR/tls/auth-chain.pem"
cp "$NEW/auth.key" "$T_DIR/tls/auth.key"
allow_error "the TLS certificate in force stays"
hup
# the reload's certificate step ends after the policies' line that hup waits for
expect "an unregistered certificate is not taken, and the log says why" \
  wait_until "the certificate step" 20 log_has sh "TLS certificate in force stays: .* is not one the registry lists"
xr GET $CLIENT $Q
expect "exchanges go on with the first certificate" test "$STATUS" = 200
expect "... which SH still presents" test "$(presented)" = "$(cat "$OLD/auth.sha256")"

# registered beside the first one
first=$(serial_in_force sh)
tool add auth-cert GOV/MIKWS-SH/ss-sh-kiel --auth-cert "$NEW/auth.pem" >/dev/null
sign --serial $((first + 1))
expect "SH takes the registry with both certificates" takes sh $((first + 1))
expect "... and MV too" takes mv $((first + 1))
hup
expect "the registered next certificate is taken on SIGHUP" \
  wait_until "the certificate step" 20 log_has sh "TLS certificate $(cat "$NEW/auth.sha256") in force"
expect "inbound: SH presents the new certificate" test "$(presented)" = "$(cat "$NEW/auth.sha256")"
# new connections from here on: pooled ones were made under the registry before
xr GET $CLIENT "$Q/2"
expect "outbound: MV accepts SH's new certificate" test "$STATUS" = 200

# the first certificate removed: the new one alone serves
tool remove auth-cert GOV/MIKWS-SH/ss-sh-kiel "$(cat "$OLD/auth.sha256")" >/dev/null
sign --serial $((first + 2))
expect "both take the registry without the first certificate" takes mv $((first + 2))
expect "... SH too" takes sh $((first + 2))
xr GET $CLIENT "$Q/3"
expect "exchanges go on with the new certificate alone" test "$STATUS" = 200
expect "the registry lists one certificate for SH" \
  test "$(tool show --json | jq -r '.securityServers[] | select(.code == "ss-sh-kiel") | [.authSha256] + .authCertificates | length')" = 1

# --- the MV server's [service-tls] (register services over https://), reread on SIGHUP -----
SVC=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt
MVS=$FED_PKI/servers/ss-mv-schwerin
EXTRA=$FED_PKI/servers/ss-sh-extra
put_tls "$T_DIR/svc" "$FED_PKI/ca-chain.pem" "$MVS"
sed -i "/^\[service-tls\]/,/^\[/{s|^ca = .*|ca = $T_DIR/svc/ca.pem|; s|^certificate = .*|certificate = $T_DIR/svc/cert.pem|; s|^key = .*|key = $T_DIR/svc/key.pem|}" "$FED_MV_CONF"
restart mv
# its server proxy listens on a port of its own choosing: the registry names it
tool set server MUN/13004000/ss-mv-schwerin --address "127.0.0.1:$FED_MV_SERVER_PORT" >/dev/null
sign --serial $((first + 3))
expect "SH takes the registry with the MV server's new address" takes sh $((first + 3))
# the reload's step for [service-tls] or the HTTPS client proxy: one line, after the policies'
STEP='SIGHUP: (the )?(\[service-tls\]|\[client-proxy\] tls) CAs and certificate (reread|in force stay)'
tls_hup() { # NAME: sends SIGHUP to that server and waits until its network process took it
  local n
  n=$(log_count "$1" "$STEP")
  kill -HUP "$(parent_of "$1")"
  wait_until "the $1 server's reload" 20 bash -c "[ \$(grep -Ec '$STEP' '$FED_DIR/$1.log') -gt $n ]" ||
    not_ok "the $1 server logged no TLS step of its reload"
}
last_step() { grep -E "$STEP" "$FED_DIR/${1:-mv}.log" | tail -n 1; }
client_certs() { grep -c "depth=0 .*CN = $1" "$FED_DIR/svctls.log" || true; }
svc() { # SERVICE: a query to it; ANSWER: its status (and error type)
  xr GET $CLIENT "$SVC/$1/persons/P-1001"
  ANSWER=$STATUS
  if [[ $BODY =~ \"type\":\"([^\"]*)\" ]]; then ANSWER+=" ${BASH_REMATCH[1]}"; fi
}
svc svctls
expect "a service over https:// answers under the [service-tls] CAs first configured" \
  test "$ANSWER" = 200
keep_port() { # the port the MV server's connection to the kept-alive https:// service came from
  xr GET $CLIENT "$SVC/svckeep/port"
  PORT=
  if [[ $STATUS = 200 && $BODY =~ \"port\":([0-9]+) ]]; then PORT=${BASH_REMATCH[1]}; fi
}
# MV uses a service's idle connection again for 1 s to 2 s (BACKEND_MAX_IDLE_S in upstream.c):
# a pair of queries further apart than that, as on a loaded machine, shows nothing and is tried
# again (up to 5 times); a pair closer together shows the answer at once
pair() { # [CMD...]: two queries, CMD run between them; FIRST and PORT their ports, TOOK the ms
  local t0          # from the end of the first to the end of the second
  keep_port
  FIRST=$PORT
  t0=${EPOCHREALTIME/./}
  "$@"
  keep_port
  TOOK=$(((${EPOCHREALTIME/./} - t0) / 1000))
}
pairs() { # SAME-PORT(yes|no) [CMD...]: pair until one closer than 1.5 s, or 5 tried
  local want=$1
  shift
  for _ in 1 2 3 4 5; do
    pair "$@"
    [ "$TOOK" -ge 1500 ] || return 0
    [ "$want" = yes ] && [ -n "$FIRST" ] && [ "$PORT" = "$FIRST" ] && return 0
  done
}
takes mv $((first + 3)) # a registry MV takes later would fall between the next pair's queries
pairs yes
expect "a connection to a service over https:// is used again ($FIRST, $PORT, $TOOK ms)" \
  test -n "$FIRST" -a "$PORT" = "$FIRST"
# a new registry closes MV's connections to peers (pins may have moved), not those to register
# services: registries signed ahead (the serials to come), one published between the queries
for k in 1 2 3 4 5; do
  mkdir -p "$T_DIR/reg$k"
  cp "$REG" "$T_DIR/reg$k/registry.xml"
  "$SS_BUILD_DIR/registry/secsrv-registry" -f "$T_DIR/reg$k/registry.xml" sign \
    --key "$FED_PKI/registry-authority.key" --cert "$FED_PKI/registry-authority.pem" \
    --chain "$FED_PKI/intermediate-ca.pem" --serial $((first + 3 + k)) >/dev/null
done
next=0
next_registry() { # publishes the next one and waits until MV has it in force
  next=$((next + 1))
  cp "$T_DIR/reg$next/registry.xml.p7s" "$REG.p7s.new" && mv "$REG.p7s.new" "$REG.p7s"
  cp "$T_DIR/reg$next/registry.xml" "$REG.new" && mv "$REG.new" "$REG"
  takes mv $((first + 3 + next)) # the line comes once the pool is cleared
}
pairs yes next_registry
expect "... and after MV took a new registry ($FIRST, $PORT, $TOOK ms, serial $((first + 3 + next)))" \
  test -n "$FIRST" -a "$PORT" = "$FIRST"
takes sh $((first + 3 + next))
# the same CAs, reread (a comment line added): connections made before are not used again,
# although they have been idle for less than the limit above
reread() {
  echo "# reread" >>"$T_DIR/svc/ca.pem"
  tls_hup mv
}
pairs no reread
expect "after [service-tls] is reread, a new connection serves ($FIRST, $PORT, $TOOK ms)" \
  test -n "$PORT" -a -n "$FIRST" -a "$PORT" != "$FIRST" -a "$TOOK" -lt 1500

# other CAs: the service the first ones trusted is refused, one from the new CAs answers
put_tls "$T_DIR/svc" "$FED_PKI/rogue/rogue-ca.pem"
tls_hup mv
expect "SIGHUP rereads [service-tls]" grep -q "CAs and certificate reread" <<<"$(last_step)"
allow_error "svctls.*peer certificate [0-9a-f]{64} rejected"
svc svctls
expect "the service the CAs no longer name is refused" \
  test "$ANSWER" = "500 Server.ServerProxy.SslAuthenticationFailed"
svc svcrogue
expect "the service the new CAs name answers" test "$ANSWER" = 200

# a file that is not CAs: refused, the CAs in force stay
echo "not a certificate" >"$T_DIR/svc/ca.pem"
allow_error "the \\[service-tls\\] CAs and certificate in force stay"
tls_hup mv
expect "a [service-tls] ca that holds no certificate is not taken, and the log says why" \
  grep -q "in force stay: $T_DIR/svc/ca.pem: cannot load CA certificates" <<<"$(last_step)"
svc svcrogue
expect "... the CAs in force stay" test "$ANSWER" = 200
# an empty file (one being written, say) is not taken for a file not set
: >"$T_DIR/svc/ca.pem"
allow_error "SIGHUP: \\[service-tls\\] stays: .* is empty"
kill -HUP "$(parent_of mv)"
expect "an empty [service-tls] ca is not taken either" wait_until "the empty file's refusal" 20 \
  log_has mv "SIGHUP: \\[service-tls\\] stays: $T_DIR/svc/ca.pem is empty"
svc svcrogue
expect "... the CAs in force stay" test "$ANSWER" = 200

# the first CAs again, and another certificate shown to the services
put_tls "$T_DIR/svc" "$FED_PKI/ca-chain.pem" "$EXTRA"
before=$(client_certs ss-sh-extra)
tls_hup mv
expect "SIGHUP rereads [service-tls] again" grep -q "CAs and certificate reread" <<<"$(last_step)"
svc svctls
expect "the first CAs are in force again" test "$ANSWER" = 200
expect "... and the service saw the new client certificate" test "$(client_certs ss-sh-extra)" -gt "$before"

# a key that is not the certificate's: refused, the certificate in force stays
cp "$MVS/auth-chain.pem" "$T_DIR/svc/cert.pem"
tls_hup mv
expect "a [service-tls] key that is not the certificate's is not taken" \
  grep -q "in force stay: \[service-tls\] certificate $T_DIR/svc/cert.pem: the key is not" <<<"$(last_step)"
before=$(client_certs ss-sh-extra)
svc svctls
expect "... the certificate in force stays" test "$ANSWER" = 200 -a "$(client_certs ss-sh-extra)" -gt "$before"

# --- the SH server's HTTPS client proxy: its certificate and the IS CAs, reread on SIGHUP ----
is_presented() { # the fingerprint of the certificate SH's HTTPS client proxy presents
  openssl s_client -connect "127.0.0.1:$FED_SH_CLIENT_TLS_PORT" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'
}
is_query() { # CERT KEY: a query over the HTTPS client proxy with that IS certificate; ANSWER
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' --cacert "$FED_PKI/ca-chain.pem" \
    -H "X-Road-Client: $CLIENT" --cert "$1" --key "$2" "https://localhost:$FED_SH_CLIENT_TLS_PORT$Q/is"
  ANSWER=$STATUS
  if [[ $BODY =~ \"type\":\"([^\"]*)\" ]]; then ANSWER+=" ${BASH_REMATCH[1]}"; fi
}
is_query "$OLD/auth.pem" "$OLD/auth.key"
expect "an IS certificate the first IS CAs issued is served" test "$ANSWER" = 200
expect "... by the first certificate of the HTTPS client proxy" \
  test "$(is_presented)" = "$(cat "$OLD/auth.sha256")"

put_tls "$T_DIR/is" "$FED_PKI/rogue/rogue-ca.pem" "$EXTRA"
tls_hup sh
expect "SIGHUP rereads the HTTPS client proxy's files" \
  grep -q "\[client-proxy\] tls CAs and certificate reread" <<<"$(last_step sh)"
expect "the HTTPS client proxy presents its new certificate" \
  test "$(is_presented)" = "$(cat "$EXTRA/auth.sha256")"
is_query "$OLD/auth.pem" "$OLD/auth.key"
expect "an IS certificate the IS CAs no longer name is refused" \
  test "$ANSWER" = "403 Client.ClientNotHosted"
is_query "$FED_PKI/rogue/server.pem" "$FED_PKI/rogue/server.key"
expect "one the new IS CAs issued is served" test "$ANSWER" = 200

cp "$OLD/auth-chain.pem" "$T_DIR/is/cert.pem"
allow_error "the \\[client-proxy\\] tls CAs and certificate in force stay"
tls_hup sh
expect "a key that is not the HTTPS client proxy's certificate's is not taken" \
  grep -q "in force stay: \[client-proxy\] tls certificate $T_DIR/is/cert.pem: the key is not" \
  <<<"$(last_step sh)"
expect "... the certificate in force stays" test "$(is_presented)" = "$(cat "$EXTRA/auth.sha256")"

# revocation of IS certificates: CRLs in tls_client_ca's file (a fresh one, from a copy of the
# CA's database, so that the shared test PKI stays as it is)
cp -r "$FED_PKI/ca" "$T_DIR/crlca"
sed "s|^dir = .*|dir = $T_DIR/crlca|" "$FED_PKI/ca/intermediate.cnf" >"$T_DIR/crlca/intermediate.cnf"
openssl ca -config "$T_DIR/crlca/intermediate.cnf" -gencrl -out "$T_DIR/crl.pem" 2>/dev/null
put_tls "$T_DIR/is" "$FED_PKI/ca-chain.pem" "$OLD"
cat "$T_DIR/crl.pem" >>"$T_DIR/is/ca.pem"
tls_hup sh
is_query "$FED_PKI/servers/ss-revoked/auth.pem" "$FED_PKI/servers/ss-revoked/auth.key"
expect "with the CA's CRL beside the IS CAs, a revoked IS certificate is refused" \
  test "$ANSWER" = "403 Client.ClientNotHosted"
expect "... and the operator log says why" log_has sh "IS certificate .*revoked"
is_query "$OLD/auth.pem" "$OLD/auth.key"
expect "... one that is not revoked is served" test "$ANSWER" = 200

# --- the SH server's signing key, rotated on SIGHUP ------------------------------------------
# the parent reads the files (the signer cannot, once its privileges are gone); the signer
# checks them as at start, and puts them in force once an OCSP response says the certificate
# is good; until then, and for files it does not take, the key in force signs
sign_hup() { # KEY CHAIN: those files in place, SIGHUP; waits for the signer's first line on them
  local n
  n=$(log_count sh "SIGHUP: (a new signing key|the signing key) of DE-NORD/GOV/MIKWS-SH")
  cp "$1" "$T_DIR/sign/sign.key"
  cp "$2" "$T_DIR/sign/sign-chain.pem"
  hup
  wait_until "the signer's verdict" 20 bash -c "[ \$(grep -Ec 'SIGHUP: (a new signing key|the signing key) of DE-NORD/GOV/MIKWS-SH' '$FED_DIR/sh.log') -gt $n ]" ||
    not_ok "the signer logged nothing of the SIGHUP"
}
signs() { # CN: an exchange, signed by that certificate
  xr GET $CLIENT "$Q/sign"
  [ "$STATUS" = 200 ] && [ "$(signed_by)" = "$1" ]
}
REVOKED=$FED_PKI/members/revoked-GOV-MIKWS-SH
NEXT_SIGN=$FED_PKI/members/next-GOV-MIKWS-SH
sign_hup "$REVOKED/sign.key" "$REVOKED/sign-chain.pem"
allow_error "signer: the new signing certificate of DE-NORD/GOV/MIKWS-SH is not taken"
expect "a revoked signing certificate is not put in force, and the log says why" \
  wait_until "the OCSP verdict" 20 log_has sh "new signing certificate of DE-NORD/GOV/MIKWS-SH is not taken, the key in force stays: OCSP: .*revoked"
expect "... the one in force signs" signs GOV-MIKWS-SH
allow_error "SIGHUP: the signing key of DE-NORD/GOV/MIKWS-SH in force stays"
sign_hup "$NEXT_SIGN/sign.key" "$SIGN/sign-chain.pem"
expect "a key that is not the certificate's is not taken" \
  grep -q "in force stays: $T_DIR/sign/sign.key does not hold the key of $T_DIR/sign/sign-chain.pem" \
  <<<"$(grep "SIGHUP: the signing key of" "$FED_DIR/sh.log" | tail -n 1)"
sign_hup "$FED_PKI/members/MUN-13004000/sign.key" "$FED_PKI/members/MUN-13004000/sign-chain.pem"
expect "another member's certificate is not taken" \
  grep -q "in force stays: $T_DIR/sign/sign-chain.pem names member DE-NORD/MUN/13004000, not DE-NORD/GOV/MIKWS-SH" \
  <<<"$(grep "SIGHUP: the signing key of" "$FED_DIR/sh.log" | tail -n 1)"
expect "... the one in force signs" signs GOV-MIKWS-SH
# the rotation under way while exchanges go on (two at a time: batches are signed too)
load() { # queries one after another until T_DIR/stop exists; their statuses in T_DIR/load.N
  while [ ! -e "$T_DIR/stop" ]; do
    curl -s -o /dev/null -w '%{http_code}\n' -H "X-Road-Client: $CLIENT" \
      "http://127.0.0.1:$FED_SH_CLIENT_PORT$Q/load" >>"$T_DIR/load.$1"
  done
}
rm -f "$T_DIR/stop" "$T_DIR"/load.*
load 1 &
load 2 &
sign_hup "$NEXT_SIGN/sign.key" "$NEXT_SIGN/sign-chain.pem"
expect "the next signing key is put in force once its OCSP response is good" \
  wait_until "the new signing key" 20 log_has sh "new signing certificate of DE-NORD/GOV/MIKWS-SH is in force"
served=$(cat "$T_DIR"/load.* | wc -l)
wait_until "queries under the new key" 20 bash -c "[ \$(cat '$T_DIR'/load.* | wc -l) -ge $((served + 4)) ]" ||
  not_ok "no query was answered under the new key"
touch "$T_DIR/stop"
wait
expect "exchanges under way through the rotation are all answered ($(cat "$T_DIR"/load.* | sort | uniq -c | tr -s ' \n' ' '))" \
  bash -c "[ \$(cat '$T_DIR'/load.* | wc -l) -gt 0 ] && ! grep -qv '^200\$' '$T_DIR'/load.*"
expect "... it signs, and MV accepts its signatures" signs GOV-MIKWS-SH-next
expect "... and SH's health is good" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FED_SH_HEALTH_PORT/")" = 200
finish
