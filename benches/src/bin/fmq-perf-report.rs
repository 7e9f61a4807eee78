//! `fmq-perf-report`: writes docs/performance.md from one run of the benchmark suite.
//!
//! Reads criterion's results (`$CARGO_TARGET_DIR/criterion/**/new/{benchmark,estimates}.json`:
//! the median time per iteration, one iteration being one message) and the harness's own
//! records (`fmq-bench/extra.jsonl`: latency percentiles, lossy counts), and prints tables of
//! fmq against every peer and the machine's limits as ratios measured in that run, with the
//! machine, the versions and the command. `ci/perf-report.sh` runs the suite and then this.
//!
//! Usage: `fmq-perf-report OUT.md` (environment: `CARGO_TARGET_DIR`, `FMQ_PERF_COMMAND`,
//! `FMQ_PERF_WALL_S`, `FMQ_PERF_LOAD_BEFORE`, `FMQ_PERF_LOAD_AFTER`, set by the script).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

/// One criterion result: median nanoseconds per message.
#[derive(Clone, Debug)]
struct Point {
    ns: f64,
}

/// `group/function/param` → result.
type Results = BTreeMap<(String, String, String), Point>;

fn load_criterion(dir: &Path, out: &mut Results) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") {
                let b = std::fs::read_to_string(p.join("benchmark.json"));
                let est = std::fs::read_to_string(p.join("estimates.json"));
                if let (Ok(b), Ok(est)) = (b, est) {
                    let b: Value = serde_json::from_str(&b).expect("benchmark.json");
                    let est: Value = serde_json::from_str(&est).expect("estimates.json");
                    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
                    let key = (s(&b["group_id"]), s(&b["function_id"]), s(&b["value_str"]));
                    let ns = est["median"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
                    out.insert(key, Point { ns });
                }
            } else {
                load_criterion(&p, out);
            }
        }
    }
}

fn load_extra(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn sh(cmd: &str) -> String {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn rate(ns: f64) -> String {
    let r = 1e9 / ns;
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{:.0} /s", r)
    }
}

fn gbps(ns: f64, size: usize) -> String {
    format!("{:.2} GB/s", size as f64 / ns)
}

fn dur(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.0} ns", ns)
    }
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

struct Report {
    r: Results,
    extra: Vec<Value>,
    out: String,
}

impl Report {
    fn get(&self, group: &str, f: &str, param: &str) -> Option<f64> {
        self.r
            .get(&(group.to_string(), f.to_string(), param.to_string()))
            .map(|p| p.ns)
            .filter(|v| v.is_finite() && *v > 0.0)
    }

    fn extra(&self, scenario: &str, id: &str) -> Option<&Value> {
        self.extra
            .iter()
            .rev()
            .find(|v| v["scenario"] == scenario && v["id"] == id)
    }

    fn line(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push('\n');
    }

