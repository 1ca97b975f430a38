"""The detection pack's one tool: check the rules, generate the committed queries, and run
the rules over the shipper's own output with a local engine.

    python pack.py check                       sigma check, every rule
    python pack.py generate OUT_DIR            the queries for Splunk and Elastic
    python pack.py match FORMAT EVENTS OUT     run every rule over an NDJSON file of the
                                               shipper's ECS or OCSF events (SQLite)

Every conversion starts from the rule files and fresh pipelines: pySigma rewrites a rule's
fields in place, so a rule converted once cannot be converted for a second target.
"""

import json
import sqlite3
import sys
from pathlib import Path

from sigma.backends.elasticsearch import ESQLBackend, LuceneBackend
from sigma.backends.splunk import SplunkBackend
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.data import mitre_attack, mitre_d3fend
from sigma.processing.pipeline import ProcessingPipeline

PACK = Path(__file__).resolve().parent.parent
RULES = PACK / "rules"
PIPELINES = PACK / "pipelines"

# The rule fields whose values are JSON arrays in the shipper's output (in Coder's names).
# Splunk names them `field{}` (pipelines/splunk_multivalued.yml); ES|QL compares a
# multi-valued field to a value as null (the ES|QL "multivalued fields" reference: functions
# and operators return null for them), so a rule that tests one is not generated for ES|QL;
# SQLite has no arrays (see `match`).
MULTIVALUED = {
    "user.roles",
    "diff.rbac_roles.old",
    "diff.rbac_roles.new",
    "diff.site_permissions.new.resource_type",
}

# Elastic's data streams for the shipper's ECS events (logs-coder.audit-default, ...): the
# index pattern the ES|QL queries read and the Kibana rules search.
ELASTIC_INDEX = "logs-coder.*-*"

# Each committed output: file, backend, the format's pipeline, pipelines after it, and the
# output: "text" (every rule's query under a comment naming it), "savedsearches" (Splunk's
# savedsearches.conf, for an app's default/ directory) or "kibana" (Kibana detection rules
# as NDJSON, for Security > Rules > Import).
TARGETS = [
    ("splunk_ecs.spl", SplunkBackend, "ecs", ["splunk_multivalued.yml"], "text"),
    ("splunk_ecs_savedsearches.conf", SplunkBackend, "ecs", ["splunk_multivalued.yml"], "savedsearches"),
    ("splunk_ocsf.spl", SplunkBackend, "ocsf", ["splunk_multivalued.yml"], "text"),
    ("splunk_ocsf_savedsearches.conf", SplunkBackend, "ocsf", ["splunk_multivalued.yml"], "savedsearches"),
    ("elastic_ecs.esql", ESQLBackend, "ecs", [], "text"),
    ("elastic_ecs_esql_rules.ndjson", ESQLBackend, "ecs", [], "kibana"),
    ("elastic_ecs.lucene", LuceneBackend, "ecs", [], "text"),
    ("elastic_ecs_lucene_rules.ndjson", LuceneBackend, "ecs", [], "kibana"),
]


def offline_mitre_data():
    """Point pySigma's ATT&CK and D3FEND loaders at the files the venv script wrote, with
    their cache in the venv too: a cache in ~/.cache/pysigma filled from the internet by
    another tool would otherwise win, and the checks would not be the pinned ones."""
    mitre = Path(sys.prefix) / "mitre"
    for module, data in [(mitre_attack, "attack.json"), (mitre_d3fend, "d3fend.json")]:
        module.set_cache_dir(str(mitre / "cache" / data))
        module.set_url(str(mitre / data))


def rule_files():
    return sorted(str(p) for p in RULES.rglob("*.yml"))


def pipeline(fmt, extra=()):
    """The format's pipeline (coder_ecs.yml or coder_ocsf.yml) and any `extra` ones."""
    p = ProcessingPipeline.from_yaml((PIPELINES / f"coder_{fmt}.yml").read_text())
    for name in extra:
        p = p + ProcessingPipeline.from_yaml((PIPELINES / name).read_text())
    return p


