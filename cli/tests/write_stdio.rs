//! "Nothing lost, no one in" for the tool's own input and output, as real processes of the
//! built binary: `fmq write` bounds every stdin record by the queue's largest message (tested
//! under an address-space limit), stops on SIGINT/SIGTERM/SIGHUP with the message in hand
//! written, the queue flushed and the writer mark cleared (exit 128 + the signal), flushes
//! as `--flush-every` and `--flush-interval` say, and says how many messages it wrote when a
//! record fails; a failed stdout or stderr is exit 1 (one line, or silence), never a panic;
//! a closed pipe ends a read quietly; an io error names its cause once; `--mode` is refused
//! for the right reason.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_ok, fmq, skip_unless_root, spawn, text, wait_exit, FMQ};

/// Exit status 1 with exactly one line on stderr, naming every needle, and no panic text.
fn assert_one_line_error(status: ExitStatus, err: &str, needles: &[&str]) {
    assert_eq!(status.code(), Some(1), "status {status:?}, stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(err.starts_with("fmq: error: "), "{err:?}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err:?}");
    }
    for bad in [
        "panicked",
        "backtrace",
        "internal error",
        "memory allocation",
    ] {
        assert!(!err.contains(bad), "{err:?}");
    }
}

fn queue_in(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

fn info_json(q: &str) -> serde_json::Value {
    let o = fmq(&["info", q, "--json"]);
    assert_ok(&o);
    serde_json::from_str(text(&o.stdout).trim()).unwrap()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_all(c: &mut Child) -> (String, String) {
    let mut out = String::new();
    let mut err = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (out, err)
}

fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

// ---- item 14: bounded stdin records ----

#[test]
fn write_refuses_an_oversized_stdin_line_under_a_memory_limit_after_writing_the_lines_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue_in(dir.path(), "bounded");
    assert_ok(&fmq(&["create", &q, "--slots", "16", "--size", "64K"]));
    // 256 MiB of address space: far more than fmq needs, less than the 200 MiB line costs
    // when read whole into a growing Vec (it doubles to 256 MiB).
    let mut c = Command::new("prlimit")
        .args(["--as=268435456", "--", FMQ, "write", &q])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn prlimit");
    let mut stdin = c.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        // The writer may stop reading at the oversized line: a broken pipe is expected.
        let _ = stdin.write_all(b"first\nsecond\n");
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..200 {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = stdin.write_all(b"\nafter\n");
    });
    let status = wait_exit(&mut c, Duration::from_secs(60));
    feeder.join().unwrap();
    let (_, err) = read_all(&mut c);
    assert_one_line_error(
        status,
        &err,
        &["wrote 2 messages", "record 3 (line 3)", "65536"],
    );
    let o = fmq(&["read", &q, "--from", "oldest"]);
    assert_ok(&o);
    assert_eq!(text(&o.stdout), "first\nsecond\n");
    assert_eq!(info_json(&q)["writer"]["open"], false);
}

// ---- item 15: failed stdout and stderr ----

fn run_with(args: &[&str], out: Stdio, err: Stdio) -> Output {
    Command::new(FMQ)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .output()
        .expect("run fmq")
}

fn full() -> Stdio {
    Stdio::from(File::options().write(true).open("/dev/full").unwrap())
}

#[test]
fn a_full_stdout_is_exit_1_with_one_line_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue_in(dir.path(), "full");
    let o = run_with(
        &["create", &q, "--slots", "16", "--size", "64K"],
        full(),
        Stdio::piped(),
    );
    assert_one_line_error(o.status, &text(&o.stderr), &["stdout", "No space left"]);
    assert_ok(&fmq(&["write", &q, "one", "two"]));
    for args in [
        &["info", &q][..],
        &["info", &q, "--json", "--slots"],
        &["check", &q],
        &["read", &q, "--from", "oldest"],
        &["read", &q, "--from", "oldest", "--format", "json"],
        &["mon", &q, "--mode", "full", "--start", "--count", "2"],
        &["clear", &q],
        &["--help"],
        &["--version"],
        &["demo", "--seconds", "1", "--readers", "1", "--size", "64"],
        &["remove", &q],
    ] {
        let o = run_with(args, full(), Stdio::piped());
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_one_line_error(o.status, &err, &["stdout", "No space left"]);
    }
}

