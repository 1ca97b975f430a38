#!/usr/bin/env bash
# The benchmark suite behind BENCHMARKS.md, in one run, on the release build:
#
#   1. backfills of ROWS rows (default: 100000 and 1000000, over 30 days) from `coder-sim`
#      into each sink's real peer, raw and normalized, via scripts/bench-backfill.sh: events/s,
#      CPU seconds per million events, peak RSS, and the simulator alone serving the same
#      requests (the "physical limit"; for the file sink `cat` of the output too);
#   2. idle RSS and start-up to first poll of `run` against an empty simulator (5 starts,
#      scripts/bench-idle.sh);
#   3. steady-state CPU and RSS of `run` at 10 events/s for STEADY_SECS (default 60).
#
#   scripts/bench.sh                  everything (about 15 minutes on 2 cores)
#   ROWS=100000 RUNS="file:raw" STEADY_SECS=10 scripts/bench.sh    a quick look
#
# The peers are started with tests/peers/start-*.sh (Tansu, s3s-fs, rsyslog) and hec-sim;
# PEERS_RUN picks their directory. PAGE_SIZE (default 500) sets coder.page_size.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -q --workspace --bins
export SKIP_BUILD=1 PAGE_SIZE=${PAGE_SIZE:-500}
export PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
rows_list=${ROWS:-100000 1000000}
runs=${RUNS:-file:raw file:ecs file:ocsf kafka:raw kafka:ocsf s3:raw s3:ocsf hec-ack:raw hec-ack:ocsf syslog-tls:raw syslog-tls:ocsf}
steady_secs=${STEADY_SECS:-60}
token=SimTokenId-s3cretS3cretS3cretS3cr
out=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$out"' EXIT

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r)"
echo "shipper: $(./target/release/coder-audit-shipper --version), page_size $PAGE_SIZE"
echo

# 1. Backfills.
for rows in $rows_list; do
  for run in $runs; do
    sink=${run%%:*} format=${run##*:}
    echo "== $rows rows into $sink, $format"
    scripts/bench-backfill.sh "$rows" 30d "$sink" "$format" | tee "$out/run.txt" | grep -v '^result'
    grep '^result' "$out/run.txt" >>"$out/results.txt"
    echo
  done
done

# A simulator with an empty (or live) log, its URL, and a config for `run` into a file.
. scripts/lib/sim.sh
start_sim() { # args: name, extra coder-sim flags
  start_coder_sim "$out/$1.sim" --rate-limit 0 --request-log "$out/$1.requests" "${@:2}"
  printf '[coder]\nurl = "%s"\ntoken = "%s"\n[checkpoint]\ndir = "%s"\n[sinks.archive]\ntype = "file"\npath = "%s"\n' \
    "$url" "$token" "$out/$1.state" "$out/$1.ndjson" >"$out/$1.toml"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# 2. Idle RSS and start-up to first poll, five starts.
echo "== idle: run against an empty simulator, file sink"
scripts/bench-idle.sh | tee "$out/idle.txt" | grep -v '^idle'
grep '^idle' "$out/idle.txt" >>"$out/results.txt"
echo

# 3. Steady state: 10 new rows a second.
echo "== steady: run at 10 events/s for $steady_secs s (after a 10 s warm-up), file sink"
start_sim steady --rate 10
./target/release/coder-audit-shipper run --config "$out/steady.toml" 2>"$out/steady.log" &
shipper=$!
pids+=("$shipper")
sleep 10
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks "$shipper") lines0=$(wc -l <"$out/steady.ndjson")
sleep "$steady_secs"
t1=$(cpu_ticks "$shipper") lines1=$(wc -l <"$out/steady.ndjson")
cpu=$(echo "($t1 - $t0) / $hz" | bc -l)
events=$((lines1 - lines0))
printf 'shipped %d events in %d s; CPU %.2f s (%.3f%% of one core, %.1f CPU s per hour); RSS %.1f MiB\n' \
  "$events" "$steady_secs" "$cpu" "$(echo "100 * $cpu / $steady_secs" | bc -l)" \
  "$(echo "3600 * $cpu / $steady_secs" | bc -l)" "$(echo "$(rss_kib "$shipper") / 1024" | bc -l)"
echo "steady events=$events secs=$steady_secs cpu=$cpu rss_kib=$(rss_kib "$shipper")" >>"$out/results.txt"
echo

# The table.
echo "== summary"
echo "| rows | sink | format | events/s | CPU s per M events | peak RSS | simulator alone | shipper / simulator |"
echo "|---:|---|---|---:|---:|---:|---:|---:|"
awk '/^result/ {
  for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  rate = v["shipped"] / v["wall"]; alone = v["shipped"] / v["sim_alone"]
  printf "| %s | %s | %s | %.0f | %.2f | %.1f MiB | %.0f events/s | %.0f%% |\n",
    v["rows"], v["sink"], v["format"], rate, v["cpu"] * 1e6 / v["shipped"], v["rss_kib"] / 1024, alone, 100 * rate / alone
}' "$out/results.txt"
awk '/^result/ && $0 ~ /cat=[0-9]/ {
  for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  printf "cat of %s rows of %s NDJSON to /dev/null: %.0f events/s\n", v["rows"], v["format"], v["shipped"] / v["cat"]
}' "$out/results.txt"
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }'; }
startups=$(awk '/^idle/ { split($2, a, "="); print a[2] }' "$out/results.txt")
rsses=$(awk '/^idle/ { split($3, a, "="); print a[2] / 1024 }' "$out/results.txt")
printf 'idle: start-up to first poll median %s ms (max %s); RSS after 5 s idle median %s MiB (max %s)\n' \
  "$(median <<<"$startups")" "$(sort -n <<<"$startups" | tail -1 | xargs printf '%.1f')" \
  "$(median <<<"$rsses")" "$(sort -n <<<"$rsses" | tail -1 | xargs printf '%.1f')"
awk '/^steady/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  printf "steady at 10 events/s: %.3f%% of one core, %.1f CPU s per hour, RSS %.1f MiB\n", 100 * v["cpu"] / v["secs"], 3600 * v["cpu"] / v["secs"], v["rss_kib"] / 1024 }' "$out/results.txt"
