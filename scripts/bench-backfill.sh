#!/usr/bin/env bash
# Backfill N rows from the simulated Coder into the file sink and print throughput and
# peak RSS (GNU time's "Maximum resident set size").
#
#   scripts/bench-backfill.sh [ROWS] [SPAN]      default: 100000 rows over 30d
#
# Uses release builds; needs GNU time (/usr/bin/time, Debian package `time`).
set -euo pipefail
rows=${1:-100000}
span=${2:-30d}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -q --workspace --bins
work=$(mktemp -d)
trap 'kill "$sim_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

./target/release/coder-sim --backlog "$rows" --backlog-span "$span" --rate-limit 0 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 1 600); do
  url=$(sed -n 's/^listening on //p' "$work/sim.out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "coder-sim did not start" >&2; cat "$work/sim.err" >&2; exit 1; }

cat >"$work/bench.toml" <<TOML
[coder]
url = "$url"
token = "SimTokenId-s3cretS3cretS3cretS3cr"
page_size = 500
[checkpoint]
dir = "$work/state"
[sinks.archive]
type = "file"
path = "$work/audit.ndjson"
TOML

from=$(date -u -d "-40 days" +%Y-%m-%d)
to=$(date -u -d "+1 day" +%Y-%m-%d)
start=$(date +%s.%N)
/usr/bin/time -v ./target/release/coder-audit-shipper backfill --config "$work/bench.toml" \
  --from "$from" --to "$to" 2>"$work/time.txt" >/dev/null || { cat "$work/time.txt" >&2; exit 1; }
end=$(date +%s.%N)
shipped=$(wc -l <"$work/audit.ndjson")
unique=$(python3 -c "import json,sys; print(len({json.loads(l)['id'] for l in open(sys.argv[1])}))" "$work/audit.ndjson")
rss_kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$work/time.txt")
secs=$(echo "$end - $start" | bc -l)
printf 'rows in simulator: %s (+ day-edge rows)\n' "$rows"
printf 'shipped: %s lines, %s unique ids\n' "$shipped" "$unique"
printf 'wall: %.2f s   cpu: %.2f s   rate: %.0f events/s\n' "$secs" "$cpu" "$(echo "$shipped / $secs" | bc -l)"
printf 'peak RSS: %.1f MiB\n' "$(echo "$rss_kib / 1024" | bc -l)"
