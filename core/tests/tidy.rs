#![cfg(not(miri))] // reads source files; nothing for Miri to check here
//! House rules checked on the source text (STYLE.md): every atomic `Ordering::` use carries
//! an `// ORDERING:` comment (one comment covers a run of identical accesses, as crossbeam
//! argues ordering once per protocol step), every `unsafe` block a `// SAFETY:` comment, every
//! `fence(` an `// ORDERING:` comment (in fmq-core, fmq and the tool), and nothing but the
//! facade (`core/src/sync.rs`) imports atomics in fmq-core and fmq.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The Rust sources of the packages named (folders next to `core/`).
fn sources_of(packages: &[&str]) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for p in packages {
        sources(&root.join(p).join("src"), &mut files);
    }
    files.sort();
    assert!(files.len() >= 10, "found the sources");
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// Protocol and backends: the facade rule applies.
fn core_sources() -> Vec<(PathBuf, String)> {
    sources_of(&["core", "fmq"])
}

/// Everything: the comment rules apply.
fn all_sources() -> Vec<(PathBuf, String)> {
    sources_of(&["core", "fmq", "cli"])
}

/// Whether line `i`, or the nearest comment block above it (at most `reach` code lines up,
/// for statements that span lines), holds `marker`.
fn commented(lines: &[&str], i: usize, marker: &str, reach: usize) -> bool {
    if lines[i].contains(marker) {
        return true;
    }
    let mut j = i;
    let mut code_lines = 0;
    while j > 0 {
        j -= 1;
        if is_code(lines[j]) {
            code_lines += 1;
            if code_lines > reach {
                return false;
            }
            continue;
        }
        // The contiguous comment block ending at `j`.
        let mut k = j;
        loop {
            if lines[k].contains(marker) {
                return true;
            }
            if k == 0 || is_code(lines[k - 1]) {
                return false;
            }
            k -= 1;
        }
    }
    false
}

