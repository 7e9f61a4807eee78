//! The crash oracle of the simulator (`sim/`): what the writer has published, stated from
//! the spec and never from the writer's code (TigerBeetle keeps checkers apart from the code
//! under test), and the checker that every reader result goes through. It follows process
//! crashes and power losses as the simulator reports them, and never looks at a region.
//!
//! It holds three things:
//!
//! * **the messages**, by id: every message handed to the writer, with its payload, type,
//!   subtype, time, flags, and where LROSE's capacity rule places it in the stream
//!   (`docs/design.md`, "Capacity rule", as [`CapacityOracle`] states it); ids above the
//!   commit point are *pending*;
//! * **the commit line as memory holds it**: `youngest_id` and `oldest_id`, updated by the
//!   store hook at the moment the writer's store reaches memory, so a reader stepping in the
//!   middle of a write is checked against exactly what it can see;
//! * **the capacity rule's retention window** after the last message put (`model_oldest`),
//!   which the writer's own `oldest_id` must equal after every operation.
//!
//! [`CrashOracle::check_read`] states what a read may return (DESIGN invariants 2 and 4): for a
//! wanted id inside the window it must be that message, byte for byte; below the window,
//! that message or `Lagged` with the exact count and the resume point the policy names;
//! above the commit point, `Empty`. `Corrupt` only for an id a power loss tore ([`Taint`]),
//! and once recovery has checked the slots, only for a torn payload (checksum).

use std::collections::{BTreeMap, VecDeque};

use fmq_core::{CorruptReason, LagPolicy, MessageMeta, ReadError};

use crate::capacity::{lag_resume, padded, CapacityOracle};

/// One message as the oracle remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// Its id.
    pub id: u64,
    /// Message type.
    pub msg_type: i32,
    /// Subtype.
    pub subtype: i32,
    /// Time.
    pub time_ns: i64,
    /// Per-message flags.
    pub flags: u32,
    /// Length after decompression.
    pub raw_len: u64,
    /// The stored bytes.
    pub payload: Vec<u8>,
    /// Stream position of its first byte.
    pub start: u64,
    /// Bytes it occupies (payload rounded up to 8).
    pub padded: u64,
}

impl Msg {
    /// Stream position just past it.
    pub fn end(&self) -> u64 {
        self.start + self.padded
    }
}

/// A message to write (before the oracle gives it an id and a place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMsg {
    /// Message type.
    pub msg_type: i32,
    /// Subtype.
    pub subtype: i32,
    /// Time.
    pub time_ns: i64,
    /// Per-message flags (0 or compressed).
    pub flags: u32,
    /// Length after decompression.
    pub raw_len: u64,
    /// The bytes.
    pub payload: Vec<u8>,
}

impl NewMsg {
    /// As the writer takes it.
    pub fn as_new_message(&self) -> fmq_core::NewMessage<'_> {
        let m = fmq_core::NewMessage::new(self.msg_type, self.subtype, self.time_ns, &self.payload);
        if self.flags & fmq_core::slot::MSG_FLAG_COMPRESSED != 0 {
            m.compressed(self.raw_len)
        } else {
            m
        }
    }
}

/// What one read returned, once checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The message with this id, correct.
    Read(u64),
    /// Nothing new.
    Empty,
    /// Overrun: this many ids lost.
    Lagged(u64),
    /// A message a power loss tore, reported corrupt and skipped.
    Corrupt(u64),
}

/// How a power loss may have torn a message, and so how a read may report it corrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taint {
    /// Between a power loss and the end of its recovery: anything may be torn or half
    /// retired, slot included (any `Corrupt` reason).
    Any,
    /// In the window a recovery kept: recovery checked the stamp and bounds of every kept
    /// slot, so only the payload can be torn (`ChecksumMismatch` only).
    Payload,
}

