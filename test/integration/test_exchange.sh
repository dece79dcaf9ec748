#!/usr/bin/env bash
# The exchange end to end: an SH consumer server, an MV provider server and
# register services on 127.0.0.1, with every refusal the protocol requires,
# each answered with the right status and X-Road error type, and nothing
# forwarded when refused.
. "$(dirname "$0")/lib.sh"
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
KIEL=DE-NORD/MUN/01002000/Buergeramt
SVC=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt
ECHO=$SVC/echo
# requests a backend logged (ss-testserver logs "METHOD PATH STATUS" per request)
hits() { log_count "$1" '^ss-testserver: [A-Z]+ '; }
# forwarded_none NAME BACKEND: checks nothing reached BACKEND since mark_backend
mark_backend() { MARK=$(hits "$1"); }
forwarded_none() { expect "$1" test "$(hits "$2")" = "$MARK"; }
# https_query CLIENT CERT KEY: a query over the HTTPS client proxy (CERT and KEY both empty:
# no certificate)
https_query() {
  local args=(-s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}'
    --cacert "$FED_PKI/ca-chain.pem" -H "X-Road-Client: $1" -H "X-Secsrv-Purpose: BMG-34")
  [ -n "$2" ] && args+=(--cert "$2" --key "$3")
  t_curl "${args[@]}" "https://localhost:$FED_SH_CLIENT_TLS_PORT$SVC/meldeauskunft/persons/P-1001"
}
# is_query CERT KEY: Kiel's IS, which must use HTTPS with its bound certificate
is_query() { https_query "$KIEL" "$@"; }
server_cert() { echo "$FED_PKI/servers/$1/auth-chain.pem $FED_PKI/servers/$1/auth.key"; }

# --- allowed queries -------------------------------------------------------
xr GET $CLIENT "$SVC/meldeauskunft/persons/P-1001" -H "X-Secsrv-Purpose: BMG-34"
expect "allowed query answers 200 with the person" \
  test "$STATUS" = 200 -a -n "$(printf '%s' "$BODY" | grep '"P-1001"')"
expect "response carries X-Road-Client and X-Road-Service" \
  test "$(header x-road-client)" = "$(echo $CLIENT | tr 'A-Z' 'a-z')" \
  -a "$(header x-road-service)" = "de-nord/mun/13004000/einwohnermeldeamt/meldeauskunft"
expect "response carries X-Road-Id, X-Road-Request-Id and a SHA-512 request hash" \
  test -n "$(header x-road-id)" -a -n "$(header x-road-request-id)" \
  -a "$(header x-road-request-hash | tr -d '\n' | wc -c)" = 88
expect "no X-Road-Error on success" test -z "$(header x-road-error)"

xr GET $CLIENT "$ECHO/a/b?q=1&q=2&x=%41" -H "X-Road-Id: my-message-42" \
  -H "X-Road-UserId: DE12345" -H "X-Road-Issue: AZ-7" -H "Connection: X-Hop" -H "X-Hop: secret" \
  -H "X-Custom: kept" -H "User-Agent: leaky/1.0" -H "X-Secsrv-Subject: P-1001" \
  -H "X-Secsrv-Purpose: BMG-34"
expect "X-Road-Id given by the IS comes back unchanged" test "$(header x-road-id)" = my-message-42
expect "path and query reach the backend unmodified" \
  grep -q '"path":"/base/a/b","query":"q=1&q=2&x=%41"' "$T_DIR/body"
expect "X-Road-UserId, X-Road-Issue, custom, purpose and subject headers pass" \
  bash -c "grep -qi '\"x-road-userid\":\"DE12345\"' $T_DIR/body && grep -qi '\"x-road-issue\":\"AZ-7\"' $T_DIR/body && grep -qi '\"x-custom\":\"kept\"' $T_DIR/body && grep -qi '\"x-secsrv-purpose\":\"BMG-34\"' $T_DIR/body && grep -qi '\"x-secsrv-subject\":\"P-1001\"' $T_DIR/body"
expect "hop-by-hop fields, those named in Connection and User-Agent are filtered" \
  bash -c "! grep -qi 'x-hop\|leaky' $T_DIR/body"
expect "the backend learns the client and the service" \
  bash -c "grep -qi '\"x-road-client\":\"$CLIENT\"' $T_DIR/body"

xr GET $CLIENT "$ECHO/x"
id1=$(header x-road-id)
expect "X-Road-Id is generated when absent (UUID)" \
  bash -c "echo '$id1' | grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'"

printf 'name=Erika&x=%%00' >"$T_DIR/post"
xr POST $CLIENT "$ECHO/upload" --data-binary "@$T_DIR/post" -H "Content-Type: text/plain"
sum=$(sha256sum "$T_DIR/post" | cut -d' ' -f1)
expect "a POST body arrives byte for byte" grep -q "\"body_sha256\":\"$sum\"" "$T_DIR/body"
# the outbound handles are kept between requests: nothing of one request's method or body
# may carry over to the next on the same handle
xr HEAD $CLIENT "$ECHO/head" -I
expect "a HEAD arrives as HEAD" test "$STATUS" = 200 -a "$(log_count echo '^ss-testserver: HEAD .*/head ')" = 1
xr HEAD $CLIENT "$ECHO/big?bytes=1234" -I
expect "an answer to HEAD says the length of the answer to GET, through both servers" \
  test "$STATUS" = 200 -a "$(header content-length)" = 1234
# a HEAD whose answer to GET would come chunked (no length known): none is made up, and the
# GETs after it are answered (no connection is left with bytes the HEAD did not read)
xr HEAD $CLIENT "$ECHO/trailers" -I
expect "an answer to HEAD of unknown length has no Content-Length and no Transfer-Encoding" \
  bash -c "[ '$STATUS' = 200 ] && [ -z '$(header content-length)' ] &&
    [ -z '$(header transfer-encoding)' ]"
for n in 1 2; do
  xr GET $CLIENT "$ECHO/trailers"
  expect "GET $n after it is answered" \
    bash -c "[ '$STATUS' = 200 ] && [ \"\$(cat '$T_DIR/body')\" = xxxxxxxxxx ]"
done
xr GET $CLIENT "$ECHO/status/304"
expect "a 304 keeps the service's Content-Length, not one of its empty body (RFC 9110 8.6)" \
  test "$STATUS" = 304 -a "$(header content-length)" = 15
xr DELETE $CLIENT "$ECHO/after-post"
expect "a DELETE after a POST and a HEAD arrives without the POST's body" \
  bash -c "grep -q '\"method\":\"DELETE\"' $T_DIR/body && grep -q '\"body_length\":0,' $T_DIR/body"
xr GET $CLIENT "$ECHO/after-delete"
expect "a GET after them is a GET again, without a body" \
  bash -c "grep -q '\"method\":\"GET\"' $T_DIR/body && grep -q '\"body_length\":0,' $T_DIR/body"
