//! Real processes: the test binary re-executes itself (sled style) as writer and reader
//! processes. `child_process_entry` is the child side: `FMQ_TEST_CHILD` names its role,
//! `FMQ_TEST_SPEC` the queue. The parent side streams messages across processes with exact
//! accounting, checks that the writer lock works between processes, SIGKILLs writers at
//! random moments and recovers (DESIGN invariant 7), and checks that the lock descriptor is
//! close-on-exec.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fmq::{OpenError, Reader, StartAt, Writer, WriterOptions, WriterStatus};

const ENTRY: &str = "child_process_entry";
/// A child role never runs longer than this, even if its parent vanished.
const CHILD_LIFETIME: Duration = Duration::from_secs(30);

/// Role `reader`: follows the queue from its oldest message until it has accounted for
/// `FMQ_TEST_COUNT` ids.
fn reader_child() {
    let spec = env("FMQ_TEST_SPEC");
    let n: u64 = env("FMQ_TEST_COUNT").parse().unwrap();
    let mut r = Reader::open(&spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(r.position().0, 1, "attached before the first message");
    say("READY");
    let mut acc = Accounting::starting_at(1);
    while acc.next <= n {
        let got = read_owned(&mut r, Duration::from_secs(20));
        if !acc.apply(got, "reader process") {
            panic!("reader process timed out at id {} ({acc:?})", acc.next);
        }
    }
    say(&format!(
        "RESULT received={} missed={} lags={}",
        acc.received, acc.missed, acc.lag_events
    ));
}

/// Role `writer`: opens the queue and writes `FMQ_TEST_COUNT` messages, pausing 1 ms after
/// every `FMQ_TEST_PACE` of them (so that readers keep up most of the time, not always).
fn writer_child() {
    let spec = env("FMQ_TEST_SPEC");
    let n: u64 = env("FMQ_TEST_COUNT").parse().unwrap();
    let pace: u64 = env("FMQ_TEST_PACE").parse().unwrap();
    let mut w = Writer::open(&spec, &WriterOptions::default()).unwrap();
    for id in 1..=n {
        let (t, s) = types_for(id);
        assert_eq!(w.write(t, s, &payload_for(id)).unwrap().0, id);
        if id % pace == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    say(&format!("RESULT youngest={}", w.youngest_id().0));
}

/// Role `forever_writer`: opens (recovers) the queue and writes until killed.
fn forever_writer_child() {
    let spec = env("FMQ_TEST_SPEC");
    let mut w = Writer::open(&spec, &WriterOptions::default()).unwrap();
    say(&format!("READY youngest={}", w.youngest_id().0));
    let start = Instant::now();
    loop {
        for _ in 0..256 {
            let id = w.youngest_id().0 + 1;
            let (t, s) = types_for(id);
            assert_eq!(w.write(t, s, &payload_for(id)).unwrap().0, id);
        }
        if start.elapsed() > CHILD_LIFETIME {
            return;
        }
    }
}

/// Role `second_writer`: expects the queue to be locked; prints the error on stderr and
/// exits with status 3 (4 if it got the queue, 5 on another error).
fn second_writer_child() {
    let spec = env("FMQ_TEST_SPEC");
    match Writer::open(&spec, &WriterOptions::default()) {
        Err(e @ OpenError::Locked { .. }) => {
            eprintln!("{e}");
            std::process::exit(3);
        }
        Ok(_) => std::process::exit(4),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(5);
        }
    }
}

/// Role `holding_writer`: holds the queue until its stdin ends, then closes cleanly.
fn holding_writer_child() {
    let spec = env("FMQ_TEST_SPEC");
    let mut w = Writer::open(&spec, &WriterOptions::default()).unwrap();
    w.write(0, 0, b"from the holding writer").unwrap();
    say("READY");
    let mut sink = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink).unwrap();
    drop(w);
    say("RESULT closed=1");
}

/// Role `spawning_writer`: holds the queue, spawns a long-running `sleep`, then idles until
/// killed. The `sleep` is never waited for here: this process is SIGKILLed, and the parent
/// test kills the `sleep` by its pid.
#[allow(clippy::zombie_processes)]
fn spawning_writer_child() {
    let spec = env("FMQ_TEST_SPEC");
    let _w = Writer::open(&spec, &WriterOptions::default()).unwrap();
    let sleeper = Command::new("sleep")
        .arg("5")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    say(&format!("READY sleep_pid={}", sleeper.id()));
    let start = Instant::now();
    while start.elapsed() < CHILD_LIFETIME {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
#[ignore = "child-process entry point, run by the other tests of this file"]
fn child_process_entry() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("reader") => reader_child(),
        Ok("writer") => writer_child(),
        Ok("forever_writer") => forever_writer_child(),
        Ok("second_writer") => second_writer_child(),
        Ok("holding_writer") => holding_writer_child(),
        Ok("spawning_writer") => spawning_writer_child(),
        Ok(other) => panic!("unknown child role {other}"),
        Err(_) => {} // run by hand with --ignored: nothing to do
    }
}

