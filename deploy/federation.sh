#!/usr/bin/env bash
# Runs a whole federation on 127.0.0.1, for the demo and the integration
# tests: the registry publisher, an SH consumer security server (Ministry of
# the Interior, Kiel), an MV provider security server (Schwerin's
# population register), the sample register service, and an OCSP
# responder for the federation CA.
#
#   federation.sh start DIR          build PKI, registry and configs in DIR, start all
#   federation.sh stop DIR           stop everything started in DIR
#   federation.sh start-server DIR sh|mv
#                                    (re)start one security server with its
#                                    configuration; updates its ports in DIR/env
#   federation.sh stop-server DIR NAME [SIGNAL]
#                                    stop one process (sh, mv, publisher, ...)
#
# Every server binds port 0 itself and the launcher learns the port from
# the process it started (a port file or its log line), never by probing:
# no two federations on one machine can race for a port. Each wait has a
# deadline and ends early if the process died.
#
# Environment: SS_BUILD_DIR (default build/release), SS_TEST_PKI (reuse a
# PKI instead of creating DIR/pki), FED_TEST=1 (also an echo backend, a
# service whose backend is down, impostor TLS servers registered for other
# providers, short timeouts and a 1 s registry refresh (FED_REFRESH), for
# the tests),
# FED_WAIT (seconds each wait may take, default 60), FED_SH_CONNECTION_TIMEOUT (the SH
# server's connection_timeout in test mode, default 2 s), FED_TS_GRACE (the
# timestamping grace period in test mode), FED_CLOCK_SKEW (the clock skew
# and replay window in test mode, default 10 s), FED_MV_BACKEND_TIMEOUT (the
# MV server's backend timeout in test mode, default 2 s), FED_MAX_CONNECTIONS
# (both servers' max_connections in test mode), FED_MV_MAX_UNAUTHENTICATED
# (the MV server's max_unauthenticated in test mode), FED_SH_LOG_EXTRA and
# FED_MV_LOG_EXTRA (more [log] lines for one server, one per line),
# FED_SH_WATCHDOG and FED_MV_WATCHDOG (one server's [server] watchdog),
# FED_SH_STORE and FED_MV_STORE (the message-log store of one server
# instead of its SQLite file, e.g. postgresql:host=... from deploy/pg.sh),
# FED_SH_RUN_WITH and FED_MV_RUN_WITH (a command the server is started
# under, which must exec it so that it keeps the process id recorded, e.g.
# "env LD_PRELOAD=.../libfaketime.so.1 FAKETIME=+2d" to see it as of
# another day), FED_MV_NODES (the MV server as that many nodes, mv, mv2,
# mv3 ..., behind HAProxy in TCP mode with the nodes' health endpoints as
# its check; needs FED_MV_STORE on PostgreSQL, which they share, and a
# subject key they share; the registry names HAProxy's address),
# FED_MV_HAPROXY=1 (HAProxy in front of the MV server even as one node),
# FED_OCSP_NEXT_UPDATE_MIN (the OCSP responder's answers end that many
# minutes after they are made, their nextUpdate; by default they have none). After start,
# DIR/env holds the ports and paths (source it); DIR/*.log hold each
# process's output.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$src/deploy/wait.sh"
build=${SS_BUILD_DIR:-$src/build/release}
cmd=${1:-}
dir=${2:-}
usage() {
  echo "usage: federation.sh start|stop DIR | start-server DIR sh|mv | stop-server DIR NAME [SIGNAL]" >&2
  exit 2
}
[ -n "$cmd" ] && [ -n "$dir" ] || usage
wait_limit=${FED_WAIT:-60}

registry_tool=$build/registry/secsrv-registry
secsrv=$build/secsrv/secsrv
testserver=$build/test/tools/ss-testserver

# pid_of NAME: the pid recorded for NAME (the last one started)
pid_of() { awk -v n="$1" '$2 == n {p = $1} END {if (p) print p}' "$dir/pids" 2>/dev/null; }

