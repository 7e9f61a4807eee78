//! The public API as issue 22 reshaped it, as a user holds it: the owned-message iterators
//! (a lag is an item with its exact count; a fatal error is the last item), the bounded and
//! non-blocking reads, error texts (one line, no CLI flag, no cause printed twice), and a
//! queue of another user read through a read-only mapping. The tests that need a second user
//! (uid 65534) re-execute this binary as that user with `setpriv` (`child_process_entry`);
//! they need root, and print a loud SKIP without it (under CI, which runs as root, a SKIP
//! fails).

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use fmq::{
    AdminError, CreateError, CreateOptions, FlushError, Lag, MessageId, OpenError, ReadError,
    ReadTimeoutError, Reader, ReaderOptions, Received, RegisterError, StartAt, TryReadError,
    WriteError, Writer, WriterOptions,
};

const ENTRY: &str = "child_process_entry";
/// The second local user of the tests (`nobody`).
const OTHER_UID: u32 = 65534;

fn both(f: impl Fn(Backend)) {
    f(Backend::Shm);
    f(Backend::File);
}

/// Writes messages `ids` with [`payload_for`] and [`types_for`].
fn write_ids(w: &mut Writer, ids: std::ops::RangeInclusive<u64>) {
    for id in ids {
        let (t, s) = types_for(id);
        assert_eq!(w.write(t, s, &payload_for(id)).unwrap(), MessageId(id));
    }
}

/// Asserts that `item` is message `id` as [`write_ids`] wrote it.
fn assert_message(item: &Result<Received, ReadError>, id: u64, ctx: &str) {
    match item {
        Ok(Received::Message(m)) => {
            assert_eq!(m.id(), MessageId(id), "{ctx}");
            assert_eq!(m.payload, payload_for(id), "{ctx}: payload of {id}");
            assert_eq!((m.meta.msg_type, m.meta.subtype), types_for(id), "{ctx}");
        }
        other => panic!("{ctx}: expected message {id}, got {other:?}"),
    }
}

/// Runs `f` on a thread of its own and returns what it returns; panics if that takes longer
/// than `limit` (an iterator or read that never returns fails the test instead of hanging).
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not return within {limit:?}"))
}

// ---- the iterators ----

fn messages_yields_a_lag_with_its_exact_count_then_the_message_it_resumed_at(b: Backend) {
    let q = TestQueue::new(b, "iter_lag");
    let mut w = Writer::create(&q.spec, &small(8, 64 << 10)).unwrap();
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
    write_ids(&mut w, 1..=1);
    assert_message(&r.messages().next().unwrap(), 1, "first");
    // 8 slots: ids 14..=21 are present; the reader wanted 2, so it lost 2..=13.
    write_ids(&mut w, 2..=21);
    let items: Vec<Result<Received, ReadError>> = within(SEC * 10, "messages()", move || {
        r.messages().take(9).collect()
    });
    assert_eq!(
        items[0],
        Ok(Received::Lagged(Lag {
            missed_count: 12,
            resumed_at: MessageId(14)
        })),
        "{b:?}"
    );
    for (item, id) in items[1..].iter().zip(14..=21) {
        assert_message(item, id, &format!("{b:?}"));
    }
}

fn messages_yields_a_fatal_error_once_then_ends_when_the_queue_is_removed_under_it(b: Backend) {
    let q = TestQueue::new(b, "iter_removed");
    let mut w = Writer::create(&q.spec, &small(8, 64 << 10)).unwrap();
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
    write_ids(&mut w, 1..=1);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut it = r.messages();
        for _ in 0..3 {
            if tx.send(it.next()).is_err() {
                return;
            }
        }
    });
    let next = || {
        rx.recv_timeout(SEC * 10)
            .unwrap_or_else(|_| panic!("{b:?}: the iterator did not return within 10 s"))
    };
    assert_message(&next().expect("an item"), 1, &format!("{b:?}"));
    // The writer lives: `force_remove` takes the queue away whatever it does.
    fmq::force_remove(&q.spec).unwrap();
    assert_eq!(next(), Some(Err(ReadError::Removed)), "{b:?}");
    assert_eq!(next(), None, "{b:?}: the iterator ends after a fatal error");
    drop(w);
}