xr PUT $CLIENT "$ECHO/put" --data-binary "@$T_DIR/post" -H "Content-Type: text/plain"
expect "a PUT after them carries its own body" \
  bash -c "grep -q '\"method\":\"PUT\"' $T_DIR/body && grep -q '\"body_sha256\":\"$sum\"' $T_DIR/body"

xr GET $CLIENT "$ECHO/hop"
expect "a field the service's Connection field names does not reach the client; others do" \
  bash -c "[ '$STATUS' = 200 ] && [ -z '$(header x-hop)' ] && [ '$(header x-end)' = stays ]"

xr GET $CLIENT "$ECHO/trailers"
expect "a service's trailer fields are not merged into the answer's header section" \
  bash -c "[ '$STATUS' = 200 ] && [ \"\$(grep -ci '^content-type:' $T_DIR/headers)\" = 1 ] &&
    [ '$(header content-type)' = text/plain ] && [ -z '$(header x-trailer)' ] &&
    ! grep -qi '^set-cookie: trailer' $T_DIR/headers && [ \"\$(cat $T_DIR/body)\" = xxxxxxxxxx ]"

xr GET $CLIENT "$ECHO/redirect"
expect "redirects are passed back, not followed" \
  test "$STATUS" = 302 -a "$(header location)" = "http://127.0.0.1:1/elsewhere"

xr GET $CLIENT "$ECHO/status/404"
expect "a backend error status passes unchanged, without X-Road-Error" \
  test "$STATUS" = 404 -a -z "$(header x-road-error)"
xr GET $CLIENT "$ECHO/status/600"
expect_error "a backend status that is no final HTTP status (600)" 500 Server.ServerProxy.ServiceFailed

# --- malformed client requests ----------------------------------------------
mark_backend echo
xr GET "" "$ECHO/x"
expect_error "missing X-Road-Client" 400 Client.InvalidHeader
xr GET "DE-NORD/GOV/MIKWS-SH/Melde;auskunft" "$ECHO/x"
expect_error "malformed X-Road-Client (forbidden character)" 400 Client.InvalidIdentifier
xr GET "DE-NORD/GOV" "$ECHO/x"
expect_error "malformed X-Road-Client (too few parts)" 400 Client.InvalidIdentifier
xr GET "DE-NORD/GOV/MIKWS%2FSH/Meldeauskunft" "$ECHO/x"
expect_error "X-Road-Client with an encoded slash" 400 Client.InvalidIdentifier
xr GET $CLIENT "/r1/DE-NORD/MUN/13004000/Einwohner%2Fmeldeamt/echo/x"
expect_error "service identifier with an encoded slash" 400 Client.InvalidIdentifier
xr GET $CLIENT "/r1/DE-NORD/MUN/13004000/Einwohner*meldeamt/echo/x"
expect_error "service identifier with a forbidden character" 400 Client.InvalidIdentifier
xr GET $CLIENT "/r1/DE-NORD/MUN/13004000/$(printf 'A%.0s' $(seq 1 200))/echo"
expect_error "identifier part over the length limit" 400 Client.InvalidIdentifier
xr GET $CLIENT "/r1/DE-NORD/MUN/13004000"
expect_error "service identifier with parts missing" 400 Client.InvalidIdentifier
xr GET $CLIENT "/r2/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo"
expect_error "unknown protocol version" 400 Client.BadRequest
xr GET $CLIENT "$ECHO/x" -H "X-Secsrv-Purpose: BMG 34"
expect_error "malformed purpose header" 400 Client.InvalidHeader
forwarded_none "nothing was forwarded for malformed requests" echo

mark_backend echo
xr GET $CLIENT "$ECHO/x" -H "X-Secsrv-Purpose: evil" -H "X-Secsrv-Purpose: BMG-34"
expect_error "a purpose given twice" 400 Client.InvalidHeader
xr GET $CLIENT "$ECHO/x" -H "X-Secsrv-Subject: P-9999" -H "X-Secsrv-Subject: P-1001"
expect_error "a subject given twice" 400 Client.InvalidHeader
xr GET $CLIENT "$ECHO/x" -H "X-Secsrv-Purpose: BMG-34" -H "Connection: X-Secsrv-Purpose"
expect_error "a Connection field that would strip the checked purpose" 400 Client.InvalidHeader
xr GET $CLIENT "$ECHO/x" -H "X-Road-Id: a" -H "X-Road-Id: b"
expect_error "X-Road-Id given twice" 400 Client.InvalidHeader
xr GET "" "$ECHO/x" -H "X-Road-Client: DE-NORD/GOV/NO-SUCH/X" -H "X-Road-Client: $CLIENT"
expect_error "X-Road-Client given twice, the hosted client last" 400 Client.InvalidHeader
xr GET $CLIENT "$ECHO/x" -H "X-Road-Client: $CLIENT"
expect_error "X-Road-Client given twice with one value" 400 Client.InvalidHeader
# a twin in '_' that CGI-style backends read as the checked field (HTTP_X_ROAD_CLIENT)
xr GET $CLIENT "$ECHO/x" -H "X_Road_Client: DE-NORD/GOV/NO-SUCH/X"
expect_error "X_Road_Client beside X-Road-Client" 400 Client.InvalidHeader
xr GET $CLIENT "$ECHO/x" -H "x-secsrv_purpose: BMG-99"
expect_error "a purpose spelled with '_'" 400 Client.InvalidHeader
xr POST $CLIENT "$ECHO/x" -H "Content_Length: 5" --data-binary "hello"
expect_error "a Content_Length beside the Content-Length (HTTP_CONTENT_LENGTH to CGI)" \
  400 Client.InvalidHeader
xr GET $CLIENT "$ECHO/x" -H "X-Road-Represented-Party: COM/12345/extra"
expect_error "a represented party of more than [CLASS/]CODE (PR-REST 4.3)" 400 Client.InvalidHeader
forwarded_none "nothing was forwarded for ambiguous fields" echo
xr GET $CLIENT "$ECHO/x" -H "X-Road-Represented-Party: COM/12345"
expect "a represented party CLASS/CODE reaches the service as sent" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '\"X-Road-Represented-Party\":\"COM/12345\"' '$T_DIR/body'"

# --- who may ask, what exists ------------------------------------------------
mark_backend echo
xr GET DE-NORD/MUN/13004000/Einwohnermeldeamt "$ECHO/x"
expect_error "client not hosted by this server" 403 Client.ClientNotHosted
xr GET DE-NORD/GOV/NO-SUCH/Meldeauskunft "$ECHO/x"
expect_error "client not in the registry" 400 Client.UnknownClient
xr GET $CLIENT "/r1/DE-NORD/MUN/99999999/Einwohnermeldeamt/echo/x"
expect_error "unknown provider" 400 Client.UnknownService
xr GET $CLIENT "/r1/DE-NORD/MUN/01003000/Buergeramt/echo/x"
expect_error "provider hosted by no server" 400 Client.UnknownService
xr GET $CLIENT "$SVC/no-such-service/x"
expect_error "service unknown at the provider" 500 Server.ServerProxy.UnknownService
forwarded_none "nothing reached the backend for the refusals above" echo

# --- access policy ------------------------------------------------------------
mark_backend register
# shellcheck disable=SC2046
is_query $(server_cert ss-sh-extra)
expect_error "client the policy does not allow" 403 Server.ServerProxy.AccessDenied
xr GET $CLIENT "$SVC/meldeauskunft/persons/P-1001"
expect_error "purpose missing" 403 Server.ServerProxy.PurposeMissing
xr GET $CLIENT "$SVC/meldeauskunft/persons/P-1001" -H "X-Secsrv-Purpose: AO-93"
expect_error "purpose not allowed" 403 Server.ServerProxy.PurposeDenied
xr DELETE $CLIENT "$SVC/meldeauskunft/persons/P-1001" -H "X-Secsrv-Purpose: BMG-34"
expect_error "method not allowed by the policy" 403 Server.ServerProxy.AccessDenied
expect "a method denial says only that" grep -q '"message":"the method or path is not allowed"' "$T_DIR/body"
xr GET $CLIENT "$SVC/meldeauskunft/persons/P-1001/photo" -H "X-Secsrv-Purpose: BMG-34"
expect_error "path not covered by the policy" 403 Server.ServerProxy.AccessDenied
forwarded_none "nothing reached the register for the denials" register
xr GET $CLIENT "$SVC/meldeauskunft/persons/P-1001" -H "X-Secsrv-Purpose: AO-93"
detail=$(printf '%s' "$BODY" | sed -n 's/.*"detail":"\([^"]*\)".*/\1/p')
expect "a purpose denial tells a fixed text, not the codes the rule allows" \
  bash -c "grep -q '\"message\":\"the purpose is not allowed\"' $T_DIR/body && ! grep -q 'BMG-34' $T_DIR/body"
expect "the operator log keeps the rule's reason under the detail id" \
  log_has mv "error $detail .*purpose AO-93 is not allowed.*BMG-34"

# --- path traversal -------------------------------------------------------------
mark_backend echo
for p in "/persons/../admin" "/persons/%2e%2e/admin" "/persons%2Fadmin" "/persons/..%2fadmin" \
  "/a/./b" "/a//b" "/a%5cb"; do
  xr GET $CLIENT "$ECHO$p"
  expect_error "path traversal $p" 400 Client.BadRequest
done
forwarded_none "nothing reached the backend for traversal attempts" echo
expect "the consumer's server refused them before forwarding" \
  bash -c "! grep -q 'request path has' $FED_DIR/mv.log"

# --- limits --------------------------------------------------------------------
hdrs=()
for i in $(seq 1 40); do hdrs+=(-H "X-Many-$i: v"); done
xr GET $CLIENT "$ECHO/x" "${hdrs[@]}"
expect_error "more header fields than allowed" 400 Client.LimitExceeded
xr GET $CLIENT "$ECHO/x" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)"
expect_error "header fields larger than allowed" 400 Client.LimitExceeded
# the provider's server proxy takes what the consumer's server adds (X-Road and evidence fields)
# beyond the same limits: fields just within them reach the register
xr GET $CLIENT "$ECHO/x" -H "X-Big: $(head -c 16200 /dev/zero | tr '\0' a)" -H "User-Agent:" -H "Accept:"
expect "header fields just within the consumer's limit pass the provider" test "$STATUS" = 200
expect "and reach the register whole" bash -c "grep -qi '\"x-big\":\"a\{16200\}\"' $T_DIR/body"
head -c 70000 /dev/zero >"$T_DIR/big"
# curl sends a body of this size without waiting for "100 Continue": it is read to the end
# and dropped, so that the answer is not lost in a reset connection
for i in 1 2 3 4 5; do
  xr POST $CLIENT "$ECHO/x" --data-binary "@$T_DIR/big"
  [ "$STATUS" = 400 ] || break
