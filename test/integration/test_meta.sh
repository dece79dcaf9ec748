#!/usr/bin/env bash
# The X-Road metaservices in their SOAP and REST forms: listClients from the
# registry (XML and JSON), listMethods and allowedMethods from the provider's
# service list and policies (answered for the calling client, signed and
# logged like any query), getWsdl with the endpoint hidden, getOpenAPI.
. "$(dirname "$0")/lib.sh"
fed_start

MSG=$SS_SOURCE_DIR/test/integration/soap
SH=http://127.0.0.1:$FED_SH_CLIENT_PORT
CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
KIEL=DE-NORD/MUN/01002000/Buergeramt
n=0

# meta_request CODE SUBSYSTEM BODY [CLIENT-SED]: a SOAP metaservice request to
# DE-NORD/MUN/13004000/SUBSYSTEM in T_DIR/req.xml
meta_request() {
  n=$((n + 1))
  sed -e "s#@ID@#meta-$n-$$#" -e "s#<id:serviceCode>halterauskunft</id:serviceCode>#<id:serviceCode>$1</id:serviceCode>#" \
    -e '/serviceVersion/d' -e '/ss:purpose\|ss:subject/d' -e "s#Kfz-Zulassung#$2#" \
    -e '/<ns1:halterauskunft>/,/<\/ns1:halterauskunft>/d' \
    -e "s#<SOAP-ENV:Body>#<SOAP-ENV:Body>$3#" ${4:+-e "$4"} "$MSG/e1-request.xml" >"$T_DIR/req.xml"
}
soap() {
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X POST \
    -H "Content-Type: text/xml; charset=utf-8" --data-binary "@$T_DIR/req.xml" "$SH/"
}
# kiel ARGS... URL-PATH: as Kiel's IS, which must use HTTPS with its bound certificate
KIEL_TLS=(--cacert "$FED_PKI/ca-chain.pem" --cert "$FED_PKI/servers/ss-sh-extra/auth-chain.pem"
  --key "$FED_PKI/servers/ss-sh-extra/auth.key")
kiel() {
  local path=${*: -1}
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' "${KIEL_TLS[@]}" \
    "${@:1:$#-1}" "https://localhost:$FED_SH_CLIENT_TLS_PORT$path"
}
services() { # the service codes an answer's list names, one line
  tr -d '\n' <"$T_DIR/body" | sed -n 's#.*MethodsResponse \(.*\)</xrd:[a-z]*MethodsResponse>.*#\1#p' |
    grep -o '<id:serviceCode>[^<]*</id:serviceCode>' | sed 's#<[^>]*>##g' | tr '\n' ' '
}
answer_hash() { tr -d '\n' <"$T_DIR/body" | sed -n 's#.*<requestHash [^>]*>\([^<]*\)</requestHash>.*#\1#p'; }
sha512_b64() { openssl dgst -sha512 -binary "$1" | base64 -w0; }
json_codes() { jq -r '[.service[].service_code] | join(" ")' "$T_DIR/body"; }
AS_KIEL='s#<id:memberClass>GOV</id:memberClass>#<id:memberClass>MUN</id:memberClass>#; s#<id:memberCode>MIKWS-SH</id:memberCode>#<id:memberCode>01002000</id:memberCode>#; s#<id:subsystemCode>Meldeauskunft</id:subsystemCode>#<id:subsystemCode>Buergeramt</id:subsystemCode>#'

# --- listClients ------------------------------------------------------------------------------
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' "$SH/listClients"
expect "listClients answers the clientList in XML" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '<xrd:clientList ' '$T_DIR/body'"
expect "listClients names a member with its name" \
  grep -q '<xrd:id id:objectType="MEMBER"><id:xRoadInstance>DE-NORD</id:xRoadInstance><id:memberClass>MUN</id:memberClass><id:memberCode>13004000</id:memberCode></xrd:id><xrd:name>Landeshauptstadt Schwerin</xrd:name>' "$T_DIR/body"
