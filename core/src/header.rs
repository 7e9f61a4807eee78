//! The queue header: the first 256 bytes of the stat part, four cache lines.
//!
//! [`Header`] is the format-2 layout as a `#[repr(C)]` struct of plain integers. It is never
//! placed over shared memory (that would make racy plain reads); it documents the format, pins
//! every offset with `static_assertions`, and doubles as a snapshot type
//! ([`Header::load`]) for tools such as `fmq info`. The protocol itself reads and writes the
//! header through word indices derived from this struct ([`word`]), one `AtomicU64` per word.
//! Two 32-bit fields that share a word are always accessed together as that word, low half
//! first (little-endian), so every location has one access size (DESIGN invariant 3).
//!
//! Lines are grouped by who writes them and how often, so that readers polling the commit
//! line never share it with anything else (DESIGN §3):
//!
//! | line | bytes   | written by | when |
//! |------|---------|------------|------|
//! | 0    | 0..64   | creator    | once, at format: identity and layout |
//! | 1    | 64..128 | writer     | at open, recover and close: the writer's mark |
//! | 2    | 128..192| writer     | every message: the commit line |
//! | 3    | 192..256| sleeping readers, writer | the wake flag (`sleepers`); the rest reserved |

use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;

use crate::sync::{AtomicU64, Ordering};

/// `\x89FMQ\r\n\x1a\n`, PNG-style: the high byte catches 7-bit transports, CR LF catches
/// line-ending conversion, and `\x1a` stops `type` on DOS.
pub const MAGIC: u64 = u64::from_le_bytes(*b"\x89FMQ\r\n\x1a\n");
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 2;
/// Written as a native `u32`; reads back as `0x0403_0201` on a machine of the other byte order.
pub const BYTE_ORDER_MARK: u32 = 0x0102_0304;
/// Size of the header in bytes.
pub const HEADER_SIZE_BYTES: u32 = 256;
/// Size of the header in 8-byte words.
pub const HEADER_WORDS: usize = HEADER_SIZE_BYTES as usize / 8;
/// Queue flag bit 8: blocking (archive) mode. The writer never retires a message that a
/// live registered reader has not read (DESIGN invariant 9); needs a reader registry.
pub const QUEUE_FLAG_BLOCKING: u32 = 1 << 8;
/// Queue flag bits that format 2 defines: bits 0..8 name the compression codec (0 = none),
/// bit 8 is [`QUEUE_FLAG_BLOCKING`].
pub const QUEUE_FLAGS_KNOWN: u32 = 0x1ff;

#[cfg(not(target_endian = "little"))]
compile_error!("the fmq format is little-endian and this crate stores native words");

