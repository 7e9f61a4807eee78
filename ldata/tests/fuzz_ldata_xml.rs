//! Replays the checked-in corpus of the cargo-fuzz target `ldata_xml` (the parser of
//! LROSE's `_latest_data_info.xml`) through the body the target runs
//! (`fuzz_bodies/ldata_xml.rs`), on stable, without libFuzzer.

#[allow(dead_code)]
#[path = "../src/info.rs"]
mod info;

#[allow(dead_code)]
mod body {
    include!("fuzz_bodies/ldata_xml.rs");
}

#[test]
fn fuzz_corpus_ldata_xml_parses_without_panic_and_round_trips() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join("ldata_xml")) {
            files.extend(entries.map(|e| e.expect("read corpus folder").path()));
        }
    }
    files.sort();
    assert!(
        files.len() >= 6,
        "fuzz/corpus/ldata_xml holds the corpus ({} files)",
        files.len()
    );
    for f in &files {
        let data = std::fs::read(f).expect("read corpus file");
        if let Err(e) = std::panic::catch_unwind(|| body::ldata_xml(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("ldata_xml: input {} fails: {msg}", f.display());
        }
    }
    println!("ldata_xml: {} inputs replayed", files.len());
}
