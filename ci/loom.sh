#!/usr/bin/env bash
# loom models (model/tests/loom_*.rs, --cfg fmq_loom) in their own target dir, so the main
# build cache stays. Every model runs exhaustively within its preemption bound (2 or 3, see
# each model; LOOM_MAX_PREEMPTIONS overrides all of them) and prints the interleavings it
# explored and its time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=target-loom RUSTFLAGS="--cfg fmq_loom"
cargo build --release -p fmq-model --tests
start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in loom_wake loom_registry loom_protocol loom_format loom_recovery; do
    echo "loom: $t"
    if ! cargo test --release -p fmq-model --test "$t" -- --nocapture >"$log" 2>&1; then
        tail -60 "$log"
        echo "loom: $t FAILED"
        exit 1
    fi
    grep -E '^loom:' "$log" || true
done
echo "loom: all models passed in $((SECONDS - start)) s"
