//! Replays the checked-in corpus of the cargo-fuzz target `queue_files` (fmq's reading of a
//! queue's files from disk, then every operation on them) through the same body the target
//! runs (`fuzz_bodies/queue_files.rs`), on stable, without libFuzzer.

#[allow(dead_code)]
mod body {
    include!("fuzz_bodies/queue_files.rs");
}

#[test]
fn fuzz_corpus_queue_files_never_panics_and_recovery_leaves_only_payload_damage() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join("queue_files")) {
            files.extend(entries.map(|e| e.expect("read corpus folder").path()));
        }
    }
    files.sort();
    assert!(
        files.len() >= 10,
        "fuzz/corpus/queue_files holds the corpus ({} files)",
        files.len()
    );
    for f in &files {
        let data = std::fs::read(f).expect("read corpus file");
        if let Err(e) = std::panic::catch_unwind(|| body::queue_files(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("queue_files: input {} fails: {msg}", f.display());
        }
    }
    println!("queue_files: {} inputs replayed", files.len());
}
