//! shuttle models of the fmq-core protocol: one writer and 3 to 8 readers over a
//! `HeapRegion`, thousands of messages per execution, under shuttle's random scheduler and
//! its PCT scheduler (probabilistic concurrency testing, depth 2 and 3). Where the loom models
//! (`loom_protocol.rs`) try every interleaving of a few messages, these try a few hundred
//! schedules of a long run: the writer wraps the buffer before the slot ring and the reverse,
//! writes batches (some larger than the queue, which commit early), and readers lag, resume
//! under both lag policies, start at every `StartAt` and attach while the writer runs.
//!
//! shuttle runs every thread on one OS thread and switches only at its own atomics (every
//! load and store of the protocol's region, and `yield_now`), treating every ordering as
//! SeqCst: these models check the protocol's logic under many interleavings (invariants 2
//! and 4), not its memory orderings, which are loom's and the ordering mutation runner's.
//!
//! What every reader checks, as it goes (see [`Follower::step`]):
//! * ids strictly increase: each read returns exactly the expected next id, unless the reader
//!   is told `Lagged`, and then `resumed_at == expected + missed_count` (the count is exact);
//! * a `Lagged` is told only for an id the writer had really retired, and resumes at the
//!   oldest id present (`ResumeAtOldest`) or the youngest (`ResumeAtYoungest`), both checked
//!   against what the writer had done before the read and will have done after the write in
//!   flight (the test's own bookkeeping, [`Progress`], derived from the capacity rule);
//! * `Empty` only while the wanted id is not yet committed, and no id beyond the commit;
//! * every payload is byte-for-byte the message's own ([`fmq_model::payload_byte`]) with its
//!   own length and metadata; `Corrupt` (a torn copy the seqlock missed, caught by the CRC)
//!   fails the model;
//! * at the end (a reader stops when it has reached the writer's last id), received plus
//!   missed is every id from where it started to the last.
//!
//! `ci/shuttle.sh` runs this file within CI's budget; `FMQ_SHUTTLE_ITERS=N` multiplies every
//! test's number of schedules by N for a soak run. A failure prints shuttle's schedule (pass
//! it to `shuttle::replay` with the same test body) and the execution number in the panic
//! message; `SHUTTLE_RANDOM_SEED` fixes the schedulers' seed.
//!
//! Measured on the 2-core development machine, shared with other builds (load 4 to 5),
//! release mode, two tests at a time: at CI's budget, 250 schedules per test (1,500 in all,
//! 2,000 messages each, 107,000 to 297,000 shuttle steps per execution, at most 303,000
//! against shuttle's default bound of 1,000,000), 78 to 93 s; the soak `FMQ_SHUTTLE_ITERS=10`
//! (15,000 schedules, 30 million messages written) 894 s. Deliberate logic mutations of
//! fmq-core (the writer not retiring messages whose bytes it reuses, or clearing their stamps
//! before advancing `oldest_id`, or never clearing them, or publishing before the payload;
//! the reader's missed count off by one, its stamp re-check skipped, `ResumeAtOldest`
//! resuming one past the oldest) each fail a random-schedule test on its first
//! execution; the PCT tests need 1 to about 400 schedules for the narrowest (stamps cleared
//! before `oldest_id`). Moving the writer's stamp store before its payload stores is not
//! caught, and is no bug: the commit store, not the stamp, publishes.

#![cfg(fmq_shuttle)]

use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Instant;

use fmq_core::{
    HeapRegion, LagPolicy, Layout, MessageId, MessageMeta, NewMessage, ReadError, Reader,
    ReaderConfig, StartAt, Writer,
};
use fmq_model::{config, fill_payload, first_wrong_byte, mix, varied_len, CapacityOracle};
use fmq_testkit::capacity::lag_resume;
use shuttle::rand::{thread_rng, Rng};
use shuttle::thread;

/// Messages per execution.
const MESSAGES: u64 = 2000;

/// Queue geometry and message lengths of one model.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    slots_count: u32,
    buf_size_bytes: u64,
    /// Most messages are `0..=typical_len` bytes...
    typical_len: usize,
    /// ...and one in sixteen is `max_len`.
    max_len: usize,
    /// A pausing reader waits until the writer is up to this many ids further.
    pause_ids: u64,
}

