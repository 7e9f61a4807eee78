//! One small error enum per operation, with lowercase `Display` messages that carry the
//! numbers a caller needs (STYLE.md). All implement `core::error::Error`.

use core::fmt;

use crate::message::MessageId;

/// Which part of a region a size error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The stat part: header and slot table.
    Stat,
    /// The message buffer.
    Buf,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Stat => "stat part (header + slots)",
            Part::Buf => "buffer",
        })
    }
}

/// A [`crate::Config`] that cannot describe a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `slots_count` is zero.
    ZeroSlots,
    /// `slots_count` is above the maximum.
    TooManySlots {
        /// What was asked.
        slots_count: u64,
        /// The maximum.
        max: u64,
    },
    /// The buffer is below the minimum size.
    BufferTooSmall {
        /// What was asked.
        buf_size_bytes: u64,
        /// The minimum.
        min: u64,
    },
    /// The buffer is above the maximum size.
    BufferTooLarge {
        /// What was asked.
        buf_size_bytes: u64,
        /// The maximum.
        max: u64,
    },
    /// The buffer size is not a multiple of 8 bytes.
    BufferNotWordMultiple {
        /// What was asked.
        buf_size_bytes: u64,
    },
    /// Queue flags outside the bits format 2 defines.
    UnknownQueueFlags {
        /// The flags.
        flags: u32,
    },
    /// More reader records than the maximum.
    TooManyReaders {
        /// What was asked.
        readers_max: u32,
        /// The maximum.
        max: u32,
    },
    /// Blocking mode without a reader registry (`readers_max` 0).
    BlockingWithoutReaders,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::ZeroSlots => write!(f, "slots count must be at least 1"),
            ConfigError::TooManySlots { slots_count, max } => {
                write!(f, "too many slots: {slots_count} > {max}")
            }
            ConfigError::BufferTooSmall {
                buf_size_bytes,
                min,
            } => {
                write!(f, "buffer too small: {buf_size_bytes} < {min} bytes")
            }
            ConfigError::BufferTooLarge {
                buf_size_bytes,
                max,
            } => {
                write!(f, "buffer too large: {buf_size_bytes} > {max} bytes")
            }
            ConfigError::BufferNotWordMultiple { buf_size_bytes } => {
                write!(
                    f,
                    "buffer size {buf_size_bytes} is not a multiple of 8 bytes"
                )
            }
            ConfigError::UnknownQueueFlags { flags } => {
                write!(f, "unknown queue flags {flags:#x}")
            }
            ConfigError::TooManyReaders { readers_max, max } => {
                write!(f, "too many reader records: {readers_max} > {max}")
            }
            ConfigError::BlockingWithoutReaders => write!(
                f,
                "blocking mode needs a reader registry (readers max at least 1)"
            ),
        }
    }
}

/// Formatting a region failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The region is smaller than the configuration needs.
    RegionTooSmall {
        /// Which part.
        part: Part,
        /// Bytes needed.
        needed: u64,
        /// Bytes the region has.
        actual: u64,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FormatError::Config(e) => write!(f, "invalid queue configuration: {e}"),
            FormatError::RegionTooSmall {
                part,
                needed,
                actual,
            } => {
                write!(f, "region {part} too small: {actual} < {needed} bytes")
            }
        }
    }
}

impl From<ConfigError> for FormatError {
    fn from(e: ConfigError) -> Self {
        FormatError::Config(e)
    }
}

