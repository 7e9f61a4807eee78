//! The simulated operating system under fmq's file layer (`fmq::__sim::Os`): a kernel with
//! a file system, processes, locks, clocks and power losses ([`kernel`]: the fault model), and
//! a deterministic scheduler that runs simulated processes one at a time ([`sched`]).
//!
//! A harness builds a [`Kernel`] from a [`Config`] (one seed), spawns processes, submits jobs
//! (closures that call fmq, whose file layer calls the kernel through the forwarder:
//! [`install_forwarder`] once, [`Kernel::activate`] per kernel), optionally installs a fault
//! plan, and calls [`Kernel::run`]. Between runs it may kill processes, cut the power, and
//! act as any process ([`Kernel::with_process`]) or as the administrator (the direct helpers).

pub mod kernel;
pub mod sched;

pub use kernel::{DEV, PAGE as PAGE_SIZE};

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64 as StdAtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use fmq::__sim::{Fd, LockQuery, Meta, Os};
use fmq_core::sync::AtomicU64;

use crate::rng::Rng;
use kernel::{errno, Caller, Fs};
use sched::{Proc, Sched, ACTING};

/// A simulated process id.
pub type Pid = u32;

/// A job a process runs.
pub type Job = Box<dyn FnOnce() + Send>;

/// A fault plan: consulted before each call of a live process.
pub type Plan = Box<dyn FnMut(&YieldPoint) -> Fault + Send>;

/// A yield point, as the fault plan sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YieldPoint {
    /// The process making the call.
    pub pid: Pid,
    /// The number of yield points before this one since the kernel was made.
    pub index: u64,
    /// The call: `"open"`, `"rename"`, ...
    pub call: &'static str,
    /// Its path, if it has one.
    pub path: Option<PathBuf>,
}

/// What happens at a yield point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing.
    None,
    /// The calling process dies before the call takes effect (the call fails with `EIO`).
    Kill,
    /// A power loss before the call takes effect.
    PowerLoss,
}

/// A kernel's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The seed of every decision.
    pub seed: u64,
    /// The file system's capacity in bytes.
    pub capacity: u64,
    /// Whether a new process may get a dead process's pid.
    pub pid_reuse: bool,
    /// The probability per call, in parts per million, of the wall clock stepping back.
    pub ntp_step_ppm: u32,
    /// The probability, in parts per million, that the scheduler keeps the current process.
    pub stay_ppm: u32,
    /// Yield points after which a run is declared stuck.
    pub yield_limit: u64,
    /// Whether the file system has OFD byte locks (`F_OFD_SETLK`); without, every OFD lock
    /// call fails with `ENOLCK`, as on a file system that has `flock` only.
    pub ofd_locks: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 0,
            capacity: 1 << 30,
            pid_reuse: false,
            ntp_step_ppm: 0,
            stay_ppm: 750_000,
            yield_limit: 10_000_000,
            ofd_locks: true,
        }
    }
}

/// What happened since the kernel was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Yield points (calls of process threads).
    pub yield_points: u64,
    /// Calls, from process threads and from `with_process`.
    pub calls: u64,
    /// Processes killed (by the plan or [`Kernel::kill`]).
    pub kills: u64,
    /// Power losses.
    pub power_losses: u64,
}

/// The kernel's state, behind one mutex.
struct Inner {
    fs: Fs,
    procs: Vec<Proc>,
    sched: Sched,
    plan: Option<Plan>,
    events: Events,
    stay_ppm: u32,
    next_pid: Pid,
    mono_ns: u64,
    wall_offset: i64,
    fs_rng: Rng,
    user_rng: Rng,
    clock_rng: Rng,
    pid_rng: Rng,
}

/// A simulated kernel and its scheduler.
pub struct Kernel {
    id: u64,
    config: Config,
    inner: Mutex<Inner>,
    cv: Condvar,
}

static NEXT_KERNEL: StdAtomicU64 = StdAtomicU64::new(1);

