//! Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012): instead of one fixed mix of
//! operations and faults, every seed draws its own: queue size, message sizes, batching,
//! readers and their lag policies, fault rates, flush frequency. A bug that needs, say, many
//! tiny messages in a one-slot queue with no flushes is then found by the seeds that happen
//! to draw that corner, rather than diluted by a mix that averages every corner together.

use std::fmt;

use fmq_core::LagPolicy;

use crate::rng::Rng;

/// Which faults a run may inject (`--faults`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Process crashes, after any store or between operations.
    pub crash: bool,
    /// Power loss of a file-backed queue.
    pub power: bool,
    /// Readers that pause.
    pub lag: bool,
    /// Reads in the middle of a write (before any store, and straddling a whole write).
    pub midwrite: bool,
}

impl Faults {
    /// Every fault.
    pub const ALL: Faults = Faults {
        crash: true,
        power: true,
        lag: true,
        midwrite: true,
    };

    /// Parses `crash,power,lag,midwrite` (any subset; `none` for none).
    pub fn parse(s: &str) -> Result<Faults, String> {
        let mut f = Faults {
            crash: false,
            power: false,
            lag: false,
            midwrite: false,
        };
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "crash" => f.crash = true,
                "power" => f.power = true,
                "lag" => f.lag = true,
                "midwrite" => f.midwrite = true,
                "none" => {}
                "all" => f = Faults::ALL,
                _ => {
                    return Err(format!(
                        "unknown fault {name:?} (crash, power, lag, midwrite, all, none)"
                    ))
                }
            }
        }
        Ok(f)
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.crash, "crash"),
            (self.power, "power"),
            (self.lag, "lag"),
            (self.midwrite, "midwrite"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// How message sizes are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizes {
    /// 0 to 16 bytes.
    Tiny,
    /// 0 to 256 bytes (at most the buffer).
    Small,
    /// Mostly up to 64 bytes, one in ten up to the whole buffer.
    Mixed,
    /// A quarter of the buffer to all of it.
    Large,
    /// Whole words only, up to 512 bytes.
    Words,
}

/// Everything one seed draws (see the module docs).
#[derive(Clone, Debug)]
pub struct Swarm {
    /// Slots of the queue.
    pub slots_count: u32,
    /// Buffer size in bytes.
    pub buf_size_bytes: u64,
    /// File-backed (flush, power loss) or shared memory.
    pub file_backed: bool,
    /// Message sizes.
    pub sizes: Sizes,
    /// Chance that a write is a batch.
    pub batch_ppm: u32,
    /// Largest batch.
    pub batch_len_max: u64,
    /// Chance that a message is flagged compressed (the core only carries the flag).
    pub compressed_ppm: u32,
    /// Lag policy of each reader (1 to 4 readers).
    pub policies: Vec<LagPolicy>,
    /// Chance per step that a reading reader pauses.
    pub pause_ppm: u32,
    /// Longest pause, in steps.
    pub pause_steps_max: u64,
    /// Most reads per reader per step.
    pub reads_per_step_max: u64,
    /// Chance per writer operation (write, batch, recovery) of a process crash after one of
    /// its stores.
    pub crash_op_ppm: u32,
    /// Chance per step of a process crash between operations.
    pub crash_step_ppm: u32,
    /// Chance per writer operation of a power loss after one of its stores.
    pub power_op_ppm: u32,
    /// Chance per step of a power loss between operations.
    pub power_step_ppm: u32,
    /// Chance per step of a flush.
    pub flush_ppm: u32,
    /// Chance per step of a clean restart of the writer.
    pub restart_ppm: u32,
    /// Chance per store that a reader reads first.
    pub mid_read_ppm: u32,
    /// Chance per step that a write is straddled by a read.
    pub straddle_ppm: u32,
    /// Chance per step that a reader detaches and attaches elsewhere.
    pub reattach_ppm: u32,
    /// Chance per step that the writer writes nothing.
    pub idle_ppm: u32,
}

