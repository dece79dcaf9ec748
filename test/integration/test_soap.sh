#!/usr/bin/env bash
# SOAP (the X-Road message protocol 4.0) end to end: the protocol's example
# messages (test/integration/soap/, adapted to the demo registry) through the
# SH consumer server and the MV provider server to the sample vehicle
# register, every header of each answer checked; the attachment and MTOM
# forms; every refusal as a SOAP Fault in the X-Road form; hostile documents
# refused without a memory blow-up; the exchanges signed, logged and
# verifiable like REST ones.
. "$(dirname "$0")/lib.sh"
# the replay check below comes seconds after the first send, on a loaded machine too
export FED_CLOCK_SKEW=60
fed_start

MSG=$SS_SOURCE_DIR/test/integration/soap
SOAP_URL=http://127.0.0.1:$FED_SH_CLIENT_PORT/
HASH_ALG=http://www.w3.org/2001/04/xmlenc#sha512
n=0

# request ID PLATE [SED-SCRIPT]: the E.1 request with this id and plate, edited, in T_DIR/req.xml
request() {
  sed -e "s#@ID@#$1#" -e "s#@PLATE@#$2#" ${3:+-e "$3"} "$MSG/e1-request.xml" >"$T_DIR/req.xml"
}
# soap FILE [CONTENT-TYPE] [URL]: POSTs FILE as an information system does
soap() {
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X POST \
    -H "Content-Type: ${2:-text/xml; charset=utf-8}" -H 'SOAPAction: ""' \
    --data-binary "@$1" "${3:-$SOAP_URL}"
}
new_id() { n=$((n + 1)); ID=soap-test-$n-$$; }
no_xroad_fields() { ! printf '%s\n' "$HEADERS" | grep -q '^x-road-\|^x-secsrv-'; }
# field NAME: the text of the answer's X-Road header field NAME (one line)
field() { tr -d '\n' <"$T_DIR/body" | sed -n "s#.*<xrd:$1>\([^<]*\)</xrd:$1>.*#\1#p"; }
block() { tr -d '\n' <"$1" | sed -n "s#.*\(<xrd:$2 [^>]*>.*</xrd:$2>\).*#\1#p"; }
answer_hash() { tr -d '\n' <"$T_DIR/body" | sed -n 's#.*<requestHash [^>]*>\([^<]*\)</requestHash>.*#\1#p'; }
answer_alg() { tr -d '\n' <"$T_DIR/body" | sed -n 's#.*<requestHash [^>]*algorithmId="\([^"]*\)".*#\1#p'; }
sha512_b64() { openssl dgst -sha512 -binary "$1" | base64 -w0; }
soap_hits() { log_count soap '^ss-testserver: POST '; }

# expect_fault NAME CODE: the last answer is a SOAP Fault with this faultcode, HTTP 500,
# text/xml, a detail id that the operator log of a server names
expect_fault() {
  local code detail
  code=$(sed -n 's#.*<faultcode>\([^<]*\)</faultcode>.*#\1#p' "$T_DIR/body")
  detail=$(sed -n 's#.*<faultDetail>\([0-9a-f-]\{36\}\)</faultDetail>.*#\1#p' "$T_DIR/body")
  if [ "$STATUS" = 500 ] && [ "$code" = "$2" ] && [ -n "$detail" ] &&
    header content-type | grep -q '^text/xml' &&
    grep -q "error $detail " "$FED_DIR/sh.log" "$FED_DIR/mv.log"; then
    ok "$1: SOAP Fault $2"
  else
    not_ok "$1: expected a SOAP Fault $2 (HTTP 500, detail in the operator log), got $STATUS ${BODY:0:400}"
  fi
}

# --- the example request (Annex E.1) ---------------------------------------------------
new_id
id=$ID
request "$id" "SN-AB 123"
soap "$T_DIR/req.xml"
expect "E.1: a SOAP query answers 200 text/xml with the vehicle and its holder" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '<k:hersteller>Volkswagen</k:hersteller>' '$T_DIR/body' &&
    grep -q '<k:name>Karin Wendt</k:name>' '$T_DIR/body'"