# stop_pids FILTER-NAME-OR-EMPTY [SIGNAL]: stops the recorded processes (all, or one name)
stop_pids() {
  local only=${1:-} sig=${2:-TERM}
  [ -f "$dir/pids" ] || return 0
  local pid name pids=()
  while read -r pid name; do
    if [ -z "$only" ] || [ "$name" = "$only" ]; then
      pids+=("$pid")
      # the OCSP responder's worker processes (-multi) outlive their parent otherwise
      if [ "$name" = ocsp ]; then
        for kid in $(ps -o pid= --ppid "$pid" 2>/dev/null); do pids+=("$kid"); done
      fi
    fi
  done <"$dir/pids"
  [ ${#pids[@]} -eq 0 ] && return 0
  kill -s "$sig" "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while [ $SECONDS -lt $deadline ]; do
    local running=0
    for pid in "${pids[@]}"; do alive "$pid" && running=1; done
    [ $running -eq 0 ] && break
    nap 0.05
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
  # a process killed with -9 is reaped by whoever started it; wait until it is gone
  for pid in "${pids[@]}"; do
    while alive "$pid"; do nap 0.02; done
  done
  if [ -z "$only" ]; then
    rm -f "$dir/pids"
  else
    awk -v n="$only" '$2 != n' "$dir/pids" >"$dir/pids.new" && mv "$dir/pids.new" "$dir/pids"
  fi
}

fail() {
  echo "federation: $*" >&2
  [ "$cmd" = start ] && stop_pids
  exit 1
}

# started NAME CMD...: runs CMD in the background with its output in NAME.log
started() {
  local name=$1
  shift
  "$@" >"$dir/$name.log" 2>&1 &
  echo "$! $name" >>"$dir/pids"
}

# await NAME WHAT CMD...: waits until CMD succeeds, while NAME's process lives
await() {
  local name=$1 what=$2
  shift 2
  local pid deadline=$((SECONDS + wait_limit))
  pid=$(pid_of "$name")
  until "$@"; do
    if [ -z "$pid" ] || ! alive "$pid"; then
      cat "$dir/$name.log" >&2 2>/dev/null || true
      fail "$name exited before $what (see $dir/$name.log)"
    fi
    [ $SECONDS -lt $deadline ] || fail "$name: no $what within ${wait_limit}s (see $dir/$name.log)"
    nap 0.05
  done
}

# port_file NAME: the port NAME wrote to DIR/NAME.port
port_file() {
  await "$1" "port file" test -s "$dir/$1.port"
  head -n 1 "$dir/$1.port"
}

# accept_port NAME: the port an openssl server announced ("ACCEPT host:port")
accept_port() {
  await "$1" "ACCEPT line" grep -q '^ACCEPT ' "$dir/$1.log"
  sed -n 's/^ACCEPT .*:\([0-9][0-9]*\).*/\1/p' "$dir/$1.log" | head -n 1
}

# listener_port NAME LISTENER: the port a secsrv listener reported
listener_port() {
  sed -n "s/.* $2: listening on .* (port \([0-9]*\)).*/\1/p" "$dir/$1.log" | tail -n 1
}

# start_server NAME: starts one security server and waits until it serves
start_server() {
  local name=$1
  : >"$dir/$name.log"
  local with=FED_$(printf '%s' "$name" | tr a-z A-Z)_RUN_WITH
  # shellcheck disable=SC2086 # a command and its arguments
  started "$name" ${!with:-} "$secsrv" -c "$dir/$name/secsrv.conf"
  await "$name" "start" grep -q " network: serving$" "$dir/$name.log"
  local up client tls server health metrics
  client=$(listener_port "$name" client-proxy)
  tls=$(listener_port "$name" client-proxy-tls)
  server=$(listener_port "$name" server-proxy)
  health=$(listener_port "$name" health)
  metrics=$(listener_port "$name" metrics)
  up=$(printf '%s' "$name" | tr a-z A-Z)
  {
    grep -v "^FED_${up}_\(CLIENT\|CLIENT_TLS\|SERVER\|HEALTH\|METRICS\)_PORT=" "$dir/env" 2>/dev/null || true
    echo "FED_${up}_CLIENT_PORT=$client"
    echo "FED_${up}_CLIENT_TLS_PORT=$tls"
    echo "FED_${up}_SERVER_PORT=$server"
    echo "FED_${up}_HEALTH_PORT=$health"
    echo "FED_${up}_METRICS_PORT=$metrics"
  } >"$dir/env.new"
  mv "$dir/env.new" "$dir/env"
}

# in_force NAME SERIAL: NAME's log says registry SERIAL is in force
in_force() { grep -q "registry: serial $2 from .* in force" "$dir/$1.log"; }

case $cmd in
stop)
  stop_pids
  exit 0
  ;;
stop-server)
  [ -n "${3:-}" ] || usage
  stop_pids "$3" "${4:-TERM}"
  exit 0
  ;;
