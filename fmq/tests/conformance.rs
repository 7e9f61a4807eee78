//! Behaviour every backend must show. Each test is one function over a [`Backend`]; the
//! `both_backends!` list at the bottom runs it as `shm::NAME` (a `shm:NAME` segment in
//! `/dev/shm`) and as `file::NAME` (`DIR/NAME.stat` + `DIR/NAME.buf` in a temporary dir).

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use fmq::{
    now_ns, AdminError, Compression, CreateError, CreateOptions, Lag, LagPolicy, MessageId,
    NewMessage, OpenError, ReadError, ReadTimeoutError, Reader, ReaderOptions, StartAt,
    TryReadError, WaitStrategy, WriteError, Writer, WriterOptions, WriterStatus,
};

fn create_write_read_round_trips_payload_type_subtype_and_time(b: Backend) {
    let q = TestQueue::new(b, "roundtrip");
    let mut w = Writer::create(&q.spec, &small(64, 64 << 10)).unwrap();
    assert_eq!(w.youngest_id(), MessageId(0), "a new queue is empty");
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();

    let id = w
        .write_message(&NewMessage::new(7, -3, b"hello, queue").at(1_234_567_890_123))
        .unwrap();
    assert_eq!(id, MessageId(1), "ids start at 1");
    let before = now_ns();
    assert_eq!(w.write(i32::MIN, i32::MAX, b"").unwrap(), MessageId(2));
    let after = now_ns();
    let odd = payload_for(3); // 8..135 bytes, usually not a multiple of 8
    assert_eq!(
        w.write_message(&NewMessage::new(5, 6, &odd).at(-42))
            .unwrap(),
        MessageId(3)
    );

    let (m, data) = read_owned(&mut r, SEC).unwrap();
    assert_eq!(
        (m.id, m.msg_type, m.subtype, m.time_ns, m.len, m.raw_len),
        (MessageId(1), 7, -3, 1_234_567_890_123, 12, 12)
    );
    assert_eq!(data, b"hello, queue");
    assert!(!m.is_compressed());

    let (m, data) = read_owned(&mut r, SEC).unwrap();
    assert_eq!(
        (m.id, m.msg_type, m.subtype),
        (MessageId(2), i32::MIN, i32::MAX)
    );
    assert!(
        (before..=after).contains(&m.time_ns),
        "write() stamps the current time: {before} <= {} <= {after}",
        m.time_ns
    );
    assert!(data.is_empty());

    let (m, data) = read_owned(&mut r, SEC).unwrap();
    assert_eq!(
        (m.id, m.msg_type, m.subtype, m.time_ns),
        (MessageId(3), 5, 6, -42)
    );
    assert_eq!(data, odd);
    assert_eq!(r.try_read().unwrap_err(), TryReadError::Empty);
}

fn reader_starting_at_end_reads_only_messages_written_after_it_opened(b: Backend) {
    let q = TestQueue::new(b, "start_end");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    for _ in 0..3 {
        w.write(0, 0, b"before").unwrap();
    }
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
    assert_eq!(r.position(), MessageId(4));
    assert_eq!(r.try_read().unwrap_err(), TryReadError::Empty);
    w.write(1, 0, b"after").unwrap();
    let (m, data) = read_owned(&mut r, SEC).unwrap();
    assert_eq!((m.id, data.as_slice()), (MessageId(4), &b"after"[..]));
    assert_eq!(r.try_read().unwrap_err(), TryReadError::Empty);
}

fn reader_starting_at_oldest_reads_every_message_still_present(b: Backend) {
    let q = TestQueue::new(b, "start_oldest");
    let mut w = Writer::create(&q.spec, &small(8, 64 << 10)).unwrap();
    for id in 1..=20u64 {
        let (t, s) = types_for(id);
        w.write(t, s, &payload_for(id)).unwrap();
    }
    // 8 slots: ids 13..=20 are present.
    assert_eq!(w.oldest_id(), MessageId(13));
    let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(r.position(), MessageId(13));
    let got = drain(&mut r);
    let want: Vec<(u64, Vec<u8>)> = (13..=20).map(|id| (id, payload_for(id))).collect();
    assert_eq!(got, want);
}