#[test]
fn a_full_stderr_is_exit_1_silently_and_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue_in(dir.path(), "missing");
    // An error to report, and nowhere to report it.
    let o = run_with(&["info", &q], Stdio::piped(), full());
    assert_eq!(o.status.code(), Some(1), "{:?}", o.status);
    // Both streams full: the created-queue line fails, and so does the error line.
    let o = run_with(&["create", &q, "--size", "4K"], full(), full());
    assert_eq!(o.status.code(), Some(1), "{:?}", o.status);
    // A usage error keeps its code.
    let o = run_with(&["create"], full(), full());
    assert_eq!(o.status.code(), Some(2), "{:?}", o.status);
}

#[test]
fn read_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue_in(dir.path(), "pipe");
    assert_ok(&fmq(&["create", &q, "--slots", "4096", "--size", "1M"]));
    let mut w = spawn(&["write", &q]);
    let lines: String = (0..3000).map(|i| format!("{i:0>99}\n")).collect();
    w.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    assert!(wait_exit(&mut w, Duration::from_secs(20)).success());
    for format in ["text", "json", "raw"] {
        // `fmq read | head -n 1`: the reader's stdout closes after one line.
        let mut r = spawn(&["read", &q, "--from", "oldest", "--format", format]);
        let mut first = [0u8; 16];
        r.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
        drop(r.stdout.take());
        let status = wait_exit(&mut r, Duration::from_secs(20));
        let mut err = String::new();
        r.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(status.code(), Some(0), "{format}: {err}");
        assert_eq!(err, "", "{format}");
    }
}

// ---- item 17: causes once, the right file, the right reason ----

#[test]
fn an_io_error_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue_in(dir.path(), "isdir");
    assert_ok(&fmq(&["create", &q, "--size", "4K"]));
    let stat = dir.path().join("isdir.stat");
    std::fs::remove_file(&stat).unwrap();
    std::fs::create_dir(&stat).unwrap();
    // (`write` refuses a data file that is not a regular file before opening it.)
    let o = fmq(&["read", &q]);
    let err = text(&o.stderr);
    assert_one_line_error(o.status, &err, &["isdir.stat", "Is a directory"]);
    assert_eq!(err.matches("Is a directory").count(), 1, "{err}");

    if skip_unless_root("the permission-denied half of an_io_error_names_its_cause_once") {
        return;
    }
    let q = "/tmp/fmq-cli-test-eacces";
    for ext in ["stat", "buf", "lock"] {
        let _ = std::fs::remove_file(format!("{q}.{ext}"));
    }
    assert_ok(&fmq(&["create", q, "--size", "4K", "--mode", "600"]));
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            FMQ,
            "info",
            q,
        ])
        .output()
        .expect("run setpriv");
    for ext in ["stat", "buf", "lock"] {
        let _ = std::fs::remove_file(format!("{q}.{ext}"));
    }
    let err = text(&o.stderr);
    assert_one_line_error(o.status, &err, &["Permission denied"]);
    assert_eq!(err.matches("Permission denied").count(), 1, "{err}");
}

