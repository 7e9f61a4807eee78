#!/usr/bin/env bash
# The whole test suite, as CI runs it. Anyone can run it by hand from the repository root:
#   ./ci/test.sh
# Each step is also its own script under ci/.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "build fmq-core without default features (no_std, no alloc)"
cargo build -p fmq-core --no-default-features
step "build fmq-core with alloc only"
cargo build -p fmq-core --no-default-features --features alloc

step "lints (clippy, warnings are errors)"
./ci/lint.sh

step "tests (core: unit, proptest oracle with ${PROPTEST_CASES:-10000} cases, corruption, threads, tidy; fmq: backends, files, processes, SIGKILL crashes (FMQ_CRASH_KILLS=${FMQ_CRASH_KILLS:-25} per backend); fmq-cli: every command; fuzz corpus replay)"
cargo test --workspace

step "the README's first command: the shared-memory demo (2 s), must end with corrupt 0"
cargo run --release --bin fmq -- demo --seconds 2

step "benchmarks: build benches/ (own workspace, target-bench/) and run every benchmark once, then the report generator"
./ci/bench-smoke.sh

step "loom models (every interleaving within the preemption bound)"
./ci/loom.sh

step "ordering mutation: weaken each non-Relaxed ordering / remove each fence, run the loom models"
./ci/mutants.sh

step "shuttle: 1 writer and 3 to 8 readers, random and PCT schedules"
./ci/shuttle.sh

step "simulator: regression seeds, a fixed range of seeds, the exhaustive crash-point mode"
./ci/sim.sh

step "Miri: fmq-core's tests under the interpreter (UB and data races)"
./ci/miri.sh

echo
echo "ci/test.sh: all steps passed"
