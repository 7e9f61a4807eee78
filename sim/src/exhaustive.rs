//! Exhaustive mode: small scripted workloads with a death injected after *every* store in
//! turn, each followed by recovery, a check of every message and further writes.
//!
//! * **Process crash**: for each store index `k` of the script (set-up and writes, a
//!   buffer wrap, padding, batches that must commit early), the writer dies after `k`
//!   stores; recovery follows, a fresh reader probes every intermediate state of the
//!   recovery, attached readers carry on, the rest of the script and more writes follow,
//!   and every reader must account for every id.
//! * **Power loss** (file-backed): for each flush point, for each store index after the
//!   flush, for every subset of the dirty pages (a page is on disk whole as of the death, or
//!   not at all); and, where the product is small enough, every combination of per-page
//!   prefixes at the end of the script. Invariant 8 is checked after each.
//!
//! A dry run first counts the stores and probes every state a crash-free run passes
//! through: a fresh reader reads the whole window before every store, so every
//! intermediate state of every write is read (DESIGN invariant 2).

use fmq_core::{Config, LagPolicy};

use crate::harness::{Cut, Harness, Setup};
use crate::oracle::NewMsg;
use crate::rng::{Rng, PPM};
use crate::run::Options;
use crate::storage::Part;
use crate::world::{CrashPlan, Death};

/// A scripted writer operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// One message of this many bytes.
    Write(usize),
    /// One batch of messages of these sizes.
    Batch(Vec<usize>),
}

/// A small configuration and its script.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its name.
    pub name: &'static str,
    /// Slots.
    pub slots_count: u32,
    /// Buffer bytes.
    pub buf_size_bytes: u64,
    /// The operations a death is injected into.
    pub script: Vec<Op>,
    /// Operations after the script (and after recovery).
    pub after: Vec<Op>,
    /// File-backed runs flush after this many script operations (0: only the format).
    pub flush_points: Vec<usize>,
}

/// The scenarios, smallest first.
pub fn scenarios() -> Vec<Scenario> {
    use Op::{Batch, Write};
    let mut paged: Vec<Op> = (0..55).map(|i| Write(i * 13 % 40)).collect();
    paged.push(Batch(vec![9, 17, 25]));
    paged.extend((0..8).map(|i| Write(8 + i * 5)));
    vec![
        Scenario {
            name: "two-slots-64-bytes",
            slots_count: 2,
            buf_size_bytes: 64,
            // 12 and 20 fill 0..40; 17 ends at the buffer's end; 30 wraps and reuses 0..32;
            // the batch's 40 needs padding and retires its own first message (early
            // commit); 64 is the whole buffer; 0 is an empty payload.
            script: vec![
                Write(12),
                Write(20),
                Write(17),
                Write(30),
                Batch(vec![8, 40]),
                Write(64),
                Write(0),
                Write(3),
            ],
            after: vec![Write(24), Write(40), Write(8)],
            flush_points: vec![0, 2, 5],
        },
        Scenario {
            name: "one-slot-128-bytes",
            slots_count: 1,
            buf_size_bytes: 128,
            script: vec![
                Write(100),
                Write(8),
                Batch(vec![16, 16, 16]),
                Write(128),
                Write(60),
            ],
            after: vec![Write(72), Write(72), Write(8)],
            flush_points: vec![0, 2],
        },
        Scenario {
            // 61 slots: the stat part is two pages (slot 60 is on the second), so a power
            // loss can separate the commit line from a slot.
            name: "61-slots-two-stat-pages",
            slots_count: 61,
            buf_size_bytes: 512,
            script: paged,
            after: vec![Write(100), Write(500), Write(8)],
            flush_points: vec![50, 57],
        },
    ]
}

/// What one scenario covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// The scenario.
    pub name: &'static str,
    /// Stores of a crash-free run of the script.
    pub stores: u64,
    /// Process crashes injected (one per store index, and after the last).
    pub process_points: u64,
    /// Power losses injected at a store index with a subset of the dirty pages on disk.
    pub power_points: u64,
    /// Power losses at the end of the script with every combination of page prefixes.
    pub power_cuts: u64,
}

impl Coverage {
    /// Every death injected.
    pub fn total(&self) -> u64 {
        self.process_points + self.power_points + self.power_cuts
    }
}

