//! The deterministic scheduler: simulated processes are OS threads, and one of them runs at a
//! time.
//!
//! The running process holds the *baton* (`Sched::current`). Every `Os` call is a yield
//! point: the holder draws (from the seed's generator) the process to continue, staying itself
//! with probability `stay_ppm`, and if it is another one, hands the baton over and waits for
//! it back. A job's end is a yield point too. Every decision is made under the kernel's mutex
//! by the baton's holder, from the seed alone: the same seed gives the same interleaving.
//!
//! A process is runnable while it has a job running or queued, or while it is dead and its
//! thread has not exited (a dead process's thread ends its current job, its calls failing,
//! drops its queued jobs, and exits, dropping its thread-locals on its own thread while dead).
//! The exit guard is the first thread-local a process thread creates, so it is the last one
//! destroyed (thread-local destructors run in reverse order of registration): it hands the
//! baton on only when every other thread-local of the process is gone.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard};
use std::thread::JoinHandle;

use super::{Fault, Inner, Job, Kernel, YieldPoint};
use crate::rng::Rng;

/// A process of the process table (slots are never reused; pids may be).
pub(super) struct Proc {
    pub pid: u32,
    pub uid: u32,
    pub alive: bool,
    pub dead: Arc<AtomicBool>,
    pub jobs: VecDeque<Job>,
    pub in_job: bool,
    pub exited: bool,
    pub handle: Option<JoinHandle<()>>,
}

impl Proc {
    fn runnable(&self, reap_only: bool) -> bool {
        !self.exited && (!self.alive || (!reap_only && (self.in_job || !self.jobs.is_empty())))
    }
}

pub(super) struct Sched {
    pub current: Option<usize>,
    pub running: bool,
    pub reap_only: bool,
    pub run_yields: u64,
    pub stuck: bool,
    pub panics: Vec<String>,
    pub rng: Rng,
}

impl Sched {
    pub(super) fn new(rng: Rng) -> Sched {
        Sched {
            current: None,
            running: false,
            reap_only: false,
            run_yields: 0,
            stuck: false,
            panics: Vec::new(),
            rng,
        }
    }
}

thread_local! {
    /// `(kernel id, slot)` of the process this thread is (kernel id 0: none).
    pub(super) static SCHEDULED: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
    /// `(kernel id, slot)` of the process `with_process` makes this thread act as.
    pub(super) static ACTING: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
    static EXIT: RefCell<Option<ExitGuard>> = const { RefCell::new(None) };
}

/// Hands the baton on when a process thread's thread-locals are gone.
struct ExitGuard {
    kernel: Arc<Kernel>,
    slot: usize,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let k = &self.kernel;
        let mut g = k.lock();
        g.procs[self.slot].exited = true;
        if g.sched.current == Some(self.slot) {
            g.sched.current = g.pick(None);
        }
        k.cv.notify_all();
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

impl Inner {
    /// The next process to run, from the seed: `me` again with probability `stay_ppm` if it is
    /// runnable, otherwise any runnable process, uniformly.
    pub(super) fn pick(&mut self, me: Option<usize>) -> Option<usize> {
        let reap = self.sched.reap_only;
        let runnable: Vec<usize> = self
            .procs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.runnable(reap))
            .map(|(i, _)| i)
            .collect();
        if runnable.is_empty() {
            return None;
        }
        if let Some(m) = me {
            if self.procs[m].runnable(reap) && self.sched.rng.chance(self.stay_ppm) {
                return Some(m);
            }
        }
        Some(runnable[self.sched.rng.below(runnable.len() as u64) as usize])
    }
}

