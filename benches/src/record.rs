//! Results criterion cannot hold (latency percentiles from a direct histogram, lossy-mode
//! counts): one JSON object per line in `$CARGO_TARGET_DIR/fmq-bench/extra.jsonl`, read by
//! the report generator (`fmq-perf-report`). A `--test` (smoke) run writes nothing.

use std::io::Write;

use serde_json::Value;

/// The file the records go to.
pub fn extra_path() -> std::path::PathBuf {
    crate::config::target_dir()
        .join("fmq-bench")
        .join("extra.jsonl")
}

/// Appends one record: `{"scenario": .., "id": .., ...fields}`.
pub fn write(scenario: &str, id: &str, mut fields: serde_json::Map<String, Value>) {
    if crate::config::smoke() {
        return;
    }
    fields.insert("scenario".into(), scenario.into());
    fields.insert("id".into(), id.into());
    let path = extra_path();
    std::fs::create_dir_all(path.parent().expect("parent")).expect("create fmq-bench dir");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open extra.jsonl");
    writeln!(f, "{}", Value::Object(fields)).expect("write extra.jsonl");
}

/// Percentiles of a latency histogram in nanoseconds, as JSON fields.
pub fn percentiles(h: &hdrhistogram::Histogram<u64>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("count".into(), h.len().into());
    m.insert("p50_ns".into(), h.value_at_quantile(0.5).into());
    m.insert("p99_ns".into(), h.value_at_quantile(0.99).into());
    m.insert("p999_ns".into(), h.value_at_quantile(0.999).into());
    m.insert("max_ns".into(), h.max().into());
    m.insert("mean_ns".into(), h.mean().into());
    m
}
