//! Bodies of the cargo-fuzz targets of `fuzz/` (a workspace of its own, nightly), kept here
//! so that the stable test `model/tests/fuzz_corpus.rs` replays the checked-in corpora
//! through the very same code with a plain `cargo test`.
//!
//! Each body takes the fuzzer's bytes, decodes them with a cursor that reads zeros once the
//! input is used up (so every input is valid), and runs a bounded amount of work: no body can
//! loop forever. A body panics only when it found a bug: every `assert!` is a property of the
//! protocol (DESIGN §4), and the invariant is named in its message.
//!
//! * [`region_bytes`]: arbitrary bytes as a whole region (stat part and buffer), optionally
//!   repaired field by field (magic, sizes, checksums, commit line, stamps, positions) so that
//!   the fuzzer gets past each check in turn. Header snapshot, attach, the `inspect` helpers
//!   of `fmq info` / `fmq check`, every read path until `Empty`, and `Writer::recover` on a
//!   copy, followed by writes that must read back exactly. Invariants 5 (readers never write)
//!   and 6 (nothing trusted: errors, never a panic), and recovery's postconditions (7). The
//!   expected answers come from the region's own bytes (a static region makes every answer
//!   predictable) and the reading rules of [`crate::capacity`].
//! * [`ops_vs_oracle`]: a small queue and a sequence of writes, batches, reads of four kinds,
//!   seeks, writer recoveries (clean or after a "crash"), new readers and full scans, against
//!   [`crate::QueueOracle`]. Invariants 2 and 4: exact payloads and metadata, strictly
//!   increasing ids, exact `Lagged` counts, and every id the oracle holds readable.
//! * [`mutating_reader`]: a real queue whose words the fuzzer overwrites between reads and
//!   writes. Invariant 6 under a hostile co-tenant: no panic, lengths within the buffer, ids
//!   strictly increasing per reader, exact lag arithmetic, and every message returned from a
//!   slot the fuzzer never touched is exactly the message written with that id.

mod mutating_reader;
mod ops_vs_oracle;
mod region_bytes;

pub use mutating_reader::mutating_reader;
pub use ops_vs_oracle::ops_vs_oracle;
pub use region_bytes::region_bytes;

use fmq_core::sync::{AtomicU64, Ordering};
use fmq_core::{HeapRegion, Layout, MessageMeta, ReadError, Reader, Region};

/// The fuzzer's bytes, read front to back; zeros once they are used up.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// Up to `n` bytes (fewer when the input ends).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }
}

fn get(words: &[AtomicU64], i: usize) -> u64 {
    // ORDERING: Relaxed: single-threaded test harness; no other thread touches the region.
    words.get(i).map_or(0, |w| w.load(Ordering::Relaxed))
}

fn set(words: &[AtomicU64], i: usize, v: u64) {
    if let Some(w) = words.get(i) {
        // ORDERING: Relaxed: single-threaded test harness.
        w.store(v, Ordering::Relaxed);
    }
}

/// Stores `bytes` into `words` little-endian, the last word zero-padded.
fn fill(words: &[AtomicU64], bytes: &[u8]) {
    for (i, c) in bytes.chunks(8).enumerate() {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        set(words, i, u64::from_le_bytes(b));
    }
}

/// Every word of a region, stat part then buffer.
fn snapshot(reg: &HeapRegion) -> Vec<u64> {
    let (s, b) = (reg.stat_words(), reg.buf_words());
    (0..s.len())
        .map(|i| get(s, i))
        .chain((0..b.len()).map(|i| get(b, i)))
        .collect()
}

fn copy_region(reg: &HeapRegion) -> HeapRegion {
    let (s, b) = (reg.stat_words(), reg.buf_words());
    let copy = HeapRegion::with_sizes(s.len() as u64 * 8, b.len() as u64 * 8);
    for i in 0..s.len() {
        set(copy.stat_words(), i, get(s, i));
    }
    for i in 0..b.len() {
        set(copy.buf_words(), i, get(b, i));
    }
    copy
}

/// `len` bytes of the buffer from byte `start` (a multiple of 8), as the writer stored them.
fn buffer_bytes(words: &[AtomicU64], start: u64, len: usize) -> Vec<u8> {
    let first = (start / 8) as usize;
    let mut out: Vec<u8> = (0..len.div_ceil(8))
        .flat_map(|i| get(words, first + i).to_le_bytes())
        .collect();
    out.truncate(len);
    out
}

/// A payload length from one input byte: below 128 a small exact length, above it a fraction
/// of the buffer, 255 an exact fit and 254 one byte less.
fn len_from(v: u8, buf: u64) -> usize {
    match v {
        0..=127 => u64::from(v % 48).min(buf) as usize,
        255 => buf as usize,
        254 => (buf - 1) as usize,
        _ => (buf * u64::from(v - 128) / 127) as usize,
    }
}

/// A small valid queue from two input bytes: 1 to 8 slots, 64 to 512 bytes of buffer.
fn small_queue(input: &mut Input<'_>) -> (u32, u64) {
    let slots = 1 + u32::from(input.u8() % 8);
    let buf = 8 * (8 + u64::from(input.u8() % 57));
    (slots, buf)
}

fn format(slots: u32, buf: u64) -> (HeapRegion, fmq_core::Config) {
    let cfg = crate::config(slots, buf);
    let layout = Layout::from_config(&cfg).expect("a valid small config");
    (HeapRegion::new(&layout), cfg)
}

/// A read of one of four kinds; `Ok` carries the metadata and the payload bytes. The small
/// buffer kind returns `BufferTooSmall` as an error like `try_read` does.
fn read_any(
    reader: &mut Reader<&HeapRegion>,
    kind: u8,
    small: usize,
    buf: &mut [u8],
) -> Result<(MessageMeta, Vec<u8>), ReadError> {
    match kind % 4 {
        0 => reader.try_read(buf).map(|m| (m, buf[..m.len].to_vec())),
        1 => reader.read_with(|p| p.to_vec()),
        2 => reader.try_read_message().map(|m| (m.meta, m.payload)),
        _ => {
            let mut b = vec![0u8; small];
            reader.try_read(&mut b).map(|m| (m, b[..m.len].to_vec()))
        }
    }
}
