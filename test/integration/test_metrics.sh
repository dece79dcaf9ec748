#!/usr/bin/env bash
# Prometheus metrics: both servers' endpoints answer the text exposition
# format that promtool accepts, and the figures are what happened: the
# exchanges by direction, client, service and outcome, their latencies
# split into the time in secsrv and the wait on the peer or the register
# service, the message log's commits, the signing keys' OCSP responses,
# the registry in force and the connections; a metrics listener off
# loopback is refused by file:line.
. "$(dirname "$0")/lib.sh"
# the responder's answers end in 20 minutes (nextUpdate), before the registry's ocspFreshness
# (an hour) would end them: see the renewal check below
export FED_OCSP_NEXT_UPDATE_MIN=20
fed_start

PROMTOOL=${PROMTOOL:-$SS_SOURCE_DIR/build/tools/promtool}
CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
KIEL=DE-NORD/MUN/01002000/Buergeramt
SVC=DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft
Q=/r1/$SVC/persons/P-1001
scrape() { # NAME: the server's metrics into T_DIR/NAME.prom
  local port=FED_$(echo "$1" | tr a-z A-Z)_METRICS_PORT
  curl -s --max-time 10 -o "$T_DIR/$1.prom" -w '%{http_code}' "http://127.0.0.1:${!port}/metrics"
}
value() { # NAME SAMPLE (exact, labels included): its value, or "absent"
  awk -v s="$2" '$0 ~ /^#/ {next} { v = $NF; $NF = ""; sub(/ $/, ""); if ($0 == s) {print v; f = 1} } END {if (!f) print "absent"}' "$T_DIR/$1.prom"
}

for i in 1 2 3; do
  xr GET $CLIENT "$Q" -H "X-Secsrv-Purpose: BMG-34"
done
expect "three allowed queries" test "$STATUS" = 200
xr GET $CLIENT "$Q"
expect_error "one without a purpose" 403 Server.ServerProxy.PurposeMissing
expect "the logs are timestamped" wait_until "the timestamps" 30 stamped

for s in sh mv; do
  status=$(scrape $s)
  expect "the $s server's metrics answer 200" test "$status" = 200
  expect "promtool check metrics accepts the $s server's metrics" \
    bash -c "'$PROMTOOL' check metrics <'$T_DIR/$s.prom'"
done
out='direction="outbound",client="'$CLIENT'",service="'$SVC'"'
in='direction="inbound",client="'$CLIENT'",service="'$SVC'"'
expect "SH counts three outbound exchanges that went well" \
  test "$(value sh "secsrv_exchanges_total{$out,outcome=\"ok\"}")" = 3
expect "SH counts the refusal with its X-Road error type" \
  test "$(value sh "secsrv_exchanges_total{$out,outcome=\"Server.ServerProxy.PurposeMissing\"}")" = 1
expect "MV counts them inbound, alike" \
  test "$(value mv "secsrv_exchanges_total{$in,outcome=\"ok\"}"):$(value mv "secsrv_exchanges_total{$in,outcome=\"Server.ServerProxy.PurposeMissing\"}")" = 3:1
expect "SH's latency histogram counts four outbound exchanges" \
  test "$(value sh 'secsrv_exchange_seconds_count{direction="outbound"}'):$(value sh 'secsrv_exchange_seconds_bucket{direction="outbound",le="+Inf"}')" = 4:4
expect "SH waited on the peer four times, MV on the register service three times" \
  test "$(value sh secsrv_exchange_peer_seconds_count):$(value mv secsrv_exchange_backend_seconds_count)" = 4:3
expect "the time in secsrv is less than the whole time" \
  awk -v a="$(value sh 'secsrv_exchange_secsrv_seconds_sum{direction="outbound"}')" \
  -v b="$(value sh 'secsrv_exchange_seconds_sum{direction="outbound"}')" 'BEGIN {exit !(a > 0 && a < b)}'
expect "SH committed its eight records" test "$(value sh secsrv_log_records_total)" = 8
expect "commit groups and commit times are histograms with a count" \
  test "$(value sh secsrv_log_group_records_count)" -ge 1 -a "$(value sh secsrv_log_commit_seconds_count)" = "$(value sh secsrv_log_group_records_count)"
# the logger counts what waits for a timestamp after it has stored the token and looked at
# the log again: a moment after the stamps the check above saw in the database
untimestamped_none() {
  scrape sh >/dev/null &&
    test "$(value sh secsrv_log_untimestamped_records):$(value sh secsrv_log_timestamping_ok)" = 0:1
}
expect "nothing waits for a timestamp" \
  wait_until "the logger's count of records without a timestamp" 20 untimestamped_none
expect "SH's signing keys are usable, with an OCSP response of known age" \
  test "$(value sh "secsrv_signing_key_usable{member=\"DE-NORD/GOV/MIKWS-SH\"}")" = 1 -a \
  "$(value sh "secsrv_ocsp_response_age_seconds{member=\"DE-NORD/GOV/MIKWS-SH\"}")" != absent
# such a response is asked for again when half its own life is gone (10 minutes), not on every
# pass of the signer's renewal thread because less than half the registry's freshness is left
age() { value sh "secsrv_ocsp_response_age_seconds{member=\"DE-NORD/GOV/MIKWS-SH\"}"; }
age_before=$(age)
expect "the OCSP response has an age ($age_before s)" test "$age_before" != absent
# fetched again and again, its age would never get 4 s past where it was
aged() { scrape sh >/dev/null && [ "$(age)" != absent ] && [ "$(age)" -ge $((age_before + 4)) ]; }
expect "the OCSP response is not fetched again and again (age $age_before s, then 4 s more)" \
  wait_until "the response to age 4 s" 20 aged
expect "the registry in force: serial 1, not expired" \
  test "$(value sh secsrv_registry_serial)" = 1 -a "$(value sh secsrv_registry_expiry_seconds)" -gt 0
expect "SH accepted the four connections of the queries" \
  test "$(value sh 'secsrv_connections_accepted_total{listener="client-proxy"}')" -ge 4
printf 'GET /r1/x HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n' >"$T_DIR/bad.req"
curl -s --max-time 5 -o /dev/null "telnet://127.0.0.1:$FED_SH_CLIENT_PORT" <"$T_DIR/bad.req" || true
scrape sh >/dev/null
expect "a request the door refuses is counted" \
  test "$(value sh 'secsrv_connections_refused_total{listener="client-proxy",reason="door"}')" = 1
t_curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X POST "http://127.0.0.1:$FED_SH_METRICS_PORT/metrics"
expect "other methods than GET get 405" test "$STATUS" = 405

sed 's/^listen = 127.0.0.1:0$/&/; /^\[metrics\]$/,/^listen/ s/^listen = .*/listen = 0.0.0.0:9464/' "$FED_SH_CONF" >"$T_DIR/remote.conf"
expect "a metrics listener off loopback is refused by file:line" \
  bash -c "! '$SS_BUILD_DIR/secsrv/secsrv' -n -c '$T_DIR/remote.conf' 2>'$T_DIR/remote.err' && grep -q '^$T_DIR/remote.conf:[0-9]*: metrics must listen on a loopback address' '$T_DIR/remote.err'"

finish
