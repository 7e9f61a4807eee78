//! Live demo of the protocol in one process: one writer thread, N reader threads, one
//! `HeapRegion`. Prints progress every second and a final summary: sent, received, missed,
//! corrupt (must be 0), throughput and writer-to-reader latency percentiles.
//!
//!     cargo run --release -p fmq-core --example demo -- [--readers N] [--seconds S] [--size BYTES]
//!
//! The cross-process demo on a shared-memory queue (`fmq demo`) comes with the fmq crate.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fmq_core::{Config, HeapRegion, Layout, ReadError, Reader, ReaderConfig, Writer};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    match args.iter().position(|a| a == name) {
        Some(i) => match args.get(i + 1).and_then(|v| v.parse().ok()) {
            Some(v) => v,
            None => {
                eprintln!("error: {name} needs a number");
                std::process::exit(2);
            }
        },
        None => default,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let readers = arg(&args, "--readers", 2).max(1) as usize;
    let seconds = arg(&args, "--seconds", 5);
    let size = arg(&args, "--size", 64) as usize;
    let config = Config {
        slots_count: 4096,
        buf_size_bytes: 4 << 20,
        ..Config::default()
    };
    let region = Arc::new(HeapRegion::new(
        &Layout::from_config(&config).expect("valid config"),
    ));
    let mut writer = Writer::format(Arc::clone(&region), &config).expect("region fits");
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let received: Arc<Vec<AtomicU64>> = Arc::new((0..readers).map(|_| AtomicU64::new(0)).collect());

    println!("fmq-core demo: 1 writer, {readers} readers, {size}-byte messages, {seconds} s");
    let handles: Vec<_> = (0..readers)
        .map(|i| {
            let mut r = Reader::attach(Arc::clone(&region), ReaderConfig::default()).unwrap();
            let (stop, received) = (Arc::clone(&stop), Arc::clone(&received));
            std::thread::spawn(move || {
                let (mut missed, mut corrupt, mut lat) = (0u64, 0u64, Vec::new());
                let mut buf = vec![0u8; size.max(8)];
                loop {
                    let finished = stop.load(Ordering::Acquire);
                    match r.try_read(&mut buf) {
                        Ok(m) => {
                            received[i].fetch_add(1, Ordering::Relaxed);
                            if m.id.0 % 16 == 0 {
                                let now = epoch.elapsed().as_nanos() as i64;
                                lat.push((now - m.time_ns).max(0) as u64);
                            }
                        }
                        Err(ReadError::Lagged { missed_count, .. }) => missed += missed_count,
                        Err(ReadError::Empty) if finished => break,
                        Err(ReadError::Empty) => std::hint::spin_loop(),
                        Err(_) => corrupt += 1,
                    }
                }
                (missed, corrupt, lat)
            })
        })
        .collect();

    let payload = vec![0xA5u8; size];
    let end = epoch + Duration::from_secs(seconds);
    let mut next_report = epoch + Duration::from_secs(1);
    let mut sent = 0u64;
    while Instant::now() < end {
        for _ in 0..256 {
            let t = epoch.elapsed().as_nanos() as i64;
            writer.write(1, 0, t, &payload).expect("message fits");
            sent += 1;
        }
        if Instant::now() >= next_report {
            let got: Vec<u64> = received.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            println!(
                "  t={:>3.0}s sent {sent:>11} received {got:?}",
                epoch.elapsed().as_secs_f64()
            );
            next_report += Duration::from_secs(1);
        }
    }
    let elapsed = epoch.elapsed().as_secs_f64();
    stop.store(true, Ordering::Release);
    let (mut missed, mut corrupt, mut lat) = (0, 0, Vec::new());
    for h in handles {
        let (m, c, l) = h.join().expect("reader thread");
        missed += m;
        corrupt += c;
        lat.extend(l);
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1));
        lat.get(i)
            .map_or_else(|| "n/a".to_string(), |v| format!("{v} ns"))
    };
    let total: u64 = received.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    println!("summary:");
    println!(
        "  sent      {sent} messages ({:.2} M msg/s, {:.0} MB/s)",
        sent as f64 / elapsed / 1e6,
        (sent as f64 * size as f64) / elapsed / 1e6
    );
    println!("  received  {total} over {readers} readers");
    println!("  missed    {missed} (readers overrun by the writer; counted exactly)");
    println!("  corrupt   {corrupt}");
    println!(
        "  accounted {} of {}",
        total + missed,
        sent * readers as u64
    );
    println!(
        "  latency   p50 {}, p99 {}, max {} (sampled)",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    if corrupt != 0 || total + missed != sent * readers as u64 {
        eprintln!("error: corrupt messages or unaccounted ids");
        std::process::exit(1);
    }
}
