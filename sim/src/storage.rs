//! The simulated storage under the queue: a [`HeapRegion`] whose every store is seen, and,
//! for a file-backed queue, the disk behind it.
//!
//! # Fault model (what the simulator may do to the storage, and nothing else)
//!
//! * **Process crash.** The writer stops after any one of its stores (the store hook drops
//!   that store and every later one, its `Drop` included). Memory keeps every store that
//!   completed: shared memory and the page cache survive a process.
//! * **Power loss (file-backed queues only).** Each part is a file of 4096-byte pages
//!   (`NAME.stat` and `NAME.buf`, paged separately). The disk holds the *durable image*:
//!   both parts as they were at the last `flush()` (a sim-level operation that snapshots
//!   memory, as `msync` of both files does), or as the last power loss left them. Between
//!   flushes the kernel may write any dirty page back at any moment and in any order, so at a
//!   power loss every page that was stored to since the durable image independently holds
//!   its content as of some prefix of those stores, from none of them to all of them. A
//!   page is never torn inside itself. Every process dies with the power.
//! * Nothing else: no bit flips, no lost or misdirected writes, no torn 8-byte words.
//!
//! Stores are located by address: a word of the stat part or of the buffer, by its index.

use std::collections::BTreeMap;
use std::sync::Arc;

use fmq_core::sync::{hook, Ordering};
use fmq_core::{HeapRegion, Layout, Region};

/// Size of a page of a queue file, in bytes.
pub const PAGE_SIZE_BYTES: usize = 4096;
/// Size of a page in words.
pub const PAGE_WORDS: usize = PAGE_SIZE_BYTES / 8;

/// One part of a region (one file of a file-backed queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// Header and slot table (`NAME.stat`).
    Stat,
    /// The message buffer (`NAME.buf`).
    Buf,
}

/// One store the writer made: which word, and the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Store {
    /// The part written.
    pub part: Part,
    /// The word's index in that part.
    pub word: usize,
    /// The value stored.
    pub value: u64,
}

impl Store {
    /// The page of its part that the store falls in.
    pub fn page(&self) -> usize {
        self.word / PAGE_WORDS
    }
}

/// The contents of both parts, word by word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The stat part.
    pub stat: Vec<u64>,
    /// The buffer.
    pub buf: Vec<u64>,
}

impl Image {
    /// The word `word` of `part`.
    pub fn word(&self, part: Part, word: usize) -> u64 {
        match part {
            Part::Stat => self.stat[word],
            Part::Buf => self.buf[word],
        }
    }

    /// Applies one store.
    pub fn apply(&mut self, s: &Store) {
        match s.part {
            Part::Stat => self.stat[s.word] = s.value,
            Part::Buf => self.buf[s.word] = s.value,
        }
    }
}

/// A heap region and where its two parts live, so that the store hook can tell which word
/// an address is.
pub struct SimRegion {
    region: Arc<HeapRegion>,
    stat_base: usize,
    stat_words: usize,
    buf_base: usize,
    buf_words: usize,
}

impl SimRegion {
    /// A zeroed region for `layout`.
    pub fn new(layout: &Layout) -> SimRegion {
        let region = Arc::new(HeapRegion::new(layout));
        let (stat, buf) = (region.stat_words(), region.buf_words());
        SimRegion {
            stat_base: stat.as_ptr() as usize,
            stat_words: stat.len(),
            buf_base: buf.as_ptr() as usize,
            buf_words: buf.len(),
            region,
        }
    }

    /// A region holding `image` (what a queue's files hold after a reboot). The stores that
    /// fill it are made with the store hook removed: they are the disk, not a writer.
    pub fn from_image(layout: &Layout, image: &Image) -> SimRegion {
        let r = SimRegion::new(layout);
        let saved = hook::set(None);
        for (w, v) in r.region.stat_words().iter().zip(&image.stat) {
            // ORDERING: Relaxed: single-threaded set-up before any reader or writer attaches.
            w.store(*v, Ordering::Relaxed);
        }
        for (w, v) in r.region.buf_words().iter().zip(&image.buf) {
            // ORDERING: Relaxed: as above.
            w.store(*v, Ordering::Relaxed);
        }
        hook::set(saved);
        r
    }

    /// A shared handle on the region, for a writer or a reader.
    pub fn handle(&self) -> Arc<HeapRegion> {
        Arc::clone(&self.region)
    }

    /// Which word an address is, if it is one of this region's.
    pub fn locate(&self, addr: usize) -> Option<(Part, usize)> {
        let find = |base: usize, words: usize| {
            let off = addr.checked_sub(base)?;
            (off % 8 == 0 && off / 8 < words).then_some(off / 8)
        };
        if let Some(w) = find(self.stat_base, self.stat_words) {
            return Some((Part::Stat, w));
        }
        find(self.buf_base, self.buf_words).map(|w| (Part::Buf, w))
    }

