//! `fmq demo`: the live demo, with real processes. The coordinator (this process) creates a
//! shared-memory queue, starts N reader processes and, once they are attached, one writer
//! process (all re-executions of this binary, hidden subcommands `demo-reader` and
//! `demo-writer`). The writer writes as fast as it can (or at `--rate`) for `--seconds`, then
//! an end marker; each reader verifies every message (ids strictly increasing, payload
//! derived from the id, CRC checked by the protocol), counts what it missed from `Lagged`,
//! and measures writer-to-reader latency from the message's time stamp.
//!
//! Children report [`Report`]s, one JSON line each, on stdout; the coordinator prints progress every second and a
//! final summary: sent, received, missed, corrupt (must be 0), throughput, latency
//! percentiles, and whether received + missed = sent for every reader. Ctrl-C stops the
//! writer early (every process sees SIGINT; the writer writes its end marker, readers drain)
//! and still prints the summary. The coordinator never holds the writer lock, so no child
//! inherits it.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fmq::{
    now_ns, CreateError, CreateOptions, ReadError, ReadTimeoutError, Reader, ReaderOptions,
    StartAt, Writer, WriterOptions,
};
use serde::{Deserialize, Serialize};

use crate::util::{
    errln, human_bytes, human_count, human_ns, outln, parse_secs, parse_size, Histogram,
    SparseHistogram,
};

const DATA_TYPE: i32 = 1;
const END_TYPE: i32 = 2;
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// `fmq demo` arguments.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Reader processes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    readers: u32,
    /// Seconds the writer writes.
    #[arg(long, default_value = "5", value_parser = parse_secs)]
    seconds: f64,
    /// Message size (at least 16 bytes; K, M suffixes).
    #[arg(long, default_value = "64", value_parser = parse_size)]
    size: u64,
    /// Messages per second (0: as fast as the writer can).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Slots of the demo queue.
    #[arg(long, default_value_t = 65536)]
    slots: u32,
    /// Buffer size of the demo queue.
    #[arg(long, default_value = "32M", value_parser = parse_size)]
    buffer: u64,
    /// The queue (default: a fresh shm:fmq-demo-PID, removed at the end).
    #[arg(long)]
    queue: Option<String>,
    /// Keep the queue afterwards (to inspect it with `fmq info` / `fmq check`).
    #[arg(long)]
    keep: bool,
    /// Blocking (archive) mode: every reader registers, and the writer waits for the slowest
    /// instead of overwriting what it has not read (missed must then be 0).
    #[arg(long)]
    blocking: bool,
    /// The summary as one JSON object on stdout (the banner and live lines go to stderr).
    #[arg(long)]
    json: bool,
}

/// `fmq demo-writer` arguments.
#[derive(clap::Args, Debug)]
pub struct WriterArgs {
    queue: String,
    #[arg(long, value_parser = parse_secs)]
    seconds: f64,
    #[arg(long)]
    size: u64,
    #[arg(long)]
    rate: u64,
}

/// `fmq demo-reader` arguments.
#[derive(clap::Args, Debug)]
pub struct ReaderArgs {
    queue: String,
    #[arg(long)]
    size: u64,
    /// Register under this name (blocking mode).
    #[arg(long)]
    register: Option<String>,
}

/// What a demo child tells the coordinator: one JSON line on its stdout each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
enum Report {
    /// A reader is attached (and registered, in blocking mode).
    Ready,
    /// The writer's progress.
    Sent { sent: u64 },
    /// The writer wrote its end marker.
    WriterDone { sent: u64, seconds: f64 },
    /// A reader's progress.
    Received {
        received: u64,
        missed: u64,
        corrupt: u64,
    },
    /// A reader's result.
    ReaderDone {
        ended: bool,
        received: u64,
        missed: u64,
        corrupt: u64,
        last_id: u64,
        latency: SparseHistogram,
    },
}

fn emit(report: &Report) {
    let mut out = std::io::stdout().lock();
    if let Ok(line) = serde_json::to_string(report) {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing a signal handler")?;
    }
    Ok(stop)
}

fn fill(payload: &mut [u8], id: u64) {
    let n = payload.len();
    payload[..8].copy_from_slice(&id.to_le_bytes());
    payload[n - 8..].copy_from_slice(&(!id).to_le_bytes());
}

