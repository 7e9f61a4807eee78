//! A reader: attaches to a formatted region and follows the writer without ever writing to
//! shared memory (DESIGN invariant 5), so readers cost the writer nothing.
//!
//! # Reading one message (seqlock, DESIGN invariant 2)
//!
//! Every access of an unregistered reader is a `Relaxed` load: readers may sit on a
//! read-only mapping (another user's queue), where std defines nothing but small `Relaxed`
//! loads. Ordering comes from `fence(Acquire)`, one per protocol step, as crossbeam's
//! `seq_lock_wide.rs` does it (`docs/memory-ordering.md`, "The reader path").
//!
//! 1. If the wanted id is past the cached commit point, load `youngest_id`, then
//!    `fence(Acquire)` (the commit publishes the stamps below it); still past it: `Empty`.
//! 2. Load the slot's stamp; it must be the wanted id.
//! 3. Load the metadata and bounds-check it against the layout (invariant 6).
//! 4. Copy the payload (word loads).
//! 5. `fence(Acquire)`, reload the stamp and the generation: unchanged means no byte copied
//!    in 4 was written after the writer retired this message, so the copy is one message,
//!    whole.
//! 6. Check the CRC32C of payload and metadata (catches corruption and power-loss tears).
//!
//! A stamp that is not the wanted id means the writer retired it: after `fence(Acquire)` the
//! reader loads `oldest_id` and reports `Lagged { missed_count: oldest - wanted }`, resuming
//! at the oldest (tokio's rule) or, by policy, the youngest (LROSE's rule). Ids returned are
//! strictly increasing (invariant 4). Registered readers (blocking mode) also store to their
//! own record, which needs a writable mapping.

#![forbid(unsafe_code)]

use crate::crc::{message_crc, trailer, Crc32c, TRAILER_SIZE_BYTES};
use crate::error::{AttachError, CorruptReason, ReadError, RegisterError};
use crate::header::{unpack, word as hw};
use crate::layout::Layout;
use crate::message::{MessageId, MessageMeta, MAX_MESSAGE_ID};
use crate::payload::{crc_words, load_bytes, padded_len, Payload};
use crate::region::Region;
use crate::registry;
use crate::slot::word as sw;
use crate::sync::{fence, Ordering};
use crate::view::{SlotRef, View};

/// Where a reader starts, or seeks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StartAt {
    /// The oldest message present.
    Oldest,
    /// The youngest message present (the last one written).
    Youngest,
    /// After the youngest: only messages written from now on.
    #[default]
    End,
    /// A given id (may be in the future: the read waits for it; in the past: `Lagged`).
    Id(MessageId),
}

/// Where a reader that was overrun resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LagPolicy {
    /// At the oldest message still present, losing as little as possible (tokio's rule).
    #[default]
    ResumeAtOldest,
    /// At the youngest message, skipping to the present (LROSE FMQ's rule).
    ResumeAtYoungest,
}

/// How a reader attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReaderConfig {
    /// Where to start.
    pub start: StartAt,
    /// What to do when overrun.
    pub lag_policy: LagPolicy,
}

/// Slot metadata loaded in step 3, not yet validated.
#[derive(Clone, Copy)]
struct Loaded {
    buf_pos: u64,
    stored_len: u64,
    raw_len: u64,
    time_ns: i64,
    msg_type: i32,
    subtype: i32,
    flags: u32,
    crc: u32,
}

impl Loaded {
    /// The checksum trailer of message `id` with this metadata.
    fn trailer(&self, id: u64) -> [u8; TRAILER_SIZE_BYTES] {
        trailer(
            id,
            self.stored_len,
            self.raw_len,
            self.time_ns,
            self.msg_type,
            self.subtype,
            self.flags,
        )
    }
}

/// A reader of one queue.
pub struct Reader<R: Region> {
    region: R,
    core: ReaderCore,
    registration: Option<Registration>,
}

/// A registered reader's record (blocking mode).
#[derive(Clone, Copy, Debug)]
struct Registration {
    index: u32,
    token: u64,
    /// The cursor as last stored.
    published: u64,
}

