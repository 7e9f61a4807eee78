//! Recovery after a power loss (DESIGN invariant 8), with disk images built by hand with the
//! test kit's `PowerLossQueue`: the region's words are snapshotted at each `flush_with` and
//! after each step, and a power loss is a region whose 4096-byte pages come from different
//! snapshots, as a kernel that writes pages back in any order leaves the files (the fault
//! model of `sim/`). The stat part of
//! these queues spans three pages: the header and slots 0..60 share page 0, slots 60..124
//! are page 1, slots 124..128 page 2.
//!
//! The simulator found both bugs these tests pin (`sim/README.md`, "Bugs it found"):
//!
//! * A: the header's page reached the disk with a new commit point, a younger slot's page
//!   did not, and recovery dropped every message, flushed ones included.
//! * B: recovery issues ids again (the one in flight, those above a lowered commit point);
//!   when its result was not durable, a second power loss brought back an older message
//!   under such an id, with a valid CRC.

// Not under Miri: single-threaded arithmetic on region images of safe code (fmq-core forbids
// `unsafe`), with nothing for Miri to find, and 48 s of interpretation.
#![cfg(not(miri))]

use fmq_core::{HeapRegion, MessageId, Region, Writer};
use fmq_testkit::power_loss::{read_all, PowerLossQueue};
use fmq_testkit::{config, noise};
use std::sync::atomic::Ordering::Relaxed;

const SLOTS: u32 = 128;
const BUF: u64 = 8 * 1024;

fn fresh() -> PowerLossQueue {
    PowerLossQueue::formatted(&config(SLOTS, BUF))
}

fn write_ids(w: &mut Writer<&HeapRegion>, ids: std::ops::RangeInclusive<u64>) {
    for id in ids {
        assert_eq!(w.write(1, 2, id as i64, &msg(id)).unwrap(), MessageId(id));
    }
}

fn msg(id: u64) -> Vec<u8> {
    noise(id, 24)
}

fn assert_reads(reg: &HeapRegion, ids: std::ops::RangeInclusive<u64>, what: &str) {
    let want: Vec<_> = ids.map(|id| Ok((id, msg(id)))).collect();
    assert_eq!(read_all(reg, SLOTS as usize + 1), want, "{what}");
}

/// Bug A as the simulator first found it (seed 88): ids 1..=70 flushed, then id 71 written;
/// the kernel writes back the header's page (commit point 71) but not page 1, which holds
/// id 71's slot.
#[test]
fn power_loss_keeps_flushed_messages_when_the_youngest_slot_is_not_on_disk() {
    let q = fresh();
    let (mut w, _) = Writer::recover(q.region()).unwrap();
    write_ids(&mut w, 1..=70);
    let flushed = q.flush(&w);
    write_ids(&mut w, 71..=71);
    let later = q.snapshot();
    drop(w);

    let lost = q.disk(&[&later, &flushed, &flushed], &later);
    let (mut w, rep) = Writer::recover(&lost).unwrap();
    assert_eq!(
        (rep.youngest_id, rep.oldest_id, rep.dropped_count),
        (MessageId(70), MessageId(1), 1),
        "only id 71, whose slot never reached the disk, is dropped: {rep:?}"
    );
    assert_reads(
        &lost,
        1..=70,
        "every flushed message survives (invariant 8)",
    );
    // The dropped id is issued again, and only the new message is ever read under it.
    assert_eq!(w.write(1, 2, 0, b"again").unwrap(), MessageId(71));
    let got = read_all(&lost, SLOTS as usize + 1);
    assert_eq!(got.len(), 71);
    assert_eq!(got.last().unwrap(), &Ok((71, b"again".to_vec())));
}

/// Bug A with a gap in the middle of the window: the slots of ids 101..=123 (page 1) did
/// not reach the disk, those of 124..=130 (pages 2 and 0) did, with the header. The run
/// ending at the commit point (124..=130) is consistent; the one that must be kept is the
/// run through the flushed id 100, and recovery lowers the commit point to its top.
#[test]
fn power_loss_keeps_the_run_through_the_flushed_id_not_a_younger_run() {
    let q = fresh();
    let (mut w, _) = Writer::recover(q.region()).unwrap();
    write_ids(&mut w, 1..=100);
    let flushed = q.flush(&w);
    // Ids 129 and 130 reuse the slots of ids 1 and 2, which are retired.
    write_ids(&mut w, 101..=130);
    let later = q.snapshot();
    drop(w);

    let lost = q.disk(&[&later, &flushed, &later], &later);
    let (mut w, rep) = Writer::recover(&lost).unwrap();
    assert_eq!(
        (rep.youngest_id, rep.oldest_id, rep.dropped_count),
        (MessageId(100), MessageId(3), 30),
        "ids 101..=130 dropped (their run is not contiguous on disk): {rep:?}"
    );
    assert_reads(
        &lost,
        3..=100,
        "every flushed message not retired before the power loss survives",
    );
    // Ids 101.. are issued again; none of their old slots is ever read.
    write_ids(&mut w, 101..=101);
    assert_reads(&lost, 3..=101, "the new id 101, nothing of the lost run");
}