fn verify(data: &[u8], id: u64, size: usize) -> bool {
    data.len() == size && data[..8] == id.to_le_bytes() && data[size - 8..] == (!id).to_le_bytes()
}

/// The writer process.
pub fn writer(args: WriterArgs) -> anyhow::Result<ExitCode> {
    let stop = stop_flag()?;
    {
        // The coordinator closes our stdin to stop us (Ctrl-C reaches us directly too).
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut b = [0u8; 1];
            while let Ok(n) = std::io::stdin().read(&mut b) {
                if n == 0 {
                    break;
                }
            }
            // ORDERING: Relaxed: a stop request; it publishes no other data.
            stop.store(true, Ordering::Relaxed);
        });
    }
    let mut w = Writer::open(&args.queue, &WriterOptions::default())?;
    let size = args.size as usize;
    let mut payload = vec![0xa5u8; size];
    let duration = Duration::from_secs_f64(args.seconds);
    let t0 = Instant::now();
    let mut next_report = t0 + REPORT_EVERY;
    let mut sent = 0u64;
    'outer: loop {
        for _ in 0..256 {
            let id = w.youngest_id().0 + 1;
            fill(&mut payload, id);
            w.write(DATA_TYPE, 0, &payload)?;
            sent += 1;
            if args.rate > 0 {
                // Sleep rather than spin when ahead, so that readers get the cores.
                let due = t0 + Duration::from_secs_f64(sent as f64 / args.rate as f64);
                let now = Instant::now();
                if due > now + Duration::from_micros(50) {
                    std::thread::sleep(due - now);
                }
            }
        }
        let now = Instant::now();
        if now >= next_report {
            emit(&Report::Sent { sent });
            next_report = now + REPORT_EVERY;
        }
        // ORDERING: Relaxed: a stop request; it publishes no other data.
        if now.duration_since(t0) >= duration || stop.load(Ordering::Relaxed) {
            break 'outer;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    w.write(END_TYPE, 0, &sent.to_le_bytes())?;
    emit(&Report::WriterDone { sent, seconds });
    Ok(ExitCode::SUCCESS)
}

/// A reader process.
pub fn reader(args: ReaderArgs) -> anyhow::Result<ExitCode> {
    let stop = stop_flag()?;
    let opts = ReaderOptions {
        start: StartAt::Oldest,
        ..ReaderOptions::default()
    };
    let mut r = Reader::open(&args.queue, &opts)?;
    if let Some(name) = &args.register {
        r.register(name)?;
    }
    emit(&Report::Ready);
    let mut tally = Tally {
        size: args.size as usize,
        ..Tally::default()
    };
    let mut idle_since: Option<Instant> = None;
    let mut next_report = Instant::now() + REPORT_EVERY;
    let mut since_report = 0u32;
    loop {
        match r.read_timeout(Duration::from_millis(100)) {
            Ok(msg) => {
                idle_since = None;
                if tally.message(&msg) {
                    break;
                }
            }
            Err(ReadTimeoutError::Failed(ReadError::Lagged(lag))) => {
                tally.missed += lag.missed_count
            }
            Err(ReadTimeoutError::Failed(e)) if e.is_fatal() => return Err(e.into()),
            Err(ReadTimeoutError::Failed(_)) => tally.corrupt += 1,
            Err(_) => {
                let idle = *idle_since.get_or_insert_with(Instant::now);
                // ORDERING: Relaxed: a stop request; it publishes no other data.
                let limit = if stop.load(Ordering::Relaxed) { 2 } else { 15 };
                if idle.elapsed() > Duration::from_secs(limit) {
                    break;
                }
            }
        }
        since_report += 1;
        if since_report >= 1024 || idle_since.is_some() {
            since_report = 0;
            let now = Instant::now();
            if now >= next_report {
                emit(&tally.progress());
                next_report = now + REPORT_EVERY;
            }
        }
    }
    emit(&tally.done());
    Ok(ExitCode::SUCCESS)
}

/// What a demo reader has seen.
#[derive(Default)]
struct Tally {
    size: usize,
    received: u64,
    missed: u64,
    corrupt: u64,
    last_id: u64,
    ended: bool,
    latency: Histogram,
}

