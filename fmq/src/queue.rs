//! Whole-queue operations for tools: [`info`], [`slots`], [`check`], [`clear`], [`remove`],
//! [`force_remove`].
//!
//! `info`, `slots` and `check` map the queue read-only and take no lock, so they are safe on
//! a live queue. `clear` and `remove` take the writer lock (they refuse while a writer holds
//! it or lives); `force_remove` removes a queue whatever its writer does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fmq_core::header::{clear_writer_mark, Header, MAGIC};
use fmq_core::inspect::{self, SlotState};
use fmq_core::slot::Slot;
use fmq_core::{LagPolicy, Layout, MessageId, Region, StartAt};

use crate::compress::Compression;
use crate::error::{AdminError, OpenError, ReadError, TryReadError};
use crate::lock::{lock_file_pid, reader_token, token_state, Locking, Token, WriterLock};
use crate::map::MappedRegion;
use crate::path::{IntoQueuePath, QueuePath};
use crate::reader::{writer_status, Reader, ReaderOptions, WriterStatus};
use crate::sys;
use crate::wait::WaitStrategy;

/// Whether the queue's data (the `.stat` file or the segment) exists.
pub(crate) fn exists(queue: &QueuePath) -> bool {
    queue
        .data_files()
        .first()
        .is_some_and(|f| sys::symlink_metadata(f).is_ok())
}

/// The hidden name a data file gets while `remove` deletes it: `.NAME.stat.tmp.removed`, a
/// leftover name that the next create or open of the queue cleans up (`map::repair`).
fn removed_name(f: &Path) -> PathBuf {
    let name = f.file_name().unwrap_or_default().to_string_lossy();
    f.with_file_name(format!(".{name}.tmp.removed"))
}

/// The owner of the queue's first data file, if it exists.
pub(crate) fn data_owner(queue: &QueuePath) -> Option<u32> {
    let first = queue.data_files().into_iter().next()?;
    sys::symlink_metadata(first).ok().map(|m| m.uid)
}

/// Whether `file` starts with fmq's magic: the header's (a segment, `.stat`) or the buffer
/// header's (`.buf`). Read with one `pread`, without following a symbolic link. A file this
/// process cannot open is an error, not "no magic": it may well be a queue.
pub(crate) fn has_fmq_magic(file: &std::path::Path) -> Result<bool, OpenError> {
    let f = crate::safepath::open(file, libc::O_RDONLY | libc::O_NONBLOCK, 0)
        .map_err(|e| OpenError::io("open", file, e))?;
    let mut word = [0u8; 8];
    if f.read_at(&mut word, 0).ok() != Some(8) {
        return Ok(false);
    }
    let word = u64::from_le_bytes(word);
    Ok(word == MAGIC || word == crate::map::BUF_MAGIC)
}

/// Before anything of a queue is touched: every data file that exists is a regular file
/// (not a symbolic link: [`OpenError::Symlink`]); with `writing`, it belongs to this user,
/// else [`OpenError::ForeignOwner`] (a writer never writes into another user's files);
/// with `destroying` (a forced create, a remove), it carries fmq's magic, else
/// [`OpenError::NotAQueue`] (fmq replaces or deletes only its own files).
pub(crate) fn check_is_ours(
    queue: &QueuePath,
    writing: bool,
    destroying: bool,
) -> Result<(), OpenError> {
    for f in queue.data_files() {
        let Ok(meta) = sys::symlink_metadata(f) else {
            continue;
        };
        if meta.is_symlink() {
            return Err(OpenError::Symlink { file: f.into() });
        }
        // An empty file holds nothing to destroy (a create that died before sizing it).
        if !meta.is_file() || (destroying && meta.len > 0 && !has_fmq_magic(f)?) {
            return Err(OpenError::NotAQueue { file: f.into() });
        }
        if writing && meta.uid != crate::safepath::euid() {
            return Err(OpenError::ForeignOwner {
                file: f.into(),
                owner_uid: meta.uid,
            });
        }
    }
    Ok(())
}

