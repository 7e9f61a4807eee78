//! `fmq-sim`: runs seeded simulations of fmq-core (see `sim/README.md`).
//!
//! ```text
//! fmq-sim [--seed N] [--seeds K] [--steps-max M] [--faults crash,power,lag,midwrite]
//!         [--quiet] [--trace]
//! fmq-sim --exhaustive
//! fmq-sim --files [--seed N] [--seeds K] [--rounds-max R] [--no-ofd-locks] [--quiet] [--trace]
//! ```
//!
//! `--seed N --seeds K` runs seeds N..N+K; without `--seed`, K random seeds. One line per
//! run, a total, and for every failure the seed and the exact command that replays it.
//! Exit status: 0 all passed, 1 a run failed, 2 usage.

#[cfg(not(fmq_sim))]
fn main() {
    eprintln!("{}", fmq_sim::HOW_TO_RUN);
    std::process::exit(2);
}

#[cfg(fmq_sim)]
fn main() {
    std::process::exit(cli::main(std::env::args().skip(1).collect()));
}

#[cfg(fmq_sim)]
mod cli {
    use std::panic::{self, AssertUnwindSafe};
    use std::time::Instant;

    use fmq_sim::exhaustive;
    use fmq_sim::files::{self, FilesStats};
    use fmq_sim::rng::Rng;
    use fmq_sim::run::{self, repro_command, Options};
    use fmq_sim::swarm::Faults;
    use fmq_sim::world::Stats;

    const USAGE: &str = "usage: fmq-sim [--seed N] [--seeds K] [--steps-max M] \
                         [--faults crash,power,lag,midwrite] [--quiet] [--trace] [--fail-fast]\n       \
                         fmq-sim --exhaustive [--trace]\n       \
                         fmq-sim --files [--seed N] [--seeds K] [--rounds-max R] [--no-ofd-locks] [--quiet] [--trace] [--fail-fast]";

    struct Args {
        seed: Option<u64>,
        seeds: u64,
        options: Options,
        quiet: bool,
        exhaustive: bool,
        fail_fast: bool,
        files: bool,
        rounds_max: u64,
        /// `--no-ofd-locks`: the file system has `flock` only (no writer token).
        ofd_locks: bool,
    }