/// The body of a process thread.
fn process_main(k: Arc<Kernel>, slot: usize, dead: Arc<AtomicBool>) {
    EXIT.with(|e| {
        *e.borrow_mut() = Some(ExitGuard {
            kernel: Arc::clone(&k),
            slot,
        })
    });
    SCHEDULED.with(|s| s.set((k.id, slot)));
    let _ = fmq_core::sync::hook::set(Some(Box::new(move |_addr, _value| {
        // ORDERING: SeqCst, paired with the store in `Kernel::kill_slot`; the baton's mutex
        // orders them anyway (the killer and this thread never run at once).
        !dead.load(Ordering::SeqCst)
    })));
    while let Some(job) = k.next_job(slot) {
        let result = catch_unwind(AssertUnwindSafe(job));
        k.job_done(slot, result.err().map(|p| panic_message(p.as_ref())));
    }
}

impl Kernel {
    pub(super) fn start_thread(
        self: &Arc<Self>,
        slot: usize,
        pid: u32,
        dead: Arc<AtomicBool>,
    ) -> JoinHandle<()> {
        let k = Arc::clone(self);
        std::thread::Builder::new()
            .name(format!("fmq-sim-pid-{pid}"))
            .spawn(move || process_main(k, slot, dead))
            .unwrap_or_else(|e| panic!("fmq-sim: cannot start the thread of pid {pid}: {e}"))
    }