done
expect_error "body larger than allowed (five times)" 400 Client.LimitExceeded
xr POST $CLIENT "$ECHO/x" --data-binary "@$T_DIR/big" -H "Expect: 100-continue"
expect_error "body larger than allowed, announced with Expect: 100-continue" 400 Client.LimitExceeded
xr GET $CLIENT "$ECHO/$(head -c 5000 /dev/zero | tr '\0' a)"
expect_error "URL longer than allowed" 400 Client.LimitExceeded
args=$(printf 'a%d=1&' $(seq 1 64))
xr GET $CLIENT "$ECHO/x?${args%&}"
expect "64 query arguments pass" test "$STATUS" = 200
xr GET $CLIENT "$ECHO/x?${args}b=2"
expect_error "more query arguments than allowed" 400 Client.LimitExceeded
# more arguments than the HTTP layer's memory holds: still answered, never cut off
args=$(printf 'a&%.0s' $(seq 1 1500))
xr GET $CLIENT "$ECHO/x?${args%&}"
expect_error "1,500 query arguments in a URL within the limit" 400 Client.LimitExceeded
args=$(printf 'a%d=1&' $(seq 1 1000))
xr GET $CLIENT "$ECHO/x?${args%&}"
expect_error "1,000 query arguments in a URL over the limit" 400 Client.LimitExceeded
args=$(printf 'a%d=1&' $(seq 1 64))
xr GET $CLIENT "$ECHO/x?${args}"
expect "64 query arguments and a trailing '&' (which starts none) pass" test "$STATUS" = 200
# the provider's limit is 128 KiB, the consumer's 64 KiB
xr GET $CLIENT "$ECHO/big?bytes=200000"
expect_error "a backend answer over the provider's limit" 500 Server.ServerProxy.ServiceFailed
xr GET $CLIENT "$ECHO/big?bytes=100000"
expect_error "a provider answer over the consumer's limit" 500 Server.ClientProxy.ServiceFailed
xr GET $CLIENT "$ECHO/big?bytes=60000"
expect "an answer within both limits passes" test "$STATUS" = 200 -a "${#BODY}" = 60000
# an answer's header fields: within max_answer_header_bytes (8 KiB) they pass; beyond, a clear
# error, never a connection closed without an answer (or a request sent twice)
xr GET $CLIENT "$ECHO/fields?bytes=7900"
expect "answer header fields within the limit pass" test "$STATUS" = 200
expect "and reach the client" grep -qi '^x-pad-8: p' "$T_DIR/headers"
for bytes in 9000 45000; do
  xr GET $CLIENT "$ECHO/fields?bytes=$bytes"
  expect_error "answer header fields of $bytes bytes" 500 Server.ServerProxy.ServiceFailed
