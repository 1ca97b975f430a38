#!/usr/bin/env bash
# A venv with the detection pack's tools (detections/tools/pack.py), from PyPI at pinned
# versions: pySigma and sigma-cli, the Splunk and Elasticsearch backends that generate the
# committed queries, and the SQLite backend the tests run the rules with. pySigma downloads
# MITRE ATT&CK and D3FEND from the internet for its tag checks; OUT/venv/mitre/ holds the
# same data, written from pySigma 0.11.23's wheel (detections/tools/mitre_data.py).
#
#   scripts/sigma-venv.sh OUT_DIR     -> OUT_DIR/venv/bin/python
#
# Re-running is cheap when OUT_DIR/READY names the same versions.
set -euo pipefail

OUT=${1:?usage: $0 OUT_DIR}
PYSIGMA_VERSION=1.5.1
SIGMA_CLI_VERSION=3.1.0
SPLUNK_VERSION=2.1.0
ELASTICSEARCH_VERSION=2.1.1
SQLITE_VERSION=2.0.0
MITRE_FROM_PYSIGMA=0.11.23
STAMP="pysigma $PYSIGMA_VERSION, sigma-cli $SIGMA_CLI_VERSION, splunk $SPLUNK_VERSION, elasticsearch $ELASTICSEARCH_VERSION, sqlite $SQLITE_VERSION, mitre from $MITRE_FROM_PYSIGMA"
if [[ -f "$OUT/READY" ]] && [[ "$(cat "$OUT/READY")" == "$STAMP" ]]; then
    exit 0
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/READY"
[[ -x "$OUT/venv/bin/python" ]] || python3 -m venv "$OUT/venv"
pip() { "$OUT/venv/bin/pip" --quiet --disable-pip-version-check "$@"; }
pip install "pysigma==$PYSIGMA_VERSION" "sigma-cli==$SIGMA_CLI_VERSION" \
    "pysigma-backend-splunk==$SPLUNK_VERSION" \
    "pysigma-backend-elasticsearch==$ELASTICSEARCH_VERSION" \
    "pysigma-backend-sqlite==$SQLITE_VERSION"

wheel=$(mktemp -d)
trap 'rm -rf "$wheel"' EXIT
pip download --no-deps --dest "$wheel" "pysigma==$MITRE_FROM_PYSIGMA"
"$OUT/venv/bin/python" -m zipfile -e "$wheel"/pysigma-*.whl "$wheel/x"
mkdir -p "$OUT/venv/mitre"
"$OUT/venv/bin/python" "$(dirname "$0")/../detections/tools/mitre_data.py" \
    "$wheel/x/sigma/data" "$OUT/venv/mitre/attack.json" "$OUT/venv/mitre/d3fend.json"
echo "$STAMP" > "$OUT/READY"
