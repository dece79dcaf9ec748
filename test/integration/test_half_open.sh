#!/usr/bin/env bash
# Half-open TLS handshakes on the MV server proxy, whose max_unauthenticated is 64 here.
# First, connections that end before their first request (no client certificate, a suite
# outside the TLS policy) are counted and summed up in the operator log. Then 100 connections
# from four loopback addresses (25 each, within the per-address limit of 64) trickle a
# ClientHello and reconnect whenever they are cut (ten times a second): a peer's new
# connections still get in, ten at once included (a new connection takes the place of the
# oldest of the group of addresses that holds the most), and the cuts are counted.
. "$(dirname "$0")/lib.sh"
export FED_MV_MAX_UNAUTHENTICATED=64
fed_start

SLOW=$SS_BUILD_DIR/test/tools/ss-slowclients
metric() { # NAME{LABELS}: the MV server's sample, 0 when absent
  curl -s "http://127.0.0.1:$FED_MV_METRICS_PORT/metrics" |
    awk -v n="$1" 'index($0, n " ") == 1 {v = $2} END {print v + 0}'
}
UNFINISHED='secsrv_connections_refused_total{listener="server-proxy",reason="unfinished"}'
EVICTED='secsrv_connections_refused_total{listener="server-proxy",reason="evicted"}'

# --- the consumer's own address at its limit of half-open handshakes ------------------------
# 64 handshakes from 127.0.0.1, the address the SH server connects from, before SH has any
# connection to MV: MV closes SH's new connection in the handshake. Nothing was sent; that is a
# network error (another server of the provider would be tried), not a failed authentication.
"$SLOW" --port "$FED_MV_SERVER_PORT" --count 64 --from 127.0.0.1 --addresses 1 --seconds 6 \
  --tls --ready-file "$T_DIR/held" >"$T_DIR/slow-own" &
held=$!
wait_until "the 64 handshakes from 127.0.0.1" 20 test -s "$T_DIR/held" || true
allow_error "closed the connection in the TLS handshake"
xr GET DE-NORD/GOV/MIKWS-SH/Meldeauskunft /r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/fast/persons/P-1001
expect_error "a provider's server that closes the connection in the handshake" 500 \
  Server.ClientProxy.NetworkError
expect "... and the SH log says so" log_has sh "closed the connection in the TLS handshake"
wait "$held" || true
# their closes, each counted as a connection that ended before its first request, are all in
# before the counts below are taken
all_closed() { [ "$(metric "$UNFINISHED")" -ge 64 ]; }
wait_until "the 64 closes counted" 20 all_closed || not_ok "MV did not count the 64 closes"

# --- connections that end before their first request ---------------------------------------
for i in 1 2 3; do
  curl -s -k -o /dev/null --max-time 5 "https://127.0.0.1:$FED_MV_SERVER_PORT/" || true
done
openssl s_client -connect "127.0.0.1:$FED_MV_SERVER_PORT" -tls1_2 -cipher AES128-SHA \
  </dev/null >/dev/null 2>&1 || true
summed_up() { log_has mv "server-proxy: [0-9]+ TLS connection\(s\) closed before their first request"; }
expect "failed handshakes are summed up in the operator log" \
  wait_until "the summary of failed handshakes" 10 summed_up
expect "... and counted ($(metric "$UNFINISHED"))" test "$(metric "$UNFINISHED")" -ge 4
# a peer's request whose header is too large, which libmicrohttpd refuses itself (431), is not
# one of them; another connection without a certificate is
u1=$(metric "$UNFINISHED")
head -c 200000 /dev/zero | tr '\0' 'a' | sed 's/^/X-Big: /' >"$T_DIR/big-header"
curl -s -k -o /dev/null --max-time 10 -H "@$T_DIR/big-header" \
  --cert "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" --key "$FED_PKI/servers/ss-sh-kiel/auth.key" \
  "https://127.0.0.1:$FED_MV_SERVER_PORT/" || true
curl -s -k -o /dev/null --max-time 5 "https://127.0.0.1:$FED_MV_SERVER_PORT/" || true
one_more() { [ "$(metric "$UNFINISHED")" -ge $((u1 + 1)) ]; }
wait_until "the connection without a certificate counted" 10 one_more || true
expect "a request libmicrohttpd refused itself is not counted as a failed handshake" \
  test "$(metric "$UNFINISHED")" = $((u1 + 1))

# --- more half-open handshakes than places ---------------------------------------------------
"$SLOW" --port "$FED_MV_SERVER_PORT" --count 100 --from 127.0.0.30 --addresses 4 --seconds 14 \
  --tls --reopen-ms 100 >"$T_DIR/slow" &
slow=$!
filled() { [ "$(metric 'secsrv_connections_open{listener="server-proxy"}')" -ge 64 ]; }
expect "the half-open handshakes take all max_unauthenticated places" \
  wait_until "the half-open handshakes" 20 filled

# a peer's new connections (the certificate of the SH server), one after another and then ten
# at once: past the TLS door, where the request itself is judged (unsigned, so refused, but
# not at the handshake)
peer() { # writes the HTTP status, 000 for a connection that did not get through
  curl -s -o /dev/null -w '%{http_code}' -k --max-time 10 \
    -H "X-Road-Client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft" \
    --cert "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" --key "$FED_PKI/servers/ss-sh-kiel/auth.key" \
    "https://127.0.0.1:$FED_MV_SERVER_PORT/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/x" || true
}
got_in=0
for i in 1 2 3 4 5; do
  case $(peer) in 4?? | 5??) got_in=$((got_in + 1)) ;; esac
done
expect "a peer's new connections get through the handshake meanwhile ($got_in of 5)" \
  test "$got_in" = 5
for i in $(seq 10); do peer >"$T_DIR/parallel-$i" & done
wait_parallel() { for i in $(seq 10); do [ -s "$T_DIR/parallel-$i" ] || return 1; done; }
wait_until "the ten parallel connections" 30 wait_parallel || true
together=0
for i in $(seq 10); do
  case $(<"$T_DIR/parallel-$i") in 4?? | 5??) together=$((together + 1)) ;; esac
done
expect "ten connections of a peer at once get through too ($together of 10)" test "$together" = 10
evicted=$(metric "$EVICTED")
expect "the slow clients' reconnections cut the oldest of their own, and are counted ($evicted)" \
  test "$evicted" -ge 36
xr GET DE-NORD/GOV/MIKWS-SH/Meldeauskunft /r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/fast/persons/P-1001
expect "and exchanges through both servers are served" test "$STATUS" = 200
wait "$slow"
echo "# slow clients: $(cat "$T_DIR/slow"); evicted $(metric "$EVICTED"); unfinished $(metric "$UNFINISHED")"
finish
