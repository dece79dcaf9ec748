#!/usr/bin/env bash
# Verifies one message of a secsrv message log with stock tools only
# (sqlite3, openssl, xxd), step by step as secsrv/msglog/README.md
# describes it: the signature over the manifest (directly, or over the
# root its batch inclusion path leads to), the stapled OCSP response,
# the digests the manifest binds against the raw message in the log,
# and the RFC 3161 timestamp token over the record's batch tree.
#
#   verify-record.sh STORE.db RECORD-ID CA-CHAIN.pem OCSP-RESPONDER.pem TSA.pem
#
# Prints each step and the openssl command it ran; exits non-zero at the
# first check that fails. Works on a copy of the store; needs no key.
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: verify-record.sh STORE.db RECORD-ID CA-CHAIN.pem OCSP.pem TSA.pem" >&2; exit 2; }
db=$1 id=$2 cas=$3 responder=$4 tsa=$5
case $id in '' | *[!0-9]*) echo "verify-record: RECORD-ID must be a number" >&2; exit 2 ;; esac
id=$((10#$id)) # 010 is record 10, as SQLite reads it
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
q() { sqlite3 -readonly "$db" "$1"; }
step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
sha() { openssl dgst -sha256 -binary "$1" | xxd -p -c 64; }

[ "$(q "SELECT count(*) FROM records WHERE id = $id")" = 1 ] || { echo "verify-record: no record $id" >&2; exit 1; }
q "SELECT writefile('$work/manifest', manifest), writefile('$work/sig.der', signature),
          writefile('$work/ocsp.der', ocsp), writefile('$work/message', message)
   FROM signed_records WHERE id = $id" >/dev/null
path=$(q "SELECT sig_path FROM records WHERE id = $id")
[ -s "$work/manifest" ] || { echo "verify-record: record $id has no signature (a refusal before signing)" >&2; exit 1; }

step "record $id: $(q "SELECT side || ' side, ' || direction || ', ' || client || ' -> ' || service FROM records WHERE id = $id")"
cat "$work/manifest"

step "the signature: CMS over the manifest, or over its batch's root"
content=$work/manifest
if [ -n "$path" ]; then
  # leaf = SHA-256(0x00 || manifest); each step: SHA-256(0x01 || left || right)
  { printf '\000'; cat "$work/manifest"; } | openssl dgst -sha256 -binary >"$work/h"
  set -- $path
  while [ $# -ge 2 ]; do
    side=$1 sibling=$2
    shift 2
    printf '%s' "$sibling" | xxd -r -p >"$work/s"
    if [ "$side" = L ]; then cat "$work/s" "$work/h"; else cat "$work/h" "$work/s"; fi |
      { printf '\001'; cat; } | openssl dgst -sha256 -binary >"$work/h.next"
    mv "$work/h.next" "$work/h"
  done
  printf 'secsrv-batch-root: %s\n' "$(xxd -p -c 64 "$work/h")" >"$work/batch"
  echo "signed as part of a batch; the path leads to: $(cat "$work/batch")"
  content=$work/batch
fi
run openssl cms -verify -binary -inform DER -in "$work/sig.der" -content "$content" \
  -CAfile "$cas" -purpose any -signer "$work/signer.pem" -out /dev/null
echo "signer: $(openssl x509 -in "$work/signer.pem" -noout -subject)"

step "the stapled OCSP response about the signing certificate"
issuer=$work/issuer.pem
# the issuer is the CA certificate that verifies the signer (taken from the chain file)
awk -v dir="$work" '/BEGIN CERT/ {n++} {print > (dir "/ca" n ".pem")}' "$cas"
for c in "$work"/ca*.pem; do
  if openssl verify -partial_chain -CAfile "$c" "$work/signer.pem" >/dev/null 2>&1; then cp "$c" "$issuer"; fi
done
# openssl's exit status is the verdict on the responder's signature (it prints a status even
# when it refused the signature); the status is "NAME: good", or "good" on a line of its own
# after a warning that the response is no longer fresh today
run openssl ocsp -no_nonce -respin "$work/ocsp.der" -issuer "$issuer" -cert "$work/signer.pem" \
  -CAfile "$cas" -VAfile "$responder" -out "$work/ocsp.out"
cat "$work/ocsp.out"
grep -Eq '(^|: )good$' "$work/ocsp.out" || { echo "verify-record: the OCSP response does not say good" >&2; exit 1; }

step "the manifest binds the raw message in the log"
if [ -s "$work/message" ]; then
  # the raw message: first line, header fields, an empty line, the body
  head_len=$(LC_ALL=C awk '{n += length($0) + 1} $0 == "\r" {print n; exit}' "$work/message")
  tail -c +$((head_len + 1)) "$work/message" >"$work/body"
  want=$(sed -n 's/^body-sha256: //p' "$work/manifest")
  got=$(sha "$work/body")
  echo "body-sha256 in the manifest: $want"
  echo "SHA-256 of the logged body:  $got"
  [ "$want" = "$got" ] || { echo "verify-record: the body differs" >&2; exit 1; }
else
  echo "the body is not kept (metadata only, or purged): its digest alone stands in the record"
fi

step "the timestamp over the record's batch"
# the timestamp whose range holds the record
ts=$(q "SELECT id FROM timestamps WHERE $id BETWEEN first_id AND last_id")
[ -n "$ts" ] || { echo "verify-record: record $id is not timestamped yet" >&2; exit 1; }
q "SELECT writefile('$work/token.der', token), hex(root) FROM timestamps WHERE id = $ts" >"$work/root"
root=$(cut -d'|' -f2 "$work/root" | tr 'A-F' 'a-f')
# leaf = SHA-256(0x00 || record hash), then the record's path in the tree
q "SELECT writefile('$work/rh', hash) FROM records WHERE id = $id" >/dev/null
{ printf '\000'; cat "$work/rh"; } | openssl dgst -sha256 -binary >"$work/h"
# the path: read off the batch's stored tree (its nodes level after level from the leaves up,
# 32 bytes each; the leaf's sibling on each level where it has one), or, for a timestamp made
# before the log kept trees, as stored (table stamps). Where it comes from does not matter:
# only a path that leads to the root the token signs passes.
read -r first last has_tree <<<"$(q "SELECT first_id || ' ' || last_id || ' ' || (tree IS NOT NULL)
  FROM timestamps WHERE id = $ts")"
if [ "$has_tree" = 1 ]; then
  steps="" start=0 width=$((last - first + 1)) at=$((id - first))
  while [ "$width" -gt 1 ]; do
    if [ $((at ^ 1)) -lt "$width" ]; then
      side=R
      [ $((at & 1)) = 1 ] && side=L
      steps="$steps $side $(q "SELECT lower(hex(substr(tree, $(((start + (at ^ 1)) * 32 + 1)), 32)))
        FROM timestamps WHERE id = $ts")"
    fi
    start=$((start + width)) at=$((at / 2)) width=$(((width + 1) / 2))
  done
  set -- $steps
else
  set -- $(q "SELECT ts_path FROM stamps WHERE id = $id")
fi
while [ $# -ge 2 ]; do
  side=$1 sibling=$2
  shift 2
  printf '%s' "$sibling" | xxd -r -p >"$work/s"
  if [ "$side" = L ]; then cat "$work/s" "$work/h"; else cat "$work/h" "$work/s"; fi |
    { printf '\001'; cat; } | openssl dgst -sha256 -binary >"$work/h.next"
  mv "$work/h.next" "$work/h"
done
echo "the record's path leads to $(xxd -p -c 64 "$work/h"); the token's tree root is $root"
[ "$(xxd -p -c 64 "$work/h")" = "$root" ] || { echo "verify-record: the path does not lead to the root" >&2; exit 1; }
run openssl ts -verify -digest "$root" -in "$work/token.der" -token_in -CAfile "$cas" -untrusted "$tsa"
openssl ts -reply -in "$work/token.der" -token_in -token_out -text 2>/dev/null | grep -E "Time stamp:|TSA:" || true
echo
echo "record $id: signature, OCSP response, digests and timestamp verified with stock tools"
