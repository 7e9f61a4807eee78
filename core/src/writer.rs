//! The single writer: formats a region, recovers one whose writer died, appends messages.
//!
//! # Protocol (see `docs/design.md` for the full argument)
//!
//! Message `id` goes to slot `id % slots_count` and to the bytes `[start, end)` of the
//! unwrapped byte stream, `start` being the write position, or the next multiple of the
//! buffer size when the payload would otherwise cross the buffer's end (padding). Before
//! touching those bytes the writer retires, oldest first, every message that the slot ring
//! or the reused bytes force out (LROSE's capacity rule: whichever wraps first):
//!
//! 1. `oldest_id` ← first id kept (Release);
//! 2. each retired slot's stamp ← EMPTY (Release: a reader that sees it sees step 1);
//! 3. `fence(Release)`: the retirement is ordered before every store below (seqlock);
//! 4. payload words and slot metadata (Relaxed);
//! 5. the slot's stamp ← `id` (Release: publishes 4);
//! 6. `write_pos`, then `youngest_id` ← `id` (Release: the commit point, publishes 5).
//!
//! A batch runs 1-5 per message and 6 once. The writer keeps private copies of every word
//! that carries ordering (next id, commit point, oldest id, write position) and never
//! re-loads them (STYLE.md); it reads back only a retiring message's `buf_pos`, a field with
//! no ordering role that only it writes.
//!
//! Invariant 1 (one writer): `Writer` is `Send` but neither `Sync` nor `Clone`; across
//! processes the fmq crate's lock enforces it. Invariant 7 (writer death): a writer that dies
//! between any two stores leaves a region that [`Writer::recover`] takes over without ever
//! publishing the message that was in flight.

#![forbid(unsafe_code)]

use core::cell::Cell;
use core::marker::PhantomData;

use crate::crc::{message_crc, trailer};
use crate::error::{FormatError, RecoverError, WriteError};
use crate::header::{self, pack, word as hw, BYTE_ORDER_MARK, FORMAT_VERSION, MAGIC};
use crate::layout::{Config, Layout};
use crate::message::{MessageId, NewMessage};
use crate::payload::{padded_len, store_bytes};
use crate::region::Region;
use crate::slot::{word as sw, MSG_FLAG_COMPRESSED, SLOT_SIZE_BYTES, STAMP_EMPTY};
use crate::sync::{fence, Ordering};
use crate::view::View;

/// Positions stay below this so that `pos + 2 * buf_size` never overflows; so do ids.
const MAX_WRITE_POS: u64 = u64::MAX / 4;
static_assertions::const_assert_eq!(MAX_WRITE_POS, crate::message::MAX_MESSAGE_ID);

/// What [`Writer::recover`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The new writer epoch.
    pub epoch: u64,
    /// The recovered commit point: the youngest id kept (the next message gets the id after
    /// it). The header's commit point after a process crash. Lower after a power loss that
    /// kept the header's page but not the slots of the youngest messages: those messages
    /// are dropped and their ids issued again (never a durable one: see `flush_with`). When
    /// nothing is kept at all, the header's commit point, with `oldest_id` one above it.
    pub youngest_id: MessageId,
    /// The oldest id still present after recovery.
    pub oldest_id: MessageId,
    /// Published messages dropped because their slots were inconsistent, at both ends:
    /// between `youngest_id` and the header's commit point, and below `oldest_id` where the
    /// header still counted them present. 0 after a process crash; more after a power loss
    /// (messages published after the last flush whose slots did not all reach the disk, or
    /// retired since it) or on a corrupted region.
    pub dropped_count: u64,
    /// Slot stamps cleared: messages in flight that were never committed, and retirements
    /// the dead writer had not finished.
    pub stamps_cleared_count: u64,
    /// Whether the previous writer's mark said it was still open (it did not close cleanly).
    pub writer_was_open: bool,
    /// The previous writer's pid, as its mark recorded it.
    pub previous_pid: u32,
}

/// What [`Writer::flush_with`] asks its `sync` to make durable, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushStep {
    /// The whole message buffer.
    Buf,
    /// The whole stat part: header and slot table.
    Stat,
    /// The header alone (its page is enough: the header is 256 bytes at offset 0).
    Header,
}

/// The queue's single writer.
pub struct Writer<R: Region> {
    region: R,
    core: WriterCore,
    generation: u64,
    epoch: u64,
    pid: u32,
    /// `Send` but not `Sync`: one thread writes at a time.
    _not_sync: PhantomData<Cell<()>>,
}

