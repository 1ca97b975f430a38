#!/usr/bin/env bash
# The MaxMind-format databases the GeoIP tests read, written by tests/geoip/write_dbs.py
# with PyPI `mmdb-writer` (made-up records in the GeoIP2-City and GeoLite2-ASN layouts; no
# MaxMind data, so nothing whose licence forbids committing or shipping it).
#
#   scripts/geoip-test-dbs.sh OUT_DIR   -> OUT_DIR/{city,city-v2,asn,corrupt}.mmdb
#
# Re-running is cheap when OUT_DIR/READY names the same versions and script.
set -euo pipefail

OUT=${1:?usage: $0 OUT_DIR}
MMDB_WRITER_VERSION=0.2.7
NETADDR_VERSION=1.3.0
HERE=$(cd "$(dirname "$0")/.." && pwd)
WRITER="$HERE/tests/geoip/write_dbs.py"
STAMP="mmdb-writer $MMDB_WRITER_VERSION, netaddr $NETADDR_VERSION, $(sha256sum "$WRITER" | cut -c1-16)"
if [[ -f "$OUT/READY" ]] && [[ "$(cat "$OUT/READY")" == "$STAMP" ]]; then
    exit 0
fi
mkdir -p "$OUT"
rm -f "$OUT/READY"
[[ -x "$OUT/venv/bin/python" ]] || python3 -m venv "$OUT/venv"
"$OUT/venv/bin/pip" install --quiet --disable-pip-version-check \
    "mmdb-writer==$MMDB_WRITER_VERSION" "netaddr==$NETADDR_VERSION"
"$OUT/venv/bin/python" "$WRITER" "$OUT"
echo "$STAMP" > "$OUT/READY"
