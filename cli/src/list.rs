//! `fmq list` and `fmq gc`: the fmq queues on a host, found by their magic, not by their
//! names: every regular file in the shared-memory directory (`FMQ_SHM_DIR`, default
//! `/dev/shm`) and under the given directories (at most 8 levels deep, symlinks not
//! followed) whose first 8 bytes are fmq's header magic is a queue's `.stat` file or
//! segment. Nothing else is opened for more than those 8 bytes, and `gc` removes only
//! through `fmq::remove`, which refuses anything that is not an fmq queue of this user's
//! and any queue whose writer lives.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use serde_json::json;

use fmq::{now_ns, QueueInfo, WriterStatus};

use crate::util::{errln, human_bytes, outln, utc, with_stdout};

/// The first 8 bytes of every fmq queue's header (`docs/design.md`, the header's line 0).
const MAGIC: &[u8; 8] = b"\x89FMQ\r\n\x1a\n";

/// How deep `list` and `gc` look under a directory.
const DEPTH_MAX: usize = 8;

fn shm_dir() -> PathBuf {
    match std::env::var_os("FMQ_SHM_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from("/dev/shm"),
    }
}

/// Whether `path` is a regular file that starts with fmq's magic (opened without following
/// a symlink, without blocking, read-only).
fn has_magic(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.file_type().is_file() || meta.len() < MAGIC.len() as u64 {
        return false;
    }
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(path)
    else {
        return false;
    };
    let mut head = [0u8; 8];
    f.read_exact(&mut head).is_ok() && &head == MAGIC
}

/// `O_NOFOLLOW | O_NONBLOCK`: a file swapped for a symlink or a FIFO between the check and
/// the open is not followed, and never blocks the command.
fn libc_flags() -> i32 {
    libc::O_NOFOLLOW | libc::O_NONBLOCK
}

/// The queue a file with the magic belongs to: `DIR/NAME.stat` is `DIR/NAME`; a file in
/// the shared-memory directory is `shm:FILE`.
fn queue_of(file: &Path, in_shm: bool) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    if in_shm {
        return Some(format!("shm:{name}"));
    }
    let stem = name.strip_suffix(".stat")?;
    Some(file.with_file_name(stem).to_str()?.to_string())
}