/// Above this many combinations of page prefixes, only subsets are enumerated.
const CUT_COMBINATIONS_MAX: u64 = 4_000;

fn message(op_index: usize, j: usize, len: usize) -> NewMsg {
    let mut rng = Rng::new(((op_index as u64) << 8) | j as u64);
    NewMsg {
        msg_type: op_index as i32,
        subtype: j as i32,
        time_ns: (op_index * 1000 + j) as i64,
        flags: 0,
        raw_len: len as u64,
        payload: rng.bytes(len),
    }
}

fn apply(h: &mut Harness, op_index: usize, op: &Op) -> Result<(), String> {
    match op {
        Op::Write(len) => h.write(&[message(op_index, 0, *len)], false),
        Op::Batch(lens) => {
            let msgs: Vec<NewMsg> = lens
                .iter()
                .enumerate()
                .map(|(j, &len)| message(op_index, j, len))
                .collect();
            h.write(&msgs, true)
        }
    }
}

/// A scenario run: the harness after the script, and the store count at the flush.
struct Played {
    h: Harness,
    stores_at_flush: u64,
}

fn play(
    sc: &Scenario,
    file_backed: bool,
    plan: CrashPlan,
    flush_at: Option<usize>,
    probe_every_store: bool,
    cut: Cut,
    opts: &Options,
) -> Result<Played, String> {
    let setup = Setup {
        config: Config {
            slots_count: sc.slots_count,
            buf_size_bytes: sc.buf_size_bytes,
            queue_flags: 0,
            creation_time_ns: 1_000,
            readers_max: 0,
            reader_timeout_ms: 0,
        },
        file_backed,
        plan,
        mid_read_ppm: PPM / 2,
        probe_every_store,
        probe_after_death: true,
        policies: vec![LagPolicy::ResumeAtOldest, LagPolicy::ResumeAtYoungest],
        echo: opts.echo,
    };
    let mut h = Harness::new(&setup, Rng::new(1))?;
    h.cut = cut;
    let mut stores_at_flush = 0;
    let traced = |e: String, h: &Harness| {
        format!("{e}\n  last events:\n    {}", h.trace_tail().join("\n    "))
    };
    if flush_at == Some(0) {
        h.flush().map_err(|e| traced(e, &h))?;
        stores_at_flush = h.stores_count();
    }
    for (i, op) in sc.script.iter().enumerate() {
        apply(&mut h, i, op).map_err(|e| traced(e, &h))?;
        for r in 0..h.readers_count() {
            h.read(r, 1).map_err(|e| traced(e, &h))?;
        }
        if flush_at == Some(i + 1) {
            h.flush().map_err(|e| traced(e, &h))?;
            stores_at_flush = h.stores_count();
        }
    }
    Ok(Played { h, stores_at_flush })
}

fn finish(sc: &Scenario, h: &mut Harness) -> Result<(), String> {
    for (i, op) in sc.after.iter().enumerate() {
        apply(h, sc.script.len() + i, op)?;
    }
    h.finish()
}

/// A failure of scenario `sc` during `what`, with the harness's last events if there is one.
fn ctx(sc: &Scenario, what: String, e: String, h: Option<&Harness>) -> String {
    match h {
        Some(h) => format!(
            "exhaustive {}: {what}: {e}\n  last events:\n    {}",
            sc.name,
            h.trace_tail().join("\n    ")
        ),
        None => format!("exhaustive {}: {what}: {e}", sc.name),
    }
}

