#!/usr/bin/env bash
# The file-layer simulator against reverted fixes: each patch in sim/reverts/ puts back one
# defect (of issue 13's hardening, or one the simulator itself found); the simulator must
# catch every one. Each patch is applied in a scratch worktree of HEAD, built with
# --cfg fmq_sim in its own target dir, and run on seeds 1.. until the first failure.
#
#   ./ci/sim-reverts.sh [--seeds K] [NAME...]
#                                     every patch (or those named), at most K seeds each (default 3000);
#                                     prints a table: patch, first failing seed, seeds run,
#                                     seconds, what the simulator said. Fails if a revert
#                                     goes uncaught.
#   ./ci/sim-reverts.sh --regressions every regression seed of sim/tests/files.rs that names a
#                                     patch (its text says NAME.patch) must fail with that
#                                     patch applied: a seed whose run drifted (the code
#                                     changed under it) and no longer catches its defect is
#                                     reported, and the script fails
#   ./ci/sim-reverts.sh --check       only checks that every patch still applies to HEAD
#                                     (CI runs this; the full run is by hand, its last
#                                     numbers are in docs/testing.md)
#
# A patch's header may say `# seeds: N` (its defect needs more seeds than the default: at
# least N are run), `# args: ARGS` (fmq-sim options its defect needs, e.g. --no-ofd-locks)
# or `# uncaught: WHY` (a defect another mechanism covers, which the simulator is not
# expected to catch: reported, not failed on; WHY says what covers it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seeds=3000
check_only=false
regressions=false
only=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --check) check_only=true ;;
        --regressions) regressions=true ;;
        --seeds) seeds="${2:?--seeds K}"; shift ;;
        -*) echo "usage: ci/sim-reverts.sh [--seeds K] [NAME...] | --check" >&2; exit 2 ;;
        *) only+=("sim/reverts/$1.patch") ;;
    esac
    shift
done

patches=(sim/reverts/*.patch)
if [[ ${#only[@]} -gt 0 ]]; then patches=("${only[@]}"); fi
if $check_only; then
    for p in "${patches[@]}"; do
        git apply --check "$p" || { echo "ci/sim-reverts.sh: $p no longer applies to HEAD" >&2; exit 1; }
    done
    echo "ci/sim-reverts.sh: all ${#patches[@]} revert patches apply"
    exit 0
fi

wt="$(mktemp -d /tmp/fmq-reverts.XXXXXX)"
cleanup() { git -C "$root" worktree remove --force "$wt" >/dev/null 2>&1 || true; rm -rf "$wt"; }
trap cleanup EXIT
git worktree add --detach "$wt" HEAD >/dev/null 2>&1
export CARGO_TARGET_DIR="$root/target-reverts" RUSTFLAGS="--cfg fmq_sim"
uncaught=0
# The regression seeds that name each patch: "NAME SEED OFD" lines (OFD: 1 with OFD locks,
# 0 for the seeds run without them).
seeds_of() {
    python3 - "$root/sim/tests/files.rs" "$1" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
for const, ofd in (("SEEDS", 1), ("SEEDS_WITHOUT_OFD_LOCKS", 0)):
    m = re.search(r"const %s: &\[\(u64, &str\)\] = &\[(.*?)\];" % const, src, re.S)
    if not m:
        continue
    for seed, why in re.findall(r'\(\s*([0-9_]+),\s*"((?:[^"\\]|\\.)*)"', m.group(1), re.S):
        if re.search(r"\b%s\.patch" % re.escape(sys.argv[2]), why):
            print(seed.replace("_", ""), ofd)
PY
}
if $regressions; then
    printf '%-12s %-22s %s\n' patch regression-seed result
    missed=0
    for p in "${patches[@]}"; do
        name="$(basename "$p" .patch)"
        git -C "$wt" checkout -q -- .
        git -C "$wt" apply "$root/$p"
        (cd "$wt" && cargo build -q --release -p fmq-sim 2>/dev/null) ||
            { echo "ci/sim-reverts.sh: $name does not build" >&2; exit 1; }
        while read -r seed ofd; do
            [[ -n "$seed" ]] || continue
            flags=()
            if [[ "$ofd" == 0 ]]; then flags=(--no-ofd-locks); fi
            out="$("$CARGO_TARGET_DIR/release/fmq-sim" --files "${flags[@]}" --seed "$seed" --seeds 1 --quiet 2>&1 || true)"
            if grep -q '^FAIL files seed=' <<<"$out"; then
                printf '%-12s %-22s %s\n' "$name" "$seed${flags:+ ${flags[*]}}" caught
            else
                printf '%-12s %-22s %s\n' "$name" "$seed${flags:+ ${flags[*]}}" "MISSED (the run drifted)"
                missed=$((missed + 1))
            fi
        done < <(seeds_of "$name")
    done
    git -C "$wt" checkout -q -- .
    if [[ $missed -gt 0 ]]; then
        echo "ci/sim-reverts.sh: $missed regression seed(s) no longer catch their reverted fix" >&2
        exit 1
    fi
    echo "ci/sim-reverts.sh: every regression seed that names a patch catches it"
    exit 0
fi
printf '%-12s %-22s %-6s %-6s %s\n' patch first-failing-seed seeds secs "what the simulator said"
for p in "${patches[@]}"; do
    name="$(basename "$p" .patch)"
    git -C "$wt" checkout -q -- .
    git -C "$wt" apply "$root/$p"
    (cd "$wt" && cargo build -q --release -p fmq-sim 2>/dev/null) ||
        { echo "ci/sim-reverts.sh: $name does not build" >&2; exit 1; }
    n="$seeds"
    want="$(sed -nE 's/^# seeds: ([0-9]+).*/\1/p' "$p" | head -1)"
    if [[ -n "$want" && "$want" -gt "$n" ]]; then n="$want"; fi
    covered="$(sed -nE 's/^# uncaught: (.*)/\1/p' "$p" | head -1)"
    read -r -a extra <<<"$(sed -nE 's/^# args: (.*)/\1/p' "$p" | head -1)"
    start=$SECONDS
    out="$("$CARGO_TARGET_DIR/release/fmq-sim" --files "${extra[@]}" --seed 1 --seeds "$n" --fail-fast --quiet 2>&1 || true)"
    secs=$((SECONDS - start))
    fail="$(grep -m1 '^FAIL files seed=' <<<"$out" || true)"
    runs="$(grep -o 'runs=[0-9]*' <<<"$out" | tail -1 | cut -d= -f2)"
    if [[ -n "$fail" ]]; then
        seed="$(sed -E 's/^FAIL files seed=([0-9]+).*/\1/' <<<"$fail")"
        what="$(sed -E 's/^FAIL files seed=[0-9]+: round [0-9]+: //' <<<"$fail" | cut -c1-110)"
        printf '%-12s %-22s %-6s %-6s %s\n' "$name" "$seed" "$runs" "$secs" "$what"
    elif [[ -n "$covered" ]]; then
        printf '%-12s %-22s %-6s %-6s %s\n' "$name" "uncaught (expected)" "$runs" "$secs" "covered: $covered"
    else
        printf '%-12s %-22s %-6s %-6s %s\n' "$name" "UNCAUGHT" "$runs" "$secs" "-"
        uncaught=$((uncaught + 1))
    fi
done
git -C "$wt" checkout -q -- .
if [[ $uncaught -gt 0 ]]; then
    echo "ci/sim-reverts.sh: $uncaught reverted fix(es) not caught" >&2
    exit 1
fi
echo "ci/sim-reverts.sh: every reverted fix caught, but those marked as covered elsewhere"
