//! Errors, one enum per operation: [`OpenError`] (opening a queue's files: readers and
//! writers), [`CreateError`] (creating one), [`AdminError`] (`info`, `check`, `clear`,
//! `remove`), [`ReadError`] (a blocking read), [`TryReadError`] and [`ReadTimeoutError`]
//! (reads that may find nothing), [`WriteError`], [`FlushError`] and [`RegisterError`].
//!
//! Messages are lowercase, one line, and carry the paths and numbers a user needs. Each
//! error's `Display` carries its cause, so no `source()` is returned: a chain printer (anyhow's
//! `{:#}`) prints every cause once. An error that wraps another (`CreateError::Open`,
//! `TryReadError::Failed`) displays as the wrapped one.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use fmq_core::{AttachError, ConfigError, CorruptReason, MessageId, RecoverError};

use crate::path::BadQueueName;

/// Opening a queue's files failed ([`Reader::open`](crate::Reader::open),
/// [`Writer::open`](crate::Writer::open), and the opening part of every other operation).
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The spec names no queue.
    BadName(BadQueueName),
    /// The queue's files (or segment) do not exist.
    NotFound {
        /// The queue spec.
        queue: String,
    },
    /// Another writer holds the queue (writers, `clear` and `remove` only).
    Locked {
        /// The queue spec.
        queue: String,
        /// The pid the lock file or the writer mark names, if readable.
        pid: Option<u32>,
    },
    /// A queue or lock file is a symbolic link; fmq does not follow them.
    Symlink {
        /// The link.
        file: PathBuf,
    },
    /// A symbolic link on the way to the queue belongs to another user (it could redirect
    /// this process's files anywhere that user chooses).
    UntrustedSymlink {
        /// The link.
        link: PathBuf,
        /// Its owner.
        owner_uid: u32,
    },
    /// A queue or lock file that exists belongs to another user: fmq does not write to it.
    ForeignOwner {
        /// The file.
        file: PathBuf,
        /// Its owner.
        owner_uid: u32,
    },
    /// A file where the queue's lock file should be is not an fmq lock file (a regular file
    /// of at most 32 bytes holding a pid); fmq does not truncate it.
    NotALockFile {
        /// The file.
        file: PathBuf,
    },
    /// A file where the queue's data should be is not an fmq queue file (no fmq magic);
    /// fmq neither replaces nor removes it.
    NotAQueue {
        /// The file.
        file: PathBuf,
    },
    /// `FMQ_USE_FILE_LOCKING` holds a value that is not one of the allowed ones.
    BadLockingEnv {
        /// The value found.
        value: String,
    },
    /// A system call on a file failed.
    Io {
        /// What was being done ("open", "map", "lock", ...).
        op: &'static str,
        /// The file.
        file: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A data file is empty.
    EmptyFile {
        /// The file.
        file: PathBuf,
    },
    /// A data file is too small or too large for what its header says.
    BadFileSize {
        /// The file.
        file: PathBuf,
        /// Bytes the file has.
        len: u64,
        /// Bytes the header needs.
        needed: u64,
    },
    /// The `.buf` file does not start with fmq's buffer header.
    BadBufHeader {
        /// The file.
        file: PathBuf,
    },
    /// The `.buf` file belongs to another queue (or another formatting of this one).
    MismatchedFiles {
        /// The queue spec.
        queue: String,
        /// Generation in `.stat`.
        stat_generation: u64,
        /// Generation in `.buf`.
        buf_generation: u64,
    },
    /// The header is not a queue this crate reads.
    Attach {
        /// The queue spec.
        queue: String,
        /// Why.
        reason: AttachError,
    },
    /// The queue header names a compression codec this crate does not know.
    UnknownCodec {
        /// The queue spec.
        queue: String,
        /// The codec number.
        codec: u32,
    },
    /// Taking over the queue as its new writer failed (writers only).
    Recover {
        /// The queue spec.
        queue: String,
        /// Why.
        reason: RecoverError,
    },
}

impl OpenError {
    pub(crate) fn io(op: &'static str, file: impl Into<PathBuf>, source: io::Error) -> Self {
        let file = file.into();
        if source.raw_os_error() == Some(libc::ELOOP) {
            return OpenError::Symlink { file };
        }
        OpenError::Io { op, file, source }
    }

