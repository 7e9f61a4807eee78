//! Real process crashes (DESIGN §7 "process crash", invariant 7): a writer process writes a
//! real queue as fast as it can and is SIGKILLed at a random moment, again and again, while
//! two reader processes and the parent stay attached for the whole run.
//!
//! After every kill the parent notes what the dead writer published (the header's commit
//! point), recovers the queue with a new writer and checks that recovery lost nothing, that
//! no slot still describes a message that was never published, and that every published
//! message still present is readable, whole, from the oldest to the youngest. The next round's
//! writer process continues the ids. At the end an end-marker message stops the readers,
//! which report how many ids they received and how many they were told they missed: every id
//! is one or the other, and none was ever returned corrupt.
//!
//! `FMQ_CRASH_KILLS` sets the kills per backend (default 25 for CI; the long run is
//! `FMQ_CRASH_KILLS=250 cargo test --release -p fmq --test crash -- --nocapture`),
//! `FMQ_CRASH_SEED` the seed of the delays and write patterns (printed by every run; the
//! timing of the kills is the machine's, so a seed narrows a failure down but does not replay
//! it exactly).

mod common;

use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use fmq::{
    Lag, MessageRef, NewMessage, ReadError, Reader, StartAt, TryReadError, Writer, WriterOptions,
    WriterStatus,
};

const ENTRY: &str = "crash_child_entry";
/// Slots of the test queue: with [`BUF_SIZE`] and the sizes of [`payload_len`], sometimes the
/// slots and sometimes the bytes are the limit.
const SLOTS: u32 = 512;
/// Buffer bytes of the test queue.
const BUF_SIZE: u64 = 384 << 10;
/// The type of the end marker, the last message of a run (no data message has it).
const END_TYPE: i32 = i32::MAX;
/// A writer process never runs longer than this (it is killed within milliseconds).
const WRITER_LIFETIME: Duration = Duration::from_secs(60);
/// A reader process never runs longer than this, even if the end marker never comes.
const READER_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// The kills per backend when `FMQ_CRASH_KILLS` is not set.
const DEFAULT_KILLS: u64 = 25;
/// The longest random delay between a writer's start and its SIGKILL, in microseconds.
const MAX_DELAY_US: u64 = 30_000;

/// Parses a seed in decimal or `0x` hexadecimal.
fn parse_seed(s: &str) -> u64 {
    let s = s.trim();
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    v.unwrap_or_else(|e| panic!("bad FMQ_CRASH_SEED {s:?}: {e}"))
}

// ---- the messages: payload and types are functions of the id ----

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The payload length of message `id`: mostly 8 to 1031 bytes, sometimes empty or shorter
/// than a word, sometimes 4 to 24 KiB.
fn payload_len(id: u64) -> usize {
    let h = mix(id ^ 0x00c0_ffee);
    let r = h >> 8;
    (match h % 100 {
        0 => 0,
        1..=4 => r % 8,
        5..=7 => 4096 + r % (20 << 10),
        _ => 8 + r % 1024,
    }) as usize
}

/// The words of the payload of message `id`: the id itself, then a per-id base mixed with
/// each word's position, so that bytes of another message, or of another place in the same
/// one, do not match.
fn payload_words(id: u64) -> impl Iterator<Item = u64> {
    let base = mix(id);
    std::iter::once(id).chain((1u64..).map(move |k| base ^ k.wrapping_mul(0x2545_f491_4f6c_dd1d)))
}

/// Fills `out` with the payload of message `id`.
fn fill_payload(id: u64, out: &mut Vec<u8>) {
    let len = payload_len(id);
    out.clear();
    out.reserve(len);
    let mut words = payload_words(id);
    for w in words.by_ref().take(len / 8) {
        out.extend_from_slice(&w.to_le_bytes());
    }
    if let Some(w) = words.next() {
        out.extend_from_slice(&w.to_le_bytes()[..len % 8]);
    }
}

/// Whether `data` is exactly the payload of message `id`.
fn payload_is(id: u64, data: &[u8]) -> bool {
    data.len() == payload_len(id)
        && data
            .chunks(8)
            .zip(payload_words(id))
            .all(|(c, w)| c == &w.to_le_bytes()[..c.len()])
}