/// Runs one scenario completely (`opts`: `echo` applies); a
/// failure names the death that exposed it.
pub fn run_scenario(sc: &Scenario, opts: &Options) -> Result<Coverage, String> {
    let mut cov = Coverage {
        name: sc.name,
        ..Coverage::default()
    };
    // Dry run: count the stores, probe every intermediate state.
    let mut dry = play(sc, false, CrashPlan::Never, None, true, Cut::Random, opts)
        .map_err(|e| ctx(sc, "dry run".into(), e, None))?;
    cov.stores = dry.h.stores_count();
    finish(sc, &mut dry.h).map_err(|e| ctx(sc, "dry run".into(), e, Some(&dry.h)))?;
    process_crashes(sc, opts, &mut cov)?;
    for &f in &sc.flush_points {
        let dry = play(
            sc,
            true,
            CrashPlan::Never,
            Some(f),
            false,
            Cut::Random,
            opts,
        )
        .map_err(|e| ctx(sc, format!("file dry run, flush after op {f}"), e, None))?;
        let pages = dry.h.dirty_pages();
        let stores = dry.stores_at_flush..=dry.h.stores_count();
        drop(dry);
        power_losses_at_stores(sc, opts, f, &pages, stores, &mut cov)?;
        power_cuts_at_end(sc, opts, f, &pages, &mut cov)?;
    }
    Ok(cov)
}

/// A process crash after every store of the scenario in turn.
fn process_crashes(sc: &Scenario, opts: &Options, cov: &mut Coverage) -> Result<(), String> {
    for k in 0..=cov.stores {
        let plan = CrashPlan::AtStore {
            index: k,
            death: Death::Process,
        };
        let what = || format!("process crash after store #{k}");
        let mut p = play(sc, false, plan, None, false, Cut::Random, opts)
            .map_err(|e| ctx(sc, what(), e, None))?;
        finish(sc, &mut p.h).map_err(|e| ctx(sc, what(), e, Some(&p.h)))?;
        cov.process_points += 1;
    }
    Ok(())
}

/// After a flush after op `f`: a power loss after every store from the flush on, with
/// every subset of the dirty `pages` on disk.
fn power_losses_at_stores(
    sc: &Scenario,
    opts: &Options,
    f: usize,
    pages: &[(Part, usize, usize)],
    stores: std::ops::RangeInclusive<u64>,
    cov: &mut Coverage,
) -> Result<(), String> {
    let all: Vec<(Part, usize)> = pages.iter().map(|&(p, n, _)| (p, n)).collect();
    for k in stores {
        for mask in 0u64..1 << all.len() {
            let on_disk: Vec<(Part, usize)> = (0..all.len())
                .filter(|i| mask >> i & 1 == 1)
                .map(|i| all[i])
                .collect();
            let what = || {
                format!(
                    "flush after op {f}, power loss after store #{k}, pages on disk {on_disk:?}"
                )
            };
            let plan = CrashPlan::AtStore {
                index: k,
                death: Death::Power,
            };
            let cut = Cut::Pages(on_disk.clone());
            let mut p = play(sc, true, plan, Some(f), false, cut, opts)
                .map_err(|e| ctx(sc, what(), e, None))?;
            finish(sc, &mut p.h).map_err(|e| ctx(sc, what(), e, Some(&p.h)))?;
            cov.power_points += 1;
        }
    }
    Ok(())
}

/// After a flush after op `f`: a power loss at the end with every combination of per-page
/// prefixes of the dirty `pages`' stores, where there are at most `CUT_COMBINATIONS_MAX`.
fn power_cuts_at_end(
    sc: &Scenario,
    opts: &Options,
    f: usize,
    pages: &[(Part, usize, usize)],
    cov: &mut Coverage,
) -> Result<(), String> {
    let combos: u64 = pages.iter().map(|&(_, _, n)| n as u64 + 1).product();
    if combos > CUT_COMBINATIONS_MAX {
        return Ok(());
    }
    let radix: Vec<usize> = pages.iter().map(|&(_, _, n)| n + 1).collect();
    for c in 0..combos {
        let mut rest = c as usize;
        let kept: Vec<usize> = radix
            .iter()
            .map(|&r| {
                let k = rest % r;
                rest /= r;
                k
            })
            .collect();
        let what = || {
            format!(
                "flush after op {f}, power loss at the end, page prefixes {kept:?} of {pages:?}"
            )
        };
        let mut p = play(
            sc,
            true,
            CrashPlan::Never,
            Some(f),
            false,
            Cut::Exact(kept.clone()),
            opts,
        )
        .map_err(|e| ctx(sc, what(), e, None))?;
        p.h.crash_now(Death::Power)
            .and_then(|()| finish(sc, &mut p.h))
            .map_err(|e| ctx(sc, what(), e, Some(&p.h)))?;
        cov.power_cuts += 1;
    }
    Ok(())
}
