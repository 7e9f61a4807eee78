//! Where a queue's bytes live: the [`Region`] trait (the bottom layer: it knows nothing of
//! the format).
//!
//! A region is two slices of `AtomicU64`: the stat part (header + slot table) and the
//! message buffer. One shared-memory mapping split in two and two file mappings (`.stat` and
//! `.buf`) both fit this shape; so does [`HeapRegion`](crate::HeapRegion), for one process and for tests. The
//! protocol touches region memory only through these atomics, one 8-byte access size per
//! location (DESIGN invariant 3), so a region shared between processes has no data race.
//!
//! Implementations outside this crate (memory maps) are where bytes become typed shared
//! memory, and hold the only `unsafe` of the stack; fmq-core itself has none.

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
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
impl<R: Region + ?Sized> Region for alloc::boxed::Box<R> {
    fn stat_words(&self) -> &[AtomicU64] {
        (**self).stat_words()
    }
    fn buf_words(&self) -> &[AtomicU64] {
        (**self).buf_words()
    }
}

#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
impl<R: Region + ?Sized> Region for alloc::sync::Arc<R> {
    fn stat_words(&self) -> &[AtomicU64] {
        (**self).stat_words()
    }
    fn buf_words(&self) -> &[AtomicU64] {
        (**self).buf_words()
    }
}