/// The reader's private state (split from the region so that a view of the region and the
/// state can be borrowed at once).
struct ReaderCore {
    layout: Layout,
    generation: u64,
    queue_flags: u32,
    lag_policy: LagPolicy,
    /// The id the next read returns.
    next_id: u64,
    /// The last commit point loaded; ids up to it need no new load of `youngest_id`.
    cached_youngest: u64,
}

impl<R: Region> Reader<R> {
    /// Attaches to a formatted region: checks magic, version, byte order, the header's layout
    /// checksum and every size against the region's real sizes (one error variant each).
    pub fn attach(region: R, config: ReaderConfig) -> Result<Self, AttachError> {
        let attached = Layout::from_header(&region)?;
        let mut reader = Reader {
            region,
            core: ReaderCore {
                layout: attached.layout,
                generation: attached.generation,
                queue_flags: attached.queue_flags,
                lag_policy: config.lag_policy,
                next_id: 1,
                cached_youngest: 0,
            },
            registration: None,
        };
        reader.seek(config.start);
        Ok(reader)
    }

    /// Registers this reader in the queue's registry (blocking mode, DESIGN invariant 9):
    /// from now on a blocking writer never retires a message this reader has not read, until
    /// it unregisters (or is dropped, or the writer judges it dead). `name` (up to 24 bytes),
    /// `pid` and `now_ns` (a monotonic clock shared by the host's processes) are recorded for
    /// the writer's dead-reader check and `fmq info`. Returns where the reader starts: its
    /// position, or later if the writer was already retiring past it (the registration
    /// handshake); the ids in between are not guaranteed and may come back as `Lagged`.
    pub fn register(
        &mut self,
        name: &[u8],
        pid: u32,
        now_ns: u64,
    ) -> Result<MessageId, RegisterError> {
        self.register_with(name, pid, now_ns, |_, owner| owner == 0)
    }

    /// [`Reader::register`] that may also take a record whose owner the caller knows is dead:
    /// `claimable(index, owner)` says whether record `index`, holding the owner word `owner`
    /// (0 when free), may be claimed. The fmq crate holds each record's token (an OFD lock
    /// the kernel drops when its owner dies) and answers yes for a free record, or a taken
    /// one whose token it could take. It may be asked again about a record whose owner word
    /// changed (the writer marked it dropped).
    pub fn register_with(
        &mut self,
        name: &[u8],
        pid: u32,
        now_ns: u64,
        mut claimable: impl FnMut(u32, u64) -> bool,
    ) -> Result<MessageId, RegisterError> {
        if let Some(r) = self.registration {
            return Err(RegisterError::AlreadyRegistered { index: r.index });
        }
        let view = self.view().ok_or(RegisterError::NoRegistry)?;
        if view.readers_max() == 0 {
            return Err(RegisterError::NoRegistry);
        }
        let (index, token, start) =
            registry::claim(&view, name, pid, now_ns, self.core.next_id, &mut claimable).ok_or(
                RegisterError::RegistryFull {
                    readers_max: self.core.layout.readers_max(),
                },
            )?;
        self.core.next_id = start;
        self.registration = Some(Registration {
            index,
            token,
            published: start,
        });
        Ok(MessageId(start))
    }

    /// Gives the registration up (also done on drop): the writer no longer waits for this
    /// reader. Does nothing for an unregistered reader.
    pub fn unregister(&mut self) {
        if let Some(r) = self.registration.take() {
            if let Some(rec) = self.view().and_then(|v| v.record(r.index as usize)) {
                registry::release(rec, r.token);
            }
        }
    }

    /// Frees the records of registrations the writer dropped whose processes are gone
    /// (`is_gone(pid)`); a dropped reader that is alive frees its record itself when it
    /// learns it was dropped. Returns how many were freed. The fmq crate calls it before
    /// registering.
    pub fn reclaim_dropped(&self, mut is_gone: impl FnMut(u32) -> bool) -> u32 {
        let Some(view) = self.view() else {
            return 0;
        };
        let mut freed = 0;
        for index in 0..self.core.layout.readers_max() {
            let Some(rec) =
                registry::load_record(self.region.stat_words(), &self.core.layout, index)
            else {
                break;
            };
            if rec.is_dropped()
                && is_gone(rec.pid())
                && registry::reclaim(&view, index as usize, rec.owner)
            {
                freed += 1;
            }
        }
        freed
    }

