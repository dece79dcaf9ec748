#!/usr/bin/env bash
# How fast secsrv-log verifies a message log (a script, not a test: it
# prints figures and never fails on them). It runs the loopback federation
# under wrk load for DURATION seconds (SH consumer -> MV provider, every
# message signed, batch-signed under load, logged and timestamped), lets
# the timestamper catch up, copies both logs and verifies each copy, then
# a copy of the SH log sealed to a DPO key with the secret key given.
# Prints records, time and records/s per run, and records per 100,000.
#   usage: test/bench/verify.sh [DURATION_S=60] [CONNECTIONS=32]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
duration=${1:-60}
conns=${2:-32}

# shellcheck disable=SC1091
. "$src/deploy/prepare.sh"
prepare --bench secsrv secsrv-registry secsrv-log ss-testserver
LOG=$SS_BUILD_DIR/secsrv/secsrv-log

work=$(mktemp -d /tmp/ss-verify-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
  ./deploy/federation.sh stop "$work/fed" >/dev/null 2>&1 || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

"$LOG" keygen "$work/dpo.secret" "$work/dpo.public" >/dev/null
chmod 644 "$work/dpo.public"
export FED_SH_LOG_EXTRA="dpo_public_key = $work/dpo.public"
FED_TEST=1 ./deploy/federation.sh start "$work/fed" >"$work/start.log" 2>&1 || {
  cat "$work/start.log"
  exit 1
}
# shellcheck disable=SC1091
. "$work/fed/env"
echo "loading the federation for ${duration}s with $conns connections..."
wrk -t2 -c"$conns" -d"${duration}s" -H "X-Road-Client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft" \
  -H "X-Secsrv-Purpose: BMG-34" -H "X-Secsrv-Subject: P-1001" \
  "http://127.0.0.1:$FED_SH_CLIENT_PORT/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/fast/persons/P-1001" |
  grep -E "Requests/sec|requests in"
pending() { sqlite3 -readonly "$FED_DIR/$1/log/messagelog.db" \
  "SELECT count(*) FROM records WHERE id > (SELECT coalesce(max(last_id), 0) FROM timestamps)"; }
stamped() { [ "$(pending sh)" = 0 ] && [ "$(pending mv)" = 0 ]; }
wait_until "the timestamps to catch up" 120 stamped
for side in sh mv; do
  sqlite3 "$FED_DIR/$side/log/messagelog.db" ".backup '$work/$side.db'"
done
./deploy/federation.sh stop "$work/fed" >/dev/null 2>&1 || true

run() { # NAME args...
  local name=$1
  shift
  local out
  out=$("$LOG" verify "$@" --anchor "$FED_PKI/registry-authority.pem")
  local n secs
  n=$(sed -n 's/^records [0-9]* to [0-9]*: \([0-9]*\) checked.*/\1/p' <<<"$out")
  secs=$(sed -n 's/^time: \([0-9.]*\) s.*/\1/p' <<<"$out")
  awk -v name="$name" -v n="$n" -v s="$secs" -v verdict="$(tail -1 <<<"$out")" 'BEGIN {
    printf "%-34s %9d records %8.3f s %9.0f records/s %6.2f s per 100,000  %s\n", name, n, s, n / s,
      s * 100000 / n, verdict }'
  grep -E '^signatures|^timestamps' <<<"$out" | sed 's/^/    /'
}
echo
run "MV log (plain)" "$work/mv.db"
run "SH log (sealed, not opened)" "$work/sh.db"
run "SH log (sealed, opened with key)" "$work/sh.db" --secret-key "$work/dpo.secret"
