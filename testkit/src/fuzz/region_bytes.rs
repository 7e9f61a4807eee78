//! Fuzz target `region_bytes`: arbitrary bytes become a region.

use fmq_core::crc::{message_crc, trailer};
use fmq_core::header::{
    pack, unpack, word as hw, Header, BYTE_ORDER_MARK, FORMAT_VERSION, HEADER_SIZE_BYTES,
    HEADER_WORDS, MAGIC, QUEUE_FLAGS_KNOWN,
};
use fmq_core::inspect::{self, SlotState};
use fmq_core::slot::{word as sw, SLOT_SIZE_BYTES, SLOT_WORDS};
use fmq_core::sync::AtomicU64;
use fmq_core::MAX_MESSAGE_ID;
use fmq_core::{
    CorruptReason, HeapRegion, LagPolicy, Layout, MessageId, MessageMeta, ReadError, Reader,
    ReaderConfig, RecoverError, RecoveryReport, Region, StartAt, WriteError, Writer,
};

use super::{buffer_bytes, copy_region, fill, get, len_from, read_any, set, snapshot, Input};
use crate::capacity::{lag_resume, padded};
use crate::payload::noise;

/// Repairs applied to the fuzzer's region, bit by bit, so that it gets past each check.
mod fixes {
    /// Magic, version, byte-order mark, slot size, header size; queue flags masked.
    pub const IDENTITY: u8 = 1 << 0;
    /// Region sizes are legal and the header's layout matches them.
    pub const FIT: u8 = 1 << 1;
    /// The layout checksum is recomputed (last).
    pub const LAYOUT_CRC: u8 = 1 << 2;
    /// The commit line is one a writer can leave (ids below 4096).
    pub const COMMIT: u8 = 1 << 3;
    /// Every id between oldest and youngest is stamped into its slot.
    pub const STAMPS: u8 = 1 << 4;
    /// Present messages are placed one after another in the buffer, as a writer would.
    pub const PLACE: u8 = 1 << 5;
    /// Every stamped slot whose bounds are sane gets the checksum of what it points at.
    pub const SLOT_CRC: u8 = 1 << 6;
}

const FUZZ_MAX_SLOTS: usize = 32;
const FUZZ_MAX_BUF_WORDS: usize = 256;

/// The slot table and buffer as far as both the header and the region allow.
struct Table<'r> {
    st: &'r [AtomicU64],
    /// Slots (at least 1).
    s: u64,
    /// Buffer bytes (a multiple of 8).
    b: u64,
}

impl Table<'_> {
    fn word(&self, id: u64, w: usize) -> usize {
        HEADER_WORDS + (id % self.s) as usize * SLOT_WORDS + w
    }

    fn slot(&self, id: u64, w: usize) -> u64 {
        get(self.st, self.word(id, w))
    }

    fn set_slot(&self, id: u64, w: usize, v: u64) {
        set(self.st, self.word(id, w), v);
    }

    /// The ids from the commit line as the header holds it, at most one per slot.
    fn present(&self) -> impl Iterator<Item = u64> {
        let (oldest, youngest) = (get(self.st, hw::OLDEST_ID), get(self.st, hw::YOUNGEST_ID));
        (oldest.max(1)..=youngest).take(self.s as usize)
    }
}