/// Several young messages lost, on two pages: the commit point goes down to the top of the
/// run through the flushed id.
#[test]
fn power_loss_drops_only_the_young_messages_whose_slots_are_not_on_disk() {
    let q = fresh();
    let (mut w, _) = Writer::recover(q.region()).unwrap();
    write_ids(&mut w, 1..=50);
    let flushed = q.flush(&w);
    write_ids(&mut w, 51..=64);
    let middle = q.snapshot();
    write_ids(&mut w, 65..=66);
    let later = q.snapshot();
    drop(w);

    // Page 0 (header, slots 0..60) as of the end, page 1 (slots 60..124) as of id 64.
    let lost = q.disk(&[&later, &middle, &flushed], &later);
    let (_, rep) = Writer::recover(&lost).unwrap();
    assert_eq!(
        (rep.youngest_id, rep.oldest_id, rep.dropped_count),
        (MessageId(64), MessageId(1), 2),
        "{rep:?}"
    );
    assert_reads(&lost, 1..=64, "everything up to the first slot not on disk");
}

/// Bug B (seeds 34, 1673): a power loss leaves id 71's slot on disk (message A) without the
/// commit; recovery clears it and id 71 is issued again (message B). A second power loss
/// writes back the header (commit point 71) but not B's slot page. Because the recovery was
/// flushed before B was written, the disk's slot 71 is empty, not A: recovery drops 71
/// instead of serving A as id 71.
#[test]
fn power_loss_never_brings_back_an_older_message_under_a_reissued_id() {
    let q = fresh();
    let (mut w, _) = Writer::recover(q.region()).unwrap();
    write_ids(&mut w, 1..=70);
    let flushed = q.flush(&w);
    assert_eq!(
        w.write(1, 2, 0, b"message A, never committed on disk")
            .unwrap(),
        MessageId(71)
    );
    let with_a = q.snapshot();
    drop(w);

    // First power loss: the slot page of A reached the disk, the header's page did not.
    let boot1 = q.disk(&[&flushed, &with_a, &flushed], &with_a);
    let (mut w, rep) = Writer::recover(&boot1).unwrap();
    assert_eq!(
        (rep.youngest_id, rep.stamps_cleared_count),
        (MessageId(70), 1)
    );
    let recovered = fmq_testkit::power_loss::flush(&w, &boot1);
    assert_eq!(
        w.write(1, 2, 0, b"message B").unwrap(),
        MessageId(71),
        "id 71 is issued again"
    );
    let with_b = fmq_testkit::power_loss::Image::of(&boot1);
    drop(w);

    // Second power loss: the header's page (commit point 71) reached the disk, B's slot
    // page did not; the disk's page 1 is the durable recovery.
    let boot2 = q.disk(&[&with_b, &recovered, &recovered], &with_b);
    let (_, rep) = Writer::recover(&boot2).unwrap();
    assert_eq!(
        (rep.youngest_id, rep.oldest_id, rep.dropped_count),
        (MessageId(70), MessageId(1), 1),
        "{rep:?}"
    );
    assert_reads(&boot2, 1..=70, "never message A under id 71");
}

/// After a process crash every store is in memory: the youngest slot is always consistent,
/// so a recovery drops nothing and keeps the commit point, even after an earlier lowering.
#[test]
fn crash_recovery_after_a_lowered_commit_point_drops_nothing() {
    let q = fresh();
    let (mut w, _) = Writer::recover(q.region()).unwrap();
    write_ids(&mut w, 1..=70);
    let flushed = q.flush(&w);
    write_ids(&mut w, 71..=71);
    let later = q.snapshot();
    drop(w);
    let lost = q.disk(&[&later, &flushed, &flushed], &later);
    let (mut w, rep) = Writer::recover(&lost).unwrap();
    assert_eq!(rep.youngest_id, MessageId(70));
    assert_eq!(w.write(1, 2, 71, &msg(71)).unwrap(), MessageId(71));
    drop(w);
    let (_, rep) = Writer::recover(&lost).unwrap();
    assert_eq!(
        (rep.youngest_id, rep.oldest_id, rep.dropped_count, rep.epoch),
        (MessageId(71), MessageId(1), 0, 4)
    );
    assert_reads(&lost, 1..=71, "a crash loses nothing");
}

/// A flush record the slots contradict (corruption, or a file written by a build without
/// it) is only a hint: recovery falls back to the youngest consistent run.
#[test]
fn a_flush_record_outside_the_window_is_ignored() {
    let q = fresh();
    let reg = q.region();
    let (mut w, _) = Writer::recover(reg).unwrap();
    write_ids(&mut w, 1..=10);
    drop(w);
    let flushed_word = fmq_core::header::word::FLUSHED_ID;
    for bogus in [0, 11, u64::MAX] {
        reg.stat_words()[flushed_word].store(bogus, Relaxed);
        let (w, rep) = Writer::recover(reg).unwrap();
        assert_eq!(
            (rep.youngest_id, rep.oldest_id, rep.dropped_count),
            (MessageId(10), MessageId(1), 0),
            "flushed_id {bogus}"
        );
        drop(w);
        assert_reads(reg, 1..=10, "nothing lost");
    }
}