// ---- exact accounting of one reader that counts problems instead of panicking ----

/// What one reader saw: every id below the end marker is received (in order, intact) or
/// reported missed, exactly once; anything else is a problem.
#[derive(Debug, Default)]
struct Tally {
    /// The id the next successful read must return.
    next: u64,
    received: u64,
    missed: u64,
    lag_events: u64,
    /// `Corrupt` (or another skipped-message error) returned, or a payload or type that is
    /// not the id's.
    corrupt: u64,
    /// Ids out of order: a gap without a lag, a repeat, or a lag that does not add up.
    order: u64,
    /// Errors after which the reader cannot go on (replaced, removed, ...).
    fatal: u64,
    /// The id the end marker had, once read.
    end: Option<u64>,
    /// The first problems, described.
    problems: Vec<String>,
    /// The id of the first problem.
    first_bad_id: Option<u64>,
}

impl Tally {
    fn starting_at(next: u64) -> Tally {
        Tally {
            next,
            ..Tally::default()
        }
    }

    fn problem(&mut self, id: u64, what: String) {
        self.first_bad_id.get_or_insert(id);
        if self.problems.len() < 5 {
            self.problems.push(what);
        }
    }

    fn is_clean(&self) -> bool {
        self.corrupt == 0 && self.order == 0 && self.fatal == 0
    }

    /// Applies one read result; returns whether it was a message or a lag (`false` for
    /// `Empty`, `TimedOut` and fatal errors).
    fn apply<'a>(&mut self, r: impl ReadOutcome<MessageRef<'a>>) -> bool {
        match r.outcome() {
            Ok(Some(m)) => {
                let id = m.meta.id.0;
                if id != self.next {
                    self.order += 1;
                    self.problem(id, format!("read id {id}, expected {}", self.next));
                }
                if id < self.next {
                    return true; // stay where we are: a repeat is no progress
                }
                if m.meta.msg_type == END_TYPE {
                    self.end = Some(id);
                } else {
                    let (t, s) = types_for(id);
                    if (m.meta.msg_type, m.meta.subtype) != (t, s) || !payload_is(id, m.payload) {
                        self.corrupt += 1;
                        self.problem(
                            id,
                            format!(
                                "id {id}: wrong message (type {} subtype {}, {} bytes, expected \
                                 {t} {s}, {} bytes)",
                                m.meta.msg_type,
                                m.meta.subtype,
                                m.payload.len(),
                                payload_len(id)
                            ),
                        );
                    } else {
                        self.received += 1;
                    }
                }
                self.next = id + 1;
                true
            }
            Err(ReadError::Lagged(Lag {
                missed_count,
                resumed_at,
            })) => {
                if missed_count == 0 || resumed_at.0 != self.next + missed_count {
                    self.order += 1;
                    self.problem(
                        self.next,
                        format!(
                            "at id {}: lag of {missed_count} resuming at {}: does not add up",
                            self.next, resumed_at.0
                        ),
                    );
                }
                self.missed += resumed_at.0.saturating_sub(self.next);
                self.lag_events += 1;
                self.next = self.next.max(resumed_at.0);
                true
            }
            Ok(None) => false,
            Err(e) if e.is_skipped_message() => {
                self.corrupt += 1;
                let id = match &e {
                    ReadError::Corrupt { id, .. }
                    | ReadError::BadCompressed { id }
                    | ReadError::TooLarge { id, .. } => id.0,
                    _ => self.next,
                };
                self.problem(id, format!("at id {}: {e:?}", self.next));
                self.next = self.next.max(id + 1);
                true
            }
            Err(e) => {
                self.fatal += 1;
                self.problem(self.next, format!("at id {}: {e:?}", self.next));
                false
            }
        }
    }

    fn result_line(&self) -> String {
        format!(
            "RESULT received={} missed={} lags={} corrupt={} order={} fatal={} end={} \
             first_bad_id={}",
            self.received,
            self.missed,
            self.lag_events,
            self.corrupt,
            self.order,
            self.fatal,
            self.end.unwrap_or(0),
            self.first_bad_id.unwrap_or(0)
        )
    }
}