    /// Whether this is one of the states a queue being created passes through (missing,
    /// empty, its pair of files not yet matched, its header not yet written): worth waiting
    /// for, as [`Reader::open_timeout`](crate::Reader::open_timeout) does.
    pub fn is_not_ready(&self) -> bool {
        matches!(
            self,
            OpenError::NotFound { .. }
                | OpenError::EmptyFile { .. }
                | OpenError::MismatchedFiles { .. }
                | OpenError::Attach {
                    reason: AttachError::NotFormatted,
                    ..
                }
        )
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::BadName(e) => e.fmt(f),
            OpenError::NotFound { queue } => write!(f, "queue {queue} does not exist"),
            OpenError::Locked { queue, pid } => match pid {
                Some(pid) => write!(f, "queue {queue} is already open for writing by pid {pid}"),
                None => write!(
                    f,
                    "queue {queue} is already open for writing by another process"
                ),
            },
            OpenError::BadLockingEnv { value } => write!(
                f,
                "FMQ_USE_FILE_LOCKING must be FALSE, 0, TRUE, 1 or BEST_EFFORT, not {value:?}"
            ),
            OpenError::Io { op, file, source } => {
                write!(f, "cannot {op} {}: {source}", file.display())
            }
            OpenError::Attach { queue, reason } => write!(f, "queue {queue}: {reason}"),
            OpenError::Recover { queue, reason } => write!(f, "queue {queue}: {reason}"),
            OpenError::UnknownCodec { queue, codec } => {
                write!(f, "queue {queue}: unknown compression codec {codec}")
            }
            OpenError::MismatchedFiles {
                queue,
                stat_generation,
                buf_generation,
            } => write!(
                f,
                "queue {queue}: the .buf file belongs to another queue (generation \
                 {buf_generation}, .stat says {stat_generation})"
            ),
            OpenError::Symlink { .. }
            | OpenError::UntrustedSymlink { .. }
            | OpenError::ForeignOwner { .. }
            | OpenError::NotALockFile { .. }
            | OpenError::NotAQueue { .. }
            | OpenError::EmptyFile { .. }
            | OpenError::BadFileSize { .. }
            | OpenError::BadBufHeader { .. } => self.fmt_file_problem(f),
        }
    }
}

