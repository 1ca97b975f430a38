#!/usr/bin/env bash
# Backfill N rows from the simulated Coder into a sink and print throughput and peak RSS
# (GNU time's "Maximum resident set size").
#
#   scripts/bench-backfill.sh [ROWS] [SPAN] [SINK] [FORMAT]
#       default: 100000 rows over 30d into the file sink, raw
#       SINK: file | kafka | s3 | lake (Security Lake layout on the S3 peer, OCSF 1.1.0
#             Parquet, read back with pyarrow) | hec (Tenzir, no acks) | hec-ack (the HEC
#             simulator, indexer acknowledgement on) | syslog-tls (rsyslog over TLS) |
#             syslog-tcp (the peers are started with tests/peers/start-*.sh) |
#             elasticsearch (a Tenzir accept_elasticsearch of its own on 127.0.0.1:19290,
#             writing every action and document to the work directory; FORMAT ecs)
#       FORMAT: raw | ecs | ocsf (lake: always OCSF 1.1.0; LAKE_MAX_BYTES sets max_bytes,
#             LAKE_COMPRESSION the codec)
#   SINKS=3 (file sink only; default 1) backfills into that many file sinks of the same
#   format, which share one read of Coder; the figures are then for all of them together.
#   The simulator lets the token read workspaces, so [enrich.coder]'s look-ups (on by
#   default) ask about each workspace, template and user once; LOOKUPS=0 turns them off.
#   GEOIP_DIR=DIR adds [enrich.geoip] with DIR/city.mmdb and DIR/asn.mmdb (the test
#   databases: scripts/geoip-test-dbs.sh DIR; the simulator's address is in them);
#   FILE_BATCH=0 (default 1MiB) sets the file sinks' batch_max_bytes (0: a write and an
#   fsync per page, as before the file sink batched);
#   PAGE_SIZE=2000 (default 500) sets coder.page_size; SAVE_INTERVAL=0s (default 1s) sets
#   checkpoint.save_interval (0s: a checkpoint write per page and sink); BENCH_WRAP="perf record -g --" profiles,
#   with SHIPPER=target/profiling/coder-audit-shipper (cargo build --profile profiling) for
#   call graphs (perf record --call-graph dwarf). On a noisy machine, BENCH_WRAP="valgrind
#   --tool=callgrind --trace-children=yes --callgrind-out-file=/tmp/cg.%p" counts
#   instructions instead (they repeat within 0.1 %; use ~50000 rows: it runs ~50x slower).
#
# Besides the run's own figures it prints two "physical limits" for the same run: the
# simulator alone, serving the very requests the shipper made (replayed with one curl
# process over one keep-alive connection, bodies to /dev/null), and, for the file sink,
# `cat` of the written NDJSON to /dev/null. The last line, `result ...`, is for
# scripts/bench.sh. SKIP_BUILD=1 uses the release binaries as they are.
#
# Uses release builds; needs GNU time (/usr/bin/time, Debian package `time`) and curl.
set -euo pipefail
rows=${1:-100000}
span=${2:-30d}
sink=${3:-file}
format=${4:-raw}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q --workspace --bins
work=$(mktemp -d)
export PEERS_RUN=${PEERS_RUN:-/tmp/coder-audit-shipper-peers}
bucket=
hec_pid=
es_pid=
sim_pid=
trap 'kill "$sim_pid" $hec_pid $es_pid 2>/dev/null || true; rm -rf "$work"; [ -z "$bucket" ] || rm -rf "$PEERS_RUN/s3-data/$bucket"' EXIT

./target/release/coder-sim --backlog "$rows" --backlog-span "$span" --rate-limit 0 \
  --workspaces-readable --request-log "$work/requests.log" >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 1 600); do
  url=$(sed -n 's/^listening on //p' "$work/sim.out" 2>/dev/null || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "coder-sim did not start" >&2; cat "$work/sim.err" >&2; exit 1; }

cat >"$work/bench.toml" <<TOML
[coder]
url = "$url"
token = "SimTokenId-s3cretS3cretS3cretS3cr"
page_size = ${PAGE_SIZE:-500}
# The request budget (300 a minute) would set the wall time; this measures the shipper.
max_requests_per_minute = 0
[checkpoint]
dir = "$work/state"
save_interval = "${SAVE_INTERVAL:-1s}"
TOML
if [[ "${LOOKUPS:-1}" == 0 ]]; then
  printf '[enrich.coder]\nenabled = false\n' >>"$work/bench.toml"
