//! The file layer in the simulator: fmq's real `Writer::create` (with and without
//! `replace`), `Writer::open` (with its recovery), `Writer::write`/`flush`/drop,
//! `Reader::open` and reads, `fmq::remove`/`force_remove`/`clear`/`check`, run by simulated
//! processes on the simulated kernel of [`crate::fs`], interleaved at every call of the file
//! layer, with processes killed and the power lost between any two of those calls, lock files
//! removed under their holders, queues named two ways, and another user's files planted where
//! fmq's go.
//!
//! # What is checked (the spec, `docs/design.md` and `docs/safety.md`; not fmq's code)
//!
//! * **One writer** (invariant 1): whenever a `Writer::create` or `Writer::open` returns a
//!   writer, no other live process holds a writer of the same data (the inode of the first
//!   data file it mapped), however the queue is named.
//! * **Nothing acknowledged is lost**: a message whose `write` returned in a process that was
//!   still alive afterwards survives the death of any process; one acknowledged before a
//!   `flush()` that returned survives a power loss. Checked by every writer that opens the
//!   queue (a reader in the same process reads the whole window right after the recovery) and
//!   by every reader: every message read was written under that id, with those bytes.
//! * **Whole or gone**: the queue the name leads to is always one of a set of candidates the
//!   history allows (the queue as it was, a re-creation's fresh queue, nothing after a
//!   remove), never a mix: a re-created `.stat` + `.buf` pair is the old pair or the new one,
//!   and a writer can open whatever a dead creator, remover or writer left.
//! * **Nothing is left behind** and **another's files are never touched**: after a round in
//!   which nobody died and a writer opened or created the queue, no temporary or backup name
//!   of the queue remains; every planted file keeps its bytes and its owner.
//! * **Available**: once no writer lives, a writer can open a queue that exists.
//!
//! The ring never wraps here (each incarnation's writes fit its queue): retirement, lag and
//! torn pages are the other simulator's (`harness.rs`), which runs fmq-core store by store.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fmq::__sim::Os;
use fmq::{CreateOptions, LagPolicy, ReaderOptions, StartAt, WaitStrategy, WriterOptions};

use crate::fs::{self, Config, Fault, Kernel, Pid, YieldPoint};
use crate::rng::Rng;

/// The user the queue belongs to.
const USER: u32 = 1000;
/// Another local user.
const OTHER_USER: u32 = 2000;

/// A run that failed.
#[derive(Clone, Debug)]
pub struct FilesFailure {
    /// Its seed.
    pub seed: u64,
    /// The round it failed in.
    pub round: u64,
    /// What was wrong.
    pub what: String,
    /// The configuration.
    pub swarm: String,
    /// The last events.
    pub trace: Vec<String>,
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilesStats {
    /// Rounds run.
    pub rounds: u64,
    /// Jobs run.
    pub jobs: u64,
    /// Calls of the file layer (yield points).
    pub calls: u64,
    /// Processes killed (at a call or between rounds).
    pub kills: u64,
    /// Power losses.
    pub power_losses: u64,
    /// Writers that created a queue.
    pub creates: u64,
    /// Of them, re-creations (`replace`).
    pub replaces: u64,
    /// Writers that opened (and recovered) a queue.
    pub opens: u64,
    /// Removes that succeeded.
    pub removes: u64,
    /// Messages acknowledged.
    pub acked: u64,
    /// Messages read back and checked (recoveries and readers).
    pub checked: u64,
    /// Refusals (an error returned by create, open, remove, ...).
    pub refusals: u64,
    /// Lock files removed under their holder.
    pub lock_unlinks: u64,
}

impl FilesStats {
    /// Adds another run's counters.
    pub fn add(&mut self, o: &FilesStats) {
        self.rounds += o.rounds;
        self.jobs += o.jobs;
        self.calls += o.calls;
        self.kills += o.kills;
        self.power_losses += o.power_losses;
        self.creates += o.creates;
        self.replaces += o.replaces;
        self.opens += o.opens;
        self.removes += o.removes;
        self.acked += o.acked;
        self.checked += o.checked;
        self.refusals += o.refusals;
        self.lock_unlinks += o.lock_unlinks;
    }
}

/// One queue as a writer made it: its messages, by id.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Incarnation {
    generation: u64,
    slots_count: u32,
    buf_size_bytes: u64,
    /// Must be there after any process's death.
    acked: BTreeMap<u64, Vec<u8>>,
    /// Must be there after a power loss: acknowledged before a `flush()` returned.
    flushed: BTreeSet<u64>,
    /// May be there: written by a process that died in the `write`, or acknowledged and
    /// not flushed before a power loss.
    maybe: BTreeMap<u64, Vec<u8>>,
    /// Writes attempted (the ring must not wrap: see the module doc).
    attempts: u64,
}

impl Incarnation {
    fn new(generation: u64, slots_count: u32, buf_size_bytes: u64) -> Incarnation {
        Incarnation {
            generation,
            slots_count,
            buf_size_bytes,
            acked: BTreeMap::new(),
            flushed: BTreeSet::new(),
            maybe: BTreeMap::new(),
            attempts: 0,
        }
    }

    /// What a power loss leaves required: the flushed messages.
    fn power_loss(&mut self) {
        let acked = std::mem::take(&mut self.acked);
        for (id, p) in acked {
            if self.flushed.contains(&id) {
                self.acked.insert(id, p);
            } else {
                self.maybe.insert(id, p);
            }
        }
    }

