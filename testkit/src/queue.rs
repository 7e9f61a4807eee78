//! The queue as a `VecDeque` of messages whose retention is [`CapacityOracle`]'s: the
//! differential oracle of the single-threaded tests (`core/tests/oracle.rs`,
//! `core/tests/corruption.rs`) and of the `ops_vs_oracle` fuzz body.
//!
//! It remembers what was handed to the writer (type, subtype, time, bytes) and answers what
//! a read must return; it never looks at a region.

use std::collections::VecDeque;

use fmq_core::{LagPolicy, MessageMeta, StartAt};

use crate::capacity::{expect_read, start_id, CapacityOracle, Expect};

/// One message as the oracle remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OMsg {
    /// Its id.
    pub id: u64,
    /// Stream position of its first byte.
    pub start: u64,
    /// Bytes it occupies.
    pub padded: u64,
    /// Message type.
    pub msg_type: i32,
    /// Subtype.
    pub subtype: i32,
    /// Time.
    pub time_ns: i64,
    /// The bytes written.
    pub payload: Vec<u8>,
}

/// Every message present by the capacity rule, oldest first.
#[derive(Clone, Debug)]
pub struct QueueOracle {
    cap: CapacityOracle,
    msgs: VecDeque<OMsg>,
}

impl QueueOracle {
    /// An empty queue of `slots` slots and `buf` bytes of buffer.
    pub fn new(slots: u32, buf: u64) -> QueueOracle {
        QueueOracle {
            cap: CapacityOracle::new(slots, buf),
            msgs: VecDeque::new(),
        }
    }

    /// Appends an uncompressed message; returns its id.
    pub fn write(&mut self, msg_type: i32, subtype: i32, time_ns: i64, payload: &[u8]) -> u64 {
        let p = self.cap.put(payload.len() as u64);
        self.msgs.push_back(OMsg {
            id: p.id,
            start: p.start,
            padded: p.padded,
            msg_type,
            subtype,
            time_ns,
            payload: payload.to_vec(),
        });
        while self.msgs.front().is_some_and(|m| m.id < self.cap.oldest()) {
            self.msgs.pop_front();
        }
        p.id
    }

    /// The capacity rule's state.
    pub fn capacity(&self) -> &CapacityOracle {
        &self.cap
    }

    /// The oldest id present (`youngest + 1` when none is).
    pub fn oldest(&self) -> u64 {
        self.cap.oldest()
    }

    /// The youngest id written (0 before the first).
    pub fn youngest(&self) -> u64 {
        self.cap.youngest()
    }

    /// The id the next write gets.
    pub fn next_id(&self) -> u64 {
        self.cap.next_id()
    }

    /// The stream position the next message starts from (before padding).
    pub fn write_pos(&self) -> u64 {
        self.cap.write_pos()
    }

    /// Present message `id`.
    pub fn get(&self, id: u64) -> Option<&OMsg> {
        let first = self.msgs.front()?.id;
        self.msgs.get(usize::try_from(id.checked_sub(first)?).ok()?)
    }

    /// The messages present, oldest first.
    pub fn messages(&self) -> impl Iterator<Item = &OMsg> {
        self.msgs.iter()
    }

    /// What a read by a reader at `cursor` returns.
    pub fn expect(&self, cursor: u64, policy: LagPolicy) -> Expect {
        expect_read(cursor, self.oldest(), self.youngest(), policy)
    }

    /// The id a reader attached or seeking at `to` reads next.
    pub fn start_id(&self, to: StartAt) -> u64 {
        start_id(to, self.oldest(), self.youngest())
    }

    /// Checks what a reader at `cursor` got from a read against what the oracle expects
    /// there (`expect`): the message itself, `Empty`, or `Lagged` with the exact count and
    /// resume point (invariant 4). Returns the reader's next cursor. A `BufferTooSmall` is
    /// the caller's to judge (it depends on the buffer it passed).
    pub fn check_read(
        &self,
        cursor: u64,
        expect: Expect,
        got: &Result<(MessageMeta, Vec<u8>), fmq_core::ReadError>,
    ) -> Result<u64, String> {
        use fmq_core::ReadError;
        match (expect, got) {
            (Expect::Msg(id), Ok((meta, bytes))) => {
                self.check(id, meta, bytes)?;
                Ok(id + 1)
            }
            (Expect::Empty, Err(ReadError::Empty)) => Ok(cursor),
            (
                Expect::Lagged { missed, resume },
                Err(ReadError::Lagged {
                    missed_count,
                    resumed_at,
                }),
            ) if *missed_count == missed
                && resumed_at.0 == resume
                && cursor + missed_count == resumed_at.0 =>
            {
                Ok(resume)
            }
            (expect, got) => Err(format!(
                "at {cursor}: expected {expect:?}, got {:?} (invariant 4: exact missed count \
                 and resume point)",
                got.as_ref().map(|(m, _)| m)
            )),
        }
    }

    /// Checks that `meta` and `bytes` are exactly present message `id` (invariant 2): id,
    /// payload, type, subtype, time, length, raw length, no flags.
    pub fn check(&self, id: u64, meta: &MessageMeta, bytes: &[u8]) -> Result<(), String> {
        let m = self
            .get(id)
            .ok_or_else(|| format!("the oracle has no message {id}"))?;
        if meta.id.0 != id {
            return Err(format!("read returned id {}, want {id}", meta.id));
        }
        if bytes != m.payload.as_slice() {
            return Err(format!(
                "invariant 2: payload of {id} is {bytes:?}, want {:?}",
                m.payload
            ));
        }
        let got = (
            meta.msg_type,
            meta.subtype,
            meta.time_ns,
            meta.len,
            meta.raw_len,
            meta.flags,
        );
        let len = m.payload.len();
        let want = (m.msg_type, m.subtype, m.time_ns, len, len as u64, 0);
        if got != want {
            return Err(format!(
                "invariant 2: metadata (type, subtype, time, len, raw_len, flags) of {id} is \
                 {got:?}, want {want:?}"
            ));
        }
        Ok(())
    }
}
