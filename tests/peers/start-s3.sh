#!/usr/bin/env bash
# Start a real S3-protocol server on 127.0.0.1 that VERIFIES SigV4 signatures.
#
# S3_IMPL=s3s  (default) s3s-fs 0.14.1 from crates.io (Rust, Apache-2.0; the
#              S3 server of the `s3s` crate, objects stored as plain files).
#              Built with `cargo install --locked` (~2 min on 2 cores, once).
#              Every request must be SigV4-signed with S3_ACCESS_KEY/S3_SECRET_KEY
#              (wrong secret -> 403 SignatureDoesNotMatch, unsigned -> 403).
#              (s3s-fs 0.17.0 needs rustc 1.96, hence the pin to 0.14.1.)
# S3_IMPL=garage Garage 2.5.0 from crates.io (Rust, AGPL-3.0; production S3 store),
#              single node, sqlite metadata, replication_factor=1. `cargo install --locked`
#              takes ~8 min on 2 cores (once). Full SigV4 checking. Garage only accepts
#              key ids "GK"+24 hex and 64-hex secrets, so the key actually used is derived
#              from S3_ACCESS_KEY/S3_SECRET_KEY by sha256 and written to $PEERS_RUN/s3.env.
#              Its RPC port is S3_PORT+1. Every start wipes $PEERS_RUN/garage (fresh store).
# S3_IMPL=moto moto[server] 5.x from PyPI (Python). Started with
#              INITIAL_NO_AUTH_ACTION_COUNT=4 and bootstrapped with an IAM user
#              whose key is S3_ACCESS_KEY; moto generates the secret itself, so
#              the real secret is written to $PEERS_RUN/s3.env (read it from there).
#              Moto without that env var accepts ANY signature.
#
# Path-style addressing: use force_path_style(true) / addressing_style=path.
# stdout: the server PID only (last line). Everything else goes to stderr.
# Files:  $PEERS_RUN/s3.pid, $PEERS_RUN/s3.log, $PEERS_RUN/s3.env, data in $PEERS_RUN/s3-data
# Stop:   kill "$(cat "$PEERS_RUN/s3.pid")"
set -euo pipefail

PEERS_HOME=${PEERS_HOME:-$HOME/.cache/coder-audit-shipper/peers}
PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
S3_IMPL=${S3_IMPL:-s3s}
S3_PORT=${S3_PORT:-19000}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-AKIDTESTPEER}
S3_SECRET_KEY=${S3_SECRET_KEY:-test-peer-secret-key}
S3_REGION=${S3_REGION:-us-east-1}
READY_TIMEOUT=${READY_TIMEOUT:-30}
INSTALL_TIMEOUT=${INSTALL_TIMEOUT:-900}

