#!/usr/bin/env bash
# Runs a whole federation on 127.0.0.1, for the demo and the integration
# tests: the registry publisher, an SH consumer security server (Ministry of
# the Interior, Kiel), an MV provider security server (Schwerin's
# population register), the sample register service, and an OCSP
# responder for the federation CA.
#
#   federation.sh start DIR   build PKI, registry and configs in DIR, start all
#   federation.sh stop DIR    stop everything started in DIR
#
# Environment: SS_BUILD_DIR (default build/release), SS_TEST_PKI (reuse a
# PKI instead of creating DIR/pki), FED_TEST=1 (also an echo backend, a
# service whose backend is down, impostor TLS servers registered for other
# providers, short timeouts and a 1 s registry refresh, for the tests). After start, DIR/env holds the ports
# and paths (source it); DIR/*.log hold each process's output.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${SS_BUILD_DIR:-$src/build/release}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: federation.sh start|stop DIR" >&2; exit 2; }

stop() {
  [ -f "$dir/pids" ] || return 0
  while read -r pid name; do
    kill "$pid" 2>/dev/null || true
  done <"$dir/pids"
  # give each process a moment, then make sure
  for _ in $(seq 1 50); do
    alive=0
    while read -r pid name; do kill -0 "$pid" 2>/dev/null && alive=1; done <"$dir/pids"
    [ $alive -eq 0 ] && break
    sleep 0.2
  done
  while read -r pid name; do kill -9 "$pid" 2>/dev/null || true; done <"$dir/pids"
  rm -f "$dir/pids"
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: federation.sh start|stop DIR" >&2; exit 2; }

registry_tool=$build/registry/secsrv-registry
secsrv=$build/secsrv/secsrv
testserver=$build/test/tools/ss-testserver
for b in "$registry_tool" "$secsrv" "$testserver"; do
  [ -x "$b" ] || { echo "federation: $b is not built" >&2; exit 1; }
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -f "$dir/pids" ] && stop
# a fresh federation: no state (cached registries) from an earlier run
rm -rf "$dir/sh" "$dir/mv" "$dir/publish"
: >"$dir/pids"

pki=${SS_TEST_PKI:-$dir/pki}
"$src/deploy/pki.sh" "$pki" >/dev/null

port() { "$testserver" free-port; }
P_PUBLISH=$(port); P_REGISTER=$(port); P_OCSP=$(port)
P_SH_CLIENT=$(port); P_SH_SERVER=$(port); P_MV_CLIENT=$(port); P_MV_SERVER=$(port)
test_mode=${FED_TEST:-0}
P_SH_CLIENT_TLS=$(port); P_ECHO=$(port); P_FAST=$(port); P_DOWN=$(port); P_IMPOSTOR=$(port); P_ROGUE=$(port); P_EXPIRED=$(port); P_UNBOUND=$(port); P_REVOKED=$(port)

# started NAME CMD...: runs CMD in the background, records its pid
started() {
  local name=$1
  shift
  "$@" >"$dir/$name.log" 2>&1 &
  echo "$! $name" >>"$dir/pids"
}

wait_port() { # port name
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "federation: $2 did not start (see $dir/$2.log)" >&2
  cat "$dir/$2.log" >&2 || true
  stop
  exit 1
}

# --- the members registry, built and signed by the authority's tool ---
reg=$dir/publish/registry.xml
mkdir -p "$dir/publish"
rm -f "$reg" "$reg.p7s"
"$src/registry/data/build-registry.sh" "$registry_tool" "$reg" >/dev/null
R() { "$registry_tool" -f "$reg" "$@" >/dev/null; }
R add server GOV/MIKWS-SH ss-sh-kiel --address "127.0.0.1:$P_SH_SERVER" \
  --auth-cert "$pki/servers/ss-sh-kiel/auth.pem"
R add server MUN/13004000 ss-mv-schwerin --address "127.0.0.1:$P_MV_SERVER" \
  --auth-cert "$pki/servers/ss-mv-schwerin/auth.pem"