/// The writer's private state: its own copies of every word it publishes.
struct WriterCore {
    layout: Layout,
    /// Id the next message gets.
    next_id: u64,
    /// `youngest_id + 1` as last stored in the header (the commit point).
    published_next: u64,
    /// Oldest id present, as last stored in the header.
    oldest_id: u64,
    /// Stream position just past the last message put.
    write_pos: u64,
    /// Blocking mode (`QUEUE_FLAG_BLOCKING`): retirements wait for registered readers.
    blocking: bool,
    /// Blocking mode: ids below this may be retired without a new scan of the registry (a
    /// scan with this intent found every live cursor at or above it).
    allowed: u64,
}

impl<R: Region> Writer<R> {
    /// Formats `region` as a new, empty queue and returns its writer. Anything the region
    /// held is discarded; a reader attached to it gets `GenerationChanged`.
    pub fn format(region: R, config: &Config) -> Result<Self, FormatError> {
        let layout = Layout::from_config(config)?;
        layout
            .check_region(&region)
            .map_err(|(part, needed, actual)| FormatError::RegionTooSmall {
                part,
                needed,
                actual,
            })?;
        let generation = {
            let view = View::new(&region, &layout).ok_or(FormatError::RegionTooSmall {
                part: crate::error::Part::Stat,
                needed: layout.stat_size_bytes(),
                actual: 0,
            })?;
            let generation = next_generation(&view, config);
            clear_for_format(&view, generation);
            write_header(&view, &layout, config, generation);
            generation
        };
        Ok(Writer {
            region,
            core: WriterCore {
                layout,
                next_id: 1,
                published_next: 1,
                oldest_id: 1,
                write_pos: 0,
                blocking: config.queue_flags & header::QUEUE_FLAG_BLOCKING != 0,
                allowed: 1,
            },
            generation,
            epoch: 1,
            pid: 0,
            _not_sync: PhantomData,
        })
    }

    /// Takes over a formatted region whose previous writer is gone (closed, or died at any
    /// instruction: DESIGN invariant 7). Messages published before its death stay readable;
    /// the message it was writing, and any batch it had not committed, are never published;
    /// retirements it had begun are finished. The epoch is bumped. Readers may stay attached
    /// throughout.
    ///
    /// The caller must make sure the previous writer is really gone (the fmq crate's lock).
    pub fn recover(region: R) -> Result<(Self, RecoveryReport), RecoverError> {
        let attached = Layout::from_header(&region)?;
        let layout = attached.layout;
        let (kept, write_pos, report) = {
            let view = View::new(&region, &layout).ok_or(RecoverError::Attach(
                crate::error::AttachError::RegionTooSmall {
                    part: crate::error::Part::Stat,
                    needed: layout.stat_size_bytes(),
                    actual: 0,
                },
            ))?;
            let found = Found::load(&view, &layout)?;
            let kept = kept_run(&view, &layout, &found);
            let write_pos = kept.end.unwrap_or_else(|| write_pos_hint(&view));
            restore_commit_line(&view, &found, &kept);
            let stamps_cleared_count = clear_stale_stamps(&view, &layout, &kept);
            reopen(&view, write_pos, found.epoch);
            let report = RecoveryReport {
                epoch: found.epoch,
                youngest_id: MessageId(kept.youngest),
                oldest_id: MessageId(kept.oldest),
                dropped_count: (found.youngest - kept.youngest) + (kept.oldest - found.oldest),
                stamps_cleared_count,
                writer_was_open: found.was_open,
                previous_pid: found.previous_pid,
            };
            (kept, write_pos, report)
        };
        let writer = Writer {
            region,
            core: WriterCore {
                layout,
                next_id: kept.youngest + 1,
                published_next: kept.youngest + 1,
                oldest_id: kept.oldest,
                write_pos,
                blocking: attached.queue_flags & header::QUEUE_FLAG_BLOCKING != 0,
                allowed: kept.oldest,
            },
            generation: attached.generation,
            epoch: report.epoch,
            pid: 0,
            _not_sync: PhantomData,
        };
        Ok((writer, report))
    }

    /// Records the writer's process id in the header's mark (for `fmq info` and for readers
    /// that detect a dead writer).
    pub fn set_pid(&mut self, pid: u32) {
        self.pid = pid;
        if let Some(view) = View::new(&self.region, &self.core.layout) {
            // ORDERING: Relaxed: the mark is advisory and publishes nothing.
            view.header(hw::WRITER_MARK)
                .store(pack(pid, 1), Ordering::Relaxed);
        }
    }

