//! The writer lock (DESIGN §5, invariant 1): a non-blocking exclusive `flock` on
//! `NAME.lock`, held for the writer's whole life, with the writer's pid written in.
//!
//! The kernel drops a `flock` when the last descriptor of its open file description closes,
//! so a dead writer never leaves a stale lock. The descriptor is close-on-exec (std opens
//! every file with `O_CLOEXEC`): a child the writer spawns cannot keep the lock alive after
//! the writer dies. The lock file is opened with `O_NOFOLLOW` and created with mode 0644 by
//! default, never world-writable.
//!
//! `FMQ_USE_FILE_LOCKING` overrides locking as HDF5's variable of the same name does:
//! `FALSE`/`0` off, `TRUE`/`1` on, `BEST_EFFORT` on but tolerant of file systems without
//! locks (`ENOSYS`, `ENOLCK`, `EOPNOTSUPP`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::OpenError;
use crate::path::QueuePath;

/// Whether writers take the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Locking {
    /// No lock: the user promises one writer at a time.
    Off,
    /// Lock; fail if the file system cannot lock.
    #[default]
    On,
    /// Lock where the file system can; go on unlocked where it cannot.
    BestEffort,
}

impl Locking {
    /// The value of `FMQ_USE_FILE_LOCKING`, if set.
    pub fn from_env() -> Result<Option<Locking>, OpenError> {
        let Some(value) = std::env::var_os("FMQ_USE_FILE_LOCKING") else {
            return Ok(None);
        };
        let value = value.to_string_lossy().into_owned();
        match value.trim().to_ascii_uppercase().as_str() {
            "FALSE" | "0" => Ok(Some(Locking::Off)),
            "TRUE" | "1" => Ok(Some(Locking::On)),
            "BEST_EFFORT" => Ok(Some(Locking::BestEffort)),
            _ => Err(OpenError::BadLockingEnv { value }),
        }
    }

    /// The environment's choice if set (it overrides the program's, as in HDF5), else
    /// `requested`.
    pub fn resolve(requested: Locking) -> Result<Locking, OpenError> {
        Ok(Locking::from_env()?.unwrap_or(requested))
    }
}

/// A held writer lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct WriterLock {
    file: Option<File>,
    path: PathBuf,
}

impl WriterLock {
    /// Takes the lock of `queue` without waiting.
    pub fn acquire(
        queue: &QueuePath,
        locking: Locking,
        mode: u32,
    ) -> Result<WriterLock, OpenError> {
        let path = queue.lock_path().to_path_buf();
        if locking == Locking::Off {
            return Ok(WriterLock { file: None, path });
        }
        let dir = queue.lock_dir();
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| OpenError::io("create directory", dir, e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| OpenError::io("open lock file", &path, e))?;
        // SAFETY:
        // 1. `file` is an open descriptor owned by this function for the whole call.
        // 2. flock takes no pointers.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EWOULDBLOCK) => {
                    return Err(OpenError::Locked {
                        queue: queue.spec().to_string(),
                        pid: read_pid(&mut file),
                    })
                }
                Some(libc::ENOSYS | libc::ENOLCK | libc::EOPNOTSUPP)
                    if locking == Locking::BestEffort =>
                {
                    return Ok(WriterLock { file: None, path });
                }
                _ => return Err(OpenError::io("lock", &path, err)),
            }
        }
        let pid = std::process::id();
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(format!("{pid}\n").as_bytes()));
        written.map_err(|e| OpenError::io("write lock file", &path, e))?;
        Ok(WriterLock {
            file: Some(file),
            path,
        })
    }

    /// Whether a lock is really held (not with locking off, or best effort on a file system
    /// without locks).
    pub fn is_held(&self) -> bool {
        self.file.is_some()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// The pid written in a queue's lock file (the last writer's), if any.
pub fn lock_file_pid(queue: &QueuePath) -> Option<u32> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(queue.lock_path())
        .ok()?;
    read_pid(&mut file)
}

/// Whether a process with this pid exists (signal 0; `EPERM` means it exists).
pub fn pid_alive(pid: u32) -> bool {
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
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
