//! Where a queue's bytes live: the [`Region`] trait and [`HeapRegion`].
//!
//! A region is two slices of `AtomicU64`: the stat part (header + slot table) and the
//! message buffer. One shared-memory mapping split in two and two file mappings (`.stat` and
//! `.buf`) both fit this shape; so does [`HeapRegion`], for one process and for tests. The
//! protocol touches region memory only through these atomics, one 8-byte access size per
//! location (DESIGN invariant 3), so a region shared between processes has no data race.
//!
//! Implementations outside this crate (memory maps) are where bytes become typed shared
//! memory, and hold the only `unsafe` of the stack; fmq-core itself has none.

use crate::header::HEADER_WORDS;
use crate::layout::Layout;
use crate::registry::RECORD_WORDS;
use crate::slot::{self, SLOT_WORDS};
use crate::sync::AtomicU64;

/// Memory holding a queue.
///
/// Contract: every call returns the same two slices (same address, same length) for the
/// life of the value. The protocol validates sizes once at attach and relies on that.
/// Memory may be shared with other processes; everything read from it is validated.
pub trait Region {
    /// The stat part: header, then slot table, as 8-byte words.
    fn stat_words(&self) -> &[AtomicU64];
    /// The message buffer as 8-byte words.
    fn buf_words(&self) -> &[AtomicU64];
}

impl<R: Region + ?Sized> Region for &R {
    fn stat_words(&self) -> &[AtomicU64] {
        (**self).stat_words()
    }
    fn buf_words(&self) -> &[AtomicU64] {
        (**self).buf_words()
    }
}

#[cfg(feature = "alloc")]
impl<R: Region + ?Sized> Region for alloc::boxed::Box<R> {
    fn stat_words(&self) -> &[AtomicU64] {
        (**self).stat_words()
    }
    fn buf_words(&self) -> &[AtomicU64] {
        (**self).buf_words()
    }
}

#[cfg(feature = "alloc")]
impl<R: Region + ?Sized> Region for alloc::sync::Arc<R> {
    fn stat_words(&self) -> &[AtomicU64] {
        (**self).stat_words()
    }
    fn buf_words(&self) -> &[AtomicU64] {
        (**self).buf_words()
    }
}

/// A region on the heap, zero-filled, each part starting on a 64-byte boundary so that the
/// header's cache lines are real cache lines (safe code: the vectors are over-allocated and
/// sliced at the first aligned word).
#[cfg(feature = "alloc")]
pub struct HeapRegion {
    stat: alloc::vec::Vec<AtomicU64>,
    stat_start: usize,
    stat_len: usize,
    buf: alloc::vec::Vec<AtomicU64>,
    buf_start: usize,
    buf_len: usize,
}

#[cfg(feature = "alloc")]
impl HeapRegion {
    /// A zeroed region sized for `layout`.
    pub fn new(layout: &Layout) -> HeapRegion {
        HeapRegion::with_sizes(layout.stat_size_bytes(), layout.buf_size_bytes())
    }

    /// A zeroed region of any sizes (rounded up to words): for tests of bad regions.
    pub fn with_sizes(stat_size_bytes: u64, buf_size_bytes: u64) -> HeapRegion {
        let (stat, stat_start, stat_len) = aligned_words(stat_size_bytes.div_ceil(8) as usize);
        let (buf, buf_start, buf_len) = aligned_words(buf_size_bytes.div_ceil(8) as usize);
        HeapRegion {
            stat,
            stat_start,
            stat_len,
            buf,
            buf_start,
            buf_len,
        }
    }
}

#[cfg(feature = "alloc")]
fn aligned_words(len: usize) -> (alloc::vec::Vec<AtomicU64>, usize, usize) {
    const LINE_WORDS: usize = 8;
    let v: alloc::vec::Vec<AtomicU64> = (0..len + LINE_WORDS - 1)
        .map(|_| AtomicU64::new(0))
        .collect();
    let start = match v.as_ptr().align_offset(64) {
        off if off < LINE_WORDS => off,
        _ => 0,
    };
    (v, start, len)
}

#[cfg(feature = "alloc")]
impl Region for HeapRegion {
    fn stat_words(&self) -> &[AtomicU64] {
        &self.stat[self.stat_start..self.stat_start + self.stat_len]
    }
    fn buf_words(&self) -> &[AtomicU64] {
        &self.buf[self.buf_start..self.buf_start + self.buf_len]
    }
}

/// A region's two slices checked against a validated layout, so that header words, slots and
/// payload ranges inside the layout can be indexed without further checks.
pub(crate) struct View<'a> {
    stat: &'a [AtomicU64],
    buf: &'a [AtomicU64],
    slots_count: u64,
    readers_max: usize,
}

impl<'a> View<'a> {
    /// `None` if the region is smaller than `layout` (a `Region` that broke its contract).
    #[inline]
    pub(crate) fn new<R: Region + ?Sized>(region: &'a R, layout: &Layout) -> Option<View<'a>> {
        let stat = region.stat_words().get(..layout.stat_words())?;
        let buf = region.buf_words().get(..layout.buf_words())?;
        Some(View {
            stat,
            buf,
            slots_count: layout.slots_count().into(),
            readers_max: layout.readers_max() as usize,
        })
    }

    /// A header word; `w` is one of the `header::word` constants.
    #[inline]
    pub(crate) fn header(&self, w: usize) -> &'a AtomicU64 {
        debug_assert!(w < HEADER_WORDS);
        &self.stat[w]
    }

    /// The slot holding message `id`.
    #[inline]
    pub(crate) fn slot(&self, id: u64) -> SlotRef<'a> {
        self.slot_at((id % self.slots_count) as usize)
    }

    /// Slot number `index` (`index < slots_count`).
    #[inline]
    pub(crate) fn slot_at(&self, index: usize) -> SlotRef<'a> {
        let start = HEADER_WORDS + index * SLOT_WORDS;
        SlotRef(&self.stat[start..start + SLOT_WORDS])
    }

    /// Reader record number `index` of the registry, if `index < readers_max`.
    #[inline]
    pub(crate) fn record(&self, index: usize) -> Option<&'a [AtomicU64]> {
        if index >= self.readers_max {
            return None;
        }
        let start = HEADER_WORDS + self.slots_count as usize * SLOT_WORDS + index * RECORD_WORDS;
        self.stat.get(start..start + RECORD_WORDS)
    }

    /// Number of reader records.
    #[inline]
    pub(crate) fn readers_max(&self) -> usize {
        self.readers_max
    }

    /// `words` words of the buffer from word `start`; the caller has checked the range
    /// against the layout.
    #[inline]
    pub(crate) fn buf(&self, start: usize, words: usize) -> &'a [AtomicU64] {
        &self.buf[start..start + words]
    }
}

/// One slot's words.
#[derive(Clone, Copy)]
pub(crate) struct SlotRef<'a>(&'a [AtomicU64]);

impl<'a> SlotRef<'a> {
    #[inline]
    pub(crate) fn stamp(&self) -> &'a AtomicU64 {
        &self.0[slot::word::STAMP]
    }
    #[inline]
    pub(crate) fn word(&self, w: usize) -> &'a AtomicU64 {
        &self.0[w]
    }
}