    /// Whether an observation of `generation` holding `messages` can be this queue; on a
    /// match, the queue as observed (what was read is now what is there).
    fn matches(&self, obs: &Observation) -> Result<Incarnation, String> {
        if obs.generation != self.generation {
            return Err(format!(
                "generation {} is not {}",
                obs.generation, self.generation
            ));
        }
        for (id, p) in &self.acked {
            match obs.messages.get(id) {
                Some(got) if got == p => {}
                Some(_) => return Err(format!("acknowledged id {id} reads back different bytes")),
                None => return Err(format!("acknowledged id {id} is missing")),
            }
        }
        for (id, got) in &obs.messages {
            let known = self.acked.get(id).or_else(|| self.maybe.get(id));
            if known != Some(got) {
                return Err(format!("id {id} holds bytes no writer wrote under it"));
            }
        }
        let mut now = self.clone();
        now.acked = obs.messages.clone();
        now.maybe.clear();
        now.flushed.retain(|id| obs.messages.contains_key(id));
        Ok(now)
    }
}

/// What the name can lead to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Candidate {
    /// No queue.
    Absent,
    /// A queue some writer made.
    Queue(Incarnation),
    /// A queue a creator that died (or has not returned) formatted: empty, this size.
    Fresh {
        slots_count: u32,
        buf_size_bytes: u64,
    },
}

/// A writer's view right after it opened the queue: what a reader read.
#[derive(Clone, Debug)]
struct Observation {
    generation: u64,
    slots_count: u32,
    buf_size_bytes: u64,
    messages: BTreeMap<u64, Vec<u8>>,
}

/// Everything the jobs report to, shared with the process threads (never locked across a
/// call of fmq).
#[derive(Default)]
struct World {
    /// The writers' locking: `BestEffort` on a file system without OFD locks (`On` would
    /// refuse every writer there).
    locking: fmq::Locking,
    candidates: Vec<Candidate>,
    /// Live writers.
    holders: BTreeMap<Pid, Holder>,
    /// The incarnation each writer writes (by generation), including queues removed under
    /// their writer.
    incarnations: BTreeMap<u64, Incarnation>,
    /// Queues seen gone (a writer's open found no queue) after a remove that died: its rename
    /// was not made durable, and a power loss may bring them back (with what their writers
    /// flushed into them meanwhile). By generation, with the round they were seen gone in; a
    /// directory sync of a later round (a create, a writer's open, a remove that returned)
    /// makes the removal durable. A remove that returns is durable (it syncs the directory).
    maybe_back: BTreeMap<u64, u64>,
    /// The round running.
    round: u64,
    /// Every message ever written, by payload (payloads are unique): (generation, id).
    written: BTreeMap<Vec<u8>, (u64, u64)>,
    failure: Option<String>,
    trace: Vec<String>,
    stats: FilesStats,
    deaths_this_round: u64,
    opened_this_round: bool,
    /// A death may have left temporary or backup names that no writer has repaired yet.
    dirty: bool,
    /// The queue is in shared memory (a tmpfs): a power loss takes it whole.
    volatile: bool,
}

/// A live writer.
#[derive(Clone, Debug)]
struct Holder {
    /// The inode of the first data file it mapped.
    ino: u64,
    /// The name it opened.
    spec: String,
    /// A forced remove took its queue away (it writes on, to files nobody can open).
    orphaned: bool,
}

impl World {
    fn fail(&mut self, what: String) {
        if self.failure.is_none() {
            self.failure = Some(what);
        }
    }

    fn note(&mut self, line: String) {
        self.trace.push(line);
        if self.trace.len() > 60 {
            self.trace.remove(0);
        }
    }

    /// A writer returned to `pid`: nobody else alive holds the same data, nor the queue of
    /// the same name (unless a forced remove took that one away).
    fn acquired(&mut self, k: &Kernel, pid: Pid, ino: u64, spec: &str, primary: bool) {
        self.holders.retain(|p, _| k.is_alive(*p));
        let other = self
            .holders
            .iter()
            .find(|(p, h)| **p != pid && (h.ino == ino || (h.spec == spec && !h.orphaned)));
        if let Some((other, h)) = other {
            let what = format!(
                "one writer: pid {pid} got a writer of {spec} (inode {ino}) while pid {other}, \
                 alive, holds one of {} (inode {})",
                h.spec, h.ino
            );
            self.fail(what);
        }
        self.holders.insert(
            pid,
            Holder {
                ino,
                spec: spec.to_string(),
                orphaned: false,
            },
        );
        // Only the first name's directory is checked for leftovers (a writer repairs the
        // name it opens).
        self.opened_this_round |= primary;
    }

    /// A call that syncs the queue's directory returned, in `round`: removals seen in earlier
    /// rounds are durable.
    fn synced_dir(&mut self) {
        let round = self.round;
        self.maybe_back.retain(|_, seen| *seen >= round);
    }

    /// Matches an observation against the candidates and collapses them to it.
    fn observe(&mut self, obs: &Observation) {
        self.stats.checked += obs.messages.len() as u64;
        let mut why = Vec::new();
        for c in &self.candidates {
            match c {
                Candidate::Queue(inc) => match inc.matches(obs) {
                    Ok(now) => {
                        self.incarnations.insert(now.generation, now.clone());
                        self.candidates = vec![Candidate::Queue(now)];
                        return;
                    }
                    Err(e) => why.push(e),
                },
                Candidate::Fresh {
                    slots_count,
                    buf_size_bytes,
                } => {
                    let old = self.incarnations.contains_key(&obs.generation);
                    if *slots_count == obs.slots_count
                        && *buf_size_bytes == obs.buf_size_bytes
                        && obs.messages.is_empty()
                        && !old
                    {
                        let inc =
                            Incarnation::new(obs.generation, obs.slots_count, obs.buf_size_bytes);
                        self.incarnations.insert(inc.generation, inc.clone());
                        self.candidates = vec![Candidate::Queue(inc)];
                        return;
                    }
                    why.push(format!(
                        "not the fresh queue of {slots_count} slots, {buf_size_bytes} bytes \
                         (got {} slots, {} bytes, {} messages, generation {} {})",
                        obs.slots_count,
                        obs.buf_size_bytes,
                        obs.messages.len(),
                        obs.generation,
                        if old { "of an earlier queue" } else { "new" }
                    ));
                }
                Candidate::Absent => why.push("not absent".into()),
            }
        }
        self.fail(format!(
            "whole or gone: the queue a writer opened (generation {}, ids {:?}) is none of what \
             the history allows: {}",
            obs.generation,
            obs.messages.keys().collect::<Vec<_>>(),
            why.join("; ")
        ));
    }

