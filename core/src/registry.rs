//! The reader registry of blocking (archive) mode (DESIGN invariant 9).
//!
//! After the slot table the stat part holds `readers_max` records of 64 bytes, one cache
//! line each. A registered reader owns one: it publishes there the id it reads next (its
//! *cursor*), its pid, a heartbeat and a name. Unregistered readers never touch the registry
//! and stay read-only (invariant 5). In a blocking queue the writer never retires a message
//! that a live registered reader has not read: before it retires up to id `X` (whether the
//! slot ring or the buffer wraps first), it checks every live record's cursor is at least
//! `X`, and otherwise returns [`WriteError::Blocked`](crate::WriteError::Blocked) without
//! writing anything of the message.
//!
//! # Handshakes (see `docs/memory-ordering.md`)
//!
//! * **Registration vs retirement** (a Dekker pair). The writer stores `retire_intent = X`,
//!   `fence(SeqCst)`, then loads the records. A registering reader claims a record (CAS of
//!   its owner word), stores its cursor, `fence(SeqCst)`, then loads `retire_intent`, and
//!   starts no lower than it. Whichever fence comes first in the SeqCst order, either the
//!   writer sees the reader's cursor or the reader sees the intent: a registered reader's
//!   start is never retired under it.
//! * **Cursor vs copy.** A reader stores its cursor (Release) after it has copied and
//!   validated a message; the writer loads it (Acquire) before it stores anything over that
//!   message, so the reader's loads happen before the writer's stores.
//! * **Wake-up** (the fmq crate's waiting, a second Dekker pair). A writer about to sleep
//!   stores `writer_waiting = 1`, `fence(SeqCst)`, re-loads the slowest cursor and sleeps on
//!   its futex only if unchanged; a registered reader stores its cursor, `fence(SeqCst)`,
//!   loads `writer_waiting` and wakes the writer if it is set.
//!
//! # Record (`docs/file-format.md`)
//!
//! | word | field | written by |
//! |------|-------|------------|
//! | 0 | `owner`: 0 free; else pid (bits 0..32), ticket (32..63), [`DROPPED`] (bit 63) | reader (claim, release), writer (drop) |
//! | 1 | `cursor`: the id the reader reads next | reader |
//! | 2 | `heartbeat_ns`: the reader's monotonic clock when it last showed life | reader |
//! | 3 | `registered_ns`: when it registered (same clock) | reader |
//! | 4..7 | `name`: up to 24 bytes, zero-padded | reader |
//! | 7 | `ticket`: claims of this record so far | reader (claim) |

use crate::sync::{fence, AtomicU64, Ordering};
use crate::view::View;

pub use crate::layout::RECORD_WORDS;
/// Longest name stored, in bytes.
pub const NAME_MAX_BYTES: usize = 24;
/// Owner bit set by the writer when it unregisters a dead reader. The record stays reserved
/// until the dropped reader learns of it (its next read frees it) or its process is gone
/// (`reclaim`): a dropped reader that was only stopped may still store its cursor once,
/// and must not store it into another reader's registration.
pub const DROPPED: u64 = 1 << 63;

/// Word indices of a record.
pub mod word {
    /// Owner token, 0 when free.
    pub const OWNER: usize = 0;
    /// The id the reader reads next.
    pub const CURSOR: usize = 1;
    /// Last sign of life, ns of the reader's monotonic clock.
    pub const HEARTBEAT: usize = 2;
    /// Registration time, same clock.
    pub const REGISTERED: usize = 3;
    /// First of the three name words.
    pub const NAME: usize = 4;
    /// Claims of this record so far (the ticket of the owner word).
    pub const TICKET: usize = 7;
}

/// Whether an owner word names a live registration.
#[inline]
pub const fn is_live(owner: u64) -> bool {
    owner != 0 && owner & DROPPED == 0
}

/// The pid in an owner word.
#[inline]
pub const fn owner_pid(owner: u64) -> u32 {
    owner as u32
}

/// A snapshot of one record, for the writer's dead-reader checks and `fmq info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderRecord {
    /// Record index.
    pub index: u32,
    /// Owner word (see [`is_live`], [`owner_pid`], [`DROPPED`]).
    pub owner: u64,
    /// The id the reader reads next.
    pub cursor: u64,
    /// Last sign of life (reader's monotonic clock, ns).
    pub heartbeat_ns: u64,
    /// Registration time (same clock).
    pub registered_ns: u64,
    /// Name bytes, zero-padded.
    pub name: [u8; NAME_MAX_BYTES],
}