/// `Locked` when another process's writer is alive on the queue's data (its token, or where
/// there are no tokens its pid, says so), whether or not it holds this name's lock file.
pub(crate) fn refuse_live_writer(
    queue: &QueuePath,
    region: &MappedRegion,
) -> Result<(), OpenError> {
    match writer_status(region) {
        WriterStatus::Open { pid, alive: true } if pid != sys::pid() => Err(OpenError::Locked {
            queue: queue.spec().into(),
            pid: Some(pid),
        }),
        _ => Ok(()),
    }
}

/// The writer token of a queue's existing data, held by an operation that must know that no
/// writer lives on the queue and that none starts until it is done (a re-creation, `remove`,
/// `clear`). Released when dropped.
pub(crate) struct HeldToken {
    _file: sys::File,
}

/// Takes the writer token of the queue's first data file: `Locked` if a writer holds it,
/// `None` if there is no data file or the file system has no OFD locks (the caller then
/// falls back on the writer mark). The LockedOpen pattern again: the token must be on the
/// file the name leads to once it is taken.
pub(crate) fn hold_writer_token(queue: &QueuePath) -> Result<Option<HeldToken>, OpenError> {
    let first = queue.data_files()[0];
    for _ in 0..100 {
        let file = match crate::safepath::open(first, libc::O_RDWR | libc::O_NONBLOCK, 0) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(OpenError::io("open", first, e)),
        };
        match crate::lock::take_token(&file, crate::lock::WRITER_TOKEN) {
            Ok(true) => {}
            Ok(false) => {
                // The token's holder is the writer the mark names; the lock file names the
                // last writer that locked, which a writer with locking off is not.
                let pid = MappedRegion::open(queue, false)
                    .ok()
                    .and_then(|region| mark_pid(&region))
                    .or_else(|| crate::lock::lock_file_pid(queue));
                return Err(OpenError::Locked {
                    queue: queue.spec().into(),
                    pid,
                });
            }
            Err(_) => return Ok(None),
        }
        let held = file
            .metadata()
            .map_err(|e| OpenError::io("stat", first, e))?;
        match sys::symlink_metadata(first) {
            Ok(now) if now.dev == held.dev && now.ino == held.ino => {
                return Ok(Some(HeldToken { _file: file }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            _ => continue,
        }
    }
    Err(OpenError::io(
        "lock",
        first,
        std::io::Error::other("the queue's data kept being replaced while it was locked"),
    ))
}

/// The pid the writer mark names, if set.
pub(crate) fn mark_pid(region: &MappedRegion) -> Option<u32> {
    match writer_status(region) {
        WriterStatus::Open { pid, .. } => Some(pid),
        WriterStatus::Closed { .. } => None,
    }
}

/// A snapshot of a queue ([`info`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueueInfo {
    /// The queue.
    pub queue: QueuePath,
    /// Data files and their sizes in bytes.
    pub files: Vec<(PathBuf, u64)>,
    /// The pid in the lock file (the last writer that locked).
    pub lock_pid: Option<u32>,
    /// The header as loaded.
    pub header: Header,
    /// The validated layout.
    pub layout: Layout,
    /// The queue's codec.
    pub compression: Compression,
    /// What the writer mark says.
    pub writer: WriterStatus,
    /// Messages present.
    pub present_count: u64,
    /// Buffer bytes the present messages span.
    pub bytes_used: u64,
    /// Blocking mode.
    pub blocking: bool,
    /// The reader registry's records that are in use (live or dropped).
    pub readers: Vec<RegisteredReader>,
}

/// A record of the reader registry that is in use ([`QueueInfo::readers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredReader {
    /// The record's index.
    pub index: u32,
    /// The name it registered under.
    pub name: String,
    /// Its pid.
    pub pid: u32,
    /// The id it reads next.
    pub cursor: MessageId,
    /// Messages published that it has not read yet.
    pub lag: u64,
    /// Whether the writer unregistered it as dead (and nobody registered since).
    pub dropped: bool,
    /// Whether its process lives.
    pub alive: bool,
    /// Time since its last heartbeat (its clock and ours are `CLOCK_MONOTONIC`).
    pub heartbeat_age: Duration,
}

