//! loom models of the fmq-core protocol: one writer and one or two readers, every
//! interleaving within `LOOM_MAX_PREEMPTIONS` (default 2 here) and every value the C++11
//! memory model allows each load to see. Each model is named after the invariant of DESIGN
//! §4 it checks. Payloads are `payload(id, len)`: every byte is the id, so a torn or stale
//! copy is visible even without the CRC. Models that wrap use 8-byte (one-word) payloads:
//! each further word multiplies the values a reader's copy may see, and a 16-byte variant of
//! the overwrite model does not finish in 120 s. Interleavings and times per model are in
//! `docs/testing.md` (`ci/loom.sh` prints them).

#![cfg(fmq_loom)]

mod loom_common;

use fmq_model::payload;
use loom::thread;
use loom_common::{check, queue, Follower};

/// Invariant 2: publish / copy / validate. Two messages in a queue that never wraps; a
/// concurrent reader returns each whole or not yet, never torn, never out of order.
#[test]
fn reader_never_accepts_a_torn_or_unpublished_payload() {
    check(
        "reader_never_accepts_a_torn_or_unpublished_payload",
        3,
        || {
            let (mut w, region) = queue(4, 256);
            let t = thread::spawn(move || {
                let mut f = Follower::new(region, 16);
                f.step();
                f.step();
                assert_eq!(f.missed, 0, "nothing was overwritten");
            });
            w.write(1, 0, 0, &payload(1, 16)).unwrap();
            w.write(1, 0, 0, &payload(2, 16)).unwrap();
            t.join().unwrap();
        },
    );
}

/// Invariants 2 and 4: the writer wraps the slot ring while the reader copies. One slot:
/// the second write retires the first message. The reader returns message 1 whole, or is
/// told it missed exactly the ids it skipped; it never returns overwritten bytes.
#[test]
fn overwrite_during_a_read_is_reported_as_exact_lag_never_as_data() {
    check(
        "overwrite_during_a_read_is_reported_as_exact_lag_never_as_data",
        2,
        || {
            let (mut w, region) = queue(1, 64);
            let t = thread::spawn(move || {
                let mut f = Follower::new(region, 8);
                f.step();
                f.step();
                assert!(f.received + f.missed <= 2);
            });
            for id in 1..=2 {
                w.write(1, 0, 0, &payload(id, 8)).unwrap();
            }
            t.join().unwrap();
        },
    );
}

/// Invariant 4 on the reader's lag path: message 1 is in a one-slot queue and the reader
/// wants it while the writer writes messages 2 and 3, retiring twice. However its loads of
/// the commit point and of `oldest_id` interleave with the two retirements, the reader
/// reports message 1 whole or an exact lag; it never takes the moving commit line for a
/// corrupt one (`oldest_id` past the commit point it loaded).
#[test]
fn lag_racing_two_overwrites_is_exact_never_corrupt() {
    check(
        "lag_racing_two_overwrites_is_exact_never_corrupt",
        2,
        || {
            let (mut w, region) = queue(1, 64);
            w.write(1, 0, 0, &payload(1, 8)).unwrap();
            let t = thread::spawn(move || {
                // Follower::step fails on Corrupt, a wrong payload or an inexact lag.
                Follower::new(region, 8).step();
            });
            for id in 2..=3 {
                w.write(1, 0, 0, &payload(id, 8)).unwrap();
            }
            t.join().unwrap();
        },
    );
}

/// Slot retirement when the buffer wraps before the slot ring: 4 slots but 64 bytes of
/// buffer (the smallest allowed), so the third 32-byte message reuses the bytes of the
/// first while its slot is still free.
#[test]
fn buffer_wrap_before_the_slot_ring_retires_the_overwritten_message() {
    check(
        "buffer_wrap_before_the_slot_ring_retires_the_overwritten_message",
        2,
        || {
            let (mut w, region) = queue(4, 64);
            let t = thread::spawn(move || {
                let mut f = Follower::new(region, 32);
                f.step();
                f.step();
            });
            for id in 1..=3 {
                w.write(1, 0, 0, &payload(id, 32)).unwrap();
            }
            t.join().unwrap();
        },
    );
}

