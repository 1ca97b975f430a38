#!/usr/bin/env bash
# Start a real syslog receiver on 127.0.0.1: Debian's rsyslog 8.2302 with rsyslog-gnutls,
# in the foreground (no systemd, no /dev/log, no kernel log).
#   TCP 127.0.0.1:$SYSLOG_TCP_PORT  imtcp: RFC 6587 octet counting AND LF framing
#   UDP 127.0.0.1:$SYSLOG_UDP_PORT  imudp
#   TLS 127.0.0.1:$SYSLOG_TLS_PORT  imtcp + gtls (RFC 5425), octet counting
# Received messages are written verbatim (%rawmsg%, the octet count stripped), one per
# line, to $PEERS_RUN/syslog/out/{tcp,udp,tls}.log. rsyslog escapes control characters
# (an LF inside a message shows up as #012, a tab as #011).
# maxMessageSize is 256k and imtcp maxFrameSize 1 MiB (rsyslog's defaults, 8k and 200000,
# would cut the 200 KB test event over TCP, or split it as "octet stuffing").
# The server certificate is signed by a throwaway CA: $PEERS_RUN/syslog/tls/ca.pem.
# apt installs rsyslog rsyslog-gnutls when missing (needs root; ~10 s).
# stdout: the daemon PID only (last line). Everything else goes to stderr.
# Files:  $PEERS_RUN/syslog.pid, syslog.log, syslog.env (SYSLOG_TCP, SYSLOG_UDP, SYSLOG_TLS,
#         SYSLOG_CA_FILE, SYSLOG_OUT_DIR)
# Stop:   stop-peers.sh syslog
set -euo pipefail

PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
SYSLOG_TCP_PORT=${SYSLOG_TCP_PORT:-10514}
SYSLOG_UDP_PORT=${SYSLOG_UDP_PORT:-10514}
SYSLOG_TLS_PORT=${SYSLOG_TLS_PORT:-10601}
READY_TIMEOUT=${READY_TIMEOUT:-30}
INSTALL_TIMEOUT=${INSTALL_TIMEOUT:-600}

log() { echo "[start-syslog] $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
apt_install() { # retries once after `apt-get update` (fresh machines have no lists)
  export DEBIAN_FRONTEND=noninteractive
  timeout "$INSTALL_TIMEOUT" apt-get install -y -qq --no-install-recommends "$@" >&2 \
    || { timeout "$INSTALL_TIMEOUT" apt-get update -qq >&2 &&
         timeout "$INSTALL_TIMEOUT" apt-get install -y -qq --no-install-recommends "$@" >&2; }
}
D="$PEERS_RUN/syslog"
mkdir -p "$D/out" "$D/work" "$D/tls"

PIDFILE="$PEERS_RUN/syslog.pid"
if [[ -s $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && port_open "$SYSLOG_TCP_PORT"; then
  log "already running"; cat "$PIDFILE"; exit 0
fi
for p in "$SYSLOG_TCP_PORT" "$SYSLOG_TLS_PORT"; do
  if port_open "$p"; then log "port $p is taken by another process"; exit 1; fi
done

if [[ ! -s $D/tls/server.pem ]]; then
  ( cd "$D/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=coder-audit-shipper-test-ca" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile san.cnf -out server.pem 2>/dev/null )
fi

if ! command -v rsyslogd >/dev/null || [[ ! -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ]]; then
  log "installing rsyslog rsyslog-gnutls (apt)"
  apt_install rsyslog rsyslog-gnutls
fi
cat > "$D/rsyslog.conf" <<CONF
global(workDirectory="$D/work" maxMessageSize="256k"
       defaultNetstreamDriverCAFile="$D/tls/ca.pem"
       defaultNetstreamDriverCertFile="$D/tls/server.pem"
       defaultNetstreamDriverKeyFile="$D/tls/server.key")
module(load="imtcp" maxSessions="500" maxFrameSize="1048576")
module(load="imudp")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="tcp") { action(type="omfile" file="$D/out/tcp.log" template="raw") }
ruleset(name="udp") { action(type="omfile" file="$D/out/udp.log" template="raw") }
ruleset(name="tls") { action(type="omfile" file="$D/out/tls.log" template="raw") }
input(type="imtcp" address="127.0.0.1" port="$SYSLOG_TCP_PORT" ruleset="tcp")
input(type="imudp" address="127.0.0.1" port="$SYSLOG_UDP_PORT" ruleset="udp" rcvbufSize="4m")
input(type="imtcp" address="127.0.0.1" port="$SYSLOG_TLS_PORT" ruleset="tls" name="tls-gtls"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
CONF
: > "$PEERS_RUN/syslog.log"
rsyslogd -N1 -f "$D/rsyslog.conf" >&2
nohup rsyslogd -n -f "$D/rsyslog.conf" -i "$D/rsyslogd.pid" \
  >>"$PEERS_RUN/syslog.log" 2>&1 </dev/null &
PID=$!
echo "$PID" > "$PIDFILE"

deadline=$((SECONDS + READY_TIMEOUT))
until port_open "$SYSLOG_TCP_PORT" && port_open "$SYSLOG_TLS_PORT"; do
  if ! kill -0 "$PID" 2>/dev/null; then log "daemon exited:"; tail -20 "$PEERS_RUN/syslog.log" >&2; exit 1; fi
  if (( SECONDS >= deadline )); then log "not ready after ${READY_TIMEOUT}s"; kill "$PID"; exit 1; fi
  sleep 0.2
done
cat > "$PEERS_RUN/syslog.env" <<ENV
SYSLOG_TCP=127.0.0.1:$SYSLOG_TCP_PORT
SYSLOG_UDP=127.0.0.1:$SYSLOG_UDP_PORT
SYSLOG_TLS=127.0.0.1:$SYSLOG_TLS_PORT
SYSLOG_CA_FILE=$D/tls/ca.pem
SYSLOG_OUT_DIR=$D/out
ENV
log "ready: tcp/udp :$SYSLOG_TCP_PORT tls :$SYSLOG_TLS_PORT (pid $PID, out $D/out)"
echo "$PID"
