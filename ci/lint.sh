#!/usr/bin/env bash
# Formatting, clippy and rustdoc over the workspace, warnings denied; function length.
set -euo pipefail
cd "$(dirname "$0")/.."
# rustfmt, clippy and libclang (for the benches' iceoryx2 peer) come from ci/setup.sh.
./ci/setup.sh --check >/dev/null || ./ci/setup.sh
cargo fmt --all -- --check
(cd benches && cargo fmt -- --check)
# The function-length scanner checks itself first (a check that cannot fail is no check).
python3 ci/fn-length.py --self-test
cargo clippy --workspace --all-targets -- -D warnings
# The model and simulator code compiled only under their cfgs, each in its own target dir.
CARGO_TARGET_DIR=target-loom RUSTFLAGS="--cfg fmq_loom" \
    cargo clippy -p fmq-model --tests --bins -- -D warnings
CARGO_TARGET_DIR=target-shuttle RUSTFLAGS="--cfg fmq_shuttle" \
    cargo clippy -p fmq-model --tests -- -D warnings
CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim" \
    cargo clippy -p fmq-sim --all-targets -- -D warnings
# benches/ is a workspace of its own (the peers stay out of the main build).
(cd benches && CARGO_TARGET_DIR="$PWD/../target-bench" cargo clippy --all-targets -- -D warnings)
# The API docs as docs.rs builds them, warnings (broken links, missing docs) denied.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
# As docs.rs builds the two published crates (nightly, --cfg docsrs: the doc(cfg) badges on
# feature-gated items), and fmq-core without its default features (no_std, no alloc).
CARGO_TARGET_DIR=target-docsrs RUSTDOCFLAGS="-D warnings --cfg docsrs" \
    cargo +nightly doc -p fmq-core -p fmq --no-deps --all-features
CARGO_TARGET_DIR=target-docsrs RUSTDOCFLAGS="-D warnings" \
    cargo doc -p fmq-core --no-deps --no-default-features
# No function over 80 lines in */src or benches/src unless ci/fn-length-allow.txt says why.
python3 ci/fn-length.py
# Every type of fmq-core that appears in fmq's public surface is re-exported by fmq, so no
# user needs fmq-core as a direct dependency (rustdoc JSON, nightly, target-rustdoc-json).
python3 ci/public-items.py --check-reexports fmq