impl Geometry {
    fn len(&self, id: u64) -> usize {
        varied_len(id, self.typical_len, self.max_len)
    }
}

/// 16 slots, 128 bytes: about five messages fill the buffer, so the buffer wraps long before
/// the slot ring, and one message in sixteen fills the whole buffer (retiring every other).
const BUFFER_WRAPS_FIRST: Geometry = Geometry {
    slots_count: 16,
    buf_size_bytes: 128,
    typical_len: 40,
    max_len: 128,
    pause_ids: 8,
};

/// 4 slots, 512 bytes: four messages of at most 64 bytes (plus padding) never fill the
/// buffer, so every retirement is the slot ring's; payloads still pad at the buffer's end.
const SLOT_RING_WRAPS_FIRST: Geometry = Geometry {
    slots_count: 4,
    buf_size_bytes: 512,
    typical_len: 40,
    max_len: 64,
    pause_ids: 6,
};

/// 6 slots, 160 bytes: either rule retires, depending on the lengths.
const EITHER_WRAPS_FIRST: Geometry = Geometry {
    slots_count: 6,
    buf_size_bytes: 160,
    typical_len: 48,
    max_len: 160,
    pause_ids: 8,
};

fn msg_type(id: u64) -> i32 {
    (id % 1000) as i32 + 1
}

fn subtype(id: u64) -> i32 {
    -((id % 7) as i32)
}

fn time_ns(id: u64) -> i64 {
    id as i64 * 1000 + 3
}

/// How many messages the writer puts in the write call that starts at `id`: mostly one
/// (`write`), one call in eight a batch of 2 to `slots_count + 2` (`write_batch`; a batch
/// larger than the queue commits early).
fn batch_len(id: u64, slots_count: u32) -> u64 {
    let h = mix(id ^ 0xba7c);
    if h % 8 == 0 {
        2 + (h >> 8) % u64::from(slots_count + 1)
    } else {
        1
    }
}

/// The writer's progress as the test knows it: plain std atomics, bookkeeping for the
/// checks, invisible to shuttle (no scheduling point) and no part of the protocol.
struct Progress {
    /// The oldest id present after the last write call returned (a lower bound for any
    /// `oldest_id` a reader loads after it looked at this).
    done_oldest: StdAtomicU64,
    /// The youngest id after the last write call returned (lower bound, likewise).
    done_youngest: StdAtomicU64,
    /// The oldest id present once the write call in flight returns, from the capacity rule
    /// (an upper bound for any `oldest_id` loaded before a reader looks at this).
    bound_oldest: StdAtomicU64,
    /// The youngest id once the write call in flight returns (upper bound, likewise).
    bound_youngest: StdAtomicU64,
}

#[derive(Clone, Copy, Debug)]
struct Snapshot {
    done_oldest: u64,
    done_youngest: u64,
    bound_oldest: u64,
    bound_youngest: u64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            done_oldest: StdAtomicU64::new(1),
            done_youngest: StdAtomicU64::new(0),
            bound_oldest: StdAtomicU64::new(1),
            bound_youngest: StdAtomicU64::new(0),
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            done_oldest: self.done_oldest.load(SeqCst),
            done_youngest: self.done_youngest.load(SeqCst),
            bound_oldest: self.bound_oldest.load(SeqCst),
            bound_youngest: self.bound_youngest.load(SeqCst),
        }
    }
}

/// Counters over all executions of one test, for the summary line.
#[derive(Default)]
struct Stats {
    executions: StdAtomicU64,
    readers: StdAtomicU64,
    received: StdAtomicU64,
    lags: StdAtomicU64,
    missed: StdAtomicU64,
    empties: StdAtomicU64,
    /// shuttle's scheduling points per execution (the default bound is 1,000,000).
    steps: StdAtomicU64,
    max_steps: StdAtomicU64,
}

/// One reader of a model: where it starts, its lag policy, when it attaches, how it reads.
#[derive(Clone, Copy, Debug)]
struct Plan {
    start: StartAt,
    lag_policy: LagPolicy,
    /// Attach once the writer has returned from the write of this id (0: at once).
    attach_after: u64,
    /// Read with `read_with` (zero-copy, validated afterwards) instead of `try_read`.
    zero_copy: bool,
}