/// The queue header, format 2. Every field is documented byte by byte in
/// `docs/file-format.md`.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    // ---- line 0: identity and layout, written once by `Writer::format` ----
    /// [`MAGIC`]; stored last (Release) when a region is formatted.
    pub magic: u64,
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// [`BYTE_ORDER_MARK`].
    pub byte_order_mark: u32,
    /// Number of slots in the slot table (at least 1).
    pub slots_count: u32,
    /// Size of one slot in bytes (64 in format 2).
    pub slot_size_bytes: u32,
    /// Size of the message buffer in bytes (a multiple of 8).
    pub buf_size_bytes: u64,
    /// Size of this header in bytes (256 in format 2).
    pub header_size_bytes: u32,
    /// Queue-wide flags; bits 0..8 are the compression codec, the rest must be zero.
    pub queue_flags: u32,
    /// When the queue was created, nanoseconds since the Unix epoch (creator's clock).
    pub creation_time_ns: u64,
    /// Changes every time the region is formatted, so a re-created queue is detectable.
    pub generation: u64,
    /// Number of reader records in the registry after the slot table (0: none). Part of the
    /// layout: covered by `layout_crc`.
    pub readers_max: u32,
    /// CRC32C of bytes 0..60 of this line: a corrupt layout is refused, not trusted.
    pub layout_crc: u32,

    // ---- line 1: the writer's mark (HDF5's superblock mark) ----
    /// Process id of the last writer that opened the queue.
    pub writer_pid: u32,
    /// 1 while a writer has the queue open, 0 after it closed cleanly.
    pub writer_open: u32,
    /// Incremented by every writer that opens (formats or recovers) the queue.
    pub writer_epoch: u64,
    /// The commit point at the last completed `flush()` (or recovery, which ends with one):
    /// every id up to it was durable then. Written only after the rest of the stat part is
    /// durable, and made durable itself before `flush()` returns; recovery from a power loss
    /// keeps the consistent run of messages through it (DESIGN invariant 8). 0: no flush
    /// recorded.
    pub flushed_id: u64,
    /// Reserved, zero.
    pub reserved1: [u64; 5],

    // ---- line 2: the commit line, written by the writer for every message ----
    /// The commit point: the youngest published id (0 before the first message).
    pub youngest_id: u64,
    /// The oldest id still present; `youngest_id + 1` when the queue holds nothing.
    pub oldest_id: u64,
    /// Byte position (in the unwrapped stream) just past the youngest message.
    pub write_pos: u64,
    /// Reserved, zero.
    pub reserved2: [u64; 5],

    // ---- line 3: the waiting line, written by sleeping readers and the writer ----
    /// Nonzero while a reader may be asleep on the futex of the commit word: a reader sets
    /// it before it sleeps, the writer clears it when it wakes sleepers. Readers that never
    /// sleep never touch it; the core protocol never reads it (the fmq crate's waiting does).
    pub sleepers: u64,
    /// Blocking mode: the id up to which (exclusive) the writer may be retiring, stored
    /// before it scans the registry; a reader that registers after the scan starts at it or
    /// later (the registration handshake, `registry.rs`).
    pub retire_intent: u64,
    /// Blocking mode: nonzero while the writer may be asleep on the futex of a registered
    /// reader's cursor (low 32 bits); a registered reader that advances wakes it.
    pub writer_waiting: u64,
    /// Blocking mode: how many registered readers the writer unregistered as dead.
    pub readers_dropped: u64,
    /// Blocking mode: a registered reader whose heartbeat is older than this many
    /// milliseconds is judged dead (0: only a vanished process is). Set at format.
    pub reader_timeout_ms: u64,
    /// Reserved, zero.
    pub reserved3: [u64; 3],
}

const_assert_eq!(size_of::<Header>(), HEADER_SIZE_BYTES as usize);
const_assert_eq!(core::mem::align_of::<Header>(), 64);
const_assert_eq!(offset_of!(Header, magic), 0);
const_assert_eq!(offset_of!(Header, version), 8);
const_assert_eq!(offset_of!(Header, byte_order_mark), 12);
const_assert_eq!(offset_of!(Header, slots_count), 16);
const_assert_eq!(offset_of!(Header, slot_size_bytes), 20);
const_assert_eq!(offset_of!(Header, buf_size_bytes), 24);
const_assert_eq!(offset_of!(Header, header_size_bytes), 32);
const_assert_eq!(offset_of!(Header, queue_flags), 36);
const_assert_eq!(offset_of!(Header, creation_time_ns), 40);
const_assert_eq!(offset_of!(Header, generation), 48);
const_assert_eq!(offset_of!(Header, readers_max), 56);
const_assert_eq!(offset_of!(Header, layout_crc), 60);
const_assert_eq!(offset_of!(Header, writer_pid), 64);
const_assert_eq!(offset_of!(Header, writer_open), 68);
const_assert_eq!(offset_of!(Header, writer_epoch), 72);
const_assert_eq!(offset_of!(Header, flushed_id), 80);
const_assert_eq!(offset_of!(Header, youngest_id), 128);
const_assert_eq!(offset_of!(Header, oldest_id), 136);
const_assert_eq!(offset_of!(Header, write_pos), 144);
const_assert_eq!(offset_of!(Header, sleepers), 192);
const_assert_eq!(offset_of!(Header, retire_intent), 200);
const_assert_eq!(offset_of!(Header, writer_waiting), 208);
const_assert_eq!(offset_of!(Header, readers_dropped), 216);
const_assert_eq!(offset_of!(Header, reader_timeout_ms), 224);
const_assert_eq!(offset_of!(Header, reserved3), 232);

