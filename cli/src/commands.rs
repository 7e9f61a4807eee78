//! The queue commands: create, read, info, check, clear, remove (`write` has its own file).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine;
use fmq::queue::QueueInfo;
use fmq::{
    Compression, CreateOptions, Msg, OpenError, ReadError, Reader, ReaderOptions, StartAt, Writer,
    WriterStatus,
};
use serde_json::json;

use crate::util::{errln, human_bytes, outln, utc, with_stdout};
use crate::{Format, StartFrom};

/// What `fmq create` was asked for.
pub struct CreateArgs {
    pub slots: u32,
    pub size: u64,
    pub force: bool,
    pub lz4: bool,
    pub mode: u32,
    pub blocking: bool,
    pub readers_max: u32,
    pub reader_timeout: Duration,
}

pub fn create(queue: &str, a: &CreateArgs) -> anyhow::Result<ExitCode> {
    let opts = CreateOptions {
        slots_count: a.slots,
        buf_size_bytes: a.size,
        compression: if a.lz4 {
            Compression::Lz4
        } else {
            Compression::None
        },
        force: a.force,
        mode: a.mode,
        blocking: a.blocking,
        readers_max: a.readers_max,
        reader_timeout: a.reader_timeout,
        ..CreateOptions::default()
    };
    let w = Writer::create(queue, &opts)?;
    let kind = if w.queue().is_shared_memory() {
        "shared memory"
    } else {
        "files"
    };
    outln!(
        "created {queue}: {} slots, {} buffer, compression {}, {kind}",
        w.layout().slots_count(),
        human_bytes(w.layout().buf_size_bytes()),
        w.compression()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_msg(out: &mut dyn Write, format: Format, msg: &Msg<'_>) -> anyhow::Result<()> {
    match format {
        Format::Text => {
            out.write_all(String::from_utf8_lossy(msg.data).as_bytes())?;
            out.write_all(b"\n")?;
        }
        Format::Raw => out.write_all(msg.data)?,
        Format::Json => {
            let v = json!({
                "id": msg.meta.id.0,
                "type": msg.meta.msg_type,
                "subtype": msg.meta.subtype,
                "time_ns": msg.meta.time_ns,
                "len": msg.data.len(),
                "data_b64": base64::engine::general_purpose::STANDARD.encode(msg.data),
            });
            writeln!(out, "{v}")?;
        }
    }
    Ok(())
}

fn start_at(from: StartFrom) -> StartAt {
    match from {
        StartFrom::Oldest => StartAt::Oldest,
        StartFrom::Youngest => StartAt::Youngest,
        StartFrom::End => StartAt::End,
    }
}

/// Opens for `read`: at once, or waiting for the queue to be created when the command may
/// wait (`--follow`, `--timeout`). A queue that did not exist yet is read from its first
/// message, whatever `--from` says: nothing was written before this reader asked.
fn open_reader(
    queue: &str,
    start: StartAt,
    may_wait: bool,
    timeout: Option<Duration>,
) -> anyhow::Result<Reader> {
    let opts = ReaderOptions {
        start,
        ..ReaderOptions::default()
    };
    match Reader::open(queue, opts) {
        Err(OpenError::NotFound { .. }) if may_wait => {
            let opts = ReaderOptions {
                start: StartAt::Oldest,
                ..opts
            };
            match Reader::open_wait(queue, opts, timeout) {
                Err(OpenError::NotFound { .. }) => {
                    bail!("queue {queue} was not created within the timeout")
                }
                other => Ok(other?),
            }
        }
        other => {
            let r = other?;
            if let WriterStatus::Open { pid, alive: false } = r.writer_status() {
                errln!(
                    "fmq: warning: the writer of {queue} (pid {pid}) died without closing it; \
                     the next writer recovers it (`fmq clear` resets the mark)"
                );
            }
            Ok(r)
        }
    }
}

pub fn read(
    queue: &str,
    from: StartFrom,
    follow: bool,
    count: Option<u64>,
    timeout: Option<f64>,
    format: Format,
    register: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let timeout = timeout.map(Duration::from_secs_f64);
    let mut reader = open_reader(queue, start_at(from), follow || timeout.is_some(), timeout)?;
    if let Some(name) = register {
        reader
            .register(name)
            .with_context(|| format!("registering as {name:?}"))?;
    }
    let mut printed = 0u64;
    let mut corrupt = 0u64;
    let mut timed_out = false;
    // Without --follow: the messages present now (or, with --timeout, once the first came).
    let mut end: Option<u64> = None;
    with_stdout(|out| {
        loop {
            if count.is_some_and(|c| printed >= c) {
                break;
            }
            if !follow {
                if let Some(e) = end {
                    if reader.position().0 > e {
                        break;
                    }
                }
            }
            let mut r = reader.try_read();
            if matches!(r, Err(ReadError::Empty)) {
                out.flush()?;
                let may_wait = follow || (timeout.is_some() && printed == 0 && end.is_none());
                if !may_wait {
                    break;
                }
                r = reader.read(timeout);
            }
            match r {
                Ok(msg) => {
                    print_msg(out, format, &msg)?;
                    printed += 1;
                    if follow {
                        out.flush()?;
                    }
                }
                Err(ReadError::Empty) => break,
                Err(ReadError::TimedOut) => {
                    timed_out = !follow;
                    break;
                }
                Err(ReadError::Lagged {
                    missed_count,
                    resumed_at,
                }) => {
                    if format == Format::Json {
                        writeln!(
                            out,
                            "{}",
                            json!({"missed": missed_count, "resumed_at": resumed_at.0})
                        )?;
                    } else {
                        out.flush()?;
                        errln!(
                            "fmq: warning: reader lagged: missed {missed_count} messages, \
                             resuming at id {resumed_at}"
                        );
                    }
                }
                Err(e @ ReadError::Unregistered { .. }) => {
                    out.flush()?;
                    errln!("fmq: warning: {e}");
                    if let Some(name) = register {
                        let at = reader
                            .register(name)
                            .with_context(|| format!("registering again as {name:?}"))?;
                        errln!("fmq: registered again as {name:?} at id {at}");
                    }
                }
                Err(e) if e.is_skipped_message() => {
                    corrupt += 1;
                    out.flush()?;
                    errln!("fmq: warning: skipped: {e}");
                }
                Err(
                    e @ (ReadError::Replaced | ReadError::Removed | ReadError::GenerationChanged),
                ) if follow => {
                    out.flush()?;
                    errln!(
                        "fmq: warning: {e}; waiting for the queue and reading it from its start"
                    );
                    let opts = ReaderOptions {
                        start: StartAt::Oldest,
                        ..ReaderOptions::default()
                    };
                    reader = match Reader::open_wait(queue, opts, timeout) {
                        Ok(r) => r,
                        Err(OpenError::NotFound { .. }) => break,
                        Err(e) => return Err(e.into()),
                    };
                    if let Some(name) = register {
                        reader
                            .register(name)
                            .with_context(|| format!("registering as {name:?}"))?;
                    }
                }
                Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {queue}"))),
            }
            if !follow && end.is_none() && printed > 0 {
                end = Some(reader.youngest_id().0);
            }
        }
        Ok(())
    })?;
    if timed_out {
        bail!(
            "no message arrived in {queue} within {} s",
            timeout.unwrap_or_default().as_secs_f64()
        );
    }
    if corrupt > 0 {
        bail!("{corrupt} corrupt messages were skipped in {queue} (see `fmq check`)");
    }
    Ok(ExitCode::SUCCESS)
}

fn writer_line(info: &QueueInfo) -> String {
    match info.writer {
        WriterStatus::Closed { last_pid: 0 } => "closed".into(),
        WriterStatus::Closed { last_pid } => format!("closed (last writer pid {last_pid})"),
        WriterStatus::Open { pid, alive: true } => format!("open by pid {pid}"),
        WriterStatus::Open { pid, alive: false } => format!(
            "marked open by pid {pid}, which is gone: the writer died (the next writer \
             recovers the queue; `fmq clear` resets the mark)"
        ),
    }
}

/// A registry record's state for `fmq info`.
fn reader_state(r: &fmq::RegisteredReader) -> &'static str {
    if r.record.is_dropped() {
        "dropped"
    } else if !r.alive {
        "dead"
    } else {
        "live"
    }
}

pub fn info(queue: &str, with_slots: bool, as_json: bool) -> anyhow::Result<ExitCode> {
    let i = fmq::queue::info(queue, with_slots)?;
    let h = &i.header;
    let slot_json = |index: usize, s: &fmq::Slot| {
        json!({
            "index": index, "stamp": s.stamp, "buf_pos": s.buf_pos,
            "stored_len": s.stored_len, "raw_len": s.raw_len,
            "time_ns": s.time_ns, "type": s.msg_type, "subtype": s.subtype,
            "flags": s.flags, "crc32c": s.crc32c,
        })
    };
    let slots = i.slots.as_ref();
    with_stdout(|out| {
        if as_json {
            let (open, pid, alive) = match i.writer {
                WriterStatus::Closed { last_pid } => (false, last_pid, false),
                WriterStatus::Open { pid, alive } => (true, pid, alive),
            };
            let mut v = json!({
                "queue": i.queue,
                "backend": i.backend,
                "files": i.files.iter().map(|(p, n)| json!({"path": p, "size": n})).collect::<Vec<_>>(),
                "lock_file": i.lock_file,
                "lock_pid": i.lock_pid,
                "version": h.version,
                "generation": h.generation,
                "creation_time_ns": h.creation_time_ns,
                "slots_count": h.slots_count,
                "buf_size_bytes": h.buf_size_bytes,
                "max_message_bytes": i.layout.max_message_bytes(),
                "compression": i.compression.to_string(),
                "writer": {"open": open, "pid": pid, "alive": alive, "epoch": h.writer_epoch},
                "oldest_id": h.oldest_id,
                "youngest_id": h.youngest_id,
                "present_count": i.present_count,
                "bytes_used": i.bytes_used,
                "write_pos": h.write_pos,
                "flushed_id": h.flushed_id,
                "blocking": i.blocking,
                "readers_max": h.readers_max,
                "reader_timeout_ms": h.reader_timeout_ms,
                "readers_dropped": h.readers_dropped,
                "readers": i.readers.iter().map(|r| json!({
                    "index": r.record.index,
                    "name": String::from_utf8_lossy(r.record.name()),
                    "pid": r.record.pid(),
                    "state": reader_state(r),
                    "cursor": r.record.cursor,
                    "lag": r.lag,
                    "heartbeat_age_ms": r.heartbeat_age_ms,
                })).collect::<Vec<_>>(),
            });
            if let Some(s) = &slots {
                v["slots"] = s
                    .iter()
                    .enumerate()
                    .map(|(index, sl)| slot_json(index, sl))
                    .collect::<Vec<_>>()
                    .into();
            }
            writeln!(out, "{v}")?;
            return Ok(());
        }
        let kind = if i.backend == "shm" {
            "shared memory"
        } else {
            "files"
        };
        writeln!(out, "queue        {} ({kind})", i.queue)?;
        for (p, n) in &i.files {
            writeln!(out, "file         {} ({})", p.display(), human_bytes(*n))?;
        }
        writeln!(
            out,
            "format       version {}, generation {}, created {}",
            h.version,
            h.generation,
            utc(h.creation_time_ns as i64)
        )?;
        writeln!(
            out,
            "layout       {} slots, {} buffer, max message {}, compression {}",
            h.slots_count,
            human_bytes(h.buf_size_bytes),
            human_bytes(i.layout.max_message_bytes()),
            i.compression
        )?;
        writeln!(
            out,
            "writer       {}, epoch {}",
            writer_line(&i),
            h.writer_epoch
        )?;
        match i.lock_pid {
            Some(p) => writeln!(
                out,
                "lock         {} (last locked by pid {p})",
                i.lock_file.display()
            )?,
            None => writeln!(out, "lock         {} (never locked)", i.lock_file.display())?,
        }
        writeln!(
            out,
            "messages     {} present (oldest id {}, youngest id {}, flushed up to id {})",
            i.present_count, h.oldest_id, h.youngest_id, h.flushed_id
        )?;
        let pct = if h.buf_size_bytes > 0 {
            100.0 * i.bytes_used as f64 / h.buf_size_bytes as f64
        } else {
            0.0
        };
        writeln!(
            out,
            "buffer       {} of {} in use ({pct:.1}%), write position {}",
            human_bytes(i.bytes_used),
            human_bytes(h.buf_size_bytes),
            h.write_pos
        )?;
        if h.readers_max > 0 {
            let mode = if i.blocking { "blocking" } else { "lossy" };
            writeln!(
                out,
                "readers      {mode}; {} of {} records in use; reader timeout {} ms; {} \
                 dropped as dead",
                i.readers.iter().filter(|r| r.record.is_live()).count(),
                h.readers_max,
                h.reader_timeout_ms,
                h.readers_dropped
            )?;
            for r in &i.readers {
                writeln!(
                    out,
                    "  reader {:>3} {:<20} pid {:>7} {:<8} next id {:>10} lag {:>8} \
                     heartbeat {} ms ago",
                    r.record.index,
                    format!("{:?}", String::from_utf8_lossy(r.record.name())),
                    r.record.pid(),
                    reader_state(r),
                    r.record.cursor,
                    r.lag,
                    r.heartbeat_age_ms
                )?;
            }
        }
        if let Some(s) = &slots {
            writeln!(
                out,
                "{:>6} {:>12} {:>14} {:>9} {:>9} {:>6} {:>7} {:>30} {:>5} {:>10}",
                "slot",
                "stamp",
                "buf_pos",
                "len",
                "raw_len",
                "type",
                "subtype",
                "time",
                "flags",
                "crc32c"
            )?;
            for (index, sl) in s.iter().enumerate() {
                if sl.stamp == 0 {
                    writeln!(out, "{index:>6} {:>12}", "empty")?;
                    continue;
                }
                writeln!(
                    out,
                    "{:>6} {:>12} {:>14} {:>9} {:>9} {:>6} {:>7} {:>30} {:>5} {:#010x}",
                    index,
                    sl.stamp,
                    sl.buf_pos,
                    sl.stored_len,
                    sl.raw_len,
                    sl.msg_type,
                    sl.subtype,
                    utc(sl.time_ns),
                    sl.flags,
                    sl.crc32c
                )?;
            }
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn check(queue: &str) -> anyhow::Result<ExitCode> {
    let report = fmq::queue::check(queue)?;
    for w in &report.warnings {
        outln!("warning: {w}")?;
    }
    for p in &report.problems {
        outln!("problem: {p}")?;
    }
    if report.is_healthy() {
        outln!(
            "ok: {queue} is healthy ({} messages verified)",
            report.messages_checked
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        errln!(
            "fmq: error: queue {queue} is corrupt: {} problems",
            report.problems.len()
        );
        Ok(ExitCode::from(1))
    }
}

pub fn clear(queue: &str) -> anyhow::Result<ExitCode> {
    if fmq::queue::clear(queue)? {
        outln!("cleared the writer mark of {queue}")?;
    } else {
        outln!("the writer mark of {queue} was not set; nothing to clear")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn remove(queue: &str, force: bool) -> anyhow::Result<ExitCode> {
    match fmq::queue::remove(queue, force) {
        Err(e @ OpenError::Locked { .. }) => bail!("{e} (use --force to remove it anyway)"),
        other => other?,
    }
    outln!("removed {queue}")?;
    Ok(ExitCode::SUCCESS)
}