/// Writes ids `1..=MESSAGES` in calls of `batch_len` messages, keeping [`Progress`] and
/// checking that the writer keeps what the capacity rule says (the premise of the bounds).
fn write_all(writer: &mut Writer<Arc<HeapRegion>>, g: Geometry, progress: &Progress, exec: u64) {
    let mut oracle = CapacityOracle::new(g.slots_count, g.buf_size_bytes);
    let mut id = 1;
    while id <= MESSAGES {
        let last = (id + batch_len(id, g.slots_count) - 1).min(MESSAGES);
        let payloads: Vec<Vec<u8>> = (id..=last)
            .map(|i| {
                let mut p = vec![0u8; g.len(i)];
                fill_payload(i, &mut p);
                oracle.push(p.len());
                p
            })
            .collect();
        progress.bound_oldest.store(oracle.oldest(), SeqCst);
        progress.bound_youngest.store(last, SeqCst);
        let written = if id == last {
            writer
                .write(msg_type(id), subtype(id), time_ns(id), &payloads[0])
                .map(Some)
        } else {
            let msgs: Vec<NewMessage<'_>> = (id..=last)
                .zip(&payloads)
                .map(|(i, p)| NewMessage::new(msg_type(i), subtype(i), time_ns(i), p))
                .collect();
            writer.write_batch(&msgs)
        };
        assert_eq!(
            written.unwrap(),
            Some(MessageId(last)),
            "exec {exec}: ids are consecutive"
        );
        assert_eq!(
            (writer.oldest_id().0, writer.youngest_id().0),
            (oracle.oldest(), oracle.youngest()),
            "exec {exec}: after id {last} the writer keeps other ids than the capacity rule says"
        );
        progress.done_oldest.store(oracle.oldest(), SeqCst);
        progress.done_youngest.store(last, SeqCst);
        id = last + 1;
        // One more scheduling point for the random scheduler; for PCT, a yield lowers the
        // writer below every reader, which then catch up (a reader that finds nothing new
        // yields in turn), so readers follow a running writer between PCT's change points
        // instead of finding all of it written at once.
        thread::yield_now();
    }
}

/// What one reader saw, checked as it goes.
struct Follower {
    reader: Reader<Arc<HeapRegion>>,
    plan: Plan,
    g: Geometry,
    progress: Arc<Progress>,
    /// Execution number and reader index, for failure messages.
    exec: u64,
    index: usize,
    first: u64,
    next: u64,
    received: u64,
    missed: u64,
    lags: u64,
    empties: u64,
    buf: Vec<u8>,
}

impl Follower {
    fn attach(
        region: Arc<HeapRegion>,
        g: Geometry,
        plan: Plan,
        progress: Arc<Progress>,
        exec: u64,
        index: usize,
    ) -> Follower {
        let before = progress.snapshot();
        let config = ReaderConfig {
            start: plan.start,
            lag_policy: plan.lag_policy,
        };
        let reader = Reader::attach(region, config).unwrap();
        let after = progress.snapshot();
        let first = reader.position().0;
        let (lo, hi) = match plan.start {
            StartAt::Oldest => (before.done_oldest, after.bound_oldest),
            StartAt::Youngest => (before.done_youngest.max(1), after.bound_youngest.max(1)),
            StartAt::End => (before.done_youngest + 1, after.bound_youngest + 1),
            StartAt::Id(MessageId(id)) => (id.max(1), id.max(1)),
        };
        assert!(
            (lo..=hi).contains(&first),
            "exec {exec}, reader {index} {plan:?}: attached at {first}, outside {lo}..={hi}"
        );
        Follower {
            reader,
            plan,
            g,
            progress,
            exec,
            index,
            first,
            next: first,
            received: 0,
            missed: 0,
            lags: 0,
            empties: 0,
            buf: vec![0u8; g.buf_size_bytes as usize],
        }
    }

    fn ctx(&self) -> String {
        format!("exec {}, reader {} {:?}", self.exec, self.index, self.plan)
    }

    fn read(&mut self) -> Result<MessageMeta, ReadError> {
        if self.plan.zero_copy {
            let buf = &mut self.buf;
            self.reader
                .read_with(|p| p.copy_to(buf))
                .map(|(meta, copied)| {
                    assert_eq!(copied, meta.len, "{}: short zero-copy read", self.ctx());
                    meta
                })
        } else {
            self.reader.try_read(&mut self.buf)
        }
    }

