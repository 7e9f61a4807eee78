//! `fmq dmap list` (LROSE's PrintDataMap) and `fmq dmap serve` (a JSON API at
//! `/api/datasets`, Prometheus text at `/metrics`, a status page at `/` that refreshes
//! itself: data sets and their age, the fmq queues of their directories and their rates,
//! the watchers and their lag). The server listens where it is told (loopback in the tests),
//! reads at most 8 KiB of a request with a 5 s timeout, and answers one request per
//! connection.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fmq_ldata::dmap::{self, DataSet};

use crate::util::{human_bytes, outln, utc, with_stdout};

/// `fmq dmap`'s commands.
#[derive(clap::Subcommand, Debug)]
pub enum DmapCommand {
    /// PrintDataMap: every data set (host, directory, type) with its latest data time and
    /// age, latest file, writer, events and bytes; late ones (--stale) marked LATE.
    List {
        /// One JSON array.
        #[arg(long)]
        json: bool,
        /// Mark data sets whose latest data is older than SECS.
        #[arg(long, value_name = "SECS", value_parser = crate::util::parse_secs)]
        stale: Option<f64>,
        /// name (host, dir, type), age (oldest first) or type.
        #[arg(long, default_value = "name", value_parser = ["name", "age", "type"])]
        sort: String,
    },
    /// Serve the data map: /api/datasets (JSON), /metrics (Prometheus), / (a status page
    /// that refreshes itself).
    Serve {
        /// Address to listen on (e.g. 127.0.0.1:8080; port 0 picks a free one, printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Data sets older than SECS are marked late on the page.
        #[arg(long, value_name = "SECS", default_value = "600", value_parser = crate::util::parse_secs)]
        stale: f64,
    },
}

const BUSY: Duration = Duration::from_secs(2);

pub fn run(cmd: DmapCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DmapCommand::List { json, stale, sort } => list(json, stale, &sort),
        DmapCommand::Serve { listen, stale } => serve(&listen, stale),
    }
}

fn age_s(d: &DataSet) -> i64 {
    (fmq::now_ns() / 1_000_000_000 - d.latest_time).max(0)
}