fi
if [[ -n "${GEOIP_DIR:-}" ]]; then
  printf '[enrich.geoip]\ncity_database = "%s/city.mmdb"\nasn_database = "%s/asn.mmdb"\n' \
    "$GEOIP_DIR" "$GEOIP_DIR" >>"$work/bench.toml"
fi
case $sink in
file)
  batch="batch_max_bytes = \"${FILE_BATCH:-1MiB}\""
  printf '[sinks.archive]\ntype = "file"\npath = "%s"\nformat = "%s"\n%s\n' "$work/audit.ndjson" "$format" "$batch" >>"$work/bench.toml"
  for i in $(seq 2 "${SINKS:-1}"); do
    printf '[sinks.archive%s]\ntype = "file"\npath = "%s"\nformat = "%s"\n%s\n' "$i" "$work/audit$i.ndjson" "$format" "$batch" >>"$work/bench.toml"
  done ;;
kafka)
  bash tests/peers/start-kafka.sh >/dev/null
  . "$PEERS_RUN/kafka.env"
  printf '[sinks.stream]\ntype = "kafka"\nbrokers = "%s"\ntopic = "bench-%s"\nformat = "%s"\n' \
    "$KAFKA_BOOTSTRAP" "$(date +%s%N)" "$format" >>"$work/bench.toml" ;;
s3)
  bash tests/peers/start-s3.sh >/dev/null
  set -a; . "$PEERS_RUN/s3.env"; set +a
  bucket="bench-$(date +%s%N)"
  printf '[sinks.lake]\ntype = "s3"\nbucket = "%s"\nregion = "%s"\nendpoint = "%s"\nforce_path_style = true\nformat = "%s"\nbatch_max_bytes = "10MiB"\n' \
    "$bucket" "$AWS_REGION" "$S3_ENDPOINT" "$format" >>"$work/bench.toml"
  # s3s-fs keeps a bucket as a directory of its data dir: this creates it.
  mkdir -p "$PEERS_RUN/s3-data/$bucket" ;;
lake)
  bash tests/peers/start-s3.sh >/dev/null
  set -a; . "$PEERS_RUN/s3.env"; set +a
  bucket="bench-$(date +%s%N)"
  printf '[sinks.lake]\ntype = "security_lake"\nformat = "ocsf"\nocsf_version = "1.1.0"\nbucket = "%s"\nregion = "%s"\naccount_id = "123456789012"\nendpoint = "%s"\nforce_path_style = true\nmax_bytes = "%s"\ncompression = "%s"\n[sinks.lake.sources]\n' \
    "$bucket" "$AWS_REGION" "$S3_ENDPOINT" "${LAKE_MAX_BYTES:-8MiB}" "${LAKE_COMPRESSION:-zstd}" >>"$work/bench.toml"
  for class in authentication account_change user_access group_management api_activity ssh_activity network_activity; do
    printf '%s = "coder-%s"\n' "$class" "$class" >>"$work/bench.toml"
  done
  mkdir -p "$PEERS_RUN/s3-data/$bucket"
  format=ocsf-1.1.0 ;;
hec)
  bash tests/peers/start-hec.sh >/dev/null
  . "$PEERS_RUN/hec.env"
  printf '[sinks.splunk]\ntype = "splunk_hec"\nendpoint = "%s"\ntoken = "%s"\nformat = "%s"\n' \
    "$HEC_URL" "$HEC_TOKEN" "$format" >>"$work/bench.toml" ;;
hec-ack)
  ./target/release/hec-sim >"$work/hec.out" 2>"$work/hec.err" &
  hec_pid=$!
  for _ in $(seq 1 100); do
    hec_url=$(sed -n 's/^listening on //p' "$work/hec.out"); [ -n "$hec_url" ] && break; sleep 0.1
  done
  printf '[sinks.splunk]\ntype = "splunk_hec"\nendpoint = "%s"\ntoken = "hec-sim-token"\nack = true\nformat = "%s"\n' \
    "$hec_url" "$format" >>"$work/bench.toml" ;;
