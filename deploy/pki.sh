#!/usr/bin/env bash
# Creates the test and demo PKI of the DE-NORD federation with the stock
# openssl command: root and intermediate CA, the registry authority's signing
# certificate, TLS authentication certificates of the security servers,
# members' signing certificates, a time-stamping authority, an OCSP responder
# backed by the intermediate's CA database, and negative-test material
# (revoked, expired, rogue). Then samples/: real inputs for the fuzz targets
# of test/fuzz/ made from this PKI (OCSP responses, registry signatures,
# header blocks), seeds for libFuzzer and replayed by the test suite.
#
# Usage: deploy/pki.sh OUTDIR [--rsa]
#   ECDSA P-256 keys by default; --rsa makes all keys RSA-3072.
#
# Idempotent: if OUTDIR/.complete exists nothing is done. The PKI is built in
# a temporary directory next to OUTDIR and renamed into place at the end, under
# an flock on OUTDIR.lock, so a half-built PKI is never visible and concurrent
# calls do not interfere. A complete PKI made before samples/ existed gets its
# samples/ the same way (built aside, renamed into place). Nothing generated
# here belongs in version control.
set -euo pipefail

usage() {
  echo "usage: $0 OUTDIR [--rsa]" >&2
  exit 2
}

outarg=""
alg="ecdsa-p256"
for arg in "$@"; do
  case "$arg" in
    --rsa) alg="rsa-3072" ;;
    -h | --help) usage ;;
    -*) echo "pki: unknown option $arg" >&2; usage ;;
    *)
      [ -z "$outarg" ] || usage
      outarg="$arg"
      ;;
  esac
done
[ -n "$outarg" ] || usage

outdir=$(realpath -m -- "$outarg")
# The layout's version: a PKI made by an older version of this script is made anew.
pki_version=7
current() { [ -e "$outdir/.complete" ] && [ "$(cut -d' ' -f2 "$outdir/.complete")" = "$pki_version" ]; }
current && exit 0

# Informational only: the tests start the responder on a port of their own.
ocsp_url="http://127.0.0.1:18888/"
# TSA policy. 2.25 is the arc of UUID-derived OIDs (ITU-T X.667), which
# anyone may use without registration; this one is private to the test PKI.
tsa_policy="2.25.186917434622349591339196620938924350722"

subject_prefix="/C=DE/O=secsrv test federation"
# ss-mv-rostock and ss-mv-vg-ev: the test federation's stand-ins for other registered servers
# (a certificate belongs to one server in the registry)
servers=(ss-sh-kiel ss-mv-schwerin ss-sh-extra ss-mv-rostock ss-mv-vg-ev)
# members' signing certificates (label CLASS-CODE), profile: serialNumber INSTANCE/CLASS/CODE
instance=DE-NORD
members=(GOV-MIKWS-SH MUN-01002000 MUN-13004000 MUN-13075000)

root_days=3650
intermediate_days=1825
authority_days=1095
leaf_days=730

# Runs openssl quietly; on failure shows the command and its output (kept
# in $ossl_log, a file in the scratch directory of the current step).
ossl_log=/dev/null
ossl() {
  if ! openssl "$@" >"$ossl_log" 2>&1; then
    echo "pki: openssl $* failed:" >&2
    cat "$ossl_log" >&2
    exit 1
  fi
}

# One OCSP response of the intermediate's responder, answered offline from
# its CA database: pki name cert signer-cert signer-key nonce|no-nonce
# [responder options...]. The request is made as a client would make it.
ocsp_sample() {
  local pki=$1 name=$2 cert=$3 signer=$4 key=$5 nonce=$6
  shift 6
  local reqopts=()
  [ "$nonce" = no-nonce ] && reqopts=(-no_nonce)
  ossl ocsp -issuer "$pki/intermediate-ca.pem" -cert "$pki/$cert" "${reqopts[@]}" \
    -reqout "$scratch/$name.req"
  ossl ocsp -index "$pki/ca/index.txt" -CA "$pki/intermediate-ca.pem" \
    -rsigner "$pki/$signer" -rkey "$pki/$key" "$@" -reqin "$scratch/$name.req" \
    -respout "$samples/ocsp/$name.der"
}

