//! cargo-fuzz target `cli_input`: the decoders of `fmq write --input` (lines, raw, framed,
//! json). The body is `cli/tests/fuzz_bodies/cli_input.rs` (included beside the decoders'
//! source); the stable test `cli/tests/fuzz_cli_input.rs` replays `fuzz/corpus/cli_input/`
//! through it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../cli/src/input.rs"]
mod input;

#[allow(dead_code)]
mod body {
    include!("../../cli/tests/fuzz_bodies/cli_input.rs");
}

fuzz_target!(|data: &[u8]| body::cli_input(data));
