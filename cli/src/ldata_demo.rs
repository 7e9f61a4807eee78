//! `fmq ldata demo`: the triggering system end to end. A producer writes files into a
//! fresh data directory (each moved into place by `fmq_ldata::put`, an event and LROSE's
//! files per file, the data map updated); two watcher processes run real programs on each
//! file (`sha256sum` and `wc -c`, through argv); at the end the data map is printed and a
//! summary: files written, commands run per watcher, missed (must be 0).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fmq_ldata::{LdataInfo, PutOptions};

use crate::util::{human_bytes, outln};

/// `fmq ldata demo`'s arguments.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Files the producer writes.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    files: u64,
    /// Bytes per file.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Files per second (0: as fast as it can).
    #[arg(long, default_value_t = 20)]
    rate: u64,
    /// Keep the data directory (printed) afterwards.
    #[arg(long)]
    keep: bool,
}

/// The two watchers: name and the program they run on each file.
const WATCHERS: [(&str, &[&str]); 2] = [("checksum", &["sha256sum"]), ("size", &["wc", "-c"])];

fn start_watcher(dir: &Path, state: &Path, name: &str, program: &[&str]) -> anyhow::Result<Child> {
    let out = dir.join(format!("_demo_{name}.out"));
    let mut cmd = program.join(" ");
    cmd.push_str(&format!(" \"$1\" >> '{}'", out.display()));
    Command::new(std::env::current_exe()?)
        .args(["ldata", "watch"])
        .arg(dir)
        .args(["--name", name, "--from", "oldest", "--"])
        .args(["sh", "-c", &cmd, "sh", "{path}"])
        .env("FMQ_STATE_DIR", state)
        .stdout(Stdio::null())
        .spawn()
        .context("starting a watcher")
}

fn runs(dir: &Path, name: &str) -> u64 {
    std::fs::read_to_string(dir.join(format!("_demo_{name}.out")))
        .map_or(0, |s| s.lines().count() as u64)
}

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    let root = std::env::temp_dir().join(format!("fmq-ldata-demo-{}", std::process::id()));
    let (dir, state, incoming) = (root.join("data"), root.join("state"), root.join("incoming"));
    for d in [&dir, &state, &incoming] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    outln!(
        "fmq ldata demo: {} files of {} into {}, two watchers ({}), data map in {}",
        a.files,
        human_bytes(a.size as u64),
        dir.display(),
        WATCHERS
            .map(|(n, p)| format!("{n}: {}", p.join(" ")))
            .join("; "),
        state.display()
    )?;
    let result = demo(&a, &dir, &state, &incoming);
    if !a.keep {
        let _ = std::fs::remove_dir_all(&root);
    } else {
        outln!("kept {}", root.display())?;
    }
    result
}

fn demo(a: &DemoArgs, dir: &Path, state: &Path, incoming: &Path) -> anyhow::Result<ExitCode> {
    // The first event makes the queue; the watchers then start from it.
    let started = Instant::now();
    let mut watchers = Vec::new();
    for i in 0..a.files {
        produce(a, dir, state, incoming, i)?;
        if i == 0 {
            for (name, program) in WATCHERS {
                watchers.push(start_watcher(dir, state, name, program)?);
            }
        }
        if a.rate > 0 {
            let due = started + Duration::from_secs_f64((i + 1) as f64 / a.rate as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while WATCHERS.iter().any(|(n, _)| runs(dir, n) < a.files) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for w in &mut watchers {
        if let Some(pid) = rustix::process::Pid::from_raw(w.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let _ = w.wait();
    }
    summary(a, dir, state, started.elapsed())
}

/// Writes file `i` into `incoming` and puts it into `dir`, the data map updated.
fn produce(a: &DemoArgs, dir: &Path, state: &Path, incoming: &Path, i: u64) -> anyhow::Result<()> {
    let rel = format!(
        "{}/{i:06}.bin",
        &crate::util::utc(fmq::now_ns())[..10].replace('-', "")
    );
    let src: PathBuf = incoming.join(format!("{i:06}.bin"));
    let bytes: Vec<u8> = (0..a.size).map(|k| (k as u64 * 31 + i) as u8).collect();
    std::fs::write(&src, bytes).with_context(|| format!("writing {}", src.display()))?;
    let mut info = LdataInfo::new(fmq::now_ns() / 1_000_000_000, &rel);
    info.writer = "fmq-ldata-demo".into();
    let opts = PutOptions {
        from_file: Some(src),
        ..PutOptions::default()
    };
    let p = fmq_ldata::put(dir, &info, &opts)?;
    fmq_ldata::dmap::record(state, dir, &p.info, Duration::from_secs(2))?;
    Ok(())
}

fn summary(a: &DemoArgs, dir: &Path, state: &Path, took: Duration) -> anyhow::Result<ExitCode> {
    outln!("")?;
    outln!("data map")?;
    for d in fmq_ldata::dmap::list(state, Duration::from_secs(2))? {
        outln!(
            "  {} {} type {}: latest {} ({}), {} events, {}, writer {}",
            d.host,
            d.dir,
            d.data_type,
            d.latest_file,
            &crate::util::utc(d.latest_time.saturating_mul(1_000_000_000))[..19],
            d.events,
            human_bytes(d.bytes.max(0) as u64),
            d.writer
        )?;
    }
    outln!("")?;
    outln!("summary ({:.1} s)", took.as_secs_f64())?;
    outln!("  files written  {}", a.files)?;
    let mut missed = 0;
    for (name, program) in WATCHERS {
        let n = runs(dir, name);
        missed += a.files.saturating_sub(n);
        outln!("  watcher {name:<8} ran {} {n} times", program.join(" "))?;
    }
    outln!("  missed         {missed}")?;
    if missed > 0 {
        bail!("{missed} commands did not run");
    }
    Ok(ExitCode::SUCCESS)
}