/// Slot retirement when the slot ring wraps before the buffer: 2 slots, a large buffer, so
/// the third message reuses the slot of the first while its bytes are untouched.
#[test]
fn slot_ring_wrap_before_the_buffer_retires_the_oldest_message() {
    check(
        "slot_ring_wrap_before_the_buffer_retires_the_oldest_message",
        2,
        || {
            let (mut w, region) = queue(2, 256);
            let t = thread::spawn(move || {
                let mut f = Follower::new(region, 8);
                f.step();
                f.step();
            });
            for id in 1..=3 {
                w.write(1, 0, 0, &payload(id, 8)).unwrap();
            }
            t.join().unwrap();
        },
    );
}

/// Batch publish: two messages committed by one store; a reader that returns the first
/// finds the commit point already past the second (no reader sees half a batch).
#[test]
fn batch_is_published_all_at_once() {
    check("batch_is_published_all_at_once", 3, || {
        let (mut w, region) = queue(4, 256);
        let t = thread::spawn(move || {
            let mut f = Follower::new(region, 16);
            f.step();
            if f.received == 1 {
                assert_eq!(f.reader.youngest_id().0, 2, "half a batch was visible");
            }
        });
        let (a, b) = (payload(1, 16), payload(2, 16));
        let batch = [
            fmq_core::NewMessage::new(1, 0, 0, &a),
            fmq_core::NewMessage::new(1, 0, 0, &b),
        ];
        w.write_batch(&batch).unwrap();
        t.join().unwrap();
    });
}

/// Two readers and one publish: each returns the message whole or not yet, on its own
/// (readers never write shared memory, so they cannot disturb each other).
#[test]
fn two_readers_each_return_a_publish_whole_or_not_yet() {
    check(
        "two_readers_each_return_a_publish_whole_or_not_yet",
        3,
        || {
            let (mut w, region) = queue(4, 256);
            let r2 = std::sync::Arc::clone(&region);
            let t1 = thread::spawn(move || Follower::new(region, 16).step());
            let t2 = thread::spawn(move || Follower::new(r2, 16).step());
            w.write(1, 0, 0, &payload(1, 16)).unwrap();
            t1.join().unwrap();
            t2.join().unwrap();
        },
    );
}

/// Two readers and an overwriting writer: message 1 is in a one-slot queue when both
/// readers start; the writer's message 2 retires it while they read. Each reader returns
/// message 1 whole or is told it missed exactly one id.
///
/// A soak model, not in CI: three threads whose copies race an overwrite give loom
/// 7,317,090 interleavings at preemption bound 1 (441 s here) and do not finish in 15
/// minutes at bound 2. Each reader's interleavings with the writer are covered at bound 2
/// by the one-reader overwrite model, and shuttle runs 3 to 8 readers. Run it with
/// `LOOM_MAX_PREEMPTIONS=1 cargo test ... -- --ignored two_readers_racing`.
#[test]
#[ignore = "soak: 7.3 million interleavings at preemption bound 1"]
fn two_readers_racing_an_overwrite_each_see_increasing_ids_and_exact_lag() {
    check(
        "two_readers_racing_an_overwrite_each_see_increasing_ids_and_exact_lag",
        1,
        || {
            let (mut w, region) = queue(1, 64);
            w.write(1, 0, 0, &payload(1, 8)).unwrap();
            let r2 = std::sync::Arc::clone(&region);
            let t1 = thread::spawn(move || Follower::new(region, 8).step());
            let t2 = thread::spawn(move || Follower::new(r2, 8).step());
            w.write(1, 0, 0, &payload(2, 8)).unwrap();
            t1.join().unwrap();
            t2.join().unwrap();
        },
    );
}
