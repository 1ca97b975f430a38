#!/usr/bin/env bash
# Start a real Splunk HTTP Event Collector (HEC) receiver on 127.0.0.1.
#
# Tenzir 6.20.0 (PyPI wheel `tenzir`, BSD-3, ships the static tenzir-engine) running
#     accept_splunk "127.0.0.1:PORT", hec_token=TOKEN [, tls={...}] | write_ndjson
# accept_splunk is a native HEC server: /services/collector[/event], /raw, /health, /ack,
# "Authorization: Splunk <token>", Splunk's JSON replies and codes (0 Success,
# 4 Invalid token -> 403, 12 Event field is required -> 400, 17 healthy).
# Its /services/collector/ack never reports true, so indexer acknowledgement is tested
# against the project's own ack simulator (coder_sim::hec), not here.
# Every received event is one NDJSON line in $PEERS_RUN/hec[-tls]/events.ndjson, e.g.
#   {"event":{...},"sourcetype":"coder:audit","index":"main","host":"h","source":"s",
#    "time":"2023-11-14T22:13:20.122999906Z","fields":{...},"receiver":{...}}
# (`time` comes back as RFC 3339 with float rounding: compare with a tolerance.)
#
# Install: ~175 MB wheel, ~1.1 GB venv, ~25 s, once (cached in $PEERS_HOME).
# Env: HEC_PORT (18088), HEC_TOKEN, HEC_TLS=1 (port 18089, instance "hec-tls": a server
#      cert for localhost/127.0.0.1 signed by a throwaway CA, HEC_CA_FILE).
# stdout: the receiver PID only (last line). Everything else goes to stderr.
# Files:  $PEERS_RUN/$NAME.pid, $NAME.log, $NAME.env (HEC_URL, HEC_TOKEN, HEC_EVENTS_FILE[, HEC_CA_FILE])
# Stop:   stop-peers.sh hec   (SIGTERM: graceful in ~0.25 s, flushes the file)
set -euo pipefail

PEERS_HOME=${PEERS_HOME:-$HOME/.cache/coder-audit-shipper/peers}
PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
HEC_TLS=${HEC_TLS:-0}
if [[ $HEC_TLS == 1 ]]; then NAME=hec-tls; DEFAULT_PORT=18089; else NAME=hec; DEFAULT_PORT=18088; fi
HEC_PORT=${HEC_PORT:-$DEFAULT_PORT}
HEC_TOKEN=${HEC_TOKEN:-7f3c3e2a-5d0b-4c1e-9a53-coder-audit-test}
READY_TIMEOUT=${READY_TIMEOUT:-60}
INSTALL_TIMEOUT=${INSTALL_TIMEOUT:-900}

log() { echo "[start-$NAME] $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
D="$PEERS_RUN/$NAME"
mkdir -p "$PEERS_HOME" "$D"

PIDFILE="$PEERS_RUN/$NAME.pid"
if [[ -s $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && port_open "$HEC_PORT"; then
  log "already running on 127.0.0.1:$HEC_PORT"; cat "$PIDFILE"; exit 0
fi
if port_open "$HEC_PORT"; then log "port $HEC_PORT is taken by another process"; exit 1; fi

VENV="$PEERS_HOME/venv-hec"
if [[ ! -x $VENV/bin/tenzir ]]; then
  log "installing tenzir 6.20.0 from PyPI (~175 MB, once)"
  [[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV" >&2
  timeout "$INSTALL_TIMEOUT" "$VENV/bin/pip" install -q --disable-pip-version-check 'tenzir==6.20.0' >&2
fi

case $HEC_TOKEN in *[\"\\]*) log "HEC_TOKEN must not contain quotes or backslashes"; exit 2 ;; esac
ARGS="\"127.0.0.1:$HEC_PORT\", hec_token=\"$HEC_TOKEN\", max_request_size=64Mi"
SCHEME=http
if [[ $HEC_TLS == 1 ]]; then
  TLS="$D/tls"; mkdir -p "$TLS"
  if [[ ! -s $TLS/server.crt ]]; then
    # A CA and a server certificate it signs (rustls refuses a self-signed CA certificate
    # used as the server's own).
    ( cd "$TLS"
      openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=coder-audit-shipper-test-ca" \
        -keyout ca.key -out ca.pem 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.cnf
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -extfile san.cnf -out server.crt 2>/dev/null )
  fi
  ARGS+=", tls={certfile: \"$TLS/server.crt\", keyfile: \"$TLS/server.key\"}"
  SCHEME=https
fi

OUT="$D/events.ndjson"
: > "$OUT"; : > "$PEERS_RUN/$NAME.log"
nohup "$VENV/bin/tenzir" "accept_splunk $ARGS | write_ndjson" \
  >>"$OUT" 2>>"$PEERS_RUN/$NAME.log" </dev/null &
PID=$!; echo "$PID" > "$PIDFILE"   # the python wrapper execs tenzir-engine: same PID

deadline=$((SECONDS + READY_TIMEOUT))
until port_open "$HEC_PORT"; do
  if ! kill -0 "$PID" 2>/dev/null; then log "receiver exited:"; tail -20 "$PEERS_RUN/$NAME.log" >&2; exit 1; fi
  if (( SECONDS >= deadline )); then log "not ready after ${READY_TIMEOUT}s"; kill "$PID"; exit 1; fi
  sleep 0.2
done
{
  echo "HEC_URL=$SCHEME://127.0.0.1:$HEC_PORT"
  echo "HEC_TOKEN=$HEC_TOKEN"
  echo "HEC_EVENTS_FILE=$OUT"
  if [[ $HEC_TLS == 1 ]]; then echo "HEC_CA_FILE=$D/tls/ca.pem"; fi
} > "$PEERS_RUN/$NAME.env"
log "ready: $SCHEME://127.0.0.1:$HEC_PORT/services/collector/event (pid $PID, events -> $OUT)"
echo "$PID"
