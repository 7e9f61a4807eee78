//! `fmq ldata put`: a data-arrival event for one file (`fmq_ldata::put`): the file moved
//! into place (`--from-file`), one event in the directory's event queue, LROSE's
//! `_latest_data_info.xml` and `_latest_data_info` rewritten. Several producers of one
//! directory wait their turn (`--timeout`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fmq_ldata::{LdataInfo, PutOptions};

use crate::util::outln;

/// `fmq ldata`'s commands.
#[derive(clap::Subcommand, Debug)]
pub enum LdataCommand {
    /// Record that REL_PATH was written into DIR: one event in DIR's event queue
    /// (_fmq_ldata), and LROSE's _latest_data_info.xml and _latest_data_info rewritten
    /// (write-replace, fsync, no moment without the file). With --from-file the file is
    /// moved into place first (same file system only: atomic and durable, never a copy).
    Put(PutArgs),
    /// Run PROGRAM for every event of DIR (after --): a registered reader of the event
    /// queue (producers wait for it), a durable cursor resumed at the first event whose
    /// command has not succeeded (at least once), argv without a shell, placeholders
    /// {path} {rel} {dir} {id} {type} {writer} {time:%Y%m%d%H%M%S} each within its own
    /// argument. SIGINT/SIGTERM: running commands are asked to end and waited for, the
    /// cursor saved, exit 0.
    Watch(crate::watch::WatchArgs),
    /// Print DIR's events (id, data time, path, type, writer). On a directory only LROSE
    /// wrote (no fmq event queue), the latest file from its _latest_data_info.xml.
    Read(ReadArgs),
    /// The triggering system end to end: a producer writing files into a fresh data
    /// directory, two watchers running sha256sum and wc -c on each, the data map, and a
    /// summary (files written, commands run per watcher, missed: must be 0).
    Demo(crate::ldata_demo::DemoArgs),
    /// Every watcher of DIR: its cursor, its lag in events and seconds, whether it is
    /// registered, its running commands and its failures.
    Status {
        /// The data directory.
        dir: PathBuf,
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// Where `fmq ldata read` starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadFrom {
    /// The oldest event present.
    Oldest,
    /// The youngest event (the latest file).
    Youngest,
    /// New events only (with --follow).
    End,
}

/// The arguments of `fmq ldata read`.
#[derive(clap::Args, Debug)]
pub struct ReadArgs {
    /// The data directory.
    dir: PathBuf,
    /// Where to start.
    #[arg(long, value_enum, default_value_t = ReadFrom::Oldest)]
    from: ReadFrom,
    /// Keep waiting for new events.
    #[arg(long)]
    follow: bool,
    /// text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

/// The arguments of `fmq ldata put`.
#[derive(clap::Args, Debug)]
pub struct PutArgs {
    /// The data directory.
    dir: PathBuf,
    /// The file's path relative to DIR.
    rel_path: String,
    /// The data's time: RFC 3339 (2026-12-07T10:00:00Z) or seconds since the epoch
    /// (default: now).
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// The data type (LROSE's data_type; default: the file's extension).
    #[arg(long = "type", value_name = "T")]
    data_type: Option<String>,
    /// The writing program (default: fmq).
    #[arg(long, value_name = "W")]
    writer: Option<String>,
    /// A forecast with this lead time in seconds.
    #[arg(long, value_name = "S")]
    lead: Option<i64>,
    /// LROSE's user_info1.
    #[arg(long, value_name = "S")]
    info1: Option<String>,
    /// LROSE's user_info2.
    #[arg(long, value_name = "S")]
    info2: Option<String>,
    /// Move this file to DIR/REL_PATH first.
    #[arg(long, value_name = "SRC")]
    from_file: Option<PathBuf>,
    /// How long to wait for other producers of DIR.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = crate::util::parse_secs)]
    timeout: f64,
    /// One JSON object: the event's id and fields.
    #[arg(long)]
    json: bool,
}

fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let t = humantime::parse_rfc3339_weak(s).map_err(|e| {
        anyhow::anyhow!("--time {s:?}: neither seconds since the epoch nor an RFC 3339 time ({e})")
    })?;
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("--time {s:?} is before 1970"))?
        .as_secs();
    Ok(i64::try_from(secs)?)
}