fn try_iter_yields_what_is_there_then_ends_without_waiting(b: Backend) {
    let q = TestQueue::new(b, "try_iter");
    let mut w = Writer::create(&q.spec, &small(8, 64 << 10)).unwrap();
    let r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    write_ids(&mut w, 1..=3);
    let (r, items, again) = within(SEC * 10, "try_iter()", move || {
        let mut r = r;
        let items: Vec<_> = r.try_iter().collect();
        let again: Vec<_> = r.try_iter().collect();
        (r, items, again)
    });
    assert_eq!(items.len(), 3, "{b:?}: {items:?}");
    for (item, id) in items.iter().zip(1..=3) {
        assert_message(item, id, &format!("{b:?}"));
    }
    assert_eq!(
        again,
        vec![],
        "{b:?}: nothing new, the iterator ends at once"
    );
    // A lag is an item of this iterator too; it ends after the last message there.
    write_ids(&mut w, 4..=23);
    let items: Vec<_> = within(SEC * 10, "try_iter()", move || {
        let mut r = r;
        r.try_iter().collect::<Vec<_>>()
    });
    assert_eq!(items.len(), 9, "{b:?}: {items:?}");
    assert_eq!(
        items[0],
        Ok(Received::Lagged(Lag {
            missed_count: 12,
            resumed_at: MessageId(16)
        })),
        "{b:?}"
    );
    for (item, id) in items[1..].iter().zip(16..=23) {
        assert_message(item, id, &format!("{b:?}"));
    }
}

// ---- the bounded and non-blocking reads ----