fn reader_starting_at_youngest_reads_the_last_message_first(b: Backend) {
    let q = TestQueue::new(b, "start_youngest");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    for id in 1..=5u64 {
        w.write(0, 0, &payload_for(id)).unwrap();
    }
    let mut r = Reader::open(&q.spec, &from(StartAt::Youngest)).unwrap();
    assert_eq!(drain(&mut r), vec![(5, payload_for(5))]);
    w.write(0, 0, &payload_for(6)).unwrap();
    assert_eq!(drain(&mut r), vec![(6, payload_for(6))]);
}

fn overrun_reader_gets_lagged_with_the_exact_missed_count_then_resumes_at_oldest(b: Backend) {
    let q = TestQueue::new(b, "lag_oldest");
    let mut w = Writer::create(&q.spec, &small(8, 64 << 10)).unwrap();
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
    w.write(0, 0, &payload_for(1)).unwrap();
    assert_eq!(drain(&mut r), vec![(1, payload_for(1))]);
    for id in 2..=21u64 {
        w.write(0, 0, &payload_for(id)).unwrap();
    }
    // Ids 14..=21 are present; the reader wanted 2: it lost 2..=13, twelve ids.
    assert_eq!(
        r.try_read().unwrap_err(),
        TryReadError::Failed(ReadError::Lagged(Lag {
            missed_count: 12,
            resumed_at: MessageId(14)
        }))
    );
    let want: Vec<(u64, Vec<u8>)> = (14..=21).map(|id| (id, payload_for(id))).collect();
    assert_eq!(drain(&mut r), want);
}

fn overrun_reader_with_resume_at_youngest_policy_skips_to_the_youngest(b: Backend) {
    let q = TestQueue::new(b, "lag_youngest");
    let mut w = Writer::create(&q.spec, &small(8, 64 << 10)).unwrap();
    let opts = ReaderOptions {
        lag_policy: LagPolicy::ResumeAtYoungest,
        ..ReaderOptions::default()
    };
    let mut r = Reader::open(&q.spec, &opts).unwrap();
    for id in 1..=21u64 {
        w.write(0, 0, &payload_for(id)).unwrap();
    }
    assert_eq!(
        r.try_read().unwrap_err(),
        TryReadError::Failed(ReadError::Lagged(Lag {
            missed_count: 20,
            resumed_at: MessageId(21)
        }))
    );
    assert_eq!(drain(&mut r), vec![(21, payload_for(21))]);
}

fn buffer_wrap_overrun_reports_the_gap_to_the_writers_oldest_id(b: Backend) {
    // Plenty of slots, a small buffer: messages are forced out by bytes, not by slots.
    let q = TestQueue::new(b, "lag_bytes");
    let mut w = Writer::create(&q.spec, &small(1024, 1024)).unwrap();
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
    let payload = [0xabu8; 100];
    for _ in 0..30 {
        w.write(0, 0, &payload).unwrap();
    }
    let oldest = w.oldest_id().0;
    let present = 30 - oldest + 1;
    assert!(
        (7..=9).contains(&present),
        "about 9 messages of 104 bytes fit in 1024 bytes: {present} present"
    );
    assert_eq!(
        r.try_read().unwrap_err(),
        TryReadError::Failed(ReadError::Lagged(Lag {
            missed_count: oldest - 1,
            resumed_at: MessageId(oldest)
        }))
    );
    let got = drain(&mut r);
    assert_eq!(got.len() as u64, 30 - oldest + 1);
    assert!(got.iter().all(|(_, d)| d[..] == payload[..]));
}