impl Swarm {
    /// Draws a swarm configuration, honouring which faults are enabled.
    pub fn draw(rng: &mut Rng, faults: Faults) -> Swarm {
        let slots_count = rng.pick(&[1, 2, 3, 4, 5, 8, 16, 31, 60, 61, 64, 100, 256, 1024]);
        let buf_size_bytes = rng.pick(&[
            64, 72, 128, 200, 256, 512, 1000, 4096, 4104, 8192, 12_288, 65_536,
        ]);
        let file_backed = rng.chance(500_000);
        let sizes = rng.pick(&[
            Sizes::Tiny,
            Sizes::Small,
            Sizes::Mixed,
            Sizes::Large,
            Sizes::Words,
        ]);
        let readers_count = rng.range(1, 4) as usize;
        let policy_mix = rng.below(3);
        let policies = (0..readers_count)
            .map(|_| match policy_mix {
                0 => LagPolicy::ResumeAtOldest,
                1 => LagPolicy::ResumeAtYoungest,
                _ => rng.pick(&[LagPolicy::ResumeAtOldest, LagPolicy::ResumeAtYoungest]),
            })
            .collect();
        let on = |enabled: bool, v: u32| if enabled { v } else { 0 };
        let batch_ppm = rng.pick(&[0, 50_000, 200_000, 500_000]);
        let batch_len_max = rng.pick(&[2, 4, 16, u64::from(slots_count) + 2]);
        Swarm {
            slots_count,
            buf_size_bytes,
            file_backed,
            sizes,
            batch_ppm,
            batch_len_max: batch_len_max.max(2),
            compressed_ppm: rng.pick(&[0, 100_000]),
            policies,
            pause_ppm: on(faults.lag, rng.pick(&[0, 20_000, 100_000, 300_000])),
            pause_steps_max: rng.pick(&[2, 10, 50, 300]),
            reads_per_step_max: rng.pick(&[1, 2, 4, 16]),
            crash_op_ppm: on(
                faults.crash,
                rng.pick(&[0, 5_000, 20_000, 100_000, 300_000]),
            ),
            crash_step_ppm: on(faults.crash, rng.pick(&[0, 2_000, 10_000])),
            power_op_ppm: on(
                faults.power && file_backed,
                rng.pick(&[0, 10_000, 50_000, 200_000]),
            ),
            power_step_ppm: on(
                faults.power && file_backed,
                rng.pick(&[0, 2_000, 10_000, 50_000]),
            ),
            flush_ppm: on(file_backed, rng.pick(&[0, 10_000, 100_000, 500_000])),
            restart_ppm: rng.pick(&[0, 5_000]),
            mid_read_ppm: on(faults.midwrite, rng.pick(&[0, 10_000, 100_000, 500_000])),
            straddle_ppm: on(faults.midwrite, rng.pick(&[0, 20_000, 100_000])),
            reattach_ppm: rng.pick(&[0, 5_000, 20_000]),
            idle_ppm: rng.pick(&[0, 100_000, 400_000]),
        }
    }

    /// A payload length by the size distribution.
    pub fn message_len(&self, rng: &mut Rng) -> usize {
        let b = self.buf_size_bytes;
        let len = match self.sizes {
            Sizes::Tiny => rng.range(0, 16),
            Sizes::Small => rng.range(0, 256),
            Sizes::Mixed => {
                if rng.chance(100_000) {
                    rng.range(0, b)
                } else {
                    rng.range(0, 64)
                }
            }
            Sizes::Large => rng.range(b / 4, b),
            Sizes::Words => rng.range(0, 64) * 8,
        };
        len.min(b) as usize
    }

    /// One line describing the configuration.
    pub fn describe(&self) -> String {
        format!(
            "slots {} buf {} {} sizes {:?} batch {}ppm<={} readers {:?} pause {}ppm<={} \
             crash {}/op {}/step ppm power {}/op {}/step ppm flush {}ppm restart {}ppm mid-read {}ppm \
             straddle {}ppm",
            self.slots_count,
            self.buf_size_bytes,
            if self.file_backed { "file" } else { "shm" },
            self.sizes,
            self.batch_ppm,
            self.batch_len_max,
            self.policies,
            self.pause_ppm,
            self.pause_steps_max,
            self.crash_op_ppm,
            self.crash_step_ppm,
            self.power_op_ppm,
            self.power_step_ppm,
            self.flush_ppm,
            self.restart_ppm,
            self.mid_read_ppm,
            self.straddle_ppm,
        )
    }
}
