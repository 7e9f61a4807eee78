//! Binary-safe input and output, seeking and filters of the `fmq` tool (issue 14, items 1
//! and 2), through the built binary: random records (NUL, CR, LF, empty ones included) go
//! through every `--input` and come back byte for byte through `--format framed` and
//! `json`; `read --format json | write --input json` copies type, subtype and time; a
//! framed record above the queue's largest message is refused at its length field, before
//! its bytes are sent; `--from id:N` and `time:T`, `--type`, `--subtype`, `--until-id` and
//! `--count` select exactly the messages they say; `write --create` makes a missing queue
//! and never wipes an existing one.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

mod common;
use common::{assert_error, assert_ok, fmq, stdout, text, FMQ};

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Records of 0 to `max` bytes, rich in the bytes that break line-based tools.
    fn records(&mut self, n: usize, max: usize) -> Vec<Vec<u8>> {
        let mut out = vec![
            Vec::new(),
            b"\n".to_vec(),
            b"\r".to_vec(),
            b"\r\n\0".to_vec(),
        ];
        while out.len() < n {
            let len = (self.next() % (max as u64 + 1)) as usize;
            out.push(
                (0..len)
                    .map(|_| match self.next() % 8 {
                        0 => b'\n',
                        1 => b'\r',
                        2 => 0,
                        _ => self.next() as u8,
                    })
                    .collect(),
            );
        }
        out
    }
}

/// Runs `fmq ARGS` with `input` on stdin.
fn fmq_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut c = Command::new(FMQ)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fmq");
    let mut stdin = c.stdin.take().unwrap();
    let data = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let o = c.wait_with_output().expect("wait fmq");
    feeder.join().unwrap();
    o
}

fn framed(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(&(r.len() as u32).to_be_bytes());
        out.extend_from_slice(r);
    }
    out
}

/// Splits `fmq read --format framed` output into its records (the test's own decoder).
fn unframe(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= 4, "a partial length field at the end: {b:?}");
        let len = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
        assert!(b.len() >= 4 + len, "a partial record at the end");
        out.push(b[4..4 + len].to_vec());
        b = &b[4 + len..];
    }
    out
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn json_payloads(o: &Output) -> Vec<Vec<u8>> {
    json_lines(o)
        .iter()
        .map(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v["data_b64"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

fn new_queue(dir: &tempfile::TempDir, name: &str) -> String {
    let q = dir.path().join(name).to_str().unwrap().to_string();
    assert_ok(&fmq(&["create", &q, "--slots", "256", "--size", "1M"]));
    q
}

#[test]
fn random_binary_records_round_trip_through_framed_and_json_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let records = rng.records(120, 3000);
    let q = new_queue(&dir, "framed");
    let w = fmq_stdin(&["write", &q, "--input", "framed"], &framed(&records));
    assert_ok(&w);
    assert!(
        w.stderr.is_empty(),
        "no warning for framed input: {}",
        text(&w.stderr)
    );
    let out = fmq(&["read", &q, "--from", "oldest", "--format", "framed"]);
    assert_ok(&out);
    assert_eq!(unframe(&out.stdout), records, "framed out");
    let out = fmq(&["read", &q, "--from", "oldest", "--format", "json"]);
    assert_eq!(json_payloads(&out), records, "json out");

    // The json lines written back in through --input json give the same records again.
    let q2 = new_queue(&dir, "json");
    assert_ok(&fmq_stdin(&["write", &q2, "--input", "json"], &out.stdout));
    let back = fmq(&["read", &q2, "--from", "oldest", "--format", "framed"]);
    assert_eq!(unframe(&back.stdout), records, "json in");
}

#[test]
fn raw_input_is_one_message_of_every_byte_even_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let q = new_queue(&dir, "raw");
    let mut rng = Rng(7);
    let blob: Vec<u8> = rng.records(40, 200).concat();
    assert_ok(&fmq_stdin(&["write", &q, "--input", "raw"], &blob));
    assert_ok(&fmq_stdin(&["write", &q, "--input", "raw"], b""));
    let file = dir.path().join("blob.bin");
    std::fs::write(&file, b"from\na\0file\r\n").unwrap();
    assert_ok(&fmq(&[
        "write",
        &q,
        "--input",
        "raw",
        "--file",
        file.to_str().unwrap(),
    ]));
    let out = fmq(&["read", &q, "--from", "oldest", "--format", "framed"]);
    assert_eq!(
        unframe(&out.stdout),
        [blob.clone(), Vec::new(), b"from\na\0file\r\n".to_vec()]
    );
    // --format raw: one message's bytes exactly, nothing added.
    let out = fmq(&[
        "read",
        &q,
        "--from",
        "id:1",
        "--until-id",
        "1",
        "--format",
        "raw",
    ]);
    assert_eq!(out.stdout, blob);
    // --format text: every payload and a newline (for text; binary is shown lossily).
    let out = fmq(&["read", &q, "--from", "id:3", "--format", "text"]);
    assert_eq!(out.stdout, b"from\na\0file\r\n\n");
}

#[test]
fn json_copy_keeps_type_subtype_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = new_queue(&dir, "src");
    for (t, s, m) in [("3", "-1", "a"), ("7", "2", "b\nc"), ("-4", "0", "")] {
        assert_ok(&fmq(&["write", &src, "--type", t, "--subtype", s, m]));
        std::thread::sleep(Duration::from_millis(2));
    }
    let original = fmq(&["read", &src, "--from", "oldest", "--format", "json"]);
    let dst = new_queue(&dir, "dst");
    std::thread::sleep(Duration::from_millis(5));
    assert_ok(&fmq_stdin(
        &["write", &dst, "--input", "json"],
        &original.stdout,
    ));
    let copy = fmq(&["read", &dst, "--from", "oldest", "--format", "json"]);
    let (a, b) = (json_lines(&original), json_lines(&copy));
    assert_eq!(a.len(), 3);
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        for field in ["id", "type", "subtype", "time_ns", "len", "data_b64"] {
            assert_eq!(a[field], b[field], "{field}: {a} vs {b}");
        }
    }
}

