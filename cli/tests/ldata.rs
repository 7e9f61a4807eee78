//! `fmq ldata put` (issue 15, item 1) through the built binary: eight producer processes
//! at once into one directory, each waiting its turn, lose no event; `--from-file` moves the
//! file; the event and LROSE's files carry the fields given; `--json`; errors are one line.

use std::process::{Child, Command, Stdio};

use base64::Engine;

mod common;
use common::{assert_error, assert_ok, fmq, stdout, FMQ};

fn put(dir: &str, rel: &str, extra: &[&str]) -> Child {
    Command::new(FMQ)
        .args(["ldata", "put", dir, rel])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every event of DIR's event queue, in order, as JSON objects.
fn events(dir: &str) -> Vec<serde_json::Value> {
    let q = format!("{dir}/_fmq_ldata");
    let o = fmq(&["read", &q, "--from", "oldest", "--format", "json"]);
    assert_ok(&o);
    stdout(&o)
        .lines()
        .map(|l| {
            let m: serde_json::Value = serde_json::from_str(l).unwrap();
            let payload = base64::engine::general_purpose::STANDARD
                .decode(m["data_b64"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice(&payload).unwrap()
        })
        .collect()
}

#[test]
fn eight_producer_processes_at_once_each_wait_their_turn_and_lose_no_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    for round in 0..6 {
        let children: Vec<Child> = (0..8)
            .map(|p| {
                put(
                    dir,
                    &format!("p{p}/{round}.nc"),
                    &[
                        "--writer",
                        &format!("producer-{p}"),
                        "--time",
                        &(1000 + round).to_string(),
                    ],
                )
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let ev = events(dir);
    assert_eq!(ev.len(), 48);
    let mut paths: Vec<&str> = ev
        .iter()
        .map(|e| e["rel_data_path"].as_str().unwrap())
        .collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 48, "every event once");
    let xml = std::fs::read_to_string(tmp.path().join("_latest_data_info.xml")).unwrap();
    let last = ev.last().unwrap();
    assert!(
        xml.contains(&format!(
            "<rel_data_path>{}</rel_data_path>",
            last["rel_data_path"].as_str().unwrap()
        )),
        "the XML describes the youngest event: {xml}"
    );
}

#[test]
fn put_moves_the_file_and_records_every_field_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let src = tmp.path().join("in.mdv");
    std::fs::write(&src, b"grid").unwrap();
    let o = fmq(&[
        "ldata",
        "put",
        dir.to_str().unwrap(),
        "20261207/100000.mdv",
        "--from-file",
        src.to_str().unwrap(),
        "--time",
        "2026-12-07T10:00:00Z",
        "--type",
        "mdv",
        "--writer",
        "Ingest",
        "--lead",
        "3600",
        "--info1",
        "a & b",
        "--info2",
        "<two>",
        "--json",
    ]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["id"], 1);
    assert_eq!(v["unix_time"], 1_796_637_600i64);
    assert_eq!(
        (&v["is_forecast"], &v["forecast_lead_secs"]),
        (&true.into(), &3600.into())
    );
    assert!(!src.exists());
    assert_eq!(
        std::fs::read(dir.join("20261207/100000.mdv")).unwrap(),
        b"grid"
    );
    let xml = std::fs::read_to_string(dir.join("_latest_data_info.xml")).unwrap();
    assert!(xml.contains("<user_info1>a &amp; b</user_info1>"), "{xml}");
    assert!(
        xml.contains("<user_info2>&lt;two&gt;</user_info2>"),
        "{xml}"
    );
    assert!(xml.contains("<writer>Ingest</writer>") && xml.contains("<hour>10</hour>"));
    let ascii = std::fs::read_to_string(dir.join("_latest_data_info")).unwrap();
    assert_eq!(
        ascii,
        "1796637600 2026 12 7 10 0 0 \nmdv\na & b\n<two>\n1\n3600\n"
    );
    let ev = events(dir.to_str().unwrap());
    assert_eq!(ev[0]["writer"], "Ingest");
}

#[test]
fn put_errors_are_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    assert_error(
        &fmq(&["ldata", "put", "/nonexistent-fmq-dir", "a.nc"]),
        "is not a directory",
    );
    assert_error(
        &fmq(&["ldata", "put", dir, "../a.nc"]),
        "not a path inside the data directory",
    );
    assert_error(
        &fmq(&["ldata", "put", dir, "a.nc", "--time", "soon"]),
        "--time \"soon\"",
    );
    let missing = tmp.path().join("missing.nc");
    assert_error(
        &fmq(&[
            "ldata",
            "put",
            dir,
            "a.nc",
            "--from-file",
            missing.to_str().unwrap(),
        ]),
        "missing.nc",
    );
}

#[test]
fn ldata_demo_runs_both_watchers_on_every_file_and_misses_none() {
    let o = fmq(&["ldata", "demo", "--files", "25", "--rate", "100"]);
    assert_ok(&o);
    let out = stdout(&o);
    assert!(out.contains("files written  25"), "{out}");
    assert!(
        out.contains("watcher checksum ran sha256sum 25 times"),
        "{out}"
    );
    assert!(out.contains("watcher size     ran wc -c 25 times"), "{out}");
    assert!(out.contains("missed         0"), "{out}");
    assert!(
        out.contains("25 events") && out.contains("writer fmq-ldata-demo"),
        "the data map: {out}"
    );
}
