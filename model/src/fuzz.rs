//! Bodies of the cargo-fuzz targets of `fuzz/` (a workspace of its own, nightly), kept here
//! so that the stable test `tests/fuzz_corpus.rs` replays the checked-in corpora through the
//! very same code with a plain `cargo test -p fmq-model`.
//!
//! Each body takes the fuzzer's bytes, decodes them with a cursor that reads zeros once the
//! input is used up (so every input is valid), and runs a bounded amount of work: no body can
//! loop forever. A body panics only when it found a bug: every `assert!` below is a property
//! of the protocol (DESIGN §4), and the invariant is named in its message.
//!
//! * [`region_bytes`]: arbitrary bytes as a whole region (stat part and buffer), optionally
//!   repaired field by field (magic, sizes, checksums, commit line, stamps, positions) so that
//!   the fuzzer gets past each check in turn. Header snapshot, attach, the `inspect` helpers
//!   of `fmq info` / `fmq check`, every read path until `Empty`, and `Writer::recover` on a
//!   copy, followed by writes that must read back exactly. Invariants 5 (readers never write)
//!   and 6 (nothing trusted: errors, never a panic), and recovery's postconditions (7).
//! * [`ops_vs_oracle`]: a small queue and a sequence of writes, batches, reads of four kinds,
//!   seeks, writer recoveries (clean or after a "crash"), new readers and full scans, against
//!   a `VecDeque` oracle that states the capacity rule from the spec. Invariants 2 and 4:
//!   exact payloads and metadata, strictly increasing ids, exact `Lagged` counts, and every
//!   id the oracle holds readable.
//! * [`mutating_reader`]: a real queue whose words the fuzzer overwrites between reads and
//!   writes. Invariant 6 under a hostile co-tenant: no panic, lengths within the buffer, ids
//!   strictly increasing per reader, exact lag arithmetic, and every message returned from a
//!   slot the fuzzer never touched is exactly the message written with that id.

use std::collections::VecDeque;

use crate::CapacityOracle;

use fmq_core::crc::{message_crc, trailer};
use fmq_core::header::{
    pack, unpack, word as hw, Header, BYTE_ORDER_MARK, FORMAT_VERSION, HEADER_SIZE_BYTES,
    HEADER_WORDS, MAGIC, QUEUE_FLAGS_KNOWN,
};
use fmq_core::inspect::{self, SlotState};
use fmq_core::slot::{word as sw, SLOT_SIZE_BYTES, SLOT_WORDS};
use fmq_core::sync::{AtomicU64, Ordering};
use fmq_core::MAX_MESSAGE_ID;
use fmq_core::{
    CorruptReason, HeapRegion, LagPolicy, Layout, MessageId, MessageMeta, NewMessage, ReadError,
    Reader, ReaderConfig, RecoverError, Region, StartAt, WriteError, Writer,
};

// ---------------------------------------------------------------------------------------
// Input decoding and region helpers
// ---------------------------------------------------------------------------------------

/// The fuzzer's bytes, read front to back; zeros once they are used up.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// Up to `n` bytes (fewer when the input ends).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }
}

fn get(words: &[AtomicU64], i: usize) -> u64 {
    // ORDERING: Relaxed: single-threaded test harness; no other thread touches the region.
    words.get(i).map_or(0, |w| w.load(Ordering::Relaxed))
}

fn set(words: &[AtomicU64], i: usize, v: u64) {
    if let Some(w) = words.get(i) {
        // ORDERING: Relaxed: single-threaded test harness.
        w.store(v, Ordering::Relaxed);
    }
}

/// Stores `bytes` into `words` little-endian, the last word zero-padded.
fn fill(words: &[AtomicU64], bytes: &[u8]) {
    for (i, c) in bytes.chunks(8).enumerate() {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        set(words, i, u64::from_le_bytes(b));
    }
}

/// Every word of a region, stat part then buffer.
fn snapshot(reg: &HeapRegion) -> Vec<u64> {
    let (s, b) = (reg.stat_words(), reg.buf_words());
    (0..s.len())
        .map(|i| get(s, i))
        .chain((0..b.len()).map(|i| get(b, i)))
        .collect()
}

fn copy_region(reg: &HeapRegion) -> HeapRegion {
    let (s, b) = (reg.stat_words(), reg.buf_words());
    let copy = HeapRegion::with_sizes(s.len() as u64 * 8, b.len() as u64 * 8);
    for i in 0..s.len() {
        set(copy.stat_words(), i, get(s, i));
    }
    for i in 0..b.len() {
        set(copy.buf_words(), i, get(b, i));
    }
    copy
}

