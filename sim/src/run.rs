//! One seeded random run (TigerBeetle's VOPR): the seed draws a swarm configuration, then
//! a sequence of steps, each a writer operation (a message, a batch, or nothing), perhaps a
//! flush, a crash between operations, a power loss, a clean restart, a reader that moves or
//! pauses, and reads by every reader that is not paused. Inside the writer's operations the
//! store hook adds crashes and power losses after any store, and reads before any store.
//! The same seed and options replay the same run, store for store.

use fmq_core::Config;

use crate::harness::{Harness, Setup};
use crate::oracle::NewMsg;
use crate::rng::Rng;
use crate::swarm::{Faults, Swarm};
use crate::world::{CrashPlan, Death, Stats};

/// What a run may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Most steps (each run draws its length from a quarter of this to all of it).
    pub steps_max: u64,
    /// Faults enabled.
    pub faults: Faults,
    /// Print every event.
    pub echo: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            steps_max: 1_000,
            faults: Faults::ALL,
            echo: false,
        }
    }
}

/// A run that passed.
#[derive(Clone, Debug)]
pub struct RunStats {
    /// Its seed.
    pub seed: u64,
    /// Steps taken.
    pub steps: u64,
    /// Counters.
    pub stats: Stats,
    /// The swarm configuration.
    pub swarm: String,
}

/// A run that failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Its seed.
    pub seed: u64,
    /// The step it failed in.
    pub step: u64,
    /// What was wrong.
    pub what: String,
    /// The swarm configuration.
    pub swarm: String,
    /// The last events before the failure.
    pub trace: Vec<String>,
}

/// The command that replays run `seed` with `options`.
pub fn repro_command(seed: u64, options: &Options) -> String {
    format!(
        "CARGO_TARGET_DIR=target-sim RUSTFLAGS=\"--cfg fmq_sim\" cargo run --release -p fmq-sim \
         -- --seed {seed} --steps-max {} --faults {}",
        options.steps_max, options.faults,
    )
}

/// Runs seed `seed`.
pub fn run(seed: u64, options: &Options) -> Result<RunStats, Failure> {
    let mut rng = Rng::new(seed);
    let swarm = Swarm::draw(&mut rng.fork(), options.faults);
    let mut work = rng.fork();
    let steps = work.range((options.steps_max / 4).max(1), options.steps_max.max(1));
    let setup = Setup {
        config: Config {
            slots_count: swarm.slots_count,
            buf_size_bytes: swarm.buf_size_bytes,
            queue_flags: 0,
            creation_time_ns: 1_000,
            readers_max: 0,
            reader_timeout_ms: 0,
        },
        file_backed: swarm.file_backed,
        plan: CrashPlan::PerOp {
            process_ppm: swarm.crash_op_ppm,
            power_ppm: swarm.power_op_ppm,
        },
        mid_read_ppm: swarm.mid_read_ppm,
        probe_every_store: false,
        probe_after_death: false,
        policies: swarm.policies.clone(),
        echo: options.echo,
    };
    let fail = |step: u64, what: String, trace: Vec<String>| Failure {
        seed,
        step,
        what,
        swarm: swarm.describe(),
        trace,
    };
    let mut h = Harness::new(&setup, rng.fork()).map_err(|e| fail(0, e, Vec::new()))?;
    h.note(format!("seed {seed}: {}", swarm.describe()));
    for step in 0..steps {
        if let Err(e) = one_step(&mut h, &swarm, &mut work, step) {
            return Err(fail(step, e, h.trace_tail()));
        }
    }
    if let Err(e) = h.finish() {
        return Err(fail(steps, e, h.trace_tail()));
    }
    Ok(RunStats {
        seed,
        steps,
        stats: h.stats(),
        swarm: swarm.describe(),
    })
}

fn messages(swarm: &Swarm, rng: &mut Rng) -> (Vec<NewMsg>, bool) {
    let batch = rng.chance(swarm.batch_ppm);
    let count = if batch {
        rng.range(1, swarm.batch_len_max)
    } else {
        1
    };
    let msgs = (0..count)
        .map(|_| {
            let len = swarm.message_len(rng);
            let compressed = rng.chance(swarm.compressed_ppm);
            NewMsg {
                msg_type: rng.next_u64() as i32,
                subtype: rng.next_u64() as i32,
                time_ns: rng.next_u64() as i64,
                flags: u32::from(compressed),
                raw_len: if compressed {
                    rng.range(len as u64, 4 * len as u64 + 8)
                } else {
                    len as u64
                },
                payload: rng.bytes(len),
            }
        })
        .collect();
    (msgs, batch)
}

fn one_step(h: &mut Harness, swarm: &Swarm, rng: &mut Rng, step: u64) -> Result<(), String> {
    let readers = h.readers_count();
    if rng.chance(swarm.straddle_ppm) {
        let (msgs, batch) = messages(swarm, rng);
        let i = rng.below(readers as u64) as usize;
        h.straddle(i, &msgs, batch)?;
    } else if !rng.chance(swarm.idle_ppm) {
        let (msgs, batch) = messages(swarm, rng);
        h.write(&msgs, batch)?;
    }
    if rng.chance(swarm.flush_ppm) {
        h.flush()?;
    }
    if rng.chance(swarm.crash_step_ppm) {
        h.crash_now(Death::Process)?;
    }
    if rng.chance(swarm.power_step_ppm) {
        h.crash_now(Death::Power)?;
    }
    if rng.chance(swarm.restart_ppm) {
        h.restart()?;
    }
    if rng.chance(swarm.reattach_ppm) {
        h.reattach(rng.below(readers as u64) as usize)?;
    }
    for i in 0..readers {
        if !h.is_reading(i, step) {
            continue;
        }
        if rng.chance(swarm.pause_ppm) {
            h.pause(i, step + rng.range(1, swarm.pause_steps_max));
        } else {
            h.read(i, rng.range(1, swarm.reads_per_step_max))?;
        }
    }
    Ok(())
}
