#!/usr/bin/env bash
# secsrv-backup: the consumer's server backed up while queries run through
# it (the message log copied with SQLite's online backup), its keys only
# encrypted to the operator's certificate; a truncated archive, a wrong
# identity and another server's configuration refused with nothing written;
# then restored onto a fresh configuration and state directory: secsrv -n
# passes, the server starts on it, a query goes through, and the restored
# log, with the new records after it, verifies end to end.
. "$(dirname "$0")/lib.sh"
fed_start

BACKUP=$SS_SOURCE_DIR/deploy/secsrv-backup
export SECSRV=$SS_BUILD_DIR/secsrv/secsrv
CLIENT=DE-NORD/GOV/MIKWS-SH/Meldeauskunft
Q=/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft/persons/P-1001
SH=$FED_DIR/sh
op() { # NAME: an operator's key and self-signed certificate for the backup keys
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T_DIR/$1.key" -out "$T_DIR/$1.pem" \
    -subj "/CN=secsrv backup $1" -days 30 2>/dev/null
}
op operator
op stranger

# --- a backup under load ------------------------------------------------------------------
load() {
  while [ ! -f "$T_DIR/stop" ]; do
    curl -s -o /dev/null --max-time 10 -H "X-Road-Client: $CLIENT" -H "X-Secsrv-Purpose: BMG-34" \
      "http://127.0.0.1:$FED_SH_CLIENT_PORT$Q" || true
  done
}
load &
l1=$!
load &
l2=$!
enough() { [ "$(records sh "1")" -ge 40 ]; }
expect "the load is running" wait_until "40 records on the consumer's side" 60 enough
expect "backup while the server logs exchanges" \
  "$BACKUP" backup -c "$FED_SH_CONF" -o "$T_DIR/sh.tar" --keys "$T_DIR/operator.pem"
touch "$T_DIR/stop"
wait "$l1" "$l2"
expect "a second backup to the same file is refused" \
  bash -c "! '$BACKUP' backup -c '$FED_SH_CONF' -o '$T_DIR/sh.tar' 2>/dev/null"
expect "verify accepts the archive" "$BACKUP" verify "$T_DIR/sh.tar"
# tampered archives: a setuid mode, a relative path, the encrypted keys cut off
tamper() { # NAME SED-SCRIPT [drop keys.cms]
  rm -rf "$T_DIR/t" && mkdir -p "$T_DIR/t" && tar -xf "$T_DIR/sh.tar" -C "$T_DIR/t"
  sed -i "$2" "$T_DIR/t/MANIFEST"
  [ -z "${3:-}" ] || rm "$T_DIR/t/keys.cms"
  (cd "$T_DIR/t" && tar -cf "$T_DIR/$1.tar" MANIFEST files $([ -f keys.cms ] && echo keys.cms))
}
tamper same ''
expect "the archive packed again unchanged still verifies" "$BACKUP" verify "$T_DIR/same.tar"
tamper setuid '0,/^f config 644 /s//f config 4755 /'
expect "an archive that would write a setuid file is refused" \
  bash -c "! '$BACKUP' verify '$T_DIR/setuid.tar' 2>&1 | grep -q OK && ! '$BACKUP' verify '$T_DIR/setuid.tar' 2>/dev/null"
tamper relative 's# /\([^ ]*secsrv.conf\)$# \1#'
expect "an archive that names a relative path is refused" \
  bash -c "! '$BACKUP' verify '$T_DIR/relative.tar' 2>/dev/null"
tamper nokeys '' drop
expect "an archive whose encrypted keys are missing is refused" \
  bash -c "! '$BACKUP' verify '$T_DIR/nokeys.tar' 2>/dev/null"
expect "no key is in the archive in clear" \
  bash -c "! tar -xOf '$T_DIR/sh.tar' | grep -aq 'PRIVATE KEY'"
expect "the subject key is in the archive only encrypted" \
  bash -c "! tar -xOf '$T_DIR/sh.tar' | grep -aqF '$(cat "$SH/state/subject.key")'"
mkdir -p "$T_DIR/x"
tar -xf "$T_DIR/sh.tar" -C "$T_DIR/x"
copy=$(awk '$1 == "f" && $2 == "store" {n = NR} $1 == "f" {i++; if (NR == n) print i}' "$T_DIR/x/MANIFEST")
archived=$(sqlite3 -readonly "$T_DIR/x/files/$copy" "SELECT count(*) FROM records")
echo "# the archived message log holds $archived records (the live one $(records sh 1))"
expect "the archived message log is a consistent copy" \
  test "$(sqlite3 -readonly "$T_DIR/x/files/$copy" 'PRAGMA integrity_check')" = ok -a "$archived" -ge 40

# --- a fresh machine: the server's configuration, state, policies and log are gone --------
"$SS_SOURCE_DIR/deploy/federation.sh" stop-server "$FED_DIR" sh >/dev/null
mv "$SH" "$T_DIR/sh.old"
gone() { [ ! -e "$SH" ]; }
head -c $(($(stat -c %s "$T_DIR/sh.tar") / 2)) "$T_DIR/sh.tar" >"$T_DIR/cut.tar"
expect "a truncated archive is refused with a reason" \
  bash -c "! '$BACKUP' restore '$T_DIR/cut.tar' --identity '$T_DIR/operator.key' --identity-cert '$T_DIR/operator.pem' 2>'$T_DIR/cut.err' && grep -q 'not a complete archive\|is missing\|cut short' '$T_DIR/cut.err'"
