//! # fmq: a single-writer / multi-reader message queue between processes
//!
//! The std library over [`fmq_core`]'s protocol: shared-memory and file-backed queues
//! (memory-mapped with memmap2), the writer lock, safe opening and recovery of a queue whose
//! writer died, futex waiting, LZ4 compression, and `flush()` durability.
//!
//! * A queue spec is `DIR/NAME` (files `NAME.stat`, `NAME.buf`, lock `NAME.lock`),
//!   `DIR/shmem_KEY` or `shm:NAME` (a segment in `/dev/shm`); see [`path`].
//! * One [`Writer`] per queue, enforced by a non-blocking `flock` ([`lock`]); a second gets
//!   "queue Q is already open for writing by pid N".
//! * Any number of [`Reader`]s in any processes; [`Reader::read`] waits (spin, then futex)
//!   with a timeout; lag is [`ReadError::Lagged`] with the exact count.
//!
//! ```no_run
//! use fmq::{CreateOptions, Reader, ReaderOptions, Writer};
//! use std::time::Duration;
//!
//! let mut writer = Writer::create("shm:example", &CreateOptions::default())?;
//! let mut reader = Reader::open("shm:example", ReaderOptions::default())?;
//! writer.write(/* type */ 1, /* subtype */ 0, b"hello")?;
//! let msg = reader.read(Some(Duration::from_secs(1)))?;
//! assert_eq!(msg.data, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `unsafe` lives in `map.rs` (bytes become atomics), `wait.rs` (futex), `lock.rs` (flock,
//! kill) and [`install_sigbus_guard`]; `docs/safety.md` lists every block.

pub mod compress;
pub mod error;
pub mod lock;
pub mod map;
pub mod path;
pub mod queue;
pub mod reader;
mod safepath;
pub mod wait;
pub mod writer;

pub use compress::Compression;
pub use error::{OpenError, ReadError, RegisterError};
pub use fmq_core::{Header, LagPolicy, MessageId, MessageMeta, NewMessage, Slot, StartAt};
pub use lock::Locking;
pub use path::QueuePath;
pub use queue::{CheckReport, QueueInfo, RegisteredReader};
pub use reader::{Msg, Reader, ReaderOptions, WriterStatus};
pub use wait::monotonic_ns;
pub use wait::WaitStrategy;
pub use writer::{now_ns, CreateOptions, DropReason, DroppedReader, WriteError, Writer};

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
