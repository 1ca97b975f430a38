#!/usr/bin/env bash
# Requests per minute that `run` sends to a nearly idle Coder, with 1, 3 and 5 file sinks
# and both streams, at default settings (issue 23's measure: today each sink reads Coder by
# itself). Counted by the shipper (`coder_requests_total`, every request: pages, session
# look-ups, licence and permission checks) between two scrapes of /metrics after a warm-up.
#
#   scripts/bench-requests.sh [SECONDS] [SINKS...]     default: 120 s, sinks 1 3 5
#
# The simulator runs with its own rate limit off and one new audit row every 10 s (nearly
# idle), so nothing but the shipper's own budget (coder.max_requests_per_minute, default
# 300) holds requests back; `budget=0` in the output line means the run set it to 0.
# Uses release builds; SKIP_BUILD=1 uses them as they are.
set -euo pipefail
secs=${1:-120}
shift || true
counts=${*:-1 3 5}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q --workspace --bins
token=SimTokenId-s3cretS3cretS3cretS3cr
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
. scripts/lib/sim.sh

# The sum of coder_requests_total's samples whose labels contain $2 (all when empty).
requests() {
  curl -fsS "http://$1/metrics" | awk -v want="$2" '
    /^coder_requests_total\{/ && index($0, want) { s += $NF } END { print s + 0 }'
}

for n in $counts; do
  start_coder_sim "$work/sim$n.out" --rate-limit 0 --rate 0.1
  cfg=$work/run$n.toml
  printf '[server]\nlisten = "127.0.0.1:0"\n[coder]\nurl = "%s"\ntoken = "%s"\nstreams = ["audit", "connection"]\n[checkpoint]\ndir = "%s"\n' \
    "$url" "$token" "$work/state$n" >"$cfg"
  for i in $(seq 1 "$n"); do
    printf '[sinks.s%d]\ntype = "file"\npath = "%s"\n' "$i" "$work/out$n-$i.ndjson" >>"$cfg"
  done
  ./target/release/coder-audit-shipper run --config "$cfg" 2>"$work/run$n.log" &
  shipper=$!
  pids+=("$shipper")
  address=
  for _ in $(seq 1 200); do
    address=$(sed -n 's/.*serving .*address=\([^ ]*\).*/\1/p' "$work/run$n.log" | head -1)
    [ -n "$address" ] && break
    sleep 0.05
  done
  [ -n "$address" ] || { echo "no metrics address" >&2; cat "$work/run$n.log" >&2; exit 1; }
  sleep 15 # warm-up: start-up probes and the first scans
  r0=$(requests "$address" "")
  sleep "$secs"
  r1=$(requests "$address" "")
  by_purpose=""
  for p in live catch_up sessions late probe control; do
    by_purpose+=" $p=$(requests "$address" "purpose=\"$p\"")"
  done
  per_min=$(echo "($r1 - $r0) * 60 / $secs" | bc -l)
  printf 'sinks=%d streams=2 requests_per_minute=%.1f per_sink=%.1f (totals at the end:%s)\n' \
    "$n" "$per_min" "$(echo "$per_min / $n" | bc -l)" "$by_purpose"
  kill "$shipper"
  wait "$shipper" 2>/dev/null || true
done
