//! Replays the checked-in fuzz corpora on stable Rust: every file under
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the same body
//! (`fmq_testkit::fuzz`) that the cargo-fuzz target of that name runs under libFuzzer (see
//! `fuzz/README.md`). A failure names the file; `cargo +nightly fuzz run <target> <file>`
//! in `fuzz/` reproduces it under the sanitizer.

#![cfg(not(any(fmq_loom, fmq_shuttle)))]

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        files.extend(
            entries
                .map(|e| e.expect("read corpus folder").path())
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

fn replay(target: &str, body: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        files.len() >= 10,
        "fuzz/corpus/{target} holds the checked-in corpus ({} files found)",
        files.len()
    );
    for f in &files {
        let data = std::fs::read(f).expect("read corpus file");
        if let Err(e) = std::panic::catch_unwind(|| body(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target}: input {} fails: {msg}", f.display());
        }
    }
    println!("{target}: {} inputs replayed", files.len());
}

#[test]
fn fuzz_corpus_region_bytes() {
    replay("region_bytes", fmq_testkit::fuzz::region_bytes);
}

#[test]
fn fuzz_corpus_ops_vs_oracle() {
    replay("ops_vs_oracle", fmq_testkit::fuzz::ops_vs_oracle);
}

#[test]
fn fuzz_corpus_mutating_reader() {
    replay("mutating_reader", fmq_testkit::fuzz::mutating_reader);
}
