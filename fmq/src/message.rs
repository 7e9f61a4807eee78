//! Messages on the way in ([`NewMessage`]) and on the way out ([`MessageRef`], borrowed from
//! the reader; [`Message`], owned; [`Received`], what the iterators yield).

use fmq_core::{MessageId, MessageMeta};

use crate::error::Lag;

/// A message to write: a type, a subtype, a time and the payload bytes.
///
/// Whether a message is stored compressed is the queue's business (its
/// [`Compression`](crate::Compression)), never the caller's: there is no flag to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewMessage<'a> {
    /// Message type (LROSE's `type`).
    pub msg_type: i32,
    /// Message subtype.
    pub subtype: i32,
    /// Message time, nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// The bytes to write.
    pub payload: &'a [u8],
}

impl<'a> NewMessage<'a> {
    /// A message stamped with the current time ([`now_ns`](crate::now_ns)).
    pub fn new(msg_type: i32, subtype: i32, payload: &'a [u8]) -> Self {
        NewMessage {
            msg_type,
            subtype,
            time_ns: crate::now_ns(),
            payload,
        }
    }

    /// The same message with time `time_ns` (nanoseconds since the Unix epoch).
    pub fn at(self, time_ns: i64) -> Self {
        NewMessage { time_ns, ..self }
    }

    /// The core's form of this message, as stored: `stored` bytes, compressed if
    /// `compressed` (expanding to this message's payload).
    pub(crate) fn stored<'b>(
        &self,
        stored: &'b [u8],
        compressed: bool,
    ) -> fmq_core::NewMessage<'b> {
        let m = fmq_core::NewMessage::new(self.msg_type, self.subtype, self.time_ns, stored);
        if compressed {
            m.compressed(self.payload.len() as u64)
        } else {
            m
        }
    }
}

/// A message read, borrowed from its reader until the next read.
///
/// `meta.len` is the stored length (smaller than `payload.len()` when the queue stored the
/// message compressed); `payload` is always the bytes as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRef<'a> {
    /// Id, type, subtype, time and lengths.
    pub meta: MessageMeta,
    /// The bytes as written (decompressed if the queue stored them compressed).
    pub payload: &'a [u8],
}

impl MessageRef<'_> {
    /// The message's id.
    pub fn id(&self) -> MessageId {
        self.meta.id
    }

    /// An owned copy.
    pub fn to_message(&self) -> Message {
        Message {
            meta: self.meta,
            payload: self.payload.to_vec(),
        }
    }
}

/// A message read, owned (what the iterators yield).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Id, type, subtype, time and lengths.
    pub meta: MessageMeta,
    /// The bytes as written (decompressed if the queue stored them compressed).
    pub payload: Vec<u8>,
}

impl Message {
    /// The message's id.
    pub fn id(&self) -> MessageId {
        self.meta.id
    }
}

/// What [`Reader::messages`](crate::Reader::messages) and
/// [`Reader::try_iter`](crate::Reader::try_iter) yield: a message, or the news that the
/// reader lagged (see the crate's "Lagging").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// The next message.
    Message(Message),
    /// The writer overwrote messages before this reader read them; the next item is
    /// [`Lag::resumed_at`] or later.
    Lagged(Lag),
}