    /// Makes every message published so far durable, given a `sync` that makes one part of
    /// the storage durable (for files, `msync`); DESIGN invariant 8. It calls
    /// `sync(FlushStep::Buf)`, then `sync(FlushStep::Stat)`, then records the commit point
    /// as the header's `flushed_id` and calls `sync(FlushStep::Header)`; the first error
    /// stops it and is returned (the flush did not happen). Memory-only regions need no flush.
    ///
    /// The record is what lets [`Writer::recover`] find, after a power loss, the run of
    /// messages that must survive: the kernel may write the header's page back without
    /// younger slots' pages. It is stored only once the slots it names are durable, and is
    /// itself durable when this returns.
    ///
    /// A writer that took a file-backed queue over with [`Writer::recover`] must flush before
    /// its first write: recovery may issue ids again (those above a commit point it lowered,
    /// and the id that was in flight), and until the recovered state is durable a later
    /// power loss could bring back an older message under such an id.
    pub fn flush_with<E>(&self, mut sync: impl FnMut(FlushStep) -> Result<(), E>) -> Result<(), E> {
        sync(FlushStep::Buf)?;
        sync(FlushStep::Stat)?;
        if let Some(view) = View::new(&self.region, &self.core.layout) {
            // ORDERING: Relaxed: read only by later writers' recovery, which the lock orders
            // after this writer; durability comes from `sync`, not from memory ordering.
            view.header(hw::FLUSHED_ID)
                .store(self.core.published_next - 1, Ordering::Relaxed);
        }
        sync(FlushStep::Header)
    }

    /// Appends one message and publishes it; returns its id.
    pub fn write(
        &mut self,
        msg_type: i32,
        subtype: i32,
        time_ns: i64,
        payload: &[u8],
    ) -> Result<MessageId, WriteError> {
        self.write_message(&NewMessage::new(msg_type, subtype, time_ns, payload))
    }

    /// Appends one message (with flags, e.g. compressed) and publishes it; returns its id.
    pub fn write_message(&mut self, msg: &NewMessage<'_>) -> Result<MessageId, WriteError> {
        self.core.check(msg, 1)?;
        let view =
            View::new(&self.region, &self.core.layout).ok_or(WriteError::CounterExhausted)?;
        let id = self.core.put(&view, msg)?;
        self.core.commit(&view);
        Ok(MessageId(id))
    }

