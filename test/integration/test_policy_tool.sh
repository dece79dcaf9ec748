#!/usr/bin/env bash
# Drives the built secsrv-policy tool: "check" on good, bad and duplicate
# policy files, "explain" for allowed and denied requests, with and without
# a registry; asserts output lines and exit codes.
set -euo pipefail

: "${SS_SOURCE_DIR:?SS_SOURCE_DIR must be set}"
: "${SS_BUILD_DIR:?SS_BUILD_DIR must be set}"
tool="$SS_BUILD_DIR/policies/secsrv-policy"
example_dir="$SS_SOURCE_DIR/policies/examples"
example="$example_dir/einwohnermeldeamt-schwerin.xml"
[ -x "$tool" ] || { echo "FAIL: $tool not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/test_policy_tool.XXXXXX")
trap 'rm -rf "$work"' EXIT

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run EXPECTED_STATUS ARGS...: runs the tool, keeps stdout/stderr in $out/$err.
run() {
  local want=$1
  shift
  local status=0
  "$tool" "$@" >"$work/out" 2>"$work/err" || status=$?
  out=$(cat "$work/out")
  err=$(cat "$work/err")
  if [ "$status" -ne "$want" ]; then
    fail "secsrv-policy $* exited $status, expected $want; stdout: $out; stderr: $err"
  fi
}

# has TEXT PATTERN WHAT: TEXT contains the fixed string PATTERN.
has() {
  if ! grep -qF -- "$2" <<<"$1"; then
    fail "$3: expected '$2' in: $1"
  fi
}

# line N TEXT EXPECTED WHAT: line N of TEXT is exactly EXPECTED.
line() {
  local got
  got=$(sed -n "$1p" <<<"$2")
  if [ "$got" != "$3" ]; then
    fail "$4: line $1 is '$got', expected '$3'"
  fi
}

provider=DE-NORD/MUN/13004000/Einwohnermeldeamt
consumer=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
service=$provider/meldeauskunft

# ---- check ----

run 0 check "$example"
line 1 "$out" "$example: OK (2 rules)" "check example"
[ -z "$err" ] || fail "check example wrote to stderr: $err"

cat >"$work/bad.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<accessPolicy provider="DE-NORD/MUN/13004000">
  <localGroup code="g"/>
  <localGroup code="g"/>
  <rule service="meldeauskunft" methods="get" path="/persons/../admin">
    <allow localGroup="unbekannt"/>
  </rule>
  <rule service="meldeauskunft" path="/a//b%2f"
        validFrom="2027-01-01T00:00:00Z" validUntil="2026-01-01T00:00:00Z">
    <allow member="DE-NORD/GOV/IM-SH"/>
  </rule>
</accessPolicy>
EOF
run 1 check "$work/bad.xml"
[ -z "$out" ] || fail "check of a bad file printed to stdout: $out"
has "$err" "$work/bad.xml:2: provider 'DE-NORD/MUN/13004000' is not a subsystem identifier" "bad provider"
has "$err" "$work/bad.xml:4: local group 'g' is already defined at line 3" "duplicate local group"
has "$err" "$work/bad.xml:5: method 'get' is not an upper-case token" "method"
has "$err" "$work/bad.xml:5: path '/persons/../admin': path pattern must not contain '.' or '..' segments" "dot segment"
has "$err" "$work/bad.xml:6: unknown local group 'unbekannt'" "unknown local group"
has "$err" "$work/bad.xml:8: path '/a//b%2f'" "path with // and %"
has "$err" "$work/bad.xml:8: validFrom 2027-01-01T00:00:00Z is not before validUntil 2026-01-01T00:00:00Z" "validity"
[ "$(wc -l <<<"$err")" -eq 7 ] || fail "expected 7 errors, got: $err"

cat >"$work/schema.xml" <<'EOF'
<accessPolicy provider="DE-NORD/MUN/13004000/Standesamt">
  <rule service="urkunde"/>
</accessPolicy>
EOF
run 1 check "$work/schema.xml"
has "$err" "$work/schema.xml:2: Element 'rule'" "schema error"

# Good, bad and duplicate together: each file gets its verdict.
cp "$example" "$work/copy.xml"
run 1 check "$example" "$work/schema.xml" "$work/copy.xml"
line 1 "$out" "$example: OK (2 rules)" "first file still OK"
has "$err" "$work/copy.xml:10: provider $provider already has a policy in $example:10" "duplicate provider"
[ "$(wc -l <<<"$out")" -eq 1 ] || fail "only the first file is OK: $out"

run 1 check "$work/nonexistent.xml"
has "$err" "$work/nonexistent.xml" "missing file"
run 1 check
has "$err" "usage:" "check without files"
run 1 frobnicate
run 0 --help
has "$out" "usage:" "help"

# ---- explain ----

explain=(explain --dir "$example_dir" --client "$consumer" --service "$service")

run 0 "${explain[@]}" --purpose BMG-34 --method GET --path /persons/4711 --at 2026-11-23T12:00:00Z
line 1 "$out" "allow" "allowed request"
line 2 "$out" "rule: $example_dir/einwohnermeldeamt-schwerin.xml:16" "allowed request rule"
has "$out" "reason: allowed for subsystem $consumer" "allowed request reason"

run 0 explain --file "$example" --client "$consumer" --service "$service" --purpose BMG-34 \
  --method HEAD --path /persons/4711
line 1 "$out" "allow" "allowed with --file"

run 2 "${explain[@]}" --method GET --path /persons/4711
line 1 "$out" "deny (purpose-missing)" "purpose missing"
line 2 "$out" "rule: $example_dir/einwohnermeldeamt-schwerin.xml:16" "purpose missing rule"
has "$out" "reason: the rule requires a purpose (one of BMG-34)" "purpose missing reason"

