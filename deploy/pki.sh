#!/usr/bin/env bash
# Creates the test and demo PKI of the DE-NORD federation with the stock
# openssl command: root and intermediate CA, the registry authority's signing
# certificate, TLS authentication certificates of the security servers,
# members' signing certificates, a time-stamping authority, an OCSP responder
# backed by the intermediate's CA database, and negative-test material
# (revoked, expired, rogue).
#
# Usage: deploy/pki.sh OUTDIR [--rsa]
#   ECDSA P-256 keys by default; --rsa makes all keys RSA-3072.
#
# Idempotent: if OUTDIR/.complete exists nothing is done. The PKI is built in
# a temporary directory next to OUTDIR and renamed into place at the end, under
# an flock on OUTDIR.lock, so a half-built PKI is never visible and concurrent
# calls do not interfere. Nothing generated here belongs in version control.
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
[ -e "$outdir/.complete" ] && exit 0

# Informational only: the tests start the responder on a port of their own.
ocsp_url="http://127.0.0.1:18888/"
# TSA policy. 2.25 is the arc of UUID-derived OIDs (ITU-T X.667), which
# anyone may use without registration; this one is private to the test PKI.
tsa_policy="2.25.186917434622349591339196620938924350722"

subject_prefix="/C=DE/O=secsrv test federation"
servers=(ss-sh-kiel ss-mv-schwerin ss-sh-extra)
members=(GOV-ima-sh MUN-13004000 GOV-lr-sh)

root_days=3650
intermediate_days=1825
authority_days=1095
leaf_days=730

parent=$(dirname -- "$outdir")
mkdir -p -- "$parent"

exec 9>"$outdir.lock"
flock 9
if [ -e "$outdir/.complete" ]; then
  exit 0
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

# Runs openssl quietly; on failure shows the command and its output.
ossl() {
  if ! openssl "$@" >"$build/openssl.log" 2>&1; then
    echo "pki: openssl $* failed:" >&2
    cat "$build/openssl.log" >&2
    exit 1
  fi
}

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
for label in "${members[@]}"; do
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

for label in "${members[@]}"; do
  issue "members/$label/sign.key" "$label" ext_sign "members/$label/sign.pem"
  cat "$work/members/$label/sign.pem" "$work/intermediate-ca.pem" \
    >"$work/members/$label/sign-chain.pem"
done

ossl ca -config "$work/ca/intermediate.cnf" -revoke \
  "$work/servers/ss-revoked/auth.pem" -crl_reason keyCompromise
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

# Point the configs at the final location, then move into place.
write_ca_cnf "$outdir"
write_tsa_cnf "$outdir"

cat >"$work/README" <<EOF
secsrv test PKI ($alg), generated by deploy/pki.sh; do not commit.
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
servers/ss-revoked/           revoked (keyCompromise)
servers/ss-expired/           expired (2020-01-01 to 2021-01-01)
members/LABEL/sign.{key,pem} sign-chain.pem
                              member signing certificates:
                              ${members[*]}
rogue/                        CA outside the federation, server.* with the
                              CN ss-mv-schwerin, registry-authority.* with
                              the authority's subject
EOF

rm -rf -- "$build"
echo "$alg" >"$work/.complete"
mv -T -- "$work" "$outdir"
trap - EXIT
echo "pki: created $outdir ($alg)"