/// The model of the queue (see the module docs).
#[derive(Clone, Debug)]
pub struct CrashOracle {
    slots: u32,
    buf: u64,
    /// Messages with consecutive ids from `first_id`: committed ones, then pending ones.
    msgs: VecDeque<Msg>,
    first_id: u64,
    /// Placement and retention of every message put (its `next_id` is the next id).
    cap: CapacityOracle,
    youngest: u64,
    oldest: u64,
    /// Ids a power loss may have torn: a read may report them corrupt.
    tainted: BTreeMap<u64, Taint>,
    /// Messages that once had an id but are not its message: never committed (their writer
    /// died) or lost with a power loss. The id went to another message since. The flag says
    /// whether a power loss happened since the message was superseded (only then is bug B a
    /// possible explanation for reading it).
    incarnations: BTreeMap<u64, Vec<(Msg, bool)>>,
    /// Between a power loss and the end of its recovery: the recovery may lower the commit
    /// point (the youngest messages' slots did not reach the disk).
    rebooted: bool,
}

impl CrashOracle {
    /// An empty queue of `slots` slots and `buf` buffer bytes, as `Writer::format` leaves it.
    pub fn new(slots: u32, buf: u64) -> CrashOracle {
        CrashOracle {
            slots,
            buf,
            msgs: VecDeque::new(),
            first_id: 1,
            cap: CapacityOracle::new(slots, buf),
            youngest: 0,
            oldest: 1,
            tainted: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            rebooted: false,
        }
    }

    /// The commit point as memory holds it.
    pub fn youngest(&self) -> u64 {
        self.youngest
    }

    /// `oldest_id` as memory holds it.
    pub fn oldest(&self) -> u64 {
        self.oldest
    }

    /// The id the next message gets.
    pub fn next_id(&self) -> u64 {
        self.cap.next_id()
    }

    /// The capacity rule's oldest id after the last message put.
    pub fn model_oldest(&self) -> u64 {
        self.cap.oldest()
    }

    /// The capacity rule's write position after the last message put.
    pub fn write_pos(&self) -> u64 {
        self.cap.write_pos()
    }

    /// Number of slots.
    pub fn slots_count(&self) -> u64 {
        self.slots.into()
    }

    /// The oldest id the oracle still holds (retired or not).
    pub fn first_held(&self) -> u64 {
        self.first_id
    }

