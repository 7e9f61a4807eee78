//! The one place fmq meets the operating system's file layer: names, inodes, descriptors,
//! locks, mappings, the clock and the process's identity.
//!
//! Every other module of the crate reaches files, locks and mappings through this facade,
//! never through `std::fs`, `libc` or `memmap2` directly (the tidy test in
//! `fmq/tests/tidy.rs` enforces it), so that the simulator can put a simulated file system
//! under the very code that ships, as fmq-core's `sync` facade does for atomics:
//!
//! * default: the real system calls ([`real`]);
//! * `--cfg fmq_sim`: every call goes to the [`crate::__sim::Os`] the simulator installed
//!   (`sim/src/fs/`), which models names to inodes, open file descriptions, `flock` and OFD
//!   locks, mappings, `fsync` of files and directories, processes that die between any two
//!   calls, and power losses.
//!
//! The facade is shaped by what fmq needs, not by POSIX: `open` always refuses symbolic
//! links (`O_NOFOLLOW` and `RESOLVE_NO_SYMLINKS`, see `crate::safepath`) and is close-on-exec,
//! `reserve` is `posix_fallocate` with its fallback, `link_unnamed` is the `linkat` that names
//! an `O_TMPFILE`.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fmq_core::sync::AtomicU64;

/// What `stat` says of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The device.
    pub dev: u64,
    /// The inode number.
    pub ino: u64,
    /// The size in bytes.
    pub len: u64,
    /// The owner.
    pub uid: u32,
    /// The type.
    pub kind: Kind,
}

/// A file's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Anything else (a device, a socket, a FIFO).
    Other,
}

impl Meta {
    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }
    /// A symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.kind == Kind::Symlink
    }
}

/// What a token query found on an OFD lock byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockQuery {
    /// Another open file description holds a write lock there.
    Held,
    /// Nobody else does.
    Free,
}

#[cfg(not(fmq_sim))]
pub(crate) use real::{File, Map};
#[cfg(fmq_sim)]
pub(crate) use simulated::{File, Map};

#[cfg(not(fmq_sim))]
use real as imp;
#[cfg(fmq_sim)]
use simulated as imp;

/// Opens `path` (absolute) with `flags` and `mode` for a created file, refusing symbolic
/// links in every component where the kernel can, and in the last one everywhere.
pub(crate) fn open(path: &Path, flags: i32, mode: u32) -> io::Result<File> {
    imp::open(path, flags, mode)
}

/// `lstat`.
pub(crate) fn symlink_metadata(path: &Path) -> io::Result<Meta> {
    imp::symlink_metadata(path)
}

/// `readlink`.
pub(crate) fn read_link(path: &Path) -> io::Result<PathBuf> {
    imp::read_link(path)
}

/// The working directory.
pub(crate) fn current_dir() -> io::Result<PathBuf> {
    imp::current_dir()
}

/// `rename(2)`: atomic, replacing `to`.
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    imp::rename(from, to)
}

/// `unlink(2)`.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    imp::remove_file(path)
}

/// `link(2)`: a second name of `from`'s inode.
pub(crate) fn hard_link(from: &Path, to: &Path) -> io::Result<()> {
    imp::hard_link(from, to)
}

/// `mkdir -p`.
pub(crate) fn create_dir_all(path: &Path) -> io::Result<()> {
    imp::create_dir_all(path)
}

/// The names in a directory (without `.` and `..`).
pub(crate) fn read_dir(path: &Path) -> io::Result<Vec<OsString>> {
    imp::read_dir(path)
}

/// `fsync` of a directory (best effort: a rename's durability, not its atomicity).
pub(crate) fn sync_dir(dir: &Path) {
    imp::sync_dir(dir)
}

/// Free bytes for files in `dir` (`statvfs`: available blocks times the fragment size).
pub(crate) fn free_bytes(dir: &Path) -> io::Result<u64> {
    imp::free_bytes(dir)
}

/// The process's file size limit (`RLIMIT_FSIZE`), if any.
pub(crate) fn file_size_limit() -> Option<u64> {
    imp::file_size_limit()
}

/// This process's id.
pub(crate) fn pid() -> u32 {
    imp::pid()
}

/// Whether a process with this pid exists.
pub(crate) fn pid_alive(pid: u32) -> bool {
    imp::pid_alive(pid)
}

/// The effective uid of this process.
pub(crate) fn euid() -> u32 {
    imp::euid()
}

/// `CLOCK_MONOTONIC` in nanoseconds.
pub(crate) fn monotonic_ns() -> u64 {
    imp::monotonic_ns()
}

