#!/usr/bin/env bash
# Run every cargo-fuzz target for a bounded time and say whether any input broke it.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
#
# Needs the nightly toolchain (rustup toolchain install nightly) and cargo-fuzz (installed
# here when missing). The seed corpus in fuzz/corpus/ stays as committed: each run fuzzes a
# copy in a temp directory. A crash is saved under fuzz/artifacts/<target>/ (not committed)
# with the command to reproduce it; add the input to fuzz/corpus/ once fixed.
set -euo pipefail
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo +nightly fuzz build -O
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$work/$target"
  [ -d "corpus/$target" ] && cp -r "corpus/$target/." "$work/$target/"
  echo "== $target (${secs}s)"
  if cargo +nightly fuzz run -O "$target" "$work/$target" -- -max_total_time="$secs" \
       -max_len=65536 -print_final_stats=1 2>"$work/$target.log"; then
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/$target.log" | sed 's/^/   /'
  else
    failed+=("$target")
    tail -30 "$work/$target.log"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all fuzz targets ran ${secs}s each without a failure"
