//! latest_data_info on fmq: a data-arrival event per file (issue 15, item 1).
//!
//! [`put`] records that a file was written into a data directory, in the order a reader
//! relies on:
//!
//! 1. with [`PutOptions::from_file`], the file is moved into place atomically and durably
//!    (renamed to a temporary name beside its final one, fsynced, renamed over the final
//!    name, the directory fsynced); a move across file systems is refused, never copied;
//! 2. one event is appended to the directory's event queue, `DIR/_fmq_ldata` (a file-backed
//!    fmq queue in blocking mode, so a registered watcher is never overrun; its name never
//!    collides with LROSE's `_latest_data_info.*`), and flushed;
//! 3. LROSE's `_latest_data_info.xml` and ASCII `_latest_data_info` are written as LROSE
//!    readers expect them, each by write-replace (a temporary file, fsync, rename over the
//!    old one, fsync of the directory): there is never a moment without the file, unlike
//!    LROSE's unlink-then-rename.
//!
//! Several producers may put into one directory at once: each waits for the event queue's
//! writer lock ([`fmq::Writer::open_timeout`], up to [`PutOptions::lock_wait`]) and holds it
//! through steps 2 and 3, so the LROSE files always describe the youngest event. An event
//! is the [`LdataInfo`] as JSON, message type [`EVENT_TYPE`].

pub mod dmap;
mod info;

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use fmq::{
    CreateError, CreateOptions, OpenError, Reader, ReaderOptions, StartAt, Writer, WriterOptions,
};

pub use info::{civil, LdataInfo};

/// The event queue of a data directory: `DIR/_fmq_ldata.stat`, `.buf` and `.lock`.
pub const EVENT_QUEUE: &str = "_fmq_ldata";
/// LROSE's XML file.
pub const XML_FILE: &str = "_latest_data_info.xml";
/// LROSE's ASCII file.
pub const ASCII_FILE: &str = "_latest_data_info";
/// The fmq message type of an event (its payload: the [`LdataInfo`] as JSON).
pub const EVENT_TYPE: i32 = 1;
/// Slots of a new event queue (LROSE's is 2500).
pub const EVENT_SLOTS: u32 = 4096;
/// Buffer bytes of a new event queue.
pub const EVENT_BUFFER_BYTES: u64 = 4 << 20;
/// Registered readers (watchers) a new event queue takes.
pub const EVENT_READERS_MAX: u32 = 32;

/// How [`put`] works.
#[derive(Debug, Clone)]
pub struct PutOptions {
    /// How long to wait for another producer of the directory (the event queue's writer
    /// lock), and for a watcher that holds a full queue back.
    pub lock_wait: Duration,
    /// Move this file to `DIR/REL_PATH` first (same file system only).
    pub from_file: Option<PathBuf>,
}

impl Default for PutOptions {
    fn default() -> PutOptions {
        PutOptions {
            lock_wait: Duration::from_secs(30),
            from_file: None,
        }
    }
}

/// What a [`put`] did.
#[derive(Debug, Clone)]
pub struct Put {
    /// The event's id in the directory's event queue.
    pub id: u64,
    /// The event as written (`max_time` filled in).
    pub info: LdataInfo,
}

/// Why a [`put`] failed: one line each.
#[derive(Debug)]
pub enum LdataError {
    /// The data directory is missing or not a directory.
    NotADirectory(PathBuf),
    /// The relative path is empty, absolute or leaves the directory.
    BadPath(String),
    /// `--from-file` names a file on another file system: a rename cannot move it, and a
    /// copy is not atomic.
    CrossDevice {
        /// The file to move.
        from: PathBuf,
        /// Where it was to go.
        to: PathBuf,
    },
    /// A file operation failed.
    Io {
        /// What was being done.
        what: &'static str,
        /// To which file.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The event queue could not be opened, created or written.
    Queue(String),
}

impl fmt::Display for LdataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LdataError::NotADirectory(p) => write!(f, "{} is not a directory", p.display()),
            LdataError::BadPath(p) => write!(
                f,
                "{p:?} is not a path inside the data directory (relative, no '..')"
            ),
            LdataError::CrossDevice { from, to } => write!(
                f,
                "cannot move {} to {}: they are on different file systems (a rename cannot \
                 cross them and a copy would not be atomic; write the file in the data \
                 directory's file system first)",
                from.display(),
                to.display()
            ),
            LdataError::Io { what, path, source } => {
                write!(f, "{what} {}: {source}", path.display())
            }
            LdataError::Queue(e) => write!(f, "event queue: {e}"),
        }
    }
}