fn bounded_reads_time_out_within_their_bound_and_a_past_deadline_at_once(b: Backend) {
    let q = TestQueue::new(b, "bounded");
    let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
    let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
    assert_eq!(r.try_read().unwrap_err(), TryReadError::Empty, "{b:?}");

    assert_times_out_in(&mut r, Duration::from_millis(200), &format!("{b:?}"));

    let past = Instant::now();
    std::thread::sleep(Duration::from_millis(5));
    let start = Instant::now();
    assert_eq!(
        r.read_deadline(past).unwrap_err(),
        ReadTimeoutError::TimedOut
    );
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{b:?}: a past deadline waited {:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert_eq!(
        r.read_timeout(Duration::ZERO).unwrap_err(),
        ReadTimeoutError::TimedOut
    );
    assert!(start.elapsed() < Duration::from_millis(500), "{b:?}");

    // A deadline bounds the wait, not the reading of what is there already; and a timeout
    // too long for an `Instant` waits without overflowing.
    write_ids(&mut w, 1..=2);
    let m = r.read_deadline(past).unwrap();
    assert_eq!((m.id(), m.payload), (MessageId(1), &payload_for(1)[..]));
    let m = r.read_timeout(Duration::MAX).unwrap();
    assert_eq!((m.id(), m.payload), (MessageId(2), &payload_for(2)[..]));
    assert_eq!(r.try_read().unwrap_err(), TryReadError::Empty, "{b:?}");
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        /// Shared memory (`shm:NAME`).
        mod shm {
            $( #[test] fn $name() { let _q = super::quiet_test(); super::$name(super::Backend::Shm) } )*
        }
        /// Files (`DIR/NAME.stat`, `DIR/NAME.buf`).
        mod file {
            $( #[test] fn $name() { let _q = super::quiet_test(); super::$name(super::Backend::File) } )*
        }
    };
}

both_backends!(
    messages_yields_a_lag_with_its_exact_count_then_the_message_it_resumed_at,
    messages_yields_a_fatal_error_once_then_ends_when_the_queue_is_removed_under_it,
    try_iter_yields_what_is_there_then_ends_without_waiting,
    bounded_reads_time_out_within_their_bound_and_a_past_deadline_at_once,
);

// ---- error texts ----

/// Asserts what every library error's text must be: one line, no CLI flag (`--`), and no
/// cause printed twice by a chain printer (anyhow's `{:#}`: the `Display`, then each
/// `source()`'s): the `Display` does not contain any cause `source()` returns. Returns the
/// chain as such a printer prints it.
fn assert_error_text(e: &dyn std::error::Error) -> String {
    let text = e.to_string();
    assert!(!text.is_empty(), "{e:?}: no text");
    assert!(!text.contains('\n'), "more than one line: {text:?}");
    assert!(!text.contains("--"), "names a CLI flag: {text:?}");
    let mut chain = text.clone();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        assert!(
            !text.contains(&c_text),
            "{text:?} repeats its cause {c_text:?}"
        );
        chain.push_str(": ");
        chain.push_str(&c_text);
        cause = c.source();
    }
    chain
}

/// The open errors of damaged queues (each a fresh queue with messages).
fn damaged_queue_errors(b: Backend) -> Vec<OpenError> {
    let made = |tag: &str| {
        let q = TestQueue::new(b, tag);
        let mut w = Writer::create(&q.spec, &small(16, 4096)).unwrap();
        write_ids(&mut w, 1..=3);
        q
    };
    let mut errs = Vec::new();
    let q = made("text_magic");
    patch(&q.stat_file(), off::MAGIC, b"NOTFMQ!!");
    let e = Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::Attach { .. }), "{e:?}");
    errs.push(e);
    let e = Writer::open(&q.spec, &WriterOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::Recover { .. }), "{e:?}");
    errs.push(e);
    let q = made("text_commit");
    patch(&q.stat_file(), off::OLDEST_ID, &0u64.to_le_bytes());
    let e = Writer::open(&q.spec, &WriterOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::Recover { .. }), "{e:?}");
    errs.push(e);
    let q = made("text_empty");
    set_len(&q.stat_file(), 0);
    let e = Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::EmptyFile { .. }), "{e:?}");
    errs.push(e);
    let q = made("text_size");
    set_len(&q.buf_file(), 1 << 40);
    let e = Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::BadFileSize { .. }), "{e:?}");
    errs.push(e);
    let q = made("text_link");
    let _ = std::fs::remove_file(q.lock_file());
    std::os::unix::fs::symlink("/nonexistent-victim", q.lock_file()).unwrap();
    let e = Writer::open(&q.spec, &WriterOptions::default()).unwrap_err();
    assert!(matches!(e, OpenError::Symlink { .. }), "{e:?}");
    errs.push(e);
    errs
}