fn repair(reg: &HeapRegion, fix: u8) {
    let st = reg.stat_words();
    if st.len() < HEADER_WORDS {
        return;
    }
    if fix & fixes::IDENTITY != 0 {
        repair_identity(st);
    }
    if fix & fixes::FIT != 0 {
        let slots = ((st.len() - HEADER_WORDS) / SLOT_WORDS).max(1) as u32;
        let (_, slot_size) = unpack(get(st, hw::SLOTS));
        set(st, hw::SLOTS, pack(slots, slot_size));
        set(st, hw::BUF_SIZE, reg.buf_words().len() as u64 * 8);
    }
    let (slots, _) = unpack(get(st, hw::SLOTS));
    let t = Table {
        st,
        s: u64::from(slots)
            .min(((st.len() - HEADER_WORDS) / SLOT_WORDS) as u64)
            .max(1),
        b: get(st, hw::BUF_SIZE).min(reg.buf_words().len() as u64 * 8) & !7,
    };
    if fix & fixes::COMMIT != 0 {
        let youngest = get(st, hw::YOUNGEST_ID) % 4096;
        let present = get(st, hw::OLDEST_ID) % (t.s.min(youngest) + 1);
        set(st, hw::YOUNGEST_ID, youngest);
        set(st, hw::OLDEST_ID, youngest + 1 - present);
    }
    if fix & fixes::STAMPS != 0 {
        for id in t.present() {
            t.set_slot(id, sw::STAMP, id);
        }
    }
    if fix & fixes::PLACE != 0 && t.b >= 8 {
        repair_places(&t);
    }
    if fix & fixes::SLOT_CRC != 0 && t.b >= 8 {
        repair_slot_crcs(&t, reg.buf_words());
    }
    if fix & fixes::LAYOUT_CRC != 0 {
        let mut line0 = [0u64; 8];
        for (i, w) in line0.iter_mut().enumerate() {
            *w = get(st, i);
        }
        let crc = fmq_core::header::layout_crc(&line0);
        let (reserved0, _) = unpack(line0[hw::LAYOUT_CRC]);
        set(st, hw::LAYOUT_CRC, pack(reserved0, crc));
    }
}

/// Magic, version, byte-order mark, slot size, header size; unknown queue flags cleared.
fn repair_identity(st: &[AtomicU64]) {
    set(st, hw::MAGIC, MAGIC);
    set(st, hw::VERSION_BOM, pack(FORMAT_VERSION, BYTE_ORDER_MARK));
    let (slots, _) = unpack(get(st, hw::SLOTS));
    set(st, hw::SLOTS, pack(slots, SLOT_SIZE_BYTES));
    let (_, flags) = unpack(get(st, hw::HEADER_SIZE_FLAGS));
    set(
        st,
        hw::HEADER_SIZE_FLAGS,
        pack(HEADER_SIZE_BYTES, flags & QUEUE_FLAGS_KNOWN),
    );
}

/// The present messages placed one after another from the write position, each padded to
/// the next lap where it would cross the buffer's end (the capacity rule's placement).
fn repair_places(t: &Table<'_>) {
    let count = t.present().count().max(1) as u64;
    let mut pos = (get(t.st, hw::WRITE_POS) % (4 * t.b)) & !7;
    for id in t.present() {
        let len = t.slot(id, sw::STORED_LEN) % (t.b / count + 1);
        let p = padded(len);
        let phys = pos % t.b;
        let start = if phys + p > t.b {
            pos + (t.b - phys)
        } else {
            pos
        };
        t.set_slot(id, sw::BUF_POS, start);
        t.set_slot(id, sw::STORED_LEN, len);
        pos = start + p;
    }
    set(t.st, hw::WRITE_POS, pos);
}

/// Every stamped slot whose bounds are sane gets the CRC of the bytes it points at.
fn repair_slot_crcs(t: &Table<'_>, buf: &[AtomicU64]) {
    for index in 0..t.s {
        let w = |f: usize| t.slot(index, f);
        let (stamp, pos, len) = (w(sw::STAMP), w(sw::BUF_POS), w(sw::STORED_LEN));
        if stamp == 0 || len > t.b || pos % t.b + padded(len) > t.b {
            continue;
        }
        let bytes = buffer_bytes(buf, pos % t.b, len as usize);
        let (msg_type, subtype) = unpack(w(sw::TYPES));
        let (flags, _) = unpack(w(sw::FLAGS_CRC));
        let tr = trailer(
            stamp,
            len,
            w(sw::RAW_LEN),
            w(sw::TIME) as i64,
            msg_type as i32,
            subtype as i32,
            flags,
        );
        t.set_slot(index, sw::FLAGS_CRC, pack(flags, message_crc(&bytes, &tr)));
    }
}

