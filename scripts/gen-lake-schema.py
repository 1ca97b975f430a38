#!/usr/bin/env python3
"""Generate sinks/security-lake/schema/ocsf-1.1.0.json, the OCSF data the Security Lake
sink builds its Parquet schemas from.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install ocsf-json-schema==1.2.0
    /tmp/v/bin/python scripts/gen-lake-schema.py > sinks/security-lake/schema/ocsf-1.1.0.json

The compiled OCSF 1.1.0 schema comes from PyPI `ocsf-json-schema` (the export Amazon
Security Lake's version of OCSF is published as). Kept: the classes the normalizer emits,
their attributes without the profiles it never declares, and the objects reachable from
them within the sink's nesting depth. Attributes are [name, type, is_array, object]: type
is the base type (boolean, integer, long, float, string, json, timestamp, object), object
the object's name when type is object. The sink turns this into Arrow schemas
(`schema.rs`); regenerate only when the normalizer emits another class or profile.
"""
import json
import sys

from ocsf_json_schema import get_ocsf_schema

VERSION = "1.1.0"
CLASSES = [3001, 3002, 3005, 3006, 6003, 4001, 4007]  # src/normalize/classify.rs, Class::uid
PROFILES = {"host", "security_control"}  # what metadata.profiles may name in 1.1.0
DEPTH = 3  # schema.rs DEPTH: objects nest this deep, deeper ones are JSON strings

export = get_ocsf_schema(version=VERSION)
types = export["types"]


def base(t):
    """The primitive a type is made of: port_t is an integer_t, uuid_t a string_t."""
    while t in types and types[t].get("type") and types[t]["type"] != t:
        t = types[t]["type"]
    return {
        "boolean_t": "boolean",
        "integer_t": "integer",
        "long_t": "long",
        "float_t": "float",
        "timestamp_t": "timestamp",
        "json_t": "json",
        "object_t": "object",
    }.get(t, "string")


def attributes(attrs):
    out = []
    for name, a in sorted(attrs.items()):
        if a.get("profile") and a["profile"] not in PROFILES:
            continue
        kind = base(a["type"])
        obj = a.get("object_type") if kind == "object" else None
        if kind == "object" and obj == "object":  # `unmapped` and other free-form objects
            kind, obj = "json", None
        out.append([name, kind, bool(a.get("is_array")), obj])
    return out


classes, objects = {}, {}


def reach(attrs, depth):
    for name, kind, _, obj in attrs:
        if kind == "object" and depth < DEPTH:
            if obj not in objects:
                objects[obj] = attributes(export["objects"][obj]["attributes"])
            reach(objects[obj], depth + 1)


by_uid = {c["uid"]: c for c in export["classes"].values()}
for uid in CLASSES:
    c = by_uid[uid]
    attrs = attributes(c["attributes"])
    classes[str(uid)] = {"name": c["name"], "caption": c["caption"], "attributes": attrs}
    reach(attrs, 1)

json.dump(
    {
        "ocsf_version": export["version"],
        "generated_by": "scripts/gen-lake-schema.py from PyPI ocsf-json-schema 1.2.0",
        "profiles": sorted(PROFILES),
        "depth": DEPTH,
        "classes": classes,
        "objects": dict(sorted(objects.items())),
    },
    sys.stdout,
    separators=(",", ":"),
)
sys.stdout.write("\n")