expect "E.1: the answer's Content-Type is the service's" \
  test "$(header content-type)" = "text/xml; charset=utf-8"
expect "E.1: no other HTTP field of the service or the servers reaches the IS" no_xroad_fields
for f in client service; do
  expect "E.1: the answer's header field $f is the request's" \
    test "$(block "$T_DIR/body" $f)" = "$(block "$T_DIR/req.xml" $f)" -a -n "$(block "$T_DIR/req.xml" $f)"
done
expect "E.1: id, userId, issue and protocolVersion are the request's" \
  test "$(field id)|$(field userId)|$(field issue)|$(field protocolVersion)" = "$id|DE12345678901|12345|4.0"
expect "E.1: requestHash is SHA-512 of the request as sent, algorithmId names SHA-512" \
  test "$(answer_hash)" = "$(sha512_b64 "$T_DIR/req.xml")" -a "$(answer_alg)" = "$HASH_ALG"
expect "E.1: one requestHash in the answer" test "$(grep -o '<requestHash ' "$T_DIR/body" | wc -l)" = 1
cp "$T_DIR/req.xml" "$T_DIR/e1.xml"
E1_ID=$id
# the service in another version than its WSDL gives it (v1) is another service, not offered
new_id
hits=$(soap_hits)
request "$ID" "SN-AB 123" 's#<id:serviceVersion>v1</id:serviceVersion>#<id:serviceVersion>v2</id:serviceVersion>#'
soap "$T_DIR/req.xml"
expect "a service version other than its WSDL's is UnknownService, and not forwarded" \
  bash -c "[ '$STATUS' = 500 ] && grep -q '<faultcode>Server.ServerProxy.UnknownService</faultcode>' '$T_DIR/body' &&
    [ \$(grep -c '^ss-testserver: POST ' '$FED_DIR/soap.log') = $hits ]"
svc=DE-NORD/MUN/13004000/Kfz-Zulassung/halterauskunft/v1
expect "the E.1 exchange is in the consumer's log, request and signed answer" \
  test "$(records sh "query_id = '$E1_ID' AND service = '$svc' AND length(signature) > 0")" = 2
expect "the E.1 exchange is in the provider's log, request and signed answer" \
  test "$(records mv "query_id = '$E1_ID' AND service = '$svc' AND length(signature) > 0")" = 2
expect "the E.1 records carry the purpose and a subject hash" \
  test "$(records mv "query_id = '$E1_ID' AND purpose = 'StVG-35' AND subject_hash IS NOT NULL")" = 2

# the register service got the envelope byte for byte, and only Content-Type and SOAPAction
expect "the register service was asked once" test "$(soap_hits)" = 1
expect "the register service got the envelope byte for byte, with SOAPAction and no X-Road field" \
  log_has soap "soap request sha256 $(sha256sum "$T_DIR/e1.xml" | cut -d' ' -f1) soapaction=yes x-road-fields=no"
# the same id again within the replay window (FED_CLOCK_SKEW above, so that a loaded machine
# cannot push the second send out of it): a replay, refused before the register service
soap "$T_DIR/e1.xml"
expect_fault "the E.1 request sent a second time" Client.DuplicateRequest
expect "the replay did not reach the register service" test "$(soap_hits)" = 1

# userId and issue are optional strings; X-Road's own clients send an empty <issue/>
new_id
request "$ID" "SN-AB 123" 's#<xrd:userId>DE12345678901</xrd:userId>#<xrd:userId></xrd:userId>#;s#<xrd:issue>12345</xrd:issue>#<xrd:issue/>#'
soap "$T_DIR/req.xml"
expect "an empty userId and issue are answered 200 and echoed empty" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '<xrd:issue */>\|<xrd:issue></xrd:issue>' '$T_DIR/body' &&
    grep -q '<xrd:userId */>\|<xrd:userId></xrd:userId>' '$T_DIR/body'"

