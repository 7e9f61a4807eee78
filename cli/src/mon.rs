//! `fmq mon`: LROSE FmqMon's three modes. `summary` prints, every interval, the messages and
//! bytes that arrived and their rates (and any messages missed); `full` one line per message;
//! `ascii` each message's text. Monitoring is reading: it never slows the writer.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use fmq::{now_ns, OpenError, ReadError, Reader, ReaderOptions, StartAt};

use crate::util::{errln, human_bytes, human_count, utc, with_stdout};
use crate::MonMode;

fn open(queue: &str, start: StartAt) -> anyhow::Result<Reader> {
    let opts = ReaderOptions {
        start,
        ..ReaderOptions::default()
    };
    match Reader::open(queue, opts) {
        Err(OpenError::NotFound { .. }) => {
            errln!("fmq: waiting for {queue} to be created");
            let opts = ReaderOptions {
                start: StartAt::Oldest,
                ..opts
            };
            Ok(Reader::open_wait(queue, opts, None)?)
        }
        other => Ok(other?),
    }
}

pub fn run(
    queue: &str,
    mode: MonMode,
    interval_secs: f64,
    start: bool,
    count: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let interval = Duration::from_secs_f64(interval_secs.max(0.001));
    let mut reader = open(queue, if start { StartAt::Oldest } else { StartAt::End })?;
    let mut msgs = 0u64;
    let mut bytes = 0u64;
    let mut missed = 0u64;
    let mut corrupt = 0u64;
    let mut lines = 0u64;
    let mut t0 = Instant::now();
    with_stdout(|out| loop {
        if count.is_some_and(|c| lines >= c) {
            return Ok(());
        }
        let left = match mode {
            MonMode::Summary => interval.saturating_sub(t0.elapsed()),
            _ => Duration::from_secs(3600),
        };
        let r = match reader.try_read() {
            Err(ReadError::Empty) => {
                out.flush()?;
                reader.read(Some(left))
            }
            other => other,
        };
        match r {
            Ok(msg) => {
                msgs += 1;
                bytes += msg.data.len() as u64;
                match mode {
                    MonMode::Summary => {}
                    MonMode::Full => {
                        lines += 1;
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
                            msg.data.len()
                        )?;
                    }
                    MonMode::Ascii => {
                        lines += 1;
                        out.write_all(String::from_utf8_lossy(msg.data).as_bytes())?;
                        out.write_all(b"\n")?;
                    }
                }
            }
            Err(ReadError::Empty | ReadError::TimedOut) => {}
            Err(ReadError::Lagged {
                missed_count,
                resumed_at,
            }) => {
                missed += missed_count;
                if mode != MonMode::Summary {
                    writeln!(
                        out,
                        "-- missed {missed_count} messages, resuming at id {resumed_at}"
                    )?;
                }
            }
            Err(e) if e.is_skipped_message() => {
                corrupt += 1;
                if mode != MonMode::Summary {
                    writeln!(out, "-- skipped: {e}")?;
                }
            }
            Err(e @ (ReadError::Replaced | ReadError::Removed | ReadError::GenerationChanged)) => {
                out.flush()?;
                errln!("fmq: warning: {e}; waiting for the queue");
                reader = Reader::open_wait(
                    queue,
                    ReaderOptions {
                        start: StartAt::Oldest,
                        ..ReaderOptions::default()
                    },
                    None,
                )?;
            }
            Err(e) => return Err(e.into()),
        }
        if mode == MonMode::Summary && t0.elapsed() >= interval {
            let secs = t0.elapsed().as_secs_f64();
            writeln!(
                out,
                "{}  msgs {:>9}  bytes {:>8}  rate {:>8} msg/s {:>8}/s  youngest {}  \
                     missed {}  corrupt {}",
                &utc(now_ns())[..19],
                msgs,
                human_bytes(bytes),
                human_count(msgs as f64 / secs),
                human_bytes((bytes as f64 / secs) as u64),
                reader.youngest_id(),
                missed,
                corrupt
            )?;
            out.flush()?;
            lines += 1;
            msgs = 0;
            bytes = 0;
            missed = 0;
            corrupt = 0;
            t0 = Instant::now();
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