    /// Appends many messages and publishes them with one commit store; returns the id of the
    /// last (ids are consecutive), or `None` for an empty batch. Every message is checked
    /// before anything is written: an error leaves the queue untouched. A batch larger than
    /// the queue's capacity is committed early as needed, since a message is never retired
    /// before it was published.
    pub fn write_batch(
        &mut self,
        msgs: &[NewMessage<'_>],
    ) -> Result<Option<MessageId>, WriteError> {
        self.write_each(msgs.iter().copied())
    }

    /// [`Writer::write_batch`] over messages made on the fly (the iterator is walked twice:
    /// once to check every message, once to write them), for a caller whose messages are
    /// not core `NewMessage`s already, without collecting them first.
    pub fn write_each<'m, I>(&mut self, msgs: I) -> Result<Option<MessageId>, WriteError>
    where
        I: ExactSizeIterator<Item = NewMessage<'m>> + Clone,
    {
        let count = msgs.len() as u64;
        for m in msgs.clone() {
            self.core.check(&m, count)?;
        }
        let view =
            View::new(&self.region, &self.core.layout).ok_or(WriteError::CounterExhausted)?;
        let mut last = None;
        for m in msgs {
            match self.core.put(&view, &m) {
                Ok(id) => last = Some(MessageId(id)),
                Err(e) => {
                    // Blocking mode: the messages put so far are published; the caller learns
                    // how many from `youngest_id` and retries the rest.
                    self.core.commit(&view);
                    return Err(e);
                }
            }
        }
        self.core.commit(&view);
        Ok(last)
    }

    /// Whether the queue is in blocking mode (`QUEUE_FLAG_BLOCKING`).
    pub fn is_blocking(&self) -> bool {
        self.core.blocking
    }

    /// A snapshot of reader record `index` of the registry (`None` past it).
    pub fn reader_record(&self, index: u32) -> Option<crate::registry::ReaderRecord> {
        crate::registry::load_record(self.region.stat_words(), &self.core.layout, index)
    }

    /// Unregisters a registered reader that the caller judged dead (its process gone, or
    /// its heartbeat too old), if record `index` still has owner `owner` (a snapshot's): the
    /// writer stops waiting for it, and the reader, should it come back, gets
    /// `ReadError::Unregistered`. Counts it in the header's `readers_dropped`. Returns
    /// whether it was dropped.
    pub fn drop_reader(&mut self, index: u32, owner: u64) -> bool {
        let Some(view) = View::new(&self.region, &self.core.layout) else {
            return false;
        };
        let Some(rec) = view.record(index as usize) else {
            return false;
        };
        if !crate::registry::is_live(owner) {
            return false;
        }
        // ORDERING: Relaxed (success and failure): the writer's own decision; it publishes
        // nothing (the reader it drops is judged dead, and a live one only learns of it).
        let relaxed = Ordering::Relaxed;
        let dropped = rec[crate::registry::word::OWNER]
            .compare_exchange(owner, owner | crate::registry::DROPPED, relaxed, relaxed)
            .is_ok();
        if dropped {
            let counter = view.header(hw::READERS_DROPPED);
            // ORDERING: Relaxed: a counter for `fmq info`, written only by the writer.
            let n = counter.load(Ordering::Relaxed);
            counter.store(n.wrapping_add(1), Ordering::Relaxed);
        }
        dropped
    }

    /// Blocking mode, before sleeping on a registered reader's cursor: sets the waiting flag
    /// and returns the cursor word to sleep on (futex on its low 32 bits, expecting `seen`),
    /// or `None` if the cursor already moved from `seen` (no sleep). Clear the flag with
    /// [`Writer::end_wait`].
    pub fn prepare_wait(&self, index: u32, seen: u64) -> Option<&crate::sync::AtomicU64> {
        let view = View::new(&self.region, &self.core.layout)?;
        crate::registry::prepare_wait(&view, index, seen)
    }

    /// Clears the waiting flag set by [`Writer::prepare_wait`].
    pub fn end_wait(&self) {
        if let Some(view) = View::new(&self.region, &self.core.layout) {
            crate::registry::end_wait(&view);
        }
    }

    /// The youngest published id (0 before the first message).
    pub fn youngest_id(&self) -> MessageId {
        MessageId(self.core.published_next - 1)
    }

    /// The oldest id present.
    pub fn oldest_id(&self) -> MessageId {
        MessageId(self.core.oldest_id)
    }

    /// Stream position just past the youngest message.
    pub fn write_pos(&self) -> u64 {
        self.core.write_pos
    }

    /// The queue's layout.
    pub fn layout(&self) -> &Layout {
        &self.core.layout
    }

    /// The queue's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// This writer's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The region.
    pub fn region(&self) -> &R {
        &self.region
    }
}

impl WriterCore {
    fn check(&self, msg: &NewMessage<'_>, batch_len: u64) -> Result<(), WriteError> {
        if msg.flags & !MSG_FLAG_COMPRESSED != 0 {
            return Err(WriteError::UnknownFlags { flags: msg.flags });
        }
        let len = msg.payload.len() as u64;
        if msg.flags & MSG_FLAG_COMPRESSED == 0 && msg.raw_len != len {
            return Err(WriteError::RawLenMismatch {
                raw_len: msg.raw_len,
                len,
            });
        }
        let max = self.layout.max_message_bytes();
        if padded_len(len) > max {
            return Err(WriteError::MessageTooLarge { len, max });
        }
        let b = self.layout.buf_size_bytes();
        if self.next_id >= MAX_WRITE_POS - batch_len
            || self.write_pos >= MAX_WRITE_POS - batch_len.saturating_mul(2 * b).min(MAX_WRITE_POS)
        {
            return Err(WriteError::CounterExhausted);
        }
        Ok(())
    }