/// Attaching to a region (reader or recovering writer) failed: the region does not hold a
/// queue this crate can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// The region is smaller than its header says it must be.
    RegionTooSmall {
        /// Which part.
        part: Part,
        /// Bytes needed.
        needed: u64,
        /// Bytes the region has.
        actual: u64,
    },
    /// The magic is zero: the queue is not formatted yet (or is being formatted).
    NotFormatted,
    /// The magic is not fmq's.
    BadMagic {
        /// The magic found.
        found: u64,
    },
    /// The byte-order mark reads backwards: the queue was written on a machine of the other
    /// byte order.
    ForeignByteOrder {
        /// The mark found.
        found: u32,
    },
    /// A format version this crate does not read.
    UnsupportedVersion {
        /// The version found.
        found: u32,
        /// The version supported.
        supported: u32,
    },
    /// The header's layout checksum does not match: the header is corrupt.
    HeaderChecksum {
        /// The stored checksum.
        stored: u32,
        /// The checksum of the header as read.
        computed: u32,
    },
    /// A layout field has a value format 2 does not allow.
    BadLayout {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AttachError::RegionTooSmall {
                part,
                needed,
                actual,
            } => write!(
                f,
                "queue {part} is truncated: {actual} bytes, its header needs {needed}"
            ),
            AttachError::NotFormatted => write!(f, "queue is not formatted (magic is zero)"),
            AttachError::BadMagic { found } => {
                write!(f, "not an fmq queue: bad magic {found:#018x}")
            }
            AttachError::ForeignByteOrder { found } => write!(
                f,
                "queue was written with the other byte order (byte-order mark {found:#010x})"
            ),
            AttachError::UnsupportedVersion { found, supported } => write!(
                f,
                "unsupported queue format version {found} (this build reads version {supported})"
            ),
            AttachError::HeaderChecksum { stored, computed } => write!(
                f,
                "corrupt queue header: layout checksum {stored:#010x} != computed {computed:#010x}"
            ),
            AttachError::BadLayout { field, value } => {
                write!(f, "corrupt queue header: {field} = {value} is not allowed")
            }
        }
    }
}

/// Writing a message failed; nothing was published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The message does not fit in the buffer.
    MessageTooLarge {
        /// Its stored length.
        len: u64,
        /// The largest message the buffer holds.
        max: u64,
    },
    /// An uncompressed message whose `raw_len` is not its length.
    RawLenMismatch {
        /// `raw_len`.
        raw_len: u64,
        /// The payload's length.
        len: u64,
    },
    /// Flags outside the per-message flags format 2 defines.
    UnknownFlags {
        /// The flags.
        flags: u32,
    },
    /// The 64-bit id or byte counters would overflow.
    CounterExhausted,
    /// Blocking mode: the message needs the writer to retire a message that registered
    /// reader `reader` has not read yet (its cursor, the id it reads next, is below
    /// `needed`). Nothing of the message was written; messages of a batch before it were
    /// (and are published). The fmq crate waits and retries.
    Blocked {
        /// The slowest registered reader's record index.
        reader: u32,
        /// Its cursor.
        cursor: u64,
        /// The cursor every registered reader must reach first.
        needed: u64,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WriteError::MessageTooLarge { len, max } => {
                write!(f, "message too large: {len} > {max} bytes")
            }
            WriteError::RawLenMismatch { raw_len, len } => write!(
                f,
                "uncompressed message has raw length {raw_len} but {len} bytes of payload"
            ),
            WriteError::UnknownFlags { flags } => write!(f, "unknown message flags {flags:#x}"),
            WriteError::CounterExhausted => write!(f, "message id or byte counter exhausted"),
            WriteError::Blocked {
                reader,
                cursor,
                needed,
            } => write!(
                f,
                "blocked by registered reader {reader}: it reads id {cursor} next, the write \
                 needs it past id {}",
                needed.saturating_sub(1)
            ),
        }
    }
}

/// Why [`Reader::register`](crate::Reader::register) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The queue has no reader registry (`readers_max` 0).
    NoRegistry,
    /// Every record is held by a live registered reader.
    RegistryFull {
        /// The number of records.
        readers_max: u32,
    },
    /// This reader is registered already.
    AlreadyRegistered {
        /// Its record.
        index: u32,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RegisterError::NoRegistry => {
                write!(
                    f,
                    "the queue has no reader registry (create it with readers max)"
                )
            }
            RegisterError::RegistryFull { readers_max } => {
                write!(
                    f,
                    "all {readers_max} reader records are taken by live readers"
                )
            }
            RegisterError::AlreadyRegistered { index } => {
                write!(f, "this reader is registered already (record {index})")
            }
        }
    }
}

impl core::error::Error for RegisterError {}