# A detached DER CMS signature over registry_sig/content.txt, as the
# registry authority's tool makes it: pki name signer-cert signer-key chain
# [cms options...].
cms_sample() {
  local pki=$1 name=$2 signer=$3 key=$4 chain=$5
  shift 5
  ossl cms -sign -binary -outform DER -md sha256 -in "$samples/registry_sig/content.txt" \
    -signer "$pki/$signer" -inkey "$pki/$key" -certfile "$pki/$chain" "$@" \
    -out "$samples/registry_sig/$name.der"
}

uuid4() {
  local h
  h=$(openssl rand -hex 16)
  printf '%s-%s-4%s-%x%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" \
    $(((0x${h:16:1} & 3) | 8)) "${h:17:3}" "${h:20:12}"
}

# Writes the fuzz targets' sample inputs (test/fuzz/) made from the PKI in
# pki into the directory samples (which must not exist yet).
make_samples() {
  local pki=$1
  samples=$2
  scratch="$samples/.build"
  ossl_log="$scratch/openssl.log"
  mkdir -p "$samples/ocsp" "$samples/registry_sig" "$samples/upstream_headers" \
    "$samples/headers" "$samples/manifest" "$samples/evidence" "$scratch"

  # OCSP responses (fuzz_ocsp): good, revoked, signed by the CA itself.
  ocsp_sample "$pki" good servers/ss-sh-kiel/auth.pem ocsp.pem ocsp.key nonce
  ocsp_sample "$pki" good-no-nonce servers/ss-sh-kiel/auth.pem ocsp.pem ocsp.key no-nonce
  ocsp_sample "$pki" good-next-update servers/ss-sh-kiel/auth.pem ocsp.pem ocsp.key \
    no-nonce -ndays 30 -resp_key_id
  ocsp_sample "$pki" revoked servers/ss-revoked/auth.pem ocsp.pem ocsp.key nonce
  ocsp_sample "$pki" revoked-no-nonce servers/ss-revoked/auth.pem ocsp.pem ocsp.key no-nonce
  ocsp_sample "$pki" signed-by-ca servers/ss-sh-kiel/auth.pem intermediate-ca.pem \
    intermediate-ca.key no-nonce -resp_no_certs

  # Detached registry signatures (fuzz_registry_sig) over a fixed document.
  cat >"$samples/registry_sig/content.txt" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<registry version="1" instance="DE-NORD" serial="1" issued="2026-01-01T00:00:00Z" expires="2036-01-01T00:00:00Z">
  <settings ocspFreshness="3600" timestampingInterval="60" registryValidity="86400" refreshInterval="600"/>
</registry>
EOF
  cms_sample "$pki" authority registry-authority.pem registry-authority.key \
    intermediate-ca.pem
  cms_sample "$pki" authority-noattr registry-authority.pem registry-authority.key \
    intermediate-ca.pem -noattr
  cms_sample "$pki" rogue rogue/registry-authority.pem rogue/registry-authority.key \
    rogue/rogue-ca.pem

  # Header blocks: a provider's answers as libcurl hands them over line by
  # line (fuzz_upstream_headers), and a client's request fields with an
  # X-Road error body (fuzz_headers).
  local date request_hash
  date=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
  request_hash=$(openssl rand -base64 64 | tr -d '\n')
  printf '%s\r\n' "HTTP/1.1 200 OK" "Date: $date" "Content-Type: application/json" \
    "Content-Length: 27" "X-Road-Id: $(uuid4)" "X-Road-Request-Id: $(uuid4)" \
    "X-Road-Request-Hash: $request_hash" "Cache-Control: no-store" "" \
    >"$samples/upstream_headers/ok"
  printf '%s\r\n' "HTTP/1.1 100 Continue" "" "HTTP/1.1 201 Created" "Date: $date" \
    "Location: /r1/DE-NORD/MUN/13004000/melde/person/4711" "Content-Length: 0" \
    "X-Road-Request-Hash:  $request_hash" "" >"$samples/upstream_headers/continue"
  printf '%s\r\n' "HTTP/1.1 403 Forbidden" "Date: $date" \
    "Content-Type: application/json; charset=utf-8" "Transfer-Encoding: chunked" \
    "X-Road-Error: Server.ServerProxy.AccessDenied" "Connection: close" "" \
    >"$samples/upstream_headers/error"
  printf '%s\r\n' "Host: 127.0.0.1:8080" "User-Agent: curl/7.88.1" \
    "Accept: application/json" "X-Road-Client: DE-NORD/GOV/ima-sh/melde-client" \
    "X-Secsrv-Purpose: melderegister.auskunft:par44" \
    "X-Secsrv-Subject: urn:de-nord:person:$(openssl rand -hex 8)" \
    "Connection: keep-alive, X-Trace" "X-Trace: $(openssl rand -hex 8)" \
    "Content-Type: application/json" "Content-Length: 2" >"$samples/headers/request"
  printf '{"type":"Server.ServerProxy.AccessDenied","message":"Access denied: client %s is not allowed \\"%s\\"","detail":"%s"}\n' \
    "DE-NORD/GOV/ima-sh/melde-client" "person" "$(uuid4)" >"$samples/headers/error-body"

  # Manifests (fuzz_manifest, secsrv/msglog/manifest.c): a request as the
  # consumer's server signs it and the provider's answer bound to it; and
  # the fixed request that fuzz_evidence holds too, byte for byte.
  local now query_id request_id subject
  sha256_hex() { openssl dgst -sha256 -r | cut -d' ' -f1; }
  now=$(date -u '+%Y-%m-%dT%H:%M:%SZ')
  query_id=$(uuid4)
  request_id=$(uuid4)
  subject=$(printf 'urn:de-nord:person:%s' "$(openssl rand -hex 8)" | sha256_hex)
  printf '%s\n' "secsrv-manifest: 1" "kind: request" "time: $now" "query-id: $query_id" \
    "request-id: $request_id" "client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft" \
    "service: DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft" "purpose: BMG-34" \
    "subject-hash: $subject" \
    "request-line-sha256: $(printf '%s' 'GET /r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft/person/4711' | sha256_hex)" \
    "headers-sha256: $(printf 'accept: application/json\r\n' | sha256_hex)" \
    "body-sha256: $(sha256_hex </dev/null)" >"$samples/manifest/request"
  printf '%s\n' "secsrv-manifest: 1" "kind: response" "time: $now" "query-id: $query_id" \
    "request-id: $request_id" "client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft" \
    "service: DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft" "purpose: BMG-34" \
    "subject-hash: $subject" "status: 200" \
    "request-manifest-sha256: $(sha256_hex <"$samples/manifest/request")" \
    "status-line-sha256: $(printf '200' | sha256_hex)" \
    "headers-sha256: $(printf 'content-type: application/json\r\n' | sha256_hex)" \
    "body-sha256: $(printf '%s' '{"name":"Erika"}' | sha256_hex)" >"$samples/manifest/response"
  cat >"$samples/manifest/evidence-request" <<'MANIFEST'
secsrv-manifest: 1
kind: request
time: 2026-11-18T11:06:40Z
query-id: fuzz-evidence-1
request-id: 6f1c2a9e-3b7d-4e21-8c55-0d9a7b3e4f12
client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft
service: DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft
purpose: BMG-34
subject-hash: 1c19303ce350ff9968357bb4986a251f929ebf91057dec7f50b5580423c3b1fc
request-line-sha256: cebbfe3d9c38e5cbce9a2fe3acb4e827584d68fdfb034d3adf98a05fe604e671
headers-sha256: 02125fa0320f6a136d5478a06c5be28dde22d8f94e6c66bf468c171a63387ff9
body-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
MANIFEST

  # Message signatures (fuzz_evidence): detached DER CMS over that fixed
  # request as a member's server makes them (CAdES: ESS signing-certificate-v2),
  # one without the ESS attribute, one by the registry authority (not a
  # member's certificate), one by the revoked certificate; and one over a
  # batch: a byte 0x01, the inclusion path (two steps), LF, the signature
  # over "secsrv-batch-root: ROOT\n" (secsrv/msglog/merkle.h, evidence.h).
  local fixed="$samples/manifest/evidence-request" root right left
  local sign_opts=(-sign -binary -outform DER -md sha256 -nosmimecap
    -certfile "$pki/intermediate-ca.pem")
  ossl cms "${sign_opts[@]}" -cades -signer "$pki/members/GOV-MIKWS-SH/sign.pem" \
    -inkey "$pki/members/GOV-MIKWS-SH/sign.key" -in "$fixed" -out "$samples/evidence/cades.der"
  ossl cms "${sign_opts[@]}" -signer "$pki/members/GOV-MIKWS-SH/sign.pem" \
    -inkey "$pki/members/GOV-MIKWS-SH/sign.key" -in "$fixed" \
    -out "$samples/evidence/no-cades.der"
  ossl cms "${sign_opts[@]}" -cades -signer "$pki/registry-authority.pem" \
    -inkey "$pki/registry-authority.key" -in "$fixed" \
    -out "$samples/evidence/registry-authority.der"
  ossl cms "${sign_opts[@]}" -cades -signer "$pki/members/revoked-GOV-MIKWS-SH/sign.pem" \
    -inkey "$pki/members/revoked-GOV-MIKWS-SH/sign.key" -in "$fixed" \
    -out "$samples/evidence/revoked.der"
  hex_of() { od -An -tx1 -v | tr -d ' \n'; }
  { printf '\000'; cat "$fixed"; } | openssl dgst -sha256 -binary >"$scratch/leaf"
  printf 'right sibling' | openssl dgst -sha256 -binary >"$scratch/right"
  printf 'left sibling' | openssl dgst -sha256 -binary >"$scratch/left"
  { printf '\001'; cat "$scratch/leaf" "$scratch/right"; } | openssl dgst -sha256 -binary \
    >"$scratch/node"
  root=$({ printf '\001'; cat "$scratch/left" "$scratch/node"; } | openssl dgst -sha256 -binary |
    hex_of)
  right=$(hex_of <"$scratch/right")
  left=$(hex_of <"$scratch/left")
  printf 'secsrv-batch-root: %s\n' "$root" >"$scratch/batch-root"
  ossl cms "${sign_opts[@]}" -cades -signer "$pki/members/GOV-MIKWS-SH/sign.pem" \
    -inkey "$pki/members/GOV-MIKWS-SH/sign.key" -in "$scratch/batch-root" \
    -out "$scratch/batch.der"
  { printf '\001R %s L %s\n' "$right" "$left"; cat "$scratch/batch.der"; } \
    >"$samples/evidence/batch"

  rm -rf -- "$scratch"
}

