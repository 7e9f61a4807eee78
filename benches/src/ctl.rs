//! The control block shared by a bench process and its child processes: one page in
//! `/dev/shm`, as 8-byte atomics, each role on its own cache line.
//!
//! | line | word 0 | word 1 |
//! | --- | --- | --- |
//! | 0 | stop flag (bench → children) | |
//! | 1 | ready count (children → bench) | |
//! | 2 + i | messages taken by reader i | messages reader i lost (fmq `Lagged`) |
//! | 12 | the ping-pong word of the cache-line round trip | |
//!
//! This is harness memory, not the queue under test: the queues' own shared memory is
//! untouched by it.

use std::fs::OpenOptions;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

/// Readers a control block can count.
pub const MAX_READERS: usize = 8;
const WORDS_PER_LINE: usize = 8;
const LINES: usize = 16;
const SIZE_BYTES: usize = LINES * WORDS_PER_LINE * 8;
const LINE_STOP: usize = 0;
const LINE_READY: usize = 1;
const LINE_READER0: usize = 2;
const LINE_PING: usize = 12;

/// A mapped control block.
pub struct Ctl {
    map: MmapMut,
    path: std::path::PathBuf,
    owner: bool,
}

impl Ctl {
    /// Creates a zeroed control block `/dev/shm/NAME` (removed again on drop).
    pub fn create(name: &str) -> Ctl {
        Ctl::map(name, true)
    }

    /// Opens the control block a bench process created.
    pub fn open(name: &str) -> Ctl {
        Ctl::map(name, false)
    }

    fn map(name: &str, owner: bool) -> Ctl {
        let path = std::path::Path::new("/dev/shm").join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(owner)
            .truncate(owner)
            .open(&path)
            .unwrap_or_else(|e| panic!("control block {}: {e}", path.display()));
        file.set_len(SIZE_BYTES as u64).expect("size control block");
        // SAFETY:
        // 1. The file is a regular tmpfs file of SIZE_BYTES that this process keeps mapped for
        //    the life of `Ctl`; other processes only map it too and never truncate it.
        // 2. Every access to the mapping goes through `words()`, as `AtomicU64`, so sharing
        //    it with other processes is not a data race.
        let map = unsafe { MmapMut::map_mut(&file) }.expect("map control block");
        Ctl { map, path, owner }
    }

    fn words(&self) -> &[AtomicU64] {
        let ptr = self.map.as_ptr().cast::<AtomicU64>();
        // SAFETY:
        // 1. The mapping is page-aligned (so 8-aligned) and SIZE_BYTES long, a multiple of 8,
        //    and lives as long as `self`.
        // 2. `AtomicU64` has the size and alignment of `u64` and every bit pattern is valid.
        // 3. The memory is only ever accessed atomically (here and in the other processes).
        unsafe { std::slice::from_raw_parts(ptr, SIZE_BYTES / 8) }
    }

    fn word(&self, line: usize, w: usize) -> &AtomicU64 {
        &self.words()[line * WORDS_PER_LINE + w]
    }

    /// Asks the children to stop.
    pub fn stop(&self) {
        // ORDERING: Release pairs with the Acquire in `stopped`; nothing else is published.
        self.word(LINE_STOP, 0).store(1, Ordering::Release);
    }

    /// Whether the bench asked to stop.
    pub fn stopped(&self) -> bool {
        // ORDERING: Acquire pairs with the Release in `stop`.
        self.word(LINE_STOP, 0).load(Ordering::Acquire) != 0
    }

    /// A child says it is attached and ready.
    pub fn ready(&self) {
        // ORDERING: Release pairs with the Acquire in `ready_count`: a bench that counts this
        // child sees its attach done (the queue opened, its position taken).
        self.word(LINE_READY, 0).fetch_add(1, Ordering::Release);
    }

    /// Children ready so far.
    pub fn ready_count(&self) -> u64 {
        // ORDERING: Acquire pairs with the Release in `ready`.
        self.word(LINE_READY, 0).load(Ordering::Acquire)
    }

    /// Reader `i` has taken `count` messages in all.
    #[inline]
    pub fn set_taken(&self, i: usize, count: u64) {
        // ORDERING: Relaxed: a progress count; the writer only compares it, and the queue's
        // own protocol orders the messages themselves.
        self.word(LINE_READER0 + i, 0)
            .store(count, Ordering::Relaxed);
    }

    /// Messages reader `i` has taken.
    #[inline]
    pub fn taken(&self, i: usize) -> u64 {
        // ORDERING: Relaxed: see `set_taken`.
        self.word(LINE_READER0 + i, 0).load(Ordering::Relaxed)
    }

    /// Reader `i` has lost `count` messages in all (fmq's `Lagged`).
    pub fn set_missed(&self, i: usize, count: u64) {
        // ORDERING: Relaxed: a count read after the run.
        self.word(LINE_READER0 + i, 1)
            .store(count, Ordering::Relaxed);
    }

    /// Messages reader `i` lost.
    pub fn missed(&self, i: usize) -> u64 {
        // ORDERING: Relaxed: see `set_missed`.
        self.word(LINE_READER0 + i, 1).load(Ordering::Relaxed)
    }

    /// The cache-line ping-pong word.
    pub fn ping(&self) -> &AtomicU64 {
        self.word(LINE_PING, 0)
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