R add client GOV/MIKWS-SH/ss-sh-kiel GOV/MIKWS-SH/Meldeauskunft
R add client GOV/MIKWS-SH/ss-sh-kiel MUN/01002000/Buergeramt
R add client MUN/13004000/ss-mv-schwerin MUN/13004000/Einwohnermeldeamt
if [ "$test_mode" = 1 ]; then
  # providers whose registered server is impersonated: valid cert of another
  # server (ss-mv-schwerin's), a cert from outside the federation, an expired cert
  R add server MUN/13003000 ss-mv-rostock --address "127.0.0.1:$P_IMPOSTOR" \
    --auth-cert "$pki/servers/ss-sh-extra/auth.pem"
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
R add tsa "DE-NORD Time-Stamping Authority" --url "http://127.0.0.1:$(port)/" \
  --cert "$pki/tsa.pem"
R sign --key "$pki/registry-authority.key" --cert "$pki/registry-authority.pem" \
  --chain "$pki/intermediate-ca.pem"

# --- services on loopback ---
started publisher "$testserver" static --root "$dir/publish" --listen "127.0.0.1:$P_PUBLISH"
started register "$testserver" register --data "$src/test/tools/persons.json" \
  --listen "127.0.0.1:$P_REGISTER"
started ocsp openssl ocsp -index "$pki/ca/index.txt" -CA "$pki/intermediate-ca.pem" \
  -rsigner "$pki/ocsp.pem" -rkey "$pki/ocsp.key" -port "$P_OCSP" -ignore_err
wait_port "$P_PUBLISH" publisher
wait_port "$P_REGISTER" register
if [ "$test_mode" = 1 ]; then
  started echo "$testserver" echo --listen "127.0.0.1:$P_ECHO"
  started fast "$testserver" fast --listen "127.0.0.1:$P_FAST"
  impostor() { # name cert key port
    started "$1" openssl s_server -accept "127.0.0.1:$4" -cert "$2" -key "$3" \
      -cert_chain "$pki/intermediate-ca.pem" -Verify 2 -CAfile "$pki/ca-chain.pem" -www
  }
  impostor impostor "$pki/servers/ss-mv-schwerin/auth.pem" "$pki/servers/ss-mv-schwerin/auth.key" \
    "$P_IMPOSTOR"
  impostor rogue "$pki/rogue/server.pem" "$pki/rogue/server.key" "$P_ROGUE"
  impostor expired "$pki/servers/ss-expired/auth.pem" "$pki/servers/ss-expired/auth.key" \
    "$P_EXPIRED"
  impostor unbound "$pki/servers/ss-sh-extra/auth.pem" "$pki/servers/ss-sh-extra/auth.key" \
    "$P_UNBOUND"
  impostor revoked "$pki/servers/ss-revoked/auth.pem" "$pki/servers/ss-revoked/auth.key" \
    "$P_REVOKED"
  wait_port "$P_ECHO" echo
  wait_port "$P_IMPOSTOR" impostor
fi

# --- the two security servers ---
write_conf() { # name owner code client_port server_port policy_dir extra
  local name=$1
  mkdir -p "$dir/$name/state" "$dir/$name/policies"
  cat >"$dir/$name/secsrv.conf" <<CONF
; secsrv configuration for $name (generated by deploy/federation.sh)
[server]
instance = DE-NORD
owner = $2
code = $3
state_dir = $dir/$name/state

[tls]
certificate = $pki/servers/$3/auth-chain.pem
key = $pki/servers/$3/auth.key

[registry]
url = http://127.0.0.1:$P_PUBLISH/registry.xml
anchor = $pki/registry-authority.pem
$refresh

[client-proxy]
listen = 127.0.0.1:$4

[server-proxy]
listen = 127.0.0.1:$5

[policies]
dir = $6

[log]
store = sqlite:$dir/$name/state/messagelog.db
$7
CONF
}
sh_limits="" mv_limits="" services_extra="" refresh="" sh_binding=""
if [ "$test_mode" = 1 ]; then
  refresh="refresh = 1"
  # Kiel's IS must come over HTTPS with its own certificate
  sh_binding="is_certificate_sha256 = MUN/01002000/Buergeramt $(cat "$pki/servers/ss-sh-extra/auth.sha256")"
  sh_limits="