    /// One read, checked against the writer's progress before and after it.
    fn step(&mut self) {
        let before = self.progress.snapshot();
        let result = self.read();
        let after = self.progress.snapshot();
        let want = self.next;
        match result {
            Ok(meta) => {
                let id = meta.id.0;
                assert_eq!(
                    id,
                    want,
                    "{}: ids must strictly increase, no gap without a Lagged",
                    self.ctx()
                );
                assert!(
                    id <= after.bound_youngest,
                    "{}: returned id {id} beyond the commit point {}",
                    self.ctx(),
                    after.bound_youngest
                );
                let len = self.g.len(id);
                assert_eq!(
                    meta.len,
                    len,
                    "{}: id {id} has another message's length",
                    self.ctx()
                );
                assert_eq!(meta.raw_len, len as u64, "{}: id {id} raw_len", self.ctx());
                assert_eq!(
                    (meta.msg_type, meta.subtype, meta.time_ns, meta.flags),
                    (msg_type(id), subtype(id), time_ns(id), 0),
                    "{}: id {id} has another message's metadata",
                    self.ctx()
                );
                if let Some(at) = first_wrong_byte(id, &self.buf[..len]) {
                    panic!(
                        "{}: id {id}: torn or stale payload, byte {at} of {len}",
                        self.ctx()
                    );
                }
                self.next = id + 1;
                self.received += 1;
            }
            Err(ReadError::Empty) => {
                assert!(
                    want > before.done_youngest,
                    "{}: Empty for id {want}, committed (up to {}) before the read",
                    self.ctx(),
                    before.done_youngest
                );
                self.empties += 1;
                thread::yield_now();
            }
            Err(ReadError::Lagged {
                missed_count,
                resumed_at,
            }) => {
                let resumed = resumed_at.0;
                assert!(
                    missed_count > 0,
                    "{}: Lagged with nothing missed",
                    self.ctx()
                );
                assert_eq!(
                    resumed,
                    want + missed_count,
                    "{}: inexact missed count: wanted {want}, told missed {missed_count}, \
                     resumed at {resumed}",
                    self.ctx()
                );
                assert!(
                    want < after.bound_oldest,
                    "{}: Lagged at {want}, which the writer had not retired (oldest <= {})",
                    self.ctx(),
                    after.bound_oldest
                );
                // The kit's resume rule, applied to the commit line before the read (its
                // lowest possible value) and after it (its highest).
                let policy = self.plan.lag_policy;
                let lo = lag_resume(policy, before.done_oldest, before.done_youngest);
                let hi = lag_resume(policy, after.bound_oldest, after.bound_youngest);
                assert!(
                    (lo..=hi).contains(&resumed),
                    "{}: wanted {want}, resumed at {resumed}, outside {lo}..={hi} for the policy",
                    self.ctx()
                );
                self.next = resumed;
                self.missed += missed_count;
                self.lags += 1;
            }
            Err(e) => panic!(
                "{}: id {want}: unexpected {e:?} on a sound queue",
                self.ctx()
            ),
        }
    }

    /// Now and then, after a message, waits until the writer is up to `pause_ids` ids
    /// further: readers lag (or nearly), and resume on a message about to be retired.
    fn maybe_pause(&mut self) {
        let mut rng = thread_rng();
        if rng.gen_ratio(1, 24) {
            let ahead = rng.gen_range(1..=self.g.pause_ids);
            let target = (self.next + ahead).min(MESSAGES);
            while self.progress.done_youngest.load(SeqCst) < target {
                thread::yield_now();
            }
        }
    }

