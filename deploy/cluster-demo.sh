#!/usr/bin/env bash
# The cluster demo: Schwerin's provider security server as three nodes
# behind HAProxy (TCP mode, the nodes' health endpoints as its check),
# sharing one PostgreSQL message log (a throw-away cluster in a folder,
# deploy/pg.sh), and the SH consumer server in front of the ministry's
# information system, all on 127.0.0.1. It sends a stream of queries,
# kills one provider node (every process of it, SIGKILL, as a crashed
# machine) in the middle, shows the stream going on and HAProxy taking the
# node out, and ends with secsrv-log verify over the shared store and the
# records each node wrote.
#   --keep   leave everything running and print how to stop it
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
keep=0
[ "${1:-}" = "--keep" ] && keep=1

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Installing Debian packages (if missing), building"
# shellcheck disable=SC1091
. "$src/deploy/prepare.sh"
prepare secsrv secsrv-registry secsrv-log ss-testserver ss-evidence

demo=$src/build/cluster-demo
[ -f "$demo/fed/pids" ] && ./deploy/federation.sh stop "$demo/fed"
[ -d "$demo/pg" ] && ./deploy/pg.sh stop "$demo/pg" immediate
rm -rf "$demo"
mkdir -p "$demo"
chmod 755 "$demo" # the servers' children and PostgreSQL may run as nobody

step "PostgreSQL: a throw-away cluster in $demo/pg (a Unix socket, no port)"
store=$(./deploy/pg.sh start "$demo/pg")
echo "store = $store"
cleanup() {
  if [ $keep -eq 0 ]; then
    ./deploy/federation.sh stop "$demo/fed" || true
    ./deploy/pg.sh stop "$demo/pg" || true
  fi
}
trap cleanup EXIT

step "The federation: SH consumer, MV provider as three nodes behind HAProxy"
FED_MV_STORE=$store FED_MV_NODES=3 ./deploy/federation.sh start "$demo/fed"
# shellcheck disable=SC1091
. "$demo/fed/env"
echo "HAProxy: 127.0.0.1:$FED_HAPROXY_PORT (the address the registry lists for ss-mv-schwerin)"
healthy() { # PORT: the node's health endpoint answers 200
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/")" = 200 ]
}
haproxy_up() { # NODE: HAProxy's last word on it is not DOWN
  ! grep "Server nodes/$1 is " "$FED_DIR/haproxy.log" | tail -n 1 | grep -q "is DOWN"
}
# a node is ready once its signer holds an OCSP response for every signing key; until then
# its health answers 503 and HAProxy keeps it out
for n in mv mv2 mv3; do
  up=$(echo "$n" | tr "[:lower:]" "[:upper:]")
  sp=FED_${up}_SERVER_PORT hp=FED_${up}_HEALTH_PORT
  wait_until "node $n healthy" 30 healthy "${!hp}"
  wait_until "HAProxy sending to node $n" 20 haproxy_up "$n"
  echo "node $n: server proxy 127.0.0.1:${!sp}, health $(curl -s "http://127.0.0.1:${!hp}/" | head -c 40)..."
done
sed -n '/^backend/,$p' "$FED_DIR/haproxy.cfg"

URL="http://127.0.0.1:$FED_SH_CLIENT_PORT/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft/persons/P-1001"
stream() { # WORKER SECONDS: one query after the other; STATUS per line
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 \
      -H "X-Road-Client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft" -H "X-Secsrv-Purpose: BMG-34" \
      -H "X-Secsrv-Subject: P-1001" "$URL" || echo 000
  done >"$demo/stream-$1"
}
tally() { cat "$demo"/stream-* 2>/dev/null | awk '{n++; if ($1 == 200) ok++} END {printf "%d queries, %d answered, %d failed", n, ok, n - ok}'; }

step "A stream of queries (4 at a time, 12 s); the busiest provider node is killed after 4 s"
for w in 1 2 3 4; do stream "$w" 12 & done
victim=
for s in $(seq 1 12); do
  sleep 1
  if [ "$s" = 4 ]; then
    # the node that wrote the most records in the last second carries the stream: it goes
    busiest=$(./deploy/pg.sh psql "$demo/pg" -Atqc "SELECT node FROM records
      WHERE id > (SELECT max(id) FROM records) - 200 GROUP BY node ORDER BY count(*) DESC LIMIT 1")
    victim=${busiest:-mv2}
    [ "$victim" = mv1 ] && victim="mv" # the first node's folder and name in the federation
    parent=$(awk -v n="$victim" '$2 == n {print $1}' "$FED_DIR/pids" | tail -n 1)
    # shellcheck disable=SC2046 # a list of process ids
    kill -9 "$parent" $(ps -o pid= --ppid "$parent") 2>/dev/null || true
    echo "  t=${s}s: kill -9 of every process of node $victim (node ${busiest:-mv2} in the log)"
  fi
  echo "  t=${s}s: $(tally)"
done
wait
grep -h "Server nodes/$victim is DOWN" "$FED_DIR/haproxy.log" | head -n 1 | sed 's/^<[0-9]*>/  HAProxy: /'
echo "  in all: $(tally)"

step "The shared message log: records per node, and the timestamps"
pending() { ./deploy/pg.sh psql "$demo/pg" -Atqc "SELECT count(*) FROM records WHERE id > (SELECT coalesce(max(last_id), 0) FROM timestamps)"; }
stamped() { [ "$(pending)" = 0 ]; }
wait_until "the timestamps" 60 stamped || echo "(not all records are timestamped yet)"
./deploy/pg.sh psql "$demo/pg" -c "SELECT node, count(*) AS records, min(id) AS first, max(id) AS last
  FROM records GROUP BY node ORDER BY node"
./deploy/pg.sh psql "$demo/pg" -c "SELECT count(*) AS timestamps, min(first_id) AS first,
  max(last_id) AS last FROM timestamps"

step "The DPO's check over the shared store: one chain, every node's records (secsrv-log verify)"
echo "\$ secsrv-log verify '$store' --anchor registry-authority.pem"
"$SS_BUILD_DIR/secsrv/secsrv-log" verify "$store" --anchor "$FED_PKI/registry-authority.pem"

if [ $keep -eq 1 ]; then
  step "Left running"
  echo "client proxy (SH): http://127.0.0.1:$FED_SH_CLIENT_PORT/r1/..."
  echo "start node $victim again: ./deploy/federation.sh start-server $FED_DIR $victim"
  echo "stop with: ./deploy/federation.sh stop $FED_DIR && ./deploy/pg.sh stop $demo/pg"
fi
