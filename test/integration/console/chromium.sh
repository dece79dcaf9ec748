# shellcheck shell=bash
# Headless Chromium for the web console's browser tests (sourced by bash).
#
#   chromium_setup DIR CA_PEM CLIENT_P12 P12_PASS
#       a private HOME (DIR/home) whose NSS database ($HOME/.pki/nssdb)
#       trusts CA_PEM for TLS servers and holds the certificate and key from
#       CLIENT_P12 (none if CLIENT_P12 is empty, for negative tests).
#       browser.py makes Chromium present that certificate to the console
#       without asking (the user-level AutoSelectCertificateForUrls)
#   chromium_start_driver
#       chromedriver on a free loopback port, with that HOME; exports
#       CHROMEDRIVER_URL for browser.py --driver. Logs in DIR/chromedriver.*
#   chromium_stop_driver, chromium_cleanup
#       stop chromedriver and the browsers it started
#
# Needs chromium, chromium-driver, libnss3-tools and python3
# (deploy/install-deps.sh). Writes nothing outside DIR.

CHROMIUM_DRIVER_PID=""

chromium_setup() {
  local dir=$1 ca=$2 p12=$3 pass=$4
  CHROMIUM_DIR=$(mkdir -p "$dir" && cd "$dir" && pwd)
  CHROMIUM_HOME=$CHROMIUM_DIR/home
  local db=$CHROMIUM_HOME/.pki/nssdb
  rm -rf "$CHROMIUM_HOME"
  mkdir -p "$db"
  certutil -N -d "sql:$db" --empty-password
  # C,,: a CA trusted to issue TLS server certificates, nothing else
  certutil -A -d "sql:$db" -n "console test CA" -t "C,," -i "$ca"
  if [ -n "$p12" ]; then
    pk12util -i "$p12" -d "sql:$db" -W "$pass" -K "" >/dev/null
  fi
}

chromium_start_driver() {
  : "${CHROMIUM_HOME:?chromium_setup first}"
  local port out=$CHROMIUM_DIR/chromedriver.out started
  chromium_stop_driver
  for _ in 1 2 3 4 5; do
    # a port that was free a moment ago; if something takes it meanwhile,
    # chromedriver exits without saying it started, and we try another
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    started="started successfully on port $port\\."
    # its own process group (setsid), so that stopping it stops its browsers too
    HOME=$CHROMIUM_HOME setsid chromedriver --port="$port" --allowed-ips=127.0.0.1 \
      --log-path="$CHROMIUM_DIR/chromedriver.log" >"$out" 2>&1 &
    CHROMIUM_DRIVER_PID=$!
    local deadline=$((SECONDS + 20))
    until grep -q "$started" "$out" 2>/dev/null; do
      kill -0 "$CHROMIUM_DRIVER_PID" 2>/dev/null || break
      [ $SECONDS -lt $deadline ] || break
      sleep 0.05
    done
    if kill -0 "$CHROMIUM_DRIVER_PID" 2>/dev/null && grep -q "$started" "$out"; then
      export CHROMEDRIVER_URL=http://127.0.0.1:$port
      return 0
    fi
    chromium_stop_driver
  done
  echo "chromium_start_driver: chromedriver did not start, see $out" >&2
  return 1
}

chromium_stop_driver() {
  [ -n "$CHROMIUM_DRIVER_PID" ] || return 0
  kill -- -"$CHROMIUM_DRIVER_PID" 2>/dev/null || true
  wait "$CHROMIUM_DRIVER_PID" 2>/dev/null || true
  CHROMIUM_DRIVER_PID=""
  unset CHROMEDRIVER_URL
}

chromium_cleanup() { chromium_stop_driver; }
