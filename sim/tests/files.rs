//! Regression seeds of the file-layer simulator (`src/files.rs`), kept forever: every seed
//! that found a defect, in fmq's file layer or in the simulator itself, replays on every run
//! of `ci/sim.sh`, with a fixed range of seeds. The first failing seed of each reverted fix
//! (`ci/sim-reverts.sh`) is here too, so each of those defects is caught again, here, by a
//! seed that passes today; `ci/sim-reverts.sh --regressions` checks that every seed whose
//! text names a patch (`NAME.patch`) still fails with that patch applied (a run drifts when
//! the code under it changes: those seeds keep their place, and their text says so).
//!
//! Built only with `--cfg fmq_sim`:
//! `CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim" cargo test --release -p fmq-sim --test files`.
#![cfg(fmq_sim)]

use fmq_sim::files::{run_files, run_files_on};

/// The rounds of a run, as `fmq-sim --files` draws them by default.
const ROUNDS_MAX: u64 = 60;

/// Seeds that once failed, and what they found. Each must pass.
const SEEDS: &[(u64, &str)] = &[
    (
        13,
        "fmq: a lock file of NUL bytes (a power loss kept its length, not its bytes) locked \
         the queue out for good (the first failing seed of the nullock revert until the \
         generation floor changed the runs; now 24); a remove that returned came undone at a \
         power loss (removesync.patch, as 24)",
    ),
    (
        662,
        "fmq: two creators past a removed lock file both succeeded, the second replacing the \
         first's live queue (linkpublish.patch)",
    ),
    (
        417,
        "fmq: a writer recovered a segment a re-creation under another name had just \
         replaced (the recheck revert's first failing seed before the generation floor; now \
         456)",
    ),
    (
        93,
        "fmq: a writer's open flushed into names its creator's death had left in the page \
         cache only; a power loss took the queue (the opensync revert's first failing seed \
         before the generation floor; now 554)",
    ),
    (
        39,
        "fmq: a remove that returned came undone at a power loss (removesync.patch)",
    ),
    (
        1,
        "fmq, issue 13: a create that failed after naming its new files left them behind \
         (leftovers.patch); a writer that opened a queue another writer held (token.patch)",
    ),
    (
        11_168,
        "fmq, issue 13: a reader took a re-creation in progress (a .stat and .buf of \
         different generations) for corruption (the settle revert's first failing seed before \
         the generation floor)",
    ),
    (
        34,
        "fmq, issue 13: remove and create --force destroyed a file without fmq's magic \
         (magic.patch)",
    ),
    (
        553,
        "fmq, issue 13: a re-creation's pair renamed without a backup left neither queue \
         (the pair revert's first failing seed before the generation floor; now 6)",
    ),
    (
        24,
        "fmq: a lock file of NUL bytes locked the queue out for good (nullock.patch, first \
         failing seed after the generation floor changed the runs)",
    ),
    (
        554,
        "fmq: a writer's open flushed into names not yet durable (opensync.patch, as 24)",
    ),
    (
        6,
        "fmq, issue 13: a re-creation's pair renamed without a backup (pair.patch, as 24)",
    ),
    (
        456,
        "fmq: a writer recovered a segment a re-creation under another name had just \
         replaced (recheck.patch, as 24)",
    ),
    (
        2_738_984_916_788_414_103,
        "sim: a queue seen gone after a remove that died came back at a power loss (its \
         rename was not durable); the model had forgotten it",
    ),
    (
        14_027_378_316_471_001_888,
        "sim: as 2738984916788414103, with clock steps",
    ),
    (
        109_521,
        "sim: a remove that returned dropped the queue a concurrent create --force under \
         the other name had made while it ran",
    ),
];

/// Seeds that once failed on a file system without OFD locks (`--no-ofd-locks`).
const SEEDS_WITHOUT_OFD_LOCKS: &[(u64, &str)] = &[(
    609,
    "fmq, issue 13: a writer whose lock file a remove unlinked between its open and its \
     flock took the queue beside the writer of the next lock file (lockedopen.patch; with \
     OFD locks the writer token refuses it too)",
)];

fn check(seed: u64, why: &str) {
    check_on(seed, why, true);
}

fn check_on(seed: u64, why: &str, ofd_locks: bool) {
    if let Err(f) = run_files_on(seed, ROUNDS_MAX, false, ofd_locks) {
        let flag = if ofd_locks { "" } else { " --no-ofd-locks" };
        panic!(
            "seed {seed} ({why}) failed at round {}: {}\n  swarm: {}\n  last events:\n    {}\n  \
             reproduce: CARGO_TARGET_DIR=target-sim RUSTFLAGS=\"--cfg fmq_sim\" cargo run \
             --release -p fmq-sim -- --files --seed {seed} --rounds-max {ROUNDS_MAX}{flag} --trace",
            f.round,
            f.what,
            f.swarm,
            f.trace.join("\n    "),
        );
    }
}

#[test]
fn file_layer_regression_seeds_pass() {
    for &(seed, why) in SEEDS {
        check(seed, why);
    }
}

#[test]
fn file_layer_regression_seeds_without_ofd_locks_pass() {
    for &(seed, why) in SEEDS_WITHOUT_OFD_LOCKS {
        check_on(seed, why, false);
    }
}

#[test]
fn file_layer_seeds_0_to_100_pass_without_ofd_locks() {
    for seed in 0..100 {
        check_on(seed, "fixed range, no OFD locks", false);
    }
}

#[test]
fn file_layer_seeds_0_to_200_pass() {
    for seed in 0..200 {
        check(seed, "fixed range");
    }
}

#[test]
fn a_file_layer_seed_replays_to_the_same_counters() {
    // Seed 6: kills, power losses, creates, opens and acknowledged messages.
    let a = run_files(6, ROUNDS_MAX, false).map_err(|f| f.what);
    let b = run_files(6, ROUNDS_MAX, false).map_err(|f| f.what);
    assert_eq!(a, b);
    let stats = a.expect("seed 6 passes");
    // The run did real work: it is not a replay of nothing.
    assert!(
        stats.kills > 0 && stats.power_losses > 0 && stats.creates > 0 && stats.acked > 0,
        "{stats:?}"
    );
}
