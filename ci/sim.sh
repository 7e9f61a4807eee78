#!/usr/bin/env bash
# The deterministic simulator (sim/, --cfg fmq_sim), in its own target dir so that the main
# build cache stays. See sim/README.md.
#
#   ./ci/sim.sh               the read-only audit of the reader path (fmq-core), regression
#                             test (regression seeds, seeds 0..200, exhaustive scenarios),
#                             seeds 1000.. (FMQ_SIM_SEEDS, default 5000), the exhaustive mode
#   ./ci/sim.sh --soak K      K random seeds; every failure prints its seed and the command
#                             that replays it
#   ./ci/sim.sh --soak-files K [--no-ofd-locks]
#                             K random seeds of the file-layer simulator (fmq-sim --files),
#                             on a file system with OFD locks or (the option) without
#
# The file-layer simulator (sim/src/files.rs) runs here too: its regression seeds and seeds
# 0..200 (sim/tests/files.rs, part of the regression test), seeds 1000.. (FMQ_SIM_FILE_SEEDS,
# default 1500), 500 seeds without OFD locks, and a check that every revert patch of
# ci/sim-reverts.sh still applies.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim"
sim=./target-sim/release/fmq-sim

if [[ "${1:-}" == "--soak" ]]; then
    count="${2:?usage: ci/sim.sh --soak COUNT}"
    cargo build --release -p fmq-sim
    exec "$sim" --seeds "$count" --quiet
fi
if [[ "${1:-}" == "--soak-files" ]]; then
    count="${2:?usage: ci/sim.sh --soak-files COUNT}"
    cargo build --release -p fmq-sim
    exec "$sim" --files ${3:+"$3"} --seeds "$count" --quiet
fi

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "build (release: the runner; test profile: the regression test, with overflow checks)"
cargo build --release -p fmq-sim
cargo test --no-run -p fmq-sim

step "read-only audit: the reader path makes only Relaxed loads (core/tests/read_only_audit.rs)"
cargo test -p fmq-core --test read_only_audit

step "regression test: regression seeds, seeds 0..200, exhaustive scenarios, the file layer's seeds and kernel"
cargo test -p fmq-sim

seeds="${FMQ_SIM_SEEDS:-5000}"
step "random runs: seeds 1000..$((1000 + seeds))"
"$sim" --seed 1000 --seeds "$seeds" --quiet

step "exhaustive mode: a death after every store of small scripts"
"$sim" --exhaustive

file_seeds="${FMQ_SIM_FILE_SEEDS:-1500}"
step "file layer: seeds 1000..$((1000 + file_seeds)) of fmq's create, open, remove and recovery on the simulated kernel"
"$sim" --files --seed 1000 --seeds "$file_seeds" --quiet

step "file layer without OFD locks (flock only, writers BestEffort): seeds 1000..1500"
"$sim" --files --no-ofd-locks --seed 1000 --seeds 500 --quiet

step "file layer: every revert patch of sim/reverts/ still applies (the full run: ci/sim-reverts.sh)"
./ci/sim-reverts.sh --check

echo
echo "ci/sim.sh: all steps passed in $((SECONDS - started)) s"