run 2 "${explain[@]}" --purpose AO-93 --method GET --path /persons/4711
line 1 "$out" "deny (purpose-denied)" "purpose denied"

run 2 "${explain[@]}" --purpose BMG-34 --method DELETE --path /persons/4711
line 1 "$out" "deny (method-not-allowed)" "method"

run 2 "${explain[@]}" --purpose BMG-34 --method GET --path /persons/4711/addresses
line 1 "$out" "deny (path-not-allowed)" "path"

run 2 "${explain[@]}" --purpose BMG-34 --method GET --path /persons/../admin
line 1 "$out" "deny (path-refused)" "traversal"
line 2 "$out" "rule: none (default deny)" "traversal rule"

run 2 "${explain[@]}" --purpose BMG-34 --method GET --path /persons/%2e%2e
line 1 "$out" "deny (path-refused)" "encoded traversal"

run 2 explain --dir "$example_dir" --client DE-NORD/GOV/MIKWS-SH --service "$service" \
  --purpose BMG-34 --method GET --path /persons/4711
line 1 "$out" "deny (client-not-allowed)" "member does not get its subsystem's rights"
line 2 "$out" "rule: none (default deny)" "client not allowed rule"

run 2 explain --dir "$example_dir" --client "$consumer" \
  --service DE-NORD/MUN/13004000/Standesamt/urkunde
line 1 "$out" "deny (no-policy)" "no policy"

run 2 explain --dir "$example_dir" --client "$consumer" --service "$provider/geburtsdaten"
line 1 "$out" "deny (no-rule)" "no rule for the service"

# Global group and validity period, with a registry.
mkdir "$work/policies"
cat >"$work/policies/standesamt.xml" <<'EOF'
<accessPolicy provider="DE-NORD/MUN/13004000/Standesamt">
  <rule service="urkunde" validFrom="2026-01-01T00:00:00Z" validUntil="2027-01-01T00:00:00Z">
    <allow globalGroup="meldebehoerden"/>
  </rule>
</accessPolicy>
EOF
cat >"$work/registry.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<registry version="1" instance="DE-NORD" serial="1" issued="2026-11-23T18:00:00Z" expires="2026-12-23T18:00:00Z">
  <settings ocspFreshness="3600" timestampingInterval="60" registryValidity="2592000" refreshInterval="300"/>
  <memberClass code="GOV">Landesbehörden</memberClass>
  <memberClass code="MUN">Kommunen</memberClass>
  <member class="MUN" code="13004000" state="MV"><name>Landeshauptstadt Schwerin</name><subsystem code="Einwohnermeldeamt"/><subsystem code="Standesamt"/></member>
  <member class="MUN" code="01002000" state="SH"><name>Landeshauptstadt Kiel</name><subsystem code="Einwohnermeldeamt"/></member>
  <globalGroup code="meldebehoerden" description="Meldebehörden"><member id="MUN/01002000"/></globalGroup>
</registry>
EOF
kiel=DE-NORD/MUN/01002000/Einwohnermeldeamt
urkunde=DE-NORD/MUN/13004000/Standesamt/urkunde
run 0 explain --dir "$work/policies" --registry "$work/registry.xml" --client "$kiel" \
  --service "$urkunde" --at 2026-06-01T00:00:00Z
line 1 "$out" "allow" "global group"
has "$out" "reason: allowed for global group meldebehoerden" "global group reason"
run 2 explain --dir "$work/policies" --client "$kiel" --service "$urkunde" --at 2026-06-01T00:00:00Z
line 1 "$out" "deny (client-not-allowed)" "global group needs the registry"
run 2 explain --dir "$work/policies" --registry "$work/registry.xml" --client "$consumer" \
  --service "$urkunde" --at 2026-06-01T00:00:00Z
line 1 "$out" "deny (client-not-allowed)" "not in global group"
run 2 explain --dir "$work/policies" --registry "$work/registry.xml" --client "$kiel" \
  --service "$urkunde" --at 2027-01-01T00:00:00Z
line 1 "$out" "deny (outside-validity)" "after validUntil"
line 2 "$out" "rule: $work/policies/standesamt.xml:2" "validity rule"
run 2 explain --dir "$work/policies" --registry "$work/registry.xml" --client "$kiel" \
  --service "$urkunde" --at 2025-12-31T23:59:59Z
line 1 "$out" "deny (outside-validity)" "before validFrom"

# Usage and load errors exit 1.
run 1 explain --dir "$example_dir" --client "$consumer"
run 1 explain --dir "$example_dir" --file "$example" --client "$consumer" --service "$service"
run 1 explain --dir "$example_dir" --client "not/an id" --service "$service"
run 1 explain --dir "$example_dir" --client "$consumer" --service "$provider"
run 1 "${explain[@]}" --at yesterday
run 1 "${explain[@]}" --bogus 1
run 1 "${explain[@]}" --method
run 1 explain --dir "$work/nonexistent" --client "$consumer" --service "$service"
run 1 explain --file "$work/bad.xml" --client "$consumer" --service "$service"
has "$err" "$work/bad.xml:2: provider" "explain reports a bad policy"
cp "$example" "$work/policies/copy.xml"
cp "$example" "$work/policies/copy2.xml"
run 1 explain --dir "$work/policies" --client "$consumer" --service "$service"
has "$err" "copy2.xml:10: provider $provider already has a policy in $work/policies/copy.xml:10" "explain --dir duplicate"
run 1 explain --dir "$work/policies" --registry "$work/bad.xml" --client "$consumer" \
  --service "$urkunde"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "test_policy_tool: all checks passed"
