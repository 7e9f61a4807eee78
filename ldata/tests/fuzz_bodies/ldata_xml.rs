// The body of the cargo-fuzz target `ldata_xml` (`fuzz/fuzz_targets/ldata_xml.rs`) and of
// its corpus replay on stable (`ldata/tests/fuzz_ldata_xml.rs`): the parser of LROSE's
// `_latest_data_info.xml` (`ldata/src/info.rs`) on arbitrary bytes. Both include this file
// beside a `mod info` of that source.
//
// Checked: no panic on any input; what parses renders to XML that parses back to the same
// event (the writer's output is always readable by the reader); the ASCII rendering has
// LROSE's line count (5, or 6 for a forecast) whatever the fields hold.

use crate::info::LdataInfo;

pub fn ldata_xml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(info) = LdataInfo::parse_lrose_xml(text) else {
        return;
    };
    let again =
        LdataInfo::parse_lrose_xml(&info.to_lrose_xml()).expect("the XML fmq writes parses");
    assert_eq!(again, info, "rendered and parsed back differently");
    let lines = info.to_lrose_ascii().lines().count();
    assert_eq!(lines, if info.is_forecast { 6 } else { 5 }, "ASCII lines");
}
