//! Everything the store hook sees: the region, the oracle, the readers, the disk, and the
//! crash plan. The hook ([`install`]) runs before every store fmq-core makes; it is the
//! simulator's recorder and its fault injector:
//!
//! 1. it locates the store (stat or buffer word);
//! 2. while the writer is dead it drops the store (the dead writer's code runs on, its
//!    `Drop` included, but nothing reaches memory);
//! 3. it may let readers read first, seeing the state just before this store (DESIGN
//!    invariant 2 against every intermediate state of a write or a recovery);
//! 4. it may kill the writer here, by the crash plan: this store and all later ones are
//!    dropped;
//! 5. otherwise it lets the store through, logs it for the disk model, and updates the
//!    oracle's view of the commit line when the store is to `youngest_id` or `oldest_id`.
//!
//! The hook is thread-local and not re-entered: readers only load.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use fmq_core::header::word as hw;
use fmq_core::sync::hook;
use fmq_core::{LagPolicy, StartAt};

use crate::oracle::{Oracle, Outcome};
use crate::reader::SimReader;
use crate::rng::Rng;
use crate::storage::{Durability, Part, SimRegion, Store};

/// How the writer dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Death {
    /// The process dies; memory keeps what was stored.
    Process,
    /// The machine loses power; the disk keeps what it has.
    Power,
}

/// When the writer dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPlan {
    /// Never (by the hook; the driver may still crash it between operations).
    Never,
    /// Each writer operation (a write, a batch, a recovery) dies with these probabilities
    /// (parts per million), after a number of its stores drawn uniformly from zero to an
    /// estimate of how many it makes ([`World::arm`]).
    PerOp {
        /// Process crash.
        process_ppm: u32,
        /// Power loss.
        power_ppm: u32,
    },
    /// Exactly before the store with this index (0-based, counting the stores let through
    /// since the recorder was installed): the writer completed `index` stores.
    AtStore {
        /// Stores completed before the death.
        index: u64,
        /// How it dies.
        death: Death,
    },
}

/// Counters of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages written (committed or not).
    pub writes: u64,
    /// Batches written.
    pub batches: u64,
    /// Stores the writers made that reached memory.
    pub stores: u64,
    /// Process crashes.
    pub crashes: u64,
    /// Power losses.
    pub power_losses: u64,
    /// Recoveries completed.
    pub recoveries: u64,
    /// Clean restarts (drop, recover).
    pub restarts: u64,
    /// Flushes.
    pub flushes: u64,
    /// Messages read and checked.
    pub reads: u64,
    /// `Lagged` results.
    pub lags: u64,
    /// Ids lost to lag.
    pub missed: u64,
    /// Torn messages reported corrupt after a power loss.
    pub torn: u64,
    /// Reads made from inside the store hook (in the middle of a write or a recovery).
    pub mid_reads: u64,
    /// Reads that straddled a whole writer operation.
    pub straddles: u64,
    /// Messages a recovery from a power loss dropped at the young end (published after the
    /// last flush, their slots not on disk): the commit point went down by this much.
    pub young_dropped: u64,
}

/// The last events of a run, printed with a failure.
#[derive(Default)]
pub struct Trace {
    lines: VecDeque<String>,
    /// Print every event to stderr as it happens.
    pub echo: bool,
}

impl Trace {
    const KEEP: usize = 40;

    /// An empty trace; `echo` prints every event as it happens.
    pub fn new(echo: bool) -> Trace {
        Trace {
            lines: VecDeque::new(),
            echo,
        }
    }