log() { echo "[start-s3] $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
mkdir -p "$PEERS_HOME" "$PEERS_RUN"

PIDFILE="$PEERS_RUN/s3.pid"
if [[ -s $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && port_open "$S3_PORT"; then
  log "already running on 127.0.0.1:$S3_PORT"; cat "$PIDFILE"; exit 0
fi
if port_open "$S3_PORT"; then log "port $S3_PORT is taken by another process"; exit 1; fi

wait_ready() { # pid
  local deadline=$((SECONDS + READY_TIMEOUT))
  until port_open "$S3_PORT"; do
    if ! kill -0 "$1" 2>/dev/null; then log "server exited:"; tail -20 "$PEERS_RUN/s3.log" >&2; exit 1; fi
    if (( SECONDS >= deadline )); then log "not ready after ${READY_TIMEOUT}s"; kill "$1"; exit 1; fi
    sleep 0.2
  done
}

: > "$PEERS_RUN/s3.log"
case $S3_IMPL in
s3s)
  BIN="$PEERS_HOME/cargo/bin/s3s-fs"
  if [[ ! -x $BIN ]]; then
    log "building s3s-fs 0.14.1 from crates.io (~2 min on 2 cores)"
    timeout "$INSTALL_TIMEOUT" cargo install --locked s3s-fs --version 0.14.1 \
      --features binary --root "$PEERS_HOME/cargo" >&2
  fi
  DATA="$PEERS_RUN/s3-data"; mkdir -p "$DATA"
  nohup "$BIN" --host 127.0.0.1 --port "$S3_PORT" \
    --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$DATA" \
    >>"$PEERS_RUN/s3.log" 2>&1 </dev/null &
  PID=$!; echo "$PID" > "$PIDFILE"
  wait_ready "$PID"
  ;;
garage)
  BIN="$PEERS_HOME/cargo/bin/garage"
  if [[ ! -x $BIN ]]; then
    log "building garage 2.5.0 from crates.io (~8 min on 2 cores)"
    timeout $((INSTALL_TIMEOUT * 2)) cargo install --locked garage --version 2.5.0 \
      --root "$PEERS_HOME/cargo" >&2
  fi
  G="$PEERS_RUN/garage"; rm -rf "$G"; mkdir -p "$G/meta" "$G/data"
  RPC_PORT=$((S3_PORT + 1))
  if port_open "$RPC_PORT"; then log "port $RPC_PORT (garage rpc) is taken"; exit 1; fi
  cat > "$G/garage.toml" <<EOF
metadata_dir = "$G/meta"
data_dir = "$G/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(openssl rand -hex 32)"
[s3_api]
s3_region = "$S3_REGION"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"
EOF
  chmod 600 "$G/garage.toml"   # garage refuses world-readable secrets
  export GARAGE_CONFIG_FILE="$G/garage.toml"
  nohup "$BIN" server >>"$PEERS_RUN/s3.log" 2>&1 </dev/null &
  PID=$!; echo "$PID" > "$PIDFILE"
  wait_ready "$PID"
  NODE=""
  for _ in $(seq 1 50); do NODE=$("$BIN" node id -q 2>/dev/null | cut -d@ -f1) && [[ -n $NODE ]] && break; sleep 0.2; done
  [[ -n $NODE ]] || { log "garage node id failed"; kill "$PID"; exit 1; }
  S3_ACCESS_KEY="GK$(printf %s "$S3_ACCESS_KEY" | sha256sum | cut -c1-24)"
  S3_SECRET_KEY=$(printf %s "$S3_SECRET_KEY" | sha256sum | cut -c1-64)
  { "$BIN" layout assign -z dc1 -c 1G "$NODE" && "$BIN" layout apply --version 1 &&
    "$BIN" key import --yes -n test-peer "$S3_ACCESS_KEY" "$S3_SECRET_KEY" &&
    "$BIN" key allow --create-bucket "$S3_ACCESS_KEY"; } >>"$PEERS_RUN/s3.log" 2>&1 \
    || { log "garage setup failed, see $PEERS_RUN/s3.log"; kill "$PID"; exit 1; }
  ;;
moto)
  VENV="$PEERS_HOME/venv-s3"
  if [[ ! -x $VENV/bin/moto_server ]]; then
    log "installing moto[server] from PyPI"
    [[ -x $VENV/bin/pip ]] || python3 -m venv "$VENV" >&2
    timeout "$INSTALL_TIMEOUT" "$VENV/bin/pip" install -q --disable-pip-version-check \
      'moto[server]>=5,<6' boto3 >&2
  fi
  INITIAL_NO_AUTH_ACTION_COUNT=4 nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" \
    >>"$PEERS_RUN/s3.log" 2>&1 </dev/null &
  PID=$!; echo "$PID" > "$PIDFILE"
  wait_ready "$PID"
  # 4 unauthenticated IAM calls: user, policy, attach, access key. Afterwards
  # every request must be signed with that key.
  S3_SECRET_KEY=$(S3_PORT=$S3_PORT timeout 60 "$VENV/bin/python" - <<'PY'
import os, boto3, json
iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{os.environ['S3_PORT']}",
                   region_name="us-east-1", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="peer")
arn = iam.create_policy(PolicyName="all", PolicyDocument=json.dumps({"Version": "2012-10-17",
      "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
iam.attach_user_policy(UserName="peer", PolicyArn=arn)
k = iam.create_access_key(UserName="peer")["AccessKey"]
print(k["AccessKeyId"], k["SecretAccessKey"])
PY
)
  read -r S3_ACCESS_KEY S3_SECRET_KEY <<<"$S3_SECRET_KEY"
  ;;
*) log "unknown S3_IMPL=$S3_IMPL (s3s|garage|moto)"; exit 2 ;;
esac

cat > "$PEERS_RUN/s3.env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$S3_PORT
AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
AWS_REGION=$S3_REGION
AWS_EC2_METADATA_DISABLED=true
EOF
log "ready ($S3_IMPL): http://127.0.0.1:$S3_PORT key=$S3_ACCESS_KEY (pid $PID; env in $PEERS_RUN/s3.env)"
echo "$PID"
