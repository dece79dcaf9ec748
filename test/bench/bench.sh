#!/usr/bin/env bash
# The exchange benchmark (a script, not a test: it prints figures and never
# fails on them). With keep-alive on and a small JSON body (~200 bytes) it
# loads, with wrk on 127.0.0.1:
#   1. the fast backend directly,
#   2. the same backend through an nginx mTLS proxy pair (the baseline of a
#      proxy pair that neither signs nor logs),
#   3. the same backend through the secsrv pair (SH consumer -> MV provider),
#      each request and answer signed, checked, logged on both sides and
#      timestamped,
#   4. the secsrv pair again while 9,900 slow clients hold connections to the
#      SH client proxy,
# each proxy pair's measured run after 3 s of the same load (its cold start printed apart),
# and prints requests/s, p50/p99 latency, the CPU time each process of the
# pair (and the backend) spent per exchange, the batch sizes the signer and the
# logger reached, the SH network process's threads with and without the slow
# clients, and the peak RSS of all processes of each server.
#   usage: test/bench/bench.sh [DURATION_S=10] [CONNECTIONS=32]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
duration=${1:-10}
conns=${2:-32}
threads=2

# shellcheck disable=SC1091
. "$src/deploy/prepare.sh"
prepare --bench secsrv secsrv-registry ss-testserver ss-evidence ss-slowclients

work=$(mktemp -d /tmp/ss-bench.XXXXXX)
chmod 755 "$work" # the servers' children may run as nobody
nginx_pids=()
cleanup() {
  for p in "${nginx_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ./deploy/federation.sh stop "$work/fed" >/dev/null 2>&1 || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

FED_TEST=1 ./deploy/federation.sh start "$work/fed" >/dev/null
# shellcheck disable=SC1091
. "$work/fed/env"
# --- the nginx mTLS proxy pair ---
# nginx cannot bind port 0: ss-testserver binds both ports, writes them down and runs
# nginx with the sockets inherited (nginx takes listening sockets from $NGINX)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/run.sh" <<'RUN'
#!/usr/bin/env bash
set -euo pipefail
work=$1 fast=$2 pki=$3
{ read -r front; read -r back_port; } <"$work/nginx/ports"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream back { server 127.0.0.1:$back_port; keepalive 64; }
  upstream fast { server 127.0.0.1:$fast; keepalive 64; }
  server {   # consumer side: plain HTTP in, mTLS out
    listen 127.0.0.1:$front;
    location / {
      proxy_pass https://back;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate $pki/servers/ss-sh-kiel/auth-chain.pem;
      proxy_ssl_certificate_key $pki/servers/ss-sh-kiel/auth.key;
      proxy_ssl_trusted_certificate $pki/ca-chain.pem;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
    }
  }
  server {   # provider side: mTLS in, HTTP to the backend
    listen 127.0.0.1:$back_port ssl;
    ssl_certificate $pki/servers/ss-mv-schwerin/auth-chain.pem;
    ssl_certificate_key $pki/servers/ss-mv-schwerin/auth.key;
    ssl_client_certificate $pki/ca-chain.pem;
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://fast;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
NGINX=$SS_LISTEN_FDS exec nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;'
RUN
"$SS_BUILD_DIR/test/tools/ss-testserver" listen-exec 2 --port-file "$work/nginx/ports" -- \
  bash "$work/nginx/run.sh" "$work" "$FED_FAST_PORT" "$FED_PKI" &
nginx_pids+=($!)
wait_until "the nginx pair's ports" 30 test -s "$work/nginx/ports"
P_NGX_FRONT=$(head -n 1 "$work/nginx/ports")

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
SVC_PATH=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/fast/persons/P-1001

run() { # label url [headers...]
  local label=$1 url=$2
  shift 2
  # check the path answers 200 before loading it
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
  if [ "$code" != 200 ]; then
    printf '%-34s  (answers %s, skipped)\n' "$label" "$code"
    return
  fi
  local out
  out=$(wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$@" "$url")
  local rps p50 p99 errors
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(printf '%s\n' "$out" | awk '$1=="50%" {print $2}')
  p99=$(printf '%s\n' "$out" | awk '$1=="99%" {print $2}')
  errors=$(printf '%s\n' "$out" | awk '/Non-2xx|Socket errors/ {$1=$1; print}' | tr '\n' ' ')
  printf '%-34s %10s req/s   p50 %8s   p99 %8s  %s\n' "$label" "$rps" "$p50" "$p99" "$errors"
  LAST_RPS=$rps
  LAST_COUNT=$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')
  LAST_P99_MS=$(printf '%s\n' "$p99" | awk '/us$/ {print $1 / 1000; next} /ms$/ {print $1 + 0; next}
    /s$/ {print $1 * 1000}')
}
# cpu_ticks: "pid label ticks" for each process of both servers and the backend (utime + stime
# of all its threads, in clock ticks)
cpu_ticks() {
  local pid name p
  while read -r pid name; do
    case $name in
    sh | mv)
      for p in "$pid" $(ps -o pid= --ppid "$pid"); do
        awk -v p="$p" -v n="$name $(cat "/proc/$p/comm")" '{print p, n, $14 + $15}' "/proc/$p/stat"
      done ;;
    fast) awk -v p="$pid" '{print p, "backend", $14 + $15}' "/proc/$pid/stat" ;;
    esac
  done <"$work/fed/pids"
}
# warm label url [headers...]: the same load for 3 s before a measured run, so that the run
# measures the steady state (connection pools filled, handshakes made, caches warm); prints
# that cold start's figures apart, as they are
warm() {
  local label=$1 url=$2
  shift 2
  local out
  out=$(wrk -t"$threads" -c"$conns" -d3s --latency "$@" "$url")
  printf '  %-32s %10s req/s   p50 %8s   p99 %8s   max %8s\n' "$label, its first 3 s (cold)" \
    "$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(printf '%s\n' "$out" | awk '$1=="50%" {print $2}')" \
    "$(printf '%s\n' "$out" | awk '$1=="99%" {print $2}')" \
    "$(printf '%s\n' "$out" | awk '$1=="Latency" {print $4}')"
}
ratio() { # label a b: a / b
  awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {if (b > 0) printf "  %-32s %.3fx\n", l, a / b}'
}

echo "wrk: $threads threads, $conns connections, ${duration}s each, keep-alive, $(nproc) cores"
run "backend directly" "http://127.0.0.1:$FED_FAST_PORT/persons/P-1001"
warm "nginx mTLS proxy pair" "http://127.0.0.1:$P_NGX_FRONT/persons/P-1001"
run "nginx mTLS proxy pair" "http://127.0.0.1:$P_NGX_FRONT/persons/P-1001"
nginx_rps=${LAST_RPS:-0} nginx_p99=${LAST_P99_MS:-0}
warm "secsrv pair" "http://127.0.0.1:$FED_SH_CLIENT_PORT$SVC_PATH" -H "X-Road-Client: $CLIENT"
cpu_ticks >"$work/cpu.before"
run "secsrv pair (SH -> MV)" "http://127.0.0.1:$FED_SH_CLIENT_PORT$SVC_PATH" \
  -H "X-Road-Client: $CLIENT"
cpu_ticks >"$work/cpu.after"
echo "secsrv pair against the nginx pair:"
ratio "throughput (secsrv / nginx)" "${LAST_RPS:-0}" "$nginx_rps"
ratio "p99 latency (secsrv / nginx)" "${LAST_P99_MS:-0}" "$nginx_p99"

# where the CPU went: each process's CPU time over the secsrv pair's run, per exchange
echo "CPU time per exchange (user + system) over the secsrv pair's run:"
awk -v n="${LAST_COUNT:-0}" -v hz="$(getconf CLK_TCK)" -v cores="$(nproc)" '
  NR == FNR {before[$1] = $NF; next}
  ($1 in before) && n > 0 {
    us = ($NF - before[$1]) * 1e6 / hz / n
    total += us
    label = NF == 4 ? $2 " " $3 : $2
    printf "  %-24s %6.0f us\n", label, us
  }
  END {
    if (n > 0 && total > 0)
      printf "  %-24s %6.0f us  (%d cores: at most %.0f exchanges/s)\n", "all", total, cores,
        cores * 1e6 / total
  }
' "$work/cpu.before" "$work/cpu.after"
echo "the evidence layer (from each server's health endpoint):"
for s in sh mv; do
  port=$(sed -n "s/^FED_$(echo $s | tr a-z A-Z)_HEALTH_PORT=//p" "$work/fed/env")
  curl -s "http://127.0.0.1:$port/" | tr ',{' '\n\n' | grep -E '"(batches|messages|largest_batch|commits|records|largest_group|timestamps)"' |
    tr -d '"}]' | tr '\n' ' ' | sed "s/^/  $s: /"
  echo
done
echo "peak RSS (VmHWM) of all processes of one server:"
while read -r pid name; do
  case $name in sh | mv)
    total=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    detail="parent $total kB"
    for child in $(ps -o pid= --ppid "$pid"); do
      kb=$(awk '/VmHWM/ {print $2}' "/proc/$child/status")
      total=$((total + kb))
      detail="$detail, $(cat "/proc/$child/comm") $kb kB"
    done
    printf '  secsrv %-3s %8s kB  (%s)\n' "$name" "$total" "$detail" ;;
  esac
done <"$work/fed/pids"
# The sum above counts the pages the processes share (libraries, the parent's
# memory inherited by fork) once per process; the proportional set size
# (Pss) after the load divides each shared page among its sharers.
echo "proportional set size (Pss) of all processes of one server, after the load:"
while read -r pid name; do
  case $name in sh | mv)
    total=0
    for p in "$pid" $(ps -o pid= --ppid "$pid"); do
      total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
    done
    printf '  secsrv %-3s %8s kB\n' "$name" "$total" ;;
  esac
