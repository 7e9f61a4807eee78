#!/usr/bin/env python3
"""Fails when a Rust function is longer than 80 lines and not excused in ci/fn-length-allow.txt.

Usage (from anywhere; paths are relative to the repository root):
    ci/fn-length.py               # scan */src/**/*.rs and benches/src/**/*.rs; exit 1 on any
                                  # unexcused long function or stale allow entry
    ci/fn-length.py --list        # print every function over the limit, excused or not; exit 0
    ci/fn-length.py --self-test   # check the scanner on inline samples; exit 1 on a failure
    ci/fn-length.py FILE...       # scan only these files (still checked against the allow file)

A function's length runs from the line of its `fn` keyword to the line of its closing brace,
both included (attributes and doc comments above it are not counted); a nested `fn` counts on
its own and inside its parent. The scan matches braces with strings (plain, byte, raw with any
number of `#`), character literals, lifetimes, and line and (nested) block comments blanked
out first, so a `{` in a string or comment moves nothing. Macros are not expanded.

ci/fn-length-allow.txt: one line per excused function, `path::fn_name  reason` (the path
relative to the repository root, the reason after at least one space; `#` starts a comment
line). An entry names every function of that name in that file. An entry without a reason,
or one naming no function over the limit (it was split: delete the line), fails the check.
"""

import glob
import os
import re
import sys
import tempfile

LIMIT = 80
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOW = os.path.join("ci", "fn-length-allow.txt")
PATTERNS = ["*/src/**/*.rs", "benches/src/**/*.rs"]

IDENT = re.compile(r"[A-Za-z0-9_]")


def blank(text):
    """`text` with every comment, string and character literal replaced by spaces (newlines
    kept, so line numbers stay), and lifetimes left as they are."""
    out = []
    i, n = 0, len(text)

    def keep_lines(s):
        return "".join("\n" if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == "r" and (i == 0 or not IDENT.match(text[i - 1]) or text[i - 1] in "bc") and (
            m := re.match(r'r(#*)"', text[i:])
        ):
            # A raw string r"..", r#".."#, br"..", cr#".."# (the b/c prefix is already out).
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == "'":
            # A character literal ('x', '{', '\n', '\u{7b}', '\'') or a lifetime / label ('a).
            if nxt == "\\":
                j = i + 2
                while j < n and text[j] != "'" and text[j] != "\n":
                    j += 1
                j = min(j + 1, n)
                out.append(keep_lines(text[i:j]))
                i = j
            elif i + 2 < n and text[i + 2] == "'" and nxt != "\n":
                out.append("   ")
                i += 3
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


FN = re.compile(r"(?<![A-Za-z0-9_])fn\s+(r#)?([A-Za-z_][A-Za-z0-9_]*)")


def functions(text):
    """Every function with a body in `text`: (name, first line, line count)."""
    code = blank(text)
    line_of = []
    line = 1
    for ch in code:
        line_of.append(line)
        if ch == "\n":
            line += 1
    found = []
    for m in FN.finditer(code):
        # The signature runs to the first `{` (a body) or `;` (a declaration) outside
        # parentheses and brackets (`[u8; 4]` has a `;`).
        depth, j, n = 0, m.end(), len(code)
        while j < n:
            ch = code[j]
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif depth == 0 and ch in "{;":
                break
            j += 1
        if j >= n or code[j] == ";":
            continue
        braces, k = 0, j
        while k < n:
            if code[k] == "{":
                braces += 1
            elif code[k] == "}":
                braces -= 1
                if braces == 0:
                    break
            k += 1
        if k >= n:
            continue  # unbalanced (a macro fragment, or a file that does not parse)
        start = line_of[m.start()]
        found.append((m.group(2), start, line_of[k] - start + 1))
    return found


def long_functions(paths):
    """(path, name, line, length) of every function over the limit in `paths`."""
    res = []
    for p in paths:
        with open(os.path.join(ROOT, p), encoding="utf-8") as f:
            text = f.read()
        for name, line, length in functions(text):
            if length > LIMIT:
                res.append((p, name, line, length))
    return res


def read_allow(path):
    """{`path::fn_name`: reason}, and the problems found in the file itself."""
    allow, problems = {}, []
    if not os.path.exists(path):
        return allow, problems
    with open(path, encoding="utf-8") as f:
        for no, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) < 2 or not parts[1].strip():
                problems.append(f"{ALLOW}:{no}: `{parts[0]}` has no reason")
                continue
            if "::" not in parts[0]:
                problems.append(f"{ALLOW}:{no}: `{parts[0]}` is not `path::fn_name`")
                continue
            allow[parts[0]] = (no, parts[1].strip())
    return allow, problems