start-server)
  case ${3:-} in sh | mv | mv[0-9]) ;; *) usage ;; esac
  dir=$(cd "$dir" && pwd)
  start_server "$3"
  exit 0
  ;;
start) ;;
*) usage ;;
esac

for b in "$registry_tool" "$secsrv" "$testserver"; do
  [ -x "$b" ] || { echo "federation: $b is not built" >&2; exit 1; }
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -f "$dir/pids" ] && stop_pids
# a fresh federation: no state (cached registries) from an earlier run
rm -rf "$dir/sh" "$dir"/mv "$dir"/mv[0-9] "$dir/publish" "$dir"/*.port "$dir/env"
nodes=${FED_MV_NODES:-1}
case $nodes in [1-9]) ;; *) fail "FED_MV_NODES must be 1 to 9" ;; esac
behind=0 # HAProxy in front of the MV server
if [ "$nodes" -gt 1 ] || [ "${FED_MV_HAPROXY:-}" = 1 ]; then behind=1; fi
if [ "$nodes" -gt 1 ] && [[ "${FED_MV_STORE:-}" != postgresql:* ]]; then
  fail "FED_MV_NODES=$nodes needs FED_MV_STORE on PostgreSQL (the store the nodes share)"
fi
: >"$dir/pids"
: >"$dir/env"

pki=${SS_TEST_PKI:-$dir/pki}
"$src/deploy/pki.sh" "$pki" >/dev/null
pki=$(cd "$pki" && pwd)
test_mode=${FED_TEST:-0}

# --- services on loopback, each on a port it bound itself ---
mkdir -p "$dir/publish"
serve() { # NAME MODE ARGS...
  local name=$1
  shift
  rm -f "$dir/$name.port"
  started "$name" "$testserver" "$@" --port-file "$dir/$name.port"
}
serve publisher static --root "$dir/publish"
serve register register --data "$src/test/tools/persons.json"
serve soap soap --data "$src/test/tools/halterauskunft.wsdl"
serve down closed # a backend that is down
serve tsa tsa --config "$pki/tsa.cnf"
# four responder processes: one connection a client leaves half-sent (a killed process's,
# under load) holds one of them, not every OCSP answer of the federation
next_update=()
[ -z "${FED_OCSP_NEXT_UPDATE_MIN:-}" ] || next_update=(-nmin "$FED_OCSP_NEXT_UPDATE_MIN")
started ocsp openssl ocsp -index "$pki/ca/index.txt" -CA "$pki/intermediate-ca.pem" \
  -rsigner "$pki/ocsp.pem" -rkey "$pki/ocsp.key" -port 0 -ignore_err -multi 4 "${next_update[@]}"
P_PUBLISH=$(port_file publisher)
P_REGISTER=$(port_file register)
P_SOAP=$(port_file soap)
P_DOWN=$(port_file down)
P_TSA=$(port_file tsa)
await ocsp "ACCEPT line" grep -q "^ACCEPT .* PID=$(pid_of ocsp)\$" "$dir/ocsp.log"
P_OCSP=$(accept_port ocsp)
P_ECHO="" P_FAST=""
if [ "$test_mode" = 1 ]; then
  serve echo echo
  serve fast fast
  # the echo backend over https:// (a register service whose connections are kept alive)
  serve svckeep echo --tls-cert "$pki/servers/ss-sh-extra/auth-chain.pem" \
    --tls-key "$pki/servers/ss-sh-extra/auth.key"
  impostor() { # name cert key
    started "$1" openssl s_server -accept 127.0.0.1:0 -cert "$2" -key "$3" \
      -cert_chain "$pki/intermediate-ca.pem" -Verify 2 -CAfile "$pki/ca-chain.pem" -www
  }
  impostor impostor "$pki/servers/ss-mv-schwerin/auth.pem" "$pki/servers/ss-mv-schwerin/auth.key"
  impostor rogue "$pki/rogue/server.pem" "$pki/rogue/server.key"
  impostor expired "$pki/servers/ss-expired/auth.pem" "$pki/servers/ss-expired/auth.key"
  # a registered server that answers from files: without the binding to the request, with
  # another request's binding, with an error in and not in the X-Road form
  www=$dir/unbound-www/r1/DE-NORD/MUN/13075000/Sozialamt
  mkdir -p "$www"
  crlf() { printf '%s\r\n' "$@"; }
  { crlf "HTTP/1.1 200 OK" "Content-Type: application/json" "Content-Length: 16" ""
    printf '{"leaked":"yes"}'; } >"$www/nohash"
  { crlf "HTTP/1.1 200 OK" "Content-Type: application/json" "Content-Length: 16" \
      "X-Road-Request-Hash: $(head -c 64 /dev/zero | base64 -w0)" ""
    printf '{"leaked":"yes"}'; } >"$www/wronghash"
  { crlf "HTTP/1.1 404 Not Found" "X-Road-Error: Server.ServerProxy.UnknownService" \
      "Content-Type: application/json" "Content-Length: 16" ""
    printf '{"leaked":"yes"}'; } >"$www/error-not-xroad"
  body='{"type":"Server.ServerProxy.SslAuthenticationFailed","message":"TLS authentication between the security servers failed","detail":"0b6d7a3e-5b1a-4c47-9d51-2f0c8e2a9b11"}'
  { crlf "HTTP/1.1 500 Internal Server Error" "X-Road-Error: Server.ServerProxy.SslAuthenticationFailed" \
      "Content-Type: application/json" "Content-Length: ${#body}" ""
    printf '%s' "$body"; } >"$www/error-xroad"
  (cd "$dir/unbound-www" && started unbound openssl s_server -accept 127.0.0.1:0 \
    -cert "$pki/servers/ss-sh-extra/auth.pem" -key "$pki/servers/ss-sh-extra/auth.key" \
    -cert_chain "$pki/intermediate-ca.pem" -Verify 2 -CAfile "$pki/ca-chain.pem" -HTTP)
  impostor revoked "$pki/servers/ss-revoked/auth.pem" "$pki/servers/ss-revoked/auth.key"
  # register services over https:// that ask for a client certificate: one issued by the CA the
  # MV server trusts for services (ca-chain.pem) and named 127.0.0.1, one from a CA outside
  # it, and one reached at an address its certificate does not name (127.0.0.2)
  svc_www=$dir/service-www/persons
  mkdir -p "$svc_www"
  { crlf "HTTP/1.1 200 OK" "Content-Type: application/json" "Content-Length: 26" ""
    printf '{"over":"https","id":1001}'; } >"$svc_www/P-1001"
  service_tls() { # name address cert key chain
    (cd "$dir/service-www" && started "$1" openssl s_server -accept "$2:0" -cert "$3" \
      -key "$4" -cert_chain "$5" -Verify 2 -CAfile "$pki/ca-chain.pem" -HTTP)
  }
  service_tls svctls 127.0.0.1 "$pki/servers/ss-sh-extra/auth.pem" \
    "$pki/servers/ss-sh-extra/auth.key" "$pki/intermediate-ca.pem"
  service_tls svcrogue 127.0.0.1 "$pki/rogue/server.pem" "$pki/rogue/server.key" \
    "$pki/rogue/rogue-ca.pem"
  service_tls svchost 127.0.0.2 "$pki/servers/ss-sh-extra/auth.pem" \
    "$pki/servers/ss-sh-extra/auth.key" "$pki/intermediate-ca.pem"
  # a provider's server made of the documented formats alone (test/tools/ss-evidence): its
  # answers are signed by MUN/13075000, correctly or with the fault the path names
  evidence=$build/test/tools/ss-evidence
  openssl ocsp -issuer "$pki/intermediate-ca.pem" -cert "$pki/members/MUN-13075000/sign.pem" \
    -url "http://127.0.0.1:$P_OCSP/" -respout "$dir/evprov.ocsp" -noverify >/dev/null 2>&1 ||
    fail "no OCSP response for the evidence provider's signing certificate"
  rm -f "$dir/evprov.port"
  started evprov "$evidence" serve --key "$pki/members/MUN-13075000/sign.key" \
    --cert "$pki/members/MUN-13075000/sign-chain.pem" --ocsp "$dir/evprov.ocsp" \
    --tls-cert "$pki/servers/ss-mv-vg-ev/auth-chain.pem" \
    --tls-key "$pki/servers/ss-mv-vg-ev/auth.key" --port-file "$dir/evprov.port"
  P_ECHO=$(port_file echo)
  P_FAST=$(port_file fast)
  P_EVPROV=$(port_file evprov)
  P_IMPOSTOR=$(accept_port impostor)
  P_ROGUE=$(accept_port rogue)
  P_EXPIRED=$(accept_port expired)
  P_UNBOUND=$(accept_port unbound)
  P_REVOKED=$(accept_port revoked)
  P_SVCTLS=$(accept_port svctls)
  P_SVCROGUE=$(accept_port svcrogue)
  P_SVCHOST=$(accept_port svchost)
  P_SVCKEEP=$(port_file svckeep)
fi

# --- the members registry, built by the authority's tool (signed once the
# two security servers know their ports) ---
reg=$dir/registry.xml
rm -f "$reg" "$reg.p7s"
# The members from registry/data/agencies.tsv (some 200 runs of the tool) are the same for
# every federation of one build: built once per build tree, again when the tool, the data or
# the script is newer, and copied; signing sets the validity later, so an older base is as
# good as a new one. A document with its own validity (REGISTRY_VALIDITY_DAYS) is not cached.
base=$build/registry-base.xml
data=$src/registry/data
if [ -z "${REGISTRY_VALIDITY_DAYS:-}" ] && [ -s "$base" ] && ! [ "$registry_tool" -nt "$base" ] &&
  ! [ "$data/agencies.tsv" -nt "$base" ] && ! [ "$data/build-registry.sh" -nt "$base" ]; then
  cp "$base" "$reg"
else
  "$data/build-registry.sh" "$registry_tool" "$reg" >/dev/null
  # a parallel start may build it too: each renames its own copy into place
  [ -n "${REGISTRY_VALIDITY_DAYS:-}" ] || { cp "$reg" "$base.$$" && mv -f "$base.$$" "$base"; }
fi
R() { "$registry_tool" -f "$reg" "$@" >/dev/null; }
if [ "$test_mode" = 1 ]; then
  # providers whose registered server is impersonated: valid cert of another
  # server (ss-mv-schwerin's), a cert from outside the federation, an expired cert
  R add server MUN/13003000 ss-mv-rostock --address "127.0.0.1:$P_IMPOSTOR" \
    --auth-cert "$pki/servers/ss-mv-rostock/auth.pem"
  R add client MUN/13003000/ss-mv-rostock MUN/13003000/Einwohnermeldeamt
  R add server MUN/13071000 ss-mv-mse --address "127.0.0.1:$P_ROGUE" \
    --auth-sha256 "$(cat "$pki/rogue/server.sha256")"
  R add client MUN/13071000/ss-mv-mse MUN/13071000/Sozialamt
  R add server MUN/13072000 ss-mv-lro --address "127.0.0.1:$P_EXPIRED" \
    --auth-sha256 "$(cat "$pki/servers/ss-expired/auth.sha256")"
  R add client MUN/13072000/ss-mv-lro MUN/13072000/Kfz-Zulassung
  # a registered server that answers without binding its answer to the request
  R add server MUN/13075000 ss-mv-vg --address "127.0.0.1:$P_UNBOUND" \
    --auth-cert "$pki/servers/ss-sh-extra/auth.pem"
  R add client MUN/13075000/ss-mv-vg MUN/13075000/Sozialamt
  # the same member's server made by ss-evidence, for the checks of signed answers
  R add server MUN/13075000 ss-mv-vg-ev --address "127.0.0.1:$P_EVPROV" \
    --auth-cert "$pki/servers/ss-mv-vg-ev/auth.pem"
  R add client MUN/13075000/ss-mv-vg-ev MUN/13075000/Kfz-Zulassung
  # a registered server whose certificate the CA has revoked
  R add server MUN/13076000 ss-mv-lup --address "127.0.0.1:$P_REVOKED" \
    --auth-cert "$pki/servers/ss-revoked/auth.pem"
  R add client MUN/13076000/ss-mv-lup MUN/13076000/Sozialamt
fi
R add group meldebehoerden --description "Meldebehörden nach dem Bundesmeldegesetz"
R add group-member meldebehoerden MUN/13004000
R add group-member meldebehoerden MUN/01002000
R add ca "DE-NORD Federation Root CA" --cert "$pki/root-ca.pem" \
  --intermediate "$pki/intermediate-ca.pem" \
  --ocsp-url "http://127.0.0.1:$P_OCSP/" --ocsp-cert "$pki/ocsp.pem"
R add tsa "DE-NORD Time-Stamping Authority" --url "http://127.0.0.1:$P_TSA/" \
  --cert "$pki/tsa.pem"

# --- the two security servers ---
# Started as root, the servers' children drop to an unprivileged user; the
# state directory (registry copies) is that user's, the message log root's.
run_user=""
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
  run_user=nobody
  # that user must reach the configuration, the policies and the state directory
  if ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$dir"; then
    fail "$dir is not reachable for user nobody (a parent folder is private?): make it so"
  fi
fi
write_conf() { # name owner code policy_dir extra
  local name=$1
  mkdir -p "$dir/$name/state" "$dir/$name/policies" "$dir/$name/log"
  chmod 700 "$dir/$name/log"
  [ -n "$run_user" ] && chown "$run_user" "$dir/$name/state"
  cat >"$dir/$name/secsrv.conf" <<CONF
; secsrv configuration for $name (generated by deploy/federation.sh)
[server]
instance = DE-NORD
owner = $2
code = $3
state_dir = $dir/$name/state
${run_user:+user = $run_user}
$(wd=FED_$(echo "$name" | tr a-z A-Z)_WATCHDOG; [ -z "${!wd:-}" ] || printf 'watchdog = %s' "${!wd}")

[tls]
certificate = $pki/servers/$3/auth-chain.pem
key = $pki/servers/$3/auth.key

[registry]
url = http://127.0.0.1:$P_PUBLISH/registry.xml
anchor = $pki/registry-authority.pem
$refresh

[client-proxy]
listen = 127.0.0.1:0

[server-proxy]
listen = 127.0.0.1:0

[health]
listen = 127.0.0.1:0

[metrics]
listen = 127.0.0.1:0

[policies]
dir = $4

[log]
store = $(store=FED_$(echo "$name" | tr a-z A-Z)_STORE; printf '%s' "${!store:-sqlite:$dir/$name/log/messagelog.db}")
$(extra=FED_$(echo "$name" | tr a-z A-Z)_LOG_EXTRA; printf '%s' "${!extra:-}")

[timestamping]
$timestamping
$5
CONF
}
member_key() { # CLASS-CODE: a [signer] key line for that member's test certificate
  echo "key = ${1%%-*}/${1#*-} $pki/members/$1/sign.key $pki/members/$1/sign-chain.pem"
}
sh_limits="" mv_limits="" services_extra="" refresh="" sh_binding=""
timestamping="; interval: the registry's timestampingInterval"
if [ "$test_mode" = 1 ]; then
  refresh="refresh = ${FED_REFRESH:-1}"
  timestamping="interval = 1
grace = ${FED_TS_GRACE:-14400}

[evidence]
clock_skew = ${FED_CLOCK_SKEW:-10}"
  # Kiel's IS must come over HTTPS with its own certificate
  sh_binding="is_certificate_sha256 = MUN/01002000/Buergeramt $(cat "$pki/servers/ss-sh-extra/auth.sha256")"
  sh_limits="
[client-proxy]
tls_listen = 127.0.0.1:0
tls_certificate = $pki/servers/ss-sh-kiel/auth-chain.pem
tls_key = $pki/servers/ss-sh-kiel/auth.key
tls_client_ca = $pki/ca-chain.pem

[limits]
connection_timeout = ${FED_SH_CONNECTION_TIMEOUT:-2}
request_timeout = 3
max_headers = 32
max_body_bytes = 65536
${FED_SH_MAX_BUFFERED:+max_buffered_bytes = $FED_SH_MAX_BUFFERED}
${FED_MAX_CONNECTIONS:+max_connections = $FED_MAX_CONNECTIONS}"
  mv_limits="
[limits]
backend_timeout = ${FED_MV_BACKEND_TIMEOUT:-2}
max_body_bytes = 131072
${FED_MAX_CONNECTIONS:+max_connections = $FED_MAX_CONNECTIONS}
${FED_MV_MAX_UNAUTHENTICATED:+max_unauthenticated = $FED_MV_MAX_UNAUTHENTICATED}"
  services_extra="MUN/13004000/Einwohnermeldeamt/echo = http://127.0.0.1:$P_ECHO/base
MUN/13004000/Einwohnermeldeamt/down = http://127.0.0.1:$P_DOWN/
MUN/13004000/Einwohnermeldeamt/fast = http://127.0.0.1:$P_FAST/
MUN/13004000/Einwohnermeldeamt/svctls = https://127.0.0.1:$P_SVCTLS/
MUN/13004000/Einwohnermeldeamt/svcrogue = https://127.0.0.1:$P_SVCROGUE/
MUN/13004000/Einwohnermeldeamt/svchost = https://127.0.0.2:$P_SVCHOST/
MUN/13004000/Einwohnermeldeamt/svckeep = https://127.0.0.1:$P_SVCKEEP/base
MUN/13004000/Kfz-Zulassung/zulassungsdaten = http://127.0.0.1:$P_SOAP/fahrzeugregister/soap soap $src/test/tools/halterauskunft.wsdl

[service-tls]
ca = $pki/ca-chain.pem
certificate = $pki/servers/ss-mv-schwerin/auth-chain.pem
key = $pki/servers/ss-mv-schwerin/auth.key"
fi
write_conf sh GOV/MIKWS-SH ss-sh-kiel "$dir/sh/policies" "$sh_limits
[clients]
client = GOV/MIKWS-SH/Meldeauskunft
client = MUN/01002000/Buergeramt
$sh_binding

[signer]
$(member_key GOV-MIKWS-SH)
$(member_key MUN-01002000)"
policy=$dir/mv/policies/einwohnermeldeamt-schwerin.xml
mkdir -p "$dir/mv/policies"
cp "$src"/policies/examples/einwohnermeldeamt-schwerin.xml "$policy"
cp "$src"/policies/examples/kfz-zulassung-schwerin.xml "$dir/mv/policies/"
if [ "$test_mode" = 1 ]; then
  # the test services: any method and path, no purpose needed
  rules=""
  for svc in echo down fast svctls svcrogue svchost svckeep; do
    rules="$rules  <rule service=\"$svc\"><allow subsystem=\"DE-NORD/GOV/MIKWS-SH/Meldeauskunft\"/></rule>\n"
  done
  sed -i "s#</accessPolicy>#$rules</accessPolicy>#" "$policy"
  # a second SOAP service of the vehicle register, for the ministry only
  sed -i 's#</accessPolicy>#  <rule service="zulassungsdaten"><allow subsystem="DE-NORD/GOV/MIKWS-SH/Meldeauskunft"/></rule>\n</accessPolicy>#' \
    "$dir/mv/policies/kfz-zulassung-schwerin.xml"
fi
write_conf mv MUN/13004000 ss-mv-schwerin "$dir/mv/policies" "$mv_limits
[clients]
client = MUN/13004000/Einwohnermeldeamt
client = MUN/13004000/Kfz-Zulassung

[signer]
${FED_MV_SIGNER_KEY:-$(member_key MUN-13004000)}

[services]
MUN/13004000/Einwohnermeldeamt/meldeauskunft = http://127.0.0.1:$P_REGISTER/melderegister/v1 openapi $src/test/tools/melderegister.yaml
MUN/13004000/Kfz-Zulassung/halterauskunft = http://127.0.0.1:$P_SOAP/fahrzeugregister/soap soap $src/test/tools/halterauskunft.wsdl
$services_extra"

# more nodes of the MV server: the same configuration but for their state, their name and the
# subject key they share
mv_nodes=(mv)
if [ "$nodes" -gt 1 ]; then
  (umask 077 && openssl rand -hex 32 >"$dir/mv/subject.key")
  sed -i "s|^\[server\]\$|[server]\nnode = mv1|; s|^\[log\]\$|[log]\nsubject_key = $dir/mv/subject.key|" \
    "$dir/mv/secsrv.conf"
  for k in $(seq 2 "$nodes"); do
    mkdir -p "$dir/mv$k/state"
    [ -n "$run_user" ] && chown "$run_user" "$dir/mv$k/state"
    sed "s|^state_dir = .*|state_dir = $dir/mv$k/state|; s|^node = mv1\$|node = mv$k|; s|generated by deploy/federation.sh|generated by deploy/federation.sh, node $k|" \
      "$dir/mv/secsrv.conf" >"$dir/mv$k/secsrv.conf"
    mv_nodes+=("mv$k")
  done
fi

cat >>"$dir/env" <<ENV
FED_DIR=$dir
FED_MV_NODES=$nodes
FED_PKI=$pki
FED_REGISTRY=$dir/publish/registry.xml
FED_PUBLISH_PORT=$P_PUBLISH
FED_REGISTER_PORT=$P_REGISTER
FED_SOAP_PORT=$P_SOAP
FED_OCSP_PORT=$P_OCSP
FED_SH_CONF=$dir/sh/secsrv.conf
FED_MV_CONF=$dir/mv/secsrv.conf
FED_ECHO_PORT=$P_ECHO
FED_DOWN_PORT=$P_DOWN
FED_TSA_PORT=$P_TSA
FED_FAST_PORT=$P_FAST
ENV

# The servers start before the registry is published (they retry with a
# growing delay); their addresses go into the registry once they are known.
start_server sh
for n in "${mv_nodes[@]}"; do start_server "$n"; done
if [ "$behind" = 1 ]; then
  # a node started again (after a crash) comes back at the same address, as a machine would
  . "$dir/env"
  for n in "${mv_nodes[@]}"; do
    up=$(printf '%s' "$n" | tr a-z A-Z)
    sport=FED_${up}_SERVER_PORT hport=FED_${up}_HEALTH_PORT
    awk -v sp="${!sport}" -v hp="${!hport}" '/^\[/ {sec = $0}
      sec == "[server-proxy]" && /^listen = / {$0 = "listen = 127.0.0.1:" sp}
      sec == "[health]" && /^listen = / {$0 = "listen = 127.0.0.1:" hp} {print}' \
      "$dir/$n/secsrv.conf" >"$dir/$n/secsrv.conf.new"
    mv "$dir/$n/secsrv.conf.new" "$dir/$n/secsrv.conf"
  done
fi
# shellcheck disable=SC1091
. "$dir/env"
mv_address=127.0.0.1:$FED_MV_SERVER_PORT
if [ "$behind" = 1 ]; then
  # HAProxy in front of the nodes: TCP, so that mutual TLS ends on the nodes; a node whose
  # health endpoint does not answer 200 gets no new connections
  free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  for try in 1 2 3; do
    P_HAPROXY=$(free_port)
    {
      sed "s|@LISTEN@|127.0.0.1:$P_HAPROXY|" "$src/deploy/haproxy/secsrv-cluster.cfg"
      for n in "${mv_nodes[@]}"; do
        up=$(printf '%s' "$n" | tr a-z A-Z)
        sport=FED_${up}_SERVER_PORT hport=FED_${up}_HEALTH_PORT
        echo "    server $n 127.0.0.1:${!sport} check port ${!hport}"
      done
    } >"$dir/haproxy.cfg"
    started haproxy haproxy -db -f "$dir/haproxy.cfg"
    ok=0
    for _ in $(seq 100); do
      if ! alive "$(pid_of haproxy)"; then break; fi
      if (exec 3<>"/dev/tcp/127.0.0.1/$P_HAPROXY") 2>/dev/null; then ok=1; break; fi
      nap 0.05
    done
    [ $ok = 1 ] && break
    stop_pids haproxy
    [ $try = 3 ] && fail "haproxy did not start (see $dir/haproxy.log)"
  done
  mv_address=127.0.0.1:$P_HAPROXY
  echo "FED_HAPROXY_PORT=$P_HAPROXY" >>"$dir/env"
fi
R add server GOV/MIKWS-SH ss-sh-kiel --address "127.0.0.1:$FED_SH_SERVER_PORT" \
  --auth-cert "$pki/servers/ss-sh-kiel/auth.pem"
R add server MUN/13004000 ss-mv-schwerin --address "$mv_address" \
  --auth-cert "$pki/servers/ss-mv-schwerin/auth.pem"
R add client GOV/MIKWS-SH/ss-sh-kiel GOV/MIKWS-SH/Meldeauskunft
R add client GOV/MIKWS-SH/ss-sh-kiel MUN/01002000/Buergeramt
R add client MUN/13004000/ss-mv-schwerin MUN/13004000/Einwohnermeldeamt
R add client MUN/13004000/ss-mv-schwerin MUN/13004000/Kfz-Zulassung
R sign --key "$pki/registry-authority.key" --cert "$pki/registry-authority.pem" \
  --chain "$pki/intermediate-ca.pem"
serial=$("$registry_tool" -f "$reg" show | awk '$1 == "serial" && !s {print $2; s = 1}')
# published as a pair: the signature first, so a download never pairs a new
# document with no signature
cp "$reg.p7s" "$dir/publish/registry.xml.p7s.new"
cp "$reg" "$dir/publish/registry.xml.new"
mv "$dir/publish/registry.xml.p7s.new" "$dir/publish/registry.xml.p7s"
mv "$dir/publish/registry.xml.new" "$dir/publish/registry.xml"
await sh "registry serial $serial in force" in_force sh "$serial"
for n in "${mv_nodes[@]}"; do await "$n" "registry serial $serial in force" in_force "$n" "$serial"; done

for s in sh "${mv_nodes[@]}"; do
  if ! "$secsrv" -n -c "$dir/$s/secsrv.conf" >"$dir/$s-check.log" 2>&1; then
    cat "$dir/$s-check.log" >&2
    fail "secsrv -n found problems in $dir/$s/secsrv.conf"
  fi
done