fn child(role: &str, spec: &str) -> Command {
    let mut c = child_command(ENTRY, role);
    c.env("FMQ_TEST_SPEC", spec);
    c
}

// ---- (a) one writer process, two reader processes and the parent ----

fn cross_process_stream_accounts_for_every_message(b: Backend) {
    const N: u64 = 20_000;
    let q = TestQueue::new(b, "stream");
    drop(Writer::create(&q.spec, &small(256, 32 << 10)).unwrap());
    let mut readers: Vec<ChildProc> = (0..2)
        .map(|_| ChildProc::spawn(child("reader", &q.spec).env("FMQ_TEST_COUNT", N.to_string())))
        .collect();
    for r in &mut readers {
        r.wait_line("READY");
    }
    let mut mine = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    let mut writer = ChildProc::spawn(
        child("writer", &q.spec)
            .env("FMQ_TEST_COUNT", N.to_string())
            .env("FMQ_TEST_PACE", "400"),
    );

    let mut acc = Accounting::starting_at(1);
    while acc.next <= N {
        let got = read_owned(&mut mine, Duration::from_secs(20));
        if !acc.apply(got, "parent reader") {
            panic!("parent reader timed out at id {} ({acc:?})", acc.next);
        }
    }
    assert_eq!(acc.received + acc.missed, N, "parent: {acc:?}");

    let (status, out, err) = writer.finish(Duration::from_secs(30));
    assert!(status.success(), "writer: {status}\n{out}\n{err}");
    assert_eq!(field::<u64>(result_line(&out).unwrap(), "youngest"), N);
    for (i, r) in readers.iter_mut().enumerate() {
        let (status, out, err) = r.finish(Duration::from_secs(30));
        assert!(status.success(), "reader {i}: {status}\n{out}\n{err}");
        let line = result_line(&out).unwrap_or_else(|| panic!("reader {i}: {out}"));
        let (received, missed): (u64, u64) = (field(line, "received"), field(line, "missed"));
        assert_eq!(received + missed, N, "reader {i}: {line}");
        assert!(received > 0, "reader {i}: {line}");
        println!("{b:?} reader process {i}: {line}");
    }
    println!("{b:?} parent reader: {acc:?}");
}

#[test]
fn writer_process_and_reader_processes_account_for_every_message_exactly_shm() {
    let _serial = spawning_test();
    cross_process_stream_accounts_for_every_message(Backend::Shm);
}

#[test]
fn writer_process_and_reader_processes_account_for_every_message_exactly_file() {
    let _serial = spawning_test();
    cross_process_stream_accounts_for_every_message(Backend::File);
}

// ---- (b) the lock between processes ----

fn second_writer_process_is_refused_naming_our_pid(b: Backend) {
    let q = TestQueue::new(b, "second");
    let _w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    let (status, out, err) =
        ChildProc::spawn(&mut child("second_writer", &q.spec)).finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(3), "{status}\n{out}\n{err}");
    let want = format!(
        "queue {} is already open for writing by pid {}",
        q.spec,
        std::process::id()
    );
    assert!(err.lines().any(|l| l == want), "stderr:\n{err}");
}

#[test]
fn second_writer_in_another_process_is_refused_naming_the_first_writers_pid() {
    let _serial = spawning_test();
    second_writer_process_is_refused_naming_our_pid(Backend::Shm);
    second_writer_process_is_refused_naming_our_pid(Backend::File);
}

fn writer_process_holds_the_lock_until_it_exits(b: Backend) {
    let q = TestQueue::new(b, "holding");
    drop(Writer::create(&q.spec, &small(16, 4096)).unwrap());
    let mut holder = ChildProc::spawn(child("holding_writer", &q.spec).stdin(Stdio::piped()));
    holder.wait_line("READY");
    let pid = holder.id();
    let err = Writer::open(&q.spec, &WriterOptions::default()).unwrap_err();
    match &err {
        OpenError::Locked { pid: p, .. } => assert_eq!(*p, Some(pid)),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("queue {} is already open for writing by pid {pid}", q.spec)
    );
    assert_eq!(
        fmq::info(&q.spec).unwrap().writer,
        WriterStatus::Open { pid, alive: true }
    );
    drop(holder.child.stdin.take()); // EOF: the holder closes and exits
    let (status, out, err) = holder.finish(Duration::from_secs(20));
    assert!(status.success(), "{status}\n{out}\n{err}");
    let w = Writer::open(&q.spec, &WriterOptions::default()).unwrap();
    let rep = w.recovery_report().unwrap();
    assert!(!rep.writer_was_open, "the holder closed cleanly");
    assert_eq!(rep.previous_pid, pid);
    assert_eq!(w.youngest_id().0, 1);
}

#[test]
fn writer_in_another_process_holds_the_lock_until_it_exits_cleanly() {
    let _serial = spawning_test();
    writer_process_holds_the_lock_until_it_exits(Backend::Shm);
    writer_process_holds_the_lock_until_it_exits(Backend::File);
}

// ---- (c) SIGKILL the writer at random moments ----

