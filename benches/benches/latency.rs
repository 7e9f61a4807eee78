//! Scenario: writer-to-reader latency between processes, 64-byte messages, by ping-pong:
//! one-way latency is half the round trip. fmq on shared memory with spinning readers and
//! with readers that sleep on the futex at once (no spinning), fmq on files (spinning);
//! iceoryx2 publish/subscribe (polling), a pipe pair and a SOCK_SEQPACKET socket (blocking
//! reads); and the limit: a cache line bounced between the two processes.
//!
//! Criterion times the round trip; the percentiles come from a direct histogram
//! (hdrhistogram) of every one-way time over a fixed number of round trips, written to
//! `fmq-bench/extra.jsonl`.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use fmq_benches::config;
use fmq_benches::pingpong::{FdPing, FmqPing, IcePing, LinePing, PingPong};
use fmq_benches::xrig::Backend;
use fmq_benches::{record, rig};

const EXE: &str = env!("CARGO_BIN_EXE_fmq-bench-child");
const SIZE: usize = 64;

fn measure(
    c: &mut Criterion,
    system: &str,
    round_trips: u64,
    make: impl FnOnce() -> Box<dyn PingPong>,
) {
    if !rig::selected(&format!("latency/{system}")) {
        return;
    }
    let mut pp = make();
    let mut g = c.benchmark_group("latency");
    g.bench_function(system, |b| b.iter(|| pp.round_trip()));
    g.finish();
    let n = if config::smoke() { 10 } else { round_trips };
    let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    for _ in 0..n {
        let t = Instant::now();
        pp.round_trip();
        h.record((t.elapsed().as_nanos() as u64 / 2).max(1))
            .expect("record");
    }
    let mut f = record::percentiles(&h);
    f.insert("size".into(), SIZE.into());
    f.insert("round_trips".into(), n.into());
    record::write("latency", system, f);
    pp.finish();
}

fn latency(c: &mut Criterion) {
    measure(c, "cache-line", 200_000, || Box::new(LinePing::new(EXE)));
    measure(c, "fmq-shm-spin", 100_000, || {
        Box::new(FmqPing::new(EXE, Backend::Shm, SIZE, "spin"))
    });
    measure(c, "fmq-shm-futex", 20_000, || {
        Box::new(FmqPing::new(EXE, Backend::Shm, SIZE, "futex"))
    });
    measure(c, "fmq-file-spin", 100_000, || {
        Box::new(FmqPing::new(EXE, Backend::File, SIZE, "spin"))
    });
    measure(c, "iceoryx2-spin", 100_000, || {
        Box::new(IcePing::new(EXE, SIZE))
    });
    measure(c, "pipe", 20_000, || {
        Box::new(FdPing::new(EXE, false, SIZE))
    });
    measure(c, "seqpacket", 20_000, || {
        Box::new(FdPing::new(EXE, true, SIZE))
    });
}

criterion_group! {
    name = benches;
    config = config::criterion();
    targets = latency
}
criterion_main!(benches);
