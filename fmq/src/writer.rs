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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fmq_core::slot::MSG_FLAG_COMPRESSED;
use fmq_core::{
    Config, FlushStep, Layout, MessageId, NewMessage, RecoveryReport, WriteError as CoreWriteError,
};

use crate::compress::Compression;
use crate::error::OpenError;
use crate::lock::{reader_token, token_state, Locking, Token, WriterLock};
use crate::map::MappedRegion;
use crate::path::QueuePath;
use crate::wait::{monotonic_ns, sleep_on_cursor, wake_sleepers};

// Issue 22, core part: `TimedOut` left the no_std core (a core writer never waits). Until the
// fmq crate's own `WriteError` (the lead's part) replaces it, this local enum is fmq-core's
// `WriteError` plus `TimedOut`, with the same variants and messages as before.
/// Writing a message failed; nothing was published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The message does not fit in the buffer.
    MessageTooLarge {
        /// Its stored length.
        len: u64,
        /// The largest message the buffer holds.
        max: u64,
    },
    /// An uncompressed message whose `raw_len` is not its length.
    RawLenMismatch {
        /// `raw_len`.
        raw_len: u64,
        /// The payload's length.
        len: u64,
    },
    /// Flags outside the per-message flags format 2 defines.
    UnknownFlags {
        /// The flags.
        flags: u32,
    },
    /// The 64-bit id or byte counters would overflow.
    CounterExhausted,
    /// Blocking mode: the message needs the writer to retire a message that registered
    /// reader `reader` has not read yet.
    Blocked {
        /// The slowest registered reader's record index.
        reader: u32,
        /// Its cursor.
        cursor: u64,
        /// The cursor every registered reader must reach first.
        needed: u64,
    },
    /// Blocking mode: the writer waited longer than its timeout for a registered reader.
    TimedOut {
        /// The slowest registered reader's record index.
        reader: u32,
        /// Its cursor.
        cursor: u64,
        /// How long the writer waited, in milliseconds.
        waited_ms: u64,
    },
}

impl From<CoreWriteError> for WriteError {
    fn from(e: CoreWriteError) -> Self {
        match e {
            CoreWriteError::MessageTooLarge { len, max } => {
                WriteError::MessageTooLarge { len, max }
            }
            CoreWriteError::RawLenMismatch { raw_len, len } => {
                WriteError::RawLenMismatch { raw_len, len }
            }
            CoreWriteError::UnknownFlags { flags } => WriteError::UnknownFlags { flags },
            CoreWriteError::CounterExhausted => WriteError::CounterExhausted,
            CoreWriteError::Blocked {
                reader,
                cursor,
                needed,
            } => WriteError::Blocked {
                reader,
                cursor,
                needed,
            },
        }
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            WriteError::MessageTooLarge { len, max } => {
                CoreWriteError::MessageTooLarge { len, max }.fmt(f)
            }
            WriteError::RawLenMismatch { raw_len, len } => {
                CoreWriteError::RawLenMismatch { raw_len, len }.fmt(f)
            }
            WriteError::UnknownFlags { flags } => CoreWriteError::UnknownFlags { flags }.fmt(f),
            WriteError::CounterExhausted => CoreWriteError::CounterExhausted.fmt(f),
            WriteError::Blocked {
                reader,
                cursor,
                needed,
            } => CoreWriteError::Blocked {
                reader,
                cursor,
                needed,
            }
            .fmt(f),
            WriteError::TimedOut {
                reader,
                cursor,
                waited_ms,
            } => write!(
                f,
                "timed out after {waited_ms} ms waiting for registered reader {reader} (it \
                 reads id {cursor} next)"
            ),
        }
    }
}

impl std::error::Error for WriteError {}

/// How to create a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateOptions {
    /// Slots in the slot table: at most this many messages are present at once.
    pub slots_count: u32,
    /// Size of the message buffer in bytes.
    pub buf_size_bytes: u64,
    /// Compression of every message (off by default, as in LROSE).
    pub compression: Compression,
    /// Replace a queue that exists (its readers see `Replaced`); refused otherwise.
    pub force: bool,
    /// Mode of new files (before the umask); 0644 by default, never world-writable.
    pub mode: u32,
    /// Locking, unless `FMQ_USE_FILE_LOCKING` says otherwise.
    pub locking: Locking,
    /// Blocking (archive) mode: the writer never overwrites a message that a live
    /// registered reader has not read (DESIGN invariant 9). Needs `readers_max >= 1`.
    pub blocking: bool,
    /// Reader records in the registry (0: none; readers cannot register).
    pub readers_max: u32,
    /// Blocking mode: a registered reader whose heartbeat is older than this is judged dead
    /// and unregistered (zero: only a reader whose process is gone). Stored in the queue.
    pub reader_timeout: Duration,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            slots_count: fmq_core::DEFAULT_SLOTS_COUNT,
            buf_size_bytes: fmq_core::DEFAULT_BUF_SIZE_BYTES,
            compression: Compression::None,
            force: false,
            mode: 0o644,
            locking: Locking::On,
            blocking: false,
            readers_max: 0,
            reader_timeout: Duration::from_secs(10),
        }
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

