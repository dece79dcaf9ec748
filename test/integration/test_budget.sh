#!/usr/bin/env bash
# One budget for the bodies in transit: with the SH server's budget set to
# its largest request body (64 KiB), an upload that is still arriving holds
# the budget, and a second request with a body meanwhile is answered 503
# Server.ClientProxy.ServerBusy with nothing of it forwarded; once the
# first connection is gone (cut after request_timeout) the budget is back
# and the same request passes.
. "$(dirname "$0")/lib.sh"
FED_SH_MAX_BUFFERED=65536 fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
ECHO=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo
hits() { log_count echo '^ss-testserver: [A-Z]+ '; }
head -c 40000 /dev/zero | tr '\0' 'a' >"$T_DIR/part"
head -c 20000 /dev/zero | tr '\0' 'b' >"$T_DIR/small"
post_small() {
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X POST \
    --data-binary "@$T_DIR/small" -H "Content-Type: text/plain" -H "X-Road-Client: $CLIENT" \
    "http://127.0.0.1:$FED_SH_CLIENT_PORT$ECHO/budget"
}

# an upload of 60,000 bytes of which 40,000 arrive: its buffer has grown to 64 KiB
exec 3<>"/dev/tcp/127.0.0.1/$FED_SH_CLIENT_PORT"
{
  printf 'POST %s/held HTTP/1.1\r\nHost: h\r\nX-Road-Client: %s\r\n' "$ECHO" "$CLIENT"
  printf 'Content-Type: text/plain\r\nContent-Length: 60000\r\n\r\n'
  cat "$T_DIR/part"
} >&3
# until the server has read that far, a request may still pass (and reach the backend): what
# reached it is counted before each try, so that the check below is about the refused one
busy() { before=$(hits) && post_small && [ "$STATUS" = 503 ]; }
expect "while the upload holds the budget, a request with a body is refused" \
  wait_until "a 503" 2 busy
expect_error "... as ServerBusy" 503 Server.ClientProxy.ServerBusy
expect "nothing of it was forwarded" test "$(hits)" = "$before"
expect "the operator log says why" log_has sh "memory for request bodies in transit is used up"
# the held upload is cut after request_timeout (3 s in the test federation); the budget is back
exec 3>&-
passes() { post_small && [ "$STATUS" = 200 ]; }
expect "with the budget back, the same request passes" wait_until "a 200" 10 passes
finish
