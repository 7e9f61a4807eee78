//! The driver shared by the random runs and the exhaustive mode: it owns the writer, applies
//! workload operations and faults, and after every one of them checks the writer, the
//! recovery report and the readers against the oracle.
//!
//! # What is checked, and when
//!
//! * After every writer operation: the writer's youngest id, oldest id and write position
//!   equal the oracle's (capacity rule), and so do the header words in memory.
//! * Process crash (DESIGN invariant 7), after recovery: the report names the commit point
//!   and `oldest_id` the dead writer left in memory, `dropped_count == 0`, exactly the stamps
//!   that are not live messages were cleared, the previous writer mark (pid, open flag) is
//!   the one last stored, and the epoch went up by one. Then a fresh reader reads the whole
//!   window, every message byte for byte; attached readers carry on (a message the dead
//!   writer did not commit is never returned: its id is reused by the next writer, and the
//!   oracle only knows the new message under it).
//! * Power loss (DESIGN invariant 8), after recovery: see [`Harness::lose_power`] and
//!   `check_power_recovery`.
//! * Every read, whenever it happens (between operations, before any store, straddling a
//!   write): [`crate::oracle::Oracle::check_read`] and the reader's own accounting.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use fmq_core::header::{unpack, word as hw};
use fmq_core::slot::word as sw;
use fmq_core::{
    Config, FlushStep, HeapRegion, LagPolicy, Layout, MessageId, RecoveryReport, StartAt, Writer,
};

use crate::oracle::{NewMsg, Oracle, Outcome, Taint};
use crate::reader::SimReader;
use crate::rng::Rng;
use crate::storage::{Durability, Image, PageCut, Part, PowerLoss, SimRegion};
use crate::world::{self, CrashPlan, Death, Mirror, Stats, Trace, World};

/// How the dirty pages fare at a power loss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Each dirty page keeps a random prefix of its stores (none, all, or in between).
    Random,
    /// Dirty page `i` keeps the first `v[i]` of its stores.
    Exact(Vec<usize>),
    /// These pages keep all their stores, every other dirty page none.
    Pages(Vec<(Part, usize)>),
}

/// How a harness starts.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The queue.
    pub config: Config,
    /// File-backed (flush and power loss) or shared memory.
    pub file_backed: bool,
    /// When the writer dies inside an operation.
    pub plan: CrashPlan,
    /// Chance that a reader reads before any store (parts per million).
    pub mid_read_ppm: u32,
    /// A fresh reader reads the whole window before every store.
    pub probe_every_store: bool,
    /// ... from the moment the writer dies (every state of the recovery).
    pub probe_after_death: bool,
    /// One lag policy per reader.
    pub policies: Vec<LagPolicy>,
    /// Print every event.
    pub echo: bool,
}

/// What a recovery must report, taken from memory before it runs.
struct Expect {
    youngest: u64,
    oldest: u64,
    mark: u64,
    epoch: u64,
    stamps_cleared: u64,
}

/// The pending invariant-8 check after a power loss, until a recovery completes.
#[derive(Clone, Debug)]
struct PowerCheck {
    youngest: u64,
    oldest: u64,
    /// Obligations that a store that reached the disk retired or overwrote.
    excused: BTreeSet<u64>,
    cuts: Vec<PageCut>,
}

/// The simulated queue with its writer, readers and faults.
pub struct Harness {
    /// The hook's state.
    pub world: Rc<RefCell<World>>,
    writer: Option<Writer<Arc<HeapRegion>>>,
    layout: Layout,
    /// The driver's random stream (reader starts, power-loss cuts).
    pub rng: Rng,
    /// How the next power loss cuts the dirty pages.
    pub cut: Cut,
    policies: Vec<LagPolicy>,
    pid: u32,
    /// Invariant 8: ids published before the last flush (or durable since the last power
    /// loss), which must survive a power loss unless a store that reached the disk retired
    /// or overwrote them.
    obligations: Vec<u64>,
    power: Option<PowerCheck>,
}