/// The writer of a queue. One per queue at a time (the lock); `Send`, not `Sync`.
pub struct Writer {
    core: fmq_core::Writer<MappedRegion>,
    lock: WriterLock,
    queue: QueuePath,
    compression: Compression,
    scratch: Vec<u8>,
    recovery: Option<RecoveryReport>,
    /// Blocking mode: how long a write waits for registered readers (`None`: as long as
    /// they live).
    write_timeout: Option<Duration>,
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
    pub cursor: u64,
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
        /// How old it was, in milliseconds.
        age_ms: u64,
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
            DropReason::HeartbeatTimeout { age_ms } => {
                write!(f, "no heartbeat for {age_ms} ms")
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
    let deadline = std::time::Instant::now() + Duration::from_millis(200);
    while matches!(took, Ok(false))
        && std::time::Instant::now() < deadline
        && crate::queue::mark_pid(region).is_some_and(|pid| !crate::lock::pid_alive(pid))
    {
        std::thread::sleep(Duration::from_millis(2));
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
    pub fn create(spec: &str, opts: &CreateOptions) -> Result<Writer, OpenError> {
        let queue = QueuePath::resolve(spec)?;
        // Nothing is touched (not even a lock file created) for a queue that exists when
        // not replacing it, or for files that are not fmq's (never replaced, even forced).
        crate::queue::check_is_ours(&queue, opts.force, opts.force)?;
        if !opts.force && crate::queue::exists(&queue) {
            return Err(OpenError::AlreadyExists {
                queue: queue.spec().into(),
            });
        }
        // Sizes and space are checked before the lock is taken, so that a create refused
        // for them leaves nothing behind, not even a lock file.
        let layout = Layout::from_config(&create_config(opts)).map_err(OpenError::Config)?;
        crate::map::check_space(&queue, layout.stat_size_bytes(), layout.buf_size_bytes())?;
        let locking = Locking::resolve(opts.locking)?;
        let mut lock = WriterLock::acquire(&queue, locking, opts.mode)?;
        match Writer::create_locked(&queue, opts, locking, &mut lock) {
            Ok(core) => Ok(Writer {
                core,
                lock,
                queue,
                compression: opts.compression,
                scratch: Vec::new(),
                recovery: None,
                write_timeout: None,
                dropped: Vec::new(),
            }),
            Err(e) => {
                // A refused or failed create leaves no lock file behind.
                lock.discard();
                Err(e)
            }
        }
    }

    /// [`Writer::create`] once the lock is held.
    fn create_locked(
        queue: &QueuePath,
        opts: &CreateOptions,
        locking: Locking,
        lock: &mut WriterLock,
    ) -> Result<fmq_core::Writer<MappedRegion>, OpenError> {
        // Under the lock: another creator may have won the race.
        if crate::queue::exists(queue) {
            if !opts.force {
                return Err(OpenError::AlreadyExists {
                    queue: queue.spec().into(),
                });
            }
            crate::queue::check_is_ours(queue, true, true)?;
            // A live writer of the old queue that does not hold this lock (its lock file was
            // removed, or it names the same data another way) holds its token.
            if let Ok(old) = MappedRegion::open(queue, false) {
                crate::queue::refuse_live_writer(queue, &old)?;
            }
        }
        let config = create_config(opts);
        let layout = Layout::from_config(&config).map_err(OpenError::Config)?;
        // A re-creation that died half way is finished first, so the replacement below
        // starts from a complete queue.
        crate::map::repair(queue);
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
        let mut core = fmq_core::Writer::format(region, &config).map_err(OpenError::Format)?;
        core.set_pid(std::process::id());
        let generation = core.generation();
        core.region().write_buf_header(generation);
        core.region().publish(queue, new_files)?;
        lock.write_pid()?;
        Ok(core)
    }

    /// Opens an existing queue as its writer, recovering it if its previous writer died.
    /// Never formats: everything published stays readable.
    pub fn open(spec: &str) -> Result<Writer, OpenError> {
        Writer::open_with(spec, Locking::On)
    }

    /// [`Writer::open`] with a locking choice (the environment still overrides it).
    pub fn open_with(spec: &str, locking: Locking) -> Result<Writer, OpenError> {
        let queue = QueuePath::resolve(spec)?;
        // Do not create a lock file for a queue that does not exist, nor touch anything of
        // files that are not an fmq queue of this user's.
        if !crate::queue::exists(&queue) {
            return Err(OpenError::NotFound {
                queue: queue.spec().into(),
            });
        }
        crate::queue::check_is_ours(&queue, true, false)?;
        let locking = Locking::resolve(locking)?;
        let mut lock = WriterLock::acquire(&queue, locking, 0o644)?;
        match Writer::open_locked(&queue, locking, &mut lock) {
            Ok((core, report, compression)) => Ok(Writer {
                core,
                lock,
                queue,
                compression,
                scratch: Vec::new(),
                recovery: Some(report),
                write_timeout: None,
                dropped: Vec::new(),
            }),
            Err(e) => {
                lock.discard();
                Err(e)
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
        let region = MappedRegion::open(queue, true)?;
        // The lock serialises this name; the token proves that no writer lives on the data
        // itself (under another name, or after its lock file was removed): a mark naming a
        // live writer is never recovered.
        take_writer_token(queue, &region, locking)?;
        // Refuse a queue this build cannot write before recovery changes anything in it.
        let flags = Layout::from_header(&region)
            .map(|a| a.queue_flags)
            .map_err(|e| OpenError::Recover {
                queue: queue.spec().into(),
                source: e.into(),
            })?;
        let compression = Compression::from_codec(flags).ok_or(OpenError::UnknownCodec {
            queue: queue.spec().into(),
            codec: flags,
        })?;
        let (mut core, report) =
            fmq_core::Writer::recover(region).map_err(|source| OpenError::Recover {
                queue: queue.spec().into(),
                source,
            })?;
        core.set_pid(std::process::id());
        // Recovery may issue ids again (the one in flight, and any above a commit point it
        // lowered after a power loss): its result is made durable before the first write, so
        // that no later power loss can bring back an older message under such an id.
        let region = core.region();
        core.flush_with(|step| {
            region
                .sync(step)
                .map_err(|e| OpenError::io("sync", synced_file(queue, step), e))
        })?;
        // Only now that the files are known to be a queue: the pid into the lock file.
        lock.write_pid()?;
        Ok((core, report, compression))
    }

    /// Opens the queue if it exists, else creates it with `opts`.
    pub fn open_or_create(spec: &str, opts: &CreateOptions) -> Result<Writer, OpenError> {
        match Writer::open_with(spec, opts.locking) {
            Err(OpenError::NotFound { .. }) => Writer::create(spec, opts),
            other => other,
        }
    }

    /// Appends a message stamped with the current time; returns its id.
    pub fn write(
        &mut self,
        msg_type: i32,
        subtype: i32,
        payload: &[u8],
    ) -> Result<MessageId, WriteError> {
        self.write_message(&NewMessage::new(msg_type, subtype, now_ns(), payload))
    }

    /// Appends a message (compressing it if the queue compresses and it is smaller so).
    /// In blocking mode it waits while a registered reader has not read a message the write
    /// must retire (see [`Writer::set_write_timeout`]).
    pub fn write_message(&mut self, msg: &NewMessage<'_>) -> Result<MessageId, WriteError> {
        let compressed_len = self.compress(msg);
        // Set on the first `Blocked` only: no clock read per message.
        let mut started = None;
        let mut spins = 0;
        loop {
            let got = match compressed_len {
                Some(n) => {
                    let compressed = NewMessage {
                        payload: &self.scratch[..n],
                        ..*msg
                    }
                    .compressed(msg.payload.len() as u64);
                    self.core.write_message(&compressed)
                }
                None => self.core.write_message(msg),
            };
            match got {
                Ok(id) => {
                    self.wake();
                    return Ok(id);
                }
                Err(CoreWriteError::Blocked { reader, cursor, .. }) => {
                    self.wait_for_reader(reader, cursor, &mut started, &mut spins)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Blocking mode: how long a write may wait for registered readers before it fails
    /// with `WriteError::TimedOut` (`None`, the default: as long as they live; dead readers
    /// are unregistered and stop holding it back).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// Registered readers this writer unregistered as dead since the last call (the
    /// header's `readers_dropped` counts them for `fmq info`).
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
        started: &mut Option<Instant>,
        spins: &mut u32,
    ) -> Result<(), WriteError> {
        // Readers that were waiting for this write have something to read meanwhile.
        self.wake();
        if self.drop_if_dead(index) {
            return Ok(());
        }
        let waited = started.get_or_insert_with(Instant::now).elapsed();
        if self.write_timeout.is_some_and(|t| waited >= t) {
            return Err(WriteError::TimedOut {
                reader: index,
                cursor,
                waited_ms: waited.as_millis().min(u128::from(u64::MAX)) as u64,
            });
        }
        if *spins < BLOCKED_SPINS {
            *spins += 1;
            std::hint::spin_loop();
            return Ok(());
        }
        let left = self
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
        let timeout_ms = self.reader_timeout_ms();
        let age_ms = monotonic_ns().saturating_sub(rec.heartbeat_ns) / 1_000_000;
        // The reader's token (an OFD lock the kernel drops when its process dies, in any
        // pid namespace) says whether it lives; the pid only where there are no tokens.
        let region = self.core.region();
        let gone = match token_state(region.token_file(), reader_token(index)) {
            Token::Free => true,
            Token::Held => false,
            Token::Unknown => rec.pid() != std::process::id() && !crate::lock::pid_alive(rec.pid()),
        };
        let reason = if gone {
            DropReason::ProcessGone
        } else if timeout_ms > 0 && age_ms > timeout_ms {
            DropReason::HeartbeatTimeout { age_ms }
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
            cursor: rec.cursor,
            reason,
        };
        self.dropped.push(event);
        true
    }

    /// The queue's reader timeout (blocking mode), in milliseconds; 0: none.
    pub fn reader_timeout_ms(&self) -> u64 {
        fmq_core::Header::load(fmq_core::Region::stat_words(self.core.region()))
            .map_or(0, |h| h.reader_timeout_ms)
    }

    /// Whether the queue is in blocking mode.
    pub fn is_blocking(&self) -> bool {
        self.core.is_blocking()
    }

    /// Appends messages with one commit (one wake); returns the last id, `None` if empty.
    /// Compressed queues compress each message.
    ///
    /// In blocking mode a batch that must wait for registered readers is published in parts:
    /// the messages before the wait are readable while the writer waits.
    pub fn write_batch(
        &mut self,
        msgs: &[NewMessage<'_>],
    ) -> Result<Option<MessageId>, WriteError> {
        let last = if self.compression == Compression::None {
            let mut started = None;
            let mut spins = 0;
            let mut rest = msgs;
            loop {
                let before = self.core.youngest_id().0;
                match self.core.write_batch(rest) {
                    Ok(last) => break last,
                    Err(CoreWriteError::Blocked { reader, cursor, .. }) => {
                        let done = (self.core.youngest_id().0 - before) as usize;
                        rest = &rest[done.min(rest.len())..];
                        self.wait_for_reader(reader, cursor, &mut started, &mut spins)?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        } else if self.core.is_blocking() {
            // Compressed and blocking: one message at a time (each waits as needed).
            let mut last = None;
            for m in msgs {
                last = Some(self.write_message(m)?);
            }
            last
        } else {
            let mut bufs: Vec<Option<Vec<u8>>> = Vec::with_capacity(msgs.len());
            for m in msgs {
                bufs.push(self.compress(m).map(|n| self.scratch[..n].to_vec()));
            }
            let out: Vec<NewMessage<'_>> = msgs
                .iter()
                .zip(&bufs)
                .map(|(m, b)| match b {
                    Some(b) => NewMessage { payload: b, ..*m }.compressed(m.payload.len() as u64),
                    None => *m,
                })
                .collect();
            self.core.write_batch(&out)?
        };
        self.wake();
        Ok(last)
    }

    /// Compresses `msg` into `scratch` if the queue compresses and it gets smaller; returns
    /// the compressed length.
    fn compress(&mut self, msg: &NewMessage<'_>) -> Option<usize> {
        if self.compression != Compression::Lz4 || msg.flags & MSG_FLAG_COMPRESSED != 0 {
            return None;
        }
        crate::compress::lz4_compress(msg.payload, &mut self.scratch)
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
    pub fn flush(&self) -> std::io::Result<()> {
        let region = self.core.region();
        self.core.flush_with(|step| region.sync(step))
    }

    /// What recovery found when this writer took the queue over (`None` for a new queue).
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
        let e = OpenError::io(
            "sync",
            synced_file(&q, FlushStep::Buf),
            std::io::Error::from_raw_os_error(libc::EIO),
        );
        let text = e.to_string();
        assert!(text.starts_with("cannot sync /tmp/q.buf: "), "{text}");
        assert_eq!(text.matches("os error 5").count(), 1, "{text}");
        assert!(std::error::Error::source(&e).is_none());
    }
}
