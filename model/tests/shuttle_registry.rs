//! shuttle models of blocking mode (DESIGN invariant 9) over the real writer and readers:
//! a blocking writer with a 4-slot queue writes hundreds of messages, retrying on
//! `Blocked`, while registered readers read at their own pace, one registers while the
//! writer runs, and one dies (stops reading) and is dropped by the writer, which then goes
//! on. Checked: every live registered reader receives every id from its start to the last,
//! in order, byte for byte, and is never told `Lagged`; the dead one, when it comes back, is
//! told `Unregistered`; the writer finishes (nobody wedges it).
//!
//! shuttle treats every ordering as SeqCst (orderings are `loom_registry.rs`'s job).

#![cfg(fmq_shuttle)]

use std::sync::atomic::{AtomicBool, AtomicU64 as StdAtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use fmq_core::header::QUEUE_FLAG_BLOCKING;
use fmq_core::{
    Config, HeapRegion, Layout, MessageId, ReadError, Reader, ReaderConfig, StartAt, WriteError,
    Writer,
};
use fmq_model::{fill_payload, first_wrong_byte, varied_len};
use shuttle::thread;

/// Messages per execution.
const N: u64 = 300;
const SLOTS: u32 = 4;
const BUF: u64 = 512;

fn config() -> Config {
    Config {
        slots_count: SLOTS,
        buf_size_bytes: BUF,
        queue_flags: QUEUE_FLAG_BLOCKING,
        creation_time_ns: 1,
        readers_max: 4,
        reader_timeout_ms: 0,
    }
}

fn region() -> Arc<HeapRegion> {
    Arc::new(HeapRegion::new(&Layout::from_config(&config()).unwrap()))
}

fn len_of(id: u64) -> usize {
    varied_len(id, 24, 96)
}

fn attach(region: &Arc<HeapRegion>, start: StartAt) -> Reader<Arc<HeapRegion>> {
    Reader::attach(
        Arc::clone(region),
        ReaderConfig {
            start,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Reads every id from where the registration started to `N`; never lags.
fn follow_all(mut r: Reader<Arc<HeapRegion>>, start: u64, who: &str) -> u64 {
    let mut buf = vec![0u8; BUF as usize];
    let mut next = start;
    while next <= N {
        match r.try_read(&mut buf) {
            Ok(m) => {
                assert_eq!(m.id, MessageId(next), "{who}: ids in order, none skipped");
                assert_eq!(m.len, len_of(next), "{who}: length of {next}");
                if let Some(at) = first_wrong_byte(next, &buf[..m.len]) {
                    panic!("{who}: byte {at} of message {next} is wrong");
                }
                next += 1;
            }
            Err(ReadError::Empty) => thread::yield_now(),
            Err(e) => panic!("{who}: a registered reader got {e:?} at {next}"),
        }
    }
    next - start
}

fn execution() {
    let region = region();
    let mut writer = Writer::format(Arc::clone(&region), &config()).unwrap();
    let dead = Arc::new(AtomicBool::new(false));
    let dead_index = Arc::new(StdAtomicU64::new(u64::MAX));
    // Two readers registered from the start, one that will die.
    let mut early = Vec::new();
    for _ in 0..2 {
        let mut r = attach(&region, StartAt::Oldest);
        let s = r.register(b"live", 1, 0).unwrap();
        early.push((r, s.0));
    }
    let mut doomed = attach(&region, StartAt::Oldest);
    doomed.register(b"doomed", 2, 0).unwrap();
    dead_index.store(u64::from(doomed.registration().unwrap()), SeqCst);

    let w = {
        let (dead, dead_index) = (Arc::clone(&dead), Arc::clone(&dead_index));
        thread::spawn(move || {
            let mut payload = [0u8; 96];
            let mut dropped = 0;
            for id in 1..=N {
                let len = len_of(id);
                fill_payload(id, &mut payload[..len]);
                loop {
                    match writer.write(1, 0, id as i64, &payload[..len]) {
                        Ok(got) => {
                            assert_eq!(got, MessageId(id));
                            break;
                        }
                        Err(WriteError::Blocked { reader, .. }) => {
                            // The pid check of the fmq crate, modelled: the doomed reader is
                            // dead once it says so.
                            if u64::from(reader) == dead_index.load(SeqCst) && dead.load(SeqCst) {
                                let rec = writer.reader_record(reader).unwrap();
                                if writer.drop_reader(reader, rec.owner) {
                                    dropped += 1;
                                }
                            }
                            thread::yield_now();
                        }
                        Err(e) => panic!("write {id}: {e}"),
                    }
                }
            }
            dropped
        })
    };
    let doomed_t = {
        let dead = Arc::clone(&dead);
        thread::spawn(move || {
            let mut buf = vec![0u8; BUF as usize];
            let mut read = 0;
            // Reads a few, then dies (stops reading) without releasing its record.
            while read < 3 {
                match doomed.try_read(&mut buf) {
                    Ok(_) => read += 1,
                    Err(ReadError::Empty) => thread::yield_now(),
                    Err(e) => panic!("doomed reader: {e:?}"),
                }
            }
            dead.store(true, SeqCst);
            doomed
        })
    };
    let early_t: Vec<_> = early
        .into_iter()
        .enumerate()
        .map(|(i, (r, s))| thread::spawn(move || follow_all(r, s, &format!("early reader {i}"))))
        .collect();
    // One reader registers while the writer runs.
    let late_t = {
        let region = Arc::clone(&region);
        thread::spawn(move || {
            let mut r = attach(&region, StartAt::End);
            let s = r.register(b"late", 3, 0).unwrap().0;
            follow_all(r, s, "late reader")
        })
    };
    for (i, t) in early_t.into_iter().enumerate() {
        assert_eq!(
            t.join().unwrap(),
            N,
            "early reader {i} received every message"
        );
    }
    let late = late_t.join().unwrap();
    assert!(late <= N);
    assert_eq!(w.join().unwrap(), 1, "the dead reader was dropped once");
    let mut doomed = doomed_t.join().unwrap();
    let mut buf = vec![0u8; BUF as usize];
    assert!(
        matches!(
            doomed.try_read(&mut buf),
            Err(ReadError::Unregistered { .. })
        ),
        "a dropped reader that comes back is told"
    );
}

fn runs(base: usize) -> usize {
    base * std::env::var("FMQ_SHUTTLE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

#[test]
fn registered_readers_lose_nothing_and_a_dead_one_is_dropped_random() {
    shuttle::check_random(execution, runs(500));
}

#[test]
fn registered_readers_lose_nothing_and_a_dead_one_is_dropped_pct3() {
    shuttle::check_pct(execution, runs(500), 3);
}