write_readme() { # dir alg
  cat >"$1/README" <<EOF
secsrv test PKI ($2), generated by deploy/pki.sh; do not commit.
root-ca.{key,pem}             DE-NORD Federation Root CA (self-signed)
intermediate-ca.{key,pem}     DE-NORD Intermediate CA (signed by root)
ca-chain.pem                  intermediate + root
ca/                           intermediate's openssl ca database
                              (intermediate.cnf, index.txt, serial,
                              newcerts/, intermediate.crl.pem)
registry-authority.{key,pem}  registry authority signing certificate
tsa.{key,pem} tsa.cnf         time-stamping authority (openssl ts -reply)
ocsp.{key,pem}                OCSP responder (openssl ocsp -index ca/index.txt)
servers/NAME/auth.{key,pem,sha256} auth-chain.pem
                              TLS authentication certificates:
                              ${servers[*]}
servers/ss-sh-kiel/next/      the SH server's next certificate (rotation)
servers/ss-revoked/           revoked (keyCompromise)
servers/ss-expired/           expired (2020-01-01 to 2021-01-01)
members/LABEL/sign.{key,pem} sign-chain.pem
                              member signing certificates (label CLASS-CODE;
                              the subject's serialNumber names the member,
                              INSTANCE/CLASS/CODE): ${members[*]}
members/revoked-GOV-MIKWS-SH/ the ministry's, revoked (keyCompromise)
members/next-GOV-MIKWS-SH/    the ministry's next (a new key; rotation tests)
rogue/                        CA outside the federation, server.* with the
                              CN ss-mv-schwerin, registry-authority.* with
                              the authority's subject
samples/                      inputs for the fuzz targets (test/fuzz/):
  ocsp/                       DER OCSP responses of openssl ocsp (offline,
                              from ca/index.txt) about ss-sh-kiel (good) and
                              ss-revoked, with and without nonce, signed by
                              ocsp.pem or by the intermediate CA itself
  registry_sig/               content.txt and detached DER CMS signatures
                              over it by the registry authority and by
                              rogue/registry-authority
  upstream_headers/           response header blocks, line by line
  headers/                    request header fields, an X-Road error body
EOF
}