expect "listClients names the member's subsystems" \
  grep -q '<id:memberCode>13004000</id:memberCode><id:subsystemCode>Kfz-Zulassung</id:subsystemCode>' "$T_DIR/body"
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -H "Accept: application/json" "$SH/listClients"
expect "listClients answers JSON in UTF-8 for Accept: application/json" \
  test "$(header content-type)" = "application/json; charset=utf-8"
expect "listClients answers JSON for Accept: application/json" \
  test "$(jq -r '.member[] | select(.id.object_type == "SUBSYSTEM" and .id.member_code == "13004000" and .id.subsystem_code == "Kfz-Zulassung") | .name' "$T_DIR/body")" = "Landeshauptstadt Schwerin"
expect "the JSON lists as many clients as the XML" \
  test "$(jq '.member | length' "$T_DIR/body")" -gt 60
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -H "Accept: application/json" \
  "$SH/listClients?xRoadInstance=OTHER"
expect "listClients of another instance is empty" test "$(jq '.member | length' "$T_DIR/body")" = 0
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' \
  -H "Accept: application/json;q=0.2, text/xml" "$SH/listClients"
expect "listClients answers XML when the client weighs XML above JSON" \
  test "$(header content-type)" = "text/xml; charset=utf-8"
kiel /listClients
expect "listClients over HTTPS with an IS certificate" test "$STATUS" = 200
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' --cacert "$FED_PKI/ca-chain.pem" \
  "https://localhost:$FED_SH_CLIENT_TLS_PORT/listClients"
expect_error "listClients over HTTPS without an IS certificate is refused" 403 Client.ClientNotHosted

# --- listMethods and allowedMethods in SOAP -----------------------------------------------------
meta_request listMethods Kfz-Zulassung '<xrd:listMethods/>'
soap
expect "SOAP listMethods lists the provider's SOAP services" \
  test "$STATUS:$(services)" = "200:halterauskunft zulassungsdaten "
expect "SOAP listMethods: the answer echoes the header and carries the requestHash" \
  bash -c "grep -q '<xrd:id>meta-$n-$$</xrd:id>' '$T_DIR/body' && [ \"\$(tr -d '\n' <'$T_DIR/body' | sed -n 's#.*<requestHash [^>]*>\([^<]*\)</requestHash>.*#\1#p')\" = '$(sha512_b64 "$T_DIR/req.xml")' ]"
expect "SOAP listMethods: the answer is a listMethodsResponse" grep -q '<xrd:listMethodsResponse ' "$T_DIR/body"
expect "SOAP listMethods names each service with the version its WSDL gives it (v1)" \
  test "$(tr -d '\n' <"$T_DIR/body" | grep -o '<id:serviceCode>halterauskunft</id:serviceCode><id:serviceVersion>v1</id:serviceVersion>' | wc -l)" = 1
LIST_ID=meta-$n-$$
meta_request allowedMethods Kfz-Zulassung '<xrd:allowedMethods/>'
soap
expect "SOAP allowedMethods for the ministry: both services" \
  test "$STATUS:$(services)" = "200:halterauskunft zulassungsdaten "
meta_request listMethods Einwohnermeldeamt '<xrd:listMethods/>'
soap
expect "SOAP listMethods of a provider without SOAP services is empty" test "$STATUS:$(services)" = "200:"
meta_request allowedMethods Kfz-Zulassung '<xrd:allowedMethods/>' "$AS_KIEL"
kiel -X POST -H "Content-Type: text/xml" --data-binary "@$T_DIR/req.xml" /
expect "SOAP allowedMethods for Kiel's Bürgeramt: only the service a rule admits it to" \
  test "$STATUS:$(services)" = "200:halterauskunft "
