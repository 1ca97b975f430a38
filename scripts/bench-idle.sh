#!/usr/bin/env bash
# Idle RSS and start-up to the first poll: `run` with one file sink against a simulator
# with an empty log, STARTS times (default 5). For each start it prints the time from exec
# to the first audit request reaching the simulator, and RSS after 5 s idle, split into
# private memory (RssAnon: heap, stacks) and file-backed pages (RssFile: the binary's code
# and read-only data the kernel mapped in, shared with the page cache). The `idle ...`
# lines are for scripts/bench.sh.
#
#   scripts/bench-idle.sh                      the release build (built first)
#   SHIPPER=path STARTS=10 scripts/bench-idle.sh   another build, e.g. one with fewer
#                                              features (cargo build --release
#                                              --no-default-features: the file sink only)
#   DROP_CACHES=1 scripts/bench-idle.sh        drop the page cache before each start (root):
#                                              the binary's code is then read from disk, as
#                                              on a node that has not run it lately
#
# The file-backed part depends on how the binary sits in the page cache: the kernel maps
# what is cached around each page a start touches (64 KiB), and a copy made with `cp` maps
# more than the linker's own output or the file read back from disk: 18.4-19.0 MiB against
# 16.8-17.1 for the same binary here (BENCHMARKS.md, "Idle RSS and
# hashing"). Compare builds in the same state.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q --workspace --bins
shipper_bin=${SHIPPER:-./target/release/coder-audit-shipper}
token=SimTokenId-s3cretS3cretS3cretS3cr
out=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$out"' EXIT
. scripts/lib/sim.sh
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

for i in $(seq 1 "${STARTS:-5}"); do
  if [[ -n "${DROP_CACHES:-}" ]]; then
    sync
    echo 1 2>/dev/null >/proc/sys/vm/drop_caches \
      || { echo "DROP_CACHES=1 needs root (it writes /proc/sys/vm/drop_caches)" >&2; exit 1; }
  fi
  start_coder_sim "$out/idle$i.sim" --rate-limit 0 --request-log "$out/idle$i.requests"
  printf '[coder]\nurl = "%s"\ntoken = "%s"\n[checkpoint]\ndir = "%s"\n[sinks.archive]\ntype = "file"\npath = "%s"\n' \
    "$url" "$token" "$out/idle$i.state" "$out/idle$i.ndjson" >"$out/idle$i.toml"
  t0=$(date +%s%N)
  "$shipper_bin" run --config "$out/idle$i.toml" 2>"$out/idle$i.log" &
  shipper=$!
  pids+=("$shipper")
  for _ in $(seq 1 200); do
    [ -s "$out/idle$i.requests" ] && break
    sleep 0.01
  done
  first=$(awk 'NR == 1 {print $1}' "$out/idle$i.requests")
  sleep 5
  startup_ms=$(echo "($first - $t0) / 1000000" | bc -l)
  rss=$(status_kib "$shipper" VmRSS) anon=$(status_kib "$shipper" RssAnon) file=$(status_kib "$shipper" RssFile)
  printf 'start %d: first audit request after %.1f ms; RSS after 5 s idle: %.1f MiB (%.1f private, %.1f file-backed)\n' \
    "$i" "$startup_ms" "$(echo "$rss / 1024" | bc -l)" "$(echo "$anon / 1024" | bc -l)" "$(echo "$file / 1024" | bc -l)"
  echo "idle startup_ms=$startup_ms rss_kib=$rss anon_kib=$anon file_kib=$file"
  kill "$shipper"
  wait "$shipper" 2>/dev/null || true
done
