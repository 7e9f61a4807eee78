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

step "tests (unit, proptest oracle with ${PROPTEST_CASES:-10000} cases, corruption, threads, tidy)"
cargo test --workspace

step "Miri: fmq-core's tests under the interpreter (UB and data races)"
./ci/miri.sh

echo
echo "ci/test.sh: all steps passed"