fn attach_layout(queue: &QueuePath, region: &MappedRegion) -> Result<Layout, OpenError> {
    Layout::from_header(region)
        .map(|a| a.layout)
        .map_err(|reason| OpenError::Attach {
            queue: queue.spec().into(),
            reason,
        })
}

/// Loads a queue's header, writer mark, usage and reader registry. Read-only and without a
/// lock: safe on a live queue.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let queue = dir.path().join("q");
/// use fmq::{CreateOptions, Writer, WriterStatus};
///
/// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
/// writer.write(1, 0, b"one")?;
/// let info = fmq::info(&queue)?;
/// assert_eq!(info.present_count, 1);
/// assert!(matches!(info.writer, WriterStatus::Open { alive: true, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn info(queue: impl IntoQueuePath) -> Result<QueueInfo, AdminError> {
    let queue = crate::path::resolve(queue)?;
    let region = MappedRegion::open_settled(|| MappedRegion::open(&queue, false))?;
    let layout = attach_layout(&queue, &region)?;
    let header = Header::load(region.stat_words()).unwrap_or_default();
    let files = region
        .files()
        .map(|f| {
            let len = sys::symlink_metadata(f).map(|m| m.len).unwrap_or(0);
            (f.to_path_buf(), len)
        })
        .collect();
    Ok(QueueInfo {
        files,
        lock_pid: lock_file_pid(&queue),
        compression: Compression::from_codec(header.queue_flags).unwrap_or_default(),
        writer: writer_status(&region),
        present_count: header.present_count(),
        bytes_used: inspect::bytes_used(&region, &layout, &header),
        blocking: header.queue_flags & fmq_core::header::QUEUE_FLAG_BLOCKING != 0,
        readers: registered_readers(&region, &layout, &header),
        header,
        layout,
        queue,
    })
}

/// The records of the registry in use, with each one's liveness.
fn registered_readers(
    region: &MappedRegion,
    layout: &Layout,
    header: &Header,
) -> Vec<RegisteredReader> {
    let now = crate::wait::monotonic_ns();
    (0..layout.readers_max())
        .filter_map(|i| fmq_core::registry::load_record(region.stat_words(), layout, i))
        .filter(|r| r.owner != 0)
        .map(|record| RegisteredReader {
            index: record.index,
            name: String::from_utf8_lossy(record.name()).into_owned(),
            pid: record.pid(),
            cursor: MessageId(record.cursor),
            lag: (header.youngest_id + 1).saturating_sub(record.cursor),
            dropped: record.is_dropped(),
            alive: match token_state(region.token_file(), reader_token(record.index)) {
                Token::Held => true,
                Token::Free => false,
                Token::Unknown => crate::lock::pid_alive(record.pid()),
            },
            heartbeat_age: Duration::from_nanos(now.saturating_sub(record.heartbeat_ns)),
        })
        .collect()
}