fn killed_writers_are_recovered_and_a_reader_never_sees_corruption(b: Backend) {
    const ROUNDS: usize = 10;
    let seed = time_seed();
    println!("{b:?}: seed {seed:#x}");
    let mut x = seed;
    let q = TestQueue::new(b, "kill");
    // Small, so that the writer wraps and the reader lags now and then.
    drop(Writer::create(&q.spec, &small(64, 16 << 10)).unwrap());
    let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    let mut acc = Accounting::starting_at(1);
    for round in 0..ROUNDS {
        let ctx = format!("{b:?} seed {seed:#x} round {round}");
        let mut writer = ChildProc::spawn(&mut child("forever_writer", &q.spec));
        let pid = writer.id();
        let started_at: u64 = writer.wait_line("READY youngest=").parse().unwrap();
        assert_eq!(
            started_at,
            acc.next - 1,
            "{ctx}: the writer goes on where we stopped"
        );
        // Read while it writes, for a random 0..40 ms, then kill it wherever it is.
        let until = Instant::now() + Duration::from_millis(xorshift(&mut x) % 40);
        while Instant::now() < until {
            acc.apply(read_owned(&mut r, Duration::from_millis(2)), &ctx);
        }
        writer.kill();
        while acc.apply(try_read_owned(&mut r), &ctx) {}
        assert_eq!(
            r.writer_status(),
            WriterStatus::Open { pid, alive: false },
            "{ctx}: the mark names the dead writer"
        );

        let mut w = Writer::open(&q.spec, &WriterOptions::default()).unwrap();
        let rep = *w.recovery_report().unwrap();
        assert!(rep.writer_was_open, "{ctx}: {rep:?}");
        assert_eq!(rep.previous_pid, pid, "{ctx}");
        assert_eq!(
            rep.dropped_count, 0,
            "{ctx}: a crash loses no published message"
        );
        assert_eq!(
            rep.youngest_id.0 + 1,
            acc.next,
            "{ctx}: the reader saw up to the youngest published id"
        );
        for _ in 0..3 {
            let id = w.youngest_id().0 + 1;
            let (t, s) = types_for(id);
            assert_eq!(w.write(t, s, &payload_for(id)).unwrap().0, id, "{ctx}");
        }
        let youngest = w.youngest_id().0;
        while acc.apply(try_read_owned(&mut r), &ctx) {}
        assert_eq!(
            acc.next,
            youngest + 1,
            "{ctx}: new messages read after recovery"
        );
        drop(w);
    }
    assert_eq!(acc.received + acc.missed, acc.next - 1, "{acc:?}");
    assert!(
        acc.next > 1 + 3 * ROUNDS as u64,
        "the killed writers wrote: {acc:?}"
    );
    let report = fmq::check(&q.spec).unwrap();
    assert!(report.is_healthy(), "{report:?}");
    println!("{b:?}: {acc:?}");
}

#[test]
fn sigkilled_writer_is_recovered_and_an_attached_reader_never_sees_corruption_shm() {
    let _serial = spawning_test();
    killed_writers_are_recovered_and_a_reader_never_sees_corruption(Backend::Shm);
}

#[test]
fn sigkilled_writer_is_recovered_and_an_attached_reader_never_sees_corruption_file() {
    let _serial = spawning_test();
    killed_writers_are_recovered_and_a_reader_never_sees_corruption(Backend::File);
}

// ---- (d) close-on-exec ----

/// Kills a process by pid (with `kill -9`) when dropped.
struct KillPidOnDrop(u32);

impl Drop for KillPidOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.0.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}

fn lock_is_not_inherited_by_a_spawned_child(b: Backend) {
    let q = TestQueue::new(b, "cloexec");
    drop(Writer::create(&q.spec, &small(16, 4096)).unwrap());
    let mut writer = ChildProc::spawn(&mut child("spawning_writer", &q.spec));
    let sleep_pid: u32 = field(&writer.wait_line("READY"), "sleep_pid");
    let _sleeper = KillPidOnDrop(sleep_pid);
    let writer_pid = writer.id();
    match Writer::open(&q.spec, &WriterOptions::default()) {
        Err(OpenError::Locked { pid, .. }) => assert_eq!(pid, Some(writer_pid)),
        other => panic!("{b:?}: the live writer holds the lock, got {other:?}"),
    }
    writer.kill();
    assert!(
        pid_alive(sleep_pid),
        "{b:?}: the writer's child is still running"
    );
    let w = Writer::open(&q.spec, &WriterOptions::default());
    assert!(
        w.is_ok(),
        "{b:?}: the lock must die with the writer, not live on in its child: {w:?}"
    );
    assert!(w.unwrap().recovery_report().unwrap().writer_was_open);
}

#[test]
fn lock_descriptor_is_close_on_exec_so_a_writers_child_does_not_keep_the_lock() {
    let _serial = spawning_test();
    lock_is_not_inherited_by_a_spawned_child(Backend::Shm);
    lock_is_not_inherited_by_a_spawned_child(Backend::File);
}
