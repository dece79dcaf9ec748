#!/usr/bin/env bash
# The HTTP door under slow clients: 2,000 connections on the SH client
# proxy that trickle a header line a second, and 2,000 on the MV server
# proxy that trickle a ClientHello a byte a second (each set spread over
# eight loopback addresses), while an information system keeps querying
# through both servers. Every query is answered; neither network process
# grows a thread; connections that miss the header deadline are cut (and
# counted in the operator log); one address cannot hold more than its
# per-address share of connections, and on the TLS port no more than 64
# unfinished handshakes (the rest are refused at accept, and counted).
# Then a slow register service: 40 answers waiting on it through both
# servers hold no thread each, and another service is answered meanwhile.
. "$(dirname "$0")/lib.sh"
export FED_MV_BACKEND_TIMEOUT=60
# The SH client proxy keeps the default connection_timeout (30 s), not the test federation's
# 2 s: closing thousands of slow connections at once (their cut at the header deadline, the
# slow clients' exit) holds an HTTP thread for seconds under ThreadSanitizer (each
# connection's memory pool is unmapped, with its shadow). libmicrohttpd looks at its idle
# timeouts before it reads what came meanwhile, so a connection it accepted just before
# was closed unanswered, its request unread (curl: "Empty reply from server"), in batches of
# the 11 connections libmicrohttpd accepts at a time. Nothing here waits on that timeout.
export FED_SH_CONNECTION_TIMEOUT=30
fed_start

SLOW=$SS_BUILD_DIR/test/tools/ss-slowclients
CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
URL="http://127.0.0.1:$FED_SH_CLIENT_PORT/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/fast/persons/P-1001"
network_pid() { # sh|mv: the server's network process
  local parent
  parent=$(awk -v n="$1" '$2 == n {print $1}' "$FED_DIR/pids")
  ps -o pid=,comm= --ppid "$parent" | awk '$2 == "secsrv-network" {print $1}'
}
threads() { ls "/proc/$1/task" | wc -l; }
sh_net=$(network_pid sh)
mv_net=$(network_pid mv)
sh_before=$(threads "$sh_net")
mv_before=$(threads "$mv_net")

"$SLOW" --port "$FED_SH_CLIENT_PORT" --count 2000 --from 127.0.0.2 --addresses 8 --seconds 16 \
  --ready-file "$T_DIR/ready-client-proxy" >"$T_DIR/slow-client-proxy" &
slow1=$!
"$SLOW" --port "$FED_MV_SERVER_PORT" --count 2000 --from 127.0.0.20 --addresses 8 --seconds 16 \
  --tls --ready-file "$T_DIR/ready-server-proxy" >"$T_DIR/slow-server-proxy" &
slow2=$!
# one address asking for more connections than its share (256)
"$SLOW" --port "$FED_SH_CLIENT_PORT" --count 300 --from 127.0.0.60 --addresses 1 --seconds 6 \
  >"$T_DIR/slow-one-address" &
slow3=$!
# the client proxy holds them all; the TLS port only 64 unfinished handshakes per address (the
# tool keeps reconnecting the ones refused)
connected() { test -s "$T_DIR/ready-client-proxy"; }
expect "2,000 slow connections are open on the client proxy" wait_until "the slow clients" 20 connected

# the information system queries from then until both servers have cut the trickling
# connections at their header deadline (10 s); one query per look at the logs
asked=0 served=0 worst=0 sh_during=0 mv_during=0
query_until_cut() {
  local out t
  out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 \
    -H "X-Road-Client: $CLIENT" "$URL" || true)
  asked=$((asked + 1))
  [ "${out%% *}" = 200 ] && served=$((served + 1))
  worst=$(awk -v a="$worst" -v b="${out#* }" 'BEGIN {print (b > a ? b : a)}')
  t=$(threads "$sh_net") && [ "$t" -gt "$sh_during" ] && sh_during=$t
  t=$(threads "$mv_net") && [ "$t" -gt "$mv_during" ] && mv_during=$t
  log_has sh "client-proxy: [0-9]+ connection\(s\) cut: no complete request header within 10s" &&
    log_has mv "server-proxy: [0-9]+ connection\(s\) cut: no complete request header within 10s"
}
expect "trickling clients are cut at the header (client proxy) and handshake (server proxy) deadline" \
  wait_until "the header deadline" 30 query_until_cut
