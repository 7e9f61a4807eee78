//! loom models of blocking mode's reader registry (`fmq_core::registry`, DESIGN invariant
//! 9), over the real writer and reader:
//!
//! * registration racing a retirement: a reader registers at the oldest id, in a record a
//!   previous registrant left with a higher cursor, while the writer retires that id;
//!   whichever way the race goes, the id the registration returns is never retired before
//!   the reader read it (the `retire_intent` / cursor Dekker handshake);
//! * a registered reader advancing while the blocked writer prepares to sleep on its
//!   cursor: the writer never sleeps without the reader seeing that it must wake it;
//! * a registered reader that detaches (its record released) while the writer scans: the
//!   writer either waits for it or sees it gone after its last copy;
//! * a previous owner's record taken by a new reader on another thread, after the previous
//!   owner detached there, or died there and its record was dropped and reclaimed: the
//!   writer never takes the previous owner's last cursor for the new reader's (which the
//!   claim's Acquire and the detach's or reclaim's Release order after it).

#![cfg(fmq_loom)]

use std::sync::Arc;

use fmq_core::header::QUEUE_FLAG_BLOCKING;
use fmq_core::{
    Config, HeapRegion, Layout, MessageId, Reader, ReaderConfig, StartAt, WriteError, Writer,
};
use loom::thread;

mod loom_common;

/// A blocking queue of `slots` slots (8-byte messages), one reader record.
fn blocking_queue(slots: u32) -> (Writer<Arc<HeapRegion>>, Arc<HeapRegion>) {
    let cfg = Config {
        slots_count: slots,
        buf_size_bytes: 1024,
        queue_flags: QUEUE_FLAG_BLOCKING,
        creation_time_ns: 1,
        readers_max: 1,
        reader_timeout_ms: 0,
    };
    let region = Arc::new(HeapRegion::new(&Layout::from_config(&cfg).unwrap()));
    let writer = Writer::format(Arc::clone(&region), &cfg).unwrap();
    (writer, region)
}