done
expect "the provider's log says why" log_has mv "header fields larger than 8192 bytes"

# --- backend failures -------------------------------------------------------------
xr GET $CLIENT "$SVC/down/x"
expect_error "backend down" 500 Server.ServerProxy.NetworkError
start=$(date +%s)
xr GET $CLIENT "$ECHO/slow?ms=5000"
expect_error "backend timeout" 500 Server.ServerProxy.ServiceTimeout
expect "the backend timeout cut the wait short" test $(($(date +%s) - start)) -lt 5
# the backend logs the slow request when it answers it, seconds later: waited for here, so that
# the line does not count as a request forwarded later
wait_until "the backend's answer to the slow request" 15 log_has echo "^ss-testserver: GET [^ ]*/slow"

# a service that closes a kept-alive connection without an answer: libcurl would send the
# request again on a new connection; a GET may go twice (RFC 9110 9.2.2), a POST never
drops() { curl -s --max-time 5 "http://127.0.0.1:$FED_ECHO_PORT/x/drops" | tr -cd 0-9; }
xr GET $CLIENT "$ECHO/x" # the provider keeps its connection to the service
before=$(drops)
xr POST $CLIENT "$ECHO/drop" --data-binary "@$T_DIR/post" -H "Content-Type: text/plain"
expect_error "a POST the service drops" 500 Server.ServerProxy.ServiceFailed
expect "a POST reaches the service once, also over a kept-alive connection" \
  test "$(drops)" = $((before + 1))
expect "the provider's log says it was not sent twice" \
  log_has mv "closed the connection before it answered \(a request that may not be repeated"
xr GET $CLIENT "$ECHO/x"
before=$(drops)
xr GET $CLIENT "$ECHO/drop"
expect_error "a GET the service drops" 500 Server.ServerProxy.ServiceFailed
expect "a GET over a kept-alive connection goes once more, on a new one" \
  test "$(drops)" = $((before + 2))

xr GET $CLIENT "$SVC/down/persons/P-1001?name=Erika"
expect "a server-side error tells the client no internal address or path" \
  bash -c "! grep -q '127.0.0.1\|persons\|Erika' $T_DIR/body"
expect "nor does the operator log keep the path or query" \
  bash -c "! grep -q 'Erika\|persons/P-1001' $FED_DIR/mv.log $FED_DIR/sh.log"

xr GET $CLIENT "/r1/DE-NORD/MUN/13076000/Sozialamt/x/y"
expect_error "provider server whose certificate is revoked (OCSP)" \
  500 Server.ClientProxy.SslAuthenticationFailed
expect "the operator log says the certificate is revoked" \
  grep -q "(SS_ERR_CERT_REVOKED).*certificate is revoked" "$FED_DIR/sh.log"
expect "the revoked server never got past our check" \
  bash -c "! grep -q 'depth=0' $FED_DIR/revoked.log"

UNBOUND=/r1/DE-NORD/MUN/13075000/Sozialamt
xr GET $CLIENT "$UNBOUND/nohash"
expect_error "a provider answer not bound to the request (no X-Road-Request-Hash)" \
  500 Server.ClientProxy.ServiceFailed
expect "a registered peer does get our certificate (the signal above can fire)" \
  grep -q 'depth=0.*CN = ss-sh-kiel' "$FED_DIR/unbound.log"
expect "the unbound answer's content did not reach the client" bash -c "! grep -q leaked $T_DIR/body"
xr GET $CLIENT "$UNBOUND/wronghash"
expect_error "a provider answer bound to another request (hash differs)" \
  500 Server.ClientProxy.ServiceFailed
expect "the mis-bound answer's content did not reach the client" bash -c "! grep -q leaked $T_DIR/body"
expect "the operator log says the hash differs" log_has sh "X-Road-Request-Hash differs"
xr GET $CLIENT "$UNBOUND/error-not-xroad"
expect_error "an error status with X-Road-Error does not skip the binding" \
  500 Server.ClientProxy.ServiceFailed
expect "the unbound error's content did not reach the client" bash -c "! grep -q leaked $T_DIR/body"
xr GET $CLIENT "$UNBOUND/error-xroad"
expect_error "an unbound error in the X-Road form is passed on, answered anew" \
  500 Server.ServerProxy.SslAuthenticationFailed
expect "with the provider's detail id" grep -q '"detail":"0b6d7a3e-5b1a-4c47-9d51-2f0c8e2a9b11"' "$T_DIR/body"

# --- a request for one server (X-Road-Security-Server, PR-REST 4.3 and PR-TARGETSS) -------
SCHWERIN=DE-NORD/MUN/13004000/ss-mv-schwerin
xr GET $CLIENT "$ECHO/targeted" -H "X-Road-Security-Server: $SCHWERIN"
expect "a request for the provider's server is served" test "$STATUS" = 200
expect "... and the register service sees which server it was for" \
  grep -qi "\"x-road-security-server\":\"$SCHWERIN\"" "$T_DIR/body"
mark_backend echo
xr GET $CLIENT "$ECHO/targeted" -H "X-Road-Security-Server: DE-NORD/GOV/MIKWS-SH/ss-sh-kiel"
expect_error "a request for a server that does not host the provider" \
  500 Server.ClientProxy.InvalidSecurityServer
expect "... says so" grep -q "does not host the provider" "$T_DIR/body"
xr GET $CLIENT "$ECHO/targeted" -H "X-Road-Security-Server: DE-NORD/MUN/13004000/ss-nowhere"
expect_error "a request for a server the registry does not list" \
  500 Server.ClientProxy.InvalidSecurityServer
xr GET $CLIENT "$ECHO/targeted" -H "X-Road-Security-Server: DE-NORD/MUN/13004000"
expect_error "a security server identifier of three parts" 400 Client.InvalidIdentifier
xr GET $CLIENT "$ECHO/targeted" -H "X-Road-Security-Server: $SCHWERIN" \
  -H "X-Road-Security-Server: $SCHWERIN"
expect_error "X-Road-Security-Server twice" 400 Client.InvalidHeader
forwarded_none "none of these reached the register service" echo
# a request to the provider's server, not through the consumer's: with the certificate of
# servers/CERT-DIR or none
direct() { # cert-dir-or-empty [client [curl args...]]
  local args=(-s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -k
    -H "X-Road-Client: ${2:-$CLIENT}" -H "X-Road-Id: d1" -H "X-Road-Request-Id: d2" "${@:3}")
  if [ -n "$1" ]; then
    local cert=$FED_PKI/servers/$1/auth-chain.pem
    [ -f "$cert" ] || cert=$FED_PKI/servers/$1/auth.pem
    args+=(--cert "$cert" --key "$FED_PKI/servers/$1/auth.key")
  fi
  t_curl "${args[@]}" "https://127.0.0.1:$FED_MV_SERVER_PORT$ECHO/direct"
}
# a registered consumer server that sends the Schwerin server a request for another server
# (ss-mv-zweit): the provider's server refuses it (a registered certificate belongs to one
# server, so only a consumer that means to can bring it there)
n_mv=$(log_count mv "InvalidSecurityServer")
mark_backend echo
direct ss-sh-kiel "$CLIENT" -H "X-Road-Security-Server: DE-NORD/MUN/13004000/ss-mv-zweit"
expect_error "the provider's server refuses a request for another server" \
  500 Server.ServerProxy.InvalidSecurityServer
