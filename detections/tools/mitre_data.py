"""Write the MITRE ATT&CK and D3FEND data pySigma's tag validators read, offline.

pySigma 1.x downloads both on first use (`sigma.data.mitre_attack` from GitHub,
`sigma.data.mitre_d3fend` from d3fend.mitre.org), which a build without internet cannot do.
pySigma 0.11.23, from PyPI like every other tool here, shipped the same tables (ATT&CK 17.0,
D3FEND 0.16.0) as Python data. This writes them in the shapes the 1.x loaders parse:

* ATT&CK as a STIX 2.1 bundle: one `x-mitre-collection` with the version, one
  `x-mitre-tactic` per tactic, one `attack-pattern` per technique with its kill-chain phases
  (`mitre_attack._load_mitre_attack_data`);
* D3FEND as a JSON-LD graph: the ontology's version IRI, one `d3f:DefensiveTactic` per
  tactic, one item with a `d3f:d3fend-id` per technique (`mitre_d3fend._load_mitre_d3fend_data`).

    python mitre_data.py PYSIGMA_0_11_DATA_DIR ATTACK_OUT.json D3FEND_OUT.json
"""

import importlib.util
import json
import sys


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def attack_bundle(m):
    def ref(external_id):
        return [{"source_name": "mitre-attack", "external_id": external_id}]

    objects = [{"type": "x-mitre-collection", "x_mitre_version": m.mitre_attack_version}]
    for tactic_id, shortname in sorted(m.mitre_attack_tactics.items()):
        objects.append({
            "type": "x-mitre-tactic",
            "external_references": ref(tactic_id),
            "x_mitre_shortname": shortname,
        })
    for technique_id, name in sorted(m.mitre_attack_techniques.items()):
        phases = m.mitre_attack_techniques_tactics_mapping.get(technique_id, [])
        objects.append({
            "type": "attack-pattern",
            "external_references": ref(technique_id),
            "name": name,
            "kill_chain_phases": [
                {"kill_chain_name": "mitre-attack", "phase_name": p} for p in phases
            ],
        })
    return {"type": "bundle", "objects": objects}


def d3fend_graph(m):
    graph = [{
        "@type": "owl:Ontology",
        "owl:versionIRI": f"http://d3fend.mitre.org/ontologies/d3fend/{m.mitre_d3fend_version}",
    }]
    for tactic in sorted(m.mitre_d3fend_tactics):
        graph.append({"@type": "d3f:DefensiveTactic", "rdfs:label": tactic})
    for technique_id, name in sorted(m.mitre_d3fend_techniques.items()):
        graph.append({"@type": "owl:Class", "d3f:d3fend-id": technique_id, "rdfs:label": name})
    return {"@graph": graph}


def main(data_dir, attack_out, d3fend_out):
    attack = load(f"{data_dir}/mitre_attack.py", "mitre_attack_0_11")
    d3fend = load(f"{data_dir}/mitre_d3fend.py", "mitre_d3fend_0_11")
    for out, data in [(attack_out, attack_bundle(attack)), (d3fend_out, d3fend_graph(d3fend))]:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(data, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