impl ReaderRecord {
    /// Whether the record is a live registration.
    pub fn is_live(&self) -> bool {
        is_live(self.owner)
    }

    /// Whether the writer dropped the registration (and nobody registered since).
    pub fn is_dropped(&self) -> bool {
        self.owner & DROPPED != 0
    }

    /// The registered reader's pid.
    pub fn pid(&self) -> u32 {
        owner_pid(self.owner)
    }

    /// The name, without its padding.
    pub fn name(&self) -> &[u8] {
        let end = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(NAME_MAX_BYTES);
        &self.name[..end]
    }
}

/// Loads a snapshot of record `index` (`None` past the registry). Diagnostic: the fields are
/// loaded one by one (Relaxed) and may mix two moments.
pub fn load_record(stat: &[AtomicU64], layout: &crate::Layout, index: u32) -> Option<ReaderRecord> {
    if index >= layout.readers_max() {
        return None;
    }
    let rec = stat.get(layout.record_words(index as usize))?;
    // ORDERING: Relaxed: a diagnostic snapshot (fmq info, the writer's dead-reader scan, which
    // acts only through a CAS of the owner word).
    let get = |w: usize| rec[w].load(Ordering::Relaxed);
    let mut name = [0u8; NAME_MAX_BYTES];
    for (i, chunk) in name.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&get(word::NAME + i).to_le_bytes());
    }
    Some(ReaderRecord {
        index,
        owner: get(word::OWNER),
        cursor: get(word::CURSOR),
        heartbeat_ns: get(word::HEARTBEAT),
        registered_ns: get(word::REGISTERED),
        name,
    })
}

/// Claims a record for a reader that wants to read `want` next; returns the record index,
/// the owner token, and where the reader starts (`want`, or the writer's `retire_intent`
/// when that is higher: ids below it may be retired without regard to this reader). `None`
/// when no record can be had.
///
/// `claimable(index, owner)` decides whether the record, holding `owner`, may be taken: a
/// free one (`owner == 0`), or one whose owner the caller knows is dead (the fmq crate holds
/// the record's token, an OFD lock that only a dead owner gives up). The claim is one CAS
/// from the value `claimable` accepted; if the writer marks that owner dropped meanwhile,
/// `claimable` is asked again about the new value.
pub(crate) fn claim(
    view: &View<'_>,
    name: &[u8],
    pid: u32,
    now_ns: u64,
    want: u64,
    claimable: &mut dyn FnMut(u32, u64) -> bool,
) -> Option<(u32, u64, u64)> {
    for index in 0..view.readers_max() {
        let rec = view.record(index)?;
        // ORDERING: Relaxed: only picks a candidate; the CAS below decides.
        let mut owner = rec[word::OWNER].load(Ordering::Relaxed);
        // At most two rounds: only the writer's drop (one bit, once) changes a dead owner.
        for _ in 0..2 {
            if !claimable(index as u32, owner) {
                break;
            }
            // The ticket tells this registration from earlier ones of the same pid (a reader
            // that registers again in the record it left).
            // ORDERING: Relaxed: a counter; the claim below orders the record.
            let ticket = (rec[word::TICKET].load(Ordering::Relaxed) & 0x7fff_ffff)
                .wrapping_add(1)
                .max(1);
            let token = u64::from(pid) | (ticket << 32);
            let owner_w = &rec[word::OWNER];
            // ORDERING: Acquire pairs with the Release of the previous owner's `release` (or of
            // `reclaim`, for a dead owner): its stores to the record (its last cursor) happen
            // before the stores below, so a writer that sees this reader's cursor never reads
            // the previous owner's instead (`loom_registry`, the previous-owner models). The
            // handshake with the writer is the fence in `finish_claim`, not this.
            let got = owner_w.compare_exchange(owner, token, Ordering::Acquire, Ordering::Relaxed);
            match got {
                Ok(_) => {
                    // ORDERING: Relaxed: read back only by the next claimant, after its
                    // Acquire claim.
                    rec[word::TICKET].store(ticket, Ordering::Relaxed);
                    let start = finish_claim(view, rec, name, now_ns, want);
                    return Some((index as u32, token, start));
                }
                Err(now) => owner = now,
            }
        }
    }
    None
}