forwarded_none "... which did not reach the register service" echo
expect "... and its operator log names both" \
  bash -c "[ $(log_count mv 'InvalidSecurityServer.*ss-mv-zweit, not for this one \(DE-NORD/MUN/13004000/ss-mv-schwerin\)') -gt $n_mv ]"

# a client chain longer than the trust checks take (10) is refused, not cut short to a good one
n_mv=$(log_count mv "a chain of 1[0-9] certificates")
cp "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" "$T_DIR/long-chain.pem"
find "$FED_PKI" -name '*.pem' ! -path '*/ss-sh-kiel/*' -exec grep -l 'BEGIN CERTIFICATE' {} + |
  sort | head -n 12 | xargs cat >>"$T_DIR/long-chain.pem"
mark_backend echo
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -k -H "X-Road-Client: $CLIENT" \
  --cert "$T_DIR/long-chain.pem" --key "$FED_PKI/servers/ss-sh-kiel/auth.key" \
  "https://127.0.0.1:$FED_MV_SERVER_PORT$ECHO/direct"
expect_error "a client chain of more than 10 certificates is refused at the server proxy" \
  500 Server.ServerProxy.SslAuthenticationFailed
expect "... and its operator log names the chain's length" \
  test "$(log_count mv 'a chain of 1[0-9] certificates')" -gt "$n_mv"
forwarded_none "... and nothing reached the register service" echo

# --- an error answer in XML for a client that accepts XML (PR-REST 4.6) -------------------
xr GET $CLIENT "$ECHO/targeted" -H "X-Road-Security-Server: DE-NORD/MUN/13004000/ss-nowhere" \
  -H "Accept: application/xml"
expect "an error of the consumer's server comes in XML for Accept: application/xml" \
  bash -c "[ '$STATUS' = 500 ] && [ '$(header content-type)' = 'application/xml; charset=utf-8' ] &&
    [ '$(header x-road-error)' = 'server.clientproxy.invalidsecurityserver' ] &&
    grep -Eq '^<error><type>Server.ClientProxy.InvalidSecurityServer</type><message>[^<]+</message><detail>[0-9a-f-]{36}</detail></error>$' '$T_DIR/body'"
xr GET $CLIENT "$SVC/no-such-service/x" -H "Accept: text/*"
expect "an error of the provider's server too, for Accept: text/* as text/xml" \
  bash -c "[ '$STATUS' = 500 ] && [ '$(header content-type)' = 'text/xml; charset=utf-8' ] &&
    grep -q '<type>Server.ServerProxy.UnknownService</type>' '$T_DIR/body'"
expect "... with the X-Road fields the JSON form carries (X-Road-Id, X-Road-Request-Hash)" \
  test -n "$(header x-road-id)" -a "$(header x-road-request-hash | tr -d '\n' | wc -c)" = 88
xr GET $CLIENT "$ECHO/targeted" -H "X-Road-Security-Server: DE-NORD/MUN/13004000/ss-nowhere" \
  -H "Accept: application/xml;q=0, application/json"
expect "JSON when XML is not acceptable (q=0)" \
  test "$(header content-type)" = "application/json; charset=utf-8"
xr GET $CLIENT "$ECHO/targeted" -H "X-Road-Security-Server: DE-NORD/MUN/13004000/ss-nowhere" \
  -H "Accept: application/xml;q=0.5, application/json"
expect "JSON when the client weighs it above XML (RFC 9110 12.5.1)" \
  test "$(header content-type)" = "application/json; charset=utf-8"

# --- peer servers -------------------------------------------------------------------
xr GET $CLIENT "/r1/DE-NORD/MUN/13003000/Einwohnermeldeamt/meldeauskunft/persons/P-1001"
expect_error "provider server with a valid certificate registered for another server" \
  500 Server.ClientProxy.SslAuthenticationFailed
# our server sends its certificate only after accepting the peer's, and a
# request only after that: s_server logs a client certificate as depth=0
expect "the impostor never got past our check (no client certificate seen)" \
  bash -c "! grep -q 'depth=0' $FED_DIR/impostor.log"
xr GET $CLIENT "/r1/DE-NORD/MUN/13071000/Sozialamt/x/y"
expect_error "provider server with a certificate from outside the federation" \
  500 Server.ClientProxy.SslAuthenticationFailed
xr GET $CLIENT "/r1/DE-NORD/MUN/13072000/Kfz-Zulassung/x/y"
expect_error "provider server with an expired certificate" \
  500 Server.ClientProxy.SslAuthenticationFailed

# register services over https:// (PR-REST 4.7): the provider's server verifies the service's
# certificate against [service-tls] ca and the URL's host, and shows its own when asked
xr GET $CLIENT "$SVC/svctls/persons/P-1001"
expect "a service over https:// that asks for a client certificate answers" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '\"over\":\"https\"' '$T_DIR/body'"
expect "... and saw the provider's server's certificate" \
  grep -q "depth=0 .*CN = ss-mv-schwerin" "$FED_DIR/svctls.log"
xr GET $CLIENT "$SVC/svcrogue/persons/P-1001"
expect_error "a service whose certificate is from a CA not named for services" \
  500 Server.ServerProxy.SslAuthenticationFailed
expect "... is named as such in the answer" \
  grep -q "TLS authentication between the security server and the register service failed" \
  "$T_DIR/body"
expect "... and in the provider's log" log_has mv "svcrogue.*peer certificate [0-9a-f]{64} rejected"
xr GET $CLIENT "$SVC/svchost/persons/P-1001"
expect_error "a service whose certificate does not name the URL's host" \
  500 Server.ServerProxy.SslAuthenticationFailed
expect "... says which name" log_has mv "svchost.*is not issued to 127\.0\.0\.2"
expect "neither of them saw a client certificate (nothing was sent to them)" \
  bash -c "! grep -q 'depth=0' '$FED_DIR/svcrogue.log' && ! grep -q 'depth=0' '$FED_DIR/svchost.log'"

# the provider side: another server's valid certificate, no certificate, the right one
mark_backend echo
direct ss-sh-extra
expect_error "consumer server certificate not the one registered for the client's server" \
  500 Server.ServerProxy.SslAuthenticationFailed
