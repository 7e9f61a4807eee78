#!/usr/bin/env bash
# Formatting and clippy over the workspace, warnings denied.
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all -- --check
else
    echo "SKIP: rustfmt is not installed; formatting not checked"
fi
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets -- -D warnings
else
    echo "SKIP: clippy is not installed; lints not checked"
fi