/// The region from the input: sizes (legal ones under `fixes::FIT`), then its bytes, then
/// the repairs.
fn build(input: &mut Input<'_>, fix: u8) -> HeapRegion {
    let (a, b) = (usize::from(input.u16()), usize::from(input.u16()));
    let (stat_words, buf_words) = if fix & fixes::FIT != 0 {
        (
            HEADER_WORDS + SLOT_WORDS * (1 + a % FUZZ_MAX_SLOTS),
            8 + b % (FUZZ_MAX_BUF_WORDS - 7),
        )
    } else {
        (
            a % (HEADER_WORDS + SLOT_WORDS * FUZZ_MAX_SLOTS + 2),
            b % (FUZZ_MAX_BUF_WORDS + 2),
        )
    };
    let reg = HeapRegion::with_sizes(stat_words as u64 * 8, buf_words as u64 * 8);
    fill(reg.stat_words(), input.bytes(stat_words * 8));
    fill(reg.buf_words(), input.bytes(buf_words * 8));
    repair(&reg, fix);
    reg
}

/// A reader's start and lag policy from one input byte.
fn reader_config(opts: u8) -> ReaderConfig {
    let lag_policy = if opts & 4 != 0 {
        LagPolicy::ResumeAtYoungest
    } else {
        LagPolicy::ResumeAtOldest
    };
    let start = match opts & 3 {
        0 => StartAt::Oldest,
        1 => StartAt::Youngest,
        2 => StartAt::End,
        _ => StartAt::Id(MessageId(1)),
    };
    ReaderConfig { start, lag_policy }
}

/// Fuzz target `region_bytes`: arbitrary bytes become a region.
///
/// Input: `fix` (bits of the `fixes` repairs), `opts` (reader start and lag policy), two
/// 16-bit sizes, the stat part's bytes, the buffer's bytes, then bytes that steer the reads
/// and the writes after recovery. Never panics on any region; panics (a bug) when attach,
/// a read, `inspect` or recovery breaks one of its documented promises.
pub fn region_bytes(data: &[u8]) {
    let mut input = Input::new(data);
    let fix = input.u8();
    let opts = input.u8();
    let reg = build(&mut input, fix);

    let header = Header::load(reg.stat_words());
    assert_eq!(
        header.is_some(),
        reg.stat_words().len() >= HEADER_WORDS,
        "Header::load succeeds exactly when the stat part holds a header"
    );
    if let Some(h) = &header {
        let _ = (
            h.present_count(),
            fmq_core::header::layout_crc(&h.line0_words()),
        );
    }
    let config = reader_config(opts);
    let attached = Layout::from_header(&reg);
    let reader = Reader::attach(&reg, config);
    assert_eq!(
        attached.is_ok(),
        reader.is_ok(),
        "Reader::attach accepts exactly the regions Layout::from_header accepts"
    );
    let (Ok(attached), Ok(mut reader), Some(h)) = (attached, reader, header) else {
        let copy = copy_region(&reg);
        assert!(
            matches!(Writer::recover(&copy), Err(RecoverError::Attach(_))),
            "recovery refuses a region that attach refuses"
        );
        return;
    };
    let q = Static {
        reg: &reg,
        layout: attached.layout,
        h,
        policy: config.lag_policy,
        commit_ok: false,
    };
    let q = Static {
        commit_ok: q.inspect(),
        ..q
    };
    let before = snapshot(&reg);
    q.read_all(&mut reader, &mut input);
    assert!(
        snapshot(&reg) == before,
        "invariant 5: readers never write shared memory"
    );
    q.recover_copy(&mut input);
}

/// A validated region that nobody writes, and what its header says.
struct Static<'r> {
    reg: &'r HeapRegion,
    layout: Layout,
    h: Header,
    policy: LagPolicy,
    /// Whether `inspect` calls the commit line sound.
    commit_ok: bool,
}

