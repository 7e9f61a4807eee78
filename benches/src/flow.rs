//! The lossless window: a writer that never blocks by design (fmq, `tokio::sync::broadcast`)
//! is held back by the harness when it is `window` messages ahead of its slowest reader, so
//! "one reader keeping up" compares like with like against the peers that block (disruptor,
//! bus, crossbeam-channel, iceoryx2 with `UnableToDeliverStrategy::Block`, pipes, sockets).
//! The readers publish how many messages they took (`Ctl::set_taken` or an in-process
//! counter); the writer re-reads those counters only when its cached minimum says the window
//! may be full, and then waits until the slowest reader is half a window behind, so the
//! check costs nothing per message, also when the writer runs at the readers' pace.

use std::sync::atomic::{AtomicU64, Ordering};

/// How many messages a reader has taken, read by the writer.
pub trait Progress {
    /// Messages reader `i` has taken.
    fn taken(&self, i: usize) -> u64;
}

impl Progress for crate::ctl::Ctl {
    fn taken(&self, i: usize) -> u64 {
        crate::ctl::Ctl::taken(self, i)
    }
}

/// In-process reader counters, one cache line each.
#[derive(Default)]
pub struct Counters(pub Vec<PaddedCounter>);

/// An `AtomicU64` alone on its cache line.
#[repr(align(64))]
#[derive(Default)]
pub struct PaddedCounter(pub AtomicU64);

impl Counters {
    /// `n` zeroed counters.
    pub fn new(n: usize) -> Counters {
        Counters((0..n).map(|_| PaddedCounter::default()).collect())
    }
    /// Reader `i` took `count` messages in all.
    #[inline]
    pub fn set(&self, i: usize, count: u64) {
        // ORDERING: Relaxed: a progress count the writer only compares (see the module).
        self.0[i].0.store(count, Ordering::Relaxed);
    }
}

impl Progress for Counters {
    fn taken(&self, i: usize) -> u64 {
        // ORDERING: Relaxed: see `set`.
        self.0[i].0.load(Ordering::Relaxed)
    }
}

/// The writer's side of the window.
pub struct Window {
    readers: usize,
    idle: Idle,
    window: u64,
    sent: u64,
    min_taken: u64,
}

impl Window {
    /// A window of `window` messages (at least 1) over `readers` readers, starting at
    /// `sent` messages already sent and taken.
    pub fn new(readers: usize, window: u64, sent: u64) -> Window {
        Window {
            readers,
            idle: Idle::new(readers),
            window: window.max(1),
            sent,
            min_taken: sent,
        }
    }

    /// No window (a writer that blocks by itself), but `drain` still waits for the readers.
    pub fn unbounded(readers: usize) -> Window {
        Window::new(readers, u64::MAX / 2, 0)
    }

    /// Waits until one more message may be sent without overrunning any reader, then counts
    /// it as sent.
    #[inline]
    pub fn admit<P: Progress + ?Sized>(&mut self, p: &P) {
        if self.readers > 0 && self.sent - self.min_taken >= self.window {
            // Hysteresis: once the window is full, wait until the slowest reader is half a
            // window behind, so the writer does not poll the readers' counters (and bounce
            // their cache lines) once per message while it runs at the readers' pace.
            self.min_taken = self.min(p);
            while self.sent - self.min_taken > self.window / 2 {
                self.idle.wait();
                self.min_taken = self.min(p);
            }
        }
        self.sent += 1;
    }

    /// Waits until every reader has taken everything sent.
    pub fn drain<P: Progress + ?Sized>(&mut self, p: &P) {
        while self.readers > 0 && self.min(p) < self.sent {
            self.idle.wait();
        }
        self.min_taken = self.sent;
    }

    fn min<P: Progress + ?Sized>(&self, p: &P) -> u64 {
        (0..self.readers)
            .map(|i| p.taken(i))
            .min()
            .unwrap_or(self.sent)
    }

    /// Messages sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

/// What a polling reader (or the writer waiting in its window) does when it found nothing:
/// spin; and, only when readers and writer outnumber this machine's cores, give the core
/// away every 64 empty polls, since a spinning thread would then starve the one it waits
/// for. Every polling reader of every system uses it, so they pay the same.
pub struct Idle {
    polls: u32,
    yield_every: u32,
}

impl Idle {
    /// The policy for a run with `readers` readers and one writer.
    pub fn new(readers: usize) -> Idle {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Idle {
            polls: 0,
            yield_every: if readers + 1 > cores { 64 } else { 0 },
        }
    }

    /// One empty poll.
    #[inline]
    pub fn wait(&mut self) {
        self.polls = self.polls.wrapping_add(1);
        if self.yield_every != 0 && self.polls.is_multiple_of(self.yield_every) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }

    /// Something was found.
    #[inline]
    pub fn reset(&mut self) {
        self.polls = 0;
    }
}
