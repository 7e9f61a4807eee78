//! Scenario: the machine's limits and fmq's fixed costs, measured by the same harness.
//! `memcpy`: copying each message size out of a 64 MiB ring (the default ring of the
//! throughput scenarios) into a buffer, one thread: the bandwidth bound of DESIGN §8.
//! `crc32c`: the payload checksum at each size (the `crc32c` crate that fmq-core uses with
//! `std`, SSE 4.2 when present). The cache-line round trip is in `latency.rs`.
//! One criterion iteration = one message's bytes.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use fmq_benches::config::{self, RING_L3, SIZES};

fn limits(c: &mut Criterion) {
    let mut g = c.benchmark_group("limits");
    let ring = config::payload(RING_L3.buf_size_bytes as usize);
    for size in SIZES {
        let mut dst = vec![0u8; size];
        let mut off = 0usize;
        g.bench_function(
            criterion::BenchmarkId::new("memcpy", format!("s{size}")),
            |b| {
                b.iter_custom(|n| {
                    let t = Instant::now();
                    for _ in 0..n {
                        if off + size > ring.len() {
                            off = 0;
                        }
                        dst.copy_from_slice(&ring[off..off + size]);
                        black_box(&dst);
                        off += size;
                    }
                    t.elapsed()
                })
            },
        );
        let src = config::payload(size);
        g.bench_function(
            criterion::BenchmarkId::new("crc32c", format!("s{size}")),
            |b| {
                b.iter_custom(|n| {
                    let t = Instant::now();
                    for _ in 0..n {
                        black_box(crc32c::crc32c(black_box(&src)));
                    }
                    t.elapsed().max(Duration::from_nanos(1))
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config::criterion();
    targets = limits
}
criterion_main!(benches);
