#!/usr/bin/env bash
# Stop the peers started by start-*.sh, by the PIDs in their pid files only.
# SIGTERM, wait up to STOP_TIMEOUT s (Tansu can take a few seconds while clients
# are connected), then SIGKILL. A zombie (not yet reaped by PID 1) counts as stopped.
# Usage: stop-peers.sh [kafka s3 kafka-tls kafka-tls-proxy hec hec-tls elasticsearch http-ndjson http-json_array syslog postgres]
#   (default: all of them)
set -uo pipefail
PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
STOP_TIMEOUT=${STOP_TIMEOUT:-10}
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; }
for name in "${@:-kafka s3 kafka-tls kafka-tls-proxy hec hec-tls elasticsearch http-ndjson http-json_array syslog postgres}"; do
  for n in $name; do
    # A peer stopped by hand is no longer the test run's to stop (stop-when-done.sh).
    rm -f "$PEERS_RUN/$n.started-by"
    f="$PEERS_RUN/$n.pid"; [[ -s $f ]] || continue
    pid=$(cat "$f")
    # PostgreSQL's SIGTERM waits for every client to leave; SIGINT is its fast shutdown.
    sig=TERM; [[ $n == postgres ]] && sig=INT
    if alive "$pid"; then
      kill -"$sig" "$pid" 2>/dev/null
      deadline=$((SECONDS + STOP_TIMEOUT))
      while alive "$pid" && (( SECONDS < deadline )); do sleep 0.1; done
      if alive "$pid"; then kill -KILL "$pid" 2>/dev/null; echo "[stop-peers] $n ($pid) killed" >&2
      else echo "[stop-peers] $n ($pid) stopped" >&2; fi
    fi
    rm -f "$f"
  done
done
