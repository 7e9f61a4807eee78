//! # fmq-testkit: what fmq's tests check against
//!
//! One crate (`publish = false`) for everything the tests of fmq-core, the models
//! (`model/`), the simulator (`sim/`) and the fuzz targets (`fuzz/`) share, so that each
//! oracle exists once and the only code a test checks against is here, apart from the code
//! under test.
//!
//! | module | what | independent of |
//! | --- | --- | --- |
//! | [`capacity`] | the capacity rule (which ids are present, where each starts) and the reading rules (lag count and resume point, start points), from `docs/design.md` | the writer and the reader: no region, no fmq-core code but the `LagPolicy` and `StartAt` enums |
//! | [`queue`] | [`QueueOracle`]: the messages present, by the capacity rule, with their bytes and metadata; what a read must return | any region |
//! | [`crash`] | [`CrashOracle`]: the simulator's model of what was published, through process crashes and power losses, and the checker of every read | any region; it is told the writer's commit stores by the simulator's hook |
//! | [`payload`] | payload generators (noise, id bytes, position-dependent bytes) and their checks | fmq-core entirely |
//! | [`power_loss`] | power-loss disks assembled page by page from snapshots | the format: it copies words, it does not interpret them |
//! | [`fuzz`] | the bodies of the cargo-fuzz targets (also replayed on stable by `model/tests/fuzz_corpus.rs`) | checked against the oracles above and the region's own bytes |
//!
//! Users: `core/tests` (the differential property test, hostile memory, power loss, threads,
//! protocol), `model` (its shuttle and loom models take payloads and the capacity rule
//! through `fmq_model`'s re-exports), `sim` (the crash oracle), `fuzz/` and
//! `model/tests/fuzz_corpus.rs` (the fuzz bodies).
//!
//! The kit compiles under `--cfg fmq_loom` and `--cfg fmq_shuttle` (the models link it);
//! the parts that touch regions ([`power_loss`], [`fuzz`], [`region`]) are left out there,
//! since regions of loom or shuttle atomics exist only inside a model.

pub mod capacity;
pub mod crash;
#[cfg(not(any(fmq_loom, fmq_shuttle)))]
pub mod fuzz;
pub mod payload;
#[cfg(not(any(fmq_loom, fmq_shuttle)))]
pub mod power_loss;
pub mod queue;

pub use capacity::{CapacityOracle, Expect, Placement};
pub use crash::CrashOracle;
pub use payload::noise;
pub use queue::QueueOracle;

use fmq_core::Config;

/// A test queue of `slots` slots and `buf` bytes of buffer: a fixed creation time, no
/// blocking mode, everything else the defaults.
pub fn config(slots: u32, buf: u64) -> Config {
    Config {
        slots_count: slots,
        buf_size_bytes: buf,
        creation_time_ns: 1_000,
        readers_max: 0,
        reader_timeout_ms: 0,
        ..Config::default()
    }
}

/// A zeroed region for `cfg`.
#[cfg(not(any(fmq_loom, fmq_shuttle)))]
pub fn region(cfg: &Config) -> fmq_core::HeapRegion {
    fmq_core::HeapRegion::new(&fmq_core::Layout::from_config(cfg).expect("a valid config"))
}
