#!/usr/bin/env bash
# The whole test suite, as CI runs it. Anyone can run it by hand from the repository root:
#   ./ci/test.sh
# Each step is also its own script under ci/. It first runs ci/setup.sh, which installs what
# the suite needs beyond a fresh machine (ci/deps.txt; apt needs root or sudo), then runs
# every step under `strace -f` (program runs and file opens only) and ends with
# ci/deps-check.py, which fails the run if a step used a Debian package, rustup component or
# cargo tool that neither a fresh machine has nor ci/setup.sh installs. FMQ_DEPS_TRACE=0
# runs the steps untraced (and unchecked).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if [[ -z "${FMQ_DEPS_TRACING:-}" ]]; then
    step "setup: what the suite needs beyond a fresh machine (ci/deps.txt)"
    ./ci/setup.sh
    if [[ "${FMQ_DEPS_TRACE:-1}" != 0 ]]; then
        mkdir -p target
        trace="$PWD/target/deps-trace.txt"
        rm -f "$trace"
        rc=0
        FMQ_DEPS_TRACING=1 strace -f --seccomp-bpf -qq -z \
            -e trace=execve,execveat,open,openat,openat2 \
            -o "|awk -f ci/deps-trace.awk > '$trace'" -- "$0" "$@" || rc=$?
        step "dependencies: everything the steps ran or opened is on a fresh machine or installed by ci/setup.sh"
        python3 ci/deps-check.py --tracer strace "$trace" || rc=$((rc == 0 ? 1 : rc))
        [[ $rc -eq 0 ]] && echo && echo "ci/test.sh: all steps passed"
        exit "$rc"
    fi
fi

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

if [[ -z "${FMQ_DEPS_TRACING:-}" ]]; then
    echo
    echo "ci/test.sh: all steps passed (untraced: FMQ_DEPS_TRACE=0)"
fi
