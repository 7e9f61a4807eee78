//! Read-only inspection of a region, for tools (`fmq info`, `fmq check`) and the fuzz
//! targets: pure functions over a [`Region`] and a [`Header`] snapshot, with no OS calls and no
//! allocation.
//!
//! Like [`Header::load`] and [`Slot::load`] they take snapshots field by field (not atomic as
//! a whole): for display and diagnosis, never to publish. Everything they look at is untrusted
//! (DESIGN invariant 6): they never panic and never index outside the region, whatever it
//! holds.

use crate::header::{Header, HEADER_WORDS};
use crate::layout::Layout;
use crate::message::MAX_MESSAGE_ID;
use crate::region::Region;
use crate::slot::{Slot, SLOT_WORDS, STAMP_EMPTY};

/// A snapshot of slot `index` of the slot table, or `None` when the stat part is too short
/// to hold it.
pub fn load_slot<R: Region + ?Sized>(region: &R, index: usize) -> Option<Slot> {
    let start = index.checked_mul(SLOT_WORDS)?.checked_add(HEADER_WORDS)?;
    let words = region
        .stat_words()
        .get(start..start.checked_add(SLOT_WORDS)?)?
        .try_into()
        .ok()?;
    Some(Slot::load(words))
}

/// Whether a header's commit line is one a writer can leave: `1 <= oldest_id <=
/// youngest_id + 1`, at most `slots_count` messages present, and the youngest id below
/// [`MAX_MESSAGE_ID`].
pub fn commit_line_ok(h: &Header, layout: &Layout) -> bool {
    h.youngest_id < MAX_MESSAGE_ID
        && h.oldest_id != 0
        && h.oldest_id <= h.youngest_id.saturating_add(1)
        && h.present_count() <= u64::from(layout.slots_count())
}

/// What a slot's stamp says about the slot, compared with a header's commit line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// The stamp is EMPTY.
    Empty,
    /// The stamp names an id between the oldest and the youngest, in its own slot.
    Present,
    /// The stamp names an id whose slot is another one: corruption.
    Misplaced,
    /// The stamp names an id outside the present ids, in its own slot: a retirement or a
    /// write that a dead writer did not finish (the next writer's recovery clears it), or a
    /// live writer that moved on since the header was loaded.
    Outside,
}

/// Classifies the stamp found in slot `index` against the commit line of `h`.
pub fn slot_state(h: &Header, layout: &Layout, index: usize, stamp: u64) -> SlotState {
    // `Layout` guarantees at least one slot.
    let s = u64::from(layout.slots_count()).max(1);
    if stamp == STAMP_EMPTY {
        SlotState::Empty
    } else if stamp % s != index as u64 {
        SlotState::Misplaced
    } else if stamp < h.oldest_id || stamp > h.youngest_id {
        SlotState::Outside
    } else {
        SlotState::Present
    }
}

/// Buffer bytes that the present messages span, from the oldest message's start to the
/// header's write position (padding included); 0 when nothing is present or when the oldest
/// message's slot does not hold it.
pub fn bytes_used<R: Region + ?Sized>(region: &R, layout: &Layout, h: &Header) -> u64 {
    if h.present_count() == 0 || h.oldest_id == 0 {
        return 0;
    }
    let s = u64::from(layout.slots_count()).max(1);
    load_slot(region, (h.oldest_id % s) as usize)
        .filter(|slot| slot.stamp == h.oldest_id)
        .map_or(0, |slot| h.write_pos.saturating_sub(slot.buf_pos))
}
