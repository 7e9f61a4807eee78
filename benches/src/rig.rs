//! A rig is one system under test, set up with its readers: `run(n)` sends `n` messages and
//! returns the time until every reader has taken all of them. Criterion drives it through
//! `iter_custom`, so one criterion iteration is one message delivered to every reader.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};

/// A system under test with its readers running.
pub trait Rig {
    /// Sends `n` messages and waits until every reader has taken them; the elapsed time.
    fn run(&mut self, n: u64) -> Duration;
    /// Stops the readers (and checks that no message was lost where none may be).
    fn finish(self: Box<Self>);
}

/// A criterion group that builds a rig only when criterion will run its benchmark (the
/// command line's filter, taken as a substring of `GROUP/system/param`), so that
/// `cargo bench --bench X -- FILTER` does not start the readers of every other benchmark.
pub struct Group<'c> {
    g: BenchmarkGroup<'c, WallTime>,
    name: String,
}

impl<'c> Group<'c> {
    /// A group named `name`.
    pub fn new(c: &'c mut Criterion, name: &str) -> Group<'c> {
        Group {
            g: c.benchmark_group(name),
            name: name.into(),
        }
    }

    /// Benchmarks the rig `make` builds as `GROUP/system/param`, then finishes it.
    pub fn bench(&mut self, system: &str, param: &str, make: impl FnOnce() -> Box<dyn Rig>) {
        let id = format!("{}/{system}/{param}", self.name);
        if !selected(&id) {
            return;
        }
        let mut rig = make();
        self.g.bench_function(BenchmarkId::new(system, param), |b| {
            b.iter_custom(|n| rig.run(n))
        });
        rig.finish();
    }

    /// Ends the group.
    pub fn finish(self) {
        self.g.finish();
    }
}

/// The parameter string of a benchmark id: `r{readers}_s{size}_{ring}`, parsed back by the
/// report generator.
pub fn param(readers: usize, size: usize, ring: &str) -> String {
    format!("r{readers}_s{size}_{ring}")
}

/// Whether criterion's command-line filter (the first argument that is not a flag, taken as a
/// substring) selects the benchmark `id`; true without a filter.
pub fn selected(id: &str) -> bool {
    match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(f) => id.contains(f.as_str()),
        None => true,
    }
}