# and any string: X-Road's own test messages carry an issue over several lines
new_id
request "$ID" "SN-AB 123" 's#<xrd:issue>12345</xrd:issue>#<xrd:issue>w\naa\tww\n</xrd:issue>#'
soap "$T_DIR/req.xml"
expect "an issue with line breaks and a tab is served, and the answer holds it unchanged" \
  bash -c "[ '$STATUS' = 200 ] && perl -0ne 'exit !/<xrd:issue>w\naa\tww\n<\/xrd:issue>/' '$T_DIR/body'"

# a header field in X-Road's namespace that protocol 4.0 does not define passes as it is
new_id
request "$ID" "SN-AB 123" 's#</xrd:protocolVersion>#&<xrd:xml><![CDATA[<a>b \&amp; c</a>]]></xrd:xml>#'
soap "$T_DIR/req.xml"
expect "an X-Road header field protocol 4.0 does not define passes, CDATA and all" \
  bash -c "[ '$STATUS' = 200 ] && grep -q 'soap request sha256 $(sha256sum "$T_DIR/req.xml" | cut -d' ' -f1) ' '$FED_DIR/soap.log'"

# SOAP 1.1's own attributes, as RPC/encoded clients send them (X-Road's simple-rpc message)
new_id
request "$ID" "SN-AB 123" 's#^<SOAP-ENV:Envelope#& SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"#; s#<xrd:userId>#<xrd:userId SOAP-ENV:mustUnderstand="1" SOAP-ENV:actor="http://schemas.xmlsoap.org/soap/actor/next">#'
soap "$T_DIR/req.xml"
expect "encodingStyle, mustUnderstand and actor pass to the service as sent" \
  bash -c "[ '$STATUS' = 200 ] && grep -q 'soap request sha256 $(sha256sum "$T_DIR/req.xml" | cut -d' ' -f1) ' '$FED_DIR/soap.log'"
new_id
request "$ID" "SN-AB 123" 's#<xrd:userId>#<xrd:userId SOAP-ENV:mustUnderstand="yes">#'
soap "$T_DIR/req.xml"
expect_fault "mustUnderstand other than 0 or 1" Client.BadRequest
# the message id: 1 to 255 visible ASCII characters; one fault for every way to miss that
request "has space-$$" "SN-AB 123"
soap "$T_DIR/req.xml"
expect_fault "an id with a blank" Client.BadRequest
request "$(printf 'i%.0s' $(seq 256))" "SN-AB 123"
soap "$T_DIR/req.xml"
expect_fault "an id of 256 characters" Client.BadRequest

# --- a message for one server (securityServer, PR-TARGETSS) ------------------------------
# target SERVERCODE CLASS CODE: in T_DIR/req.xml, the E.1 request with a securityServer header
# field (after protocolVersion) naming that member's server SERVERCODE
target() {
  new_id
  request "$ID" "SN-AB 123" "s#</xrd:protocolVersion>#&<xrd:securityServer id:objectType=\"SERVER\"><id:xRoadInstance>DE-NORD</id:xRoadInstance><id:memberClass>$2</id:memberClass><id:memberCode>$3</id:memberCode><id:serverCode>$1</id:serverCode></xrd:securityServer>#"
}
target ss-mv-schwerin MUN 13004000
soap "$T_DIR/req.xml"
expect "a message for the provider's server is answered 200" test "$STATUS" = 200
expect "... and its answer echoes securityServer" \
  test "$(block "$T_DIR/body" securityServer)" = "$(block "$T_DIR/req.xml" securityServer)" \
  -a -n "$(block "$T_DIR/req.xml" securityServer)"
hits=$(soap_hits)
target ss-sh-kiel GOV MIKWS-SH
soap "$T_DIR/req.xml"
expect_fault "a message for a server that does not host the provider" \
  Server.ClientProxy.InvalidSecurityServer
target ss-mv-schwerin MUN 13004000
sed -i 's#objectType="SERVER"#objectType="MEMBER"#' "$T_DIR/req.xml"
soap "$T_DIR/req.xml"
expect_fault "securityServer with another objectType" Client.BadRequest
expect "neither reached the register service" test "$(soap_hits)" = "$hits"

