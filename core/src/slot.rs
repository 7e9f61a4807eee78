//! One entry of the slot table: 64 bytes, one cache line, describing one message.
//!
//! Like [`crate::header::Header`], [`Slot`] is the format as a `#[repr(C)]` struct of plain
//! integers, used for static layout assertions and as a snapshot type; the protocol accesses
//! slots word by word through [`word`]. Message `id` lives in slot `id % slots_count`.
//!
//! The stamp is the slot's seqlock word (DESIGN invariant 2): it holds the id of the message
//! whose metadata and payload are complete, or [`STAMP_EMPTY`] while the slot is empty, being
//! written, or retired. Ids start at 1 and never repeat within a generation, so a stamp that
//! reads the same id before and after a copy proves the copy saw one message (no ABA).

use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;

use crate::sync::{AtomicU64, Ordering};

/// Size of one slot in bytes.
pub const SLOT_SIZE_BYTES: u32 = 64;
/// Size of one slot in words.
pub const SLOT_WORDS: usize = SLOT_SIZE_BYTES as usize / 8;
/// Stamp of a slot that holds no readable message.
pub const STAMP_EMPTY: u64 = 0;

/// Per-message flag: the stored payload is compressed with the queue's codec and expands to
/// `raw_len` bytes.
pub const MSG_FLAG_COMPRESSED: u32 = 1;

/// A slot, format 2.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Id of the complete message this slot describes, or [`STAMP_EMPTY`].
    pub stamp: u64,
    /// Byte position of the payload in the unwrapped stream; the offset in the buffer is
    /// `buf_pos % buf_size_bytes`, and the payload never crosses the buffer's end.
    pub buf_pos: u64,
    /// Bytes stored in the buffer (the payload occupies this rounded up to 8).
    pub stored_len: u64,
    /// Bytes after decompression; equal to `stored_len` for uncompressed messages.
    pub raw_len: u64,
    /// Message time, nanoseconds since the Unix epoch (the writer's choice).
    pub time_ns: i64,
    /// Message type (LROSE's `type`).
    pub msg_type: i32,
    /// Message subtype (LROSE's `subtype`).
    pub subtype: i32,
    /// Per-message flags ([`MSG_FLAG_COMPRESSED`]).
    pub flags: u32,
    /// CRC32C of the stored payload followed by the message's metadata (see
    /// [`crate::crc::message_crc`]).
    pub crc32c: u32,
    /// Reserved, zero.
    pub reserved: u64,
}

const_assert_eq!(size_of::<Slot>(), SLOT_SIZE_BYTES as usize);
const_assert_eq!(core::mem::align_of::<Slot>(), 64);
const_assert_eq!(offset_of!(Slot, stamp), 0);
const_assert_eq!(offset_of!(Slot, buf_pos), 8);
const_assert_eq!(offset_of!(Slot, stored_len), 16);
const_assert_eq!(offset_of!(Slot, raw_len), 24);
const_assert_eq!(offset_of!(Slot, time_ns), 32);
const_assert_eq!(offset_of!(Slot, msg_type), 40);
const_assert_eq!(offset_of!(Slot, subtype), 44);
const_assert_eq!(offset_of!(Slot, flags), 48);
const_assert_eq!(offset_of!(Slot, crc32c), 52);
const_assert_eq!(offset_of!(Slot, reserved), 56);

/// Word indices of the slot fields within a slot.
pub mod word {
    use super::Slot;
    use core::mem::offset_of;

    /// `stamp`.
    pub const STAMP: usize = offset_of!(Slot, stamp) / 8;
    /// `buf_pos`.
    pub const BUF_POS: usize = offset_of!(Slot, buf_pos) / 8;
    /// `stored_len`.
    pub const STORED_LEN: usize = offset_of!(Slot, stored_len) / 8;
    /// `raw_len`.
    pub const RAW_LEN: usize = offset_of!(Slot, raw_len) / 8;
    /// `time_ns`.
    pub const TIME: usize = offset_of!(Slot, time_ns) / 8;
    /// `msg_type` (low) | `subtype` (high).
    pub const TYPES: usize = offset_of!(Slot, msg_type) / 8;
    /// `flags` (low) | `crc32c` (high).
    pub const FLAGS_CRC: usize = offset_of!(Slot, flags) / 8;
    /// `reserved`.
    pub const RESERVED: usize = offset_of!(Slot, reserved) / 8;
}

impl Slot {
    /// Loads a snapshot of one slot (`Relaxed`, field by field; not atomic as a whole).
    /// `words` must be the slot's 8 words.
    pub fn load(words: &[AtomicU64; SLOT_WORDS]) -> Slot {
        // ORDERING: Relaxed: a diagnostic snapshot; readers validate through the stamp.
        let get = |i: usize| words[i].load(Ordering::Relaxed);
        let (msg_type, subtype) = crate::header::unpack(get(word::TYPES));
        let (flags, crc32c) = crate::header::unpack(get(word::FLAGS_CRC));
        Slot {
            stamp: get(word::STAMP),
            buf_pos: get(word::BUF_POS),
            stored_len: get(word::STORED_LEN),
            raw_len: get(word::RAW_LEN),
            time_ns: get(word::TIME) as i64,
            msg_type: msg_type as i32,
            subtype: subtype as i32,
            flags,
            crc32c,
            reserved: get(word::RESERVED),
        }
    }
}