    /// A throughput table: one row per size and reader count, fmq first, then each peer as
    /// its rate and fmq's speed-up over it (`fmq ÷ peer`), then memcpy.
    fn throughput_table(
        &mut self,
        group: &str,
        fmq: &[&str],
        peers: &[&str],
        readers: &[usize],
        sizes: &[usize],
        ring: &str,
    ) {
        let mut head = String::from("| size | readers |");
        let mut rule = String::from("| --- | --- |");
        for f in fmq {
            write!(head, " {f} |").ok();
            rule.push_str(" --- |");
        }
        for p in peers {
            write!(head, " {p} (fmq ×) |").ok();
            rule.push_str(" --- |");
        }
        head.push_str(" memcpy (fmq ÷ memcpy) |");
        rule.push_str(" --- |");
        self.line(&head);
        self.line(&rule);
        for &size in sizes {
            for &n in readers {
                let param = format!("r{n}_s{size}_{ring}");
                let base = self.get(group, fmq[0], &param);
                let mut row = format!("| {} | {} |", size_name(size), n);
                for f in fmq {
                    match self.get(group, f, &param) {
                        Some(ns) => write!(row, " {} · {} |", rate(ns), gbps(ns, size)).ok(),
                        None => write!(row, " — |").ok(),
                    };
                }
                for p in peers {
                    match (self.get(group, p, &param), base) {
                        (Some(ns), Some(b)) => write!(row, " {} ({:.2}×) |", rate(ns), ns / b).ok(),
                        (Some(ns), None) => write!(row, " {} |", rate(ns)).ok(),
                        _ => write!(row, " — |").ok(),
                    };
                }
                match (self.get("limits", "memcpy", &format!("s{size}")), base) {
                    (Some(m), Some(b)) if n > 0 => {
                        write!(row, " {} ({:.0} %) |", gbps(m, size), 100.0 * m / b).ok()
                    }
                    (Some(m), _) => write!(row, " {} |", gbps(m, size)).ok(),
                    _ => write!(row, " — |").ok(),
                };
                self.line(&row);
            }
        }
        self.line("");
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

fn main() {
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/performance.md".into());
    let mut rep = Report::load();
    section_run(&mut rep);
    section_targets(&mut rep);
    section_throughput(&mut rep);
    section_rings(&mut rep);
    section_latency(&mut rep);
    section_lossy(&mut rep);
    section_blocking(&mut rep);
    section_durability(&mut rep);
    section_slots(&mut rep);
    section_limits(&mut rep);
    rep.line(NOTES);
    std::fs::write(&out_path, rep.out).expect("write report");
    eprintln!("fmq-perf-report: wrote {out_path}");
}

impl Report {
    /// Criterion's results under `$CARGO_TARGET_DIR/criterion` and the harness's records.
    fn load() -> Report {
        let target = fmq_benches::config::target_dir();
        let mut r = Results::new();
        load_criterion(&target.join("criterion"), &mut r);
        let extra = load_extra(&fmq_benches::record::extra_path());
        Report {
            r,
            extra,
            out: String::new(),
        }
    }
}

/// The version of crate `name` in `lock` (the text of a Cargo.lock), or `?`.
fn locked_version(lock: &str, name: &str) -> String {
    let pat = format!("name = \"{name}\"\nversion = \"");
    lock.find(&pat)
        .map(|i| {
            lock[i + pat.len()..]
                .split('"')
                .next()
                .unwrap_or("?")
                .to_string()
        })
        .unwrap_or_else(|| "?".into())
}

/// The median one-way latency of system `id` in the `latency` records.
fn p50(rep: &Report, id: &str) -> Option<f64> {
    rep.extra("latency", id).and_then(|v| v["p50_ns"].as_f64())
}

/// The title, and the machine, versions and command of the run.
fn section_run(rep: &mut Report) {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "(not given)".into());
    let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"))
        .unwrap_or_default();
    let version = |name: &str| locked_version(&lock, name);
    rep.line("# fmq performance");
    rep.line("");
    rep.line("Generated by `ci/perf-report.sh` (the `fmq-perf-report` binary of `benches/`); do not edit by hand.");
    rep.line("Every number below was measured in the run described here, on this machine; ratios compare systems measured");
    rep.line(
        "in that same run. Benchmarks only report: nothing here is asserted by a test (DESIGN §8).",
    );
    rep.line("");
    rep.line("## The run");
    rep.line("");
    rep.line(&format!("- command: `{}`", env("FMQ_PERF_COMMAND")));
    rep.line(&format!("- date: {}", sh("date -u '+%Y-%m-%d %H:%M UTC'")));
    rep.line(&format!(
        "- wall time of the suite: {} s",
        env("FMQ_PERF_WALL_S")
    ));
    rep.line(&format!("- CPU: {}; {} cores ({}); L2 {}, L3 {}", sh("lscpu | sed -n 's/^Model name: *//p'"), sh("nproc"), sh("lscpu | sed -n 's/^Hypervisor vendor: *//p' | sed 's/^/virtual machine, /' | grep . || echo bare metal"), sh("lscpu | sed -n 's/^L2 cache: *//p'"), sh("lscpu | sed -n 's/^L3 cache: *//p'")));
    rep.line(&format!(
        "- memory: {}; kernel {}",
        sh("free -h | awk '/^Mem:/{print $2}'"),
        sh("uname -sr")
    ));
    rep.line(&format!(
        "- load average before / after the run: {} / {}",
        env("FMQ_PERF_LOAD_BEFORE"),
        env("FMQ_PERF_LOAD_AFTER")
    ));
    rep.line(&format!("- {}", sh("rustc -V")));
    rep.line(&format!(
        "- crates: fmq {} (this tree, commit {}), criterion {}, disruptor {}, bus {}, tokio {}, crossbeam-channel {}, iceoryx2 {}, rusqlite {} (SQLite bundled, libsqlite3-sys {}), hdrhistogram {}, crc32c {}",
        version("fmq"), sh("git rev-parse --short HEAD"), version("criterion"), version("disruptor"), version("bus"), version("tokio"),
        version("crossbeam-channel"), version("iceoryx2"), version("rusqlite"), version("libsqlite3-sys"), version("hdrhistogram"), version("crc32c")
    ));
    rep.line("- criterion: median of 10 samples per benchmark after a short warm-up (see `benches/src/config.rs`); one iteration is one message taken by every reader.");
    rep.line("");
    rep.line("**This machine has 2 cores.** With one writer and one reader, both cores are busy; with 2 or 4 readers (threads or processes) the readers and the writer share 2 cores, so the multi-reader rows measure time-sharing, not parallel readers. Polling readers give the core away every 64 empty polls (`flow::Idle`), all systems alike.");
    rep.line("");
}

/// The DESIGN §8 targets, each with its measured value and verdict.
fn section_targets(rep: &mut Report) {
    rep.line("## DESIGN §8 targets");
    rep.line("");
    rep.line("| target | measured | verdict |");
    rep.line("| --- | --- | --- |");
    targets_throughput(rep);
    targets_latency(rep);
    targets_durability(rep);
    targets_flat_costs(rep);
    rep.line("");
}

/// Targets: cross-process throughput against iceoryx2, LROSE and memcpy.
fn targets_throughput(rep: &mut Report) {
    let p64 = "r1_s64_ring-l3";
    if let (Some(f), Some(i)) = (
        rep.get("throughput_xproc", "fmq-shm", p64),
        rep.get("throughput_xproc", "iceoryx2", p64),
    ) {
        let x = i / f;
        let v = if x >= 2.0 {
            verdict(true).to_string()
        } else {
            format!(
                "{} by {:.0} % ({:.2}× of the 2× asked)",
                verdict(false),
                100.0 * (2.0 - x) / 2.0,
                x
            )
        };
        rep.line(&format!("| cross-process shm, 64 B, 1 reader keeping up: ≥ 2× iceoryx2 (lossless) | fmq {} vs iceoryx2 {}: **{:.2}×** | {} |", rate(f), rate(i), x, v));
    }
    rep.line("| … and ≥ 20× LROSE's shared-memory FMQ | not measured: LROSE cannot be built here (no network beyond crates.io), and neither DESIGN nor the issue quotes a LROSE throughput figure | not measurable |");
    for size in [4 << 10, 64 << 10, 1 << 20] {
        let p = format!("r1_s{size}_ring-l3");
        if let (Some(f), Some(m)) = (
            rep.get("throughput_xproc", "fmq-shm", &p),
            rep.get("limits", "memcpy", &format!("s{size}")),
        ) {
            let x = m / f;
            let v = if x >= 0.7 {
                verdict(true).to_string()
            } else {
                format!("{} by {:.0} points", verdict(false), 100.0 * (0.7 - x))
            };
            rep.line(&format!("| {} messages, shm, 1 reader: ≥ 70 % of memcpy bandwidth | fmq {} vs memcpy {}: **{:.0} %** | {} |", size_name(size), gbps(f, size), gbps(m, size), 100.0 * x, v));
        }
    }
}

/// Targets: latency against a cache-line round trip, and the futex wake-up.
fn targets_latency(rep: &mut Report) {
    if let (Some(f), Some(l)) = (p50(rep, "fmq-shm-spin"), p50(rep, "cache-line")) {
        let x = f / l;
        let v = if x <= 3.0 {
            verdict(true).to_string()
        } else {
            format!("{} ({:.1}× instead of ≤ 3×)", verdict(false), x)
        };
        rep.line(&format!("| latency p50, spinning reader: ≤ 3× a cache-line round trip (one way) | fmq {} vs cache line {}: **{:.1}×** | {} |", dur(f), dur(l), x, v));
    }
    if let Some(f) = p50(rep, "fmq-shm-futex") {
        rep.line(&format!("| latency p50, reader sleeping on the futex: < 20 µs (LROSE polls: about 1.3 ms, quoted from DESIGN §8, not measured) | fmq **{}** | {} |", dur(f), verdict(f < 20_000.0)));
    }
}

/// Targets: file-backed against shared memory, and flush() against SQLite WAL.
fn targets_durability(rep: &mut Report) {
    let p64 = "r1_s64_ring-l3";
    for size in [64usize, 4 << 10] {
        let p = format!("n0_s{size}");
        if let (Some(f), Some(s)) = (
            rep.get("durability", "fmq-file", &p),
            rep.get("durability", "fmq-shm", &p),
        ) {
            let x = f / s;
            rep.line(&format!("| file-backed without flush within 2× of shm ({}, writer alone) | file {} vs shm {}: **{:.2}×** the time | {} |", size_name(size), rate(f), rate(s), x, verdict(x <= 2.0)));
        }
    }
    if let (Some(f), Some(s)) = (
        rep.get("throughput_xproc", "fmq-file", p64),
        rep.get("throughput_xproc", "fmq-shm", p64),
    ) {
        let x = f / s;
        rep.line(&format!("| file-backed without flush within 2× of shm (64 B, 1 reader process) | file {} vs shm {}: **{:.2}×** the time | {} |", rate(f), rate(s), x, verdict(x <= 2.0)));
    }
    for size in [64usize, 4 << 10] {
        for n in [1u64, 100, 10_000] {
            let p = format!("n{n}_s{size}");
            if let (Some(f), Some(q)) = (
                rep.get("durability", "fmq-file", &p),
                rep.get("durability", "sqlite-wal", &p),
            ) {
                let x = q / f;
                let v = if x > 1.0 {
                    verdict(true).to_string()
                } else {
                    format!("{} (SQLite {:.2}× faster)", verdict(false), 1.0 / x)
                };
                rep.line(&format!("| flush() every {n}, {}: ahead of SQLite WAL with {n} rows per transaction | fmq {} vs SQLite {}: **{:.2}×** | {} |", size_name(size), rate(f), rate(q), x, v));
            }
        }
    }
}

/// Targets: cost per message flat in the slot count and in the reader count.
fn targets_flat_costs(rep: &mut Report) {
    let slot_costs: Vec<f64> = [1_000u32, 10_000, 100_000, 1_000_000]
        .iter()
        .filter_map(|s| rep.get("slots", "fmq-shm", &format!("r1_s64_slots{s}")))
        .collect();
    if slot_costs.len() == 4 {
        let (lo, hi) = (
            slot_costs.iter().cloned().fold(f64::MAX, f64::min),
            slot_costs.iter().cloned().fold(0.0, f64::max),
        );
        rep.line(&format!("| cost per message flat from 1e3 to 1e6 slots (shm, 1 reader, 64 B) | {} … {}: max/min **{:.2}×** (1e3: {}, 1e6: {}) | {} |", dur(lo), dur(hi), hi / lo, dur(slot_costs[0]), dur(slot_costs[3]), if hi / lo <= 1.25 { "**met** (within 25 %)" } else { "**missed** (more than 25 % apart)" }));
    }
    if let (Some(a), Some(b)) = (
        rep.get("throughput_xproc", "fmq-shm", "r1_s64_ring-l3"),
        rep.get("throughput_xproc", "fmq-shm", "r4_s64_ring-l3"),
    ) {
        rep.line(&format!("| cost per message flat from 1 to 4 readers (shm, 64 B) | 1 reader {} per message, 4 readers {}: **{:.2}×** | {} |", dur(a), dur(b), b / a, if b / a <= 1.25 { "**met** (within 25 %)".to_string() } else { "**missed** on this 2-core machine (4 reader processes and the writer share 2 cores)".to_string() }));
    }
}

/// Throughput between processes and within one.
fn section_throughput(rep: &mut Report) {
    rep.line("## Throughput between processes (shared memory, files)");
    rep.line("");
    rep.line("`throughput_xproc`: the bench process writes, reader processes read and copy each payload into their own buffer. Ring: 64 MiB (fits in L3). Lossless: fmq's writer is held back by the harness window when a reader is half a ring behind (fmq never blocks its writer by design); iceoryx2 with `enable_safe_overflow(false)` and `UnableToDeliverStrategy::Block`; one pipe / SOCK_SEQPACKET pair per reader. `fmq-shm-batch32`: the same queue written with `write_batch` of 32 messages (one commit and one wake per batch; sizes up to 4 KiB). Cells: messages per second · payload bytes per second; peers: their rate and (fmq ×) = how many times faster fmq is; memcpy: single-thread copy bandwidth at that size and fmq's share of it.");
    rep.line("");
    rep.throughput_table(
        "throughput_xproc",
        &["fmq-shm", "fmq-file", "fmq-shm-batch32"],
        &["iceoryx2", "pipe", "seqpacket"],
        &[0, 1, 2, 4],
        &fmq_benches::config::SIZES,
        "ring-l3",
    );
    rep.line("## Throughput in one process (heap region)");
    rep.line("");
    rep.line("`throughput_inproc`: reader threads. disruptor 3 with one `EventPoller` per reader (busy polling), `bus` (blocking `recv`), `tokio::sync::broadcast` (`blocking_recv`; lossless through the same harness window as fmq) and crossbeam-channel (one bounded channel per reader, `Arc<[u8]>` messages). Capacity of every peer: the number of messages fmq's 64 MiB ring holds (at most 65,536).");
    rep.line("");
    rep.throughput_table(
        "throughput_inproc",
        &["fmq-heap"],
        &["disruptor", "bus", "tokio-broadcast", "crossbeam-channel"],
        &[0, 1, 2, 4],
        &fmq_benches::config::SIZES,
        "ring-l3",
    );
}

/// Ring sizes against the caches.
fn section_rings(rep: &mut Report) {
    rep.line("## Ring size against the caches (1 reader)");
    rep.line("");
    rep.line("| size | ring | fmq-heap | fmq-shm |");
    rep.line("| --- | --- | --- | --- |");
    for size in [64usize, 4 << 10, 64 << 10] {
        for ring in ["ring-l2", "ring-l3", "ring-1g"] {
            let p = format!("r1_s{size}_{ring}");
            let cell = |v: Option<f64>| {
                v.map(|ns| format!("{} · {}", rate(ns), gbps(ns, size)))
                    .unwrap_or("—".into())
            };
            let row = format!(
                "| {} | {} | {} | {} |",
                size_name(size),
                match ring {
                    "ring-l2" => "512 KiB (L2)",
                    "ring-l3" => "64 MiB (L3)",
                    _ => "1 GiB (≫ L3)",
                },
                cell(rep.get("rings_inproc", "fmq-heap", &p)),
                cell(rep.get("rings_xproc", "fmq-shm", &p))
            );
            rep.line(&row);
        }
    }
    rep.line("");
}

/// Latency percentiles of every system.
fn section_latency(rep: &mut Report) {
    rep.line("## Latency, writer to reader, between processes (64 B)");
    rep.line("");
    rep.line("`latency`: ping-pong between the bench process and an echo process; one way = half the round trip (no clock crosses processes). Percentiles from an hdrhistogram of every one-way time. `cache-line`: one cache line bounced between the two processes, the physical limit.");
    rep.line("");
    rep.line("| system | round trips | p50 | p99 | p99.9 | max | p50 ÷ cache line |");
    rep.line("| --- | --- | --- | --- | --- | --- | --- |");
    let line_p50 = p50(rep, "cache-line");
    for id in [
        "cache-line",
        "fmq-shm-spin",
        "fmq-shm-futex",
        "fmq-file-spin",
        "iceoryx2-spin",
        "pipe",
        "seqpacket",
    ] {
        if let Some(v) = rep.extra("latency", id).cloned() {
            let g = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            let ratio = line_p50
                .map(|l| format!("{:.1}×", g("p50_ns") / l))
                .unwrap_or("—".into());
            rep.line(&format!(
                "| {id} | {} | {} | {} | {} | {} | {ratio} |",
                v["round_trips"],
                dur(g("p50_ns")),
                dur(g("p99_ns")),
                dur(g("p999_ns")),
                dur(g("max_ns"))
            ));
        }
    }
    rep.line("");
}

/// The lossy mode with one slow reader.
fn section_lossy(rep: &mut Report) {
    rep.line("## Lossy mode (one slow reader, 64 B, 8192 slots, in process)");
    rep.line("");
    rep.line("`lossy`: the reader spends 1 µs of work per message; its capacity (criterion: read + work per message) sets the writer's pace; halfway through, the writer sends one unpaced burst of twice the ring's slots, which overruns the reader once. Resync: time from a `Lagged` until the reader has caught up (its next `Empty`; at 100 % that can only happen after the writer stops). `accounted`: delivered + missed = sent, exactly.");
    rep.line("");
    rep.line("| writer at | offered | delivered | sent | delivered | missed | lag events | resync median | resync max | accounted |");
    rep.line("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for pct in [25, 50, 90, 100] {
        if let Some(v) = rep.extra("lossy", &format!("fmq-heap/{pct}pct")).cloned() {
            let g = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            rep.line(&format!(
                "| {pct} % of {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                rate(1e9 / g("reader_capacity_per_s")),
                rate(1e9 / g("offered_per_s")),
                rate(1e9 / g("delivered_per_s")),
                v["sent"],
                v["delivered"],
                v["missed"],
                v["lag_events"],
                if v["resync_count"].as_u64() == Some(0) {
                    "—".into()
                } else {
                    dur(g("resync_median_ns"))
                },
                if v["resync_count"].as_u64() == Some(0) {
                    "—".into()
                } else {
                    dur(g("resync_max_ns"))
                },
                v["accounted"]
            ));
        }
    }
    rep.line("");
}

/// Blocking mode against lossy mode.
fn section_blocking(rep: &mut Report) {
    rep.line("## Blocking (archive) mode against lossy mode (shared memory, 64 B, 1024 slots)");
    rep.line("");
    rep.line("`blocking`: `fmq::Writer` writes as fast as it can to 1, 2 or 4 reader threads using `fmq::Reader` (spin, then futex). Blocking: every reader registered, the writer waits for the slowest (spin, then futex on its cursor) and nothing is lost (the run checks it). Lossy: nobody registers; slow readers are overrun. Criterion: time until every reader has accounted for every message (received, or reported missed), per message. Fixed runs of 200,000 messages give the counts. LROSE's blocking mode (one reader polling every 10 ms) manages about 500 msg/s: quoted from issue 6, not measured (LROSE cannot be built here). With 2 and 4 readers, 3 and 5 threads share 2 cores.");
    rep.line("");
    rep.line("| readers | blocking: msg/s to every reader | blocking: missed | × LROSE's ~500 msg/s (quoted) | lossy: msg/s accounted | lossy: writer msg/s | lossy: received per reader (min of 200,000) |");
    rep.line("| --- | --- | --- | --- | --- | --- | --- |");
    for r in [1usize, 2, 4] {
        let p = format!("r{r}_s64");
        let b = rep.get("blocking", "fmq-shm-blocking", &p);
        let l = rep.get("blocking", "fmq-shm-lossy", &p);
        let be = rep
            .extra("blocking", &format!("fmq-shm-blocking/r{r}"))
            .cloned();
        let le = rep
            .extra("blocking", &format!("fmq-shm-lossy/r{r}"))
            .cloned();
        let row = format!(
            "| {r} | {} | {} | {} | {} | {} | {} |",
            b.map(rate).unwrap_or("—".into()),
            be.as_ref()
                .map_or("—".into(), |v| v["missed_max"].to_string()),
            b.map_or("—".into(), |ns| format!("{:.0}×", 1e9 / ns / 500.0)),
            l.map(rate).unwrap_or("—".into()),
            le.as_ref()
                .and_then(|v| v["writer_per_s"].as_f64())
                .map_or("—".into(), |x| rate(1e9 / x)),
            le.as_ref()
                .map_or("—".into(), |v| v["received_min"].to_string()),
        );
        rep.line(&row);
    }
    rep.line("");
}

/// Durability: shared memory, files, flush every N, the append log and SQLite.
fn section_durability(rep: &mut Report) {
    rep.line("## Durability: shared memory, files, flush() every N (writer alone)");
    rep.line("");
    rep.line("`durability`: files on the machine's disk (virtio block device), never tmpfs. fmq `flush()` = msync of the buffer, then of the stat part, then of the header page holding the flush record. Append log: length + CRC32C + payload through a 256 KiB buffer, written and `fdatasync`ed every N. SQLite: WAL, `synchronous=FULL`, one INSERT per message, COMMIT every N. Cells: messages per second; (fmq ×) = how many times faster fmq-file is.");
    rep.line("");
    rep.line("| size | N | fmq-shm | fmq-file | applog (fmq ×) | sqlite-wal (fmq ×) |");
    rep.line("| --- | --- | --- | --- | --- | --- |");
    for size in [64usize, 4 << 10] {
        for n in [0u64, 1, 100, 10_000] {
            let p = format!("n{n}_s{size}");
            let f = rep.get("durability", "fmq-file", &p);
            let cell = |v: Option<f64>| match (v, f) {
                (Some(ns), Some(b)) => format!("{} ({:.2}×)", rate(ns), ns / b),
                (Some(ns), None) => rate(ns),
                _ => "—".into(),
            };
            let s = rep
                .get("durability", "fmq-shm", &p)
                .map(rate)
                .unwrap_or("—".into());
            let row = format!(
                "| {} | {} | {} | {} | {} | {} |",
                size_name(size),
                if n == 0 {
                    "no flush".into()
                } else {
                    n.to_string()
                },
                s,
                f.map(rate).unwrap_or("—".into()),
                cell(rep.get("durability", "applog", &p)),
                cell(rep.get("durability", "sqlite-wal", &p))
            );
            rep.line(&row);
        }
    }
    rep.line("");
}

/// Cost per message against the slot count.
fn section_slots(rep: &mut Report) {
    rep.line("## Cost per message as the slot table grows (64 B)");
    rep.line("");
    rep.line("`slots`: buffer of 64 bytes per slot, so buffer and slot ring wrap together.");
    rep.line("");
    rep.line("| slots | fmq-heap, writer alone | fmq-heap, 1 reader thread | fmq-shm, 1 reader process |");
    rep.line("| --- | --- | --- | --- |");
    for s in [1_000u32, 10_000, 100_000, 1_000_000] {
        let c = |f: &str, r: usize| {
            rep.get("slots", f, &format!("r{r}_s64_slots{s}"))
                .map(dur)
                .unwrap_or("—".into())
        };
        let row = format!(
            "| {s} | {} | {} | {} |",
            c("fmq-heap", 0),
            c("fmq-heap", 1),
            c("fmq-shm", 1)
        );
        rep.line(&row);
    }
    rep.line("");
}

/// The machine's limits (memcpy, CRC32C) and the CRC's share of the writer.
fn section_limits(rep: &mut Report) {
    rep.line("## Limits and fixed costs");
    rep.line("");
    rep.line("`limits`: memcpy of each size out of a 64 MiB ring, one thread; CRC32C of each size (the `crc32c` crate fmq-core uses with `std`). CRC share: the CRC's time over fmq's writer-alone time per message (in process), i.e. what the checksum costs the writer.");
    rep.line("");
    rep.line("| size | memcpy | crc32c | fmq-heap writer alone | CRC share of the writer |");
    rep.line("| --- | --- | --- | --- | --- |");
    for size in fmq_benches::config::SIZES {
        let m = rep.get("limits", "memcpy", &format!("s{size}"));
        let c = rep.get("limits", "crc32c", &format!("s{size}"));
        let w = rep.get(
            "throughput_inproc",
            "fmq-heap",
            &format!("r0_s{size}_ring-l3"),
        );
        let share = match (c, w) {
            (Some(c), Some(w)) => format!("{:.0} %", 100.0 * c / w),
            _ => "—".into(),
        };
        let row = format!(
            "| {} | {} | {} · {} | {} | {share} |",
            size_name(size),
            m.map(|m| gbps(m, size)).unwrap_or("—".into()),
            c.map(dur).unwrap_or("—".into()),
            c.map(|c| gbps(c, size)).unwrap_or("—".into()),
            w.map(dur).unwrap_or("—".into())
        );
        rep.line(&row);
    }
    rep.line("");
}

/// What the numbers mean and what would move them: prose only, no number that this run did
/// not measure.
const NOTES: &str = include_str!("../../perf-notes.md");