# an unknown plate: the service's non-technical fault inside an ordinary answer
new_id
request "$ID" "XX-0 1"
soap "$T_DIR/req.xml"
expect "an unknown plate is the service's own answer (200, its fault element)" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '<k:faultCode>nicht_gefunden</k:faultCode>' '$T_DIR/body'"

# --- attachments (Annex F) and MTOM (Annex G) --------------------------------------------
crlf() { printf '%s\r\n' "$@"; }
attachment='VGhpcyBpcyBhdHRhY2htZW50Lg0K'
multipart() { # OUT SOAP-PART-TYPE
  {
    crlf "--MIME_boundary" "Content-Type: $2" "Content-Transfer-Encoding: 8bit" \
      "Content-ID: <rootpart>" ""
    cat "$T_DIR/req.xml"
    crlf "" "--MIME_boundary" "Content-Type: application/octet-stream; name=data.bin" \
      "Content-Transfer-Encoding: base64" "Content-ID: <data.bin>" \
      'Content-Disposition: attachment; name="data.bin"; filename="data.bin"' "" "$attachment"
    printf -- '--MIME_boundary--\r\n'
  } >"$1"
}
new_id
id=$ID
request "$id" "SN-KL 4711"
multipart "$T_DIR/swa.bin" "text/xml; charset=UTF-8"
soap "$T_DIR/swa.bin" 'multipart/related; type="text/xml"; start="<rootpart>"; boundary="MIME_boundary"'
expect "F: a request with an attachment is answered 200 as multipart/related" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '<k:name>Jörg Petersen</k:name>' '$T_DIR/body'"
expect "F: the answer's Content-Type is the service's multipart/related" \
  test "$(header content-type)" = 'multipart/related; type="text/xml"; start="<rootpart>"; boundary="mime_boundary"'
expect "F: no other HTTP field reaches the IS" no_xroad_fields
expect "F: the attachment comes back through both servers unchanged" \
  bash -c "grep -q '^$attachment' '$T_DIR/body' && grep -q 'filename=\"data.bin\"' '$T_DIR/body'"
expect "F: requestHash is SHA-512 of the SOAP part alone" \
  test "$(answer_hash)" = "$(sha512_b64 "$T_DIR/req.xml")"
expect "F: the attachment is in the provider's log, request and answer" \
  test "$(records mv "instr(message, CAST('$attachment' AS BLOB)) > 0")" = 2

new_id
request "$ID" "SN-E 2024"
multipart "$T_DIR/mtom.bin" 'application/xop+xml; charset=UTF-8; type="text/xml"'
soap "$T_DIR/mtom.bin" 'multipart/related; type="application/xop+xml"; start="<rootpart>"; start-info="text/xml"; boundary="MIME_boundary"'
expect "G: an MTOM request is answered 200 with its XOP part" \
  bash -c "[ '$STATUS' = 200 ] && grep -q 'application/xop+xml' '$T_DIR/body' &&
    grep -q '<k:typ>Zoe R135</k:typ>' '$T_DIR/body'"

# lines ended by a bare LF throughout, as X-Road's own test messages (attachm.query) have
# them: no type or start parameter, a nested multipart/mixed attachment with a field of its own
new_id
request "$ID" "SN-KL 4711"
{
  printf -- '--jetty771207119h3h10dty\nContent-Type: text/xml; charset="utf-8"\n\n'
  cat "$T_DIR/req.xml"
  printf -- '\n--jetty771207119h3h10dty\nContent-Type: multipart/mixed; charset=UTF-8; boundary=jetty1627004719h3h10du0\n\n'
  printf -- '--jetty1627004719h3h10du0\nContent-Type: text/plain\nClient-Header: FooBar\n\nblaah\n'
  printf -- '--jetty1627004719h3h10du0--\n\n--jetty771207119h3h10dty--\n'
} >"$T_DIR/lf.bin"
soap "$T_DIR/lf.bin" 'multipart/related; charset=UTF-8; boundary=jetty771207119h3h10dty'
expect "F: a request whose lines end with a bare LF is answered 200, the body reaching the service as sent" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '<k:name>Jörg Petersen</k:name>' '$T_DIR/body' &&
    grep -q 'soap request sha256 $(sha256sum "$T_DIR/lf.bin" | cut -d' ' -f1) ' '$FED_DIR/soap.log'"