/// `len` bytes of the buffer from byte `start` (a multiple of 8), as the writer stored them.
fn buffer_bytes(words: &[AtomicU64], start: u64, len: usize) -> Vec<u8> {
    let first = (start / 8) as usize;
    let mut out: Vec<u8> = (0..len.div_ceil(8))
        .flat_map(|i| get(words, first + i).to_le_bytes())
        .collect();
    out.truncate(len);
    out
}

const fn padded(len: u64) -> u64 {
    (len + 7) & !7
}

/// Deterministic, varied payload bytes (xorshift): distinct for distinct seeds.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A payload length from one input byte: below 128 a small exact length, above it a fraction
/// of the buffer, 255 an exact fit and 254 one byte less.
fn len_from(v: u8, buf: u64) -> usize {
    match v {
        0..=127 => u64::from(v % 48).min(buf) as usize,
        255 => buf as usize,
        254 => (buf - 1) as usize,
        _ => (buf * u64::from(v - 128) / 127) as usize,
    }
}

/// A small valid queue from two input bytes: 1 to 8 slots, 64 to 512 bytes of buffer.
fn small_queue(input: &mut Input<'_>) -> (u32, u64) {
    let slots = 1 + u32::from(input.u8() % 8);
    let buf = 8 * (8 + u64::from(input.u8() % 57));
    (slots, buf)
}

fn format(slots: u32, buf: u64) -> (HeapRegion, fmq_core::Config) {
    let cfg = fmq_core::Config {
        creation_time_ns: 1_000,
        readers_max: 0,
        reader_timeout_ms: 0,
        ..crate::config(slots, buf)
    };
    let layout = Layout::from_config(&cfg).expect("a valid small config");
    (HeapRegion::new(&layout), cfg)
}

/// A read of one of four kinds; `Ok` carries the metadata and the payload bytes. The small
/// buffer kind returns `BufferTooSmall` as an error like `try_read` does.
fn read_any(
    reader: &mut Reader<&HeapRegion>,
    kind: u8,
    small: usize,
    buf: &mut [u8],
) -> Result<(MessageMeta, Vec<u8>), ReadError> {
    match kind % 4 {
        0 => reader.try_read(buf).map(|m| (m, buf[..m.len].to_vec())),
        1 => reader.read_with(|p| p.to_vec()),
        2 => reader.try_read_message().map(|m| (m.meta, m.payload)),
        _ => {
            let mut b = vec![0u8; small];
            reader.try_read(&mut b).map(|m| (m, b[..m.len].to_vec()))
        }
    }
}

// ---------------------------------------------------------------------------------------
// region_bytes
// ---------------------------------------------------------------------------------------

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

