//! Queue geometry: [`Config`] (what a creator asks for) and [`Layout`] (validated sizes), and
//! the header validation that every attach goes through.
//!
//! A region is two parts: the stat part (256-byte header, then `slots_count` 64-byte slots,
//! then `readers_max` 64-byte reader records) and the buffer (`buf_size_bytes`, a multiple of 8). Nothing read from a header is trusted
//! (DESIGN invariant 6): [`Layout::from_header`] checks magic, version, byte order, the layout
//! checksum, and every size against the region's real sizes before anything is indexed.

use core::ops::Range;

use crate::error::{AttachError, ConfigError, Part};
use crate::header::{
    self, word, BYTE_ORDER_MARK, FORMAT_VERSION, HEADER_SIZE_BYTES, HEADER_WORDS, MAGIC,
};
use crate::payload::padded_len;
use crate::region::Region;
use crate::slot::{SLOT_SIZE_BYTES, SLOT_WORDS};
use crate::sync::{fence, AtomicU64, Ordering};

/// Smallest buffer accepted, in bytes.
pub const MIN_BUF_SIZE_BYTES: u64 = 64;
/// Largest buffer accepted, in bytes (64 TiB keeps every position sum far from overflow).
pub const MAX_BUF_SIZE_BYTES: u64 = 1 << 46;
/// Largest slot table accepted.
pub const MAX_SLOTS_COUNT: u32 = 1 << 30;
/// Default number of slots (LROSE's usual table size).
pub const DEFAULT_SLOTS_COUNT: u32 = 1024;
/// Default buffer size: 10 MiB.
pub const DEFAULT_BUF_SIZE_BYTES: u64 = 10 << 20;
/// Largest reader registry accepted.
pub const MAX_READERS: u32 = 1024;
/// Size of one reader record in bytes (one cache line).
pub const READER_RECORD_SIZE_BYTES: u32 = 64;
/// Words per reader record.
pub const RECORD_WORDS: usize = READER_RECORD_SIZE_BYTES as usize / 8;

/// What a creator asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of slots: at most this many messages are present at once.
    pub slots_count: u32,
    /// Size of the message buffer in bytes (a multiple of 8, at least
    /// [`MIN_BUF_SIZE_BYTES`]): the largest message is this size.
    pub buf_size_bytes: u64,
    /// Queue-wide flags (bits 0..8: compression codec, 0 = none; bit 8: blocking mode).
    pub queue_flags: u32,
    /// Creation time in nanoseconds since the Unix epoch; also seeds the generation.
    pub creation_time_ns: u64,
    /// Reader records in the registry (0: none); blocking mode needs at least 1.
    pub readers_max: u32,
    /// Blocking mode: a registered reader whose heartbeat is older than this is judged dead
    /// (0: only a vanished process is).
    pub reader_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            slots_count: DEFAULT_SLOTS_COUNT,
            buf_size_bytes: DEFAULT_BUF_SIZE_BYTES,
            queue_flags: 0,
            creation_time_ns: 0,
            readers_max: 0,
            reader_timeout_ms: 0,
        }
    }
}

/// Validated queue geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    slots_count: u32,
    buf_size_bytes: u64,
    readers_max: u32,
}

impl Layout {
    /// Checks a geometry.
    pub fn new(slots_count: u32, buf_size_bytes: u64) -> Result<Layout, ConfigError> {
        if slots_count == 0 {
            return Err(ConfigError::ZeroSlots);
        }
        if slots_count > MAX_SLOTS_COUNT {
            return Err(ConfigError::TooManySlots {
                slots_count: slots_count.into(),
                max: MAX_SLOTS_COUNT.into(),
            });
        }
        if buf_size_bytes < MIN_BUF_SIZE_BYTES {
            return Err(ConfigError::BufferTooSmall {
                buf_size_bytes,
                min: MIN_BUF_SIZE_BYTES,
            });
        }
        if buf_size_bytes > MAX_BUF_SIZE_BYTES {
            return Err(ConfigError::BufferTooLarge {
                buf_size_bytes,
                max: MAX_BUF_SIZE_BYTES,
            });
        }
        if buf_size_bytes % 8 != 0 {
            return Err(ConfigError::BufferNotWordMultiple { buf_size_bytes });
        }
        Ok(Layout {
            slots_count,
            buf_size_bytes,
            readers_max: 0,
        })
    }

