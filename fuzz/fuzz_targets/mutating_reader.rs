//! cargo-fuzz target `mutating_reader`. The body is `fmq_testkit::fuzz::mutating_reader`; the stable test
//! `model/tests/fuzz_corpus.rs` runs it over `fuzz/corpus/mutating_reader/` too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fmq_testkit::fuzz::mutating_reader(data));
