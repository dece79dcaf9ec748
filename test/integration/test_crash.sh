#!/usr/bin/env bash
# Crashes under load: while clients query through both servers, the logger,
# the signer and the network process (of either server), and the consumer's
# whole daemon, are each killed with SIGKILL KILLS times (20 by default).
# After every restart both message logs are one intact hash chain with no
# partial record, and at the end every exchange a client received as a
# success is in the log of both servers.
# the provider waits on a slow answer long enough for its network process to be killed meanwhile
FED_MV_BACKEND_TIMEOUT=10
export FED_MV_BACKEND_TIMEOUT
. "$(dirname "$0")/lib.sh"
fed_start
KILLS=${KILLS:-20}
CHECK=$SS_BUILD_DIR/test/tools/ss-logcheck
FED=$SS_SOURCE_DIR/deploy/federation.sh
CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
# what a killed process leaves behind in the operator logs
allow_error "logger: .*records not written"

serving() { # server: its health endpoint answers 200 (signer, logger and registry fine)
  local port
  port=$(sed -n "s/^FED_$(echo "$1" | tr a-z A-Z)_HEALTH_PORT=//p" "$FED_DIR/env")
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/")" = 200 ]
}

# --- a request the provider's server had when its network process died ---------------------
# libcurl sends it again on a new connection between the servers, and the provider refuses the
# copy as a duplicate. The information system sent it once: it learns that the provider failed,
# never that it sent a duplicate.
ECHO=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo
xr GET $CLIENT "$ECHO/x" -H "X-Road-Id: crash-dup-0" # a kept-alive connection between them
curl -s -o "$T_DIR/dup.body" -D "$T_DIR/dup.headers" -w '%{http_code}' --max-time 20 -H "X-Road-Client: $CLIENT" \
  -H "X-Road-Id: crash-dup-1" "http://127.0.0.1:$FED_SH_CLIENT_PORT$ECHO/slow?ms=5000" \
  >"$T_DIR/dup.status" &
slow=$!
at_provider() { [ "$(msglog mv "SELECT count(*) FROM records WHERE query_id = 'crash-dup-1'")" -gt 0 ]; }
wait_until "the provider logged the request" 10 at_provider
old=$(child_of mv network)
kill -9 "$old"
wait "$slow" || true
STATUS=$(<"$T_DIR/dup.status") BODY=$(<"$T_DIR/dup.body") HEADERS=$(<"$T_DIR/dup.headers")
HEADERS=${HEADERS//$'\r'/} HEADERS=${HEADERS,,}
expect_error "a request the provider had when it died, resent by libcurl" 500 \
  Server.ClientProxy.ServiceFailed
expect "the provider did refuse the copy (so the case was met)" \
  test "$(msglog mv "SELECT count(*) FROM records WHERE query_id = 'crash-dup-1' AND error_type = 'Client.DuplicateRequest'")" = 1
expect "the consumer's operator log says what happened" \
  log_has sh "refused the request when it was sent again as one it already had"
back() { local now; now=$(child_of mv network); [ -n "$now" ] && [ "$now" != "$old" ] && serving mv; }
wait_until "the provider's network process back" 30 back

# --- the load: four clients with their own query ids; each success is written down ---------
mkdir -p "$T_DIR/load"
rm -f "$T_DIR/load/"*
loader() { # n
  local i=0 code port
  while [ ! -e "$T_DIR/load/stop" ]; do
    i=$((i + 1))
    port=$(sed -n 's/^FED_SH_CLIENT_PORT=//p' "$T_DIR/fed/env")
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -H "X-Road-Client: $CLIENT" \
      -H "X-Road-Id: crash-$1-$i" \
      "http://127.0.0.1:$port/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/crash" || true)
    if [ "$code" = 200 ]; then echo "crash-$1-$i" >>"$T_DIR/load/ok.$1"; else echo "$code" >>"$T_DIR/load/failed.$1"; fi
  done
}
pids=()
for i in 1 2 3 4; do loader "$i" & pids+=($!); done