    /// A message read by a reader: written under that id by someone.
    fn check_read(&mut self, id: u64, payload: &[u8]) {
        self.stats.checked += 1;
        match self.written.get(payload) {
            Some(&(_, wid)) if wid == id => {}
            Some(&(g, wid)) => self.fail(format!(
                "a reader got, as id {id}, the bytes written as id {wid} of generation {g}"
            )),
            None => self.fail(format!("a reader got, as id {id}, bytes nobody wrote")),
        }
    }

    fn power_loss(&mut self) {
        self.holders.clear();
        if self.volatile {
            self.candidates = vec![Candidate::Absent];
            self.maybe_back.clear();
            return;
        }
        for inc in self.incarnations.values_mut() {
            inc.power_loss();
        }
        for c in &mut self.candidates {
            if let Candidate::Queue(inc) = c {
                inc.power_loss();
            }
        }
        // After the reboot what is on disk is all there is: what did not come back is gone.
        for (g, _) in std::mem::take(&mut self.maybe_back) {
            if let Some(old) = self.incarnations.get(&g) {
                self.candidates.push(Candidate::Queue(old.clone()));
            }
        }
    }
}

thread_local! {
    /// The writer a simulated process holds (each process is a thread of its own).
    static WRITER: RefCell<Option<fmq::Writer>> = const { RefCell::new(None) };
}

/// The swarm configuration of one seed.
#[derive(Clone, Debug)]
struct Swarm {
    shared_memory: bool,
    /// Names of the same queue (a hard-linked pair of files, or two `shmem_KEY` names).
    aliases: Vec<String>,
    /// The data files of the first name, and its directory.
    dir: PathBuf,
    capacity_bytes: u64,
    kill_ppm: u32,
    power_ppm: u32,
    rounds: u64,
    pid_reuse: bool,
    clock_steps: bool,
    plant: bool,
    /// Whether the file system has OFD locks (the writer token); not drawn from the seed
    /// (`fmq-sim --files --no-ofd-locks`), so a seed runs the same either way until fmq's
    /// calls differ.
    ofd_locks: bool,
}

impl Swarm {
    fn draw(rng: &mut Rng, rounds_max: u64) -> Swarm {
        let shared_memory = rng.chance(300_000);
        // Two names of one queue: two `shmem_KEY` specs in different directories name one
        // segment, each with its own lock file (issue 13, item 2).
        let two_names = rng.chance(400_000);
        let (aliases, dir) = if shared_memory {
            let mut a = vec!["/q/a/shmem_77".to_string()];
            if two_names {
                a.push("/q/b/shmem_77".into());
            }
            (a, PathBuf::from("/dev/shm"))
        } else {
            (vec!["/q/a/radar".to_string()], PathBuf::from("/q/a"))
        };
        Swarm {
            shared_memory,
            aliases,
            dir,
            capacity_bytes: if rng.chance(200_000) {
                rng.range(8_192, 200_000)
            } else {
                1 << 30
            },
            kill_ppm: rng.pick(&[0, 2_000, 10_000, 40_000]),
            power_ppm: rng.pick(&[0, 0, 1_000, 5_000]),
            rounds: rng.range(rounds_max.div_ceil(4), rounds_max.max(1)),
            pid_reuse: rng.chance(300_000),
            clock_steps: rng.chance(300_000),
            plant: rng.chance(150_000),
            ofd_locks: true,
        }
    }
}

/// The data files of queue `spec`.
fn data_files(spec: &str) -> Vec<PathBuf> {
    match spec.strip_suffix("radar") {
        Some(dir) => vec![
            PathBuf::from(format!("{dir}radar.stat")),
            PathBuf::from(format!("{dir}radar.buf")),
        ],
        None => vec![PathBuf::from("/dev/shm/fmq.shmem_77")],
    }
}

/// One seeded run.
pub fn run_files(seed: u64, rounds_max: u64, echo: bool) -> Result<FilesStats, FilesFailure> {
    run_files_on(seed, rounds_max, echo, true)
}

/// One seeded run on a file system with or without OFD locks: without, writers run with
/// `Locking::BestEffort` and the lock file alone keeps a second writer out (the writer
/// token, which covers a lock file's defects where it exists, is not there).
pub fn run_files_on(
    seed: u64,
    rounds_max: u64,
    echo: bool,
    ofd_locks: bool,
) -> Result<FilesStats, FilesFailure> {
    // The forwarder serves one kernel per OS process (`Kernel::activate`): runs of two
    // threads (tests of one binary) take turns.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(seed);
    let mut swarm = Swarm::draw(&mut rng, rounds_max);
    swarm.ofd_locks = ofd_locks;
    if !ofd_locks {
        // Two names of one segment have two lock files: only the token tells their writers
        // apart (docs/safety.md, not defended without OFD locks).
        swarm.aliases.truncate(1);
    }
    let mut sim = Sim::new(seed, &swarm, rng, echo);
    let outcome = sim.run();
    let stats = sim.finish();
    match outcome {
        Ok(()) => Ok(stats),
        Err((round, what)) => {
            let world = sim.world.lock().unwrap_or_else(|e| e.into_inner());
            Err(FilesFailure {
                seed,
                round,
                what,
                swarm: format!("{swarm:?}"),
                trace: world.trace.clone(),
            })
        }
    }
}

struct Sim {
    kernel: Arc<Kernel>,
    world: Arc<Mutex<World>>,
    swarm: Swarm,
    rng: Rng,
    /// The payload counter (payloads are unique in a run).
    serial: u64,
    echo: bool,
    /// Planted files: path -> (uid, bytes).
    planted: BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>,
    /// Every process spawned.
    pids: Vec<Pid>,
}

