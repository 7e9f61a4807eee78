//! Blocking (archive) mode with real processes (DESIGN invariant 9): registered reader
//! processes hold a blocking writer back and lose nothing; a SIGKILLed registered reader is
//! detected by its pid and the writer resumes; a stopped one (alive, silent) is unregistered
//! once its heartbeat is older than the queue's reader timeout, and is told so when it comes
//! back. The test binary re-executes itself as the reader processes (`child_process_entry`).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use fmq::{
    CreateOptions, DropReason, MessageId, ReadError, ReadTimeoutError, Reader, StartAt, WriteError,
    Writer, WriterOptions,
};

const ENTRY: &str = "child_process_entry";

/// Role `registered`: registers as `FMQ_TEST_NAME` from the oldest message and reads
/// `FMQ_TEST_COUNT` messages, sleeping `FMQ_TEST_PACE_US` after each; every id must come in
/// order with its payload, no lag. With `FMQ_TEST_STOP_AFTER=k` it stops reading after `k`
/// messages, says `STUCK`, and waits for its stdin to close (the parent kills or stops it),
/// then reads once more and reports what that read returned.
fn registered_child() {
    let spec = env("FMQ_TEST_SPEC");
    let n: u64 = env("FMQ_TEST_COUNT").parse().unwrap();
    let pace = Duration::from_micros(env("FMQ_TEST_PACE_US").parse().unwrap());
    let stop_after: Option<u64> = std::env::var("FMQ_TEST_STOP_AFTER")
        .ok()
        .map(|v| v.parse().unwrap());
    let mut r = Reader::open(&spec, &from(StartAt::Oldest)).unwrap();
    let start = r.register(&env("FMQ_TEST_NAME")).unwrap();
    say(&format!("READY start={}", start.0));
    let mut lags = 0;
    let mut received = 0;
    let mut next = start.0;
    while received < n {
        if stop_after == Some(received) {
            say("STUCK");
            let mut sink = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink).unwrap();
            let after = match r.read_timeout(Duration::from_secs(5)) {
                Err(ReadTimeoutError::Failed(ReadError::Unregistered { .. })) => "unregistered",
                Ok(_) => "message",
                Err(_) => "error",
            };
            say(&format!(
                "RESULT received={received} lags={lags} after={after}"
            ));
            return;
        }
        match r.read_timeout(Duration::from_secs(20)) {
            Ok(m) => {
                assert_eq!(m.meta.id.0, next, "ids in order, none skipped");
                assert_eq!(m.payload, &payload_for(next)[..], "payload of {next}");
                next += 1;
                received += 1;
            }
            Err(ReadTimeoutError::Failed(ReadError::Lagged(_))) => lags += 1,
            Err(e) => panic!("registered reader at {next}: {e}"),
        }
        if !pace.is_zero() {
            std::thread::sleep(pace);
        }
    }
    say(&format!(
        "RESULT received={received} lags={lags} after=none"
    ));
}

#[test]
#[ignore = "child-process entry point, run by the other tests of this file"]
fn child_process_entry() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("registered") => registered_child(),
        Ok(other) => panic!("unknown child role {other}"),
        Err(_) => {}
    }
}

fn registered(spec: &str, name: &str, count: u64, pace_us: u64) -> Command {
    let mut c = child_command(ENTRY, "registered");
    c.env("FMQ_TEST_SPEC", spec)
        .env("FMQ_TEST_NAME", name)
        .env("FMQ_TEST_COUNT", count.to_string())
        .env("FMQ_TEST_PACE_US", pace_us.to_string());
    c
}

/// A blocking queue's create options; its writer's writes wait at most `write_timeout`.
fn blocking(
    slots: u32,
    readers_max: u32,
    reader_timeout: Duration,
    write_timeout: Option<Duration>,
) -> CreateOptions {
    CreateOptions {
        blocking: true,
        readers_max,
        reader_timeout,
        writer: WriterOptions {
            write_timeout,
            ..WriterOptions::default()
        },
        ..small(slots, 64 << 10)
    }
}

fn write_all(w: &mut Writer, ids: std::ops::RangeInclusive<u64>) {
    for id in ids {
        let (t, s) = types_for(id);
        assert_eq!(w.write(t, s, &payload_for(id)).unwrap().0, id);
    }
}

fn finish_ok(r: &mut ChildProc, what: &str) -> String {
    let (status, out, err) = r.finish(Duration::from_secs(60));
    assert!(status.success(), "{what}: {status}\n{out}\n{err}");
    result_line(&out)
        .unwrap_or_else(|| panic!("{what}: no result\n{out}\n{err}"))
        .to_string()
}

