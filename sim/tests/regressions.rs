//! Regression seeds of the simulator, kept forever (TigerBeetle's rule): every seed that
//! ever found a bug, in fmq-core or in the simulator itself, is replayed on every run of
//! `ci/sim.sh`, together with a fixed range of seeds and the exhaustive scenarios.
//!
//! Built only with `--cfg fmq_sim`:
//! `CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim" cargo test --release -p fmq-sim`.
#![cfg(fmq_sim)]

use fmq_sim::exhaustive;
use fmq_sim::run::{repro_command, run, Options};

/// Seeds that once failed, and what they found. Each must pass.
const SEEDS: &[(u64, &str)] = &[
    (
        35,
        "sim: per-store crash rates starved 8 KiB writes; crashes are armed per operation",
    ),
    (
        76,
        "sim: a reader parked at a future id counted as not caught up",
    ),
    (146, "sim: as 76, two-slot queue"),
    (159, "sim: as 76, batches larger than the queue"),
    (178, "sim: as 76, one-slot file-backed queue"),
    (284, "sim: as 76"),
    (
        28,
        "fmq-core bug A (first seen): flushed ids dropped after a power loss",
    ),
    (
        88,
        "fmq-core bug A: the youngest id's slot page not on disk, the header's page on disk",
    ),
    (
        46,
        "fmq-core bug A: 380 flushed ids dropped; a gap in the middle of the window",
    ),
    (1039, "fmq-core bug A or B: failed strictly before the fix"),
    (
        34,
        "fmq-core bug B (first seen): a stale incarnation of an id served after power loss",
    ),
    (424, "fmq-core bug B"),
    (
        1673,
        "fmq-core bug B, an id issued four times across three power losses",
    ),
    (
        5_707_791_918_561_420_525,
        "sim: obligations excused only by a retired obligation, not by a retired torn message \
         of the durable window (retirement is oldest first)",
    ),
    (10_606_353_813_755_921_770, "sim: as 5707791918561420525"),
    (4_080_463_804_104_488_357, "sim: as 5707791918561420525"),
    (11_542_130_716_370_219_458, "sim: as 5707791918561420525"),
    (3_966_089_139_237_774_683, "sim: as 5707791918561420525"),
    (2_150_519_385_321_529_244, "sim: as 5707791918561420525"),
    (9_954_969_401_081_604_636, "sim: as 5707791918561420525"),
    (10_579_347_663_214_518_280, "sim: as 5707791918561420525"),
    (
        14_495_425_475_933_766_005,
        "sim: a power loss during a recovery that had lowered the commit point in memory \
         (the oracle forgot the dropped messages before the recovery completed)",
    ),
];

fn check(seed: u64, options: &Options, why: &str) {
    if let Err(f) = run(seed, options) {
        panic!(
            "seed {seed} ({why}) failed at step {}: {}\n  swarm: {}\n  last events:\n    {}\n  \
             reproduce: {}",
            f.step,
            f.what,
            f.swarm,
            f.trace.join("\n    "),
            repro_command(seed, options)
        );
    }
}

#[test]
fn regression_seeds_pass() {
    for &(seed, why) in SEEDS {
        check(seed, &Options::default(), why);
    }
}

#[test]
fn seeds_0_to_200_pass() {
    let options = Options::default();
    for seed in 0..200 {
        check(seed, &options, "fixed range");
    }
}

#[test]
fn exhaustive_scenarios_pass() {
    let mut total = 0;
    for sc in exhaustive::scenarios() {
        match exhaustive::run_scenario(&sc, &Options::default()) {
            Ok(c) => total += c.total(),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(total > 10_000, "only {total} crash points");
}

#[test]
fn a_seed_replays_exactly() {
    let options = Options::default();
    let a = run(7, &options)
        .map(|r| (r.steps, r.stats))
        .map_err(|f| f.what);
    let b = run(7, &options)
        .map(|r| (r.steps, r.stats))
        .map_err(|f| f.what);
    assert_eq!(a, b);
}