/// The part of [`claim`] after the owner CAS: the record's fields and the registration
/// handshake; returns where the reader starts.
fn finish_claim(view: &View<'_>, rec: &[AtomicU64], name: &[u8], now_ns: u64, want: u64) -> u64 {
    let mut words = [0u64; 3];
    for (i, chunk) in name.iter().take(NAME_MAX_BYTES).enumerate() {
        words[i / 8] |= u64::from(*chunk) << (8 * (i % 8));
    }
    for (i, w) in words.iter().enumerate() {
        // ORDERING: Relaxed: descriptive, read only by snapshots.
        rec[word::NAME + i].store(*w, Ordering::Relaxed);
    }
    // ORDERING: Relaxed: descriptive; the writer's dead-reader check reads it as a hint.
    rec[word::REGISTERED].store(now_ns, Ordering::Relaxed);
    rec[word::HEARTBEAT].store(now_ns, Ordering::Relaxed);
    // ORDERING: Release pairs with the writer's Acquire cursor load in `scan`, as every
    // cursor store: a reader registering again read the ids below `want` before.
    // not modelled: load buffering (memory-ordering.md N4).
    rec[word::CURSOR].store(want, Ordering::Release);
    // ORDERING: fence(SeqCst): the registration handshake. Pairs with the writer's
    // fence(SeqCst) in `scan` between its intent store and its record loads: either the
    // writer's loads see this cursor, or the load below sees its intent.
    fence(Ordering::SeqCst);
    // ORDERING: Relaxed: after the fence above (the handshake's load).
    let intent = view
        .header(crate::header::word::RETIRE_INTENT)
        .load(Ordering::Relaxed);
    let start = want.max(intent);
    if start != want {
        // ORDERING: Release, as every cursor store.
        // not modelled: load buffering (memory-ordering.md N4).
        rec[word::CURSOR].store(start, Ordering::Release);
    }
    start
}

/// Publishes a registered reader's cursor: it has copied and validated every id below
/// `cursor` and will not load their bytes again.
#[inline]
pub(crate) fn publish_cursor(rec: &[AtomicU64], cursor: u64) {
    // ORDERING: Release pairs with the writer's Acquire cursor load in `scan`: the reader's
    // loads of the messages below `cursor` happen before the writer's stores over them.
    // not modelled: load buffering (memory-ordering.md N4).
    rec[word::CURSOR].store(cursor, Ordering::Release);
}

/// Whether the record still belongs to `token` (the writer did not drop it).
#[inline]
pub(crate) fn still_owned(rec: &[AtomicU64], token: u64) -> bool {
    // ORDERING: Relaxed: the reader only learns whether it was dropped; a drop it sees late
    // only delays that news (the writer no longer waits for it either way).
    rec[word::OWNER].load(Ordering::Relaxed) == token
}

/// Releases a registration (a reader that detaches, or learns it was dropped: `token` then
/// carries [`DROPPED`]): the record becomes free.
pub(crate) fn release(rec: &[AtomicU64], token: u64) {
    // ORDERING: Release pairs with the next claim's Acquire CAS: this reader's last cursor
    // store happens before the next owner's, so no writer reads it in place of theirs
    // (`loom_registry`, claim after a detach). Also pairs with the writer's Acquire owner
    // load in `scan` (the reader's last copies happen before the stores of a writer that sees
    // the record free), which only load buffering would need (memory-ordering.md N4).
    let _ = rec[word::OWNER].compare_exchange(token, 0, Ordering::Release, Ordering::Relaxed);
}

/// Frees record `index` if it holds `owner`, a registration the writer dropped whose
/// process the caller knows is gone. Returns whether it did.
pub(crate) fn reclaim(view: &View<'_>, index: usize, owner: u64) -> bool {
    if owner & DROPPED == 0 {
        return false;
    }
    let Some(rec) = view.record(index) else {
        return false;
    };
    let owner_word = &rec[word::OWNER];
    // ORDERING: Release pairs with the next claim's Acquire CAS, as `release`'s: the dead
    // owner's stores happen before the caller learned its process ended (the kernel), so
    // before this, and so before the next owner's stores: no writer reads the dead owner's
    // last cursor in place of the new one's (`loom_registry`, claim racing a dead reader's
    // reclaim).
    let freed = owner_word.compare_exchange(owner, 0, Ordering::Release, Ordering::Relaxed);
    freed.is_ok()
}

