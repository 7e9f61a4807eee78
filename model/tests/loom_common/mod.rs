//! What the loom models share: a `check` that counts and prints the interleavings explored,
//! small queues, and a `Follower` that checks one reader's accounting as it goes.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::sync::Arc;
use std::time::Instant;

use fmq_core::{HeapRegion, Layout, MessageId, ReadError, Reader, ReaderConfig, StartAt, Writer};
use fmq_model::config;

/// Runs `f` under loom for every interleaving within `LOOM_MAX_PREEMPTIONS` (default
/// `preemptions`), and prints how many interleavings that was and how long it took (run the
/// tests with `--nocapture` to see it; `ci/loom.sh` does).
pub fn check<F: Fn() + Sync + Send + 'static>(name: &str, preemptions: usize, f: F) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(preemptions);
    }
    let bound = b.preemption_bound.unwrap_or(0);
    let runs = Arc::new(StdAtomicU64::new(0));
    let counted = Arc::clone(&runs);
    let started = Instant::now();
    b.check(move || {
        // ORDERING: Relaxed: a statistic, read after the model has finished.
        counted.fetch_add(1, StdOrdering::Relaxed);
        f();
    });
    println!(
        "loom: {name}: {} interleavings, preemption bound {bound}, {:.2} s",
        // ORDERING: Relaxed: as above.
        runs.load(StdOrdering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

/// A formatted heap queue and its writer.
pub fn queue(slots_count: u32, buf_size_bytes: u64) -> (Writer<Arc<HeapRegion>>, Arc<HeapRegion>) {
    let cfg = config(slots_count, buf_size_bytes);
    let region = Arc::new(HeapRegion::new(&Layout::from_config(&cfg).unwrap()));
    let writer = Writer::format(Arc::clone(&region), &cfg).unwrap();
    (writer, region)
}

/// One reader, checked as it goes: ids strictly increase, every lag accounts exactly for the
/// ids skipped, and every payload is handed to `expect` (by default: `len` bytes equal to
/// the id) or recorded for a check after the model's threads have joined.
pub struct Follower {
    pub reader: Reader<Arc<HeapRegion>>,
    pub len: usize,
    pub next: u64,
    pub received: u64,
    pub missed: u64,
    /// Every message returned: (id, payload).
    pub seen: Vec<(u64, Vec<u8>)>,
    /// Whether payloads are checked as `payload(id, len)` on the spot.
    pub check_payload: bool,
}

impl Follower {
    /// A reader from id 1 expecting `len`-byte payloads of `payload(id, len)`.
    pub fn new(region: Arc<HeapRegion>, len: usize) -> Follower {
        let reader = Reader::attach(
            region,
            ReaderConfig {
                start: StartAt::Id(MessageId(1)),
                ..ReaderConfig::default()
            },
        )
        .unwrap();
        Follower {
            reader,
            len,
            next: 1,
            received: 0,
            missed: 0,
            seen: Vec::new(),
            check_payload: true,
        }
    }

    /// A reader that records payloads instead of checking them.
    pub fn recording(region: Arc<HeapRegion>) -> Follower {
        Follower {
            check_payload: false,
            ..Follower::new(region, 0)
        }
    }

    /// One `try_read`.
    pub fn step(&mut self) {
        let mut buf = [0u8; 64];
        match self.reader.try_read(&mut buf) {
            Ok(m) => {
                assert_eq!(m.id.0, self.next, "ids must strictly increase without gaps");
                if self.check_payload {
                    assert_eq!(
                        &buf[..m.len],
                        &fmq_model::payload(m.id.0, self.len)[..],
                        "torn or stale payload"
                    );
                }
                self.seen.push((m.id.0, buf[..m.len].to_vec()));
                self.next += 1;
                self.received += 1;
            }
            Err(ReadError::Empty) => {}
            Err(ReadError::Lagged {
                missed_count,
                resumed_at,
            }) => {
                assert!(missed_count > 0);
                assert_eq!(
                    resumed_at.0,
                    self.next + missed_count,
                    "inexact missed count"
                );
                self.next = resumed_at.0;
                self.missed += missed_count;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}
