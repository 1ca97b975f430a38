#!/usr/bin/env bash
# Start a real HTTP intake on 127.0.0.1 (the transport peer of the http sink), one per
# body encoding, since the intake must be told how to read its bodies:
#   HTTP_ENCODING=ndjson      (default) accept_http ... { read_ndjson }, port 19210
#   HTTP_ENCODING=json_array  accept_http ... { read_json arrays_of_objects=true }, 19211
# Tenzir 6.20.0 (the same PyPI install as start-hec.sh, shared venv). It answers 200 to
# any POST, decompresses `Content-Encoding: gzip`, checks no credentials, and writes every
# record it read as one NDJSON line to $PEERS_RUN/http-<encoding>/events.ndjson.
# Gotcha: a body it cannot read as told (an array to the NDJSON intake) is still answered
# 200, with only a warning in its log: it is no judge of what a sink sends, only a carrier.
#
# stdout: the receiver PID only. Everything else goes to stderr.
# Files:  $PEERS_RUN/http-<encoding>.pid, .log, .env (HTTP_URL, HTTP_EVENTS_FILE)
# Stop:   stop-peers.sh http-ndjson http-json_array
set -euo pipefail

PEERS_HOME=${PEERS_HOME:-$HOME/.cache/coder-audit-shipper/peers}
PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
HTTP_ENCODING=${HTTP_ENCODING:-ndjson}
case $HTTP_ENCODING in
  ndjson) PORT=${HTTP_PORT:-19210}; READ="read_ndjson" ;;
  json_array) PORT=${HTTP_PORT:-19211}; READ="read_json arrays_of_objects=true" ;;
  *) echo "[start-http] HTTP_ENCODING is ndjson or json_array" >&2; exit 2 ;;
esac
NAME=http-$HTTP_ENCODING
READY_TIMEOUT=${READY_TIMEOUT:-60}

log() { echo "[start-$NAME] $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
D="$PEERS_RUN/$NAME"
mkdir -p "$PEERS_HOME" "$D"
PIDFILE="$PEERS_RUN/$NAME.pid"
if [[ -s $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && port_open "$PORT"; then
  log "already running on 127.0.0.1:$PORT"; cat "$PIDFILE"; exit 0
fi
if port_open "$PORT"; then log "port $PORT is taken by another process"; exit 1; fi

VENV="$PEERS_HOME/venv-hec"
if [[ ! -x $VENV/bin/tenzir ]]; then
  PEERS_RUN=$PEERS_RUN bash "$(dirname "$0")/start-hec.sh" >/dev/null
  bash "$(dirname "$0")/stop-peers.sh" hec
fi

OUT="$D/events.ndjson"
: > "$OUT"; : > "$PEERS_RUN/$NAME.log"
nohup "$VENV/bin/tenzir" "accept_http \"127.0.0.1:$PORT\", max_request_size=64Mi { $READ } | write_ndjson" \
  >>"$OUT" 2>>"$PEERS_RUN/$NAME.log" </dev/null &
PID=$!; echo "$PID" > "$PIDFILE"

deadline=$((SECONDS + READY_TIMEOUT))
until port_open "$PORT"; do
  if ! kill -0 "$PID" 2>/dev/null; then log "receiver exited:"; tail -20 "$PEERS_RUN/$NAME.log" >&2; exit 1; fi
  if (( SECONDS >= deadline )); then log "not ready after ${READY_TIMEOUT}s"; kill "$PID"; exit 1; fi
  sleep 0.2
done
{
  echo "HTTP_URL=http://127.0.0.1:$PORT/ingest"
  echo "HTTP_EVENTS_FILE=$OUT"
} > "$PEERS_RUN/$NAME.env"
log "ready: http://127.0.0.1:$PORT/ingest (pid $PID, events -> $OUT)"
echo "$PID"
