//! The queue's writer across processes: the lock, safe opening, recovery, compression,
//! waking sleepers, `flush()`.
//!
//! * [`Writer::create`] makes a new queue. It takes the writer lock first, refuses to clobber
//!   an existing queue unless `force`, builds the files under temporary names, formats them
//!   and renames them into place: a queue that exists is never wiped in place, and readers
//!   of a replaced queue notice (`ReadError::Replaced`).
//! * [`Writer::open`] takes over an existing queue: lock, then `fmq_core::Writer::recover`,
//!   which finishes or undoes whatever a dead predecessor left (DESIGN invariant 7); ids go
//!   on from the youngest published one. It never formats. For a file-backed queue the
//!   recovered state is made durable (`flush`) before `open` returns.
//! * Every commit is followed by `wait::wake_sleepers` (a fence and a load; a syscall only
//!   when a reader sleeps).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fmq_core::{Config, FlushStep, Layout, MessageId, RecoveryReport};

use crate::compress::Compression;
use crate::error::{CreateError, FlushError, OpenError, WriteError};
use crate::lock::{reader_token, token_state, Locking, Token, WriterLock};
use crate::map::MappedRegion;
use crate::message::NewMessage;
use crate::path::{IntoQueuePath, QueuePath};
use crate::wait::{monotonic_ns, sleep_on_cursor, wake_sleepers};

/// How a writer runs (for [`Writer::open`], and in [`CreateOptions::writer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WriterOptions {
    /// Locking, unless `FMQ_USE_FILE_LOCKING` says otherwise (it overrides the program's
    /// choice, as HDF5's variable of the same name does).
    pub locking: Locking,
    /// Blocking mode: how long a write may wait for live registered readers before it fails
    /// with [`WriteError::TimedOut`]. `None` (the default): as long as they live; dead
    /// readers are unregistered and stop holding it back.
    pub write_timeout: Option<Duration>,
}

/// How to create a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateOptions {
    /// Slots in the slot table: at most this many messages are present at once.
    pub slots_count: u32,
    /// Size of the message buffer in bytes.
    pub buf_size_bytes: u64,
    /// Compression of every message (off by default, as in LROSE).
    pub compression: Compression,
    /// Replace a queue that exists (its readers get
    /// [`ReadError::Replaced`](crate::ReadError::Replaced)); without it, an existing queue is refused with
    /// [`CreateError::AlreadyExists`]. Never replaces files that are not fmq's, nor a queue
    /// whose writer lives.
    pub replace: bool,
    /// Mode of new files (before the umask); 0644 by default, never world-writable.
    pub mode: u32,
    /// Blocking (archive) mode: the writer never overwrites a message that a live
    /// registered reader has not read (DESIGN invariant 9). Needs `readers_max >= 1`.
    pub blocking: bool,
    /// Reader records in the registry (0: none; readers cannot register).
    pub readers_max: u32,
    /// Blocking mode: a registered reader whose heartbeat is older than this is judged dead
    /// and unregistered (zero: only a reader whose process is gone). Stored in the queue.
    pub reader_timeout: Duration,
    /// How the new queue's writer runs.
    pub writer: WriterOptions,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            slots_count: fmq_core::DEFAULT_SLOTS_COUNT,
            buf_size_bytes: fmq_core::DEFAULT_BUF_SIZE_BYTES,
            compression: Compression::None,
            replace: false,
            mode: 0o644,
            blocking: false,
            readers_max: 0,
            reader_timeout: Duration::from_secs(10),
            writer: WriterOptions::default(),
        }
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    crate::sys::wall_ns().max(0)
}

/// The writer of a queue. One per queue at a time (the lock); `Send`, not `Sync`.
pub struct Writer {
    core: fmq_core::Writer<MappedRegion>,
    lock: WriterLock,
    queue: QueuePath,
    compression: Compression,
    /// Compressed payloads of the write in progress.
    scratch: Vec<u8>,
    recovery: Option<RecoveryReport>,
    opts: WriterOptions,
    /// Blocking mode: registered readers this writer unregistered as dead, oldest first.
    dropped: Vec<DroppedReader>,
}

