#!/usr/bin/env bash
# The whole test suite, as CI runs it. Anyone can run it by hand from the repository root:
#   ./ci/test.sh
# Each step is also its own script under ci/. It first runs ci/setup.sh, which installs what
# the suite needs beyond a fresh machine (ci/deps.txt; apt needs root or sudo). Then:
#
# 1. The steps that use the machine (builds, lints, every cargo test, the demo, the benchmark
#    smoke run, and the builds of the verification layers: loom, the mutation runner,
#    shuttle, the simulator, Miri's sysroot and test binaries) run under `strace -f`
#    (program runs and file opens only), and ci/deps-check.py fails the run if they used a
#    Debian package, rustup component or cargo tool that neither a fresh machine has nor
#    ci/setup.sh installs.
# 2. The verification layers then run untraced on what was built: they are pure
#    computation on those binaries, and under ptrace loom's models run about 3 times slower
#    (1.4 s against 4.0 s for one model).
#
# FMQ_DEPS_TRACE=0 runs phase 1 untraced (and unchecked).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Phase 1: everything that touches the machine's packages and tools.
machine_steps() {
    step "build fmq-core without default features (no_std, no alloc)"
    cargo build -p fmq-core --no-default-features
    step "build fmq-core with alloc only"
    cargo build -p fmq-core --no-default-features --features alloc

    step "lints (clippy, warnings are errors)"
    ./ci/lint.sh

    step "tests (core: unit, proptest oracle with ${PROPTEST_CASES:-10000} cases, corruption, threads, tidy; fmq: backends, files, processes, SIGKILL crashes (FMQ_CRASH_KILLS=${FMQ_CRASH_KILLS:-25} per backend); fmq-cli: every command, hostile environment, fault injection; fuzz corpus replay)"
    cargo test --workspace

    step "the README's first command: the shared-memory demo (2 s), must end with corrupt 0"
    cargo run --release --bin fmq -- demo --seconds 2

    step "benchmarks: build benches/ (own workspace, target-bench/) and run every benchmark once, then the report generator"
    ./ci/bench-smoke.sh

    step "build the verification layers (loom, mutation runner, shuttle, simulator, Miri)"
    CARGO_TARGET_DIR=target-loom RUSTFLAGS="--cfg fmq_loom" \
        cargo build --release -p fmq-model --tests
    cargo build --release -p fmq-model --bin fmq-mutants
    CARGO_TARGET_DIR=target-shuttle RUSTFLAGS="--cfg fmq_shuttle" \
        cargo build --release -p fmq-model --test shuttle_protocol --test shuttle_registry
    CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim" cargo build --release -p fmq-sim
    CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim" cargo test --no-run -p fmq-sim
    ./ci/miri.sh --no-run
}

# Phase 2: the verification layers, on the binaries phase 1 built.
verification_steps() {
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

    step "ldata: a put's fsync and rename order, read with strace (untraced: strace cannot run under the dependency trace)"
    cargo test -p fmq-cli --test ldata_system \
        a_put_fsyncs_each_file_before_its_rename_and_the_directory_after -- --exact --nocapture
}

if [[ -n "${FMQ_DEPS_TRACING:-}" ]]; then
    machine_steps
    exit 0
fi

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
    [[ $rc -eq 0 ]] || exit "$rc"
else
    machine_steps
fi
verification_steps

echo
echo "ci/test.sh: all steps passed"
