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
. "$(dirname "$0")/tenzir.sh"
HTTP_ENCODING=${HTTP_ENCODING:-ndjson}
case $HTTP_ENCODING in
  ndjson) PORT=${HTTP_PORT:-19210}; READ="read_ndjson" ;;
  json_array) PORT=${HTTP_PORT:-19211}; READ="read_json arrays_of_objects=true" ;;
  *) echo "[start-http] HTTP_ENCODING is ndjson or json_array" >&2; exit 2 ;;
esac
NAME=http-$HTTP_ENCODING
tenzir_start "$NAME" "$PORT" \
  "accept_http \"127.0.0.1:$PORT\", max_request_size=64Mi { $READ } | write_ndjson"
{
  echo "HTTP_URL=http://127.0.0.1:$PORT/ingest"
  echo "HTTP_EVENTS_FILE=$PEERS_RUN/$NAME/events.ndjson"
} > "$PEERS_RUN/$NAME.env"
echo "[start-$NAME] ready: http://127.0.0.1:$PORT/ingest (pid $TENZIR_PID)" >&2
echo "$TENZIR_PID"
