#!/usr/bin/env bash
# The HEC peer over HTTPS (a second Tenzir on 127.0.0.1:18089 with a self-signed cert for
# localhost/127.0.0.1); see start-hec.sh. Files: $PEERS_RUN/hec-tls.{pid,log,env}.
HEC_TLS=1 exec bash "$(dirname "$0")/start-hec.sh"
