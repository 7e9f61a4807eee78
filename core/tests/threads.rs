//! Real concurrency in one process: a writer thread and reader threads on one `HeapRegion`,
//! the writer wrapping the buffer and the slot ring many times while readers copy. Under
//! Miri this is also the data-race check of the protocol (DESIGN invariant 3).
//!
//! Each reader asserts: ids strictly increase; every payload is exactly what the writer
//! wrote for that id (payloads are a function of the id); and the ids it read plus the
//! missed counts of its `Lagged` errors account for every id exactly once (invariant 4).

use fmq_core::{LagPolicy, MessageId, ReadError, Reader, ReaderConfig, StartAt, Writer};
use fmq_testkit::{config, noise, region};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn len_for(id: u64) -> usize {
    // Sizes that force both kinds of wrap in a 4-slot, 512-byte queue.
    [0usize, 1, 7, 8, 9, 63, 64, 130, 250, 500][(id % 10) as usize]
}

fn run(readers_count: usize, messages: u64, policy: LagPolicy, zero_copy: bool) {
    let cfg = config(4, 512);
    let reg = Arc::new(region(&cfg));
    let mut w = Writer::format(Arc::clone(&reg), &cfg).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..readers_count)
        .map(|_| {
            let reg = Arc::clone(&reg);
            let done = Arc::clone(&done);
            let rc = ReaderConfig {
                start: StartAt::Oldest,
                lag_policy: policy,
            };
            let mut r = Reader::attach(reg, rc).unwrap();
            std::thread::spawn(move || {
                let mut expected_next = 1u64;
                let mut read_count = 0u64;
                let mut buf = vec![0u8; 512];
                loop {
                    // Read `done` before the attempt, so Empty after `done` means drained.
                    let finished = done.load(Ordering::Acquire);
                    let res = if zero_copy {
                        r.read_with(|p| p.to_vec())
                    } else {
                        r.try_read(&mut buf).map(|m| (m, buf[..m.len].to_vec()))
                    };
                    match res {
                        Ok((meta, bytes)) => {
                            assert_eq!(meta.id, MessageId(expected_next), "no gap without Lagged");
                            assert_eq!(bytes, noise(meta.id.0, len_for(meta.id.0)));
                            assert_eq!(meta.time_ns, meta.id.0 as i64);
                            expected_next += 1;
                            read_count += 1;
                        }
                        Err(ReadError::Lagged {
                            missed_count,
                            resumed_at,
                        }) => {
                            assert!(missed_count > 0);
                            assert_eq!(resumed_at.0, expected_next + missed_count, "exact count");
                            expected_next = resumed_at.0;
                        }
                        Err(ReadError::Empty) if finished => break,
                        Err(ReadError::Empty) => std::thread::yield_now(),
                        Err(e) => panic!("reader error: {e}"),
                    }
                }
                (expected_next, read_count)
            })
        })
        .collect();
    for id in 1..=messages {
        let got = w.write(1, 2, id as i64, &noise(id, len_for(id))).unwrap();
        assert_eq!(got, MessageId(id));
        if id % 64 == 0 {
            std::thread::yield_now();
        }
    }
    done.store(true, Ordering::Release);
    for h in handles {
        let (next, read_count) = h.join().unwrap();
        assert_eq!(next, messages + 1, "every id read or counted as missed");
        assert!(
            read_count >= 1,
            "the youngest message is always readable at the end"
        );
    }
}

fn messages() -> u64 {
    if cfg!(miri) {
        60
    } else {
        200_000
    }
}

#[test]
fn concurrent_readers_see_whole_messages_and_exact_lag_resume_oldest() {
    run(2, messages(), LagPolicy::ResumeAtOldest, false);
}

#[test]
fn concurrent_readers_see_whole_messages_and_exact_lag_resume_youngest() {
    run(2, messages(), LagPolicy::ResumeAtYoungest, false);
}

#[test]
fn concurrent_zero_copy_readers_never_return_torn_payloads() {
    run(2, messages(), LagPolicy::ResumeAtOldest, true);
}
