#!/usr/bin/env bash
# Start a real Elasticsearch Bulk API receiver on 127.0.0.1 (the transport peer of the
# elasticsearch sink).
#
# Tenzir 6.20.0 (the same PyPI install as start-hec.sh, shared venv) running
#     accept_elasticsearch "127.0.0.1:PORT", keep_actions=true | write_ndjson
# It serves `GET /` (as OpenSearch 8.17.0: "distribution": "opensearch"), takes
# `POST [/<index>]/_bulk` NDJSON, gzip or not, and answers every request
# {"errors":false,"items":[{"create":{"status":201,"result":"created"}}]}: a single item
# whatever the number of actions, and no 409 for an id it already has (it keeps nothing).
# So per-item answers are tested against coder_sim::elastic, not here. It checks no
# credentials and answers 200 `{}` to any other path.
# Every received action and document is one NDJSON line each, in order, in
# $PEERS_RUN/elasticsearch/events.ndjson:
#   {"create":{"_id":"<audit id>"}}
#   {"@timestamp":"...","event":{...},...}
#
# Env: ES_PORT (19200). stdout: the receiver PID only. Everything else goes to stderr.
# Files:  $PEERS_RUN/elasticsearch.pid, .log, .env (ES_URL, ES_EVENTS_FILE)
# Stop:   stop-peers.sh elasticsearch   (SIGTERM: graceful, flushes the file)
set -euo pipefail

PEERS_HOME=${PEERS_HOME:-$HOME/.cache/coder-audit-shipper/peers}
PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
NAME=elasticsearch
ES_PORT=${ES_PORT:-19200}
READY_TIMEOUT=${READY_TIMEOUT:-60}

log() { echo "[start-$NAME] $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
D="$PEERS_RUN/$NAME"
mkdir -p "$PEERS_HOME" "$D"
PIDFILE="$PEERS_RUN/$NAME.pid"
if [[ -s $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && port_open "$ES_PORT"; then
  log "already running on 127.0.0.1:$ES_PORT"; cat "$PIDFILE"; exit 0
fi
if port_open "$ES_PORT"; then log "port $ES_PORT is taken by another process"; exit 1; fi

VENV="$PEERS_HOME/venv-hec"
if [[ ! -x $VENV/bin/tenzir ]]; then
  # One install for the HEC and Elasticsearch peers: start-hec.sh knows how.
  PEERS_RUN=$PEERS_RUN bash "$(dirname "$0")/start-hec.sh" >/dev/null
  bash "$(dirname "$0")/stop-peers.sh" hec
fi

OUT="$D/events.ndjson"
: > "$OUT"; : > "$PEERS_RUN/$NAME.log"
nohup "$VENV/bin/tenzir" "accept_elasticsearch \"127.0.0.1:$ES_PORT\", keep_actions=true, max_request_size=64Mi | write_ndjson" \
  >>"$OUT" 2>>"$PEERS_RUN/$NAME.log" </dev/null &
PID=$!; echo "$PID" > "$PIDFILE"

deadline=$((SECONDS + READY_TIMEOUT))
until port_open "$ES_PORT"; do
  if ! kill -0 "$PID" 2>/dev/null; then log "receiver exited:"; tail -20 "$PEERS_RUN/$NAME.log" >&2; exit 1; fi
  if (( SECONDS >= deadline )); then log "not ready after ${READY_TIMEOUT}s"; kill "$PID"; exit 1; fi
  sleep 0.2
done
{
  echo "ES_URL=http://127.0.0.1:$ES_PORT"
  echo "ES_EVENTS_FILE=$OUT"
} > "$PEERS_RUN/$NAME.env"
log "ready: http://127.0.0.1:$ES_PORT/_bulk (pid $PID, events -> $OUT)"
echo "$PID"