impl OpenError {
    /// The variants about one file that is not what a queue's file must be.
    fn fmt_file_problem(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Symlink { file } => {
                write!(f, "refusing to follow the symbolic link {}", file.display())
            }
            OpenError::UntrustedSymlink { link, owner_uid } => write!(
                f,
                "refusing to follow {}: a symbolic link owned by uid {owner_uid}, not by this \
                 user or root",
                link.display()
            ),
            OpenError::ForeignOwner { file, owner_uid } => write!(
                f,
                "{} belongs to uid {owner_uid}, not to this user (uid {}): refusing to write to it",
                file.display(),
                crate::safepath::euid()
            ),
            OpenError::NotALockFile { file } => write!(
                f,
                "{} exists and is not an fmq lock file: refusing to touch it",
                file.display()
            ),
            OpenError::NotAQueue { file } => write!(
                f,
                "{} exists and is not an fmq queue file: refusing to touch it",
                file.display()
            ),
            OpenError::EmptyFile { file } => {
                write!(f, "{} is empty: not an fmq queue", file.display())
            }
            OpenError::BadFileSize { file, len, needed } => write!(
                f,
                "{} has {len} bytes but its header needs {needed}: truncated or corrupt",
                file.display()
            ),
            OpenError::BadBufHeader { file } => {
                write!(
                    f,
                    "{} is not an fmq buffer file (bad magic)",
                    file.display()
                )
            }
            // Not reached: `Display::fmt` writes every other variant itself.
            _ => Ok(()),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<BadQueueName> for OpenError {
    fn from(e: BadQueueName) -> Self {
        OpenError::BadName(e)
    }
}

/// Creating a queue failed ([`Writer::create`](crate::Writer::create),
/// [`Writer::open_or_create`](crate::Writer::open_or_create)). Nothing of a new queue is
/// left behind, and a queue that was being replaced is either still the old one or wholly
/// the new one.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError {
    /// Opening, locking or checking the queue's files failed.
    Open(OpenError),
    /// The queue exists and [`CreateOptions::replace`](crate::CreateOptions::replace) is
    /// not set.
    AlreadyExists {
        /// The queue spec.
        queue: String,
    },
    /// The sizes asked for are not allowed.
    Config(ConfigError),
    /// A new queue does not fit in the free space of its file system.
    NoSpace {
        /// The queue spec.
        queue: String,
        /// The directory of its data files.
        dir: PathBuf,
        /// Bytes the queue's files need.
        needed: u64,
        /// Bytes free there.
        free: u64,
        /// Whether it is a shared-memory segment (a container's `/dev/shm` is small).
        shared_memory: bool,
    },
    /// A new queue file would exceed the process's file size limit (`RLIMIT_FSIZE`).
    FileSizeLimit {
        /// The queue spec.
        queue: String,
        /// The file.
        file: PathBuf,
        /// Its size.
        needed: u64,
        /// The limit.
        limit: u64,
    },
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::Open(e) => e.fmt(f),
            CreateError::AlreadyExists { queue } => write!(f, "queue {queue} already exists"),
            CreateError::Config(e) => e.fmt(f),
            CreateError::NoSpace {
                queue,
                dir,
                needed,
                free,
                shared_memory,
            } => {
                write!(
                    f,
                    "not enough space in {} for queue {queue}: need {needed} bytes, free {free}",
                    dir.display()
                )?;
                if *shared_memory {
                    write!(
                        f,
                        " (shared memory: a container's /dev/shm is 64 MiB unless it is given \
                         more, docker's shm-size option; FMQ_SHM_DIR moves the segments)"
                    )?;
                }
                Ok(())
            }
            CreateError::FileSizeLimit {
                queue,
                file,
                needed,
                limit,
            } => write!(
                f,
                "queue {queue}: {} would have {needed} bytes, above this process's file size \
                 limit of {limit}",
                file.display()
            ),
        }
    }
}

impl std::error::Error for CreateError {}

impl From<OpenError> for CreateError {
    fn from(e: OpenError) -> Self {
        CreateError::Open(e)
    }
}

impl From<BadQueueName> for CreateError {
    fn from(e: BadQueueName) -> Self {
        CreateError::Open(OpenError::BadName(e))
    }
}

/// An administrative operation failed ([`info`](crate::info), [`slots`](crate::slots),
/// [`check`](crate::check), [`clear`](crate::clear), [`remove`](crate::remove)).
#[derive(Debug)]
#[non_exhaustive]
pub enum AdminError {
    /// Opening, locking or checking the queue's files failed (a live writer refuses
    /// `clear` and `remove` with [`OpenError::Locked`]).
    Open(OpenError),
    /// `remove` took the queue away, but a file of it could not be deleted (it keeps a
    /// hidden name that the next create or open of the queue cleans up).
    RemoveIncomplete {
        /// The queue spec.
        queue: String,
        /// The file left.
        file: PathBuf,
        /// Why it could not be deleted.
        source: io::Error,
    },
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::Open(e) => e.fmt(f),
            AdminError::RemoveIncomplete {
                queue,
                file,
                source,
            } => write!(
                f,
                "queue {queue} was removed, but {} could not be deleted: {source}",
                file.display()
            ),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<OpenError> for AdminError {
    fn from(e: OpenError) -> Self {
        AdminError::Open(e)
    }
}

impl From<BadQueueName> for AdminError {
    fn from(e: BadQueueName) -> Self {
        AdminError::Open(OpenError::BadName(e))
    }
}

/// Messages a reader missed: the writer overwrote them before it read them.
///
/// Exactly `missed_count` ids were lost; the next read returns `resumed_at` if the writer has
/// not overwritten it meanwhile (then a further `Lag` is reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lag {
    /// Ids lost.
    pub missed_count: u64,
    /// The id the reader resumes at.
    pub resumed_at: MessageId,
}

