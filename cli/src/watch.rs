//! `fmq ldata watch`: runs a program for every data-arrival event of a directory (issue 15,
//! item 2).
//!
//! * The program runs with an argv, never through a shell. A placeholder (`{path}`, `{rel}`,
//!   `{dir}`, `{id}`, `{type}`, `{writer}`, `{time:%Y%m%d%H%M%S}`; `{{` and `}}` for braces)
//!   is replaced inside its own argument only, so a file name with spaces, `;`, `$(...)` or
//!   a newline reaches the program as one verbatim argument.
//! * The watcher is a registered reader of the event queue (a blocking queue): producers
//!   wait for it rather than overrun it, so no event is missed while it lives. Its cursor,
//!   `DIR/_fmq_ldata.watch.NAME`, names the first event whose command has not succeeded;
//!   it is replaced durably (fsync) each time it moves, and a restart with `--from saved`
//!   resumes there. Delivery is at least once: a command that was running when the watcher
//!   died runs again. Events overwritten while no watcher was registered (a dead watcher is
//!   dropped, and producers go on) are reported by id, exactly.
//! * `--jobs N` commands at once; `--timeout SECS` per command (then SIGTERM, SIGKILL 5 s
//!   later: a failure); `--on-fail retry:N` (N more attempts, then the event is skipped and
//!   reported), `skip`, or `stop` (the watcher ends with status 1, its cursor at the failed
//!   event, which runs again at the next start).
//! * SIGINT or SIGTERM: no new command starts, the running ones get SIGTERM and are waited
//!   for, the cursor is saved, and the watcher exits 0.
//! * `DIR/_fmq_ldata.watch.NAME.status` (JSON, replaced as it changes) says what runs and
//!   what failed, for `fmq ldata status`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fmq::{MessageId, ReadError, ReadTimeoutError, Reader, ReaderOptions, StartAt};
use fmq_ldata::LdataInfo;

use crate::util::errln;

/// One piece of a command argument.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Path,
    Rel,
    Dir,
    Id,
    Type,
    Writer,
    Time(String),
}

/// Parses one argument's placeholders.
fn parse_template(arg: &str) -> anyhow::Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = arg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(match name.as_str() {
                    "path" => Piece::Path,
                    "rel" => Piece::Rel,
                    "dir" => Piece::Dir,
                    "id" => Piece::Id,
                    "type" => Piece::Type,
                    "writer" => Piece::Writer,
                    n if n.starts_with("time:") => Piece::Time(n[5..].to_string()),
                    "time" => Piece::Time("%Y%m%d%H%M%S".into()),
                    n => bail!(
                        "unknown placeholder {{{n}}} in {arg:?} (known: {{path}} {{rel}} {{dir}} \
                         {{id}} {{type}} {{writer}} {{time:FORMAT}}; {{{{ and }}}} for braces)"
                    ),
                });
            }
            '}' => bail!("a lone '}}' in {arg:?} (write }}}} for a brace)"),
            c => lit.push(c),
        }
    }
    if !lit.is_empty() || out.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

/// `%Y %m %d %H %M %S %j %s %%` of a Unix time, UTC.
fn strftime(t: i64, fmt: &str) -> String {
    let iso = crate::util::utc(t.saturating_mul(1_000_000_000));
    let (y, mo, d, h, mi, s) = (
        &iso[0..4],
        &iso[5..7],
        &iso[8..10],
        &iso[11..13],
        &iso[14..16],
        &iso[17..19],
    );
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(y),
            Some('m') => out.push_str(mo),
            Some('d') => out.push_str(d),
            Some('H') => out.push_str(h),
            Some('M') => out.push_str(mi),
            Some('S') => out.push_str(s),
            Some('s') => out.push_str(&t.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// The argv of one event's command.
fn expand(template: &[Vec<Piece>], dir: &Path, id: u64, info: &LdataInfo) -> Vec<String> {
    template
        .iter()
        .map(|arg| {
            arg.iter()
                .map(|p| match p {
                    Piece::Lit(s) => s.clone(),
                    Piece::Path => dir.join(&info.rel_data_path).to_string_lossy().into_owned(),
                    Piece::Rel => info.rel_data_path.clone(),
                    Piece::Dir => dir.to_string_lossy().into_owned(),
                    Piece::Id => id.to_string(),
                    Piece::Type => info.data_type.clone(),
                    Piece::Writer => info.writer.clone(),
                    Piece::Time(f) => strftime(info.unix_time, f),
                })
                .collect()
        })
        .collect()
}

/// What to do when a command fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFail {
    Retry(u32),
    Skip,
    Stop,
}

pub fn parse_on_fail(s: &str) -> Result<OnFail, String> {
    match s {
        "skip" => Ok(OnFail::Skip),
        "stop" => Ok(OnFail::Stop),
        _ => s
            .strip_prefix("retry:")
            .and_then(|n| n.parse().ok())
            .map(OnFail::Retry)
            .ok_or_else(|| format!("{s:?}: expected retry:N, skip or stop")),
    }
}

/// Where a watcher starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchFrom {
    /// Its saved cursor (the end, the first time).
    Saved,
    /// The oldest event present.
    Oldest,
    /// New events only.
    End,
}