fn concurrent_writer_and_reader_account_for_every_id_exactly(b: Backend) {
    const N: u64 = 5000;
    let q = TestQueue::new(b, "concurrent");
    let mut w = Writer::create(&q.spec, &small(64, 8192)).unwrap();
    let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(r.position(), MessageId(1));
    let writer = std::thread::spawn(move || {
        for id in 1..=N {
            let (t, s) = types_for(id);
            assert_eq!(w.write(t, s, &payload_for(id)).unwrap(), MessageId(id));
        }
    });
    let mut acc = Accounting::starting_at(1);
    while acc.next <= N {
        if !acc.apply(read_owned(&mut r, Duration::from_secs(5)), "reader") {
            panic!("timed out at id {} ({acc:?})", acc.next);
        }
    }
    writer.join().unwrap();
    assert_eq!(acc.received + acc.missed, N, "{acc:?}");
    assert!(acc.received > 0);
}

fn create_over_an_existing_queue_without_replace_is_refused_and_loses_nothing(b: Backend) {
    let q = TestQueue::new(b, "no_clobber");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    for id in 1..=3u64 {
        w.write(0, 0, &payload_for(id)).unwrap();
    }
    drop(w);
    let err = Writer::create(&q.spec, &small(32, 8192)).unwrap_err();
    match &err {
        CreateError::AlreadyExists { queue } => assert_eq!(queue, &q.spec),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // The library names no CLI flag: `--force` is the `fmq` tool's hint, not the library's.
    assert_eq!(err.to_string(), format!("queue {} already exists", q.spec));
    let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(r.layout().slots_count(), 16, "the old layout is kept");
    let want: Vec<(u64, Vec<u8>)> = (1..=3).map(|id| (id, payload_for(id))).collect();
    assert_eq!(drain(&mut r), want);
    assert_eq!(
        Writer::open(&q.spec, &WriterOptions::default())
            .unwrap()
            .youngest_id(),
        MessageId(3)
    );
}

fn create_with_replace_replaces_the_queue_and_an_attached_reader_gets_replaced(b: Backend) {
    let q = TestQueue::new(b, "force");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    for id in 1..=3u64 {
        w.write(0, 0, &payload_for(id)).unwrap();
    }
    drop(w);
    let mut old = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(drain(&mut old).len(), 3);

    let opts = CreateOptions {
        replace: true,
        ..small(32, 8192)
    };
    let mut w = Writer::create(&q.spec, &opts).unwrap();
    assert_eq!(
        w.youngest_id(),
        MessageId(0),
        "a re-created queue starts empty"
    );
    assert_eq!(w.layout().slots_count(), 32);
    w.write(9, 9, b"new").unwrap();

    let start = Instant::now();
    let err = old.read_timeout(Duration::from_secs(3)).unwrap_err();
    assert_eq!(err, ReadTimeoutError::Failed(ReadError::Replaced));
    let ReadTimeoutError::Failed(err) = err else {
        unreachable!()
    };
    assert!(err.is_fatal());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "a waiting reader checks its files every 100 ms, took {:?}",
        start.elapsed()
    );

    let mut new = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(drain(&mut new), vec![(1, b"new".to_vec())]);
}

