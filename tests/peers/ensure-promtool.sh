#!/usr/bin/env bash
# promtool (from Debian's `prometheus` package), for checking the /metrics exposition.
# Installs it with apt when it is missing (needs root, as the rsyslog peer does). The
# package ships a prometheus service; it is not started here.
# stdout: the path of promtool.
set -euo pipefail
if ! command -v promtool >/dev/null; then
  echo "[ensure-promtool] installing Debian's prometheus package for promtool" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends prometheus >&2 \
    || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends prometheus >&2; }
fi
command -v promtool
