//! The capacity rule of `docs/design.md` ("Capacity rule") and the reading rules of its
//! "Reading one message" section, as plain arithmetic on ids and stream positions.
//!
//! Written from the documents, not from `core/src/writer.rs` or `core/src/reader.rs`: it
//! shares no code and no state with them (it never looks at a region), so a writer that
//! retires too much or too little, or a reader whose lag arithmetic is off, disagrees with it.
//!
//! The rule, quoted: a queue holds at most `slots_count` messages and at most one buffer lap
//! of bytes. Message `id` of `len` bytes occupies `padded = round_up(len, 8)` bytes at stream
//! position `start`:
//!
//! ```text
//! phys  = write_pos % buf_size
//! start = write_pos                       if phys + padded <= buf_size
//!       = write_pos + (buf_size - phys)   otherwise (pad to the next lap)
//! end   = start + padded
//! ```
//!
//! and the writer retires, oldest first, every message `o` with `id - o >= slots_count` or
//! `start(o) < end - buf_size`.

use std::collections::VecDeque;

use fmq_core::{LagPolicy, StartAt};

/// `len` rounded up to whole 8-byte words: the bytes a payload of `len` bytes occupies.
pub const fn padded(len: u64) -> u64 {
    len.div_ceil(8) * 8
}

/// Where the capacity rule puts one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Its id.
    pub id: u64,
    /// Stream position of its first byte.
    pub start: u64,
    /// Bytes it occupies (its length rounded up to 8).
    pub padded: u64,
}

impl Placement {
    /// Stream position just past it: where the next message starts, before padding.
    pub fn end(&self) -> u64 {
        self.start + self.padded
    }
}

/// The capacity rule as a state machine: which ids are present after each message, and
/// where each one starts.
#[derive(Clone, Debug)]
pub struct CapacityOracle {
    slots_count: u64,
    buf_size_bytes: u64,
    next_id: u64,
    write_pos: u64,
    /// `(id, start)` of every message present, oldest first, ids consecutive.
    present: VecDeque<(u64, u64)>,
}

impl CapacityOracle {
    /// An empty queue of `slots_count` slots and `buf_size_bytes` of buffer, as a format
    /// leaves it: the first id is 1, the stream starts at 0.
    pub fn new(slots_count: u32, buf_size_bytes: u64) -> CapacityOracle {
        CapacityOracle::resume(slots_count, buf_size_bytes, 1, 0, [])
    }

    /// A queue that continues from a known state, as a recovery leaves it: `present` are the
    /// `(id, start)` of the messages kept, oldest first with consecutive ids ending at
    /// `next_id - 1` (or none), and the next message goes at `write_pos` (before padding).
    pub fn resume(
        slots_count: u32,
        buf_size_bytes: u64,
        next_id: u64,
        write_pos: u64,
        present: impl IntoIterator<Item = (u64, u64)>,
    ) -> CapacityOracle {
        let present: VecDeque<(u64, u64)> = present.into_iter().collect();
        let consecutive = present
            .iter()
            .zip(present.iter().skip(1))
            .all(|(a, b)| b.0 == a.0 + 1);
        assert!(
            consecutive && present.back().map_or(true, |&(id, _)| id + 1 == next_id),
            "present ids are consecutive and end at next_id - 1"
        );
        CapacityOracle {
            slots_count: slots_count.into(),
            buf_size_bytes,
            next_id,
            write_pos,
            present,
        }
    }

    /// Where a message of `len` bytes would go now (nothing changes).
    pub fn place(&self, len: u64) -> Placement {
        let b = self.buf_size_bytes;
        let padded = padded(len);
        assert!(padded <= b, "a message is never larger than the buffer");
        let phys = self.write_pos % b;
        let start = if phys + padded <= b {
            self.write_pos
        } else {
            self.write_pos + (b - phys)
        };
        Placement {
            id: self.next_id,
            start,
            padded,
        }
    }

    /// Appends a message of `len` bytes: places it and retires what the rule retires.
    pub fn put(&mut self, len: u64) -> Placement {
        let p = self.place(len);
        // Retire oldest first while the oldest must go. Both conditions only get weaker
        // towards younger ids (ids and starts increase), so stopping at the first message
        // that may stay retires exactly the messages the rule names.
        let reused_below = p.end().saturating_sub(self.buf_size_bytes);
        while let Some(&(o, o_start)) = self.present.front() {
            if p.id - o >= self.slots_count || o_start < reused_below {
                self.present.pop_front();
            } else {
                break;
            }
        }
        self.present.push_back((p.id, p.start));
        self.write_pos = p.end();
        self.next_id += 1;
        p
    }