meta_request getWsdl Kfz-Zulassung '<xrd:getWsdl><xrd:serviceCode>zulassungsdaten</xrd:serviceCode></xrd:getWsdl>' "$AS_KIEL"
kiel -X POST -H "Content-Type: text/xml" --data-binary "@$T_DIR/req.xml" /
expect "getWsdl of another service of the provider is refused to Kiel" \
  bash -c "[ '$STATUS' = 500 ] && grep -q '<faultcode>Server.ServerProxy.AccessDenied</faultcode>' '$T_DIR/body'"

# --- getWsdl ------------------------------------------------------------------------------------
meta_request getWsdl Kfz-Zulassung '<xrd:getWsdl><xrd:serviceCode>halterauskunft</xrd:serviceCode></xrd:getWsdl>'
soap
expect "getWsdl answers multipart/related" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '^content-type: multipart/related;' <<<'$HEADERS'"
expect "getWsdl: the SOAP part names the service" \
  grep -q '<xrd:serviceCode>halterauskunft</xrd:serviceCode></xrd:getWsdlResponse>' "$T_DIR/body"
expect "getWsdl: the WSDL is attached, with its operation" \
  grep -q 'wsdl:operation name="halterauskunft"' "$T_DIR/body"
expect "getWsdl: the register service's address is hidden" \
  bash -c "grep -q 'location=\"http://example.org/xroad-endpoint\"' '$T_DIR/body' && ! grep -q 'fahrzeugregister.schwerin.example' '$T_DIR/body'"
expect "getWsdl: requestHash of the request" test "$(answer_hash)" = "$(sha512_b64 "$T_DIR/req.xml")"
meta_request getWsdl Kfz-Zulassung '<xrd:getWsdl><xrd:serviceCode>halterauskunft</xrd:serviceCode><xrd:serviceVersion>v1</xrd:serviceVersion></xrd:getWsdl>'
soap
expect "getWsdl of the service in the version its WSDL gives it" \
  bash -c "[ '$STATUS' = 200 ] && grep -q '<xrd:serviceVersion>v1</xrd:serviceVersion></xrd:getWsdlResponse>' '$T_DIR/body'"
meta_request getWsdl Kfz-Zulassung '<xrd:getWsdl><xrd:serviceCode>halterauskunft</xrd:serviceCode><xrd:serviceVersion>v2</xrd:serviceVersion></xrd:getWsdl>'
soap
expect "getWsdl of a version the WSDL does not give the service is refused" \
  bash -c "[ '$STATUS' = 500 ] && grep -q '<faultcode>Server.ServerProxy.UnknownService</faultcode>' '$T_DIR/body'"
meta_request getWsdl Kfz-Zulassung '<xrd:getWsdl><xrd:serviceCode>zulassung</xrd:serviceCode></xrd:getWsdl>'
soap
expect "getWsdl of a service that does not exist is refused like one the client may not use" \
  bash -c "[ '$STATUS' = 500 ] && grep -q '<faultcode>Server.ServerProxy.AccessDenied</faultcode>' '$T_DIR/body'"
meta_request getWsdl Kfz-Zulassung '<xrd:getWsdl/>'
soap
expect "getWsdl without a serviceCode is a Fault" \
  bash -c "[ '$STATUS' = 500 ] && grep -q '<faultcode>Client.BadRequest</faultcode>' '$T_DIR/body'"

# --- the REST forms -----------------------------------------------------------------------------
SVC=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt
xr GET $CLIENT "$SVC/listMethods"
expect "REST listMethods lists the REST services with their endpoints" \
  test "$STATUS:$(json_codes)" = "200:meldeauskunft echo down fast svctls svcrogue svchost svckeep"
expect "REST listMethods: meldeauskunft is OPENAPI, with the policy's methods and paths" \
  test "$(jq -c '.service[] | select(.service_code == "meldeauskunft") | [.service_type, .endpoint_list]' "$T_DIR/body")" = \
  '["OPENAPI",[{"method":"GET","path":"/persons/*"},{"method":"HEAD","path":"/persons/*"},{"method":"GET","path":"/health"}]]'