fn second_writer_while_one_is_alive_is_locked_naming_our_pid(b: Backend) {
    let q = TestQueue::new(b, "locked");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    assert!(w.holds_lock());
    let pid = std::process::id();
    let forced = CreateOptions {
        replace: true,
        ..small(16, 4096)
    };
    // Creating without `replace` over a queue that exists is refused before any lock is
    // touched, live writer or not.
    assert!(matches!(
        Writer::create(&q.spec, &small(16, 4096)).unwrap_err(),
        CreateError::AlreadyExists { .. }
    ));
    let attempts = [
        Writer::open(&q.spec, &WriterOptions::default()).unwrap_err(),
        create_open(Writer::create(&q.spec, &forced).unwrap_err()),
        create_open(Writer::open_or_create(&q.spec, &small(16, 4096)).unwrap_err()),
    ];
    for err in attempts {
        match &err {
            OpenError::Locked { queue, pid: p } => {
                assert_eq!((queue.as_str(), *p), (q.spec.as_str(), Some(pid)))
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!("queue {} is already open for writing by pid {pid}", q.spec)
        );
    }
    // The refused attempts changed nothing: the first writer goes on.
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
    w.write(0, 0, b"still mine").unwrap();
    assert_eq!(drain(&mut r), vec![(1, b"still mine".to_vec())]);
}

fn reopened_writer_continues_with_higher_ids_and_keeps_old_messages(b: Backend) {
    let q = TestQueue::new(b, "reopen");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    assert!(
        w.recovery_report().is_none(),
        "a new queue needs no recovery"
    );
    for id in 1..=5u64 {
        let (t, s) = types_for(id);
        w.write(t, s, &payload_for(id)).unwrap();
    }
    drop(w);
    match fmq::info(&q.spec).unwrap().writer {
        WriterStatus::Closed { last_pid } => assert_eq!(last_pid, std::process::id()),
        other => panic!("a dropped writer closes its mark: {other:?}"),
    }

    let mut w = Writer::open(&q.spec, &WriterOptions::default()).unwrap();
    let report = *w.recovery_report().expect("open reports recovery");
    assert!(!report.writer_was_open, "the last writer closed cleanly");
    assert_eq!(report.previous_pid, std::process::id());
    assert_eq!(report.youngest_id, MessageId(5));
    assert_eq!(report.dropped_count, 0);
    assert_eq!(
        (w.youngest_id(), w.oldest_id()),
        (MessageId(5), MessageId(1))
    );
    assert_eq!(
        fmq::info(&q.spec).unwrap().writer,
        WriterStatus::Open {
            pid: std::process::id(),
            alive: true
        },
        "the reopened writer marks the queue open with its pid"
    );
    for id in 6..=7u64 {
        let (t, s) = types_for(id);
        assert_eq!(w.write(t, s, &payload_for(id)).unwrap(), MessageId(id));
    }
    let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    let mut acc = Accounting::starting_at(1);
    while acc.apply(try_read_owned(&mut r), "reader") {}
    assert_eq!((acc.received, acc.missed, acc.next), (7, 0, 8));
}

fn read_times_out_after_about_the_timeout_when_nothing_is_written(b: Backend) {
    let q = TestQueue::new(b, "timeout");
    let _w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    for wait in [
        WaitStrategy::default(),
        WaitStrategy::poll(Duration::from_millis(5)),
    ] {
        let opts = ReaderOptions {
            wait,
            ..ReaderOptions::default()
        };
        let mut r = Reader::open(&q.spec, &opts).unwrap();
        assert_times_out_in(&mut r, Duration::from_millis(250), &format!("{wait:?}"));
        let start = Instant::now();
        assert_eq!(
            r.read_timeout(Duration::ZERO).unwrap_err(),
            ReadTimeoutError::TimedOut
        );
        assert!(start.elapsed() < Duration::from_millis(500));
    }
}

/// Polls the header's wake flag (`sleepers`) until it is `want`, up to 3 s.
fn wait_for_sleepers(spec: &str, want: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if fmq::info(spec).unwrap().header.sleepers == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

fn futex_waiting_reader_wakes_promptly_when_another_thread_writes(b: Backend) {
    let q = TestQueue::new(b, "futex");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
    assert!(
        r.can_sleep(),
        "a default reader of a writable queue sleeps on the futex"
    );
    let spec = q.spec.clone();
    let (tx, rx) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        // Write only once the reader has gone to sleep (it set the wake flag).
        let slept = wait_for_sleepers(&spec, 1);
        tx.send(Instant::now()).unwrap();
        w.write(3, 4, b"wake up").unwrap();
        (slept, w)
    });
    let (m, data) = read_owned(&mut r, Duration::from_secs(10)).unwrap();
    let received = Instant::now();
    let (slept, _w) = writer.join().unwrap();
    let written = rx.recv().unwrap();
    assert!(slept, "the waiting reader set the wake flag");
    assert_eq!((m.id, data.as_slice()), (MessageId(1), &b"wake up"[..]));
    let latency = received.duration_since(written);
    assert!(latency < Duration::from_secs(1), "woken after {latency:?}");
    assert_eq!(
        fmq::info(&q.spec).unwrap().header.sleepers,
        0,
        "the writer clears the wake flag when it wakes the sleepers"
    );
}

