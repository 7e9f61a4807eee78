//! Power-loss scenarios built by hand (DESIGN invariant 8): a region's words are
//! snapshotted ([`Image`]) at each `flush_with` step and after each step of a test, and a
//! power loss is a new region whose 4096-byte stat pages come from different snapshots, as
//! a kernel that writes dirty pages back in any order leaves a queue's files (the fault
//! model of `sim/src/storage.rs`, whose simulator draws such disks at random).
//!
//! It depends on fmq-core's public region and writer API only: it copies words, it does
//! not interpret them.

use fmq_core::sync::Ordering::Relaxed;
use fmq_core::{
    Config, FlushStep, HeapRegion, Layout, ReadError, Reader, ReaderConfig, Region, StartAt, Writer,
};

/// Words in a 4096-byte page.
pub const PAGE_WORDS: usize = 4096 / 8;

/// Every word of a region: its stat part and its buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The stat part (header and slots).
    pub stat: Vec<u64>,
    /// The buffer.
    pub buf: Vec<u64>,
}

impl Image {
    /// The region's words now.
    pub fn of(reg: &HeapRegion) -> Image {
        // ORDERING: Relaxed: a single-threaded test copies a region nobody else touches.
        let all = |ws: &[fmq_core::sync::AtomicU64]| ws.iter().map(|w| w.load(Relaxed)).collect();
        Image {
            stat: all(reg.stat_words()),
            buf: all(reg.buf_words()),
        }
    }

    /// Number of 4096-byte pages of the stat part.
    pub fn stat_pages_count(&self) -> usize {
        self.stat.len().div_ceil(PAGE_WORDS)
    }
}

/// A formatted queue whose disk states a test assembles page by page.
pub struct PowerLossQueue {
    layout: Layout,
    region: HeapRegion,
}

impl PowerLossQueue {
    /// A queue of `config`, formatted, its writer closed.
    pub fn formatted(config: &Config) -> PowerLossQueue {
        let layout = Layout::from_config(config).expect("a valid config");
        let region = HeapRegion::new(&layout);
        drop(Writer::format(&region, config).expect("format"));
        PowerLossQueue { layout, region }
    }

    /// The queue's region (memory: the page cache).
    pub fn region(&self) -> &HeapRegion {
        &self.region
    }

    /// The region's words now.
    pub fn snapshot(&self) -> Image {
        Image::of(&self.region)
    }

    /// `flush()` as the fmq crate does it, with the disk a snapshot taken at each sync step;
    /// checks the step order (buffer, slots, flush record) and returns the durable image.
    pub fn flush<R: Region>(&self, w: &Writer<R>) -> Image {
        flush(w, &self.region)
    }

    /// A power loss: the disk's stat page `p` is `stat_pages[p]`'s, its buffer `buf`'s.
    pub fn disk(&self, stat_pages: &[&Image], buf: &Image) -> HeapRegion {
        disk(&self.layout, stat_pages, buf)
    }
}

/// [`PowerLossQueue::flush`] for a writer on any region whose words are `reg`'s.
pub fn flush<R: Region>(w: &Writer<R>, reg: &HeapRegion) -> Image {
    let mut steps = Vec::new();
    let mut durable = None;
    w.flush_with(|step| -> Result<(), ()> {
        steps.push(step);
        durable = Some(Image::of(reg));
        Ok(())
    })
    .expect("the sync steps never fail");
    assert_eq!(
        steps,
        [FlushStep::Buf, FlushStep::Stat, FlushStep::Header],
        "the buffer, then the slots, then the flush record"
    );
    durable.expect("flush_with syncs")
}

/// A region of `layout` whose stat page `p` comes from `stat_pages[p]` and whose buffer
/// comes from `buf`.
pub fn disk(layout: &Layout, stat_pages: &[&Image], buf: &Image) -> HeapRegion {
    let reg = HeapRegion::new(layout);
    let pages = reg.stat_words().len().div_ceil(PAGE_WORDS);
    assert_eq!(stat_pages.len(), pages, "one image per stat page");
    for (i, w) in reg.stat_words().iter().enumerate() {
        // ORDERING: Relaxed: the disk is assembled before any reader or writer attaches.
        w.store(stat_pages[i / PAGE_WORDS].stat[i], Relaxed);
    }
    for (i, w) in reg.buf_words().iter().enumerate() {
        // ORDERING: Relaxed: as above.
        w.store(buf.buf[i], Relaxed);
    }
    reg
}

/// Reads everything from the oldest id until `Empty`: `(id, payload)` or the error; stops
/// with a panic after `limit` results (a reader that does not stop).
pub fn read_all(reg: &HeapRegion, limit: usize) -> Vec<Result<(u64, Vec<u8>), ReadError>> {
    let oldest = ReaderConfig {
        start: StartAt::Oldest,
        ..ReaderConfig::default()
    };
    let mut r = Reader::attach(reg, oldest).expect("attach");
    let mut out = Vec::new();
    loop {
        match r.try_read_message() {
            Ok(m) => out.push(Ok((m.meta.id.0, m.payload))),
            Err(ReadError::Empty) => return out,
            Err(e) => out.push(Err(e)),
        }
        assert!(out.len() <= limit, "reader does not stop");
    }
}
