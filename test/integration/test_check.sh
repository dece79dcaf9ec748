#!/usr/bin/env bash
# secsrv -n: checks a configuration and everything it names against the
# registry in force, prints every problem as file:line: message and exits 1;
# warns (and still says "configuration OK") about what works but lets more
# in than an operator may mean to.
# connections the federation's servers allow: what their limits let take stays far below any
# machine's memory, so that no warning about it depends on the machine
FED_MAX_CONNECTIONS=1000
export FED_MAX_CONNECTIONS
. "$(dirname "$0")/lib.sh"
fed_start

SECSRV=$SS_BUILD_DIR/secsrv/secsrv
# check CONF: runs secsrv -n on CONF; sets RC, OUT (its verdict on stdout) and ERR
# (problems and warnings, on stderr with the operator log)
check() {
  RC=0
  OUT=$("$SECSRV" -n -c "$1" 2>"$T_DIR/check.err") || RC=$?
  ERR=$(cat "$T_DIR/check.err")
}
# variant NAME SED-SCRIPT: a copy of the SH configuration, changed by SED-SCRIPT
variant() {
  sed "$2" "$FED_SH_CONF" >"$T_DIR/$1.conf"
  echo "$T_DIR/$1.conf"
}
line_of() { grep -n "$2" "$1" | head -n 1 | cut -d: -f1; }

check "$FED_MV_CONF"
expect "the provider's configuration is OK without warnings" \
  test "$RC" = 0 -a "$OUT" = "configuration OK"

check "$FED_SH_CONF"
expect "the consumer's configuration is OK with warnings" \
  test "$RC" = 0 -a "$OUT" = "configuration OK (with warnings)"
expect "it warns about a hosted client not bound to an IS certificate, at its line" \
  bash -c "printf '%s' \"\$1\" | grep -q \"secsrv.conf:$(line_of "$FED_SH_CONF" 'client = GOV/MIKWS-SH/Meldeauskunft'): warning: client GOV/MIKWS-SH/Meldeauskunft is not bound\"" _ "$ERR"

before=$(ls -l --time-style=full-iso "$FED_DIR/sh/state")
conf=$(variant other-chain "s#servers/ss-sh-kiel/auth-chain.pem#servers/ss-mv-schwerin/auth-chain.pem#; s#servers/ss-sh-kiel/auth.key#servers/ss-mv-schwerin/auth.key#")
check "$conf"
expect "another server's certificate in a chain file is a problem, at its line" \
  bash -c "[ $RC = 1 ] && printf '%s' \"\$1\" | grep -q \"other-chain.conf:$(line_of "$conf" '^certificate'): .*is not an authentication certificate the registry lists\"" _ "$ERR"
expect "a check writes nothing to the state directory" \
  test "$(ls -l --time-style=full-iso "$FED_DIR/sh/state")" = "$before"

conf=$(variant missing-cert "s#servers/ss-sh-kiel/auth-chain.pem#servers/ss-sh-kiel/no-such.pem#")
check "$conf"
expect "a certificate file that cannot be read is a problem, never a skipped check" \
  bash -c "[ $RC = 1 ] && printf '%s' \"\$1\" | grep -q 'missing-cert.conf:.*no-such.pem'" _ "$ERR"

conf=$(variant open-proxy '0,/^listen = 127.0.0.1:0$/s//listen = 0.0.0.0:0/')
check "$conf"
expect "a plain-HTTP client proxy off loopback draws a warning, not a problem" \
  bash -c "[ $RC = 0 ] && printf '%s' \"\$1\" | grep -q \"open-proxy.conf:$(line_of "$conf" '^listen = 0.0.0.0'): warning: the plain-HTTP client proxy listens on 0.0.0.0:0\"" _ "$ERR"

# an OpenAPI description that is not UTF-8 (getOpenAPI answers it as UTF-8)
printf 'openapi: 3.0.0\ninfo:\n  title: Melderegister L\366beck\n' >"$T_DIR/latin1.yaml"
sed "s#openapi [^ ]*melderegister.yaml#openapi $T_DIR/latin1.yaml#" "$FED_MV_CONF" >"$T_DIR/latin1.conf"
check "$T_DIR/latin1.conf"
expect "an OpenAPI description that is not UTF-8 is a problem, at its file and line" \
  bash -c "[ $RC = 1 ] && printf '%s' \"\$1\" | grep -q 'latin1.yaml:3: not UTF-8 (byte 0xf6)'" _ "$ERR"

