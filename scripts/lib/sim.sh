# Sourced by the bench scripts, from the repository's root with the release build made.
#
# start_coder_sim FILE [coder-sim flags...]: start the simulator, its output in FILE, add
# its pid to the caller's `pids` array, and set `url` to the address it listens on; fails
# (printing its output) if it does not say so within 10 s.
start_coder_sim() {
  local out=$1
  shift
  ./target/release/coder-sim "$@" >"$out" 2>&1 &
  pids+=($!)
  url=
  for _ in $(seq 1 200); do
    url=$(sed -n 's/^listening on //p' "$out")
    [ -n "$url" ] && return 0
    sleep 0.05
  done
  echo "coder-sim did not start" >&2
  cat "$out" >&2
  return 1
}