impl Kernel {
    /// A kernel with `/`, no process, the clocks at their start.
    pub fn new(config: Config) -> Arc<Kernel> {
        let mut root = Rng::new(config.seed);
        let inner = Inner {
            fs: Fs::new(config.capacity),
            procs: Vec::new(),
            sched: Sched::new(root.fork()),
            plan: None,
            events: Events::default(),
            stay_ppm: config.stay_ppm,
            next_pid: 100,
            mono_ns: 1_000_000_000,
            wall_offset: 1_700_000_000_000_000_000,
            fs_rng: root.fork(),
            user_rng: root.fork(),
            clock_rng: root.fork(),
            pid_rng: root.fork(),
        };
        Arc::new(Kernel {
            // ORDERING: Relaxed: a unique id, nothing published with it.
            id: NEXT_KERNEL.fetch_add(1, Ordering::Relaxed),
            config,
            inner: Mutex::new(inner),
            cv: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes this kernel the forwarder's target ([`install_forwarder`]).
    pub fn activate(kernel: &Arc<Kernel>) {
        *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(kernel));
    }

    /// Starts a process (a thread waiting for jobs) with effective uid `uid`.
    pub fn spawn_process(self: &Arc<Self>, uid: u32) -> Pid {
        let mut g = self.lock();
        let pid = self.alloc_pid(&mut g);
        let slot = g.procs.len();
        let dead = Arc::new(AtomicBool::new(false));
        g.procs.push(Proc {
            pid,
            uid,
            alive: true,
            dead: Arc::clone(&dead),
            jobs: Default::default(),
            in_job: false,
            exited: false,
            handle: None,
        });
        drop(g);
        let handle = self.start_thread(slot, pid, dead);
        self.lock().procs[slot].handle = Some(handle);
        pid
    }

    fn alloc_pid(&self, g: &mut Inner) -> Pid {
        if self.config.pid_reuse {
            let mut free: Vec<Pid> = g
                .procs
                .iter()
                .filter(|p| !p.alive)
                .map(|p| p.pid)
                .filter(|pid| !g.procs.iter().any(|q| q.alive && q.pid == *pid))
                .collect();
            free.sort_unstable();
            free.dedup();
            if !free.is_empty() && g.pid_rng.below(2) == 0 {
                return free[g.pid_rng.below(free.len() as u64) as usize];
            }
        }
        let pid = g.next_pid;
        g.next_pid += 1;
        pid
    }

    fn live_slot(g: &Inner, pid: Pid) -> Option<usize> {
        g.procs.iter().rposition(|p| p.alive && p.pid == pid)
    }

    /// Queues a job for a live process; `false` (and the job dropped) if it is dead.
    pub fn submit(&self, pid: Pid, job: Job) -> bool {
        let mut g = self.lock();
        match Self::live_slot(&g, pid) {
            Some(slot) => {
                g.procs[slot].jobs.push_back(job);
                true
            }
            None => false,
        }
    }

    /// Installs (or removes) the fault plan.
    pub fn set_fault_plan(&self, plan: Option<Plan>) {
        self.lock().plan = plan;
    }

    /// What happened so far.
    pub fn events(&self) -> Events {
        self.lock().events
    }

    /// Kills a live process (its descriptors close); `false` if none has this pid. From the
    /// harness's main thread, also waits for its thread to exit.
    pub fn kill(&self, pid: Pid) -> bool {
        let mut g = self.lock();
        let Some(slot) = Self::live_slot(&g, pid) else {
            return false;
        };
        self.kill_slot(&mut g, slot);
        let reap = !g.sched.running;
        drop(g);
        if reap && self.scheduled_slot().is_none() {
            self.reap();
        }
        true
    }

    /// A power loss (see [`kernel`]). From the harness's main thread, also waits for the
    /// processes' threads to exit.
    pub fn power_loss(&self) {
        let mut g = self.lock();
        self.power_loss_locked(&mut g);
        let reap = !g.sched.running;
        drop(g);
        if reap && self.scheduled_slot().is_none() {
            self.reap();
        }
    }

    /// Whether process `pid` lives.
    pub fn is_alive(&self, pid: Pid) -> bool {
        Self::live_slot(&self.lock(), pid).is_some()
    }

    /// Runs `f` on this thread as process `pid` (its latest one, if pids are reused): every
    /// `Os` call of `f` on this kernel is that process's (a dead one's fail with `EIO`). From
    /// the harness's main thread, only between runs; those calls are no yield points and the
    /// fault plan does not see them (the clocks still tick). From a process's job, they stay
    /// yield points of the job's thread, and a `Fault::Kill` kills the process acted as.
    pub fn with_process<R>(&self, pid: Pid, f: impl FnOnce() -> R) -> R {
        let slot = {
            let g = self.lock();
            Self::live_slot(&g, pid)
                .or_else(|| g.procs.iter().rposition(|p| p.pid == pid))
                .unwrap_or_else(|| panic!("fmq-sim: with_process({pid}): no such process"))
        };
        struct Restore((u64, usize));
        impl Drop for Restore {
            fn drop(&mut self) {
                ACTING.with(|a| a.set(self.0));
            }
        }
        let _restore = Restore(ACTING.with(|a| a.replace((self.id, slot))));
        f()
    }

    /// Creates a regular file owned by `uid` holding `bytes`, as the administrator would (then
    /// runs `sync`: its data and every metadata change so far are durable).
    pub fn create_file(&self, path: &Path, uid: u32, bytes: &[u8]) -> io::Result<()> {
        self.lock().fs.create_file(path, uid, bytes)
    }

    /// Creates a symbolic link owned by `uid` (then runs `sync`).
    pub fn symlink(&self, target: &Path, path: &Path, uid: u32) -> io::Result<()> {
        self.lock().fs.symlink(target, path, uid)
    }

    /// Creates directories owned by `uid` (then runs `sync`).
    pub fn mkdir(&self, path: &Path, uid: u32) -> io::Result<()> {
        let mut g = self.lock();
        g.fs.mkdir_all(uid, path)?;
        g.fs.sync_all_metadata();
        Ok(())
    }

    /// A directory's entries, sorted by name, with their `lstat`.
    pub fn list(&self, dir: &Path) -> io::Result<Vec<(OsString, Meta)>> {
        self.lock().fs.list(dir)
    }

    /// Steps the wall clock back by `ns` (an administrator's `date -s`, an NTP step): the
    /// monotonic clock goes on.
    pub fn step_wall_clock_back(&self, ns: u64) {
        let mut g = self.lock();
        g.wall_offset = g.wall_offset.saturating_sub(ns.min(i64::MAX as u64) as i64);
    }

    /// A regular file's bytes (`None` if `path` is not one).
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock().fs.read_file(path)
    }

    /// The start of every `Os` call: the yield point (for a process thread), the clock tick,
    /// and who calls.
    fn enter(&self, call: &'static str, path: Option<&Path>) -> (MutexGuard<'_, Inner>, Caller) {
        let Some(acting) = self.acting_slot() else {
            panic!(
                "fmq-sim: `{call}` from a thread that is no simulated process of this kernel \
                 (the harness must use Kernel::with_process)"
            )
        };
        let mut g = self.lock();
        match self.scheduled_slot() {
            Some(me) if g.procs[me].exited => {
                // A thread-local dropped after the exit guard: dead, and no baton to wait for.
            }
            Some(me) => g = self.yield_point(g, me, acting, call, path),
            None => assert!(
                !g.sched.running,
                "fmq-sim: `{call}` under with_process from the harness while a run is in progress"
            ),
        }
        g.events.calls += 1;
        g.mono_ns += 1_000;
        if self.config.ntp_step_ppm > 0 && g.clock_rng.chance(self.config.ntp_step_ppm) {
            let back = g.clock_rng.range(1, 1_000_000_000) as i64;
            g.wall_offset -= back;
        }
        let p = &g.procs[acting];
        let caller = Caller {
            slot: acting,
            pid: p.pid,
            uid: p.uid,
            alive: p.alive && !p.exited,
        };
        (g, caller)
    }

    fn fallible<T>(
        &self,
        call: &'static str,
        path: Option<&Path>,
        f: impl FnOnce(&mut Fs, &Caller) -> io::Result<T>,
    ) -> io::Result<T> {
        let (mut g, c) = self.enter(call, path);
        if !c.alive {
            return Err(errno(libc::EIO));
        }
        f(&mut g.fs, &c)
    }
}

impl Os for Kernel {
    fn open(&self, path: &Path, flags: i32, mode: u32) -> io::Result<Fd> {
        self.fallible("open", Some(path), |fs, c| fs.open(c, path, flags, mode))
    }
    fn close(&self, fd: Fd) {
        let (mut g, c) = self.enter("close", None);
        if c.alive {
            g.fs.close(&c, fd);
        }
    }
    fn dup(&self, fd: Fd) -> io::Result<Fd> {
        self.fallible("dup", None, |fs, c| fs.dup(c, fd))
    }
    fn fstat(&self, fd: Fd) -> io::Result<Meta> {
        self.fallible("fstat", None, |fs, c| fs.fstat(c, fd))
    }
    fn lstat(&self, path: &Path) -> io::Result<Meta> {
        self.fallible("lstat", Some(path), |fs, _| fs.lstat(path))
    }
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        self.fallible("read_link", Some(path), |fs, _| fs.read_link(path))
    }
    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.fallible("pread", None, |fs, c| fs.pread(c, fd, buf, offset))
    }
    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> io::Result<()> {
        self.fallible("pwrite", None, |fs, c| fs.pwrite(c, fd, buf, offset))
    }
    fn ftruncate(&self, fd: Fd, len: u64) -> io::Result<()> {
        self.fallible("ftruncate", None, |fs, c| fs.ftruncate(c, fd, len))
    }
    fn fallocate(&self, fd: Fd, len: u64) -> io::Result<()> {
        self.fallible("fallocate", None, |fs, c| fs.fallocate(c, fd, len))
    }
    fn fsync(&self, fd: Fd) -> io::Result<()> {
        self.fallible("fsync", None, |fs, c| fs.fsync(c, fd))
    }
    fn fsync_dir(&self, dir: &Path) -> io::Result<()> {
        self.fallible("fsync_dir", Some(dir), |fs, _| fs.fsync_dir(dir))
    }
    fn flock_exclusive(&self, fd: Fd) -> io::Result<()> {
        self.fallible("flock_exclusive", None, |fs, c| fs.flock_exclusive(c, fd))
    }
    fn ofd_lock_byte(&self, fd: Fd, offset: u64) -> io::Result<()> {
        let ofd_locks = self.config.ofd_locks;
        self.fallible("ofd_lock_byte", None, |fs, c| {
            if !ofd_locks {
                return Err(errno(libc::ENOLCK));
            }
            fs.ofd_lock_byte(c, fd, offset)
        })
    }
    fn ofd_unlock_byte(&self, fd: Fd, offset: u64) -> io::Result<()> {
        let ofd_locks = self.config.ofd_locks;
        self.fallible("ofd_unlock_byte", None, |fs, c| {
            if !ofd_locks {
                return Err(errno(libc::ENOLCK));
            }
            fs.ofd_unlock_byte(c, fd, offset)
        })
    }
    fn ofd_query_byte(&self, fd: Fd, offset: u64) -> io::Result<LockQuery> {
        let ofd_locks = self.config.ofd_locks;
        self.fallible("ofd_query_byte", None, |fs, c| {
            if !ofd_locks {
                return Err(errno(libc::ENOLCK));
            }
            fs.ofd_query_byte(c, fd, offset)
        })
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.fallible("rename", Some(from), |fs, c| fs.rename(c, from, to))
    }
    fn unlink(&self, path: &Path) -> io::Result<()> {
        self.fallible("unlink", Some(path), |fs, c| fs.unlink(c, path))
    }
    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.fallible("link", Some(to), |fs, _| fs.link(from, to))
    }
    fn link_fd(&self, fd: Fd, to: &Path) -> io::Result<()> {
        self.fallible("link_fd", Some(to), |fs, c| fs.link_fd(c, fd, to))
    }
    fn mkdir_all(&self, path: &Path) -> io::Result<()> {
        self.fallible("mkdir_all", Some(path), |fs, c| fs.mkdir_all(c.uid, path))
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        self.fallible("read_dir", Some(path), |fs, _| fs.read_dir(path))
    }
    fn free_bytes(&self, path: &Path) -> io::Result<u64> {
        self.fallible("free_bytes", Some(path), |fs, _| fs.free_bytes(path))
    }
    fn map(&self, fd: Fd, len: usize, writable: bool) -> io::Result<Arc<[AtomicU64]>> {
        self.fallible("map", None, |fs, c| fs.map(c, fd, len, writable))
    }
    fn msync(&self, fd: Fd, offset: u64, len: u64) -> io::Result<()> {
        self.fallible("msync", None, |fs, c| fs.msync(c, fd, offset, len))
    }
    fn pid(&self) -> u32 {
        self.enter("pid", None).1.pid
    }
    fn pid_alive(&self, pid: u32) -> bool {
        let (g, _) = self.enter("pid_alive", None);
        Self::live_slot(&g, pid).is_some()
    }
    fn euid(&self) -> u32 {
        self.enter("euid", None).1.uid
    }
    fn monotonic_ns(&self) -> u64 {
        self.enter("monotonic_ns", None).0.mono_ns
    }
    fn wall_ns(&self) -> i64 {
        let (g, _) = self.enter("wall_ns", None);
        (g.mono_ns as i64).saturating_add(g.wall_offset)
    }
    fn sleep(&self, d: Duration) {
        let (mut g, c) = self.enter("sleep", None);
        if c.alive {
            let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            g.mono_ns = g.mono_ns.saturating_add(ns);
        }
    }
    fn random_u64(&self) -> u64 {
        self.enter("random_u64", None).0.user_rng.next_u64()
    }
}

