# Sourced by the start scripts of the Tenzir peers that are not HEC (start-elasticsearch.sh,
# start-http.sh): install once (start-hec.sh knows how; the venv is shared), then
#   tenzir_start NAME PORT PIPELINE
# runs `tenzir PIPELINE` with its stdout in $PEERS_RUN/NAME/events.ndjson and its stderr
# in $PEERS_RUN/NAME.log, records its pid in $PEERS_RUN/NAME.pid and waits until PORT
# answers. It exits 0 early, printing the pid, when that peer is already up; the caller
# then writes $PEERS_RUN/NAME.env and prints the pid.
PEERS_HOME=${PEERS_HOME:-$HOME/.cache/coder-audit-shipper/peers}
PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
READY_TIMEOUT=${READY_TIMEOUT:-60}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tenzir_start() {
  local name=$1 port=$2 pipeline=$3
  local dir="$PEERS_RUN/$name" pidfile="$PEERS_RUN/$name.pid" venv="$PEERS_HOME/venv-hec"
  mkdir -p "$PEERS_HOME" "$dir"
  if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && port_open "$port"; then
    echo "[start-$name] already running on 127.0.0.1:$port" >&2; cat "$pidfile"; exit 0
  fi
  if port_open "$port"; then echo "[start-$name] port $port is taken by another process" >&2; exit 1; fi
  if [[ ! -x $venv/bin/tenzir ]]; then
    PEERS_RUN=$PEERS_RUN bash "$(dirname "${BASH_SOURCE[0]}")/start-hec.sh" >/dev/null
    bash "$(dirname "${BASH_SOURCE[0]}")/stop-peers.sh" hec
  fi
  : > "$dir/events.ndjson"; : > "$PEERS_RUN/$name.log"
  nohup "$venv/bin/tenzir" "$pipeline" >>"$dir/events.ndjson" 2>>"$PEERS_RUN/$name.log" </dev/null &
  TENZIR_PID=$!; echo "$TENZIR_PID" > "$pidfile"   # the python wrapper execs tenzir-engine
  local deadline=$((SECONDS + READY_TIMEOUT))
  until port_open "$port"; do
    if ! kill -0 "$TENZIR_PID" 2>/dev/null; then
      echo "[start-$name] receiver exited:" >&2; tail -20 "$PEERS_RUN/$name.log" >&2; exit 1
    fi
    if (( SECONDS >= deadline )); then
      echo "[start-$name] not ready after ${READY_TIMEOUT}s" >&2; kill "$TENZIR_PID"; exit 1
    fi
    sleep 0.2
  done
}