fn slow_reader_throttles_the_writer_and_loses_nothing(b: Backend) {
    const N: u64 = 2_000;
    let q = TestQueue::new(b, "throttle");
    let opts = blocking(
        16,
        4,
        Duration::from_secs(10),
        Some(Duration::from_secs(30)),
    );
    let mut w = Writer::create(&q.spec, &opts).unwrap();
    let mut r = ChildProc::spawn(&mut registered(&q.spec, "slow", N, 200));
    assert_eq!(r.wait_line("READY"), "start=1");
    let started = Instant::now();
    // A 16-slot queue and 2,000 messages: without blocking the reader would be overrun
    // (it sleeps 200 us per message, the writer takes about 1 us).
    write_all(&mut w, 1..=N);
    let line = finish_ok(&mut r, "slow registered reader");
    assert_eq!(
        (field::<u64>(&line, "received"), field::<u64>(&line, "lags")),
        (N, 0),
        "{line}"
    );
    assert!(w.take_dropped_readers().is_empty());
    println!(
        "{b:?}: {N} messages through 16 slots to a 200 us/message reader in {:?}",
        started.elapsed()
    );
}

#[test]
fn slow_registered_reader_process_throttles_a_blocking_writer_and_loses_nothing() {
    slow_reader_throttles_the_writer_and_loses_nothing(Backend::Shm);
    slow_reader_throttles_the_writer_and_loses_nothing(Backend::File);
}

#[test]
fn registered_readers_at_different_paces_all_receive_every_message() {
    const N: u64 = 3_000;
    let q = TestQueue::new(Backend::Shm, "paces");
    let opts = blocking(
        32,
        4,
        Duration::from_secs(10),
        Some(Duration::from_secs(30)),
    );
    let mut w = Writer::create(&q.spec, &opts).unwrap();
    let mut readers: Vec<ChildProc> = [(0, "fast"), (20, "medium"), (100, "slow")]
        .iter()
        .map(|&(pace, name)| ChildProc::spawn(&mut registered(&q.spec, name, N, pace)))
        .collect();
    for r in &mut readers {
        assert_eq!(r.wait_line("READY"), "start=1");
    }
    let info = fmq::info(&q.spec).unwrap();
    assert_eq!(info.readers.len(), 3, "three records in use");
    assert!(info.readers.iter().all(|r| !r.dropped && r.alive));
    write_all(&mut w, 1..=N);
    for (i, r) in readers.iter_mut().enumerate() {
        let line = finish_ok(r, &format!("reader {i}"));
        assert_eq!(
            (field::<u64>(&line, "received"), field::<u64>(&line, "lags")),
            (N, 0),
            "reader {i}: {line}"
        );
    }
    // Readers that exit give their records back.
    assert!(fmq::info(&q.spec)
        .unwrap()
        .readers
        .iter()
        .all(|r| r.dropped));
}