    /// Steps 1-5 for one checked message; returns its id (not yet committed). In blocking
    /// mode `Blocked` when a registered reader holds back the retirement: nothing of the
    /// message was stored.
    fn put(&mut self, view: &View<'_>, msg: &NewMessage<'_>) -> Result<u64, WriteError> {
        let id = self.next_id;
        let b = self.layout.buf_size_bytes();
        let len = msg.payload.len() as u64;
        let padded = padded_len(len);
        let phys = self.write_pos % b;
        let start = if phys + padded > b {
            self.write_pos + (b - phys)
        } else {
            self.write_pos
        };
        let end = start + padded;
        self.retire(view, id, end)?;

        store_bytes(view.payload(start, len), msg.payload);
        let slot = view.slot(id);
        let t = trailer(
            id,
            len,
            msg.raw_len,
            msg.time_ns,
            msg.msg_type,
            msg.subtype,
            msg.flags,
        );
        let crc = message_crc(msg.payload, &t);
        // The slot's stamp is EMPTY here (retired, then fence(Release) in `retire`, or never
        // used).
        // ORDERING: Relaxed: seqlock data, published by the Release stamp store below.
        slot.word(sw::BUF_POS).store(start, Ordering::Relaxed);
        slot.word(sw::STORED_LEN).store(len, Ordering::Relaxed);
        slot.word(sw::RAW_LEN).store(msg.raw_len, Ordering::Relaxed);
        let time = msg.time_ns as u64;
        slot.word(sw::TIME).store(time, Ordering::Relaxed);
        let types = pack(msg.msg_type as u32, msg.subtype as u32);
        slot.word(sw::TYPES).store(types, Ordering::Relaxed);
        slot.word(sw::FLAGS_CRC)
            .store(pack(msg.flags, crc), Ordering::Relaxed);
        // ORDERING: Relaxed: readers learn of `id` from the Release commit store in `commit`
        // and the fence(Acquire) after their load of it; a reader that finds `id` where it
        // wanted an older one synchronises, through its mismatch fence(Acquire), with the
        // fence(Release) that precedes every put of a reused slot (`retire`, `format`,
        // `recover`), which is what its next loads need (memory-ordering.md N2).
        slot.stamp().store(id, Ordering::Relaxed);
        self.next_id = id + 1;
        self.write_pos = end;
        Ok(id)
    }

    /// Retires, oldest first, every message that message `id` (bytes up to stream position
    /// `end`) forces out: its slot's previous occupant, and every message starting before
    /// `end - buf_size` (whose bytes the new payload reuses, or which precedes one that does).
    ///
    /// In blocking mode, retiring up to `o` first needs every live registered reader's cursor
    /// at `o` or above (a scan of the registry, skipped while `o <= allowed`); otherwise
    /// `Blocked`, with nothing stored but an early commit of a batch.
    fn retire(&mut self, view: &View<'_>, id: u64, end: u64) -> Result<(), WriteError> {
        let s = u64::from(self.layout.slots_count());
        let limit = end.saturating_sub(self.layout.buf_size_bytes());
        let first = self.oldest_id;
        let mut o = first;
        while o < id {
            if id - o < s {
                // ORDERING: Relaxed: this writer's own store, read back in program order; the
                // field has no ordering role.
                let pos = view.slot(o).word(sw::BUF_POS).load(Ordering::Relaxed);
                if pos >= limit {
                    break;
                }
            }
            if o >= self.published_next {
                // A batch larger than the queue: publish before retiring.
                self.commit(view);
            }
            o += 1;
        }
        if o == first {
            return Ok(());
        }
        if self.blocking && o > self.allowed {
            if let Some((reader, cursor)) = crate::registry::scan(view, o) {
                return Err(WriteError::Blocked {
                    reader,
                    cursor,
                    needed: o,
                });
            }
            self.allowed = o;
        }
        self.oldest_id = o;
        // ORDERING: Release pairs with the fence(Acquire) after the reader's load of
        // `oldest_id` on its mismatch path, which then also sees the commit point stored
        // before this (used to tell a corrupt commit line from a moving one).
        view.header(hw::OLDEST_ID).store(o, Ordering::Release);
        for r in first..o {
            // ORDERING: Release pairs with the reader's fence(Acquire) on the mismatch path,
            // after its stamp load: a reader that sees EMPTY sees the new `oldest_id` stored
            // above, so its missed count is exact.
            view.slot(r).stamp().store(STAMP_EMPTY, Ordering::Release);
        }
        // ORDERING: fence(Release) orders the EMPTY stamps above before the payload and slot
        // stores that follow (seqlock). Pairs with the reader's fence(Acquire) before its
        // second stamp load: a reader whose copy saw any byte stored after this fence sees its
        // stamp EMPTY (or newer) and discards the copy.
        fence(Ordering::Release);
        Ok(())
    }