impl fmt::Display for Lag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "missed {} messages, resuming at id {}",
            self.missed_count, self.resumed_at
        )
    }
}

/// A read failed ([`Reader::read`](crate::Reader::read), the iterators).
///
/// [`Lagged`](ReadError::Lagged) and the skipped-message variants are reports: the reader
/// goes on with the next read ([`ReadError::is_fatal`] is false). The fatal ones mean the
/// queue under the reader is gone or changed: open it again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// The writer overwrote messages this reader had not read (see the crate's "Lagging").
    Lagged(Lag),
    /// A message failed validation; the reader skipped it.
    Corrupt {
        /// Its id.
        id: MessageId,
        /// Why.
        reason: CorruptReason,
    },
    /// A compressed message does not decompress to its recorded size; skipped.
    BadCompressed {
        /// Its id.
        id: MessageId,
    },
    /// A compressed message claims an expanded size above
    /// [`ReaderOptions::max_message_bytes`](crate::ReaderOptions::max_message_bytes);
    /// skipped without allocating.
    TooLarge {
        /// Its id.
        id: MessageId,
        /// The expanded size it claims.
        raw_len: u64,
        /// The limit.
        max: u64,
    },
    /// Blocking mode: the writer unregistered this registered reader as dead (its heartbeat
    /// was older than the queue's reader timeout); nothing was read. The reader goes on
    /// unregistered and may register again.
    Unregistered {
        /// The record it held.
        index: u32,
    },
    /// The queue was formatted again in place since this reader attached: open it again.
    GenerationChanged,
    /// The queue's files were replaced (re-created) since this reader opened them: open it
    /// again.
    Replaced,
    /// The queue's files were removed since this reader opened them.
    Removed,
    /// A data file shrank below its mapped size (truncated by another program): reading on
    /// would fault, so the reader stops.
    Truncated {
        /// The file.
        file: PathBuf,
        /// Its size now.
        len: u64,
        /// The size mapped.
        mapped: u64,
    },
}

impl ReadError {
    /// Whether this error reports one message that the reader skipped (corrupt, not
    /// decompressible, or too large); the next read goes on after it.
    pub fn is_skipped_message(&self) -> bool {
        matches!(
            self,
            ReadError::Corrupt { .. }
                | ReadError::BadCompressed { .. }
                | ReadError::TooLarge { .. }
        )
    }

