#!/usr/bin/env bash
# A throwaway PostgreSQL 15 (Debian packages) for the tests and CI; as root, no systemd.
#   tests/cluster/pg.sh start   -> prints the connection URL on stdout
#   tests/cluster/pg.sh stop    -> stops the server and deletes its directory
# TLS is on, with a self-signed certificate made here: any role may connect with or without it,
# except the role aerocast_tls (which the TLS test creates), which must use TLS.
# Env: PGT_DIR (default /tmp/aerocast-pg; must be reachable by user postgres),
#      PGT_PORT (default 55432), PGT_PASSWORD (default postgres).
set -euo pipefail
DIR=${PGT_DIR:-/tmp/aerocast-pg}
PORT=${PGT_PORT:-55432}
PASS=${PGT_PASSWORD:-postgres}
BIN=/usr/lib/postgresql/15/bin
as_pg() { (cd / && runuser -u postgres -- "$@"); }

start_pg() {
  [ -x "$BIN/initdb" ] || { apt-get update -q >&2; apt-get install -y -q postgresql >&2; }
  if [ -f "$DIR/data/postmaster.pid" ]; then echo "already running in $DIR" >&2; return 1; fi
  if [ -e "$DIR" ] && [ ! -e "$DIR/.aerocast-pg" ] && [ -n "$(ls -A "$DIR")" ]; then
    echo "$DIR exists and is not ours; refusing" >&2; return 1; fi
  rm -rf "$DIR"; mkdir -p "$DIR"; touch "$DIR/.aerocast-pg"; chown postgres:postgres "$DIR"
  printf '%s\n' "$PASS" > "$DIR/pw"; chown postgres "$DIR/pw"
  as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --pwfile="$DIR/pw" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --nosync >"$DIR/initdb.log"
  cat >> "$DIR/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
CONF
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=127.0.0.1" \
    -keyout "$DIR/data/server.key" -out "$DIR/data/server.crt" 2>/dev/null
  chmod 600 "$DIR/data/server.key"
  chown postgres:postgres "$DIR/data/server.key" "$DIR/data/server.crt"
  { printf '%s\n' 'hostnossl all aerocast_tls 127.0.0.1/32 reject' \
      'hostssl all aerocast_tls 127.0.0.1/32 scram-sha-256'
    cat "$DIR/data/pg_hba.conf"; } > "$DIR/hba" && mv "$DIR/hba" "$DIR/data/pg_hba.conf"
  chown postgres:postgres "$DIR/data/pg_hba.conf"
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >&2 \
    || { cat "$DIR/server.log" >&2; return 1; }
  echo "postgresql://postgres:$PASS@127.0.0.1:$PORT/postgres"
}

stop_pg() {
  if [ -f "$DIR/data/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >&2
  fi
  if [ -e "$DIR/.aerocast-pg" ]; then rm -rf "$DIR"; fi
}

case "${1:-}" in
  start) start_pg ;;
  stop)  stop_pg ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
