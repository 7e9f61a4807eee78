//! cargo-fuzz target `region_bytes`. The body is `fmq_testkit::fuzz::region_bytes`; the stable test
//! `model/tests/fuzz_corpus.rs` runs it over `fuzz/corpus/region_bytes/` too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fmq_testkit::fuzz::region_bytes(data));
