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
//!   writer either waits for it or sees it gone after its last copy.

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
