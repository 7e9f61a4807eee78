//! loom models of the fmq-core protocol: one writer and one or two readers, every
//! interleaving up to `LOOM_MAX_PREEMPTIONS` (default here: 2). Each model is named after the
//! invariant of DESIGN §4 it checks. Payloads are 16 bytes (two words) whose every byte is
//! the id, so a torn or stale copy would be visible even without the CRC.
//!
//! Status (work in progress for the verification issue): measured on this machine with
//! `LOOM_MAX_PREEMPTIONS=1`, the publish and batch models finish in under a second, while
//! the one-slot overwrite models (every write retires, two readers) do not finish in
//! 120 s: `ci/loom.sh` runs the other four at 2 preemptions (publish and batch in
//! milliseconds, buffer wrap 0.9 s, slot-ring wrap 23 s) and skips these two, loudly; they
//! need smaller writer paths (fewer stores per message) or bounded branches.

#![cfg(fmq_loom)]

use fmq_core::{HeapRegion, Layout, MessageId, ReadError, Reader, ReaderConfig, StartAt, Writer};
use fmq_model::{config, payload};
use loom::thread;
use std::sync::Arc;

const LEN: usize = 16;

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

/// What one reader saw, checked as it goes: ids strictly increase, every payload is the
/// message's own, and a lag accounts exactly for the ids skipped.
struct Follower {
    reader: Reader<Arc<HeapRegion>>,
    len: usize,
    next: u64,
    received: u64,
    missed: u64,
}

impl Follower {
    fn new(region: Arc<HeapRegion>) -> Follower {
        Follower::with_len(region, LEN)
    }

    fn with_len(region: Arc<HeapRegion>, len: usize) -> Follower {
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
        }
    }

    fn step(&mut self) {
        let mut buf = [0u8; 64];
        match self.reader.try_read(&mut buf) {
            Ok(m) => {
                assert_eq!(m.id.0, self.next, "ids must strictly increase without gaps");
                assert_eq!(
                    &buf[..m.len],
                    &payload(m.id.0, self.len)[..],
                    "torn or stale payload"
                );
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

fn queue(slots_count: u32, buf_size_bytes: u64) -> (Writer<Arc<HeapRegion>>, Arc<HeapRegion>) {
    let cfg = config(slots_count, buf_size_bytes);
    let region = Arc::new(HeapRegion::new(&Layout::from_config(&cfg).unwrap()));
    let writer = Writer::format(Arc::clone(&region), &cfg).unwrap();
    (writer, region)
}

/// Invariant 2: publish / copy / validate. Two messages in a queue that never wraps; a
/// concurrent reader returns each whole or not yet, never torn, never out of order.
#[test]
fn reader_never_accepts_a_torn_or_unpublished_payload() {
    model(|| {
        let (mut w, region) = queue(4, 256);
        let t = thread::spawn(move || {
            let mut f = Follower::new(region);
            f.step();
            f.step();
            assert_eq!(f.missed, 0, "nothing was overwritten");
        });
        w.write(1, 0, 0, &payload(1, LEN)).unwrap();
        w.write(1, 0, 0, &payload(2, LEN)).unwrap();
        t.join().unwrap();
    });
}

/// Invariants 2 and 4: the writer wraps the slot ring while the reader copies. One slot:
/// every write retires the previous message. The reader never returns overwritten bytes
/// and its lag counts are exact.
#[test]
fn overwrite_during_a_read_is_reported_as_exact_lag_never_as_data() {
    model(|| {
        let (mut w, region) = queue(1, 256);
        let t = thread::spawn(move || {
            let mut f = Follower::new(region);
            f.step();
            f.step();
            assert!(f.received + f.missed <= 3);
        });
        for id in 1..=3 {
            w.write(1, 0, 0, &payload(id, LEN)).unwrap();
        }
        t.join().unwrap();
    });
}

/// Slot retirement when the buffer wraps before the slot ring: 4 slots but 64 bytes of
/// buffer (the smallest allowed), so with 16-byte messages the fifth reuses the bytes of
/// the first; written here as 3 messages of 32 bytes (checked by length only).
#[test]
fn buffer_wrap_before_the_slot_ring_retires_the_overwritten_message() {
    model(|| {
        let (mut w, region) = queue(4, 64);
        let t = thread::spawn(move || {
            let mut f = Follower::with_len(region, 32);
            f.step();
            f.step();
        });
        for id in 1..=3 {
            w.write(1, 0, 0, &payload(id, 32)).unwrap();
        }
        t.join().unwrap();
    });
}

/// Slot retirement when the slot ring wraps before the buffer: 2 slots, a large buffer.
#[test]
fn slot_ring_wrap_before_the_buffer_retires_the_oldest_message() {
    model(|| {
        let (mut w, region) = queue(2, 256);
        let t = thread::spawn(move || {
            let mut f = Follower::new(region);
            f.step();
            f.step();
        });
        for id in 1..=3 {
            w.write(1, 0, 0, &payload(id, LEN)).unwrap();
        }
        t.join().unwrap();
    });
}

/// Batch publish: two messages committed by one store; a reader that returns the first
/// finds the commit point already past the second (no reader sees half a batch).
#[test]
fn batch_is_published_all_at_once() {
    model(|| {
        let (mut w, region) = queue(4, 256);
        let t = thread::spawn(move || {
            let mut f = Follower::new(region);
            f.step();
            if f.received == 1 {
                assert_eq!(f.reader.youngest_id().0, 2, "half a batch was visible");
            }
        });
        let (a, b) = (payload(1, LEN), payload(2, LEN));
        let batch = [
            fmq_core::NewMessage::new(1, 0, 0, &a),
            fmq_core::NewMessage::new(1, 0, 0, &b),
        ];
        w.write_batch(&batch).unwrap();
        t.join().unwrap();
    });
}

/// Two readers and a wrapping writer: each reader's accounting holds on its own (readers
/// never write shared memory, so they cannot disturb each other).
#[test]
fn two_readers_each_see_increasing_ids_and_exact_lag() {
    model(|| {
        let (mut w, region) = queue(1, 256);
        let r2 = Arc::clone(&region);
        let t1 = thread::spawn(move || Follower::new(region).step());
        let t2 = thread::spawn(move || Follower::new(r2).step());
        for id in 1..=2 {
            w.write(1, 0, 0, &payload(id, LEN)).unwrap();
        }
        t1.join().unwrap();
        t2.join().unwrap();
    });
}