syslog-tls|syslog-tcp)
  bash tests/peers/start-syslog.sh >/dev/null
  . "$PEERS_RUN/syslog.env"
  if [ "$sink" = syslog-tls ]; then
    printf '[sinks.siem]\ntype = "syslog"\naddress = "%s"\ntransport = "tls"\ntls_ca_file = "%s"\nformat = "%s"\napp_name = "bench"\n' \
      "$SYSLOG_TLS" "$SYSLOG_CA_FILE" "$format" >>"$work/bench.toml"
  else
    printf '[sinks.siem]\ntype = "syslog"\naddress = "%s"\nformat = "%s"\napp_name = "bench"\n' \
      "$SYSLOG_TCP" "$format" >>"$work/bench.toml"
  fi ;;
elasticsearch)
  # The shared peer's venv (start-hec.sh installs Tenzir), a receiver of this run's own.
  [ -x "${PEERS_HOME:-$HOME/.cache/coder-audit-shipper/peers}/venv-hec/bin/tenzir" ] || { bash tests/peers/start-hec.sh >/dev/null; bash tests/peers/stop-peers.sh hec; }
  "${PEERS_HOME:-$HOME/.cache/coder-audit-shipper/peers}/venv-hec/bin/tenzir" \
    'accept_elasticsearch "127.0.0.1:19290", keep_actions=true, max_request_size=64Mi | write_ndjson' \
    >"$work/es.ndjson" 2>"$work/es.err" &
  es_pid=$!
  for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/19290) 2>/dev/null && break; sleep 0.1; done
  printf '[sinks.elastic]\ntype = "elasticsearch"\nendpoint = "http://127.0.0.1:19290"\nformat = "%s"\n' \
    "$format" >>"$work/bench.toml" ;;
*) echo "unknown sink $sink (file|kafka|s3|lake|hec|hec-ack|syslog-tls|syslog-tcp|elasticsearch)" >&2; exit 2 ;;
esac

from=$(date -u -d "-40 days" +%Y-%m-%d)
to=$(date -u -d "+1 day" +%Y-%m-%d)
# CPU seconds a process has used so far (utime + stime from /proc/PID/stat).
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
sim_cpu_before=$(cpu_of "$sim_pid")
start=$(date +%s.%N)
${BENCH_WRAP:-} /usr/bin/time -v "${SHIPPER:-./target/release/coder-audit-shipper}" backfill --config "$work/bench.toml" \
  --from "$from" --to "$to" 2>"$work/time.txt" >/dev/null || { cat "$work/time.txt" >&2; exit 1; }
end=$(date +%s.%N)
sim_cpu=$(echo "$(cpu_of "$sim_pid") - $sim_cpu_before" | bc -l)
shipped=$(sed -n 's/.*done: \([0-9]*\) events delivered.*/\1/p' "$work/time.txt")
case $sink in
file) unique=$(python3 -c "import json,sys; print(len({json.loads(l).get('id') or json.loads(l).get('event',{}).get('id') or json.loads(l)['metadata']['uid'].split(':')[0] for l in open(sys.argv[1])}))" "$work/audit.ndjson") ;;
s3) unique=$(find "$PEERS_RUN/s3-data/$bucket" -type f -name '*.gz' -exec zcat {} + | python3 -c "import json,sys; print(len({(lambda d: d.get('id') or d.get('event',{}).get('id') or d['metadata']['uid'].split(':')[0])(json.loads(l)) for l in sys.stdin}))") ;;
lake)
  bash scripts/lake-check-venv.sh target/tmp/lake-check >/dev/null
  unique=$(target/tmp/lake-check/venv/bin/python - "$PEERS_RUN/s3-data/$bucket" <<'PY'
import glob, sys
import pyarrow.parquet as pq
ids = set()
for f in glob.glob(sys.argv[1] + "/**/*.parquet", recursive=True):
    for m in pq.read_table(f, columns=["metadata"]).column("metadata").to_pylist():
        ids.add(m["uid"].split(":")[0])
print(len(ids))
PY
) ;;
elasticsearch)
  # Tenzir flushes its output when it stops.
  kill "$es_pid"; wait "$es_pid" 2>/dev/null || true; es_pid=
  unique=$(python3 -c "import json,sys; print(len({d['create']['_id'] for d in map(json.loads, open(sys.argv[1])) if 'create' in d}))" "$work/es.ndjson") ;;
