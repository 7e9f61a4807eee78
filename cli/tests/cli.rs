//! The `fmq` tool as users run it: real processes of the built binary on real shared memory
//! (`/dev/shm`) and real files. Every command of DESIGN §6, its output and its exit code
//! (0 success, 1 error with one line on stderr, 2 usage error), the writer lock across
//! processes, a writer SIGKILLed and recovered, readers that wait for a queue, follow it
//! through re-creation, and notice truncation, and the demo (including Ctrl-C).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_error, assert_ok, fmq, spawn, stderr, stdout, wait_exit, FMQ};

fn fmq_env(args: &[&str], key: &str, value: &str) -> Output {
    Command::new(FMQ)
        .args(args)
        .env(key, value)
        .output()
        .expect("run fmq")
}

fn fmq_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut c = Command::new(FMQ)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fmq");
    c.stdin.take().unwrap().write_all(input).unwrap();
    c.wait_with_output().unwrap()
}

/// A unique shared-memory queue, removed when dropped.
struct Shm(String);

impl Shm {
    fn new(name: &str) -> Shm {
        let q = format!("shm:fmq-cli-test-{}-{name}", std::process::id());
        let _ = fmq(&["remove", &q, "--force"]);
        Shm(q)
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        let _ = fmq(&["remove", &self.0, "--force"]);
    }
}

fn file_queue(dir: &Path, name: &str) -> (String, PathBuf, PathBuf) {
    let q = dir.join(name);
    (
        q.to_str().unwrap().to_string(),
        dir.join(format!("{name}.stat")),
        dir.join(format!("{name}.buf")),
    )
}

fn child_output(mut c: Child, limit: Duration) -> (std::process::ExitStatus, String, String) {
    let status = wait_exit(&mut c, limit);
    let mut out = String::new();
    let mut err = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status, out, err)
}

#[test]
fn create_write_read_round_trip_in_text_json_and_raw() {
    let q = Shm::new("roundtrip");
    assert_ok(&fmq(&["create", &q.0, "--slots", "64", "--size", "64K"]));
    assert_ok(&fmq(&[
        "write",
        &q.0,
        "--type",
        "7",
        "--subtype",
        "-3",
        "hello",
        "world",
    ]));
    assert_ok(&fmq_stdin(
        &["write", &q.0],
        b"line one\nline two\r\nlast without newline",
    ));

    let o = fmq(&["read", &q.0, "--from", "oldest"]);
    assert_ok(&o);
    assert_eq!(
        stdout(&o),
        "hello\nworld\nline one\nline two\nlast without newline\n"
    );

    let o = fmq(&[
        "read", &q.0, "--from", "oldest", "--format", "json", "--count", "1",
    ]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["id"], 1);
    assert_eq!(v["type"], 7);
    assert_eq!(v["subtype"], -3);
    assert_eq!(v["len"], 5);
    assert_eq!(v["data_b64"], "aGVsbG8=");
    assert!(v["time_ns"].as_i64().unwrap() > 1_700_000_000_000_000_000);

    let o = fmq(&["read", &q.0, "--from", "youngest", "--format", "raw"]);
    assert_ok(&o);
    assert_eq!(o.stdout, b"last without newline");

    // --from end (the default) without --follow: nothing new, nothing printed, success.
    let o = fmq(&["read", &q.0]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "");
}

