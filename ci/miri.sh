#!/usr/bin/env bash
# fmq-core's test suite under Miri on the nightly toolchain, in its own target directory so
# that it does not throw away the main build cache. Counts are scaled down under cfg(miri).
# ci/setup.sh installs Miri (ci/deps.txt); without it this step fails, it never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

./ci/setup.sh --check >/dev/null || ./ci/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_MIRI:-target-miri}"
cargo +nightly miri setup >/dev/null
cargo +nightly miri test -p fmq-core "$@"
