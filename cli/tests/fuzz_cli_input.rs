//! Replays the checked-in corpus of the cargo-fuzz target `cli_input` (the decoders of `fmq
//! write --input`) through the body the target runs (`fuzz_bodies/cli_input.rs`), on stable,
//! without libFuzzer.

#[allow(dead_code)]
#[path = "../src/input.rs"]
mod input;

#[allow(dead_code)]
mod body {
    include!("fuzz_bodies/cli_input.rs");
}

#[test]
fn fuzz_corpus_cli_input_decodes_within_its_bounds_whatever_the_read_size() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join("cli_input")) {
            files.extend(entries.map(|e| e.expect("read corpus folder").path()));
        }
    }
    files.sort();
    assert!(
        files.len() >= 8,
        "fuzz/corpus/cli_input holds the corpus ({} files)",
        files.len()
    );
    for f in &files {
        let data = std::fs::read(f).expect("read corpus file");
        if let Err(e) = std::panic::catch_unwind(|| body::cli_input(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("cli_input: input {} fails: {msg}", f.display());
        }
    }
    println!("cli_input: {} inputs replayed", files.len());
}
