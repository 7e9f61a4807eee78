//! The queue commands: create, read, info, check, clear, remove (`write` has its own file).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine;
use fmq::{
    AdminError, Compression, CreateError, CreateOptions, MessageRef, OpenError, QueueInfo,
    ReadError, ReadTimeoutError, Reader, ReaderOptions, StartAt, TryReadError, Writer,
    WriterStatus,
};
use serde_json::json;

use crate::select::{Seek, Selection};
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
    /// `--json`: one object instead of the line.
    pub json: bool,
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
        replace: a.force,
        mode: a.mode,
        blocking: a.blocking,
        readers_max: a.readers_max,
        reader_timeout: a.reader_timeout,
        ..CreateOptions::default()
    };
    let w = match Writer::create(queue, &opts) {
        Err(e @ CreateError::AlreadyExists { .. }) => {
            bail!("{e} (use --force to re-create it)")
        }
        other => other?,
    };
    let kind = if w.queue().is_shared_memory() {
        "shared memory"
    } else {
        "files"
    };
    if a.json {
        let v = json!({
            "queue": queue,
            "backend": if w.queue().is_shared_memory() { "shm" } else { "file" },
            "files": w.queue().data_files(),
            "slots_count": w.layout().slots_count(),
            "buf_size_bytes": w.layout().buf_size_bytes(),
            "max_message_bytes": w.layout().max_message_bytes(),
            "compression": w.compression().to_string(),
            "blocking": a.blocking,
            "readers_max": a.readers_max,
            "generation": w.generation(),
            "replaced": a.force,
        });
        outln!("{v}")?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "created {queue}: {} slots, {} buffer, compression {}, {kind}",
        w.layout().slots_count(),
        human_bytes(w.layout().buf_size_bytes()),
        w.compression()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_msg(out: &mut dyn Write, format: Format, msg: &MessageRef<'_>) -> anyhow::Result<()> {
    match format {
        Format::Text => {
            out.write_all(String::from_utf8_lossy(msg.payload).as_bytes())?;
            out.write_all(b"\n")?;
        }
        Format::Raw => out.write_all(msg.payload)?,
        Format::Framed => {
            let head = crate::input::frame_header(msg.payload.len())
                .context("a message of 4 GiB or more cannot be framed")?;
            out.write_all(&head)?;
            out.write_all(msg.payload)?;
        }
        Format::Json => {
            let v = json!({
                "id": msg.meta.id.0,
                "type": msg.meta.msg_type,
                "subtype": msg.meta.subtype,
                "time_ns": msg.meta.time_ns,
                "len": msg.payload.len(),
                "data_b64": base64::engine::general_purpose::STANDARD.encode(msg.payload),
            });
            writeln!(out, "{v}")?;
        }
    }
    Ok(())
}

/// What `fmq read` was asked for.
pub struct ReadArgs {
    /// `--from`, `--type`, `--subtype`, `--until-id`.
    pub sel: Selection,
    pub follow: bool,
    pub count: Option<u64>,
    pub timeout: Option<Duration>,
    pub format: Format,
    pub register: Option<String>,
}

impl ReadArgs {
    /// Whether the command may wait for a queue or a message (`--follow`, `--timeout`).
    fn may_wait(&self) -> bool {
        self.follow || self.timeout.is_some()
    }

    /// How long to wait for a queue or a message: `--timeout`, else forever.
    fn wait(&self) -> Duration {
        self.timeout.unwrap_or(Duration::MAX)
    }
}

/// Refuses to wait for a queue that cannot appear: a URL (fmq queues are paths,
/// `DIR/shmem_KEY` or `shm:NAME`), or a file-backed queue whose directory does not exist.
pub fn check_can_appear(queue: &str) -> anyhow::Result<()> {
    if let Some((scheme, _)) = queue.split_once("://") {
        bail!(
            "{queue} is a {scheme}:// URL, which fmq does not serve: a queue is DIR/NAME, \
             DIR/shmem_KEY or shm:NAME"
        );
    }
    let is_shm = queue.starts_with("shm:")
        || std::path::Path::new(queue)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("shmem_"));
    if !is_shm {
        let dir = match std::path::Path::new(queue).parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        if !dir.is_dir() {
            bail!(
                "cannot wait for {queue}: its directory {} does not exist",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Opens for `read`: at once, or waiting for the queue to be created when the command may
/// wait. A queue that did not exist yet is read from its first message, whatever `--from`
/// says: nothing was written before this reader asked.
fn open_reader(queue: &str, a: &ReadArgs) -> anyhow::Result<Reader> {
    let opts = ReaderOptions {
        start: a.sel.start_at(),
        ..ReaderOptions::default()
    };
    match Reader::open(queue, &opts) {
        Err(OpenError::NotFound { .. }) if a.may_wait() => {
            check_can_appear(queue)?;
            errln!("fmq: waiting for {queue} to be created");
            let opts = ReaderOptions {
                start: StartAt::Oldest,
                ..opts
            };
            match Reader::open_timeout(queue, &opts, a.wait()) {
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

/// One `fmq read`: the reader and what it has printed so far.
struct ReadSession<'a> {
    queue: &'a str,
    args: &'a ReadArgs,
    reader: Reader,
    printed: u64,
    /// Messages read, printed or not (filters, a time seek).
    seen: u64,
    corrupt: u64,
    timed_out: bool,
    /// Without --follow: the last id to print (the messages present once the first came).
    end: Option<u64>,
    /// `--from time:T`: messages older than T are still being skipped.
    seek: Seek,
}

/// What a read step says about going on.
enum Step {
    Continue,
    Stop,
}

impl ReadSession<'_> {
    /// Registers as `--register` says; `again` after the writer dropped the registration.
    fn register(&mut self, again: bool) -> anyhow::Result<()> {
        if let Some(name) = &self.args.register {
            let at = self
                .reader
                .register(name)
                .with_context(|| format!("registering as {name:?}"))?;
            if again {
                errln!("fmq: registered again as {name:?} at id {at}");
            }
        }
        Ok(())
    }

    /// Whether the command has printed what it was asked for.
    fn done(&self) -> bool {
        if self.args.count.is_some_and(|c| self.printed >= c) {
            return true;
        }
        if self.args.sel.past_end(self.reader.position().0) {
            return true;
        }
        !self.args.follow && self.end.is_some_and(|e| self.reader.position().0 > e)
    }

    /// Reads one message (waiting if the command may) and prints it or what happened.
    fn step(&mut self, out: &mut dyn Write) -> anyhow::Result<Step> {
        let got = match self.reader.try_read() {
            Ok(msg) => Ok(msg),
            Err(TryReadError::Failed(e)) => Err(e),
            Err(TryReadError::Empty) => {
                out.flush()?;
                // Without --follow, --timeout waits for the first message only.
                let may_wait = self.args.follow
                    || (self.args.timeout.is_some() && self.seen == 0 && self.end.is_none());
                if !may_wait {
                    return Ok(Step::Stop);
                }
                match self.reader.read_timeout(self.args.wait()) {
                    Ok(msg) => Ok(msg),
                    Err(ReadTimeoutError::Failed(e)) => Err(e),
                    Err(_) => {
                        self.timed_out = !self.args.follow;
                        return Ok(Step::Stop);
                    }
                }
            }
        };
        let step = match got {
            // A lag may have jumped past --until-id.
            Ok(msg) if self.args.sel.past_end(msg.meta.id.0) => Step::Stop,
            Ok(msg) => {
                self.seen += 1;
                if !self.seek.skip(&self.args.sel, &msg.meta) {
                    print_msg(out, self.args.format, &msg)?;
                    self.printed += 1;
                    if self.args.follow {
                        out.flush()?;
                    }
                }
                Step::Continue
            }
            Err(e) => self.report(out, e)?,
        };
        if !self.args.follow && self.end.is_none() && self.seen > 0 {
            self.end = Some(self.reader.youngest_id().0);
        }
        Ok(step)
    }

    /// A read error: a lag or a skipped message is printed and reading goes on; a queue
    /// replaced or removed under `--follow` is waited for and read again from its start.
    fn report(&mut self, out: &mut dyn Write, e: ReadError) -> anyhow::Result<Step> {
        match e {
            ReadError::Lagged(lag) => {
                if self.args.format == Format::Json {
                    let v = json!({"missed": lag.missed_count, "resumed_at": lag.resumed_at.0});
                    writeln!(out, "{v}")?;
                } else {
                    out.flush()?;
                    errln!("fmq: warning: reader lagged: {lag}");
                }
            }
            ReadError::Unregistered { .. } => {
                out.flush()?;
                errln!("fmq: warning: {e}");
                self.register(true)?;
            }
            e if e.is_skipped_message() => {
                self.corrupt += 1;
                out.flush()?;
                errln!("fmq: warning: skipped: {e}");
            }
            e if e.is_fatal() && self.args.follow => {
                out.flush()?;
                errln!("fmq: warning: {e}; waiting for the queue and reading it from its start");
                return self.reopen();
            }
            e => {
                let queue = self.queue;
                return Err(anyhow::Error::new(e).context(format!("reading {queue}")));
            }
        }
        Ok(Step::Continue)
    }

    fn reopen(&mut self) -> anyhow::Result<Step> {
        let opts = ReaderOptions {
            start: StartAt::Oldest,
            ..ReaderOptions::default()
        };
        self.reader = match Reader::open_timeout(self.queue, &opts, self.args.wait()) {
            Ok(r) => r,
            Err(OpenError::NotFound { .. }) => return Ok(Step::Stop),
            Err(e) => return Err(e.into()),
        };
        self.register(false)?;
        Ok(Step::Continue)
    }
}

pub fn read(queue: &str, args: &ReadArgs) -> anyhow::Result<ExitCode> {
    let reader = open_reader(queue, args)?;
    let mut s = ReadSession {
        queue,
        args,
        reader,
        printed: 0,
        seen: 0,
        corrupt: 0,
        timed_out: false,
        end: None,
        seek: args.sel.seek(),
    };
    s.register(false)?;
    with_stdout(|out| {
        while !s.done() {
            if let Step::Stop = s.step(out)? {
                break;
            }
        }
        Ok(())
    })?;
    if s.timed_out {
        bail!(
            "no message arrived in {queue} within {} s",
            args.wait().as_secs_f64()
        );
    }
    if s.corrupt > 0 {
        bail!(
            "{} corrupt messages were skipped in {queue} (see `fmq check`)",
            s.corrupt
        );
    }
    if s.printed == 0
        && !args.follow
        && args.sel.from == StartFrom::End
        && std::io::stderr().is_terminal()
    {
        errln!(
            "fmq: no new message in {queue} (reading starts at the end: `--from oldest` prints \
             what is there, `--follow` waits for more)"
        );
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
    if r.dropped {
        "dropped"
    } else if !r.alive {
        "dead"
    } else {
        "live"
    }
}

pub fn info(queue: &str, with_slots: bool, as_json: bool) -> anyhow::Result<ExitCode> {
    let i = fmq::info(queue)?;
    let slots = if with_slots {
        Some(fmq::slots(queue)?)
    } else {
        None
    };
    with_stdout(|out| {
        if as_json {
            let mut v = info_json(&i);
            if let Some(s) = &slots {
                v["slots"] = s.iter().enumerate().map(|(i, s)| slot_json(i, s)).collect();
            }
            writeln!(out, "{v}")?;
            return Ok(());
        }
        info_text(out, &i)?;
        if i.header.readers_max > 0 {
            readers_text(out, &i)?;
        }
        if let Some(s) = &slots {
            slots_text(out, s)?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn slot_json(index: usize, s: &fmq::Slot) -> serde_json::Value {
    json!({
        "index": index, "stamp": s.stamp, "buf_pos": s.buf_pos,
        "stored_len": s.stored_len, "raw_len": s.raw_len,
        "time_ns": s.time_ns, "type": s.msg_type, "subtype": s.subtype,
        "flags": s.flags, "crc32c": s.crc32c,
    })
}

fn info_json(i: &QueueInfo) -> serde_json::Value {
    let h = &i.header;
    let (open, pid, alive) = match i.writer {
        WriterStatus::Closed { last_pid } => (false, last_pid, false),
        WriterStatus::Open { pid, alive } => (true, pid, alive),
    };
    let millis = |d: Duration| d.as_millis() as u64;
    json!({
        "queue": i.queue.spec(),
        "backend": if i.queue.is_shared_memory() { "shm" } else { "file" },
        "files": i.files.iter().map(|(p, n)| json!({"path": p, "size": n})).collect::<Vec<_>>(),
        "lock_file": i.queue.lock_path(),
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
            "index": r.index,
            "name": r.name,
            "pid": r.pid,
            "state": reader_state(r),
            "cursor": r.cursor.0,
            "lag": r.lag,
            "heartbeat_age_ms": millis(r.heartbeat_age),
        })).collect::<Vec<_>>(),
    })
}

fn info_text(out: &mut dyn Write, i: &QueueInfo) -> anyhow::Result<()> {
    let h = &i.header;
    let kind = if i.queue.is_shared_memory() {
        "shared memory"
    } else {
        "files"
    };
    writeln!(out, "queue        {} ({kind})", i.queue)?;
    for (p, n) in &i.files {
        writeln!(out, "file         {} ({})", p.display(), human_bytes(*n))?;
    }
    let created = utc(h.creation_time_ns as i64);
    writeln!(
        out,
        "format       version {}, generation {}, created {created}",
        h.version, h.generation
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
        writer_line(i),
        h.writer_epoch
    )?;
    let lock = i.queue.lock_path().display();
    match i.lock_pid {
        Some(p) => writeln!(out, "lock         {lock} (last locked by pid {p})")?,
        None => writeln!(out, "lock         {lock} (never locked)")?,
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
    Ok(())
}

fn readers_text(out: &mut dyn Write, i: &QueueInfo) -> anyhow::Result<()> {
    let h = &i.header;
    let mode = if i.blocking { "blocking" } else { "lossy" };
    writeln!(
        out,
        "readers      {mode}; {} of {} records in use; reader timeout {} ms; {} dropped as dead",
        i.readers.iter().filter(|r| !r.dropped).count(),
        h.readers_max,
        h.reader_timeout_ms,
        h.readers_dropped
    )?;
    for r in &i.readers {
        writeln!(
            out,
            "  reader {:>3} {:<20} pid {:>7} {:<8} next id {:>10} lag {:>8} heartbeat {} ms ago",
            r.index,
            format!("{:?}", r.name),
            r.pid,
            reader_state(r),
            r.cursor,
            r.lag,
            r.heartbeat_age.as_millis()
        )?;
    }
    Ok(())
}

fn slots_text(out: &mut dyn Write, slots: &[fmq::Slot]) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:>6} {:>12} {:>14} {:>9} {:>9} {:>6} {:>7} {:>30} {:>5} {:>10}",
        "slot", "stamp", "buf_pos", "len", "raw_len", "type", "subtype", "time", "flags", "crc32c"
    )?;
    for (index, sl) in slots.iter().enumerate() {
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
    Ok(())
}

pub fn check(queue: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let report = fmq::check(queue)?;
    if as_json {
        let v = json!({
            "queue": queue,
            "healthy": report.is_healthy(),
            "messages_checked": report.messages_checked,
            "warnings": report.warnings,
            "problems": report.problems,
        });
        outln!("{v}")?;
        return Ok(if report.is_healthy() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
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
    if fmq::clear(queue)? {
        outln!("cleared the writer mark of {queue}")?;
    } else {
        outln!("the writer mark of {queue} was not set; nothing to clear")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn remove(queue: &str, force: bool) -> anyhow::Result<ExitCode> {
    let removed = if force {
        fmq::force_remove(queue)
    } else {
        fmq::remove(queue)
    };
    match removed {
        Err(e @ AdminError::Open(OpenError::Locked { .. })) => {
            bail!("{e} (use --force to remove it anyway)")
        }
        other => other?,
    }
    outln!("removed {queue}")?;
    Ok(ExitCode::SUCCESS)
}