impl Static<'_> {
    /// What `fmq info` and `fmq check` compute, on any validated region; returns whether
    /// the commit line is sound.
    fn inspect(&self) -> bool {
        let commit_ok = inspect::commit_line_ok(&self.h, &self.layout);
        for index in 0..self.layout.slots_count() as usize {
            let slot = inspect::load_slot(self.reg, index);
            let slot =
                slot.expect("invariant 6: every slot of a validated layout is in the region");
            let _ = inspect::slot_state(&self.h, &self.layout, index, slot.stamp);
        }
        let _ = inspect::bytes_used(self.reg, &self.layout, &self.h);
        commit_ok
    }

    fn b(&self) -> u64 {
        self.layout.buf_size_bytes()
    }

    fn s(&self) -> u64 {
        u64::from(self.layout.slots_count())
    }

    /// Reads until `Empty` (bounded), checking each result against the region's own bytes:
    /// a static region makes every answer predictable.
    fn read_all(&self, reader: &mut Reader<&HeapRegion>, input: &mut Input<'_>) {
        let mut buf = vec![0u8; self.b() as usize];
        let mut last = 0u64;
        for _ in 0..(2 * self.s() + 8).min(300) {
            let want = reader.position().0;
            let kind = input.u8();
            let small = usize::from(input.u16()) % (self.b() as usize + 1);
            let offset = usize::from(input.u8());
            let res = if kind % 4 == 1 {
                read_in_place(reader, small, offset)
            } else {
                read_any(reader, kind, small, &mut buf)
            };
            // Past the commit point, or past every id a writer can publish: nothing to read.
            let waits = want > self.h.youngest_id || want >= MAX_MESSAGE_ID;
            if waits {
                assert_eq!(res, Err(ReadError::Empty), "past the commit point: Empty");
            }
            match res {
                Ok((meta, bytes)) => {
                    self.check_message(want, last, &meta, &bytes);
                    last = meta.id.0;
                }
                Err(ReadError::Empty) => {
                    assert!(waits, "Empty only past the commit point");
                    break;
                }
                Err(e) => {
                    if !self.check_error(reader, want, e, kind, small) {
                        break;
                    }
                }
            }
        }
    }

    /// A message returned: the next id, published, exactly what its slot and the bytes it
    /// points at hold, with a matching CRC.
    fn check_message(&self, want: u64, last: u64, meta: &MessageMeta, bytes: &[u8]) {
        let id = meta.id.0;
        assert_eq!(id, want, "invariant 4: the read returns the next id");
        assert!(
            id > last,
            "invariant 4: ids strictly increase ({last} then {id})"
        );
        assert!(id <= self.h.youngest_id, "only published ids are returned");
        assert!(
            meta.len as u64 <= self.b() && bytes.len() == meta.len,
            "length in bounds"
        );
        let slot = inspect::load_slot(self.reg, (id % self.s()) as usize).expect("slot in region");
        assert_eq!(slot.stamp, id, "returned from a slot stamped with its id");
        assert_eq!(
            (
                meta.len as u64,
                meta.raw_len,
                meta.time_ns,
                meta.msg_type,
                meta.subtype,
                meta.flags
            ),
            (
                slot.stored_len,
                slot.raw_len,
                slot.time_ns,
                slot.msg_type,
                slot.subtype,
                slot.flags
            ),
            "metadata is the slot's"
        );
        assert_eq!(
            bytes,
            buffer_bytes(self.reg.buf_words(), slot.buf_pos % self.b(), meta.len),
            "the payload is the bytes the slot points at"
        );
        let t = trailer(
            id,
            slot.stored_len,
            slot.raw_len,
            slot.time_ns,
            slot.msg_type,
            slot.subtype,
            slot.flags,
        );
        assert_eq!(
            message_crc(bytes, &t),
            slot.crc32c,
            "invariant 2: CRC checked"
        );
    }

    /// An error other than `Empty`: each only where the rules allow it. Returns whether the
    /// reader can go on.
    fn check_error(
        &self,
        reader: &Reader<&HeapRegion>,
        want: u64,
        e: ReadError,
        kind: u8,
        small: usize,
    ) -> bool {
        match e {
            ReadError::Lagged {
                missed_count,
                resumed_at,
            } => {
                assert!(self.h.oldest_id > want, "Lagged only below the oldest id");
                let resume = lag_resume(self.policy, self.h.oldest_id, self.h.youngest_id);
                assert_eq!(resumed_at, MessageId(resume), "invariant 4: resume point");
                assert_eq!(
                    missed_count,
                    resume - want,
                    "invariant 4: exact missed count"
                );
                assert_eq!(reader.position(), resumed_at);
            }
            ReadError::Corrupt { id, reason } => {
                assert_eq!(id, MessageId(want), "the corrupt id is the one wanted");
                if let CorruptReason::CommitOutOfRange { .. } = reason {
                    assert!(
                        !self.commit_ok,
                        "reader and inspect agree on the commit line"
                    );
                    assert_eq!(reader.position(), MessageId(want), "not skipped");
                    return false;
                }
                let next = MessageId(want.saturating_add(1));
                assert_eq!(reader.position(), next, "skipped");
            }
            ReadError::BufferTooSmall { needed } => {
                assert!(
                    kind % 4 == 3 && needed > small,
                    "BufferTooSmall only if it is"
                );
                assert!(needed as u64 <= self.b(), "needed is bounds-checked");
                assert_eq!(reader.position(), MessageId(want), "nothing consumed");
            }
            ReadError::GenerationChanged { .. } => {
                panic!("{e:?} in a region that nobody writes")
            }
            ReadError::Unregistered { .. } => {
                panic!("{e:?} for a reader that never registered")
            }
            ReadError::Empty => unreachable!("handled by the caller"),
        }
        true
    }
}

