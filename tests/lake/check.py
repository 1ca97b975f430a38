"""Read a Security Lake layout back as its readers would, and report what is there.

    python check.py ROOT SCHEMAS > report.json

ROOT is a directory holding the bucket's objects at their keys (the test downloads them);
SCHEMAS the OCSF JSON Schemas of scripts/conformance-schemas.sh. Everything is read with
pyarrow and DuckDB, independent of the shipper's own Parquet code, and every row is
turned back into OCSF JSON (columns whose field metadata says `ocsf.encoding: json` are
parsed back) and validated against OCSF 1.1.0 with the profiles it declares.

The report is facts, not verdicts: the Rust test decides.
"""
import glob
import json
import os
import sys

import duckdb
import jsonschema
import pyarrow.parquet as pq

root, schemas = sys.argv[1], sys.argv[2]


def is_json(field):
    meta = field.metadata or {}
    return meta.get(b"ocsf.encoding") == b"json"


def restore(value, arrow_type, json_text):
    """A pyarrow Python value as the OCSF JSON it came from: nulls left out, JSON text parsed."""
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_list(arrow_type):
        item = arrow_type.value_field
        return [restore(v, item.type, json_text or is_json(item)) for v in value if v is not None]
    if json_text:
        return json.loads(value)
    if pa.types.is_struct(arrow_type):
        out = {}
        for i in range(arrow_type.num_fields):
            f = arrow_type.field(i)
            v = restore(value.get(f.name), f.type, is_json(f))
            if v is not None:
                out[f.name] = v
        return out
    return value


validators = {}


def validator(version, profiles, class_name):
    suffix = "." + "+".join(profiles) if profiles else ""
    path = os.path.join(schemas, "ocsf", version + suffix, class_name + ".schema.json")
    if path not in validators:
        with open(path) as f:
            schema = json.load(f)
        validators[path] = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
    return validators[path]


CLASS_NAMES = {
    3001: "account_change", 3002: "authentication", 3005: "user_access",
    3006: "group_management", 6003: "api_activity", 4001: "network_activity",
    4007: "ssh_activity",
}

objects = []
schemas_by_source = {}
for path in sorted(glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True)):
    key = os.path.relpath(path, root)
    table = pq.read_table(path)
    source = key.split("/region=")[0]
    schemas_by_source.setdefault(source, set()).add(table.schema.to_string(show_schema_metadata=False))
    rows = []
    invalid = []
    for raw in table.to_pylist():
        event = {}
        for f in table.schema:
            v = restore(raw.get(f.name), f.type, is_json(f))
            if v is not None:
                event[f.name] = v
        profiles = event.get("metadata", {}).get("profiles", [])
        name = CLASS_NAMES.get(event.get("class_uid"))
        errors = (
            [f"{'/'.join(map(str, e.path))}: {e.message[:200]}"
             for e in validator("1.1.0", sorted(profiles), name).iter_errors(event)]
            if name else [f"unknown class {event.get('class_uid')}"]
        )
        if errors:
            invalid.append(errors[:3])
        rows.append(event)
    meta = pq.read_metadata(path)
    objects.append({
        "key": key,
        "rows": rows,
        "invalid": invalid,
        "row_groups": meta.num_row_groups,
        "codec": meta.row_group(0).column(0).compression if meta.num_row_groups else None,
    })

# As Athena would: each custom source's prefix is one table, partitioned by the key's
# region=/accountId=/eventDay= directories; here every source at once, by name.
counts = []
if objects:
    con = duckdb.connect()
    pattern = os.path.join(root, "ext", "**", "*.parquet")
    counts = con.execute(
        f"""SELECT class_uid, eventDay, region, accountId, count(*) AS n
            FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)
            GROUP BY ALL ORDER BY ALL"""
    ).fetchall()

json.dump(
    {
        "objects": objects,
        "schemas_per_source": {s: len(v) for s, v in schemas_by_source.items()},
        "counts": [
            {"class_uid": c, "eventDay": str(d), "region": r, "accountId": str(a), "n": n}
            for c, d, r, a, n in counts
        ],
    },
    sys.stdout,
)
