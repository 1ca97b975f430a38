#!/usr/bin/env bash
# A venv with what reads a Security Lake layout back in the tests (tests/lake/check.py):
# pyarrow (every Parquet file), DuckDB (the prefix as one table, as Athena would) and
# jsonschema (OCSF 1.1.0), from PyPI at pinned versions.
#
#   scripts/lake-check-venv.sh OUT_DIR     -> OUT_DIR/venv/bin/python
#
# Re-running is cheap when OUT_DIR/READY names the same versions.
set -euo pipefail

OUT=${1:?usage: $0 OUT_DIR}
PYARROW_VERSION=26.0.1
DUCKDB_VERSION=2.0.1
JSONSCHEMA_VERSION=4.26.0
STAMP="pyarrow $PYARROW_VERSION, duckdb $DUCKDB_VERSION, jsonschema $JSONSCHEMA_VERSION"
if [[ -f "$OUT/READY" ]] && [[ "$(cat "$OUT/READY")" == "$STAMP" ]]; then
    exit 0
fi
mkdir -p "$OUT"
rm -f "$OUT/READY"
[[ -x "$OUT/venv/bin/python" ]] || python3 -m venv "$OUT/venv"
"$OUT/venv/bin/pip" install --quiet --disable-pip-version-check \
    "pyarrow==$PYARROW_VERSION" "duckdb==$DUCKDB_VERSION" "jsonschema==$JSONSCHEMA_VERSION"
echo "$STAMP" > "$OUT/READY"