/// The slot table of a queue, slot by slot. Read-only and without a lock.
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let queue = dir.path().join("q");
/// use fmq::{CreateOptions, Writer};
///
/// let mut writer = Writer::create(&queue, &CreateOptions { slots_count: 4, ..CreateOptions::default() })?;
/// writer.write(1, 0, b"first")?;
/// let slots = fmq::slots(&queue)?;
/// assert_eq!(slots.len(), 4);
/// let used: Vec<(u64, u64)> =
///     slots.iter().filter(|s| s.stamp != 0).map(|s| (s.stamp, s.stored_len)).collect();
/// assert_eq!(used, [(1, 5)], "one slot stamped with id 1, holding 5 bytes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn slots(queue: impl IntoQueuePath) -> Result<Vec<Slot>, AdminError> {
    let queue = crate::path::resolve(queue)?;
    let region = MappedRegion::open_settled(|| MappedRegion::open(&queue, false))?;
    let layout = attach_layout(&queue, &region)?;
    Ok((0..layout.slots_count() as usize)
        .filter_map(|i| inspect::load_slot(&region, i))
        .collect())
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CheckReport {
    /// Messages read and verified.
    pub messages_checked: u64,
    /// Problems: the queue is corrupt if this is not empty.
    pub problems: Vec<String>,
    /// Observations that are not corruption (a dead writer's mark, a live writer moving on).
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// No problems.
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies a queue: files, header, commit line, slot table, and every present message's
/// CRC. A queue that cannot be opened at all is an error; one that opens but is damaged is a
/// report with problems. Read-only and without a lock: safe on a live queue.
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let queue = dir.path().join("q");
/// use fmq::{CreateOptions, Writer};
///
/// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
/// writer.write(1, 0, b"one")?;
/// let report = fmq::check(&queue)?;
/// assert!(report.is_healthy(), "{:?}", report.problems);
/// assert_eq!(report.messages_checked, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(queue: impl IntoQueuePath) -> Result<CheckReport, AdminError> {
    let queue = crate::path::resolve(queue)?;
    let mut report = CheckReport::default();
    // A re-creation in progress is not corruption: wait for its pair to be complete.
    let region = match MappedRegion::open_settled(|| MappedRegion::open(&queue, false)) {
        Ok(r) => r,
        Err(
            e @ (OpenError::EmptyFile { .. }
            | OpenError::BadFileSize { .. }
            | OpenError::BadBufHeader { .. }
            | OpenError::MismatchedFiles { .. }),
        ) => {
            report.problems.push(e.to_string());
            return Ok(report);
        }
        Err(e) => return Err(e.into()),
    };
    let layout = match attach_layout(&queue, &region) {
        Ok(l) => l,
        Err(e) => {
            report.problems.push(e.to_string());
            return Ok(report);
        }
    };
    if check_table(&region, &layout, &mut report) {
        drop(region);
        check_messages(&queue, &mut report)?;
    }
    Ok(report)
}

/// The writer mark, the commit line and every slot's stamp; false if the commit line is
/// broken (then the messages are not read).
fn check_table(region: &MappedRegion, layout: &Layout, report: &mut CheckReport) -> bool {
    let h = Header::load(region.stat_words()).unwrap_or_default();
    let status = writer_status(region);
    let live_writer = matches!(status, WriterStatus::Open { alive: true, .. });
    if let WriterStatus::Open { pid, alive: false } = status {
        report.warnings.push(format!(
            "the writer mark names pid {pid}, which is gone: the writer died (the next writer \
             recovers the queue; clearing the mark resets it)"
        ));
    }
    if !inspect::commit_line_ok(&h, layout) {
        report.problems.push(format!(
            "header: commit line out of range (youngest {}, oldest {}, {} slots)",
            h.youngest_id,
            h.oldest_id,
            layout.slots_count()
        ));
        return false;
    }
    for index in 0..layout.slots_count() as usize {
        let Some(slot) = inspect::load_slot(region, index) else {
            break;
        };
        let state = inspect::slot_state(&h, layout, index, slot.stamp);
        if state == SlotState::Misplaced {
            report.problems.push(format!(
                "slot {index}: stamp {} does not belong there (present ids {}..={})",
                slot.stamp, h.oldest_id, h.youngest_id
            ));
        } else if state == SlotState::Outside && !live_writer {
            // A retirement or a write the writer did not finish (it died): readers never
            // return it, and the next writer's recovery clears it.
            report.warnings.push(format!(
                "slot {index}: stamp {} is outside the present ids {}..={}: left by a writer \
                 that died mid-write; the next writer clears it",
                slot.stamp, h.oldest_id, h.youngest_id
            ));
        }
    }
    true
}

