//! Per-queue compression (off by default, as in LROSE): the codec is chosen at create time
//! and recorded in the header's `queue_flags`; each message records in its slot whether it
//! is stored compressed (a message that does not shrink is stored as is), so readers
//! decompress transparently.
//!
//! LZ4 block format (`lz4_flex`, safe Rust), for speed. A compressed message's expanded
//! size comes from shared memory and is not trusted: it must be within what LZ4 can produce
//! from the stored bytes (at most 255x) and within the reader's limit, checked before any
//! allocation, and decompression must produce exactly that many bytes.

use std::fmt;

/// The codec of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// Messages stored as written.
    #[default]
    None,
    /// LZ4 block compression.
    Lz4,
}

impl Compression {
    /// The codec number stored in the header's `queue_flags` (bits 0..8).
    pub(crate) fn codec(self) -> u32 {
        match self {
            Compression::None => 0,
            Compression::Lz4 => 1,
        }
    }

    /// The codec a header's `queue_flags` names, if known.
    pub(crate) fn from_codec(queue_flags: u32) -> Option<Compression> {
        match queue_flags & 0xff {
            0 => Some(Compression::None),
            1 => Some(Compression::Lz4),
            _ => None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
        })
    }
}

/// The most bytes LZ4 can expand `stored_len` bytes to: every stored byte yields at most 255
/// output bytes (a match-length extension byte adds 255), plus slack for tiny blocks.
pub(crate) fn lz4_max_expanded(stored_len: u64) -> u64 {
    stored_len.saturating_mul(255).saturating_add(16)
}

/// Appends `input` LZ4-compressed to `out` if that is smaller than `input` (and `input` is
/// worth trying: 16 bytes or more); returns whether it did. `out` is as it was otherwise.
pub(crate) fn lz4_compress_append(input: &[u8], out: &mut Vec<u8>) -> bool {
    if input.len() < 16 {
        return false;
    }
    let from = out.len();
    out.resize(
        from + lz4_flex::block::get_maximum_output_size(input.len()),
        0,
    );
    match lz4_flex::block::compress_into(input, &mut out[from..]) {
        Ok(n) if n < input.len() => {
            out.truncate(from + n);
            true
        }
        _ => {
            out.truncate(from);
            false
        }
    }
}

/// Decompresses exactly `raw_len` bytes into `out` (resized); `false` if the data does not
/// decompress to exactly that size. The caller has bounded `raw_len`.
pub(crate) fn lz4_decompress(input: &[u8], raw_len: usize, out: &mut Vec<u8>) -> bool {
    out.resize(raw_len, 0);
    matches!(lz4_flex::block::decompress_into(input, out), Ok(n) if n == raw_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lz4_round_trips_and_refuses_a_wrong_size() {
        let input: Vec<u8> = (0..10_000u32).map(|i| (i % 7) as u8).collect();
        let mut c = b"kept".to_vec();
        assert!(
            lz4_compress_append(&input, &mut c),
            "repetitive input compresses"
        );
        assert_eq!(&c[..4], b"kept", "appends after what was there");
        let c = c.split_off(4);
        let n = c.len();
        assert!(n < input.len() / 10);
        let mut d = Vec::new();
        assert!(lz4_decompress(&c[..n], input.len(), &mut d));
        assert_eq!(d, input);
        assert!(!lz4_decompress(&c[..n], input.len() - 1, &mut d));
        assert!(!lz4_decompress(&c[..n], input.len() + 1, &mut d));
    }

    #[test]
    fn incompressible_input_is_stored_as_is() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let input: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut out = b"kept".to_vec();
        assert!(!lz4_compress_append(&input, &mut out));
        assert_eq!(out, b"kept", "left as it was");
    }
}
