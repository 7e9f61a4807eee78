//! The writer lock (DESIGN §5, invariant 1): a non-blocking exclusive `flock` on
//! `NAME.lock`, held for the writer's whole life, with the writer's pid written in, and the
//! tokens that tie liveness to the queue itself.
//!
//! The lock file serialises creators and removers of one name. What proves that a queue has
//! a live writer is the writer's *token*: an OFD lock (`F_OFD_SETLK`) on one byte of the
//! queue's first data file (the segment or `.stat`). It follows the data's inode, however the
//! queue is named (`DIR1/shmem_77` and `DIR2/shmem_77`, a symlink, a hard link, a lock file
//! someone removed), and the kernel drops it when the writer dies, whatever pid namespace
//! it runs in. Registered readers hold a token of their own per record
//! ([`reader_token`]), so a blocking writer can tell a dead reader from a live one without
//! trusting pids.
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

use std::path::{Path, PathBuf};

use crate::error::OpenError;
use crate::path::QueuePath;
use crate::safepath;
use crate::sys::{self, File, LockQuery};

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
///
/// The lock file is found with the LockedOpen pattern: open (creating it if missing), check
/// that it is an fmq lock file (a regular file of at most 32 bytes holding nothing or a pid,
/// owned by this user, by the queue's owner or by root), `flock` it without waiting, then
/// check that the name still leads to the locked inode, and start again if it does not (the
/// file was unlinked or replaced between the open and the lock). So unlinking a lock file
/// while holding it is safe: whoever opened the old inode finds out and retries. The pid is
/// written only after the caller has checked that the queue's files are fmq's
/// ([`WriterLock::write_pid`]).
#[derive(Debug)]
pub struct WriterLock {
    file: Option<File>,
    path: PathBuf,
    /// This call created the lock file (a refused create removes it again).
    created: bool,
}

/// Attempts of the LockedOpen loop before giving up (another process keeps replacing the
/// lock file).
const LOCK_ATTEMPTS: u32 = 100;

impl WriterLock {
    /// Takes the lock of `queue` without waiting. `queue_owner` is the uid owning the
    /// queue's data, if it exists: a pre-existing lock file must belong to this user, to
    /// that owner or to root.
    pub fn acquire(
        queue: &QueuePath,
        locking: Locking,
        mode: u32,
    ) -> Result<WriterLock, OpenError> {
        let path = queue.lock_path().to_path_buf();
        if locking == Locking::Off {
            return Ok(WriterLock {
                file: None,
                path,
                created: false,
            });
        }
        let dir = queue.lock_dir();
        if !dir.as_os_str().is_empty() {
            sys::create_dir_all(dir).map_err(|e| OpenError::io("create directory", dir, e))?;
        }
        let queue_owner = crate::queue::data_owner(queue);
        for _ in 0..LOCK_ATTEMPTS {
            let (file, created) = open_lock_file(&path, mode)?;
            if !created {
                check_lock_file(&path, &file, queue_owner)?;
            }
            test_delay("FMQ_TEST_DELAY_BEFORE_FLOCK_MS");
            if let Err(err) = file.flock_exclusive() {
                match err.raw_os_error() {
                    Some(libc::EWOULDBLOCK) => {
                        return Err(OpenError::Locked {
                            queue: queue.spec().to_string(),
                            pid: read_pid(&file),
                        })
                    }
                    Some(libc::ENOSYS | libc::ENOLCK | libc::EOPNOTSUPP)
                        if locking == Locking::BestEffort =>
                    {
                        return Ok(WriterLock {
                            file: None,
                            path,
                            created,
                        });
                    }
                    _ => return Err(OpenError::io("lock", &path, err)),
                }
            }
            // LockedOpen: the name must still lead to the inode we locked.
            let held = file
                .metadata()
                .map_err(|e| OpenError::io("stat", &path, e))?;
            match sys::symlink_metadata(&path) {
                Ok(now) if now.dev == held.dev && now.ino == held.ino => {
                    return Ok(WriterLock {
                        file: Some(file),
                        path,
                        created,
                    });
                }
                // Unlinked or replaced between our open and our lock: try again.
                _ => continue,
            }
        }
        Err(OpenError::io(
            "lock",
            &path,
            std::io::Error::other("the lock file kept being replaced while it was locked"),
        ))
    }

    /// Writes this process's pid into the lock file (for "already open for writing by pid
    /// N"), once the caller knows the queue's files are fmq's.
    pub fn write_pid(&mut self) -> Result<(), OpenError> {
        let Some(file) = self.file.as_ref() else {
            return Ok(());
        };
        let pid = sys::pid();
        let written = file
            .set_len(0)
            .and_then(|()| file.write_all_at(format!("{pid}\n").as_bytes(), 0));
        written.map_err(|e| OpenError::io("write lock file", &self.path, e))
    }

    /// Gives the lock up after a refused or failed operation, removing the lock file if
    /// this lock created it (nothing is left behind). Unlinking while holding the lock is
    /// safe: every taker re-checks the name after locking.
    pub fn discard(self) {
        if self.created && self.file.is_some() {
            let _ = sys::remove_file(&self.path);
        }
    }

