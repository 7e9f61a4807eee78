//! `fmq write`: each MSG argument, or each stdin line, as one message.
//!
//! * The writer lock is taken before stdin is read and held until it ends (DESIGN §6).
//! * Every stdin read is bounded by the largest message the queue takes: a longer line is
//!   refused after reading at most that many bytes (plus its line end), never read whole.
//! * SIGINT, SIGTERM and SIGHUP stop it between messages, even while it waits for input:
//!   every record already read is written, the queue is flushed, the writer mark cleared
//!   (when the `fmq::Writer` drops) and the lock released; the exit code is 128 + the signal,
//!   as a shell reports a command a signal ended. A second signal ends it at once (the next
//!   writer recovers the queue).
//! * `--flush-every N` and `--flush-interval SECS` flush while it runs; it always flushes at
//!   the end, and before it reports a failed record, so that what it wrote is durable.
//!
//! stdin is read by a thread that sends each record through a channel, which a signal
//! thread also sends to: the write loop sleeps on the one channel, so a signal or a flush
//! deadline wakes it whether or not input arrives. The reading thread gets its buffers back
//! through a second channel, two in all: memory stays within two batches (a batch holds the
//! lines stdin had ready, 64 KiB of them, or one line however long).

use std::io::{self, BufRead, Read};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use fmq::{Compression, ReaderOptions, Writer};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

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
}

/// What the write loop wakes for.
enum Event {
    /// Stdin lines, without their line ends.
    Records(Batch),
    /// A stdin line longer than the limit; stdin is not read further.
    TooLong,
    /// The end of stdin.
    Eof,
    /// Reading stdin failed; it is not read further.
    ReadFailed(io::Error),
    /// SIGINT, SIGTERM or SIGHUP.
    Signal(i32),
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
    let (events, inbox) = mpsc::channel();
    let stop = handle_signals(events.clone())?;
    let mut w = Writer::open(queue)?;
    warn_recovery(&w);
    w.set_write_timeout(args.timeout);
    let mut run = Run {
        w: &mut w,
        queue,
        args,
        written: 0,
        since_flush: 0,
        last_flush: Instant::now(),
    };
    let result = if msgs.is_empty() {
        let limit = record_limit(run.w);
        run.stdin(limit, events, &inbox)
    } else {
        run.arguments(msgs, &stop)
    };
    let written = run.written;
    for d in w.take_dropped_readers() {
        errln!("fmq: {queue}: {d}");
    }
    // The mark is cleared and the lock released here, before the exit is reported.
    drop(w);
    match result? {
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

/// Registers SIGINT, SIGTERM and SIGHUP: the first sets the returned flag (to the signal)
/// and sends an [`Event::Signal`]; a second one takes the signal's default action.
fn handle_signals(events: Sender<Event>) -> anyhow::Result<Arc<AtomicUsize>> {
    let signals = [SIGINT, SIGTERM, SIGHUP];
    let seen = Arc::new(AtomicBool::new(false));
    for sig in signals {
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_default(sig, Arc::clone(&seen))
            .context("installing signal handlers")?;
        signal_hook::flag::register(sig, Arc::clone(&seen))
            .context("installing signal handlers")?;
    }
    let stop = Arc::new(AtomicUsize::new(0));
    let mut iter =
        signal_hook::iterator::Signals::new(signals).context("installing signal handlers")?;
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        for sig in iter.forever() {
            // ORDERING: Relaxed: a flag polled between messages; it publishes nothing.
            flag.store(sig as usize, Ordering::Relaxed);
            let _ = events.send(Event::Signal(sig));
        }
    });
    Ok(stop)
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
            .min(ReaderOptions::default().max_raw_len_bytes)
            .max(max),
    }
}

/// Appends one line to `buf`, without its `\n` or `\r\n`, reading at most `limit + 2`
/// bytes. `None` at the end of input; `Some(false)` when the line is longer than `limit`
/// (its rest is left unread).
fn read_record(
    input: &mut impl BufRead,
    limit: u64,
    buf: &mut Vec<u8>,
) -> io::Result<Option<bool>> {
    let start = buf.len();
    if input.take(limit.saturating_add(2)).read_until(b'\n', buf)? == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.len() > start && buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(Some((buf.len() - start) as u64 <= limit))
}

/// Records read together: as many as stdin had ready, up to [`BATCH_BYTES`] (one record
/// at least, however long). One channel message per batch, not per line.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    /// Where each record ends in `data`.
    ends: Vec<usize>,
}

/// A batch takes more records while stdin has input ready and it holds less than this.
const BATCH_BYTES: usize = 64 * 1024;

impl Batch {
    fn records(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter()).map(|(a, &b)| &self.data[a..b])
    }
}

