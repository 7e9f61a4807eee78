//! cargo-fuzz target `ops_vs_oracle`. The body is `fmq_testkit::fuzz::ops_vs_oracle`; the stable test
//! `model/tests/fuzz_corpus.rs` runs it over `fuzz/corpus/ops_vs_oracle/` too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fmq_testkit::fuzz::ops_vs_oracle(data));