static CURRENT: Mutex<Option<Arc<Kernel>>> = Mutex::new(None);
static FORWARDER: OnceLock<bool> = OnceLock::new();

/// Installs, once per OS process, the `Os` that forwards every call to the kernel last
/// [`Kernel::activate`]d. `true` if the forwarder is the installed `Os` (now or before).
pub fn install_forwarder() -> bool {
    *FORWARDER.get_or_init(|| fmq::__sim::install(Box::new(Forwarder)))
}

struct Forwarder;

fn current() -> Arc<Kernel> {
    match CURRENT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        Some(k) => Arc::clone(k),
        None => panic!("fmq-sim: an fmq call before Kernel::activate"),
    }
}

impl Os for Forwarder {
    fn open(&self, path: &Path, flags: i32, mode: u32) -> io::Result<Fd> {
        current().open(path, flags, mode)
    }
    fn close(&self, fd: Fd) {
        current().close(fd)
    }
    fn dup(&self, fd: Fd) -> io::Result<Fd> {
        current().dup(fd)
    }
    fn fstat(&self, fd: Fd) -> io::Result<Meta> {
        current().fstat(fd)
    }
    fn lstat(&self, path: &Path) -> io::Result<Meta> {
        current().lstat(path)
    }
    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        current().read_link(path)
    }
    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        current().pread(fd, buf, offset)
    }
    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> io::Result<()> {
        current().pwrite(fd, buf, offset)
    }
    fn ftruncate(&self, fd: Fd, len: u64) -> io::Result<()> {
        current().ftruncate(fd, len)
    }
    fn fallocate(&self, fd: Fd, len: u64) -> io::Result<()> {
        current().fallocate(fd, len)
    }
    fn fsync(&self, fd: Fd) -> io::Result<()> {
        current().fsync(fd)
    }
    fn fsync_dir(&self, dir: &Path) -> io::Result<()> {
        current().fsync_dir(dir)
    }
    fn flock_exclusive(&self, fd: Fd) -> io::Result<()> {
        current().flock_exclusive(fd)
    }
    fn ofd_lock_byte(&self, fd: Fd, offset: u64) -> io::Result<()> {
        current().ofd_lock_byte(fd, offset)
    }
    fn ofd_unlock_byte(&self, fd: Fd, offset: u64) -> io::Result<()> {
        current().ofd_unlock_byte(fd, offset)
    }
    fn ofd_query_byte(&self, fd: Fd, offset: u64) -> io::Result<LockQuery> {
        current().ofd_query_byte(fd, offset)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        current().rename(from, to)
    }
    fn unlink(&self, path: &Path) -> io::Result<()> {
        current().unlink(path)
    }
    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        current().link(from, to)
    }
    fn link_fd(&self, fd: Fd, to: &Path) -> io::Result<()> {
        current().link_fd(fd, to)
    }
    fn mkdir_all(&self, path: &Path) -> io::Result<()> {
        current().mkdir_all(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        current().read_dir(path)
    }
    fn free_bytes(&self, path: &Path) -> io::Result<u64> {
        current().free_bytes(path)
    }
    fn map(&self, fd: Fd, len: usize, writable: bool) -> io::Result<Arc<[AtomicU64]>> {
        current().map(fd, len, writable)
    }
    fn msync(&self, fd: Fd, offset: u64, len: u64) -> io::Result<()> {
        current().msync(fd, offset, len)
    }
    fn pid(&self) -> u32 {
        current().pid()
    }
    fn pid_alive(&self, pid: u32) -> bool {
        current().pid_alive(pid)
    }
    fn euid(&self) -> u32 {
        current().euid()
    }
    fn monotonic_ns(&self) -> u64 {
        current().monotonic_ns()
    }
    fn wall_ns(&self) -> i64 {
        current().wall_ns()
    }
    fn sleep(&self, d: Duration) {
        current().sleep(d)
    }
    fn random_u64(&self) -> u64 {
        current().random_u64()
    }
}
