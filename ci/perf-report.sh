#!/usr/bin/env bash
# The performance report: runs every benchmark scenario of benches/ (fmq and its peers, in
# one run, on this machine; about 4 minutes of benchmarks on 2 cores, plus the build) and writes docs/performance.md
# with the machine, the versions, this command and the ratio tables (fmq-perf-report).
#   ./ci/perf-report.sh                 # writes docs/performance.md
#   ./ci/perf-report.sh OUT.md          # writes elsewhere
# benches/ is a workspace of its own (the peers stay out of the main build); it builds in
# target-bench/ unless CARGO_TARGET_DIR says otherwise. Run it on a quiet machine: the
# report records the load average before and after, and the numbers are only as good as
# the machine was idle.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="${1:-$root/docs/performance.md}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-bench}"
cd benches
cargo build --release --benches --bins
rm -rf "$CARGO_TARGET_DIR/criterion" "$CARGO_TARGET_DIR/fmq-bench"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
start=$SECONDS
# Latency and the limits first, while nothing else of ours has warmed the machine up.
for b in limits latency throughput_xproc throughput_inproc slots durability lossy blocking; do
    echo "==> bench $b ($((SECONDS - start)) s so far)"
    cargo bench --bench "$b" -- --noplot 2>&1 | grep -E '^[a-z_]+/.*time:|time:|panicked|error' || true
done
wall=$((SECONDS - start))
FMQ_PERF_COMMAND="./ci/perf-report.sh" FMQ_PERF_WALL_S="$wall" \
    FMQ_PERF_LOAD_BEFORE="$load_before" FMQ_PERF_LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)" \
    cargo run --release -q --bin fmq-perf-report -- "$out"
echo "ci/perf-report.sh: suite ran in ${wall} s; wrote $out"
