//! # fmq: a single-writer / multi-reader message queue between processes
//!
//! One [`Writer`] appends messages to a queue in shared memory or in memory-mapped files;
//! any number of [`Reader`]s, in any processes of the host, follow it. Each message has a
//! type, a subtype, a time and a 64-bit [`MessageId`]. The queue is a ring: when it is full
//! the writer overwrites the oldest messages, and a reader that fell behind is told exactly
//! how many it missed (see [Lagging](#lagging)). A writer that dies never leaves a torn
//! message: the next [`Writer::open`] recovers the queue.
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! # let queue = dir.path().join("radar");
//! use fmq::{CreateOptions, Reader, ReaderOptions, Writer};
//! use std::time::Duration;
//!
//! // `queue` is a path such as /data/fmq/radar (files radar.stat, radar.buf, radar.lock),
//! // or "shm:radar" for a shared-memory segment.
//! let mut writer = Writer::create(&queue, &CreateOptions::default())?;
//! let mut reader = Reader::open(&queue, &ReaderOptions::default())?;
//! writer.write(/* type */ 1, /* subtype */ 0, b"hello")?;
//! let msg = reader.read_timeout(Duration::from_secs(1))?;
//! assert_eq!(msg.payload, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! * **Naming**: a queue is a [`QueuePath`]; every function takes anything that is
//!   [`IntoQueuePath`] (`&str`, `String`, `&Path`, `PathBuf`).
//! * **Writing**: one writer per queue, enforced by a lock; a second gets
//!   [`OpenError::Locked`] with the first one's pid. [`Writer::flush`] makes what was
//!   written durable (file-backed queues).
//! * **Reading**: [`Reader::read`] waits (spin, then futex) as long as it takes,
//!   [`Reader::read_timeout`] and [`Reader::read_deadline`] wait a bounded time,
//!   [`Reader::try_read`] does not wait; [`Reader::messages`] is an iterator over owned
//!   messages. Readers never write to the queue unless they sleep or register, and read
//!   another user's queue through a read-only mapping.
//! * **Blocking mode** ([`CreateOptions::blocking`]): registered readers
//!   ([`Reader::register`]) are never overrun; the writer waits for them instead.
//! * **Administration**: [`info`], [`slots`], [`check`], [`clear`], [`remove`],
//!   [`force_remove`].
//!
//! ## Lagging
//!
//! A queue holds at most [`CreateOptions::slots_count`] messages, and at most
//! [`CreateOptions::buf_size_bytes`] of payload. A writer never waits for (unregistered)
//! readers: when the queue is full it overwrites the oldest messages. A reader that has not
//! read them by then *lags*: its next read returns [`ReadError::Lagged`] with a [`Lag`]
//! that says exactly how many ids it missed and where it resumes
//! ([`ReaderOptions::lag_policy`]: at the oldest message still there, by default, or at the
//! newest). The read after that returns the message it resumed at, so a reader loses
//! nothing silently: every id is either returned or counted in a `Lag`. The iterators yield
//! a lag as an item, [`Received::Lagged`].
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! # let queue = dir.path().join("q");
//! use fmq::{CreateOptions, Lag, MessageId, ReadError, Reader, ReaderOptions, StartAt, Writer};
//!
//! let mut writer = Writer::create(&queue, &CreateOptions { slots_count: 8, ..CreateOptions::default() })?;
//! let opts = ReaderOptions { start: StartAt::Oldest, ..ReaderOptions::default() };
//! let mut reader = Reader::open(&queue, &opts)?;
//! for i in 0..20u32 {
//!     writer.write(0, 0, &i.to_le_bytes())?;
//! }
//! // Ids 1..=12 were overwritten before the reader read them; 13..=20 are there.
//! let lag = Lag { missed_count: 12, resumed_at: MessageId(13) };
//! assert_eq!(reader.read().unwrap_err(), ReadError::Lagged(lag));
//! assert_eq!(reader.read()?.meta.id, MessageId(13));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A registered reader of a queue in blocking mode never lags: the writer waits for it
//! (for at most [`WriterOptions::write_timeout`]), unless it judges the reader dead.
//!
//! ## Safety
//!
//! `unsafe` lives in the private modules that map the queue's bytes, call the futex and
//! take locks, and in [`install_sigbus_guard`]; `docs/safety.md` lists every block. Nothing
//! read from a queue is trusted: a corrupt message is skipped with an error, never a panic.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod compress;
mod error;
mod lock;
mod map;
mod message;
mod path;
mod queue;
mod reader;
mod safepath;
#[cfg(fmq_sim)]
mod sim_os;
mod sys;
mod wait;
mod writer;

