#!/usr/bin/env bash
#
# test_registry_tool.sh - the registry authority's tool end to end.
#
# Builds a registry with secsrv-registry, signs it with the test PKI's
# registry authority (intermediate included), checks the signature with the
# stock openssl command and with `secsrv-registry verify`, then the negative
# cases: a changed byte, a rogue signer, a different anchor, an expired
# document, a rollback, a schema violation signed by openssl directly, a
# missing file, and refused edits that must leave the file byte-identical.
#
# Environment: SS_BUILD_DIR (tool at registry/secsrv-registry), SS_SOURCE_DIR,
# SS_TEST_PKI (made by deploy/pki.sh). Prints one line per check and stops at
# the first failure with a non-zero status.

set -euo pipefail

: "${SS_BUILD_DIR:?set SS_BUILD_DIR to the build tree}"
: "${SS_SOURCE_DIR:?set SS_SOURCE_DIR to the source tree}"
: "${SS_TEST_PKI:?set SS_TEST_PKI to a PKI made by deploy/pki.sh}"

tool=$SS_BUILD_DIR/registry/secsrv-registry
pki=$SS_TEST_PKI
[[ -x $tool ]] || { echo "FAIL: $tool is not built" >&2; exit 1; }
[[ -r $pki/registry-authority.pem ]] || { echo "FAIL: no test PKI in $pki" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/test_registry_tool.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
cd "$work"

checks=0
pass() {
    checks=$((checks + 1))
    echo "ok $checks - $*"
}
die() {
    echo "FAIL - $*" >&2
    exit 1
}

# run WHAT CMD...: the command must succeed.
run() {
    local what=$1
    shift
    "$@" >out.txt 2>err.txt || die "$what: exit $? ($(head -c 400 err.txt))"
    pass "$what"
}

# refuse WHAT STATUS PATTERN CMD...: the command must exit with STATUS and
# say something matching PATTERN (extended regex) on stderr.
refuse() {
    local what=$1 want=$2 pattern=$3 status=0
    shift 3
    "$@" >out.txt 2>err.txt || status=$?
    [[ $status -eq $want ]] || die "$what: exit $status, expected $want ($(head -c 400 err.txt))"
    grep -Eq -- "$pattern" err.txt || die "$what: stderr lacks /$pattern/: $(head -c 400 err.txt)"
    pass "$what ($(head -n 1 err.txt | cut -c1-110))"
}

same_file() { # WHAT A B
    cmp -s -- "$2" "$3" || die "$1: $2 changed"
    pass "$1"
}

sign_args=(--key "$pki/registry-authority.key" --cert "$pki/registry-authority.pem"
    --chain "$pki/intermediate-ca.pem")
anchor=(--anchor "$pki/registry-authority.pem")

# ---- build a registry ----
reg=r.xml
t() { "$tool" -f "$reg" "$@"; }

run "init" t init --instance DE-NORD --validity-days 7
refuse "init refuses an existing file" 1 "already exists" t init --instance DE-NORD
run "add member classes" bash -c '
    "$0" -f r.xml add member-class GOV "Landesbehörden und Ministerien" &&
    "$0" -f r.xml add member-class MUN "Kommunen (Gemeinden, Städte, Kreise)"' "$tool"
run "add SH member" t add member GOV/MIKWS-SH --name "Ministerium für Inneres, Kommunales, Wohnen und Sport" --state SH
run "add MV member" t add member MUN/13004000 --name "Landeshauptstadt Schwerin" --state MV
run "add subsystems" bash -c '
    "$0" -f r.xml add subsystem GOV/MIKWS-SH/Meldeauskunft &&
    "$0" -f r.xml add subsystem MUN/13004000/Einwohnermeldeamt' "$tool"
run "add server from certificate" t add server GOV/MIKWS-SH ss-sh-kiel --address 127.0.0.1:18443 \
    --auth-cert "$pki/servers/ss-sh-kiel/auth.pem"
run "add server from fingerprint" t add server MUN/13004000 ss-mv-schwerin \
    --address 127.0.0.1:18444 --auth-sha256 "$(tr -d ' \n' <"$pki/servers/ss-mv-schwerin/auth.sha256")"
run "add clients" bash -c '
    "$0" -f r.xml add client GOV/MIKWS-SH/ss-sh-kiel GOV/MIKWS-SH/Meldeauskunft &&
    "$0" -f r.xml add client MUN/13004000/ss-mv-schwerin MUN/13004000/Einwohnermeldeamt' "$tool"
run "add group" t add group meldebehoerden --description "Meldebehörden SH & MV"
run "add group member" t add group-member meldebehoerden MUN/13004000
run "add ca" t add ca "DE-NORD Test-CA" --cert "$pki/root-ca.pem" \
    --intermediate "$pki/intermediate-ca.pem" --ocsp-url http://127.0.0.1:18888/ \
    --ocsp-cert "$pki/ocsp.pem"
run "add tsa" t add tsa "DE-NORD Test-TSA" --url http://127.0.0.1:18899/ --cert "$pki/tsa.pem"

want_fp=$(openssl x509 -in "$pki/servers/ss-sh-kiel/auth.pem" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
grep -q "authSha256=\"$want_fp\"" r.xml || die "fingerprint of --auth-cert differs from openssl's $want_fp"
pass "--auth-cert fingerprint equals openssl's SHA-256 of the DER"

# ---- refused edits leave the file byte-identical ----
cp r.xml before.xml
refuse "duplicate member refused" 1 "^secsrv-registry: member GOV/MIKWS-SH already exists$" \
    t add member GOV/MIKWS-SH --name X --state SH
refuse "unknown member class refused" 1 "unknown member class JUS" \
    t add member JUS/OLG-SH --name X --state SH
refuse "subsystem of unknown member refused" 1 "unknown member GOV/NOPE" \
    t add subsystem GOV/NOPE/X
refuse "bad identifier refused" 1 "bad identifier" t add member GOV/Kiel_Stadt --name X --state SH
refuse "bad address refused" 1 "bad address" t add server GOV/MIKWS-SH ss2 --address "127.0.0.1" \
    --auth-sha256 "$want_fp"
refuse "bad fingerprint refused" 1 "fingerprint" t add server GOV/MIKWS-SH ss2 \
    --address 127.0.0.1:1 --auth-sha256 1234
refuse "referenced member not removed" 1 "cannot remove member GOV/MIKWS-SH: it owns server" \
    t remove member GOV/MIKWS-SH
refuse "used member class not removed" 1 "cannot remove member class MUN" t remove member-class MUN
refuse "referenced subsystem not removed" 1 "is hosted on server" \
    t remove subsystem MUN/13004000/Einwohnermeldeamt
refuse "a server's certificate refused as a CA" 1 "CA certificate is not a CA's" \
    t add ca "Leaf CA" --cert "$pki/servers/ss-sh-kiel/auth.pem"
refuse "an intermediate refused as the root" 1 "CA certificate is not self-signed" \
    t add ca "Sub CA" --cert "$pki/intermediate-ca.pem"
refuse "a responder of another CA refused" 1 "issued neither by the CA certificate nor" \
    t add ca "Rogue CA" --cert "$pki/rogue/rogue-ca.pem" --ocsp-url http://127.0.0.1:1/ \
    --ocsp-cert "$pki/ocsp.pem"
refuse "the OCSP responder's certificate refused as a TSA's" 1 "not a time-stamping authority's" \
    t add tsa "Not a TSA" --url http://127.0.0.1:1/ --cert "$pki/ocsp.pem"
refuse "usage error exits 2" 2 "usage" t add member GOV/X --colour blue
same_file "refused edits left r.xml byte-identical" before.xml r.xml

# ---- sign and verify ----
run "sign" t sign "${sign_args[@]}"
grep -q 'serial="1"' r.xml || die "sign did not set serial 1"
pass "sign set serial 1"
run "openssl cms -verify accepts the signature" openssl cms -verify -binary -inform DER \
    -in r.xml.p7s -content r.xml -CAfile "$pki/root-ca.pem" -out /dev/null
run "secsrv-registry verify" t verify "${anchor[@]}"
grep -Eq "^r\.xml: signature OK, serial 1, instance DE-NORD, expires [0-9T:-]+Z, 2 members, 2 servers$" out.txt ||
    die "verify printed: $(cat out.txt)"
pass "verify summary line"
run "sign again with --serial 10" t sign "${sign_args[@]}" --serial 10
run "verify serial 10 with --min-serial 10" t verify "${anchor[@]}" --min-serial 10
grep -q "serial 10," out.txt || die "expected serial 10: $(cat out.txt)"
pass "serial is max(current + 1, --serial)"
run "sign again bumps to 11" t sign "${sign_args[@]}" --serial 3
grep -q 'serial="11"' r.xml || die "expected serial 11"
pass "serial 11 after --serial 3"

# the signature never overwrites the document, in whatever spelling or through a link
cp r.xml r.before
refuse "sign --out the file itself" 1 "must not be the registry file itself" \
    t sign "${sign_args[@]}" --out ./r.xml
ln -sf r.xml r-link.xml
refuse "sign --out a link to the file" 1 "must not be the registry file itself" \
    t sign "${sign_args[@]}" --out r-link.xml
same_file "both left the registry alone" r.before r.xml
rm -f r-link.xml r.before

# ---- negative cases ----
mkdir tampered && cp r.xml r.xml.p7s tampered/
printf 'X' | dd of=tampered/r.xml bs=1 seek=300 conv=notrunc status=none
cmp -s r.xml tampered/r.xml && die "tampering did not change the file"
refuse "one changed byte: verify fails" 1 "^tampered/r\.xml: signature does not match the document" \
    "$tool" -f tampered/r.xml verify "${anchor[@]}"
if openssl cms -verify -binary -inform DER -in tampered/r.xml.p7s -content tampered/r.xml \
    -CAfile "$pki/root-ca.pem" -out /dev/null 2>/dev/null; then
    die "openssl accepted the changed file"
fi
pass "one changed byte: openssl cms -verify fails too"

mkdir rogue && cp r.xml rogue/
run "sign with the rogue authority" "$tool" -f rogue/r.xml sign \
    --key "$pki/rogue/registry-authority.key" --cert "$pki/rogue/registry-authority.pem"
refuse "rogue signer: verify fails" 1 \
    "^rogue/r\.xml: signed by someone other than the pinned registry authority$" "$tool" -f rogue/r.xml verify "${anchor[@]}"
refuse "different anchor: verify fails" 1 \
    "^r\.xml: signed by someone other than the pinned registry authority$" t verify --anchor "$pki/tsa.pem"

mkdir expired && cp r.xml expired/
run "set registry validity to 1 second" "$tool" -f expired/r.xml set settings --registry-validity 1
run "sign the short-lived registry" "$tool" -f expired/r.xml sign "${sign_args[@]}"
sleep 2
refuse "expired registry: verify fails" 1 "expired" "$tool" -f expired/r.xml verify "${anchor[@]}"

refuse "rollback: verify fails" 1 "rollback" t verify "${anchor[@]}" --min-serial 12

mkdir schema && cp r.xml schema/
sed -i '3a\  <bogus/>' schema/r.xml
grep -q '<bogus/>' schema/r.xml || die "sed did not insert the bogus element"
run "openssl signs the schema-violating file" openssl cms -sign -binary -outform DER \
    -in schema/r.xml -signer "$pki/registry-authority.pem" -inkey "$pki/registry-authority.key" \
    -md sha256 -certfile "$pki/intermediate-ca.pem" -out schema/r.xml.p7s
run "openssl accepts that signature" openssl cms -verify -binary -inform DER \
    -in schema/r.xml.p7s -content schema/r.xml -CAfile "$pki/root-ca.pem" -out /dev/null
refuse "schema violation: verify fails with file:line" 1 "^schema/r\.xml:4: .*bogus" \
    "$tool" -f schema/r.xml verify "${anchor[@]}"

refuse "missing registry file" 1 "missing\.xml: No such file" \
    "$tool" -f missing.xml verify "${anchor[@]}"
refuse "missing signature file" 1 "nosig\.p7s: No such file" \
    t verify "${anchor[@]}" --sig nosig.p7s
refuse "missing file for an edit" 1 "missing\.xml: No such file" \
    "$tool" -f missing.xml add member-class X Y

# ---- editing a signed registry ----
cp r.xml.p7s sig-before.p7s
run "edit the signed registry" t add subsystem GOV/MIKWS-SH/Statistik
same_file "the old signature is left alone" sig-before.p7s r.xml.p7s
refuse "the edited registry no longer verifies" 1 "^r\.xml: signature does not match" t verify "${anchor[@]}"
run "show still works" t show
grep -q "subsystem Statistik" out.txt || die "show lacks the new subsystem"
grep -q "GOV/MIKWS-SH/ss-sh-kiel  127.0.0.1:18443" out.txt || die "show lacks the server"
grep -q "CN=DE-NORD" out.txt || die "show lacks the CA subject"
pass "show lists the subsystem, the server and the CA subject"

run "show --json" t show --json
cp out.txt show.json
grep -q '"authSha256":"'"$want_fp"'"' show.json || die "show --json lacks the server fingerprint"
pass "show --json carries the server fingerprint"
if command -v python3 >/dev/null 2>&1; then
    run "show --json parses as JSON" python3 -m json.tool show.json
else
    echo "note: python3 not found, JSON syntax of show --json not checked"
fi

echo "all $checks checks passed"
