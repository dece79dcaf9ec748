# Shared helpers for integration tests (sourced). Each test script calls
# fed_start to run a federation on 127.0.0.1 in its own temporary
# directory; everything is stopped and removed on exit.

set -euo pipefail
: "${SS_SOURCE_DIR:?}" "${SS_BUILD_DIR:?}"
export SS_BUILD_DIR SS_TEST_PKI

passed=0
failed=0
T_DIR=$(mktemp -d /tmp/ss-itest.XXXXXX)

t_cleanup() {
  "$SS_SOURCE_DIR/deploy/federation.sh" stop "$T_DIR/fed" >/dev/null 2>&1 || true
  if [ "$failed" -ne 0 ]; then
    echo "--- logs kept in $T_DIR"
    tail -n 20 "$T_DIR"/fed/*.log 2>/dev/null || true
  else
    rm -rf "$T_DIR"
  fi
}
trap t_cleanup EXIT

fed_start() {
  FED_TEST=1 "$SS_SOURCE_DIR/deploy/federation.sh" start "$T_DIR/fed" >"$T_DIR/start.log" 2>&1 || {
    cat "$T_DIR/start.log"
    echo "federation did not start"
    exit 1
  }
  # shellcheck disable=SC1091
  . "$T_DIR/fed/env"
}

ok() {
  passed=$((passed + 1))
  echo "ok - $*"
}

not_ok() {
  failed=$((failed + 1))
  echo "not ok - $*"
}

# xr METHOD CLIENT PATH [curl args...]: a query through the SH client proxy.
# Sets STATUS, BODY, HEADERS (lower-cased names).
xr() {
  local method=$1 client=$2 path=$3
  shift 3
  local args=(-s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X "$method" --path-as-is)
  [ -n "$client" ] && args+=(-H "X-Road-Client: $client")
  STATUS=$(curl "${args[@]}" "$@" "http://127.0.0.1:$FED_SH_CLIENT_PORT$path" || true)
  BODY=$(cat "$T_DIR/body" 2>/dev/null || true)
  HEADERS=$(tr -d '\r' <"$T_DIR/headers" 2>/dev/null | tr 'A-Z' 'a-z' || true)
}

header() { # name (lower case) -> value of the last such header
  printf '%s\n' "$HEADERS" | sed -n "s/^$1: //p" | tail -n 1
}

# expect_error NAME STATUS TYPE: checks the last response is that X-Road error
expect_error() {
  local name=$1 status=$2 type=$3
  local got_type
  got_type=$(printf '%s' "$BODY" | sed -n 's/.*"type":"\([^"]*\)".*/\1/p')
  if [ "$STATUS" = "$status" ] && [ "$got_type" = "$type" ] &&
    [ "$(header x-road-error)" = "$(printf '%s' "$type" | tr 'A-Z' 'a-z')" ] &&
    printf '%s' "$BODY" | grep -Eq '"detail":"[0-9a-f-]{36}"'; then
    ok "$name: $status $type"
  else
    not_ok "$name: expected $status $type, got $STATUS $BODY"
  fi
}

expect() { # NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then ok "$name"; else not_ok "$name (status $STATUS, body ${BODY:0:300})"; fi
}

finish() {
  # stop everything first: a sanitizer reports leaks at exit
  "$SS_SOURCE_DIR/deploy/federation.sh" stop "$T_DIR/fed" >/dev/null 2>&1 || true
  local reports
  reports=$(grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" \
    "$T_DIR"/fed/*.log "$T_DIR"/*.log 2>/dev/null || true)
  if [ -n "$reports" ]; then
    not_ok "sanitizer reports in: $reports"
  else
    ok "no sanitizer report in any process log"
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