    /// This geometry with a reader registry of `readers_max` records.
    pub fn with_readers_max(self, readers_max: u32) -> Result<Layout, ConfigError> {
        if readers_max > MAX_READERS {
            return Err(ConfigError::TooManyReaders {
                readers_max,
                max: MAX_READERS,
            });
        }
        Ok(Layout {
            readers_max,
            ..self
        })
    }

    /// Checks a [`Config`].
    pub fn from_config(config: &Config) -> Result<Layout, ConfigError> {
        if config.queue_flags & !header::QUEUE_FLAGS_KNOWN != 0 {
            return Err(ConfigError::UnknownQueueFlags {
                flags: config.queue_flags,
            });
        }
        if config.queue_flags & header::QUEUE_FLAG_BLOCKING != 0 && config.readers_max == 0 {
            return Err(ConfigError::BlockingWithoutReaders);
        }
        Layout::new(config.slots_count, config.buf_size_bytes)?.with_readers_max(config.readers_max)
    }

    /// Number of slots.
    pub fn slots_count(&self) -> u32 {
        self.slots_count
    }

    /// Buffer size in bytes.
    pub fn buf_size_bytes(&self) -> u64 {
        self.buf_size_bytes
    }

    /// Number of reader records in the registry.
    pub fn readers_max(&self) -> u32 {
        self.readers_max
    }

    /// The slot that holds message `id`: `id % slots_count`.
    pub fn slot_index(&self, id: u64) -> usize {
        (id % u64::from(self.slots_count)) as usize
    }

    /// Index of the first word of slot `index` in the stat part.
    pub fn slot_first_word(&self, index: usize) -> usize {
        HEADER_WORDS + index * SLOT_WORDS
    }

    /// The stat words of slot `index`.
    pub fn slot_words(&self, index: usize) -> Range<usize> {
        let first = self.slot_first_word(index);
        first..first + SLOT_WORDS
    }

    /// Index of the first word of the reader registry in the stat part.
    pub fn registry_first_word(&self) -> usize {
        self.slot_first_word(self.slots_count as usize)
    }

    /// The stat words of reader record `index`.
    pub fn record_words(&self, index: usize) -> Range<usize> {
        let first = self.registry_first_word() + index * RECORD_WORDS;
        first..first + RECORD_WORDS
    }

    /// The buffer word that stream position `pos` falls on.
    pub fn buf_word(&self, pos: u64) -> usize {
        ((pos % self.buf_size_bytes) / 8) as usize
    }

    /// The buffer words of a payload of `len` bytes at stream position `pos` (padded to
    /// whole words; a writer never lets it cross the buffer's end, a reader checks that
    /// before it asks).
    pub fn payload_words(&self, pos: u64, len: u64) -> Range<usize> {
        let first = self.buf_word(pos);
        first..first + (padded_len(len) / 8) as usize
    }

    /// Size of the stat part in bytes: header, slot table and reader registry.
    pub fn stat_size_bytes(&self) -> u64 {
        Layout::stat_size_bytes_for(self.slots_count, self.readers_max)
    }

    /// Size of the stat part of any slot and registry counts, unchecked (it cannot
    /// overflow): for a mapper that sizes a mapping from a header before validating it.
    pub fn stat_size_bytes_for(slots_count: u32, readers_max: u32) -> u64 {
        u64::from(HEADER_SIZE_BYTES)
            + u64::from(slots_count) * u64::from(SLOT_SIZE_BYTES)
            + u64::from(readers_max) * u64::from(READER_RECORD_SIZE_BYTES)
    }

    /// Size of the stat part in words.
    pub fn stat_words(&self) -> usize {
        (self.stat_size_bytes() / 8) as usize
    }

    /// Size of the buffer in words.
    pub fn buf_words(&self) -> usize {
        (self.buf_size_bytes / 8) as usize
    }

    /// The largest message the buffer holds, in bytes.
    pub fn max_message_bytes(&self) -> u64 {
        self.buf_size_bytes
    }

    /// Checks that a region is large enough for this layout.
    pub(crate) fn check_region<R: Region + ?Sized>(
        &self,
        region: &R,
    ) -> Result<(), (Part, u64, u64)> {
        let stat = region.stat_words().len() as u64 * 8;
        if stat < self.stat_size_bytes() {
            return Err((Part::Stat, self.stat_size_bytes(), stat));
        }
        let buf = region.buf_words().len() as u64 * 8;
        if buf < self.buf_size_bytes {
            return Err((Part::Buf, self.buf_size_bytes, buf));
        }
        Ok(())
    }