    /// [`Self::put`] for a `usize` length, returning the id.
    pub fn push(&mut self, len: usize) -> u64 {
        self.put(len as u64).id
    }

    /// The oldest id present (`youngest + 1` when none is).
    pub fn oldest(&self) -> u64 {
        self.present.front().map_or(self.next_id, |&(id, _)| id)
    }

    /// The youngest id written (0 before the first).
    pub fn youngest(&self) -> u64 {
        self.next_id - 1
    }

    /// The id the next message gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// The stream position the next message starts from (before padding).
    pub fn write_pos(&self) -> u64 {
        self.write_pos
    }

    /// Number of slots.
    pub fn slots_count(&self) -> u64 {
        self.slots_count
    }

    /// Buffer size in bytes.
    pub fn buf_size_bytes(&self) -> u64 {
        self.buf_size_bytes
    }

    /// Whether message `id` is present.
    pub fn is_present(&self, id: u64) -> bool {
        (self.oldest()..self.next_id).contains(&id)
    }

    /// The stream position where present message `id` starts.
    pub fn start_of(&self, id: u64) -> Option<u64> {
        let i = usize::try_from(id.checked_sub(self.present.front()?.0)?).ok()?;
        self.present.get(i).map(|&(_, start)| start)
    }
}

/// What one read by a reader that wants id `cursor` must return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Message `id` (= `cursor`).
    Msg(u64),
    /// Nothing new: `cursor` is above the commit point.
    Empty,
    /// `cursor` was retired: `Lagged { missed_count: missed, resumed_at: resume }`.
    Lagged {
        /// `resume - cursor`.
        missed: u64,
        /// Where the policy resumes.
        resume: u64,
    },
}

/// Where a lagging reader resumes (design, "Reading one message", *mismatch*): `oldest`
/// (tokio's rule) or `max(youngest, oldest)` (LROSE's rule).
pub fn lag_resume(policy: LagPolicy, oldest: u64, youngest: u64) -> u64 {
    match policy {
        LagPolicy::ResumeAtOldest => oldest,
        LagPolicy::ResumeAtYoungest => youngest.max(oldest),
    }
}

/// What a read at `cursor` returns on a queue whose commit line is `oldest..=youngest`:
/// `Lagged` below the window, `Empty` above the commit point, the message otherwise.
pub fn expect_read(cursor: u64, oldest: u64, youngest: u64, policy: LagPolicy) -> Expect {
    if cursor < oldest {
        let resume = lag_resume(policy, oldest, youngest);
        Expect::Lagged {
            missed: resume - cursor,
            resume,
        }
    } else if cursor > youngest {
        Expect::Empty
    } else {
        Expect::Msg(cursor)
    }
}

/// The id a reader attached or seeking at `to` reads next: the oldest present, the youngest
/// (1 on an empty queue that never had a message), the next to be written, or the id named.
pub fn start_id(to: StartAt, oldest: u64, youngest: u64) -> u64 {
    match to {
        StartAt::Oldest => oldest,
        StartAt::Youngest => youngest.max(1),
        StartAt::End => youngest + 1,
        StartAt::Id(id) => id.0,
    }
}

#[cfg(test)]
mod tests {
    //! Hand-computed cases of the design's rules: each expected number below is worked out
    //! from the rule's text in the comment above it, not by running any code.
    use super::*;

    #[test]
    fn padding_rounds_up_to_whole_words() {
        assert_eq!(
            [0, 1, 7, 8, 9, 16, 17].map(padded),
            [0, 8, 8, 8, 16, 16, 24]
        );
    }

    #[test]
    fn slot_limit_retires_the_oldest_when_every_slot_is_taken() {
        // 2 slots, a large buffer: id 3 needs slot 1 (3 - 1 >= 2), id 4 slot 2.
        let mut o = CapacityOracle::new(2, 1024);
        assert_eq!(o.put(8).start, 0);
        assert_eq!(o.put(8).start, 8);
        assert_eq!((o.oldest(), o.youngest()), (1, 2));
        o.put(8);
        assert_eq!((o.oldest(), o.youngest()), (2, 3));
        o.put(0);
        assert_eq!((o.oldest(), o.youngest(), o.write_pos()), (3, 4, 24));
    }