/// A zero-copy read, exercising every accessor of `Payload` in place.
fn read_in_place(
    reader: &mut Reader<&HeapRegion>,
    small: usize,
    offset: usize,
) -> Result<(MessageMeta, Vec<u8>), ReadError> {
    reader.read_with(|p| {
        let v = p.to_vec();
        assert_eq!((p.len(), p.is_empty()), (v.len(), v.is_empty()));
        let mut part = vec![0u8; small % 24];
        let n = p.copy_range_to(offset, &mut part);
        let expect = v.get(offset..).map_or(0, |rest| rest.len().min(part.len()));
        assert_eq!(n, expect, "Payload::copy_range_to count");
        assert_eq!(&part[..n], &v[offset.min(v.len())..][..n]);
        assert_eq!(p.byte(offset), v.get(offset).copied(), "Payload::byte");
        v
    })
}

impl Static<'_> {
    /// `Writer::recover` on a copy of the region: its report, the region it leaves, the
    /// messages it kept, and new messages written after it.
    fn recover_copy(&self, input: &mut Input<'_>) {
        let copy = copy_region(self.reg);
        let (mut w, report) = match Writer::recover(&copy) {
            Ok(x) => x,
            Err(RecoverError::CommitOutOfRange { .. }) => {
                assert!(
                    !self.commit_ok,
                    "recovery refused a commit line that inspect calls sound"
                );
                return;
            }
            Err(e @ RecoverError::Attach(_)) => {
                panic!("recovery refused an attachable region: {e}")
            }
        };
        assert!(self.commit_ok, "recovery accepts only a sound commit line");
        self.check_report(&copy, &w, &report);
        self.check_kept(&copy, report.oldest_id.0, report.youngest_id.0);
        write_after_recovery(&copy, &mut w, report.youngest_id.0, self.b(), input);
    }

    /// Recovery only drops, at either end, says so, and leaves a sound commit line with
    /// every stamp either empty or a kept message's.
    fn check_report(&self, copy: &HeapRegion, w: &Writer<&HeapRegion>, report: &RecoveryReport) {
        let h = &self.h;
        let (oldest, youngest) = (report.oldest_id.0, report.youngest_id.0);
        // The commit point may go down (young slots that a power loss did not write back),
        // the oldest id up.
        assert!(
            youngest <= h.youngest_id && oldest >= h.oldest_id && oldest <= youngest + 1,
            "recovery only drops: window {oldest}..={youngest} from {}..={}",
            h.oldest_id,
            h.youngest_id
        );
        assert_eq!(
            report.dropped_count,
            (h.youngest_id - youngest) + (oldest - h.oldest_id),
            "dropped count"
        );
        assert_eq!(
            (w.oldest_id(), w.youngest_id()),
            (report.oldest_id, report.youngest_id)
        );
        let h2 = Header::load(copy.stat_words()).expect("header");
        assert_eq!((h2.oldest_id, h2.youngest_id), (oldest, youngest));
        assert!(
            inspect::commit_line_ok(&h2, &self.layout),
            "recovery leaves a sound commit line"
        );
        for index in 0..self.s() as usize {
            let slot = inspect::load_slot(copy, index).expect("slot in region");
            let state = inspect::slot_state(&h2, &self.layout, index, slot.stamp);
            assert!(
                matches!(state, SlotState::Empty | SlotState::Present),
                "recovery clears every stamp that is not a kept message: slot {index} {state:?}"
            );
        }
    }

    /// The kept messages are consistent: each one reads back or fails only its checksum.
    fn check_kept(&self, copy: &HeapRegion, oldest: u64, youngest: u64) {
        let mut r = attach(copy, StartAt::Oldest);
        let mut buf = vec![0u8; self.b() as usize];
        for id in oldest..=youngest {
            match r.try_read(&mut buf) {
                Ok(m) => assert_eq!(m.id, MessageId(id), "kept message {id}"),
                Err(ReadError::Corrupt {
                    id: got,
                    reason: CorruptReason::ChecksumMismatch { .. },
                }) => assert_eq!(got, MessageId(id)),
                Err(e) => panic!("kept message {id} after recovery: {e:?}"),
            }
        }
        assert_eq!(r.try_read(&mut buf), Err(ReadError::Empty), "then Empty");
    }
}

