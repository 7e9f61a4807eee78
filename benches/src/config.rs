//! Criterion settings and the scenario dimensions shared by every bench file.

use std::time::Duration;

use criterion::Criterion;

/// Message sizes of the issue: 64 B, 1 KiB, 4 KiB, 64 KiB, 1 MiB.
pub const SIZES: [usize; 5] = [64, 1 << 10, 4 << 10, 64 << 10, 1 << 20];

/// A ring (the message buffer) sized against this machine's caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    /// Short name used in benchmark ids.
    pub name: &'static str,
    /// Buffer size in bytes.
    pub buf_size_bytes: u64,
}

/// Fits in L2 with its slot table (512 KiB buffer; L2 is 2 MiB per core here).
pub const RING_L2: Ring = Ring {
    name: "ring-l2",
    buf_size_bytes: 512 << 10,
};
/// Fits in L3 (64 MiB; L3 is 260 MiB here) but not in L2: the default ring of the scenarios.
pub const RING_L3: Ring = Ring {
    name: "ring-l3",
    buf_size_bytes: 64 << 20,
};
/// Far larger than L3 (1 GiB).
pub const RING_HUGE: Ring = Ring {
    name: "ring-1g",
    buf_size_bytes: 1 << 30,
};

/// The slot count used for a ring and a message size: one slot per message the buffer
/// holds, between 16 and 65,536 (the slot-count sweep is its own scenario).
pub fn slots_for(ring: Ring, size: usize) -> u32 {
    let per = (size as u64).div_ceil(8) * 8;
    (ring.buf_size_bytes / per.max(1)).clamp(16, 65_536) as u32
}

/// Messages a lossless peer may hold in flight for a ring and size (the same number of
/// messages fmq's ring holds), rounded to a power of two for the peers that need one.
pub fn peer_capacity(ring: Ring, size: usize) -> usize {
    let cap = (ring.buf_size_bytes / size as u64).clamp(2, 65_536) as usize;
    cap.next_power_of_two().min(65_536)
}

fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Criterion with short warm-up and measurement (`FMQ_BENCH_WARMUP_MS`, default 150, and
/// `FMQ_BENCH_MEASURE_MS`, default 500) and 10 samples, so the report fits its budget.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(env_ms("FMQ_BENCH_WARMUP_MS", 150))
        .measurement_time(env_ms("FMQ_BENCH_MEASURE_MS", 500))
        .sample_size(10)
        .without_plots()
        .configure_from_args()
}

/// Whether criterion runs in `--test` mode (each benchmark once: the CI smoke run). Bench
/// files shorten their non-criterion parts (histograms, paced runs) then.
pub fn smoke() -> bool {
    std::env::args().any(|a| a == "--test") || std::env::var_os("FMQ_BENCH_SMOKE").is_some()
}

/// A payload of `size` bytes (not all zeros, so a reader that checks sees real bytes).
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i as u8).wrapping_mul(31)).collect()
}

/// A per-process unique name, for shm segments and services.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    // ORDERING: Relaxed: only uniqueness matters.
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("fmqb-{}-{}-{}", tag, std::process::id(), n)
}

/// Where the scenarios put queue files and other scratch files: `$FMQ_BENCH_SCRATCH`, or
/// `fmq-bench-scratch` under the cargo target directory (a real disk, not tmpfs).
pub fn scratch_dir() -> std::path::PathBuf {
    let dir = match std::env::var_os("FMQ_BENCH_SCRATCH") {
        Some(d) => d.into(),
        None => target_dir().join("fmq-bench-scratch"),
    };
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The cargo target directory (`CARGO_TARGET_DIR`, else `target` beside this package).
pub fn target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => d.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}
