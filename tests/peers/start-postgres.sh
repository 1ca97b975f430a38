#!/usr/bin/env bash
# Start a real PostgreSQL on 127.0.0.1 for the postgres checkpoint store and its leader
# lock: Debian's postgresql (installed with apt when missing), a cluster of its own in
# $PEERS_RUN/postgres run as the `postgres` user (the server refuses root), password
# authentication (scram-sha-256) for the role `shipper` on the database `shipper`.
# TLS is on too (ssl=on with a server certificate for localhost/127.0.0.1 signed by a
# throwaway CA, POSTGRES_CA_FILE); clear-text connections are still accepted, as a
# default pg_hba.conf `host` line does.
# stdout: the server PID only (last line). Everything else goes to stderr.
# Files:  $PEERS_RUN/postgres.pid, postgres.log, postgres.env (POSTGRES_URL, POSTGRES_CA_FILE)
# Stop:   stop-peers.sh postgres
set -euo pipefail

PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
PG_PORT=${PG_PORT:-15432}
READY_TIMEOUT=${READY_TIMEOUT:-30}
INSTALL_TIMEOUT=${INSTALL_TIMEOUT:-600}
PASSWORD=shipper-test-password

log() { echo "[start-postgres] $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
D="$PEERS_RUN/postgres"
PIDFILE="$PEERS_RUN/postgres.pid"
mkdir -p "$PEERS_RUN"

if [[ -s $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && port_open "$PG_PORT"; then
  log "already running"; cat "$PIDFILE"; exit 0
fi
if port_open "$PG_PORT"; then log "port $PG_PORT is taken by another process"; exit 1; fi

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [[ -z $(bindir) ]] || ! id postgres >/dev/null 2>&1; then
  log "installing postgresql (apt)"
  export DEBIAN_FRONTEND=noninteractive
  timeout "$INSTALL_TIMEOUT" apt-get install -y -qq --no-install-recommends postgresql >&2 \
    || { timeout "$INSTALL_TIMEOUT" apt-get update -qq >&2 &&
         timeout "$INSTALL_TIMEOUT" apt-get install -y -qq --no-install-recommends postgresql >&2; }
fi
BIN=$(bindir)
as_pg() { runuser -u postgres -- "$@"; }
# The server runs as `postgres`: it must reach its data directory inside $PEERS_RUN (a
# mktemp directory is 0700).
chmod o+x "$PEERS_RUN"

if [[ ! -s $D/PG_VERSION ]]; then
  rm -rf "$D"; mkdir -p "$D"; chown postgres:postgres "$D"; chmod 700 "$D"
  pwfile=$(mktemp); echo "$PASSWORD" > "$pwfile"; chmod 644 "$pwfile"
  as_pg "$BIN/initdb" -D "$D" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$pwfile" >&2
  rm -f "$pwfile"
fi
TLS="$PEERS_RUN/postgres-tls"
if [[ ! -s $TLS/server.crt ]]; then
  mkdir -p "$TLS"
  ( cd "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=coder-audit-shipper-test-ca" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile san.cnf -out server.crt 2>/dev/null )
  # The server refuses a key others can read.
  chown postgres:postgres "$TLS/server.key" "$TLS/server.crt"; chmod 600 "$TLS/server.key"
fi
chmod o+x "$TLS"
: > "$PEERS_RUN/postgres.log"; chown postgres "$PEERS_RUN/postgres.log"
as_pg "$BIN/pg_ctl" -D "$D" -l "$PEERS_RUN/postgres.log" -w -t "$READY_TIMEOUT" \
  -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$D -c ssl=on -c ssl_cert_file=$TLS/server.crt -c ssl_key_file=$TLS/server.key" start >&2
PID=$(head -1 "$D/postmaster.pid")
echo "$PID" > "$PIDFILE"

# The role and database the tests use (idempotent).
psql_() { as_pg "$BIN/psql" -h "$D" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
if [[ -z $(psql_ -c "SELECT 1 FROM pg_roles WHERE rolname = 'shipper'") ]]; then
  psql_ -c "CREATE ROLE shipper LOGIN PASSWORD '$PASSWORD'"
fi
if [[ -z $(psql_ -c "SELECT 1 FROM pg_database WHERE datname = 'shipper'") ]]; then
  psql_ -c "CREATE DATABASE shipper OWNER shipper"
fi
{
  echo "POSTGRES_URL=postgres://shipper:$PASSWORD@127.0.0.1:$PG_PORT/shipper"
  echo "POSTGRES_CA_FILE=$TLS/ca.pem"
} > "$PEERS_RUN/postgres.env"
log "ready: 127.0.0.1:$PG_PORT (pid $PID, data $D)"
echo "$PID"