/// The wall clock (`CLOCK_REALTIME`) in nanoseconds since the epoch; it can step back.
pub(crate) fn wall_ns() -> i64 {
    imp::wall_ns()
}

/// Sleeps (a retry loop's pause).
pub(crate) fn sleep(d: Duration) {
    imp::sleep(d)
}

/// 64 bits no other process can predict (temporary names).
pub(crate) fn random_u64() -> u64 {
    imp::random_u64()
}

/// The words of a mapping from byte `offset`, `words` long; the caller has checked
/// `offset % 64 == 0` and `offset + 8 * words <= map.len()`.
pub(crate) fn words(map: &Map, offset: usize, words: usize) -> &[AtomicU64] {
    assert!(offset % 64 == 0 && offset + words * 8 <= map.len());
    map.words(offset, words)
}

#[cfg(not(fmq_sim))]
mod real {
    //! The real system calls. This module and `wait.rs` hold the fmq crate's `unsafe` (see
    //! `docs/safety.md`).

    use std::ffi::{CString, OsString};
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{FileExt, MetadataExt};
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use fmq_core::sync::AtomicU64;
    use memmap2::{MmapOptions, MmapRaw};

    use super::{Kind, LockQuery, Meta};

    fn meta(m: &std::fs::Metadata) -> Meta {
        let t = m.file_type();
        Meta {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            uid: m.uid(),
            kind: if t.is_symlink() {
                Kind::Symlink
            } else if t.is_file() {
                Kind::File
            } else if t.is_dir() {
                Kind::Dir
            } else {
                Kind::Other
            },
        }
    }

    /// An open file: one descriptor, close-on-exec.
    #[derive(Debug)]
    pub(crate) struct File(std::fs::File);