/// Word indices of the header fields (byte offset / 8). Paired 32-bit fields share a word:
/// the first field is the low half.
pub mod word {
    use super::Header;
    use core::mem::offset_of;

    /// `magic`.
    pub const MAGIC: usize = offset_of!(Header, magic) / 8;
    /// `version` (low) | `byte_order_mark` (high).
    pub const VERSION_BOM: usize = offset_of!(Header, version) / 8;
    /// `slots_count` (low) | `slot_size_bytes` (high).
    pub const SLOTS: usize = offset_of!(Header, slots_count) / 8;
    /// `buf_size_bytes`.
    pub const BUF_SIZE: usize = offset_of!(Header, buf_size_bytes) / 8;
    /// `header_size_bytes` (low) | `queue_flags` (high).
    pub const HEADER_SIZE_FLAGS: usize = offset_of!(Header, header_size_bytes) / 8;
    /// `creation_time_ns`.
    pub const CREATION_TIME: usize = offset_of!(Header, creation_time_ns) / 8;
    /// `generation`.
    pub const GENERATION: usize = offset_of!(Header, generation) / 8;
    /// `readers_max` (low) | `layout_crc` (high).
    pub const LAYOUT_CRC: usize = offset_of!(Header, readers_max) / 8;
    /// `writer_pid` (low) | `writer_open` (high).
    pub const WRITER_MARK: usize = offset_of!(Header, writer_pid) / 8;
    /// `writer_epoch`.
    pub const WRITER_EPOCH: usize = offset_of!(Header, writer_epoch) / 8;
    /// `flushed_id`: the commit point at the last completed flush.
    pub const FLUSHED_ID: usize = offset_of!(Header, flushed_id) / 8;
    /// `youngest_id`: the commit point.
    pub const YOUNGEST_ID: usize = offset_of!(Header, youngest_id) / 8;
    /// `oldest_id`.
    pub const OLDEST_ID: usize = offset_of!(Header, oldest_id) / 8;
    /// `write_pos`.
    pub const WRITE_POS: usize = offset_of!(Header, write_pos) / 8;
    /// `sleepers`: the futex wake flag of line 3.
    pub const SLEEPERS: usize = offset_of!(Header, sleepers) / 8;
    /// `retire_intent` (blocking mode).
    pub const RETIRE_INTENT: usize = offset_of!(Header, retire_intent) / 8;
    /// `writer_waiting` (blocking mode).
    pub const WRITER_WAITING: usize = offset_of!(Header, writer_waiting) / 8;
    /// `readers_dropped` (blocking mode).
    pub const READERS_DROPPED: usize = offset_of!(Header, readers_dropped) / 8;
    /// `reader_timeout_ms` (blocking mode).
    pub const READER_TIMEOUT_MS: usize = offset_of!(Header, reader_timeout_ms) / 8;
    /// Number of words of line 0 covered by `layout_crc` (its own word is covered in its low
    /// half only).
    pub const LAYOUT_CRC_WORDS: usize = LAYOUT_CRC;
}

/// Packs two 32-bit fields into one word, `lo` in the low half (little-endian order).
#[inline]
pub const fn pack(lo: u32, hi: u32) -> u64 {
    (lo as u64) | ((hi as u64) << 32)
}

/// Splits a word into its low and high 32-bit halves.
#[inline]
pub const fn unpack(word: u64) -> (u32, u32) {
    (word as u32, (word >> 32) as u32)
}

/// The CRC32C that `layout_crc` holds: over words 0..7 of line 0 and the low half of word 7.
pub fn layout_crc(line0: &[u64; 8]) -> u32 {
    let mut crc = crate::crc::Crc32c::new();
    for w in &line0[..word::LAYOUT_CRC_WORDS] {
        crc.update(&w.to_le_bytes());
    }
    crc.update(&(line0[word::LAYOUT_CRC] as u32).to_le_bytes());
    crc.finish()
}

