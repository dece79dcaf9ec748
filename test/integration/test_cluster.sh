#!/usr/bin/env bash
# One security server as three nodes: the MV server's nodes (mv, mv2, mv3)
# share one PostgreSQL message log (a throw-away cluster, deploy/pg.sh)
# and stand behind HAProxy in TCP mode (deploy/haproxy/secsrv-cluster.cfg,
# the nodes' health endpoints as its check); the registry names HAProxy's
# address. Under load from the SH server a node is killed with SIGKILL, ten
# times across the nodes (and started again): HAProxy routes around it,
# every exchange the client saw answered is in the shared log, no record
# is doubled, and the one chain verifies with no number missing. The node
# that timestamps is killed too: another takes the lease, and no batch is
# timestamped twice or skipped.
. "$(dirname "$0")/lib.sh"
pg_start
FED_MV_STORE=$PG_STORE
FED_MV_NODES=3
export FED_MV_STORE FED_MV_NODES
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/cluster
FED=$SS_SOURCE_DIR/deploy/federation.sh
LOG=$SS_BUILD_DIR/secsrv/secsrv-log
NODES=(mv mv2 mv3)
# a killed node's logger and network process end in the middle of their work
allow_error "logger: [0-9]+ records not written"
allow_error "client-proxy: .*(ServiceFailed|NetworkError|SslAuthenticationFailed|Timeout|LoggingFailed)"

node_pids() { # NAME: the node's parent process and its children
  local parent
  parent=$(awk -v n="$1" '$2 == n {print $1}' "$FED_DIR/pids" | tail -n 1)
  [ -n "$parent" ] || return 0
  echo "$parent $(ps -o pid= --ppid "$parent" | tr '\n' ' ')"
}
kill_node() { # NAME: every process of the node at once, with SIGKILL (as a crashed machine)
  # shellcheck disable=SC2046 # a list of process ids
  kill -9 $(node_pids "$1") 2>/dev/null || true
  awk -v n="$1" '$2 != n' "$FED_DIR/pids" >"$FED_DIR/pids.new" && mv "$FED_DIR/pids.new" "$FED_DIR/pids"
}
haproxy_says() { grep -Eq "$1" "$FED_DIR/haproxy.log"; }
state_count() { grep -Ec "Server nodes/$1 is $2" "$FED_DIR/haproxy.log" || true; }

ROUND=0
worker() { # N SECONDS: queries one after the other; one line per answer: STATUS QUERY-ID
  local end=$((SECONDS + $2)) i=0 id st
  while [ $SECONDS -lt $end ]; do
    i=$((i + 1))
    id="r$ROUND-w$1-$i"
    st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Road-Client: $CLIENT" \
      -H "X-Road-Id: $id" "http://127.0.0.1:$FED_SH_CLIENT_PORT$Q/$id" || true)
    echo "${st:-000} $id"
  done >>"$T_DIR/answers"
}
load() { # SECONDS: six workers at once, in the background
  ROUND=$((ROUND + 1))
  for w in 1 2 3 4 5 6; do worker "$w" "$1" & done
}

# --- three nodes, one log ------------------------------------------------------------------------
healthy() { # PORT NAME: the node's health endpoint says ok and names the node
  grep -q "\"status\":\"ok\",\"node\":\"$2\"" <(curl -s "http://127.0.0.1:$1/")
}
for n in "${NODES[@]}"; do
  up=$(echo "$n" | tr a-z A-Z)
  port=FED_${up}_HEALTH_PORT
  name=$n
  [ "$n" = mv ] && name=mv1
  # the start waits for the registry in force, not for the OCSP response the node's signer
  # fetches after it (the health endpoint names a signing key without one)
  expect "node $name is healthy and names itself" \
    wait_until "node $name healthy" 30 healthy "${!port}" "$name"
done
all_up() { # HAProxy's last word on each node is not DOWN
  local n
  for n in "${NODES[@]}"; do
    grep "Server nodes/$n is " "$FED_DIR/haproxy.log" | tail -n 1 | grep -q "is DOWN" && return 1
  done
  return 0
}
expect "HAProxy sends to all three nodes" wait_until "the nodes up" 20 all_up
load 3
wait
answered=$(grep -c '^200 ' "$T_DIR/answers" || true)
expect "exchanges through HAProxy are answered ($answered of $(wc -l <"$T_DIR/answers"))" \
  test "$answered" = "$(wc -l <"$T_DIR/answers")" -a "$answered" -gt 0
expect "the nodes write one log together" \
  test "$(msglog mv "SELECT count(DISTINCT node) FROM records WHERE side = 'server'")" -ge 2