def output_rules():
    """The names of the rules that are alerts: all but the bases of correlations."""
    collection = SigmaCollection.load_ruleset(rule_files())
    return [r.name for r in collection.rules if r._output]


def fresh(name):
    """A new collection holding rule `name` and the rules it correlates."""
    collection = SigmaCollection.load_ruleset(rule_files())
    rule = collection[name]
    keep = {name}
    if isinstance(rule, SigmaCorrelationRule):
        keep |= {r.rule.name for r in rule.rules}
    return SigmaCollection([r for r in collection.rules if r.name in keep])


def compared_fields(rule):
    """The fields a rule's detections compare with a value (not only test for presence),
    in Coder's names."""
    fields = set()
    for detection in rule.detection.detections.values():
        stack = [detection]
        while stack:
            item = stack.pop()
            if hasattr(item, "detection_items"):
                stack.extend(item.detection_items)
            elif getattr(item, "field", None) and not all(
                type(v).__name__ == "SigmaExists" for v in item.value
            ):
                fields.add(item.field)
    return fields


def why_not(backend, rule):
    """Why `backend` cannot express `rule` faithfully, or None."""
    if backend is ESQLBackend and not isinstance(rule, SigmaCorrelationRule):
        multi = sorted(compared_fields(rule) & MULTIVALUED)
        if multi:
            return f"compares multi-valued {', '.join(multi)}, which ES|QL does not match"
    return None


def backend_for(backend, fmt, extra):
    """A backend with the format's pipelines, reading the shipper's Elastic data streams."""
    p = pipeline(fmt, extra)
    if backend is ESQLBackend:
        p = p + ProcessingPipeline.from_dict({
            "name": "the shipper's data streams",
            "priority": 100,
            "transformations": [{"type": "set_state", "key": "index", "val": ELASTIC_INDEX}],
        })
    if backend is LuceneBackend:
        return backend(p, index_names=[ELASTIC_INDEX])
    return backend(p)


def convert(name, backend, fmt, extra, output):
    """Rule `name` in one target's output, or why the target cannot express it."""
    collection = fresh(name)
    reason = why_not(backend, collection[name])
    if reason is not None:
        return None, reason
    output_format = {"text": "default", "savedsearches": "savedsearches", "kibana": "siem_rule_ndjson"}
    try:
        return backend_for(backend, fmt, extra).convert(collection, output_format[output]), None
    except Exception as e:  # the backend's own words: this target lacks a feature
        return None, str(e).split("\n")[0]


def generate(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = output_rules()
    for file, backend, fmt, extra, output in TARGETS:
        made = f"pipelines/coder_{fmt}.yml{''.join(' + ' + e for e in extra)}"
        lines = []
        if output != "kibana":
            lines += [f"# Generated by detections/tools/pack.py from detections/rules with", f"# {made}. Do not edit.", ""]
        default_stanza = None
        for name in names:
            converted, reason = convert(name, backend, fmt, extra, output)
            rule = fresh(name)[name]
            if output == "kibana":
                for r in converted or []:
                    # The rules are this project's, under its licence; imported disabled, to
                    # be enabled once their index and false positives are reviewed.
                    r = {**r, "license": "Apache-2.0", "enabled": False}
                    lines.append(json.dumps(r, sort_keys=True))
                continue
            lines.append(f"# {name}: {rule.title} (level {rule.level}, id {rule.id})")
            if reason is not None:
                lines += [f"# not generated: {reason}", ""]
            elif output == "savedsearches":
                # Each conversion starts with the same [default] stanza: keep the first.
                head, _, stanza = converted.strip().partition("\n\n[")
                if default_stanza is None:
                    default_stanza = head
                    lines.insert(3, head + "\n")
                lines += ["[" + stanza, ""]
            else:
                lines += [str(q) for q in converted] + [""]
        (out / file).write_text("\n".join(lines) + ("\n" if output == "kibana" else ""))


def flatten(doc):
    """One row of the SQLite table: dotted paths to scalars, as Elasticsearch flattens a
    document. An array (of values, or of objects whose fields become arrays) is stored as
    its JSON text, an empty one as null (Elasticsearch indexes no value for it)."""
    row = {}

    def walk(value, path, in_array):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else k, in_array)
        elif isinstance(value, list):
            for v in value:
                walk(v, path, True)
        elif in_array:
            row.setdefault(path, []).append(value)
        else:
            row[path] = value

    walk(doc, "", False)
    return {k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()}


