//! loom model of the wake handshake (`fmq_core::wake`, used by the fmq crate's futex
//! waiting): a reader about to sleep and a writer committing must never both miss each
//! other, or the reader would sleep through a message (a lost wake-up). Checked for one and
//! for two sleeping readers over every interleaving and every value the memory model allows.

#![cfg(fmq_loom)]

use std::sync::Arc;

use fmq_core::sync::{AtomicU64, Ordering};
use fmq_core::wake::{prepare_sleep, take_sleepers};
use loom::thread;

mod loom_common;

/// Runs `readers` readers that saw commit 0 and want to sleep, against a writer that
/// commits 1 and then asks whether to wake. Every reader that decides to sleep must be
/// woken.
fn no_lost_wake_up(readers: usize) {
    let name = format!("no lost wake-up, {readers} sleeping reader(s)");
    loom_common::check(&name, 3, move || {
        let commit = Arc::new(AtomicU64::new(0));
        let sleepers = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..readers)
            .map(|_| {
                let (c, s) = (Arc::clone(&commit), Arc::clone(&sleepers));
                thread::spawn(move || prepare_sleep(&c, &s, 0))
            })
            .collect();
        // ORDERING: Release, as the writer's commit store of `youngest_id`.
        commit.store(1, Ordering::Release);
        let woke = take_sleepers(&sleepers);
        for h in handles {
            let sleeps = h.join().unwrap();
            assert!(
                !sleeps || woke,
                "a reader sleeps and the writer did not wake it"
            );
        }
    });
}

#[test]
fn a_sleeping_reader_is_never_missed_by_the_writers_wake() {
    no_lost_wake_up(1);
}

#[test]
fn two_sleeping_readers_are_never_missed_by_one_wake() {
    no_lost_wake_up(2);
}