    /// Removes the lock file while holding it (`fmq remove`).
    pub fn unlink(self) -> std::io::Result<()> {
        if self.file.is_some() {
            match sys::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
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

/// Test builds only (`debug_assertions`): sleeps for the milliseconds the environment
/// variable `name` gives, to widen a race window for the process tests (the lock file
/// unlinked between its open and its `flock`). Release builds compile it to nothing.
fn test_delay(name: &str) {
    if cfg!(debug_assertions) {
        if let Some(ms) = std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok()) {
            sys::sleep(std::time::Duration::from_millis(ms));
        }
    }
}

/// Opens the lock file, creating it if it does not exist; returns whether this call
/// created it.
fn open_lock_file(path: &Path, mode: u32) -> Result<(File, bool), OpenError> {
    match safepath::open(path, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, mode) {
        Ok(f) => return Ok((f, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(OpenError::io("create lock file", path, e)),
    }
    match safepath::open(path, libc::O_RDWR, 0) {
        Ok(f) => Ok((f, false)),
        Err(e) => Err(OpenError::io("open lock file", path, e)),
    }
}

/// A pre-existing lock file must be a regular file of at most 32 bytes holding nothing, a
/// pid, or NUL bytes (a power loss can leave the length of a pid written but not its bytes:
/// the pid is written without an `fsync`, as it is only shown to people; the file simulator
/// found it, `docs/testing.md`), owned by this user, by the queue's owner or by root: anything else is not fmq's to
/// truncate, and a lock file another user planted must not block or fool this writer.
fn check_lock_file(path: &Path, file: &File, queue_owner: Option<u32>) -> Result<(), OpenError> {
    let meta = file
        .metadata()
        .map_err(|e| OpenError::io("stat", path, e))?;
    let owner = meta.uid;
    if owner != safepath::euid() && owner != 0 && Some(owner) != queue_owner {
        return Err(OpenError::ForeignOwner {
            file: path.into(),
            owner_uid: owner,
        });
    }
    if !meta.is_file() || meta.len > 32 {
        return Err(OpenError::NotALockFile { file: path.into() });
    }
    let Some(s) = read_small(file) else {
        return Err(OpenError::NotALockFile { file: path.into() });
    };
    let t = lock_text(&s);
    if !t.is_empty() && t.parse::<u32>().is_err() {
        return Err(OpenError::NotALockFile { file: path.into() });
    }
    Ok(())
}

/// Byte offset of the writer's token in the queue's first data file (the segment or
/// `.stat`): an OFD write lock of one byte there, held for the writer's whole life.
pub(crate) const WRITER_TOKEN: u64 = 0;
/// Byte offset of the token of reader record 0; record `i` uses `READER_TOKEN_BASE + i`.
const READER_TOKEN_BASE: u64 = 1 << 20;

/// The token offset of reader record `index`.
pub(crate) fn reader_token(index: u32) -> u64 {
    READER_TOKEN_BASE + u64::from(index)
}

/// What a token query found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// Another open file description holds it: its process is alive.
    Held,
    /// Nobody holds it.
    Free,
    /// The file system cannot tell (no OFD locks).
    Unknown,
}

/// Takes the token at `offset` on `file` without waiting: `Ok(true)` taken, `Ok(false)`
/// held by another open file description (a live process). Tokens are OFD locks: the
/// kernel drops them when the process dies, whatever pid namespace it lives in.
pub(crate) fn take_token(file: &File, offset: u64) -> std::io::Result<bool> {
    match file.ofd_lock_byte(offset) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives up the token at `offset`.
pub(crate) fn release_token(file: &File, offset: u64) {
    let _ = file.ofd_unlock_byte(offset);
}

/// Whether another open file description holds the token at `offset` of `file`.
pub(crate) fn token_state(file: &File, offset: u64) -> Token {
    match file.ofd_query_byte(offset) {
        Ok(LockQuery::Free) => Token::Free,
        Ok(LockQuery::Held) => Token::Held,
        Err(_) => Token::Unknown,
    }
}

/// The first (at most 32) bytes of a small file, as text.
fn read_small(file: &File) -> Option<String> {
    let mut bytes = [0u8; 32];
    let mut got = 0;
    while got < bytes.len() {
        match file.read_at(&mut bytes[got..], got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    String::from_utf8(bytes[..got].to_vec()).ok()
}

/// A lock file's text without the white space and NUL bytes around it.
fn lock_text(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
}

fn read_pid(file: &File) -> Option<u32> {
    lock_text(&read_small(file)?).parse().ok()
}

/// The pid written in a queue's lock file (the last writer's), if any.
pub fn lock_file_pid(queue: &QueuePath) -> Option<u32> {
    let file = safepath::open(queue.lock_path(), libc::O_RDONLY | libc::O_NONBLOCK, 0).ok()?;
    read_pid(&file)
}

/// Whether a process with this pid exists (signal 0; `EPERM` means it exists).
pub fn pid_alive(pid: u32) -> bool {
    sys::pid_alive(pid)
}
