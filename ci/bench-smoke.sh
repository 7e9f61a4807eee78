#!/usr/bin/env bash
# Compiles every benchmark of benches/ (its own workspace, in target-bench/) and runs each
# benchmark once (criterion's --test mode; the non-criterion parts shrink too), then the
# report generator on the smoke results, so a scenario, a peer or the report that stopped
# working fails CI. Speeds are not looked at (DESIGN §8: benchmarks only report).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-bench}"
cd benches
start=$SECONDS
cargo build --release --benches --bins
built=$SECONDS
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! cargo bench -- --test >"$log" 2>&1; then
    grep -vE '^(Testing|Success)|^\s*$' "$log" | tail -40
    echo "bench-smoke: a benchmark failed" >&2
    exit 1
fi
count="$(grep -c '^Success' "$log" || true)"
cargo run --release -q --bin fmq-perf-report -- "$CARGO_TARGET_DIR/performance-smoke.md"
echo "bench-smoke: ${count} benchmarks ran once each; build $((built - start)) s, runs $((SECONDS - built)) s"