    fn parse(args: Vec<String>) -> Result<Args, String> {
        let mut a = Args {
            seed: None,
            seeds: 1,
            options: Options::default(),
            quiet: false,
            exhaustive: false,
            fail_fast: false,
            files: false,
            rounds_max: 60,
            ofd_locks: true,
        };
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
            let number = |s: String| s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
            match arg.as_str() {
                "--seed" => a.seed = Some(number(value("--seed")?)?),
                "--seeds" => a.seeds = number(value("--seeds")?)?,
                "--steps-max" => a.options.steps_max = number(value("--steps-max")?)?.max(1),
                "--faults" => a.options.faults = Faults::parse(&value("--faults")?)?,
                "--quiet" => a.quiet = true,
                "--fail-fast" => a.fail_fast = true,
                "--trace" => a.options.echo = true,
                "--exhaustive" => a.exhaustive = true,
                "--files" => a.files = true,
                "--no-ofd-locks" => a.ofd_locks = false,
                "--rounds-max" => a.rounds_max = number(value("--rounds-max")?)?.max(1),
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(a)
    }

    /// Runs `f`, turning a panic into an error.
    fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(p) => {
                fmq_core::sync::hook::set(None);
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(no message)".into());
                Err(format!("panic: {msg}"))
            }
        }
    }

    pub fn main(args: Vec<String>) -> i32 {
        let a = match parse(args) {
            Ok(a) => a,
            Err(e) => {
                if !e.is_empty() {
                    eprintln!("fmq-sim: {e}");
                }
                eprintln!("{USAGE}");
                return 2;
            }
        };
        if a.exhaustive {
            return exhaustive_main(&a.options);
        }
        if a.files {
            return files_main(&a);
        }
        let seeds = seeds_of(&a);
        let started = Instant::now();
        let mut total = Stats::default();
        let (mut steps, mut failures) = (0u64, Vec::new());
        for &seed in &seeds {
            let t = Instant::now();
            match run_one(seed, &a.options) {
                Ok(r) => {
                    steps += r.steps;
                    add(&mut total, &r.stats);
                    if !a.quiet {
                        println!(
                            "seed={seed} steps={} writes={} crashes={} power_losses={} \
                             reads={} lags={} ms={} ok",
                            r.steps,
                            r.stats.writes,
                            r.stats.crashes,
                            r.stats.power_losses,
                            r.stats.reads,
                            r.stats.lags,
                            t.elapsed().as_millis()
                        );
                    }
                }
                Err(what) => {
                    println!("FAIL seed={seed}: {what}");
                    println!("  reproduce: {}", repro_command(seed, &a.options));
                    failures.push(seed);
                    if a.fail_fast {
                        println!(
                            "stopped at the first failure, after {:.1} s",
                            started.elapsed().as_secs_f64()
                        );
                        break;
                    }
                }
            }
        }
        let runs = steps_runs(&seeds, &failures, a.fail_fast);
        print_total(runs, failures.len(), steps, &total, started);
        if failures.is_empty() {
            0
        } else {
            println!("failing seeds: {failures:?}");
            1
        }
    }

    /// The seeds to run: `--seeds` of them from `--seed`, or drawn from the clock.
    fn seeds_of(a: &Args) -> Vec<u64> {
        match a.seed {
            Some(n) => (0..a.seeds).map(|i| n.wrapping_add(i)).collect(),
            None => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                let mut r = Rng::new(t ^ u64::from(std::process::id()).rotate_left(32));
                (0..a.seeds).map(|_| r.next_u64()).collect()
            }
        }
    }

    /// One seeded run, a panic included; a failure as the text to print.
    fn run_one(seed: u64, options: &Options) -> Result<run::RunStats, String> {
        guarded(|| {
            run::run(seed, options).map_err(|f| {
                let mut s = format!(
                    "step {}: {}\n  swarm: {}\n  last events:\n",
                    f.step, f.what, f.swarm
                );
                for line in &f.trace {
                    s.push_str(&format!("    {line}\n"));
                }
                s
            })
        })
    }

    /// The totals line.
    fn print_total(runs: usize, failures: usize, steps: u64, total: &Stats, started: Instant) {
        println!(
            "total: runs={} failures={} steps={steps} writes={} crashes={} power_losses={} \
             reads={} lags={} missed={} torn={} mid_reads={} straddles={} recoveries={} \
             flushes={} young_dropped={} time={:.1}s",
            runs,
            failures,
            total.writes,
            total.crashes,
            total.power_losses,
            total.reads,
            total.lags,
            total.missed,
            total.torn,
            total.mid_reads,
            total.straddles,
            total.recoveries,
            total.flushes,
            total.young_dropped,
            started.elapsed().as_secs_f64()
        );
    }

    /// Runs made: all of them, or up to the first failure under `--fail-fast`.
    fn steps_runs(seeds: &[u64], failures: &[u64], fail_fast: bool) -> usize {
        match failures.first() {
            Some(f) if fail_fast => seeds
                .iter()
                .position(|s| s == f)
                .map_or(seeds.len(), |i| i + 1),
            _ => seeds.len(),
        }
    }

    fn add(t: &mut Stats, s: &Stats) {
        t.writes += s.writes;
        t.batches += s.batches;
        t.stores += s.stores;
        t.crashes += s.crashes;
        t.power_losses += s.power_losses;
        t.recoveries += s.recoveries;
        t.restarts += s.restarts;
        t.flushes += s.flushes;
        t.reads += s.reads;
        t.lags += s.lags;
        t.missed += s.missed;
        t.torn += s.torn;
        t.mid_reads += s.mid_reads;
        t.straddles += s.straddles;
        t.young_dropped += s.young_dropped;
    }

    /// A file-layer failure's round, what was wrong, swarm and last events.
    fn describe_files_failure(f: &files::FilesFailure) -> String {
        let mut s = format!(
            "round {}: {}\n  swarm: {}\n  last events:\n",
            f.round, f.what, f.swarm
        );
        for line in &f.trace {
            s.push_str(&format!("    {line}\n"));
        }
        s
    }

    /// The file-layer simulator (`src/files.rs`): fmq's real create, open, remove and
    /// recovery on the simulated kernel.
    fn files_main(a: &Args) -> i32 {
        let seeds = seeds_of(a);
        let started = Instant::now();
        let mut total = FilesStats::default();
        let mut failures = Vec::new();
        for &seed in &seeds {
            let t = Instant::now();
            let r = guarded(|| {
                files::run_files_on(seed, a.rounds_max, a.options.echo, a.ofd_locks)
                    .map_err(|f| describe_files_failure(&f))
            });
            match r {
                Ok(st) => {
                    total.add(&st);
                    if !a.quiet {
                        println!(
                            "seed={seed} rounds={} calls={} kills={} power_losses={} creates={} \
                             opens={} acked={} checked={} ms={} ok",
                            st.rounds,
                            st.calls,
                            st.kills,
                            st.power_losses,
                            st.creates,
                            st.opens,
                            st.acked,
                            st.checked,
                            t.elapsed().as_millis()
                        );
                    }
                }
                Err(what) => {
                    println!("FAIL files seed={seed}: {what}");
                    println!(
                        "  reproduce: CARGO_TARGET_DIR=target-sim RUSTFLAGS=\"--cfg fmq_sim\" \
                         cargo run --release -p fmq-sim -- --files --seed {seed} --rounds-max {}{} --trace",
                        a.rounds_max,
                        if a.ofd_locks { "" } else { " --no-ofd-locks" }
                    );
                    failures.push(seed);
                    if a.fail_fast {
                        break;
                    }
                }
            }
        }
        let runs = steps_runs(&seeds, &failures, a.fail_fast);
        println!(
            "files total: runs={runs} failures={} rounds={} jobs={} calls={} kills={} \
             power_losses={} creates={} replaces={} opens={} removes={} acked={} checked={} \
             refusals={} lock_unlinks={} time={:.1}s",
            failures.len(),
            total.rounds,
            total.jobs,
            total.calls,
            total.kills,
            total.power_losses,
            total.creates,
            total.replaces,
            total.opens,
            total.removes,
            total.acked,
            total.checked,
            total.refusals,
            total.lock_unlinks,
            started.elapsed().as_secs_f64()
        );
        if failures.is_empty() {
            0
        } else {
            println!("failing seeds: {failures:?}");
            1
        }
    }

    fn exhaustive_main(options: &Options) -> i32 {
        let started = Instant::now();
        let (mut total, mut failed) = (0, 0);
        for sc in exhaustive::scenarios() {
            let t = Instant::now();
            match guarded(|| exhaustive::run_scenario(&sc, options)) {
                Ok(c) => {
                    total += c.total();
                    println!(
                        "exhaustive {}: {} stores; {} process crashes, {} power losses at a \
                         store with a subset of pages on disk, {} with page prefixes at the end \
                         ({:.1}s) ok",
                        c.name,
                        c.stores,
                        c.process_points,
                        c.power_points,
                        c.power_cuts,
                        t.elapsed().as_secs_f64()
                    );
                }
                Err(e) => {
                    failed += 1;
                    println!("FAIL {e}");
                    println!(
                        "  reproduce: CARGO_TARGET_DIR=target-sim RUSTFLAGS=\"--cfg fmq_sim\" \
                         cargo run --release -p fmq-sim -- --exhaustive"
                    );
                }
            }
        }
        println!(
            "exhaustive: {total} crash points in the scenarios that passed, {failed} scenario(s) \
             failed ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
        i32::from(failed > 0)
    }
}
