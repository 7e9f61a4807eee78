//! The ordering-mutation runner: for every non-`Relaxed` ordering and every fence in
//! `core/src`, weaken it one step (a `SeqCst` fence to `AcqRel`, any other fence removed,
//! `Acquire`/`Release` to `Relaxed`, `SeqCst` loads/stores to `Acquire`/`Release`), run the
//! loom models, and report which model killed the mutant. A mutant that survives every
//! model fails the run unless the comment block just above its line says
//! `not modelled: <reason>`; a site marked so that a model does kill fails the run too (the
//! mark is stale).
//!
//! The mutation happens at run time, not by editing sources: under `--cfg fmq_loom` the
//! atomics facade (`core/src/sync.rs`) weakens the access made from the file and line named
//! by `FMQ_MUTANT`, so one build serves every mutant.
//!
//! ```text
//! cargo run -p fmq-model --bin fmq-mutants [-- --list | --site core/src/FILE.rs:LINE]
//! ```
//!
//! It builds the loom models itself (`CARGO_TARGET_DIR=target-loom`,
//! `RUSTFLAGS=--cfg fmq_loom`), times each model unmutated (all must pass), then runs the
//! models fastest first against each mutant, stopping at the first kill.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// One non-`Relaxed` ordering or fence in fmq-core.
struct Site {
    /// `core/src/FILE.rs`.
    file: String,
    /// 1-based.
    line: u32,
    code: String,
    /// The `not modelled:` reason in the comment block above, if any.
    not_modelled: Option<String>,
}

impl Site {
    fn key(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// One loom model: a test binary and one test in it.
struct Model {
    exe: PathBuf,
    name: String,
    time: Duration,
}

enum Outcome {
    Killed(String),
    Survived { reached: bool },
}

const ORDERINGS: [&str; 4] = [
    "Ordering::Acquire",
    "Ordering::Release",
    "Ordering::AcqRel",
    "Ordering::SeqCst",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("model/ sits in the workspace root")
        .to_path_buf()
}

/// Every site in `core/src` (except the facade itself), in file and line order.
fn sites(root: &Path) -> Vec<Site> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("core/src"))
        .expect("core/src")
        .map(|e| e.expect("core/src entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter(|p| !p.ends_with("sync.rs"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable source");
        let lines: Vec<&str> = text.lines().collect();
        let rel = format!(
            "core/src/{}",
            path.file_name().unwrap().to_string_lossy().into_owned()
        );
        for (i, l) in lines.iter().enumerate() {
            let code = l.trim();
            if code.starts_with("//") || !ORDERINGS.iter().any(|o| code.contains(o)) {
                continue;
            }
            // The comment block directly above the line.
            let mut j = i;
            let mut comment = String::new();
            while j > 0 && lines[j - 1].trim().starts_with("//") {
                j -= 1;
                comment = format!(
                    "{} {}",
                    lines[j].trim().trim_start_matches('/').trim(),
                    comment
                );
            }
            let not_modelled = comment
                .find("not modelled:")
                .map(|at| comment[at + "not modelled:".len()..].trim().to_string());
            out.push(Site {
                file: rel.clone(),
                line: i as u32 + 1,
                code: code.to_string(),
                not_modelled,
            });
        }
    }
    out
}

fn loom_env(c: &mut Command, root: &Path) {
    c.current_dir(root)
        .env("CARGO_TARGET_DIR", root.join("target-loom"))
        .env("RUSTFLAGS", "--cfg fmq_loom");
}

/// Builds the loom test binaries and returns them.
fn build(root: &Path) -> Vec<PathBuf> {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args([
        "test",
        "--release",
        "-p",
        "fmq-model",
        "--no-run",
        "--message-format=json",
    ]);
    loom_env(&mut c, root);
    let out = c.stderr(Stdio::inherit()).output().expect("cargo runs");
    assert!(out.status.success(), "building the loom models failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut exes = BTreeSet::new();
    for line in text.lines() {
        if let Some(at) = line.find("\"executable\":\"") {
            let rest = &line[at + "\"executable\":\"".len()..];
            let exe = &rest[..rest.find('"').unwrap_or(rest.len())];
            let name = Path::new(exe).file_name().unwrap().to_string_lossy();
            if name.starts_with("loom_") {
                exes.insert(PathBuf::from(exe));
            }
        }
    }
    exes.into_iter().collect()
}

/// The tests of a model binary, without the `#[ignore]`d soak models.
fn tests_of(exe: &Path) -> Vec<String> {
    let list = |ignored: bool| -> Vec<String> {
        let mut c = Command::new(exe);
        c.args(["--list", "--format", "terse"]);
        if ignored {
            c.arg("--ignored");
        }
        let out = c.output().expect("model binary runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test").map(str::to_string))
            .collect()
    };
    let soak = list(true);
    list(false)
        .into_iter()
        .filter(|t| !soak.contains(t))
        .collect()
}