#[test]
fn library_error_texts_are_one_line_name_no_cli_flag_and_print_no_cause_twice() {
    let _serial = quiet_test();
    let mut texts: Vec<String> = Vec::new();
    let mut check = |e: &dyn std::error::Error| texts.push(assert_error_text(e));

    for b in [Backend::Shm, Backend::File] {
        let q = TestQueue::new(b, "texts");
        // Opening.
        check(&Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err());
        check(&Reader::open("", &ReaderOptions::default()).unwrap_err());
        check(&fmq::info(&q.spec).unwrap_err());
        // Creating: a bad size, then a queue that exists (once "use --force to re-create
        // it").
        let bad = CreateOptions {
            slots_count: 0,
            ..small(16, 4096)
        };
        let e = Writer::create(&q.spec, &bad).unwrap_err();
        assert!(matches!(e, CreateError::Config(_)), "{e:?}");
        check(&e);
        let mut w = Writer::create(&q.spec, &small(4, 4096)).unwrap();
        let e = Writer::create(&q.spec, &small(4, 4096)).unwrap_err();
        assert!(matches!(e, CreateError::AlreadyExists { .. }), "{e:?}");
        check(&e);
        // A live writer refuses a second one, `clear` and `remove`.
        check(&Writer::open(&q.spec, &WriterOptions::default()).unwrap_err());
        let e = fmq::clear(&q.spec).unwrap_err();
        assert!(
            matches!(e, AdminError::Open(OpenError::Locked { .. })),
            "{e:?}"
        );
        check(&e);
        check(&fmq::remove(&q.spec).unwrap_err());
        // Writing and reading.
        let e = w.write(0, 0, &[0; 5000]).unwrap_err();
        assert!(matches!(e, WriteError::MessageTooLarge { .. }), "{e:?}");
        check(&e);
        let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
        check(&r.try_read().unwrap_err());
        check(&r.read_timeout(Duration::ZERO).unwrap_err());
        write_ids(&mut w, 1..=10);
        let e = r.read().unwrap_err();
        assert!(matches!(e, ReadError::Lagged(_)), "{e:?}");
        check(&e);
        check(&TryReadError::Failed(e.clone()));
        check(&ReadTimeoutError::Failed(e));
        let e = r.register("no registry").unwrap_err();
        assert!(matches!(e, RegisterError::NoRegistry), "{e:?}");
        check(&e);
        // Past the lag, the reader reads what is there, then is told of the removal.
        assert_eq!(drain(&mut r).len(), 4, "{b:?}");
        fmq::force_remove(&q.spec).unwrap();
        let e = r.read_timeout(SEC * 5).unwrap_err();
        assert_eq!(e, ReadTimeoutError::Failed(ReadError::Removed), "{b:?}");
        check(&e);
        drop(w);

        for e in damaged_queue_errors(b) {
            check(&e);
        }

        // Blocking mode: a registry, a registered reader that holds the writer back.
        let q = TestQueue::new(b, "texts_blocking");
        let opts = CreateOptions {
            blocking: true,
            readers_max: 1,
            writer: WriterOptions {
                write_timeout: Some(Duration::from_millis(10)),
                ..WriterOptions::default()
            },
            ..small(2, 4096)
        };
        let mut w = Writer::create(&q.spec, &opts).unwrap();
        let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
        r.register("first").unwrap();
        let e = r.register("again").unwrap_err();
        assert!(
            matches!(e, RegisterError::AlreadyRegistered { .. }),
            "{e:?}"
        );
        check(&e);
        let mut other = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
        let e = other.register("second").unwrap_err();
        assert!(matches!(e, RegisterError::RegistryFull { .. }), "{e:?}");
        check(&e);
        write_ids(&mut w, 1..=2);
        let e = w.write(0, 0, b"third").unwrap_err();
        assert!(matches!(e, WriteError::TimedOut { .. }), "{e:?}");
        check(&e);
        drop(r);

        // A dead writer's mark: `check` warns, naming what to do without a CLI command.
        let q = TestQueue::new(b, "texts_dead");
        drop(Writer::create(&q.spec, &small(16, 4096)).unwrap());
        patch(&q.stat_file(), off::WRITER_PID, &DEAD_PID.to_le_bytes());
        patch(&q.stat_file(), off::WRITER_OPEN, &1u32.to_le_bytes());
        let report = fmq::check(&q.spec).unwrap();
        assert!(!report.warnings.is_empty(), "{b:?}: {report:?}");
        for w in &report.warnings {
            assert!(
                !w.contains('\n') && !w.contains("--") && !w.contains("fmq clear"),
                "{b:?}: a check warning names the CLI: {w:?}"
            );
        }
    }

    // Not enough shared memory: the hint names the shm size and FMQ_SHM_DIR, not
    // Docker's `--shm-size`.
    let shm_dir = std::env::var("FMQ_SHM_DIR").unwrap_or_else(|_| "/dev/shm".into());
    let free = free_bytes(std::path::Path::new(&shm_dir));
    let buf = (free + (1 << 20)).next_power_of_two();
    if buf <= 1 << 46 {
        let q = TestQueue::new(Backend::Shm, "texts_space");
        let e = Writer::create(&q.spec, &small(16, buf)).unwrap_err();
        match &e {
            CreateError::NoSpace { shared_memory, .. } => assert!(*shared_memory),
            other => panic!("expected NoSpace for {buf} bytes in {shm_dir}, got {other:?}"),
        }
        assert!(e.to_string().contains("FMQ_SHM_DIR"), "{e}");
        check(&e);
    } else {
        println!("{shm_dir} has {free} bytes free: no buffer is larger, NoSpace not checked");
    }

    // A failed sync: the file and the cause, once.
    check(&FlushError {
        file: "/q.buf".into(),
        source: std::io::Error::from_raw_os_error(libc::EIO),
    });

    assert!(texts.len() > 40, "{} texts checked", texts.len());
    println!("{}", texts.join("\n"));
}