#[test]
fn create_mode_is_refused_for_the_right_reason() {
    for (mode, reason) in [
        ("6755", "setuid"),
        ("4644", "setuid"),
        ("2644", "setgid"),
        ("1644", "sticky"),
        ("666", "world-writable"),
        ("0o646", "world-writable"),
        ("17777", "invalid mode"),
        ("9", "invalid mode"),
    ] {
        let o = fmq(&["create", "shm:fmq-cli-test-mode", "--mode", mode]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{mode}: {err}");
        assert!(err.contains(reason), "{mode}: {reason:?} not in {err}");
        assert!(
            !err.contains("give octal digits") || reason == "invalid mode",
            "{err}"
        );
    }
}

// ---- item 18: signals, flushing, and the account of a failed write ----

fn flushed_and_youngest(q: &str) -> (u64, u64) {
    let v = info_json(q);
    (
        v["flushed_id"].as_u64().unwrap(),
        v["youngest_id"].as_u64().unwrap(),
    )
}

#[test]
fn write_stops_on_sigint_sigterm_and_sighup_flushes_and_clears_the_mark() {
    for (sig, number) in [("-INT", 2), ("-TERM", 15), ("-HUP", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let q = queue_in(dir.path(), "signalled");
        assert_ok(&fmq(&["create", &q, "--slots", "16", "--size", "64K"]));
        let mut w = spawn(&["write", &q]);
        let mut stdin = w.stdin.take().unwrap();
        stdin.write_all(b"one\ntwo\n").unwrap();
        stdin.flush().unwrap();
        wait_until("both messages are published", || {
            flushed_and_youngest(&q).1 == 2
        });
        // Blocked reading a stdin that stays open, as under a long-lived pipe.
        kill(w.id(), sig);
        let status = wait_exit(&mut w, Duration::from_secs(10));
        let (_, err) = read_all(&mut w);
        assert_eq!(status.code(), Some(128 + number), "{sig}: {status:?} {err}");
        assert!(err.contains("wrote 2 messages"), "{sig}: {err}");
        assert_eq!(err.lines().count(), 1, "{sig}: {err}");
        let v = info_json(&q);
        assert_eq!(v["writer"]["open"], false, "{sig}: the mark stayed set");
        assert_eq!(v["flushed_id"], 2, "{sig}: not flushed");
        let o = fmq(&["read", &q, "--from", "oldest"]);
        assert_ok(&o);
        assert_eq!(text(&o.stdout), "one\ntwo\n");
        assert_eq!(text(&o.stderr), "", "{sig}: a later reader warns");
        drop(stdin);
    }
}

#[test]
fn write_flush_every_n_makes_messages_durable_while_stdin_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue_in(dir.path(), "every");
    assert_ok(&fmq(&["create", &q, "--slots", "16", "--size", "64K"]));
    let mut w = spawn(&["write", &q, "--flush-every", "2"]);
    let mut stdin = w.stdin.take().unwrap();
    stdin.write_all(b"a\nb\nc\n").unwrap();
    stdin.flush().unwrap();
    wait_until("three messages are published", || {
        flushed_and_youngest(&q).1 == 3
    });
    assert_eq!(flushed_and_youngest(&q), (2, 3));
    drop(stdin); // EOF: the final flush
    assert!(wait_exit(&mut w, Duration::from_secs(10)).success());
    assert_eq!(flushed_and_youngest(&q), (3, 3));
}

#[test]
fn write_flush_interval_flushes_an_idle_producer() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue_in(dir.path(), "interval");
    assert_ok(&fmq(&["create", &q, "--slots", "16", "--size", "64K"]));
    let mut w = spawn(&["write", &q, "--flush-interval", "0.2"]);
    let mut stdin = w.stdin.take().unwrap();
    stdin.write_all(b"lonely\n").unwrap();
    stdin.flush().unwrap();
    // No more input arrives: the interval alone must flush it.
    wait_until("the message is flushed", || {
        flushed_and_youngest(&q) == (1, 1)
    });
    drop(stdin);
    assert!(wait_exit(&mut w, Duration::from_secs(10)).success());
}

#[test]
fn a_failed_write_says_how_many_messages_were_written_and_which_record_failed() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue_in(dir.path(), "failed");
    assert_ok(&fmq(&["create", &q, "--slots", "16", "--size", "1K"]));
    let big = "x".repeat(2000);
    let o = fmq(&["write", &q, "a", "b", &big, "d"]);
    assert_one_line_error(
        o.status,
        &text(&o.stderr),
        &["wrote 2 messages", "record 3 (argument 3)", "too large"],
    );
    // What was written before the failure is flushed and readable.
    assert_eq!(flushed_and_youngest(&q), (2, 2));
    let mut c = spawn(&["write", &q]);
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("c\n\n{big}\ne\n").as_bytes())
        .unwrap();
    let status = wait_exit(&mut c, Duration::from_secs(10));
    let (_, err) = read_all(&mut c);
    assert_one_line_error(
        status,
        &err,
        &["wrote 2 messages", "record 3 (line 3)", "1024"],
    );
    assert_eq!(flushed_and_youngest(&q), (4, 4));
}