impl std::error::Error for LdataError {}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LdataError + 'a {
    move |source| LdataError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The event queue's spec for `dir`.
pub fn event_queue(dir: &Path) -> PathBuf {
    dir.join(EVENT_QUEUE)
}

/// Records that `info.rel_data_path` was written into `dir` (see the crate doc).
pub fn put(dir: &Path, info: &LdataInfo, opts: &PutOptions) -> Result<Put, LdataError> {
    if !dir.is_dir() {
        return Err(LdataError::NotADirectory(dir.to_path_buf()));
    }
    let rel = Path::new(&info.rel_data_path);
    if info.rel_data_path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(LdataError::BadPath(info.rel_data_path.clone()));
    }
    if let Some(src) = &opts.from_file {
        move_into_place(src, &dir.join(rel))?;
    }
    let mut writer = open_events(dir, opts.lock_wait)?;
    let mut info = info.clone();
    info.max_time = info
        .max_time
        .max(previous_max_time(dir).unwrap_or(i64::MIN));
    let payload = serde_json::to_vec(&info).map_err(|e| LdataError::Queue(e.to_string()))?;
    let id = writer
        .write(EVENT_TYPE, 0, &payload)
        .map_err(|e| LdataError::Queue(e.to_string()))?;
    writer
        .flush()
        .map_err(|e| LdataError::Queue(format!("flushing: {e}")))?;
    // Still under the writer lock: the LROSE files describe the youngest event.
    write_replace(dir, XML_FILE, info.to_lrose_xml().as_bytes())?;
    write_replace(dir, ASCII_FILE, info.to_lrose_ascii().as_bytes())?;
    drop(writer);
    Ok(Put { id: id.0, info })
}