/// A registered reader that a blocking writer unregistered as dead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedReader {
    /// Its record.
    pub index: u32,
    /// Its pid.
    pub pid: u32,
    /// Its name.
    pub name: String,
    /// The id it would have read next.
    pub cursor: MessageId,
    /// Why it was judged dead.
    pub reason: DropReason,
}

/// Why a registered reader was judged dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Its process no longer exists.
    ProcessGone,
    /// Its heartbeat was older than the queue's reader timeout.
    HeartbeatTimeout {
        /// How old it was.
        age: Duration,
    },
}

impl std::fmt::Display for DroppedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unregistered reader {} ({:?}, pid {}) at id {}: ",
            self.index, self.name, self.pid, self.cursor
        )?;
        match self.reason {
            DropReason::ProcessGone => write!(f, "its process is gone"),
            DropReason::HeartbeatTimeout { age } => {
                write!(f, "no heartbeat for {} ms", age.as_millis())
            }
        }
    }
}

/// The core's configuration of a new queue.
fn create_config(opts: &CreateOptions) -> Config {
    let blocking_flag = if opts.blocking {
        fmq_core::header::QUEUE_FLAG_BLOCKING
    } else {
        0
    };
    Config {
        slots_count: opts.slots_count,
        buf_size_bytes: opts.buf_size_bytes,
        queue_flags: opts.compression.codec() | blocking_flag,
        creation_time_ns: now_ns().max(1) as u64,
        readers_max: opts.readers_max,
        reader_timeout_ms: opts.reader_timeout.as_millis().min(u128::from(u64::MAX)) as u64,
    }
}

/// Takes the writer's token on the queue's data (`crate::lock`): refused with the mark's pid
/// when another writer holds it. With locking off the token is still taken where possible
/// (it tells readers and `fmq clear` that the writer is alive) but never refuses.
fn take_writer_token(
    queue: &QueuePath,
    region: &MappedRegion,
    locking: Locking,
) -> Result<(), OpenError> {
    // The kernel drops a dead process's locks when its last file reference goes, which can
    // come a moment after its parent reaped it: while the mark names a pid that is gone,
    // try again for up to 200 ms before calling the queue taken.
    let file = region.token_file();
    let mut took = crate::lock::take_token(file, crate::lock::WRITER_TOKEN);
    let deadline = crate::sys::monotonic_ns() + 200_000_000;
    while matches!(took, Ok(false))
        && crate::sys::monotonic_ns() < deadline
        && crate::queue::mark_pid(region).is_some_and(|pid| !crate::lock::pid_alive(pid))
    {
        crate::sys::sleep(Duration::from_millis(2));
        took = crate::lock::take_token(file, crate::lock::WRITER_TOKEN);
    }
    match took {
        Ok(true) => Ok(()),
        Ok(false) if locking == Locking::Off => Ok(()),
        Ok(false) => Err(OpenError::Locked {
            queue: queue.spec().into(),
            pid: crate::queue::mark_pid(region),
        }),
        Err(_) if locking != Locking::On => Ok(()),
        Err(e) => Err(OpenError::io("lock", queue.data_files()[0], e)),
    }
}

/// The file that a flush step syncs: the `.buf` file for the buffer, the `.stat` file for
/// the stat part and the header (a shared-memory queue has one segment, and never fails).
fn synced_file(queue: &QueuePath, step: FlushStep) -> PathBuf {
    let files = queue.data_files();
    let index = match step {
        FlushStep::Buf => 1,
        FlushStep::Stat | FlushStep::Header => 0,
    };
    files.get(index).unwrap_or(&files[0]).to_path_buf()
}

/// Spins before a blocked writer sleeps on the slowest reader's cursor.
const BLOCKED_SPINS: u32 = 200;

/// A write's wait for registered readers so far.
#[derive(Default)]
struct BlockedWait {
    /// When the write first blocked (set by the first wait: no clock read per message).
    started: Option<Instant>,
    spins: u32,
}