/// Runs one model; `Ok` if it passed.
fn run(model: &Model, mutant: Option<&str>, log: &Path) -> Result<(), String> {
    let mut c = Command::new(&model.exe);
    c.args([model.name.as_str(), "--exact", "--test-threads", "1"])
        .env("FMQ_MUTANT_LOG", log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match mutant {
        Some(m) => c.env("FMQ_MUTANT", m),
        None => c.env_remove("FMQ_MUTANT"),
    };
    let out = c.output().expect("model binary runs");
    if out.status.success() {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let why = text
            .lines()
            .find(|l| l.contains("panicked at") || l.contains("assertion"))
            .map(|l| l.trim().to_string())
            .or_else(|| {
                text.lines()
                    .find(|l| !l.trim().is_empty())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        Err(why)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    let mut sites = sites(&root);
    if args.first().map(String::as_str) == Some("--list") {
        list(&sites);
        return ExitCode::SUCCESS;
    }
    if let Some(at) = args.iter().position(|a| a == "--site") {
        let want = args.get(at + 1).cloned().unwrap_or_default();
        sites.retain(|s| s.key() == want);
        if sites.is_empty() {
            eprintln!("fmq-mutants: no site {want} (see --list)");
            return ExitCode::from(2);
        }
    }
    let started = Instant::now();
    let log = std::env::temp_dir().join(format!("fmq-mutants-{}.log", std::process::id()));
    let models = match timed_models(&build(&root), &log) {
        Ok(models) => models,
        Err(why) => {
            eprintln!("fmq-mutants: {why}");
            return ExitCode::FAILURE;
        }
    };
    let preemptions = std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "default".into());
    println!(
        "{} sites, {} models (LOOM_MAX_PREEMPTIONS {preemptions}), fastest first\n",
        sites.len(),
        models.len()
    );
    let outcomes = run_mutants(&sites, &models, &log);
    report(&sites, outcomes, started)
}

/// `--list`: every site and its mark.
fn list(sites: &[Site]) {
    for s in sites {
        let mark = s
            .not_modelled
            .as_deref()
            .map_or(String::new(), |r| format!("  [not modelled: {r}]"));
        println!("{:<28} {}{}", s.key(), s.code, mark);
    }
}

/// Every model of the loom binaries, each run once unmutated (all must pass) and timed,
/// fastest first.
fn timed_models(exes: &[PathBuf], log: &Path) -> Result<Vec<Model>, String> {
    let mut models = Vec::new();
    for exe in exes {
        for name in tests_of(exe) {
            let mut m = Model {
                exe: exe.clone(),
                name,
                time: Duration::ZERO,
            };
            let t = Instant::now();
            if let Err(why) = run(&m, None, log) {
                return Err(format!("model {} fails unmutated: {why}", m.name));
            }
            m.time = t.elapsed();
            println!("model {:<72} {:>8.2} s", m.name, m.time.as_secs_f64());
            models.push(m);
        }
    }
    models.sort_by_key(|m| m.time);
    Ok(models)
}

/// Runs the models against every site's mutant, in parallel, one per core
/// (`FMQ_MUTANTS_JOBS` overrides), each job with its own hit log; the outcomes are in site
/// order.
fn run_mutants(sites: &[Site], models: &[Model], log: &Path) -> Vec<Outcome> {
    let jobs = std::env::var("FMQ_MUTANTS_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes: Vec<std::sync::Mutex<Option<Outcome>>> =
        sites.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for job in 0..jobs {
            let (next, outcomes) = (&next, &outcomes);
            let log = log.with_extension(format!("{job}"));
            scope.spawn(move || loop {
                // ORDERING: Relaxed: a work counter; the scope's join publishes the results.
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(s) = sites.get(i) else { break };
                *outcomes[i].lock().unwrap() = Some(run_mutant(s, models, &log));
            });
        }
    });
    outcomes
        .into_iter()
        .map(|o| o.into_inner().unwrap().expect("every site ran"))
        .collect()
}

/// The models, fastest first, against one site's mutant, stopping at the first kill.
fn run_mutant(s: &Site, models: &[Model], log: &Path) -> Outcome {
    let _ = std::fs::remove_file(log);
    let mut outcome = Outcome::Survived { reached: false };
    for m in models {
        if let Err(why) = run(m, Some(&s.key()), log) {
            outcome = Outcome::Killed(format!("{}: {why}", m.name));
            break;
        }
    }
    if let Outcome::Survived { reached } = &mut outcome {
        *reached = std::fs::metadata(log).is_ok_and(|m| m.len() > 0);
    }
    let _ = std::fs::remove_file(log);
    outcome
}

/// Prints every outcome and the kill score; fails on a survivor without a reason or a
/// stale mark.
fn report(sites: &[Site], outcomes: Vec<Outcome>, started: Instant) -> ExitCode {
    let (mut killed, mut explained, mut failures) = (0, 0, Vec::new());
    for (s, outcome) in sites.iter().zip(outcomes) {
        let key = s.key();
        match (&outcome, &s.not_modelled) {
            (Outcome::Killed(by), None) => {
                killed += 1;
                println!("killed    {key:<28} {}\n          by {by}", s.code);
            }
            (Outcome::Killed(by), Some(_)) => {
                killed += 1;
                println!(
                    "STALE     {key:<28} {}\n          marked not modelled, yet killed by {by}",
                    s.code
                );
                failures.push(format!(
                    "{key}: marked `not modelled` but killed; remove the mark"
                ));
            }
            (Outcome::Survived { reached }, Some(reason)) => {
                explained += 1;
                let r = if *reached { "reached" } else { "not reached" };
                println!(
                    "survived  {key:<28} {}\n          ({r}) not modelled: {reason}",
                    s.code
                );
            }
            (Outcome::Survived { reached }, None) => {
                let r = if *reached {
                    "reached by the models"
                } else {
                    "reached by no model"
                };
                println!(
                    "SURVIVED  {key:<28} {}\n          {r}, and no `not modelled:` reason",
                    s.code
                );
                failures.push(format!("{key}: survived ({r})"));
            }
        }
    }
    println!(
        "\nkill score: {killed}/{} mutants killed; {explained} survived with a written reason; \
         {} unexplained; {:.0} s",
        sites.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            eprintln!("fmq-mutants: {f}");
        }
        ExitCode::FAILURE
    }
}