# --- the kills ------------------------------------------------------------------------------
# after each crash the records added since the last check are checked (from the last one
# checked, whose hash they must continue), so that a check costs what a crash added, not the
# whole log again; the whole chains are checked at the end
declare -A FROM=([sh]=1 [mv]=1)
chain_since() { # server: the chain from the last record checked on
  local out
  out=$("$CHECK" --from "${FROM[$1]}" "sqlite:$FED_DIR/$1/log/messagelog.db") || return 1
  case $out in
  "records "*) out=${out#* to } && FROM[$1]=${out%%,*} ;;
  # an empty log ("0 records"): the next check starts at the first record still
  *" records, chain intact") if [ "${out%% *}" -gt 0 ]; then FROM[$1]=${out%% *}; fi ;;
  esac
}
chains() { chain_since sh && chain_since mv; }
whole_chains() { "$CHECK" "sqlite:$FED_DIR/sh/log/messagelog.db" >/dev/null && "$CHECK" "sqlite:$FED_DIR/mv/log/messagelog.db" >/dev/null; }
partial() { # records with a missing part: none, ever
  msglog "$1" "SELECT count(*) FROM records WHERE length(hash) != 32 OR length(prev_hash) != 32 OR length(message_sha256) != 32"
}

bad_chain=0 not_back=0 partials=0 kills=0
for role in logger signer network; do
  for k in $(seq 1 "$KILLS"); do
    server=sh
    [ $((k % 2)) = 0 ] && server=mv
    old=$(child_of "$server" "$role")
    [ -n "$old" ] && kill -9 "$old" && kills=$((kills + 1))
    back() { local now; now=$(child_of "$server" "$role"); [ -n "$now" ] && [ "$now" != "$old" ] && serving "$server"; }
    wait_until "$server's $role back" 30 back || not_back=$((not_back + 1))
    chains || bad_chain=$((bad_chain + 1))
    [ "$(partial sh)" = 0 ] && [ "$(partial mv)" = 0 ] || partials=$((partials + 1))
  done
  echo "# $role: killed $KILLS times"
done
daemon_kills=0
for k in $(seq 1 "$KILLS"); do
  parent=$(parent_of sh)
  all="$parent $(ps -o pid= --ppid "$parent" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -9 $all 2>/dev/null && daemon_kills=$((daemon_kills + 1))
  gone() { for p in $all; do alive "$p" && return 1; done; return 0; }
  wait_until "the killed daemon gone" 10 gone || true
  "$FED" start-server "$FED_DIR" sh >/dev/null 2>&1 || not_back=$((not_back + 1))
  fed_env
  wait_until "sh back" 30 serving sh || not_back=$((not_back + 1))
  chains || bad_chain=$((bad_chain + 1))
  [ "$(partial sh)" = 0 ] || partials=$((partials + 1))
done
echo "# the whole consumer daemon: killed $daemon_kills times"

touch "$T_DIR/load/stop"
wait "${pids[@]}"
expect "every child kill hit a running process ($kills of $((3 * KILLS)))" test "$kills" = $((3 * KILLS))
expect "the whole daemon was killed $KILLS times" test "$daemon_kills" = "$KILLS"
expect "each time the server came back" test "$not_back" = 0
expect "after each restart both logs were one intact hash chain" test "$bad_chain" = 0
expect "no partial record, ever" test "$partials" = 0

# every success a client saw is in both logs
cat "$T_DIR"/load/ok.* 2>/dev/null | sort -u >"$T_DIR/load/ok"
ok=$(wc -l <"$T_DIR/load/ok")
n_failed=$(cat "$T_DIR"/load/failed.* 2>/dev/null | wc -l)
msglog sh "SELECT DISTINCT query_id FROM records WHERE side = 'client' AND direction = 'response' AND status = 200 AND error_type = '' AND query_id LIKE 'crash-%'" | sort -u >"$T_DIR/load/sh"
msglog mv "SELECT DISTINCT query_id FROM records WHERE side = 'server' AND direction = 'response' AND status = 200 AND error_type = '' AND query_id LIKE 'crash-%'" | sort -u >"$T_DIR/load/mv"
missing_sh=$(comm -23 "$T_DIR/load/ok" "$T_DIR/load/sh" | wc -l)
missing_mv=$(comm -23 "$T_DIR/load/ok" "$T_DIR/load/mv" | wc -l)
echo "# $ok exchanges answered 200 to the clients, $n_failed otherwise (during the kills)"
echo "# in the consumer's log: $(wc -l <"$T_DIR/load/sh") answered exchanges; in the provider's: $(wc -l <"$T_DIR/load/mv")"
expect "the load went on through the kills" test "$ok" -gt $((4 * KILLS))
expect "no client was told it sent a duplicate (each sent each query id once)" \
  test "$(cat "$T_DIR"/load/failed.* 2>/dev/null | grep -c '^409$')" = 0
expect "every success is in the consumer's log ($missing_sh missing)" test "$missing_sh" = 0
expect "every success is in the provider's log ($missing_mv missing)" test "$missing_mv" = 0
expect "and the chains are intact at the end, walked whole" whole_chains

finish