def load(events_path):
    rows = [flatten(json.loads(line)) for line in open(events_path, encoding="utf-8") if line.strip()]
    columns = sorted({k for r in rows for k in r})
    db = sqlite3.connect(":memory:")
    quoted = ", ".join(f'"{c}"' for c in columns)
    db.execute(f"CREATE TABLE logs ({quoted})")
    marks = ", ".join("?" for _ in columns)
    db.executemany(
        f"INSERT INTO logs ({quoted}) VALUES ({marks})",
        [[r.get(c) for c in columns] for r in rows],
    )
    return db


# SQLite has no arrays: `flatten` stores one as JSON text, and this turns a value compared
# with a multi-valued field into a match on one quoted element of that text, which is what
# Elasticsearch's and Splunk's "any value equals" means. Applied before the format's mapping.
LOCAL_MULTIVALUED = {
    "name": "local engine: multi-valued fields as JSON text",
    "priority": 10,
    "transformations": [{
        "id": "json_array_element",
        "type": "replace_string",
        "regex": "^(.*)$",
        "replacement": '*"\\1"*',
        "field_name_conditions": [{"type": "include_fields", "fields": sorted(MULTIVALUED)}],
    }],
}

# Where each format keeps the event's time and id.
TIME_AND_ID = {
    "ecs": ("@timestamp", "iso", "event.id"),
    "ocsf": ("time", "unix_ms", "metadata.uid"),
}


def match(fmt, events_path, out_path):
    """Run every rule over the events and write, per rule, the query and the ids of the
    events it matched: once per matching row, so a duplicated event shows twice. A
    correlation gives the distinct events of the windows that fired, and their groups."""
    db = load(events_path)
    time_field, time_format, id_field = TIME_AND_ID[fmt]
    result = {}
    for name in output_rules():
        p = ProcessingPipeline.from_dict(LOCAL_MULTIVALUED) + pipeline(fmt)
        backend = sqliteBackend(p, timestamp_field=time_field, timestamp_format=time_format)
        collection = fresh(name)
        (query,) = backend.convert(collection)
        cursor = db.execute(query)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
        if isinstance(collection[name], SigmaCorrelationRule):
            # An alert per window that fired; its evidence is the rows of that window.
            rowids = {int(str(e).split(":")[-1]) for r in rows for e in json.loads(r["event_ids"])}
            ids = sorted(
                db.execute(f'SELECT "{id_field}" FROM logs WHERE rowid = ?', (rowid,)).fetchone()[0]
                for rowid in rowids
            )
            groups = sorted({v for r in rows for v in json.loads(r["group_keys"]).values()})
            result[name] = {"ids": ids, "groups": groups, "query": query}
        else:
            result[name] = {"ids": [r[id_field] for r in rows], "query": query}
    Path(out_path).write_text(json.dumps(result, indent=1))


def check(rules=RULES):
    """`sigma check` over the rules (or another directory), failing on any issue."""
    from sigma.cli.main import main

    sys.argv = ["sigma", "check", "--fail-on-issues", "--fail-on-error", str(rules)]
    main()


if __name__ == "__main__":
    offline_mitre_data()
    command, *args = sys.argv[1:]
    {"check": check, "generate": generate, "match": match}[command](*args)