wait "$slow1" "$slow2" "$slow3"
echo "# slow clients, client proxy: $(cat "$T_DIR/slow-client-proxy")"
echo "# slow clients, server proxy: $(cat "$T_DIR/slow-server-proxy")"
echo "# one address: $(cat "$T_DIR/slow-one-address")"
echo "# queries answered: $served of $asked, slowest ${worst}s; threads sh $sh_before -> $sh_during, mv $mv_before -> $mv_during"

expect "the information system was answered every time ($asked queries)" \
  test "$served" = "$asked" -a "$asked" -gt 0
expect "2,000 slow connections were held open on the client proxy" \
  grep -q "held_max=2000 " "$T_DIR/slow-client-proxy"
held=$(sed -n 's/.*aged_end=\([0-9]*\).*/\1/p' "$T_DIR/slow-server-proxy")
expect "of 2,000 anonymous TLS handshakes from 8 addresses, 64 per address were held ($held)" \
  test "${held:-0}" -le 512 -a "${held:-0}" -ge 400
refused=$(curl -s "http://127.0.0.1:$FED_MV_METRICS_PORT/metrics" |
  sed -n 's/^secsrv_connections_refused_total{listener="server-proxy",reason="unauthenticated"} //p')
expect "... the others were refused at accept, and counted ($refused)" test "${refused%.*}" -ge 1500
expect "the SH network process did not grow a thread" test "$sh_during" -le "$sh_before"
expect "the MV network process did not grow a thread" test "$mv_during" -le "$mv_before"
aged=$(sed -n 's/.*aged_end=\([0-9]*\).*/\1/p' "$T_DIR/slow-one-address")
expect "one address holds at most 256 connections (held $aged)" test "${aged:-999}" -le 256 -a "${aged:-0}" -ge 200

# --- a slow register service: answers that wait hold no thread -----------------------------
SLOW_URL="http://127.0.0.1:$FED_SH_CLIENT_PORT/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/slow?ms=20000"
# connections established to the echo backend (its port, in /proc/net/tcp's hexadecimal)
at_backend() {
  awk -v p="$(printf ':%04X' "$FED_ECHO_PORT")" '$4 == "01" && substr($3, length($3) - 4) == p' \
    /proc/net/tcp | wc -l
}
sh_idle=$(threads "$sh_net")
mv_idle=$(threads "$mv_net")
slow_pids=()
for i in $(seq 1 40); do
  curl -sS -o /dev/null -w '%{http_code}' --max-time 90 -H "X-Road-Client: $CLIENT" "$SLOW_URL" \
    >"$T_DIR/slow-answer-$i" 2>"$T_DIR/slow-error-$i" &
  slow_pids+=($!)
done
all_waiting() { [ "$(at_backend)" -ge 40 ]; }
expect "40 answers wait on a register service that answers after 20 s" \
  wait_until "the slow answers" 60 all_waiting
sh_busy=$(threads "$sh_net")
mv_busy=$(threads "$mv_net")
fast=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Road-Client: $CLIENT" "$URL" || true)
still=$(at_backend)
expect "meanwhile another service is answered ($fast), the 40 still waiting ($still)" \
  test "$fast" = 200 -a "$still" -ge 40
expect "neither network process holds a thread per waiting answer (sh $sh_idle -> $sh_busy, mv $mv_idle -> $mv_busy threads)" \
  test "$sh_busy" -le "$sh_idle" -a "$mv_busy" -le "$mv_idle" -a "$sh_busy" -lt 40 -a "$mv_busy" -lt 40
wait "${slow_pids[@]}"
# curl's own word on a query that got no answer (a refused or reset connection, a timeout)
errors=$(cat "$T_DIR"/slow-error-* | sort | uniq -c | tr -s ' \n' ' ')
expect "every slow query was answered${errors:+ (curl: $errors)}" \
  test "$(cat "$T_DIR"/slow-answer-* | tr -d '\n')" = "$(printf '200%.0s' $(seq 1 40))"
finish
