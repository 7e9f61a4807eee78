#!/usr/bin/env python3
"""Counts the public items of a crate from its rustdoc JSON: the size of its public surface.

Usage (from anywhere; builds with the nightly toolchain in target-rustdoc-json/):
    ci/public-items.py fmq fmq-core          # build each crate's rustdoc JSON, count, print
    ci/public-items.py --json FILE.json      # count an existing rustdoc JSON file
    ci/public-items.py --names fmq-core      # also list every path counted, one per line
    ci/public-items.py --check-reexports fmq # fail if a public signature of fmq names a
                                             # type of another crate of the workspace
                                             # (fmq-core) that fmq does not re-export
The build is
    CARGO_TARGET_DIR=target-rustdoc-json cargo +nightly rustdoc -p CRATE --lib -- \\
        -Z unstable-options --output-format json
which writes target-rustdoc-json/doc/CRATE_NAME.json (only what is public is documented).

What is counted:
  paths:  the names reachable from the crate root, by kind (the JSON's `paths` table, entries
          with crate_id 0: modules, structs, enums, traits, functions, constants, variants, ...).
  index:  the crate's own items in the JSON's `index` with public visibility, by kind:
          `function` is every public function and inherent method (trait-impl methods have
          default visibility and are not counted), `struct_field` every public field.
Baseline measured before the issue 22 reshape:
  fmq-core: 176 paths (18 modules, 17 structs, 13 enums, 17 fns, 57 consts, 53 variants),
            90 public functions/methods
  fmq:      96 paths (10 modules, 14 structs, 8 enums, 12 fns, 4 consts, 48 variants),
            80 public functions/methods
Exit status: 0, or 1 when a build fails or a file does not parse as rustdoc JSON.
"""

import collections
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target-rustdoc-json")


def build(crate):
    """Builds `crate`'s rustdoc JSON; returns its path."""
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    cmd = ["cargo", "+nightly", "rustdoc", "-q", "-p", crate, "--lib", "--",
           "-Z", "unstable-options", "--output-format", "json"]
    r = subprocess.run(cmd, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise SystemExit(f"public-items: `{' '.join(cmd)}` failed ({r.returncode})")
    return os.path.join(TARGET, "doc", crate.replace("-", "_") + ".json")


def count(path):
    """(paths by kind, public index items by kind, sorted path names, format version)."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        index, paths = d["index"], d["paths"]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"public-items: {path}: not rustdoc JSON ({e})")
    kinds = collections.Counter()
    names = []
    for v in paths.values():
        if v.get("crate_id") != 0:
            continue
        kinds[v["kind"]] += 1
        names.append(f"{v['kind']:12} {'::'.join(v['path'])}")
    items = collections.Counter()
    for v in index.values():
        if v.get("crate_id") != 0 or v.get("visibility") != "public":
            continue
        inner = next(iter(v["inner"]))
        if inner not in ("impl", "use", "module"):
            items[inner] += 1
    return kinds, items, sorted(names), d.get("format_version")


def show(label, path, list_names):
    kinds, items, names, version = count(path)
    by_kind = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    print(f"{label}: {sum(kinds.values())} paths ({by_kind})")
    print(f"  {items.get('function', 0)} public functions/methods, "
          f"{items.get('struct_field', 0)} public fields; all public index items: "
          + ", ".join(f"{n} {k}" for k, n in sorted(items.items(), key=lambda kv: -kv[1])))
    print(f"  (rustdoc JSON format {version}: {os.path.relpath(path, ROOT)})")
    if list_names:
        for n in names:
            print(f"    {n}")


def root_names(d):
    """The names at the crate root: (name, kind, re-exported item id or None)."""
    index = d["index"]
    out = []
    for i in index[str(d["root"])]["inner"]["module"]["items"]:
        it = index[str(i)]
        kind = next(iter(it["inner"]))
        if kind == "use":
            u = it["inner"]["use"]
            target = u.get("id")
            out.append((u["name"], d["paths"].get(str(target), {}).get("kind", "?"), target))
        elif it.get("visibility") == "public" and kind != "module":
            out.append((it["name"], kind, None))
    return out


def resolved_ids(node, out):
    """Every `resolved_path` type id anywhere inside a JSON value."""
    if isinstance(node, dict):
        rp = node.get("resolved_path")
        if isinstance(rp, dict) and rp.get("id") is not None:
            out.add(rp["id"])
        for v in node.values():
            resolved_ids(v, out)
    elif isinstance(node, list):
        for v in node:
            resolved_ids(v, out)


def surface_items(d):
    """The crate's own public items, the fields and variants of every type it exports, and
    the inherent methods of its own types (trait impls are not signatures a user names)."""
    index = d["index"]
    todo = [str(i) for i in index[str(d["root"])]["inner"]["module"]["items"]]
    seen, out = set(), []
    while todo:
        k = todo.pop()
        if k in seen or k not in index:
            continue
        seen.add(k)
        it = index[k]
        kind = next(iter(it["inner"]))
        if kind == "use":
            target = it["inner"]["use"].get("id")
            if target is not None:
                todo.append(str(target))
            continue
        if it.get("visibility") not in ("public", "default"):
            continue
        if kind == "module" and it.get("attrs") and any("hidden" in str(a) for a in it["attrs"]):
            continue
        out.append(it)
        inner = it["inner"][kind]
        if kind == "struct":
            fields = inner.get("kind", {}).get("plain", {}).get("fields", []) or []
            tup = inner.get("kind", {}).get("tuple") or []
            todo += [str(f) for f in fields + [t for t in tup if t is not None]]
        if kind == "enum":
            todo += [str(v) for v in inner.get("variants", [])]
        if kind == "variant":
            vk = inner.get("kind", {})
            if isinstance(vk, dict):
                fields = (vk.get("struct") or {}).get("fields", []) + (vk.get("tuple") or [])
                todo += [str(f) for f in fields if f is not None]
        if kind in ("struct", "enum") and it.get("crate_id") == 0:
            for imp in inner.get("impls", []):
                body = index.get(str(imp), {}).get("inner", {}).get("impl", {})
                if body.get("trait") is None:
                    todo += [str(m) for m in body.get("items", [])]
    return out


def check_reexports(path):
    """Types of other workspace crates in the public surface that the root does not export."""
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    exported = {target for _, _, target in root_names(d) if target is not None}
    crates = {int(k): v["name"] for k, v in d.get("external_crates", {}).items()}
    missing = {}
    for it in surface_items(d):
        ids = set()
        resolved_ids(it["inner"], ids)
        for i in ids:
            p = d["paths"].get(str(i))
            if p is None or p.get("crate_id") == 0 or i in exported:
                continue
            if crates.get(p["crate_id"], "").startswith("fmq"):
                missing.setdefault("::".join(p["path"]), set()).add(it.get("name") or "?")
    return root_names(d), missing


def main(argv):
    if argv[:1] == ["--check-reexports"]:
        bad = 0
        for crate in argv[1:]:
            names, missing = check_reexports(build(crate))
            kinds = collections.Counter(k for _, k, _ in names)
            print(f"{crate}: {len(names)} names at the root ("
                  + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
                  + ")")
            for ty, users in sorted(missing.items()):
                print(f"  not re-exported: {ty} (in {', '.join(sorted(users))})")
                bad += 1
        return 1 if bad else 0
    list_names = "--names" in argv
    argv = [a for a in argv if a != "--names"]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "--json":
        for p in argv[1:]:
            show(p, p, list_names)
        return 0
    for crate in argv:
        show(crate, build(crate), list_names)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
