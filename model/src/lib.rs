//! # fmq-model: models of the fmq-core protocol
//!
//! The models live in `tests/` and are compiled only under a model cfg:
//!
//! * `RUSTFLAGS="--cfg fmq_loom" cargo test -p fmq-model --release` (own `CARGO_TARGET_DIR`,
//!   see `ci/loom.sh`): exhaustive interleavings of one writer and up to two readers, each
//!   model named after the invariant it checks (DESIGN §4).
//!
//! This library holds what the models share: small queue configurations and payloads that
//! name their id, so that a torn or stale copy is recognisable.

#[cfg(not(any(fmq_loom, fmq_shuttle)))]
pub mod fuzz;

use fmq_core::Config;

/// A queue of `slots_count` slots and `buf_size_bytes` of buffer.
pub fn config(slots_count: u32, buf_size_bytes: u64) -> Config {
    Config {
        slots_count,
        buf_size_bytes,
        ..Config::default()
    }
}

/// The payload of message `id`: `len` bytes, every one equal to `id as u8`, so that a copy
/// mixing two messages (torn) or holding another message (stale) is detected even if the
/// CRC were not checked.
pub fn payload(id: u64, len: usize) -> Vec<u8> {
    vec![id as u8; len]
}