fn list(json: bool, stale: Option<f64>, sort: &str) -> anyhow::Result<ExitCode> {
    let mut sets = dmap::list(&dmap::state_dir(), BUSY)?;
    match sort {
        "age" => sets.sort_by_key(|d| std::cmp::Reverse(age_s(d))),
        "type" => sets.sort_by(|a, b| a.data_type.cmp(&b.data_type).then(a.dir.cmp(&b.dir))),
        _ => {}
    }
    let late = |d: &DataSet| stale.is_some_and(|s| age_s(d) as f64 > s);
    with_stdout(|out| {
        if json {
            let v: Vec<serde_json::Value> = sets
                .iter()
                .map(|d| {
                    let mut v = serde_json::to_value(d).unwrap_or_default();
                    v["age_s"] = age_s(d).into();
                    v["late"] = late(d).into();
                    v
                })
                .collect();
            writeln!(out, "{}", serde_json::Value::from(v))?;
            return Ok(());
        }
        writeln!(
            out,
            "{:<12} {:<36} {:<8} {:<19} {:>8} {:>8} {:>9} {:<14} FILE",
            "HOST", "DIR", "TYPE", "LATEST", "AGE", "EVENTS", "BYTES", "WRITER"
        )?;
        for d in &sets {
            writeln!(
                out,
                "{:<12} {:<36} {:<8} {:<19} {:>7}s {:>8} {:>9} {:<14} {}{}",
                d.host,
                d.dir,
                d.data_type,
                &utc(d.latest_time.saturating_mul(1_000_000_000))[..19],
                age_s(d),
                d.events,
                human_bytes(d.bytes.max(0) as u64),
                d.writer,
                d.latest_file,
                if late(d) { "  LATE" } else { "" }
            )?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// What the server remembers between requests: the last sample of each queue, for rates.
#[derive(Default)]
struct Samples {
    queues: BTreeMap<String, (Instant, u64, f64)>,
}

/// Connections answered at once; more are closed at once (a client that opens sockets
/// and sends nothing holds a thread for at most the 5 s read timeout).
const CONNECTIONS_MAX: usize = 32;

fn serve(listen: &str, stale: f64) -> anyhow::Result<ExitCode> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let l =
        TcpListener::bind(listen).map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    outln!("fmq dmap serve: http://{}/", l.local_addr()?)?;
    let state = Arc::new(dmap::state_dir());
    let samples = Arc::new(Mutex::new(Samples::default()));
    let active = Arc::new(AtomicUsize::new(0));
    for conn in l.incoming() {
        let Ok(mut s) = conn else { continue };
        // ORDERING: Relaxed: a counter that bounds threads; it publishes nothing.
        if active.fetch_add(1, Ordering::Relaxed) >= CONNECTIONS_MAX {
            active.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let (state, samples, active) = (state.clone(), samples.clone(), active.clone());
        std::thread::spawn(move || {
            if let Err(e) = answer(&mut s, &state, stale, &samples) {
                crate::util::errln!("fmq dmap serve: {e}");
            }
            // ORDERING: Relaxed: the counter that bounds threads, as above.
            active.fetch_sub(1, Ordering::Relaxed);
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads one request (at most 8 KiB, 5 s) and answers it.
fn answer(
    s: &mut TcpStream,
    state: &Path,
    stale: f64,
    samples: &std::sync::Mutex<Samples>,
) -> anyhow::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/api/datasets") => match dmap::list(state, BUSY) {
            Ok(sets) => ("200 OK", "application/json", serde_json::to_string(&sets)?),
            Err(e) => ("503 Service Unavailable", "text/plain", format!("{e}\n")),
        },
        ("GET", "/metrics") => match dmap::list(state, BUSY) {
            Ok(sets) => ("200 OK", "text/plain; version=0.0.4", metrics(&sets)),
            Err(e) => ("503 Service Unavailable", "text/plain", format!("{e}\n")),
        },
        ("GET", "/") => (
            "200 OK",
            "text/html; charset=utf-8",
            // Taken once the request is in: a client that sends nothing holds no lock.
            page(
                state,
                stale,
                &mut samples.lock().unwrap_or_else(|e| e.into_inner()),
            ),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body.as_bytes())?;
    Ok(())
}

/// A Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric: its name, kind, help and value of a data set.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&DataSet) -> i64,
);

fn metrics(sets: &[DataSet]) -> String {
    let mut m = String::new();
    let series: [Series; 4] = [
        (
            "fmq_dataset_age_seconds",
            "gauge",
            "Seconds since the latest data time of the data set.",
            age_s,
        ),
        (
            "fmq_dataset_latest_time_seconds",
            "gauge",
            "The latest data time of the data set, seconds since the epoch.",
            |d| d.latest_time,
        ),
        (
            "fmq_dataset_events_total",
            "counter",
            "Data-arrival events recorded for the data set.",
            |d| d.events,
        ),
        (
            "fmq_dataset_bytes_total",
            "counter",
            "Bytes of the files recorded for the data set.",
            |d| d.bytes,
        ),
    ];
    for (name, kind, help, value) in series {
        m.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for d in sets {
            m.push_str(&format!(
                "{name}{{host=\"{}\",dir=\"{}\",type=\"{}\"}} {}\n",
                label(&d.host),
                label(&d.dir),
                label(&d.data_type),
                value(d)
            ));
        }
    }
    m
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The status page: data sets, the queues of their directories, their watchers.
fn page(state: &Path, stale: f64, samples: &mut Samples) -> String {
    let sets = dmap::list(state, BUSY);
    let mut p = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
         <title>fmq data map</title><style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}\
         .late{color:#b00;font-weight:bold}</style></head><body><h1>fmq data map</h1>",
    );
    p.push_str(&format!(
        "<p id=\"updated\">updated {}</p>",
        &utc(fmq::now_ns())[..19]
    ));
    let sets = match sets {
        Ok(s) => s,
        Err(e) => {
            p.push_str(&format!(
                "<p class=\"late\">{}</p></body></html>",
                html(&e.to_string())
            ));
            return p;
        }
    };
    p.push_str("<h2>Data sets</h2><table id=\"datasets\"><tr><th>host</th><th>dir</th><th>type</th><th>latest</th><th>age</th><th>events</th><th>bytes</th><th>writer</th><th>file</th></tr>");
    for d in &sets {
        let late = age_s(d) as f64 > stale;
        p.push_str(&format!(
            "<tr class=\"dataset{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} s{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if late { " late" } else { "" },
            html(&d.host),
            html(&d.dir),
            html(&d.data_type),
            &utc(d.latest_time.saturating_mul(1_000_000_000))[..19],
            age_s(d),
            if late { " LATE" } else { "" },
            d.events,
            human_bytes(d.bytes.max(0) as u64),
            html(&d.writer),
            html(&d.latest_file)
        ));
    }
    p.push_str("</table>");
    let dirs: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = sets.iter().map(|d| PathBuf::from(&d.dir)).collect();
        v.sort();
        v.dedup();
        v.into_iter().filter(|d| d.is_dir()).collect()
    };
    p.push_str(&queues_html(&dirs, samples));
    p.push_str(&watchers_html(&dirs));
    p.push_str("</body></html>");
    p
}

fn queues_html(dirs: &[PathBuf], samples: &mut Samples) -> String {
    let mut p = String::from("<h2>Queues</h2><table id=\"queues\"><tr><th>queue</th><th>writer</th><th>youngest</th><th>msg/s</th></tr>");
    let now = Instant::now();
    for q in crate::list::find_queues(dirs).unwrap_or_default() {
        let Ok(i) = fmq::info(q.as_str()) else {
            continue;
        };
        let id = i.header.youngest_id;
        // A rate over at least 200 ms: a page asked for sooner keeps the last one.
        let rate = match samples.queues.get(&q) {
            Some(&(t, _, r)) if now.duration_since(t) < Duration::from_millis(200) => r,
            Some(&(t, id0, _)) => {
                let r = id.saturating_sub(id0) as f64 / now.duration_since(t).as_secs_f64();
                samples.queues.insert(q.clone(), (now, id, r));
                r
            }
            None => {
                samples.queues.insert(q.clone(), (now, id, 0.0));
                0.0
            }
        };
        let writer = crate::list::writer_text(&i.writer);
        p.push_str(&format!(
            "<tr class=\"queue\"><td>{}</td><td>{writer}</td><td>{id}</td><td>{rate:.1}</td></tr>",
            html(&q)
        ));
    }
    p.push_str("</table>");
    p
}

fn watchers_html(dirs: &[PathBuf]) -> String {
    let mut p = String::from("<h2>Watchers</h2><table id=\"watchers\"><tr><th>dir</th><th>watcher</th><th>cursor</th><th>lag (events)</th><th>running</th><th>failures</th></tr>");
    for dir in dirs {
        let q = fmq_ldata::event_queue(dir);
        let youngest = fmq::info(q.as_path()).map_or(0, |i| i.header.youngest_id);
        for name in crate::ldata::watcher_names(dir).unwrap_or_default() {
            let cursor = crate::watch::read_cursor(dir, &name)
                .ok()
                .flatten()
                .unwrap_or(1);
            let st: serde_json::Value =
                std::fs::read_to_string(crate::watch::status_path(dir, &name))
                    .ok()
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or_default();
            p.push_str(&format!(
                "<tr class=\"watcher\"><td>{}</td><td>{}</td><td>{cursor}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html(&dir.to_string_lossy()),
                html(&name),
                (youngest + 1).saturating_sub(cursor),
                st["running"].as_array().map_or(0, Vec::len),
                st["failures"].as_array().map_or(0, Vec::len),
            ));
        }
    }
    p.push_str("</table>");
    p
}
