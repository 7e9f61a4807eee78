//! The one place atomics come from.
//!
//! Every other file of fmq-core imports `AtomicU64`, `fence` and `Ordering` from here, never
//! from `core::sync::atomic` directly (the tidy test in `tests/tidy.rs` enforces it). The
//! facade switches on namespaced cfgs, as tokio's `crate::loom` and crossbeam's
//! `crossbeam_loom` do:
//!
//! * default: `core::sync::atomic`, the real thing;
//! * `--cfg fmq_loom`: loom's checked atomics, for exhaustive interleaving models;
//! * `--cfg fmq_shuttle`: shuttle's atomics, for randomized schedules with many threads.
//!
//! The protocol only ever uses 64-bit atomics on the shared region, so `AtomicU64` is the only
//! type re-exported; 32-bit format fields are packed in pairs into one word and always
//! accessed as the whole word (DESIGN invariant 3: one access size per location).

#[cfg(all(fmq_loom, fmq_shuttle))]
compile_error!("choose one of --cfg fmq_loom and --cfg fmq_shuttle, not both");

#[cfg(not(target_has_atomic = "64"))]
compile_error!("fmq needs native 64-bit atomics (target_has_atomic = \"64\")");

#[cfg(fmq_loom)]
pub use instrumented::{audit, fence, hook, AtomicU64};
#[cfg(fmq_loom)]
pub use loom::sync::atomic::Ordering;

#[cfg(fmq_sim)]
pub use core::sync::atomic::Ordering;
#[cfg(fmq_sim)]
pub use instrumented::{audit, fence, hook, AtomicU64};

#[cfg(fmq_shuttle)]
pub use shuttle::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(not(any(fmq_loom, fmq_shuttle, fmq_sim)))]
pub use core::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(all(fmq_loom, fmq_sim))]
compile_error!("choose one of --cfg fmq_loom and --cfg fmq_sim, not both");

/// Checked atomics (`--cfg fmq_loom` over loom's, `--cfg fmq_sim` over the real ones) with
/// two hooks for the verification suite, both keyed on where in fmq-core an access is made
/// (`#[track_caller]`), so the protocol code is the same code that ships:
///
/// * **ordering mutation** (`FMQ_MUTANT=core/src/FILE.rs:LINE`): the one non-`Relaxed`
///   ordering or fence on that line is weakened one step (`SeqCst` fence to `AcqRel`, other
///   fences removed, `Acquire`/`Release` to `Relaxed`, `SeqCst` loads and stores to
///   `Acquire`/`Release`). When the site runs for the first time, the line is appended to
///   the file named by `FMQ_MUTANT_LOG`, if set, so the runner can tell a mutant that
///   survived from one that no model reached (`model/src/bin/fmq-mutants.rs`);
/// * **store hook** ([`hook::set`]): called before every store with the word's address and
///   value; returning `false` drops the store, which is how a writer that dies between any
///   two of its stores is modelled (loom recovery models, the simulator in `sim/`);
/// * **read-only audit** ([`audit::watch`]): every access inside an address range that a
///   test declared read-only and that is not a `Relaxed` load (a store, a read-modify-write,
///   an `Acquire` or `SeqCst` load) is recorded with its call site, so a test can check that
///   a reader does on a read-only mapping only what std defines there
///   (`core/tests/read_only_audit.rs`).
#[cfg(any(fmq_loom, fmq_sim))]
mod instrumented {
    extern crate std;

    use core::panic::Location;
    use std::boxed::Box;
    use std::cell::RefCell;
    use std::string::String;
    use std::sync::OnceLock;

    #[cfg(fmq_sim)]
    use core::sync::atomic as inner;
    #[cfg(fmq_loom)]
    use loom::sync::atomic as inner;

    use super::Ordering;

    /// An `AtomicU64` whose loads and stores go through the hooks.
    #[repr(transparent)]
    #[derive(Debug)]
    pub struct AtomicU64(inner::AtomicU64);

    impl AtomicU64 {
        /// A new atomic holding `v`.
        pub fn new(v: u64) -> AtomicU64 {
            AtomicU64(inner::AtomicU64::new(v))
        }

        /// As `AtomicU64::load`, with the ordering mutation applied.
        #[track_caller]
        #[inline]
        pub fn load(&self, order: Ordering) -> u64 {
            let order = mutated(Location::caller(), order, Access::Load).unwrap_or(order);
            audit::check(self.addr(), Location::caller(), audit::Op::Load(order));
            self.0.load(order)
        }

