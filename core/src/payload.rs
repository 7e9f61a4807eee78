//! Payload bytes in the shared buffer, copied word by word with `Relaxed` atomics.
//!
//! DESIGN invariant 3: a reader may copy bytes while the writer overwrites them, so every
//! copy is made of 8-byte atomic loads and stores (never `memcpy`, never `read_volatile`,
//! which Miri rightly calls a data race). Payloads are padded with zeros to a whole number of
//! words, so writer and readers use the same access size on every location. What a reader
//! copied is only trusted after the slot's stamp validates afterwards (see `reader.rs`).
//!
//! [`Payload`] is the zero-copy view handed to `Reader::read_with`: it exposes the bytes in
//! place through the same atomic loads.

use crate::crc::Crc32c;
use crate::sync::{AtomicU64, Ordering};

/// `len` rounded up to a whole number of 8-byte words.
#[inline]
pub(crate) const fn padded_len(len: u64) -> u64 {
    (len + 7) & !7
}

/// Words per cache line: the copies below move a whole line per step.
const LINE_WORDS: usize = 8;
/// Bytes per cache line.
const LINE_BYTES: usize = LINE_WORDS * 8;

/// Stores `src` into `dst` (exactly `padded_len(src.len()) / 8` words), zero-padding the
/// last word.
///
/// Whole cache lines first, eight word stores per step with no per-word loop bookkeeping (a
/// tight loop of single words spends most of its instructions on the loop itself, which
/// limits how many lines are in flight), then the remaining words.
#[inline]
pub(crate) fn store_bytes(dst: &[AtomicU64], src: &[u8]) {
    let lines = src.len() / LINE_BYTES;
    let (head, tail) = src.split_at(lines * LINE_BYTES);
    for (c, ws) in head
        .chunks_exact(LINE_BYTES)
        .zip(dst.chunks_exact(LINE_WORDS))
    {
        for (b, w) in c.chunks_exact(8).zip(ws) {
            let mut x = [0u8; 8];
            x.copy_from_slice(b);
            // ORDERING: Relaxed: payload words are published by the slot stamp's Release
            // store and guarded against overwrite by the writer's fence(Release) after
            // retiring.
            w.store(u64::from_le_bytes(x), Ordering::Relaxed);
        }
    }
    store_words(dst.get(lines * LINE_WORDS..).unwrap_or(&[]), tail);
}

/// [`store_bytes`] one word at a time, the last one zero-padded.
#[inline]
fn store_words(dst: &[AtomicU64], src: &[u8]) {
    // `src` first: `zip` polls its left side first, and must not consume a word it cannot
    // fill.
    for (c, w) in src.chunks(8).zip(dst) {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        // ORDERING: Relaxed: seqlock data, like the words of `store_bytes`.
        w.store(u64::from_le_bytes(b), Ordering::Relaxed);
    }
}

/// Loads `dst.len()` bytes from `src` (at least `padded_len(dst.len()) / 8` words).
///
/// Whole cache lines first (eight word loads, then the line's bytes), then the remaining
/// words; see [`store_bytes`].
#[inline]
pub(crate) fn load_bytes(src: &[AtomicU64], dst: &mut [u8]) {
    let lines = dst.len() / LINE_BYTES;
    let (head, tail) = dst.split_at_mut(lines * LINE_BYTES);
    for (c, ws) in head
        .chunks_exact_mut(LINE_BYTES)
        .zip(src.chunks_exact(LINE_WORDS))
    {
        let mut line = [0u64; LINE_WORDS];
        for (x, w) in line.iter_mut().zip(ws) {
            // ORDERING: Relaxed: validated afterwards by the reader's fence(Acquire) and
            // stamp re-check (seqlock), never trusted before.
            *x = w.load(Ordering::Relaxed);
        }
        for (b, x) in c.chunks_exact_mut(8).zip(line) {
            b.copy_from_slice(&x.to_le_bytes());
        }
    }
    load_words(src.get(lines * LINE_WORDS..).unwrap_or(&[]), tail);
}

/// [`load_bytes`] one word at a time.
#[inline]
fn load_words(src: &[AtomicU64], dst: &mut [u8]) {
    for (c, w) in dst.chunks_mut(8).zip(src) {
        // ORDERING: Relaxed: seqlock data, like the words of `load_bytes`.
        let b = w.load(Ordering::Relaxed).to_le_bytes();
        let n = c.len();
        c.copy_from_slice(&b[..n]);
    }
}

/// Feeds `len` bytes held in `src` words to a running checksum, through a small stack buffer.
pub(crate) fn crc_words(crc: &mut Crc32c, src: &[AtomicU64], len: usize) {
    let mut tmp = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(tmp.len());
        let first = done / 8;
        load_bytes(&src[first..], &mut tmp[..n]);
        crc.update(&tmp[..n]);
        done += n;
    }
}

/// A message payload in place in the shared buffer, for zero-copy reads.
///
/// Its bytes may change under you while the closure runs (the writer does not wait for
/// readers); every access is an atomic load, so that is not UB, but what you compute is only
/// returned if the message validates after the closure. Do not act on the bytes inside the
/// closure in ways you cannot undo.
pub struct Payload<'a> {
    words: &'a [AtomicU64],
    len: usize,
}

impl<'a> Payload<'a> {
    pub(crate) fn new(words: &'a [AtomicU64], len: usize) -> Self {
        Payload { words, len }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `dst.len().min(self.len() - offset)` bytes starting at `offset` into `dst` and
    /// returns how many were copied (0 when `offset` is past the end).
    pub fn copy_range_to(&self, offset: usize, dst: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = dst.len().min(self.len - offset);
        let first_word = offset / 8;
        let skip = offset % 8;
        if skip == 0 {
            load_bytes(&self.words[first_word..], &mut dst[..n]);
            return n;
        }
        let mut copied = 0;
        while copied < n {
            let pos = offset + copied;
            if let Some(b) = self.byte(pos) {
                dst[copied] = b;
            }
            copied += 1;
            if (offset + copied) % 8 == 0 {
                let rest = n - copied;
                load_bytes(
                    &self.words[(offset + copied) / 8..],
                    &mut dst[copied..copied + rest],
                );
                copied = n;
            }
        }
        n
    }

    /// Copies the whole payload into the start of `dst` (which must hold `len()` bytes;
    /// otherwise copies what fits) and returns the count copied.
    pub fn copy_to(&self, dst: &mut [u8]) -> usize {
        self.copy_range_to(0, dst)
    }

    /// Byte `i`, or `None` past the end.
    pub fn byte(&self, i: usize) -> Option<u8> {
        if i >= self.len {
            return None;
        }
        // ORDERING: Relaxed: validated after the closure by the reader's seqlock check.
        let w = self.words[i / 8].load(Ordering::Relaxed);
        Some(w.to_le_bytes()[i % 8])
    }

    /// The payload as an owned vector (feature `alloc`).
    #[cfg(feature = "alloc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        let mut v = alloc::vec![0u8; self.len];
        self.copy_to(&mut v);
        v
    }
}