/// The reading thread: fills each batch it gets back, until the input ends or fails.
fn read_stdin(limit: u64, events: Sender<Event>, buffers: Receiver<Batch>) {
    let mut input = io::BufReader::with_capacity(BATCH_BYTES, io::stdin().lock());
    while let Ok(mut batch) = buffers.recv() {
        batch.data.clear();
        batch.ends.clear();
        let last = loop {
            let start = batch.data.len();
            match read_record(&mut input, limit, &mut batch.data) {
                Ok(Some(true)) => batch.ends.push(batch.data.len()),
                Ok(Some(false)) => {
                    batch.data.truncate(start);
                    break Some(Event::TooLong);
                }
                Ok(None) => break Some(Event::Eof),
                Err(e) => break Some(Event::ReadFailed(e)),
            }
            if input.buffer().is_empty() || batch.data.len() >= BATCH_BYTES {
                break None;
            }
        };
        if !batch.ends.is_empty() && events.send(Event::Records(batch)).is_err() {
            return;
        }
        if let Some(event) = last {
            let _ = events.send(event);
            return;
        }
    }
}

/// One `fmq write` under way: the writer and its account.
struct Run<'a> {
    w: &'a mut Writer,
    queue: &'a str,
    args: &'a WriteArgs,
    /// Messages written.
    written: u64,
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

    fn stdin(
        &mut self,
        limit: u64,
        events: Sender<Event>,
        inbox: &Receiver<Event>,
    ) -> anyhow::Result<End> {
        let (buffers, spare) = mpsc::channel();
        // Two buffers: the thread reads the next record while this one is written.
        for _ in 0..2 {
            let _ = buffers.send(Batch::default());
        }
        std::thread::spawn(move || read_stdin(limit, events, spare));
        loop {
            let event = match self.flush_deadline() {
                None => inbox.recv().ok(),
                Some(at) => {
                    match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(e) => Some(e),
                        Err(RecvTimeoutError::Timeout) => {
                            self.flush()?;
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => None,
                    }
                }
            };
            let line_no = self.written + 1;
            match event {
                Some(Event::Records(batch)) => {
                    for (i, record) in (line_no..).zip(batch.records()) {
                        self.put(record, &format!("line {i}"))?;
                    }
                    let _ = buffers.send(batch);
                }
                // Both threads gone cannot happen while `inbox` lives; treat it as the end.
                Some(Event::Eof) | None => break,
                Some(Event::Signal(sig)) => {
                    self.flush()?;
                    return Ok(End::Signal(sig));
                }
                Some(Event::TooLong) => {
                    return Err(self.failed(
                        &format!("line {line_no}"),
                        anyhow::anyhow!(
                            "message too large: more than {limit} bytes, the largest message {} \
                             takes (the rest of stdin was not read)",
                            self.queue
                        ),
                    ));
                }
                Some(Event::ReadFailed(e)) => {
                    return Err(self.failed(
                        &format!("line {line_no}"),
                        anyhow::Error::new(e).context("reading stdin"),
                    ));
                }
            }
        }
        self.flush()?;
        Ok(End::Done)
    }

    /// Writes one record, flushing as `--flush-every` and `--flush-interval` say.
    fn put(&mut self, payload: &[u8], what: &str) -> anyhow::Result<()> {
        let (t, s) = (self.args.msg_type, self.args.subtype);
        if let Err(e) = self.w.write(t, s, payload) {
            return Err(self.failed(what, e.into()));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn one(r: &mut impl BufRead, line: &mut Vec<u8>) -> Option<bool> {
        line.clear();
        read_record(r, 4, line).unwrap()
    }

    #[test]
    fn records_are_bounded_by_the_limit_and_lose_only_their_line_end() {
        let input = b"abcd\nabcd\r\nabcde\nab\r\r\nabcdefgh\nlast";
        let mut r = io::BufReader::new(&input[..]);
        let mut line = Vec::new();
        let mut got = Vec::new();
        loop {
            match one(&mut r, &mut line) {
                None => break,
                Some(true) => got.push(String::from_utf8(line.clone()).unwrap()),
                Some(false) => {
                    got.push(format!("too long after {} bytes", line.len()));
                    assert!(line.len() <= 6);
                    break;
                }
            }
        }
        assert_eq!(got, ["abcd", "abcd", "too long after 5 bytes"]);
        let mut r = io::BufReader::new(&b"ab\r\r\nlast"[..]);
        assert_eq!(one(&mut r, &mut line), Some(true));
        assert_eq!(line, b"ab\r");
        assert_eq!(one(&mut r, &mut line), Some(true));
        assert_eq!(line, b"last");
        assert_eq!(one(&mut r, &mut line), None);
    }

    #[test]
    fn a_batch_yields_its_records_in_order() {
        let mut b = Batch::default();
        for rec in [&b"one"[..], b"", b"three"] {
            b.data.extend_from_slice(rec);
            b.ends.push(b.data.len());
        }
        let got: Vec<&[u8]> = b.records().collect();
        assert_eq!(got, [&b"one"[..], b"", b"three"]);
    }
}
