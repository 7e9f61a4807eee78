//! loom models of writer recovery (DESIGN invariant 7): a writer stopped between any two of
//! its shared-memory stores, then a recovering writer and a reader running concurrently.
//!
//! The crash is exact: under `--cfg fmq_loom` the atomics facade calls a store hook before
//! every store (`fmq_core::sync::hook`), and the hook here lets the first `k` stores of the
//! dying writer through and drops every later one, its `Drop` included, as if the process
//! had been killed between store `k` and store `k + 1`. Each model runs once per `k`, from
//! 0 until a `k` that drops nothing, so every crash point of the workload is covered.
//!
//! The dying writer's payloads are marked (`0xA0 | id`) and the recovered writer's are
//! different (`0xB0 | id`), so a reader that returned the message the dead writer was
//! writing (never committed, so its id is reused after recovery) would be caught.

#![cfg(fmq_loom)]

mod loom_common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use fmq_core::sync::hook;
use fmq_core::{HeapRegion, NewMessage, Writer};
use loom::thread;
use loom_common::{check, queue, Follower};

fn dying(id: u64) -> [u8; 8] {
    [0xA0 | id as u8; 8]
}

fn recovered(id: u64) -> [u8; 8] {
    [0xB0 | id as u8; 8]
}

/// Lets `k` stores through, then drops the rest; returns the count of stores attempted.
fn arm(k: usize) -> Rc<Cell<usize>> {
    let count = Rc::new(Cell::new(0));
    let c = Rc::clone(&count);
    hook::set(Some(Box::new(move |_, _| {
        let n = c.get();
        c.set(n + 1);
        n < k
    })));
    count
}

/// Runs `dying_work` on a queue of `slots` slots holding message 1, with the writer killed
/// after `k` stores; then a reader (from id 1, `steps` reads) runs concurrently with
/// `Writer::recover` and one more write. Checks the recovery report and that every message
/// the reader returned is the one the final history holds under its id. Returns whether
/// the crash dropped any store (false once `k` covers the whole workload).
fn crash_after(
    name: &'static str,
    k: usize,
    slots: u32,
    steps: usize,
    dying_work: fn(&mut Writer<Arc<HeapRegion>>),
) -> bool {
    let crashed_any = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&crashed_any);
    check(&format!("{name} (crash after store {k})"), 2, move || {
        let (mut w, region) = queue(slots, 64);
        w.write(1, 0, 0, &dying(1)).unwrap();
        let count = arm(k);
        dying_work(&mut w);
        drop(w);
        hook::set(None);
        let crashed = count.get() > k;
        if crashed {
            // ORDERING: Relaxed: read after the model has finished.
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }

        let r = Arc::clone(&region);
        let t = thread::spawn(move || {
            let mut f = Follower::recording(r);
            for _ in 0..steps {
                f.step();
            }
            f
        });
        let (mut w2, rep) = Writer::recover(Arc::clone(&region)).unwrap();
        assert_eq!(rep.dropped_count, 0, "a crash loses no published message");
        assert_eq!(rep.writer_was_open, crashed, "{rep:?}");
        let survivors = rep.youngest_id.0;
        let next = w2.youngest_id().0 + 1;
        w2.write(1, 0, 0, &recovered(next)).unwrap();
        let f = t.join().unwrap();
        for (id, bytes) in &f.seen {
            let want = if *id <= survivors {
                dying(*id)
            } else {
                recovered(*id)
            };
            assert_eq!(
                &bytes[..],
                &want[..],
                "message {id}: the reader returned bytes the final history does not hold \
                 (published by the dead writer: up to {survivors})"
            );
        }
    });
    // ORDERING: Relaxed: the model has finished.
    crashed_any.load(std::sync::atomic::Ordering::Relaxed)
}

fn every_crash_point(
    name: &'static str,
    slots: u32,
    steps: usize,
    dying_work: fn(&mut Writer<Arc<HeapRegion>>),
) {
    let mut k = 0;
    while crash_after(name, k, slots, steps, dying_work) {
        k += 1;
    }
    println!("loom: {name}: {k} crash points, then a run that completed");
    assert!(k > 5, "the workload makes stores");
}

/// One slot: the dying writer's message 2 retires message 1 and takes its slot. Crashed at
/// every store, recovery never publishes the half-written message 2, and a concurrent
/// reader returns only messages of the final history.
#[test]
fn writer_killed_at_any_store_of_an_overwriting_write_is_recovered_and_never_read_half_written() {
    every_crash_point(
        "writer_killed_at_any_store_of_an_overwriting_write",
        1,
        1,
        |w| {
            let _ = w.write(1, 0, 0, &dying(2));
        },
    );
}

/// Two slots and a batch of two: a crash before the batch's single commit leaves stamped
/// but uncommitted slots, which recovery must clear; none is ever returned.
#[test]
fn writer_killed_at_any_store_of_a_batch_is_recovered_and_never_publishes_half_a_batch() {
    every_crash_point("writer_killed_at_any_store_of_a_batch", 2, 2, |w| {
        let (a, b) = (dying(2), dying(3));
        let _ = w.write_batch(&[NewMessage::new(1, 0, 0, &a), NewMessage::new(1, 0, 0, &b)]);
    });
}