# register services over https://: their CAs named, a client certificate that is the key's
# service_problem NAME SED-SCRIPT WHAT LINE-REGEX MESSAGE-REGEX: a copy of the MV configuration
# changed by SED-SCRIPT is a problem, MESSAGE-REGEX at the line LINE-REGEX finds (none: no line)
service_problem() {
  local conf=$T_DIR/$1.conf at=""
  sed "$2" "$FED_MV_CONF" >"$conf"
  check "$conf"
  [ -n "$4" ] && at="$(line_of "$conf" "$4"):"
  expect "$3" bash -c "[ $RC = 1 ] && printf '%s' \"\$1\" | grep -q \"$1.conf:$at \$2\"" _ "$ERR" "$5"
}
tls_section='/^\[service-tls\]$/,/^key = /'
service_problem no-service-ca "$tls_section{/^ca = /d}" \
  "a service over https:// without [service-tls] ca is a problem, at the service's line" \
  '/svctls = https://' 'service URL is https:// but \[service-tls\] ca is not set'
service_problem service-empty-ca "$tls_section{s#^ca = .*#ca =#}" \
  "an empty [service-tls] ca is none: a problem at the https:// service's line" \
  '/svctls = https://' 'service URL is https:// but'
service_problem service-other-key \
  "$tls_section{s#^key = .*#key = $FED_PKI/servers/ss-sh-kiel/auth.key#}" \
  "a [service-tls] key that is not the certificate's is a problem, at its line" \
  '^key = .*ss-sh-kiel/auth.key' '.*ss-sh-kiel/auth.key does not hold the key of'
service_problem service-no-key "$tls_section{/^key = /d}" \
  "a [service-tls] certificate without its key is a problem" '' '\[service-tls\] key is required'
service_problem service-bad-ca "s#^ca = .*ca-chain.pem#ca = $FED_MV_CONF#" \
  "a [service-tls] ca file without certificates is a problem, at its line" \
  '^ca = ' '.*cannot load CA certificates'

conf=$(variant bad-line 's/^max_headers = 32$/max_headers = lots/')
check "$conf"
expect "a bad value is reported as file:line: message" \
  bash -c "[ $RC = 1 ] && printf '%s' \"\$1\" | grep -q \"bad-line.conf:$(line_of "$conf" '^max_headers'): max_headers must be a number\"" _ "$ERR"

check "$FED_MV_CONF"
expect "the check says how much memory the limits allow the network process" \
  bash -c "printf '%s' \"\$1\" | grep -q 'info network: the limits let connections and bodies in transit take up to [0-9]* MiB: 1000 connections per listener'" _ "$ERR"
expect "the federation's own limits draw no warning about memory" \
  bash -c "! printf '%s' \"\$1\" | grep -q 'MiB this machine allows the server'" _ "$ERR"

conf=$(variant no-user 's/^user = .*/user = no-such-user-here/')
check "$conf"
expect "a [server] user that does not exist is a problem, at its line" \
  bash -c "[ $RC = 1 ] && printf '%s' \"\$1\" | grep -q \"no-user.conf:$(line_of "$conf" '^user = '): user no-such-user-here does not exist\"" _ "$ERR"
conf=$(variant root-user 's/^user = .*/user = root/')
check "$conf"
expect "... and so is root, which drops nothing" \
  bash -c "[ $RC = 1 ] && printf '%s' \"\$1\" | grep -q 'user root is root'" _ "$ERR"

# a rollback floor that cannot be read: no registry is judged without it, the cached copy is no
# way around it, and the check leaves the file as it is
cp -a "$FED_DIR/sh/state" "$T_DIR/bad-floor-state"
printf 'garbage\n' >"$T_DIR/bad-floor-state/registry.floor"
conf=$(variant bad-floor "s#^state_dir = .*#state_dir = $T_DIR/bad-floor-state#")
check "$conf"
expect "an unreadable rollback floor is a problem that names it" \
  bash -c "[ $RC = 1 ] && printf '%s' \"\$1\" | grep -q 'registry.floor: not .SERIAL SHA256.'" _ "$ERR"
expect "... and the check did not write over it" \
  test "$(cat "$T_DIR/bad-floor-state/registry.floor")" = garbage

# 100,000 connections per listener with 1 MiB of header fields each: about 500 GB
conf=$(variant flood-limits 's/^max_connections = 1000$/max_connections = 100000\nmax_header_bytes = 1048576/')
check "$conf"
expect "limits that allow more memory than the machine has draw a warning at max_connections" \
  bash -c "[ $RC = 0 ] && printf '%s' \"\$1\" | grep -q \"flood-limits.conf:$(line_of "$conf" '^max_connections'): warning: the limits let connections and bodies in transit take [0-9]* MiB, more than the [0-9]* MiB this machine allows the server\"" _ "$ERR"

finish
