#!/usr/bin/env bash
# Makes the certificates of a DPO console (secsrv-log serve) for the demo
# and the tests, with the stock openssl command: a CA for data-protection
# officers, the console's own TLS certificate (127.0.0.1 and localhost)
# issued by it, and one DPO's client certificate, also as PKCS#12 for a
# browser (password in dpo.p12.pass); a revoked DPO certificate and the
# CA's CRL (dpo-ca-crl.pem holds both the CA and the CRL); a certificate
# from another CA. ECDSA P-256.
#
# Usage: deploy/console-pki.sh OUTDIR [DPO_NAME]
# Idempotent: if OUTDIR/.complete exists nothing is done. In production the
# DPO CA is the authority's own (e.g. its smart-card CA) and the console's
# certificate comes from the authority's server CA; only the file names
# given to secsrv-log serve matter.
set -euo pipefail
out=${1:?usage: console-pki.sh OUTDIR [DPO_NAME]}
name=${2:-Datenschutzbeauftragte SH}
[ -e "$out/.complete" ] && exit 0
tmp=$(mktemp -d "${out%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
ossl() { openssl "$@" 2>ossl.log || { cat ossl.log >&2; exit 1; }; }
key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; chmod 600 "$1"; }

cat >ext.cnf <<'CNF'
[dpo_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[dpo]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

key dpo-ca.key
ossl req -new -x509 -key dpo-ca.key -days 3650 -subj "/C=DE/O=DE-NORD Test/CN=DE-NORD DPO CA" \
  -extensions dpo_ca -config <(cat /usr/lib/ssl/openssl.cnf ext.cnf) -out dpo-ca.pem
issue() { # name subject extension
  key "$1.key"
  ossl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  ossl x509 -req -in "$1.csr" -CA dpo-ca.pem -CAkey dpo-ca.key -CAcreateserial -days 825 \
    -extfile ext.cnf -extensions "$3" -out "$1.pem"
  rm -f "$1.csr"
}
issue console "/C=DE/O=DE-NORD Test/CN=secsrv DPO console" server
issue dpo "/C=DE/O=DE-NORD Test/CN=$name" dpo
# a DPO who left: a certificate revoked on the CA's CRL (dpo-ca-crl.pem: the CA and its CRL,
# for a console that checks revocation)
issue revoked "/C=DE/O=DE-NORD Test/CN=Ehemalige Datenschutzbeauftragte" dpo
mkdir db
touch db/index.txt
echo 01 >db/crlnumber
cat >ca.cnf <<'CNF'
[ca]
default_ca = dpo
[dpo]
database = db/index.txt
crlnumber = db/crlnumber
default_md = sha256
default_crl_days = 365
CNF
ossl ca -config ca.cnf -keyfile dpo-ca.key -cert dpo-ca.pem -revoke revoked.pem
ossl ca -config ca.cnf -keyfile dpo-ca.key -cert dpo-ca.pem -gencrl -out dpo-ca.crl
cat dpo-ca.pem dpo-ca.crl >dpo-ca-crl.pem
rm -rf db ca.cnf
# a browser takes the DPO's certificate as PKCS#12
openssl rand -hex 12 >dpo.p12.pass
ossl pkcs12 -export -inkey dpo.key -in dpo.pem -certfile dpo-ca.pem -name "$name" \
  -passout file:dpo.p12.pass -out dpo.p12
# someone else's: a certificate from a CA the console does not trust
key rogue-ca.key
ossl req -new -x509 -key rogue-ca.key -days 3650 -subj "/CN=Rogue CA" -extensions dpo_ca \
  -config <(cat /usr/lib/ssl/openssl.cnf ext.cnf) -out rogue-ca.pem
key rogue.key
ossl req -new -key rogue.key -subj "/CN=$name" -out rogue.csr
ossl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -CAcreateserial -days 825 \
  -extfile ext.cnf -extensions dpo -out rogue.pem
rm -f rogue.csr ossl.log ./*.srl ext.cnf
touch .complete
cd - >/dev/null
mkdir -p "$(dirname "$out")"
if ! mv -T "$tmp" "$out" 2>/dev/null; then
  [ -e "$out/.complete" ] || { echo "console-pki: cannot create $out" >&2; exit 1; }
fi
trap - EXIT
