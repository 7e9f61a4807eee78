//! Which messages `fmq read` and `fmq mon` show: `--from`, `--type`, `--subtype`,
//! `--until-id`. A selection only chooses what this command prints: every reader of an fmq
//! queue has its own position, so nothing is taken from another reader (unlike LROSE's
//! FMQ, whose type filters consume the messages they pass over).

use fmq::{MessageId, MessageMeta, StartAt};

use crate::StartFrom;

/// What a command was asked to show.
#[derive(Debug, Clone)]
pub struct Selection {
    pub from: StartFrom,
    /// Only these types (empty: every type).
    pub types: Vec<i32>,
    /// Only these subtypes (empty: every subtype).
    pub subtypes: Vec<i32>,
    /// Stop after this message.
    pub until_id: Option<u64>,
}

impl Selection {
    /// Where the reader starts; a time seek starts at the oldest message and skips the
    /// older ones ([`Seek`]).
    pub fn start_at(&self) -> StartAt {
        match self.from {
            StartFrom::Oldest | StartFrom::Time(_) => StartAt::Oldest,
            StartFrom::Youngest => StartAt::Youngest,
            StartFrom::End => StartAt::End,
            StartFrom::Id(id) => StartAt::Id(MessageId(id)),
        }
    }

    /// A new seek state for a reader of this selection.
    pub fn seek(&self) -> Seek {
        Seek(match self.from {
            StartFrom::Time(t) => Some(t),
            _ => None,
        })
    }

    /// Whether `--type` and `--subtype` let this message through.
    pub fn wanted(&self, meta: &MessageMeta) -> bool {
        (self.types.is_empty() || self.types.contains(&meta.msg_type))
            && (self.subtypes.is_empty() || self.subtypes.contains(&meta.subtype))
    }

    /// Whether message `id` comes after `--until-id` (the command stops there).
    pub fn past_end(&self, id: u64) -> bool {
        self.until_id.is_some_and(|u| id > u)
    }
}

/// A `--from time:T` seek under way: messages older than T are skipped until the first one
/// at or after it (times need not grow with ids; from there on every message is shown).
#[derive(Debug, Clone, Copy)]
pub struct Seek(Option<i64>);

impl Seek {
    /// Whether a message read is not shown: older than a seek under way, or not wanted.
    pub fn skip(&mut self, sel: &Selection, meta: &MessageMeta) -> bool {
        if let Some(t) = self.0 {
            if meta.time_ns < t {
                return true;
            }
            self.0 = None;
        }
        !sel.wanted(meta)
    }
}