fn polling_reader_wakes_when_another_thread_writes_and_never_writes_shared_memory(b: Backend) {
    let q = TestQueue::new(b, "poll");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    let opts = ReaderOptions {
        wait: WaitStrategy::poll(Duration::from_millis(2)),
        ..ReaderOptions::default()
    };
    let mut r = Reader::open(&q.spec, &opts).unwrap();
    assert!(!r.can_sleep());
    let spec = q.spec.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        let flag = fmq::info(&spec).unwrap().header.sleepers;
        w.write(3, 4, b"polled").unwrap();
        (flag, w)
    });
    let start = Instant::now();
    let (m, data) = read_owned(&mut r, Duration::from_secs(10)).unwrap();
    let took = start.elapsed();
    let (flag, _w) = writer.join().unwrap();
    assert_eq!((m.id, data.as_slice()), (MessageId(1), &b"polled"[..]));
    assert!(
        took < Duration::from_secs(3),
        "polling reader took {took:?}"
    );
    assert_eq!(flag, 0, "a polling reader never sets the wake flag");
}

fn lz4_queue_round_trips_compressible_and_incompressible_payloads_transparently(b: Backend) {
    let q = TestQueue::new(b, "lz4");
    let opts = CreateOptions {
        compression: Compression::Lz4,
        ..small(16, 64 << 10)
    };
    let mut w = Writer::create(&q.spec, &opts).unwrap();
    assert_eq!(w.compression(), Compression::Lz4);
    let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(r.compression(), Compression::Lz4);

    let compressible: Vec<u8> = (0..10_000u32)
        .map(|i| b"radar "[(i % 6) as usize])
        .collect();
    let random = incompressible(4096, 7);
    w.write(1, 0, &compressible).unwrap();
    w.write(2, 0, &random).unwrap();
    w.write(3, 0, b"tiny").unwrap();
    let batch = [
        NewMessage::new(4, 0, &compressible[..5000]).at(1),
        NewMessage::new(5, 0, &random[..1000]).at(2),
    ];
    assert_eq!(w.write_batch(&batch).unwrap(), Some(MessageId(5)));

    let (m, data) = read_owned(&mut r, SEC).unwrap();
    assert!(m.is_compressed(), "repetitive payload is stored compressed");
    assert_eq!(m.raw_len, 10_000);
    assert!(m.len < 1000, "stored {} bytes", m.len);
    assert_eq!(data, compressible);

    let (m, data) = read_owned(&mut r, SEC).unwrap();
    assert!(
        !m.is_compressed(),
        "random bytes do not shrink: stored as is"
    );
    assert_eq!((m.len, m.raw_len), (4096, 4096));
    assert_eq!(data, random);

    let (m, data) = read_owned(&mut r, SEC).unwrap();
    assert!(!m.is_compressed());
    assert_eq!(data, b"tiny");

    let (m, data) = read_owned(&mut r, SEC).unwrap();
    assert!(m.is_compressed(), "write_batch compresses too");
    assert_eq!((m.msg_type, data.as_slice()), (4, &compressible[..5000]));
    let (m, data) = read_owned(&mut r, SEC).unwrap();
    assert_eq!((m.msg_type, data.as_slice()), (5, &random[..1000]));

    let info = fmq::info(&q.spec).unwrap();
    assert_eq!(info.compression, Compression::Lz4);
    let report = fmq::check(&q.spec).unwrap();
    assert!(report.is_healthy(), "{:?}", report.problems);
    assert_eq!(report.messages_checked, 5);
}

