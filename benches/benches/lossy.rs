//! Scenario: lossy mode. One reader thread that does a fixed amount of work per message
//! (spinning `WORK`) follows a writer thread paced at 25, 50, 90 and 100 % of that
//! reader's measured capacity, on a ring of 8192 slots (64-byte messages, in process): about
//! 9 ms of slack at the reader's pace. Halfway through each run the writer sends one burst
//! of twice the ring's slots unpaced, so the reader is overrun once: below 100 % it must
//! then catch up (the resync time); at 100 % it cannot until the writer stops. Per
//! rate: offered and delivered rates, messages missed (the exact `Lagged` counts), lag
//! events, and the time to resynchronise (from a `Lagged` until the reader has caught up
//! with the writer, i.e. its next `Empty`).
//!
//! Criterion times the reader's cost per message (read plus work), which defines its
//! capacity; the paced runs are recorded directly (`fmq-bench/extra.jsonl`).

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use fmq_benches::{config, record};
use fmq_core::{Config, HeapRegion, Layout, ReadError, Reader, ReaderConfig, StartAt, Writer};

const SIZE: usize = 64;
const SLOTS: u32 = 8192;
const WORK: Duration = Duration::from_micros(1);

fn work() {
    let t = Instant::now();
    while t.elapsed() < WORK {
        std::hint::spin_loop();
    }
}

fn queue() -> (Arc<HeapRegion>, Writer<Arc<HeapRegion>>) {
    let config = Config {
        slots_count: SLOTS,
        buf_size_bytes: u64::from(SLOTS) * SIZE as u64,
        ..Config::default()
    };
    let region = Arc::new(HeapRegion::new(
        &Layout::from_config(&config).expect("layout"),
    ));
    let writer = Writer::format(region.clone(), &config).expect("format");
    (region, writer)
}

/// Reader cost per message: read (copy + validate + CRC) plus the work, on a full ring.
fn reader_cost(c: &mut Criterion) -> f64 {
    let (region, mut writer) = queue();
    let mut reader = Reader::attach(region, ReaderConfig::default()).expect("attach");
    let payload = config::payload(SIZE);
    let mut buf = vec![0u8; SIZE];
    let mut total = (0u64, Duration::ZERO);
    c.bench_function("lossy/reader-cost", |b| {
        b.iter_custom(|n| {
            let mut elapsed = Duration::ZERO;
            let mut left = n;
            while left > 0 {
                let batch = left.min(u64::from(SLOTS) - 1);
                for _ in 0..batch {
                    writer.write(1, 0, 0, &payload).expect("write");
                }
                reader.seek(StartAt::Oldest);
                let t = Instant::now();
                for _ in 0..batch {
                    reader.try_read(&mut buf).expect("read");
                    black_box(&buf);
                    work();
                }
                elapsed += t.elapsed();
                left -= batch;
            }
            total.0 += n;
            total.1 += elapsed;
            elapsed
        })
    });
    total.1.as_secs_f64() / total.0.max(1) as f64
}

#[derive(Default)]
struct Outcome {
    delivered: u64,
    missed: u64,
    lag_events: u64,
    resync_ns: Vec<u64>,
}

fn paced(fraction: f64, capacity_per_s: f64, run: Duration) -> (u64, Outcome, Duration) {
    let (region, mut writer) = queue();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    // Attached before the first message (a late thread would start at a later end).
    let mut r = Reader::attach(region, ReaderConfig::default()).expect("attach");
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; SIZE];
        let mut out = Outcome::default();
        let mut lagged_at: Option<Instant> = None;
        loop {
            match r.try_read(&mut buf) {
                Ok(_) => {
                    black_box(&buf);
                    work();
                    out.delivered += 1;
                }
                Err(ReadError::Empty) => {
                    if let Some(t) = lagged_at.take() {
                        out.resync_ns.push(t.elapsed().as_nanos() as u64);
                    }
                    // ORDERING: Acquire pairs with the writer thread's Release store of
                    // `done`, made after its last message: Empty then means all read.
                    if d.load(Ordering::Acquire) {
                        return out;
                    }
                    std::hint::spin_loop();
                }
                Err(ReadError::Lagged { missed_count, .. }) => {
                    out.missed += missed_count;
                    out.lag_events += 1;
                    lagged_at.get_or_insert_with(Instant::now);
                }
                Err(e) => panic!("reader: {e}"),
            }
        }
    });
    let payload = config::payload(SIZE);
    let interval = Duration::from_secs_f64(1.0 / (fraction * capacity_per_s));
    let start = Instant::now();
    let mut sent = 0u64;
    let mut paced = 0u64;
    let mut burst_done = false;
    while start.elapsed() < run {
        if !burst_done && start.elapsed() >= run / 2 {
            for _ in 0..2 * SLOTS {
                writer.write(1, 0, 0, &payload).expect("write");
            }
            sent += u64::from(2 * SLOTS);
            burst_done = true;
        }
        let due = start + interval.mul_f64(paced as f64);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        writer.write(1, 0, 0, &payload).expect("write");
        sent += 1;
        paced += 1;
    }
    let elapsed = start.elapsed();
    // ORDERING: Release pairs with the reader's Acquire load of `done`.
    done.store(true, Ordering::Release);
    (sent, reader.join().expect("reader"), elapsed)
}

fn lossy(c: &mut Criterion) {
    let cost_s = reader_cost(c);
    let capacity = 1.0 / cost_s;
    let run = if config::smoke() {
        Duration::from_millis(20)
    } else {
        Duration::from_millis(600)
    };
    for pct in [25u32, 50, 90, 100] {
        let (sent, out, elapsed) = paced(f64::from(pct) / 100.0, capacity, run);
        let secs = elapsed.as_secs_f64();
        let mut resync = out.resync_ns.clone();
        resync.sort_unstable();
        let mut f = serde_json::Map::new();
        f.insert("percent_of_capacity".into(), pct.into());
        f.insert("reader_capacity_per_s".into(), capacity.into());
        f.insert("offered_per_s".into(), (sent as f64 / secs).into());
        f.insert(
            "delivered_per_s".into(),
            (out.delivered as f64 / secs).into(),
        );
        f.insert("sent".into(), sent.into());
        f.insert("delivered".into(), out.delivered.into());
        f.insert("missed".into(), out.missed.into());
        f.insert("lag_events".into(), out.lag_events.into());
        f.insert("resync_count".into(), resync.len().into());
        let median = resync.get(resync.len() / 2).copied().unwrap_or(0);
        f.insert("resync_median_ns".into(), median.into());
        f.insert(
            "resync_max_ns".into(),
            resync.last().copied().unwrap_or(0).into(),
        );
        f.insert(
            "accounted".into(),
            (out.delivered + out.missed == sent).into(),
        );
        record::write("lossy", &format!("fmq-heap/{pct}pct"), f);
    }
}

criterion_group! {
    name = benches;
    config = config::criterion();
    targets = lossy
}
criterion_main!(benches);