/// Every queue in the shared-memory directory and under `dirs`, sorted, without repeats.
pub fn find_queues(dirs: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    for d in dirs {
        if !d.is_dir() {
            bail!("{} is not a directory", d.display());
        }
    }
    let mut found = Vec::new();
    let shm = shm_dir();
    scan(&shm, true, 0, &mut found);
    for d in dirs {
        scan(d, false, 0, &mut found);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn scan(dir: &Path, in_shm: bool, depth: usize, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() && !in_shm && depth + 1 < DEPTH_MAX {
            scan(&path, false, depth + 1, found);
        } else if kind.is_file() && has_magic(&path) {
            if let Some(q) = queue_of(&path, in_shm) {
                found.push(q);
            }
        }
    }
}

/// What `list` shows of one queue, and what `gc` decides on.
struct Row {
    queue: String,
    info: Result<QueueInfo, String>,
    /// The time of the youngest message, else the creation time.
    last_write_ns: Option<i64>,
}

fn row(queue: String) -> Row {
    let info = fmq::info(queue.as_str()).map_err(|e| e.to_string());
    let last_write_ns = info.as_ref().ok().map(|i| {
        let youngest = i.header.youngest_id;
        fmq::slots(queue.as_str())
            .ok()
            .and_then(|s| s.into_iter().find(|s| youngest > 0 && s.stamp == youngest))
            .map_or(i.header.creation_time_ns as i64, |s| s.time_ns)
    });
    Row {
        queue,
        info,
        last_write_ns,
    }
}

/// The writer column of `list`, `top` and the data map's page: `pid 123 live`,
/// `pid 123 dead`, `closed`.
pub fn writer_text(w: &WriterStatus) -> String {
    match w {
        WriterStatus::Open { pid, alive: true } => format!("pid {pid} live"),
        WriterStatus::Open { pid, alive: false } => format!("pid {pid} dead"),
        WriterStatus::Closed { .. } => "closed".into(),
    }
}

fn writer_lives(w: &WriterStatus) -> bool {
    matches!(w, WriterStatus::Open { alive: true, .. })
}

/// `5s`, `3m`, `2h`, `4d` ago.
fn age(ns: i64) -> String {
    let secs = (now_ns() - ns).max(0) / 1_000_000_000;
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}

fn row_json(r: &Row) -> serde_json::Value {
    let i = match &r.info {
        Ok(i) => i,
        Err(e) => return json!({"queue": r.queue, "error": e}),
    };
    let (pid, open, alive) = match i.writer {
        WriterStatus::Open { pid, alive } => (pid, true, alive),
        WriterStatus::Closed { last_pid } => (last_pid, false, false),
    };
    json!({
        "queue": r.queue,
        "backend": if i.queue.is_shared_memory() { "shm" } else { "file" },
        "buf_size_bytes": i.header.buf_size_bytes,
        "slots_count": i.header.slots_count,
        "writer": {"open": open, "pid": pid, "alive": alive},
        "youngest_id": i.header.youngest_id,
        "present_count": i.present_count,
        "last_write_time": r.last_write_ns.map(utc),
        "last_write_age_s": r.last_write_ns.map(|t| (now_ns() - t).max(0) as f64 / 1e9),
        "readers": i.readers.iter().map(|x| json!({
            "name": x.name, "pid": x.pid, "lag": x.lag, "dropped": x.dropped, "alive": x.alive,
        })).collect::<Vec<_>>(),
    })
}

/// `fmq list [DIR...] [--json]`.
pub fn list(dirs: &[PathBuf], as_json: bool) -> anyhow::Result<ExitCode> {
    let rows: Vec<Row> = find_queues(dirs)?.into_iter().map(row).collect();
    with_stdout(|out| {
        if as_json {
            let v: Vec<_> = rows.iter().map(row_json).collect();
            writeln!(out, "{}", serde_json::Value::from(v))?;
            return Ok(());
        }
        writeln!(
            out,
            "{:<40} {:<7} {:>8} {:<16} {:>10} {:>8}  READERS",
            "QUEUE", "BACKEND", "SIZE", "WRITER", "YOUNGEST", "LAST"
        )?;
        for r in &rows {
            match &r.info {
                Err(e) => writeln!(out, "{:<40} unreadable: {e}", r.queue)?,
                Ok(i) => {
                    let readers = if i.readers.is_empty() {
                        "-".to_string()
                    } else {
                        i.readers
                            .iter()
                            .map(|x| format!("{} lag {}", x.name, x.lag))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    writeln!(
                        out,
                        "{:<40} {:<7} {:>8} {:<16} {:>10} {:>8}  {readers}",
                        r.queue,
                        if i.queue.is_shared_memory() {
                            "shm"
                        } else {
                            "file"
                        },
                        human_bytes(i.header.buf_size_bytes),
                        writer_text(&i.writer),
                        i.header.youngest_id,
                        r.last_write_ns.map_or("-".into(), age),
                    )?;
                }
            }
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `fmq gc [DIR...] --dead --older-than D [--dry-run]`: removes the queues whose writer is
/// gone and whose last write (or creation, if it holds nothing) is older than `older_than`.
pub fn gc(dirs: &[PathBuf], older_than: Duration, dry_run: bool) -> anyhow::Result<ExitCode> {
    let limit_ns = i64::try_from(older_than.as_nanos()).unwrap_or(i64::MAX);
    let mut failed = 0;
    for r in find_queues(dirs)?.into_iter().map(row) {
        let Ok(i) = &r.info else { continue };
        if writer_lives(&i.writer) {
            continue;
        }
        let Some(last) = r.last_write_ns else {
            continue;
        };
        if now_ns().saturating_sub(last) < limit_ns {
            continue;
        }
        let why = format!(
            "writer {}, last write {} ago",
            writer_text(&i.writer),
            age(last)
        );
        if dry_run {
            outln!("would remove {} ({why})", r.queue)?;
            continue;
        }
        match fmq::remove(r.queue.as_str()) {
            Ok(()) => outln!("removed {} ({why})", r.queue)?,
            Err(e) => {
                failed += 1;
                errln!("fmq: error: not removed: {e}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} queue(s) could not be removed (see above)");
    }
    Ok(ExitCode::SUCCESS)
}
