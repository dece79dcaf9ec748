#!/usr/bin/env bash
# How fast the DPO console (secsrv-log serve) answers over a large log (a
# script, not a test: it prints figures and never fails on them). It loads
# the loopback federation with wrk for DURATION seconds (queries about a
# thousand different people, so that a person has a few dozen exchanges),
# lets the timestamper catch up, copies the SH log, serves the copy with a
# DPO certificate and asks each kind of page REPEAT times. Prints per page
# the median and slowest time, the answer's size, and the console's peak
# RSS.
#   usage: test/bench/console.sh [DURATION_S=60] [REPEAT=20]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$src"
duration=${1:-60}
repeat=${2:-20}

# shellcheck disable=SC1091
. "$src/deploy/prepare.sh"
prepare --bench secsrv secsrv-registry secsrv-log ss-testserver
LOG=$SS_BUILD_DIR/secsrv/secsrv-log

work=$(mktemp -d /tmp/ss-console-bench.XXXXXX)
chmod 755 "$work"
console=
cleanup() {
  [ -n "$console" ] && kill "$console" 2>/dev/null && wait "$console" 2>/dev/null
  ./deploy/federation.sh stop "$work/fed" >/dev/null 2>&1 || true
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

FED_TEST=1 ./deploy/federation.sh start "$work/fed" >"$work/start.log" 2>&1 || {
  cat "$work/start.log"
  exit 1
}
# shellcheck disable=SC1091
. "$work/fed/env"
cat >"$work/people.lua" <<'EOF'
request = function()
  wrk.headers["X-Secsrv-Subject"] = "P-" .. math.random(1, 1000)
  return wrk.format()
end
EOF
echo "loading the federation for ${duration}s..."
wrk -t2 -c32 -d"${duration}s" -s "$work/people.lua" \
  -H "X-Road-Client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft" -H "X-Secsrv-Purpose: BMG-34" \
  "http://127.0.0.1:$FED_SH_CLIENT_PORT/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/fast/persons/P-1001" |
  grep -E "requests in"
pending() { sqlite3 -readonly "$FED_DIR/sh/log/messagelog.db" \
  "SELECT count(*) FROM records WHERE id > (SELECT coalesce(max(last_id), 0) FROM timestamps)"; }
stamped() { [ "$(pending)" = 0 ]; }
wait_until "the timestamps to catch up" 120 stamped
sqlite3 "$FED_DIR/sh/log/messagelog.db" ".backup '$work/sh.db'"
cp "$FED_DIR/sh/state/subject.key" "$work/subject.key"
./deploy/federation.sh stop "$work/fed" >/dev/null 2>&1 || true
records=$(sqlite3 "$work/sh.db" "SELECT count(*) FROM records")
middle=$(sqlite3 "$work/sh.db" "SELECT id FROM records WHERE direction = 'request' \
  ORDER BY id LIMIT 1 OFFSET (SELECT count(*) / 4 FROM records)")

bash deploy/console-pki.sh "$work/cpki" >/dev/null
"$LOG" serve --listen 127.0.0.1:0 --cert "$work/cpki/console.pem" --key "$work/cpki/console.key" \
  --dpo-ca "$work/cpki/dpo-ca.pem" --anchor "$FED_PKI/registry-authority.pem" \
  --subject-key "$work/subject.key" --reports "$work/reports" --audit-log "$work/audit.log" \
  "$work/sh.db" >"$work/console.out" 2>"$work/console.log" &
console=$!
wait_until "the console" 20 grep -q '^console: https' "$work/console.out"
base=$(sed -n 's|^console: \(https://127.0.0.1:[0-9]*\)/.*|\1|p' "$work/console.out")
c() { # PATH [curl args]
  local path=$1
  shift
  curl -s --cacert "$work/cpki/dpo-ca.pem" --cert "$work/cpki/dpo.pem" --key "$work/cpki/dpo.key" \
    "$@" "$base$path"
}
# the search form carries the form token (a login by certificate has no logout form)
csrf=$(c /suche | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1)
# a person's pages: the form posts the identifier, the answer names only its keyed hash
search_person=$(c /suche -o /dev/null -w '%{redirect_url}' --data-urlencode "csrf=$csrf" \
  --data-urlencode "subject=P-17")
person=$(c /person -o /dev/null -w '%{redirect_url}' --data-urlencode "csrf=$csrf" \
  --data-urlencode "subject=P-17")
search_person=${search_person#"$base"} person=${person#"$base"}

echo
echo "console over the SH log: $records records"
printf '%-44s %10s %10s %10s\n' page median slowest bytes
time_page() { # NAME PATH
  local name=$1 path=$2 out
  out=$(for _ in $(seq "$repeat"); do c "$path" -o /dev/null -w '%{time_total} %{size_download} %{http_code}\n'; done)
  if grep -qv ' 200$' <<<"$out"; then
    echo "$name: $(grep -v ' 200$' <<<"$out" | head -1)" >&2
    return
  fi
  sort -n <<<"$out" | awk -v name="$name" '{ t[NR] = $1; b = $2 } END {
    printf "%-44s %8.1f ms %8.1f ms %10d\n", name, t[int((NR + 1) / 2)] * 1000, t[NR] * 1000, b }'
}
time_page "overview (30 days, chart, state of the log)" "/"
time_page "search, first page (50 exchanges)" "/suche"
time_page "search, sorted by service" "/suche?sort=service"
time_page "search by person" "$search_person"
time_page "one exchange (verified)" "/austausch/$middle"
time_page "evidence package (ASiC-E)" "/paket/$middle"
time_page "data-subject report (page)" "$person"
time_page "data-subject report (JSON)" "${person/\/person?//person.json?}"
echo "console peak RSS: $(awk '/VmHWM/ {print $2 / 1024 " MB"}' "/proc/$console/status")"
