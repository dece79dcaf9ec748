#!/usr/bin/env bash
# The message log on PostgreSQL: the MV server logs into a throw-away
# cluster the test starts (deploy/pg.sh: Debian's server programs, a Unix
# socket in the test's folder, no port). Exchanges are logged and
# timestamped there as in the SQLite store, and secsrv-log verifies,
# searches and reports on it. When the database goes down (stopped as a
# crash would stop it) exchanges fail with a clear error, the backend is
# never asked, and nothing is answered unlogged; when it comes back the
# server serves again by itself, and the chain still verifies whole.
. "$(dirname "$0")/lib.sh"
pg_start
FED_MV_STORE=$PG_STORE
export FED_MV_STORE
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/pg
LOG=$SS_BUILD_DIR/secsrv/secsrv-log
ANCHOR=$FED_PKI/registry-authority.pem
ask() { # N: one query about person P-N
  xr GET $CLIENT "$Q/$1" -H "X-Secsrv-Purpose: BMG-34" -H "X-Secsrv-Subject: P-$1"
}
answered=0
for i in 1 2 3 4 5; do
  ask "$i"
  [ "$STATUS" = 200 ] && answered=$((answered + 1))
done
expect "five exchanges through a provider that logs into PostgreSQL" test "$answered" = 5
expect "its logger names the store, without a password" \
  log_has mv "logger: message log postgresql:host=$PG_DIR dbname=secsrv user=secsrv open"
expect "the provider's records are in the database (two per exchange)" \
  test "$(msglog mv "SELECT count(*) FROM records WHERE side = 'server'")" = 10
expect "... and timestamped there" wait_until "the timestamps" 30 stamped
expect "the registry in force is kept in the database" \
  test "$(msglog mv "SELECT count(*) FROM registries")" -ge 1

verify() { # sets VRC and VOUT
  VRC=0
  VOUT=$("$LOG" verify "$PG_STORE" --anchor "$ANCHOR" 2>&1) || VRC=$?
}
verify
expect "secsrv-log verifies the PostgreSQL store ($(tail -n 1 <<<"$VOUT"))" test "$VRC" = 0
expect "... every record of it" grep -q "^records 1 to 10: 10 checked" <<<"$VOUT"
found=$("$LOG" search "$PG_STORE" side=server purpose=BMG-34 --json 2>/dev/null | wc -l)
expect "secsrv-log searches it ($found records)" test "$found" = 10
cockpit=$("$LOG" cockpit "$PG_STORE" --anchor "$ANCHOR" --subject-key "$FED_DIR/mv/state/subject.key" \
  subject=P-3 2>/dev/null || true)
expect "the data-subject report of one person comes from it" \
  test "$(jq '.exchanges | length' <<<"$cockpit" 2>/dev/null)" = 1

# --- the database goes down ---------------------------------------------------------------------
allow_error "logger: [0-9]+ records not written: .*cannot reach the database|logger: [0-9]+ records not written: .*connection"
allow_error "server-proxy: .*(could not be written to the message log|LoggingFailed)"
allow_error "client-proxy: .*LoggingFailed"
served_before=$(grep -c "GET /base/pg" "$FED_DIR/echo.log" || true)
"$SS_SOURCE_DIR/deploy/pg.sh" stop "$PG_DIR" immediate
ask 6
expect "with the database down the exchange fails ($STATUS $(header x-road-error))" \
  test "$STATUS" -ge 500 -a "$(header x-road-error)" = "server.serverproxy.loggingfailed"
expect "... the backend was never asked" \
  test "$(grep -c "GET /base/pg" "$FED_DIR/echo.log" || true)" = "$served_before"
expect "... and the logger says why" \
  wait_until "the logger's line" 20 log_has mv "logger: [0-9]+ records not written: .*postgresql:host="

# --- and comes back -------------------------------------------------------------------------------
"$SS_SOURCE_DIR/deploy/pg.sh" start "$PG_DIR" >/dev/null
serves() {
  ask 7
  [ "$STATUS" = 200 ]
}
expect "when it is back the server serves again by itself" wait_until "an answered query" 30 serves
expect "... and timestamps again" wait_until "the timestamps" 30 stamped
verify
expect "the chain verifies whole after the outage ($(tail -n 1 <<<"$VOUT"))" test "$VRC" = 0
expect "... with no record lost or doubled" \
  test "$(msglog mv "SELECT count(*) = max(id) AND min(id) = 1 FROM records")" = t
expect "every exchange the client saw answered is in the provider's log" \
  test "$(msglog mv "SELECT count(DISTINCT query_id) FROM records WHERE side = 'server' AND direction = 'response' AND status = 200")" \
  = "$(msglog sh "SELECT count(DISTINCT query_id) FROM records WHERE side = 'client' AND direction = 'response' AND status = 200")"
finish