    /// The registry record this reader holds, if registered.
    pub fn registration(&self) -> Option<u32> {
        self.registration.map(|r| r.index)
    }

    /// Records a sign of life (a registered reader that waits long without reading calls it
    /// more often than the queue's heartbeat limit).
    pub fn heartbeat(&self, now_ns: u64) {
        if let Some(r) = self.registration {
            if let Some(rec) = self.view().and_then(|v| v.record(r.index as usize)) {
                registry::heartbeat(rec, now_ns);
            }
        }
    }

    /// After a read of a registered reader: whether the writer may be asleep waiting for
    /// readers to advance (the fmq crate then wakes it with a futex wake on
    /// [`Reader::cursor_word`]). A fence and a load; false for an unregistered reader.
    pub fn writer_waiting(&self) -> bool {
        match (self.registration, self.view()) {
            (Some(_), Some(view)) => registry::writer_waiting(&view),
            _ => false,
        }
    }

    /// The cursor word of this reader's record (the futex a waiting writer sleeps on).
    pub fn cursor_word(&self) -> Option<&crate::sync::AtomicU64> {
        let r = self.registration?;
        let rec = View::new(&self.region, &self.core.layout)?.record(r.index as usize)?;
        Some(&rec[registry::word::CURSOR])
    }

    /// Before a read: a registered reader that the writer dropped learns it.
    #[inline]
    fn check_registration(&mut self) -> Result<(), ReadError> {
        let Some(r) = self.registration else {
            return Ok(());
        };
        match View::new(&self.region, &self.core.layout).and_then(|v| v.record(r.index as usize)) {
            Some(rec) if registry::still_owned(rec, r.token) => Ok(()),
            rec => {
                // Dropped by the writer: the record was kept for this reader to learn it.
                if let Some(rec) = rec {
                    registry::release(rec, r.token | registry::DROPPED);
                }
                self.registration = None;
                Err(ReadError::Unregistered { index: r.index })
            }
        }
    }

    /// After a read: a registered reader publishes how far it has read.
    #[inline]
    fn publish_cursor(&mut self) {
        let Some(r) = self.registration.as_mut() else {
            return;
        };
        if r.published == self.core.next_id {
            return;
        }
        if let Some(rec) =
            View::new(&self.region, &self.core.layout).and_then(|v| v.record(r.index as usize))
        {
            registry::publish_cursor(rec, self.core.next_id);
            r.published = self.core.next_id;
        }
    }