#[test]
fn sigkilled_registered_reader_is_detected_and_the_writer_resumes() {
    let q = TestQueue::new(Backend::Shm, "killed");
    let opts = blocking(8, 2, Duration::ZERO, Some(Duration::from_secs(20)));
    let mut w = Writer::create(&q.spec, &opts).unwrap();
    let mut cmd = registered(&q.spec, "doomed", 100, 0);
    cmd.env("FMQ_TEST_STOP_AFTER", "3")
        .stdin(std::process::Stdio::piped());
    let mut r = ChildProc::spawn(&mut cmd);
    r.wait_line("READY");
    write_all(&mut w, 1..=8);
    r.wait_line("STUCK");
    let pid = r.id();
    let spec = q.spec.clone();
    // The writer blocks on message 12 (the reader read 3 of 8 slots' worth); kill the reader
    // once the writer is waiting for it.
    let writer = std::thread::spawn(move || {
        let started = Instant::now();
        write_all(&mut w, 9..=40);
        (w, started.elapsed())
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while fmq::info(&spec).unwrap().header.writer_waiting == 0 {
        assert!(Instant::now() < deadline, "the writer never waited");
        std::thread::sleep(Duration::from_millis(2));
    }
    r.kill();
    let (mut w, took) = writer.join().unwrap();
    let dropped = w.take_dropped_readers();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(
        (
            dropped[0].pid,
            dropped[0].name.as_str(),
            dropped[0].cursor,
            dropped[0].reason
        ),
        (pid, "doomed", MessageId(4), DropReason::ProcessGone)
    );
    let info = fmq::info(&q.spec).unwrap();
    assert_eq!(info.header.readers_dropped, 1);
    assert_eq!(info.header.youngest_id, 40);
    println!("writer resumed {took:?} after it began waiting for the killed reader");
}

#[test]
fn silent_registered_reader_is_dropped_after_the_reader_timeout_and_told_when_it_comes_back() {
    let timeout = Duration::from_millis(300);
    let q = TestQueue::new(Backend::Shm, "silent");
    let opts = blocking(8, 2, timeout, Some(Duration::from_secs(20)));
    let mut w = Writer::create(&q.spec, &opts).unwrap();
    let mut cmd = registered(&q.spec, "sleepy", 100, 0);
    cmd.env("FMQ_TEST_STOP_AFTER", "2")
        .stdin(std::process::Stdio::piped());
    let mut r = ChildProc::spawn(&mut cmd);
    r.wait_line("READY");
    write_all(&mut w, 1..=8);
    r.wait_line("STUCK");
    // Alive but silent: it neither reads nor waits (it blocks on its stdin).
    let started = Instant::now();
    write_all(&mut w, 9..=20);
    let waited = started.elapsed();
    let dropped = w.take_dropped_readers();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    let DropReason::HeartbeatTimeout { age } = dropped[0].reason else {
        panic!("{dropped:?}")
    };
    assert!(
        age > timeout,
        "dropped only once its heartbeat was older than the limit: {age:?}"
    );
    assert!(
        waited >= timeout - Duration::from_millis(50),
        "the writer waited for the live reader first: {waited:?}"
    );
    // It comes back: its next read says it was dropped.
    drop(r.child.stdin.take());
    let line = finish_ok(&mut r, "sleepy reader");
    assert_eq!(field::<String>(&line, "after"), "unregistered", "{line}");
}

#[test]
fn write_timeout_expires_with_a_clear_error_while_a_live_reader_holds_the_writer() {
    let q = TestQueue::new(Backend::Shm, "timeout");
    let opts = blocking(4, 1, Duration::ZERO, Some(Duration::from_millis(100)));
    let mut w = Writer::create(&q.spec, &opts).unwrap();
    let mut mine = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    mine.register("parent").unwrap();
    write_all(&mut w, 1..=4);
    let started = Instant::now();
    let err = w.write(0, 0, b"fifth").unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(
        matches!(
            err,
            WriteError::TimedOut {
                reader: 0,
                cursor: MessageId(1),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(w.youngest_id().0, 4, "nothing written");
    let got = read_owned(&mut mine, SEC).unwrap();
    assert_eq!(got.0.id.0, 1);
    // The reader read message 1: the fifth write overwrites it without waiting (the same
    // 100 ms write timeout).
    assert_eq!(w.write(0, 0, b"fifth").unwrap().0, 5);
}

/// A batch larger than the queue, written while a registered reader process reads it
/// slowly, is published in parts, each part readable while the writer waits, and returns
/// the last id: the blocked-write retry goes on after the part already published, never
/// writing a message twice or skipping one (plain and compressed queues).
fn batch_through_a_slow_registered_reader(b: Backend, compression: fmq::Compression) {
    const N: u64 = 300;
    let q = TestQueue::new(b, "batch");
    let opts = CreateOptions {
        compression,
        ..blocking(8, 2, Duration::from_secs(10), Some(Duration::from_secs(30)))
    };
    let mut w = Writer::create(&q.spec, &opts).unwrap();
    let mut r = ChildProc::spawn(&mut registered(&q.spec, "batch", N, 100));
    assert_eq!(r.wait_line("READY"), "start=1");
    let payloads: Vec<Vec<u8>> = (1..=N).map(payload_for).collect();
    let msgs: Vec<fmq::NewMessage<'_>> = (1..=N)
        .map(|id| {
            let (t, s) = types_for(id);
            fmq::NewMessage::new(t, s, &payloads[id as usize - 1])
        })
        .collect();
    // Two batches: the second starts where the first ended, in the middle of a wrap.
    assert_eq!(w.write_batch(&msgs[..150]).unwrap(), Some(MessageId(150)));
    assert_eq!(w.write_batch(&msgs[150..]).unwrap(), Some(MessageId(N)));
    let line = finish_ok(&mut r, "registered reader of batches");
    assert_eq!(
        (field::<u64>(&line, "received"), field::<u64>(&line, "lags")),
        (N, 0),
        "{b:?} {compression}: {line}"
    );
    assert_eq!(w.youngest_id(), MessageId(N));
}

#[test]
fn a_batch_larger_than_a_blocking_queue_is_published_in_parts_and_loses_nothing() {
    for b in [Backend::Shm, Backend::File] {
        batch_through_a_slow_registered_reader(b, fmq::Compression::None);
        batch_through_a_slow_registered_reader(b, fmq::Compression::Lz4);
    }
}
