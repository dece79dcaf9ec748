#!/usr/bin/env bash
# Policies reload on SIGHUP atomically: a directory with an error keeps the
# policy in force and logs file:line: message; a good change takes effect.
. "$(dirname "$0")/lib.sh"
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft/persons/P-1001
POL=$FED_DIR/mv/policies/einwohnermeldeamt-schwerin.xml
mv_pid=$(awk '$2 == "mv" {print $1}' "$FED_DIR/pids")
allow_error "policies: reload refused"
# hup: signals the provider's server and waits for the outcome of that reload in its log
RELOADED='policies: (reload refused|[0-9]+ rules from)'
hup() {
  local n
  n=$(log_count mv "$RELOADED")
  kill -HUP "$mv_pid"
  wait_until "the reload's outcome in the log" 20 bash -c \
    "[ \$(grep -Ec '$RELOADED' '$FED_DIR/mv.log') -gt $n ]" || not_ok "no reload outcome logged"
}

xr GET $CLIENT $Q -H "X-Secsrv-Purpose: BMG-34"
expect "allowed before any reload" test "$STATUS" = 200

cp "$POL" "$T_DIR/good.xml"
printf '<accessPolicy provider="DE-NORD/MUN/13004000/Standesamt">\n  <rule service="x">\n    <allow subsystem="not an id"/>\n  </rule>\n</accessPolicy>\n' \
  >"$FED_DIR/mv/policies/broken.xml"
hup
expect "a broken file is reported as file:line: message" \
  grep -q "reload refused.*broken.xml:3: " "$FED_DIR/mv.log"
xr GET $CLIENT $Q -H "X-Secsrv-Purpose: BMG-34"
expect "the policy in force stays after a refused reload" test "$STATUS" = 200
rm "$FED_DIR/mv/policies/broken.xml"

sed -i 's#<allow subsystem="DE-NORD/GOV/MIKWS-SH/Meldeauskunft"/>#<allow subsystem="DE-NORD/GOV/MIKWS-SH/Kommunalaufsicht"/>#' "$POL"
hup
expect "a good change is reported as the last outcome" \
  bash -c "grep -E '$RELOADED' '$FED_DIR/mv.log' | tail -n 1 | grep -Eq 'rules from [0-9]+ files'"
xr GET $CLIENT $Q -H "X-Secsrv-Purpose: BMG-34"
expect_error "after the reload the client is no longer allowed" 403 Server.ServerProxy.AccessDenied

cp "$T_DIR/good.xml" "$POL"
hup
xr GET $CLIENT $Q -H "X-Secsrv-Purpose: BMG-34"
expect "restoring the policy allows again" test "$STATUS" = 200

finish