[client-proxy]
tls_listen = 127.0.0.1:$P_SH_CLIENT_TLS
tls_certificate = $pki/servers/ss-sh-kiel/auth-chain.pem
tls_key = $pki/servers/ss-sh-kiel/auth.key
tls_client_ca = $pki/ca-chain.pem

[limits]
connection_timeout = 2
request_timeout = 3
max_headers = 32
max_body_bytes = 65536"
  mv_limits="
[limits]
backend_timeout = 2"
  services_extra="MUN/13004000/Einwohnermeldeamt/echo = http://127.0.0.1:$P_ECHO/base
MUN/13004000/Einwohnermeldeamt/down = http://127.0.0.1:$P_DOWN/
MUN/13004000/Einwohnermeldeamt/fast = http://127.0.0.1:$P_FAST/"
fi
write_conf sh GOV/MIKWS-SH ss-sh-kiel "$P_SH_CLIENT" "$P_SH_SERVER" "$dir/sh/policies" "$sh_limits
[clients]
client = GOV/MIKWS-SH/Meldeauskunft
client = MUN/01002000/Buergeramt
$sh_binding"
mkdir -p "$dir/mv/policies"
policy=$dir/mv/policies/einwohnermeldeamt-schwerin.xml
cp "$src"/policies/examples/einwohnermeldeamt-schwerin.xml "$policy"
if [ "$test_mode" = 1 ]; then
  # the test services: any method and path, no purpose needed
  rules=""
  for svc in echo down fast; do
    rules="$rules  <rule service=\"$svc\"><allow subsystem=\"DE-NORD/GOV/MIKWS-SH/Meldeauskunft\"/></rule>\n"
  done
  sed -i "s#</accessPolicy>#$rules</accessPolicy>#" "$policy"
fi
write_conf mv MUN/13004000 ss-mv-schwerin "$P_MV_CLIENT" "$P_MV_SERVER" "$dir/mv/policies" "$mv_limits
[clients]
client = MUN/13004000/Einwohnermeldeamt

[services]
MUN/13004000/Einwohnermeldeamt/meldeauskunft = http://127.0.0.1:$P_REGISTER/melderegister/v1
$services_extra"

for s in sh mv; do
  if ! "$secsrv" -n -c "$dir/$s/secsrv.conf" >"$dir/$s-check.log" 2>&1; then
    cat "$dir/$s-check.log" >&2
    stop
    exit 1
  fi
done
started sh "$secsrv" -c "$dir/sh/secsrv.conf"
started mv "$secsrv" -c "$dir/mv/secsrv.conf"
wait_port "$P_SH_CLIENT" sh
wait_port "$P_MV_SERVER" mv

cat >"$dir/env" <<ENV
FED_DIR=$dir
FED_PKI=$pki
FED_REGISTRY=$reg
FED_PUBLISH_PORT=$P_PUBLISH
FED_REGISTER_PORT=$P_REGISTER
FED_OCSP_PORT=$P_OCSP
FED_SH_CLIENT_PORT=$P_SH_CLIENT
FED_SH_SERVER_PORT=$P_SH_SERVER
FED_MV_CLIENT_PORT=$P_MV_CLIENT
FED_MV_SERVER_PORT=$P_MV_SERVER
FED_SH_CONF=$dir/sh/secsrv.conf
FED_MV_CONF=$dir/mv/secsrv.conf
FED_ECHO_PORT=$P_ECHO
FED_SH_CLIENT_TLS_PORT=$P_SH_CLIENT_TLS
FED_DOWN_PORT=$P_DOWN
FED_FAST_PORT=$P_FAST
ENV