    impl File {
        pub fn metadata(&self) -> io::Result<Meta> {
            self.0.metadata().map(|m| meta(&m))
        }
        pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            self.0.read_at(buf, offset)
        }
        pub fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
            self.0.write_all_at(buf, offset)
        }
        pub fn set_len(&self, len: u64) -> io::Result<()> {
            self.0.set_len(len)
        }
        pub fn sync_all(&self) -> io::Result<()> {
            self.0.sync_all()
        }
        /// A second descriptor of the same open file description (its OFD locks are shared).
        pub fn try_clone(&self) -> io::Result<File> {
            self.0.try_clone().map(File)
        }

        /// Reserves `len` bytes: `posix_fallocate`, else (a file system without it) the
        /// length, then one byte written per page with `pwrite` (never through a mapping, so
        /// a full file system is an error here, not a SIGBUS later).
        pub fn reserve(&self, len: u64) -> io::Result<()> {
            let off_len = libc::off_t::try_from(len)
                .map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
            // SAFETY:
            // 1. `self` owns an open descriptor for the whole call.
            // 2. posix_fallocate takes no pointers and returns its error instead of setting
            //    errno.
            let rc = unsafe { libc::posix_fallocate(self.0.as_raw_fd(), 0, off_len) };
            match rc {
                0 => Ok(()),
                libc::EOPNOTSUPP | libc::EINVAL => {
                    self.0.set_len(len)?;
                    const PAGE: u64 = 4096;
                    let mut at = 0;
                    while at < len {
                        self.0.write_all_at(&[0], at)?;
                        at += PAGE;
                    }
                    if len > 0 {
                        self.0.write_all_at(&[0], len - 1)?;
                    }
                    Ok(())
                }
                e => Err(io::Error::from_raw_os_error(e)),
            }
        }

        /// A non-blocking exclusive `flock`; `EWOULDBLOCK` when another open file description
        /// holds it.
        pub fn flock_exclusive(&self) -> io::Result<()> {
            // SAFETY:
            // 1. `self` owns an open descriptor for the whole call.
            // 2. flock takes no pointers.
            let rc = unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        }

        fn ofd_lock(
            &self,
            cmd: libc::c_int,
            kind: libc::c_short,
            offset: u64,
        ) -> io::Result<libc::flock> {
            // SAFETY:
            // 1. `flock` is a plain C struct for which all-zero bytes are a valid value
            //    (l_pid must be 0 for the OFD commands).
            let mut fl: libc::flock = unsafe { std::mem::zeroed() };
            fl.l_type = kind;
            fl.l_whence = libc::SEEK_SET as libc::c_short;
            fl.l_start = offset as libc::off_t;
            fl.l_len = 1;
            // SAFETY:
            // 1. `self` owns an open descriptor for the whole call.
            // 2. `fl` is a valid, initialised `struct flock` that fcntl may read and (for
            //    F_OFD_GETLK) write; it outlives the call.
            let rc = unsafe { libc::fcntl(self.0.as_raw_fd(), cmd, &mut fl as *mut libc::flock) };
            if rc == 0 {
                Ok(fl)
            } else {
                Err(io::Error::last_os_error())
            }
        }

        /// `F_OFD_SETLK` of a write lock on the byte at `offset`: `EAGAIN`/`EACCES` when
        /// another open file description holds it.
        pub fn ofd_lock_byte(&self, offset: u64) -> io::Result<()> {
            self.ofd_lock(libc::F_OFD_SETLK, libc::F_WRLCK as libc::c_short, offset)
                .map(|_| ())
        }

        /// `F_OFD_SETLK` of `F_UNLCK` on the byte at `offset`.
        pub fn ofd_unlock_byte(&self, offset: u64) -> io::Result<()> {
            self.ofd_lock(libc::F_OFD_SETLK, libc::F_UNLCK as libc::c_short, offset)
                .map(|_| ())
        }

        /// `F_OFD_GETLK` of a write lock on the byte at `offset`.
        pub fn ofd_query_byte(&self, offset: u64) -> io::Result<LockQuery> {
            let fl = self.ofd_lock(libc::F_OFD_GETLK, libc::F_WRLCK as libc::c_short, offset)?;
            Ok(if fl.l_type == libc::F_UNLCK as libc::c_short {
                LockQuery::Free
            } else {
                LockQuery::Held
            })
        }

        /// Gives this unnamed (`O_TMPFILE`) file the name `to`: `linkat` of
        /// `/proc/self/fd/N` with `AT_SYMLINK_FOLLOW` (needs no privilege), else
        /// `AT_EMPTY_PATH` (needs `CAP_DAC_READ_SEARCH`) where `/proc` is not mounted.
        pub fn link_unnamed(&self, to: &Path) -> io::Result<()> {
            let to_c = c_path(to)?;
            let proc_path = CString::new(format!("/proc/self/fd/{}", self.0.as_raw_fd()))
                .map_err(|_| io::Error::other("NUL in a /proc path"))?;
            // SAFETY:
            // 1. `proc_path` and `to_c` are NUL-terminated strings that live for the whole
            //    call.
            // 2. `AT_FDCWD` is a valid directory descriptor value; `linkat` keeps no pointer.
            let rc = unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    proc_path.as_ptr(),
                    libc::AT_FDCWD,
                    to_c.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                )
            };
            if rc == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ENOENT) {
                return Err(err);
            }
            let empty = c"";
            // SAFETY:
            // 1. `self` owns an open descriptor for the whole call; `empty` and `to_c` are
            //    NUL-terminated strings that live for the whole call.
            // 2. `AT_EMPTY_PATH` makes `linkat` use the descriptor itself; it keeps no
            //    pointer.
            let rc = unsafe {
                libc::linkat(
                    self.0.as_raw_fd(),
                    empty.as_ptr(),
                    libc::AT_FDCWD,
                    to_c.as_ptr(),
                    libc::AT_EMPTY_PATH,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        }
    }

    /// A shared mapping of a file (`MAP_SHARED`).
    pub(crate) struct Map(MmapRaw);

    impl Map {
        /// Maps the first `len` bytes of `file`, read-write or read-only.
        pub fn new(file: &File, len: usize, writable: bool) -> io::Result<Map> {
            let mut opts = MmapOptions::new();
            opts.len(len);
            if writable {
                opts.map_raw(&file.0)
            } else {
                opts.map_raw_read_only(&file.0)
            }
            .map(Map)
        }
        pub fn len(&self) -> usize {
            self.0.len()
        }
        /// `msync` of the whole mapping.
        pub fn flush(&self) -> io::Result<()> {
            self.0.flush()
        }
        /// `msync` of the pages holding `offset..offset + len`.
        pub fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
            self.0.flush_range(offset, len)
        }
        pub(super) fn words(&self, offset: usize, words: usize) -> &[AtomicU64] {
            let ptr = self.0.as_ptr().wrapping_add(offset).cast::<AtomicU64>();
            // SAFETY:
            // 1. Alignment: mmap returns a page-aligned address and `offset` is a multiple of
            //    64 (asserted by `super::words`), so `ptr` is aligned for `AtomicU64` (8).
            // 2. Bounds: `offset + 8 * words <= self.len()` (asserted by `super::words`), so
            //    the slice lies inside the mapping, which `self` keeps alive for as long as
            //    the returned borrow lives (a `Map` is never unmapped or remapped while
            //    borrowed).
            // 3. Validity: `AtomicU64` has the size and alignment of `u64` and every bit
            //    pattern is a valid value; it has interior mutability, so a shared slice over
            //    memory that other processes change is sound as long as every access is
            //    atomic, which the protocol guarantees in every process (DESIGN invariant 3).
            // 4. Read-only mappings are only loaded from: fmq's readers never store to them
            //    (the wake flag is set only when the region is writable).
            unsafe { std::slice::from_raw_parts(ptr, words) }
        }
    }

    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }

    pub(super) fn open(path: &Path, flags: libc::c_int, mode: u32) -> io::Result<File> {
        let c_path = c_path(path)?;
        let flags = flags | libc::O_CLOEXEC | libc::O_NOFOLLOW;
        let how = OpenHow {
            flags: flags as u64,
            mode: if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
                u64::from(mode)
            } else {
                0
            },
            resolve: libc::RESOLVE_NO_SYMLINKS,
        };
        // SAFETY:
        // 1. `c_path` is a NUL-terminated string that lives across the call.
        // 2. `how` is a properly initialised `struct open_how` (three u64 fields, repr(C))
        //    and its exact size is passed, as openat2(2) requires.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::AT_FDCWD,
                c_path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        let fd = if fd >= 0 {
            fd as libc::c_int
        } else {
            let err = io::Error::last_os_error();
            // ENOSYS: a kernel before 5.6; EPERM: a seccomp filter that refuses openat2.
            if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
                return Err(err);
            }
            // SAFETY:
            // 1. `c_path` is a NUL-terminated string that lives across the call.
            // 2. The mode argument is read by open(2) only with O_CREAT or O_TMPFILE.
            let fd = unsafe { libc::open(c_path.as_ptr(), flags, mode as libc::c_uint) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            fd
        };
        // SAFETY:
        // 1. `fd` was just returned by a successful open and is owned by nobody else.
        Ok(File(unsafe { std::fs::File::from_raw_fd(fd) }))
    }

    fn c_path(path: &Path) -> io::Result<CString> {
        CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
    }

    pub(super) fn symlink_metadata(path: &Path) -> io::Result<Meta> {
        std::fs::symlink_metadata(path).map(|m| meta(&m))
    }
    pub(super) fn read_link(path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }
    pub(super) fn current_dir() -> io::Result<PathBuf> {
        std::env::current_dir()
    }
    pub(super) fn rename(from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    pub(super) fn remove_file(path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    pub(super) fn hard_link(from: &Path, to: &Path) -> io::Result<()> {
        std::fs::hard_link(from, to)
    }
    pub(super) fn create_dir_all(path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    pub(super) fn read_dir(path: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect()
    }
    pub(super) fn sync_dir(dir: &Path) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }

    pub(super) fn free_bytes(dir: &Path) -> io::Result<u64> {
        let c = c_path(dir)?;
        // SAFETY:
        // 1. `statvfs` is a plain C struct for which all-zero bytes are a valid value.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY:
        // 1. `c` is a NUL-terminated path and `st` a valid, writable `statvfs`, both alive
        //    for the whole call; statvfs keeps neither pointer.
        let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }

    pub(super) fn file_size_limit() -> Option<u64> {
        // SAFETY:
        // 1. `rlimit` is a plain C struct for which all-zero bytes are a valid value.
        let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY:
        // 1. `lim` is a valid, writable `rlimit` alive for the whole call; getrlimit keeps no
        //    pointer.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) };
        (rc == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
    }

    pub(super) fn pid() -> u32 {
        std::process::id()
    }

    pub(super) fn pid_alive(pid: u32) -> bool {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY:
        // 1. kill with signal 0 sends nothing: it only checks that the pid exists.
        // 2. pid is positive, so it names one process, not a group.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }

    pub(super) fn euid() -> u32 {
        // SAFETY:
        // 1. geteuid takes no arguments, cannot fail and touches no memory of ours.
        unsafe { libc::geteuid() }
    }

    pub(super) fn monotonic_ns() -> u64 {
        crate::wait::monotonic_ns()
    }

    pub(super) fn wall_ns() -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        }
    }

    pub(super) fn sleep(d: Duration) {
        std::thread::sleep(d)
    }

    pub(super) fn random_u64() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        // `RandomState` keys come from the OS's random source, once per thread, and every
        // new `RandomState` of a thread has different keys: two calls never hash alike.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(wall_ns());
        h.write_u32(std::process::id());
        h.finish()
    }
}