#[test]
fn create_refuses_to_clobber_and_force_replaces() {
    let q = Shm::new("clobber");
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    assert_ok(&fmq(&["write", &q.0, "keep me"]));
    assert_error(&fmq(&["create", &q.0]), "already exists (use --force");
    let o = fmq(&["read", &q.0, "--from", "oldest"]);
    assert_eq!(stdout(&o), "keep me\n", "a refused create lost data");
    assert_ok(&fmq(&["create", &q.0, "--force", "--size", "64K"]));
    let o = fmq(&["read", &q.0, "--from", "oldest"]);
    assert_eq!(stdout(&o), "");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["create"][..],
        &["create", "shm:x", "--size", "10X"],
        &["create", "shm:x", "--mode", "666"],
        &["read", "shm:x", "--from", "middle"],
        &["read", "shm:x", "--format", "xml"],
        &["mon", "shm:x", "--mode", "loud"],
        &["frobnicate"],
        &["demo", "--readers", "0"],
    ] {
        let o = fmq(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}

#[test]
fn missing_queue_and_bad_names_are_one_line_errors() {
    let q = Shm::new("missing");
    for cmd in ["read", "info", "check", "clear", "remove", "write"] {
        let mut args = vec![cmd, q.0.as_str()];
        if cmd == "write" {
            args.push("x");
        }
        assert_error(&fmq(&args), "does not exist");
    }
    assert_error(&fmq(&["info", "shm:a/b"]), "bad queue name");
}

#[test]
fn read_timeout_without_follow_waits_for_the_first_message_then_fails_if_none() {
    let q = Shm::new("timeout");
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    let t = Instant::now();
    let o = fmq(&["read", &q.0, "--timeout", "0.5"]);
    assert!(
        t.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t.elapsed()
    );
    assert_error(&o, "no message arrived");

    let reader = spawn(&["read", &q.0, "--timeout", "5"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_ok(&fmq(&["write", &q.0, "late"]));
    let (status, out, _) = child_output(reader, Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(out, "late\n");
}

#[test]
fn follow_with_timeout_ends_quietly_and_count_stops_it() {
    let q = Shm::new("follow");
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    let t = Instant::now();
    let o = fmq(&["read", &q.0, "--follow", "--timeout", "0.3"]);
    assert_ok(&o);
    assert!(t.elapsed() >= Duration::from_millis(250));

    let reader = spawn(&["read", &q.0, "--follow", "--count", "3"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_ok(&fmq(&["write", &q.0, "a", "b", "c", "d"]));
    let (status, out, _) = child_output(reader, Duration::from_secs(10));
    assert!(status.success());
    assert_eq!(out, "a\nb\nc\n");
}

#[test]
fn a_reader_started_before_the_queue_exists_reads_from_its_first_message() {
    let q = Shm::new("before");
    let reader = spawn(&["read", &q.0, "--follow", "--count", "2", "--timeout", "10"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    assert_ok(&fmq(&["write", &q.0, "first", "second"]));
    let (status, out, err) = child_output(reader, Duration::from_secs(15));
    assert!(status.success(), "{err}");
    assert_eq!(out, "first\nsecond\n");
}

#[test]
fn a_following_reader_survives_the_queue_being_re_created() {
    let q = Shm::new("recreate");
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    let reader = spawn(&["read", &q.0, "--follow", "--count", "2", "--timeout", "10"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_ok(&fmq(&["write", &q.0, "old queue"]));
    std::thread::sleep(Duration::from_millis(200));
    assert_ok(&fmq(&["create", &q.0, "--force", "--size", "64K"]));
    std::thread::sleep(Duration::from_millis(300));
    assert_ok(&fmq(&["write", &q.0, "new queue"]));
    let (status, out, err) = child_output(reader, Duration::from_secs(15));
    assert!(status.success(), "{err}");
    assert_eq!(out, "old queue\nnew queue\n");
    assert!(err.contains("replaced"), "{err}");
}

#[test]
fn json_read_reports_lag_with_exact_missed_count() {
    let q = Shm::new("lag");
    assert_ok(&fmq(&["create", &q.0, "--slots", "4", "--size", "64K"]));
    // 10 messages into 4 slots: ids 1..=6 are gone, 7..=10 present; start at id 1 is
    // impossible from the CLI, so read from oldest after writing 4, then overrun.
    let reader = spawn(&[
        "read",
        &q.0,
        "--follow",
        "--format",
        "json",
        "--timeout",
        "3",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    // Stop the reader process so it cannot keep up, overrun, then let it go on.
    let pid = reader.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let msgs: Vec<String> = (1..=10).map(|i| format!("m{i}")).collect();
    let mut args = vec!["write", q.0.as_str()];
    args.extend(msgs.iter().map(String::as_str));
    assert_ok(&fmq(&args));
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    let (status, out, err) = child_output(reader, Duration::from_secs(10));
    assert!(status.success(), "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The reader was at id 1 (end of an empty queue): either it read nothing before being
    // stopped (then lag of 6) — it cannot have, as nothing was written before the stop.
    assert_eq!(
        lines[0],
        serde_json::json!({"missed": 6, "resumed_at": 7}),
        "{out}"
    );
    let ids: Vec<u64> = lines[1..]
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [7, 8, 9, 10]);
}

#[test]
fn info_shows_header_usage_and_slots_in_text_and_json() {
    let q = Shm::new("info");
    assert_ok(&fmq(&["create", &q.0, "--slots", "8", "--size", "4K"]));
    assert_ok(&fmq(&["write", &q.0, "--type", "5", "abc", "defgh"]));
    let o = fmq(&["info", &q.0, "--slots"]);
    assert_ok(&o);
    let text = stdout(&o);
    for needle in [
        "shared memory",
        "8 slots",
        "4.0K buffer",
        "2 present (oldest id 1, youngest id 2, flushed up to id ",
        "closed (last writer pid",
        "16B of 4.0K in use",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let o = fmq(&["info", &q.0, "--json", "--slots"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["slots_count"], 8);
    assert_eq!(v["buf_size_bytes"], 4096);
    assert_eq!(v["youngest_id"], 2);
    assert_eq!(v["present_count"], 2);
    assert_eq!(v["writer"]["open"], false);
    assert_eq!(v["compression"], "none");
    assert_eq!(v["slots"][2]["stamp"], 2);
    assert_eq!(v["slots"][2]["stored_len"], 5);
    assert_eq!(v["slots"][1]["type"], 5);
}

#[test]
fn check_passes_a_healthy_queue_and_fails_a_corrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _stat, buf) = file_queue(dir.path(), "checked");
    assert_ok(&fmq(&["create", &q, "--slots", "16", "--size", "4K"]));
    assert_ok(&fmq(&["write", &q, "alpha", "beta", "gamma"]));
    let o = fmq(&["check", &q]);
    assert_ok(&o);
    assert!(
        stdout(&o).contains("healthy (3 messages verified)"),
        "{}",
        stdout(&o)
    );

    // Flip a byte of "beta" (buffer offset 8, after the 64-byte .buf header).
    let mut bytes = std::fs::read(&buf).unwrap();
    bytes[64 + 8] ^= 0x20;
    std::fs::write(&buf, &bytes).unwrap();
    let o = fmq(&["check", &q]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("problem: message 2 is corrupt: checksum mismatch"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("is corrupt: 1 problems"));
    // A reader skips it, warns, reads the rest, and exits 1.
    let o = fmq(&["read", &q, "--from", "oldest"]);
    assert_eq!(stdout(&o), "alpha\ngamma\n");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn damaged_files_are_refused_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let (q, stat, buf) = file_queue(dir.path(), "damaged");
    assert_ok(&fmq(&["create", &q, "--slots", "16", "--size", "4K"]));
    assert_ok(&fmq(&["write", &q, "x"]));
    let good = std::fs::read(&stat).unwrap();

    let mut bad = good.clone();
    bad[0] = b'X';
    std::fs::write(&stat, &bad).unwrap();
    assert_error(&fmq(&["info", &q]), "magic");
    assert_error(&fmq(&["read", &q]), "magic");
    assert_error(&fmq(&["write", &q, "y"]), "magic");
    let o = fmq(&["check", &q]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("problem:"));

    let mut future = good.clone();
    future[8] = 3; // a future version is named as such, before any checksum is trusted
    std::fs::write(&stat, &future).unwrap();
    assert_error(&fmq(&["info", &q]), "unsupported queue format version 3");
    let mut flipped = good.clone();
    flipped[17] ^= 1; // slots_count changed: the layout checksum catches it
    std::fs::write(&stat, &flipped).unwrap();
    assert_error(&fmq(&["info", &q]), "checksum");

    std::fs::write(&stat, &good[..100]).unwrap();
    assert_error(&fmq(&["info", &q]), "");
    std::fs::write(&stat, b"").unwrap();
    assert_error(&fmq(&["info", &q]), "is empty: not an fmq queue");
    std::fs::write(&stat, &good).unwrap();
    assert_ok(&fmq(&["info", &q]));

    let good_buf = std::fs::read(&buf).unwrap();
    std::fs::write(&buf, &good_buf[..good_buf.len() / 2]).unwrap();
    assert_error(&fmq(&["read", &q, "--from", "oldest"]), "");
    std::fs::write(&buf, b"").unwrap();
    assert_error(&fmq(&["info", &q]), "is empty");
    let mut other = good_buf.clone();
    other[8] ^= 1; // another generation
    std::fs::write(&buf, &other).unwrap();
    assert_error(&fmq(&["info", &q]), "belongs to another queue");
}

#[test]
fn oversized_message_is_refused_and_the_queue_still_works() {
    let q = Shm::new("oversized");
    assert_ok(&fmq(&["create", &q.0, "--size", "1K"]));
    let big = "x".repeat(2000);
    assert_error(&fmq(&["write", &q.0, &big]), "too large");
    assert_ok(&fmq(&["write", &q.0, "small"]));
    assert_eq!(stdout(&fmq(&["read", &q.0, "--from", "oldest"])), "small\n");
}

#[test]
fn lz4_queue_round_trips_transparently() {
    let q = Shm::new("lz4");
    assert_ok(&fmq(&[
        "create",
        &q.0,
        "--compress",
        "lz4",
        "--size",
        "64K",
    ]));
    let long = "radar ".repeat(500);
    assert_ok(&fmq(&["write", &q.0, &long, "short"]));
    let o = fmq(&["read", &q.0, "--from", "oldest"]);
    assert_eq!(stdout(&o), format!("{long}\nshort\n"));
    let o = fmq(&["info", &q.0, "--json", "--slots"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["compression"], "lz4");
    assert_eq!(
        v["slots"][1]["flags"], 1,
        "the long message is stored compressed"
    );
    assert_eq!(v["slots"][1]["raw_len"], 3000);
    assert!(v["slots"][1]["stored_len"].as_u64().unwrap() < 100);
    assert_eq!(v["slots"][2]["flags"], 0, "a short message is stored as is");
}

#[test]
fn second_writer_is_refused_while_write_holds_the_lock_until_stdin_ends() {
    let q = Shm::new("lock");
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    let mut holder = spawn(&["write", &q.0]);
    let pid = holder.id();
    let mut stdin = holder.stdin.take().unwrap();
    stdin.write_all(b"from the holder\n").unwrap();
    stdin.flush().unwrap();
    // The holder takes the lock before reading stdin; wait until its message is visible.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stdout(&fmq(&["read", &q.0, "--from", "oldest"])) != "from the holder\n" {
        assert!(Instant::now() < deadline, "holder never wrote");
        std::thread::sleep(Duration::from_millis(20));
    }
    let msg = format!("queue {} is already open for writing by pid {pid}", q.0);
    assert_error(&fmq(&["write", &q.0, "intruder"]), &msg);
    assert_error(&fmq(&["create", &q.0, "--force"]), &msg);
    assert_error(&fmq(&["clear", &q.0]), &msg);
    assert_error(&fmq(&["remove", &q.0]), "use --force");
    let o = fmq(&["info", &q.0]);
    assert!(
        stdout(&o).contains(&format!("open by pid {pid}")),
        "{}",
        stdout(&o)
    );
    drop(stdin);
    assert!(wait_exit(&mut holder, Duration::from_secs(10)).success());
    assert_ok(&fmq(&["write", &q.0, "after"]));
    assert_eq!(
        stdout(&fmq(&["read", &q.0, "--from", "oldest"])),
        "from the holder\nafter\n"
    );
}

#[test]
fn sigkilled_writer_is_reported_cleared_and_recovered() {
    let q = Shm::new("killed");
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    let mut holder = spawn(&["write", &q.0]);
    let pid = holder.id();
    let mut stdin = holder.stdin.take().unwrap();
    stdin.write_all(b"before the kill\n").unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stdout(&fmq(&["read", &q.0, "--from", "oldest"])).is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();

    let o = fmq(&["info", &q.0]);
    assert!(
        stdout(&o).contains(&format!("marked open by pid {pid}, which is gone")),
        "{}",
        stdout(&o)
    );
    let o = fmq(&["read", &q.0, "--from", "oldest"]);
    assert_ok(&o);
    assert_eq!(stdout(&o), "before the kill\n");
    assert!(
        stderr(&o).contains("died without closing it"),
        "{}",
        stderr(&o)
    );
    let o = fmq(&["check", &q.0]);
    assert_ok(&o);
    assert!(stdout(&o).contains("warning: the writer mark names pid"));

    let o = fmq(&["clear", &q.0]);
    assert_ok(&o);
    assert!(stdout(&o).contains("cleared the writer mark"));
    let o = fmq(&["clear", &q.0]);
    assert!(stdout(&o).contains("was not set"));

    // Kill again, and let the next writer recover without a clear.
    let mut holder = spawn(&["write", &q.0]);
    let mut stdin = holder.stdin.take().unwrap();
    stdin.write_all(b"second life\n").unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stdout(&fmq(&["read", &q.0, "--from", "oldest"])).contains("second life") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    let o = fmq(&["write", &q.0, "third"]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("did not close the queue; recovered it"),
        "{}",
        stderr(&o)
    );
    let o = fmq(&["read", &q.0, "--from", "oldest", "--format", "json"]);
    let ids: Vec<u64> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn remove_deletes_the_segment_and_force_overrides_a_live_writer() {
    let q = Shm::new("remove");
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    let seg = PathBuf::from("/dev/shm").join(q.0.trim_start_matches("shm:"));
    assert!(seg.exists());
    let mut holder = spawn(&["write", &q.0]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stdout(&fmq(&["info", &q.0])).contains("open by pid") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_error(&fmq(&["remove", &q.0]), "already open for writing");
    assert!(seg.exists());
    let o = fmq(&["remove", &q.0, "--force"]);
    assert_ok(&o);
    assert!(!seg.exists());
    drop(holder.stdin.take());
    let _ = wait_exit(&mut holder, Duration::from_secs(10));
}

#[test]
fn symlinked_lock_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _, _) = file_queue(dir.path(), "linked");
    assert_ok(&fmq(&["create", &q, "--size", "4K"]));
    let lock = dir.path().join("linked.lock");
    std::fs::remove_file(&lock).unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    assert_error(
        &fmq(&["write", &q, "x"]),
        "refusing to follow the symbolic link",
    );
}

#[test]
fn file_locking_environment_variable_is_validated() {
    let q = Shm::new("lockenv");
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    let o = fmq_env(&["write", &q.0, "x"], "FMQ_USE_FILE_LOCKING", "maybe");
    assert_error(
        &o,
        "FMQ_USE_FILE_LOCKING must be FALSE, 0, TRUE, 1 or BEST_EFFORT",
    );
    for v in ["FALSE", "0", "TRUE", "1", "BEST_EFFORT"] {
        assert_ok(&fmq_env(&["write", &q.0, v], "FMQ_USE_FILE_LOCKING", v));
    }
}

#[test]
fn truncating_a_mapped_file_under_a_waiting_reader_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _, buf) = file_queue(dir.path(), "truncated");
    assert_ok(&fmq(&["create", &q, "--size", "64K"]));
    let reader = spawn(&["read", &q, "--follow", "--timeout", "10"]);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&buf)
        .unwrap()
        .set_len(100)
        .unwrap();
    let (status, _, err) = child_output(reader, Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("was truncated to 100 bytes while mapped"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn mon_prints_summary_full_and_ascii() {
    let q = Shm::new("mon");
    assert_ok(&fmq(&["create", &q.0, "--size", "64K"]));
    assert_ok(&fmq(&["write", &q.0, "--type", "4", "one", "two", "three"]));
    let o = fmq(&["mon", &q.0, "--mode", "full", "--start", "--count", "3"]);
    assert_ok(&o);
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains("id 1  type 4  subtype 0  len 3"),
        "{}",
        lines[0]
    );
    assert!(lines[2].contains("id 3") && lines[2].contains("len 5"));

    let o = fmq(&["mon", &q.0, "--mode", "ascii", "--start", "--count", "2"]);
    assert_eq!(stdout(&o), "one\ntwo\n");

    let o = fmq(&["mon", &q.0, "--start", "--interval", "1", "--count", "2"]);
    assert_ok(&o);
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    // FmqMon's header (FmqMon.cc: setw 19, 7, 8, 10, 10, 10, 10), then one line per interval.
    assert_eq!(lines.len(), 5, "{lines:?}");
    let blank = " ".repeat(19);
    assert_eq!(
        lines[0],
        format!("{blank}  Dtime   nMess    nBytes    nBytes  Rate B/s  Rate B/s")
    );
    assert_eq!(
        lines[1],
        format!("{blank}   secs            uncomp      comp    uncomp      comp")
    );
    assert_eq!(
        lines[2],
        format!("{blank}  =====   =====    ======    ======  ========  ========")
    );
    // "one", "two", "three": 11 bytes, stored uncompressed; Dtime whole seconds; rates B/s.
    let first = &lines[3];
    assert_eq!(first.len(), 19 + 7 + 8 + 10 * 4, "{first:?}");
    let date = &first[..19];
    assert!(
        date.as_bytes()[4] == b'/' && date.as_bytes()[7] == b'/' && date.as_bytes()[10] == b' ',
        "LROSE's utimstr, YYYY/MM/DD HH:MM:SS: {date:?}"
    );
    let cols: Vec<i64> = first[19..]
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    assert_eq!(cols[..4], [1, 3, 11, 11], "{first:?}");
    assert!(
        (8..=11).contains(&cols[4]) && cols[4] == cols[5],
        "{first:?}"
    );
    let second: Vec<&str> = lines[4][19..].split_whitespace().collect();
    assert_eq!(second[1..], ["0", "0", "0", "0", "0"], "{}", lines[4]);

    // As FmqMon, the header again before the 41st line.
    let o = fmq(&["mon", &q.0, "--interval", "0.01", "--count", "41"]);
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 41 + 6, "{lines:?}");
    assert_eq!(lines[43], lines[0]);
    assert_eq!(
        lines[..43].iter().filter(|l| l.contains("Dtime")).count(),
        1
    );
    let o = fmq(&[
        "mon",
        &q.0,
        "--start",
        "--interval",
        "0.2",
        "--count",
        "1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        (&v["messages"], &v["bytes_uncompressed"], &v["youngest_id"]),
        (&3.into(), &11.into(), &3.into())
    );
    let o = fmq(&[
        "mon", &q.0, "--mode", "full", "--start", "--count", "1", "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        (&v["id"], &v["type"], &v["len"]),
        (&1.into(), &4.into(), &3.into())
    );
}

#[test]
fn demo_runs_writer_and_reader_processes_and_accounts_for_every_message() {
    let o = fmq(&[
        "demo",
        "--seconds",
        "1",
        "--readers",
        "2",
        "--slots",
        "1024",
        "--buffer",
        "1M",
    ]);
    assert_ok(&o);
    let out = stdout(&o);
    assert!(
        out.contains("1 writer process, 2 reader processes"),
        "{out}"
    );
    assert!(out.contains("received + missed = sent"), "{out}");
    assert!(!out.contains("!="), "{out}");
    assert!(out.contains("corrupt    0"), "{out}");
    assert!(out.contains("result     ok"), "{out}");
}

#[test]
fn demo_stops_cleanly_on_ctrl_c_and_still_prints_the_summary() {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(FMQ)
        .args([
            "demo",
            "--seconds",
            "60",
            "--readers",
            "1",
            "--rate",
            "100000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pgid = format!("-{}", c.id());
    assert!(Command::new("kill")
        .args(["-INT", "--", &pgid])
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    let status = wait_exit(&mut c, Duration::from_secs(20));
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "{out}");
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(out.contains("summary (interrupted)"), "{out}");
    assert!(out.contains("result     ok"), "{out}");
}

#[test]
fn blocking_queue_holds_the_writer_for_a_registered_reader_and_reports_it_dead() {
    let q = Shm::new("blocking");
    assert_ok(&fmq(&[
        "create",
        &q.0,
        "--slots",
        "4",
        "--size",
        "4K",
        "--blocking",
        "--readers-max",
        "2",
    ]));
    let mut reader = spawn(&[
        "read",
        &q.0,
        "--from",
        "oldest",
        "--follow",
        "--register",
        "archiver",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = fmq(&["info", &q.0, "--json"]);
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        if v["readers"].as_array().is_some_and(|r| r.len() == 1) {
            assert_eq!(v["blocking"], true);
            assert_eq!(v["readers"][0]["name"], "archiver");
            assert_eq!(v["readers"][0]["state"], "live");
            break;
        }
        assert!(Instant::now() < deadline, "the reader never registered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = stdout(&fmq(&["info", &q.0]));
    assert!(
        text.contains("readers      blocking; 1 of 2 records in use"),
        "{text}"
    );
    assert!(text.contains("\"archiver\""), "{text}");
    // Stopped (alive, within the 10 s reader timeout), it holds the writer at the fifth
    // message: the write times out with one clear line instead of overwriting message 1.
    let pid = reader.id().to_string();
    let signal = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    };
    signal("-STOP");
    let o = fmq(&["write", &q.0, "--timeout", "0.5", "1", "2", "3", "4", "5"]);
    assert_error(&o, "timed out");
    // Killed, it is detected by its pid: the next write drops it, says so, and goes on.
    signal("-KILL");
    let _ = wait_exit(&mut reader, Duration::from_secs(10));
    let o = fmq(&["write", &q.0, "--timeout", "5", "5", "6", "7", "8"]);
    assert_ok(&o);
    assert!(
        stderr(&o).contains("unregistered reader 0 (\"archiver\"")
            && stderr(&o).contains("process is gone"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value =
        serde_json::from_str(stdout(&fmq(&["info", &q.0, "--json"])).trim()).unwrap();
    assert_eq!(
        (v["readers_dropped"].as_u64(), v["youngest_id"].as_u64()),
        (Some(1), Some(8))
    );
}

#[test]
fn registering_on_a_queue_without_a_registry_is_one_clear_line() {
    let q = Shm::new("noreg");
    assert_ok(&fmq(&["create", &q.0, "--size", "4K"]));
    let o = fmq(&["read", &q.0, "--register", "x"]);
    assert_error(&o, "no reader registry");
}
