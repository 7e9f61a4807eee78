//! The one place atomics come from.
//!
//! Every other file of fmq-core imports `AtomicU64`, `fence` and `Ordering` from here, never
//! from `core::sync::atomic` directly (the tidy test in `tests/tidy.rs` enforces it). The
//! facade switches on namespaced cfgs, as tokio's `crate::loom` and crossbeam's
//! `crossbeam_loom` do:
//!
//! * default: `core::sync::atomic`, the real thing;
//! * `--cfg fmq_loom`: loom's checked atomics, for exhaustive interleaving models;
//! * `--cfg fmq_shuttle`: shuttle's atomics, for randomized schedules with many threads.
//!
//! The protocol only ever uses 64-bit atomics on the shared region, so `AtomicU64` is the only
//! type re-exported; 32-bit format fields are packed in pairs into one word and always
//! accessed as the whole word (DESIGN invariant 3: one access size per location).

#[cfg(all(fmq_loom, fmq_shuttle))]
compile_error!("choose one of --cfg fmq_loom and --cfg fmq_shuttle, not both");

#[cfg(not(target_has_atomic = "64"))]
compile_error!("fmq needs native 64-bit atomics (target_has_atomic = \"64\")");

#[cfg(fmq_loom)]
pub use loom::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(fmq_shuttle)]
pub use shuttle::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(not(any(fmq_loom, fmq_shuttle)))]
pub use core::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(not(any(fmq_loom, fmq_shuttle)))]
static_assertions::const_assert!(core::mem::size_of::<AtomicU64>() == 8);
#[cfg(not(any(fmq_loom, fmq_shuttle)))]
static_assertions::const_assert!(core::mem::align_of::<AtomicU64>() == 8);