direct "" "" --tls-max 1.2
expect "a peer without a certificate fails the TLS 1.2 handshake (curl: SSL connect error)" \
  test "$STATUS" = 000 -a "$CURL_RC" = 35
# in TLS 1.3 the client's handshake ends before the server judges its certificate: the
# server then closes without a byte of answer
# (curl: 52 empty reply, 55/56 the connection closed under it, 35 a TLS alert; not 7, refused)
direct ""
expect "a peer without a certificate gets no answer over TLS 1.3 (curl exit $CURL_RC)" \
  bash -c "[ '$STATUS' = 000 ] && case '$CURL_RC' in 35 | 52 | 55 | 56) true ;; *) false ;; esac"
direct ss-revoked DE-NORD/MUN/13076000/Sozialamt
expect_error "consumer server with a revoked certificate" 500 Server.ServerProxy.SslAuthenticationFailed
expect "the provider's log says revoked" log_has mv "\(SS_ERR_CERT_REVOKED\).*certificate is revoked"
# the revoked certificate is pinned for ss-mv-lup only: for another client the pin fails
# first, and no OCSP responder is asked on that peer's behalf
n_revoked=$(log_count mv "SS_ERR_CERT_REVOKED")
direct ss-revoked
expect_error "a revoked certificate asking for a client of another server" \
  500 Server.ServerProxy.SslAuthenticationFailed
expect "is refused on the pin, before any status check" \
  bash -c "[ $(log_count mv SS_ERR_CERT_REVOKED) = $n_revoked ] && grep -q 'SS_ERR_PEER_NOT_REGISTERED' $FED_DIR/mv.log"
direct ss-revoked DE-NORD/MUN/13076000/Sozialamt
expect_error "the revocation is remembered" 500 Server.ServerProxy.SslAuthenticationFailed
expect "and the responder is not asked again at once" log_has mv "certificate is revoked \(OCSP\) \(cached\)"
direct ss-expired
expect_error "consumer server with an expired certificate" 500 Server.ServerProxy.SslAuthenticationFailed
forwarded_none "nothing reached the backend from unregistered peers" echo
# the peer is judged before its body is read: an oversized body from an
# unregistered peer meets the trust refusal, not the size limit
head -c 12000000 /dev/zero >"$T_DIR/huge"
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -k -X POST \
  --data-binary "@$T_DIR/huge" --cert "$FED_PKI/servers/ss-expired/auth.pem" \
  --key "$FED_PKI/servers/ss-expired/auth.key" -H "X-Road-Client: $CLIENT" \
  "https://127.0.0.1:$FED_MV_SERVER_PORT$ECHO/direct"
rm -f "$T_DIR/huge"
expect_error "an unregistered peer is refused before its body is read" \
  500 Server.ServerProxy.SslAuthenticationFailed
mark_backend echo
direct ss-sh-kiel
expect_error "the registered consumer server, but its request unsigned" \
  500 Server.ServerProxy.MissingSignature
forwarded_none "an unsigned request is not forwarded" echo
expect "the refusal is in the provider's operator log" \
  log_has mv "error .*MissingSignature.*request-id=d2"