fn message_larger_than_the_buffer_is_refused_and_the_queue_still_works(b: Backend) {
    let q = TestQueue::new(b, "too_large");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(
        w.write(0, 0, &[1u8; 4097]).unwrap_err(),
        WriteError::MessageTooLarge {
            len: 4097,
            max: 4096
        }
    );
    assert_eq!(w.youngest_id(), MessageId(0), "nothing was published");
    let batch = [
        NewMessage::new(0, 0, b"ok").at(0),
        NewMessage::new(0, 0, &[0u8; 5000]).at(0),
    ];
    assert!(matches!(
        w.write_batch(&batch),
        Err(WriteError::MessageTooLarge { len: 5000, .. })
    ));
    assert_eq!(
        w.youngest_id(),
        MessageId(0),
        "a refused batch writes nothing"
    );
    assert_eq!(r.try_read().unwrap_err(), TryReadError::Empty);

    let full = incompressible(4096, 3);
    assert_eq!(
        w.write(0, 0, &full).unwrap(),
        MessageId(1),
        "exactly the buffer fits"
    );
    assert_eq!(drain(&mut r), vec![(1, full)]);
    assert_eq!(w.write(0, 0, b"after").unwrap(), MessageId(2));
    assert_eq!(drain(&mut r), vec![(2, b"after".to_vec())]);
}

fn flush_records_the_commit_point_and_open_flushes_the_recovered_queue(b: Backend) {
    let q = TestQueue::new(b, "flush");
    let flushed_id = || fmq::info(&q.spec).unwrap().header.flushed_id;
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    w.flush().unwrap();
    assert_eq!(flushed_id(), 0);
    w.write(0, 0, &payload_for(1)).unwrap();
    w.write(0, 0, &payload_for(2)).unwrap();
    assert_eq!(flushed_id(), 0, "only flush() records");
    w.flush().unwrap();
    assert_eq!(
        flushed_id(),
        2,
        "flush() records the commit point it made durable"
    );
    w.write(0, 0, &payload_for(3)).unwrap();
    drop(w);
    // Recovery may issue ids again; its result is durable before the first write.
    let w = Writer::open(&q.spec, &WriterOptions::default()).unwrap();
    assert_eq!(flushed_id(), 3, "open() flushes the recovered queue");
    drop(w);
    let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![
            (1, payload_for(1)),
            (2, payload_for(2)),
            (3, payload_for(3))
        ]
    );
}

fn info_reports_layout_usage_writer_and_files(b: Backend) {
    let q = TestQueue::new(b, "info");
    let mut w = Writer::create(&q.spec, &small(16, 8192)).unwrap();
    for _ in 0..3 {
        w.write(0, 0, &[7u8; 10]).unwrap(); // 16 bytes each, padded
    }
    let pid = std::process::id();
    let info = fmq::info(&q.spec).unwrap();
    assert_eq!(info.queue.spec(), q.spec);
    assert_eq!(info.layout.slots_count(), 16);
    assert_eq!(info.layout.buf_size_bytes(), 8192);
    assert_eq!((info.header.youngest_id, info.header.oldest_id), (3, 1));
    assert_eq!(info.present_count, 3);
    assert_eq!(info.bytes_used, 48);
    assert_eq!(info.compression, Compression::None);
    assert_eq!(info.writer, WriterStatus::Open { pid, alive: true });
    assert_eq!(info.lock_pid, Some(pid));
    assert_eq!(info.queue.lock_path(), q.lock_file());
    assert_eq!(info.header.generation, w.generation());
    let slots = fmq::slots(&q.spec).unwrap();
    assert_eq!(slots.len(), 16);
    let stamps: Vec<u64> = slots.iter().map(|s| s.stamp).collect();
    assert_eq!(&stamps[..5], &[0, 1, 2, 3, 0]);
    let stat = 256 + 16 * 64;
    match b {
        Backend::Shm => {
            assert!(info.queue.is_shared_memory());
            assert_eq!(info.files, vec![(q.stat_file(), stat + 8192)]);
        }
        Backend::File => {
            assert!(!info.queue.is_shared_memory());
            assert_eq!(
                info.files,
                vec![(q.stat_file(), stat), (q.buf_file(), 64 + 8192)]
            );
        }
    }
}