impl Harness {
    /// Formats a queue, installs the recorder, attaches the readers.
    pub fn new(setup: &Setup, mut rng: Rng) -> Result<Harness, String> {
        let layout = Layout::from_config(&setup.config).map_err(|e| e.to_string())?;
        let region = SimRegion::new(&layout);
        world::uninstall();
        let writer = Writer::format(region.handle(), &setup.config).map_err(|e| e.to_string())?;
        let durability = setup.file_backed.then(|| Durability::new(region.image()));
        let mark = region.load(Part::Stat, hw::WRITER_MARK);
        let world = World {
            region,
            oracle: Oracle::new(layout.slots_count(), layout.buf_size_bytes()),
            readers: Vec::new(),
            durability,
            rng: rng.fork(),
            plan: setup.plan,
            dead: None,
            stores_count: 0,
            armed: None,
            mid_read_ppm: setup.mid_read_ppm,
            probe_every_store: setup.probe_every_store,
            probe_after_death: setup.probe_after_death,
            mirror: Mirror { write_pos: 0, mark },
            failure: None,
            stats: Stats::default(),
            trace: Trace::new(setup.echo),
        };
        let mut h = Harness {
            world: Rc::new(RefCell::new(world)),
            writer: Some(writer),
            layout,
            rng,
            cut: Cut::Random,
            policies: setup.policies.clone(),
            pid: 100,
            obligations: Vec::new(),
            power: None,
        };
        world::install(&h.world);
        h.writer.as_mut().expect("alive").set_pid(h.pid);
        h.attach_readers()?;
        h.settle()?;
        Ok(h)
    }