    /// Message `id`, if the oracle still holds it.
    pub fn get(&self, id: u64) -> Option<&Msg> {
        self.msgs
            .get(usize::try_from(id.checked_sub(self.first_id)?).ok()?)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Msg> {
        let i = usize::try_from(id.checked_sub(self.first_id)?).ok()?;
        self.msgs.get_mut(i)
    }

    /// Whether a read may report `id` corrupt.
    pub fn is_tainted(&self, id: u64) -> bool {
        self.tainted.contains_key(&id)
    }

    /// Marks `id` as possibly torn (`Some`), or as whole (`None`).
    pub fn set_tainted(&mut self, id: u64, taint: Option<Taint>) {
        match taint {
            Some(t) => {
                self.tainted.insert(id, t);
            }
            None => {
                self.tainted.remove(&id);
            }
        }
    }

    /// Hands a message to the writer (pending until a commit store covers it): gives it the
    /// next id and its place by the capacity rule, and retires what the rule retires.
    pub fn put(&mut self, m: &NewMsg) -> u64 {
        let len = m.payload.len() as u64;
        assert!(
            padded(len) <= self.buf,
            "the workload only makes messages that fit"
        );
        let p = self.cap.put(len);
        if self.msgs.is_empty() {
            self.first_id = p.id;
        }
        self.msgs.push_back(Msg {
            id: p.id,
            msg_type: m.msg_type,
            subtype: m.subtype,
            time_ns: m.time_ns,
            flags: m.flags,
            raw_len: m.raw_len,
            payload: m.payload.clone(),
            start: p.start,
            padded: p.padded,
        });
        p.id
    }

    /// The capacity rule restarted after a death or a recovery: the messages
    /// `oldest..next_id` at their places, the next one at `write_pos`.
    fn restart_capacity(&mut self, next_id: u64, write_pos: u64) {
        let present: Vec<(u64, u64)> = (self.oldest..next_id)
            .map(|id| (id, self.get(id).expect("the window is held").start))
            .collect();
        self.cap = CapacityOracle::resume(self.slots, self.buf, next_id, write_pos, present);
    }

    /// The writer stored `value` into `youngest_id` (seen by the store hook as it happens).
    pub fn on_youngest_store(&mut self, value: u64) -> Result<(), String> {
        if self.rebooted && value < self.youngest && value + 1 >= self.oldest {
            // Recovery from a power loss drops the youngest messages, whose slots the disk
            // does not hold. Memory's commit point goes down now; the messages are forgotten
            // only when the recovery completes (`recovered`): another power loss during the
            // recovery may leave the disk with the higher commit point again.
            self.youngest = value;
            return Ok(());
        }
        if value < self.youngest || value >= self.next_id() {
            return Err(format!(
                "commit store youngest_id={value}: the commit point was {} and ids up to {} \
                 were handed to the writer",
                self.youngest,
                self.next_id() - 1
            ));
        }
        if value + 1 - self.oldest > self.slots_count() {
            return Err(format!(
                "commit store youngest_id={value} with oldest_id={}: more than {} messages \
                 present at once",
                self.oldest, self.slots
            ));
        }
        self.youngest = value;
        Ok(())
    }

    /// The writer (or a recovery) stored `value` into `oldest_id`.
    pub fn on_oldest_store(&mut self, value: u64) -> Result<(), String> {
        if value < self.oldest || value > self.youngest + 1 {
            return Err(format!(
                "store oldest_id={value}: it was {} with youngest_id={} (oldest must only grow \
                 and stay <= youngest + 1 in memory)",
                self.oldest, self.youngest
            ));
        }
        self.oldest = value;
        Ok(())
    }

    /// A writer died: what it had not committed never existed. The window is the commit
    /// line it left (a retirement it began is finished by recovery), and the next message
    /// goes after the youngest kept one, or at `write_pos_hint` when none is kept.
    pub fn forget_pending(&mut self, write_pos_hint: u64) {
        let keep = self.youngest.saturating_sub(self.first_id - 1) as usize;
        while self.msgs.len() > keep {
            let m = self.msgs.pop_back().expect("longer than keep");
            self.incarnations.entry(m.id).or_default().push((m, false));
        }
        let next = self.youngest + 1;
        if self.msgs.is_empty() {
            self.first_id = next;
        }
        let write_pos = match self.get(self.youngest) {
            Some(m) if self.oldest <= self.youngest => m.end(),
            _ => write_pos_hint,
        };
        self.restart_capacity(next, write_pos);
        self.tainted.retain(|&id, _| id < next);
    }

    /// After a power loss: memory now holds the commit line the disk had.
    pub fn reboot(&mut self, youngest: u64, oldest: u64) {
        self.youngest = youngest;
        self.oldest = oldest;
        self.forget_pending(0);
        for (_, after_power_loss) in self.incarnations.values_mut().flatten() {
            *after_power_loss = true;
        }
        self.rebooted = true;
    }

    /// After recovery from a power loss: recovery kept ids `oldest..=youngest`, at the
    /// places their slots name (a slot may describe another message than the one committed
    /// with its id; reads then tell), and the next message goes after the youngest kept one
    /// or at `write_pos_hint`. Messages above `youngest` (their slots did not reach the
    /// disk) are lost, and their ids will be issued again.
    pub fn recovered(
        &mut self,
        oldest: u64,
        youngest: u64,
        places: &[(u64, u64, u64)],
        write_pos_hint: u64,
    ) {
        self.rebooted = false;
        if youngest < self.next_id() - 1 {
            self.youngest = youngest;
            self.forget_pending(write_pos_hint);
            for (_, after_power_loss) in self.incarnations.values_mut().flatten() {
                *after_power_loss = true;
            }
        }
        self.oldest = oldest;
        for &(id, start, stored_len) in places {
            if let Some(m) = self.get_mut(id) {
                m.start = start;
                m.padded = padded(stored_len);
            }
        }
        let write_pos = match places.last() {
            Some(&(_, start, len)) => start + padded(len),
            None => write_pos_hint,
        };
        self.restart_capacity(self.next_id(), write_pos);
    }

    /// Forgets messages below `keep_from` (nothing can return them any more).
    pub fn prune(&mut self, keep_from: u64) {
        while self.first_id < keep_from && !self.msgs.is_empty() {
            self.msgs.pop_front();
            self.first_id += 1;
        }
        self.tainted.retain(|&id, _| id >= keep_from);
        self.incarnations = self.incarnations.split_off(&keep_from);
    }

    /// Checks one read of a reader that wanted `want`, under `policy`, against what memory
    /// holds now; returns the outcome and where the reader must be next.
    pub fn check_read(
        &self,
        want: u64,
        policy: LagPolicy,
        result: Result<(MessageMeta, &[u8]), ReadError>,
    ) -> Result<(Outcome, u64), String> {
        match result {
            Ok((meta, payload)) => self.check_message(want, &meta, payload),
            Err(ReadError::Empty) => self.check_empty(want),
            Err(ReadError::Lagged {
                missed_count,
                resumed_at,
            }) => self.check_lagged(want, policy, missed_count, resumed_at.0),
            Err(ReadError::Corrupt { id, reason }) => self.check_corrupt(want, id.0, reason),
            Err(e) => Err(format!("read of id {want} failed: {e}")),
        }
    }

    /// A message returned: the one wanted, committed, still held, exactly as written.
    fn check_message(
        &self,
        want: u64,
        meta: &MessageMeta,
        payload: &[u8],
    ) -> Result<(Outcome, u64), String> {
        let id = meta.id.0;
        if id != want {
            return Err(format!(
                "read returned id {id}, but the reader was at {want}"
            ));
        }
        if id > self.youngest {
            return Err(format!(
                "read returned id {id}, above the commit point {} (not completely \
                 written: invariant 2)",
                self.youngest
            ));
        }
        let Some(m) = self.get(id) else {
            return Err(format!(
                "read returned id {id}, which the oracle no longer holds (oldest {})",
                self.oldest
            ));
        };
        let got = (
            meta.msg_type,
            meta.subtype,
            meta.time_ns,
            meta.flags,
            meta.raw_len,
        );
        let want_meta = (m.msg_type, m.subtype, m.time_ns, m.flags, m.raw_len);
        if got != want_meta || payload != m.payload.as_slice() {
            return Err(self.wrong_data(m, got, payload));
        }
        Ok((Outcome::Read(id), id + 1))
    }

    /// Why a returned message is not the committed one: a dead writer's uncommitted message
    /// (invariant 7), a stale incarnation after a power loss (invariant 8), or just wrong
    /// (invariant 2).
    fn wrong_data(&self, m: &Msg, got: (i32, i32, i64, u32, u64), payload: &[u8]) -> String {
        let id = m.id;
        let want_meta = (m.msg_type, m.subtype, m.time_ns, m.flags, m.raw_len);
        let bytes = |p: &[u8]| format!("{} bytes {}", p.len(), hex(p));
        let (got_b, want_b) = (bytes(payload), bytes(&m.payload));
        let same = |(o, _): &&(Msg, bool)| {
            (o.msg_type, o.subtype, o.time_ns, o.flags, o.raw_len) == got && o.payload == payload
        };
        match self.incarnations.get(&id).and_then(|v| v.iter().find(same)) {
            Some((_, false)) => format!(
                "read returned id {id} as the dead writer left it uncommitted, not the message \
                 committed under it since ({got_b}; want {want_b}; invariant 7: the message \
                 being written is never returned)"
            ),
            Some((_, true)) => format!(
                "read returned a stale incarnation of id {id}: a message the writer was given \
                 under this id that was never committed or was lost in a power loss, not the \
                 committed one ({got_b}; want {want_b}; invariant 8: no power loss brings back \
                 another message under an id)"
            ),
            None => format!(
                "read returned wrong data for id {id} (invariant 2): got (type, subtype, time, \
                 flags, raw_len) {got:?} and {got_b}, want {want_meta:?} and {want_b}"
            ),
        }
    }

    /// `Empty`: only above the commit point.
    fn check_empty(&self, want: u64) -> Result<(Outcome, u64), String> {
        if want <= self.youngest {
            return Err(format!(
                "read of id {want} returned Empty, but the commit point is {}",
                self.youngest
            ));
        }
        Ok((Outcome::Empty, want))
    }

    /// `Lagged`: only below `oldest_id`, with the exact count and the policy's resume point.
    fn check_lagged(
        &self,
        want: u64,
        policy: LagPolicy,
        missed_count: u64,
        resumed_at: u64,
    ) -> Result<(Outcome, u64), String> {
        if want >= self.oldest {
            return Err(format!(
                "read of id {want} returned Lagged (missed {missed_count}, resumed at \
                 {resumed_at}), but oldest_id is {}: it was not retired",
                self.oldest
            ));
        }
        let resume = lag_resume(policy, self.oldest, self.youngest);
        if resumed_at != resume || missed_count != resume - want {
            return Err(format!(
                "read of id {want} returned Lagged {{ missed_count: {missed_count}, \
                 resumed_at: {resumed_at} }}; want missed_count {} resumed_at {resume} \
                 ({policy:?}, oldest {}, youngest {}: invariant 4)",
                resume - want,
                self.oldest,
                self.youngest
            ));
        }
        Ok((Outcome::Lagged(missed_count), resume))
    }

    /// `Corrupt`: only the id wanted, only if a power loss may have torn it, and once
    /// recovery kept it only for its checksum.
    fn check_corrupt(
        &self,
        want: u64,
        id: u64,
        reason: CorruptReason,
    ) -> Result<(Outcome, u64), String> {
        if id != want {
            return Err(format!(
                "read of id {want} reported id {id} corrupt ({reason})"
            ));
        }
        match self.tainted.get(&want) {
            None => Err(format!(
                "read of id {want} reported it corrupt ({reason}); no power loss tore it \
                 (window {}..={})",
                self.oldest, self.youngest
            )),
            Some(Taint::Payload) if !matches!(reason, CorruptReason::ChecksumMismatch { .. }) => {
                Err(format!(
                    "read of id {want} reported it corrupt ({reason}), but recovery kept it: a \
                     recovered slot must have the right stamp and bounds, only its payload may \
                     be torn (window {}..={})",
                    self.oldest, self.youngest
                ))
            }
            Some(_) => Ok((Outcome::Corrupt(want), want + 1)),
        }
    }
}

/// The first bytes of a payload in hex, for failure messages.
fn hex(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 16 {
        format!("{shown}..")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(len: usize) -> NewMsg {
        NewMsg {
            msg_type: 1,
            subtype: 2,
            time_ns: 3,
            flags: 0,
            raw_len: len as u64,
            payload: vec![7; len],
        }
    }

    #[test]
    fn capacity_rule_retires_by_slot_and_by_bytes() {
        let mut o = CrashOracle::new(2, 64);
        assert_eq!(o.put(&msg(12)), 1);
        assert_eq!(o.put(&msg(20)), 2);
        assert_eq!(o.model_oldest(), 1);
        o.put(&msg(17)); // slot of 1 taken
        assert_eq!(o.model_oldest(), 2);
        o.put(&msg(30)); // 64..96 reuses 0..32: 2 (16..40) goes, 3 (40..64) stays
        assert_eq!(o.model_oldest(), 3);
        assert_eq!(o.get(4).unwrap().start, 64);
    }

    #[test]
    fn forget_pending_drops_uncommitted_messages() {
        let mut o = CrashOracle::new(4, 256);
        o.put(&msg(8));
        o.on_youngest_store(1).unwrap();
        o.put(&msg(8));
        o.forget_pending(99);
        assert_eq!((o.next_id(), o.write_pos(), o.youngest()), (2, 8, 1));
        assert!(o.get(2).is_none());
    }
}
