#!/usr/bin/env bash
# with-pg.sh DIR COMMAND...: runs COMMAND with SS_TEST_PG naming a throw-away
# PostgreSQL cluster in DIR (deploy/pg.sh), stopped and removed afterwards.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
dir=$1
shift
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
spec=$("$src/deploy/pg.sh" start "$dir")
trap '"$src/deploy/pg.sh" stop "$dir" immediate >/dev/null 2>&1 || true' EXIT
# the connection without its database: each test makes a database of its own
SS_TEST_PG=$(sed 's/^postgresql://; s/ dbname=[^ ]*//' <<<"$spec") "$@"