    /// Records an event.
    pub fn note(&mut self, line: String) {
        if self.echo {
            eprintln!("  {line}");
        }
        if self.lines.len() == Self::KEEP {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The last events, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// The commit line and writer mark as the stores left them in memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mirror {
    /// `write_pos` (the recovery hint).
    pub write_pos: u64,
    /// The writer mark word.
    pub mark: u64,
}

/// The hook's state (see the module docs).
pub struct World {
    /// The region in use.
    pub region: SimRegion,
    /// The model.
    pub oracle: Oracle,
    /// The readers (`None` while one is taken out to straddle a write).
    pub readers: Vec<Option<SimReader>>,
    /// The disk, for a file-backed queue.
    pub durability: Option<Durability>,
    /// The hook's random stream.
    pub rng: Rng,
    /// When the writer dies.
    pub plan: CrashPlan,
    /// Set once the writer is dead: every store is dropped until a new recorder.
    pub dead: Option<Death>,
    /// Stores let through since the recorder was installed.
    pub stores_count: u64,
    /// Under [`CrashPlan::PerOp`]: the store index at which the current operation dies.
    pub armed: Option<(u64, Death)>,
    /// Chance that a reader reads before a store, in parts per million.
    pub mid_read_ppm: u32,
    /// Before every store, a fresh reader reads the whole window (exhaustive mode).
    pub probe_every_store: bool,
    /// Turn `probe_every_store` on once the writer dies (to probe every state of the
    /// recovery).
    pub probe_after_death: bool,
    /// Header words as stored.
    pub mirror: Mirror,
    /// The first failure seen inside the hook.
    pub failure: Option<String>,
    /// Counters.
    pub stats: Stats,
    /// Recent events.
    pub trace: Trace,
}

impl World {
    /// The store hook's body: returns whether the store may reach memory.
    pub fn on_store(&mut self, addr: usize, value: u64) -> bool {
        let Some((part, word)) = self.region.locate(addr) else {
            self.fail(format!(
                "store of {value:#x} outside the region at {addr:#x}"
            ));
            return true;
        };
        if self.dead.is_some() {
            return false;
        }
        if self.probe_every_store {
            self.probe("before a store");
        }
        if self.mid_read_ppm > 0 && self.rng.chance(self.mid_read_ppm) {
            self.mid_write_read();
        }
        let death = match self.plan {
            CrashPlan::Never => None,
            CrashPlan::PerOp { .. } => match self.armed {
                Some((index, death)) if index == self.stores_count => Some(death),
                _ => None,
            },
            CrashPlan::AtStore { index, death } => (self.stores_count == index).then_some(death),
        };
        if let Some(d) = death {
            self.trace.note(format!(
                "{d:?} death before store #{} ({part:?}[{word}] <- {value:#x})",
                self.stores_count
            ));
            self.dead = Some(d);
            self.probe_every_store |= self.probe_after_death;
            return false;
        }
        self.stores_count += 1;
        self.stats.stores += 1;
        if let Some(disk) = &mut self.durability {
            disk.record(Store { part, word, value });
        }
        if part == Part::Stat {
            let r = match word {
                hw::YOUNGEST_ID => self.oracle.on_youngest_store(value),
                hw::OLDEST_ID => self.oracle.on_oldest_store(value),
                hw::WRITE_POS => {
                    self.mirror.write_pos = value;
                    Ok(())
                }
                hw::WRITER_MARK => {
                    self.mirror.mark = value;
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = r {
                self.fail(e);
            }
        }
        true
    }

    /// Under [`CrashPlan::PerOp`], draws whether the operation about to run dies, and after
    /// which of its (about `stores_estimate`) stores.
    pub fn arm(&mut self, stores_estimate: u64) {
        self.armed = None;
        if let CrashPlan::PerOp {
            process_ppm,
            power_ppm,
        } = self.plan
        {
            let death = if self.rng.chance(process_ppm) {
                Death::Process
            } else if self.durability.is_some() && self.rng.chance(power_ppm) {
                Death::Power
            } else {
                return;
            };
            let at = self.stores_count + self.rng.range(0, stores_estimate);
            self.armed = Some((at, death));
        }
    }

    /// Records the first failure.
    pub fn fail(&mut self, what: String) {
        if self.failure.is_none() {
            self.trace.note(format!("FAIL: {what}"));
            self.failure = Some(what);
        }
    }

    /// One read by a random reader that is present, from inside the hook.
    fn mid_write_read(&mut self) {
        let present: Vec<usize> = (0..self.readers.len())
            .filter(|&i| self.readers[i].is_some())
            .collect();
        if present.is_empty() {
            return;
        }
        let i = present[self.rng.below(present.len() as u64) as usize];
        self.stats.mid_reads += 1;
        self.reader_step(i, "mid-write");
    }

    /// One checked read by reader `i`; failures are recorded.
    pub fn reader_step(&mut self, i: usize, when: &str) -> Option<Outcome> {
        let r = self.readers[i].as_mut()?;
        match r.step(&self.oracle) {
            Ok(o) => {
                self.count(o);
                if !matches!(o, Outcome::Read(_) | Outcome::Empty) {
                    self.trace.note(format!("reader {i} ({when}): {o:?}"));
                }
                Some(o)
            }
            Err(e) => {
                self.fail(format!("{e} ({when})"));
                None
            }
        }
    }

    /// Counts one checked outcome.
    pub fn count(&mut self, o: Outcome) {
        match o {
            Outcome::Read(_) => self.stats.reads += 1,
            Outcome::Lagged(n) => {
                self.stats.lags += 1;
                self.stats.missed += n;
            }
            Outcome::Corrupt(_) => self.stats.torn += 1,
            Outcome::Empty => {}
        }
    }

    /// A fresh reader attaches below the window, a whole slot ring below the oldest message
    /// the oracle still holds, and reads until `Empty`: with the queue frozen, a retired id
    /// must read as `Lagged` to `oldest_id` (or, while its retirement is in flight, as that
    /// very message), and every id of the window must read right (or torn, if a power loss
    /// may have torn it). Returns the ids it got `Corrupt` for.
    pub fn probe(&mut self, when: &str) -> Vec<u64> {
        let mut torn = Vec::new();
        let held = self.oracle.first_held().min(self.oracle.oldest());
        let from = held.saturating_sub(self.oracle.slots_count()).max(1);
        let mut r = match SimReader::attach(
            usize::MAX,
            self.region.handle(),
            StartAt::Id(fmq_core::MessageId(from)),
            LagPolicy::ResumeAtOldest,
        ) {
            Ok(r) => r,
            Err(e) => {
                self.fail(format!("probe ({when}): {e}"));
                return torn;
            }
        };
        let mut lags = 0;
        loop {
            match r.step(&self.oracle) {
                Ok(Outcome::Empty) => break,
                Ok(Outcome::Corrupt(id)) => torn.push(id),
                Ok(Outcome::Read(_)) => {}
                Ok(o @ Outcome::Lagged(_)) => {
                    lags += 1;
                    if lags > 1 {
                        self.fail(format!("probe ({when}): {o:?} twice from a frozen queue"));
                        break;
                    }
                }
                Err(e) => {
                    self.fail(format!("probe ({when}): {e}"));
                    break;
                }
            }
        }
        torn
    }
}

/// Installs a fresh recorder over `world`: the writer is alive again and the store count
/// starts at zero.
pub fn install(world: &Rc<RefCell<World>>) {
    {
        let mut w = world.borrow_mut();
        w.dead = None;
        w.stores_count = 0;
        w.armed = None;
    }
    let w = Rc::clone(world);
    hook::set(Some(Box::new(move |addr, value| {
        w.borrow_mut().on_store(addr, value)
    })));
}

/// Removes the hook.
pub fn uninstall() {
    hook::set(None);
}
