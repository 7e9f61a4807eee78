#!/usr/bin/env bash
# shuttle models (model/tests/shuttle_{protocol,registry}.rs, --cfg fmq_shuttle) in their own target dir,
# so the main build cache stays. One writer and 3 to 8 readers, thousands of messages per
# execution, random and PCT schedules; each test prints how many schedules it ran, the
# messages and steps per execution and its time. Budget: 250 schedules per test, 78-93 s of
# tests on two shared cores (load 4-5); the soak below took 894 s.
#   FMQ_SHUTTLE_ITERS=10 ./ci/shuttle.sh    # soak: ten times CI's schedules
#   SHUTTLE_RANDOM_SEED=N ./ci/shuttle.sh   # fix the schedulers' seed (default: random)
# A failure prints the execution number and shuttle's schedule (for shuttle::replay).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=target-shuttle RUSTFLAGS="--cfg fmq_shuttle"
# shuttle warns once that it runs every ordering as SeqCst; the models say so in their docs
# (orderings are loom's job and the ordering mutation runner's).
export SHUTTLE_SILENCE_WARNINGS=1
cargo build --release -p fmq-model --test shuttle_protocol --test shuttle_registry
echo "shuttle: 8 tests, schedules per test x FMQ_SHUTTLE_ITERS=${FMQ_SHUTTLE_ITERS:-1}"
start=$(date +%s)
cargo test --release -p fmq-model --test shuttle_protocol -- --nocapture
# Blocking mode: registered readers, one registering late, one dying (shuttle_registry.rs).
cargo test --release -p fmq-model --test shuttle_registry -- --nocapture
echo "shuttle: all tests passed in $(($(date +%s) - start)) s"