expect "F: ... and its requestHash is SHA-512 of the SOAP part alone" \
  test "$(answer_hash)" = "$(sha512_b64 "$T_DIR/req.xml")"
# a folded part header field (as Axis2 writes Content-IDs) and a last delimiter without its "--"
new_id
request "$ID" "SN-KL 4711"
{
  printf -- '--jetty771207119h3h10dty\nContent-Type: text/xml; charset="utf-8"\nContent-ID:\n   <rootpart>\n\n'
  cat "$T_DIR/req.xml"
  printf -- '\n--jetty771207119h3h10dty'
} >"$T_DIR/folded.bin"
soap "$T_DIR/folded.bin" 'multipart/related; start="<rootpart>"; boundary=jetty771207119h3h10dty'
expect "F: a folded part header and a close delimiter without its -- are read as X-Road reads them" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '<k:name>Jörg Petersen</k:name>' '$T_DIR/body'"
# after its close delimiter, a part that parsers of CRLFs alone would read
{
  printf -- 'preamble\r\n--jetty771207119h3h10dty\r\nContent-Type: text/xml\r\n\r\n<x/>\r\n'
  cat "$T_DIR/lf.bin"
} >"$T_DIR/lf-mixed.bin"
hits=$(soap_hits)
soap "$T_DIR/lf-mixed.bin" 'multipart/related; charset=UTF-8; boundary=jetty771207119h3h10dty'
expect_fault "a body with delimiters after a bare LF and after CRLF" Client.BadRequest
expect "... did not reach the service" test "$(soap_hits)" = "$hits"

# --- refusals: every one a Fault, nothing reaches the service ----------------------------
before=$(soap_hits)
refused() { # NAME CODE SED-SCRIPT
  new_id
request "$ID" "SN-AB 123" "$3"
  soap "$T_DIR/req.xml"
  expect_fault "$1" "$2"
}
refused "protocolVersion 3.0" Client.BadRequest 's#>4.0<#>3.0<#'
refused "protocolVersion missing" Client.BadRequest '/protocolVersion/d'
refused "client missing" Client.BadRequest '/<xrd:client/,/<\/xrd:client>/d'
refused "service missing" Client.BadRequest '/<xrd:service/,/<\/xrd:service>/d'
refused "id missing" Client.BadRequest '/<xrd:id>/d'
refused "centralService instead of service" Client.BadRequest \
  's#<xrd:service id:objectType="SERVICE">#<xrd:centralService id:objectType="CENTRALSERVICE">#; s#</xrd:service>#</xrd:centralService>#'
refused "client of objectType SERVICE" Client.BadRequest \
  's#<xrd:client id:objectType="SUBSYSTEM">#<xrd:client id:objectType="SERVICE">#'
refused "a header field twice" Client.BadRequest 's#<xrd:issue>12345</xrd:issue>#&<xrd:issue>2</xrd:issue>#'
refused "body element not named as the service code" Client.BadRequest \
  's#ns1:halterauskunft>#ns1:meldeauskunft>#g'
refused "a second element in the Body" Client.BadRequest \
  's#</ns1:halterauskunft>#&<ns1:halterauskunft/>#'
refused "not well-formed" Client.BadRequest 's#</SOAP-ENV:Envelope>##'
refused "a purpose that is not a code (schema)" Client.BadRequest 's#StVG-35#StVG 35#'
refused "an attribute the envelope schema does not allow" Client.BadRequest \
  's#<SOAP-ENV:Header>#<SOAP-ENV:Header foo="bar">#'