parent=$(dirname -- "$outdir")
mkdir -p -- "$parent"

exec 9>"$outdir.lock"
flock 9
current && exit 0
if [ -e "$outdir/.complete" ]; then
  # an older layout: set it aside, it goes once the new one is in place
  old=$(mktemp -d "$outdir.old.XXXXXX")
  mv -T -- "$outdir" "$old/pki"
  trap 'rm -rf -- "$old"' EXIT
fi
if [ -e "$outdir" ] && [ -n "$(ls -A -- "$outdir" 2>/dev/null)" ]; then
  echo "pki: $outdir exists, is not empty and has no .complete; remove it first" >&2
  exit 1
fi

work=$(mktemp -d "$outdir.tmp.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
chmod 755 "$work"
build="$work/.build"
mkdir -p "$build/logs" "$work/ca/newcerts" "$work/servers" "$work/members" \
  "$work/rogue"
ossl_log="$build/openssl.log"

if [ "$alg" = "rsa-3072" ]; then
  keyopts=(-algorithm RSA -pkeyopt rsa_keygen_bits:3072)
  auth_key_usage="critical, digitalSignature, keyEncipherment"
else
  keyopts=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
  auth_key_usage="critical, digitalSignature"
fi

# Keys first, all in parallel (RSA-3072 generation dominates the run time).
key_paths=(root-ca.key intermediate-ca.key registry-authority.key tsa.key
  ocsp.key rogue/rogue-ca.key rogue/server.key rogue/registry-authority.key)
for name in "${servers[@]}" ss-revoked ss-expired; do
  mkdir -p "$work/servers/$name"
  key_paths+=("servers/$name/auth.key")
done
# the SH server's next authentication certificate (rotation tests)
mkdir -p "$work/servers/ss-sh-kiel/next"
key_paths+=("servers/ss-sh-kiel/next/auth.key")
for label in "${members[@]}" revoked-GOV-MIKWS-SH next-GOV-MIKWS-SH; do
  mkdir -p "$work/members/$label"
  key_paths+=("members/$label/sign.key")
done

pids=()
for i in "${!key_paths[@]}"; do
  (
    umask 077
    openssl genpkey "${keyopts[@]}" -out "$work/${key_paths[$i]}"
  ) >"$build/logs/key$i" 2>&1 &
  pids+=("$!")
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "pki: key generation for ${key_paths[$i]} failed:" >&2
    cat "$build/logs/key$i" >&2
    exit 1
  fi
  chmod 600 "$work/${key_paths[$i]}"
done

# Extension sections shared by the CA database config and the plain x509
# signing config (the latter is used for the root-signed intermediate and
# for the rogue CA).
leaf_sections() {
  cat <<EOF
[ ext_auth ]
basicConstraints = CA:FALSE
keyUsage = $auth_key_usage
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_sign ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_tsa ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_ocsp ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
}

cat >"$build/req.cnf" <<EOF
[ req ]
distinguished_name = req_dn
string_mask = utf8only
utf8 = yes

[ req_dn ]

[ ext_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ ext_intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
authorityInfoAccess = OCSP;URI:$ocsp_url
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

$(leaf_sections)
EOF

# The intermediate's CA database config; base is the PKI directory it
# refers to (the build directory first, OUTDIR when done).
write_ca_cnf() {
  local base="$1"
  cat >"$work/ca/intermediate.cnf" <<EOF
# openssl ca configuration of the DE-NORD Intermediate CA (test PKI).
# Issue:  openssl ca -config $base/ca/intermediate.cnf -batch -notext \\
#           -extensions ext_auth -in req.csr -out cert.pem
# Revoke: openssl ca -config $base/ca/intermediate.cnf \\
#           -revoke cert.pem -crl_reason keyCompromise
[ ca ]
default_ca = intermediate_ca

[ intermediate_ca ]
dir = $base/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
crl = \$dir/intermediate.crl.pem
certificate = $base/intermediate-ca.pem
private_key = $base/intermediate-ca.key
default_md = sha256
default_days = $leaf_days
default_crl_days = 30
policy = policy_federation
unique_subject = no
copy_extensions = none
email_in_dn = no
crl_extensions = ext_crl

[ policy_federation ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
serialNumber = optional
commonName = supplied

[ ext_crl ]
authorityKeyIdentifier = keyid:always

$(leaf_sections)
EOF
}

write_tsa_cnf() {
  local base="$1"
  cat >"$work/tsa.cnf" <<EOF
# openssl ts -reply configuration of the DE-NORD Time-Stamping Authority
# (test PKI). Usage:
#   openssl ts -reply -config $base/tsa.cnf -queryfile q.tsq -out r.tsr
# default_policy is an OID under the UUID arc 2.25 (ITU-T X.667), private
# to this test PKI.
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = $base
serial = \$dir/tsa.serial
crypto_device = builtin
signer_cert = \$dir/tsa.pem
certs = \$dir/ca-chain.pem
signer_key = \$dir/tsa.key
signer_digest = sha256
default_policy = $tsa_policy
# Listed here too: without other_policies, openssl ts prints a spurious error.
other_policies = $tsa_policy
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:0, microsecs:0
clock_precision_digits = 0
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
EOF
}

# Random 128-bit start value for the CA serial file (top bit clear, so the
# serial stays positive); openssl ca increments it from there.
serial=$(openssl rand -hex 16)
printf '%x%s\n' $((0x${serial:0:1} & 7)) "${serial:1}" >"$work/ca/serial"
: >"$work/ca/index.txt"
echo 1000 >"$work/ca/crlnumber"
echo 01 >"$work/tsa.serial"
write_ca_cnf "$work"

csr() { # key subject-cn out
  ossl req -new -config "$build/req.cnf" -key "$work/$1" \
    -subj "$subject_prefix/CN=$2" -sha256 -out "$3"
}

issue() { # key cn ext out [openssl ca date options...]
  local key="$1" cn="$2" ext="$3" out="$4"
  shift 4
  local req="$build/${out//\//_}.csr"
  csr "$key" "$cn" "$req"
  if [ $# -eq 0 ]; then
    set -- -days "$leaf_days"
  fi
  ossl ca -config "$work/ca/intermediate.cnf" -batch -notext -md sha256 \
    -extensions "$ext" "$@" -in "$req" -out "$work/$out"
}

fingerprint() { # cert out
  local fp
  fp=$(openssl x509 -in "$work/$1" -noout -fingerprint -sha256)
  fp=${fp#*=}
  fp=${fp//:/}
  printf '%s\n' "${fp,,}" >"$work/$2"
}

# Root CA.
ossl req -x509 -new -config "$build/req.cnf" -key "$work/root-ca.key" \
  -subj "$subject_prefix/CN=DE-NORD Federation Root CA" -sha256 \
  -days "$root_days" -extensions ext_root -out "$work/root-ca.pem"

# Intermediate CA, signed by the root (random serial).
csr intermediate-ca.key "DE-NORD Intermediate CA" "$build/intermediate.csr"
ossl x509 -req -in "$build/intermediate.csr" -CA "$work/root-ca.pem" \
  -CAkey "$work/root-ca.key" -sha256 -days "$intermediate_days" \
  -extfile "$build/req.cnf" -extensions ext_intermediate \
  -out "$work/intermediate-ca.pem"
cat "$work/intermediate-ca.pem" "$work/root-ca.pem" >"$work/ca-chain.pem"

# Everything below the intermediate goes through its CA database.
issue registry-authority.key "DE-NORD Registry Authority" ext_sign \
  registry-authority.pem -days "$authority_days"
issue tsa.key "DE-NORD Time-Stamping Authority" ext_tsa tsa.pem \
  -days "$authority_days"
issue ocsp.key "DE-NORD OCSP Responder" ext_ocsp ocsp.pem

for name in "${servers[@]}" ss-revoked; do
  issue "servers/$name/auth.key" "$name" ext_auth "servers/$name/auth.pem"
done
issue servers/ss-sh-kiel/next/auth.key "ss-sh-kiel next" ext_auth servers/ss-sh-kiel/next/auth.pem
fingerprint servers/ss-sh-kiel/next/auth.pem servers/ss-sh-kiel/next/auth.sha256
cat "$work/servers/ss-sh-kiel/next/auth.pem" "$work/intermediate-ca.pem" \
  >"$work/servers/ss-sh-kiel/next/auth-chain.pem"
issue servers/ss-expired/auth.key ss-expired ext_auth \
  servers/ss-expired/auth.pem -startdate 20200101000000Z \
  -enddate 20210101000000Z
for name in "${servers[@]}" ss-revoked ss-expired; do
  fingerprint "servers/$name/auth.pem" "servers/$name/auth.sha256"
done
for name in "${servers[@]}"; do
  cat "$work/servers/$name/auth.pem" "$work/intermediate-ca.pem" \
    >"$work/servers/$name/auth-chain.pem"
done

# A member's signing certificate: the member named in serialNumber (the profile).
issue_member() { # label member-id out-dir
  local label=$1 id=$2 dir=$3
  local req="$build/member-${dir//\//_}.csr"
  ossl req -new -config "$build/req.cnf" -key "$work/$dir/sign.key" \
    -subj "$subject_prefix/CN=$label/serialNumber=${id//\//\\/}" -sha256 -out "$req"
  ossl ca -config "$work/ca/intermediate.cnf" -batch -notext -md sha256 \
    -extensions ext_sign -days "$leaf_days" -in "$req" -out "$work/$dir/sign.pem"
  cat "$work/$dir/sign.pem" "$work/intermediate-ca.pem" >"$work/$dir/sign-chain.pem"
}
for label in "${members[@]}"; do
  issue_member "$label" "$instance/${label%%-*}/${label#*-}" "members/$label"
done
# the ministry's signing certificate once more, revoked
issue_member GOV-MIKWS-SH-revoked "$instance/GOV/MIKWS-SH" members/revoked-GOV-MIKWS-SH
# and its next one, good (a new key and certificate for the same member)
issue_member GOV-MIKWS-SH-next "$instance/GOV/MIKWS-SH" members/next-GOV-MIKWS-SH

ossl ca -config "$work/ca/intermediate.cnf" -revoke \
  "$work/servers/ss-revoked/auth.pem" -crl_reason keyCompromise
ossl ca -config "$work/ca/intermediate.cnf" -revoke \
  "$work/members/revoked-GOV-MIKWS-SH/sign.pem" -crl_reason keyCompromise
ossl ca -config "$work/ca/intermediate.cnf" -gencrl -md sha256 \
  -out "$work/ca/intermediate.crl.pem"

# Rogue CA outside the federation, with look-alike certificates.
ossl req -x509 -new -config "$build/req.cnf" -key "$work/rogue/rogue-ca.key" \
  -subj "/C=DE/O=Rogue test CA/CN=Rogue Root CA" -sha256 \
  -days "$root_days" -extensions ext_root -out "$work/rogue/rogue-ca.pem"
csr rogue/server.key ss-mv-schwerin "$build/rogue-server.csr"
ossl x509 -req -in "$build/rogue-server.csr" -CA "$work/rogue/rogue-ca.pem" \
  -CAkey "$work/rogue/rogue-ca.key" -sha256 -days "$leaf_days" \
  -extfile "$build/req.cnf" -extensions ext_auth -out "$work/rogue/server.pem"
fingerprint rogue/server.pem rogue/server.sha256
csr rogue/registry-authority.key "DE-NORD Registry Authority" \
  "$build/rogue-authority.csr"
ossl x509 -req -in "$build/rogue-authority.csr" \
  -CA "$work/rogue/rogue-ca.pem" -CAkey "$work/rogue/rogue-ca.key" -sha256 \
  -days "$authority_days" -extfile "$build/req.cnf" -extensions ext_sign \
  -out "$work/rogue/registry-authority.pem"

# Sample inputs for the fuzz targets, from the finished PKI.
make_samples "$work" "$work/samples"
ossl_log="$build/openssl.log"

# Point the configs at the final location, then move into place.
write_ca_cnf "$outdir"
write_tsa_cnf "$outdir"
write_readme "$work" "$alg"

rm -rf -- "$build"
echo "$alg $pki_version" >"$work/.complete"
mv -T -- "$work" "$outdir"
trap - EXIT
[ -n "${old:-}" ] && rm -rf -- "$old"
echo "pki: created $outdir ($alg)"