fn repair(reg: &HeapRegion, fix: u8) {
    let st = reg.stat_words();
    if st.len() < HEADER_WORDS {
        return;
    }
    if fix & fixes::IDENTITY != 0 {
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
    if fix & fixes::FIT != 0 {
        let slots = ((st.len() - HEADER_WORDS) / SLOT_WORDS).max(1) as u32;
        let (_, slot_size) = unpack(get(st, hw::SLOTS));
        set(st, hw::SLOTS, pack(slots, slot_size));
        set(st, hw::BUF_SIZE, reg.buf_words().len() as u64 * 8);
    }
    // The slot table as far as both the header and the region allow.
    let (slots, _) = unpack(get(st, hw::SLOTS));
    let s = u64::from(slots)
        .min(((st.len() - HEADER_WORDS) / SLOT_WORDS) as u64)
        .max(1);
    let b = get(st, hw::BUF_SIZE).min(reg.buf_words().len() as u64 * 8) & !7;
    let slot_word = |id: u64, w: usize| HEADER_WORDS + (id % s) as usize * SLOT_WORDS + w;
    if fix & fixes::COMMIT != 0 {
        let youngest = get(st, hw::YOUNGEST_ID) % 4096;
        let present = get(st, hw::OLDEST_ID) % (s.min(youngest) + 1);
        set(st, hw::YOUNGEST_ID, youngest);
        set(st, hw::OLDEST_ID, youngest + 1 - present);
    }
    let (oldest, youngest) = (get(st, hw::OLDEST_ID), get(st, hw::YOUNGEST_ID));
    let present = || (oldest.max(1)..=youngest).take(s as usize);
    if fix & fixes::STAMPS != 0 {
        for id in present() {
            set(st, slot_word(id, sw::STAMP), id);
        }
    }
    if fix & fixes::PLACE != 0 && b >= 8 {
        let count = present().count().max(1) as u64;
        let mut pos = (get(st, hw::WRITE_POS) % (4 * b)) & !7;
        for id in present() {
            let len = get(st, slot_word(id, sw::STORED_LEN)) % (b / count + 1);
            let p = padded(len);
            let phys = pos % b;
            let start = if phys + p > b { pos + (b - phys) } else { pos };
            set(st, slot_word(id, sw::BUF_POS), start);
            set(st, slot_word(id, sw::STORED_LEN), len);
            pos = start + p;
        }
        set(st, hw::WRITE_POS, pos);
    }
    if fix & fixes::SLOT_CRC != 0 && b >= 8 {
        for index in 0..s {
            let w = |f: usize| get(st, slot_word(index, f));
            let (stamp, pos, len) = (w(sw::STAMP), w(sw::BUF_POS), w(sw::STORED_LEN));
            if stamp == 0 || len > b || pos % b + padded(len) > b {
                continue;
            }
            let bytes = buffer_bytes(reg.buf_words(), pos % b, len as usize);
            let (msg_type, subtype) = unpack(w(sw::TYPES));
            let (flags, _) = unpack(w(sw::FLAGS_CRC));
            let t = trailer(
                stamp,
                len,
                w(sw::RAW_LEN),
                w(sw::TIME) as i64,
                msg_type as i32,
                subtype as i32,
                flags,
            );
            set(
                st,
                slot_word(index, sw::FLAGS_CRC),
                pack(flags, message_crc(&bytes, &t)),
            );
        }
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
    let policy = if opts & 4 != 0 {
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
    let config = ReaderConfig {
        start,
        lag_policy: policy,
    };
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
    let layout = attached.layout;

    // What `fmq info` and `fmq check` compute, on any validated region.
    let commit_ok = inspect::commit_line_ok(&h, &layout);
    for index in 0..layout.slots_count() as usize {
        let slot = inspect::load_slot(&reg, index);
        let slot = slot.expect("invariant 6: every slot of a validated layout is in the region");
        let _ = inspect::slot_state(&h, &layout, index, slot.stamp);
    }
    let _ = inspect::bytes_used(&reg, &layout, &h);

    let before = snapshot(&reg);
    read_static(
        &mut reader,
        &reg,
        &layout,
        &h,
        policy,
        commit_ok,
        &mut input,
    );
    assert!(
        snapshot(&reg) == before,
        "invariant 5: readers never write shared memory"
    );
    recover_copy(&reg, &layout, &h, commit_ok, &mut input);
}

/// Reads a region nobody writes until `Empty` (bounded), checking each result against the
/// region's own bytes: a static region makes every answer predictable.
fn read_static(
    reader: &mut Reader<&HeapRegion>,
    reg: &HeapRegion,
    layout: &Layout,
    h: &Header,
    policy: LagPolicy,
    commit_ok: bool,
    input: &mut Input<'_>,
) {
    let b = layout.buf_size_bytes();
    let s = u64::from(layout.slots_count());
    let mut buf = vec![0u8; b as usize];
    let mut last = 0u64;
    for _ in 0..(2 * s + 8).min(300) {
        let want = reader.position().0;
        let kind = input.u8();
        let small = usize::from(input.u16()) % (b as usize + 1);
        let offset = usize::from(input.u8());
        let res = if kind % 4 == 1 {
            // Zero-copy, exercising every accessor of `Payload` in place.
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
        } else {
            read_any(reader, kind, small, &mut buf)
        };
        // Past the commit point, or past every id a writer can publish: nothing to read.
        let waits = want > h.youngest_id || want >= MAX_MESSAGE_ID;
        if waits {
            assert_eq!(res, Err(ReadError::Empty), "past the commit point: Empty");
        }
        match res {
            Ok((meta, bytes)) => {
                let id = meta.id.0;
                assert_eq!(id, want, "invariant 4: the read returns the next id");
                assert!(
                    id > last,
                    "invariant 4: ids strictly increase ({last} then {id})"
                );
                assert!(id <= h.youngest_id, "only published ids are returned");
                assert!(
                    meta.len as u64 <= b && bytes.len() == meta.len,
                    "length in bounds"
                );
                let slot = inspect::load_slot(reg, (id % s) as usize).expect("slot in region");
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
                    buffer_bytes(reg.buf_words(), slot.buf_pos % b, meta.len),
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
                    message_crc(&bytes, &t),
                    slot.crc32c,
                    "invariant 2: CRC checked"
                );
                last = id;
            }
            Err(ReadError::Empty) => {
                assert!(waits, "Empty only past the commit point");
                break;
            }
            Err(ReadError::Lagged {
                missed_count,
                resumed_at,
            }) => {
                assert!(h.oldest_id > want, "Lagged only below the oldest id");
                let resume = match policy {
                    LagPolicy::ResumeAtOldest => h.oldest_id,
                    LagPolicy::ResumeAtYoungest => h.youngest_id.max(h.oldest_id),
                };
                assert_eq!(resumed_at, MessageId(resume), "invariant 4: resume point");
                assert_eq!(
                    missed_count,
                    resume - want,
                    "invariant 4: exact missed count"
                );
                assert_eq!(reader.position(), resumed_at);
            }
            Err(ReadError::Corrupt { id, reason }) => {
                assert_eq!(id, MessageId(want), "the corrupt id is the one wanted");
                if let CorruptReason::CommitOutOfRange { .. } = reason {
                    assert!(!commit_ok, "reader and inspect agree on the commit line");
                    assert_eq!(reader.position(), MessageId(want), "not skipped");
                    break;
                }
                assert_eq!(
                    reader.position(),
                    MessageId(want.saturating_add(1)),
                    "skipped"
                );
            }
            Err(ReadError::BufferTooSmall { needed }) => {
                assert!(
                    kind % 4 == 3 && needed > small,
                    "BufferTooSmall only if it is"
                );
                assert!(needed as u64 <= b, "needed is bounds-checked");
                assert_eq!(reader.position(), MessageId(want), "nothing consumed");
            }
            Err(e @ ReadError::GenerationChanged { .. }) => {
                panic!("{e:?} in a region that nobody writes")
            }
            Err(e @ ReadError::Unregistered { .. }) => {
                panic!("{e:?} for a reader that never registered")
            }
        }
    }
}

/// `Writer::recover` on a copy of the region: its report, the region it leaves, the messages
/// it kept, and new messages written after it.
fn recover_copy(
    reg: &HeapRegion,
    layout: &Layout,
    h: &Header,
    commit_ok: bool,
    input: &mut Input<'_>,
) {
    let copy = copy_region(reg);
    let s = u64::from(layout.slots_count());
    let b = layout.buf_size_bytes();
    let (mut w, report) = match Writer::recover(&copy) {
        Ok(x) => x,
        Err(RecoverError::CommitOutOfRange { .. }) => {
            assert!(
                !commit_ok,
                "recovery refused a commit line that inspect calls sound"
            );
            return;
        }
        Err(e @ RecoverError::Attach(_)) => panic!("recovery refused an attachable region: {e}"),
    };
    assert!(commit_ok, "recovery accepts only a sound commit line");
    let (oldest, youngest) = (report.oldest_id.0, report.youngest_id.0);
    // Recovery only drops, at either end: the commit point may go down (young slots that a
    // power loss did not write back), the oldest id up.
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
        inspect::commit_line_ok(&h2, layout),
        "recovery leaves a sound commit line"
    );
    for index in 0..s as usize {
        let slot = inspect::load_slot(&copy, index).expect("slot in region");
        let state = inspect::slot_state(&h2, layout, index, slot.stamp);
        assert!(
            matches!(state, SlotState::Empty | SlotState::Present),
            "recovery clears every stamp that is not a kept message: slot {index} {state:?}"
        );
    }

    // The kept messages are consistent: each one reads back or fails only its checksum.
    let oldest_reader = ReaderConfig {
        start: StartAt::Oldest,
        ..Default::default()
    };
    let mut r = Reader::attach(&copy, oldest_reader).expect("attach after recovery");
    let mut buf = vec![0u8; b as usize];
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

    // Messages written after recovery read back exactly.
    let end = ReaderConfig {
        start: StartAt::End,
        ..Default::default()
    };
    let mut r = Reader::attach(&copy, end).expect("attach after recovery");
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
    // And they stay intact while the writer says they are present.
    let first = w.oldest_id().0.max(youngest + 1);
    let at = ReaderConfig {
        start: StartAt::Id(MessageId(first)),
        ..Default::default()
    };
    let mut r = Reader::attach(&copy, at).expect("attach after recovery");
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

// ---------------------------------------------------------------------------------------
// ops_vs_oracle
// ---------------------------------------------------------------------------------------

/// One message as the oracle remembers it.
#[derive(Clone, Debug)]
struct OMsg {
    id: u64,
    msg_type: i32,
    subtype: i32,
    time_ns: i64,
    payload: Vec<u8>,
}

/// The queue as a `VecDeque` of messages whose retention follows the capacity rule of the
/// spec (`docs/design.md`), as [`CapacityOracle`] restates it: at most `slots` messages and
/// one buffer lap of bytes, payloads contiguous (padding at the buffer's end), oldest
/// retired first.
struct Oracle {
    cap: CapacityOracle,
    msgs: VecDeque<OMsg>,
}

impl Oracle {
    fn write(&mut self, msg_type: i32, subtype: i32, time_ns: i64, payload: &[u8]) -> u64 {
        let id = self.cap.push(payload.len());
        self.msgs.push_back(OMsg {
            id,
            msg_type,
            subtype,
            time_ns,
            payload: payload.to_vec(),
        });
        while self.msgs.front().is_some_and(|m| m.id < self.cap.oldest()) {
            self.msgs.pop_front();
        }
        id
    }

    fn oldest(&self) -> u64 {
        self.cap.oldest()
    }

    fn youngest(&self) -> u64 {
        self.cap.youngest()
    }

    /// The id the next write gets.
    fn next_id(&self) -> u64 {
        self.cap.youngest() + 1
    }

    fn get(&self, id: u64) -> Option<&OMsg> {
        let first = self.msgs.front()?.id;
        self.msgs.get(usize::try_from(id.checked_sub(first)?).ok()?)
    }

    /// What a read by a reader at `cursor` returns: a message, Empty, or (missed, resume).
    fn expect(&self, cursor: u64, policy: LagPolicy) -> Result<u64, Option<(u64, u64)>> {
        if cursor < self.oldest() {
            let resume = match policy {
                LagPolicy::ResumeAtOldest => self.oldest(),
                LagPolicy::ResumeAtYoungest => self.youngest().max(self.oldest()),
            };
            Err(Some((resume - cursor, resume)))
        } else if cursor >= self.next_id() {
            Err(None)
        } else {
            Ok(cursor)
        }
    }
}

/// A reader and what the oracle says about it.
struct Tracked<'r> {
    reader: Reader<&'r HeapRegion>,
    policy: LagPolicy,
    /// The id its next read returns (or waits for).
    cursor: u64,
    /// The last id it returned (or the one before its seek point).
    last: u64,
}

fn checked_msg(o: &Oracle, id: u64, meta: &MessageMeta, bytes: &[u8], what: &str) {
    let m = o
        .get(id)
        .unwrap_or_else(|| panic!("{what}: oracle has no message {id}"));
    assert_eq!(meta.id, MessageId(id), "{what}: id");
    assert_eq!(
        bytes,
        &m.payload[..],
        "{what}: invariant 2: payload of {id}"
    );
    assert_eq!(
        (
            meta.msg_type,
            meta.subtype,
            meta.time_ns,
            meta.len,
            meta.raw_len,
            meta.flags
        ),
        (
            m.msg_type,
            m.subtype,
            m.time_ns,
            m.payload.len(),
            m.payload.len() as u64,
            0
        ),
        "{what}: invariant 2: metadata of {id}"
    );
}

/// Fuzz target `ops_vs_oracle`: a small queue driven by the input, checked against the oracle
/// after every operation.
///
/// Input: slots byte, buffer byte, then operations, one selector byte each followed by its
/// arguments: write, batch, read (four kinds), seek, recover the writer (clean close or
/// "crash"), attach a reader, and a full scan by a fresh reader. At most 400 operations.
pub fn ops_vs_oracle(data: &[u8]) {
    let mut input = Input::new(data);
    let (slots, buf) = small_queue(&mut input);
    let (reg, cfg) = format(slots, buf);
    let mut w = Writer::format(&reg, &cfg).expect("format");
    let mut o = Oracle {
        cap: CapacityOracle::new(slots, buf),
        msgs: VecDeque::new(),
    };
    let attach = |start: StartAt, policy: LagPolicy| {
        Reader::attach(
            &reg,
            ReaderConfig {
                start,
                lag_policy: policy,
            },
        )
        .expect("attach")
    };
    let mut readers = vec![Tracked {
        reader: attach(StartAt::Oldest, LagPolicy::ResumeAtOldest),
        policy: LagPolicy::ResumeAtOldest,
        cursor: 1,
        last: 0,
    }];
    let mut scratch = vec![0u8; buf as usize];
    let mut seed = 0u64;
    let mut epoch = w.epoch();

    for _ in 0..400 {
        if input.is_empty() {
            break;
        }
        match input.u8() % 10 {
            0..=2 => {
                seed += 1;
                let t = i32::from(input.u8()) - 100;
                let p = noise(seed, len_from(input.u8(), buf));
                let id = w
                    .write(t, t.wrapping_neg(), seed as i64, &p)
                    .expect("write");
                assert_eq!(id, MessageId(o.write(t, t.wrapping_neg(), seed as i64, &p)));
            }
            3 => {
                let n = input.u8() % 8;
                let ps: Vec<Vec<u8>> = (0..n)
                    .map(|_| {
                        seed += 1;
                        noise(seed, len_from(input.u8(), buf))
                    })
                    .collect();
                let base = seed - ps.len() as u64;
                let msgs: Vec<NewMessage<'_>> = ps
                    .iter()
                    .enumerate()
                    .map(|(i, p)| NewMessage::new(7, i as i32, (base + i as u64 + 1) as i64, p))
                    .collect();
                let last = w.write_batch(&msgs).expect("write_batch");
                let mut olast = None;
                for (i, p) in ps.iter().enumerate() {
                    let id = o.write(7, i as i32, (base + i as u64 + 1) as i64, p);
                    olast = Some(MessageId(id));
                }
                assert_eq!(last, olast, "write_batch returns the last id");
            }
            4 | 5 => {
                let r = usize::from(input.u8()) % readers.len();
                let kind = input.u8();
                let small = usize::from(input.u8() % 24);
                let t = &mut readers[r];
                let exp = o.expect(t.cursor, t.policy);
                let got = read_any(&mut t.reader, kind, small, &mut scratch);
                match (exp, got) {
                    (Ok(id), Err(ReadError::BufferTooSmall { needed })) if kind % 4 == 3 => {
                        let len = o.get(id).expect("present").payload.len();
                        assert_eq!(needed, len, "BufferTooSmall names the length");
                        assert!(needed > small, "BufferTooSmall only if it is");
                        assert_eq!(t.reader.position(), MessageId(id), "nothing consumed");
                    }
                    (Ok(id), Ok((meta, bytes))) => {
                        checked_msg(&o, id, &meta, &bytes, "read");
                        assert!(id > t.last, "invariant 4: ids strictly increase");
                        t.last = id;
                        t.cursor = id + 1;
                    }
                    (Err(None), Err(ReadError::Empty)) => {}
                    (
                        Err(Some((missed, resume))),
                        Err(ReadError::Lagged {
                            missed_count,
                            resumed_at,
                        }),
                    ) => {
                        assert_eq!(missed_count, missed, "invariant 4: exact missed count");
                        assert_eq!(resumed_at, MessageId(resume), "invariant 4: resume point");
                        assert_eq!(t.cursor + missed_count, resumed_at.0);
                        t.cursor = resume;
                    }
                    (exp, got) => panic!(
                        "reader {r} at {}: expected {exp:?} (Ok(id) | Err(None)=Empty | \
                         Err(Some((missed, resume)))), got {:?}",
                        t.cursor,
                        got.map(|(m, _)| m)
                    ),
                }
            }
            6 => {
                let r = usize::from(input.u8()) % readers.len();
                let (kind, x) = (input.u8(), input.u8());
                let to = match kind % 4 {
                    0 => StartAt::Oldest,
                    1 => StartAt::Youngest,
                    2 => StartAt::End,
                    _ => StartAt::Id(MessageId(u64::from(x) % (o.next_id() + 2) + 1)),
                };
                let exp = match to {
                    StartAt::Oldest => o.oldest(),
                    StartAt::Youngest => o.youngest().max(1),
                    StartAt::End => o.next_id(),
                    StartAt::Id(MessageId(i)) => i,
                };
                let t = &mut readers[r];
                assert_eq!(t.reader.seek(to), MessageId(exp), "seek {to:?}");
                t.cursor = exp;
                t.last = exp - 1;
            }
            7 => {
                // The writer goes away, cleanly or not (its mark stays set), and a new one
                // recovers the queue: nothing may change but the epoch.
                let crash = input.u8() & 1 == 1;
                if crash {
                    std::mem::forget(w);
                } else {
                    drop(w);
                }
                let (nw, report) = Writer::recover(&reg).expect("recover a sound queue");
                w = nw;
                assert_eq!(
                    report.youngest_id,
                    MessageId(o.youngest()),
                    "recovery: youngest"
                );
                assert_eq!(report.oldest_id, MessageId(o.oldest()), "recovery: oldest");
                assert_eq!(report.dropped_count, 0, "recovery drops nothing sound");
                assert_eq!(report.stamps_cleared_count, 0, "no stale stamps");
                assert_eq!(report.writer_was_open, crash, "the mark says who closed");
                assert_eq!(report.epoch, epoch + 1, "the epoch is bumped");
                epoch = report.epoch;
            }
            8 => {
                let (kind, x) = (input.u8(), input.u8());
                let policy = if kind & 4 != 0 {
                    LagPolicy::ResumeAtYoungest
                } else {
                    LagPolicy::ResumeAtOldest
                };
                let (start, cursor) = match kind % 4 {
                    0 => (StartAt::Oldest, o.oldest()),
                    1 => (StartAt::Youngest, o.youngest().max(1)),
                    2 => (StartAt::End, o.next_id()),
                    _ => {
                        let i = u64::from(x) % (o.next_id() + 2) + 1;
                        (StartAt::Id(MessageId(i)), i)
                    }
                };
                let t = Tracked {
                    reader: attach(start, policy),
                    policy,
                    cursor,
                    last: cursor - 1,
                };
                assert_eq!(
                    t.reader.position(),
                    MessageId(cursor),
                    "attach at {start:?}"
                );
                if readers.len() < 4 {
                    readers.push(t);
                } else {
                    readers[usize::from(x) % 4] = t;
                }
            }
            _ => {
                // Every message the oracle holds is readable, in order, then Empty.
                let mut r = attach(StartAt::Oldest, LagPolicy::ResumeAtOldest);
                for m in &o.msgs {
                    let got = r.try_read(&mut scratch);
                    let meta = got.unwrap_or_else(|e| panic!("scan: message {}: {e:?}", m.id));
                    checked_msg(&o, m.id, &meta, &scratch[..meta.len], "scan");
                }
                assert_eq!(r.try_read(&mut scratch), Err(ReadError::Empty), "scan: end");
            }
        }
        assert_eq!(w.oldest_id(), MessageId(o.oldest()), "writer's oldest id");
        assert_eq!(
            w.youngest_id(),
            MessageId(o.youngest()),
            "writer's youngest id"
        );
        assert_eq!(w.write_pos(), o.cap.write_pos(), "writer's write position");
    }
}

// ---------------------------------------------------------------------------------------
// mutating_reader
// ---------------------------------------------------------------------------------------

/// Fuzz target `mutating_reader`: a real queue, written and read while the fuzzer overwrites
/// its words.
///
/// Input: slots byte, buffer byte, how many messages to write first, then operations: a
/// mutation (word index over stat part and buffer, and a value: raw, one bit flipped, a small
/// delta, a boundary value, a copy of another word, a small id), a read by one of two readers
/// (four kinds), a write, a batch. At most 600 operations.
pub fn mutating_reader(data: &[u8]) {
    let mut input = Input::new(data);
    let (slots, buf) = small_queue(&mut input);
    let (reg, cfg) = format(slots, buf);
    let s = u64::from(slots);
    let mut w = Writer::format(&reg, &cfg).expect("format");
    // Everything ever written: message `id` is `written[id - 1]` (type, payload).
    let mut written: Vec<(i32, Vec<u8>)> = Vec::new();
    let write = |w: &mut Writer<&HeapRegion>, written: &mut Vec<(i32, Vec<u8>)>, v: u8| {
        let id = written.len() as u64 + 1;
        let p = noise(id, len_from(v, buf));
        let t = i32::from(v);
        let got = w
            .write(t, -t, id as i64, &p)
            .expect("the writer's checks use its own state");
        assert_eq!(
            got,
            MessageId(id),
            "the writer's ids come from its own state"
        );
        written.push((t, p));
    };
    for _ in 0..input.u8() % 24 {
        let v = input.u8();
        write(&mut w, &mut written, v);
    }
    let mut readers = [LagPolicy::ResumeAtOldest, LagPolicy::ResumeAtYoungest].map(|p| {
        let r = Reader::attach(
            &reg,
            ReaderConfig {
                start: StartAt::Id(MessageId(1)),
                lag_policy: p,
            },
        )
        .expect("attach");
        (r, 0u64)
    });
    let (stat_words, buf_words) = (reg.stat_words().len(), reg.buf_words().len());
    let total = stat_words + buf_words;
    let mut touched = vec![false; slots as usize];
    let mut scratch = vec![0u8; buf as usize];

    for _ in 0..600 {
        if input.is_empty() {
            break;
        }
        match input.u8() % 8 {
            0..=2 => {
                let i = usize::from(input.u16()) % total;
                let (words, at) = if i < stat_words {
                    (reg.stat_words(), i)
                } else {
                    (reg.buf_words(), i - stat_words)
                };
                let orig = get(words, at);
                let v = match input.u8() % 6 {
                    0 => input.u64(),
                    1 => orig ^ (1 << (input.u8() % 64)),
                    2 => orig.wrapping_add(input.u8() as i8 as i64 as u64),
                    3 => {
                        let pick = [
                            0,
                            1,
                            buf - 8,
                            buf,
                            buf + 8,
                            u64::from(u32::MAX),
                            1 << 32,
                            i64::MAX as u64,
                            1 << 63,
                            u64::MAX / 4,
                            u64::MAX - 1,
                            u64::MAX,
                            written.len() as u64,
                            written.len() as u64 + 1,
                        ];
                        pick[usize::from(input.u8()) % pick.len()]
                    }
                    4 => {
                        let j = usize::from(input.u16()) % total;
                        if j < stat_words {
                            get(reg.stat_words(), j)
                        } else {
                            get(reg.buf_words(), j - stat_words)
                        }
                    }
                    _ => u64::from(input.u8()),
                };
                set(words, at, v);
                if i < stat_words && i >= HEADER_WORDS {
                    touched[(i - HEADER_WORDS) / SLOT_WORDS] = true;
                }
            }
            3..=5 => {
                let which = usize::from(input.u8() & 1);
                let kind = input.u8();
                let (r, last) = &mut readers[which];
                let want = r.position().0;
                // A buffer the size of the buffer: `BufferTooSmall` would mean an unchecked
                // length.
                let kind = if kind % 4 == 3 { 0 } else { kind };
                let res = read_any(r, kind, 0, &mut scratch);
                assert!(
                    r.position().0 >= want,
                    "invariant 4: a reader never goes back"
                );
                match res {
                    Ok((meta, bytes)) => {
                        let id = meta.id.0;
                        assert!(
                            meta.len as u64 <= buf && bytes.len() == meta.len,
                            "invariant 6: length {} within the buffer",
                            meta.len
                        );
                        assert!(id > *last, "invariant 4: ids strictly increase ({id})");
                        assert_eq!(id, want, "the read returns the id wanted");
                        *last = id;
                        if !touched[(id % s) as usize] {
                            // An untouched slot holds what the writer stored; a payload
                            // changed under it fails the CRC (a forged one would need a
                            // CRC32C collision).
                            let (t, p) = usize::try_from(id - 1)
                                .ok()
                                .and_then(|k| written.get(k))
                                .unwrap_or_else(|| panic!("invariant 2: id {id} never written"));
                            assert_eq!(&bytes, p, "invariant 2: payload of {id}");
                            assert_eq!(
                                (meta.msg_type, meta.subtype, meta.time_ns),
                                (*t, -*t, id as i64),
                                "invariant 2: metadata of {id}"
                            );
                        }
                    }
                    Err(ReadError::Lagged {
                        missed_count,
                        resumed_at,
                    }) => {
                        assert_eq!(want.checked_add(missed_count), Some(resumed_at.0));
                        assert!(resumed_at.0 > want, "a lag moves forward");
                        assert_eq!(r.position(), resumed_at);
                    }
                    Err(ReadError::BufferTooSmall { needed }) => {
                        panic!("invariant 6: BufferTooSmall({needed}) with a buffer-sized buffer")
                    }
                    Err(
                        ReadError::Empty
                        | ReadError::Corrupt { .. }
                        | ReadError::GenerationChanged { .. },
                    ) => {}
                    Err(e @ ReadError::Unregistered { .. }) => {
                        panic!("{e:?} for a reader that never registered")
                    }
                }
            }
            6 => {
                let v = input.u8();
                write(&mut w, &mut written, v);
            }
            _ => {
                let n = input.u8() % 5;
                let first = written.len() as u64 + 1;
                let ps: Vec<(i32, Vec<u8>)> = (0..n)
                    .map(|k| {
                        let v = input.u8();
                        (i32::from(v), noise(first + u64::from(k), len_from(v, buf)))
                    })
                    .collect();
                let msgs: Vec<NewMessage<'_>> = ps
                    .iter()
                    .enumerate()
                    .map(|(k, (t, p))| NewMessage::new(*t, -*t, (first + k as u64) as i64, p))
                    .collect();
                w.write_batch(&msgs).expect("batch");
                written.extend(ps);
            }
        }
    }
}