        /// As `AtomicU64::store`, with the ordering mutation and the store hook applied.
        #[track_caller]
        #[inline]
        pub fn store(&self, value: u64, order: Ordering) {
            let order = mutated(Location::caller(), order, Access::Store).unwrap_or(order);
            let addr = self.addr();
            audit::check(addr, Location::caller(), audit::Op::Store(order));
            if hook::allows(addr, value) {
                self.0.store(value, order);
            }
        }
    }

    impl AtomicU64 {
        fn addr(&self) -> usize {
            self as *const AtomicU64 as usize
        }

        /// As `AtomicU64::compare_exchange`, with the ordering mutation applied to the
        /// success ordering (the failure ordering is capped to it) and the store hook to the
        /// new value (a dropped store fails the exchange).
        #[track_caller]
        #[inline]
        pub fn compare_exchange(
            &self,
            current: u64,
            new: u64,
            success: Ordering,
            failure: Ordering,
        ) -> Result<u64, u64> {
            let success = mutated(Location::caller(), success, Access::Rmw).unwrap_or(success);
            let failure = match (success, failure) {
                (Ordering::Relaxed | Ordering::Release, _) => Ordering::Relaxed,
                (Ordering::Acquire | Ordering::AcqRel, Ordering::SeqCst) => Ordering::Acquire,
                (_, f) => f,
            };
            let addr = self.addr();
            audit::check(addr, Location::caller(), audit::Op::Rmw(success));
            if !hook::allows(addr, new) {
                return Err(self.0.load(failure));
            }
            self.0.compare_exchange(current, new, success, failure)
        }
    }

    /// As `fence`, with the ordering mutation applied (a removed fence does nothing).
    #[track_caller]
    #[inline]
    pub fn fence(order: Ordering) {
        match mutated(Location::caller(), order, Access::Fence) {
            None => inner::fence(order),
            Some(Ordering::Relaxed) => {}
            Some(weaker) => inner::fence(weaker),
        }
    }

    #[derive(Clone, Copy)]
    enum Access {
        Load,
        Store,
        Rmw,
        Fence,
    }

    struct Mutant {
        file: String,
        line: u32,
        log: Option<String>,
        logged: core::sync::atomic::AtomicBool,
    }