impl Tally {
    /// Checks and counts one message; true at the writer's end marker.
    fn message(&mut self, msg: &fmq::MessageRef<'_>) -> bool {
        let id = msg.meta.id.0;
        if id <= self.last_id {
            self.corrupt += 1; // ids must strictly increase (invariant 4)
        }
        self.last_id = id;
        if msg.meta.msg_type == END_TYPE {
            self.ended = true;
            return true;
        }
        if msg.meta.msg_type != DATA_TYPE || !verify(msg.payload, id, self.size) {
            self.corrupt += 1;
        }
        self.received += 1;
        self.latency
            .record((now_ns() - msg.meta.time_ns).max(0) as u64);
        false
    }

    fn progress(&self) -> Report {
        Report::Received {
            received: self.received,
            missed: self.missed,
            corrupt: self.corrupt,
        }
    }

    fn done(&self) -> Report {
        Report::ReaderDone {
            ended: self.ended,
            received: self.received,
            missed: self.missed,
            corrupt: self.corrupt,
            last_id: self.last_id,
            latency: self.latency.to_sparse(),
        }
    }
}

/// A reader's last progress report, and its result once it sent one.
#[derive(Default, Clone)]
struct Progress {
    received: u64,
    missed: u64,
    corrupt: u64,
    done: Option<ReaderDone>,
}

/// A reader's result ([`Report::ReaderDone`]).
#[derive(Clone)]
struct ReaderDone {
    ended: bool,
    received: u64,
    missed: u64,
    corrupt: u64,
    latency: SparseHistogram,
}

fn spawn(args: &[String]) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("finding the fmq executable")?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting a demo process")
}

/// Who sent a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Reader(usize),
    Writer,
}

/// A child's report, or the end of its output (`None`).
type Event = (Who, Option<Report>);

/// Forwards a child's reports to the coordinator; the end of its output is sent as `None`.
/// A line that is not a report (a child's bug) is ignored.
fn forward(child: &mut Child, who: Who, tx: mpsc::Sender<Event>) {
    let Some(out) = child.stdout.take() else {
        return;
    };
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Ok(report) = serde_json::from_str::<Report>(&line) {
                if tx.send((who, Some(report))).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send((who, None));
    });
}

/// The coordinator.
pub fn run(mut args: DemoArgs) -> anyhow::Result<ExitCode> {
    if args.size < 16 {
        bail!("--size must be at least 16 bytes (the demo stamps each message's id in it)");
    }
    let stop = stop_flag()?;
    let own_queue = args.queue.is_none();
    let queue = args
        .queue
        .clone()
        .unwrap_or_else(|| format!("shm:fmq-demo-{}", std::process::id()));
    let w = create_to_fit(&queue, &args, own_queue)?;
    args.buffer = w.layout().buf_size_bytes();
    if args.size > w.layout().max_message_bytes() {
        bail!(
            "--size {} is larger than the queue's largest message ({})",
            args.size,
            w.layout().max_message_bytes()
        );
    }
    drop(w); // the writer process takes the lock; this process never holds it
    let result = coordinate(&args, &queue, &stop);
    if own_queue && !args.keep {
        let _ = fmq::force_remove(&queue);
    }
    result
}

/// Creates the demo queue; if its buffer does not fit the free space (a container's small
/// `/dev/shm`), says so in one line and uses a buffer of half the free space instead, or
/// fails with the space line when even 1 MiB does not fit.
fn create_to_fit(queue: &str, args: &DemoArgs, own_queue: bool) -> anyhow::Result<Writer> {
    let opts = |buf_size_bytes| CreateOptions {
        slots_count: args.slots,
        buf_size_bytes,
        replace: own_queue,
        blocking: args.blocking,
        readers_max: if args.blocking { args.readers } else { 0 },
        ..CreateOptions::default()
    };
    match Writer::create(queue, &opts(args.buffer)) {
        Err(e @ CreateError::NoSpace { free, needed, .. }) => {
            const MIN_BUFFER: u64 = 1 << 20;
            let overhead = needed.saturating_sub(args.buffer);
            let fit = (free.saturating_sub(overhead) / 2) & !0xfff;
            if fit < MIN_BUFFER {
                return Err(e.into());
            }
            errln!("fmq demo: {e}; using a {} buffer instead", human_bytes(fit));
            Ok(Writer::create(queue, &opts(fit))?)
        }
        other => Ok(other?),
    }
}

