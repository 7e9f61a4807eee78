//! `fmq write`: each MSG argument, or each record of stdin (or `--file`), as one message.
//! Records are lines, all of the input, length-prefixed frames or JSON objects
//! (`--input`, `crate::input`).
//!
//! * The writer lock is taken before stdin is read and held until it ends (DESIGN §6).
//! * Every stdin read is bounded by the largest message the queue takes: a longer record is
//!   refused as soon as that is known (a frame at its length field, a line after at most
//!   that many bytes plus its line end), never read whole.
//! * SIGINT, SIGTERM and SIGHUP stop it between messages, even while it waits for input:
//!   every record already read is written, the queue is flushed, the writer mark cleared
//!   (when the `fmq::Writer` drops) and the lock released; the exit code is 128 + the signal,
//!   as a shell reports a command a signal ended. A second signal ends it at once (the next
//!   writer recovers the queue).
//! * `--flush-every N` and `--flush-interval SECS` flush while it runs; it always flushes at
//!   the end, and before it reports a failed record, so that what it wrote is durable.
//!
//! One thread does it all: it sleeps in `poll(2)` on stdin and on a pipe that the signal
//! handlers write to (signal-hook's self-pipe), with the flush deadline as its timeout, so a
//! signal or a deadline wakes it whether or not input arrives. No thread is started: a
//! process whose memory is short fails with one line instead of aborting in the runtime's
//! thread set-up. stdin is read in chunks of at most 64 KiB into a buffer that never holds
//! more than one record's limit plus a chunk.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use fmq::{
    Compression, CreateOptions, NewMessage, OpenError, ReaderOptions, Writer, WriterOptions,
};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::input::{looks_like_text, DecodeError, Decoder, InputFormat, Record};
use crate::util::errln;

/// LZ4 expands a block at most about 255 times: the largest stdin record a compressing
/// queue might still store.
const LZ4_MAX_RATIO: u64 = 255;

/// What `fmq write` was asked for.
pub struct WriteArgs {
    pub msg_type: i32,
    pub subtype: i32,
    /// Blocking queues: how long a write may wait for registered readers.
    pub timeout: Option<Duration>,
    /// Flush after every N messages.
    pub flush_every: Option<u64>,
    /// Flush when this long has passed since the last flush (and there is something new).
    pub flush_interval: Option<Duration>,
    /// The record format of the input.
    pub input: InputFormat,
    /// Read this file instead of stdin.
    pub file: Option<std::path::PathBuf>,
    /// `--create`: the queue to make when it does not exist (slots, buffer bytes).
    pub create: Option<(u32, u64)>,
    /// `--json`: one object on stdout at the end (messages written, first and last id).
    pub json: bool,
}

/// How a write ended when it did not fail.
enum End {
    /// Every record was written.
    Done,
    /// A signal stopped it.
    Signal(i32),
}

pub fn write(queue: &str, args: &WriteArgs, msgs: &[String]) -> anyhow::Result<ExitCode> {
    // Before the queue is opened: from here on a signal is a clean stop.
    let signals = handle_signals()?;
    let opts = WriterOptions {
        write_timeout: args.timeout,
        ..WriterOptions::default()
    };
    let mut w = open_or_create(queue, &opts, args.create)?;
    warn_recovery(&w);
    let mut run = Run {
        w: &mut w,
        queue,
        args,
        written: 0,
        ids: None,
        since_flush: 0,
        last_flush: Instant::now(),
    };
    let result = if !msgs.is_empty() {
        run.arguments(msgs, &signals.stop)
    } else {
        let limit = record_limit(run.w);
        match &args.file {
            Some(path) => match std::fs::File::open(path) {
                Ok(f) => run.input(f, limit, &signals),
                Err(e) => Err(anyhow::Error::new(e).context(format!("opening {}", path.display()))),
            },
            None => run.input(io::stdin().lock(), limit, &signals),
        }
    };
    let written = run.written;
    let ids = run.ids;
    for d in w.take_dropped_readers() {
        errln!("fmq: {queue}: {d}");
    }
    // The mark is cleared and the lock released here, before the exit is reported.
    drop(w);
    let result = result?;
    if args.json {
        let v = serde_json::json!({
            "queue": queue,
            "written": written,
            "first_id": ids.map(|(a, _)| a),
            "last_id": ids.map(|(_, b)| b),
            "stopped_by": match result {
                End::Done => None,
                End::Signal(sig) => Some(signal_name(sig)),
            },
        });
        crate::util::outln!("{v}")?;
    }
    match result {
        End::Done => Ok(ExitCode::SUCCESS),
        End::Signal(sig) => {
            errln!(
                "fmq: stopped by {}: wrote {} to {queue}, flushed and closed it",
                signal_name(sig),
                messages(written)
            );
            Ok(ExitCode::from(128 + sig.clamp(0, 127) as u8))
        }
    }
}

