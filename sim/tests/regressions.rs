//! Regression seeds of the simulator, kept forever (TigerBeetle's rule): every seed that
//! ever found a bug, in fmq-core or in the simulator itself, is replayed on every run of
//! `ci/sim.sh`, together with a fixed range of seeds and the exhaustive scenarios.
//!
//! Known fmq-core bugs (`sim/README.md`, "Known bugs") are tolerated in those runs, so that
//! everything else stays checked; [`known_bugs_still_reproduce`] pins each one to a seed
//! that must keep failing strictly with it, and tells when a fix lands.
//!
//! Built only with `--cfg fmq_sim`:
//! `CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim" cargo test --release -p fmq-sim`.
#![cfg(fmq_sim)]

use fmq_sim::exhaustive;
use fmq_sim::harness::Tolerate;
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
    (88, "fmq-core bug A"),
    (
        34,
        "fmq-core bug B (first seen): a stale incarnation of an id served after power loss",
    ),
    (46, "fmq-core bug A, 380 durable ids dropped"),
    (424, "fmq-core bug B"),
    (
        1673,
        "fmq-core bug B, an id issued four times across three power losses",
    ),
];

/// Seeds that fail strictly on a known fmq-core bug: (seed, tag in the failure, the bug).
const KNOWN_BUGS: &[(u64, &str, &str)] = &[
    (
        88,
        "known bug A",
        "Writer::recover keeps only the longest consistent suffix below youngest_id, so after \
         a power loss that wrote back the header page but not a younger slot's page it drops \
         every older message, flushed ones included (invariant 8)",
    ),
    (
        34,
        "known bug B",
        "ids above the disk's commit point are issued again after a power loss (and after a \
         crash); a slot page that the disk holds from an older incarnation of such an id has \
         the right stamp and a matching CRC, so recovery keeps it and readers return it",
    ),
];

fn tolerant() -> Options {
    Options {
        tolerate: Tolerate::parse("known").unwrap(),
        ..Options::default()
    }
}

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
        check(seed, &tolerant(), why);
    }
}

#[test]
fn seeds_0_to_200_pass() {
    let options = tolerant();
    for seed in 0..200 {
        check(seed, &options, "fixed range");
    }
}

#[test]
fn known_bugs_still_reproduce() {
    for &(seed, tag, bug) in KNOWN_BUGS {
        match run(seed, &Options::default()) {
            Ok(_) => panic!(
                "seed {seed} now passes strictly: is fmq-core's {tag} fixed ({bug})? Then \
                 remove it from KNOWN_BUGS and its --tolerate from ci/sim.sh and the tests"
            ),
            Err(f) => assert!(
                f.what.contains(tag),
                "seed {seed} should fail with {tag} ({bug}), but: {}",
                f.what
            ),
        }
    }
    let paged = exhaustive::scenarios()
        .into_iter()
        .find(|s| s.slots_count > 60)
        .unwrap();
    let strict = exhaustive::run_scenario(&paged, &Options::default());
    assert!(
        strict.as_ref().is_err_and(|e| e.contains("known bug A")),
        "exhaustive {} should fail strictly with known bug A: {strict:?}",
        paged.name
    );
}

#[test]
fn exhaustive_scenarios_pass() {
    let mut total = 0;
    for sc in exhaustive::scenarios() {
        match exhaustive::run_scenario(&sc, &tolerant()) {
            Ok(c) => total += c.total(),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(total > 10_000, "only {total} crash points");
}

#[test]
fn a_seed_replays_exactly() {
    let options = tolerant();
    let a = run(7, &options)
        .map(|r| (r.steps, r.stats))
        .map_err(|f| f.what);
    let b = run(7, &options)
        .map(|r| (r.steps, r.stats))
        .map_err(|f| f.what);
    assert_eq!(a, b);
}
