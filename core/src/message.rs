//! What a message is, on the way in ([`NewMessage`]) and on the way out ([`MessageMeta`],
//! [`Message`]).
//!
//! Ids are [`MessageId`]s: 64-bit, starting at 1, strictly increasing, never reused within a
//! queue's generation (a writer that recovers a queue continues after the last published id).

use crate::slot::MSG_FLAG_COMPRESSED;

/// Ids stay below this bound: a writer's counters stop short of it
/// ([`crate::WriteError::CounterExhausted`]), so no writer publishes a larger id and `id + 1`
/// never overflows. A commit line that names a larger id is corrupt.
pub const MAX_MESSAGE_ID: u64 = u64::MAX / 4;

/// The id of a message: its position in the queue's history, from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MessageId(pub u64);

impl MessageId {
    /// The id after this one.
    pub const fn next(self) -> MessageId {
        MessageId(self.0 + 1)
    }
}

impl core::fmt::Display for MessageId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

/// A message to write: metadata plus a borrowed payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewMessage<'a> {
    /// Message type (LROSE's `type`).
    pub msg_type: i32,
    /// Message subtype.
    pub subtype: i32,
    /// Message time, nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// The bytes stored in the queue.
    pub payload: &'a [u8],
    /// Per-message flags; only [`MSG_FLAG_COMPRESSED`] is defined.
    pub flags: u32,
    /// Length after decompression; must equal `payload.len()` unless compressed.
    pub raw_len: u64,
}

impl<'a> NewMessage<'a> {
    /// An uncompressed message.
    pub fn new(msg_type: i32, subtype: i32, time_ns: i64, payload: &'a [u8]) -> Self {
        NewMessage {
            msg_type,
            subtype,
            time_ns,
            payload,
            flags: 0,
            raw_len: payload.len() as u64,
        }
    }

    /// Marks the payload as compressed with the queue's codec, expanding to `raw_len` bytes.
    pub fn compressed(mut self, raw_len: u64) -> Self {
        self.flags |= MSG_FLAG_COMPRESSED;
        self.raw_len = raw_len;
        self
    }
}

/// What a read returns besides the payload bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    /// The message's id.
    pub id: MessageId,
    /// Message type.
    pub msg_type: i32,
    /// Message subtype.
    pub subtype: i32,
    /// Message time, nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Length of the stored payload in bytes (what was copied).
    pub len: usize,
    /// Length after decompression (equal to `len` unless compressed).
    pub raw_len: u64,
    /// Per-message flags.
    pub flags: u32,
}

impl MessageMeta {
    /// Whether the stored payload is compressed.
    pub fn is_compressed(&self) -> bool {
        self.flags & MSG_FLAG_COMPRESSED != 0
    }
}

/// An owned message (feature `alloc`).
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Its metadata.
    pub meta: MessageMeta,
    /// Its stored payload.
    pub payload: alloc::vec::Vec<u8>,
}
