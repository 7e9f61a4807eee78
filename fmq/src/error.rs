//! Errors of the fmq crate, one enum per operation: opening (create, open, attach,
//! administration), reading, waiting. Writing reuses the core's `WriteError`. Messages are
//! lowercase, one line, and carry the paths and numbers a user needs.

use std::fmt;
use std::io;
use std::path::PathBuf;

use fmq_core::{AttachError, ConfigError, CorruptReason, FormatError, MessageId, RecoverError};

use crate::path::BadQueueName;

/// Creating, opening or administering a queue failed.
#[derive(Debug)]
pub enum OpenError {
    /// The spec names no queue.
    BadName(BadQueueName),
    /// The queue's files (or segment) do not exist.
    NotFound {
        /// The queue spec.
        queue: String,
    },
    /// `create` without `force` over a queue that exists.
    AlreadyExists {
        /// The queue spec.
        queue: String,
    },
    /// Another writer holds the lock.
    Locked {
        /// The queue spec.
        queue: String,
        /// The pid the lock file names, if readable.
        pid: Option<u32>,
    },
    /// A queue or lock file is a symbolic link; fmq does not follow them.
    Symlink {
        /// The link.
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
        source: AttachError,
    },
    /// The queue header names a compression codec this crate does not know.
    UnknownCodec {
        /// The queue spec.
        queue: String,
        /// The codec number.
        codec: u32,
    },
    /// Sizes for a new queue are not allowed.
    Config(ConfigError),
    /// Formatting a new queue failed.
    Format(FormatError),
    /// Taking over the queue as its new writer failed.
    Recover {
        /// The queue spec.
        queue: String,
        /// Why.
        source: RecoverError,
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
    /// A new queue file would exceed the process's file size limit (`ulimit -f`).
    FileSizeLimit {
        /// The queue spec.
        queue: String,
        /// The file.
        file: PathBuf,
        /// Its size.
        needed: u64,
        /// The limit (`RLIMIT_FSIZE`).
        limit: u64,
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
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::BadName(e) => e.fmt(f),
            OpenError::NotFound { queue } => write!(f, "queue {queue} does not exist"),
            OpenError::AlreadyExists { queue } => {
                write!(
                    f,
                    "queue {queue} already exists (use --force to re-create it)"
                )
            }
            OpenError::Locked {
                queue,
                pid: Some(pid),
            } => {
                write!(f, "queue {queue} is already open for writing by pid {pid}")
            }
            OpenError::Locked { queue, pid: None } => {
                write!(
                    f,
                    "queue {queue} is already open for writing by another process"
                )
            }
            OpenError::Symlink { file } => {
                write!(f, "refusing to follow the symbolic link {}", file.display())
            }
            OpenError::BadLockingEnv { value } => write!(
                f,
                "FMQ_USE_FILE_LOCKING must be FALSE, 0, TRUE, 1 or BEST_EFFORT, not {value:?}"
            ),
            OpenError::Io { op, file, source } => {
                write!(f, "cannot {op} {}: {source}", file.display())
            }
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
            OpenError::MismatchedFiles {
                queue,
                stat_generation,
                buf_generation,
            } => write!(
                f,
                "queue {queue}: the .buf file belongs to another queue (generation \
                 {buf_generation}, .stat says {stat_generation})"
            ),
            OpenError::Attach { queue, source } => write!(f, "queue {queue}: {source}"),
            OpenError::UnknownCodec { queue, codec } => {
                write!(f, "queue {queue}: unknown compression codec {codec}")
            }
            OpenError::Config(e) => e.fmt(f),
            OpenError::Format(e) => e.fmt(f),
            OpenError::Recover { queue, source } => write!(f, "queue {queue}: {source}"),
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
            OpenError::RemoveIncomplete {
                queue,
                file,
                source,
            } => write!(
                f,
                "queue {queue} was removed, but {} could not be deleted: {source}",
                file.display()
            ),
            OpenError::NoSpace {
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
                        " (shared memory: a container's /dev/shm is 64 MiB unless it runs \
                         with a larger --shm-size; FMQ_SHM_DIR moves the segments)"
                    )?;
                }
                Ok(())
            }
            OpenError::FileSizeLimit {
                queue,
                file,
                needed,
                limit,
            } => write!(
                f,
                "queue {queue}: {} would have {needed} bytes, above this process's file size \
                 limit of {limit} (ulimit -f)",
                file.display()
            ),
        }
    }
}

