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
. "$(dirname "$0")/tenzir.sh"
NAME=elasticsearch
ES_PORT=${ES_PORT:-19200}
tenzir_start "$NAME" "$ES_PORT" \
  "accept_elasticsearch \"127.0.0.1:$ES_PORT\", keep_actions=true, max_request_size=64Mi | write_ndjson"
{
  echo "ES_URL=http://127.0.0.1:$ES_PORT"
  echo "ES_EVENTS_FILE=$PEERS_RUN/$NAME/events.ndjson"
} > "$PEERS_RUN/$NAME.env"
echo "[start-$NAME] ready: http://127.0.0.1:$ES_PORT/_bulk (pid $TENZIR_PID)" >&2
echo "$TENZIR_PID"