fn check_on_a_healthy_queue_finds_no_problems_and_checks_every_present_message(b: Backend) {
    let q = TestQueue::new(b, "check");
    let mut w = Writer::create(&q.spec, &small(16, 8192)).unwrap();
    let report = fmq::check(&q.spec).unwrap();
    assert!(
        report.is_healthy() && report.messages_checked == 0,
        "{report:?}"
    );
    for id in 1..=40u64 {
        w.write(0, 0, &payload_for(id)).unwrap();
    }
    let present = fmq::info(&q.spec).unwrap().present_count;
    assert!(present > 0 && present <= 16);
    let report = fmq::check(&q.spec).unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(report.warnings.is_empty(), "live writer: {report:?}");
    assert_eq!(report.messages_checked, present);
    drop(w);
    let report = fmq::check(&q.spec).unwrap();
    assert!(
        report.is_healthy() && report.warnings.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.messages_checked, present);
}

fn clear_refuses_while_a_writer_is_alive_and_resets_only_a_set_mark(b: Backend) {
    let q = TestQueue::new(b, "clear");
    let w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    match fmq::clear(&q.spec).unwrap_err() {
        AdminError::Open(OpenError::Locked { pid, .. }) => {
            assert_eq!(pid, Some(std::process::id()))
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(w);
    assert!(!fmq::clear(&q.spec).unwrap(), "a clean close left no mark");

    // A writer that died: mark open, naming a pid that does not exist.
    patch(&q.stat_file(), off::WRITER_PID, &DEAD_PID.to_le_bytes());
    patch(&q.stat_file(), off::WRITER_OPEN, &1u32.to_le_bytes());
    assert_eq!(
        fmq::info(&q.spec).unwrap().writer,
        WriterStatus::Open {
            pid: DEAD_PID,
            alive: false
        }
    );
    let report = fmq::check(&q.spec).unwrap();
    assert!(
        report.is_healthy(),
        "a dead writer's mark is not corruption"
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains(&DEAD_PID.to_string())),
        "{report:?}"
    );
    assert!(fmq::clear(&q.spec).unwrap(), "the mark was set");
    assert_eq!(
        fmq::info(&q.spec).unwrap().writer,
        WriterStatus::Closed { last_pid: DEAD_PID }
    );
    assert!(!fmq::clear(&q.spec).unwrap());
    assert!(fmq::check(&q.spec).unwrap().warnings.is_empty());
}

fn remove_refuses_a_live_writer_then_deletes_every_file(b: Backend) {
    let q = TestQueue::new(b, "remove");
    let w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    assert!(matches!(
        fmq::remove(&q.spec),
        Err(AdminError::Open(OpenError::Locked { .. }))
    ));
    assert!(Reader::open(&q.spec, &ReaderOptions::default()).is_ok());
    drop(w);
    fmq::remove(&q.spec).unwrap();
    let qp = fmq::QueuePath::parse(&q.spec).unwrap();
    for f in qp.data_files() {
        // `symlink_metadata`: not even a dangling link of that name is left.
        assert!(std::fs::symlink_metadata(f).is_err(), "{f:?} removed");
    }
    assert!(!q.lock_file().exists(), "lock file removed");
    let not_found = |e: OpenError| match e {
        OpenError::NotFound { queue } => assert_eq!(queue, q.spec),
        other => panic!("expected NotFound, got {other:?}"),
    };
    not_found(Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err());
    not_found(Writer::open(&q.spec, &WriterOptions::default()).unwrap_err());
    not_found(admin_open(fmq::remove(&q.spec).unwrap_err()));
    not_found(admin_open(fmq::info(&q.spec).unwrap_err()));
    not_found(admin_open(fmq::clear(&q.spec).unwrap_err()));
}

fn reader_waiting_on_a_queue_that_is_removed_gets_removed(b: Backend) {
    let q = TestQueue::new(b, "removed_wait");
    drop(Writer::create(&q.spec, &small(16, 4096)).unwrap());
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
    let spec = q.spec.clone();
    let remover = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        fmq::remove(&spec)
    });
    let start = Instant::now();
    let err = r.read_timeout(Duration::from_secs(5)).unwrap_err();
    remover.join().unwrap().unwrap();
    assert_eq!(err, ReadTimeoutError::Failed(ReadError::Removed));
    let ReadTimeoutError::Failed(err) = err else {
        unreachable!()
    };
    assert!(err.is_fatal());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