#[test]
fn lines_input_warns_once_when_it_is_not_text_and_still_splits_at_newlines() {
    let dir = tempfile::tempdir().unwrap();
    let q = new_queue(&dir, "lines");
    let o = fmq_stdin(&["write", &q], b"ok\na\0b\n\xff\xfe\nlast");
    assert_ok(&o);
    let err = text(&o.stderr);
    assert_eq!(err.matches("warning").count(), 1, "{err:?}");
    assert!(
        err.contains("line 2 is not text") && err.contains("--input raw, framed or json"),
        "{err:?}"
    );
    let out = fmq(&["read", &q, "--from", "oldest", "--format", "framed"]);
    assert_eq!(
        unframe(&out.stdout),
        [&b"ok"[..], b"a\0b", b"\xff\xfe", b"last"].map(<[u8]>::to_vec)
    );
    // Text gets no warning.
    let o = fmq_stdin(&["write", &q], "température\nok\r\n".as_bytes());
    assert_ok(&o);
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
}

#[test]
fn a_framed_record_above_the_largest_message_is_refused_at_its_length_before_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("small").to_str().unwrap().to_string();
    assert_ok(&fmq(&["create", &q, "--slots", "8", "--size", "64K"]));
    let mut c = Command::new(FMQ)
        .args(["write", &q, "--input", "framed"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    // One good record, then the length field of a 200 MB record, and no more: the writer
    // must refuse it now, not wait for (or buffer) its 200 MB.
    stdin.write_all(&framed(&[b"fits".to_vec()])).unwrap();
    stdin.write_all(&200_000_000u32.to_be_bytes()).unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "fmq write waited for the body of a record it must refuse"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    let o = c.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("wrote 1 message")
            && err.contains("record 2")
            && err.contains("message too large"),
        "{err:?}"
    );
    let out = fmq(&["read", &q, "--from", "oldest"]);
    assert_eq!(stdout(&out), "fits\n");
}

#[test]
fn truncated_or_malformed_input_says_which_record_and_keeps_the_ones_before() {
    let dir = tempfile::tempdir().unwrap();
    let q = new_queue(&dir, "bad");
    let mut input = framed(&[b"one".to_vec(), b"two".to_vec()]);
    input.extend_from_slice(&10u32.to_be_bytes());
    input.extend_from_slice(b"short");
    let o = fmq_stdin(&["write", &q, "--input", "framed"], &input);
    assert_error(&o, "wrote 2 messages");
    assert_error(&o, "record 3");
    assert_error(&o, "its length says 10 bytes, 5 came");
    let o = fmq_stdin(
        &["write", &q, "--input", "json"],
        b"{\"data_b64\":\"dGhyZWU=\"}\n{\"data\":\"x\"}\n",
    );
    assert_error(&o, "wrote 1 message");
    assert_error(&o, "line 2: no \"data_b64\"");
    let out = fmq(&["read", &q, "--from", "oldest"]);
    assert_eq!(stdout(&out), "one\ntwo\nthree\n");
}