fn attach(reg: &HeapRegion, start: StartAt) -> Reader<&HeapRegion> {
    let config = ReaderConfig {
        start,
        ..Default::default()
    };
    Reader::attach(reg, config).expect("attach after recovery")
}

/// Messages written after recovery read back exactly, and stay intact while the writer says
/// they are present (invariant 7).
fn write_after_recovery(
    copy: &HeapRegion,
    w: &mut Writer<&HeapRegion>,
    youngest: u64,
    b: u64,
    input: &mut Input<'_>,
) {
    let mut r = attach(copy, StartAt::End);
    let mut buf = vec![0u8; b as usize];
    let mut new = Vec::new();
    for k in 0..u64::from(input.u8() % 8) {
        let len = len_from(input.u8(), b);
        let p = noise(youngest + k, len);
        let id = match w.write(3, -3, k as i64, &p) {
            Ok(id) => id,
            Err(WriteError::CounterExhausted) => break,
            Err(e) => panic!("write after recovery: {e}"),
        };
        assert_eq!(
            id,
            MessageId(youngest + 1 + k),
            "ids continue after the commit point"
        );
        let m = r.try_read(&mut buf).unwrap_or_else(|e| {
            panic!("invariant 7: message {id} written after recovery does not read: {e:?}")
        });
        assert_eq!(
            (m.id, &buf[..m.len]),
            (id, &p[..]),
            "invariant 7: read back exactly"
        );
        new.push(p);
    }
    let first = w.oldest_id().0.max(youngest + 1);
    let mut r = attach(copy, StartAt::Id(MessageId(first)));
    for id in first..=w.youngest_id().0 {
        let m = r.try_read(&mut buf).unwrap_or_else(|e| {
            panic!("invariant 7: message {id}, written after recovery and still present: {e:?}")
        });
        let p = &new[(id - youngest - 1) as usize];
        assert_eq!(
            (m.id.0, &buf[..m.len]),
            (id, &p[..]),
            "invariant 7: still intact"
        );
    }
}
