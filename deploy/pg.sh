#!/usr/bin/env bash
# A throw-away PostgreSQL cluster in a folder, for the tests and demos of
# the shared message-log store: Debian's server programs (postgresql-15),
# no TCP port (a Unix socket in the folder only), local connections
# trusted (the folder is the cluster's owner's alone), a database "secsrv".
# As root it runs as nobody (PostgreSQL refuses to run as root); the
# folder's parents must then be reachable for nobody.
#
#   deploy/pg.sh start DIR     creates the cluster (once) and starts it;
#                              prints the store spec: postgresql:host=DIR dbname=secsrv
#   deploy/pg.sh stop DIR [fast|immediate]
#                              stops it (immediate: as a crash would)
#   deploy/pg.sh psql DIR [ARGS...]
#                              psql on its database
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || {
  echo "pg.sh: PostgreSQL's server programs are not installed (deploy/install-deps.sh)" >&2
  exit 1
}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
  echo "usage: pg.sh start|stop|psql DIR [...]" >&2
  exit 2
}
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  as_owner=(setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env)
fi
owner() { "${as_owner[@]}" env PATH="$bin:/usr/bin:/bin" "$@"; }

case "$cmd" in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ ${#as_owner[@]} -gt 0 ] && chown nobody:nogroup "$dir"
  chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    owner initdb -D "$dir/data" -A trust -U secsrv -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
  fi
  owner pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=200" \
    start >/dev/null
  if ! owner psql -h "$dir" -U secsrv -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'secsrv'" | grep -q 1; then
    owner createdb -h "$dir" -U secsrv secsrv
  fi
  echo "postgresql:host=$dir dbname=secsrv user=secsrv"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] || exit 0
  owner pg_ctl -D "$dir/data" -m "${3:-fast}" -w stop >/dev/null
  ;;
psql)
  shift 2
  owner psql -h "$dir" -U secsrv -d secsrv -v ON_ERROR_STOP=1 "$@"
  ;;
*)
  echo "usage: pg.sh start|stop|psql DIR [...]" >&2
  exit 2
  ;;
esac