# --- SIGKILL under load, ten times across the nodes -------------------------------------------------
downs=0
for round in 1 2 3 4 5 6 7 8 9 10; do
  victim=${NODES[$(((round - 1) % 3))]}
  before=$(state_count "$victim" DOWN)
  load 3
  sleep 1
  kill_node "$victim"
  wait
  if wait_until "HAProxy to take $victim out" 20 bash -c \
    "[ \$(grep -Ec 'Server nodes/$victim is DOWN' '$FED_DIR/haproxy.log') -gt $before ]"; then
    downs=$((downs + 1))
  fi
  ups=$(state_count "$victim" UP)
  # started again, at its address: HAProxy takes it in once its health endpoint answers
  "$FED" start-server "$FED_DIR" "$victim" >/dev/null
  wait_until "HAProxy to take $victim in again" 30 bash -c \
    "[ \$(grep -Ec 'Server nodes/$victim is UP' '$FED_DIR/haproxy.log') -gt $ups ]" ||
    not_ok "HAProxy did not take $victim in again"
done
expect "HAProxy took each killed node out (10 of 10)" test "$downs" = 10
total=$(wc -l <"$T_DIR/answers")
answered=$(grep -c '^200 ' "$T_DIR/answers" || true)
echo "# under ten kills: $answered of $total queries answered, $((total - answered)) failed"
expect "most queries were answered through the kills ($answered of $total)" \
  test $((answered * 100)) -ge $((total * 90))

# every answer the client saw is in the shared log, once
grep '^200 ' "$T_DIR/answers" | cut -d' ' -f2 | sort -u >"$T_DIR/seen"
msglog mv "SELECT DISTINCT query_id FROM records WHERE side = 'server' AND direction = 'response'
  AND status = 200" | sort -u >"$T_DIR/logged"
missing=$(comm -23 "$T_DIR/seen" "$T_DIR/logged" | wc -l)
expect "every exchange the client saw answered is in the shared log ($missing missing)" test "$missing" = 0
# (a request a killed node logged but never answered comes again when the client's server
# retries it: the node that gets it refuses it as a duplicate, so it is never served twice)
expect "no exchange is served twice" test "$(msglog mv "SELECT count(*) FROM (SELECT query_id,
  direction FROM records WHERE side = 'server' AND error_type = '' GROUP BY 1, 2
  HAVING count(*) > 1) d")" = 0
expect "one chain, no number missing" \
  test "$(msglog mv "SELECT count(*) = max(id) AND min(id) = 1 FROM records")" = t

# --- the node that timestamps is killed --------------------------------------------------------------
holder() { # the node whose session holds the timestamp lease
  msglog mv "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND l.objid = 5391002 AND l.granted"
}
has_holder() { [ -n "$(holder)" ]; }
expect "one node holds the timestamp lease" wait_until "a lease holder" 20 has_holder
lead=$(holder)
lead_node=$lead
[ "$lead" = mv1 ] && lead_node=mv # the first node's name in the federation
kill_node "$lead_node"
load 2
wait
new_holder() {
  local h
  h=$(holder)
  [ -n "$h" ] && [ "$h" != "$lead" ]
}
all_stamped() { [ "$(pending mv)" = 0 ]; }
expect "another node took the lease" wait_until "a new lease holder" 30 new_holder
expect "... and timestamps what the killed one left" wait_until "the timestamps" 60 all_stamped
expect "no batch timestamped twice" test "$(msglog mv "SELECT count(*) FROM timestamps a JOIN
  timestamps b ON a.id < b.id AND a.last_id >= b.first_id AND b.last_id >= a.first_id")" = 0
expect "no record stamped twice or skipped, each batch with its tree" \
  test "$(msglog mv "SELECT sum(last_id - first_id + 1) = (SELECT count(*) FROM records)
    AND min(first_id) = 1 AND bool_and(tree IS NOT NULL) FROM timestamps")" = t
# --- a node that holds other policies than the others ----------------------------------------------
SECSRV=$SS_BUILD_DIR/secsrv/secsrv
"$FED" start-server "$FED_DIR" "$lead_node" >/dev/null
for n in "${NODES[@]}"; do
  up=$(echo "$n" | tr '[:lower:]' '[:upper:]')
  port=FED_${up}_HEALTH_PORT
  name=$n
  [ "$n" = mv ] && name=mv1
  wait_until "node $name healthy" 30 healthy "${!port}" "$name" || not_ok "node $name is not healthy"
