//! cargo-fuzz target `ldata_xml`: the parser of LROSE's `_latest_data_info.xml`
//! (`ldata/src/info.rs`, included). The body is `ldata/tests/fuzz_bodies/ldata_xml.rs`; the
//! stable test `ldata/tests/fuzz_ldata_xml.rs` replays `fuzz/corpus/ldata_xml/` through it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../ldata/src/info.rs"]
mod info;

#[allow(dead_code)]
mod body {
    include!("../../ldata/tests/fuzz_bodies/ldata_xml.rs");
}

fuzz_target!(|data: &[u8]| body::ldata_xml(data));
