//! # fmq-sim: deterministic simulation of fmq-core
//!
//! In the style of TigerBeetle's VOPR: one `u64` seed draws a whole run (queue size,
//! workload, faults, reader schedule), and the same seed replays it store for store. Faults
//! are injected through the store hook that fmq-core's atomics facade provides under
//! `--cfg fmq_sim` (`core/src/sync.rs`): the hook sees every store fmq-core makes to region
//! memory, before it happens, and may drop it.
//!
//! * `storage`: the simulated region and disk, with the fault model at the top;
//! * `world`: the store hook (recorder, crash injection, reads in the middle of a write);
//! * `oracle`: the model of what was published, and the checker of every read;
//! * `reader`: a reader under test and its accounting;
//! * `harness`: the driver: operations, faults, recoveries, and their checks;
//! * `swarm`: the per-seed configuration (swarm testing);
//! * `run`: one seeded random run;
//! * `exhaustive`: small scripts with a death after every store in turn;
//! * `fs`: the simulated kernel (names, inodes, locks, mappings, durability, processes, a
//!   deterministic scheduler) under fmq's file layer (`fmq/src/sys.rs`);
//! * `files`: the file-layer simulator: fmq's real create, open, remove and recovery by
//!   simulated processes that die at any call, with power losses and hostile neighbours.
//!
//! The crate builds in the normal workspace too, as a stub: everything but [`rng`] needs
//! `--cfg fmq_sim`. Build and run it with
//! `CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim" cargo run --release -p fmq-sim`
//! (see `sim/README.md`).

pub mod rng;

#[cfg(fmq_sim)]
pub mod exhaustive;
#[cfg(fmq_sim)]
pub mod files;
#[cfg(fmq_sim)]
pub mod fs;
#[cfg(fmq_sim)]
pub mod harness;
#[cfg(fmq_sim)]
pub mod oracle;
#[cfg(fmq_sim)]
pub mod reader;
#[cfg(fmq_sim)]
pub mod run;
#[cfg(fmq_sim)]
pub mod storage;
#[cfg(fmq_sim)]
pub mod swarm;
#[cfg(fmq_sim)]
pub mod world;

/// How to build and run the simulator (printed by the stub binary).
pub const HOW_TO_RUN: &str = "fmq-sim needs fmq-core's store hook; build it with --cfg fmq_sim:\n  \
     CARGO_TARGET_DIR=target-sim RUSTFLAGS=\"--cfg fmq_sim\" cargo run --release -p fmq-sim -- --seed 1\n\
     or run ci/sim.sh (see sim/README.md).";
