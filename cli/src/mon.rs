//! `fmq mon`: LROSE FmqMon's three modes. `summary` prints, every interval, the messages and
//! bytes that arrived and their rates (and any messages missed); `full` one line per message;
//! `ascii` each message's text. Monitoring is reading: it never slows the writer.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use fmq::{
    now_ns, MessageRef, OpenError, ReadError, ReadTimeoutError, Reader, ReaderOptions, StartAt,
};

use crate::select::{Seek, Selection};
use crate::util::{errln, human_bytes, human_count, utc, with_stdout};
use crate::MonMode;

fn open(queue: &str, start: StartAt) -> anyhow::Result<Reader> {
    let opts = ReaderOptions {
        start,
        ..ReaderOptions::default()
    };
    match Reader::open(queue, &opts) {
        Err(OpenError::NotFound { .. }) => {
            crate::commands::check_can_appear(queue)?;
            errln!("fmq: waiting for {queue} to be created");
            let opts = ReaderOptions {
                start: StartAt::Oldest,
                ..opts
            };
            Ok(Reader::open_timeout(queue, &opts, Duration::MAX)?)
        }
        other => Ok(other?),
    }
}

/// One `fmq mon`: the reader and the current interval's counts.
struct Monitor<'a> {
    queue: &'a str,
    mode: MonMode,
    reader: Reader,
    sel: &'a Selection,
    seek: Seek,
    /// `--until-id` was passed: the command ends (after a last summary).
    ended: bool,
    msgs: u64,
    bytes: u64,
    missed: u64,
    corrupt: u64,
    /// Lines printed (what `--count` counts).
    lines: u64,
    t0: Instant,
}

pub fn run(
    queue: &str,
    mode: MonMode,
    interval_secs: f64,
    sel: &Selection,
    count: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let interval = Duration::from_secs_f64(interval_secs.max(0.001));
    let reader = open(queue, sel.start_at())?;
    let mut m = Monitor {
        queue,
        mode,
        reader,
        sel,
        seek: sel.seek(),
        ended: false,
        msgs: 0,
        bytes: 0,
        missed: 0,
        corrupt: 0,
        lines: 0,
        t0: Instant::now(),
    };
    with_stdout(|out| loop {
        if count.is_some_and(|c| m.lines >= c) {
            return Ok(());
        }
        let left = match mode {
            MonMode::Summary => interval.saturating_sub(m.t0.elapsed()),
            _ => Duration::from_secs(3600),
        };
        m.step(out, left)?;
        if mode == MonMode::Summary && (m.ended || m.t0.elapsed() >= interval) {
            m.summary(out)?;
        }
        if m.ended || m.sel.past_end(m.reader.position().0) {
            return Ok(());
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

impl Monitor<'_> {
    /// Reads (waiting at most `left`) and prints or counts what came.
    fn step(&mut self, out: &mut dyn std::io::Write, left: Duration) -> anyhow::Result<()> {
        let got = match self.reader.try_read() {
            Ok(msg) => Ok(msg),
            Err(fmq::TryReadError::Failed(e)) => Err(e),
            Err(_) => {
                out.flush()?;
                match self.reader.read_timeout(left) {
                    Ok(msg) => Ok(msg),
                    Err(ReadTimeoutError::Failed(e)) => Err(e),
                    Err(_) => return Ok(()),
                }
            }
        };
        let e = match got {
            Ok(msg) if self.sel.past_end(msg.meta.id.0) => {
                self.ended = true;
                return Ok(());
            }
            Ok(msg) if self.seek.skip(self.sel, &msg.meta) => return Ok(()),
            Ok(msg) => {
                self.msgs += 1;
                self.bytes += msg.payload.len() as u64;
                let lines = print_message(out, self.mode, &msg)?;
                self.lines += lines;
                return Ok(());
            }
            Err(e) => e,
        };
        match e {
            ReadError::Lagged(lag) => {
                self.missed += lag.missed_count;
                if self.mode != MonMode::Summary {
                    writeln!(out, "-- {lag}")?;
                }
            }
            e if e.is_skipped_message() => {
                self.corrupt += 1;
                if self.mode != MonMode::Summary {
                    writeln!(out, "-- skipped: {e}")?;
                }
            }
            e if e.is_fatal() => {
                out.flush()?;
                errln!("fmq: warning: {e}; waiting for the queue");
                let opts = ReaderOptions {
                    start: StartAt::Oldest,
                    ..ReaderOptions::default()
                };
                self.reader = Reader::open_timeout(self.queue, &opts, Duration::MAX)?;
            }
            e => return Err(e.into()),
        }
        Ok(())
    }

    /// The interval's line, and a new interval.
    fn summary(&mut self, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        let secs = self.t0.elapsed().as_secs_f64();
        writeln!(
            out,
            "{}  msgs {:>9}  bytes {:>8}  rate {:>8} msg/s {:>8}/s  youngest {}  \
                 missed {}  corrupt {}",
            &utc(now_ns())[..19],
            self.msgs,
            human_bytes(self.bytes),
            human_count(self.msgs as f64 / secs),
            human_bytes((self.bytes as f64 / secs) as u64),
            self.reader.youngest_id(),
            self.missed,
            self.corrupt
        )?;
        out.flush()?;
        self.lines += 1;
        (self.msgs, self.bytes, self.missed, self.corrupt) = (0, 0, 0, 0);
        self.t0 = Instant::now();
        Ok(())
    }
}

/// Prints one message as `mode` says; returns the lines printed.
fn print_message(
    out: &mut dyn std::io::Write,
    mode: MonMode,
    msg: &MessageRef<'_>,
) -> anyhow::Result<u64> {
    match mode {
        MonMode::Summary => return Ok(0),
        MonMode::Full => {
            let m = &msg.meta;
            let z = if m.is_compressed() {
                format!(" (stored {} lz4)", m.len)
            } else {
                String::new()
            };
            writeln!(
                out,
                "{}  id {}  type {}  subtype {}  len {}{z}",
                utc(m.time_ns),
                m.id,
                m.msg_type,
                m.subtype,
                msg.payload.len()
            )?;
        }
        MonMode::Ascii => {
            out.write_all(String::from_utf8_lossy(msg.payload).as_bytes())?;
            out.write_all(b"\n")?;
        }
    }
    Ok(1)
}