/// Opens the queue as its writer; with `--create`, makes it first when it does not exist (a
/// queue another creator made meanwhile is opened instead: LROSE's READ_WRITE open, without
/// its wipe).
fn open_or_create(
    queue: &str,
    opts: &WriterOptions,
    create: Option<(u32, u64)>,
) -> anyhow::Result<Writer> {
    match (Writer::open(queue, opts), create) {
        (Err(OpenError::NotFound { .. }), Some((slots_count, buf_size_bytes))) => {
            let c = CreateOptions {
                slots_count,
                buf_size_bytes,
                writer: *opts,
                ..CreateOptions::default()
            };
            match Writer::create(queue, &c) {
                Err(fmq::CreateError::AlreadyExists { .. }) => Ok(Writer::open(queue, opts)?),
                other => Ok(other?),
            }
        }
        (other, _) => Ok(other?),
    }
}

/// SIGINT, SIGTERM and SIGHUP as `fmq write` sees them: `stop` holds the first signal's
/// number, and a byte arrives on `wake` (the write loop polls it).
struct Signals {
    stop: Arc<AtomicUsize>,
    wake: UnixStream,
}

/// Registers SIGINT, SIGTERM and SIGHUP: the first one stores its number and writes a byte
/// to the self-pipe; a second one takes the signal's default action.
fn handle_signals() -> anyhow::Result<Signals> {
    let stop = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicBool::new(false));
    let (wake, notify) = UnixStream::pair().context("installing signal handlers")?;
    wake.set_nonblocking(true)
        .context("installing signal handlers")?;
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_default(sig, Arc::clone(&seen))
            .context("installing signal handlers")?;
        signal_hook::flag::register(sig, Arc::clone(&seen))
            .context("installing signal handlers")?;
        signal_hook::flag::register_usize(sig, Arc::clone(&stop), sig as usize)
            .context("installing signal handlers")?;
        let notify = notify.try_clone().context("installing signal handlers")?;
        signal_hook::low_level::pipe::register(sig, notify)
            .context("installing signal handlers")?;
    }
    Ok(Signals { stop, wake })
}

/// `1 message`, `2 messages`.
fn messages(n: u64) -> String {
    format!("{n} message{}", if n == 1 { "" } else { "s" })
}

fn signal_name(sig: i32) -> String {
    match sig {
        SIGINT => "SIGINT".into(),
        SIGTERM => "SIGTERM".into(),
        SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}

fn warn_recovery(w: &Writer) {
    if let Some(r) = w.recovery_report() {
        if r.writer_was_open {
            errln!(
                "fmq: warning: the previous writer (pid {}) did not close the queue; recovered \
                 it (epoch {}, youngest id {}, {} inconsistent messages dropped)",
                r.previous_pid,
                r.epoch,
                r.youngest_id,
                r.dropped_count
            );
        }
    }
}

/// The longest stdin record to read: the queue's largest message, or for a compressing
/// queue what LZ4 could still fit in it, within what a reader accepts expanded.
fn record_limit(w: &Writer) -> u64 {
    let max = w.layout().max_message_bytes();
    match w.compression() {
        Compression::None => max,
        Compression::Lz4 => max
            .saturating_mul(LZ4_MAX_RATIO)
            .min(ReaderOptions::default().max_message_bytes)
            .max(max),
    }
}

/// Bytes read from stdin at a time.
const CHUNK_BYTES: usize = 64 * 1024;

/// One `fmq write` under way: the writer and its account.
struct Run<'a> {
    w: &'a mut Writer,
    queue: &'a str,
    args: &'a WriteArgs,
    /// Messages written.
    written: u64,
    /// The first and last id written.
    ids: Option<(u64, u64)>,
    /// Messages written since the last flush.
    since_flush: u64,
    last_flush: Instant,
}