// ---- another user's queue (root only: the reader runs as uid 65534) ----

/// Whether this process runs as root (the owner of `/proc/self` is its effective uid).
fn is_root() -> bool {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0
}

/// Prints a loud SKIP banner and returns true when `test` cannot run here (not root);
/// under CI, which runs as root, a SKIP fails instead.
fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! SKIP: {test} needs root \
         (a second user); CI runs as root\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    if std::env::var_os("CI").is_some() {
        panic!("SKIP of {test} under CI, which runs as root");
    }
    true
}

/// This test binary, re-executed as uid [`OTHER_UID`] (no groups) to play child role `mode`.
fn as_other_user(mode: &str, spec: &str) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={OTHER_UID}"))
        .arg(format!("--regid={OTHER_UID}"))
        .arg("--clear-groups")
        .arg(exe)
        .args([
            "--exact",
            ENTRY,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .env("FMQ_TEST_SPEC", spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A queue of this (root) user that the other user may read but not write: its data files
/// have `mode`, and a file queue's directory is 0755 (nobody but root writes there; a
/// segment's `/dev/shm` is sticky).
fn root_queue(b: Backend, tag: &str, mode: u32) -> (TestQueue, Writer) {
    let q = TestQueue::new(b, tag);
    if let Some(dir) = q.dir() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let w = Writer::create(&q.spec, &small(8, 64 << 10)).unwrap();
    for f in fmq::QueuePath::parse(&q.spec).unwrap().data_files() {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(mode)).unwrap();
        let meta = std::fs::metadata(f).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0, "{f:?}");
    }
    (q, w)
}

/// The effective uid of this process.
fn my_uid() -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap())
}

/// Child role `denied` (run as the other user): opens a queue it may not read; prints the
/// reader's and `info`'s error texts as a chain printer prints them.
fn denied_child() {
    let spec = env("FMQ_TEST_SPEC");
    let e = Reader::open(&spec, &ReaderOptions::default()).unwrap_err();
    match &e {
        OpenError::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied, "{e:?}")
        }
        other => panic!("expected OpenError::Io, got {other:?}"),
    }
    say(&format!("TEXT reader={}", assert_error_text(&e)));
    let e = fmq::info(&spec).unwrap_err();
    assert!(matches!(e, AdminError::Open(OpenError::Io { .. })), "{e:?}");
    say(&format!("TEXT info={}", assert_error_text(&e)));
    say(&format!("RESULT uid={}", my_uid()));
}

/// Child role `read_only` (run as the other user, on a queue it may read but not write, the
/// writer in the parent): reads ids 1..=3, says `READY`, waits for a line on stdin (the
/// parent writes 4..=23 into the 8 slots meanwhile), reads the lag and 16..=23, says
/// `DRAINED`, then waits for id 24 (polling: a read-only mapping cannot sleep on the futex).
fn read_only_child() {
    let spec = env("FMQ_TEST_SPEC");
    let stat = fmq::QueuePath::parse(&spec).unwrap().data_files()[0].to_path_buf();
    let writable = match std::fs::OpenOptions::new().write(true).open(&stat) {
        Ok(_) => "yes",
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => "no",
        Err(e) => panic!("open {stat:?} for writing: {e}"),
    };
    let mut r = Reader::open(&spec, &from(StartAt::Oldest)).unwrap();
    let first: Vec<_> = r.try_iter().collect();
    assert_eq!(first.len(), 3, "{first:?}");
    for (item, id) in first.iter().zip(1..=3) {
        assert_message(item, id, "read-only reader");
    }
    let register = match r.register("other user") {
        Err(e @ RegisterError::ReadOnly { .. }) => {
            let RegisterError::ReadOnly { queue } = &e else {
                unreachable!()
            };
            assert_eq!(queue, &spec);
            assert_error_text(&e);
            "read_only"
        }
        other => panic!("register on a read-only mapping: {other:?}"),
    };
    say("READY");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let rest: Vec<_> = r.try_iter().collect();
    let lag = match rest.first() {
        Some(Ok(Received::Lagged(lag))) => *lag,
        other => panic!("expected a lag first, got {other:?}"),
    };
    for (item, id) in rest[1..].iter().zip(lag.resumed_at.0..) {
        assert_message(item, id, "read-only reader after the lag");
    }
    let last = rest.len() as u64 - 1 + lag.resumed_at.0 - 1;
    say("DRAINED");
    let can_sleep = r.can_sleep();
    let m = r.read_timeout(SEC * 20).unwrap();
    assert_eq!(m.payload, &payload_for(m.id().0)[..]);
    say(&format!(
        "RESULT uid={} writable={writable} can_sleep={can_sleep} register={register} lag={}@{} \
         last={last} waited={}",
        my_uid(),
        lag.missed_count,
        lag.resumed_at.0,
        m.id().0
    ));
}

