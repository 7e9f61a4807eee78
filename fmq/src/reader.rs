//! A reader in any process: opens a queue's files without locking anything, follows the
//! writer, waits without burning a core, decompresses, and notices when the queue under it
//! is replaced, removed or truncated.
//!
//! Readers that never wait never write to shared memory (DESIGN invariant 5); a reader that
//! sleeps sets the wake flag (see `wait.rs`). A reader whose mapping cannot be writable (a
//! queue owned by another user, mode 0644) maps read-only and polls instead.

use std::time::{Duration, Instant};

use fmq_core::header::{unpack, word as hw};
use fmq_core::sync::Ordering;
use fmq_core::{LagPolicy, MessageId, MessageMeta, Region, StartAt};

use crate::compress::{lz4_decompress, lz4_max_expanded, Compression};
use crate::error::{Lag, OpenError, ReadError, ReadTimeoutError, RegisterError, TryReadError};
use crate::lock::{pid_alive, reader_token, release_token, take_token, Token, WRITER_TOKEN};
use crate::map::MappedRegion;
use crate::message::{MessageRef, Received};
use crate::path::IntoQueuePath;
use crate::path::QueuePath;
use crate::wait::{monotonic_ns, sleep_on_commit, wake_writer, WaitStrategy};

/// How a reader opens a queue and reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderOptions {
    /// Where to start: [`StartAt::End`] (the default) reads only messages written after
    /// opening.
    pub start: StartAt,
    /// Where to resume when overrun (see the crate's "Lagging").
    pub lag_policy: LagPolicy,
    /// How to wait in the blocking reads.
    pub wait: WaitStrategy,
    /// The largest expanded size accepted for a compressed message (an allocation bound
    /// against a corrupt or hostile size in shared memory): larger ones are skipped with
    /// [`ReadError::TooLarge`]. 1 GiB by default.
    pub max_message_bytes: u64,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            start: StartAt::End,
            lag_policy: LagPolicy::ResumeAtOldest,
            wait: WaitStrategy::default(),
            max_message_bytes: 1 << 30,
        }
    }
}

/// What the header's writer mark says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterStatus {
    /// No writer has the queue open (the last one closed cleanly).
    Closed {
        /// The last writer's pid (0 if none recorded).
        last_pid: u32,
    },
    /// The mark says a writer has the queue open.
    Open {
        /// Its pid.
        pid: u32,
        /// Whether that writer lives. `false` means it died: the next writer recovers the
        /// queue, and [`clear`](crate::clear) resets the mark.
        alive: bool,
    },
}

/// A reader of one queue.
pub struct Reader {
    core: fmq_core::Reader<MappedRegion>,
    queue: QueuePath,
    opts: ReaderOptions,
    compression: Compression,
    scratch: Vec<u8>,
    out: Vec<u8>,
    last_check: Instant,
    /// A jump of this reader's position not yet reported (a registration that had to start
    /// later than where the reader was): returned as `Lagged` by the next read.
    pending_lag: Option<Lag>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("queue", &self.queue.spec())
            .field("position", &self.core.position())
            .finish()
    }
}

/// How often a waiting reader checks that its files are still the queue's.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