    /// Step 6: publishes everything put so far.
    fn commit(&mut self, view: &View<'_>) {
        if self.published_next == self.next_id {
            return;
        }
        // ORDERING: Relaxed: a hint for recovery and `fmq info`, published by the commit.
        view.header(hw::WRITE_POS)
            .store(self.write_pos, Ordering::Relaxed);
        // ORDERING: Release pairs with the fence(Acquire) after the reader's load of
        // `youngest_id` (in `begin` and `seek`): a reader that sees the commit point sees
        // every stamp, metadata and payload word stored before it.
        view.header(hw::YOUNGEST_ID)
            .store(self.next_id - 1, Ordering::Release);
        self.published_next = self.next_id;
    }
}

// ---- `Writer::format`, step by step ----

/// The generation of a new format: after the previous format's, and at least the creation
/// time.
fn next_generation(view: &View<'_>, config: &Config) -> u64 {
    // ORDERING: Acquire pairs with the magic's Release store of an earlier format, so the
    // generation read next is that format's.
    // not modelled: the lock orders formats (memory-ordering.md N1).
    let old_magic = view.header(hw::MAGIC).load(Ordering::Acquire);
    let old_generation = if old_magic == MAGIC {
        // ORDERING: Relaxed: published by the magic loaded just above.
        view.header(hw::GENERATION).load(Ordering::Relaxed)
    } else {
        0
    };
    config
        .creation_time_ns
        .max(old_generation.wrapping_add(1))
        .max(1)
}

/// Unpublishes the old queue (magic 0), stores the new generation, then zeroes the rest of
/// the stat part.
fn clear_for_format(view: &View<'_>, generation: u64) {
    // ORDERING: Relaxed: attaches from now on fail with NotFormatted until the Release store
    // of the magic in `write_header`; the generation is ordered before the zeroing below by
    // the fence.
    view.header(hw::MAGIC).store(0, Ordering::Relaxed);
    view.header(hw::GENERATION)
        .store(generation, Ordering::Relaxed);
    // ORDERING: fence(Release) orders the new generation before every zeroed stamp and commit
    // word below. It pairs with the readers' fence(Acquire) after a copy or on a stamp
    // mismatch: a reader of the old generation that saw any of those stores also sees the new
    // generation and reports GenerationChanged.
    fence(Ordering::Release);
    for (i, w) in view.stat().iter().enumerate() {
        if i != hw::MAGIC && i != hw::GENERATION {
            // ORDERING: Relaxed: after the fence above; published by the magic.
            w.store(0, Ordering::Relaxed);
        }
    }
}

/// Writes line 0 and the writer's words, then publishes the header with the magic.
fn write_header(view: &View<'_>, layout: &Layout, config: &Config, generation: u64) {
    let mut line0 = [
        MAGIC,
        pack(FORMAT_VERSION, BYTE_ORDER_MARK),
        pack(layout.slots_count(), SLOT_SIZE_BYTES),
        layout.buf_size_bytes(),
        pack(header::HEADER_SIZE_BYTES, config.queue_flags),
        config.creation_time_ns,
        generation,
        pack(layout.readers_max(), 0),
    ];
    let crc = header::layout_crc(&line0);
    line0[hw::LAYOUT_CRC] = pack(layout.readers_max(), crc);
    for (i, v) in line0.iter().enumerate().skip(1) {
        // ORDERING: Relaxed: published by the magic's Release store below, as the words after
        // the loop (the mark is advisory besides).
        view.header(i).store(*v, Ordering::Relaxed);
    }
    let h = |w| view.header(w);
    h(hw::WRITER_MARK).store(pack(0, 1), Ordering::Relaxed);
    h(hw::WRITER_EPOCH).store(1, Ordering::Relaxed);
    h(hw::OLDEST_ID).store(1, Ordering::Relaxed);
    h(hw::READER_TIMEOUT_MS).store(config.reader_timeout_ms, Ordering::Relaxed);
    // ORDERING: Release pairs with the fence(Acquire) after the magic's load in
    // `Layout::from_header`: whoever sees the magic sees the whole header above.
    h(hw::MAGIC).store(MAGIC, Ordering::Release);
}

// ---- `Writer::recover`, step by step ----

/// What the dead writer left in the header.
struct Found {
    youngest: u64,
    oldest: u64,
    /// `flushed_id`: the commit point at its last completed flush.
    flushed: u64,
    /// The new writer's epoch.
    epoch: u64,
    was_open: bool,
    previous_pid: u32,
}

impl Found {
    /// Loads the header words recovery needs and checks the commit line.
    fn load(view: &View<'_>, layout: &Layout) -> Result<Found, RecoverError> {
        let h = |w| view.header(w);
        // ORDERING: Acquire pairs with the dead writer's Release commit store.
        // not modelled: the lock orders writers (memory-ordering.md N1).
        let youngest = h(hw::YOUNGEST_ID).load(Ordering::Acquire);
        // ORDERING: Acquire pairs with the dead writer's Release store of `oldest_id`.
        // not modelled: the lock orders writers (memory-ordering.md N1).
        let oldest = h(hw::OLDEST_ID).load(Ordering::Acquire);
        if oldest == 0
            || youngest >= MAX_WRITE_POS
            || oldest > youngest + 1
            || youngest + 1 - oldest > u64::from(layout.slots_count())
        {
            return Err(RecoverError::CommitOutOfRange {
                youngest_id: youngest,
                oldest_id: oldest,
            });
        }
        // ORDERING: Relaxed: the mark, the epoch and `flushed_id` are written only by writers,
        // which the lock (or the caller) orders one after another; `flushed_id` is a hint that
        // is checked against the slots.
        let (previous_pid, was_open) = header::unpack(h(hw::WRITER_MARK).load(Ordering::Relaxed));
        let epoch = h(hw::WRITER_EPOCH).load(Ordering::Relaxed).wrapping_add(1);
        let flushed = h(hw::FLUSHED_ID).load(Ordering::Relaxed);
        Ok(Found {
            youngest,
            oldest,
            flushed,
            epoch,
            was_open: was_open != 0,
            previous_pid,
        })
    }
}

/// The run of messages recovery keeps.
#[derive(Clone, Copy)]
struct Kept {
    youngest: u64,
    /// `youngest + 1` when nothing is kept.
    oldest: u64,
    /// Stream position just past the youngest kept message, if any is kept.
    end: Option<u64>,
}

/// Whether the slot of `id` describes message `id`: stamp right, inside the buffer. Returns
/// its stream range.
fn slot_range(view: &View<'_>, buf_size: u64, id: u64) -> Option<(u64, u64)> {
    let slot = view.slot(id);
    // ORDERING: Acquire pairs with the dead writer's Release stamp store.
    // not modelled: the lock orders writers (memory-ordering.md N1).
    let stamp = slot.stamp().load(Ordering::Acquire);
    // ORDERING: Relaxed: published by the stamp just loaded.
    let pos = slot.word(sw::BUF_POS).load(Ordering::Relaxed);
    let len = slot.word(sw::STORED_LEN).load(Ordering::Relaxed);
    let fits = stamp == id
        && len <= buf_size
        && pos < MAX_WRITE_POS
        && pos % buf_size + padded_len(len) <= buf_size;
    fits.then(|| (pos, pos + padded_len(len)))
}

/// The top of the run of messages kept. After a process crash every id up to the commit
/// point is consistent and the top is the commit point. After a power loss the disk may hold
/// the header's page (a commit point) without the pages of the youngest slots, or with a
/// gap: the run that must be kept is the one through the id recorded by the last completed
/// flush, whose slots were durable then and, unless retired since, still are (see
/// `docs/design.md`, "Recovery after a power loss"). It goes up to the first gap; without a
/// usable flush record, from the youngest consistent id.
fn kept_top(view: &View<'_>, buf_size: u64, f: &Found) -> Option<u64> {
    let ok = |id| slot_range(view, buf_size, id).is_some();
    if f.flushed >= f.oldest && f.flushed <= f.youngest && ok(f.flushed) {
        let mut top = f.flushed;
        while top < f.youngest && ok(top + 1) {
            top += 1;
        }
        Some(top)
    } else {
        (f.oldest.max(1)..=f.youngest).rev().find(|&id| ok(id))
    }
}

/// The longest consistent run ending at [`kept_top`]: no overlaps, within one lap.
fn kept_run(view: &View<'_>, layout: &Layout, f: &Found) -> Kept {
    let b = layout.buf_size_bytes();
    let Some((top, (top_start, top_end))) =
        kept_top(view, b, f).and_then(|t| Some((t, slot_range(view, b, t)?)))
    else {
        return Kept {
            youngest: f.youngest,
            oldest: f.youngest + 1,
            end: None,
        };
    };
    let mut oldest = top;
    let mut next_start = top_start;
    let mut id = top - 1;
    while id >= f.oldest && id > 0 {
        let Some((pos, end)) = slot_range(view, b, id) else {
            break;
        };
        if end > next_start || top_end - pos > b {
            break;
        }
        next_start = pos;
        oldest = id;
        id -= 1;
    }
    Kept {
        youngest: top,
        oldest,
        end: Some(top_end),
    }
}

/// The header's write position when nothing is kept: only a hint, and any position is safe.
fn write_pos_hint(view: &View<'_>) -> u64 {
    // ORDERING: Relaxed: only a hint; any position is safe when nothing is kept.
    let hint = view.header(hw::WRITE_POS).load(Ordering::Relaxed);
    if hint < MAX_WRITE_POS {
        hint
    } else {
        0
    }
}

/// Stores the kept run's commit line where it differs from the dead writer's.
fn restore_commit_line(view: &View<'_>, f: &Found, kept: &Kept) {
    let h = |w| view.header(w);
    if kept.youngest != f.youngest {
        // The ids above are issued again; the caller makes this recovery durable before the
        // next write (`flush_with`), so no power loss can bring back a slot of theirs.
        // ORDERING: Release, as in `commit`; it only lowers the commit point.
        // not modelled: power loss or corruption only (memory-ordering.md N3).
        h(hw::YOUNGEST_ID).store(kept.youngest, Ordering::Release);
    }
    if kept.oldest != f.oldest {
        // ORDERING: Release, as in `retire`: a reader that sees a stamp cleared next sees it.
        // not modelled: power loss or corruption only (memory-ordering.md N3).
        h(hw::OLDEST_ID).store(kept.oldest, Ordering::Release);
    }
}

/// Clears every stamp outside the kept run: messages in flight that were never committed,
/// and retirements the dead writer had not finished. Returns how many.
fn clear_stale_stamps(view: &View<'_>, layout: &Layout, kept: &Kept) -> u64 {
    let s = u64::from(layout.slots_count());
    let mut cleared = 0;
    for index in 0..layout.slots_count() as usize {
        let slot = view.slot_at(index);
        // ORDERING: Relaxed: only this writer stores stamps; the dead writer's stores were
        // made visible by the Acquire loads of `Found::load` or by its process ending.
        let stamp = slot.stamp().load(Ordering::Relaxed);
        let live = stamp >= kept.oldest && stamp <= kept.youngest && stamp % s == index as u64;
        if stamp != STAMP_EMPTY && !live {
            // ORDERING: Release pairs with the fence(Acquire) after a reader's stamp load on its
            // mismatch path: a reader attached before the crash that finds this EMPTY then
            // loads the dead writer's `oldest_id` (which this writer holds through the lock),
            // not an older one that would make a retired message look corrupt
            // (`loom_recovery`, a reader attached before a crash in retire).
            slot.stamp().store(STAMP_EMPTY, Ordering::Release);
            cleared += 1;
        }
    }
    // ORDERING: fence(Release): the clearing above is ordered before any payload or slot
    // store this writer makes next; pairs with the readers' fence(Acquire) after a copy.
    fence(Ordering::Release);
    cleared
}

/// The new writer's mark: open, epoch bumped, write position.
fn reopen(view: &View<'_>, write_pos: u64, epoch: u64) {
    // ORDERING: Relaxed: a hint for the next recovery and `fmq info`, and the advisory mark
    // (the lock orders writers).
    view.header(hw::WRITE_POS)
        .store(write_pos, Ordering::Relaxed);
    view.header(hw::WRITER_EPOCH)
        .store(epoch, Ordering::Relaxed);
    view.header(hw::WRITER_MARK)
        .store(pack(0, 1), Ordering::Relaxed);
}

impl<R: Region> Drop for Writer<R> {
    fn drop(&mut self) {
        if let Some(view) = View::new(&self.region, &self.core.layout) {
            // ORDERING: Relaxed: the mark is advisory and publishes nothing.
            view.header(hw::WRITER_MARK)
                .store(pack(self.pid, 0), Ordering::Relaxed);
        }
    }
}

impl<R: Region> core::fmt::Debug for Writer<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writer")
            .field("layout", &self.core.layout)
            .field("generation", &self.generation)
            .field("epoch", &self.epoch)
            .field("next_id", &self.core.next_id)
            .field("oldest_id", &self.core.oldest_id)
            .field("write_pos", &self.core.write_pos)
            .finish()
    }
}
