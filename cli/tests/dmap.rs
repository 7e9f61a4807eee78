//! The data map (issue 15, item 3) through the built binary: `fmq ldata put` records every
//! event in SQLite (a private `FMQ_STATE_DIR`), `fmq dmap list` is PrintDataMap's table with
//! late data sets marked, eight producer processes at once lose no update and leave the
//! database intact, a corrupt, locked or unreachable map is one warning line and the put
//! still succeeds within its timeout, and `fmq dmap serve`'s page renders in headless
//! chromium with the data sets listed, beside its JSON API and Prometheus metrics.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{stdout, text, FMQ};

fn fmq_state(state: &Path, args: &[&str]) -> Output {
    Command::new(FMQ)
        .args(args)
        .env("FMQ_STATE_DIR", state)
        .output()
        .unwrap()
}

fn put(state: &Path, dir: &Path, rel: &str, extra: &[&str]) -> Output {
    let mut a = vec!["ldata", "put", dir.to_str().unwrap(), rel];
    a.extend_from_slice(extra);
    fmq_state(state, &a)
}

fn list_json(state: &Path) -> Vec<serde_json::Value> {
    let o = fmq_state(state, &["dmap", "list", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_str::<serde_json::Value>(&stdout(&o))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn dmap_list_shows_every_data_set_with_its_latest_file_and_marks_late_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (radar, sat) = (tmp.path().join("radar"), tmp.path().join("sat"));
    std::fs::create_dir(&radar).unwrap();
    std::fs::create_dir(&sat).unwrap();
    std::fs::write(radar.join("v1.nc"), vec![0u8; 1000]).unwrap();
    std::fs::write(radar.join("v2.nc"), vec![0u8; 500]).unwrap();
    for (dir, rel, extra) in [
        (
            &radar,
            "v1.nc",
            vec!["--writer", "ingest", "--time", "2026-12-07T10:00:00Z"],
        ),
        (
            &radar,
            "v2.nc",
            vec!["--writer", "ingest", "--time", "2026-12-07T10:05:00Z"],
        ),
        // Older data arriving later: the latest file and writer stay.
        (
            &radar,
            "v0.nc",
            vec!["--writer", "late-one", "--time", "2026-12-07T09:00:00Z"],
        ),
        (
            &sat,
            "img.png",
            vec!["--type", "sat", "--time", "2000-01-01T00:00:00Z"],
        ),
    ] {
        let o = put(&state, dir, rel, &extra);
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{}",
            text(&o.stderr)
        );
    }
    let rows = list_json(&state);
    assert_eq!(rows.len(), 2);
    let r = rows.iter().find(|r| r["data_type"] == "nc").unwrap();
    assert_eq!((&r["events"], &r["bytes"]), (&3.into(), &1500.into()));
    assert_eq!(
        (&r["latest_file"], &r["writer"]),
        (&"v2.nc".into(), &"ingest".into())
    );
    assert_eq!(r["latest_time"], 1_796_637_900i64);
    let o = fmq_state(
        &state,
        &["dmap", "list", "--stale", "86400", "--sort", "age"],
    );
    let table = stdout(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("HOST") && lines[0].contains("EVENTS"),
        "{table}"
    );
    assert!(
        lines[1].contains("sat") && lines[1].ends_with("LATE"),
        "oldest first, late: {table}"
    );
    let o = fmq_state(&tmp.path().join("empty"), &["dmap", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("no data map yet"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn eight_producer_processes_lose_no_update_and_leave_the_database_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let dirs: Vec<_> = (0..2).map(|i| tmp.path().join(format!("d{i}"))).collect();
    for d in &dirs {
        std::fs::create_dir(d).unwrap();
    }
    let per = 25;
    let children: Vec<Child> = (0..8)
        .map(|p| {
            let dir = &dirs[p % 2];
            let script = format!(
                "i=0; while [ $i -lt {per} ]; do '{FMQ}' ldata put '{}' p{p}-$i.nc >/dev/null || exit 1; i=$((i+1)); done",
                dir.display()
            );
            Command::new("sh")
                .args(["-c", &script])
                .env("FMQ_STATE_DIR", &state)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(
            !text(&o.stderr).contains("warning"),
            "a data map update was lost: {}",
            text(&o.stderr)
        );
    }
    let rows = list_json(&state);
    let events: i64 = rows.iter().map(|r| r["events"].as_i64().unwrap()).sum();
    assert_eq!(events, 8 * per, "{rows:?}");
    let c = rusqlite::Connection::open(state.join("datamap.sqlite")).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_corrupt_locked_or_unreachable_map_is_one_warning_and_the_put_still_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let check = |state: &Path, rel: &str, says: &str, within: Duration| {
        let started = Instant::now();
        let o = put(state, &dir, rel, &[]);
        let took = started.elapsed();
        assert!(o.status.success(), "the put failed: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("fmq: warning: data map") && err.contains(says),
            "{err}"
        );
        assert!(err.contains("the event was recorded"), "{err}");
        assert!(took < within, "the put waited {took:?} for the map");
    };
    // Corrupt.
    let corrupt = tmp.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("datamap.sqlite"), vec![0x5a; 8192]).unwrap();
    check(&corrupt, "a.nc", "not a database", Duration::from_secs(20));
    // Locked for long: another process holds an exclusive transaction.
    let locked = tmp.path().join("locked");
    assert!(put(&locked, &dir, "first.nc", &[]).status.success());
    let holder = rusqlite::Connection::open(locked.join("datamap.sqlite")).unwrap();
    holder
        .execute_batch("BEGIN EXCLUSIVE; UPDATE datasets SET events = events;")
        .unwrap();
    check(&locked, "b.nc", "locked", Duration::from_secs(20));
    holder.execute_batch("COMMIT").unwrap();
    // Unreachable: the state directory cannot be made.
    check(
        Path::new("/proc/fmq-no-such-dir"),
        "c.nc",
        "/proc/fmq-no-such-dir",
        Duration::from_secs(20),
    );
    // Every event is in the directory's event queue all the same.
    let o = Command::new(FMQ)
        .args(["ldata", "read", dir.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o).lines().count(), 4, "{}", stdout(&o));
}

/// Runs `fmq dmap serve` on a free loopback port; returns it and its base URL.
fn serve(state: &Path) -> (Child, String) {
    let mut c = Command::new(FMQ)
        .args([
            "dmap",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--stale",
            "3600",
        ])
        .env("FMQ_STATE_DIR", state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
    (c, url)
}

fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn the_status_page_renders_in_headless_chromium_with_the_data_sets_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let dir = tmp.path().join("radar <&> data");
    std::fs::create_dir(&dir).unwrap();
    assert!(put(&state, &dir, "20261207/v1.nc", &["--writer", "ingest"])
        .status
        .success());
    assert!(put(
        &state,
        &dir,
        "old.nc",
        &["--type", "old", "--time", "2001-01-01T00:00:00Z"]
    )
    .status
    .success());
    let (mut server, url) = serve(&state);
    let api = http_get(&format!("{url}api/datasets"));
    assert!(
        api.starts_with("HTTP/1.1 200") && api.contains("application/json"),
        "{api}"
    );
    let body = api.split("\r\n\r\n").nth(1).unwrap();
    let sets: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(sets.as_array().unwrap().len(), 2);
    let metrics = http_get(&format!("{url}metrics"));
    assert!(
        metrics.contains("# TYPE fmq_dataset_events_total counter"),
        "{metrics}"
    );
    assert!(metrics.contains("type=\"old\"} 1\n"), "{metrics}");
    assert!(http_get(&format!("{url}nope")).starts_with("HTTP/1.1 404"));

    let profile = tmp.path().join("chromium-profile");
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .output()
        .expect("chromium (ci/setup.sh installs it)");
    let _ = server.kill();
    let _ = server.wait();
    assert!(o.status.success(), "chromium: {}", text(&o.stderr));
    let dom = text(&o.stdout);
    let rows = dom.matches("<tr class=\"dataset").count();
    assert_eq!(rows, 2, "two data sets rendered:\n{dom}");
    assert!(
        dom.contains("radar &lt;&amp;&gt; data"),
        "the directory, escaped:\n{dom}"
    );
    assert!(dom.contains("20261207/v1.nc") && dom.contains("ingest"));
    assert!(
        dom.contains("<tr class=\"dataset late\">"),
        "the 2001 data set is late"
    );
    assert!(
        dom.contains("id=\"queues\"") && dom.contains("_fmq_ldata"),
        "its event queue listed"
    );
    assert!(
        dom.contains("http-equiv=\"refresh\""),
        "the page refreshes itself"
    );
}