    /// Whether the reader cannot go on: the queue was replaced, removed, truncated or
    /// re-formatted under it, and must be opened again.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ReadError::GenerationChanged
                | ReadError::Replaced
                | ReadError::Removed
                | ReadError::Truncated { .. }
        )
    }

    /// The lag this error reports, if it is [`ReadError::Lagged`].
    pub fn lag(&self) -> Option<Lag> {
        match self {
            ReadError::Lagged(lag) => Some(*lag),
            _ => None,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Lagged(lag) => write!(f, "reader lagged: {lag}"),
            ReadError::Corrupt { id, reason } => write!(f, "message {id} is corrupt: {reason}"),
            ReadError::BadCompressed { id } => {
                write!(
                    f,
                    "message {id} is corrupt: it does not decompress to its size"
                )
            }
            ReadError::TooLarge { id, raw_len, max } => write!(
                f,
                "message {id} claims {raw_len} bytes uncompressed, above the limit of {max}"
            ),
            ReadError::Unregistered { index } => write!(
                f,
                "the writer unregistered this reader (record {index}) as dead; it reads on \
                 unregistered"
            ),
            ReadError::GenerationChanged => write!(f, "queue was re-created; open it again"),
            ReadError::Replaced => write!(f, "queue files were replaced; open it again"),
            ReadError::Removed => write!(f, "queue was removed"),
            ReadError::Truncated { file, len, mapped } => write!(
                f,
                "{} was truncated to {len} bytes while mapped ({mapped} bytes)",
                file.display()
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// [`Reader::try_read`](crate::Reader::try_read) returned no message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryReadError {
    /// No new message yet.
    Empty,
    /// The read failed or reports a lag (displays as the [`ReadError`]).
    Failed(ReadError),
}

impl fmt::Display for TryReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryReadError::Empty => write!(f, "no new message"),
            TryReadError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TryReadError {}

impl From<ReadError> for TryReadError {
    fn from(e: ReadError) -> Self {
        TryReadError::Failed(e)
    }
}

/// [`Reader::read_timeout`](crate::Reader::read_timeout) or
/// [`Reader::read_deadline`](crate::Reader::read_deadline) returned no message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadTimeoutError {
    /// No new message arrived in time.
    TimedOut,
    /// The read failed or reports a lag (displays as the [`ReadError`]).
    Failed(ReadError),
}

impl fmt::Display for ReadTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadTimeoutError::TimedOut => write!(f, "no new message before the timeout"),
            ReadTimeoutError::Failed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadTimeoutError {}

impl From<ReadError> for ReadTimeoutError {
    fn from(e: ReadError) -> Self {
        ReadTimeoutError::Failed(e)
    }
}

/// Writing failed; nothing of the failed message was published (the messages of a batch
/// before it may have been: see [`Writer::write_batch`](crate::Writer::write_batch)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// The message (as stored: compressed, if it was) does not fit in the queue's buffer.
    MessageTooLarge {
        /// Its stored length.
        len: u64,
        /// The largest message the buffer holds.
        max: u64,
    },
    /// The queue's 64-bit id or byte counters would overflow.
    CounterExhausted,
    /// Blocking mode: the write waited longer than
    /// [`WriterOptions::write_timeout`](crate::WriterOptions::write_timeout) for a live
    /// registered reader.
    TimedOut {
        /// The slowest registered reader's record.
        reader: u32,
        /// The id it reads next.
        cursor: MessageId,
        /// How long the write waited.
        waited: Duration,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WriteError::MessageTooLarge { len, max } => {
                write!(f, "message too large: {len} > {max} bytes")
            }
            WriteError::CounterExhausted => write!(f, "message id or byte counter exhausted"),
            WriteError::TimedOut {
                reader,
                cursor,
                waited,
            } => write!(
                f,
                "timed out after {} ms waiting for registered reader {reader} (it reads id \
                 {cursor} next)",
                waited.as_millis()
            ),
        }
    }
}

impl std::error::Error for WriteError {}

/// [`Writer::flush`](crate::Writer::flush) could not make the queue durable.
#[derive(Debug)]
pub struct FlushError {
    /// The file whose sync failed.
    pub file: PathBuf,
    /// The error.
    pub source: io::Error,
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot sync {}: {}", self.file.display(), self.source)
    }
}

impl std::error::Error for FlushError {}

/// [`Reader::register`](crate::Reader::register) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RegisterError {
    /// The queue has no reader registry
    /// ([`CreateOptions::readers_max`](crate::CreateOptions::readers_max) was 0).
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
    /// The reader's mapping is read-only (a queue this user cannot write): a registered
    /// reader writes its record.
    ReadOnly {
        /// The queue spec.
        queue: String,
    },
    /// The record's liveness token could not be set up (a descriptor could not be
    /// duplicated).
    Io {
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::NoRegistry => {
                write!(f, "cannot register: the queue has no reader registry")
            }
            RegisterError::RegistryFull { readers_max } => write!(
                f,
                "cannot register: all {readers_max} reader records are taken by live readers"
            ),
            RegisterError::AlreadyRegistered { index } => {
                write!(
                    f,
                    "cannot register: this reader is registered already (record {index})"
                )
            }
            RegisterError::ReadOnly { queue } => write!(
                f,
                "cannot register with queue {queue}: its files are not writable by this user"
            ),
            RegisterError::Io { source } => write!(f, "cannot register: {source}"),
        }
    }
}

impl std::error::Error for RegisterError {}

impl From<fmq_core::RegisterError> for RegisterError {
    fn from(e: fmq_core::RegisterError) -> Self {
        match e {
            fmq_core::RegisterError::NoRegistry => RegisterError::NoRegistry,
            fmq_core::RegisterError::RegistryFull { readers_max } => {
                RegisterError::RegistryFull { readers_max }
            }
            fmq_core::RegisterError::AlreadyRegistered { index } => {
                RegisterError::AlreadyRegistered { index }
            }
        }
    }
}
