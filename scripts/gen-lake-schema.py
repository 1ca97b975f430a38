#!/usr/bin/env python3
"""Generate sinks/security-lake/schema/ocsf-1.1.0.json, the OCSF data the Security Lake
sink builds its Parquet schemas from.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install ocsf-json-schema==1.2.0
    UPDATE_LAKE_SCHEMA=1 cargo test --test conformance lake   # emitted-1.1.0.json
    /tmp/v/bin/python scripts/gen-lake-schema.py > sinks/security-lake/schema/ocsf-1.1.0.json

The compiled OCSF 1.1.0 schema comes from PyPI `ocsf-json-schema`. Kept, for each class the
normalizer emits: every scalar attribute (under the profiles it declares), and of OCSF's
objects those the normalizer fills in any class (emitted-1.1.0.json, written by the
conformance suite from every event it checks), each with all its scalar attributes, nested at most DEPTH
levels (an object at the last level is JSON text). `unmapped` and `json_t` attributes are
JSON text. Attributes are [name, type, is_array] plus, for type "object", the list of the
object's attributes; type is boolean, integer, long, float, string, json or object.
"""
import json
import os
import sys

from ocsf_json_schema import get_ocsf_schema

VERSION = "1.1.0"
CLASSES = [3001, 3002, 3005, 3006, 6003, 4001, 4007]  # src/normalize/classify.rs, Class::uid
PROFILES = {"host", "security_control"}  # what metadata.profiles may name in 1.1.0
DEPTH = 3  # schema.rs DEPTH: objects nest this deep, deeper ones are JSON strings
EMITTED = os.path.join(os.path.dirname(__file__), "..", "sinks", "security-lake", "schema", "emitted-1.1.0.json")

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


def tree(attrs, emitted, at, depth):
    """The attributes of one object (or class) at path `at`, `depth` levels down."""
    out = []
    for name, a in sorted(attrs.items()):
        if a.get("profile") and a["profile"] not in PROFILES:
            continue
        kind = base(a["type"])
        path = f"{at}.{name}" if at else name
        entry = [name, kind, bool(a.get("is_array"))]
        if kind == "object":
            obj = a.get("object_type")
            if obj == "object":  # `unmapped` and other free-form objects
                entry[1] = "json"
            elif path not in emitted:
                continue  # an object the normalizer never fills: no columns
            elif depth == DEPTH:
                entry[1] = "json"
            else:
                children = export["objects"][obj]["attributes"]
                entry.append(tree(children, emitted, path, depth + 1))
        out.append(entry)
    return out


# The objects any class emits, for every class: a shape the conformance inputs reach in
# one class only (a web connection's user organisation) may reach another in production.
with open(EMITTED) as f:
    emitted = set().union(*json.load(f).values())

by_uid = {c["uid"]: c for c in export["classes"].values()}
classes = {}
for uid in CLASSES:
    c = by_uid[uid]
    classes[str(uid)] = {
        "name": c["name"],
        "caption": c["caption"],
        "attributes": tree(c["attributes"], emitted, "", 1),
    }

json.dump(
    {
        "ocsf_version": export["version"],
        "generated_by": "scripts/gen-lake-schema.py from PyPI ocsf-json-schema 1.2.0",
        "profiles": sorted(PROFILES),
        "depth": DEPTH,
        "classes": classes,
    },
    sys.stdout,
    separators=(",", ":"),
)
sys.stdout.write("\n")
