#!/usr/bin/env bash
# Installs what the test suite needs beyond a fresh machine, from the one list ci/deps.txt:
# Debian packages (apt-get, needs root or sudo), rustup components, cargo tools. Does
# nothing when all are present. ci/test.sh calls it first; anyone can run it by hand:
#   ./ci/setup.sh                 # group `test`: what ci/test.sh needs
#   ./ci/setup.sh --group fuzz    # also a group only some script needs (ci/fuzz.sh)
#   ./ci/setup.sh --check         # install nothing; exit 1 listing what is missing
# Whatever cannot be installed fails with one line naming it: no step of the suite passes
# by skipping a tool this script is meant to provide.
set -euo pipefail
cd "$(dirname "$0")/.."

groups=(test)
check_only=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --group) groups+=("${2:?ci/setup.sh: --group needs a name}"); shift 2 ;;
        --check) check_only=1; shift ;;
        *) echo "ci/setup.sh: unknown argument '$1' (see the comment at the top)" >&2; exit 2 ;;
    esac
done

die() { echo "ci/setup.sh: $*" >&2; exit 1; }
in_groups() { local g; for g in "${groups[@]}"; do [[ "$g" == "$1" ]] && return 0; done; return 1; }

apt_want=() rustup_want=() cargo_want=()
while read -r kind name group _; do
    [[ -z "$kind" || "$kind" == \#* ]] && continue
    in_groups "$group" || continue
    case "$kind" in
        apt) apt_want+=("$name") ;;
        rustup) rustup_want+=("$name") ;;
        cargo) cargo_want+=("$name") ;;
        *) die "ci/deps.txt: unknown kind '$kind' for '$name'" ;;
    esac
done < ci/deps.txt

# --- Debian packages -------------------------------------------------------------------
apt_missing=()
for p in "${apt_want[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
        apt_missing+=("$p")
    fi
done

# --- rustup components ------------------------------------------------------------------
command -v rustup >/dev/null || die "rustup is not on PATH; the suite needs the rustup toolchains"
rustup_missing=()
for tc_comp in "${rustup_want[@]}"; do
    tc="${tc_comp%%/*}" comp="${tc_comp#*/}"
    if ! rustup component list --toolchain "$tc" --installed 2>/dev/null |
            sed -E 's/-(x86_64|aarch64|i686|armv7|riscv64gc)-.*$//; s/-preview$//' | grep -qx "$comp"; then
        rustup_missing+=("$tc_comp")
    fi
done

# --- cargo tools -------------------------------------------------------------------------
cargo_missing=()
for c in "${cargo_want[@]}"; do
    command -v "$c" >/dev/null || cargo_missing+=("$c")
done

total=$((${#apt_want[@]} + ${#rustup_want[@]} + ${#cargo_want[@]}))
missing=("${apt_missing[@]}" "${rustup_missing[@]}" "${cargo_missing[@]}")
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "ci/setup.sh: all ${total} dependencies of groups ${groups[*]} are present"
    exit 0
fi
if [[ $check_only -eq 1 ]]; then
    die "missing: ${missing[*]} (run ./ci/setup.sh to install them)"
fi

if [[ ${#apt_missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]]; then sudo=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
    else die "Debian packages ${apt_missing[*]} are missing and installing them needs root or sudo (ci/deps.txt says what needs each)"
    fi
    echo "ci/setup.sh: apt-get install ${apt_missing[*]}"
    log="$(mktemp)"
    if ! "${sudo[@]}" apt-get update -q >"$log" 2>&1; then
        tail -5 "$log" >&2; rm -f "$log"; die "apt-get update failed (see above)"
    fi
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
            "${apt_missing[@]}" >"$log" 2>&1; then
        tail -5 "$log" >&2; rm -f "$log"; die "apt-get install ${apt_missing[*]} failed (see above)"
    fi
    rm -f "$log"
fi

for tc_comp in "${rustup_missing[@]}"; do
    tc="${tc_comp%%/*}" comp="${tc_comp#*/}"
    if ! rustup toolchain list | grep -q "^${tc}[-( ]"; then
        echo "ci/setup.sh: rustup toolchain install ${tc}"
        rustup toolchain install "$tc" --profile minimal >/dev/null 2>&1 ||
            die "rustup toolchain install ${tc} failed (needed for ${tc_comp})"
    fi
    echo "ci/setup.sh: rustup component add --toolchain ${tc} ${comp}"
    rustup component add --toolchain "$tc" "$comp" >/dev/null 2>&1 ||
        die "rustup component add --toolchain ${tc} ${comp} failed"
done

for c in "${cargo_missing[@]}"; do
    echo "ci/setup.sh: cargo install --locked ${c}"
    cargo install --locked "$c" >/dev/null 2>&1 || die "cargo install --locked ${c} failed"
done

# Everything asked for must be there now.
again=(--check)
for g in "${groups[@]:1}"; do again+=(--group "$g"); done
exec "$0" "${again[@]}"
