# Shared helpers for integration tests (sourced). Each test script calls
# fed_start to run a federation on 127.0.0.1 in its own directory under
# the build folder (SS_BUILD_DIR/test-logs/NAME), which is kept after the
# run, passed or not, so every process log can be read afterwards.
#
# A test fails on any check that fails, on any sanitizer report in a
# process log, and on any operator-log line of level error that the test
# did not announce with allow_error.

set -euo pipefail
: "${SS_SOURCE_DIR:?}" "${SS_BUILD_DIR:?}"
export SS_BUILD_DIR SS_TEST_PKI

passed=0
failed=0
T_NAME=$(basename "$0" .sh)
T_DIR=$SS_BUILD_DIR/test-logs/$T_NAME
rm -rf "$T_DIR"
mkdir -p "$T_DIR"
T_ALLOWED_ERRORS=()
STATUS="" BODY="" HEADERS="" CURL_RC=""

t_cleanup() {
  "$SS_SOURCE_DIR/deploy/federation.sh" stop "$T_DIR/fed" >/dev/null 2>&1 || true
  if [ -n "${PG_DIR:-}" ]; then
    "$SS_SOURCE_DIR/deploy/pg.sh" stop "$PG_DIR" immediate >/dev/null 2>&1 || true
  fi
  if [ "$failed" -ne 0 ]; then
    echo "--- logs kept in $T_DIR"
    tail -n 20 "$T_DIR"/fed/*.log 2>/dev/null || true
  fi
}
trap t_cleanup EXIT

fed_start() {
  FED_TEST=1 "$SS_SOURCE_DIR/deploy/federation.sh" start "$T_DIR/fed" >"$T_DIR/start.log" 2>&1 || {
    cat "$T_DIR/start.log"
    echo "federation did not start"
    exit 1
  }
  fed_env
}

# fed_env: reads the federation's ports and paths (again, after a server restarted)
fed_env() {
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

# allow_error REGEX: an error line matching REGEX is expected by this test
allow_error() { T_ALLOWED_ERRORS+=("$1"); }

# wait_until DESCRIPTION SECONDS CMD...: see deploy/wait.sh
# shellcheck disable=SC1091
. "$SS_SOURCE_DIR/deploy/wait.sh"

# log_has NAME REGEX: the federation process NAME logged a line matching REGEX
log_has() { grep -Eq -- "$2" "$FED_DIR/$1.log"; }

# log_count NAME REGEX: how many lines of NAME's log match REGEX
log_count() { grep -Ec -- "$2" "$FED_DIR/$1.log" 2>/dev/null || true; }

# parent_of SERVER: the pid of that security server's parent process
parent_of() { awk -v n="$1" '$2 == n {p = $1} END {print p}' "$FED_DIR/pids"; }
# child_of SERVER ROLE: the pid of its child secsrv-ROLE (signer, logger, network)
child_of() {
  ps -o pid=,comm= --ppid "$(parent_of "$1")" | awk -v c="secsrv-$2" '$2 == c {print $1}'
}

# xr METHOD CLIENT PATH [curl args...]: a query through the SH client proxy.
# Sets STATUS, BODY, HEADERS (lower-cased names) and CURL_RC.
xr() {
  local method=$1 client=$2 path=$3
  shift 3
  local args=(-s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' -X "$method" --path-as-is)
  [ -n "$client" ] && args+=(-H "X-Road-Client: $client")
  t_curl "${args[@]}" "$@" "http://127.0.0.1:$FED_SH_CLIENT_PORT$path"
}

# t_curl ARGS...: runs curl writing to T_DIR/body and T_DIR/headers; sets the results (with
# shell builtins only: a test makes thousands of requests, and each helper process costs)
t_curl() {
  : >"$T_DIR/body"
  : >"$T_DIR/headers"
  CURL_RC=0
  STATUS=$(curl "$@") || CURL_RC=$?
  BODY=$(<"$T_DIR/body")
  HEADERS=$(<"$T_DIR/headers")
  HEADERS=${HEADERS//$'\r'/}
  HEADERS=${HEADERS,,}
}

header() { # name (lower case) -> value of the last such header
  local line value found=0
  while IFS= read -r line; do
    if [[ $line == "$1: "* ]]; then
      value=${line#"$1: "}
      found=1
    fi
  done <<<"$HEADERS"
  [ $found = 0 ] || printf '%s\n' "$value"
}

# expect_error NAME STATUS TYPE: checks the last response is that X-Road error
expect_error() {
  local name=$1 status=$2 type=$3
  local got_type
  got_type=
  [[ $BODY =~ \"type\":\"([^\"]*)\" ]] && got_type=${BASH_REMATCH[1]}
  if [ "$STATUS" = "$status" ] && [ "$got_type" = "$type" ] &&
    [ "$(header x-road-error)" = "${type,,}" ] &&
    [[ $BODY =~ \"detail\":\"[0-9a-f-]{36}\" ]]; then
    ok "$name: $status $type"
  else
    not_ok "$name: expected $status $type, got $STATUS $BODY"
  fi
}

expect() { # NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then ok "$name"; else not_ok "$name (status ${STATUS:-}, curl exit ${CURL_RC:-}, body ${BODY:0:300})"; fi
}

# unexpected_errors: operator-log error lines no allow_error pattern covers
unexpected_errors() {
  local f line pattern allowed
  for f in "$T_DIR"/fed/*.log "$T_DIR"/*.log; do
    [ -f "$f" ] || continue
    while IFS= read -r line; do
      allowed=0
      for pattern in "${T_ALLOWED_ERRORS[@]+"${T_ALLOWED_ERRORS[@]}"}"; do
        if printf '%s\n' "$line" | grep -Eq -- "$pattern"; then allowed=1; break; fi
      done
      [ $allowed -eq 1 ] || echo "$(basename "$f"): $line"
    done < <(grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z error ' "$f" || true)
  done
}

finish() {
  # stop everything first: a sanitizer reports leaks at exit
  "$SS_SOURCE_DIR/deploy/federation.sh" stop "$T_DIR/fed" >/dev/null 2>&1 || true
  local reports
  reports=$(grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:\|WARNING: ThreadSanitizer" \
    "$T_DIR"/fed/*.log "$T_DIR"/*.log 2>/dev/null || true)
  if [ -n "$reports" ]; then
    not_ok "sanitizer reports in: $reports"
  else
    ok "no sanitizer report in any process log"
  fi
  local errors
  errors=$(unexpected_errors)
  if [ -n "$errors" ]; then
    not_ok "unexpected error lines in the operator logs:"
    printf '%s\n' "$errors" | head -n 20 | sed 's/^/#   /'
  else
    ok "no unexpected error line in any operator log"
  fi
  echo "$passed passed, $failed failed (logs in $T_DIR)"
  [ "$failed" -eq 0 ]
}

# pg_start: a throw-away PostgreSQL cluster in T_DIR/pg (deploy/pg.sh), stopped at the end;
# sets PG_DIR and PG_STORE (the store spec for FED_SH_STORE or FED_MV_STORE)
pg_start() {
  PG_DIR=$T_DIR/pg
  PG_STORE=$("$SS_SOURCE_DIR/deploy/pg.sh" start "$PG_DIR")
}
# pg_sql SQL: a query on that cluster's database
pg_sql() { "$SS_SOURCE_DIR/deploy/pg.sh" psql "$PG_DIR" -Atqc "$1"; }

# msglog NAME SQL: a query on the message log of server NAME (sh or mv), read-only
msglog() {
  local store
  store=FED_$(echo "$1" | tr a-z A-Z)_STORE
  case "${!store:-}" in
  postgresql:*) pg_sql "$2" ;;
  *) sqlite3 -readonly "$FED_DIR/$1/log/messagelog.db" "$2" ;;
  esac
}

# records NAME WHERE: how many records of NAME's message log match WHERE
records() { msglog "$1" "SELECT count(*) FROM signed_records WHERE $2"; }

# pending NAME: records of NAME's message log no timestamp covers yet
pending() { msglog "$1" "SELECT count(*) FROM records WHERE id > (SELECT coalesce(max(last_id), 0) FROM timestamps)"; }
# stamped: both logs are timestamped to the end
stamped() { [ "$(pending sh)" = 0 ] && [ "$(pending mv)" = 0 ]; }
