//! `fmq demo`: the live demo, with real processes. The coordinator (this process) creates a
//! shared-memory queue, starts N reader processes and, once they are attached, one writer
//! process (all re-executions of this binary, hidden subcommands `demo-reader` and
//! `demo-writer`). The writer writes as fast as it can (or at `--rate`) for `--seconds`, then
//! an end marker; each reader verifies every message (ids strictly increasing, payload
//! derived from the id, CRC checked by the protocol), counts what it missed from `Lagged`,
//! and measures writer-to-reader latency from the message's time stamp.
//!
//! Children report JSON lines on stdout; the coordinator prints progress every second and a
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
use fmq::{now_ns, CreateOptions, ReadError, Reader, ReaderOptions, StartAt, Writer};
use serde_json::{json, Value};

use crate::util::{
    errln, human_bytes, human_count, human_ns, outln, parse_secs, parse_size, Histogram,
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

fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
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
    let mut w = Writer::open(&args.queue)?;
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
            emit(json!({"sent": sent}));
            next_report = now + REPORT_EVERY;
        }
        // ORDERING: Relaxed: a stop request; it publishes no other data.
        if now.duration_since(t0) >= duration || stop.load(Ordering::Relaxed) {
            break 'outer;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    w.write(END_TYPE, 0, &sent.to_le_bytes())?;
    emit(json!({"final": true, "sent": sent, "seconds": seconds}));
    Ok(ExitCode::SUCCESS)
}

/// A reader process.
pub fn reader(args: ReaderArgs) -> anyhow::Result<ExitCode> {
    let stop = stop_flag()?;
    let size = args.size as usize;
    let mut r = Reader::open(
        &args.queue,
        ReaderOptions {
            start: StartAt::Oldest,
            ..ReaderOptions::default()
        },
    )?;
    if let Some(name) = &args.register {
        r.register(name)?;
    }
    emit(json!({"ready": true}));
    let mut hist = Histogram::default();
    let (mut received, mut missed, mut corrupt) = (0u64, 0u64, 0u64);
    let mut last_id = 0u64;
    let mut idle_since: Option<Instant> = None;
    let mut next_report = Instant::now() + REPORT_EVERY;
    let mut ended = false;
    let mut since_report = 0u32;
    loop {
        match r.read(Some(Duration::from_millis(100))) {
            Ok(msg) => {
                idle_since = None;
                let id = msg.meta.id.0;
                if id <= last_id {
                    corrupt += 1; // ids must strictly increase (invariant 4)
                }
                last_id = id;
                if msg.meta.msg_type == END_TYPE {
                    ended = true;
                    break;
                }
                if msg.meta.msg_type != DATA_TYPE || !verify(msg.data, id, size) {
                    corrupt += 1;
                }
                received += 1;
                hist.record((now_ns() - msg.meta.time_ns).max(0) as u64);
            }
            Err(ReadError::Lagged { missed_count, .. }) => missed += missed_count,
            Err(ReadError::TimedOut) => {
                let idle = *idle_since.get_or_insert_with(Instant::now);
                // ORDERING: Relaxed: a stop request; it publishes no other data.
                let limit = if stop.load(Ordering::Relaxed) { 2 } else { 15 };
                if idle.elapsed() > Duration::from_secs(limit) {
                    break;
                }
            }
            Err(e) if e.is_recoverable() => corrupt += 1,
            Err(e) => return Err(e.into()),
        }
        since_report += 1;
        if since_report >= 1024 || idle_since.is_some() {
            since_report = 0;
            let now = Instant::now();
            if now >= next_report {
                emit(json!({"received": received, "missed": missed, "corrupt": corrupt}));
                next_report = now + REPORT_EVERY;
            }
        }
    }
    emit(json!({
        "final": true, "ended": ended, "received": received, "missed": missed,
        "corrupt": corrupt, "last_id": last_id, "latency": hist.to_json(),
    }));
    Ok(ExitCode::SUCCESS)
}

#[derive(Default, Clone)]
struct Progress {
    received: u64,
    missed: u64,
    corrupt: u64,
    final_: Option<Value>,
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

/// Forwards a child's JSON lines to the coordinator as (who, value); `who` is the reader
/// index, or `usize::MAX` for the writer. End of output is sent as `Value::Null`.
fn forward(child: &mut Child, who: usize, tx: mpsc::Sender<(usize, Value)>) {
    let Some(out) = child.stdout.take() else {
        return;
    };
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send((who, v)).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send((who, Value::Null));
    });
}

