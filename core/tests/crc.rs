//! The accelerated CRC32C (feature `std`) and the portable no_std one agree, and both give
//! the published check value.

use fmq_core::crc::{crc32c, crc32c_portable, Crc32c};

#[test]
fn crc32c_matches_the_standard_check_value() {
    // CRC-32C (iSCSI) check value for "123456789".
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c_portable(b"123456789"), 0xE306_9283);
}

#[test]
fn accelerated_and_portable_crc32c_agree_on_every_length_and_split() {
    let data: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let step = if cfg!(miri) { 97 } else { 1 };
    for len in (0..data.len()).step_by(step) {
        let d = &data[..len];
        assert_eq!(crc32c(d), crc32c_portable(d), "len {len}");
        let mut c = Crc32c::new();
        let (a, b) = d.split_at(len / 3);
        c.update(a);
        c.update(b);
        assert_eq!(c.finish(), crc32c_portable(d), "split at {}", len / 3);
    }
}