/// `fmq ldata watch`'s arguments.
#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The data directory.
    dir: PathBuf,
    /// The watcher's name: its registration and its saved cursor (letters, digits, - _ .;
    /// at most 24).
    #[arg(long)]
    name: String,
    /// Where to start.
    #[arg(long, value_enum, default_value_t = WatchFrom::Saved)]
    from: WatchFrom,
    /// Commands run at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    jobs: u32,
    /// Seconds a command may run (then SIGTERM, and SIGKILL 5 s later): a failure.
    #[arg(long, value_parser = crate::util::parse_secs)]
    timeout: Option<f64>,
    /// retry:N, skip or stop.
    #[arg(long, default_value = "stop", value_parser = parse_on_fail)]
    on_fail: OnFail,
    /// The program and its arguments, with placeholders.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// The cursor file of watcher `name`.
pub fn cursor_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}.watch.{name}", fmq_ldata::EVENT_QUEUE))
}

/// The status file of watcher `name`.
pub fn status_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}.watch.{name}.status", fmq_ldata::EVENT_QUEUE))
}

/// The saved cursor: the first event whose command has not succeeded.
pub fn read_cursor(dir: &Path, name: &str) -> anyhow::Result<Option<u64>> {
    let p = cursor_path(dir, name);
    match std::fs::read_to_string(&p) {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .with_context(|| format!("{} does not hold a cursor", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// One running command.
struct Running {
    child: Child,
    started: Instant,
    attempts: u32,
    argv: Vec<String>,
    info: LdataInfo,
    /// SIGTERM sent at (a timeout or a stop).
    termed: Option<Instant>,
}

/// Asks a command to end (SIGTERM); `reap` sends SIGKILL 5 s later.
fn terminate(r: &mut Running) {
    if r.termed.is_none() {
        // The child is not reaped yet (only `try_wait` in `reap` does), so its pid is still
        // its own; one that has exited meanwhile is a zombie and ignores the signal.
        let pid = i32::try_from(r.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        r.termed = Some(Instant::now());
    }
}

/// One watcher under way.
struct Watcher {
    dir: PathBuf,
    name: String,
    template: Vec<Vec<Piece>>,
    jobs: usize,
    timeout: Option<Duration>,
    on_fail: OnFail,
    reader: Reader,
    running: BTreeMap<u64, Running>,
    /// Events taken whose command has not succeeded (running, failed under `stop`, or
    /// ended by a stop): the cursor never passes them.
    unfinished: BTreeSet<u64>,
    /// The cursor last saved.
    saved: Option<u64>,
    failures: Vec<serde_json::Value>,
    lost: Vec<(u64, u64)>,
    /// A command failed under `--on-fail stop`.
    failed_stop: bool,
}

/// `fmq ldata watch`.
pub fn watch(a: WatchArgs) -> anyhow::Result<ExitCode> {
    let valid = !a.name.is_empty()
        && a.name.len() <= 24
        && a.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid {
        bail!(
            "--name {:?}: letters, digits, '-', '_' and '.' only, at most 24",
            a.name
        );
    }
    let template = a
        .command
        .iter()
        .map(|c| parse_template(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let mut w = Watcher::start(&a, template)?;
    w.run(&stop)?;
    if w.failed_stop {
        bail!(
            "a command failed and --on-fail is stop: the cursor stays at its event ({})",
            w.cursor()
        );
    }
    Ok(ExitCode::SUCCESS)
}

impl Watcher {
    fn start(a: &WatchArgs, template: Vec<Vec<Piece>>) -> anyhow::Result<Watcher> {
        let saved = read_cursor(&a.dir, &a.name)?;
        let start = match (a.from, saved) {
            (WatchFrom::Saved, Some(next)) => StartAt::Id(MessageId(next.max(1))),
            (WatchFrom::Saved, None) => {
                errln!(
                    "fmq: ldata watch {}: no saved cursor; starting with new events",
                    a.name
                );
                StartAt::End
            }
            (WatchFrom::Oldest, _) => StartAt::Oldest,
            (WatchFrom::End, _) => StartAt::End,
        };
        let q = fmq_ldata::event_queue(&a.dir);
        let opts = ReaderOptions {
            start,
            ..ReaderOptions::default()
        };
        let mut reader = match Reader::open(&q, &opts) {
            Err(fmq::OpenError::NotFound { .. }) => {
                crate::commands::check_can_appear(&q.to_string_lossy())?;
                errln!(
                    "fmq: ldata watch {}: waiting for the first event in {}",
                    a.name,
                    a.dir.display()
                );
                let first = ReaderOptions {
                    start: StartAt::Oldest,
                    ..opts
                };
                Reader::open_timeout(&q, &first, Duration::MAX)?
            }
            other => other?,
        };
        reader
            .register(&a.name)
            .with_context(|| format!("registering {:?} with {}", a.name, q.display()))?;
        Ok(Watcher {
            dir: a.dir.clone(),
            name: a.name.clone(),
            template,
            jobs: a.jobs as usize,
            timeout: a.timeout.map(Duration::from_secs_f64),
            on_fail: a.on_fail,
            reader,
            running: BTreeMap::new(),
            unfinished: BTreeSet::new(),
            saved,
            failures: Vec::new(),
            lost: Vec::new(),
            failed_stop: false,
        })
    }

    /// The first event whose command has not succeeded.
    fn cursor(&self) -> u64 {
        let next = self.reader.position().0;
        self.unfinished.first().map_or(next, |&u| u.min(next))
    }

    fn run(&mut self, stop: &AtomicBool) -> anyhow::Result<()> {
        self.save()?;
        // ORDERING: Relaxed: the signal flag publishes nothing.
        while !stop.load(Ordering::Relaxed) && !self.failed_stop {
            if self.running.len() < self.jobs {
                self.take_event()?;
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.reap(false)?;
        }
        // Stopping: no new command; the running ones are asked to end and waited for.
        for r in self.running.values_mut() {
            terminate(r);
        }
        while !self.running.is_empty() {
            self.reap(true)?;
            std::thread::sleep(Duration::from_millis(20));
        }
        self.save()
    }

    /// Reads one event (waiting briefly) and starts its command.
    fn take_event(&mut self) -> anyhow::Result<()> {
        let got = match self.reader.read_timeout(Duration::from_millis(100)) {
            Ok(m) => Ok((m.meta.id.0, serde_json::from_slice::<LdataInfo>(m.payload))),
            Err(ReadTimeoutError::Failed(e)) => Err(e),
            Err(_) => return Ok(()),
        };
        match got {
            Ok((id, Ok(info))) => self.spawn(id, info, 1),
            Ok((id, Err(e))) => {
                errln!(
                    "fmq: ldata watch {}: event {id} is not an ldata event ({e}); skipped",
                    self.name
                );
                self.save()
            }
            Err(ReadError::Lagged(lag)) => {
                let first = lag.resumed_at.0 - lag.missed_count;
                let last = lag.resumed_at.0 - 1;
                errln!(
                    "fmq: ldata watch {}: lost events {first}..={last} ({} events, overwritten \
                     while no watcher of this name was registered)",
                    self.name,
                    lag.missed_count
                );
                self.lost.push((first, last));
                self.save()
            }
            Err(ReadError::Unregistered { .. }) => {
                errln!(
                    "fmq: ldata watch {}: the writer dropped this watcher; registering again",
                    self.name
                );
                self.reader.register(&self.name)?;
                Ok(())
            }
            Err(e) => Err(anyhow::Error::new(e).context("reading the event queue")),
        }
    }

    fn spawn(&mut self, id: u64, info: LdataInfo, attempts: u32) -> anyhow::Result<()> {
        let argv = expand(&self.template, &self.dir, id, &info);
        self.unfinished.insert(id);
        match Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .spawn()
        {
            Ok(child) => {
                let r = Running {
                    child,
                    started: Instant::now(),
                    attempts,
                    argv,
                    info,
                    termed: None,
                };
                self.running.insert(id, r);
            }
            Err(e) => {
                let why = format!("cannot run {:?}: {e}", argv[0]);
                self.failed(id, info, argv, attempts, &why)?;
            }
        }
        self.save()
    }

    /// Collects finished commands, ends those past `--timeout`, and moves the cursor.
    fn reap(&mut self, stopping: bool) -> anyhow::Result<()> {
        let ids: Vec<u64> = self.running.keys().copied().collect();
        for id in ids {
            let Some(r) = self.running.get_mut(&id) else {
                continue;
            };
            if let (Some(t), None) = (self.timeout, r.termed) {
                if r.started.elapsed() > t {
                    terminate(r);
                }
            }
            if r.termed
                .is_some_and(|at| at.elapsed() > Duration::from_secs(5))
            {
                let _ = r.child.kill();
            }
            let status = match r.child.try_wait() {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => bail!("waiting for a command: {e}"),
            };
            let Some(r) = self.running.remove(&id) else {
                continue;
            };
            if status.success() {
                self.unfinished.remove(&id);
            } else if stopping {
                // Ended by our own stop: it stays unfinished, and runs again at the next start.
            } else {
                let why = match (r.termed, self.timeout) {
                    (Some(_), Some(t)) => format!("ran past --timeout {} s", t.as_secs_f64()),
                    _ => status.to_string(),
                };
                self.failed(id, r.info, r.argv, r.attempts, &why)?;
            }
        }
        self.save()
    }

    /// A command failed: retried, skipped (reported) or, under `stop`, kept unfinished.
    fn failed(
        &mut self,
        id: u64,
        info: LdataInfo,
        argv: Vec<String>,
        attempts: u32,
        why: &str,
    ) -> anyhow::Result<()> {
        if let OnFail::Retry(n) = self.on_fail {
            if attempts <= n {
                errln!(
                    "fmq: ldata watch {}: event {id} ({}): {why}; attempt {} of {}",
                    self.name,
                    info.rel_data_path,
                    attempts + 1,
                    n + 1
                );
                self.running.remove(&id);
                return self.spawn(id, info, attempts + 1);
            }
        }
        let stop = self.on_fail == OnFail::Stop;
        errln!(
            "fmq: ldata watch {}: event {id} ({}) failed after {attempts} attempt(s): {why}; {}",
            self.name,
            info.rel_data_path,
            if stop { "stopping" } else { "skipped" }
        );
        self.failures.push(serde_json::json!({
            "id": id, "rel_data_path": info.rel_data_path, "argv": argv,
            "attempts": attempts, "why": why, "skipped": !stop,
        }));
        if stop {
            self.failed_stop = true;
        } else {
            self.unfinished.remove(&id);
        }
        Ok(())
    }

    /// Saves the cursor (when it moved) and the status file.
    fn save(&mut self) -> anyhow::Result<()> {
        let cursor = self.cursor();
        if self.saved != Some(cursor) {
            fmq_ldata::replace_file(
                &cursor_path(&self.dir, &self.name),
                format!("{cursor}\n").as_bytes(),
            )?;
            self.saved = Some(cursor);
        }
        let status = serde_json::json!({
            "name": self.name,
            "pid": std::process::id(),
            "cursor": cursor,
            "running": self.running.iter().map(|(id, r)| serde_json::json!({
                "id": id, "rel_data_path": r.info.rel_data_path,
                "seconds": r.started.elapsed().as_secs_f64(), "attempt": r.attempts,
            })).collect::<Vec<_>>(),
            "failures": self.failures,
            "lost": self.lost.iter().map(|(a, b)| serde_json::json!([a, b])).collect::<Vec<_>>(),
            "updated_ns": fmq::now_ns(),
        });
        fmq_ldata::replace_file(
            &status_path(&self.dir, &self.name),
            format!("{status}\n").as_bytes(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(rel: &str) -> LdataInfo {
        LdataInfo::new(1_796_637_600, rel)
    }

    #[test]
    fn a_placeholder_fills_its_own_argument_only_whatever_the_file_name() {
        let t: Vec<Vec<Piece>> = [
            "convert",
            "--in={path}",
            "{rel}",
            "at {time:%Y-%m-%d %H:%M:%S}",
            "#{id}",
            "{{literal}}",
        ]
        .iter()
        .map(|a| parse_template(a).unwrap())
        .collect();
        let rel = "a b; $(rm -rf x)\n`y`.nc";
        let argv = expand(&t, Path::new("/data"), 7, &info(rel));
        assert_eq!(
            argv,
            [
                "convert".to_string(),
                format!("--in=/data/{rel}"),
                rel.to_string(),
                "at 2026-12-07 10:00:00".into(),
                "#7".into(),
                "{literal}".into(),
            ]
        );
    }

    #[test]
    fn unknown_placeholders_and_lone_braces_are_refused_before_anything_runs() {
        assert!(parse_template("{nope}")
            .unwrap_err()
            .to_string()
            .contains("unknown placeholder {nope}"));
        assert!(parse_template("a}b").is_err());
        assert_eq!(parse_template("").unwrap(), [Piece::Lit(String::new())]);
    }

    #[test]
    fn on_fail_policies_parse() {
        assert_eq!(parse_on_fail("retry:3"), Ok(OnFail::Retry(3)));
        assert_eq!(parse_on_fail("skip"), Ok(OnFail::Skip));
        assert!(parse_on_fail("retry:x").is_err());
    }
}