    #[test]
    fn a_payload_that_would_cross_the_end_starts_the_next_lap() {
        // 64-byte buffer. Ids 1 (20 -> 24 bytes at 0..24) and 2 (30 -> 32 at 24..56). Id 3
        // (16 bytes): phys 56 + 16 > 64, so start = 56 + 8 = 64, end 80; it reuses stream
        // bytes [0, 16): id 1 (start 0 < 16) goes, id 2 (start 24) stays.
        let mut o = CapacityOracle::new(8, 64);
        o.put(20);
        o.put(30);
        let p = o.put(16);
        assert_eq!((p.start, p.end()), (64, 80));
        assert_eq!(
            (o.oldest(), o.start_of(2), o.start_of(3)),
            (2, Some(24), Some(64))
        );
        // Id 4 (40 bytes): phys 16 + 40 <= 64, start 80, end 120, reuses [16, 56): id 2
        // (start 24 < 56) goes, id 3 (start 64) stays.
        assert_eq!(o.put(40).start, 80);
        assert_eq!(o.oldest(), 3);
    }

    #[test]
    fn bytes_and_slots_both_retire_and_an_exact_fit_takes_the_whole_lap() {
        // 2 slots, 64 bytes: 12 -> 16 at 0, 20 -> 24 at 16, 17 -> 24 at 40 (slot of 1
        // taken: oldest 2), 30 -> 32: phys 64 % 64 = 0, start 64, end 96, reuses [0, 32):
        // id 2 (start 16) goes by bytes; id 3 (start 40, 4 - 3 < 2 slots) stays.
        let mut o = CapacityOracle::new(2, 64);
        o.put(12);
        o.put(20);
        o.put(17);
        assert_eq!(o.oldest(), 2);
        assert_eq!(o.put(30).start, 64);
        assert_eq!(o.oldest(), 3);
        // A message of the whole buffer (64) at 96: phys 32 + 64 > 64, start 128; it
        // reuses [64, 128), so everything before it goes (and id 3's slot is needed).
        let p = o.put(64);
        assert_eq!((p.start, o.oldest(), o.youngest()), (128, 5, 5));
    }

    #[test]
    fn resume_continues_from_a_recovered_window() {
        // Kept ids 7 (at 40) and 8 (at 48, 8 bytes): next at 56 in a 64-byte, 4-slot queue.
        // Id 9 of 16 bytes: phys 56 + 16 > 64, start 64, end 80, reuses [0, 16): nothing of
        // 7 or 8. Id 10 of 48: start 80, end 128, reuses [16, 64): 7 and 8 go.
        let mut o = CapacityOracle::resume(4, 64, 9, 56, [(7, 40), (8, 48)]);
        assert_eq!(o.put(16).start, 64);
        assert_eq!(o.oldest(), 7);
        o.put(48);
        assert_eq!((o.oldest(), o.youngest()), (9, 10));
    }

    #[test]
    fn reads_lag_by_the_exact_count_to_the_policys_resume_point() {
        use LagPolicy::*;
        // Window 5..=9: a reader at 2 missed 2, 3, 4 (oldest rule) or 2..=8 (youngest).
        assert_eq!(
            expect_read(2, 5, 9, ResumeAtOldest),
            Expect::Lagged {
                missed: 3,
                resume: 5
            }
        );
        assert_eq!(
            expect_read(2, 5, 9, ResumeAtYoungest),
            Expect::Lagged {
                missed: 7,
                resume: 9
            }
        );
        // An empty window 10..=9: the youngest rule cannot resume below oldest.
        assert_eq!(
            expect_read(3, 10, 9, ResumeAtYoungest),
            Expect::Lagged {
                missed: 7,
                resume: 10
            }
        );
        assert_eq!(expect_read(5, 5, 9, ResumeAtOldest), Expect::Msg(5));
        assert_eq!(expect_read(10, 5, 9, ResumeAtOldest), Expect::Empty);
    }

    #[test]
    fn start_points_name_the_next_id_read() {
        use fmq_core::MessageId;
        assert_eq!(start_id(StartAt::Oldest, 5, 9), 5);
        assert_eq!(start_id(StartAt::Youngest, 5, 9), 9);
        assert_eq!(start_id(StartAt::Youngest, 1, 0), 1);
        assert_eq!(start_id(StartAt::End, 5, 9), 10);
        assert_eq!(start_id(StartAt::Id(MessageId(3)), 5, 9), 3);
    }
}
