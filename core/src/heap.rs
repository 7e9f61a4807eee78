//! [`HeapRegion`]: a region on the heap, for one process and for tests (feature `alloc`).

use crate::layout::Layout;
use crate::region::Region;
use crate::sync::AtomicU64;

/// A region on the heap, zero-filled, each part starting on a 64-byte boundary so that the
/// header's cache lines are real cache lines (safe code: the vectors are over-allocated and
/// sliced at the first aligned word).
pub struct HeapRegion {
    stat: alloc::vec::Vec<AtomicU64>,
    stat_start: usize,
    stat_len: usize,
    buf: alloc::vec::Vec<AtomicU64>,
    buf_start: usize,
    buf_len: usize,
}

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

impl Region for HeapRegion {
    fn stat_words(&self) -> &[AtomicU64] {
        &self.stat[self.stat_start..self.stat_start + self.stat_len]
    }
    fn buf_words(&self) -> &[AtomicU64] {
        &self.buf[self.buf_start..self.buf_start + self.buf_len]
    }
}