done
wait_until "the nodes up" 20 all_up || not_ok "HAProxy does not send to all nodes"
expect "secsrv -n on node mv3 finds it holds what the others hold" \
  "$SECSRV" -n -c "$FED_DIR/mv3/secsrv.conf"
allow_error "logger: node mv3 differs from nodes mv1, mv2 in: policies"
policies=$(awk -F' = ' '/^\[policies\]/ {p = 1} p && $1 == "dir" {print $2; exit}' "$FED_DIR/mv3/secsrv.conf")
cp -r "$policies" "$T_DIR/mv3-policies"
chmod -R a+rX "$T_DIR/mv3-policies"
first=$(find "$T_DIR/mv3-policies" -name '*.xml' | sort | head -n 1)
echo "<!-- changed on node mv3 alone -->" >>"$first"
sed -i "s|^dir = $policies\$|dir = $T_DIR/mv3-policies|" "$FED_DIR/mv3/secsrv.conf"
NOUT=$("$SECSRV" -n -c "$FED_DIR/mv3/secsrv.conf" 2>&1) && NRC=0 || NRC=$?
expect "secsrv -n on node mv3 says it differs, and in what ($(grep -m1 "differs" <<<"$NOUT"))" \
  bash -c "[ $NRC = 1 ] && grep -q 'node mv3 differs from nodes mv1, mv2 in: policies' <<<'$NOUT'"
downs=$(state_count mv3 DOWN)
ups_before=$(state_count mv3 UP)
"$FED" stop-server "$FED_DIR" mv3 >/dev/null
"$FED" start-server "$FED_DIR" mv3 >/dev/null
differs() { curl -s "http://127.0.0.1:$FED_MV3_HEALTH_PORT/" | grep -q '"node: differs from nodes mv1, mv2 in: policies"'; }
expect "its health check says so" wait_until "mv3's health to say it differs" 30 differs
expect "... with status 500" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FED_MV3_HEALTH_PORT/")" = 500
taken_out() { [ "$(state_count mv3 DOWN)" -gt "$downs" ]; }
wait_until "HAProxy to take the stopped mv3 out" 20 taken_out || not_ok "HAProxy did not take mv3 out"
# running, with a registry, keys and OCSP, but holding other policies: HAProxy's checks get its
# 500 (each one a "health: failing" line in its log), and after four of them (rise 2) it has
# still not taken it in
refusals() { grep -c 'health: failing: .*node: differs' "$FED_DIR/mv3.log" || true; }
asked=$(refusals)
checked() { [ "$(refusals)" -ge $((asked + 4)) ]; }
wait_until "four health checks of mv3 by HAProxy" 20 checked || not_ok "HAProxy did not check mv3"
expect "HAProxy keeps it out" test "$(state_count mv3 UP)" = "$ups_before"
expect "the others stay healthy" healthy "$FED_MV2_HEALTH_PORT" mv2
mark=$(msglog mv "SELECT coalesce(max(id), 0) FROM records")
load 2
wait
expect "exchanges go on through the others, none through mv3" test "$(msglog mv "SELECT count(*) FILTER
  (WHERE node = 'mv3') || ':' || (count(*) > 0) FROM records WHERE id > $mark")" = 0:true
# the same policies again, and a reload: it agrees, and HAProxy takes it in
cp "$policies"/*.xml "$T_DIR/mv3-policies/"
ups=$(state_count mv3 UP)
logger_before=$(child_of mv3 logger)
kill -HUP "$(awk '$2 == "mv3" {print $1}' "$FED_DIR/pids" | tail -n 1)"
expect "after a reload with the others' policies, mv3 is healthy again" \
  wait_until "mv3 healthy" 30 healthy "$FED_MV3_HEALTH_PORT" mv3
# what the node holds now reaches its logger on the control link: the same logger takes it
expect "... its logger took the reload and goes on (pid $logger_before, now $(child_of mv3 logger))" \
  test -n "$logger_before" -a "$(child_of mv3 logger)" = "$logger_before"
expect "... and HAProxy takes it in" wait_until "HAProxy to take mv3 in" 20 bash -c \
  "[ \$(grep -Ec 'Server nodes/mv3 is UP' '$FED_DIR/haproxy.log') -gt $ups ]"
expect "secsrv -n agrees again" "$SECSRV" -n -c "$FED_DIR/mv3/secsrv.conf"

VRC=0
VOUT=$("$LOG" verify "$PG_STORE" --anchor "$FED_PKI/registry-authority.pem" 2>&1) || VRC=$?
expect "secsrv-log verifies the shared log ($(tail -n 1 <<<"$VOUT"))" test "$VRC" = 0
finish