    fn mutant() -> Option<&'static Mutant> {
        static MUTANT: OnceLock<Option<Mutant>> = OnceLock::new();
        MUTANT
            .get_or_init(|| {
                let spec = std::env::var("FMQ_MUTANT").ok()?;
                let (file, line) = spec.rsplit_once(':')?;
                let line = line.parse().ok()?;
                Some(Mutant {
                    file: String::from(file),
                    line,
                    log: std::env::var("FMQ_MUTANT_LOG").ok(),
                    logged: core::sync::atomic::AtomicBool::new(false),
                })
            })
            .as_ref()
    }

    /// The weakened ordering if `at` is the mutated site and `order` can be weakened.
    fn mutated(at: &Location<'_>, order: Ordering, access: Access) -> Option<Ordering> {
        let m = mutant()?;
        if at.line() != m.line || !at.file().ends_with(m.file.as_str()) {
            return None;
        }
        let weaker = match (access, order) {
            (_, Ordering::Relaxed) => return None,
            (Access::Fence, Ordering::SeqCst) => Ordering::AcqRel,
            (Access::Fence, _) => Ordering::Relaxed,
            (Access::Load, Ordering::SeqCst) => Ordering::Acquire,
            (Access::Store, Ordering::SeqCst) => Ordering::Release,
            (Access::Rmw, Ordering::SeqCst) => Ordering::AcqRel,
            (_, Ordering::AcqRel) => return None,
            _ => Ordering::Relaxed,
        };
        // ORDERING: Relaxed: a once-flag for the log line; it guards nothing else.
        if !m.logged.swap(true, core::sync::atomic::Ordering::Relaxed) {
            if let Some(path) = &m.log {
                use std::io::Write;
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    let _ = writeln!(f, "{}:{}", m.file, m.line);
                }
            }
        }
        Some(weaker)
    }

    /// The read-only audit: one per OS thread, like the store hook (a test watches the
    /// accesses its own thread makes, whatever other tests run meanwhile).
    pub mod audit {
        extern crate std;

        use core::ops::Range;
        use core::panic::Location;
        use core::sync::atomic::AtomicUsize;
        use std::cell::RefCell;
        use std::vec::Vec;

        use super::Ordering;

        /// What an access did.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Op {
            /// A load with this ordering.
            Load(Ordering),
            /// A store with this ordering.
            Store(Ordering),
            /// A read-modify-write (compare-exchange) with this success ordering.
            Rmw(Ordering),
        }

        /// One access inside a watched range that is not a `Relaxed` load.
        #[derive(Clone, Copy, Debug)]
        pub struct Violation {
            /// Address of the word.
            pub addr: usize,
            /// What was done to it (the ordering after any ordering mutation).
            pub op: Op,
            /// Where in the code.
            pub at: &'static Location<'static>,
        }

        impl core::fmt::Display for Violation {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(
                    f,
                    "{}: {:?} of the word at {:#x}",
                    self.at, self.op, self.addr
                )
            }
        }

        #[derive(Default)]
        struct State {
            ranges: Vec<Range<usize>>,
            violations: Vec<Violation>,
            loads: u64,
        }

        std::thread_local! {
            static STATE: RefCell<State> = RefCell::new(State::default());
        }

        /// Threads watching a range: zero keeps every access on the fast path.
        static WATCHING: AtomicUsize = AtomicUsize::new(0);

        /// Declares the bytes of `words` read-only for the accesses this thread makes, until
        /// [`unwatch`].
        pub fn watch(words: &[super::AtomicU64]) {
            let start = words.as_ptr() as usize;
            let range = start..start + core::mem::size_of_val(words);
            STATE.with(|s| {
                let mut s = s.borrow_mut();
                if s.ranges.is_empty() {
                    // ORDERING: Relaxed: a counter read by this thread's own accesses; other
                    // threads only take the slow path needlessly.
                    WATCHING.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                }
                s.ranges.push(range);
            });
        }

        /// Forgets this thread's ranges (the recorded violations stay until [`take`]).
        pub fn unwatch() {
            STATE.with(|s| {
                let mut s = s.borrow_mut();
                if !s.ranges.is_empty() {
                    // ORDERING: Relaxed: as in `watch`.
                    WATCHING.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
                }
                s.ranges.clear();
            });
        }

        /// The violations recorded on this thread so far, and how many `Relaxed` loads inside
        /// watched ranges it made (so a test can tell that it watched the right memory);
        /// clears both.
        pub fn take() -> (Vec<Violation>, u64) {
            STATE.with(|s| {
                let mut s = s.borrow_mut();
                let loads = core::mem::take(&mut s.loads);
                (core::mem::take(&mut s.violations), loads)
            })
        }

        #[inline]
        pub(super) fn check(addr: usize, at: &'static Location<'static>, op: Op) {
            // ORDERING: Relaxed: as in `watch`.
            if WATCHING.load(core::sync::atomic::Ordering::Relaxed) == 0 {
                return;
            }
            STATE.with(|s| {
                let Ok(mut s) = s.try_borrow_mut() else {
                    return;
                };
                if !s.ranges.iter().any(|r| r.contains(&addr)) {
                    return;
                }
                if op == Op::Load(Ordering::Relaxed) {
                    s.loads += 1;
                } else {
                    s.violations.push(Violation { addr, op, at });
                }
            });
        }
    }

    /// The store hook: one per OS thread (loom runs every model thread on the test's own
    /// OS thread, so in a loom model it sees the stores of every model thread).
    pub mod hook {
        extern crate std;

        use super::{Box, RefCell};

        /// Called with `(address of the word, value)` before a store; `false` drops it.
        pub type Hook = Box<dyn FnMut(usize, u64) -> bool>;

        std::thread_local! {
            static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
        }

        /// Installs `hook` (or removes it with `None`), returning the previous one.
        pub fn set(hook: Option<Hook>) -> Option<Hook> {
            HOOK.with(|h| core::mem::replace(&mut *h.borrow_mut(), hook))
        }

        /// Whether the store may happen. Stores made while the hook runs (it may call
        /// back into readers or writers) are not seen by it.
        pub(super) fn allows(addr: usize, value: u64) -> bool {
            let taken = HOOK.with(|h| h.borrow_mut().take());
            match taken {
                None => true,
                Some(mut f) => {
                    let ok = f(addr, value);
                    HOOK.with(|h| {
                        let mut slot = h.borrow_mut();
                        if slot.is_none() {
                            *slot = Some(f);
                        }
                    });
                    ok
                }
            }
        }
    }
}

#[cfg(not(any(fmq_loom, fmq_shuttle)))]
static_assertions::const_assert!(core::mem::size_of::<AtomicU64>() == 8);
#[cfg(not(any(fmq_loom, fmq_shuttle)))]
static_assertions::const_assert!(core::mem::align_of::<AtomicU64>() == 8);