impl Sim {
    fn new(seed: u64, swarm: &Swarm, mut rng: Rng, echo: bool) -> Sim {
        fs::install_forwarder();
        let kernel = Kernel::new(Config {
            seed: rng.next_u64(),
            capacity: swarm.capacity_bytes,
            pid_reuse: swarm.pid_reuse,
            ntp_step_ppm: if swarm.clock_steps { 20_000 } else { 0 },
            ofd_locks: swarm.ofd_locks,
            ..Config::default()
        });
        Kernel::activate(&kernel);
        for (d, uid) in [
            ("/q/a", USER),
            ("/q/b", USER),
            ("/dev/shm", 0),
            ("/q/victim", OTHER_USER),
        ] {
            kernel
                .mkdir(Path::new(d), uid)
                .unwrap_or_else(|e| panic!("fmq-sim: mkdir {d}: {e}"));
        }

        let world = Arc::new(Mutex::new(World {
            locking: if swarm.ofd_locks {
                fmq::Locking::On
            } else {
                fmq::Locking::BestEffort
            },
            candidates: vec![Candidate::Absent],
            volatile: swarm.shared_memory,
            ..World::default()
        }));
        let _ = seed;
        Sim {
            kernel,
            world,
            swarm: swarm.clone(),
            rng,
            serial: 0,
            echo,
            planted: BTreeMap::new(),
            pids: Vec::new(),
        }
    }

    fn spawn(&mut self, uid: u32) -> Pid {
        let pid = self.kernel.spawn_process(uid);
        self.pids.push(pid);
        pid
    }

    fn kill_all(&mut self) {
        for &pid in &self.pids {
            self.kernel.kill(pid);
        }
        self.kernel.run();
        self.world().holders.clear();
    }

    /// A planted file as it is now: its owner, and its bytes (`None`: a symbolic link).
    fn peek(&self, path: &Path) -> Option<(u32, Option<Vec<u8>>)> {
        let (dir, name) = (path.parent()?, path.file_name()?);
        let entries = self.kernel.list(dir).ok()?;
        let (_, meta) = entries.into_iter().find(|(n, _)| n == name)?;
        if meta.is_symlink() {
            return Some((meta.uid, None));
        }
        Some((meta.uid, Some(self.kernel.read_file(path)?)))
    }