/// Why a message was judged corrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptReason {
    /// The slot's stamp is neither the message's id nor explained by the writer moving on.
    StampMismatch {
        /// The stamp found.
        found: u64,
    },
    /// The slot's offset or length points outside the buffer.
    SlotOutOfBounds {
        /// `buf_pos` found.
        buf_pos: u64,
        /// `stored_len` found.
        stored_len: u64,
    },
    /// The payload and metadata do not match the stored CRC32C.
    ChecksumMismatch {
        /// Stored.
        stored: u32,
        /// Computed over what was read.
        computed: u32,
    },
    /// The header's commit line is inconsistent (youngest/oldest ids out of range).
    CommitOutOfRange {
        /// Youngest id read.
        youngest_id: u64,
        /// Oldest id read.
        oldest_id: u64,
    },
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CorruptReason::StampMismatch { found } => write!(f, "slot stamp is {found}"),
            CorruptReason::SlotOutOfBounds {
                buf_pos,
                stored_len,
            } => write!(
                f,
                "slot points outside the buffer (position {buf_pos}, length {stored_len})"
            ),
            CorruptReason::ChecksumMismatch { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            CorruptReason::CommitOutOfRange {
                youngest_id,
                oldest_id,
            } => write!(
                f,
                "header commit line out of range (youngest {youngest_id}, oldest {oldest_id})"
            ),
        }
    }
}

/// A read returned no message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// No new message yet.
    Empty,
    /// Blocking mode: the writer unregistered this registered reader (it judged it dead: its
    /// process gone, or its heartbeat older than the queue's limit). Nothing was read; the
    /// reader is unregistered now (its reads go on, without holding the writer back) and may
    /// register again.
    Unregistered {
        /// The record it held.
        index: u32,
    },
    /// The writer overwrote messages before this reader read them. `missed_count` ids were
    /// skipped; the next read returns `resumed_at` (if it is still there).
    Lagged {
        /// Exactly how many ids this reader lost.
        missed_count: u64,
        /// Where the reader resumes.
        resumed_at: MessageId,
    },
    /// The caller's buffer is smaller than the message; nothing was consumed.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// The message is corrupt. Unless the reason is `CommitOutOfRange`, the reader has skipped
    /// it and the next read goes on with the following id.
    Corrupt {
        /// The id that was being read.
        id: MessageId,
        /// What was wrong.
        reason: CorruptReason,
    },
    /// The queue was re-created (formatted again) since this reader attached; attach again.
    GenerationChanged {
        /// The generation this reader attached to.
        attached: u64,
        /// The generation found.
        current: u64,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReadError::Empty => write!(f, "no new message"),
            ReadError::Unregistered { index } => write!(
                f,
                "the writer unregistered this reader (record {index}) as dead; register again"
            ),
            ReadError::Lagged {
                missed_count,
                resumed_at,
            } => write!(
                f,
                "reader lagged: missed {missed_count} messages, resuming at id {resumed_at}"
            ),
            ReadError::BufferTooSmall { needed } => {
                write!(f, "read buffer too small: message needs {needed} bytes")
            }
            ReadError::Corrupt { id, reason } => write!(f, "message {id} is corrupt: {reason}"),
            ReadError::GenerationChanged { attached, current } => write!(
                f,
                "queue was re-created (generation {attached} -> {current}); attach again"
            ),
        }
    }
}

/// Recovering a region as its new writer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoverError {
    /// The region is not a valid queue.
    Attach(AttachError),
    /// The header's commit line cannot have been written by a writer; the queue must be
    /// re-created.
    CommitOutOfRange {
        /// Youngest id found.
        youngest_id: u64,
        /// Oldest id found.
        oldest_id: u64,
    },
}

impl fmt::Display for RecoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecoverError::Attach(e) => e.fmt(f),
            RecoverError::CommitOutOfRange {
                youngest_id,
                oldest_id,
            } => write!(
                f,
                "cannot recover: header commit line is corrupt (youngest {youngest_id}, \
                 oldest {oldest_id}); re-create the queue"
            ),
        }
    }
}

impl From<AttachError> for RecoverError {
    fn from(e: AttachError) -> Self {
        RecoverError::Attach(e)
    }
}

impl core::error::Error for ConfigError {}
impl core::error::Error for FormatError {}
impl core::error::Error for AttachError {}
impl core::error::Error for WriteError {}
impl core::error::Error for ReadError {}
impl core::error::Error for RecoverError {}
