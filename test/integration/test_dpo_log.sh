#!/usr/bin/env bash
# The data-protection officer's view of a message log (secsrv-log): verify
# proves a log complete and unaltered and catches every kind of tampering;
# search finds a person's exchanges by the keyed hash; stats counts; the SH
# server stores its messages sealed to the DPO's key, which only the DPO's
# secret key opens; purge removes content past its retention deadline
# (one day for one SH client here) so that it is gone from the file while
# verify still passes. The tool works on copies of the stores, without the
# server's keys.
. "$(dirname "$0")/lib.sh"
LOG=$SS_BUILD_DIR/secsrv/secsrv-log
"$LOG" keygen "$T_DIR/dpo.secret" "$T_DIR/dpo.public" >/dev/null
"$LOG" keygen "$T_DIR/other.secret" "$T_DIR/other.public" >/dev/null
FED_SH_LOG_EXTRA="dpo_public_key = $T_DIR/dpo.public
retention = GOV/MIKWS-SH/Meldeauskunft 1"
export FED_SH_LOG_EXTRA
fed_start

CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
SVC=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt
LOGCHECK=$SS_BUILD_DIR/test/tools/ss-logcheck
ANCHOR=$FED_PKI/registry-authority.pem

# --- a log worth checking: single and concurrent exchanges (batch signatures), refusals ---------
for i in $(seq 1 12); do
  xr GET $CLIENT "$SVC/echo/dpo$i" -H "X-Secsrv-Purpose: BMG-34" -H "X-Secsrv-Subject: P-$((i % 3))"
  [ "$STATUS" = 200 ] || not_ok "exchange $i answered $STATUS"
done
xr GET $CLIENT "$SVC/nope/refused" -H "X-Secsrv-Subject: P-7"
expect "an exchange for a service without a rule is refused" test "$STATUS" != 200
for i in 1 2; do
  xr GET DE-NORD/MUN/01002000/Buergeramt "$SVC/echo/kept$i"
  expect "a client this server does not host is refused (its records kept for 730 days)" test "$STATUS" = 403
done
one() {
  curl -s -o /dev/null -w '%{http_code}\n' -H "X-Road-Client: $CLIENT" -H "X-Secsrv-Purpose: BMG-35" \
    -H "X-Secsrv-Subject: Q-$(($1 % 5))" "http://127.0.0.1:$FED_SH_CLIENT_PORT$SVC/echo/batch$1"
}
export -f one
export CLIENT SVC FED_SH_CLIENT_PORT
# in three rounds, each timestamped before the next: several timestamps to tamper with
expect "the first exchanges are timestamped on both sides" wait_until "the timestamps" 30 stamped
expect "120 concurrent exchanges all answer 200" \
  test "$(seq 1 120 | xargs -P 12 -I{} bash -c 'one {}' | sort | uniq -c | awk '{print $2":"$1}')" = "200:120"
expect "they are timestamped on both sides" wait_until "the timestamps" 30 stamped
xr GET $CLIENT "$SVC/echo/last" -H "X-Secsrv-Purpose: BMG-34"
expect "a last exchange answers 200" test "$STATUS" = 200
expect "both logs are timestamped to the end" wait_until "the timestamps" 30 stamped
expect "the log keeps the registry it was written under" \
  test "$(msglog sh "SELECT count(*) FROM registries")" -ge 1
expect "some messages were signed in batches" \
  test "$(msglog mv "SELECT count(*) FROM signed_records WHERE sig_path NOT IN ('', '-') AND signature IS NOT NULL")" -gt 0
expect "a batch's signature and a signer's OCSP response are stored once" \
  test "$(msglog mv "SELECT count(*) FROM evidence")" -lt "$(msglog mv "SELECT count(*) FROM records WHERE signature_id IS NOT NULL")"

