//! [`View`]: a region's two slices checked once against a validated [`Layout`], so that the
//! protocol indexes header words, slots, reader records and payloads without further checks.
//! Every offset comes from [`Layout`].

use crate::layout::Layout;
use crate::region::Region;
use crate::slot::{self, SLOT_WORDS};
use crate::sync::AtomicU64;

/// A region's two slices checked against a validated layout, so that header words, slots and
/// payload ranges inside the layout can be indexed without further checks.
pub(crate) struct View<'a> {
    stat: &'a [AtomicU64],
    buf: &'a [AtomicU64],
    layout: Layout,
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
            layout: *layout,
        })
    }

    /// A header word; `w` is one of the `header::word` constants.
    #[inline]
    pub(crate) fn header(&self, w: usize) -> &'a AtomicU64 {
        debug_assert!(w < crate::header::HEADER_WORDS);
        &self.stat[w]
    }

    /// The whole stat part: header, slot table, registry.
    #[inline]
    pub(crate) fn stat(&self) -> &'a [AtomicU64] {
        self.stat
    }

    /// The slot holding message `id`.
    #[inline]
    pub(crate) fn slot(&self, id: u64) -> SlotRef<'a> {
        self.slot_at(self.layout.slot_index(id))
    }

    /// Slot number `index` (`index < slots_count`).
    #[inline]
    pub(crate) fn slot_at(&self, index: usize) -> SlotRef<'a> {
        let start = self.layout.slot_first_word(index);
        SlotRef(&self.stat[start..start + SLOT_WORDS])
    }

    /// Reader record number `index` of the registry, if `index < readers_max`.
    #[inline]
    pub(crate) fn record(&self, index: usize) -> Option<&'a [AtomicU64]> {
        if index >= self.readers_max() {
            return None;
        }
        self.stat.get(self.layout.record_words(index))
    }

    /// Number of reader records.
    #[inline]
    pub(crate) fn readers_max(&self) -> usize {
        self.layout.readers_max() as usize
    }

    /// The buffer words of the payload at stream position `pos`, `len` bytes long; the
    /// caller has checked that it does not cross the buffer's end.
    #[inline]
    pub(crate) fn payload(&self, pos: u64, len: u64) -> &'a [AtomicU64] {
        &self.buf[self.layout.payload_words(pos, len)]
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