// ---- the child processes ----

/// Role `reader`: attached before the first message, reads until the end marker, verifying
/// every message; prints its problems (`PROBLEM ...`, the first few) and its counts.
fn reader_child() {
    let spec = env("FMQ_TEST_SPEC");
    let parent = std::os::unix::process::parent_id();
    let mut r = Reader::open(&spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(r.position().0, 1, "attached before the first message");
    say("READY");
    let start = Instant::now();
    let mut t = Tally::starting_at(1);
    let mut aborted = false;
    let mut reads = 0u64;
    while t.end.is_none() && t.fatal == 0 {
        let got = t.apply(r.read_timeout(Duration::from_millis(100)));
        reads += 1;
        if (!got || reads % 4096 == 0)
            && (start.elapsed() > READER_LIFETIME || std::os::unix::process::parent_id() != parent)
        {
            aborted = true;
            break;
        }
    }
    for p in &t.problems {
        say(&format!("PROBLEM {p}"));
    }
    say(&format!(
        "{} aborted={}",
        t.result_line(),
        u8::from(aborted)
    ));
}

/// Role `writer`: opens (recovers) the queue, says where it starts, then writes as fast as
/// it can until it is killed: single messages and batches of 2 to 64, and now and then a
/// `flush()` on the file backend; the choices come from `FMQ_CRASH_WRITER_SEED`.
fn writer_child() {
    let spec = env("FMQ_TEST_SPEC");
    let mut x = parse_seed(&env("FMQ_CRASH_WRITER_SEED")) | 1;
    let flush = env("FMQ_CRASH_FLUSH") == "1";
    let parent = std::os::unix::process::parent_id();
    let mut w = Writer::open(&spec, &WriterOptions::default()).unwrap();
    let rep = *w.recovery_report().expect("an existing queue is recovered");
    say(&format!(
        "READY youngest={} dropped={}",
        w.youngest_id().0,
        rep.dropped_count
    ));
    let start = Instant::now();
    let mut bufs: Vec<Vec<u8>> = (0..64).map(|_| Vec::with_capacity(8 << 10)).collect();
    for round in 1u64.. {
        let r = xorshift(&mut x);
        let next = w.youngest_id().0 + 1;
        if r % 2 == 0 {
            let n = 2 + (r >> 8) % 63;
            for (i, b) in bufs[..n as usize].iter_mut().enumerate() {
                fill_payload(next + i as u64, b);
            }
            let now = fmq::now_ns();
            let msgs: Vec<NewMessage<'_>> = bufs[..n as usize]
                .iter()
                .zip(next..)
                .map(|(b, id)| {
                    let (t, s) = types_for(id);
                    NewMessage::new(t, s, b).at(now)
                })
                .collect();
            let last = w.write_batch(&msgs).unwrap();
            assert_eq!(last.map(|m| m.0), Some(next + n - 1));
        } else {
            fill_payload(next, &mut bufs[0]);
            let (t, s) = types_for(next);
            assert_eq!(w.write(t, s, &bufs[0]).unwrap().0, next);
        }
        if flush && (r >> 20) % 2048 == 0 {
            w.flush().unwrap();
        }
        if round % 1024 == 0
            && (start.elapsed() > WRITER_LIFETIME || std::os::unix::process::parent_id() != parent)
        {
            return;
        }
    }
}

#[test]
#[ignore = "child-process entry point, run by the other tests of this file"]
fn crash_child_entry() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("crash_reader") => reader_child(),
        Ok("crash_writer") => writer_child(),
        Ok(other) => panic!("unknown child role {other}"),
        Err(_) => {} // run by hand with --ignored: nothing to do
    }
}

fn child(role: &str, spec: &str) -> Command {
    let mut c = child_command(ENTRY, role);
    c.env("FMQ_TEST_SPEC", spec);
    c
}

// ---- the parent's checks after each kill ----