/// Reads every present message (validating its CRC, and decompressing it).
fn check_messages(queue: &QueuePath, report: &mut CheckReport) -> Result<(), AdminError> {
    let opts = ReaderOptions {
        start: StartAt::Oldest,
        lag_policy: LagPolicy::ResumeAtOldest,
        wait: WaitStrategy::poll(std::time::Duration::from_millis(1)),
        max_message_bytes: u64::MAX,
    };
    let mut reader = Reader::open(queue, &opts)?;
    let end = reader.youngest_id().0;
    while reader.position().0 <= end {
        match reader.try_read() {
            Ok(_) => report.messages_checked += 1,
            Err(TryReadError::Empty) => break,
            Err(TryReadError::Failed(ReadError::Lagged(lag))) => report.warnings.push(format!(
                "the writer overwrote {} messages while they were being checked",
                lag.missed_count
            )),
            Err(TryReadError::Failed(e)) if e.is_skipped_message() => {
                report.problems.push(e.to_string());
            }
            Err(e) => {
                report.problems.push(e.to_string());
                break;
            }
        }
    }
    Ok(())
}

/// Clears a stale writer mark (HDF5's `h5clear`): the mark a writer that died left. Takes
/// the writer lock, so it refuses while a writer is alive ([`OpenError::Locked`]). Returns
/// whether the mark was set.
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let queue = dir.path().join("q");
/// use fmq::{AdminError, CreateOptions, OpenError, Writer};
///
/// let writer = Writer::create(&queue, &CreateOptions::default())?;
/// // A live writer's mark is not stale: refused.
/// assert!(matches!(fmq::clear(&queue), Err(AdminError::Open(OpenError::Locked { .. }))));
/// drop(writer); // closes cleanly, clearing the mark itself
/// assert!(!fmq::clear(&queue)?, "nothing to clear");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn clear(queue: impl IntoQueuePath) -> Result<bool, AdminError> {
    let queue = crate::path::resolve(queue)?;
    if !exists(&queue) {
        return Err(OpenError::NotFound {
            queue: queue.spec().into(),
        }
        .into());
    }
    check_is_ours(&queue, true, false)?;
    let lock = WriterLock::acquire(&queue, Locking::resolve(Locking::On)?, 0o644)?;
    let region = match MappedRegion::open(&queue, true)
        .and_then(|region| attach_layout(&queue, &region).map(|_| region))
    {
        Ok(region) => region,
        Err(e) => {
            lock.discard();
            return Err(e.into());
        }
    };
    // A writer whose lock file was removed, a writer under another name of the same data,
    // or one that runs with FMQ_USE_FILE_LOCKING=FALSE does not hold our lock: its token,
    // or where there are no tokens its pid, says it is alive, and its mark is not stale.
    // The token is held while the mark is cleared, so no writer starts in between.
    let token = match hold_writer_token(&queue) {
        Ok(t) => t,
        Err(e) => {
            lock.discard();
            return Err(e.into());
        }
    };
    if token.is_none() {
        refuse_live_writer(&queue, &region)?;
    }
    let was_set = clear_writer_mark(region.stat_words());
    drop(lock);
    Ok(was_set)
}

/// Deletes a queue's files or segment, and its lock file. Refused while a writer holds the
/// lock or lives ([`OpenError::Locked`]). Whole or gone: the queue disappears at one step,
/// and a file that cannot be deleted afterwards is reported
/// ([`AdminError::RemoveIncomplete`]) and cleaned up by the next create or open.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let queue = dir.path().join("q");
/// use fmq::{AdminError, CreateOptions, OpenError, Writer};
///
/// let writer = Writer::create(&queue, &CreateOptions::default())?;
/// assert!(matches!(fmq::remove(&queue), Err(AdminError::Open(OpenError::Locked { .. }))));
/// drop(writer);
/// fmq::remove(&queue)?;
/// assert!(matches!(fmq::info(&queue), Err(AdminError::Open(OpenError::NotFound { .. }))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn remove(queue: impl IntoQueuePath) -> Result<(), AdminError> {
    remove_queue(queue, LiveWriter::Refuse)
}

