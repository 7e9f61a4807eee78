#!/usr/bin/env python3
"""Fails when the test suite used a system dependency that no script of the repo installs.

ci/test.sh runs itself under `strace -f` (execve and open calls only, successful ones) and
pipes the trace through ci/deps-trace.awk into a list of the absolute paths the suite ran or
opened. This script maps every path to what provides it:

- a Debian package (from dpkg's file lists, the path and the file it resolves to both count),
- a rustup component (from each toolchain's lib/rustlib/manifest-* files),
- a cargo tool in $CARGO_HOME/bin (the rustup proxies count as rustup),
- the image itself (prefixes in ci/fresh-machine.txt, such as /usr/local/bin/),

and fails, one line per dependency, when something the suite used is neither on a fresh
machine (ci/fresh-machine.txt) nor installed by ci/setup.sh (ci/deps.txt, with everything
apt pulled in for those packages: their Depends and Pre-Depends, recursively). Files of the
repository, the target directories, cargo's registry, /tmp, /proc, /sys, /dev and /run are
not dependencies.

    ci/deps-check.py TRACE            # check a trace written by ci/test.sh
    ci/deps-check.py --list TRACE     # also list every package, component and tool used
    ci/deps-check.py --tracer strace TRACE   # count the tracer itself as used
"""

import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HOME = os.path.expanduser("~")
CARGO_HOME = os.environ.get("CARGO_HOME", os.path.join(HOME, ".cargo"))
RUSTUP_HOME = os.environ.get("RUSTUP_HOME", os.path.join(HOME, ".rustup"))
RUSTUP_PROXIES = {
    "cargo", "cargo-clippy", "cargo-fmt", "cargo-miri", "clippy-driver", "rls", "rust-analyzer",
    "rust-gdb", "rust-gdbgui", "rust-lldb", "rustc", "rustdoc", "rustfmt", "rustup",
}
HOST_SUFFIX = re.compile(r"-(x86_64|aarch64|i686|armv7|riscv64gc)-unknown-linux-gnu\w*$")
NOT_DEPENDENCIES = [
    REPO + "/", "/tmp/", "/proc/", "/sys/", "/dev/", "/run/", "/var/tmp/",
    os.path.join(CARGO_HOME, "registry") + "/", os.path.join(CARGO_HOME, "git") + "/",
    os.path.join(RUSTUP_HOME, "tmp") + "/", os.path.join(RUSTUP_HOME, "downloads") + "/",
]


def read_list(path):
    """(kind, name, group) of each entry of ci/deps.txt or ci/fresh-machine.txt."""
    entries = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            entries.append((parts[0], parts[1], parts[2] if len(parts) > 2 else "fresh"))
    return entries


def dpkg_owners():
    """Maps every file dpkg installed to the set of packages that list it."""
    owners = {}
    for lst in glob.glob("/var/lib/dpkg/info/*.list"):
        pkg = os.path.basename(lst)[: -len(".list")].split(":", 1)[0]
        with open(lst, errors="replace") as f:
            for line in f:
                owners.setdefault(line.rstrip("\n"), set()).add(pkg)
    return owners


def dpkg_closure(roots):
    """The installed packages that `roots` depend on, recursively (Depends, Pre-Depends)."""
    import subprocess

    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Status}\t${Depends}, ${Pre-Depends}\t${Provides}\n"],
        capture_output=True, text=True, check=True,
    ).stdout
    deps, installed, provided_by = {}, set(), {}
    for line in out.splitlines():
        name, status, depends, provides = (line.split("\t") + ["", "", ""])[:4]
        if not status.endswith("installed") or "not-installed" in status:
            continue
        installed.add(name)
        alts = []
        for clause in depends.split(","):
            names = [re.sub(r"[\s(:].*$", "", a.strip()) for a in clause.split("|")]
            alts.append([n for n in names if n])
        deps[name] = alts
        for p in provides.split(","):
            p = re.sub(r"[\s(:].*$", "", p.strip())
            if p:
                provided_by.setdefault(p, set()).add(name)
    seen, todo = set(), [r for r in roots if r in installed]
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        for alts in deps.get(pkg, []):
            for a in alts:
                for real in ({a} if a in installed else set()) | provided_by.get(a, set()):
                    if real not in seen:
                        todo.append(real)
    return seen


def rustup_owners():
    """Maps every file of every installed rustup component to "TOOLCHAIN/COMPONENT"."""
    owners = {}
    for manifest in glob.glob(os.path.join(RUSTUP_HOME, "toolchains", "*", "lib", "rustlib", "manifest-*")):
        tc_dir = manifest.split("/lib/rustlib/")[0]
        tc = HOST_SUFFIX.sub("", os.path.basename(tc_dir))
        comp = HOST_SUFFIX.sub("", os.path.basename(manifest)[len("manifest-"):])
        comp = comp.removesuffix("-preview")
        with open(manifest) as f:
            for line in f:
                kind, _, rel = line.rstrip("\n").partition(":")
                path = os.path.join(tc_dir, rel)
                if kind == "dir":
                    owners[path + "/"] = f"{tc}/{comp}"
                else:
                    owners[path] = f"{tc}/{comp}"
    return owners


def rustup_owner(path, owners):
    if path in owners:
        return owners[path]
    d = path
    while d not in ("", "/"):
        d = os.path.dirname(d)
        if d + "/" in owners:
            return owners[d + "/"]
    return None