    /// Reads until the writer's last id, then checks the accounting.
    fn run(mut self, stats: &Stats) {
        while self.next <= MESSAGES {
            let received = self.received;
            self.step();
            if self.received > received {
                // For PCT: a reader that lags after a pause then reads one message per turn,
                // as the writer writes one, and so stays at the oldest message, the one the
                // next write retires.
                thread::yield_now();
                self.maybe_pause();
            }
        }
        assert_eq!(
            self.next,
            MESSAGES + 1,
            "{}: read past the last id",
            self.ctx()
        );
        assert_eq!(
            self.received + self.missed,
            MESSAGES + 1 - self.first,
            "{}: received {} + missed {} is not every id from {} to {MESSAGES}",
            self.ctx(),
            self.received,
            self.missed,
            self.first
        );
        stats.readers.fetch_add(1, SeqCst);
        stats.received.fetch_add(self.received, SeqCst);
        stats.lags.fetch_add(self.lags, SeqCst);
        stats.missed.fetch_add(self.missed, SeqCst);
        stats.empties.fetch_add(self.empties, SeqCst);
    }
}

/// One execution: format a queue, start the readers of `plans`, write every message from
/// this (the main) thread, join.
fn execution(g: Geometry, plans: Vec<Plan>, stats: &Arc<Stats>) {
    let exec = stats.executions.fetch_add(1, SeqCst) + 1;
    let cfg = config(g.slots_count, g.buf_size_bytes);
    let region = Arc::new(HeapRegion::new(&Layout::from_config(&cfg).unwrap()));
    let mut writer = Writer::format(Arc::clone(&region), &cfg).unwrap();
    let progress = Arc::new(Progress::new());
    let handles: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(index, plan)| {
            let (region, progress, stats) = (
                Arc::clone(&region),
                Arc::clone(&progress),
                Arc::clone(stats),
            );
            thread::spawn(move || {
                while progress.done_youngest.load(SeqCst) < plan.attach_after {
                    thread::yield_now();
                }
                Follower::attach(region, g, plan, progress, exec, index).run(&stats);
            })
        })
        .collect();
    write_all(&mut writer, g, &progress, exec);
    for h in handles {
        h.join().unwrap();
    }
    let steps = shuttle::current::context_switches() as u64;
    stats.steps.fetch_add(steps, SeqCst);
    stats.max_steps.fetch_max(steps, SeqCst);
}

/// 3 to 8 readers from id 1, lag policies alternating, every third reading zero-copy.
fn readers_from_the_start() -> Vec<Plan> {
    let count = thread_rng().gen_range(3..=8);
    (0..count)
        .map(|i| Plan {
            start: StartAt::Id(MessageId(1)),
            lag_policy: if i % 2 == 0 {
                LagPolicy::ResumeAtOldest
            } else {
                LagPolicy::ResumeAtYoungest
            },
            attach_after: 0,
            zero_copy: i % 3 == 2,
        })
        .collect()
}

/// Eight readers: three attach before the first write (at the oldest, the youngest, and a
/// random id ahead), five while the writer runs (at the oldest, the youngest, the end, an id
/// probably retired by then, and id 1, certainly retired), lag policies mixed.
fn readers_starting_anywhere(g: Geometry) -> Vec<Plan> {
    let mut rng = thread_rng();
    let mut late = || rng.gen_range(1..MESSAGES);
    let (a, b, c, d, e) = (late(), late(), late(), late(), late());
    let ahead = thread_rng().gen_range(1..=MESSAGES);
    let back = d.saturating_sub(2 * u64::from(g.slots_count)).max(1);
    let plan = |start, lag_policy, attach_after, zero_copy| Plan {
        start,
        lag_policy,
        attach_after,
        zero_copy,
    };
    use LagPolicy::{ResumeAtOldest as O, ResumeAtYoungest as Y};
    vec![
        plan(StartAt::Oldest, O, 0, false),
        plan(StartAt::Youngest, Y, 0, false),
        plan(StartAt::Id(MessageId(ahead)), O, 0, true),
        plan(StartAt::Oldest, Y, a, false),
        plan(StartAt::Youngest, O, b, true),
        plan(StartAt::End, Y, c, false),
        plan(StartAt::Id(MessageId(back)), O, d, false),
        plan(StartAt::Id(MessageId(1)), Y, e, false),
    ]
}

/// `base` schedules, times `FMQ_SHUTTLE_ITERS` (default 1).
fn schedules(base: usize) -> usize {
    let scale = std::env::var("FMQ_SHUTTLE_ITERS").map_or(1, |s| {
        s.parse::<usize>()
            .expect("FMQ_SHUTTLE_ITERS is a whole number (a multiplier)")
    });
    base * scale
}

#[derive(Clone, Copy, Debug)]
enum Scheduler {
    Random,
    Pct { depth: usize },
}

