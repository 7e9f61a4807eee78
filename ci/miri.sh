#!/usr/bin/env bash
# fmq-core's test suite under Miri on the nightly toolchain, in its own target directory so
# that it does not throw away the main build cache. Counts are scaled down under cfg(miri).
# If Miri cannot be installed here, say so loudly rather than pass silently.
set -euo pipefail
cd "$(dirname "$0")/.."

banner() { printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! %s\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' "$*"; }

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    banner "SKIP: Miri not run: no nightly toolchain on this machine"
    exit 0
fi
if ! rustup component add --toolchain nightly miri rust-src >/dev/null 2>&1; then
    banner "SKIP: Miri not run: 'rustup component add --toolchain nightly miri rust-src' failed"
    exit 0
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_MIRI:-target-miri}"
cargo +nightly miri setup >/dev/null
cargo +nightly miri test -p fmq-core "$@"