refused "an unknown client" Client.UnknownClient 's#MIKWS-SH#MIKWS-XX#'
# read here as MIKWS-SH, by a service that takes the first text node as MIKWS
refused "a member code split by a comment" Client.BadRequest \
  's#<id:memberCode>MIKWS-SH</id:memberCode>#<id:memberCode>MIKWS<!---->-SH</id:memberCode>#'
refused "a member code split by a CDATA section" Client.BadRequest \
  's#<id:memberCode>MIKWS-SH</id:memberCode>#<id:memberCode>MIKWS<![CDATA[-SH]]></id:memberCode>#'
# the same answer as for REST (test_exchange): the identifier is wrong, not a limit reached
refused "a member code over max_identifier_bytes (128)" Client.InvalidIdentifier \
  "s#<id:memberCode>MIKWS-SH</id:memberCode>#<id:memberCode>$(printf 'M%.0s' $(seq 1 129))</id:memberCode>#"
refused "a client this server does not host" Client.ClientNotHosted \
  's#<id:memberCode>MIKWS-SH</id:memberCode>#<id:memberCode>13003000</id:memberCode>#; s#<id:memberClass>GOV</id:memberClass>#<id:memberClass>MUN</id:memberClass>#; s#Meldeauskunft#Einwohnermeldeamt#'
refused "an unknown service" Server.ServerProxy.UnknownService 's#>halterauskunft<#>halterabfrage<#; s#ns1:halterauskunft>#ns1:halterabfrage>#g'
refused "no purpose" Server.ServerProxy.PurposeMissing '/ss:purpose/d'
refused "a purpose the policy does not allow" Server.ServerProxy.PurposeDenied 's#StVG-35#BMG-34#'
new_id
request "$ID" "SN-AB 123"
printf 'kennzeichen=SN-AB+123' >"$T_DIR/form"
soap "$T_DIR/form" "application/x-www-form-urlencoded"
expect_fault "a POST that is not SOAP" Client.BadRequest
soap "$T_DIR/req.xml" "text/xml; charset=utf-16"
expect_fault "a charset that does not keep ASCII's bytes (UTF-16)" Client.BadRequest
soap "$T_DIR/req.xml" "text/xml; charset=iso-8859-1"
expect_fault "a charset parameter the XML declaration contradicts" Client.BadRequest
new_id
request "$ID" "SN-AB 123"
multipart "$T_DIR/mp.bin" "text/xml"
head -c -20 "$T_DIR/mp.bin" >"$T_DIR/mp-cut.bin"
soap "$T_DIR/mp-cut.bin" 'multipart/related; type="text/xml"; boundary="MIME_boundary"'
expect_fault "multipart without a close delimiter" Client.BadRequest
soap "$T_DIR/mp.bin" 'multipart/related; type="text/xml"; start="<data.bin>"; boundary="MIME_boundary"'
expect_fault "multipart whose root is not the first part" Client.BadRequest
soap "$T_DIR/mp.bin" 'multipart/related; type="text/xml"'
expect_fault "multipart without a boundary" Client.BadRequest
soap "$T_DIR/mp.bin" 'multipart/related; type="text/xml"; boundary="other"'
expect_fault "multipart with another boundary" Client.BadRequest
# a part only parsers that split lines at LF would see (a delimiter after a bare LF)
{
  printf 'preamble\n--MIME_boundary\r\nContent-Type: text/xml\r\n\r\n'
  sed -e "s#@ID@#hidden-$$#" -e "s#@PLATE@#SN-KL 4711#" "$MSG/e1-request.xml"
  printf '\r\n'
  cat "$T_DIR/mp.bin"
} >"$T_DIR/hidden.bin"
soap "$T_DIR/hidden.bin" 'multipart/related; type="text/xml"; boundary="MIME_boundary"'
expect_fault "multipart with delimiters after a bare LF and after CRLF" Client.BadRequest
soap "$T_DIR/mp.bin" 'multipart/related; type="text/xml"; boundary="MIME_boundary"; boundary="other"'
expect_fault "multipart with its boundary given twice" Client.BadRequest
# a SOAP service takes SOAP messages only: as REST, the envelope's checks would be skipped
new_id
request "$ID" "SN-AB 123" 's#<id:memberCode>MIKWS-SH</id:memberCode>#<id:memberCode>SPOOFED</id:memberCode>#'
xr POST DE-NORD/GOV/MIKWS-SH/Meldeauskunft /r1/DE-NORD/MUN/13004000/Kfz-Zulassung/halterauskunft \
  -H "X-Secsrv-Purpose: StVG-35" -H "Content-Type: text/xml" --data-binary "@$T_DIR/req.xml"