fn coordinate(args: &DemoArgs, queue: &str, stop: &AtomicBool) -> anyhow::Result<ExitCode> {
    let live = if args.json {
        Live::Stderr
    } else if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        Live::Terminal
    } else {
        Live::Lines
    };
    print_banner(args, queue, live)?;
    let (tx, rx) = mpsc::channel();
    let mut children = start_readers(args, queue, &tx, &rx)?;
    let mut wchild = spawn(&[
        "demo-writer".into(),
        queue.into(),
        "--seconds".into(),
        args.seconds.to_string(),
        "--size".into(),
        args.size.to_string(),
        "--rate".into(),
        args.rate.to_string(),
    ])?;
    forward(&mut wchild, Who::Writer, tx);
    let wstdin = wchild.stdin.take();
    children.push(wchild);
    // A read-only observer: `sent` for progress lines is the queue's commit point.
    let opts = ReaderOptions {
        wait: fmq::WaitStrategy::poll(Duration::from_millis(1)),
        ..ReaderOptions::default()
    };
    let observer = Reader::open(queue, &opts)?;
    let mut demo = Demo {
        readers: vec![Progress::default(); args.readers as usize],
        writer_done: None,
        sent: 0,
        interrupted: false,
        t0: Instant::now(),
        last_sent: (Instant::now(), 0),
        live,
        updating: false,
    };
    demo.watch(&rx, &observer, stop, wstdin)?;
    demo.end_line()?;
    let mut failed_children = 0;
    for mut c in children {
        match wait_timeout(&mut c, Duration::from_secs(10)) {
            Some(s) if s.success() => {}
            _ => failed_children += 1,
        }
    }
    summarize(args, &demo, failed_children)
}

fn print_banner(args: &DemoArgs, queue: &str, live: Live) -> anyhow::Result<()> {
    let registered = if args.blocking {
        " (registered: blocking mode)"
    } else {
        ""
    };
    let rate = if args.rate > 0 {
        format!("{} msg/s", args.rate)
    } else {
        "as fast as possible".into()
    };
    let banner = format!(
        "fmq demo: 1 writer process, {} reader processes{registered}, {}-byte messages, {rate} \
         for {} s on {queue} ({} slots, {} buffer)",
        args.readers,
        args.size,
        args.seconds,
        args.slots,
        human_bytes(args.buffer)
    );
    live.line(&banner)
}

/// Where the demo's live lines go: one line updated in place on a terminal, a line per
/// second otherwise, stderr with `--json` (stdout is for the summary object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Live {
    Terminal,
    Lines,
    Stderr,
}

impl Live {
    /// A line that stays (the banner, "interrupted").
    fn line(self, text: &str) -> anyhow::Result<()> {
        match self {
            Live::Stderr => {
                errln!("{text}");
                Ok(())
            }
            _ => outln!("{text}"),
        }
    }
}

/// Starts the reader processes and waits until every one is attached.
fn start_readers(
    args: &DemoArgs,
    queue: &str,
    tx: &mpsc::Sender<Event>,
    rx: &mpsc::Receiver<Event>,
) -> anyhow::Result<Vec<Child>> {
    let n = args.readers as usize;
    let mut children: Vec<Child> = Vec::new();
    for i in 0..n {
        let mut argv: Vec<String> = vec![
            "demo-reader".into(),
            queue.into(),
            "--size".into(),
            args.size.to_string(),
        ];
        if args.blocking {
            argv.extend(["--register".into(), format!("demo-r{i}")]);
        }
        let mut c = spawn(&argv)?;
        forward(&mut c, Who::Reader(i), tx.clone());
        children.push(c);
    }
    let mut ready = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((_, Some(Report::Ready))) => ready += 1,
            Ok((_, None)) | Err(_) => {
                kill_all(&mut children);
                bail!("a demo reader failed to start");
            }
            Ok(_) => {}
        }
    }
    Ok(children)
}

/// The coordinator's view of the run.
struct Demo {
    readers: Vec<Progress>,
    writer_done: Option<(u64, f64)>,
    sent: u64,
    interrupted: bool,
    t0: Instant,
    last_sent: (Instant, u64),
    live: Live,
    /// A terminal's progress line is on screen, not yet ended.
    updating: bool,
}