    /// The names in `dir`.
    fn names(&self, dir: &Path) -> Vec<String> {
        self.kernel
            .list(dir)
            .map(|v| {
                v.into_iter()
                    .map(|(n, _)| n.to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(&self, line: String) {
        if self.echo {
            eprintln!("{line}");
        }
        self.world().note(line);
    }

    fn finish(&mut self) -> FilesStats {
        // Every process dies; their threads drop what they held (with no effect) and end.
        self.kill_all();
        let calls = self.kernel.events().yield_points;
        let mut w = self.world();
        w.stats.calls = calls;
        w.stats
    }

    fn run(&mut self) -> Result<(), (u64, String)> {
        if self.swarm.plant {
            self.plant();
        }
        for round in 0..self.swarm.rounds {
            self.round(round);
            self.check_after_round(round);
            self.world().stats.rounds += 1;
            if let Some(f) = self.world().failure.clone() {
                return Err((round, f));
            }
        }
        // At the end: nobody alive holds it, so a writer can open whatever is there.
        self.kill_all();
        self.settle(self.swarm.rounds);
        let f = self.world().failure.clone();
        match f {
            Some(f) => Err((self.swarm.rounds, f)),
            None => Ok(()),
        }
    }

    /// Another user's files where fmq's go: a lock file, a symbolic link to a victim file,
    /// or a file without fmq's magic under a data name. fmq must refuse, and never touch
    /// them.
    fn plant(&mut self) {
        let spec = self.swarm.aliases[0].clone();
        let victim = PathBuf::from("/q/victim/passwd");
        let planted = |r: std::io::Result<()>| r.unwrap_or_else(|e| panic!("fmq-sim: plant: {e}"));
        planted(
            self.kernel
                .create_file(&victim, OTHER_USER, b"root:x:0:0\n"),
        );
        self.planted
            .insert(victim.clone(), (OTHER_USER, Some(b"root:x:0:0\n".to_vec())));
        let data = data_files(&spec);
        match self.rng.below(3) {
            0 => {
                let lock = PathBuf::from(format!("{spec}.lock"));
                planted(self.kernel.create_file(&lock, OTHER_USER, b"1\n"));
                self.planted
                    .insert(lock, (OTHER_USER, Some(b"1\n".to_vec())));
            }
            1 => {
                planted(self.kernel.symlink(&victim, &data[0], OTHER_USER));
                self.planted.insert(data[0].clone(), (OTHER_USER, None));
            }
            _ => {
                planted(
                    self.kernel
                        .create_file(&data[0], USER, b"my notes, not a queue\n"),
                );
                self.planted.insert(
                    data[0].clone(),
                    (USER, Some(b"my notes, not a queue\n".to_vec())),
                );
            }
        }
        self.note(format!(
            "planted {:?}",
            self.planted.keys().collect::<Vec<_>>()
        ));
    }

    fn spec(&mut self) -> String {
        let a = &self.swarm.aliases;
        if a.len() > 1 && self.rng.chance(500_000) {
            return a[1].clone();
        }
        a[0].clone()
    }

    fn payload(&mut self) -> Vec<u8> {
        self.serial += 1;
        let len = self.rng.range(0, 40) as usize;
        let mut p = format!("m{}:", self.serial).into_bytes();
        p.extend(self.rng.bytes(len));
        p
    }

    /// One round: one to three jobs run concurrently, interleaved at every call, with the
    /// fault plan killing the caller or losing the power at any call.
    fn round(&mut self, round: u64) {
        {
            let mut w = self.world();
            w.deaths_this_round = 0;
            w.opened_this_round = false;
            w.round = round;
        }
        let plan_rng = Arc::new(Mutex::new(self.rng.fork()));
        let (kill_ppm, power_ppm) = (self.swarm.kill_ppm, self.swarm.power_ppm);
        let world = Arc::clone(&self.world);
        let echo = self.echo;
        self.kernel
            .set_fault_plan(Some(Box::new(move |at: &YieldPoint| {
                let mut rng = plan_rng.lock().unwrap_or_else(|e| e.into_inner());
                let fault = if rng.chance(power_ppm) {
                    Fault::PowerLoss
                } else if rng.chance(kill_ppm) {
                    Fault::Kill
                } else {
                    Fault::None
                };
                if fault != Fault::None {
                    let line = format!(
                        "  {fault:?} at call #{} of pid {}: {} {:?}",
                        at.index, at.pid, at.call, at.path
                    );
                    if echo {
                        eprintln!("{line}");
                    }
                    let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
                    w.note(line);
                    w.deaths_this_round += 1;
                    w.dirty = true;
                    if fault == Fault::PowerLoss {
                        w.stats.power_losses += 1;
                        w.power_loss();
                    } else {
                        w.stats.kills += 1;
                        w.holders.remove(&at.pid);
                    }
                }
                fault
            })));
        let jobs = self.rng.range(1, 3);
        for _ in 0..jobs {
            self.submit_job(round, jobs == 1);
        }
        self.kernel.run();
        // Between rounds: a kill or a power loss of its own.
        let r = self.rng.below(1_000_000) as u32;
        if r < self.swarm.power_ppm * 20 {
            self.note(format!("round {round}: power loss between rounds"));
            self.kernel.power_loss();
            let mut w = self.world();
            w.stats.power_losses += 1;
            w.deaths_this_round += 1;
            w.dirty = true;
            w.power_loss();
        } else if r < self.swarm.power_ppm * 20 + self.swarm.kill_ppm * 5 {
            let holders: Vec<Pid> = self.world().holders.keys().copied().collect();
            if let Some(&pid) = holders.first() {
                self.note(format!("round {round}: kill the writer, pid {pid}"));
                self.kernel.set_fault_plan(None);
                self.kernel.kill(pid);
                self.kernel.run();
                let mut w = self.world();
                w.stats.kills += 1;
                w.deaths_this_round += 1;
                w.dirty = true;
                w.holders.remove(&pid);
            }
        }
    }

    /// Submits one job. A forced remove runs only alone: it may delete a queue whose
    /// creator has not returned yet, and the history here is written as the jobs return.
    fn submit_job(&mut self, round: u64, alone: bool) {
        let holders: Vec<Pid> = {
            let k = Arc::clone(&self.kernel);
            let mut w = self.world();
            w.holders.retain(|p, _| k.is_alive(*p));
            w.holders.keys().copied().collect()
        };
        let holder = holders.first().copied();
        let action = self.rng.weighted(&[
            8,                                     // 0 create
            6,                                     // 1 create --force
            10,                                    // 2 open
            if holder.is_some() { 30 } else { 0 }, // 3 write
            if holder.is_some() { 10 } else { 0 }, // 4 flush
            if holder.is_some() { 6 } else { 0 },  // 5 close
            4,                                     // 6 remove
            if alone { 3 } else { 0 },             // 7 force remove
            8,                                     // 8 read
            // Without OFD locks only the lock file keeps a second writer out: removing it
            // under its holder is the "not defended" of docs/safety.md there.
            if self.swarm.ofd_locks { 4 } else { 0 }, // 9 remove the lock file
            2,                                        // 10 clear
            2,                                        // 11 check
        ]);
        let spec = self.spec();
        // File-backed, a second name is a hard link of the first's files, until a create or
        // a remove under it makes it a queue of its own: only the first name's history is
        // modelled (the one-writer check covers both).
        let primary = self.swarm.shared_memory || spec == self.swarm.aliases[0];
        let job = Job {
            round,
            alone,
            spec,
            primary,
            k: Arc::clone(&self.kernel),
            world: Arc::clone(&self.world),
        };
        self.world().stats.jobs += 1;
        let slots_count = self.rng.pick(&[4u32, 8, 16]);
        let buf_size_bytes = self.rng.pick(&[4096u64, 8192]);
        match action {
            0 | 1 => {
                let create = Create {
                    replace: action == 1,
                    added_fresh: false,
                    slots_count,
                    buf_size_bytes,
                };
                self.submit_create(job, create);
            }
            6 | 7 => self.submit_remove(job, action == 7),
            _ => {
                let pid = match action {
                    3..=5 => holder.expect("a holder"),
                    _ => self.spawn(USER),
                };
                let what = match action {
                    2 => format!("opens {} as a writer", job.spec),
                    3 => {
                        let n = self.rng.range(1, 4);
                        let payloads: Vec<Vec<u8>> = (0..n).map(|_| self.payload()).collect();
                        self.note(format!("round {round}: pid {pid} writes {n}"));
                        let (k, world) = (Arc::clone(&job.k), job.world);
                        k.clone()
                            .submit(pid, Box::new(move || write_job(&k, &world, pid, payloads)));
                        return;
                    }
                    4 => "flushes".to_string(),
                    5 => "closes its writer".to_string(),
                    8 => format!("reads {}", job.spec),
                    9 => format!("unlinks {}.lock", job.spec),
                    10 => format!("clears {}", job.spec),
                    _ => format!("checks {}", job.spec),
                };
                self.note(format!("round {round}: pid {pid} {what}"));
                let k = Arc::clone(&job.k);
                k.submit(pid, Box::new(move || job.run(action, pid)));
            }
        }
    }

    /// A create, or a create --force (a re-creation).
    fn submit_create(&mut self, job: Job, mut create: Create) {
        let pid = self.spawn(USER);
        let Create {
            replace,
            slots_count,
            buf_size_bytes,
            ..
        } = create;
        self.note(format!(
            "round {}: pid {pid} creates {} ({slots_count} slots, {buf_size_bytes} B){}",
            job.round,
            job.spec,
            if replace { " --force" } else { "" }
        ));
        create.added_fresh = job.primary && {
            let mut w = self.world();
            let fresh = Candidate::Fresh {
                slots_count,
                buf_size_bytes,
            };
            let add = !w.candidates.contains(&fresh);
            if add {
                w.candidates.push(fresh);
            }
            add
        };
        let k = Arc::clone(&job.k);
        k.submit(pid, Box::new(move || job.create(pid, create)));
    }

    /// A remove, or a forced remove.
    fn submit_remove(&mut self, job: Job, force: bool) {
        let pid = self.spawn(USER);
        self.note(format!(
            "round {}: pid {pid} removes {}{}",
            job.round,
            job.spec,
            if force { " (forced)" } else { "" }
        ));
        let added_absent = job.primary && {
            let mut w = self.world();
            let add = !w.candidates.contains(&Candidate::Absent);
            if add {
                w.candidates.push(Candidate::Absent);
            }
            add
        };
        let k = Arc::clone(&job.k);
        k.submit(pid, Box::new(move || job.remove(pid, force, added_absent)));
    }

    /// After a round: planted files untouched; after a round without deaths, no temporary
    /// or backup names, unless an earlier death left them and no writer has opened since
    /// (a writer's open or create repairs them).
    fn check_after_round(&mut self, round: u64) {
        if self.echo {
            let names = self.names(&self.swarm.dir.clone());
            self.note(format!(
                "  after round {round}: {} holds {names:?}",
                self.swarm.dir.display()
            ));
        }
        self.check_planted();
        let (deaths, dirty) = {
            let mut w = self.world();
            if w.deaths_this_round == 0 && w.opened_this_round {
                w.dirty = false;
            }
            (w.deaths_this_round, w.dirty)
        };
        if deaths == 0 && !dirty {
            let leftovers = self.leftovers();
            if !leftovers.is_empty() {
                self.world().fail(format!(
                    "nothing left behind: after round {round} (no death since a writer last \
                     opened the queue) these remain: {leftovers:?}"
                ));
            }
        }
        if round % 8 == 7 && self.world().holders.is_empty() {
            self.settle(round);
        }
    }

    fn check_planted(&mut self) {
        // A power loss empties the tmpfs (`/dev/shm`), planted files included.
        if self.world().stats.power_losses > 0 {
            self.planted
                .retain(|p, _| !fs::kernel::TMPFS.iter().any(|t| p.starts_with(t)));
        }
        for (path, (uid, bytes)) in &self.planted {
            let now = self.peek(path);
            let ok = match (&now, bytes) {
                (Some((u, Some(b))), Some(want)) => u == uid && b == want,
                (Some((u, None)), None) => u == uid,
                _ => false,
            };
            if !ok {
                let what = format!(
                    "another's file touched: {} was {:?} (uid {uid}), is now {:?}",
                    path.display(),
                    bytes
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).into_owned()),
                    now.map(|(u, b)| (u, b.map(|b| String::from_utf8_lossy(&b).into_owned())))
                );
                self.world().fail(what);
                return;
            }
        }
    }

    /// Temporary and backup names of the queue's files (`.NAME.tmp.*`, `.NAME.buf.<gen>`).
    fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let names: Vec<String> = data_files(&self.swarm.aliases[0])
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        {
            let dir = self.swarm.dir.clone();
            for name in self.names(&dir) {
                if names.iter().any(|n| name.starts_with(&format!(".{n}."))) {
                    out.push(format!("{}/{name}", dir.display()));
                }
            }
        }
        out
    }

    /// With no writer alive: a writer must be able to open a queue that exists (and the
    /// opening checks what it finds), then closes it cleanly.
    fn settle(&mut self, round: u64) {
        self.kernel.set_fault_plan(None);
        let spec = self.swarm.aliases[0].clone();
        let pid = self.spawn(USER);
        self.note(format!("round {round}: settle: pid {pid} opens {spec}"));
        let k = Arc::clone(&self.kernel);
        let world = Arc::clone(&self.world);
        let planted = !self.planted.is_empty();
        self.kernel.clone().submit(
            pid,
            Box::new(move || {
                let opened = open_job(&k, &world, pid, &spec, true);
                let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
                match opened {
                    Ok(()) => {}
                    Err(fmq::OpenError::NotFound { .. })
                        if w.candidates.contains(&Candidate::Absent) =>
                    {
                        let gone: Vec<u64> = w
                            .candidates
                            .iter()
                            .filter_map(|c| match c {
                                Candidate::Queue(i) => Some(i.generation),
                                _ => None,
                            })
                            .collect();
                        for g in gone {
                            let seen = w.round;
                            w.maybe_back.insert(g, seen);
                        }
                        w.candidates = vec![Candidate::Absent];
                    }
                    Err(_) if planted => {}
                    Err(e) => {
                        let names: Vec<String> = w.candidates.iter().map(candidate_name).collect();
                        w.fail(format!(
                            "available: with no writer alive, a writer cannot open the queue: {e} \
                         (candidates: {names:?})"
                        ));
                    }
                }
                drop(w);
                drop(WRITER.with(|c| c.borrow_mut().take()));
                world
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .holders
                    .remove(&pid);
            }),
        );
        self.kernel.run();
    }
}

/// What a job runs with: its round, whether it runs alone, the name it works on and whether
/// that name's history is modelled, the kernel and the world.
struct Job {
    round: u64,
    alone: bool,
    spec: String,
    primary: bool,
    k: Arc<Kernel>,
    world: Arc<Mutex<World>>,
}

/// A create's parameters; `added_fresh` says the job put the fresh candidate in place.
#[derive(Clone, Copy)]
struct Create {
    replace: bool,
    added_fresh: bool,
    slots_count: u32,
    buf_size_bytes: u64,
}

impl Job {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The jobs that need no preparation in the dispatching thread.
    fn run(self, action: usize, pid: Pid) {
        match action {
            2 => {
                let _ = open_job(&self.k, &self.world, pid, &self.spec, self.primary);
            }
            4 => self.flush(pid),
            5 => {
                // It stops being the writer when its drop begins: a writer that opens
                // while the drop runs is not a second writer (the drop clears the mark
                // before it gives the token up, `fmq/src/writer.rs`).
                self.world().holders.remove(&pid);
                let writer = WRITER.with(|c| c.borrow_mut().take());
                drop(writer);
            }
            8 => self.read(pid),
            9 => {
                // The user (or a script of theirs) removes the lock file, whoever holds it.
                let lock = PathBuf::from(format!("{}.lock", self.spec));
                if self.k.unlink(&lock).is_ok() {
                    self.world().stats.lock_unlinks += 1;
                }
            }
            10 => {
                let _ = fmq::clear(self.spec.as_str());
            }
            _ => {
                let _ = fmq::check(self.spec.as_str());
            }
        }
    }