expect_error "a REST request to a SOAP service" 400 Client.BadRequest
new_id
request "$ID" "SN-AB 123" 's#Kfz-Zulassung#Einwohnermeldeamt#; s#>halterauskunft<#>meldeauskunft<#; s#ns1:halterauskunft>#ns1:meldeauskunft>#g; s#StVG-35#BMG-34#'
soap "$T_DIR/req.xml"
expect_fault "a SOAP message to a REST service" Client.BadRequest
expect "no refused request reached the register service" test "$(soap_hits)" = "$before"

# --- character sets and minor versions -------------------------------------------------
# a request in ISO 8859-1, as older systems send (PR-MESS 2.6): the service answers in it too,
# and the answer's bytes reach the IS as the service sent them, its requestHash put in
new_id
request "$ID" "SN-AB 123" \
  's#>DE12345678901<#>Jürgen Maaß<#; s#encoding="UTF-8"#encoding="ISO-8859-1"#'
iconv -f UTF-8 -t ISO-8859-1 "$T_DIR/req.xml" >"$T_DIR/req-latin1.xml"
soap "$T_DIR/req-latin1.xml" "text/xml; charset=ISO-8859-1"
expect "ISO 8859-1: the request is answered 200 in ISO 8859-1" \
  test "$STATUS|$(header content-type)" = "200|text/xml; charset=iso-8859-1"
expect "ISO 8859-1: the answer holds the service's bytes (the street, userId echoed)" \
  bash -c "iconv -f ISO-8859-1 -t UTF-8 '$T_DIR/body' >'$T_DIR/body-utf8' &&
    grep -q '<k:strasse>Mecklenburgstraße 12</k:strasse>' '$T_DIR/body-utf8' &&
    grep -q '<xrd:userId>Jürgen Maaß</xrd:userId>' '$T_DIR/body-utf8'"
expect "ISO 8859-1: requestHash is SHA-512 of the request's bytes as sent" \
  test "$(LC_ALL=C answer_hash)" = "$(sha512_b64 "$T_DIR/req-latin1.xml")"
# a minor version of protocol 4 (PR-MESS 2.2; PR-META's examples write 4.x)
new_id
request "$ID" "SN-AB 123" 's#>4.0<#>4.x<#'
soap "$T_DIR/req.xml"
expect "protocolVersion 4.x is answered, and echoed" \
  test "$STATUS|$(field protocolVersion)" = "200|4.x"

# --- what the register service does wrong --------------------------------------------------
new_id
request "$ID" "SN-NOECHO 1"
soap "$T_DIR/req.xml"
expect_fault "a service that does not echo the header" Server.ServerProxy.InconsistentResponse
new_id
request "$ID" "SN-NOXML 1"
soap "$T_DIR/req.xml"
expect_fault "a service that answers text/plain" Server.ServerProxy.ServiceFailed
new_id
request "$ID" "SN-FAULT 1"
soap "$T_DIR/req.xml"
expect "a Fault of the service's own passes as it is (500, its faultcode and faultstring)" \
  bash -c "[ '$STATUS' = 500 ] && grep -q '<faultcode>SOAP-ENV:Server</faultcode>' '$T_DIR/body' &&
    grep -q 'Fahrzeugregister vorübergehend nicht erreichbar' '$T_DIR/body'"