/// The orderings named on a line, if it uses an atomic ordering that is no fence.
fn access_orderings(line: &str) -> Option<Vec<&str>> {
    if line.contains("fence(") {
        return None;
    }
    let names: Vec<&str> = ["Relaxed", "Acquire", "Release", "AcqRel", "SeqCst"]
        .into_iter()
        .filter(|o| line.contains(&format!("Ordering::{o}")))
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Which lines need an `// ORDERING:` comment and have none. One comment covers a run of
/// identical accesses: a line whose accesses use the same orderings as the covered access
/// line just before it (at most two code lines apart, for statements that span lines, and
/// no comment or blank line between) is covered too. Fences always need their own.
fn ordering_uncommented(lines: &[&str]) -> Vec<usize> {
    let mut missing = Vec::new();
    // The last covered access line and its orderings.
    let mut run: Option<(usize, Vec<&str>)> = None;
    for (i, l) in lines.iter().enumerate() {
        if !is_code(l) {
            run = None;
            continue;
        }
        let uses_ordering = l.contains("Ordering::") && !l.contains("use ");
        if !(uses_ordering || l.contains("fence(")) {
            if run.as_ref().is_some_and(|(j, _)| i - j > 2) {
                run = None;
            }
            continue;
        }
        let orderings = access_orderings(l);
        let in_run = matches!((&run, &orderings), (Some((_, r)), Some(o)) if r == o);
        if in_run || commented(lines, i, "ORDERING:", 2) {
            run = orderings.map(|o| (i, o));
        } else {
            missing.push(i);
            run = None;
        }
    }
    missing
}

#[test]
fn every_ordering_use_has_an_ordering_comment() {
    let mut missing = Vec::new();
    for (path, text) in all_sources() {
        if path.ends_with("sync.rs") {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for i in ordering_uncommented(&lines) {
            missing.push(format!("{}:{}: {}", path.display(), i + 1, lines[i].trim()));
        }
    }
    assert!(
        missing.is_empty(),
        "Ordering without an `// ORDERING:` comment:\n{}",
        missing.join("\n")
    );
}

#[test]
fn one_ordering_comment_covers_a_run_of_identical_accesses_but_not_a_fence_or_a_change() {
    let src = [
        "// ORDERING: Relaxed: seqlock data.",
        "let a = x.load(Ordering::Relaxed);",
        "let b = y",
        "    .load(Ordering::Relaxed);",
        "let c = z.load(Ordering::Acquire);",
        "// ORDERING: Relaxed: again.",
        "let d = x.load(Ordering::Relaxed);",
        "let e = x.load(Ordering::Relaxed);",
        "let f = x.load(Ordering::Relaxed);",
        "fence(Ordering::Acquire);",
        "",
        "let g = x.load(Ordering::Relaxed);",
    ];
    assert_eq!(ordering_uncommented(&src), vec![4, 9, 11]);
}

#[test]
fn every_unsafe_block_has_a_safety_comment() {
    let mut missing = Vec::new();
    for (path, text) in all_sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if is_code(l)
                && l.contains("unsafe ")
                && !l.contains("forbid(unsafe_code)")
                && !l.contains("unsafe fn")
                && !commented(&lines, i, "SAFETY:", 0)
            {
                missing.push(format!("{}:{}", path.display(), i + 1));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "unsafe without `// SAFETY:`:\n{}",
        missing.join("\n")
    );
}

#[test]
fn atomics_come_only_from_the_sync_facade() {
    let mut bad = Vec::new();
    for (path, text) in core_sources() {
        if path.ends_with("sync.rs") {
            continue;
        }
        for (i, l) in text.lines().enumerate() {
            if l.contains("sync::atomic") && !l.contains("crate::sync") && is_code(l) {
                bad.push(format!("{}:{}: {}", path.display(), i + 1, l.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "atomics imported outside `sync.rs`:\n{}",
        bad.join("\n")
    );
}

#[test]
fn protocol_logic_forbids_unsafe_code() {
    for (path, text) in core_sources() {
        if path.ends_with("core/src/lib.rs") {
            assert!(
                text.contains("#![forbid(unsafe_code)]"),
                "lib.rs forbids unsafe"
            );
        }
        if path.ends_with("core/src/writer.rs") || path.ends_with("core/src/reader.rs") {
            assert!(
                text.contains("#![forbid(unsafe_code)]"),
                "{} forbids unsafe",
                path.display()
            );
        }
    }
}

fn is_code(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with("//")
}

/// Calls of the file layer (names, descriptors, locks, mappings, process identity) that fmq
/// makes only through its facade `fmq/src/sys.rs`, so the simulator can put a simulated file
/// system under the same code (`sim/src/fs/`).
const FILE_LAYER_CALLS: &[&str] = &[
    "std::fs",
    "memmap2",
    "MmapRaw",
    "FileExt",
    "MetadataExt",
    "std::process::id",
    "env::current_dir",
    "libc::flock",
    "libc::fcntl",
    "libc::open",
    "libc::linkat",
    "libc::kill",
    "libc::posix_fallocate",
    "libc::statvfs",
    "libc::getrlimit",
];

/// The lines of `text` outside `#[cfg(test)]` modules (those run only on the real system).
fn non_test_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut in_test = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            in_test = true;
        }
        if !in_test && is_code(line) {
            out.push((i + 1, line));
        }
    }
    out
}

#[test]
fn fmq_reaches_the_file_layer_only_through_its_sys_facade() {
    let mut offenders = Vec::new();
    for (path, text) in sources_of(&["fmq"]) {
        if path.ends_with("sys.rs") {
            continue;
        }
        for (n, line) in non_test_lines(&text) {
            let code = line.split("//").next().unwrap_or("");
            if let Some(call) = FILE_LAYER_CALLS.iter().find(|c| code.contains(*c)) {
                offenders.push(format!("{}:{n}: {call}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "go through fmq/src/sys.rs instead:\n{}",
        offenders.join("\n")
    );
    // The rule sees what it must: the facade itself is full of these calls.
    let sys =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fmq/src/sys.rs"))
            .unwrap();
    let seen = FILE_LAYER_CALLS.iter().filter(|c| sys.contains(*c)).count();
    assert!(seen >= 10, "the facade uses {seen} of the listed calls");
}