/// `Display` carries every cause (`Io`'s `source` among them), so `source()` returns none:
/// a chain printer (anyhow's `{:#}`) would otherwise print the cause twice.
impl std::error::Error for OpenError {}

impl From<BadQueueName> for OpenError {
    fn from(e: BadQueueName) -> Self {
        OpenError::BadName(e)
    }
}

/// A read returned no message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// No new message yet (`try_read`).
    Empty,
    /// No new message arrived within the timeout (`read`).
    TimedOut,
    /// The writer overwrote messages this reader had not read: exactly `missed_count` ids
    /// were lost; the next read returns `resumed_at` if it is still present.
    Lagged {
        /// Ids lost.
        missed_count: u64,
        /// Where the reader resumes.
        resumed_at: MessageId,
    },
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
    /// A compressed message claims an expanded size above the reader's limit; skipped
    /// without allocating.
    TooLarge {
        /// Its id.
        id: MessageId,
        /// The expanded size it claims.
        raw_len: u64,
        /// The limit.
        max: u64,
    },
    /// The queue was formatted again in place since this reader attached: open it again.
    GenerationChanged,
    /// Blocking mode: the writer unregistered this registered reader as dead (its heartbeat
    /// was older than the queue's reader timeout); nothing was read. The reader goes on
    /// unregistered and may register again.
    Unregistered {
        /// The record it held.
        index: u32,
    },
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

    /// Whether the reader can go on reading after this error (lag, a skipped corrupt
    /// message, nothing yet); `false` means it must be opened again.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            ReadError::Empty
                | ReadError::TimedOut
                | ReadError::Lagged { .. }
                | ReadError::Corrupt { .. }
                | ReadError::BadCompressed { .. }
                | ReadError::TooLarge { .. }
                | ReadError::Unregistered { .. }
        )
    }
}

/// Why [`Reader::register`](crate::Reader::register) failed.
#[derive(Debug)]
pub enum RegisterError {
    /// The protocol refused it (no registry, all records taken, registered already).
    Core(fmq_core::RegisterError),
    /// The reader's mapping is read-only (a queue this user cannot write): a registered
    /// reader writes its record.
    ReadOnly {
        /// The queue.
        queue: String,
    },
    /// The reader's record token could not be set up (a descriptor could not be duplicated).
    Io {
        /// The error.
        source: std::io::Error,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Core(e) => write!(f, "cannot register: {e}"),
            RegisterError::ReadOnly { queue } => write!(
                f,
                "cannot register with queue {queue}: its files are not writable by this user"
            ),
            RegisterError::Io { source } => write!(f, "cannot register: {source}"),
        }
    }
}

impl std::error::Error for RegisterError {}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Empty => write!(f, "no new message"),
            ReadError::TimedOut => write!(f, "no new message before the timeout"),
            ReadError::Lagged {
                missed_count,
                resumed_at,
            } => write!(
                f,
                "reader lagged: missed {missed_count} messages, resuming at id {resumed_at}"
            ),
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
            ReadError::GenerationChanged => write!(f, "queue was re-created; open it again"),
            ReadError::Unregistered { index } => write!(
                f,
                "the writer unregistered this reader (record {index}) as dead; it reads on \
                 unregistered"
            ),
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

impl From<fmq_core::ReadError> for ReadError {
    fn from(e: fmq_core::ReadError) -> Self {
        match e {
            fmq_core::ReadError::Empty => ReadError::Empty,
            fmq_core::ReadError::Lagged {
                missed_count,
                resumed_at,
            } => ReadError::Lagged {
                missed_count,
                resumed_at,
            },
            // The fmq reader sizes its own buffer; this cannot reach users, but map it to a
            // non-recoverable state rather than panic.
            fmq_core::ReadError::BufferTooSmall { .. } => ReadError::GenerationChanged,
            fmq_core::ReadError::Corrupt { id, reason } => ReadError::Corrupt { id, reason },
            fmq_core::ReadError::GenerationChanged { .. } => ReadError::GenerationChanged,
            fmq_core::ReadError::Unregistered { index } => ReadError::Unregistered { index },
        }
    }
}