#[test]
#[ignore = "child-process entry point, run by the other-user tests of this file"]
fn child_process_entry() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("denied") => denied_child(),
        Ok("read_only") => read_only_child(),
        Ok(other) => panic!("unknown child role {other}"),
        Err(_) => {} // run by hand with --ignored: nothing to do
    }
}

#[test]
fn a_reader_without_permission_gets_one_line_naming_os_error_13_once() {
    if skip_unless_root("a_reader_without_permission_gets_one_line_naming_os_error_13_once") {
        return;
    }
    let _serial = spawning_test();
    both(|b| {
        let (q, _w) = root_queue(b, "denied", 0o600);
        let (status, out, err) =
            ChildProc::spawn(&mut as_other_user("denied", &q.spec)).finish(SEC * 20);
        assert!(status.success(), "{b:?}: {status}\n{out}\n{err}");
        assert_eq!(
            result_line(&out),
            Some(format!("uid={OTHER_UID}").as_str()),
            "{out}"
        );
        let stat = q.stat_file();
        for who in ["reader", "info"] {
            let prefix = format!("TEXT {who}=");
            let text = out
                .lines()
                .find_map(|l| l.find(&prefix).map(|at| &l[at + prefix.len()..]))
                .unwrap_or_else(|| panic!("{b:?}: no {prefix}\n{out}"));
            assert_eq!(
                text.matches("os error 13").count(),
                1,
                "{b:?} {who}: {text}"
            );
            assert!(
                text.contains(&stat.display().to_string()),
                "{b:?} {who}: names the file: {text}"
            );
            println!("{b:?} {who} as uid {OTHER_UID}: {text}");
        }
    });
}

#[test]
fn another_users_queue_is_read_through_a_read_only_mapping_and_register_is_refused() {
    if skip_unless_root(
        "another_users_queue_is_read_through_a_read_only_mapping_and_register_is_refused",
    ) {
        return;
    }
    let _serial = spawning_test();
    both(|b| {
        let (q, mut w) = root_queue(b, "read_only", 0o644);
        write_ids(&mut w, 1..=3);
        let mut child = ChildProc::spawn(as_other_user("read_only", &q.spec).stdin(Stdio::piped()));
        child.wait_line("READY");
        // 8 slots: ids 16..=23 are present; the reader wanted 4, so it lost 4..=15.
        write_ids(&mut w, 4..=23);
        let mut stdin = child.child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
        child.wait_line("DRAINED");
        std::thread::sleep(Duration::from_millis(50)); // the reader waits (polls) for it
        write_ids(&mut w, 24..=24);
        let (status, out, err) = child.finish(SEC * 30);
        assert!(status.success(), "{b:?}: {status}\n{out}\n{err}");
        assert_eq!(
            result_line(&out),
            Some(
                format!(
                    "uid={OTHER_UID} writable=no can_sleep=false register=read_only lag=12@16 \
                     last=23 waited=24"
                )
                .as_str()
            ),
            "{b:?}:\n{out}\n{err}"
        );
        println!("{b:?}: {}", result_line(&out).unwrap_or_default());
    });
}
