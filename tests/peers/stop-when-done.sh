#!/usr/bin/env bash
# Stop the test peers a test run started, once the run is over.
#
# tests/common/peers.rs starts a peer that is not running and marks it with
# $PEERS_RUN/NAME.started-by, holding the pid of the run (the `cargo test` process, the
# test binary's parent). It starts this script once per run, detached, with that pid. When
# the process is gone, each peer marked with it is stopped by stop-peers.sh.
#
# A peer without the mark is never touched: one started by hand, by .ci/run, by an earlier
# run with KEEP_TEST_PEERS=1, or one that was already running when the tests began.
# Usage: stop-when-done.sh OWNER_PID (started by the tests; POLL seconds between looks, 1)
set -uo pipefail
owner=${1:?usage: stop-when-done.sh OWNER_PID}
PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
POLL=${POLL:-1}
here=$(dirname "$0")
# A zombie (exited, not yet reaped by its parent) is gone.
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; }
while alive "$owner"; do sleep "$POLL"; done
for mark in "$PEERS_RUN"/*.started-by; do
  [[ -e $mark && $(cat "$mark") == "$owner" ]] || continue
  name=$(basename "$mark" .started-by)
  # The TLS broker has a proxy in front of it with a pid file of its own.
  names=$name; [[ $name == kafka-tls ]] && names="kafka-tls kafka-tls-proxy"
  # shellcheck disable=SC2086
  PEERS_RUN=$PEERS_RUN bash "$here/stop-peers.sh" $names
  rm -f "$mark"
done
rm -f "$PEERS_RUN/stop-when-done-$owner.pid"
