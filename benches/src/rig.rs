//! A rig is one system under test, set up with its readers: `run(n)` sends `n` messages and
//! returns the time until every reader has taken all of them. Criterion drives it through
//! `iter_custom`, so one criterion iteration is one message delivered to every reader.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};

/// A system under test with its readers running.
pub trait Rig {
    /// Sends `n` messages and waits until every reader has taken them; the elapsed time.
    fn run(&mut self, n: u64) -> Duration;
    /// Stops the readers (and checks that no message was lost where none may be).
    fn finish(self: Box<Self>);
}

/// Benchmarks `rig` as `GROUP/system/param` and then finishes it.
pub fn bench(
    g: &mut BenchmarkGroup<'_, WallTime>,
    system: &str,
    param: &str,
    mut rig: Box<dyn Rig>,
) {
    g.bench_function(BenchmarkId::new(system, param), |b| {
        b.iter_custom(|n| rig.run(n))
    });
    rig.finish();
}

/// The parameter string of a benchmark id: `r{readers}_s{size}_{ring}`, parsed back by the
/// report generator.
pub fn param(readers: usize, size: usize, ring: &str) -> String {
    format!("r{readers}_s{size}_{ring}")
}