const WRITER: usize = usize::MAX;

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
        let _ = fmq::queue::remove(&queue, true);
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
        force: own_queue,
        blocking: args.blocking,
        readers_max: if args.blocking { args.readers } else { 0 },
        ..CreateOptions::default()
    };
    match Writer::create(queue, &opts(args.buffer)) {
        Err(e @ fmq::OpenError::NoSpace { free, needed, .. }) => {
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
    let n = args.readers as usize;
    outln!(
        "fmq demo: 1 writer process, {n} reader processes{}, {}-byte messages, {} for {} s on \
         {queue} ({} slots, {} buffer)",
        if args.blocking {
            " (registered: blocking mode)"
        } else {
            ""
        },
        args.size,
        if args.rate > 0 {
            format!("{} msg/s", args.rate)
        } else {
            "as fast as possible".into()
        },
        args.seconds,
        args.slots,
        human_bytes(args.buffer)
    )?;
    let (tx, rx) = mpsc::channel();
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
        forward(&mut c, i, tx.clone());
        children.push(c);
    }
    let mut ready = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((_, v)) if v["ready"] == true => ready += 1,
            Ok((_, Value::Null)) | Err(_) => {
                kill_all(&mut children);
                bail!("a demo reader failed to start");
            }
            Ok(_) => {}
        }
    }
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
    forward(&mut wchild, WRITER, tx);
    let mut wstdin: Option<ChildStdin> = wchild.stdin.take();
    children.push(wchild);

    // A read-only observer: `sent` for progress lines is the queue's commit point.
    let observer = Reader::open(
        queue,
        ReaderOptions {
            wait: fmq::WaitStrategy::poll(Duration::from_millis(1)),
            ..ReaderOptions::default()
        },
    )?;
    let t0 = Instant::now();
    let mut readers = vec![Progress::default(); n];
    let mut sent = 0u64;
    let mut writer_final: Option<Value> = None;
    let mut open_streams = n + 1;
    let mut next_print = t0 + Duration::from_secs(1);
    let mut interrupted = false;
    let mut last_sent = (t0, 0u64);
    while open_streams > 0 {
        // ORDERING: Relaxed: a stop request; it publishes no other data.
        if stop.load(Ordering::Relaxed) && !interrupted {
            interrupted = true;
            wstdin = None; // tells the writer to stop
            outln!("interrupted: stopping the writer, draining the readers")?;
        }
        let _ = &wstdin;
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((who, Value::Null)) => {
                open_streams -= 1;
                let _ = who;
            }
            Ok((WRITER, v)) => {
                sent = v["sent"].as_u64().unwrap_or(sent);
                if v["final"] == true {
                    writer_final = Some(v);
                }
            }
            Ok((i, v)) => {
                let p = &mut readers[i];
                p.received = v["received"].as_u64().unwrap_or(p.received);
                p.missed = v["missed"].as_u64().unwrap_or(p.missed);
                p.corrupt = v["corrupt"].as_u64().unwrap_or(p.corrupt);
                if v["final"] == true {
                    p.final_ = Some(v);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if writer_final.is_none() {
            sent = sent.max(observer.youngest_id().0);
        }
        if now >= next_print && writer_final.is_none() {
            let rate = (sent - last_sent.1) as f64 / now.duration_since(last_sent.0).as_secs_f64();
            last_sent = (now, sent);
            let mut line = format!(
                "{:5.1} s  sent {:>8} ({:>7} msg/s)",
                now.duration_since(t0).as_secs_f64(),
                human_count(sent as f64),
                human_count(rate)
            );
            for (i, p) in readers.iter().enumerate() {
                line += &format!(
                    "  r{i} recv {:>7} missed {:>7}",
                    human_count(p.received as f64),
                    human_count(p.missed as f64)
                );
            }
            let corrupt: u64 = readers.iter().map(|p| p.corrupt).sum();
            line += &format!("  corrupt {corrupt}");
            outln!("{line}")?;
            next_print = now + Duration::from_secs(1);
        }
    }
    drop(wstdin);
    let mut failed_children = 0;
    for mut c in children {
        match wait_timeout(&mut c, Duration::from_secs(10)) {
            Some(s) if s.success() => {}
            _ => failed_children += 1,
        }
    }
    summarize(
        args,
        &readers,
        writer_final.as_ref(),
        failed_children,
        interrupted,
    )
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

fn summarize(
    args: &DemoArgs,
    readers: &[Progress],
    writer_final: Option<&Value>,
    failed_children: usize,
    interrupted: bool,
) -> anyhow::Result<ExitCode> {
    let Some(wf) = writer_final else {
        bail!("the demo writer did not finish (see its error above)");
    };
    let sent = wf["sent"].as_u64().unwrap_or(0);
    let secs = wf["seconds"].as_f64().unwrap_or(0.0).max(1e-9);
    outln!("")?;
    outln!("summary{}", if interrupted { " (interrupted)" } else { "" })?;
    outln!(
        "  sent       {sent} messages in {secs:.2} s: {} msg/s, {}/s",
        human_count(sent as f64 / secs),
        human_bytes((sent as f64 * args.size as f64 / secs) as u64)
    )?;
    let mut all = Histogram::default();
    let mut ok = failed_children == 0;
    let blocking = args.blocking;
    let mut total_corrupt = 0;
    for (i, p) in readers.iter().enumerate() {
        let Some(f) = &p.final_ else {
            outln!("  reader {i}   did not finish")?;
            ok = false;
            continue;
        };
        let received = f["received"].as_u64().unwrap_or(0);
        let missed = f["missed"].as_u64().unwrap_or(0);
        let corrupt = f["corrupt"].as_u64().unwrap_or(0);
        let ended = f["ended"] == true;
        let mut h = Histogram::default();
        h.merge_json(&f["latency"]);
        all.merge_json(&f["latency"]);
        let accounted = ended && received + missed == sent;
        // Blocking mode: a registered reader loses nothing (DESIGN invariant 9).
        ok &= accounted && corrupt == 0 && !(blocking && missed > 0);
        total_corrupt += corrupt;
        outln!(
            "  reader {i}   received {received}, missed {missed}, corrupt {corrupt}; \
             received + missed {} sent; latency p50 {}  p99 {}  p99.9 {}  max {}",
            if accounted { "=" } else { "!=" },
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
    outln!("  corrupt    {total_corrupt}")?;
    if ok {
        outln!("  result     ok: every message accounted for, none corrupt")?;
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("the demo found a problem (see the summary above)")
    }
}