    fn create(self, pid: Pid, create: Create) {
        let Create {
            replace,
            added_fresh,
            slots_count,
            buf_size_bytes,
        } = create;
        let locking = self.world().locking;
        let opts = CreateOptions {
            slots_count,
            buf_size_bytes,
            replace,
            writer: WriterOptions {
                locking,
                ..WriterOptions::default()
            },
            ..CreateOptions::default()
        };
        let r = fmq::Writer::create(self.spec.as_str(), &opts);
        let alive = self.k.is_alive(pid);
        // A dead process's writer is dropped here, before the world is locked (a drop calls
        // the file layer, where other processes may run).
        let r = match r {
            Ok(writer) if !alive => {
                drop(writer);
                return;
            }
            r => r,
        };
        let mut w = self.world();
        match r {
            Ok(writer) => {
                w.acquired(
                    &self.k,
                    pid,
                    writer.__sim_data_ino(),
                    &self.spec,
                    self.primary,
                );
                let inc = Incarnation::new(writer.generation(), slots_count, buf_size_bytes);
                w.incarnations.insert(inc.generation, inc.clone());
                if self.primary {
                    w.candidates = vec![Candidate::Queue(inc)];
                    w.synced_dir();
                }
                w.stats.creates += 1;
                w.stats.replaces += u64::from(replace);
                w.note(format!(
                    "  pid {pid}: created, generation {}",
                    writer.generation()
                ));
                drop(w);
                WRITER.with(|c| *c.borrow_mut() = Some(writer));
            }
            Err(e) if alive => {
                // A create that fails leaves nothing: the name leads where it did (taken
                // back only when it ran alone: with other jobs in the round the candidates
                // stay a superset of what may be there).
                let fresh = Candidate::Fresh {
                    slots_count,
                    buf_size_bytes,
                };
                if let Some(i) = w.candidates.iter().position(|c| *c == fresh) {
                    if self.alone && added_fresh && w.candidates.len() > 1 {
                        w.candidates.remove(i);
                    }
                }
                w.stats.refusals += 1;
                w.note(format!("  pid {pid}: create refused: {e}"));
            }
            Err(_) => {}
        }
    }

