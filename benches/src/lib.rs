//! fmq's benchmark harness: what every scenario of `benches/*.rs` shares.
//!
//! * [`config`]: the criterion settings (short, so the whole suite fits the report's time
//!   budget) and the scenario dimensions (message sizes, rings).
//! * [`ctl`]: a small control block in `/dev/shm` through which the bench process (always the
//!   writer) and its reader processes (`fmq-bench-child`) say "ready", "stop" and how many
//!   messages each reader has taken (the reader-progress counters of the lossless runs).
//! * [`flow`]: the writer-side window that keeps a writer which never blocks (fmq,
//!   `tokio::sync::broadcast`) from overrunning readers in the lossless comparisons.
//! * [`child`]: the reader / echo roles run by the child binary, for fmq and every
//!   cross-process peer.
//! * [`record`]: results that criterion cannot hold (latency histograms, lossy counts), as
//!   JSON files beside criterion's own output, for the report generator.
//!
//! Nothing here asserts a speed; benchmarks only report (DESIGN §8).

pub mod child;
pub mod config;
pub mod ctl;
pub mod flow;
pub mod irig;
pub mod pingpong;
pub mod record;
pub mod rig;
pub mod spawn;
pub mod xrig;