/// After recovery: the header still says what the dead writer published, and every stamped
/// slot describes a published message still present (recovery retired the half-written
/// message, any uncommitted batch, and any retirement the dead writer had not finished).
fn check_slots_after_recovery(spec: &str, oldest: u64, youngest: u64, ctx: &str) {
    let info = fmq::info(spec).unwrap();
    assert_eq!(
        (info.header.oldest_id, info.header.youngest_id),
        (oldest, youngest),
        "{ctx}: recovery moved the commit line"
    );
    let s = u64::from(SLOTS);
    for (index, slot) in fmq::slots(spec).unwrap().iter().enumerate() {
        if slot.stamp == 0 {
            continue;
        }
        assert!(
            (oldest..=youngest).contains(&slot.stamp) && slot.stamp % s == index as u64,
            "{ctx}: after recovery slot {index} still holds stamp {} (present ids \
             {oldest}..={youngest}): a message that is not published stays stamped",
            slot.stamp
        );
    }
}

/// A fresh reader from the oldest id reads every id up to `youngest`, each whole, and then
/// nothing (the message being written when the writer died is never returned). A lag is
/// allowed only if the writer moved the oldest id since `oldest` was noted.
fn read_all_present(spec: &str, oldest: u64, youngest: u64, ctx: &str) -> u64 {
    let mut r = Reader::open(spec, &from(StartAt::Oldest)).unwrap();
    assert_eq!(
        r.position().0,
        oldest,
        "{ctx}: a fresh reader starts at the oldest id"
    );
    let mut read = 0;
    while r.position().0 <= youngest {
        let want = r.position().0;
        match r.try_read() {
            Ok(m) => {
                assert_eq!(m.meta.id.0, want, "{ctx}: ids follow on");
                assert!(
                    payload_is(want, m.payload),
                    "{ctx}: id {want}: payload is not the one written"
                );
                assert_eq!(
                    (m.meta.msg_type, m.meta.subtype),
                    types_for(want),
                    "{ctx}: id {want}: types"
                );
                read += 1;
            }
            Err(TryReadError::Failed(ReadError::Lagged(Lag {
                missed_count,
                resumed_at,
            }))) => {
                let now_oldest = fmq::info(spec).unwrap().header.oldest_id;
                assert!(
                    now_oldest > oldest && resumed_at.0 == want + missed_count,
                    "{ctx}: id {want} of {oldest}..={youngest} was lost (lag of {missed_count} \
                     to {}) though the oldest id is still {now_oldest}",
                    resumed_at.0
                );
            }
            Err(e) => panic!("{ctx}: id {want} of {oldest}..={youngest} is not readable: {e:?}"),
        }
    }
    match r.try_read() {
        Err(TryReadError::Empty) => {}
        Ok(m) => panic!(
            "{ctx}: read id {} beyond the commit point {youngest}",
            m.meta.id.0
        ),
        Err(e) => panic!("{ctx}: after the youngest id: {e:?}"),
    }
    read
}

/// Writes message `id` (the next one) with the parent's writer.
fn write_one(w: &mut Writer, id: u64, buf: &mut Vec<u8>, ctx: &str) {
    fill_payload(id, buf);
    let (t, s) = types_for(id);
    assert_eq!(w.write(t, s, buf).unwrap().0, id, "{ctx}");
}

/// A reader process's final report.
struct ReaderReport {
    line: String,
    received: u64,
    missed: u64,
    corrupt: u64,
    order: u64,
    fatal: u64,
    end: u64,
    first_bad_id: u64,
    problems: Vec<String>,
}

fn finish_reader(r: &mut ChildProc, who: &str) -> ReaderReport {
    let (status, out, err) = r.finish(Duration::from_secs(120));
    assert!(status.success(), "{who}: {status}\n{out}\n{err}");
    let line = result_line(&out)
        .unwrap_or_else(|| panic!("{who}: no result\n{out}\n{err}"))
        .to_string();
    let problems = out
        .lines()
        .filter_map(|l| l.find("PROBLEM ").map(|at| l[at + 8..].to_string()))
        .collect();
    ReaderReport {
        received: field(&line, "received"),
        missed: field(&line, "missed"),
        corrupt: field(&line, "corrupt"),
        order: field(&line, "order"),
        fatal: field(&line, "fatal"),
        end: field(&line, "end"),
        first_bad_id: field(&line, "first_bad_id"),
        problems,
        line,
    }
}