impl Reader {
    /// Opens a queue that exists, as [`ReaderOptions`] say. Takes no lock and writes
    /// nothing. A queue this user may not write (another user's) or on a read-only file
    /// system is read through a read-only mapping, polling instead of sleeping on the futex.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Reader, ReaderOptions, StartAt, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// writer.write(1, 0, b"before")?;
    /// let opts = ReaderOptions { start: StartAt::Oldest, ..ReaderOptions::default() };
    /// let mut reader = Reader::open(&queue, &opts)?;
    /// assert_eq!(reader.try_read()?.payload, b"before");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(queue: impl IntoQueuePath, opts: &ReaderOptions) -> Result<Reader, OpenError> {
        let queue = crate::path::resolve(queue)?;
        let opts = *opts;
        // A writer re-creating the queue swaps `.buf` and `.stat` one after the other; a
        // reader between the two finds the old `.buf` under its backup name, and one that
        // races the backup's removal retries until the pair is complete.
        let region =
            MappedRegion::open_settled(|| match MappedRegion::open(&queue, opts.wait.futex) {
                Err(OpenError::Io { source, .. })
                    if opts.wait.futex
                        && (source.kind() == std::io::ErrorKind::PermissionDenied
                            || source.raw_os_error() == Some(libc::EROFS)) =>
                {
                    MappedRegion::open(&queue, false)
                }
                other => other,
            })?;
        let config = fmq_core::ReaderConfig {
            start: opts.start,
            lag_policy: opts.lag_policy,
        };
        let core =
            fmq_core::Reader::attach(region, config).map_err(|reason| OpenError::Attach {
                queue: queue.spec().into(),
                reason,
            })?;
        let compression =
            Compression::from_codec(core.queue_flags()).ok_or(OpenError::UnknownCodec {
                queue: queue.spec().into(),
                codec: core.queue_flags(),
            })?;
        let initial = core.layout().max_message_bytes().min(64 << 10) as usize;
        Ok(Reader {
            core,
            queue,
            opts,
            compression,
            scratch: vec![0; initial],
            out: Vec::new(),
            last_check: Instant::now(),
            pending_lag: None,
        })
    }

    /// Opens a queue, waiting up to `timeout` for it to be created (and for a queue being
    /// created to be complete: see [`OpenError::is_not_ready`]). `Duration::MAX` waits
    /// forever. Fails with the last error seen when the time is up.
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, OpenError, Reader, ReaderOptions, Writer};
    /// use std::time::Duration;
    ///
    /// let opts = ReaderOptions::default();
    /// let early = Reader::open_timeout(&queue, &opts, Duration::from_millis(20));
    /// assert!(matches!(early, Err(OpenError::NotFound { .. })));
    /// let creator = {
    ///     let queue = queue.clone();
    ///     std::thread::spawn(move || Writer::create(&queue, &CreateOptions::default()))
    /// };
    /// let reader = Reader::open_timeout(&queue, &opts, Duration::from_secs(10))?;
    /// let _writer = creator.join().expect("creator")?;
    /// assert_eq!(reader.position().0, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_timeout(
        queue: impl IntoQueuePath,
        opts: &ReaderOptions,
        timeout: Duration,
    ) -> Result<Reader, OpenError> {
        let queue = queue.into_queue_path()?;
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match Reader::open(&queue, opts) {
                Err(e) if e.is_not_ready() => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(e);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Reads the next message, waiting as long as it takes: spin, then sleep on the futex
    /// (or poll, as [`ReaderOptions::wait`] says). While waiting it checks, every 100 ms,
    /// that the queue was not replaced, removed or truncated under it.
    ///
    /// A lag is an error value to handle and go on from: see the crate's "Lagging".
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Reader, ReaderOptions, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let mut reader = Reader::open(&queue, &ReaderOptions::default())?;
    /// let producer = std::thread::spawn(move || writer.write(1, 0, b"later"));
    /// let msg = reader.read()?; // waits until the producer wrote
    /// assert_eq!(msg.payload, b"later");
    /// producer.join().expect("producer")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(&mut self) -> Result<MessageRef<'_>, ReadError> {
        loop {
            if let Some(got) = self.wait_next(None)? {
                return Ok(self.message(got));
            }
        }
    }

    /// [`Reader::read`], waiting at most `timeout`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, ReadTimeoutError, Reader, ReaderOptions, Writer};
    /// use std::time::Duration;
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let mut reader = Reader::open(&queue, &ReaderOptions::default())?;
    /// let nothing = reader.read_timeout(Duration::from_millis(10));
    /// assert_eq!(nothing.unwrap_err(), ReadTimeoutError::TimedOut);
    /// writer.write(7, 0, b"radar volume")?;
    /// let msg = reader.read_timeout(Duration::from_secs(1))?;
    /// assert_eq!((msg.meta.msg_type, msg.payload), (7, &b"radar volume"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<MessageRef<'_>, ReadTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.read_deadline(deadline),
            None => Ok(self.read()?),
        }
    }

    /// [`Reader::read`], waiting until `deadline` at the latest.
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, ReadTimeoutError, Reader, ReaderOptions, Writer};
    /// use std::time::{Duration, Instant};
    ///
    /// let _writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let mut reader = Reader::open(&queue, &ReaderOptions::default())?;
    /// let deadline = Instant::now() + Duration::from_millis(10);
    /// assert_eq!(reader.read_deadline(deadline).unwrap_err(), ReadTimeoutError::TimedOut);
    /// assert!(Instant::now() >= deadline);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_deadline(&mut self, deadline: Instant) -> Result<MessageRef<'_>, ReadTimeoutError> {
        match self.wait_next(Some(deadline))? {
            Some(got) => Ok(self.message(got)),
            None => Err(ReadTimeoutError::TimedOut),
        }
    }

    /// Reads the next message if one is there, without waiting.
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Reader, ReaderOptions, TryReadError, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let mut reader = Reader::open(&queue, &ReaderOptions::default())?;
    /// assert_eq!(reader.try_read().unwrap_err(), TryReadError::Empty);
    /// writer.write(1, 0, b"now")?;
    /// assert_eq!(reader.try_read()?.payload, b"now");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_read(&mut self) -> Result<MessageRef<'_>, TryReadError> {
        match self.next()? {
            Some(got) => Ok(self.message(got)),
            None => Err(TryReadError::Empty),
        }
    }

    /// An endless iterator over the messages to come, owned, waiting for each as
    /// [`Reader::read`] does. A lag is an item ([`Received::Lagged`]); so is a skipped
    /// message (`Err` with [`ReadError::is_skipped_message`]), and the iterator goes on after
    /// both. After a fatal error ([`ReadError::is_fatal`]) it yields that error once and
    /// then ends.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Reader, ReaderOptions, Received, StartAt, Writer};
    ///
    /// let small = CreateOptions { slots_count: 4, ..CreateOptions::default() };
    /// let mut writer = Writer::create(&queue, &small)?;
    /// let opts = ReaderOptions { start: StartAt::Oldest, ..ReaderOptions::default() };
    /// let mut reader = Reader::open(&queue, &opts)?;
    /// for i in 0..6u8 {
    ///     writer.write(0, 0, &[i])?; // 4 slots: the first two are overwritten
    /// }
    /// let items: Vec<Received> = reader.messages().take(5).collect::<Result<_, _>>()?;
    /// assert!(matches!(&items[0], Received::Lagged(lag) if lag.missed_count == 2));
    /// let payloads: Vec<u8> = items[1..]
    ///     .iter()
    ///     .map(|item| match item {
    ///         Received::Message(m) => m.payload[0],
    ///         Received::Lagged(_) => unreachable!("one lag only"),
    ///     })
    ///     .collect();
    /// assert_eq!(payloads, [2, 3, 4, 5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn messages(&mut self) -> impl Iterator<Item = Result<Received, ReadError>> + '_ {
        let mut ended = false;
        std::iter::from_fn(move || {
            if ended {
                return None;
            }
            let item = loop {
                match self.wait_next(None) {
                    Ok(Some(got)) => break Ok(Received::Message(self.message(got).to_message())),
                    Ok(None) => continue,
                    Err(e) => break received_or_error(e),
                }
            };
            ended = matches!(&item, Err(e) if e.is_fatal());
            Some(item)
        })
    }

    /// An iterator over the messages there now, owned, ending when there is none (it does
    /// not wait). Lags and errors are items as in [`Reader::messages`].
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Reader, ReaderOptions, Received, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let mut reader = Reader::open(&queue, &ReaderOptions::default())?;
    /// for word in ["a", "b", "c"] {
    ///     writer.write(1, 0, word.as_bytes())?;
    /// }
    /// let mut got = Vec::new();
    /// for item in reader.try_iter() {
    ///     if let Received::Message(m) = item? {
    ///         got.push(m.payload);
    ///     }
    /// }
    /// assert_eq!(got, [b"a", b"b", b"c"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&mut self) -> impl Iterator<Item = Result<Received, ReadError>> + '_ {
        let mut ended = false;
        std::iter::from_fn(move || {
            if ended {
                return None;
            }
            let item = match self.next() {
                Ok(Some(got)) => Ok(Received::Message(self.message(got).to_message())),
                Ok(None) => return None,
                Err(e) => received_or_error(e),
            };
            ended = matches!(&item, Err(e) if e.is_fatal());
            Some(item)
        })
    }

    /// The next message, waiting until `deadline` (`None`: until one comes); `Ok(None)` when
    /// the deadline passed.
    fn wait_next(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<(MessageMeta, bool)>, ReadError> {
        // A message that is there already costs no clock read: the spin window starts at the
        // first miss.
        if let Some(got) = self.next()? {
            return Ok(Some(got));
        }
        let spin_until = Instant::now().checked_add(self.opts.wait.spin_for);
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                self.core.region().check()?;
                return Ok(None);
            }
            if now.duration_since(self.last_check) >= CHECK_INTERVAL {
                self.last_check = now;
                self.core.region().check()?;
            }
            let left = deadline.map_or(Duration::MAX, |d| d - now);
            self.wait_once(spin_until.map_or(true, |s| now < s), left);
            if let Some(got) = self.next()? {
                return Ok(Some(got));
            }
        }
    }

    fn wait_once(&self, spinning: bool, left: Duration) {
        let wanted = self.core.position().0;
        let region = self.core.region();
        let Some(commit) = region.commit_word() else {
            std::thread::sleep(self.opts.wait.poll_interval.min(left));
            return;
        };
        if spinning {
            for _ in 0..64 {
                // ORDERING: Relaxed: only a hint to stop spinning; the read path's load of the
                // commit point and its fence(Acquire) publish the message.
                if commit.load(Ordering::Relaxed) >= wanted {
                    return;
                }
                std::hint::spin_loop();
            }
            return;
        }
        match region.sleepers_word() {
            Some(sleepers) if self.opts.wait.futex && region.is_writable() => {
                // ORDERING: Relaxed: compared only; see `sleep_on_commit`.
                let seen = commit.load(Ordering::Relaxed);
                if seen >= wanted {
                    return;
                }
                sleep_on_commit(commit, sleepers, seen, left);
            }
            _ => std::thread::sleep(self.opts.wait.poll_interval.min(left)),
        }
    }

    /// Registers this reader with the queue's reader registry under `name` (up to 24 bytes
    /// kept): in a blocking queue the writer then never overwrites a message this reader
    /// has not read, and waits for it instead (DESIGN invariant 9). Returns the id it reads
    /// next. The registration ends when the reader is dropped, or when the writer judges it
    /// dead (its process gone, or no read or wait for longer than the queue's reader
    /// timeout): the next read then returns `ReadError::Unregistered`.
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Reader, ReaderOptions, RegisterError, Writer};
    ///
    /// let opts = CreateOptions { blocking: true, readers_max: 2, ..CreateOptions::default() };
    /// let _writer = Writer::create(&queue, &opts)?;
    /// let mut archiver = Reader::open(&queue, &ReaderOptions::default())?;
    /// let next = archiver.register("archiver")?;
    /// assert_eq!(next.0, 1);
    /// assert!(matches!(archiver.register("again"), Err(RegisterError::AlreadyRegistered { .. })));
    /// assert_eq!(fmq::info(&queue)?.readers[0].name, "archiver");
    /// archiver.unregister();
    /// assert!(fmq::info(&queue)?.readers.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(&mut self, name: &str) -> Result<MessageId, RegisterError> {
        if !self.core.region().is_writable() {
            return Err(RegisterError::ReadOnly {
                queue: self.queue.spec().into(),
            });
        }
        let before = self.core.position();
        // A second descriptor of the same open file description: the tokens are its OFD
        // locks, held for as long as the mapping's descriptor lives.
        let file = self
            .core
            .region()
            .token_file()
            .try_clone()
            .map_err(|e| RegisterError::Io { source: e })?;
        let mut taken: Vec<u32> = Vec::new();
        let mut tokens = true;
        let got = self.core.register_with(
            name.as_bytes(),
            crate::sys::pid(),
            monotonic_ns(),
            |index, owner| match take_token(&file, reader_token(index)) {
                // Free, or its owner is dead: only a dead process gives a token up.
                Ok(true) => {
                    if !taken.contains(&index) {
                        taken.push(index);
                    }
                    true
                }
                // A live process holds it: its owner, or another reader registering.
                Ok(false) => false,
                Err(_) => {
                    tokens = false;
                    owner == 0
                }
            },
        );
        let claimed = got.as_ref().ok().and(self.core.registration());
        for index in taken {
            if Some(index) != claimed {
                release_token(&file, reader_token(index));
            }
        }
        if got.is_err() && !tokens {
            // No OFD locks here: free the records of dropped readers whose pid is gone, and
            // try once more.
            if self.core.reclaim_dropped(|pid| !pid_alive(pid)) > 0 {
                return self.register(name);
            }
        }
        let start = got?;
        // Every jump of a reader's position is reported with its exact count (invariant 4):
        // a registration that had to start after where this reader was skips those ids.
        if start.0 > before.0 {
            self.pending_lag = Some(Lag {
                missed_count: start.0 - before.0,
                resumed_at: start,
            });
        }
        Ok(start)
    }

    /// The registry record this reader holds, if registered.
    pub fn registration(&self) -> Option<u32> {
        self.core.registration()
    }

    /// Gives up the registration (the writer stops waiting for this reader).
    pub fn unregister(&mut self) {
        let index = self.core.registration();
        self.core.unregister();
        if let Some(index) = index {
            release_token(self.core.region().token_file(), reader_token(index));
        }
    }

    /// Reads and validates the next message into `scratch` (and `out` if compressed);
    /// `Ok(None)` when there is none yet.
    fn next(&mut self) -> Result<Option<(MessageMeta, bool)>, ReadError> {
        if let Some(lag) = self.pending_lag.take() {
            return Err(ReadError::Lagged(lag));
        }
        if self.core.registration().is_none() {
            return self.next_unregistered();
        }
        self.core.heartbeat(monotonic_ns());
        let got = self.next_unregistered();
        if let Err(ReadError::Unregistered { index }) = got {
            // The record is free again: so is its token.
            release_token(self.core.region().token_file(), reader_token(index));
        }
        if self.core.writer_waiting() {
            if let Some(cursor) = self.core.cursor_word() {
                wake_writer(cursor);
            }
        }
        got
    }

    fn next_unregistered(&mut self) -> Result<Option<(MessageMeta, bool)>, ReadError> {
        use fmq_core::ReadError as Core;
        let meta = loop {
            match self.core.try_read(&mut self.scratch) {
                Ok(meta) => break meta,
                // `needed` is at most the layout's message bound (checked by the core).
                Err(Core::BufferTooSmall { needed }) => self.scratch.resize(needed, 0),
                Err(Core::Empty) => return Ok(None),
                Err(Core::Lagged {
                    missed_count,
                    resumed_at,
                }) => {
                    return Err(ReadError::Lagged(Lag {
                        missed_count,
                        resumed_at,
                    }))
                }
                Err(Core::Corrupt { id, reason }) => return Err(ReadError::Corrupt { id, reason }),
                Err(Core::GenerationChanged { .. }) => return Err(ReadError::GenerationChanged),
                Err(Core::Unregistered { index }) => return Err(ReadError::Unregistered { index }),
            }
        };
        if !meta.is_compressed() {
            return Ok(Some((meta, false)));
        }
        self.decompress(&meta)?;
        Ok(Some((meta, true)))
    }

    /// Expands the compressed message in `scratch` into `out`, refusing sizes that its
    /// stored bytes cannot produce or that are above the reader's limit.
    fn decompress(&mut self, meta: &MessageMeta) -> Result<(), ReadError> {
        if self.compression != Compression::Lz4 {
            return Err(ReadError::BadCompressed { id: meta.id });
        }
        let max = self.opts.max_message_bytes;
        if meta.raw_len > max {
            return Err(ReadError::TooLarge {
                id: meta.id,
                raw_len: meta.raw_len,
                max,
            });
        }
        if meta.raw_len > lz4_max_expanded(meta.len as u64)
            || !lz4_decompress(
                &self.scratch[..meta.len],
                meta.raw_len as usize,
                &mut self.out,
            )
        {
            return Err(ReadError::BadCompressed { id: meta.id });
        }
        Ok(())
    }

    fn message(&self, (meta, decompressed): (MessageMeta, bool)) -> MessageRef<'_> {
        let payload = if decompressed {
            &self.out[..meta.raw_len as usize]
        } else {
            &self.scratch[..meta.len]
        };
        MessageRef { meta, payload }
    }

    /// Moves the read position; returns the id the next read returns (or waits for).
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Reader, ReaderOptions, StartAt, Writer};
    ///
    /// let mut writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let mut reader = Reader::open(&queue, &ReaderOptions::default())?;
    /// for i in 0..5u8 {
    ///     writer.write(1, 0, &[i])?;
    /// }
    /// assert_eq!(reader.seek(StartAt::Youngest).0, 5); // re-read the newest
    /// assert_eq!(reader.seek(StartAt::Oldest).0, 1);
    /// assert_eq!(reader.try_read()?.payload, [0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seek(&mut self, to: StartAt) -> MessageId {
        self.core.seek(to)
    }

    /// The id the next read returns (or waits for).
    pub fn position(&self) -> MessageId {
        self.core.position()
    }

    /// The youngest id published.
    pub fn youngest_id(&self) -> MessageId {
        self.core.youngest_id()
    }

    /// The queue.
    pub fn queue(&self) -> &QueuePath {
        &self.queue
    }

    /// The queue's layout.
    pub fn layout(&self) -> &fmq_core::Layout {
        self.core.layout()
    }

    /// The queue's compression.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Whether this reader can sleep on the futex (its mapping is writable).
    pub fn can_sleep(&self) -> bool {
        self.opts.wait.futex && self.core.region().is_writable()
    }

    /// What the writer mark says, with a liveness check of the pid it names.
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, Reader, ReaderOptions, Writer, WriterStatus};
    ///
    /// let writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let reader = Reader::open(&queue, &ReaderOptions::default())?;
    /// let me = std::process::id();
    /// assert_eq!(reader.writer_status(), WriterStatus::Open { pid: me, alive: true });
    /// drop(writer);
    /// assert_eq!(reader.writer_status(), WriterStatus::Closed { last_pid: me });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer_status(&self) -> WriterStatus {
        writer_status(self.core.region())
    }

    /// Checks that the queue was not replaced, removed or truncated under this reader.
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let queue = dir.path().join("q");
    /// use fmq::{CreateOptions, ReadError, Reader, ReaderOptions, Writer};
    ///
    /// let writer = Writer::create(&queue, &CreateOptions::default())?;
    /// let reader = Reader::open(&queue, &ReaderOptions::default())?;
    /// reader.check_files()?;
    /// drop(writer);
    /// fmq::remove(&queue)?;
    /// assert_eq!(reader.check_files(), Err(ReadError::Removed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_files(&self) -> Result<(), ReadError> {
        self.core.region().check()
    }
}

/// The writer mark of a region, with a liveness check: the writer's token (an OFD lock the
/// kernel drops when the writer dies, in any pid namespace), or the pid where the file
/// system has no OFD locks.
pub(crate) fn writer_status(region: &MappedRegion) -> WriterStatus {
    let mark = region
        .stat_words()
        .get(hw::WRITER_MARK)
        // ORDERING: Relaxed: the mark is advisory.
        .map_or(0, |w| w.load(Ordering::Relaxed));
    let (pid, open) = unpack(mark);
    if open != 0 {
        let alive = match crate::lock::token_state(region.token_file(), WRITER_TOKEN) {
            Token::Held => true,
            Token::Free => false,
            Token::Unknown => pid == crate::sys::pid() || pid_alive(pid),
        };
        WriterStatus::Open { pid, alive }
    } else {
        WriterStatus::Closed { last_pid: pid }
    }
}

/// A lag is an item of the iterators; every other error stays an error.
fn received_or_error(e: ReadError) -> Result<Received, ReadError> {
    match e {
        ReadError::Lagged(lag) => Ok(Received::Lagged(lag)),
        e => Err(e),
    }
}
