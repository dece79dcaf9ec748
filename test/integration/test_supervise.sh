#!/usr/bin/env bash
# A link between the network process and the logger that stalls in the middle of a frame:
# SH's logger is stopped (SIGSTOP) while requests with 60 kB bodies wait for their records,
# so the network process's send fills the link (secsrv sets its send buffer so that it
# holds about 208 KiB, whatever the system's default; sixteen requests put about 960 kB on
# it) and fails at its time limit with part of a frame gone. That link ends there (a frame
# read from the middle of another would be taken for a record, or would leave the logger
# waiting for bytes that never come); the network
# process asks the parent for a new one, which the parent makes because the logger lives.
# Once the logger runs again, exchanges work through the new link, neither process was
# restarted, and the log is one intact chain.
# Then a logger that dies as soon as it serves (within 100 ms), again and again (killed each
# time it says its log is open): the parent starts it again 1, 2, 4 ... s apart, not at once
# each time; one that has served a while is started again at once.
# Last, MV's signer stopped (SIGSTOP) for good: the parent's watchdog (5 s here) ends it, and
# the signer started again serves; a server whose children all serve is left alone.
# SH has no watchdog here: its logger is stopped on purpose above. Run as root, MV's parent
# has no CAP_KILL (as under the packaged unit), so that it ends the signer, which dropped to
# another user, through a helper with that user's identity.
export FED_SH_WATCHDOG=0 FED_MV_WATCHDOG=5
if [ "$(id -u)" = 0 ]; then export FED_MV_RUN_WITH="setpriv --bounding-set=-kill"; fi
. "$(dirname "$0")/lib.sh"
fed_start
CHECK=$SS_BUILD_DIR/test/tools/ss-logcheck
CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/relink
# what a stalled logger leaves in the operator log
allow_error "LoggingFailed"
allow_error "IPC send|link broke|cannot answer a network process"

accepted() { xr GET $CLIENT $Q; [ "$STATUS" = 200 ]; }
expect "exchanges work" wait_until "exchanges to be accepted" 20 accepted
logger=$(child_of sh logger)
network=$(child_of sh network)

head -c 60000 /dev/zero | tr '\0' 'x' >"$T_DIR/big"
kill -STOP "$logger"
pids=()
for i in $(seq 1 16); do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 -X POST -H "X-Road-Client: $CLIENT" \
    -H "X-Road-Id: relink-$i" -H 'Content-Type: text/plain' --data-binary "@$T_DIR/big" \
    "http://127.0.0.1:$FED_SH_CLIENT_PORT$Q" >"$T_DIR/status.$i" &
  pids+=($!)
done
asked() { log_has sh "logger: the link broke; asking for a new one"; }
expect "the network process gives up the stalled link and asks for a new one" \
  wait_until "the stalled send" 30 asked
relinked() { log_has sh "logger: linked to the network process again"; }
expect "the parent links the logger again (it lives)" wait_until "a new link" 10 relinked
kill -CONT "$logger"
for p in "${pids[@]}"; do wait "$p" || true; done
expect "the requests caught in the stall were answered ($(cat "$T_DIR"/status.* | sort | uniq -c | tr '\n' ' '))" \
  bash -c "! grep -qv '^[0-9][0-9][0-9]$' $T_DIR/status.*"
expect "exchanges work again through the new link" wait_until "exchanges to be accepted" 20 accepted
xr POST $CLIENT $Q -H 'Content-Type: text/plain' --data-binary "@$T_DIR/big"
expect "a 60 kB request too ($STATUS)" test "$STATUS" = 200
expect "the logger was not restarted" test "$(child_of sh logger)" = "$logger"
expect "nor the network process" test "$(child_of sh network)" = "$network"
expect "the logger read no frame from the middle of another" \
  bash -c "! grep -q 'malformed' '$FED_DIR/sh.log'"
expect "the log is one intact chain" "$CHECK" "sqlite:$FED_DIR/sh/log/messagelog.db"