    /// The current value of a word.
    pub fn load(&self, part: Part, word: usize) -> u64 {
        let words = match part {
            Part::Stat => self.region.stat_words(),
            Part::Buf => self.region.buf_words(),
        };
        // ORDERING: Relaxed: the simulator is single-threaded; it only inspects.
        words[word].load(Ordering::Relaxed)
    }

    /// Both parts as they are now.
    pub fn image(&self) -> Image {
        // ORDERING: Relaxed: single-threaded inspection.
        let all = |ws: &[fmq_core::sync::AtomicU64]| {
            ws.iter().map(|w| w.load(Ordering::Relaxed)).collect()
        };
        Image {
            stat: all(self.region.stat_words()),
            buf: all(self.region.buf_words()),
        }
    }
}

/// A dirty page at a power loss: how many stores it received since the durable image, and
/// how many of them reached the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCut {
    /// The part (file).
    pub part: Part,
    /// The page's index in its part.
    pub page: usize,
    /// Stores to the page since the durable image.
    pub stores_count: usize,
    /// How many of them (a prefix) are on disk after the power loss.
    pub kept_count: usize,
}

/// What a power loss left on disk.
#[derive(Clone, Debug)]
pub struct PowerLoss {
    /// The image the next boot finds.
    pub image: Image,
    /// For each store of the log, whether it reached the disk.
    pub persisted: Vec<bool>,
    /// The cut of every dirty page.
    pub cuts: Vec<PageCut>,
}

/// The disk of a file-backed queue: the durable image and the stores made since.
pub struct Durability {
    durable: Image,
    log: Vec<Store>,
}

impl Durability {
    /// A disk holding `durable`, with nothing stored since.
    pub fn new(durable: Image) -> Durability {
        Durability {
            durable,
            log: Vec::new(),
        }
    }

    /// `flush()`: everything in memory is now on disk.
    pub fn flush(&mut self, now: Image) {
        self.durable = now;
        self.log.clear();
    }

    /// A store reached memory (the page cache).
    pub fn record(&mut self, s: Store) {
        self.log.push(s);
    }

    /// The stores since the durable image, in order.
    pub fn log(&self) -> &[Store] {
        &self.log
    }

    /// The durable image.
    pub fn durable(&self) -> &Image {
        &self.durable
    }

    /// The dirty pages, in (part, page) order, with how many stores each received.
    pub fn dirty_pages(&self) -> Vec<(Part, usize, usize)> {
        let mut pages: BTreeMap<(Part, usize), usize> = BTreeMap::new();
        for s in &self.log {
            *pages.entry((s.part, s.page())).or_default() += 1;
        }
        pages.into_iter().map(|((p, n), c)| (p, n, c)).collect()
    }

    /// The disk after a power loss in which dirty page `i` (in [`Self::dirty_pages`] order)
    /// keeps the first `keep(i, part, page, stores_count)` of its stores (clamped to its
    /// count).
    pub fn power_loss(
        &self,
        mut keep: impl FnMut(usize, Part, usize, usize) -> usize,
    ) -> PowerLoss {
        let pages = self.dirty_pages();
        let mut kept: BTreeMap<(Part, usize), usize> = BTreeMap::new();
        let mut cuts = Vec::with_capacity(pages.len());
        for (i, &(part, page, count)) in pages.iter().enumerate() {
            let k = keep(i, part, page, count).min(count);
            kept.insert((part, page), k);
            cuts.push(PageCut {
                part,
                page,
                stores_count: count,
                kept_count: k,
            });
        }
        let mut image = self.durable.clone();
        let mut seen: BTreeMap<(Part, usize), usize> = BTreeMap::new();
        let persisted = self
            .log
            .iter()
            .map(|s| {
                let n = seen.entry((s.part, s.page())).or_default();
                let on_disk = *n < kept[&(s.part, s.page())];
                *n += 1;
                if on_disk {
                    image.apply(s);
                }
                on_disk
            })
            .collect();
        PowerLoss {
            image,
            persisted,
            cuts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_keeps_a_prefix_of_each_page() {
        let durable = Image {
            stat: vec![0; 2 * PAGE_WORDS],
            buf: vec![0; PAGE_WORDS],
        };
        let mut d = Durability::new(durable);
        let st = |part, word, value| Store { part, word, value };
        d.record(st(Part::Stat, 0, 1));
        d.record(st(Part::Buf, 3, 2));
        d.record(st(Part::Stat, PAGE_WORDS, 3));
        d.record(st(Part::Stat, 1, 4));
        d.record(st(Part::Stat, 0, 5));
        assert_eq!(
            d.dirty_pages(),
            vec![(Part::Stat, 0, 3), (Part::Stat, 1, 1), (Part::Buf, 0, 1)]
        );
        // Page stat/0 keeps 2 of its 3 stores, stat/1 none, buf/0 all.
        let loss = d.power_loss(|i, _, _, n| [2, 0, n][i]);
        assert_eq!(loss.persisted, vec![true, true, false, true, false]);
        assert_eq!(&loss.image.stat[..2], &[1, 4]);
        assert_eq!(loss.image.stat[PAGE_WORDS], 0);
        assert_eq!(loss.image.buf[3], 2);
    }
}
