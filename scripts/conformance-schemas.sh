#!/usr/bin/env bash
# Install the upstream schema data the conformance tests validate against, and generate
# what they read. Nothing of it is committed: the schemas are upstream's, fetched from the
# registries at pinned versions.
#
#   scripts/conformance-schemas.sh OUT_DIR
#
# OUT_DIR/
#   ocsf/<version>[.<profile>+...]/<class>.schema.json  JSON Schema draft 2020-12 per class,
#       from PyPI `ocsf-json-schema` (compiled OCSF 1.0-1.8), one directory per profile set
#   ocsf/<version>/captions.json   class, category and enum captions from the same export
#   ecs/ecs_flat.json              npm `@elastic/ecs` EcsFlat: every ECS field, type, allowed values
#   READY                          written last; its presence means the rest is complete
#
# Needs python3 (with venv) and npm, and the PyPI and npm registries. Re-running is cheap
# when OUT_DIR/READY names the same versions and classes (it exits at once).
set -euo pipefail

OUT=${1:?usage: $0 OUT_DIR}
OCSF_JSON_SCHEMA_VERSION=1.2.0
JSONSCHEMA_VERSION=4.26.0
ECS_NPM_VERSION=9.4.0

# READY names what was generated: a directory made for an older class list is made again.
STAMP="ocsf-json-schema $OCSF_JSON_SCHEMA_VERSION, ecs $ECS_NPM_VERSION, classes v2 (+ssh_activity, network_activity), profiles v2 (+security_control)"
if [[ -f "$OUT/READY" ]] && [[ "$(head -n1 "$OUT/READY")" == "$STAMP" ]]; then
    exit 0
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/ocsf" "$OUT/ecs"

echo "conformance schemas: PyPI ocsf-json-schema==$OCSF_JSON_SCHEMA_VERSION" >&2
if [[ ! -x "$OUT/venv/bin/python" ]]; then
    python3 -m venv "$OUT/venv"
fi
"$OUT/venv/bin/pip" install --quiet --disable-pip-version-check \
    "ocsf-json-schema==$OCSF_JSON_SCHEMA_VERSION" "jsonschema==$JSONSCHEMA_VERSION"

"$OUT/venv/bin/python" - "$OUT/ocsf" <<'PY'
import json, os, sys
from ocsf_json_schema import get_ocsf_schema, OcsfJsonSchemaEmbedded

out = sys.argv[1]
classes = ["api_activity", "account_change", "authentication", "user_access", "group_management",
           "ssh_activity", "network_activity"]
profile_sets = [[], ["host"], ["datetime"], ["security_control"], ["host", "security_control"]]
for version in ["1.8.0", "1.1.0"]:
    export = get_ocsf_schema(version=version)
    gen = OcsfJsonSchemaEmbedded(export)
    for profiles in profile_sets:
        d = os.path.join(out, version + ("." + "+".join(profiles) if profiles else ""))
        os.makedirs(d, exist_ok=True)
        for c in classes:
            schema = gen.get_class_schema(class_name=c, profiles=profiles)
            with open(os.path.join(d, c + ".schema.json"), "w") as f:
                json.dump(schema, f, sort_keys=True)
    # Captions: the caption of every *_id value the tests check, per class.
    captions = {}
    for c in classes:
        cls = export["classes"][c]
        attrs = cls["attributes"]
        def enum(name):
            e = attrs.get(name, {}).get("enum") or {}
            return {k: v.get("caption") for k, v in e.items()}
        captions[str(cls["uid"])] = {
            "name": c,
            "caption": cls["caption"],
            "category_uid": cls.get("category_uid"),
            "category_name": cls.get("category_name"),
            "activity_id": enum("activity_id"),
            "type_uid": enum("type_uid"),
            "severity_id": enum("severity_id"),
            "status_id": enum("status_id"),
            "auth_protocol_id": enum("auth_protocol_id"),
        }
    with open(os.path.join(out, version, "captions.json"), "w") as f:
        json.dump(captions, f, sort_keys=True, indent=1)
    print(f"  OCSF {version}: {len(classes)} classes x {len(profile_sets)} profile sets", file=sys.stderr)
PY

echo "conformance schemas: npm @elastic/ecs@$ECS_NPM_VERSION" >&2
mkdir -p "$OUT/npm" "$OUT/ecs"
(cd "$OUT/npm" && [[ -f package.json ]] || echo '{"private": true}' > package.json)
npm install --silent --no-audit --no-fund --prefix "$OUT/npm" "@elastic/ecs@$ECS_NPM_VERSION" >&2
(cd "$OUT/npm" && node -e '
const ecs = require("@elastic/ecs");
if (ecs.EcsVersion !== process.argv[1]) { console.error("expected ECS " + process.argv[1] + ", got " + ecs.EcsVersion); process.exit(1); }
require("fs").writeFileSync(process.argv[2], JSON.stringify({version: ecs.EcsVersion, fields: ecs.EcsFlat}));
console.error("  ECS " + ecs.EcsVersion + ": " + Object.keys(ecs.EcsFlat).length + " fields");
' "$ECS_NPM_VERSION" "$OUT/ecs/ecs_flat.json")

printf '%s\n%s\n' "$STAMP" "$(date -u +%FT%TZ)" > "$OUT/READY"
