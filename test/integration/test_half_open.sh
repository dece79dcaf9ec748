#!/usr/bin/env bash
# Half-open TLS handshakes beyond max_unauthenticated: 100 connections from four loopback
# addresses (25 each, within the per-address limit of 64) trickle a ClientHello to the MV
# server proxy, whose max_unauthenticated is 64 here, and reconnect whenever they are cut
# (ten times a second).
# A peer's new connection still gets in (it takes the place of the oldest half-open one,
# while an address that holds some only ever replaces its own), and the cuts are counted.
# Failed handshakes are counted and summed up in the operator log.
. "$(dirname "$0")/lib.sh"
export FED_MV_MAX_UNAUTHENTICATED=64
fed_start

SLOW=$SS_BUILD_DIR/test/tools/ss-slowclients
metric() { # NAME{LABELS}: the MV server's sample, 0 when absent
  curl -s "http://127.0.0.1:$FED_MV_METRICS_PORT/metrics" |
    awk -v n="$1" 'index($0, n " ") == 1 {v = $2} END {print v + 0}'
}
EVICTED='secsrv_connections_refused_total{listener="server-proxy",reason="evicted"}'
"$SLOW" --port "$FED_MV_SERVER_PORT" --count 100 --from 127.0.0.30 --addresses 4 --seconds 14 \
  --tls --reopen-ms 100 >"$T_DIR/slow" &
slow=$!
filled() { [ "$(metric 'secsrv_connections_open{listener="server-proxy"}')" -ge 64 ]; }
expect "the half-open handshakes take all max_unauthenticated places" \
  wait_until "the half-open handshakes" 20 filled

# a peer's new connection each time (the certificate of the SH server): past the TLS door,
# where the request itself is judged (unsigned, so refused, but not at the handshake)
got_in=0
for i in 1 2 3 4 5; do
  t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -k --max-time 10 \
    -H "X-Road-Client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft" \
    --cert "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" --key "$FED_PKI/servers/ss-sh-kiel/auth.key" \
    "https://127.0.0.1:$FED_MV_SERVER_PORT/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/x"
  case $STATUS in 4?? | 5??) got_in=$((got_in + 1)) ;; esac
done
expect "a peer's new connections get through the handshake meanwhile ($got_in of 5)" \
  test "$got_in" = 5
evicted=$(metric "$EVICTED")
expect "the slow clients' reconnections only cut the oldest of their own, and are counted ($evicted)" \
  test "$evicted" -ge 36
xr GET DE-NORD/GOV/MIKWS-SH/Meldeauskunft /r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/fast/persons/P-1001
expect "and exchanges through both servers are served" test "$STATUS" = 200
wait "$slow"

# handshakes that fail (no client certificate; a suite outside the TLS policy) are counted and
# summed up in the operator log (as were those of the slow clients cut above)
HANDSHAKE='secsrv_connections_refused_total{listener="server-proxy",reason="handshake"}'
summaries() { grep -Ec "server-proxy: [0-9]+ TLS handshake\(s\) failed" "$FED_DIR/mv.log"; }
before=$(metric "$HANDSHAKE") lines=$(summaries)
for i in 1 2 3; do
  curl -s -k -o /dev/null --max-time 5 "https://127.0.0.1:$FED_MV_SERVER_PORT/" || true
done
openssl s_client -connect "127.0.0.1:$FED_MV_SERVER_PORT" -tls1_2 -cipher AES128-SHA \
  </dev/null >/dev/null 2>&1 || true
failed() { [ "$(summaries)" -gt "$lines" ]; }
expect "failed handshakes are summed up in the operator log" \
  wait_until "the summary of failed handshakes" 10 failed
expect "... and counted" test "$(metric "$HANDSHAKE")" -ge $((before + 4))
echo "# slow clients: $(cat "$T_DIR/slow"); evicted $(metric "$EVICTED")"
finish