    /// The queue's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.world.borrow().stats
    }

    /// Notes an event in the trace.
    pub fn note(&self, line: String) {
        self.world.borrow_mut().trace.note(line);
    }

    /// The last events.
    pub fn trace_tail(&self) -> Vec<String> {
        self.world.borrow().trace.tail()
    }

    /// Number of reader places.
    pub fn readers_count(&self) -> usize {
        self.policies.len()
    }

    /// Stores let through since the recorder was last installed.
    pub fn stores_count(&self) -> u64 {
        self.world.borrow().stores_count
    }

    /// Whether the writer is dead (the crash plan fired and nothing handled it yet).
    pub fn is_dead(&self) -> bool {
        self.world.borrow().dead.is_some()
    }

    /// The dirty pages of the disk (file-backed queues).
    pub fn dirty_pages(&self) -> Vec<(Part, usize, usize)> {
        let w = self.world.borrow();
        w.durability
            .as_ref()
            .map(Durability::dirty_pages)
            .unwrap_or_default()
    }

    /// The oracle as it is now.
    pub fn oracle(&self) -> Oracle {
        self.world.borrow().oracle.clone()
    }

    fn check_failure(&self) -> Result<(), String> {
        match &self.world.borrow().failure {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    /// Writes `msgs`, one `write_message` call or (if `batch`) one `write_batch`, then
    /// handles a death and checks the writer.
    pub fn write(&mut self, msgs: &[NewMsg], batch: bool) -> Result<(), String> {
        self.write_op(msgs, batch)?;
        self.settle()
    }

    /// The writer call alone (no death handling: a straddling read runs it inside its own).
    fn write_op(&mut self, msgs: &[NewMsg], batch: bool) -> Result<(), String> {
        let (first, last) = {
            let mut w = self.world.borrow_mut();
            let first = w.oracle.next_id();
            for m in msgs {
                w.oracle.put(m);
            }
            w.stats.writes += msgs.len() as u64;
            if batch {
                w.stats.batches += 1;
            }
            let lens: Vec<usize> = msgs.iter().map(|m| m.payload.len()).collect();
            let kind = if batch { "batch" } else { "write" };
            w.trace.note(format!("{kind} ids {first}.. lens {lens:?}"));
            (first, first + msgs.len() as u64 - 1)
        };
        // About: payload words, seven slot words, the commit, and a few retirements each.
        let estimate: u64 = msgs
            .iter()
            .map(|m| (m.payload.len() as u64).div_ceil(8) + 10)
            .sum::<u64>()
            + 2;
        self.world.borrow_mut().arm(estimate);
        let writer = self.writer.as_mut().ok_or("no writer")?;
        let news: Vec<_> = msgs.iter().map(NewMsg::as_new_message).collect();
        let got = if batch {
            writer.write_batch(&news)
        } else {
            writer.write_message(&news[0]).map(Some)
        };
        match got {
            Ok(Some(MessageId(id))) if id == last => Ok(()),
            Ok(other) => Err(format!(
                "write of ids {first}..={last} returned {other:?}, want Some({last})"
            )),
            Err(e) => Err(format!("write of ids {first}..={last} failed: {e}")),
        }
    }

    /// After an operation: a death is handled (recovery and its checks), otherwise the
    /// writer is checked against the oracle.
    fn settle(&mut self) -> Result<(), String> {
        self.world.borrow_mut().armed = None;
        self.check_failure()?;
        let dead = self.world.borrow().dead;
        match dead {
            Some(d) => self.die(Some(d)),
            None => self.check_writer(),
        }
    }

    /// The writer's private view and the header words against the oracle; then the oracle
    /// forgets what nothing can read any more.
    fn check_writer(&mut self) -> Result<(), String> {
        let writer = self.writer.as_ref().ok_or("no writer")?;
        let mut w = self.world.borrow_mut();
        let o = &w.oracle;
        let got = (
            writer.youngest_id().0,
            writer.oldest_id().0,
            writer.write_pos(),
            w.region.load(Part::Stat, hw::YOUNGEST_ID),
            w.region.load(Part::Stat, hw::OLDEST_ID),
        );
        let want = (
            o.next_id() - 1,
            o.model_oldest(),
            o.write_pos(),
            o.youngest(),
            o.oldest(),
        );
        if got != want || o.youngest() != o.next_id() - 1 || o.oldest() != o.model_oldest() {
            return Err(format!(
                "writer (youngest, oldest, write_pos) and header (youngest, oldest) are \
                 {got:?}; the oracle says {want:?} (capacity rule; committed {}, stored oldest {})",
                o.youngest(),
                o.oldest()
            ));
        }
        let mut keep_from = o.oldest();
        if let Some(d) = &w.durability {
            keep_from = keep_from.min(d.durable().stat[hw::OLDEST_ID].max(1));
        }
        if let Some(&first) = self.obligations.first() {
            keep_from = keep_from.min(first);
        }
        w.oracle.prune(keep_from);
        Ok(())
    }

    /// `flush()` of a file-backed queue: memory becomes the durable image; every message in
    /// the window becomes an obligation (invariant 8).
    ///
    /// It runs the writer's `flush_with`, whose `sync` here makes memory the durable image.
    /// The simulated disk takes whole images, so `sync(Buf)` does nothing and `sync(Stat)`
    /// takes both parts: no power loss falls between the two (one could only cut the
    /// buffer's pages, which the stat part's `msync` has not named yet).
    pub fn flush(&mut self) -> Result<(), String> {
        if self.world.borrow().durability.is_none() {
            return Ok(());
        }
        let writer = self.writer.as_ref().ok_or("no writer to flush")?;
        let world = Rc::clone(&self.world);
        writer.flush_with(|step| -> Result<(), String> {
            if step != FlushStep::Buf {
                let mut w = world.borrow_mut();
                let image = w.region.image();
                w.durability.as_mut().ok_or("no disk")?.flush(image);
            }
            Ok(())
        })?;
        self.check_failure()?;
        let mut w = self.world.borrow_mut();
        w.stats.flushes += 1;
        let o = &w.oracle;
        self.obligations = (o.oldest()..=o.youngest())
            .filter(|&id| !o.is_tainted(id))
            .collect();
        let n = self.obligations.len();
        w.trace.note(format!("flush: {n} obligations"));
        Ok(())
    }

    /// Kills the writer between operations.
    pub fn crash_now(&mut self, death: Death) -> Result<(), String> {
        let death = if self.world.borrow().durability.is_none() {
            Death::Process
        } else {
            death
        };
        {
            let mut w = self.world.borrow_mut();
            w.trace.note(format!("{death:?} death between operations"));
            w.dead = Some(death);
        }
        self.die(Some(death))
    }

    /// A clean restart: the writer is dropped normally (its mark says closed), and a new
    /// one recovers.
    pub fn restart(&mut self) -> Result<(), String> {
        self.note("clean restart".into());
        drop(self.writer.take());
        self.check_failure()?;
        let dead = self.world.borrow().dead;
        self.die(dead)
    }

    /// The writer is dead (`Some`) or closed (`None`): drop it, then recover until a writer
    /// is alive, checking every completed recovery.
    fn die(&mut self, first: Option<Death>) -> Result<(), String> {
        let mut death = first;
        loop {
            // The dead writer's remaining code ran with its stores dropped; so does its Drop.
            drop(self.writer.take());
            self.check_failure()?;
            match death {
                Some(Death::Process) => self.world.borrow_mut().stats.crashes += 1,
                Some(Death::Power) => {
                    self.world.borrow_mut().stats.power_losses += 1;
                    self.lose_power()?;
                }
                None => self.world.borrow_mut().stats.restarts += 1,
            }
            let expect = {
                let mut w = self.world.borrow_mut();
                if matches!(w.plan, CrashPlan::AtStore { .. }) {
                    w.plan = CrashPlan::Never;
                }
                if self.power.is_none() {
                    let hint = w.mirror.write_pos;
                    w.oracle.forget_pending(hint);
                }
                self.expect(&w)?
            };
            let hint = self.world.borrow().mirror.write_pos;
            world::install(&self.world);
            let handle = {
                let mut w = self.world.borrow_mut();
                // About: one store per slot (stamps cleared), and the header words.
                w.arm(u64::from(self.layout.slots_count()) + 4);
                w.region.handle()
            };
            let (writer, report) = Writer::recover(handle)
                .map_err(|e| format!("recovery failed: {e} (power loss: {:?})", self.power))?;
            self.world.borrow_mut().armed = None;
            self.check_failure()?;
            let dead = self.world.borrow().dead;
            if let Some(d) = dead {
                self.writer = Some(writer);
                death = Some(d);
                continue;
            }
            self.note(format!("recovered: {report:?}"));
            self.world.borrow_mut().stats.recoveries += 1;
            if writer.epoch() != report.epoch || report.epoch != expect.epoch + 1 {
                return Err(format!(
                    "recovery epoch {} (writer says {}), want {}",
                    report.epoch,
                    writer.epoch(),
                    expect.epoch + 1
                ));
            }
            self.writer = Some(writer);
            match self.power.take() {
                Some(p) => self.check_power_recovery(&p, &report, hint)?,
                None => self.check_crash_recovery(&expect, &report)?,
            }
            self.pid += 1;
            let pid = self.pid;
            self.writer.as_mut().expect("alive").set_pid(pid);
            self.check_failure()?;
            let dead = self.world.borrow().dead;
            if let Some(d) = dead {
                death = Some(d);
                continue;
            }
            // `fmq::Writer::open` flushes a recovered file-backed queue before its first
            // write (recovery may issue ids again); so does the simulated one.
            self.flush()?;
            return self.check_writer();
        }
    }

    /// What a recovery of the current memory must report.
    fn expect(&self, w: &World) -> Result<Expect, String> {
        let stat = w.region.image().stat;
        let s = u64::from(self.layout.slots_count());
        let (y, o) = (w.oracle.youngest(), w.oracle.oldest());
        if self.power.is_none() && (stat[hw::YOUNGEST_ID], stat[hw::OLDEST_ID]) != (y, o) {
            return Err(format!(
                "header holds youngest {} oldest {}, the stores made were {y} and {o}",
                stat[hw::YOUNGEST_ID],
                stat[hw::OLDEST_ID]
            ));
        }
        let stamps_cleared = (0..s)
            .filter(|&i| {
                let stamp = stat[self.layout.slot_first_word(i as usize) + sw::STAMP];
                stamp != 0 && !(o <= stamp && stamp <= y && stamp % s == i)
            })
            .count() as u64;
        Ok(Expect {
            youngest: y,
            oldest: o,
            mark: w.mirror.mark,
            epoch: stat[hw::WRITER_EPOCH],
            stamps_cleared,
        })
    }

    /// Invariant 7: a process crash loses nothing that was published.
    fn check_crash_recovery(&mut self, e: &Expect, r: &RecoveryReport) -> Result<(), String> {
        let (pid, open) = unpack(e.mark);
        let got = (
            r.youngest_id.0,
            r.oldest_id.0,
            r.dropped_count,
            r.stamps_cleared_count,
            r.previous_pid,
            r.writer_was_open,
        );
        let want = (e.youngest, e.oldest, 0, e.stamps_cleared, pid, open != 0);
        if got != want {
            return Err(format!(
                "recovery after a process crash reported (youngest, oldest, dropped, \
                 stamps_cleared, previous_pid, writer_was_open) = {got:?}, want {want:?} \
                 (invariant 7)"
            ));
        }
        let mut w = self.world.borrow_mut();
        let torn = w.probe("after recovery");
        if !torn.is_empty() {
            w.trace.note(format!("still torn after recovery: {torn:?}"));
        }
        drop(w);
        self.check_failure()
    }

    /// A power loss: the disk's image (dirty pages cut by `self.cut`) becomes memory, every
    /// process dies. Records which obligations are excused: those that a store that reached
    /// the disk retired or overwrote, and every older one. Recovery may drop those (they
    /// then read as lagged) or keep them torn (they then read as corrupt), never return them
    /// wrong.
    fn lose_power(&mut self) -> Result<(), String> {
        if let Some(p) = &self.power {
            // A power loss during the recovery from another: what the first one excused is
            // no longer owed (and the recovery may have dropped it from memory already).
            self.obligations.retain(|m| !p.excused.contains(m));
        }
        let loss = {
            let w = self.world.borrow();
            let disk = w
                .durability
                .as_ref()
                .ok_or("power loss of a shared-memory queue")?;
            cut_disk(disk, &self.cut, &mut self.rng.fork())
        };
        let excused = self.excused_by(&loss)?;
        let image = &loss.image;
        let (y, o) = (image.stat[hw::YOUNGEST_ID], image.stat[hw::OLDEST_ID]);
        let mut w = self.world.borrow_mut();
        let note = power_loss_note(&loss, &self.obligations, excused.len());
        w.trace.note(note);
        reboot(&mut w, &self.layout, image);
        let excused = match self.power.take() {
            // A power loss during the recovery from another: what the first excused stays
            // excused.
            Some(p) => p.excused.union(&excused).copied().collect(),
            None => excused,
        };
        self.power = Some(PowerCheck {
            youngest: y,
            oldest: o,
            excused,
            cuts: loss.cuts,
        });
        Ok(())
    }

    /// The obligations a power loss excuses: those that a store that reached the disk
    /// retired or overwrote, every older one, and those below the disk's oldest id.
    fn excused_by(&self, loss: &PowerLoss) -> Result<BTreeSet<u64>, String> {
        let w = self.world.borrow();
        let disk = w
            .durability
            .as_ref()
            .ok_or("power loss of a shared-memory queue")?;
        let o = loss.image.stat[hw::OLDEST_ID];
        let layout = &self.layout;
        // Whether a store that reached the disk retired or overwrote message `m` (its slot,
        // or its bytes, were stored to since the durable image).
        let touched = |m: u64, start: u64, padded: u64| {
            let slot_words = layout.slot_words(layout.slot_index(m));
            let buf_words = layout.payload_words(start, padded);
            disk.log()
                .iter()
                .zip(&loss.persisted)
                .any(|(st, &on_disk)| {
                    on_disk
                        && match st.part {
                            Part::Stat => slot_words.contains(&st.word),
                            Part::Buf => buf_words.contains(&st.word),
                        }
                })
        };
        // The writer retires oldest first: once a store that retired or overwrote a message
        // of the durable window reached the disk, the disk may show the queue as it was
        // after that retirement, when every older message was gone too (the pages holding
        // their retirements may just not have been written back). Recovery keeps one run of
        // ids, so it may drop all of those. Only messages of the durable window count: the
        // stores to a younger one's slot are its own write.
        let durable = disk.durable();
        let (durable_youngest, durable_oldest) =
            (durable.stat[hw::YOUNGEST_ID], durable.stat[hw::OLDEST_ID]);
        let newest_retired = (durable_oldest.max(1)..=durable_youngest).rev().find(|&m| {
            w.oracle
                .get(m)
                .is_some_and(|msg| touched(m, msg.start, msg.padded))
        });
        let mut excused = BTreeSet::new();
        for &m in &self.obligations {
            if w.oracle.get(m).is_none() {
                return Err(format!("oracle lost obligation {m}"));
            }
            if o > m || newest_retired.is_some_and(|r| m <= r) {
                excused.insert(m);
            }
        }
        Ok(excused)
    }

    /// Invariant 8 after the recovery from a power loss:
    ///
    /// * the report's youngest id is the disk's commit point, its oldest id is at least the
    ///   disk's;
    /// * every obligation that no store on disk retired or overwrote is still in the window
    ///   and reads back byte for byte;
    /// * every other message in the window reads back right, or is reported corrupt with a
    ///   checksum mismatch (its payload torn: recovery checked the stamp and bounds of every
    ///   slot it kept, so no other reason); never wrong data, never an id above the disk's
    ///   commit point.
    ///
    /// Then the obligations are those that read back, the readers attach again, and the
    /// durable image is the disk as the power loss left it.
    fn check_power_recovery(
        &mut self,
        p: &PowerCheck,
        r: &RecoveryReport,
        hint: u64,
    ) -> Result<(), String> {
        let (y, o) = (r.youngest_id.0, r.oldest_id.0);
        // The commit point may go down: messages published after the last flush whose slots
        // did not reach the disk are dropped (the obligations below say which may not be).
        if y > p.youngest || o < p.oldest.min(y + 1) || o > y + 1 {
            return Err(format!(
                "recovery after a power loss reported youngest {y} oldest {o}; the disk had \
                 youngest {} oldest {}",
                p.youngest, p.oldest
            ));
        }
        self.world.borrow_mut().stats.young_dropped += p.youngest - y;
        let lost: Vec<u64> = self
            .obligations
            .iter()
            .copied()
            .filter(|&m| !p.excused.contains(&m) && !(o..=y).contains(&m))
            .collect();
        if !lost.is_empty() {
            return Err(format!(
                "recovery after a power loss dropped {} message(s) published before the last \
                 flush that no store on disk retired or overwrote (nor a younger one): ids \
                 {}..={} (invariant 8; report {r:?}; disk pages {:?})",
                lost.len(),
                lost[0],
                lost[lost.len() - 1],
                p.cuts
            ));
        }
        let mut w = self.world.borrow_mut();
        let places: Vec<(u64, u64, u64)> = (o..=y)
            .map(|id| {
                let slot = self.layout.slot_first_word(self.layout.slot_index(id));
                (
                    id,
                    w.region.load(Part::Stat, slot + sw::BUF_POS),
                    w.region.load(Part::Stat, slot + sw::STORED_LEN),
                )
            })
            .collect();
        w.oracle.recovered(o, y, &places, hint);
        let must_survive: BTreeSet<u64> = self
            .obligations
            .iter()
            .copied()
            .filter(|m| !p.excused.contains(m))
            .collect();
        // Below the recovered window every stamp is cleared: those ids read as lagged.
        for id in w.oracle.first_held()..o {
            w.oracle.set_tainted(id, None);
        }
        for id in o..=y {
            let taint = (!must_survive.contains(&id)).then_some(Taint::Payload);
            w.oracle.set_tainted(id, taint);
        }
        let torn: BTreeSet<u64> = w
            .probe("after recovery from a power loss")
            .into_iter()
            .collect();
        for id in o..=y {
            w.oracle
                .set_tainted(id, torn.contains(&id).then_some(Taint::Payload));
        }
        if !torn.is_empty() {
            w.trace.note(format!("torn by the power loss: {torn:?}"));
        }
        drop(w);
        self.check_failure()?;
        self.obligations
            .retain(|m| (o..=y).contains(m) && !torn.contains(m));
        self.attach_readers()
    }

    /// (Re)attaches every reader, each at a random start.
    fn attach_readers(&mut self) -> Result<(), String> {
        let n = self.policies.len();
        self.world.borrow_mut().readers = (0..n).map(|_| None).collect();
        for i in 0..n {
            self.reattach(i)?;
        }
        Ok(())
    }

    /// Reader `i` detaches (if attached) and attaches anew at a random start.
    pub fn reattach(&mut self, i: usize) -> Result<(), String> {
        let mut w = self.world.borrow_mut();
        let (o, y) = (w.oracle.oldest(), w.oracle.youngest());
        let start = match self.rng.below(5) {
            0 => StartAt::Oldest,
            1 => StartAt::Youngest,
            2 => StartAt::End,
            _ => StartAt::Id(MessageId(self.rng.range(o.saturating_sub(3).max(1), y + 2))),
        };
        let r = SimReader::attach(i, w.region.handle(), start, self.policies[i])?;
        w.trace.note(format!(
            "reader {i} attached at {start:?} -> {} ({:?})",
            r.position(),
            self.policies[i]
        ));
        w.readers[i] = Some(r);
        Ok(())
    }

    /// Reader `i` reads up to `max` times, stopping at `Empty`.
    pub fn read(&mut self, i: usize, max: u64) -> Result<(), String> {
        for _ in 0..max {
            let o = self.world.borrow_mut().reader_step(i, "between operations");
            self.check_failure()?;
            if matches!(o, None | Some(Outcome::Empty)) {
                break;
            }
        }
        Ok(())
    }

    /// Pauses reader `i` until `step`.
    pub fn pause(&mut self, i: usize, until: u64) {
        if let Some(r) = self.world.borrow_mut().readers[i].as_mut() {
            r.paused_until = until;
        }
    }

    /// Whether reader `i` reads at `step`.
    pub fn is_reading(&self, i: usize, step: u64) -> bool {
        self.world.borrow().readers[i]
            .as_ref()
            .is_some_and(|r| r.paused_until <= step)
    }

    /// Reader `i` begins a read, the writer writes `msgs`, the reader finishes the read
    /// (DESIGN invariant 2 when the bytes being copied are reused under the reader).
    pub fn straddle(&mut self, i: usize, msgs: &[NewMsg], batch: bool) -> Result<(), String> {
        let (taken, before) = {
            let mut w = self.world.borrow_mut();
            (w.readers[i].take(), w.oracle.clone())
        };
        let Some(mut r) = taken else {
            return self.write(msgs, batch);
        };
        let world = Rc::clone(&self.world);
        let mut op = Ok(());
        let checked = r.straddle(
            &before,
            || op = self.write_op(msgs, batch),
            || world.borrow().oracle.clone(),
        );
        self.world.borrow_mut().readers[i] = Some(r);
        let (outcome, ran) = checked?;
        {
            let mut w = self.world.borrow_mut();
            w.count(outcome);
            w.stats.straddles += 1;
            w.trace.note(format!(
                "reader {i} straddled a write: {outcome:?} (ran {ran})"
            ));
        }
        op?;
        if ran {
            self.settle()
        } else {
            self.write(msgs, batch)
        }
    }

    /// The end of a run: every reader catches up and must account for every id up to the
    /// commit point; a fresh reader reads the window; the writer closes cleanly.
    pub fn finish(&mut self) -> Result<(), String> {
        for i in 0..self.policies.len() {
            let max = u64::from(self.layout.slots_count()) + 8;
            self.pause(i, 0);
            self.read(i, max)?;
            let w = self.world.borrow();
            if let Some(r) = &w.readers[i] {
                // A reader may wait at a later id it was sent to; otherwise it is at the end.
                let want = w.oracle.youngest() + 1;
                if r.position() < want {
                    return Err(format!(
                        "reader {i} caught up at {}, want {want} (youngest + 1)",
                        r.position()
                    ));
                }
            }
        }
        self.world.borrow_mut().probe("at the end");
        self.check_failure()?;
        self.check_writer()?;
        drop(self.writer.take());
        self.check_failure()?;
        let w = self.world.borrow();
        let (pid, open) = unpack(w.region.load(Part::Stat, hw::WRITER_MARK));
        if w.dead.is_none() && (pid, open) != (self.pid, 0) {
            return Err(format!(
                "after the writer closed, its mark is pid {pid} open {open}, want pid {} open 0",
                self.pid
            ));
        }
        Ok(())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Whatever happens to the writer now is not part of the run.
        world::uninstall();
    }
}

/// The disk after a power loss, its dirty pages cut as `cut` says.
fn cut_disk(disk: &Durability, cut: &Cut, rng: &mut Rng) -> PowerLoss {
    match cut {
        Cut::Random => disk.power_loss(|_, _, _, n| match rng.below(3) {
            0 => 0,
            1 => n,
            _ => rng.range(0, n as u64) as usize,
        }),
        Cut::Exact(v) => disk.power_loss(|i, _, _, _| v.get(i).copied().unwrap_or(0)),
        Cut::Pages(pages) => disk.power_loss(
            |_, part, page, n| {
                if pages.contains(&(part, page)) {
                    n
                } else {
                    0
                }
            },
        ),
    }
}

/// The trace line of a power loss.
fn power_loss_note(loss: &PowerLoss, obligations: &[u64], excused_count: usize) -> String {
    let image = &loss.image;
    let cuts: Vec<String> = loss
        .cuts
        .iter()
        .map(|c| {
            format!(
                "{:?}/{}:{}of{}",
                c.part, c.page, c.kept_count, c.stores_count
            )
        })
        .collect();
    format!(
        "power loss: disk has youngest {} oldest {}; pages {}; obligations {}..{} \
         ({excused_count} excused)",
        image.stat[hw::YOUNGEST_ID],
        image.stat[hw::OLDEST_ID],
        cuts.join(" "),
        obligations.first().copied().unwrap_or(0),
        obligations.last().copied().unwrap_or(0),
    )
}

/// Everything dies, readers too; memory is what the disk holds. Until recovery is done, any
/// message the disk may still hold (its window, and below it retirements whose stamps the
/// disk still has) may be torn: a read may report it corrupt (never return it wrong).
fn reboot(w: &mut World, layout: &Layout, image: &Image) {
    let (y, o) = (image.stat[hw::YOUNGEST_ID], image.stat[hw::OLDEST_ID]);
    w.readers.clear();
    w.region = SimRegion::from_image(layout, image);
    w.durability = Some(Durability::new(image.clone()));
    w.mirror = Mirror {
        write_pos: image.stat[hw::WRITE_POS],
        mark: image.stat[hw::WRITER_MARK],
    };
    w.oracle.reboot(y, o);
    for id in w.oracle.first_held()..=y {
        w.oracle.set_tainted(id, Some(Taint::Any));
    }
}