/// Records a sign of life.
#[inline]
pub(crate) fn heartbeat(rec: &[AtomicU64], now_ns: u64) {
    // ORDERING: Relaxed: a hint for the writer's dead-reader check.
    rec[word::HEARTBEAT].store(now_ns, Ordering::Relaxed);
}

/// The writer's scan: announces that it is about to retire every id below `intent`, then
/// returns the slowest live registered reader whose cursor is below `intent`, if any, as
/// `(index, cursor)`.
pub(crate) fn scan(view: &View<'_>, intent: u64) -> Option<(u32, u64)> {
    // ORDERING: Relaxed: ordered before the record loads by the fence below.
    view.header(crate::header::word::RETIRE_INTENT)
        .store(intent, Ordering::Relaxed);
    // ORDERING: fence(SeqCst): the registration handshake; pairs with the registering
    // reader's fence(SeqCst) in `claim` (see there).
    fence(Ordering::SeqCst);
    let mut slowest: Option<(u32, u64)> = None;
    for index in 0..view.readers_max() {
        let Some(rec) = view.record(index) else {
            break;
        };
        // ORDERING: Acquire pairs with `release`'s Release CAS: a reader that detached is done
        // copying before the writer stores over what it read. (The registration handshake
        // itself is the fence above.)
        // not modelled: load buffering (memory-ordering.md N4).
        let owner = rec[word::OWNER].load(Ordering::Acquire);
        if !is_live(owner) {
            continue;
        }
        // ORDERING: Acquire pairs with the reader's Release cursor store: its copies of the
        // ids below this cursor happen before the stores the writer makes next.
        // not modelled: load buffering (memory-ordering.md N4).
        let cursor = rec[word::CURSOR].load(Ordering::Acquire);
        if cursor < intent && slowest.map_or(true, |(_, c)| cursor < c) {
            slowest = Some((index as u32, cursor));
        }
    }
    slowest
}

/// After a registered reader published its cursor: whether the writer may be asleep waiting
/// for it (the caller then wakes it on the cursor's futex).
#[inline]
pub(crate) fn writer_waiting(view: &View<'_>) -> bool {
    // ORDERING: fence(SeqCst): the wake-up handshake. Pairs with the writer's fence(SeqCst)
    // between its store of `writer_waiting` and its re-load of the cursor it sleeps on: either
    // the writer sees the new cursor, or this load sees the flag.
    fence(Ordering::SeqCst);
    // ORDERING: Relaxed: after the fence above.
    view.header(crate::header::word::WRITER_WAITING)
        .load(Ordering::Relaxed)
        != 0
}

/// The writer's side of the wake-up handshake: announces that it is about to sleep on the
/// cursor of record `index`, which it last saw at `seen`; returns the cursor word to sleep
/// on if the cursor is still `seen` (else the reader moved: no sleep). The caller clears
/// the flag with [`end_wait`] when it stops waiting.
pub(crate) fn prepare_wait<'v>(view: &View<'v>, index: u32, seen: u64) -> Option<&'v AtomicU64> {
    let rec = view.record(index as usize)?;
    // ORDERING: Relaxed: ordered before the cursor re-load by the fence below.
    view.header(crate::header::word::WRITER_WAITING)
        .store(1, Ordering::Relaxed);
    // ORDERING: fence(SeqCst): the wake-up handshake; pairs with the reader's fence(SeqCst)
    // in `writer_waiting` after its cursor store.
    fence(Ordering::SeqCst);
    // ORDERING: Relaxed: after the fence above; if unchanged the caller sleeps on the futex,
    // whose kernel compare re-checks it.
    let now = rec[word::CURSOR].load(Ordering::Relaxed);
    (now == seen).then_some(&rec[word::CURSOR])
}

/// Clears the writer's waiting flag.
pub(crate) fn end_wait(view: &View<'_>) {
    // ORDERING: Relaxed: a hint; a reader that still sees it set makes one needless wake call.
    view.header(crate::header::word::WRITER_WAITING)
        .store(0, Ordering::Relaxed);
}