/// [`remove`], even while a writer holds the queue (it goes on writing to files nobody can
/// open any more; its readers get [`ReadError::Removed`]). Still refuses files that are
/// not fmq's.
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let queue = dir.path().join("q");
/// use fmq::{CreateOptions, ReadError, Reader, ReaderOptions, Writer};
///
/// let writer = Writer::create(&queue, &CreateOptions::default())?;
/// let reader = Reader::open(&queue, &ReaderOptions::default())?;
/// fmq::force_remove(&queue)?; // the writer lives on, writing to files nobody can open
/// assert_eq!(reader.check_files(), Err(ReadError::Removed));
/// drop(writer);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn force_remove(queue: impl IntoQueuePath) -> Result<(), AdminError> {
    remove_queue(queue, LiveWriter::Ignore)
}

/// What `remove` does about a live writer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LiveWriter {
    Refuse,
    Ignore,
}

fn remove_queue(queue: impl IntoQueuePath, live: LiveWriter) -> Result<(), AdminError> {
    let queue = crate::path::resolve(queue)?;
    if !exists(&queue) {
        return Err(OpenError::NotFound {
            queue: queue.spec().into(),
        }
        .into());
    }
    // Destroy only what is fmq's: a file without fmq's magic is refused even when forced
    // (SQLite refuses what lacks its header the same way).
    check_is_ours(&queue, false, true)?;
    let lock = match WriterLock::acquire(&queue, Locking::resolve(Locking::On)?, 0o644) {
        Ok(l) => Some(l),
        Err(OpenError::Locked { .. }) if live == LiveWriter::Ignore => None,
        Err(e) => return Err(e.into()),
    };
    // A live writer that does not hold this name's lock (its lock file was removed, or it
    // writes the same data under another name) still holds its token; holding it ourselves
    // while the files go keeps a writer from starting on them meanwhile.
    let mut _token = None;
    if live == LiveWriter::Refuse {
        _token = hold_writer_token(&queue)?;
        if _token.is_none() {
            if let Ok(region) = MappedRegion::open(&queue, false) {
                refuse_live_writer(&queue, &region)?;
            }
        }
    }
    delete_files(&queue, lock)
}

/// Whole or gone: the first data file (`.stat`, or the segment) is renamed to a hidden
/// leftover name that `repair` knows, and the queue is gone at that one step; if it fails,
/// nothing changed. Only then is the rest deleted; whatever cannot be deleted is named in
/// the error, and the next create of the queue cleans it up.
fn delete_files(queue: &QueuePath, lock: Option<WriterLock>) -> Result<(), AdminError> {
    let files = queue.data_files();
    let first_hidden = removed_name(files[0]);
    match sys::rename(files[0], &first_hidden) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(OpenError::io("remove", files[0], e).into()),
    }
    let mut doomed: Vec<PathBuf> = vec![first_hidden];
    doomed.extend(files[1..].iter().map(|f| f.to_path_buf()));
    let mut left: Option<(PathBuf, std::io::Error)> = None;
    for f in &doomed {
        match sys::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                left.get_or_insert((f.clone(), e));
            }
        }
    }
    // Unlinked while held: a process that opened it meanwhile finds the name gone after its
    // flock and starts again (`WriterLock::acquire`).
    if let Some(lock) = lock {
        let path = lock.path().to_path_buf();
        if let Err(e) = lock.unlink() {
            left.get_or_insert((path, e));
        }
    }
    // A remove that returned stays done: without the directory sync a power loss could bring
    // the queue back, with what its last writer flushed (found by the file-layer simulator).
    crate::map::sync_names(queue);
    if let Some((file, source)) = left {
        return Err(AdminError::RemoveIncomplete {
            queue: queue.spec().into(),
            file,
            source,
        });
    }
    Ok(())
}
