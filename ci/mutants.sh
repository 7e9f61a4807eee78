#!/usr/bin/env bash
# The ordering-mutation runner (model/src/bin/fmq-mutants.rs): for every non-Relaxed ordering
# and every fence in core/src, weaken it one step (or remove the fence), run the loom models
# fastest first, and fail if a mutant survives without a written `not modelled:` reason in
# the comment above it (or if a site marked so is killed: a stale mark). Prints the kill
# score. It builds the loom models itself in target-loom (--cfg fmq_loom).
#   ./ci/mutants.sh --list                           # the sites and their marks
#   ./ci/mutants.sh --site core/src/reader.rs:310    # one mutant
#   ./ci/mutants.sh --soak                           # every model at its own bound (2-3)
# CI runs every model at LOOM_MAX_PREEMPTIONS=1 (about a minute; the kill score measured at
# bound 1 and at the models' own bounds is the same, docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--soak" ]]; then
    shift
    unset LOOM_MAX_PREEMPTIONS
else
    export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-1}"
fi
cargo run --release -q -p fmq-model --bin fmq-mutants -- "$@"