/// Runs `body` under `scheduler` for `schedules(base)` executions and prints one line of
/// numbers (`ci/shuttle.sh` shows them).
fn check<F>(name: &str, scheduler: Scheduler, base: usize, body: F)
where
    F: Fn(&Arc<Stats>) + Send + Sync + 'static,
{
    let runs = schedules(base);
    let stats = Arc::new(Stats::default());
    let s = Arc::clone(&stats);
    let f = move || body(&s);
    let t = Instant::now();
    match scheduler {
        Scheduler::Random => shuttle::check_random(f, runs),
        Scheduler::Pct { depth } => shuttle::check_pct(f, runs, depth),
    }
    let n = |c: &StdAtomicU64| c.load(SeqCst);
    let executions = n(&stats.executions);
    println!(
        "shuttle: {name}: {executions} executions ({scheduler:?}), {MESSAGES} messages and \
         {} steps each (at most {}), {} readers in all: received {}, lagged {} times \
         missing {}, empty {}; {:.1} s",
        n(&stats.steps) / executions.max(1),
        n(&stats.max_steps),
        n(&stats.readers),
        n(&stats.received),
        n(&stats.lags),
        n(&stats.missed),
        n(&stats.empties),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(executions, runs as u64, "{name}: every schedule ran");
}

/// Invariants 2 and 4, the buffer wrapping long before the slot ring: every reader gets
/// strictly increasing ids, whole payloads, exact lag counts; random schedules.
#[test]
fn ids_increase_payloads_whole_lag_exact_buffer_wraps_first_random() {
    check(
        "ids_increase_payloads_whole_lag_exact_buffer_wraps_first_random",
        Scheduler::Random,
        250,
        |stats| execution(BUFFER_WRAPS_FIRST, readers_from_the_start(), stats),
    );
}

/// Invariants 2 and 4, the slot ring wrapping first; random schedules.
#[test]
fn ids_increase_payloads_whole_lag_exact_slot_ring_wraps_first_random() {
    check(
        "ids_increase_payloads_whole_lag_exact_slot_ring_wraps_first_random",
        Scheduler::Random,
        250,
        |stats| execution(SLOT_RING_WRAPS_FIRST, readers_from_the_start(), stats),
    );
}

/// Invariants 2 and 4, the buffer wrapping first; PCT schedules of depth 3.
#[test]
fn ids_increase_payloads_whole_lag_exact_buffer_wraps_first_pct3() {
    check(
        "ids_increase_payloads_whole_lag_exact_buffer_wraps_first_pct3",
        Scheduler::Pct { depth: 3 },
        250,
        |stats| execution(BUFFER_WRAPS_FIRST, readers_from_the_start(), stats),
    );
}

/// Invariants 2 and 4, either rule retiring; PCT schedules of depth 2.
#[test]
fn ids_increase_payloads_whole_lag_exact_either_wraps_first_pct2() {
    check(
        "ids_increase_payloads_whole_lag_exact_either_wraps_first_pct2",
        Scheduler::Pct { depth: 2 },
        250,
        |stats| execution(EITHER_WRAPS_FIRST, readers_from_the_start(), stats),
    );
}

/// Invariant 4 from every start: readers attaching at the oldest, the youngest, the end or a
/// given id, before the first write and while the writer runs, start where asked and account
/// for every id after it; random schedules.
#[test]
fn readers_start_where_asked_and_account_exactly_attaching_anytime_random() {
    check(
        "readers_start_where_asked_and_account_exactly_attaching_anytime_random",
        Scheduler::Random,
        250,
        |stats| {
            execution(
                EITHER_WRAPS_FIRST,
                readers_starting_anywhere(EITHER_WRAPS_FIRST),
                stats,
            )
        },
    );
}

/// The same under PCT schedules of depth 3.
#[test]
fn readers_start_where_asked_and_account_exactly_attaching_anytime_pct3() {
    check(
        "readers_start_where_asked_and_account_exactly_attaching_anytime_pct3",
        Scheduler::Pct { depth: 3 },
        250,
        |stats| {
            execution(
                BUFFER_WRAPS_FIRST,
                readers_starting_anywhere(BUFFER_WRAPS_FIRST),
                stats,
            )
        },
    );
}