impl Run<'_> {
    fn arguments(&mut self, msgs: &[String], stop: &AtomicUsize) -> anyhow::Result<End> {
        for (i, m) in msgs.iter().enumerate() {
            // ORDERING: Relaxed: see `handle_signals`.
            let sig = stop.load(Ordering::Relaxed);
            if sig != 0 {
                self.flush()?;
                return Ok(End::Signal(sig as i32));
            }
            self.put(m.as_bytes(), &format!("argument {}", i + 1))?;
        }
        self.flush()?;
        Ok(End::Done)
    }

    /// Writes every record of `input` (stdin or `--file`) as `--input` reads it.
    fn input(
        &mut self,
        mut input: impl Read + AsFd,
        limit: u64,
        signals: &Signals,
    ) -> anyhow::Result<End> {
        let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut decoder = Decoder::new(self.args.input, limit_usize);
        // Bytes read but not yet written: at most one partial record plus one chunk.
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; CHUNK_BYTES];
        let mut warned = false;
        loop {
            // ORDERING: Relaxed: a flag polled between messages; it publishes nothing.
            let sig = signals.stop.load(Ordering::Relaxed);
            if sig != 0 {
                self.flush()?;
                return Ok(End::Signal(sig as i32));
            }
            if !self.wait_for_input(&input, signals)? {
                continue;
            }
            let n = match input.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    let what = format!("{} {}", decoder.unit(), self.written + 1);
                    return Err(self.failed(&what, anyhow::Error::new(e).context("reading input")));
                }
            };
            let eof = n == 0;
            pending.extend_from_slice(&chunk[..n]);
            let mut start = 0;
            loop {
                let what = format!("{} {}", decoder.unit(), self.written + 1);
                match decoder.next(&pending[start..], eof) {
                    Ok(Some((rec, used))) => {
                        start += used;
                        if self.args.input == InputFormat::Lines
                            && !warned
                            && !looks_like_text(&rec.payload)
                        {
                            warned = true;
                            errln!(
                                "fmq: warning: {what} is not text (a NUL byte or not UTF-8): \
                                 --input lines splits at every newline and drops a CR before it; \
                                 for binary records use --input raw, framed or json"
                            );
                        }
                        self.put_record(&rec, &what)?;
                    }
                    Ok(None) => break,
                    Err(DecodeError::TooLarge) => return Err(self.too_long(&what, limit)),
                    Err(DecodeError::Malformed(m)) => {
                        return Err(self.failed(&what, anyhow::anyhow!("{m}")))
                    }
                }
            }
            pending.drain(..start);
            if eof {
                break;
            }
        }
        self.flush()?;
        Ok(End::Done)
    }

    /// Sleeps until stdin has input (or its end), a signal arrived, or the flush deadline
    /// passed (then it flushes); returns whether stdin is ready to read.
    fn wait_for_input(&mut self, input: &impl AsFd, signals: &Signals) -> anyhow::Result<bool> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let deadline = self.flush_deadline();
        let timeout = deadline.map(|at| {
            let left = at.saturating_duration_since(Instant::now());
            Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });
        let mut fds = [
            PollFd::new(input, PollFlags::IN),
            PollFd::new(&signals.wake, PollFlags::IN),
        ];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(false),
            Err(e) => {
                return Err(anyhow::Error::new(io::Error::from(e)).context("waiting for stdin"))
            }
        }
        let ready = !fds[0].revents().is_empty();
        if !fds[1].revents().is_empty() {
            // Drain the self-pipe; the signal's number is in `stop`.
            let mut buf = [0u8; 16];
            while matches!((&signals.wake).read(&mut buf), Ok(n) if n > 0) {}
            return Ok(false);
        }
        if !ready && deadline.is_some_and(|at| Instant::now() >= at) {
            self.flush()?;
        }
        Ok(ready)
    }

    /// The error of an input record longer than the queue's largest message.
    fn too_long(&mut self, what: &str, limit: u64) -> anyhow::Error {
        let queue = self.queue.to_string();
        self.failed(
            what,
            anyhow::anyhow!(
                "message too large: more than {limit} bytes, the largest message {queue} takes \
                 (the rest of the input was not read)"
            ),
        )
    }

    /// Writes one input record: its format's type, subtype and time where it carried them,
    /// else `--type`, `--subtype` and now.
    fn put_record(&mut self, rec: &Record, what: &str) -> anyhow::Result<()> {
        let t = rec.msg_type.unwrap_or(self.args.msg_type);
        let s = rec.subtype.unwrap_or(self.args.subtype);
        let mut m = NewMessage::new(t, s, &rec.payload);
        if let Some(at) = rec.time_ns {
            m = m.at(at);
        }
        match self.w.write_message(&m) {
            Ok(id) => self.account(id.0),
            Err(e) => Err(self.failed(what, e.into())),
        }
    }

    /// Writes one record, flushing as `--flush-every` and `--flush-interval` say.
    fn put(&mut self, payload: &[u8], what: &str) -> anyhow::Result<()> {
        let (t, s) = (self.args.msg_type, self.args.subtype);
        match self.w.write(t, s, payload) {
            Ok(id) => self.account(id.0),
            Err(e) => Err(self.failed(what, e.into())),
        }
    }

    /// Counts a written message and flushes as `--flush-every` and `--flush-interval` say.
    fn account(&mut self, id: u64) -> anyhow::Result<()> {
        self.ids = Some((self.ids.map_or(id, |(first, _)| first), id));
        self.written += 1;
        self.since_flush += 1;
        let every = self.args.flush_every.is_some_and(|n| self.since_flush >= n);
        let late = self.flush_deadline().is_some_and(|at| Instant::now() >= at);
        if every || late {
            self.flush()?;
        }
        Ok(())
    }

    /// When `--flush-interval` wants the next flush (`None`: it does not, or nothing is new).
    fn flush_deadline(&self) -> Option<Instant> {
        let interval = self.args.flush_interval?;
        (self.since_flush > 0).then(|| self.last_flush + interval)
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.w.flush().with_context(|| {
            format!(
                "wrote {} to {}; flushing them failed",
                messages(self.written),
                self.queue
            )
        })?;
        self.since_flush = 0;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// The error of record `written + 1` (`what`: "line 42", "argument 3"), after flushing
    /// the messages before it.
    fn failed(&mut self, what: &str, cause: anyhow::Error) -> anyhow::Error {
        let record = self.written + 1;
        let flush = match self.w.flush() {
            Ok(()) => String::new(),
            Err(e) => format!(" (and flushing them failed: {e})"),
        };
        cause.context(format!(
            "wrote {} to {}{flush}; record {record} ({what}) failed",
            messages(self.written),
            self.queue
        ))
    }
}