# --- between the servers: the envelope names who asks -------------------------------------
new_id
request "$ID" "SN-AB 123"
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X POST \
  --cacert "$FED_PKI/ca-chain.pem" --cert "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" \
  --key "$FED_PKI/servers/ss-sh-kiel/auth.key" -H "Content-Type: text/xml" \
  -H "X-Road-Client: DE-NORD/MUN/01002000/Buergeramt" -H "X-Road-Id: x" \
  --data-binary "@$T_DIR/req.xml" "https://localhost:$FED_MV_SERVER_PORT/"
expect_error "a peer whose X-Road-Client is not the envelope's client" 400 Client.InvalidHeader

# --- hostile documents ------------------------------------------------------------------
hwm() { # the MV network process's peak resident memory in kB
  local parent
  parent=$(awk '$2 == "mv" {p = $1} END {print p}' "$FED_DIR/pids")
  awk '/^VmHWM:/ {print $2}' "/proc/$(ps -o pid=,comm= --ppid "$parent" |
    awk '$2 == "secsrv-network" {print $1}')/status"
}
MV_URL=http://127.0.0.1:$FED_MV_CLIENT_PORT/
rss_before=$(hwm)
env_open='<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>'
{
  echo '<?xml version="1.0"?>'
  echo '<!DOCTYPE lolz [<!ENTITY lol "lol">'
  prev=lol
  for i in 1 2 3 4 5 6 7 8 9; do
    printf '<!ENTITY lol%s "' $i
    for _ in 1 2 3 4 5 6 7 8 9 10; do printf '&%s;' $prev; done
    echo '">'
    prev=lol$i
  done
  echo ']>'
  echo "$env_open<x>&lol9;</x></SOAP-ENV:Body></SOAP-ENV:Envelope>"
} >"$T_DIR/laughs.xml"
soap "$T_DIR/laughs.xml" text/xml "$MV_URL"
expect_fault "a billion-laughs document" Client.BadRequest
printf '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n%s<x>&e;</x></SOAP-ENV:Body></SOAP-ENV:Envelope>\n' \
  "$env_open" >"$T_DIR/xxe.xml"
soap "$T_DIR/xxe.xml" text/xml "$MV_URL"
expect_fault "an external-entity document" Client.BadRequest
expect "the external entity's content is in no answer" bash -c "! grep -q 'root:' '$T_DIR/body'"
{
  printf '%s' "$env_open"
  for _ in $(seq 10000); do printf '<a>'; done
} >"$T_DIR/deep.xml"
soap "$T_DIR/deep.xml" text/xml "$MV_URL"
expect_fault "a 10,000-deep document" Client.BadRequest
expect "the depth limit is named" grep -q 'deeper than 128' "$T_DIR/body"
{
  crlf "--b" "Content-Type: text/xml" ""
  cat "$T_DIR/e1.xml"
  for _ in $(seq 10000); do printf '\r\n--b\r\n\r\n'; done
  printf '\r\n--b--\r\n'
} >"$T_DIR/parts.bin"
soap "$T_DIR/parts.bin" 'multipart/related; type="text/xml"; boundary=b' "$MV_URL"
expect_fault "a multipart message of 10,000 parts" Client.LimitExceeded
rss_after=$(hwm)
echo "# MV network process peak RSS: $rss_before kB before the hostile documents, $rss_after kB after"
expect "no memory blow-up from the hostile documents (peak RSS grew less than 16 MiB)" \
  test $((rss_after - rss_before)) -lt 16384

# --- the evidence: signed, logged, timestamped and verifiable like REST -------------------
svc=DE-NORD/MUN/13004000/Kfz-Zulassung/halterauskunft/v1
expect "refusals of SOAP requests are logged with their X-Road error type" \
  test "$(records mv "error_type = 'Server.ServerProxy.PurposeDenied' AND service = '$svc'")" -ge 1
expect "both logs are timestamped to the end" wait_until "the timestamps" 30 stamped
for s in sh mv; do
  expect "secsrv-log verify accepts the $s log with its SOAP exchanges" \
    "$SS_BUILD_DIR/secsrv/secsrv-log" verify "$FED_DIR/$s/log/messagelog.db" \
    --anchor "$FED_PKI/registry-authority.pem"
done

finish
