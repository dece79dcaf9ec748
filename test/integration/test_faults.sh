#!/usr/bin/env bash
# Faults of the evidence layer: the TSA down for longer than the grace period
# stops new exchanges with TimestampingFailed until it answers again and the
# backlog is timestamped; a full store fails exchanges with LoggingFailed and
# keeps what it holds intact; a store the logger cannot open fails them too,
# and the server recovers once it can. The health endpoint says why.
FED_TS_GRACE=4
FED_SH_LOG_EXTRA="max_bytes = 1048576"
export FED_TS_GRACE FED_SH_LOG_EXTRA
. "$(dirname "$0")/lib.sh"
fed_start
allow_error "logger: .* records not written"
allow_error "logger: .*(cannot open|unable to open|file is not a database|not a secsrv message log)"
allow_error "logger: .*(this server wrote|since it was opened|numbered from 1)"

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/faults
FED=$SS_SOURCE_DIR/deploy/federation.sh
tsa() { curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$FED_TSA_PORT/control/$1"; }
health() { # NAME: sets HEALTH_STATUS, HEALTH
  HEALTH=$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$(eval echo "\$FED_$(echo "$1" | tr a-z A-Z)_HEALTH_PORT")/")
  HEALTH_STATUS=${HEALTH##*$'\n'}
  HEALTH=${HEALTH%$'\n'*}
}
pending() { msglog "$1" "SELECT count(*) FROM records WHERE id > (SELECT coalesce(max(last_id), 0) FROM timestamps)"; }

xr GET $CLIENT $Q
expect "exchanges work" test "$STATUS" = 200
# the signer fetches its keys' OCSP responses one after the other: the exchange needed the
# first key's only, the health endpoint names every key still waiting for its own
all_well() { health sh; [ "$HEALTH_STATUS" = 200 ]; }
expect "health is 200 while all is well" wait_until "SH's health" 20 all_well
expect "and says ok" bash -c "printf '%s' '$HEALTH' | grep -q '\"status\":\"ok\"'"

# --- the TSA down past the grace period (4 s here) ---------------------------------------------
expect "the TSA can be made to fail" test "$(tsa fail)" = 200
xr GET $CLIENT $Q
expect "an exchange within the grace period still works" test "$STATUS" = 200
overdue() { log_has sh "timestamping overdue" && log_has mv "timestamping overdue"; }
expect "both loggers declare timestamping overdue after the grace period" \
  wait_until "overdue" 30 overdue
# each server learns it from its own logger within a second, the two not at once: until the
# consumer has, it forwards, and the provider may refuse first (Server.ServerProxy...); what is
# waited for is the consumer's own refusal
refused_by_sh() { xr GET $CLIENT $Q; [ "$STATUS" = 500 ] && grep -q 'Server.ClientProxy.TimestampingFailed' "$T_DIR/body"; }
wait_until "the consumer to refuse exchanges" 10 refused_by_sh || true
expect_error "then new exchanges are refused" 500 Server.ClientProxy.TimestampingFailed
expect "the message says why" grep -q "time-stamping authority" "$T_DIR/body"
health sh
expect "health is 500" test "$HEALTH_STATUS" = 500
expect "and names timestamping" bash -c "printf '%s' '$HEALTH' | grep -q 'timestamping'"
# each network process learns it from its own logger, within a second of the other
provider_refuses() {
  curl -s -k --cert "$FED_PKI/servers/ss-sh-kiel/auth-chain.pem" --key "$FED_PKI/servers/ss-sh-kiel/auth.key" \
    -H "X-Road-Client: $CLIENT" -H 'X-Road-Id: f1' -H 'X-Road-Request-Id: f2' \
    "https://127.0.0.1:$FED_MV_SERVER_PORT$Q" | grep -q TimestampingFailed
}
expect "the provider refuses too" wait_until "the provider to refuse" 10 provider_refuses

expect "the TSA answers again" test "$(tsa ok)" = 200
caught_up() { [ "$(pending sh)" = 0 ] && [ "$(pending mv)" = 0 ]; }
expect "the backlog is timestamped on both sides" wait_until "the backlog" 30 caught_up
accepted_now() { xr GET $CLIENT $Q; [ "$STATUS" = 200 ]; }
expect "exchanges are accepted again" wait_until "exchanges to be accepted" 10 accepted_now
health sh
expect "health is 200 again" test "$HEALTH_STATUS" = 200

# a TSA that answers with a rejection is no TSA
expect "the TSA can be made to reject" test "$(tsa reject)" = 200
n_failed=$(log_count sh "timestamping failed")
xr GET $CLIENT $Q
rejected() { [ "$(log_count sh "timestamping failed.*(reject|declined|granted)")" -gt 0 ]; }
expect "a rejection is a failed attempt" wait_until "a rejected attempt" 20 rejected
tsa ok >/dev/null
expect "and recovered from" wait_until "the backlog" 30 caught_up

# chain_ok SERVER: every record's prev_hash is the hash of the record before it
chain_ok() {
  [ "$(msglog "$1" "SELECT count(*) FROM records r JOIN records p ON p.id = r.id - 1 WHERE r.prev_hash != p.hash")" = 0 ]
}

# --- a logger that stops answering (SIGSTOP) -----------------------------------------------------
# an exchange waits for its record as long as a logger call may take, fails with LoggingFailed,
# and is not kept waiting a second time for its refusal's record; once the logger runs again,
# exchanges work and the log is one intact chain
expect "exchanges work before the logger stops" wait_until "exchanges to be accepted" 10 accepted_now
logger=$(child_of sh logger)
kill -STOP "$logger"
started=$SECONDS
xr GET $CLIENT $Q
waited=$((SECONDS - started))
kill -CONT "$logger"
expect_error "an exchange fails while the logger does not answer" 500 \
  Server.ClientProxy.LoggingFailed
# one logger call may take 15 s; a second wait for the refusal's record would make it 30
expect "the client waited for one logger call, not two (${waited}s)" test "$waited" -lt 25
expect "the operator log says the logger did not answer" \
  log_has sh "LoggingFailed .*logger: .*no answer in time"
expect "and that the refusal was not waited for" \
  log_has sh "client-proxy: the refusal is not logged: the logger does not answer"
expect "nor was the logger waited for a second time" \
  test "$(log_count sh "the refusal could not be logged: .*no answer in time")" = 0
answers_again() { xr GET $CLIENT $Q; [ "$STATUS" = 200 ]; }
expect "exchanges work again once it runs" wait_until "the logger to answer" 30 answers_again
expect "and the log is one intact chain" chain_ok sh

# --- a stopped logger whose link is full -------------------------------------------------------
# records wait for the stopped logger in its socket and then in the network process, which
# never waits for the link itself: its threads go on serving what needs no logger (listClients)
# while eight exchanges of 60 kB bodies wait for their records
head -c 61440 /dev/zero | tr '\0' 'x' >"$T_DIR/big-body"
kill -STOP "$logger"
big_pids=()
for i in 1 2 3 4 5 6 7 8; do
  curl -s -o /dev/null -X POST -H "X-Road-Client: $CLIENT" -H 'Content-Type: text/plain' \
    --data-binary "@$T_DIR/big-body" "http://127.0.0.1:$FED_SH_CLIENT_PORT$Q" &
  big_pids+=($!)
done
# the records fill the logger's socket (about 200 kB), the rest waits in the network process
logger_unread() { ss -xpH | awk -v p="pid=$logger," 'index($0, p) {n += $3} END {print n + 0}'; }
link_full() { [ "$(logger_unread)" -gt 150000 ]; }
expect "the stopped logger's socket fills up" wait_until "the records to fill the link" 30 link_full
t_curl -s --max-time 5 -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' \
  "http://127.0.0.1:$FED_SH_CLIENT_PORT/listClients"
expect "listClients answers while the stopped logger's link is full (status $STATUS)" \
  test "$STATUS" = 200
kill -CONT "$logger"
wait "${big_pids[@]}" || true
expect "exchanges work again once the logger runs" wait_until "the logger to answer" 30 answers_again
expect "and the log is one intact chain" chain_ok sh

# --- the store taken by another writer while nobody exchanges ----------------------------------
# the logger asks the store for a write transaction when no record has come for a while: health
# says so without an exchange to find it, and is well again once the store is, again without one
# the other writer holds its transaction until the test has seen what it came for (a line on
# the fifo), not for a guessed time
# the transaction waits for one of the logger's own (a timestamp stored, its probe) to end: the
# shell's default is to give up at once, and then nothing would hold the store
mkfifo "$T_DIR/release"
(printf '.timeout 20000\nBEGIN EXCLUSIVE;\nSELECT count(*) FROM records;\n'
  read -r _ <"$T_DIR/release"
  printf 'COMMIT;\n') | sqlite3 "$FED_DIR/sh/log/messagelog.db" >/dev/null 2>"$T_DIR/holder.err" &
holder=$!
log_down() { health sh; [ "$HEALTH_STATUS" = 500 ] && printf '%s' "$HEALTH" | grep -q 'message log'; }
down=no
wait_until "the writer's probe" 30 log_down && down=yes
# what the logger said meanwhile is kept apart: the server is restarted below, and its log with it
[ "$down" = yes ] || cp "$FED_DIR/sh.log" "$T_DIR/sh-at-probe.log"
expect "an idle server's health sees the store taken (500, naming the message log)$(
  [ "$down" = yes ] || printf ' (health: %s %s; sqlite3: %s; logger: %s)' "$HEALTH_STATUS" \
    "$(head -c 300 <<<"$HEALTH")" "$(head -c 200 "$T_DIR/holder.err")" \
    "$(grep -E ' logger: ' "$FED_DIR/sh.log" | tail -n 3 | cut -c 1-200 | tr '\n' '|')")" \
  test "$down" = yes
# (bounded: a holder that ended early has no reader on the fifo)
timeout 10 bash -c "echo release >'$T_DIR/release'" || true
wait "$holder" || true
log_back() { health sh; [ "$HEALTH_STATUS" = 200 ]; }
expect "... and sees it free again, with no exchange in between" wait_until "the probe" 30 log_back

# --- the store full (1 MiB here) ---------------------------------------------------------------
ok_answers() { records sh "direction = 'response' AND status = 200 AND error_type = ''"; }
before_ok=$(ok_answers)
full=no
successes=0
for i in $(seq 1 60); do
  xr GET $CLIENT "/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/big?bytes=60000"
  if [ "$STATUS" != 200 ]; then
    full=yes
    break
  fi
  successes=$((successes + 1))
done
expect "a full store ends the exchanges" test "$full" = yes
expect_error "with LoggingFailed" 500 Server.ClientProxy.LoggingFailed
expect "no part of the refused answer reached the information system" \
  bash -c "! grep -q xxxxxxxxxx $T_DIR/body"
expect "the operator log says the store is full" log_has sh "store full"
expect "what the store holds is intact (integrity check)" \
  test "$(msglog sh "PRAGMA integrity_check")" = ok
expect "and still one hash chain" chain_ok sh
expect "every answer the client got as a success is in the log ($successes)" \
  test "$(ok_answers)" -ge "$((before_ok + successes))"

# --- a store the logger cannot open ------------------------------------------------------------
"$FED" stop-server "$FED_DIR" sh
mv "$FED_DIR/sh/log/messagelog.db" "$FED_DIR/sh/log/kept.db"
rm -f "$FED_DIR/sh/log/messagelog.db-wal" "$FED_DIR/sh/log/messagelog.db-shm"
# a file that is no database stands in its place: the logger cannot open it, and it can be
# replaced in one step (a directory could only be removed first, and a logger starting in
# between would create an empty log there)
echo "not a database" >"$FED_DIR/sh/log/messagelog.db"
# the full store is done with: the kept log comes back with room, so that its records and their
# timestamps can be written (a log whose timestamps cannot be stored is overdue after the 4 s
# grace, and TimestampingFailed would come before what the sections below look for)
sed -i 's/^max_bytes = 1048576$/max_bytes = 8388608/' "$FED_DIR/sh/secsrv.conf"
grep -q '^max_bytes = 8388608$' "$FED_DIR/sh/secsrv.conf" || not_ok "the store's max_bytes raised"
"$FED" start-server "$FED_DIR" sh
fed_env
# the restarted signer fetches its OCSP responses first; until then an exchange fails for that
only_store_down() { health sh; [ "$HEALTH_STATUS" = 500 ] && printf '%s' "$HEALTH" | grep -q 'message log' && ! printf '%s' "$HEALTH" | grep -q 'signing key'; }
expect "health is 500 and names the message log (and only it, once the signer is ready)" \
  wait_until "the signer ready" 30 only_store_down
xr GET $CLIENT $Q
expect_error "without a usable store every exchange fails" 500 Server.ClientProxy.LoggingFailed
# once the logger has failed, a request waits for its own record before it leaves: it fails
# here, and the register service never sees it
echo_hits() { log_count echo '^ss-testserver: [A-Z]+ '; }
hits_before=$(echo_hits)
xr GET $CLIENT $Q
expect_error "the next exchange fails too" 500 Server.ClientProxy.LoggingFailed
expect "... before its request left the consumer (no new request at the register service)" \
  test "$(echo_hits)" = "$hits_before"
# the kept log comes back in one step (a rename next to it), so that the logger, restarting
# all the while, finds either nothing it can open or the whole file, never one being written
sqlite3 "$FED_DIR/sh/log/kept.db" "VACUUM INTO '$FED_DIR/sh/log/restored.db'" 2>/dev/null ||
  cp "$FED_DIR/sh/log/kept.db" "$FED_DIR/sh/log/restored.db"
mv "$FED_DIR/sh/log/restored.db" "$FED_DIR/sh/log/messagelog.db"
recovered() { xr GET $CLIENT "$Q"; [ "$STATUS" = 200 ] || [ "$STATUS" = 500 -a "$(header x-road-error)" != "server.clientproxy.loggingfailed" ]; }
expect "once the store can be opened, the restarted logger serves again" \
  wait_until "the logger back" 60 recovered

# --- a log lost: removed while the server writes it, then others in its place ------------------
# The logger marks in its state directory a record it wrote (state/messagelog.mark) and holds
# any log it opens to it: an empty log in place of the lost one, an older copy or another
# chain would go on as if nothing had been lost.
LOGF=$FED_DIR/sh/log/messagelog.db
MARK=$FED_DIR/sh/state/messagelog.mark
sqlite3 "$LOGF" ".backup '$T_DIR/older.db'"
older=$(sqlite3 "$T_DIR/older.db" "SELECT max(id) FROM records")
xr GET $CLIENT "$Q"
expect "an exchange after the older copy was taken" test "$STATUS" = 200
at_end() { [ -f "$MARK" ] && [ "$(cut -d' ' -f1 "$MARK")" = "$(msglog sh "SELECT max(id) FROM records")" ]; }
expect "the logger marks the log's end (record and hash) in its state directory" \
  wait_until "the mark" 20 at_end
marked=$(cut -d' ' -f1 "$MARK")
expect "the mark names a record and its hash ($marked, beyond the older copy's $older)" \
  bash -c "[ $marked -gt $older ] && [ \"\$(cut -d' ' -f2 '$MARK')\" = \"\$(sqlite3 -readonly '$LOGF' \"SELECT lower(hex(hash)) FROM records WHERE id = $marked\")\" ]"
# every record timestamped first: the exchange below then meets the lost log, not a backlog
stamped_sh() { [ "$(pending sh)" = 0 ]; }
expect "the log is timestamped to its end before it is lost" wait_until "SH's timestamps" 20 stamped_sh
sqlite3 "$LOGF" ".backup '$T_DIR/whole.db'"
rm -f "$LOGF" "$LOGF-wal" "$LOGF-shm"
xr GET $CLIENT "$Q"
expect_error "the log removed while the server runs: the next exchange fails" 500 \
  Server.ClientProxy.LoggingFailed
hits_before=$(echo_hits)
xr GET $CLIENT "$Q"
expect_error "and the one after it" 500 Server.ClientProxy.LoggingFailed
expect "... before its request left the consumer (no new request at the register service)" \
  test "$(echo_hits)" = "$hits_before"
expect "the operator log says the log is gone" \
  log_has sh "logger: .* records not written: message log $LOGF was removed or replaced since it was opened"
gone_health() { health sh; [ "$HEALTH_STATUS" = 500 ] && printf '%s' "$HEALTH" | grep -q 'removed or replaced since it was opened'; }
expect "health is 500 and says why" wait_until "SH's health" 20 gone_health
"$FED" stop-server "$FED_DIR" sh
# refused_at_start WHY...: SH started on what is in place; its logger refuses it, saying WHY
refused_at_start() {
  local n
  n=$(log_count sh "$1")
  "$FED" start-server "$FED_DIR" sh >/dev/null && fed_env
  said() { [ "$(log_count sh "$1")" -gt "$n" ]; }
  wait_until "the logger's refusal" 20 said "$1" &&
    { xr GET $CLIENT "$Q"; [ "$STATUS" = 500 ] && [ "$(header x-road-error)" = server.clientproxy.loggingfailed ]; }
  local rc=$?
  "$FED" stop-server "$FED_DIR" sh
  return $rc
}
expect "no log at all: refused at start, the message naming the mark's record ($marked)" \
  refused_at_start "logger: message log $LOGF does not exist, but this server wrote record $marked to it \\($MARK\\)"
expect "... and no empty log was created in its place" test ! -e "$LOGF"
: >"$LOGF" # (an empty file is an empty SQLite database)
expect "an empty log in its place: refused at start" \
  refused_at_start "logger: message log $LOGF ends at record 0, but this server wrote record $marked"
rm -f "$LOGF"
cp "$T_DIR/older.db" "$LOGF"
expect "an older copy (rolled back to record $older): refused at start" \
  refused_at_start "logger: message log $LOGF ends at record $older, but this server wrote record $marked .*rolled back"
rm -f "$LOGF" "$LOGF-wal" "$LOGF-shm"
cp "$T_DIR/whole.db" "$LOGF"
sqlite3 "$LOGF" "UPDATE records SET hash = zeroblob(32) WHERE id = $marked"
expect "another chain (its record $marked of another hash): refused at start" \
  refused_at_start "logger: record $marked of message log $LOGF is not the one this server wrote"
rm -f "$LOGF" "$LOGF-wal" "$LOGF-shm"
cp "$T_DIR/whole.db" "$LOGF"
cp "$MARK" "$T_DIR/mark"
printf '0 %064d\n' 0 >"$MARK"
expect "a mark that names record 0: refused at start, the mark named" \
  refused_at_start "logger: $MARK: record 0: records are numbered from 1 \\(remove it only"
cp "$T_DIR/mark" "$MARK"
"$FED" start-server "$FED_DIR" sh >/dev/null
fed_env
expect "the whole log put back: the server serves again" wait_until "the logger back" 60 recovered
expect "and its chain goes on from the marked record" chain_ok sh

finish
