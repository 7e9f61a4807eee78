//! # fmq-model: models of the fmq-core protocol
//!
//! The models live in `tests/` and are compiled only under a model cfg:
//!
//! * `RUSTFLAGS="--cfg fmq_loom" cargo test -p fmq-model --release` (own `CARGO_TARGET_DIR`,
//!   see `ci/loom.sh`): exhaustive interleavings of one writer and up to two readers, each
//!   model named after the invariant it checks (DESIGN §4).
//! * `RUSTFLAGS="--cfg fmq_shuttle" cargo test -p fmq-model --release --test
//!   shuttle_protocol` (own `CARGO_TARGET_DIR`, see `ci/shuttle.sh`): one writer and 3 to 8
//!   readers over thousands of messages, random and PCT schedules.
//!
//! This library holds what the models share: small queue configurations, and, re-exported
//! from the test kit (`fmq-testkit`, where every oracle and generator of the tests lives
//! once), payloads that name their id, so that a torn or stale copy is recognisable, and
//! (for the shuttle models) the capacity rule that predicts which ids the writer keeps. The
//! fuzz target bodies are in `fmq_testkit::fuzz`.

use fmq_core::Config;

pub use fmq_testkit::payload::{
    fill_payload, first_wrong_byte, id_bytes as payload, mix, payload_byte, varied_len,
};
pub use fmq_testkit::CapacityOracle;

/// A queue of `slots_count` slots and `buf_size_bytes` of buffer.
pub fn config(slots_count: u32, buf_size_bytes: u64) -> Config {
    Config {
        slots_count,
        buf_size_bytes,
        ..Config::default()
    }
}
