//! `fmq mon`: LROSE FmqMon's three modes. `summary` prints, every interval, FmqMon's table:
//! the time, the interval's seconds, messages, bytes uncompressed and compressed (as
//! stored) and their rates in B/s, integers in FmqMon's column widths under its three header
//! lines, repeated every 40 lines (messages missed or skipped go to stderr); `full` one line
//! per message; `ascii` each message's text. `--json`: one object per interval (summary) or
//! per message (full). Monitoring is reading: it never slows the writer.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use fmq::{
    now_ns, MessageRef, OpenError, ReadError, ReadTimeoutError, Reader, ReaderOptions, StartAt,
};

use crate::select::{Seek, Selection};
use crate::util::{errln, utc, with_stdout};
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
    /// `--json`.
    json: bool,
    msgs: u64,
    bytes: u64,
    /// Bytes as stored (compressed where the queue compresses).
    stored: u64,
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
    json: bool,
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
        json,
        msgs: 0,
        bytes: 0,
        stored: 0,
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
                self.stored += msg.meta.len as u64;
                let lines = if self.json {
                    print_message_json(out, self.mode, &msg)?
                } else {
                    print_message(out, self.mode, &msg)?
                };
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

    /// The interval's line (FmqMon's, or a JSON object), and a new interval.
    fn summary(&mut self, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        let secs = self.t0.elapsed().as_secs_f64();
        let rate = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        if self.json {
            let v = serde_json::json!({
                "time": utc(now_ns()),
                "dtime_s": secs,
                "messages": self.msgs,
                "bytes_uncompressed": self.bytes,
                "bytes_compressed": self.stored,
                "rate_bytes_per_s_uncompressed": rate(self.bytes),
                "rate_bytes_per_s_compressed": rate(self.stored),
                "rate_messages_per_s": rate(self.msgs),
                "youngest_id": self.reader.youngest_id().0,
                "missed": self.missed,
                "corrupt": self.corrupt,
            });
            writeln!(out, "{v}")?;
        } else {
            if self.lines % FMQMON_HEADER_EVERY == 0 {
                out.write_all(fmqmon_header().as_bytes())?;
            }
            writeln!(
                out,
                "{:>19}{:>7}{:>8}{:>10}{:>10}{:>10}{:>10}",
                lrose_time(now_ns()),
                // FmqMon's Dtime is whole seconds, truncated.
                secs as i64,
                self.msgs,
                self.bytes,
                self.stored,
                rate(self.bytes) as i64,
                rate(self.stored) as i64,
            )?;
            if self.missed > 0 || self.corrupt > 0 {
                out.flush()?;
                errln!(
                    "fmq: warning: in that interval {} message(s) missed (overwritten before \
                     they were read), {} skipped as corrupt",
                    self.missed,
                    self.corrupt
                );
            }
        }
        out.flush()?;
        self.lines += 1;
        (
            self.msgs,
            self.bytes,
            self.stored,
            self.missed,
            self.corrupt,
        ) = (0, 0, 0, 0, 0);
        self.t0 = Instant::now();
        Ok(())
    }
}

/// FmqMon prints its header before every 40th summary line.
const FMQMON_HEADER_EVERY: u64 = 40;

/// FmqMon's three header lines, column for column (`FmqMon.cc`, `_run`: `setw` 19, 7, 8, 10,
/// 10, 10, 10).
fn fmqmon_header() -> String {
    [
        [
            "", "Dtime", "nMess", "nBytes", "nBytes", "Rate B/s", "Rate B/s",
        ],
        ["", "secs", "", "uncomp", "comp", "uncomp", "comp"],
        [
            "", "=====", "=====", "======", "======", "========", "========",
        ],
    ]
    .iter()
    .map(|c| {
        format!(
            "{:>19}{:>7}{:>8}{:>10}{:>10}{:>10}{:>10}\n",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        )
    })
    .collect()
}

/// LROSE's `utimstr`: `YYYY/MM/DD HH:MM:SS`, UTC.
fn lrose_time(ns: i64) -> String {
    let iso = utc(ns);
    format!("{} {}", iso[..10].replace('-', "/"), &iso[11..19])
}

/// One message's metadata as a JSON object (`--mode full --json`); returns the lines printed.
fn print_message_json(
    out: &mut dyn std::io::Write,
    mode: MonMode,
    msg: &MessageRef<'_>,
) -> anyhow::Result<u64> {
    if mode == MonMode::Summary {
        return Ok(0);
    }
    let m = &msg.meta;
    let v = serde_json::json!({
        "id": m.id.0,
        "type": m.msg_type,
        "subtype": m.subtype,
        "time_ns": m.time_ns,
        "len": msg.payload.len(),
        "stored_len": m.len,
        "compressed": m.is_compressed(),
    });
    writeln!(out, "{v}")?;
    Ok(1)
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
