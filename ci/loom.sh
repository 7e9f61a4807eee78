#!/usr/bin/env bash
# loom models (model/, --cfg fmq_loom) in their own target dir, so the main build cache stays.
# Runs the models that finish within CI's budget; the one-slot overwrite and two-reader
# protocol models do not finish yet (see model/tests/loom_protocol.rs) and are skipped here,
# loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=target-loom RUSTFLAGS="--cfg fmq_loom"
cargo build --release -p fmq-model --tests
echo "loom: wake handshake, 1 and 2 readers, LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-3}"
cargo test --release -p fmq-model --test loom_wake
for m in reader_never_accepts batch_is_published buffer_wrap_before slot_ring_wrap_before; do
    echo "loom: $m, LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-2}"
    LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-2} \
        cargo test --release -p fmq-model --test loom_protocol "$m"
done
echo "SKIP (not yet within budget): loom_protocol overwrite_during_a_read..., two_readers..."