pub fn run(cmd: LdataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LdataCommand::Put(a) => put(a),
        LdataCommand::Watch(a) => crate::watch::watch(a),
        LdataCommand::Read(a) => read(a),
        LdataCommand::Demo(a) => crate::ldata_demo::run(a),
        LdataCommand::Status { dir, json } => status(&dir, json),
    }
}

fn put(a: PutArgs) -> anyhow::Result<ExitCode> {
    let time = match &a.time {
        Some(t) => parse_time(t)?,
        None => fmq::now_ns() / 1_000_000_000,
    };
    let mut info = LdataInfo::new(time, &a.rel_path);
    if let Some(t) = a.data_type {
        info.data_type = t;
    }
    if let Some(w) = a.writer {
        info.writer = w;
    }
    if let Some(l) = a.lead {
        info.is_forecast = true;
        info.forecast_lead_secs = l;
    }
    if let Some(s) = a.info1 {
        info.user_info1 = s;
    }
    if let Some(s) = a.info2 {
        info.user_info2 = s;
    }
    let opts = PutOptions {
        lock_wait: Duration::from_secs_f64(a.timeout),
        from_file: a.from_file,
    };
    let p = fmq_ldata::put(&a.dir, &info, &opts)?;
    // The event is recorded: the data map comes after, and its trouble is a warning only.
    let busy = Duration::from_secs_f64(a.timeout.min(2.0));
    if let Err(e) = fmq_ldata::dmap::record(&fmq_ldata::dmap::state_dir(), &a.dir, &p.info, busy) {
        crate::util::errln!(
            "fmq: warning: {e} (the event was recorded; the data map was not updated)"
        );
    }
    if a.json {
        let mut v = serde_json::to_value(&p.info)?;
        v["id"] = p.id.into();
        outln!("{v}")?;
    } else {
        outln!(
            "event {} in {}: {} at {}",
            p.id,
            a.dir.display(),
            p.info.rel_data_path,
            crate::util::utc(p.info.unix_time.saturating_mul(1_000_000_000))
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn event_line(id: Option<u64>, info: &LdataInfo, json: bool) -> String {
    if json {
        let mut v = serde_json::to_value(info).unwrap_or_default();
        v["id"] = id.map_or(serde_json::Value::Null, Into::into);
        return v.to_string();
    }
    format!(
        "{}  {}  {}  type {}  writer {}",
        id.map_or("lrose".to_string(), |i| i.to_string()),
        &crate::util::utc(info.unix_time.saturating_mul(1_000_000_000))[..19],
        info.rel_data_path,
        info.data_type,
        info.writer
    )
}

fn read(a: ReadArgs) -> anyhow::Result<ExitCode> {
    let json = a.format == "json";
    let q = fmq_ldata::event_queue(&a.dir);
    let start = match a.from {
        ReadFrom::Oldest => fmq::StartAt::Oldest,
        ReadFrom::Youngest => fmq::StartAt::Youngest,
        ReadFrom::End => fmq::StartAt::End,
    };
    let opts = fmq::ReaderOptions {
        start,
        ..fmq::ReaderOptions::default()
    };
    let mut r = match fmq::Reader::open(&q, &opts) {
        Err(fmq::OpenError::NotFound { .. }) if !a.follow => {
            // A directory only LROSE wrote.
            return match fmq_ldata::latest(&a.dir)? {
                Some(info) => {
                    outln!("{}", event_line(None, &info, json))?;
                    Ok(ExitCode::SUCCESS)
                }
                None => anyhow::bail!(
                    "{} has no events (no {} queue, no LROSE _latest_data_info.xml)",
                    a.dir.display(),
                    fmq_ldata::EVENT_QUEUE
                ),
            };
        }
        Err(fmq::OpenError::NotFound { .. }) => {
            crate::commands::check_can_appear(&q.to_string_lossy())?;
            crate::util::errln!("fmq: waiting for the first event in {}", a.dir.display());
            fmq::Reader::open_timeout(&q, &opts, Duration::MAX)?
        }
        other => other?,
    };
    let end = r.youngest_id().0;
    crate::util::with_stdout(|out| loop {
        if !a.follow && r.position().0 > end {
            return Ok(());
        }
        let m = match r.read_timeout(Duration::from_millis(500)) {
            Ok(m) => m,
            Err(fmq::ReadTimeoutError::Failed(fmq::ReadError::Lagged(lag))) => {
                crate::util::errln!("fmq: warning: {lag}");
                continue;
            }
            Err(fmq::ReadTimeoutError::Failed(e)) => return Err(e.into()),
            Err(_) if a.follow => {
                out.flush()?;
                continue;
            }
            Err(_) => return Ok(()),
        };
        let id = m.meta.id.0;
        match serde_json::from_slice::<LdataInfo>(m.payload) {
            Ok(info) => writeln!(out, "{}", event_line(Some(id), &info, json))?,
            Err(e) => crate::util::errln!("fmq: warning: event {id} is not an ldata event: {e}"),
        }
        if a.follow {
            out.flush()?;
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The watchers of `dir`: the names of their cursor files.
pub fn watcher_names(dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let prefix = format!("{}.watch.", fmq_ldata::EVENT_QUEUE);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix).map(str::to_string)
        })
        // The cursor file itself: not the status file, not a temporary name.
        .filter(|n| !n.ends_with(".status") && !n.contains(".tmp"))
        .collect();
    names.sort();
    Ok(names)
}

fn status(dir: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let q = fmq_ldata::event_queue(dir);
    let info = fmq::info(q.as_path()).ok();
    let youngest = info.as_ref().map_or(0, |i| i.header.youngest_id);
    let mut rows = Vec::new();
    for name in watcher_names(dir)? {
        let cursor = crate::watch::read_cursor(dir, &name)?.unwrap_or(1);
        let lag_events = (youngest + 1).saturating_sub(cursor);
        // The data time of the first event not yet done, against now.
        let lag_secs = if lag_events == 0 {
            0.0
        } else {
            event_time(&q, cursor)
                .map_or(0.0, |t| (fmq::now_ns() / 1_000_000_000 - t).max(0) as f64)
        };
        let registered = info.as_ref().and_then(|i| {
            i.readers
                .iter()
                .find(|r| r.name == name)
                .map(|r| (r.pid, r.alive, r.dropped))
        });
        let st: serde_json::Value = std::fs::read_to_string(crate::watch::status_path(dir, &name))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        rows.push(serde_json::json!({
            "name": name,
            "cursor": cursor,
            "lag_events": lag_events,
            "lag_seconds": lag_secs,
            "registered": registered.map(|(pid, alive, dropped)| serde_json::json!({
                "pid": pid, "alive": alive, "dropped": dropped,
            })),
            "running": st["running"],
            "failures": st["failures"],
            "lost": st["lost"],
        }));
    }
    crate::util::with_stdout(|out| {
        if json {
            writeln!(out, "{}", serde_json::Value::from(rows.clone()))?;
            return Ok(());
        }
        writeln!(out, "events: youngest id {youngest}")?;
        for r in &rows {
            let reg = match &r["registered"] {
                serde_json::Value::Null => "not registered".to_string(),
                v => format!(
                    "registered, pid {} {}",
                    v["pid"],
                    if v["alive"] == true { "live" } else { "dead" }
                ),
            };
            writeln!(
                out,
                "watcher {}: cursor {}, lag {} events ({} s), {reg}, {} running, {} failed",
                r["name"].as_str().unwrap_or(""),
                r["cursor"],
                r["lag_events"],
                r["lag_seconds"],
                r["running"].as_array().map_or(0, Vec::len),
                r["failures"].as_array().map_or(0, Vec::len),
            )?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The data time of event `id`, if it is still in the queue.
fn event_time(q: &std::path::Path, id: u64) -> Option<i64> {
    let opts = fmq::ReaderOptions {
        start: fmq::StartAt::Id(fmq::MessageId(id)),
        ..fmq::ReaderOptions::default()
    };
    let mut r = fmq::Reader::open(q, &opts).ok()?;
    let m = r.try_read().ok()?;
    serde_json::from_slice::<LdataInfo>(m.payload)
        .ok()
        .map(|i| i.unix_time)
}
