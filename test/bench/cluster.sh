#!/usr/bin/env bash
# The cluster benchmark (a script, not a test: it prints figures and never
# fails on them). The same load (wrk, keep-alive, the SH consumer server's
# client proxy, the fast backend behind the MV provider) against the MV
# server as:
#   1. one node with its SQLite log (the single server),
#   2. one node with the PostgreSQL log (the cost of the shared store),
#   3. one node with PostgreSQL behind HAProxy (the cost of HAProxy),
#   4. two and 5. three nodes with PostgreSQL behind HAProxy,
# printing requests/s and p50/p99 of each and the cost per exchange against
# the first. Then a node failure: three nodes under the load, every process
# of the busiest node killed with SIGKILL after a third of the run, printing
# the errors the client saw, the answers per second the provider logged
# around the kill, and the seconds until they were back at 90 % of before.
# On a 2-core machine the nodes share the cores: more nodes cannot mean
# more throughput here, only what sharing costs.
#   usage: test/bench/cluster.sh [DURATION_S=10] [CONNECTIONS=32]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
duration=${1:-10}
conns=${2:-32}

# shellcheck disable=SC1091
. "$src/deploy/prepare.sh"
prepare --bench secsrv secsrv-registry ss-testserver ss-evidence

work=$(mktemp -d /tmp/ss-cluster-bench.XXXXXX)
chmod 755 "$work" # the servers' children and PostgreSQL may run as nobody
stop_all() {
  ./deploy/federation.sh stop "$work/fed" >/dev/null 2>&1 || true
  if [ -d "$work/pg" ]; then ./deploy/pg.sh stop "$work/pg" immediate >/dev/null 2>&1 || true; fi
  rm -rf "$work/pg" "$work/fed"
}
cleanup() {
  stop_all
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
SVC_PATH=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/fast/persons/P-1001
NODES=(mv mv2 mv3)

start() { # NODES STORE(sqlite|pg) HAPROXY(0|1): a fresh federation, every MV node ready
  stop_all
  local store=
  [ "$2" = pg ] && store=$(./deploy/pg.sh start "$work/pg")
  FED_TEST=1 FED_MV_STORE=$store FED_MV_NODES=$1 FED_MV_HAPROXY=$3 \
    ./deploy/federation.sh start "$work/fed" >"$work/start.log" 2>&1 || {
    cat "$work/start.log"
    exit 1
  }
  # shellcheck disable=SC1091
  . "$work/fed/env"
  local n up hp
  for n in "${NODES[@]:0:$1}"; do
    up=$(echo "$n" | tr '[:lower:]' '[:upper:]')
    hp=FED_${up}_HEALTH_PORT
    wait_until "node $n healthy" 30 bash -c \
      "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${!hp}/)\" = 200 ]"
  done
  if [ "$3" = 1 ]; then
    for n in "${NODES[@]:0:$1}"; do
      wait_until "HAProxy sending to $n" 20 bash -c \
        "! grep 'Server nodes/$n is ' '$FED_DIR/haproxy.log' | tail -n 1 | grep -q 'is DOWN'"
    done
  fi
  # warm: connections, OCSP, the first timestamps
  curl -s -o /dev/null -H "X-Road-Client: $CLIENT" "http://127.0.0.1:$FED_SH_CLIENT_PORT$SVC_PATH"
}

LAST_RPS=0 LAST_P99=0 LAST_OUT=
load() { # SECONDS: wrk on the SH client proxy
  LAST_OUT=$(wrk -t2 -c"$conns" -d"$1s" --latency -H "X-Road-Client: $CLIENT" \
    "http://127.0.0.1:$FED_SH_CLIENT_PORT$SVC_PATH")
  LAST_RPS=$(awk '/Requests\/sec/ {print $2}' <<<"$LAST_OUT")
  LAST_P99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0;
    else if (v ~ /s$/) v = v * 1000; print v}' <<<"$LAST_OUT")
}
errors() { # what wrk counted as failed in the last load
  awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/[a-z ]+/, " "); split($0, a, ","); for (i in a) n += a[i]}
    END {print n + 0}' <<<"$LAST_OUT"
}