# --- strict HTTP at the door, on both proxies --------------------------------------------
# raw PORT FILE [openssl s_client args...]: sends FILE's bytes as they are and reads the
# answer until the server closes the connection (CLOSED=no when it had to be cut after 10 s)
raw() {
  local port=$1 file=$2
  shift 2
  local rc=0
  if [ $# -gt 0 ]; then
    timeout 10 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$port" "$@" \
      <"$file" >"$T_DIR/raw" 2>/dev/null || rc=$?
  else
    # shellcheck disable=SC2016
    timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && cat "$2" >&3 && cat <&3' _ "$port" \
      "$file" >"$T_DIR/raw" || rc=$?
  fi
  CLOSED=yes
  [ "$rc" = 124 ] && CLOSED=no
  STATUS=$(head -n 1 "$T_DIR/raw" | cut -d ' ' -f 2)
  HEADERS=$(sed '/^\r$/q' "$T_DIR/raw" | tr -d '\r' | tr 'A-Z' 'a-z')
  BODY=$(sed '1,/^\r$/d' "$T_DIR/raw")
  CURL_RC=0
}
door_cases=(
  "a blank before a field name's colon|X-Road-Client : DE-NORD/GOV/X/Y\r\n"
  "a bare CR in a field value|X-Custom: a\rb\r\n"
  "a control character in a field value|X-Custom: a\001b\r\n"
  "Content-Length with Transfer-Encoding|Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"
  "Content-Length fields that differ|Content-Length: 0\r\nContent-Length: 5\r\n"
  "a transfer coding other than chunked|Transfer-Encoding: gzip, chunked\r\n"
  "a Transfer-Encoding with a blank after chunked|Transfer-Encoding: chunked \r\n"
  "a Transfer-Encoding with a tab after chunked|Transfer-Encoding: chunked\t\r\n"
  "two Host fields|Host: other\r\n"
  "a field line continued on the next line (obs-fold)|X-Custom: a\r\n b\r\n"
  "a NUL in a field value|X-Custom: a\000b\r\n"
  "a field line ended by a bare LF|X-Custom: a\nX-Other: b\r\n"
  "a line without a field name|: v\r\nX-Other: b\r\n"
)
door_methods=("CONNECT|method CONNECT" "TRACE|method TRACE" "G(T|a method that is not a token")
# tokens, but no method a service is called with (methods are case-sensitive): 501
door_unknown=(get delete PROPFIND)
door_requests() { # CLIENT-FIELD-LINE: writes each refused request to $T_DIR/door-N
  local i=0 c
  for c in "${door_cases[@]}"; do
    printf "POST $ECHO/door HTTP/1.1\r\nHost: h\r\n$1${c#*|}\r\n0\r\n\r\n" >"$T_DIR/door-$i"
    i=$((i + 1))
  done
  for c in "${door_methods[@]}"; do
    printf "${c%%|*} $ECHO/door HTTP/1.1\r\nHost: h\r\n$1\r\n" >"$T_DIR/door-$i"
    i=$((i + 1))
  done
  printf "GET $ECHO/do\001or HTTP/1.1\r\nHost: h\r\n$1\r\n" >"$T_DIR/door-$i"
  printf "POST $ECHO/door HTTP/1.0\r\nHost: h\r\n$1Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" \
    >"$T_DIR/door-$((i + 1))"
  printf "GET $ECHO/door HTTP/1.1\r\nHost: h\r\n$1\n" >"$T_DIR/door-$((i + 2))"
  printf "GET $ECHO/do or HTTP/1.1\r\nHost: h\r\n$1\r\n" >"$T_DIR/door-$((i + 3))"
  printf "GET $ECHO/door HTTP/1.1\r\n$1\r\n" >"$T_DIR/door-$((i + 4))"
  printf "GET $ECHO/do\000or?a=1 HTTP/1.1\r\nHost: h\r\n$1\r\n" >"$T_DIR/door-$((i + 5))"
  printf "GET  $ECHO/door HTTP/1.1\r\nHost: h\r\n$1\r\n" >"$T_DIR/door-$((i + 6))"
  printf "GET ftp://h$ECHO/door HTTP/1.1\r\nHost: h\r\n$1\r\n" >"$T_DIR/door-$((i + 7))"
  printf "GET http://u:p@h$ECHO/door HTTP/1.1\r\nHost: h\r\n$1\r\n" >"$T_DIR/door-$((i + 8))"
  printf "GET http://$ECHO/door HTTP/1.1\r\nHost: h\r\n$1\r\n" >"$T_DIR/door-$((i + 9))"
  printf "GET $ECHO/door HTTP/1.1\r\nHost: u@h\r\n$1\r\n" >"$T_DIR/door-$((i + 10))"
  printf "GET $ECHO/door HTTP/1.1\r\nHost: h:99x\r\n$1\r\n" >"$T_DIR/door-$((i + 11))"
  # the trailer section of a chunked body, held to the header section's rules
  local chunked="POST $ECHO/door HTTP/1.1\r\nHost: h\r\n$1Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
  printf "${chunked}X Bad: a\r\n\r\n" >"$T_DIR/door-$((i + 12))"
  printf "${chunked}X-T: a\001b\r\n\r\n" >"$T_DIR/door-$((i + 13))"
  printf "${chunked}X-T: a\r\n b\r\n\r\n" >"$T_DIR/door-$((i + 14))"
  printf "${chunked}X-T: a\nX-U: b\r\n\r\n" >"$T_DIR/door-$((i + 15))"
  # ... its last line too, and the empty line after it: else a request behind it goes through
  local smuggled="GET $ECHO/smuggled HTTP/1.1\r\nHost: h\r\n$1\r\n"
  printf "${chunked}X-T: a\n\n$smuggled" >"$T_DIR/door-$((i + 16))"
  printf "${chunked}X-T: a\n\r\n$smuggled" >"$T_DIR/door-$((i + 17))"
  for c in "${door_unknown[@]}"; do
    printf "$c $ECHO/door HTTP/1.1\r\nHost: h\r\n$1Content-Length: 0\r\n\r\n" >"$T_DIR/door-$c"
  done
}
door_names() {
  local c
  for c in "${door_cases[@]}"; do echo "${c%%|*}"; done
  for c in "${door_methods[@]}"; do echo "${c#*|}"; done
  echo "a control character in the request target"
  echo "Transfer-Encoding in an HTTP/1.0 request"
  echo "a header section ended by a bare LF"
  echo "a blank in the request target"
  echo "an HTTP/1.1 request without Host"
  echo "a NUL in the request target"
  echo "two blanks between method and target"
  echo "an absolute-form target of a scheme other than http or https"
  echo "an absolute-form target with user information"
  echo "an absolute-form target without a host"
  echo "a Host with user information"
  echo "a Host whose port is not a number"
  echo "a trailer field name that is not a token"
  echo "a control character in a trailer field value"
  echo "an obs-fold continuation line in the trailer section"
  echo "a trailer line ended by a bare LF"
  echo "a trailer section of bare LFs, a request after it"
  echo "a last trailer line ended by a bare LF, a request after it"
}
door_refused() { # SIDE PORT FILE WHAT STATUS [s_client args...]: one request the door refuses
  local side=$1 port=$2 file=$3 what=$4 status=$5
  shift 5
  raw "$port" "$file" "$@"
  expect_error "$side: $what" "$status" Client.BadRequest
  expect "$side: ... and the connection closed" \
    test "$(header connection)" = close -a "$CLOSED" = yes
}
door_check() { # SIDE PORT [s_client args...]
  local side=$1 port=$2 i=0 name
  shift 2
  while read -r name; do
    door_refused "$side" "$port" "$T_DIR/door-$i" "$name is refused" 400 "$@"
    i=$((i + 1))
  done < <(door_names)
  for name in "${door_unknown[@]}"; do
    door_refused "$side" "$port" "$T_DIR/door-$name" "method $name is not implemented" 501 "$@"
    expect "$side: ... and the answer says so" \
      test "${BODY#*\"message\":\"method $name is not implemented}" != "$BODY"
  done
}
mark_backend echo
door_requests "X-Road-Client: $CLIENT\r\n"
printf "GET $ECHO/door HTTP/1.1\r\nHost: h\r\nX-Road-Client: $CLIENT\r\nConnection: close\r\n\r\n" \
  >"$T_DIR/door-good"
raw "$FED_SH_CLIENT_PORT" "$T_DIR/door-good"
expect "client proxy: a well-formed raw request passes (the probe itself works)" test "$STATUS" = 200
# blanks after a field value are not part of it (RFC 9110 5.5)
printf "GET $ECHO/door HTTP/1.1\r\nHost: h\r\nX-Road-Client: $CLIENT \t\r\nX-Custom: v  \r\nConnection: close\r\n\r\n" \
  >"$T_DIR/door-ows"
raw "$FED_SH_CLIENT_PORT" "$T_DIR/door-ows"
expect "blanks after field values are dropped, not refused or forwarded" \
  bash -c "[ '$STATUS' = 200 ] && printf '%s' '$BODY' | grep -q '\"X-Custom\":\"v\"' &&
    printf '%s' '$BODY' | grep -q '\"X-Road-Client\":\"$CLIENT\"'"
# the absolute-form, which a server must accept (RFC 9112 3.2.2): its path and query are
# the target, its host is not used
printf "GET hTTp://Other.example:8$ECHO/door?a=1 HTTP/1.1\r\nHost: h\r\nX-Road-Client: $CLIENT\r\nConnection: close\r\n\r\n" \
  >"$T_DIR/door-absolute"
raw "$FED_SH_CLIENT_PORT" "$T_DIR/door-absolute"
expect "client proxy: an absolute-form target is served as its path and query" \
  bash -c "[ '$STATUS' = 200 ] && printf '%s' '$BODY' | grep -q '\"path\":\"/base/door\",\"query\":\"a=1\"'"
raw "$FED_MV_SERVER_PORT" "$T_DIR/door-absolute" -cert "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" \
  -key "$FED_PKI/servers/ss-sh-kiel/auth.key"
expect_error "server proxy: an absolute-form target reaches the checks as its path (unsigned)" \
  400 Client.InvalidHeader
mark_backend echo
door_check "client proxy" "$FED_SH_CLIENT_PORT"
forwarded_none "nothing reached the backend from requests refused at the client proxy's door" echo
# what a URI holds only percent-encoded (RFC 3986) is not passed on to the register service
mark_backend echo
for t in '/a"b' '/<script>' '?q=a>b' '/{id}' '/a`b'; do
  printf "GET $ECHO/door$t HTTP/1.1\r\nHost: h\r\nX-Road-Client: $CLIENT\r\nConnection: close\r\n\r\n" \
    >"$T_DIR/door-unescaped"
  raw "$FED_SH_CLIENT_PORT" "$T_DIR/door-unescaped"
  expect_error "client proxy: a target ending in $t is refused" 400 Client.BadRequest
done
forwarded_none "... and none of them reached the backend" echo
printf "GET $ECHO/door/a|b^c?f={a}&g=%%60 HTTP/1.1\r\nHost: h\r\nX-Road-Client: $CLIENT\r\nConnection: close\r\n\r\n" \
  >"$T_DIR/door-sent"
raw "$FED_SH_CLIENT_PORT" "$T_DIR/door-sent"
expect "client proxy: '|', '^' in the path and '{', '}' in the query go on as URL clients send them" \
  bash -c "[ '$STATUS' = 200 ] && printf '%s' '$BODY' | grep -qF '\"path\":\"/base/door/a|b^c\",\"query\":\"f={a}&g=%60\"'"
# trailer fields are not taken, well-formed ones neither: libmicrohttpd says nothing of where
# it ended the section, so a request behind it could not be told apart; in one write, and with
# the section's last line and a request behind it in a later write
mark_backend echo
printf "POST $ECHO/door HTTP/1.1\r\nHost: h\r\nX-Road-Client: $CLIENT\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailing: c\r\nX-More: d\r\n\r\n" \
  >"$T_DIR/door-trailer"
raw "$FED_SH_CLIENT_PORT" "$T_DIR/door-trailer"
expect_error "client proxy: a chunked body with trailer fields is refused" 400 Client.BadRequest
# (the second part goes once the server has read the first: nothing waits in its socket)
# shellcheck disable=SC2016
timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "%b" "$2" >&3 &&
  . "$4" && wait_until "the first part read" 5 bash -c "ss -Htn state established \"( sport = :$1 )\" |
    awk \"{q += \\\$1} END {exit q != 0}\"" && printf "%b" "$3" >&3 && cat <&3' _ "$FED_SH_CLIENT_PORT" \
  "POST $ECHO/door HTTP/1.1\r\nHost: h\r\nX-Road-Client: $CLIENT\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n\0\0\0\0\0\0\0\0\r\n" \
  "0\r\nX-T: a\n\nGET $ECHO/smuggled HTTP/1.1\r\nHost: h\r\nX-Road-Client: $CLIENT\r\n\r\n" \
  "$SS_SOURCE_DIR/deploy/wait.sh" >"$T_DIR/raw" || true
expect "client proxy: ... so is one whose last lines, and a request behind them, come later" \
  bash -c "head -n 1 '$T_DIR/raw' | grep -q ' 400 ' && [ \$(grep -c ' 200 ' '$T_DIR/raw') = 0 ]"
forwarded_none "... and neither reached the backend" echo
chunked_plain="POST $ECHO/door HTTP/1.1\r\nHost: h\r\nX-Road-Client: $CLIENT\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
printf "$chunked_plain" >"$T_DIR/door-chunked"
raw "$FED_SH_CLIENT_PORT" "$T_DIR/door-chunked"
expect "client proxy: a chunked body without trailer fields is served" \
  bash -c "[ '$STATUS' = 200 ] && printf '%s' '$BODY' | grep -q '\"body_length\":3'"
mark_backend echo
door_check "server proxy" "$FED_MV_SERVER_PORT" -cert "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" \
  -key "$FED_PKI/servers/ss-sh-kiel/auth.key"
forwarded_none "nothing reached the backend from requests refused at the server proxy's door" echo

# --- an IS bound to its certificate -------------------------------------------------------
xr GET $KIEL "$SVC/meldeauskunft/persons/P-1001" -H "X-Secsrv-Purpose: BMG-34"
expect_error "a client bound to an IS certificate may not use plain HTTP" 403 Client.ClientNotHosted
# shellcheck disable=SC2046
is_query $(server_cert ss-sh-kiel)
expect_error "an IS certificate other than the bound one is refused" 403 Client.ClientNotHosted
is_query "" ""
expect_error "HTTPS without an IS certificate is refused for a bound client" 403 Client.ClientNotHosted
is_query "$FED_PKI/rogue/server.pem" "$FED_PKI/rogue/server.key"
expect_error "an IS certificate from a CA the configuration does not name is refused" \
  403 Client.ClientNotHosted
# shellcheck disable=SC2046
is_query $(server_cert ss-sh-extra)
expect_error "the bound IS certificate passes; the provider's policy decides" \
  403 Server.ServerProxy.AccessDenied
# a client not bound to a certificate: over HTTPS too, only with one that tls_client_ca issued
is_https() { https_query "$CLIENT" "$@"; }
mark_backend register
is_https "" ""
expect_error "HTTPS without an IS certificate is refused for an unbound client too" \
  403 Client.ClientNotHosted
is_https "$FED_PKI/rogue/server.pem" "$FED_PKI/rogue/server.key"
expect_error "an unbound client's certificate from a CA the configuration does not name" \
  403 Client.ClientNotHosted
forwarded_none "nothing reached the register from an IS without a certificate tls_client_ca issued" \
  register
# shellcheck disable=SC2046
is_https $(server_cert ss-sh-kiel)
expect "an unbound client with a certificate tls_client_ca issued is served" test "$STATUS" = 200

# --- slow client ------------------------------------------------------------------------
# A kept-alive connection to a service is used again only while it has been idle for less
# than 2 s (a service closing it at the end of its own keep-alive time cannot meet a request
# on it); the service sees each request's source port. The idle time is the wait below for
# the SH client proxy to cut a slow client off: more than its connection_timeout (2 s)
# after the client's last byte, with no request to the provider's services meanwhile.
xr GET $CLIENT "$ECHO/port"
port1=${BODY//[^0-9]/}
xr GET $CLIENT "$ECHO/port"
port2=${BODY//[^0-9]/}
expect "a connection to the service is used again at once" test -n "$port1" -a "$port1" = "$port2"
start=$(date +%s)
exec 5<>"/dev/tcp/127.0.0.1/$FED_SH_CLIENT_PORT"
printf 'GET /r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/x HTTP/1.1\r\nHost: x\r\n' >&5
closed=no
if timeout 10 cat <&5 >/dev/null; then closed=yes; fi
exec 5>&-
expect "a slow client is cut off after the connection timeout" \
  test "$closed" = yes -a $(($(date +%s) - start)) -lt 9
xr GET $CLIENT "$ECHO/after-slow/port"
expect "the server still answers after cutting a slow client" test "$STATUS" = 200
port3=${BODY//[^0-9]/}
expect "... on a new connection to the service: the old one was idle for 2 s" \
  test -n "$port3" -a "$port3" != "$port2"

finish