    /// A flush that returned makes what the writer had acknowledged durable.
    fn flush(self, pid: Pid) {
        let Some((r, generation, youngest)) = WRITER.with(|c| {
            c.borrow()
                .as_ref()
                .map(|wr| (wr.flush(), wr.generation(), wr.youngest_id().0))
        }) else {
            return;
        };
        if r.is_err() || !self.k.is_alive(pid) {
            return;
        }
        let mut w = self.world();
        let flushed = |inc: &mut Incarnation| {
            let ids: Vec<u64> = inc
                .acked
                .keys()
                .copied()
                .filter(|&i| i <= youngest)
                .collect();
            inc.flushed.extend(ids);
        };
        if let Some(inc) = w.incarnations.get_mut(&generation) {
            flushed(inc);
        }
        for c in &mut w.candidates {
            if let Candidate::Queue(inc) = c {
                if inc.generation == generation {
                    flushed(inc);
                }
            }
        }
    }

    fn remove(self, pid: Pid, force: bool, added_absent: bool) {
        // The queues there as it starts: one a concurrent create makes meanwhile may come
        // after the removal.
        let before: BTreeSet<u64> = self
            .world()
            .candidates
            .iter()
            .filter_map(|c| match c {
                Candidate::Queue(i) => Some(i.generation),
                _ => None,
            })
            .collect();
        let r = if force {
            fmq::force_remove(self.spec.as_str())
        } else {
            fmq::remove(self.spec.as_str())
        };
        let alive = self.k.is_alive(pid);
        let mut w = self.world();
        // A forced remove takes the queue from under its writer; one that died may have done
        // so already.
        if force && (r.is_ok() || !alive) {
            let shm = self.spec.contains("shmem_");
            for h in w.holders.values_mut() {
                if h.spec == self.spec || shm {
                    h.orphaned = true;
                }
            }
        }
        match r {
            Ok(()) if alive => {
                w.stats.removes += 1;
                if self.primary {
                    w.synced_dir();
                    // A creator of this round that died, has not returned or returned
                    // meanwhile may have put its fresh queue in place after the remove.
                    w.candidates.retain(|c| match c {
                        Candidate::Fresh { .. } => true,
                        Candidate::Queue(i) => !before.contains(&i.generation),
                        Candidate::Absent => false,
                    });
                    w.candidates.push(Candidate::Absent);
                }
                w.note(format!("  pid {pid}: removed"));
            }
            Err(e) if alive => {
                w.stats.refusals += 1;
                if self.alone && added_absent {
                    w.candidates.retain(|c| *c != Candidate::Absent);
                }
                w.note(format!("  pid {pid}: remove refused: {e}"));
            }
            _ => {}
        }
    }

