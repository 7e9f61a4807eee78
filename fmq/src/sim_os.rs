//! The simulated operating system's interface (`--cfg fmq_sim` only): what `crate::sys` asks
//! of the file layer, as a trait the simulator implements (`sim/src/fs/`). Not part of the
//! API.
//!
//! Every call is made by the *current simulated process*, which the implementation knows
//! (the simulator runs each simulated process on a thread of its own). Errors are
//! `io::Error`s with the errno a Linux kernel would give (`from_raw_os_error`), since fmq's
//! code matches on them.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fmq_core::sync::AtomicU64;

pub use crate::sys::{Kind, LockQuery, Meta};

/// A descriptor of the simulated kernel.
pub type Fd = u64;

/// The file layer under fmq, simulated.
pub trait Os: Send + Sync {
    /// `open` with `flags` (`O_RDONLY`, `O_RDWR`, `O_CREAT`, `O_EXCL`, `O_TMPFILE` (then
    /// `path` is the directory), `O_NONBLOCK`) and `mode`; a symbolic link in any component
    /// fails with `ELOOP`.
    fn open(&self, path: &Path, flags: i32, mode: u32) -> io::Result<Fd>;
    /// Closes a descriptor (a dead process's descriptors are closed already: no effect).
    fn close(&self, fd: Fd);
    /// A second descriptor of the same open file description.
    fn dup(&self, fd: Fd) -> io::Result<Fd>;
    /// `fstat`.
    fn fstat(&self, fd: Fd) -> io::Result<Meta>;
    /// `lstat`.
    fn lstat(&self, path: &Path) -> io::Result<Meta>;
    /// `readlink`.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    /// `pread`.
    fn pread(&self, fd: Fd, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// `pwrite` of all of `buf`.
    fn pwrite(&self, fd: Fd, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `ftruncate`.
    fn ftruncate(&self, fd: Fd, len: u64) -> io::Result<()>;
    /// `posix_fallocate(fd, 0, len)`: `ENOSPC` when the file system has not the room.
    fn fallocate(&self, fd: Fd, len: u64) -> io::Result<()>;
    /// `fsync` of a file: its data and size become durable (not its names).
    fn fsync(&self, fd: Fd) -> io::Result<()>;
    /// `fsync` of a directory: its entries become durable.
    fn fsync_dir(&self, dir: &Path) -> io::Result<()>;
    /// `flock(LOCK_EX | LOCK_NB)`: `EWOULDBLOCK` when another open file description holds it.
    fn flock_exclusive(&self, fd: Fd) -> io::Result<()>;
    /// `F_OFD_SETLK` write lock of one byte: `EAGAIN` when another description holds it.
    fn ofd_lock_byte(&self, fd: Fd, offset: u64) -> io::Result<()>;
    /// `F_OFD_SETLK` unlock of one byte.
    fn ofd_unlock_byte(&self, fd: Fd, offset: u64) -> io::Result<()>;
    /// `F_OFD_GETLK` of one byte.
    fn ofd_query_byte(&self, fd: Fd, offset: u64) -> io::Result<LockQuery>;
    /// `rename(2)`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// `unlink(2)`.
    fn unlink(&self, path: &Path) -> io::Result<()>;
    /// `link(2)`.
    fn link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// `linkat` of an unnamed (`O_TMPFILE`) file's descriptor to `to`.
    fn link_fd(&self, fd: Fd, to: &Path) -> io::Result<()>;
    /// `mkdir -p`.
    fn mkdir_all(&self, path: &Path) -> io::Result<()>;
    /// The names in a directory.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    /// Free bytes of the file system holding `path`.
    fn free_bytes(&self, path: &Path) -> io::Result<u64>;
    /// `mmap(MAP_SHARED)` of the first `len` bytes: the inode's words themselves (every
    /// mapping of an inode shares them, as the page cache does).
    fn map(&self, fd: Fd, len: usize, writable: bool) -> io::Result<Arc<[AtomicU64]>>;
    /// `msync(MS_SYNC)` of the pages holding `offset..offset + len` of `fd`'s file.
    fn msync(&self, fd: Fd, offset: u64, len: u64) -> io::Result<()>;
    /// The current process's pid.
    fn pid(&self) -> u32;
    /// Whether a process lives.
    fn pid_alive(&self, pid: u32) -> bool;
    /// The current process's effective uid.
    fn euid(&self) -> u32;
    /// The simulated `CLOCK_MONOTONIC`.
    fn monotonic_ns(&self) -> u64;
    /// The simulated wall clock (it may step back, as NTP does).
    fn wall_ns(&self) -> i64;
    /// A pause of a retry loop: simulated time passes, other processes run.
    fn sleep(&self, d: Duration);
    /// Random bits from the seed (temporary names).
    fn random_u64(&self) -> u64;
}

static OS: OnceLock<Box<dyn Os>> = OnceLock::new();

/// Installs the simulated operating system, once per process; every later call of fmq's
/// file layer goes to it. Returns `false` if one was installed already.
pub fn install(os: Box<dyn Os>) -> bool {
    OS.set(os).is_ok()
}

pub(crate) fn os() -> &'static dyn Os {
    match OS.get() {
        Some(os) => os.as_ref(),
        None => panic!("fmq built with --cfg fmq_sim needs fmq::__sim::install first"),
    }
}