GOOD=$T_DIR/good.db
sqlite3 "$FED_DIR/sh/log/messagelog.db" ".backup '$GOOD'"
MVGOOD=$T_DIR/mv-good.db
sqlite3 "$FED_DIR/mv/log/messagelog.db" ".backup '$MVGOOD'"
q() { sqlite3 "$1" "$2"; }
flip_byte() { # FILE OFFSET: the byte at OFFSET becomes another one (never the same by chance)
  local old
  old=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
  printf "\\$(printf '%03o' $(((old + 1) % 256)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
bad() { # NAME EXPECTED_RC REGEX command...: fails with that exit status and says so
  local name=$1 want=$2 re=$3
  shift 3
  set +e
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  set -e
  if [ "$rc" = "$want" ] && grep -Eq -- "$re" <<<"$out"; then ok "$name: $(head -1 <<<"$out")"; else not_ok "$name (exit $rc): $out"; fi
}

# --- verify on the untouched copies ---------------------------------------------------------------
verify() { # STORE [args]: sets VRC and VOUT
  set +e
  VOUT=$("$LOG" verify "$1" --anchor "$ANCHOR" "${@:2}" 2>&1)
  VRC=$?
  set -e
}
for db in "$GOOD" "$MVGOOD"; do
  verify "$db"
  expect "verify passes on the untouched log $(basename "$db")" test "$VRC" = 0
  n=$(q "$db" "SELECT count(*) FROM records")
  expect "and counts every record ($n)" bash -c "grep -q ': $n checked' <<<'$VOUT'"
  expect "and every timestamp" bash -c "grep -q 'timestamps: $(q "$db" "SELECT count(*) FROM timestamps") verified' <<<'$VOUT'"
done
echo "$VOUT" | sed 's/^/# /'
verify "$GOOD" --from-id 5 --to-id 9
expect "verify of a record range passes" test "$VRC" = 0
nts=$(q "$GOOD" "SELECT count(*) FROM timestamps")
in_range=$(grep -Eo 'timestamps: [0-9]+ verified' <<<"$VOUT" | grep -Eo '[0-9]+')
expect "... verifying the tokens over it only ($in_range of $nts)" \
  bash -c "[ -n '$in_range' ] && [ '$in_range' -ge 1 ] && [ '$in_range' -lt '$nts' ]"
last=$(q "$GOOD" "SELECT max(id) FROM records")
verify "$GOOD" --from-id $((last + 5))
expect "a range after the last record holds nothing, and that is no gap" test "$VRC" = 0
verify "$GOOD" --from-id $((last + 5)) --to-id $((last + 9))
expect "... nor with an end" test "$VRC" = 0

# --- every kind of tampering is caught ------------------------------------------------------------
# a signed, timestamped record in the middle, with content, signed in a batch on the MV side
BATCHED="signature IS NOT NULL AND message IS NOT NULL AND sig_path NOT IN ('', '-') AND error_type = ''"
K=$(q "$MVGOOD" "SELECT id FROM signed_records WHERE $BATCHED ORDER BY id
  LIMIT 1 OFFSET (SELECT min(10, count(*) - 1) FROM signed_records WHERE $BATCHED)")
[ -n "$K" ] || not_ok "no batch-signed record to tamper with"
tamper() { # NAME SQL [rehash]: a copy of the MV log changed by SQL must fail verify, naming why
  local name=$1 sql=$2 db=$T_DIR/tampered.db
  cp "$MVGOOD" "$db"
  q "$db" "$sql"
  [ "${3:-}" = rehash ] && "$LOGCHECK" --rehash "$db"
  verify "$db"
  if [ "$VRC" = 1 ] && grep -q '^BROKEN' <<<"$VOUT"; then
    ok "$name is caught: $(grep '^BROKEN' <<<"$VOUT")"
  else
    not_ok "$name is caught (exit $VRC): $VOUT"
  fi
}
# one byte changed, field by field
flip_blob() { echo "CAST(substr($1,1,$2-1) || CASE WHEN substr($1,$2,1) = x'00' THEN x'01' ELSE x'00' END || substr($1,$2+1) AS BLOB)"; }
flip_text() { echo "substr($1,1,length($1)-1) || CASE WHEN substr($1,-1) = 'a' THEN 'b' ELSE 'a' END"; }
for col in side direction query_id request_id client service purpose error_type sig_path; do
  tamper "a changed byte in $col" "UPDATE records SET $col = $(flip_text $col) WHERE id = $K"
done
for col in subject_hash message_sha256 message manifest prev_hash hash content salt; do
  tamper "a changed byte in $col" "UPDATE records SET $col = $(flip_blob $col 20) WHERE id = $K"
done
# a signature and an OCSP response are stored once, in evidence
for col in signature ocsp; do
  tamper "a changed byte in $col" \
    "UPDATE evidence SET data = $(flip_blob data 20) WHERE id = (SELECT ${col}_id FROM records WHERE id = $K)"
done
for col in logged_ms status retain_until sealed; do
  tamper "a changed $col" "UPDATE records SET $col = $col + 1 WHERE id = $K"
done
# the forger who also fixes the message's digest and the chain
q "$MVGOOD" "SELECT writefile('$T_DIR/message', message) FROM records WHERE id = $K" >/dev/null
printf 'X' | dd of="$T_DIR/message" bs=1 seek=2 conv=notrunc status=none
tamper "a changed byte in a message, its digest and the chain recomputed" \
  "UPDATE records SET message = readfile('$T_DIR/message'), message_sha256 = x'$(sha256sum "$T_DIR/message" | cut -c1-64)' WHERE id = $K" rehash
tamper "a message removed, its salt kept (as if logged as metadata only)" \
  "UPDATE records SET message = NULL WHERE id = $K"
tamper "a field of the wrong size" "UPDATE records SET message_sha256 = x'00' WHERE id = $K"
# a range checked alone still sees records gone that a timestamp in it covers
cp "$MVGOOD" "$T_DIR/range.db"
q "$T_DIR/range.db" "DELETE FROM records WHERE id >= (SELECT first_id FROM timestamps ORDER BY id DESC LIMIT 1)"
for args in "--to-id 1000000" "--since 2000-01-01" "--until 2099-01-01"; do
  verify "$T_DIR/range.db" $args
  expect "the last timestamp's records deleted, verify $args: caught" \
    bash -c "[ $VRC = 1 ] && grep -q '^BROKEN.*missing: timestamp' <<<'$VOUT'"
done
# a changed inclusion path: a byte of the first node K's path takes from its batch's stored tree
KTS=$(q "$MVGOOD" "SELECT id || ' ' || first_id || ' ' || last_id FROM timestamps WHERE $K BETWEEN first_id AND last_id")
read -r kts kfirst klast <<<"$KTS"
node=-1 start=0 width=$((klast - kfirst + 1)) at=$((K - kfirst))
while [ "$width" -gt 1 ]; do
  if [ $((at ^ 1)) -lt "$width" ]; then node=$((start + (at ^ 1))) && break; fi
  start=$((start + width)) at=$((at / 2)) width=$(((width + 1) / 2))
done
expect "record $K's path takes a node of timestamp $kts's tree" test "$node" -ge 0
tamper "a changed inclusion path" "UPDATE timestamps SET tree = $(flip_blob tree $((node * 32 + 6))) WHERE id = $kts"
tamper "a timestamp's tree removed" "UPDATE timestamps SET tree = NULL WHERE id = $kts"
TS1=$(q "$MVGOOD" "SELECT id FROM timestamps ORDER BY id LIMIT 1")
TS2=$(q "$MVGOOD" "SELECT id FROM timestamps ORDER BY id LIMIT 1 OFFSET 1")
expect "the log has several timestamps ($TS1, $TS2, ...)" test -n "$TS2"
tamper "a changed timestamp root" "UPDATE timestamps SET root = $(flip_blob root 5) WHERE id = $TS2"
tamper "a changed byte in a timestamp token" \
  "UPDATE timestamps SET token = $(flip_blob token 'length(token)-10') WHERE id = $TS2"
tamper "a changed byte in a kept registry" "UPDATE registries SET xml = $(flip_blob xml 200)"
tamper "a missing kept registry" "DELETE FROM registries"
# records removed, reordered, inserted
tamper "a deleted record" "DELETE FROM records WHERE id = $K"
tamper "a deleted record, the later ones renumbered and the chain recomputed" \
  "DELETE FROM records WHERE id = $K; UPDATE records SET id = -(id - 1) WHERE id > $K; UPDATE records SET id = -id WHERE id < 0;" rehash
tamper "the last record deleted" "DELETE FROM records WHERE id = (SELECT max(id) FROM records)"
tamper "two records swapped" \
  "UPDATE records SET id = -1 WHERE id = $K; UPDATE records SET id = $K WHERE id = $K + 1; UPDATE records SET id = $K + 1 WHERE id = -1"
tamper "two records swapped, the chain recomputed" \
  "UPDATE records SET id = -1 WHERE id = $K; UPDATE records SET id = $K WHERE id = $K + 1; UPDATE records SET id = $K + 1 WHERE id = -1" rehash
tamper "a record inserted, the chain recomputed" \
  "UPDATE records SET id = -(id + 1) WHERE id > $K; UPDATE records SET id = -id WHERE id < 0;
   INSERT INTO records SELECT $K + 1, logged_ms, side, direction, query_id, request_id, client, service,
     purpose, subject_hash, status, error_type, retain_until, message_sha256, message, manifest, signature,
     sig_path, ocsp, prev_hash, hash, content, salt, sealed, signature_id, ocsp_id FROM records WHERE id = $K;" rehash
# a record (one without a signature, whose signing time would not agree) logged an hour after
# the timestamp that covers it says it existed
U=$(q "$MVGOOD" "SELECT id FROM records WHERE id <= (SELECT max(last_id) FROM timestamps) AND signature_id IS NULL LIMIT 1")
tamper "a record logged after its timestamp's genTime, the chain recomputed" \
  "UPDATE records SET logged_ms = logged_ms + 3600000 WHERE id = $U" rehash
expect "... is named so" grep -q "logged [0-9]* s after the genTime of timestamp" <<<"$VOUT"
tamper "a swapped timestamp token" \
  "UPDATE timestamps SET token = (SELECT token FROM timestamps WHERE id = $TS1) WHERE id = $TS2"
# the last timestamp (with its tree) removed: its records look not yet timestamped; past the grace
# period (0 s here) verify says that only the chain protects them
cp "$MVGOOD" "$T_DIR/untimestamped.db"
q "$T_DIR/untimestamped.db" "DELETE FROM timestamps WHERE id = (SELECT max(id) FROM timestamps)"
verify "$T_DIR/untimestamped.db" --grace 0
expect "a removed last timestamp is warned about: records past the grace period without one (exit 3)" \
  bash -c "[ $VRC = 3 ] && grep -q '^WARNING: [0-9]* records are older than the grace period' <<<'$VOUT'"
verify "$MVGOOD" --grace 0
expect "and not for a log whose every record is timestamped" bash -c "! grep -q WARNING <<<'$VOUT'"
# ... and in that untimestamped tail, records deleted where a range ends, with later ones kept
F=$(q "$MVGOOD" "SELECT first_id FROM timestamps ORDER BY id DESC LIMIT 1")
L=$(q "$MVGOOD" "SELECT last_id FROM timestamps ORDER BY id DESC LIMIT 1")
if [ "$L" -gt "$F" ]; then
  q "$T_DIR/untimestamped.db" "DELETE FROM records WHERE id = $F"
  verify "$T_DIR/untimestamped.db" --from-id "$F" --to-id "$F"
  expect "a record deleted at the end of a range, the log going on after it: caught" \
    bash -c "[ $VRC = 1 ] && grep -q '^BROKEN.*record $F.*missing' <<<'$VOUT'"
else
  not_ok "the last timestamp covers two records or more ($F to $L)"
fi
B=$(q "$MVGOOD" "SELECT id FROM signed_records WHERE sig_path NOT IN ('', '-') AND signature IS NOT NULL AND error_type = ''
  AND signature != (SELECT signature FROM signed_records WHERE id = $K) AND direction = (SELECT direction FROM records WHERE id = $K) ORDER BY id DESC LIMIT 1")
tamper "a swapped batch signature, the chain recomputed" \
  "UPDATE records SET signature_id = (SELECT signature_id FROM records WHERE id = $B) WHERE id = $K" rehash
tamper "a signature changed where it is stored once, the chain recomputed" \
  "UPDATE evidence SET data = (SELECT data FROM evidence WHERE id = (SELECT signature_id FROM records WHERE id = $B))
   WHERE id = (SELECT signature_id FROM records WHERE id = $K)" rehash
expect "a swapped batch signature is named as the signature" grep -q "signature" <<<"$VOUT"

# --- what is not a log, or not the right one ----------------------------------------------------
bad "a missing store" 2 "unable to open|cannot open|no such" "$LOG" verify "$T_DIR/none.db" --anchor "$ANCHOR"
head -c 20000 "$MVGOOD" >"$T_DIR/truncated.db"
bad "a truncated store" 2 "malformed|not a database|message log" "$LOG" verify "$T_DIR/truncated.db" --anchor "$ANCHOR"
bad "a file that is no store" 2 "not a database|not a secsrv message log" "$LOG" verify "$ANCHOR" --anchor "$ANCHOR"
bad "another authority's certificate as the anchor" 1 "^BROKEN" "$LOG" verify "$MVGOOD" --anchor "$FED_PKI/root-ca.pem"
bad "verify without an anchor" 2 "--anchor" "$LOG" verify "$MVGOOD"
bad "an unknown search term" 2 "unknown search term 'colour'" "$LOG" search "$GOOD" colour=red
bad "a malformed time" 2 "since: '2026-02-30'" "$LOG" search "$GOOD" since=2026-02-30
bad "a term without a value" 2 "is not KEY=VALUE" "$LOG" search "$GOOD" client
bad "a subject without the key" 2 "subject-key" "$LOG" search "$GOOD" subject=P-1
bad "a wrong subject key file" 2 "64 hex digits" "$LOG" search "$GOOD" --subject-key "$ANCHOR" subject=P-1
bad "an unknown command" 2 "unknown command" "$LOG" frobnicate "$GOOD"

# --- confidentiality at rest: the SH log holds its messages sealed to the DPO's key ---------------
hexfile() { xxd -p "$1" | tr -d '\n'; }
hexstr() { printf '%s' "$1" | xxd -p | tr -d '\n'; }
export -f hexfile
expect "the SH log holds no message in clear" \
  bash -c "! hexfile '$GOOD' | grep -q $(hexstr /echo/dpo5) && hexfile '$MVGOOD' | grep -q $(hexstr /echo/dpo5)"
expect "its messages are marked sealed" \
  test "$(q "$GOOD" "SELECT count(*) FROM records WHERE message IS NOT NULL AND sealed = 0")" = 0
verify "$GOOD" --secret-key "$T_DIR/dpo.secret"
expect "verify with the DPO's secret key opens and checks every sealed message" \
  bash -c "grep -Eq ' ([0-9]+) sealed \(\1 opened and checked\)' <<<'$VOUT' && [ $VRC = 0 ]"
verify "$GOOD" --secret-key "$T_DIR/other.secret"
expect "verify with another secret key names the first record it cannot open" \
  bash -c "[ $VRC = 1 ] && grep -q 'BROKEN at record 1: the secret key does not open' <<<'$VOUT'"
R=$(q "$GOOD" "SELECT id FROM records WHERE direction = 'request' AND message IS NOT NULL ORDER BY id LIMIT 1")
expect "show opens a sealed message with the secret key" \
  bash -c "'$LOG' show '$GOOD' $R --secret-key '$T_DIR/dpo.secret' | grep -q '^GET /r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/echo/dpo'"
expect "without it, show says the message is sealed" \
  bash -c "'$LOG' show '$GOOD' $R | grep -q 'sealed to the DPO'"
bad "show with another secret key" 2 "does not open the sealed message" \
  "$LOG" show "$GOOD" "$R" --secret-key "$T_DIR/other.secret"
bad "show of a record that is not there" 2 "no record 99999" "$LOG" show "$GOOD" 99999
bad "a secret key file that is no key" 2 "64 hex digits" "$LOG" show "$GOOD" 1 --secret-key "$ANCHOR"
bad "keygen over an existing file" 2 "cannot write the key" "$LOG" keygen "$T_DIR/dpo.secret" "$T_DIR/x.public"
expect "the secret key file is readable by its owner only" test "$(stat -c %a "$T_DIR/dpo.secret")" = 600

# --- retention: content past its deadline is purged, and gone from the file ---------------------
# two_days_on CMD...: CMD as two days from now (libfaketime; preloaded before the sanitizer
# runtime of a sanitizer build, which then must not insist on coming first)
TWO_DAYS_ASAN="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
two_days_on() { ASAN_OPTIONS=$TWO_DAYS_ASAN faketime '+2 days' "$@"; }
export -f two_days_on
export TWO_DAYS_ASAN
PURGED=$T_DIR/purged.db
cp "$GOOD" "$PURGED"
S=$(q "$GOOD" "SELECT hex(subject_hash) FROM records WHERE subject_hash IS NOT NULL AND client LIKE '%/Meldeauskunft' LIMIT 1")
B=$(q "$GOOD" "SELECT hex(substr(message, 1, 24)) FROM records WHERE message IS NOT NULL AND client LIKE '%/Meldeauskunft' LIMIT 1")
expect "before the purge the file holds a subject hash and a sealed message" \
  bash -c "hexfile '$PURGED' | grep -qi $S && hexfile '$PURGED' | grep -qi $B"
expect "nothing is past its deadline today" bash -c "'$LOG' purge '$PURGED' | grep -q '^content of 0 records'"
bad "a purge as of a future time" 2 "must not be in the future" "$LOG" purge "$PURGED" --now 2099-01-01
meld=$(q "$GOOD" "SELECT count(*) FROM records WHERE client LIKE '%/Meldeauskunft'")
expect "two days on, the content of every record of the one-day client is purged ($meld)" \
  bash -c "two_days_on '$LOG' purge '$PURGED' | grep -q '^content of $meld records'"
sqlite3 "$PURGED" "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;" >/dev/null
expect "the purged subject hashes and messages are gone from the database file" \
  bash -c "! hexfile '$PURGED' | grep -qi $S && ! hexfile '$PURGED' | grep -qi $B"
kept=$(q "$GOOD" "SELECT count(*) FROM records WHERE client LIKE '%/Buergeramt' AND message IS NOT NULL")
expect "the records of the other client keep their content ($kept)" \
  bash -c "[ $kept -gt 0 ] && [ $(q "$PURGED" "SELECT count(*) FROM records WHERE client LIKE '%/Buergeramt' AND message IS NOT NULL AND salt IS NOT NULL") = $kept ]"
set +e
VOUT=$(two_days_on "$LOG" verify "$PURGED" --anchor "$ANCHOR" --secret-key "$T_DIR/dpo.secret" 2>&1)
VRC=$?
set -e
expect "verify still passes on the purged log, the purged records by their hashes" \
  bash -c "[ $VRC = 0 ] && grep -q '$meld purged after their retention deadline' <<<'$VOUT'"
verify "$PURGED"
expect "today the same log is refused: content gone before its deadline" \
  bash -c "[ $VRC = 1 ] && grep -q 'gone before its retention deadline' <<<'$VOUT'"
tamper_purged() { # NAME SQL: a change to the purged log is caught
  cp "$PURGED" "$T_DIR/t.db"
  q "$T_DIR/t.db" "$2"
  set +e
  VOUT=$(two_days_on "$LOG" verify "$T_DIR/t.db" --anchor "$ANCHOR" 2>&1)
  VRC=$?
  set -e
  expect "$1 is caught: $(grep '^BROKEN' <<<"$VOUT")" test "$VRC" = 1
}
P=$(q "$PURGED" "SELECT id FROM records WHERE salt IS NULL AND content IS NOT NULL LIMIT 1 OFFSET 3")
tamper_purged "in a purged record, a changed client" "UPDATE records SET client = client || 'x' WHERE id = $P"
tamper_purged "in a purged record, a changed commitment" "UPDATE records SET content = zeroblob(32) WHERE id = $P"

# the server purges on its own: the SH server started two days on purges at once, also while a
# reader (an audit, a backup) holds the log, so that the old pages cannot be emptied yet; the
# reader holds its transaction until the test has seen what it came for (a line on the fifo)
"$SS_SOURCE_DIR/deploy/federation.sh" stop-server "$FED_DIR" sh
mkfifo "$T_DIR/release"
(printf 'BEGIN;\nSELECT count(*) FROM records;\n'; read -r _ <"$T_DIR/release"
  printf 'COMMIT;\n') | sqlite3 "$FED_DIR/sh/log/messagelog.db" >"$T_DIR/reader.out" 2>&1 &
reader=$!
expect "a reader holds the SH log" wait_until "the reader's transaction" 30 test -s "$T_DIR/reader.out"
# libfaketime preloaded by env, which execs: the server keeps the process id the federation
# records and stops (the faketime command forks, and its child would outlive the test). The
# monotonic clock is moved too: libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 ends
# every pthread_cond_timedwait on a CLOCK_MONOTONIC condition at once, and each of the server's
# timed waits (registry refresh, OCSP renewal) would spin, busy enough to slow the whole test.
FAKETIME_LIB=$(dpkg -L libfaketime | grep '/libfaketime\.so\.1$' | head -n 1)
FED_SH_RUN_WITH="env LD_PRELOAD=$FAKETIME_LIB FAKETIME=+2d ASAN_OPTIONS=$TWO_DAYS_ASAN" \
  "$SS_SOURCE_DIR/deploy/federation.sh" start-server "$FED_DIR" sh
fed_env
purged_by_server() { log_has sh "logger: content of [0-9]+ records past their retention deadline purged"; }
expect "two days on, the SH server purges the one-day client's content by itself" \
  wait_until "the server's purge" 30 purged_by_server
expect "... and says that the reader keeps it from emptying the write-ahead log yet" \
  log_has sh "logger: purge: .*records purged, but the write-ahead log could not be emptied yet"
# (bounded: a reader that ended early has no one reading the fifo)
timeout 10 bash -c "echo release >'$T_DIR/release'" || true
wait "$reader" || true
live=$(msglog sh "SELECT count(*) FROM records WHERE client LIKE '%/Meldeauskunft' AND salt IS NULL AND message IS NULL AND subject_hash IS NULL AND manifest IS NULL")
expect "every record of that client lost its content ($live of $meld)" test "$live" = "$meld"
expect "the other client's records keep theirs" \
  test "$(msglog sh "SELECT count(*) FROM records WHERE client LIKE '%/Buergeramt' AND message IS NOT NULL")" = "$kept"
sqlite3 "$FED_DIR/sh/log/messagelog.db" ".backup '$T_DIR/server-purged.db'"
set +e
VOUT=$(two_days_on "$LOG" verify "$T_DIR/server-purged.db" --anchor "$ANCHOR" 2>&1)
VRC=$?
set -e
expect "and its log still verifies" bash -c "[ $VRC = 0 ] && grep -q '$meld purged after' <<<'$VOUT'"
# what it logs now, two days on, the TSA dates two days before: such a token is refused, not
# kept to say the records existed before they were written
xr GET $CLIENT "$SVC/nope/two-days-on"
genTime_refused() { log_has sh "timestamping.*the token's genTime [0-9TZ:-]+ is -17[0-9]{4} s from this server's clock"; }
expect "a token whose genTime is two days off the server's clock is refused" \
  wait_until "the refusal of the TSA's token" 30 genTime_refused

# --- evidence packages that stock openssl verifies ---------------------------------------------
# checked() PACKAGE DIR: unpacked with stock unzip, VERIFY.txt run as it is
checked() {
  rm -rf "$2" && mkdir -p "$2" && (cd "$2" && unzip -q "$1" && sh -e VERIFY.txt >"$2.out" 2>&1)
}
export -f checked
pkg() { # NAME STORE ARGS...: exports into $T_DIR/NAME.asice
  local name=$1 store=$2
  shift 2
  rm -f "$T_DIR/$name.asice"
  "$LOG" export "$store" --anchor "$ANCHOR" -o "$T_DIR/$name.asice" "$@" >/dev/null
}
pkg batch "$MVGOOD" id=$K
expect "a batch-signed record exported from the MV log verifies with stock openssl" checked "$T_DIR/batch.asice" "$T_DIR/batch"
expect "the package names its mimetype first, stored: application/vnd.etsi.asic-e+zip" \
  bash -c "[ \"\$(head -c 38 '$T_DIR/batch.asice' | tail -c 8)\" = mimetype ] && unzip -Z -v '$T_DIR/batch.asice' mimetype | grep -q 'compression method: *none (stored)'"
expect "its commands follow the signature's batch tree to the signed root" \
  grep -q "secsrv-batch-root" "$T_DIR/batch/VERIFY.txt"
expect "VERIFY.txt holds commands only (openssl, joined by cmp, cut, sed, grep)" \
  bash -c "! grep -Ev '^(openssl|cmp|grep) ' '$T_DIR/batch/VERIFY.txt'"
rm -rf "$T_DIR/batch-own"
expect "secsrv-log unpack gives the same files" \
  bash -c "'$LOG' unpack '$T_DIR/batch.asice' '$T_DIR/batch-own' >/dev/null && diff -r '$T_DIR/batch-own' '$T_DIR/batch' -x '*.sha256' -x '*.out' -x batch-root"
# every evidence file; in the timestamp token a byte of what the TSA signed (the certificates the
# token carries along are not signed by anyone, and verification takes the TSA's from tsa.pem)
for f in message manifest signature.p7s ocsp.der record.bin content.bin sig-tree/0.in sig-tree/1.in \
  ts-tree/0.in ts-tree/1.in timestamp.der signer.pem issuer.pem; do
  rm -rf "$T_DIR/changed" && mkdir -p "$T_DIR/changed" && (cd "$T_DIR/changed" && unzip -q "$T_DIR/batch.asice")
  file=$T_DIR/changed/records/$K/$f
  if [ ! -f "$file" ]; then
    not_ok "the package holds $f"
    continue
  fi
  size=$(stat -c %s "$file")
  at=$((size / 2))
  [ "$f" = timestamp.der ] && at=$((size - 20))
  # in a PEM file, a character of the base64 (a changed line break would change nothing)
  case $f in *.pem) at=$(($(head -n 2 "$file" | wc -c) + 5)) ;; esac
  flip_byte "$file" $at
  expect "one byte changed in $f: VERIFY.txt fails" bash -c "! (cd '$T_DIR/changed' && sh -e VERIFY.txt >/dev/null 2>&1)"
done
# an OCSP response that still parses, with a signature that is not the responder's: openssl
# prints its status all the same, so only openssl's own exit status may decide
rm -rf "$T_DIR/changed" && mkdir -p "$T_DIR/changed" && (cd "$T_DIR/changed" && unzip -q "$T_DIR/batch.asice")
file=$T_DIR/changed/records/$K/ocsp.der
# the response's signatureAlgorithm (ecdsa-with-SHA256) comes first, before the certificates;
# then BIT STRING, its length, 00, SEQUENCE, its length, INTEGER r, its length, r
oid=$(LC_ALL=C grep -obUaP '\x2a\x86\x48\xce\x3d\x04\x03\x02' "$file" | head -n 1 | cut -d: -f1)
flip_byte "$file" $((oid + 8 + 10))
# (the record's digest of it fails first; its own commands must fail too, for a response that
# was stored so)
expect "an OCSP response whose signature is broken (it still says good): its commands fail" \
  bash -c "cd '$T_DIR/changed' && grep -E '^(openssl ocsp|grep )' VERIFY.txt >ocsp-only.sh &&
    [ \$(wc -l <ocsp-only.sh) -ge 1 ] && ! sh -e ocsp-only.sh >/dev/null 2>&1 &&
    openssl ocsp -respin '$file' -noverify -resp_text 2>/dev/null | grep -q 'Cert Status: good'"
cp "$T_DIR/batch.asice" "$T_DIR/damaged.asice"
# a byte of a file's data in the package (a header's date would not be noticed by unzip)
name="records/$K/signature.p7s"
at=$(grep -obUa -- "$name" "$T_DIR/damaged.asice" | head -n 1 | cut -d: -f1)
flip_byte "$T_DIR/damaged.asice" $((at + ${#name} + 10))
expect "one byte changed in the package: stock unzip refuses it" \
  bash -c "! (mkdir -p '$T_DIR/damaged' && cd '$T_DIR/damaged' && unzip -q -o '$T_DIR/damaged.asice' >/dev/null 2>&1)"
bad "and so does secsrv-log unpack" 2 "damaged \\(CRC-32\\)|does not match" "$LOG" unpack "$T_DIR/damaged.asice" "$T_DIR/damaged-own"
bad "a file that is not ASiC-E" 2 "not an ASiC-E package" "$LOG" unpack "$ANCHOR" "$T_DIR/not-asic"
pkg sealed "$GOOD" id=$R --secret-key "$T_DIR/dpo.secret"
expect "a sealed SH record exported with the DPO's key verifies, its message opened" \
  bash -c "checked '$T_DIR/sealed.asice' '$T_DIR/sealed' && grep -q '^GET /r1/' '$T_DIR/sealed/records/$R/message'"
pkg sealed-only "$GOOD" id=$R
expect "without the key, the sealed box is exported and verified against the commitment" \
  bash -c "checked '$T_DIR/sealed-only.asice' '$T_DIR/sealed-only' && [ ! -e '$T_DIR/sealed-only/records/$R/message' ] && [ -e '$T_DIR/sealed-only/records/$R/message.sealed' ]"
pkg many "$MVGOOD" purpose=BMG-35 id=100-115
n=$(unzip -Z1 "$T_DIR/many.asice" | grep -c '/record.bin$')
expect "a search result exported as one package verifies ($n records)" \
  bash -c "[ $n -gt 10 ] && checked '$T_DIR/many.asice' '$T_DIR/many'"
two_days_on "$LOG" export "$PURGED" --anchor "$ANCHOR" -o "$T_DIR/purged.asice" id=$P >/dev/null
expect "a purged record exported: its hash and timestamp still verify" \
  bash -c "checked '$T_DIR/purged.asice' '$T_DIR/purged-pkg' && [ ! -e '$T_DIR/purged-pkg/records/$P/message' ] && grep -q 'ts -verify' '$T_DIR/purged-pkg/VERIFY.txt'"
bad "an export of nothing" 2 "no record to export" "$LOG" export "$GOOD" --anchor "$ANCHOR" -o "$T_DIR/none.asice" id=999999
bad "an export over an existing file" 2 "cannot write" "$LOG" export "$GOOD" --anchor "$ANCHOR" -o "$T_DIR/batch.asice" id=1

# --- the person's view: the exchanges that concerned them, for the Datenschutzcockpit -----------
KEY=$FED_DIR/sh/state/subject.key
cockpit() { "$LOG" cockpit "$GOOD" --anchor "$ANCHOR" --subject-key "$KEY" "$@" 2>/dev/null; }
expect "the cockpit list of P-1 holds their 4 exchanges" test "$(cockpit subject=P-1 | jq '.exchanges | length')" = 4
names=$(cockpit subject=P-1 | jq -r '.exchanges[] | .requesting_authority.name + " / " + .providing_register.name' | sort -u)
expect "each names the requesting authority and the providing register by their official names" \
  test "$names" = "Ministerium für Inneres, Kommunales, Wohnen und Sport des Landes Schleswig-Holstein / Landeshauptstadt Schwerin"
expect "with service, purpose and result" \
  test "$(cockpit subject=P-1 | jq -r '.exchanges[] | .service + " " + .purpose + " " + .result' | sort -u)" = "echo BMG-34 answered"
expect "and nothing of the messages: only the documented fields" \
  test "$(cockpit subject=P-1 | jq -r '[.exchanges[] | keys[]] | unique | join(" ")')" = "error providing_register purpose query_id requesting_authority result service status time"
expect "a refused exchange is listed as refused, with why" \
  test "$(cockpit subject=P-7 | jq -r '.exchanges[] | .result + " " + (.error // "-")')" = "refused Server.ServerProxy.UnknownService"
expect "a person with no exchange gets an empty list" test "$(cockpit subject=X-0 | jq '.exchanges | length')" = 0
bad "the cockpit without a subject" 2 "whose exchanges" "$LOG" cockpit "$GOOD" --anchor "$ANCHOR" --subject-key "$KEY" purpose=BMG-34

# --- search and stats ---------------------------------------------------------------------------
n=$("$LOG" search "$GOOD" --subject-key "$KEY" subject=P-1 side=client --json | wc -l)
expect "a subject search finds the person's 4 exchanges (request and answer each): $n records" test "$n" = 8
expect "another person's identifier finds none of them" \
  test "$("$LOG" search "$GOOD" --subject-key "$KEY" subject=P-9 --json | wc -l)" = 0
expect "the same search with the other server's key finds nothing" \
  test "$("$LOG" search "$GOOD" --subject-key "$FED_DIR/mv/state/subject.key" subject=P-1 --json | wc -l)" = 0
expect "search results are JSON Lines" \
  bash -c "'$LOG' search '$GOOD' purpose=BMG-35 --json | jq -e 'select(.purpose == \"BMG-35\") | .id' | wc -l | grep -qx 240"
expect "a purpose search finds the concurrent exchanges (240 records)" \
  test "$("$LOG" search "$GOOD" purpose=BMG-35 --json | wc -l)" = 240
expect "a client given as a member finds its subsystems too" \
  test "$("$LOG" search "$GOOD" client=DE-NORD/GOV/MIKWS-SH --json | wc -l)" = "$(q "$GOOD" "SELECT count(*) FROM records WHERE client LIKE 'DE-NORD/GOV/MIKWS-SH/%'")"
expect "a time range in the future finds nothing" \
  test "$("$LOG" search "$GOOD" since=2099-01-01 --json | wc -l)" = 0
expect "the readable table has a header line and one line per record" \
  test "$("$LOG" search "$GOOD" id=1-3 2>/dev/null | wc -l)" = 4
total=$(q "$GOOD" "SELECT count(*) FROM records")
expect "stats by status add up to every record" \
  test "$("$LOG" stats "$GOOD" --by status | awk 'NR > 1 {s += $1} END {print s}')" = "$total"
expect "stats by purpose count the concurrent ones" \
  bash -c "'$LOG' stats '$GOOD' --by purpose | grep -Eq '^ +240  BMG-35$'"

finish