/// A queue of 20 messages: id i has type i % 3, subtype i % 2, written 3 ms apart; returns
/// the queue and each message's time.
fn known_queue(dir: &tempfile::TempDir) -> (String, Vec<i64>) {
    let q = new_queue(dir, "known");
    for i in 1..=20 {
        let t = (i % 3).to_string();
        let s = (i % 2).to_string();
        assert_ok(&fmq(&[
            "write",
            &q,
            "--type",
            &t,
            "--subtype",
            &s,
            &format!("m{i}"),
        ]));
        std::thread::sleep(Duration::from_millis(3));
    }
    let all = fmq(&["read", &q, "--from", "oldest", "--format", "json"]);
    let times = json_lines(&all)
        .iter()
        .map(|v| v["time_ns"].as_i64().unwrap())
        .collect();
    (q, times)
}

fn ids(o: &Output) -> Vec<u64> {
    assert_ok(o);
    json_lines(o)
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect()
}

fn rfc3339(ns: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_nanos(ns as u64);
    humantime::format_rfc3339_nanos(t).to_string()
}

#[test]
fn from_id_and_from_time_start_exactly_there() {
    let dir = tempfile::tempdir().unwrap();
    let (q, times) = known_queue(&dir);
    let j = ["--format", "json"];
    let read = |extra: &[&str]| {
        let mut a = vec!["read", q.as_str()];
        a.extend_from_slice(extra);
        a.extend_from_slice(&j);
        fmq(&a)
    };
    assert_eq!(
        ids(&read(&["--from", "id:15"])),
        (15..=20).collect::<Vec<_>>()
    );
    assert_eq!(ids(&read(&["--from", "youngest"])), [20]);
    assert_eq!(ids(&read(&["--from", "end"])), Vec::<u64>::new());
    // The time of message 8 exactly, and one nanosecond after it.
    let at8 = rfc3339(times[7]);
    assert_eq!(ids(&read(&["--from", &format!("time:{at8}")]))[0], 8);
    let after8 = rfc3339(times[7] + 1);
    assert_eq!(ids(&read(&["--from", &format!("time:{after8}")]))[0], 9);
    assert_eq!(
        ids(&read(&["--from", "time:1970-01-01T00:00:00Z"])).len(),
        20
    );
    assert_eq!(
        ids(&read(&["--from", "time:2200-01-01T00:00:00Z"])),
        Vec::<u64>::new()
    );
    for bad in ["id:0", "id:x", "time:yesterday", "later"] {
        let o = fmq(&["read", &q, "--from", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o.stderr));
    }
}

