#!/usr/bin/env bash
# The deterministic simulator (sim/, --cfg fmq_sim), in its own target dir so that the main
# build cache stays. See sim/README.md.
#
#   ./ci/sim.sh               the read-only audit of the reader path (fmq-core), regression
#                             test (regression seeds, seeds 0..200, exhaustive scenarios),
#                             seeds 1000.. (FMQ_SIM_SEEDS, default 5000), the exhaustive mode
#   ./ci/sim.sh --soak K      K random seeds; every failure prints its seed and the command
#                             that replays it
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim"
sim=./target-sim/release/fmq-sim

if [[ "${1:-}" == "--soak" ]]; then
    count="${2:?usage: ci/sim.sh --soak COUNT}"
    cargo build --release -p fmq-sim
    exec "$sim" --seeds "$count" --quiet
fi

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "build (release: the runner; test profile: the regression test, with overflow checks)"
cargo build --release -p fmq-sim
cargo test --no-run -p fmq-sim

step "read-only audit: the reader path makes only Relaxed loads (core/tests/read_only_audit.rs)"
cargo test -p fmq-core --test read_only_audit

step "regression test: regression seeds, seeds 0..200, exhaustive scenarios"
cargo test -p fmq-sim

seeds="${FMQ_SIM_SEEDS:-5000}"
step "random runs: seeds 1000..$((1000 + seeds))"
"$sim" --seed 1000 --seeds "$seeds" --quiet

step "exhaustive mode: a death after every store of small scripts"
"$sim" --exhaustive

echo
echo "ci/sim.sh: all steps passed in $((SECONDS - started)) s"
