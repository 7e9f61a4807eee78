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

/// Where the dying writer is killed.
#[derive(Clone, Copy, Debug)]
enum Crash {
    /// After its first `k` stores.
    AfterStores(usize),
    /// Right after its first store to this word of the stat part (a header field).
    AfterStoreTo(usize),
}

/// Lets every store through up to and including the first one to `stat[word]`, then drops
/// the rest; returns the count of stores attempted.
fn arm_at_word(region: &HeapRegion, word: usize) -> Rc<Cell<usize>> {
    use fmq_core::Region;
    let target = &region.stat_words()[word] as *const _ as usize;
    let count = Rc::new(Cell::new(0));
    let c = Rc::clone(&count);
    let mut done = false;
    hook::set(Some(Box::new(move |addr, _| {
        c.set(c.get() + 1);
        let through = !done;
        done |= addr == target;
        through
    })));
    count
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
///
/// `reader_first`: the reader's thread starts before the writer dies, and the dying writer
/// runs on a thread of its own that the recovering writer joins (the lock handover): only
/// what the reader loads orders the dead writer's stores before its loads. Otherwise the
/// reader starts after the crash, on the recovering writer's thread.
fn crash_after(
    name: &'static str,
    crash: Crash,
    slots: u32,
    steps: usize,
    reader_first: bool,
    dying_work: fn(&mut Writer<Arc<HeapRegion>>),
) -> bool {
    let crashed_any = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&crashed_any);
    check(&format!("{name} ({crash:?})"), 2, move || {
        let (mut w, region) = queue(slots, 64);
        w.write(1, 0, 0, &dying(1)).unwrap();
        let spawn_reader = || {
            let r = Arc::clone(&region);
            thread::spawn(move || {
                let mut f = Follower::recording(r);
                for _ in 0..steps {
                    f.step();
                }
                f
            })
        };
        let r = Arc::clone(&region);
        let die = move |mut w: Writer<Arc<HeapRegion>>| {
            let (count, k) = match crash {
                Crash::AfterStores(k) => (arm(k), k),
                Crash::AfterStoreTo(word) => (arm_at_word(&r, word), 0),
            };
            dying_work(&mut w);
            drop(w);
            hook::set(None);
            count.get() > k
        };
        let (t, crashed) = if reader_first {
            let t = spawn_reader();
            (t, thread::spawn(move || die(w)).join().unwrap())
        } else {
            let crashed = die(w);
            (spawn_reader(), crashed)
        };
        if crashed {
            // ORDERING: Relaxed: read after the model has finished.
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }

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
    reader_first: bool,
    dying_work: fn(&mut Writer<Arc<HeapRegion>>),
) {
    let mut k = 0;
    while crash_after(
        name,
        Crash::AfterStores(k),
        slots,
        steps,
        reader_first,
        dying_work,
    ) {
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
        false,
        |w| {
            let _ = w.write(1, 0, 0, &dying(2));
        },
    );
}

/// One slot, the reader attached before the writer dies (so nothing but what it loads
/// orders the dead writer's stores before it), and the dying writer killed right after
/// `retire` stored `oldest_id` 2 for message 2, before it cleared message 1's stamp: the
/// stamp is left for recovery to clear. A reader that then finds the slot EMPTY must also
/// find `oldest_id` 2 (exactly `Lagged`), never the 1 it started from (a spurious
/// `Corrupt`): the clearing store's Release carries the dead writer's stores, which the
/// recovering writer holds through the lock. (The crash points around it are the first
/// model's; this one runs the one point where a reader attached earlier can tell.)
#[test]
fn a_reader_attached_before_the_crash_finds_a_retirement_recovery_finished_exactly_lagged() {
    let crashed = crash_after(
        "a reader attached before a crash in retire",
        Crash::AfterStoreTo(fmq_core::header::word::OLDEST_ID),
        1,
        1,
        true,
        |w| {
            let _ = w.write(1, 0, 0, &dying(2));
        },
    );
    assert!(crashed, "the write stores past oldest_id");
}

/// Two slots and a batch of two: a crash before the batch's single commit leaves stamped
/// but uncommitted slots, which recovery must clear; none is ever returned.
#[test]
fn writer_killed_at_any_store_of_a_batch_is_recovered_and_never_publishes_half_a_batch() {
    every_crash_point("writer_killed_at_any_store_of_a_batch", 2, 2, false, |w| {
        let (a, b) = (dying(2), dying(3));
        let _ = w.write_batch(&[NewMessage::new(1, 0, 0, &a), NewMessage::new(1, 0, 0, &b)]);
    });
}
