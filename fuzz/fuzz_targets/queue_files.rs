//! cargo-fuzz target `queue_files`: fmq's reading of a queue's files from disk, then every
//! operation on them. The body is `fmq/tests/fuzz_bodies/queue_files.rs` (included: it needs
//! the `fmq` crate); the stable test `fmq/tests/fuzz_queue_files.rs` replays
//! `fuzz/corpus/queue_files/` through it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod body {
    include!("../../fmq/tests/fuzz_bodies/queue_files.rs");
}

fuzz_target!(|data: &[u8]| body::queue_files(data));