done <"$work/fed/pids"

# --- last (the peaks above are the plain load's): the same load while 9,900 slow clients
# (a header line a second, from 40 loopback addresses) hold connections to the SH client
# proxy: the legitimate client's figures, and the SH network process's threads and memory
# with and without them
sh_parent=$(awk '$2 == "sh" {print $1}' "$work/fed/pids")
sh_net=$(ps -o pid=,comm= --ppid "$sh_parent" | awk '$2 == "secsrv-network" {print $1}')
threads_idle=$(ls "/proc/$sh_net/task" | wc -l)
"$SS_BUILD_DIR/test/tools/ss-slowclients" --port "$FED_SH_CLIENT_PORT" --count 9900 \
  --from 127.0.1.1 --addresses 40 --seconds $((duration + 8)) --ready-file "$work/slow.ready" \
  >"$work/slow.out" &
slow_pid=$!
wait_until "9,900 slow clients connected" 30 test -s "$work/slow.ready" || true
threads_slow=$(ls "/proc/$sh_net/task" | wc -l)
rss_slow=$(awk '/VmRSS/ {print $2}' "/proc/$sh_net/status")
run "secsrv pair, 9,900 slow clients" "http://127.0.0.1:$FED_SH_CLIENT_PORT$SVC_PATH" \
  -H "X-Road-Client: $CLIENT"
wait "$slow_pid"
echo "  slow clients: $(cat "$work/slow.out")"
echo "  SH network process: $threads_idle threads idle, $threads_slow with the slow clients" \
  "connected (RSS $rss_slow kB)"
