//! Waiting for the next message without burning a core (issue 4, DESIGN §2).
//!
//! A waiting reader spins briefly, then sleeps on a futex on the low 32 bits of the commit
//! word (`youngest_id`) with the wake flag (`sleepers`, header line 3) set. The futex is the
//! shared (non-private) kind, keyed by the mapped page, so it works across processes on both
//! shared memory and file mappings. The writer wakes only when the flag says someone may
//! sleep; otherwise a commit costs one `fence(SeqCst)` and one load, never a syscall.
//!
//! The handshake itself (a Dekker pair of SeqCst fences over the flag and the commit word)
//! is `fmq_core::wake`, where the loom model `model/tests/loom_wake.rs` checks that no
//! wake-up is lost; this module adds the syscalls: `FUTEX_WAIT` when `prepare_sleep` says
//! the commit is unchanged (the kernel re-checks it atomically), `FUTEX_WAKE` of everyone
//! when `take_sleepers` says someone may sleep. Only sleeping readers ever write shared memory
//! (DESIGN invariant 5 holds for every reader that does not wait); a reader that dies while
//! the flag is set costs the writer one wake, not one per message. Sleeps are sliced (at
//! most [`SLEEP_SLICE`]) so that the 32-bit comparison's wrap-around, a dead writer, or a
//! re-created queue never hold a reader longer than a slice.
//!
//! Without a futex (other systems, read-only mappings, or [`WaitStrategy::poll`]) the reader
//! polls with short sleeps.

use std::time::Duration;

use fmq_core::sync::AtomicU64;
use fmq_core::wake::{prepare_sleep, take_sleepers};

/// The longest single sleep; waits longer than this are taken in slices.
pub const SLEEP_SLICE: Duration = Duration::from_millis(50);

/// How a reader waits for the next message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitStrategy {
    /// Spin (re-checking the commit word) this long before sleeping. `Duration::MAX` spins
    /// forever (lowest latency, one core per reader).
    pub spin_for: Duration,
    /// Sleep on the futex (Linux, writable mappings) rather than poll.
    pub futex: bool,
    /// The sleep between polls when not using the futex.
    pub poll_interval: Duration,
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy {
            spin_for: Duration::from_micros(20),
            futex: cfg!(target_os = "linux"),
            poll_interval: Duration::from_millis(1),
        }
    }
}

impl WaitStrategy {
    /// Spin without ever sleeping.
    pub fn spin() -> Self {
        WaitStrategy {
            spin_for: Duration::MAX,
            ..WaitStrategy::default()
        }
    }

    /// The portable fallback: poll every `interval`.
    pub fn poll(interval: Duration) -> Self {
        WaitStrategy {
            spin_for: Duration::ZERO,
            futex: false,
            poll_interval: interval,
        }
    }
}

/// Reader side: sleeps until the commit word differs from `seen` or `timeout` passes.
/// Returns at once if the word already differs.
pub(crate) fn sleep_on_commit(
    commit: &AtomicU64,
    sleepers: &AtomicU64,
    seen: u64,
    timeout: Duration,
) {
    if prepare_sleep(commit, sleepers, seen) {
        futex_wait(commit, seen as u32, timeout.min(SLEEP_SLICE));
    }
}

/// Writer side, after each commit: wakes sleeping readers if the flag says there may be any.
#[inline]
pub(crate) fn wake_sleepers(commit: &AtomicU64, sleepers: &AtomicU64) {
    if take_sleepers(sleepers) {
        futex_wake_all(commit);
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC`: one clock for every process of the host, so that a
/// writer can compare a registered reader's heartbeat with its own now.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY:
    // 1. `ts` is a valid, writable timespec that outlives the call.
    // 2. CLOCK_MONOTONIC exists on every system fmq supports; on failure `ts` stays zero.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Writer side of blocking mode: sleeps until a registered reader's cursor word differs from
/// `seen` (or `timeout`, at most one slice). The caller set the waiting flag first
/// (`fmq_core::Writer::prepare_wait`).
pub(crate) fn sleep_on_cursor(cursor: &AtomicU64, seen: u64, timeout: Duration) {
    futex_wait(cursor, seen as u32, timeout.min(SLEEP_SLICE));
}

/// Reader side of blocking mode: wakes a writer asleep on this reader's cursor word.
pub(crate) fn wake_writer(cursor: &AtomicU64) {
    futex_wake_all(cursor);
}

#[cfg(target_os = "linux")]
fn futex_wait(word: &AtomicU64, expected_low: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // The low half of the little-endian word (fmq-core refuses big-endian targets).
    let addr: *const u32 = (word as *const AtomicU64).cast();
    // SAFETY:
    // 1. `addr` points at the low 4 bytes of a live, 8-aligned `AtomicU64` inside a mapping
    //    this process holds for the whole call; the kernel reads those 4 bytes atomically
    //    and writes nothing there.
    // 2. `ts` is a valid relative timeout that outlives the call; the remaining arguments
    //    are unused by FUTEX_WAIT.
    // 3. FUTEX_WAIT without FUTEX_PRIVATE_FLAG keys the futex by the mapped page, so it is
    //    shared with the writer's process; every outcome (woken, EAGAIN because the value
    //    changed, ETIMEDOUT, EINTR) is fine: the caller re-checks the queue.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr,
            libc::FUTEX_WAIT,
            expected_low,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

#[cfg(target_os = "linux")]
fn futex_wake_all(word: &AtomicU64) {
    let addr: *const u32 = (word as *const AtomicU64).cast();
    // SAFETY:
    // 1. `addr` points into a live mapping (see `futex_wait`); FUTEX_WAKE only uses the
    //    address as a key and touches no memory.
    // 2. i32::MAX wakes every waiter.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr,
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn futex_wait(_word: &AtomicU64, _expected_low: u32, timeout: Duration) {
    std::thread::sleep(timeout.min(Duration::from_millis(1)));
}

#[cfg(not(target_os = "linux"))]
fn futex_wake_all(_word: &AtomicU64) {}