fn open_timeout_succeeds_on_a_queue_created_later_by_another_thread(b: Backend) {
    let q = TestQueue::new(b, "open_timeout");
    assert!(matches!(
        Reader::open(&q.spec, &ReaderOptions::default()),
        Err(OpenError::NotFound { .. })
    ));
    let start = Instant::now();
    assert!(matches!(
        Reader::open_timeout(
            &q.spec,
            &ReaderOptions::default(),
            Duration::from_millis(100)
        ),
        Err(OpenError::NotFound { .. })
    ));
    assert!(start.elapsed() >= Duration::from_millis(100));

    let spec = q.spec.clone();
    let creator = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let mut w = Writer::create(&spec, &small(16, 4096)).unwrap();
        w.write(1, 2, b"created late").unwrap();
        w
    });
    let start = Instant::now();
    let mut r =
        Reader::open_timeout(&q.spec, &from(StartAt::Oldest), Duration::from_secs(10)).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    let (m, data) = read_owned(&mut r, Duration::from_secs(5)).unwrap();
    assert_eq!(
        (m.id, data.as_slice()),
        (MessageId(1), &b"created late"[..])
    );
    drop(creator.join().unwrap());
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        /// Shared memory (`shm:NAME`).
        mod shm {
            $( #[test] fn $name() { super::$name(super::Backend::Shm) } )*
        }
        /// Files (`DIR/NAME.stat`, `DIR/NAME.buf`).
        mod file {
            $( #[test] fn $name() { super::$name(super::Backend::File) } )*
        }
    };
}

both_backends!(
    create_write_read_round_trips_payload_type_subtype_and_time,
    reader_starting_at_end_reads_only_messages_written_after_it_opened,
    reader_starting_at_oldest_reads_every_message_still_present,
    reader_starting_at_youngest_reads_the_last_message_first,
    overrun_reader_gets_lagged_with_the_exact_missed_count_then_resumes_at_oldest,
    overrun_reader_with_resume_at_youngest_policy_skips_to_the_youngest,
    buffer_wrap_overrun_reports_the_gap_to_the_writers_oldest_id,
    concurrent_writer_and_reader_account_for_every_id_exactly,
    create_over_an_existing_queue_without_replace_is_refused_and_loses_nothing,
    create_with_replace_replaces_the_queue_and_an_attached_reader_gets_replaced,
    second_writer_while_one_is_alive_is_locked_naming_our_pid,
    reopened_writer_continues_with_higher_ids_and_keeps_old_messages,
    read_times_out_after_about_the_timeout_when_nothing_is_written,
    futex_waiting_reader_wakes_promptly_when_another_thread_writes,
    polling_reader_wakes_when_another_thread_writes_and_never_writes_shared_memory,
    lz4_queue_round_trips_compressible_and_incompressible_payloads_transparently,
    message_larger_than_the_buffer_is_refused_and_the_queue_still_works,
    flush_records_the_commit_point_and_open_flushes_the_recovered_queue,
    info_reports_layout_usage_writer_and_files,
    check_on_a_healthy_queue_finds_no_problems_and_checks_every_present_message,
    clear_refuses_while_a_writer_is_alive_and_resets_only_a_set_mark,
    remove_refuses_a_live_writer_then_deletes_every_file,
    reader_waiting_on_a_queue_that_is_removed_gets_removed,
    open_timeout_succeeds_on_a_queue_created_later_by_another_thread,
);