/// Clears the writer's mark (`writer_open = 0`, pid kept), as HDF5's `h5clear` does. Only
/// for a region whose writer is known to be gone (the fmq crate holds the writer lock).
/// Returns whether the mark was set. `false` also when `stat` is shorter than the header.
pub fn clear_writer_mark(stat: &[AtomicU64]) -> bool {
    let Some(w) = stat.get(word::WRITER_MARK) else {
        return false;
    };
    // ORDERING: Relaxed: the mark is advisory and publishes nothing; writers are ordered one
    // after another by the lock that the caller holds.
    let (pid, open) = unpack(w.load(Ordering::Relaxed));
    w.store(pack(pid, 0), Ordering::Relaxed);
    open != 0
}

impl Header {
    /// Loads a snapshot of the header from the stat words (`Relaxed`, field by field). The
    /// snapshot is not atomic as a whole; use it for display and checks, never to publish.
    /// Returns `None` when `stat` is shorter than the header.
    pub fn load(stat: &[AtomicU64]) -> Option<Header> {
        let w = stat.get(..HEADER_WORDS)?;
        // ORDERING: Relaxed: a diagnostic snapshot; nothing is published through it.
        let get = |i: usize| w[i].load(Ordering::Relaxed);
        let (version, byte_order_mark) = unpack(get(word::VERSION_BOM));
        let (slots_count, slot_size_bytes) = unpack(get(word::SLOTS));
        let (header_size_bytes, queue_flags) = unpack(get(word::HEADER_SIZE_FLAGS));
        let (readers_max, layout_crc) = unpack(get(word::LAYOUT_CRC));
        let (writer_pid, writer_open) = unpack(get(word::WRITER_MARK));
        let mut h = Header {
            magic: get(word::MAGIC),
            version,
            byte_order_mark,
            slots_count,
            slot_size_bytes,
            buf_size_bytes: get(word::BUF_SIZE),
            header_size_bytes,
            queue_flags,
            creation_time_ns: get(word::CREATION_TIME),
            generation: get(word::GENERATION),
            readers_max,
            layout_crc,
            writer_pid,
            writer_open,
            writer_epoch: get(word::WRITER_EPOCH),
            flushed_id: get(word::FLUSHED_ID),
            youngest_id: get(word::YOUNGEST_ID),
            oldest_id: get(word::OLDEST_ID),
            write_pos: get(word::WRITE_POS),
            sleepers: get(word::SLEEPERS),
            retire_intent: get(word::RETIRE_INTENT),
            writer_waiting: get(word::WRITER_WAITING),
            readers_dropped: get(word::READERS_DROPPED),
            reader_timeout_ms: get(word::READER_TIMEOUT_MS),
            ..Header::default()
        };
        for (i, r) in h.reserved1.iter_mut().enumerate() {
            *r = get(word::FLUSHED_ID + 1 + i);
        }
        for (i, r) in h.reserved2.iter_mut().enumerate() {
            *r = get(word::WRITE_POS + 1 + i);
        }
        for (i, r) in h.reserved3.iter_mut().enumerate() {
            *r = get(word::READER_TIMEOUT_MS + 1 + i);
        }
        Some(h)
    }

    /// Line 0 as the eight words that `layout_crc` is computed over.
    pub fn line0_words(&self) -> [u64; 8] {
        [
            self.magic,
            pack(self.version, self.byte_order_mark),
            pack(self.slots_count, self.slot_size_bytes),
            self.buf_size_bytes,
            pack(self.header_size_bytes, self.queue_flags),
            self.creation_time_ns,
            self.generation,
            pack(self.readers_max, self.layout_crc),
        ]
    }

    /// The youngest id minus the oldest plus one, saturating: how many messages the header
    /// says are present.
    pub fn present_count(&self) -> u64 {
        self.youngest_id
            .saturating_add(1)
            .saturating_sub(self.oldest_id)
    }
}