    /// Validates a formatted region's header and returns its layout, generation and queue
    /// flags. Every value is checked before it is used (DESIGN invariant 6).
    pub fn from_header<R: Region + ?Sized>(region: &R) -> Result<Attached, AttachError> {
        let line0 = load_line0(region.stat_words())?;
        check_identity(&line0)?;
        let (layout, queue_flags) = layout_of(&line0)?;
        layout
            .check_region(region)
            .map_err(|(part, needed, actual)| AttachError::RegionTooSmall {
                part,
                needed,
                actual,
            })?;
        Ok(Attached {
            layout,
            generation: line0[word::GENERATION],
            queue_flags,
        })
    }
}

/// Attach step 1: the magic, then line 0 as the format that stored the magic left it.
fn load_line0(stat: &[AtomicU64]) -> Result<[u64; 8], AttachError> {
    let stat_bytes = stat.len() as u64 * 8;
    if stat_bytes < u64::from(HEADER_SIZE_BYTES) {
        return Err(AttachError::RegionTooSmall {
            part: Part::Stat,
            needed: HEADER_SIZE_BYTES.into(),
            actual: stat_bytes,
        });
    }
    // ORDERING: Relaxed, as every load of the attach path (a reader's mapping may be
    // read-only); ordered by the fence below.
    let magic = stat[word::MAGIC].load(Ordering::Relaxed);
    if magic == 0 {
        return Err(AttachError::NotFormatted);
    }
    if magic != MAGIC {
        return Err(AttachError::BadMagic { found: magic });
    }
    // ORDERING: fence(Acquire) pairs with the Release store of the magic at the end of
    // `Writer::format`: a reader that saw the magic sees the whole formatted header.
    fence(Ordering::Acquire);
    let mut line0 = [0u64; 8];
    for (i, w) in line0.iter_mut().enumerate() {
        // ORDERING: Relaxed: line 0 is immutable after format, published by the fence.
        *w = stat[i].load(Ordering::Relaxed);
    }
    Ok(line0)
}

/// Attach step 2: byte order, version and the layout checksum.
fn check_identity(line0: &[u64; 8]) -> Result<(), AttachError> {
    let (version, bom) = header::unpack(line0[word::VERSION_BOM]);
    if bom != BYTE_ORDER_MARK {
        return Err(AttachError::ForeignByteOrder { found: bom });
    }
    if version != FORMAT_VERSION {
        return Err(AttachError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let (_, stored_crc) = header::unpack(line0[word::LAYOUT_CRC]);
    let computed = header::layout_crc(line0);
    if stored_crc != computed {
        return Err(AttachError::HeaderChecksum {
            stored: stored_crc,
            computed,
        });
    }
    Ok(())
}

/// Attach step 3: the layout and queue flags line 0 describes, each field checked.
fn layout_of(line0: &[u64; 8]) -> Result<(Layout, u32), AttachError> {
    let bad = |field, value| AttachError::BadLayout { field, value };
    let (slots_count, slot_size) = header::unpack(line0[word::SLOTS]);
    if slot_size != SLOT_SIZE_BYTES {
        return Err(bad("slot_size_bytes", slot_size.into()));
    }
    let (header_size, queue_flags) = header::unpack(line0[word::HEADER_SIZE_FLAGS]);
    if header_size != HEADER_SIZE_BYTES {
        return Err(bad("header_size_bytes", header_size.into()));
    }
    if queue_flags & !header::QUEUE_FLAGS_KNOWN != 0 {
        return Err(bad("queue_flags", queue_flags.into()));
    }
    let buf_size = line0[word::BUF_SIZE];
    let (readers_max, _) = header::unpack(line0[word::LAYOUT_CRC]);
    if queue_flags & header::QUEUE_FLAG_BLOCKING != 0 && readers_max == 0 {
        return Err(bad("queue_flags", queue_flags.into()));
    }
    let layout = Layout::new(slots_count, buf_size)
        .and_then(|l| l.with_readers_max(readers_max))
        .map_err(|e| match e {
            ConfigError::ZeroSlots | ConfigError::TooManySlots { .. } => {
                bad("slots_count", slots_count.into())
            }
            ConfigError::TooManyReaders { .. } => bad("readers_max", readers_max.into()),
            _ => bad("buf_size_bytes", buf_size),
        })?;
    Ok((layout, queue_flags))
}

/// What [`Layout::from_header`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The validated layout.
    pub layout: Layout,
    /// The queue's generation.
    pub generation: u64,
    /// Queue-wide flags.
    pub queue_flags: u32,
}
