#!/usr/bin/env bash
# Long fuzz run: every cargo-fuzz target of fuzz/ in turn, one job each, on the nightly
# toolchain, with debug assertions and overflow checks (-a). Installs cargo-fuzz if it is
# missing (ci/setup.sh --group fuzz). Usage:
#   ./ci/fuzz.sh [seconds-per-target]        (default 360)
# New corpus entries land in fuzz/corpus/<target>/ (minimise with `cargo fuzz cmin` before
# committing, see fuzz/README.md); a failing input stops the run and is left in
# fuzz/artifacts/<target>/. CI replays the checked-in corpora on stable instead
# (`cargo test -p fmq-model --test fuzz_corpus`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-360}"

# cargo-fuzz and the nightly toolchain come from ci/setup.sh (group fuzz in ci/deps.txt).
../ci/setup.sh --group fuzz

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
targets=(region_bytes ops_vs_oracle mutating_reader queue_files cli_input ldata_xml)
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    printf '\n==> fuzz %s for %s s\n' "$t" "$secs"
    rc=0
    cargo +nightly fuzz run -a "$t" -- \
        -max_total_time="$secs" -max_len=8192 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done ' \
        "$log" || true
    if [ "$rc" -ne 0 ]; then
        tail -n 60 "$log"
        echo "ci/fuzz.sh: $t failed (exit $rc); failing inputs: $(ls artifacts/"$t" 2>/dev/null)" >&2
        exit 1
    fi
done
echo
echo "ci/fuzz.sh: ${#targets[@]} targets, ${secs} s each, no failing input"