    fn wait_turn<'a>(&'a self, mut g: MutexGuard<'a, Inner>, me: usize) -> MutexGuard<'a, Inner> {
        while g.sched.current != Some(me) {
            g = self
                .cv
                .wait(g)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        g
    }

    /// Waits for the baton; the next job to run, or `None` when the process is dead (its
    /// queued jobs are dropped here, on its own thread).
    fn next_job(&self, me: usize) -> Option<Job> {
        let mut g = self.lock();
        loop {
            g = self.wait_turn(g, me);
            let p = &mut g.procs[me];
            if !p.alive {
                let dropped = std::mem::take(&mut p.jobs);
                drop(g);
                drop(dropped);
                return None;
            }
            if let Some(job) = p.jobs.pop_front() {
                p.in_job = true;
                return Some(job);
            }
            // Scheduled without work (cannot happen: only runnable processes are picked).
            g.sched.current = g.pick(None);
            self.cv.notify_all();
        }
    }

    fn job_done(&self, me: usize, panic: Option<String>) {
        let mut g = self.lock();
        g.procs[me].in_job = false;
        if let Some(m) = panic {
            let pid = g.procs[me].pid;
            g.sched
                .panics
                .push(format!("a job of pid {pid} panicked: {m}"));
        }
        g.sched.current = g.pick(Some(me));
        self.cv.notify_all();
    }

    /// The yield point at the start of every call of process thread `me`, acting as process
    /// `acting` (itself unless under `with_process`): hands the baton on or keeps it, then
    /// consults the fault plan if the acting process lives.
    pub(super) fn yield_point<'a>(
        &'a self,
        mut g: MutexGuard<'a, Inner>,
        me: usize,
        acting: usize,
        call: &'static str,
        path: Option<&Path>,
    ) -> MutexGuard<'a, Inner> {
        assert_eq!(
            g.sched.current,
            Some(me),
            "fmq-sim: two threads run fmq code at once (pid {} called `{call}` without the baton)",
            g.procs[me].pid
        );
        let index = g.events.yield_points;
        g.events.yield_points += 1;
        g.sched.run_yields += 1;
        if g.sched.run_yields > self.config.yield_limit {
            g.sched.stuck = true;
            g.sched.current = None;
            self.cv.notify_all();
            loop {
                // run() panics; this thread stays parked for good.
                g = self
                    .cv
                    .wait(g)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
        let next = g.pick(Some(me));
        if next != Some(me) {
            g.sched.current = next;
            self.cv.notify_all();
            g = self.wait_turn(g, me);
        }
        if g.procs[acting].alive {
            if let Some(mut plan) = g.plan.take() {
                let point = YieldPoint {
                    pid: g.procs[acting].pid,
                    index,
                    call,
                    path: path.map(PathBuf::from),
                };
                drop(g); // the plan may look at the kernel (it holds the baton: nobody else runs)
                let fault = plan(&point);
                g = self.lock();
                if g.plan.is_none() {
                    g.plan = Some(plan);
                }
                match fault {
                    Fault::None => {}
                    Fault::Kill => self.kill_slot(&mut g, acting),
                    Fault::PowerLoss => self.power_loss_locked(&mut g),
                }
            }
        }
        g
    }

    /// Runs every submitted job, interleaved at yield points; returns when each has returned
    /// and every dead process's thread has exited. Panics if a job panicked, or after
    /// `Config::yield_limit` yield points (a stuck run).
    pub fn run(&self) {
        self.drive(false);
    }

    /// Lets the threads of dead processes exit, running no live process's job.
    pub(super) fn reap(&self) {
        self.drive(true);
    }

    fn drive(&self, reap_only: bool) {
        assert!(
            SCHEDULED.with(Cell::get).0 != self.id,
            "fmq-sim: Kernel::run from a simulated process (it is the harness's main thread's)"
        );
        let mut g = self.lock();
        assert!(
            !g.sched.running,
            "fmq-sim: Kernel::run while a run is in progress"
        );
        g.sched.running = true;
        g.sched.reap_only = reap_only;
        g.sched.run_yields = 0;
        g.sched.current = g.pick(None);
        self.cv.notify_all();
        while g.sched.current.is_some() && !g.sched.stuck {
            g = self
                .cv
                .wait(g)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if g.sched.stuck {
            let busy: Vec<u32> = g
                .procs
                .iter()
                .filter(|p| p.runnable(false))
                .map(|p| p.pid)
                .collect();
            panic!(
                "fmq-sim: run() stuck: {} yield points and jobs of pids {busy:?} still not returned \
                 (a deadlock or livelock in the harness or in fmq)",
                self.config.yield_limit
            );
        }
        g.sched.running = false;
        g.sched.reap_only = false;
        let handles: Vec<JoinHandle<()>> = g
            .procs
            .iter_mut()
            .filter(|p| p.exited)
            .filter_map(|p| p.handle.take())
            .collect();
        let mut panics = std::mem::take(&mut g.sched.panics);
        drop(g);
        for h in handles {
            if let Err(p) = h.join() {
                panics.push(format!(
                    "a process thread panicked: {}",
                    panic_message(p.as_ref())
                ));
            }
        }
        assert!(panics.is_empty(), "fmq-sim: {}", panics.join("; "));
    }

    /// Whether the calling thread is a process thread of this kernel (and its slot).
    pub(super) fn scheduled_slot(&self) -> Option<usize> {
        match SCHEDULED.with(Cell::get) {
            (id, slot) if id == self.id => Some(slot),
            _ => None,
        }
    }

    /// The process this thread acts as: `with_process`'s, else the thread's own.
    pub(super) fn acting_slot(&self) -> Option<usize> {
        match ACTING.with(Cell::get) {
            (id, slot) if id == self.id => Some(slot),
            _ => self.scheduled_slot(),
        }
    }

    /// Kills process `slot` (the caller holds the kernel's lock).
    pub(super) fn kill_slot(&self, g: &mut Inner, slot: usize) {
        let p = &mut g.procs[slot];
        if !p.alive {
            return;
        }
        p.alive = false;
        // ORDERING: SeqCst, paired with the load in the process's store hook.
        p.dead.store(true, Ordering::SeqCst);
        g.events.kills += 1;
        g.fs.close_all(slot);
    }

    /// A power loss (the caller holds the kernel's lock).
    pub(super) fn power_loss_locked(&self, g: &mut Inner) {
        for p in g.procs.iter_mut().filter(|p| p.alive) {
            p.alive = false;
            // ORDERING: SeqCst, paired with the load in the process's store hook.
            p.dead.store(true, Ordering::SeqCst);
        }
        let Inner { fs, fs_rng, .. } = g;
        fs.power_loss(fs_rng);
        g.events.power_losses += 1;
    }
}
