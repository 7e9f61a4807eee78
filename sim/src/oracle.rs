//! The oracle: what the writer has published and the checker that every reader result goes
//! through. It lives in the test kit (`fmq_testkit::crash`), written from the spec and never
//! from the writer's code, beside the capacity rule it places messages by; this module names
//! it for the simulator.

pub use fmq_testkit::crash::{CrashOracle as Oracle, Msg, NewMsg, Outcome, Taint};