expect "REST listMethods is signed and bound like any answer" \
  test -n "$(header x-road-request-hash)" -a "$(header x-road-id)" != ""
kiel -H "X-Road-Client: $KIEL" "$SVC/allowedMethods"
expect "REST allowedMethods for a client no rule admits is empty" test "$STATUS:$(json_codes)" = "200:"
xr GET $CLIENT "$SVC/allowedMethods"
expect "REST allowedMethods for the SH client lists what it may call" \
  test "$STATUS:$(json_codes)" = "200:meldeauskunft echo down fast svctls svcrogue svchost svckeep"
expect "REST allowedMethods answers JSON in UTF-8" \
  test "$(header content-type)" = "application/json; charset=utf-8"
xr GET $CLIENT "$SVC/getOpenAPI?serviceCode=meldeauskunft"
expect "getOpenAPI answers the service's OpenAPI description" \
  bash -c "[ '$STATUS' = 200 ] && cmp -s '$T_DIR/body' '$SS_SOURCE_DIR/test/tools/melderegister.yaml'"
expect "getOpenAPI's Content-Type is text/yaml in UTF-8" \
  test "$(header content-type)" = "text/yaml; charset=utf-8"
xr GET $CLIENT "$SVC/getOpenAPI?serviceCode=%6Deldeauskunft"
expect "getOpenAPI reads a percent-encoded service code" \
  bash -c "[ '$STATUS' = 200 ] && cmp -s '$T_DIR/body' '$SS_SOURCE_DIR/test/tools/melderegister.yaml'"
kiel -H "X-Road-Client: $KIEL" "$SVC/getOpenAPI?serviceCode=meldeauskunft"
expect_error "getOpenAPI for a client the policy does not admit" 403 Server.ServerProxy.AccessDenied
xr GET $CLIENT "$SVC/getOpenAPI?serviceCode=echo"
expect_error "getOpenAPI of a service without a description" 500 Server.ServerProxy.UnknownService
xr POST $CLIENT "$SVC/listMethods" --data-binary x
expect_error "a metaservice answers GET (and HEAD) only" 400 Client.BadRequest
# HEAD: the answer to GET without its content (RFC 9110 9.3.2)
xr GET $CLIENT "$SVC/listMethods"
expect "... (GET says its length)" test "$STATUS" = 200 -a -n "$(header content-length)"
GET_LENGTH=$(header content-length)
xr HEAD $CLIENT "$SVC/listMethods" -I
expect "REST listMethods answers HEAD as GET, without the content ($GET_LENGTH bytes said)" \
  bash -c "[ '$STATUS' = 200 ] && [ '$(header content-length)' = '$GET_LENGTH' ] &&
    [ -n '$(header x-road-request-hash)' ]"
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' "$SH/listClients"
expect "... (GET of listClients says its length)" test "$STATUS" = 200 -a -n "$(header content-length)"
GET_LENGTH=$(header content-length)
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -I "$SH/listClients"
expect "listClients answers HEAD as GET, without the content" \
  bash -c "[ '$STATUS' = 200 ] && [ '$(header content-length)' = '$GET_LENGTH' ]"

# --- the log ------------------------------------------------------------------------------------
expect "SOAP listMethods is in the consumer's log, request and signed answer" \
  test "$(records sh "query_id = '$LIST_ID' AND length(signature) > 0")" = 2
expect "SOAP listMethods is in the provider's log, request and signed answer" \
  test "$(records mv "query_id = '$LIST_ID' AND length(signature) > 0")" = 2
expect "both logs are timestamped to the end" wait_until "the timestamps" 30 stamped
for s in sh mv; do
  expect "secsrv-log verify accepts the $s log with the metaservice exchanges" \
    "$SS_BUILD_DIR/secsrv/secsrv-log" verify "$FED_DIR/$s/log/messagelog.db" \
    --anchor "$FED_PKI/registry-authority.pem"
done

finish