/// The core's refusal of a message fmq built, as fmq reports it.
fn write_error(e: fmq_core::WriteError) -> WriteError {
    use fmq_core::WriteError as Core;
    match e {
        Core::MessageTooLarge { len, max } => WriteError::MessageTooLarge { len, max },
        Core::CounterExhausted => WriteError::CounterExhausted,
        // `NewMessage::stored` sets only the compressed flag, and the raw length only on a
        // compressed message; `publish` handles `Blocked` itself.
        e @ (Core::RawLenMismatch { .. } | Core::UnknownFlags { .. } | Core::Blocked { .. }) => {
            unreachable!("fmq built a message its core refuses: {e}")
        }
    }
}

/// A new queue's format failed: only its sizes can be wrong (the region is made to fit).
fn format_error(e: fmq_core::FormatError) -> CreateError {
    match e {
        fmq_core::FormatError::Config(c) => CreateError::Config(c),
        e @ fmq_core::FormatError::RegionTooSmall { .. } => {
            unreachable!("fmq sized the region from the layout: {e}")
        }
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queue", &self.queue.spec())
            .field("youngest_id", &self.core.youngest_id())
            .finish()
    }
}

impl Writer {
    /// Creates a queue and returns its writer.
    ///
    /// The files are built under temporary names and renamed into place, so a reader never
    /// sees a half-made queue, and a replaced queue ([`CreateOptions::replace`]) is the old
    /// one or wholly the new one. A create that fails leaves nothing behind.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateError, CreateOptions, Writer};
    ///
    /// let opts = CreateOptions { slots_count: 64, buf_size_bytes: 1 << 20, ..CreateOptions::default() };
    /// let writer = Writer::create(&queue, &opts)?;
    /// assert_eq!(writer.layout().slots_count(), 64);
    /// drop(writer);
    /// let again = Writer::create(&queue, &opts);
    /// assert!(matches!(again, Err(CreateError::AlreadyExists { .. })));
    /// Writer::create(&queue, &CreateOptions { replace: true, ..opts })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(queue: impl IntoQueuePath, opts: &CreateOptions) -> Result<Writer, CreateError> {
        let queue = crate::path::resolve(queue)?;
        // Nothing is touched (not even a lock file created) for a queue that exists when
        // not replacing it, or for files that are not fmq's (never replaced, even forced).
        crate::queue::check_is_ours(&queue, opts.replace, opts.replace)?;
        if !opts.replace && crate::queue::exists(&queue) {
            return Err(CreateError::AlreadyExists {
                queue: queue.spec().into(),
            });
        }
        // Sizes and space are checked before the lock is taken, so that a create refused
        // for them leaves nothing behind, not even a lock file.
        let layout = Layout::from_config(&create_config(opts)).map_err(CreateError::Config)?;
        crate::map::check_space(&queue, layout.stat_size_bytes(), layout.buf_size_bytes())?;
        let locking = Locking::resolve(opts.writer.locking)?;
        let mut lock = WriterLock::acquire(&queue, locking, opts.mode)?;
        match Writer::create_locked(&queue, opts, locking, &mut lock) {
            Ok(core) => Ok(Writer::new(
                core,
                lock,
                queue,
                opts.compression,
                None,
                opts.writer,
            )),
            Err(e) => {
                // A refused or failed create leaves no lock file behind.
                lock.discard();
                Err(e)
            }
        }
    }

    fn new(
        core: fmq_core::Writer<MappedRegion>,
        lock: WriterLock,
        queue: QueuePath,
        compression: Compression,
        recovery: Option<RecoveryReport>,
        opts: WriterOptions,
    ) -> Writer {
        Writer {
            core,
            lock,
            queue,
            compression,
            scratch: Vec::new(),
            recovery,
            opts,
            dropped: Vec::new(),
        }
    }

    /// [`Writer::create`] once the lock is held.
    fn create_locked(
        queue: &QueuePath,
        opts: &CreateOptions,
        locking: Locking,
        lock: &mut WriterLock,
    ) -> Result<fmq_core::Writer<MappedRegion>, CreateError> {
        // Under the lock: another creator may have won the race.
        let replacing = crate::queue::exists(queue);
        // Held until the new files are in place: no writer lives on the old queue, none can
        // start on it, and no other creator can replace it meanwhile (the lock file alone
        // does not make that sure: anyone may remove it).
        let mut _old_token = None;
        if replacing {
            if !opts.replace {
                return Err(CreateError::AlreadyExists {
                    queue: queue.spec().into(),
                });
            }
            crate::queue::check_is_ours(queue, true, true)?;
            _old_token = crate::queue::hold_writer_token(queue)?;
            // Without OFD locks: the writer mark's pid says whether a writer lives.
            if _old_token.is_none() {
                if let Ok(old) = MappedRegion::open(queue, false) {
                    crate::queue::refuse_live_writer(queue, &old)?;
                }
            }
        }
        let mut config = create_config(opts);
        let layout = Layout::from_config(&config).map_err(CreateError::Config)?;
        // A re-creation that died half way is finished first, so the replacement below
        // starts from a complete queue.
        crate::map::repair(queue);
        // The new files are fresh, so the core cannot see the old generation: the creation
        // time is floored above it here (a wall clock stepped back would otherwise give the
        // new queue a generation at or below the old one's, and readers of the old queue
        // could take the new one for it).
        if let Some(old) = crate::map::current_generation(queue) {
            config.creation_time_ns = config.creation_time_ns.max(old.saturating_add(1));
        }
        let (region, new_files) = MappedRegion::create_temp(
            queue,
            layout.stat_size_bytes(),
            layout.buf_size_bytes(),
            opts.mode,
        )?;
        // From here every error drops `new_files`, which unlinks whatever it named. The new
        // queue's token is taken before its files get their names: no moment when it is
        // visible without a writer.
        take_writer_token(queue, &region, locking)?;
        let mut core = fmq_core::Writer::format(region, &config).map_err(format_error)?;
        core.set_pid(crate::sys::pid());
        let generation = core.generation();
        core.region().write_buf_header(generation);
        core.region()
            .publish(queue, new_files, replacing, generation)?;
        lock.write_pid()?;
        Ok(core)
    }

    /// Opens an existing queue as its writer, recovering it if its previous writer died
    /// (see [`Writer::recovery_report`]). Never formats: everything published stays
    /// readable, and ids go on after the youngest one published.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, OpenError, Writer, WriterOptions};
    ///
    /// let first = Writer::create(&queue, &CreateOptions::default())?;
    /// let second = Writer::open(&queue, &WriterOptions::default());
    /// assert!(matches!(second, Err(OpenError::Locked { .. })), "one writer at a time");
    /// drop(first);
    /// let mut writer = Writer::open(&queue, &WriterOptions::default())?;
    /// assert_eq!(writer.write(1, 0, b"next")?.0, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(queue: impl IntoQueuePath, opts: &WriterOptions) -> Result<Writer, OpenError> {
        let queue = crate::path::resolve(queue)?;
        // Do not create a lock file for a queue that does not exist, nor touch anything of
        // files that are not an fmq queue of this user's.
        if !crate::queue::exists(&queue) {
            return Err(OpenError::NotFound {
                queue: queue.spec().into(),
            });
        }
        crate::queue::check_is_ours(&queue, true, false)?;
        let locking = Locking::resolve(opts.locking)?;
        let mut lock = WriterLock::acquire(&queue, locking, 0o644)?;
        match Writer::open_locked(&queue, locking, &mut lock) {
            Ok((core, report, compression)) => Ok(Writer::new(
                core,
                lock,
                queue,
                compression,
                Some(report),
                *opts,
            )),
            Err(e) => {
                lock.discard();
                Err(e)
            }
        }
    }

    /// [`Writer::open`], waiting up to `wait` while another writer holds the queue: several
    /// producers of one queue (a data directory's event queue, `fmq ldata put`) take turns
    /// instead of failing. Retries while the answer is [`OpenError::Locked`], sleeping 1 ms
    /// at first and at most 10 ms between tries; any other answer (the queue is missing,
    /// not fmq's, corrupt) returns at once. After `wait`, the last `Locked`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use std::time::Duration;
    /// use fmq::{CreateOptions, OpenError, Writer, WriterOptions};
    ///
    /// let first = Writer::create(&queue, &CreateOptions::default())?;
    /// let opts = WriterOptions::default();
    /// let busy = Writer::open_timeout(&queue, &opts, Duration::from_millis(20));
    /// assert!(matches!(busy, Err(OpenError::Locked { .. })));
    /// let handoff = std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_millis(50));
    ///     drop(first);
    /// });
    /// let mut second = Writer::open_timeout(&queue, &opts, Duration::from_secs(10))?;
    /// second.write(1, 0, b"after the first")?;
    /// handoff.join().unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_timeout(
        queue: impl IntoQueuePath,
        opts: &WriterOptions,
        wait: Duration,
    ) -> Result<Writer, OpenError> {
        let queue = crate::path::resolve(queue)?;
        let deadline = crate::sys::monotonic_ns()
            .saturating_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX));
        let mut pause = Duration::from_millis(1);
        loop {
            match Writer::open(&queue, opts) {
                Err(OpenError::Locked { .. }) if crate::sys::monotonic_ns() < deadline => {
                    let left =
                        Duration::from_nanos(deadline.saturating_sub(crate::sys::monotonic_ns()));
                    crate::sys::sleep(pause.min(left));
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// [`Writer::open`] once the lock is held.
    fn open_locked(
        queue: &QueuePath,
        locking: Locking,
        lock: &mut WriterLock,
    ) -> Result<(fmq_core::Writer<MappedRegion>, RecoveryReport, Compression), OpenError> {
        // Under the lock: finish a re-creation that died half way, drop its leftovers.
        crate::map::repair(queue);
        // The lock serialises this name; the token proves that no writer lives on the data
        // itself (under another name, or after its lock file was removed): a mark naming a
        // live writer is never recovered. And the token must be on the files the name leads
        // to once it is taken: a re-creation under another name of the same data may have
        // replaced them between the open and the token (the file simulator found a writer
        // recovering the replaced, orphaned segment), so look again, as LockedOpen does.
        let mut attempts = 0;
        let region = loop {
            let region = MappedRegion::open(queue, true)?;
            take_writer_token(queue, &region, locking)?;
            match region.check() {
                Err(crate::ReadError::Replaced | crate::ReadError::Removed) if attempts < 10 => {
                    attempts += 1
                }
                _ => break region,
            }
        };
        // Refuse a queue this build cannot write before recovery changes anything in it.
        let flags = Layout::from_header(&region)
            .map(|a| a.queue_flags)
            .map_err(|e| OpenError::Recover {
                queue: queue.spec().into(),
                reason: e.into(),
            })?;
        let compression = Compression::from_codec(flags).ok_or(OpenError::UnknownCodec {
            queue: queue.spec().into(),
            codec: flags,
        })?;
        let (mut core, report) =
            fmq_core::Writer::recover(region).map_err(|reason| OpenError::Recover {
                queue: queue.spec().into(),
                reason,
            })?;
        core.set_pid(crate::sys::pid());
        // Recovery may issue ids again (the one in flight, and any above a commit point it
        // lowered after a power loss): its result is made durable before the first write, so
        // that no later power loss can bring back an older message under such an id.
        let region = core.region();
        core.flush_with(|step| {
            region
                .sync(step)
                .map_err(|e| OpenError::io("sync", synced_file(queue, step), e))
        })?;
        // And the names of its files: a creator that died before its directory sync, or
        // the repair above, may have left them in the page cache only.
        crate::map::sync_names(queue);
        // Only now that the files are known to be a queue: the pid into the lock file.
        lock.write_pid()?;
        Ok((core, report, compression))
    }

    /// Opens the queue if it exists (with `opts.writer`), else creates it with `opts`.
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Writer};
    ///
    /// let opts = CreateOptions::default();
    /// let mut first = Writer::open_or_create(&queue, &opts)?; // creates it
    /// first.write(1, 0, b"kept")?;
    /// drop(first);
    /// let second = Writer::open_or_create(&queue, &opts)?; // opens it: nothing is lost
    /// assert_eq!(second.youngest_id().0, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_or_create(
        queue: impl IntoQueuePath,
        opts: &CreateOptions,
    ) -> Result<Writer, CreateError> {
        let queue = queue.into_queue_path()?;
        match Writer::open(&queue, &opts.writer) {
            Err(OpenError::NotFound { .. }) => Writer::create(&queue, opts),
            other => Ok(other?),
        }
    }

    /// Appends a message stamped with the current time; returns its id.
    ///
    /// Compressed queues store it compressed when that makes it smaller. In blocking mode
    /// the write waits while a live registered reader has not read a message it must
    /// overwrite (at most [`WriterOptions::write_timeout`]).
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let first = writer.write(/* type */ 3, /* subtype */ 1, b"scan 1")?;
    /// let second = writer.write(3, 1, b"scan 2")?;
    /// assert_eq!(second, first.next());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(
        &mut self,
        msg_type: i32,
        subtype: i32,
        payload: &[u8],
    ) -> Result<MessageId, WriteError> {
        self.write_message(&NewMessage::new(msg_type, subtype, payload))
    }

    /// Appends a message; returns its id. As [`Writer::write`], with the message's own time.
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, NewMessage, Reader, ReaderOptions, StartAt, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let volume_time_ns = 1_700_000_000_000_000_000;
    /// writer.write_message(&NewMessage::new(5, 0, b"volume").at(volume_time_ns))?;
    /// let opts = ReaderOptions { start: StartAt::Oldest, ..ReaderOptions::default() };
    /// let mut reader = Reader::open(&queue, &opts)?;
    /// assert_eq!(reader.try_read()?.meta.time_ns, volume_time_ns);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_message(&mut self, msg: &NewMessage<'_>) -> Result<MessageId, WriteError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let compressed = self.compress_into(msg, &mut scratch);
        let stored = if compressed {
            msg.stored(&scratch, true)
        } else {
            msg.stored(msg.payload, false)
        };
        let got = self.publish(std::iter::once(stored));
        self.scratch = scratch;
        // One message in, so `publish` returns its id.
        got.map(|last| last.unwrap_or(MessageId(self.core.youngest_id().0)))
    }

    /// Appends messages with one commit (one wake); returns the last id, `None` if `msgs`
    /// is empty.
    ///
    /// In blocking mode a batch that must wait for registered readers is published in parts:
    /// the messages before the wait are readable while the writer waits, and if the wait
    /// fails ([`WriteError::TimedOut`]) they stay published
    /// ([`Writer::youngest_id`] says how far it got).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, NewMessage, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let rays: Vec<Vec<u8>> = (0..3).map(|i| vec![i; 1000]).collect();
    /// let batch: Vec<NewMessage> = rays.iter().map(|r| NewMessage::new(2, 0, r)).collect();
    /// assert_eq!(writer.write_batch(&batch)?.map(|id| id.0), Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_batch(
        &mut self,
        msgs: &[NewMessage<'_>],
    ) -> Result<Option<MessageId>, WriteError> {
        if self.compression == Compression::None {
            // No copies: the core takes the stored forms as they are made.
            return self.publish(msgs.iter().map(|m| m.stored(m.payload, false)));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        // Compress everything first (offsets into `scratch`), then borrow the stored forms.
        let mut spans = Vec::with_capacity(msgs.len());
        for m in msgs {
            let from = scratch.len();
            let compressed = self.compress_into(m, &mut scratch);
            spans.push(compressed.then_some(from..scratch.len()));
        }
        let stored = msgs.iter().zip(&spans).map(|(m, span)| match span {
            Some(span) => m.stored(&scratch[span.clone()], true),
            None => m.stored(m.payload, false),
        });
        let got = self.publish(stored);
        self.scratch = scratch;
        got
    }

    /// Appends `msg`'s payload compressed to `out` if the queue compresses and it gets
    /// smaller; returns whether it did (`out` is unchanged otherwise).
    fn compress_into(&self, msg: &NewMessage<'_>, out: &mut Vec<u8>) -> bool {
        self.compression == Compression::Lz4
            && crate::compress::lz4_compress_append(msg.payload, out)
    }

    /// Publishes stored messages with one commit, waiting for registered readers in
    /// blocking mode (the one retry loop of every write): each `Blocked` publishes what was
    /// written before it, waits one step, and retries the rest.
    fn publish<'m, I>(&mut self, msgs: I) -> Result<Option<MessageId>, WriteError>
    where
        I: ExactSizeIterator<Item = fmq_core::NewMessage<'m>> + Clone,
    {
        let mut wait = BlockedWait::default();
        let mut done = 0;
        loop {
            let before = self.core.youngest_id().0;
            match self.core.write_each(msgs.clone().skip(done)) {
                Ok(last) => {
                    self.wake();
                    return Ok(last);
                }
                Err(fmq_core::WriteError::Blocked { reader, cursor, .. }) => {
                    done += (self.core.youngest_id().0 - before) as usize;
                    self.wait_for_reader(reader, cursor, &mut wait)?;
                }
                Err(e) => return Err(write_error(e)),
            }
        }
    }

    /// Registered readers this writer unregistered as dead since the last call (the
    /// header's `readers_dropped` counts them for `fmq info`).
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// writer.write(1, 0, b"x")?;
    /// // Only a blocking queue with registered readers ever drops one.
    /// assert!(writer.take_dropped_readers().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_dropped_readers(&mut self) -> Vec<DroppedReader> {
        std::mem::take(&mut self.dropped)
    }

    /// One step of waiting for the registered reader at record `index`, last seen at
    /// `cursor`: unregisters it if dead, fails if the write timeout passed, spins a while,
    /// then sleeps on its cursor's futex (at most one 50 ms slice). `started` is when the
    /// write first blocked (set by the first call).
    fn wait_for_reader(
        &mut self,
        index: u32,
        cursor: u64,
        wait: &mut BlockedWait,
    ) -> Result<(), WriteError> {
        // Readers that were waiting for this write have something to read meanwhile.
        self.wake();
        if self.drop_if_dead(index) {
            return Ok(());
        }
        let waited = wait.started.get_or_insert_with(Instant::now).elapsed();
        if self.opts.write_timeout.is_some_and(|t| waited >= t) {
            return Err(WriteError::TimedOut {
                reader: index,
                cursor: MessageId(cursor),
                waited,
            });
        }
        if wait.spins < BLOCKED_SPINS {
            wait.spins += 1;
            std::hint::spin_loop();
            return Ok(());
        }
        let left = self
            .opts
            .write_timeout
            .map_or(Duration::MAX, |t| t.saturating_sub(waited));
        if let Some(word) = self.core.prepare_wait(index, cursor) {
            sleep_on_cursor(word, cursor, left);
        }
        self.core.end_wait();
        Ok(())
    }

    /// Unregisters the registered reader at record `index` if its process is gone or its
    /// heartbeat is older than the queue's reader timeout; returns whether it did.
    fn drop_if_dead(&mut self, index: u32) -> bool {
        let Some(rec) = self.core.reader_record(index) else {
            return false;
        };
        if !rec.is_live() {
            return false;
        }
        let timeout = self.reader_timeout();
        let age = Duration::from_nanos(monotonic_ns().saturating_sub(rec.heartbeat_ns));
        // The reader's token (an OFD lock the kernel drops when its process dies, in any
        // pid namespace) says whether it lives; the pid only where there are no tokens.
        let region = self.core.region();
        let gone = match token_state(region.token_file(), reader_token(index)) {
            Token::Free => true,
            Token::Held => false,
            Token::Unknown => rec.pid() != crate::sys::pid() && !crate::lock::pid_alive(rec.pid()),
        };
        let reason = if gone {
            DropReason::ProcessGone
        } else if !timeout.is_zero() && age > timeout {
            DropReason::HeartbeatTimeout { age }
        } else {
            return false;
        };
        if !self.core.drop_reader(index, rec.owner) {
            return false;
        }
        let event = DroppedReader {
            index,
            pid: rec.pid(),
            name: String::from_utf8_lossy(rec.name()).into_owned(),
            cursor: MessageId(rec.cursor),
            reason,
        };
        self.dropped.push(event);
        true
    }

    /// The queue's reader timeout (blocking mode; zero: none).
    pub fn reader_timeout(&self) -> Duration {
        let header = fmq_core::Header::load(fmq_core::Region::stat_words(self.core.region()));
        Duration::from_millis(header.map_or(0, |h| h.reader_timeout_ms))
    }

    /// Whether the queue is in blocking mode.
    pub fn is_blocking(&self) -> bool {
        self.core.is_blocking()
    }

    fn wake(&self) {
        let region = self.core.region();
        if let (Some(commit), Some(sleepers)) = (region.commit_word(), region.sleepers_word()) {
            wake_sleepers(commit, sleepers);
        }
    }

    /// Makes every message published so far durable (file-backed queues: `msync` of the
    /// buffer, then of the stat part, then of the header's page with the commit point
    /// recorded as flushed; DESIGN invariant 8). A no-op for shared memory.
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// writer.write(1, 0, b"acknowledged")?;
    /// writer.flush()?; // from here on, a power loss does not lose it
    /// assert_eq!(fmq::info(&queue)?.header.flushed_id, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) -> Result<(), FlushError> {
        let region = self.core.region();
        self.core.flush_with(|step| {
            region.sync(step).map_err(|source| FlushError {
                file: synced_file(&self.queue, step),
                source,
            })
        })
    }

    /// What recovery found when this writer took the queue over (`None` for a new queue).
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Writer, WriterOptions};
    ///
    /// let writer = Writer::create(&queue, &CreateOptions::default())?;
    /// assert!(writer.recovery_report().is_none(), "a new queue needs no recovery");
    /// drop(writer);
    /// let writer = Writer::open(&queue, &WriterOptions::default())?;
    /// assert!(writer.recovery_report().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recovery_report(&self) -> Option<&RecoveryReport> {
        self.recovery.as_ref()
    }

    /// The youngest id published.
    pub fn youngest_id(&self) -> MessageId {
        self.core.youngest_id()
    }

    /// The oldest id present.
    pub fn oldest_id(&self) -> MessageId {
        self.core.oldest_id()
    }

    /// The queue's layout.
    pub fn layout(&self) -> &Layout {
        self.core.layout()
    }

    /// The queue.
    pub fn queue(&self) -> &QueuePath {
        &self.queue
    }

    /// The compression every message gets.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Whether the writer lock is really held (see `FMQ_USE_FILE_LOCKING`).
    pub fn holds_lock(&self) -> bool {
        self.lock.is_held()
    }

    /// The generation of the queue.
    pub fn generation(&self) -> u64 {
        self.core.generation()
    }

    /// The inode of the queue's first data file, as mapped (the simulator's check that at
    /// most one writer ever holds a queue's data).
    #[cfg(fmq_sim)]
    #[doc(hidden)]
    pub fn __sim_data_ino(&self) -> u64 {
        self.core.region().data_ino()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_sync_names_the_file_whose_sync_failed() {
        let q = QueuePath::parse("/tmp/q").unwrap();
        let name = |step| synced_file(&q, step).display().to_string();
        assert_eq!(name(FlushStep::Buf), "/tmp/q.buf");
        assert_eq!(name(FlushStep::Stat), "/tmp/q.stat");
        assert_eq!(name(FlushStep::Header), "/tmp/q.stat");
        let shm = QueuePath::parse("shm:q").unwrap();
        assert_eq!(
            synced_file(&shm, FlushStep::Buf),
            synced_file(&shm, FlushStep::Stat)
        );
        let e = FlushError {
            file: synced_file(&q, FlushStep::Buf),
            source: std::io::Error::from_raw_os_error(libc::EIO),
        };
        let text = e.to_string();
        assert!(text.starts_with("cannot sync /tmp/q.buf: "), "{text}");
        assert_eq!(text.matches("os error 5").count(), 1, "{text}");
        assert!(std::error::Error::source(&e).is_none());
    }
}
