// The body of the cargo-fuzz target `cli_input` (`fuzz/fuzz_targets/cli_input.rs`) and of
// its corpus replay on stable (`cli/tests/fuzz_cli_input.rs`): the decoders of `fmq write
// --input` (`cli/src/input.rs`) on arbitrary bytes. Both include this file beside a
// `mod input` of that source.
//
// Input: byte 0 picks the format, byte 1 the read size, bytes 2-3 the record limit; the
// rest is the input. Checked: no panic; no decoder buffers past its bound (`decode_all`
// asserts it); no record exceeds the limit; the read size never changes what is decoded;
// a framed input that decodes cleanly re-encodes to itself; a lines record never holds a
// newline.

use crate::input::{decode_all, frame, InputFormat};

pub fn cli_input(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let formats = [
        InputFormat::Lines,
        InputFormat::Raw,
        InputFormat::Framed,
        InputFormat::Json,
    ];
    let format = formats[usize::from(data[0]) % formats.len()];
    let chunk = 1 + usize::from(data[1]);
    let limit = usize::from(u16::from_le_bytes([data[2], data[3]]));
    let input = &data[4..];
    let (records, err) = decode_all(format, limit, input, chunk);
    for r in &records {
        assert!(
            r.payload.len() <= limit,
            "{format:?}: a record of {} bytes past a limit of {limit}",
            r.payload.len()
        );
    }
    let (whole, whole_err) = decode_all(format, limit, input, input.len().max(1));
    assert_eq!(
        records, whole,
        "{format:?}: read size {chunk} changed the records"
    );
    assert_eq!(
        err, whole_err,
        "{format:?}: read size {chunk} changed the error"
    );
    match format {
        InputFormat::Framed if err.is_none() => {
            let again: Vec<u8> = records
                .iter()
                .flat_map(|r| frame(&r.payload).expect("a record within a u16 limit"))
                .collect();
            assert_eq!(
                again, input,
                "framed: the records do not re-encode to the input"
            );
        }
        InputFormat::Lines => {
            assert!(
                records.iter().all(|r| !r.payload.contains(&b'\n')),
                "a line holds a newline"
            );
        }
        _ => {}
    }
}