impl Demo {
    /// Takes reports until every child's output ended, printing progress every second.
    /// Ctrl-C closes the writer's stdin, which tells it to stop.
    fn watch(
        &mut self,
        rx: &mpsc::Receiver<Event>,
        observer: &Reader,
        stop: &AtomicBool,
        mut wstdin: Option<ChildStdin>,
    ) -> anyhow::Result<()> {
        let mut open_streams = self.readers.len() + 1;
        let mut next_print = self.t0 + Duration::from_secs(1);
        while open_streams > 0 {
            // ORDERING: Relaxed: a stop request; it publishes no other data.
            if stop.load(Ordering::Relaxed) && !self.interrupted {
                self.interrupted = true;
                wstdin = None; // tells the writer to stop
                self.end_line()?;
                self.live
                    .line("interrupted: stopping the writer, draining the readers")?;
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok((_, None)) => open_streams -= 1,
                Ok((who, Some(report))) => self.take(who, report),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            if self.writer_done.is_none() {
                self.sent = self.sent.max(observer.youngest_id().0);
                if now >= next_print {
                    self.print_progress(now)?;
                    next_print = now + Duration::from_secs(1);
                }
            }
        }
        drop(wstdin);
        Ok(())
    }

    fn take(&mut self, who: Who, report: Report) {
        match (who, report) {
            (Who::Writer, Report::Sent { sent }) => self.sent = sent,
            (Who::Writer, Report::WriterDone { sent, seconds }) => {
                self.sent = sent;
                self.writer_done = Some((sent, seconds));
            }
            (Who::Reader(i), r) => {
                let Some(p) = self.readers.get_mut(i) else {
                    return;
                };
                match r {
                    Report::Received {
                        received,
                        missed,
                        corrupt,
                    } => (p.received, p.missed, p.corrupt) = (received, missed, corrupt),
                    Report::ReaderDone {
                        ended,
                        received,
                        missed,
                        corrupt,
                        latency,
                        ..
                    } => {
                        (p.received, p.missed, p.corrupt) = (received, missed, corrupt);
                        p.done = Some(ReaderDone {
                            ended,
                            received,
                            missed,
                            corrupt,
                            latency,
                        });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn print_progress(&mut self, now: Instant) -> anyhow::Result<()> {
        let (then, sent_then) = self.last_sent;
        let rate = (self.sent - sent_then) as f64 / now.duration_since(then).as_secs_f64();
        self.last_sent = (now, self.sent);
        let mut line = format!(
            "{:5.1} s  sent {:>8} ({:>7} msg/s)",
            now.duration_since(self.t0).as_secs_f64(),
            human_count(self.sent as f64),
            human_count(rate)
        );
        for (i, p) in self.readers.iter().enumerate() {
            line += &format!(
                "  r{i} recv {:>7} missed {:>7}",
                human_count(p.received as f64),
                human_count(p.missed as f64)
            );
        }
        let corrupt: u64 = self.readers.iter().map(|p| p.corrupt).sum();
        line += &format!("  corrupt {corrupt}");
        match self.live {
            Live::Terminal => {
                // Back to the line's start, clear it, print it again: one line that updates.
                crate::util::with_stdout(|o| {
                    write!(o, "\r\x1b[2K{line}")?;
                    Ok(())
                })?;
                self.updating = true;
                Ok(())
            }
            live => live.line(&line),
        }
    }

    /// Ends a terminal's updating line, so that what follows starts on a line of its own.
    fn end_line(&mut self) -> anyhow::Result<()> {
        if self.updating {
            self.updating = false;
            outln!("")?;
        }
        Ok(())
    }
}

fn wait_timeout(c: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = c.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            let _ = c.kill();
            let _ = c.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill_all(children: &mut [Child]) {
    for c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// One reader's line of the summary.
struct ReaderSummary {
    received: u64,
    missed: u64,
    corrupt: u64,
    /// received + missed == sent, and the reader saw the end.
    accounted: bool,
    latency: Histogram,
}

fn latency_json(h: &Histogram) -> serde_json::Value {
    serde_json::json!({
        "p50": h.quantile(0.5), "p99": h.quantile(0.99), "p999": h.quantile(0.999), "max": h.max(),
    })
}

fn summarize(args: &DemoArgs, demo: &Demo, failed_children: usize) -> anyhow::Result<ExitCode> {
    let Some((sent, secs)) = demo.writer_done else {
        bail!("the demo writer did not finish (see its error above)");
    };
    let secs = secs.max(1e-9);
    let mut all = Histogram::default();
    let mut ok = failed_children == 0;
    let readers: Vec<Option<ReaderSummary>> = demo
        .readers
        .iter()
        .map(|p| {
            let d = p.done.as_ref()?;
            let mut latency = Histogram::default();
            latency.merge(&d.latency);
            all.merge(&d.latency);
            Some(ReaderSummary {
                received: d.received,
                missed: d.missed,
                corrupt: d.corrupt,
                accounted: d.ended && d.received + d.missed == sent,
                latency,
            })
        })
        .collect();
    for r in &readers {
        // Blocking mode: a registered reader loses nothing (DESIGN invariant 9).
        ok &= r
            .as_ref()
            .is_some_and(|r| r.accounted && r.corrupt == 0 && !(args.blocking && r.missed > 0));
    }
    let total_corrupt: u64 = readers.iter().flatten().map(|r| r.corrupt).sum();
    if args.json {
        let v = serde_json::json!({
            "interrupted": demo.interrupted,
            "sent": sent,
            "seconds": secs,
            "messages_per_s": sent as f64 / secs,
            "bytes_per_s": sent as f64 * args.size as f64 / secs,
            "message_bytes": args.size,
            "readers": readers.iter().map(|r| match r {
                None => serde_json::json!({"finished": false}),
                Some(r) => serde_json::json!({
                    "finished": true, "received": r.received, "missed": r.missed,
                    "corrupt": r.corrupt, "accounted": r.accounted,
                    "latency_ns": latency_json(&r.latency),
                }),
            }).collect::<Vec<_>>(),
            "latency_ns": latency_json(&all),
            "corrupt": total_corrupt,
            "ok": ok,
        });
        outln!("{v}")?;
    } else {
        let totals = Totals {
            sent,
            secs,
            all,
            total_corrupt,
            ok,
        };
        print_summary(args, demo, &readers, &totals)?;
    }
    if ok {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("the demo found a problem (see the summary above)")
    }
}

/// The summary's totals.
struct Totals {
    sent: u64,
    secs: f64,
    /// Every reader's latencies.
    all: Histogram,
    total_corrupt: u64,
    ok: bool,
}

fn print_summary(
    args: &DemoArgs,
    demo: &Demo,
    readers: &[Option<ReaderSummary>],
    t: &Totals,
) -> anyhow::Result<()> {
    let (sent, secs, all) = (t.sent, t.secs, &t.all);
    outln!("")?;
    outln!(
        "summary{}",
        if demo.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    )?;
    outln!(
        "  sent       {sent} messages in {secs:.2} s: {} msg/s, {}/s",
        human_count(sent as f64 / secs),
        human_bytes((sent as f64 * args.size as f64 / secs) as u64)
    )?;
    for (i, r) in readers.iter().enumerate() {
        let Some(r) = r else {
            outln!("  reader {i}   did not finish")?;
            continue;
        };
        let h = &r.latency;
        outln!(
            "  reader {i}   received {}, missed {}, corrupt {}; received + missed {} sent; \
             latency p50 {}  p99 {}  p99.9 {}  max {}",
            r.received,
            r.missed,
            r.corrupt,
            if r.accounted { "=" } else { "!=" },
            human_ns(h.quantile(0.5)),
            human_ns(h.quantile(0.99)),
            human_ns(h.quantile(0.999)),
            human_ns(h.max())
        )?;
    }
    outln!(
        "  latency    all readers: p50 {}  p99 {}  p99.9 {}  max {} (writer's time stamp to \
         the reader's copy)",
        human_ns(all.quantile(0.5)),
        human_ns(all.quantile(0.99)),
        human_ns(all.quantile(0.999)),
        human_ns(all.max())
    )?;
    outln!("  corrupt    {}", t.total_corrupt)?;
    if t.ok {
        outln!("  result     ok: every message accounted for, none corrupt")?;
    }
    Ok(())
}
