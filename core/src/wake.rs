//! The wake handshake between a reader about to sleep and the writer (the atomics only; the
//! fmq crate adds the futex syscalls around it).
//!
//! SYNC POINT (a Dekker pair, header line 3's `sleepers` flag and the commit word):
//! * reader, [`prepare_sleep`]: store `sleepers = 1`; `fence(SeqCst)`; load the commit word;
//!   it may sleep only if the commit is still the value it saw;
//! * writer, [`take_sleepers`] after each commit: `fence(SeqCst)`; load `sleepers`; if set,
//!   clear it and wake every sleeper.
//!
//! The SeqCst fences put the two sides in one total order, so at least one sees the other's
//! store: either the reader sees the new commit and does not sleep, or the writer sees the
//! flag and wakes. No wake-up is lost (`model/tests/loom_wake.rs`). A reader whose flag was
//! cleared before it slept finds the commit changed when the kernel compares it. Readers
//! that never sleep never write the flag (DESIGN invariant 5).

#![forbid(unsafe_code)]

use crate::sync::{fence, AtomicU64, Ordering};

/// Reader side: announces a sleeper, then re-checks the commit word. Returns `true` if the
/// commit is still `seen`, so the caller may sleep (the kernel re-checks the value).
#[must_use]
pub fn prepare_sleep(commit: &AtomicU64, sleepers: &AtomicU64, seen: u64) -> bool {
    // ORDERING: Relaxed: ordered before the commit load below by the SeqCst fence.
    sleepers.store(1, Ordering::Relaxed);
    // ORDERING: fence(SeqCst) pairs with the writer's fence(SeqCst) in `take_sleepers`
    // (Dekker): it orders the flag store above before the commit load below.
    fence(Ordering::SeqCst);
    // ORDERING: Relaxed: only a comparison; the read path's own loads and fences publish data.
    commit.load(Ordering::Relaxed) == seen
}

/// Writer side, after a commit: returns `true` (and clears the flag) if a reader may sleep,
/// in which case the caller wakes every sleeper.
#[inline]
#[must_use]
pub fn take_sleepers(sleepers: &AtomicU64) -> bool {
    // ORDERING: fence(SeqCst) pairs with the reader's fence(SeqCst) in `prepare_sleep`
    // (Dekker): it orders the commit store just made before the flag load below.
    fence(Ordering::SeqCst);
    // ORDERING: Relaxed: ordered by the fence above.
    if sleepers.load(Ordering::Relaxed) == 0 {
        return false;
    }
    // ORDERING: Relaxed: a reader that sets the flag again after this store re-checks the
    // commit word after its own fence and sees the new commit.
    sleepers.store(0, Ordering::Relaxed);
    true
}