pub use compress::Compression;
pub use error::{
    AdminError, CreateError, FlushError, Lag, OpenError, ReadError, ReadTimeoutError,
    RegisterError, TryReadError, WriteError,
};
pub use fmq_core::{
    AttachError, ConfigError, CorruptReason, Header, LagPolicy, Layout, MessageId, MessageMeta,
    RecoverError, RecoveryReport, Slot, StartAt,
};
pub use lock::Locking;
pub use message::{Message, MessageRef, NewMessage, Received};
pub use path::{BadQueueName, IntoQueuePath, QueuePath};
pub use queue::{
    check, clear, force_remove, info, remove, slots, CheckReport, QueueInfo, RegisteredReader,
};
pub use reader::{Reader, ReaderOptions, WriterStatus};
pub use wait::WaitStrategy;
pub use writer::{now_ns, CreateOptions, DropReason, DroppedReader, Writer, WriterOptions};

// The README's examples run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The simulated operating system's interface (`--cfg fmq_sim` only): the simulator
/// (`sim/`) installs one, and fmq's file layer (`sys.rs`) calls it; not part of the API.
#[cfg(fmq_sim)]
#[doc(hidden)]
pub mod __sim {
    pub use crate::sim_os::{install, Fd, Kind, LockQuery, Meta, Os};
}

/// Hooks for fmq's own tests (fault injection in `create`); not part of the API.
#[doc(hidden)]
pub mod __test {
    pub use crate::map::{__set_create_fault as set_create_fault, CreateFault, CreateStep};
}

// Invariant 1: the writer moves between threads but is never shared or cloned.
static_assertions::assert_impl_all!(Writer: Send);
static_assertions::assert_not_impl_any!(Writer: Sync, Clone);
static_assertions::assert_impl_all!(Reader: Send);

const SIGBUS_MESSAGE: &[u8] =
    b"fmq: error: a queue file was truncated while mapped (SIGBUS); the queue is damaged\n";

extern "C" fn on_sigbus(_: libc::c_int) {
    // SAFETY:
    // 1. write(2) is async-signal-safe; the message is a static byte string of that length.
    unsafe {
        libc::write(2, SIGBUS_MESSAGE.as_ptr().cast(), SIGBUS_MESSAGE.len());
    }
    // SAFETY:
    // 1. _exit(2) is async-signal-safe; exiting at once is the only safe continuation, since
    //    the faulting access cannot be resumed.
    unsafe {
        libc::_exit(1);
    }
}

/// Turns a SIGBUS (a mapped queue file truncated by another program while being read) into
/// a one-line error on stderr and exit status 1, instead of "Bus error (core dumped)". For
/// programs such as the `fmq` tool; a library user may prefer their own handler.
pub fn install_sigbus_guard() {
    let handler: extern "C" fn(libc::c_int) = on_sigbus;
    // SAFETY:
    // 1. `sigaction` is a plain C struct for which all-zero bytes are a valid value (empty
    //    mask, no flags, default handler).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as libc::sighandler_t;
    // SAFETY:
    // 1. `action` is a valid `sigaction` whose handler has the signature the kernel calls
    //    for a handler without SA_SIGINFO, and only calls async-signal-safe functions.
    // 2. A null old-action pointer is allowed.
    unsafe {
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

/// Ignores SIGXFSZ, so that a file growing past the file size limit (`ulimit -f`) fails
/// with `EFBIG` (a one-line error, and a create cleans up) instead of killing the process.
/// For programs such as the `fmq` tool: a library does not change signal dispositions.
pub fn ignore_sigxfsz() {
    // SAFETY:
    // 1. Setting SIGXFSZ to SIG_IGN installs no handler code; the previous disposition,
    //    returned, is not needed.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}