def usr_variants(path):
    """The names one file has on a merged-/usr system (/lib/x is /usr/lib/x)."""
    out = {path}
    for top in ("/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/"):
        if path.startswith(top):
            out.add("/usr" + path)
        if path.startswith("/usr" + top):
            out.add(path[len("/usr"):])
    return out


def main():
    args = sys.argv[1:]
    listing = "--list" in args
    args = [a for a in args if a != "--list"]
    # --tracer PKG: the package that wrote the trace (strace) was used, though not traced.
    tracer = set()
    while "--tracer" in args:
        i = args.index("--tracer")
        tracer.add(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        sys.exit("usage: ci/deps-check.py [--list] [--tracer PKG] TRACE")
    with open(args[0]) as f:
        used = [line.rstrip("\n").split(" ", 1) for line in f if " " in line]

    declared = read_list(os.path.join(HERE, "deps.txt"))
    fresh = read_list(os.path.join(HERE, "fresh-machine.txt"))
    fresh_apt = {n for k, n, _ in fresh if k == "apt"}
    fresh_rustup = {n for k, n, _ in fresh if k == "rustup"}
    image_prefixes = [n for k, n, _ in fresh if k == "image"]
    setup_apt = {n for k, n, _ in declared if k == "apt"}
    setup_rustup = {n for k, n, _ in declared if k == "rustup"}
    setup_cargo = {n for k, n, _ in declared if k == "cargo"}
    allowed_apt = fresh_apt | dpkg_closure(setup_apt)

    owners = dpkg_owners()
    r_owners = rustup_owners()
    cargo_bin = os.path.join(CARGO_HOME, "bin") + "/"

    apt_used, rustup_used, cargo_used, image_used = {}, {}, {}, {}
    unowned_exec = {}
    for kind, path in used:
        # Directories are shared by many packages; opening one uses none of them.
        if any(path.startswith(p) for p in NOT_DEPENDENCIES) or not os.path.isfile(path):
            continue
        if path.startswith(os.path.join(RUSTUP_HOME, "toolchains") + "/"):
            comp = rustup_owner(path, r_owners) or rustup_owner(os.path.realpath(path), r_owners)
            if comp:
                rustup_used.setdefault(comp, path)
            continue
        if path.startswith(cargo_bin):
            tool = path[len(cargo_bin):]
            if tool in RUSTUP_PROXIES or os.path.basename(os.path.realpath(path)) == "rustup":
                rustup_used.setdefault("rustup", path)
            else:
                cargo_used.setdefault(tool, path)
            continue
        names = usr_variants(path) | usr_variants(os.path.realpath(path))
        pkgs = set().union(*(owners.get(n, set()) for n in names))
        for p in pkgs:
            apt_used.setdefault(p, path)
        if pkgs:
            continue
        image = next((p for p in image_prefixes if path.startswith(p)), None)
        if image:
            image_used.setdefault(image, path)
        elif kind == "exec":
            unowned_exec.setdefault(path, path)

    problems = []
    for pkg, path in sorted(apt_used.items()):
        if pkg not in allowed_apt:
            problems.append(f"Debian package {pkg} (used: {path}) is not on a fresh machine and ci/setup.sh does not install it: add it to ci/deps.txt")
    for comp, path in sorted(rustup_used.items()):
        if comp != "rustup" and comp not in fresh_rustup and comp not in setup_rustup:
            problems.append(f"rustup component {comp} (used: {path}) is not on a fresh machine and ci/setup.sh does not install it: add it to ci/deps.txt")
    for tool, path in sorted(cargo_used.items()):
        if tool not in setup_cargo:
            problems.append(f"cargo tool {tool} (used: {path}) is not installed by ci/setup.sh: add it to ci/deps.txt")
    for path in sorted(unowned_exec):
        problems.append(f"program {path} belongs to no Debian package, rustup component, cargo tool or image path in ci/fresh-machine.txt: install it from ci/deps.txt")

    beyond = sorted(p for p in apt_used if p not in fresh_apt)
    if listing:
        for pkg, path in sorted(apt_used.items()):
            print(f"apt    {pkg:40} {path}")
        for comp, path in sorted(rustup_used.items()):
            print(f"rustup {comp:40} {path}")
        for tool, path in sorted(cargo_used.items()):
            print(f"cargo  {tool:40} {path}")
        for prefix, path in sorted(image_used.items()):
            print(f"image  {prefix:40} {path}")
    print(
        f"deps-check: the suite used {len(apt_used)} Debian packages ({len(beyond)} beyond a fresh machine: "
        f"{', '.join(beyond) or 'none'}), {len(rustup_used)} rustup components "
        f"({', '.join(sorted(c for c in rustup_used if c not in fresh_rustup and c != 'rustup')) or 'none beyond a fresh machine'}), "
        f"{len(cargo_used)} cargo tools, {len(image_used)} image paths"
    )
    unused = sorted(p for p in setup_apt - tracer if not dpkg_closure({p}) & set(apt_used))
    if unused:
        print(f"deps-check: note: ci/deps.txt lists {', '.join(unused)}, which this run did not use")
    for p in problems:
        print(f"deps-check: FAIL: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print("deps-check: every dependency the suite used is on a fresh machine or installed by ci/setup.sh")


if __name__ == "__main__":
    main()