/// The latest event of `dir`: the youngest of its event queue, else what LROSE's XML says
/// (a directory only LROSE wrote), else `None`.
pub fn latest(dir: &Path) -> Result<Option<LdataInfo>, LdataError> {
    if let Some(info) = youngest_event(dir)? {
        return Ok(Some(info));
    }
    let xml = dir.join(XML_FILE);
    match std::fs::read_to_string(&xml) {
        Ok(text) => LdataInfo::parse_lrose_xml(&text)
            .map(Some)
            .map_err(|e| LdataError::Queue(format!("{}: {e}", xml.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", &xml)(e)),
    }
}

/// The youngest event of the directory's event queue, if it has one.
pub fn youngest_event(dir: &Path) -> Result<Option<LdataInfo>, LdataError> {
    let opts = ReaderOptions {
        start: StartAt::Youngest,
        ..ReaderOptions::default()
    };
    let mut r = match Reader::open(event_queue(dir), &opts) {
        Ok(r) => r,
        Err(OpenError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(LdataError::Queue(e.to_string())),
    };
    match r.try_read() {
        Ok(m) => serde_json::from_slice(m.payload)
            .map(Some)
            .map_err(|e| LdataError::Queue(format!("an event that is not an ldata event: {e}"))),
        Err(_) => Ok(None),
    }
}

fn previous_max_time(dir: &Path) -> Option<i64> {
    youngest_event(dir).ok().flatten().map(|i| i.max_time)
}

/// Opens the directory's event queue as its writer, creating it when missing, waiting for
/// other producers up to `wait`. Two first producers race to create it: the one that loses
/// (the queue exists by then, or the winner holds its lock while it creates) goes back to
/// opening, until the deadline.
fn open_events(dir: &Path, wait: Duration) -> Result<Writer, LdataError> {
    let q = event_queue(dir);
    let wopts = WriterOptions {
        write_timeout: Some(wait),
        ..WriterOptions::default()
    };
    let c = CreateOptions {
        slots_count: EVENT_SLOTS,
        buf_size_bytes: EVENT_BUFFER_BYTES,
        blocking: true,
        readers_max: EVENT_READERS_MAX,
        // A watcher may run a long command between reads: it is dropped only when its
        // process is gone, never for being slow.
        reader_timeout: Duration::ZERO,
        writer: wopts,
        ..CreateOptions::default()
    };
    let deadline = std::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match Writer::open_timeout(&q, &wopts, left) {
            Err(OpenError::NotFound { .. }) => {}
            other => return other.map_err(|e| LdataError::Queue(e.to_string())),
        }
        match Writer::create(&q, &c) {
            Err(CreateError::AlreadyExists { .. })
            | Err(CreateError::Open(OpenError::Locked { .. }))
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            other => return other.map_err(|e| LdataError::Queue(e.to_string())),
        }
    }
}

/// A temporary name beside `path`, unique to this process and call.
fn temp_beside(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    // ORDERING: Relaxed: a counter for unique names, nothing published with it.
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.fmq-tmp.{}.{n}", std::process::id()))
}

fn fsync_dir(dir: &Path) -> Result<(), LdataError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing the directory", dir))
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Moves `src` to `dst` atomically and durably: renamed to a temporary name beside `dst`
/// (refused across file systems), fsynced, renamed over `dst`, the directory fsynced.
/// Missing directories of `dst` are made (and their parents synced).
fn move_into_place(src: &Path, dst: &Path) -> Result<(), LdataError> {
    let meta = std::fs::symlink_metadata(src).map_err(io("reading", src))?;
    if !meta.file_type().is_file() {
        return Err(LdataError::Io {
            what: "moving",
            path: src.to_path_buf(),
            source: std::io::Error::other("not a regular file"),
        });
    }
    let dst_dir = dir_of(dst);
    if !dst_dir.is_dir() {
        std::fs::create_dir_all(dst_dir).map_err(io("creating", dst_dir))?;
        let mut d = dst_dir;
        while let Some(parent) = d.parent() {
            fsync_dir(parent)?;
            d = parent;
            if parent.as_os_str().is_empty() {
                break;
            }
        }
    }
    let tmp = temp_beside(dst);
    if let Err(e) = std::fs::rename(src, &tmp) {
        return Err(if e.raw_os_error() == Some(libc::EXDEV) {
            LdataError::CrossDevice {
                from: src.to_path_buf(),
                to: dst.to_path_buf(),
            }
        } else {
            io("moving", src)(e)
        });
    }
    let synced = std::fs::File::open(&tmp).and_then(|f| f.sync_all());
    if let Err(e) = synced.and_then(|()| std::fs::rename(&tmp, dst)) {
        // Put the file back where it came from rather than leave a temporary name.
        let _ = std::fs::rename(&tmp, src);
        return Err(io("moving into place", dst)(e));
    }
    fsync_dir(dst_dir)?;
    fsync_dir(dir_of(src))
}

/// Replaces `dir/name` with `bytes` ([`replace_file`]).
fn write_replace(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LdataError> {
    replace_file(&dir.join(name), bytes)
}

/// Replaces `path` with `bytes` durably: a temporary file beside it, fsync, rename over it,
/// fsync of the directory. Readers see the old file or the new one, never none (no unlink)
/// and never a torn one. Also the watchers' cursor and status files.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), LdataError> {
    let tmp = temp_beside(path);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("writing", path)(e));
    }
    fsync_dir(dir_of(path))
}