expect "and nothing was written" gone
expect "keys that do not open with the given identity are refused" \
  bash -c "! '$BACKUP' restore '$T_DIR/sh.tar' --identity '$T_DIR/stranger.key' --identity-cert '$T_DIR/stranger.pem' 2>'$T_DIR/id.err' && grep -q 'cannot be decrypted' '$T_DIR/id.err'"
expect "and nothing was written" gone
mkdir -p "$SH"
cp "$FED_MV_CONF" "$SH/secsrv.conf"
expect "an archive of another server is not put over this one's configuration" \
  bash -c "! '$BACKUP' restore '$T_DIR/sh.tar' --identity '$T_DIR/operator.key' --identity-cert '$T_DIR/operator.pem' 2>'$T_DIR/other.err' && grep -q 'is a backup of server DE-NORD/GOV/MIKWS-SH/ss-sh-kiel; the configuration at .* is of DE-NORD/MUN/13004000/ss-mv-schwerin' '$T_DIR/other.err'"
expect "and that configuration is unchanged" cmp -s "$FED_MV_CONF" "$SH/secsrv.conf"
rm -rf "$SH"

expect "restore onto the fresh machine" \
  "$BACKUP" restore "$T_DIR/sh.tar" --identity "$T_DIR/operator.key" --identity-cert "$T_DIR/operator.pem"
for f in secsrv.conf state/registry.xml state/registry.floor state/subject.key policies; do
  expect "$f is back as it was" diff -r "$T_DIR/sh.old/$f" "$SH/$f"
done
expect "owners and modes are back" \
  test "$(stat -c '%U %a' "$SH/state") $(stat -c '%a' "$SH/state/subject.key") $(stat -c '%a' "$SH/log")" = \
  "$(stat -c '%U %a' "$T_DIR/sh.old/state") $(stat -c '%a' "$T_DIR/sh.old/state/subject.key") $(stat -c '%a' "$T_DIR/sh.old/log")"
expect "the restored log holds the archived records" test "$(records sh 1)" = "$archived"
expect "secsrv -n passes on the restored server" "$SECSRV" -n -c "$FED_SH_CONF"

echo "; edited after the restore" >>"$SH/secsrv.conf"
before=$(sha256sum <"$SH/secsrv.conf")
expect "restoring again over a changed file is refused" \
  bash -c "! '$BACKUP' restore '$T_DIR/sh.tar' 2>'$T_DIR/again.err' && grep -q 'exists: .*sh/secsrv.conf' '$T_DIR/again.err'"
expect "and the changed file is kept" test "$(sha256sum <"$SH/secsrv.conf")" = "$before"
cp "$T_DIR/sh.old/secsrv.conf" "$SH/secsrv.conf"

# --- the restored server serves, and its log goes on -----------------------------------------
"$SS_SOURCE_DIR/deploy/federation.sh" start-server "$FED_DIR" sh >/dev/null
fed_env
xr GET $CLIENT "$Q" -H "X-Secsrv-Purpose: BMG-34"
expect "a query through the restored server" test "$STATUS" = 200
expect "its records follow the restored ones" test "$(records sh 1)" -ge $((archived + 2))
expect "both logs are timestamped to the end" wait_until "the timestamps" 60 stamped
expect "secsrv-log verify accepts the restored log with the records after it" \
  "$SS_BUILD_DIR/secsrv/secsrv-log" verify "$SH/log/messagelog.db" --anchor "$FED_PKI/registry-authority.pem"

# --- the log lost, the rest of the machine kept ------------------------------------------------
# the logger's mark (state/messagelog.mark) names a record beyond the archive: the logger would
# refuse the older log put back, so restore removes the mark, and says how far each log got
mark_past() { [ -f "$SH/state/messagelog.mark" ] && [ "$(cut -d' ' -f1 "$SH/state/messagelog.mark")" -gt "$archived" ]; }
expect "the logger has marked a record beyond the archive" wait_until "the mark" 20 mark_past
"$SS_SOURCE_DIR/deploy/federation.sh" stop-server "$FED_DIR" sh >/dev/null
reached=$(cut -d' ' -f1 "$SH/state/messagelog.mark")
rm -f "$SH/log/messagelog.db" "$SH/log/messagelog.db-wal" "$SH/log/messagelog.db-shm"
expect "restore puts the lost log back" \
  bash -c "'$BACKUP' restore '$T_DIR/sh.tar' 2>'$T_DIR/lost.err'"
expect "... says how far the log put back and the lost one got, and removes the mark" \
  bash -c "grep -q 'the message log put back ends at record $archived; the lost one had reached record $reached' '$T_DIR/lost.err' && [ ! -e '$SH/state/messagelog.mark' ]"
"$SS_SOURCE_DIR/deploy/federation.sh" start-server "$FED_DIR" sh >/dev/null
fed_env
xr GET $CLIENT "$Q" -H "X-Secsrv-Purpose: BMG-34"
expect "and the server serves on the log put back" test "$STATUS" = 200

finish