*) unique="(not read back; tests/kafka.rs checks delivery)" ;;
esac
rss_kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")

# The simulator alone: the same requests again, as fast as one client can ask.
requests=$(wc -l <"$work/requests.log")
awk -v base="$url" '{ printf "url = \"%s%s\"\noutput = \"/dev/null\"\n", base, $2 }' "$work/requests.log" >"$work/replay.curl"
replay_start=$(date +%s.%N)
curl -sf -H "Coder-Session-Token: SimTokenId-s3cretS3cretS3cretS3cr" -K "$work/replay.curl"
replay_secs=$(echo "$(date +%s.%N) - $replay_start" | bc -l)
cat_secs=
if [ "$sink" = file ]; then
  cat_start=$(date +%s.%N)
  cat "$work/audit.ndjson" >/dev/null
  cat_secs=$(echo "$(date +%s.%N) - $cat_start" | bc -l)
fi
cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$work/time.txt")
user_cpu=$(awk -F': ' '/User time/ {print $2}' "$work/time.txt")
sys_cpu=$(awk -F': ' '/System time/ {print $2}' "$work/time.txt")
out_bytes=$([ "$sink" = file ] && stat -c %s "$work/audit.ndjson" || echo -)
secs=$(echo "$end - $start" | bc -l)
printf 'sink: %s, format: %s, sinks: %s\n' "$sink" "$format" "${SINKS:-1}"
if [ "$sink" = file ] && [ "${SINKS:-1}" -gt 1 ]; then
  for i in $(seq 2 "$SINKS"); do
    cmp -s <(wc -l <"$work/audit.ndjson") <(wc -l <"$work/audit$i.ndjson") \
      || { echo "archive$i has a different number of lines than archive" >&2; exit 1; }
  done
fi
printf 'rows in simulator: %s (+ day-edge rows)\n' "$rows"
printf 'shipped: %s events, %s unique ids read back\n' "$shipped" "$unique"
printf 'cpu split: user %s s, system %s s; output: %s bytes\n' "$user_cpu" "$sys_cpu" "$out_bytes"
printf 'wall: %.2f s   cpu: %.2f s   rate: %.0f events/s   simulator cpu: %.2f s\n' "$secs" "$cpu" "$(echo "$shipped / $secs" | bc -l)" "$sim_cpu"
printf 'peak RSS: %.1f MiB\n' "$(echo "$rss_kib / 1024" | bc -l)"
# Page faults are kernel time the system CPU above includes: each first touch of a page.
printf 'page faults: %s minor, %s major\n' \
  "$(sed -n 's/.*Minor (reclaiming a frame) page faults: //p' "$work/time.txt")" \
  "$(sed -n 's/.*Major (requiring I\/O) page faults: //p' "$work/time.txt")"
printf 'context switches: %s voluntary, %s involuntary\n' \
  "$(sed -n 's/.*Voluntary context switches: //p' "$work/time.txt")" \
  "$(sed -n 's/.*Involuntary context switches: //p' "$work/time.txt")"
printf 'simulator alone: the same %s requests in %.2f s, %.0f events/s\n' "$requests" "$replay_secs" "$(echo "$shipped / $replay_secs" | bc -l)"
[ -z "$cat_secs" ] || printf 'cat of the NDJSON to /dev/null: %.3f s, %.0f events/s\n' "$cat_secs" "$(echo "$shipped / $cat_secs" | bc -l)"
printf 'result sinks=%s sink=%s format=%s rows=%s page_size=%s shipped=%s unique=%s wall=%.3f cpu=%.2f rss_kib=%s sim_cpu=%.2f requests=%s sim_alone=%.3f cat=%s\n' \
  "${SINKS:-1}" "$sink" "$format" "$rows" "${PAGE_SIZE:-500}" "$shipped" "${unique// /_}" "$secs" "$cpu" "$rss_kib" "$sim_cpu" "$requests" "$replay_secs" "${cat_secs:--}"