    fn view(&self) -> Option<View<'_>> {
        View::new(&self.region, &self.core.layout)
    }

    /// Moves the read position; returns the id the next read will return (or wait for).
    pub fn seek(&mut self, to: StartAt) -> MessageId {
        let Some(view) = View::new(&self.region, &self.core.layout) else {
            return MessageId(self.core.next_id);
        };
        // ORDERING: Relaxed: ordered by the fence below.
        let youngest = view.header(hw::YOUNGEST_ID).load(Ordering::Relaxed);
        // ORDERING: fence(Acquire): the commit loaded above synchronises with the writer's
        // Release commit store, publishing the stamps up to it (reads below the cached commit
        // load no new one), and the `oldest_id` loaded next is at least that commit's.
        fence(Ordering::Acquire);
        // ORDERING: Relaxed: a start position only; a stale one is a retired id, whose stamp
        // fails and whose mismatch path has its own fences.
        let oldest = view.header(hw::OLDEST_ID).load(Ordering::Relaxed);
        self.core.cached_youngest = youngest;
        let next = match to {
            StartAt::Oldest => oldest,
            StartAt::Youngest => youngest,
            StartAt::End => youngest.saturating_add(1),
            StartAt::Id(MessageId(id)) => id,
        };
        self.core.next_id = next.max(1);
        MessageId(self.core.next_id)
    }

    /// The id the next read returns (or waits for).
    pub fn position(&self) -> MessageId {
        MessageId(self.core.next_id)
    }

    /// The queue's layout.
    pub fn layout(&self) -> &Layout {
        &self.core.layout
    }

    /// The generation this reader attached to.
    pub fn generation(&self) -> u64 {
        self.core.generation
    }

    /// Queue-wide flags (compression codec).
    pub fn queue_flags(&self) -> u32 {
        self.core.queue_flags
    }

    /// The region.
    pub fn region(&self) -> &R {
        &self.region
    }

    /// The commit point as the writer last published it: the youngest id. A number only:
    /// reads load the commit point again themselves.
    pub fn youngest_id(&self) -> MessageId {
        match self.view() {
            // ORDERING: Relaxed: the caller gets a number and no access to the slots through
            // it; read-read coherence keeps it at or above any commit this reader saw.
            Some(v) => MessageId(v.header(hw::YOUNGEST_ID).load(Ordering::Relaxed)),
            None => MessageId(0),
        }
    }

    /// Reads the next message into `buf`, returning its metadata; the payload is
    /// `buf[..meta.len]`. On `BufferTooSmall` nothing is consumed.
    pub fn try_read(&mut self, buf: &mut [u8]) -> Result<MessageMeta, ReadError> {
        self.check_registration()?;
        let r = self.try_read_inner(buf);
        self.publish_cursor();
        r
    }

    fn try_read_inner(&mut self, buf: &mut [u8]) -> Result<MessageMeta, ReadError> {
        let core = &mut self.core;
        let view = View::new(&self.region, &core.layout).ok_or(ReadError::Empty)?;
        let (id, slot, m) = core.begin(&view)?;
        let len = m.stored_len as usize;
        if buf.len() < len {
            core.validate(&view, id, slot)?;
            return Err(ReadError::BufferTooSmall { needed: len });
        }
        let dst = &mut buf[..len];
        load_bytes(view.payload(m.buf_pos, m.stored_len), dst);
        core.validate(&view, id, slot)?;
        let computed = message_crc(dst, &m.trailer(id));
        core.finish(id, &m, computed)
    }

    /// Zero-copy read: runs `f` over the next message's payload in place and returns its
    /// result with the metadata, but only if the message validates afterwards (stamp,
    /// generation and checksum). If it does not, `f`'s result is discarded and the error says
    /// why; `f` may have seen torn bytes, so it must not act on them irrevocably.
    pub fn read_with<T, F>(&mut self, f: F) -> Result<(MessageMeta, T), ReadError>
    where
        F: FnOnce(&Payload<'_>) -> T,
    {
        self.check_registration()?;
        let r = self.read_with_inner(f);
        self.publish_cursor();
        r
    }

    fn read_with_inner<T, F>(&mut self, f: F) -> Result<(MessageMeta, T), ReadError>
    where
        F: FnOnce(&Payload<'_>) -> T,
    {
        let core = &mut self.core;
        let view = View::new(&self.region, &core.layout).ok_or(ReadError::Empty)?;
        let (id, slot, m) = core.begin(&view)?;
        let words = view.payload(m.buf_pos, m.stored_len);
        let len = m.stored_len as usize;
        let result = f(&Payload::new(words, len));
        let mut crc = Crc32c::new();
        crc_words(&mut crc, words, len);
        crc.update(&m.trailer(id));
        let computed = crc.finish();
        core.validate(&view, id, slot)?;
        let meta = core.finish(id, &m, computed)?;
        Ok((meta, result))
    }

    /// Reads the next message into a new vector (feature `alloc`).
    #[cfg(feature = "alloc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
    pub fn try_read_message(&mut self) -> Result<crate::message::Message, ReadError> {
        self.read_with(|p| p.to_vec())
            .map(|(meta, payload)| crate::message::Message { meta, payload })
    }
}

impl ReaderCore {
    /// Steps 1-3: finds the next message's slot and its bounds-checked metadata.
    fn begin<'v>(&mut self, view: &View<'v>) -> Result<(u64, SlotRef<'v>, Loaded), ReadError> {
        let want = self.next_id;
        // No writer publishes an id from MAX_MESSAGE_ID on: a reader sent there by a corrupt
        // commit line (or asked for such an id) waits, rather than read and step to
        // `want + 1`, which saturates at `u64::MAX` and would return one id twice.
        let beyond = want >= MAX_MESSAGE_ID;
        if want > self.cached_youngest || beyond {
            // ORDERING: Relaxed: ordered by the fence below.
            let youngest = view.header(hw::YOUNGEST_ID).load(Ordering::Relaxed);
            // ORDERING: fence(Acquire) pairs with the writer's Release commit store in
            // `commit`: a reader that saw `youngest_id >= want` sees the stamp `want` (or a
            // later one), its metadata and payload, and the generation of that commit.
            fence(Ordering::Acquire);
            self.cached_youngest = youngest;
            if want > youngest || beyond {
                self.check_generation(view)?;
                return Err(ReadError::Empty);
            }
        }
        let slot = view.slot(want);
        // ORDERING: Relaxed: the stamp, metadata and payload of every id up to the cached
        // commit were published by the fence(Acquire) after its load; anything newer is caught
        // by the re-check after the copy (`validate`) or by `mismatch`, each after a fence.
        let stamp = slot.stamp().load(Ordering::Relaxed);
        if stamp != want {
            return Err(self.mismatch(view, want, stamp));
        }
        // ORDERING: Relaxed: seqlock data, trusted only after the stamp re-check that follows
        // a fence(Acquire) in `validate` (step 5).
        let buf_pos = slot.word(sw::BUF_POS).load(Ordering::Relaxed);
        let stored_len = slot.word(sw::STORED_LEN).load(Ordering::Relaxed);
        let raw_len = slot.word(sw::RAW_LEN).load(Ordering::Relaxed);
        let time_ns = slot.word(sw::TIME).load(Ordering::Relaxed) as i64;
        let (msg_type, subtype) = unpack(slot.word(sw::TYPES).load(Ordering::Relaxed));
        let (flags, crc) = unpack(slot.word(sw::FLAGS_CRC).load(Ordering::Relaxed));
        let m = Loaded {
            buf_pos,
            stored_len,
            raw_len,
            time_ns,
            msg_type: msg_type as i32,
            subtype: subtype as i32,
            flags,
            crc,
        };
        let b = self.layout.buf_size_bytes();
        if stored_len > b || buf_pos % b + padded_len(stored_len) > b {
            // Torn metadata (the slot was being reused) or a corrupt slot: tell them apart.
            self.validate(view, want, slot)?;
            self.next_id = want.saturating_add(1);
            return Err(ReadError::Corrupt {
                id: MessageId(want),
                reason: CorruptReason::SlotOutOfBounds {
                    buf_pos,
                    stored_len,
                },
            });
        }
        Ok((want, slot, m))
    }

    /// Step 5: the seqlock check after the copy.
    fn validate(&mut self, view: &View<'_>, want: u64, slot: SlotRef<'_>) -> Result<(), ReadError> {
        // ORDERING: fence(Acquire) pairs with the writer's fence(Release) in `retire` (and in
        // `format` and `recover`): if any word loaded before this fence was stored after the
        // writer's fence, the loads below see the EMPTY stamp (or newer) and the new
        // generation stored before it.
        fence(Ordering::Acquire);
        // ORDERING: Relaxed: ordered after the copy by the fence above.
        let stamp = slot.stamp().load(Ordering::Relaxed);
        if stamp != want {
            return Err(self.mismatch(view, want, stamp));
        }
        self.check_generation(view)
    }

    /// Step 6 and advance.
    fn finish(&mut self, id: u64, m: &Loaded, computed: u32) -> Result<MessageMeta, ReadError> {
        self.next_id = id.saturating_add(1);
        if computed != m.crc {
            return Err(ReadError::Corrupt {
                id: MessageId(id),
                reason: CorruptReason::ChecksumMismatch {
                    stored: m.crc,
                    computed,
                },
            });
        }
        Ok(MessageMeta {
            id: MessageId(id),
            msg_type: m.msg_type,
            subtype: m.subtype,
            time_ns: m.time_ns,
            len: m.stored_len as usize,
            raw_len: m.raw_len,
            flags: m.flags,
        })
    }

    fn check_generation(&self, view: &View<'_>) -> Result<(), ReadError> {
        // ORDERING: Relaxed: every caller has passed a fence(Acquire) (after a commit load or a
        // stamp load), which orders this load after the format's fence(Release).
        let current = view.header(hw::GENERATION).load(Ordering::Relaxed);
        if current != self.generation {
            return Err(ReadError::GenerationChanged {
                attached: self.generation,
                current,
            });
        }
        Ok(())
    }

    /// The stamp of `want` is `found`: the writer retired it (lag), the queue was re-created,
    /// or the slot is corrupt.
    fn mismatch(&mut self, view: &View<'_>, want: u64, found: u64) -> ReadError {
        // ORDERING: fence(Acquire): makes the Relaxed stamp load just made synchronise with the
        // writer's Release store of that stamp (or the fence(Release) after it in `retire`,
        // `format`, `recover`), so the loads below see the `oldest_id` and generation stored
        // before it.
        fence(Ordering::Acquire);
        if let Err(e) = self.check_generation(view) {
            return e;
        }
        // Three loads, in this order, so that a live writer can never make a sound commit
        // line look corrupt: `youngest_before` bounds the span from above (the writer stored
        // the `oldest_id` that goes with it before it), `youngest_after` bounds `oldest_id`.
        // ORDERING: Relaxed, each ordered before the next load by a fence(Acquire).
        let youngest_before = view.header(hw::YOUNGEST_ID).load(Ordering::Relaxed);
        // ORDERING: fence(Acquire) pairs with the writer's Release commit store: the
        // `oldest_id` loaded next is at least the one stored before that commit.
        fence(Ordering::Acquire);
        // ORDERING: Relaxed: ordered by the fences around it.
        let oldest = view.header(hw::OLDEST_ID).load(Ordering::Relaxed);
        // ORDERING: fence(Acquire) pairs with the writer's Release store of `oldest_id` in
        // `retire`: the commit point loaded next is at least the one stored before it.
        fence(Ordering::Acquire);
        // ORDERING: Relaxed: a bound only; it publishes nothing to this reader (the cached
        // commit is not raised from it, so the next read loads the commit point itself).
        let youngest = view.header(hw::YOUNGEST_ID).load(Ordering::Relaxed);
        let s = u64::from(self.layout.slots_count());
        if oldest == 0
            || oldest > youngest.saturating_add(1)
            || youngest_before.saturating_sub(oldest) >= s
        {
            // A writer keeps 1 <= oldest <= youngest + 1 and at most `slots_count` messages.
            return ReadError::Corrupt {
                id: MessageId(want),
                reason: CorruptReason::CommitOutOfRange {
                    youngest_id: youngest,
                    oldest_id: oldest,
                },
            };
        }
        if oldest > want {
            let resume = match self.lag_policy {
                LagPolicy::ResumeAtOldest => oldest,
                LagPolicy::ResumeAtYoungest => youngest.max(oldest),
            };
            self.next_id = resume;
            return ReadError::Lagged {
                missed_count: resume - want,
                resumed_at: MessageId(resume),
            };
        }
        // Published, not retired, and yet not stamped with its id: corrupt. Skip it.
        self.next_id = want.saturating_add(1);
        ReadError::Corrupt {
            id: MessageId(want),
            reason: CorruptReason::StampMismatch { found },
        }
    }
}

impl<R: Region> Drop for Reader<R> {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl<R: Region> core::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("layout", &self.core.layout)
            .field("generation", &self.core.generation)
            .field("next_id", &self.core.next_id)
            .field("lag_policy", &self.core.lag_policy)
            .finish()
    }
}