#[cfg(fmq_sim)]
mod simulated {
    //! Every call goes to the simulated operating system the simulator installed
    //! ([`crate::__sim::install`]).

    use std::ffi::OsString;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;

    use fmq_core::sync::AtomicU64;

    use super::{LockQuery, Meta};
    use crate::sim_os::{os, Fd};

    /// A descriptor of the simulated kernel; closed when dropped.
    #[derive(Debug)]
    pub(crate) struct File(Fd);

    impl Drop for File {
        fn drop(&mut self) {
            os().close(self.0);
        }
    }

    impl File {
        pub fn metadata(&self) -> io::Result<Meta> {
            os().fstat(self.0)
        }
        pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            os().pread(self.0, buf, offset)
        }
        pub fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
            os().pwrite(self.0, buf, offset)
        }
        pub fn set_len(&self, len: u64) -> io::Result<()> {
            os().ftruncate(self.0, len)
        }
        pub fn sync_all(&self) -> io::Result<()> {
            os().fsync(self.0)
        }
        pub fn try_clone(&self) -> io::Result<File> {
            os().dup(self.0).map(File)
        }
        pub fn reserve(&self, len: u64) -> io::Result<()> {
            os().fallocate(self.0, len)
        }
        pub fn flock_exclusive(&self) -> io::Result<()> {
            os().flock_exclusive(self.0)
        }
        pub fn ofd_lock_byte(&self, offset: u64) -> io::Result<()> {
            os().ofd_lock_byte(self.0, offset)
        }
        pub fn ofd_unlock_byte(&self, offset: u64) -> io::Result<()> {
            os().ofd_unlock_byte(self.0, offset)
        }
        pub fn ofd_query_byte(&self, offset: u64) -> io::Result<LockQuery> {
            os().ofd_query_byte(self.0, offset)
        }
        pub fn link_unnamed(&self, to: &Path) -> io::Result<()> {
            os().link_fd(self.0, to)
        }
    }

    /// A shared mapping: the simulated inode's words, and a descriptor for `msync`.
    pub(crate) struct Map {
        words: Arc<[AtomicU64]>,
        len: usize,
        file: File,
    }

    impl Map {
        pub fn new(file: &File, len: usize, writable: bool) -> io::Result<Map> {
            let words = os().map(file.0, len, writable)?;
            Ok(Map {
                words,
                len,
                file: file.try_clone()?,
            })
        }
        pub fn len(&self) -> usize {
            self.len
        }
        pub fn flush(&self) -> io::Result<()> {
            os().msync(self.file.0, 0, self.len as u64)
        }
        pub fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
            os().msync(self.file.0, offset as u64, len as u64)
        }
        pub(super) fn words(&self, offset: usize, words: usize) -> &[AtomicU64] {
            &self.words[offset / 8..offset / 8 + words]
        }
    }

    pub(super) fn open(path: &Path, flags: i32, mode: u32) -> io::Result<File> {
        os().open(path, flags, mode).map(File)
    }
    pub(super) fn symlink_metadata(path: &Path) -> io::Result<Meta> {
        os().lstat(path)
    }
    pub(super) fn read_link(path: &Path) -> io::Result<PathBuf> {
        os().read_link(path)
    }
    pub(super) fn current_dir() -> io::Result<PathBuf> {
        Ok(PathBuf::from("/"))
    }
    pub(super) fn rename(from: &Path, to: &Path) -> io::Result<()> {
        os().rename(from, to)
    }
    pub(super) fn remove_file(path: &Path) -> io::Result<()> {
        os().unlink(path)
    }
    pub(super) fn hard_link(from: &Path, to: &Path) -> io::Result<()> {
        os().link(from, to)
    }
    pub(super) fn create_dir_all(path: &Path) -> io::Result<()> {
        os().mkdir_all(path)
    }
    pub(super) fn read_dir(path: &Path) -> io::Result<Vec<OsString>> {
        os().read_dir(path)
    }
    pub(super) fn sync_dir(dir: &Path) {
        let _ = os().fsync_dir(dir);
    }
    pub(super) fn free_bytes(dir: &Path) -> io::Result<u64> {
        os().free_bytes(dir)
    }
    pub(super) fn file_size_limit() -> Option<u64> {
        None
    }
    pub(super) fn pid() -> u32 {
        os().pid()
    }
    pub(super) fn pid_alive(pid: u32) -> bool {
        os().pid_alive(pid)
    }
    pub(super) fn euid() -> u32 {
        os().euid()
    }
    pub(super) fn monotonic_ns() -> u64 {
        os().monotonic_ns()
    }
    pub(super) fn wall_ns() -> i64 {
        os().wall_ns()
    }
    pub(super) fn sleep(d: Duration) {
        os().sleep(d)
    }
    pub(super) fn random_u64() -> u64 {
        os().random_u64()
    }
}