    fn read(self, pid: Pid) {
        let got = read_all(&self.spec);
        if !self.k.is_alive(pid) {
            return;
        }
        let mut w = self.world();
        match got {
            Ok((_, messages)) => {
                for (id, p) in messages {
                    w.check_read(id, &p);
                }
            }
            // A re-creation in progress is not corruption: readers wait for the pair to be
            // complete (unless its creator died half way).
            Err(ReadFail::Open(e @ fmq::OpenError::MismatchedFiles { .. })) => {
                if w.deaths_this_round == 0 && !w.dirty {
                    w.fail(format!(
                        "a reader took a re-creation in progress for corruption: {e}"
                    ));
                }
            }
            Err(e) => w.note(format!("  pid {pid}: read: {e}")),
        }
    }
}

fn candidate_name(c: &Candidate) -> String {
    match c {
        Candidate::Absent => "absent".into(),
        Candidate::Queue(i) => format!("generation {} with {} acked", i.generation, i.acked.len()),
        Candidate::Fresh {
            slots_count,
            buf_size_bytes,
        } => {
            format!("fresh {slots_count} slots {buf_size_bytes} B")
        }
    }
}

/// Reads the whole window of `spec`: (youngest id, messages by id).
fn read_all(spec: &str) -> Result<(u64, BTreeMap<u64, Vec<u8>>), ReadFail> {
    let opts = ReaderOptions {
        start: StartAt::Oldest,
        lag_policy: LagPolicy::ResumeAtOldest,
        wait: WaitStrategy::poll(std::time::Duration::from_millis(1)),
        max_message_bytes: u64::MAX,
    };
    let mut reader = fmq::Reader::open(spec, &opts).map_err(ReadFail::Open)?;
    let youngest = reader.youngest_id().0;
    let mut messages = BTreeMap::new();
    loop {
        match reader.try_read() {
            Ok(m) => {
                messages.insert(m.meta.id.0, m.payload.to_vec());
            }
            Err(fmq::TryReadError::Empty) => break,
            Err(e) => return Err(ReadFail::Read(e.to_string())),
        }
    }
    Ok((youngest, messages))
}

/// Why [`read_all`] failed.
#[derive(Debug)]
enum ReadFail {
    Open(fmq::OpenError),
    Read(String),
}

impl std::fmt::Display for ReadFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFail::Open(e) => e.fmt(f),
            ReadFail::Read(e) => f.write_str(e),
        }
    }
}

/// A writer opens the queue: checks invariant 1, then reads back what recovery kept.
fn open_job(
    k: &Arc<Kernel>,
    world: &Arc<Mutex<World>>,
    pid: Pid,
    spec: &str,
    observe: bool,
) -> Result<(), fmq::OpenError> {
    let locking = world.lock().unwrap_or_else(|e| e.into_inner()).locking;
    let writer = fmq::Writer::open(
        spec,
        &WriterOptions {
            locking,
            ..WriterOptions::default()
        },
    );
    if !k.is_alive(pid) {
        return Ok(());
    }
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            w.stats.refusals += 1;
            w.note(format!("  pid {pid}: open refused: {e}"));
            return Err(e);
        }
    };
    {
        let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
        w.acquired(k, pid, writer.__sim_data_ino(), spec, observe);
        if observe {
            w.synced_dir();
        }
        w.stats.opens += 1;
        w.note(format!(
            "  pid {pid}: opened, generation {}, youngest {}",
            writer.generation(),
            writer.youngest_id().0
        ));
    }
    let got = read_all(spec);
    if observe && k.is_alive(pid) {
        match got {
            Ok((_, messages)) => {
                let obs = Observation {
                    generation: writer.generation(),
                    slots_count: writer.layout().slots_count(),
                    buf_size_bytes: writer.layout().buf_size_bytes(),
                    messages,
                };
                world
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .observe(&obs);
            }
            Err(e) => world
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .note(format!("  pid {pid}: read back failed: {e}")),
        }
    }
    WRITER.with(|c| *c.borrow_mut() = Some(writer));
    Ok(())
}

/// The holder writes: each message is "maybe" before its `write` and acknowledged after it
/// returns, if the process still lives.
fn write_job(k: &Arc<Kernel>, world: &Arc<Mutex<World>>, pid: Pid, payloads: Vec<Vec<u8>>) {
    WRITER.with(|c| {
        let mut c = c.borrow_mut();
        let Some(writer) = c.as_mut() else { return };
        let generation = writer.generation();
        let slots = u64::from(writer.layout().slots_count());
        let room = (writer.layout().buf_size_bytes() / 128).min(slots - 1);
        for p in payloads {
            let id = writer.youngest_id().0 + 1;
            {
                let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
                // The ring never wraps in this simulator: an incarnation takes at most this
                // many write attempts (a power loss issues ids again), each at most 64 bytes.
                let Some(inc) = w.incarnations.get_mut(&generation) else {
                    return;
                };
                if id >= slots || inc.attempts >= room {
                    return;
                }
                inc.attempts += 1;
                w.written.insert(p.clone(), (generation, id));
                if let Some(inc) = w.incarnations.get_mut(&generation) {
                    inc.maybe.insert(id, p.clone());
                }
                for cand in &mut w.candidates {
                    if let Candidate::Queue(inc) = cand {
                        if inc.generation == generation {
                            inc.maybe.insert(id, p.clone());
                        }
                    }
                }
            }
            let r = writer.write(1, 0, &p);
            if !k.is_alive(pid) {
                return;
            }
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            match r {
                Ok(got) if got.0 == id => {
                    w.stats.acked += 1;
                    if let Some(inc) = w.incarnations.get_mut(&generation) {
                        inc.maybe.remove(&id);
                        inc.acked.insert(id, p.clone());
                    }
                    for cand in &mut w.candidates {
                        if let Candidate::Queue(inc) = cand {
                            if inc.generation == generation {
                                inc.maybe.remove(&id);
                                inc.acked.insert(id, p.clone());
                            }
                        }
                    }
                }
                Ok(got) => w.fail(format!(
                    "write returned id {} for the message after {}",
                    got.0,
                    id - 1
                )),
                Err(e) => {
                    w.note(format!("  pid {pid}: write failed: {e}"));
                    return;
                }
            }
        }
    });
}
