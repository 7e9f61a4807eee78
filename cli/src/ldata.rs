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