# --- a logger that dies as soon as it serves -----------------------------------------------
allow_error "logger: (killed by signal|restarting in)"
started() { log_count sh "logger: started \\(pid"; }
starts_before=$(started)
# each time it says its log is open (just before it tells the parent it serves) it is killed:
# tail -F follows the log as it is written, from the line after the last one now (so that no
# line is missed however late tail starts), and the kill comes a few ms after. The pid comes
# from the parent's line before ("started (pid N)"), not from ps: under load a ps took 150 ms
# and more, and a logger that had served 100 ms by then was, rightly, started again at once
from=$(($(wc -l <"$FED_DIR/sh.log") + 1))
(tail -n "+$from" -F "$FED_DIR/sh.log" 2>/dev/null |
  grep --line-buffered -E "logger: (started \(pid [0-9]+\)|message log .* open)" |
  while read -r line; do
    case $line in
    *"logger: started (pid "*)
      p=${line##*(pid }
      p=${p%%)*}
      ;;
    *) [ -n "${p:-}" ] && kill -9 "$p" 2>/dev/null || true ;;
    esac
  done) &
killer=$!
kill -9 "$(child_of sh logger)"
# started again at once (it had served long), then 1 and 2 s apart: the third early death
# puts the next start 4 s off, and the killer stops before it
third() { log_has sh "logger: restarting in 4s \(it died 3 times in a row before it had served 100 ms\)"; }
expect "the operator log says when it starts again, and why" \
  wait_until "the third early death" 20 third
pkill -P "$killer" 2>/dev/null || true
wait "$killer" 2>/dev/null || true
starts=$(($(started) - starts_before))
expect "it was started again a few times, not at once each time ($starts)" \
  test "$starts" -ge 3 -a "$starts" -le 6
serving() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FED_SH_HEALTH_PORT/")" = 200 ]; }
expect "left alone, it serves again" wait_until "SH's health" 40 serving
# it says its log is open just before it tells the parent it serves: half a second after that
# line it has served well over 100 ms
opened_ms_ago() {
  local t
  t=$(grep "logger: message log .* open" "$FED_DIR/sh.log" | tail -n 1 | cut -d' ' -f1)
  echo $(($(date +%s%3N) - $(date -d "$t" +%s%3N)))
}
served_a_while() { [ "$(opened_ms_ago)" -ge 500 ]; }
expect "it has served a while" wait_until "the logger to serve 500 ms" 10 served_a_while
backoffs=$(log_count sh "logger: restarting in")
old=$(child_of sh logger)
kill -9 "$old"
back() { local p; p=$(child_of sh logger); [ -n "$p" ] && [ "$p" != "$old" ]; }
expect "one that served a while is started again at once" wait_until "the logger back" 2 back
expect "with no wait" test "$(log_count sh "logger: restarting in")" = "$backoffs"
expect "and exchanges work" wait_until "exchanges to be accepted" 20 accepted

# --- MV's signer stopped for good: the watchdog ----------------------------------------------
allow_error "signer: (no sign of life|killed by signal)"
allow_error "ServerProxy.*(signer|SigningFailed)|ClientProxy.*(ServiceFailed|signer)"
expect "a server whose children all serve is left alone (all this test long)" \
  bash -c "! grep -q 'no sign of life' '$FED_DIR/mv.log'"
if [ "$(id -u)" = 0 ]; then
  # bit 5 of the effective set is CAP_KILL
  capeff=$(awk '/^CapEff/ {print $2}' "/proc/$(parent_of mv)/status")
  expect "MV's parent runs without CAP_KILL ($capeff)" test $(((0x$capeff >> 5) & 1)) = 0
  expect "and its signer as another user" test "$(ps -o user= -p "$(child_of mv signer)")" != root
fi
signer=$(child_of mv signer)
kill -STOP "$signer"
ended() { log_has mv "signer: no sign of life for 5 s \(stopped, or stuck\): ended"; }
expect "the watchdog ends the stopped signer" wait_until "the watchdog" 15 ended
replaced() { local p; p=$(child_of mv signer); [ -n "$p" ] && [ "$p" != "$signer" ]; }
expect "and the parent starts it again" wait_until "a new signer" 10 replaced
expect "the stopped one is gone" bash -c "! kill -0 $signer 2>/dev/null"
expect "exchanges work again" wait_until "exchanges to be accepted" 20 accepted
finish
