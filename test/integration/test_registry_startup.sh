#!/usr/bin/env bash
# A server that starts before its registry is published (as every server of
# the federation does: the servers start first, the registry is published
# after) retries the download after 1, 2, 4, ... seconds, not after its
# refresh interval: here an hour, and each wait of the start may take 20 s.
. "$(dirname "$0")/lib.sh"
FED_REFRESH=3600 FED_WAIT=20 fed_start
for s in sh mv; do
  expect "$s found no registry at first" log_has $s "registry: download failed"
  expect "$s took the registry once it was published, without waiting an hour" \
    log_has $s "registry: serial [0-9]+ from http://.* in force"
done
xr GET DE-NORD/GOV/MIKWS-SH/Meldeauskunft \
  "/r1/DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft/persons/P-1001" \
  -H "X-Secsrv-Purpose: BMG-34"
expect "and serves exchanges" test "$STATUS" = 200
finish