def check(paths, allow_path, whole_tree, out):
    """Writes one line per problem to `out`; returns the number of problems. Stale allow
    entries are looked for only when the whole tree was scanned (`whole_tree`)."""
    allow, problems = read_allow(allow_path)
    used = set()
    for p, name, line, length in sorted(long_functions(paths), key=lambda r: (-r[3], r[0], r[2])):
        key = f"{p}::{name}"
        if key in allow:
            used.add(key)
        else:
            problems.append(f"{p}:{line}: {key} is {length} lines (limit {LIMIT})")
    if whole_tree:
        for key, (no, _) in sorted(allow.items(), key=lambda kv: kv[1][0]):
            if key not in used:
                problems.append(f"{ALLOW}:{no}: {key} names no function over {LIMIT} lines: "
                                "delete the line")
    for msg in problems:
        out.write(msg + "\n")
    return len(problems)


def tree_paths():
    seen = set()
    for pat in PATTERNS:
        for p in glob.glob(os.path.join(ROOT, pat), recursive=True):
            seen.add(os.path.relpath(p, ROOT))
    return sorted(seen)


def self_test():
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f"{what}: got {got!r}, want {want!r}")

    # A function of exactly 81 lines whose body is full of braces that are not code, then
    # one of exactly 80 lines, then a declaration and a function-pointer type.
    tricky = [
        '    let a = "}}}{";',
        "    let b = '}';",
        "    let c = '{';",
        "    let d = '\\'';",
        "    let e = r#\"}\" }\"#;",
        '    let f = b"}";',
        "    // }}} a comment",
        "    /* } /* nested } */ } */",
        "    let g: &'static str = \"\\\"}\";",
        "    'outer: loop { break 'outer; }",
        "    let h = '\\u{7d}';",
    ]
    body81 = tricky + ["    x();"] * (81 - 2 - len(tricky))
    body80 = ["    y();"] * (80 - 2)
    sample = "\n".join(
        ["fn long_one() {"] + body81 + ["}", "", "fn at_limit(x: [u8; 4]) -> u8 {"] + body80
        + ["}", "fn declared(x: u8);", "type F = fn(u8) -> u8;", "fn tail() {}", ""]
    )
    got = {name: (line, length) for name, line, length in functions(sample)}
    expect("long_one", got.get("long_one"), (1, 81))
    expect("at_limit", got.get("at_limit"), (83, 80))
    expect("declared is no body", "declared" in got, False)
    expect("tail", got.get("tail"), (165, 1))
    expect("count", len(got), 3)

    with tempfile.TemporaryDirectory() as d:
        global ROOT
        saved = ROOT
        ROOT = d
        try:
            os.makedirs(os.path.join(d, "x", "src"))
            with open(os.path.join(d, "x", "src", "s.rs"), "w") as f:
                f.write(sample)
            allow = os.path.join(d, "allow.txt")
            paths = ["x/src/s.rs"]

            class Sink:
                def __init__(self):
                    self.text = ""

                def write(self, s):
                    self.text += s

            def run(allow_text):
                with open(allow, "w") as f:
                    f.write(allow_text)
                s = Sink()
                return check(paths, allow, True, s), s.text

            n, text = run("")
            expect("unexcused fails", n, 1)
            expect("names the function", "x/src/s.rs::long_one is 81 lines" in text, True)
            expect("80 lines passes", "at_limit" in text, False)
            n, _ = run("# comment\nx/src/s.rs::long_one  one table, read in order\n")
            expect("excused passes", n, 0)
            n, _ = run("x/src/s.rs::long_one\n")
            expect("entry without reason fails", n, 2)
            n, text = run("x/src/s.rs::long_one  r\nx/src/s.rs::at_limit  stale\n")
            expect("stale entry fails", (n, "at_limit names no function" in text), (1, True))
        finally:
            ROOT = saved

    for f in failures:
        print(f"fn-length self-test: {f}", file=sys.stderr)
    if failures:
        return 1
    print("fn-length self-test: ok (81-line function with braces in strings, chars and comments "
          "found; 80 lines, declarations and fn types not; allow file: excused, no reason, stale)")
    return 0


def main(argv):
    if argv[:1] == ["--self-test"]:
        return self_test()
    allow_path = os.path.join(ROOT, ALLOW)
    if argv[:1] == ["--list"]:
        allow, _ = read_allow(allow_path)
        for p, name, line, length in sorted(long_functions(tree_paths()), key=lambda r: -r[3]):
            key = f"{p}::{name}"
            mark = "excused" if key in allow else "NOT EXCUSED"
            print(f"{length:5} {p}:{line} {name} ({mark})")
        return 0
    if any(a.startswith("-") for a in argv):
        print(f"fn-length: unknown option in {argv} (see the comment at the top)", file=sys.stderr)
        return 2
    whole = not argv
    paths = tree_paths() if whole else [os.path.relpath(os.path.abspath(a), ROOT) for a in argv]
    n = check(paths, allow_path, whole, sys.stdout)
    if n:
        print(f"fn-length: {n} problem(s): split each function named above into named steps, "
              f"or excuse it with a one-line reason in {ALLOW}", file=sys.stderr)
        return 1
    print(f"fn-length: no unexcused function over {LIMIT} lines in {len(paths)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