fn at_oldest(region: &Arc<HeapRegion>) -> Reader<Arc<HeapRegion>> {
    Reader::attach(
        Arc::clone(region),
        ReaderConfig {
            start: StartAt::Oldest,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn a_registration_racing_a_retirement_never_loses_its_start() {
    loom_common::check("registration racing a retirement", 3, || {
        let (mut w, region) = blocking_queue(2);
        w.write(1, 0, 0, &1u64.to_le_bytes()).unwrap();
        w.write(1, 0, 0, &2u64.to_le_bytes()).unwrap();
        // A previous registrant read both and left: its cursor (3) stays in the record, so
        // a scan that sees the new owner before the new cursor sees a cursor that is too high.
        let mut previous = at_oldest(&region);
        previous.register(b"p", 1, 0).unwrap();
        let mut buf = [0u8; 8];
        previous.try_read(&mut buf).unwrap();
        previous.try_read(&mut buf).unwrap();
        drop(previous);
        let r = at_oldest(&region);
        let reader = thread::spawn(move || {
            let mut r = r;
            let start = r.register(b"r", 1, 0).unwrap();
            (r, start)
        });
        // Message 3 retires message 1, unless the writer sees the registered reader there.
        let third = w.write(1, 0, 0, &3u64.to_le_bytes());
        let (mut r, start) = reader.join().unwrap();
        match third {
            Ok(_) => assert_eq!(start, MessageId(2), "the writer retired 1: start after it"),
            // The writer saw the reader at 1 (the reader may also have seen the intent and
            // started at 2: both sides may see each other, never neither).
            // The cursor it saw may be the one not yet stored (0, or the previous owner's 3
            // would not block).
            Err(WriteError::Blocked { cursor, .. }) => {
                assert!(cursor <= 1, "{cursor}");
                assert!(start == MessageId(1) || start == MessageId(2), "{start}");
            }
            Err(e) => panic!("{e}"),
        }
        let mut buf = [0u8; 8];
        let got = r
            .try_read(&mut buf)
            .expect("the start of a registration is never retired");
        assert_eq!(
            (got.id, u64::from_le_bytes(buf)),
            (start, start.0),
            "read back exactly"
        );
    });
}

#[test]
fn a_blocked_writer_never_sleeps_through_a_reader_that_advances() {
    loom_common::check("blocked writer vs advancing reader", 3, || {
        let (mut w, region) = blocking_queue(2);
        let mut r = at_oldest(&region);
        r.register(b"r", 1, 0).unwrap();
        w.write(1, 0, 0, &1u64.to_le_bytes()).unwrap();
        w.write(1, 0, 0, &2u64.to_le_bytes()).unwrap();
        let Err(WriteError::Blocked { reader, cursor, .. }) = w.write(1, 0, 0, &[3; 8]) else {
            panic!("not blocked")
        };
        let t = thread::spawn(move || {
            let mut buf = [0u8; 8];
            r.try_read(&mut buf).unwrap();
            // After a read: wake the writer if it may be asleep.
            r.writer_waiting()
        });
        let sleeps = w.prepare_wait(reader, cursor).is_some();
        let woken = t.join().unwrap();
        assert!(
            !sleeps || woken,
            "the writer sleeps on the cursor and the reader did not wake it"
        );
        w.end_wait();
        assert!(w.write(1, 0, 0, &[3; 8]).is_ok(), "the reader advanced");
    });
}

#[test]
fn a_reader_that_detaches_during_a_scan_has_finished_reading() {
    loom_common::check("detach racing a scan", 3, || {
        let (mut w, region) = blocking_queue(2);
        let mut r = at_oldest(&region);
        r.register(b"r", 1, 0).unwrap();
        w.write(1, 0, 0, &1u64.to_le_bytes()).unwrap();
        w.write(1, 0, 0, &2u64.to_le_bytes()).unwrap();
        let t = thread::spawn(move || {
            let got = r.read_with(|p| {
                let mut b = [0u8; 8];
                p.copy_to(&mut b);
                u64::from_le_bytes(b)
            });
            drop(r); // releases the record after the copy
            got.map(|(m, v)| (m.id, v))
        });
        // Message 3 overwrites message 1 only once the reader let go of it.
        let third = w.write(1, 0, 0, &3u64.to_le_bytes());
        let got = t.join().unwrap();
        assert_eq!(
            got,
            Ok((MessageId(1), 1)),
            "message 1 read whole: {third:?}"
        );
    });
}

/// The pids of the previous owner (a reader that dies, or detaches) and of the reader that
/// registers after it, in the previous-owner models.
const OLD_PID: u32 = 7;
const NEW_PID: u32 = 8;

/// The new reader of the previous-owner models: registers once at the oldest id, if the
/// record is free by then. Spawned before the previous owner's thread exists, so nothing the
/// previous owner did happens before it except through the record's owner word (the Release
/// that freed the record, its claim's Acquire).
fn spawn_new_reader(
    region: &Arc<HeapRegion>,
) -> thread::JoinHandle<Option<(Reader<Arc<HeapRegion>>, MessageId)>> {
    let r = at_oldest(region);
    thread::spawn(move || {
        let mut r = r;
        let start = r.register(b"new", NEW_PID, 2).ok()?;
        Some((r, start))
    })
}

/// The previous owner: registers at `start` and reads what is there, so that its last
/// cursor (3) is higher than the new reader's start, then `leave`s (dies, or detaches).
fn spawn_old_reader(
    region: &Arc<HeapRegion>,
    start: StartAt,
    leave: fn(Reader<Arc<HeapRegion>>),
) -> thread::JoinHandle<bool> {
    let d = Reader::attach(
        Arc::clone(region),
        ReaderConfig {
            start,
            ..Default::default()
        },
    )
    .unwrap();
    thread::spawn(move || {
        let mut d = d;
        let registered = d.register(b"old", OLD_PID, 1).is_ok();
        let mut buf = [0u8; 8];
        while registered && d.try_read(&mut buf).is_ok() {}
        leave(d);
        registered
    })
}

/// After the writer's message 3 (`third`, which retires 1) raced the new reader's
/// registration (`new`): the new reader's start was never retired under it. `old_gone`:
/// the previous owner's record was freed before the write.
fn check_new_registration(
    third: Result<MessageId, WriteError>,
    new: Option<(Reader<Arc<HeapRegion>>, MessageId)>,
    old_gone: bool,
) {
    let Some((mut r, start)) = new else {
        // The record was still the previous owner's when the new one tried (the writer may
        // have been blocked by the previous owner, if it was still there).
        assert!(third.is_ok() || !old_gone, "nobody registered: {third:?}");
        return;
    };
    // The writer, blocked or not, may have seen the new reader, the previous owner, or
    // neither, and the new reader may have seen its intent (start 2) or not (start 1). The
    // failure looked for: the previous owner's stale cursor 3 read in place of the new
    // reader's 1 (the two stores unordered), message 1 retired, and this read `Lagged`.
    let _ = third;
    let mut buf = [0u8; 8];
    let got = r
        .try_read(&mut buf)
        .map(|m| (m.id, u64::from_le_bytes(buf)));
    assert_eq!(
        got,
        Ok((start, start.0)),
        "the start of a registration in a previous owner's record is never retired"
    );
}

#[test]
fn a_claim_racing_the_reclaim_of_a_dead_readers_record_never_sees_its_stale_cursor() {
    loom_common::check("claim racing a dead reader's reclaim", 2, || {
        let (mut w, region) = blocking_queue(2);
        w.write(1, 0, 0, &1u64.to_le_bytes()).unwrap();
        w.write(1, 0, 0, &2u64.to_le_bytes()).unwrap();
        let new = spawn_new_reader(&region);
        // The reader process that dies: its thread stops after its stores, without
        // releasing the record (no destructor runs in a killed process).
        let dead = spawn_old_reader(&region, StartAt::End, std::mem::forget);
        // The writer's process learns that the dead one is gone (the kernel ends it: a
        // join), drops its registration and frees the record (as `fmq` does, through a
        // reader handle, before registering), then writes message 3, which retires 1.
        let dead_registered = dead.join().unwrap();
        let rec = w.reader_record(0).unwrap();
        if rec.pid() == OLD_PID {
            assert!(dead_registered);
            assert!(w.drop_reader(0, rec.owner), "nobody else drops it");
        }
        let freed = at_oldest(&region).reclaim_dropped(|pid| pid == OLD_PID);
        assert_eq!(freed, u32::from(rec.pid() == OLD_PID), "{rec:?}");
        let third = w.write(1, 0, 0, &3u64.to_le_bytes());
        check_new_registration(third, new.join().unwrap(), true);
    });
}

#[test]
fn a_claim_after_a_detach_on_another_thread_never_sees_the_leavers_stale_cursor() {
    loom_common::check("claim after a detach on another thread", 3, || {
        let (mut w, region) = blocking_queue(2);
        w.write(1, 0, 0, &1u64.to_le_bytes()).unwrap();
        w.write(1, 0, 0, &2u64.to_le_bytes()).unwrap();
        let new = spawn_new_reader(&region);
        // The previous owner reads 1 and 2 and detaches (its record released) on its own
        // thread: its last cursor store (3) comes after its registration's fence, so only
        // the release's Release orders it before the new owner's.
        // The writer writes message 3 once it left (the scan racing a detach is
        // `a_reader_that_detaches_during_a_scan_has_finished_reading`), while the new reader
        // may still be registering.
        let old = spawn_old_reader(&region, StartAt::Oldest, drop);
        old.join().unwrap();
        let third = w.write(1, 0, 0, &3u64.to_le_bytes());
        check_new_registration(third, new.join().unwrap(), true);
    });
}