base_rps=0 base_p99=0
row() { # LABEL
  local per_ms
  per_ms=$(awk -v r="$LAST_RPS" 'BEGIN {if (r > 0) printf "%.3f", 2000 / r}')
  printf '%-44s %9s req/s  p50 %8s  p99 %7.2f ms  %6s ms CPU/exchange' "$1" "$LAST_RPS" \
    "$(awk '$1 == "50%" {print $2}' <<<"$LAST_OUT")" "$LAST_P99" "$per_ms"
  if [ "$base_rps" != 0 ]; then
    awk -v r="$LAST_RPS" -v b="$base_rps" -v p="$LAST_P99" -v bp="$base_p99" 'BEGIN {
      printf "  (%.2fx, +%.3f ms per exchange, p99 %.2fx)", r / b, 2000 / r - 2000 / b, p / bp }'
  fi
  printf '  errors %s\n' "$(errors)"
}

echo "wrk: 2 threads, $conns connections, ${duration}s each, keep-alive, $(nproc) cores;"
echo "CPU/exchange: the machine's $(nproc) cores divided by the throughput (all processes)"
start 1 sqlite 0
load "$duration"
base_rps=$LAST_RPS base_p99=$LAST_P99
row "1 node, SQLite (the single server)"
start 1 pg 0
load "$duration"
row "1 node, PostgreSQL"
start 1 pg 1
load "$duration"
row "1 node, PostgreSQL, behind HAProxy"
start 2 pg 1
load "$duration"
row "2 nodes, PostgreSQL, behind HAProxy"
start 3 pg 1
load "$duration"
row "3 nodes, PostgreSQL, behind HAProxy"

# --- a node failure under load ------------------------------------------------------------------
start 3 pg 1
run=$((duration * 3))
kill_at=$((run / 3))
psql_() { ./deploy/pg.sh psql "$work/pg" -Atqc "$1"; }
t0_ms=$(date +%s%3N)
wrk -t2 -c"$conns" -d"${run}s" --latency -H "X-Road-Client: $CLIENT" \
  "http://127.0.0.1:$FED_SH_CLIENT_PORT$SVC_PATH" >"$work/wrk-failure" &
wrk_pid=$!
sleep "$kill_at"
# the node that wrote the most of the last records carries the most connections
busiest=$(psql_ "SELECT node FROM records WHERE id > (SELECT max(id) FROM records) - 300
  GROUP BY node ORDER BY count(*) DESC LIMIT 1")
victim=${busiest:-mv2}
[ "$victim" = mv1 ] && victim="mv"
parent=$(awk -v n="$victim" '$2 == n {print $1}' "$FED_DIR/pids" | tail -n 1)
kill_ms=$(date +%s%3N)
# shellcheck disable=SC2046 # a list of process ids
kill -9 "$parent" $(ps -o pid= --ppid "$parent") 2>/dev/null || true
wait "$wrk_pid" || true
LAST_OUT=$(cat "$work/wrk-failure")
echo
echo "node failure: 3 nodes, ${run}s of load, every process of node $victim killed (SIGKILL) at ${kill_at}s"
psql_ "SELECT ((logged_ms - $t0_ms) / 1000)::int AS s, count(*) FROM records
  WHERE side = 'server' AND direction = 'response' AND status = 200 AND logged_ms >= $t0_ms
  GROUP BY 1 ORDER BY 1" >"$work/per-second"
awk -F'|' -v k=$(((kill_ms - t0_ms) / 1000)) -v run="$run" '
  {n[$1] = $2}
  END {
    for (s = 1; s < k; s++) { before += n[s]; nb++ }
    avg = nb ? before / nb : 0
    printf "  answers per second logged by the provider:"
    for (s = 0; s < run; s++) printf " %s%d", (s == k ? "[kill] " : ""), n[s] + 0
    printf "\n  before the kill: %.0f/s on average\n", avg
    back = -1
    for (s = k; s < run; s++) if (n[s] >= 0.9 * avg) { back = s - k; break }
    if (back >= 0) printf "  back at 90%% of that %d s after the kill (the second of the kill counted as 0)\n", back
    else printf "  not back at 90%% of that before the end of the run\n"
  }' "$work/per-second"
echo "  errors the client saw over the whole run: $(errors) (of $(awk '/requests in/ {print $1}' <<<"$LAST_OUT") requests)"
down=$(grep -h "Server nodes/$victim is DOWN" "$FED_DIR/haproxy.log" | head -n 1 || true)
echo "  HAProxy: ${down:-(no DOWN line)}" | sed 's/<[0-9]*>//'