/// The round in which id `id` was written: the first round whose commit point reached it.
fn round_of(id: u64, round_ends: &[u64]) -> usize {
    round_ends.partition_point(|&end| end < id)
}

fn crash_run(b: Backend) {
    let kills: u64 = std::env::var("FMQ_CRASH_KILLS")
        .map(|v| v.trim().parse().expect("FMQ_CRASH_KILLS: a number"))
        .unwrap_or(DEFAULT_KILLS);
    let seed = std::env::var("FMQ_CRASH_SEED")
        .map(|s| parse_seed(&s))
        .unwrap_or_else(|_| time_seed());
    println!("{b:?}: FMQ_CRASH_SEED={seed:#x} FMQ_CRASH_KILLS={kills}");
    let verbose = std::env::var_os("FMQ_CRASH_VERBOSE").is_some();
    let started = Instant::now();
    let mut x = seed | 1;
    let q = TestQueue::new(b, "crash");
    drop(Writer::create(&q.spec, &small(SLOTS, BUF_SIZE)).unwrap());

    let mut readers: Vec<ChildProc> = (0..2)
        .map(|_| ChildProc::spawn(&mut child("crash_reader", &q.spec)))
        .collect();
    for r in &mut readers {
        r.wait_line("READY");
    }
    let mut mine = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
    let mut tally = Tally::starting_at(1);

    let mut youngest = 0; // the commit point: the youngest id published so far
    let mut round_ends = Vec::new();
    let mut mid_write_kills = 0; // recoveries that cleared stamps the dead writer left
    let mut verified = 0; // messages the fresh readers read after the kills
    let mut buf = Vec::new();
    for round in 0..kills {
        let ctx = format!("{b:?} seed {seed:#x} kill {}", round + 1);
        let delay = Duration::from_micros(xorshift(&mut x) % (MAX_DELAY_US + 1));
        let mut writer = ChildProc::spawn(
            child("crash_writer", &q.spec)
                .env("FMQ_CRASH_WRITER_SEED", xorshift(&mut x).to_string())
                .env(
                    "FMQ_CRASH_FLUSH",
                    if b == Backend::File { "1" } else { "0" },
                ),
        );
        let pid = writer.id();
        let ready = writer.wait_line("READY ");
        let started_at: u64 = field(&ready, "youngest");
        assert_eq!(
            started_at, youngest,
            "{ctx}: the writer goes on where the last one stopped"
        );
        assert_eq!(field::<u64>(&ready, "dropped"), 0, "{ctx}");

        // Read while it writes, then kill it wherever it is.
        let until = Instant::now() + delay;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            tally.apply(mine.read_timeout(left));
        }
        let status = writer.kill();
        if status.signal() != Some(libc::SIGKILL) {
            let mut err = String::new();
            if let Some(mut e) = writer.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{ctx}: the writer ended before it was killed: {status}\n{err}");
        }

        // What the dead writer published.
        let info = fmq::info(&q.spec).unwrap();
        assert_eq!(
            info.writer,
            WriterStatus::Open { pid, alive: false },
            "{ctx}: the mark names the dead writer"
        );
        let (oldest, published) = (info.header.oldest_id, info.header.youngest_id);
        assert!(published >= youngest, "{ctx}: the commit point went back");
        youngest = published;
        round_ends.push(youngest);
        // The parent's reader reads the dead writer's queue as it is.
        while tally.apply(mine.try_read()) {}
        assert!(
            tally.is_clean(),
            "{ctx}: parent reader: {:?} (first bad id {:?}, round {})",
            tally.problems,
            tally.first_bad_id,
            round_of(tally.first_bad_id.unwrap_or(0), &round_ends) + 1
        );
        assert_eq!(
            tally.next,
            youngest + 1,
            "{ctx}: parent reader reached the commit point"
        );

        // Recovery.
        let mut w = Writer::open(&q.spec, &WriterOptions::default()).unwrap();
        let rep = *w.recovery_report().unwrap();
        assert!(rep.writer_was_open, "{ctx}: {rep:?}");
        assert_eq!(rep.previous_pid, pid, "{ctx}: {rep:?}");
        assert_eq!(
            rep.dropped_count, 0,
            "{ctx}: a crash loses no message: {rep:?}"
        );
        assert_eq!(
            (rep.oldest_id.0, rep.youngest_id.0),
            (oldest, youngest),
            "{ctx}: recovery keeps exactly what was published: {rep:?}"
        );
        assert_eq!(w.youngest_id().0, youngest, "{ctx}");
        if rep.stamps_cleared_count > 0 {
            mid_write_kills += 1;
        }
        if verbose {
            println!(
                "{ctx}: after {delay:?}: ids {}..={youngest} published, {} stamps cleared",
                started_at + 1,
                rep.stamps_cleared_count
            );
        }
        check_slots_after_recovery(&q.spec, oldest, youngest, &ctx);
        // Every published message is readable until overwritten...
        verified += read_all_present(&q.spec, oldest, youngest, &ctx);
        assert!(
            matches!(mine.try_read(), Err(TryReadError::Empty)),
            "{ctx}: nothing new after recovery"
        );
        // ...also once the recovered writer writes again (into the bytes after the youngest
        // message, not over it).
        for _ in 0..xorshift(&mut x) % 4 {
            youngest += 1;
            write_one(&mut w, youngest, &mut buf, &ctx);
        }
        let oldest_now = w.oldest_id().0;
        verified += read_all_present(&q.spec, oldest_now, youngest, &ctx);
        *round_ends.last_mut().unwrap() = youngest;
        if round + 1 == kills {
            // The end marker stops the readers.
            assert_eq!(w.write(END_TYPE, 0, b"end").unwrap().0, youngest + 1);
        }
        drop(w);
        while tally.apply(mine.try_read()) {}
        assert!(
            tally.is_clean(),
            "{ctx}: parent reader: {:?}",
            tally.problems
        );
        let expect_next = youngest + 1 + u64::from(round + 1 == kills);
        assert_eq!(tally.next, expect_next, "{ctx}: parent reader");
    }
    let end = youngest + 1;
    assert_eq!(tally.end, Some(end), "parent reader: end marker");
    assert_eq!(
        tally.received + tally.missed,
        youngest,
        "parent reader: {tally:?}"
    );

    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for (i, r) in readers.iter_mut().enumerate() {
        let who = format!("{b:?} reader process {i}");
        let rep = finish_reader(r, &who);
        if rep.corrupt + rep.order + rep.fatal > 0
            || rep.end != end
            || rep.received + rep.missed != youngest
        {
            failures.push(format!(
                "{who} (seed {seed:#x}): {} ; first problem at id {} in round {} of {kills}: {:?}",
                rep.line,
                rep.first_bad_id,
                round_of(rep.first_bad_id, &round_ends) + 1,
                rep.problems
            ));
        }
        assert!(rep.received > 0, "{who}: {}", rep.line);
        lines.push(format!(
            "reader{i} received={} missed={}",
            rep.received, rep.missed
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let report = fmq::check(&q.spec).unwrap();
    assert!(report.is_healthy(), "{b:?} seed {seed:#x}: {report:?}");
    assert!(
        youngest > 4 * kills,
        "the killed writers wrote something: {youngest} ids in {kills} rounds"
    );
    println!(
        "crash {b:?}: kills={kills} published={youngest} mid-write-recoveries={mid_write_kills} \
         verified-after-kills={verified} {} parent received={} missed={} corrupt=0 \
         seed={seed:#x} time={:.1}s",
        lines.join(" "),
        tally.received,
        tally.missed,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sigkilled_writer_processes_are_recovered_and_reader_processes_never_see_corruption_shm() {
    let _serial = spawning_test();
    crash_run(Backend::Shm);
}

#[test]
fn sigkilled_writer_processes_are_recovered_and_reader_processes_never_see_corruption_file() {
    let _serial = spawning_test();
    crash_run(Backend::File);
}