#[test]
fn type_subtype_until_id_and_count_select_exactly_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = known_queue(&dir);
    let read = |extra: &[&str]| {
        let mut a = vec!["read", q.as_str(), "--from", "oldest", "--format", "json"];
        a.extend_from_slice(extra);
        ids(&fmq(&a))
    };
    let want = |f: &dyn Fn(u64) -> bool| (1..=20).filter(|&i| f(i)).collect::<Vec<_>>();
    assert_eq!(read(&["--type", "1"]), want(&|i| i % 3 == 1));
    assert_eq!(read(&["--type", "0,2"]), want(&|i| i % 3 != 1));
    assert_eq!(read(&["--subtype", "1"]), want(&|i| i % 2 == 1));
    assert_eq!(
        read(&["--type", "2", "--subtype", "0"]),
        want(&|i| i % 3 == 2 && i % 2 == 0)
    );
    assert_eq!(read(&["--until-id", "5"]), want(&|i| i <= 5));
    assert_eq!(read(&["--type", "1", "--count", "3"]), [1, 4, 7]);
    let o = fmq(&[
        "read",
        &q,
        "--from",
        "id:10",
        "--until-id",
        "14",
        "--type",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(ids(&o), [10, 13]);
    // A filtered read takes nothing from another reader: the whole queue is still there.
    assert_eq!(read(&[]).len(), 20);
}

#[test]
fn write_create_makes_a_missing_queue_and_never_wipes_an_existing_one() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("made").to_str().unwrap().to_string();
    let o = fmq(&["write", &q, "one"]);
    assert_error(&o, "does not exist");
    assert_ok(&fmq(&[
        "write", &q, "--create", "--slots", "16", "--size", "64K", "one",
    ]));
    let info = fmq(&["info", &q, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
    assert_eq!(v["slots_count"], 16);
    assert_ok(&fmq(&["write", &q, "--create", "--slots", "64", "two"]));
    let out = fmq(&["read", &q, "--from", "oldest"]);
    assert_eq!(stdout(&out), "one\ntwo\n");
    let o = fmq(&["write", &q, "--slots", "64", "three"]);
    assert_eq!(o.status.code(), Some(2), "--slots needs --create");
}

#[test]
fn mon_takes_the_same_from_type_and_until_id_as_read() {
    let dir = tempfile::tempdir().unwrap();
    let (q, times) = known_queue(&dir);
    let ids_of = |o: &Output| -> Vec<u64> {
        assert_ok(o);
        stdout(o)
            .lines()
            .map(|l| {
                let after = l.split("  id ").nth(1).unwrap_or_else(|| panic!("{l:?}"));
                after.split_whitespace().next().unwrap().parse().unwrap()
            })
            .collect()
    };
    let o = fmq(&[
        "mon",
        &q,
        "--mode",
        "full",
        "--from",
        "id:5",
        "--type",
        "1",
        "--until-id",
        "12",
    ]);
    assert_eq!(ids_of(&o), [7, 10]);
    let from = format!("time:{}", rfc3339(times[14]));
    let o = fmq(&[
        "mon",
        &q,
        "--mode",
        "full",
        "--from",
        &from,
        "--until-id",
        "17",
    ]);
    assert_eq!(ids_of(&o), [15, 16, 17]);
    let o = fmq(&["mon", &q, "--mode", "full", "--start", "--until-id", "2"]);
    assert_eq!(ids_of(&o), [1, 2]);
}

#[test]
fn read_follow_says_once_that_it_waits_and_fails_at_once_where_no_queue_can_appear() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("later").to_str().unwrap().to_string();
    let o = fmq(&["read", &q, "--follow", "--timeout", "0.3"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            format!("fmq: waiting for {q} to be created"),
            format!("fmq: error: queue {q} was not created within the timeout"),
        ]
    );
    for (bad, says) in [
        (
            "/nonexistent-fmq-dir/q",
            "directory /nonexistent-fmq-dir does not exist",
        ),
        (
            "nats://127.0.0.1:4222/radar",
            "nats:// URL, which fmq does not serve",
        ),
    ] {
        for cmd in ["read", "mon"] {
            let started = Instant::now();
            let o = if cmd == "read" {
                fmq(&["read", bad, "--follow"])
            } else {
                fmq(&["mon", bad])
            };
            assert_error(&o, says);
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{cmd} {bad} waited instead of failing"
            );
            assert!(!text(&o.stderr).contains("waiting for"), "{cmd} {bad}");
        }
    }
}

/// Runs `fmq ARGS` with a terminal as its stdout and stderr (`script(1)`), returning what the
/// terminal showed.
fn on_a_terminal(args: &[&str]) -> String {
    let cmd = std::iter::once(FMQ)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script(1) (bsdutils) runs");
    text(&o.stdout)
}

#[test]
fn read_that_finds_nothing_new_says_so_on_a_terminal_and_stays_quiet_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let q = new_queue(&dir, "quiet");
    assert_ok(&fmq(&["write", &q, "old"]));
    let shown = on_a_terminal(&["read", &q]);
    assert!(
        shown.contains("no new message") && shown.contains("--from oldest"),
        "{shown:?}"
    );
    let piped = fmq(&["read", &q]);
    assert_ok(&piped);
    assert!(piped.stderr.is_empty() && piped.stdout.is_empty());
    // Something printed: no hint.
    let shown = on_a_terminal(&["read", &q, "--from", "oldest"]);
    assert!(
        shown.contains("old") && !shown.contains("no new message"),
        "{shown:?}"
    );
}
