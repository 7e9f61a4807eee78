//! `fmq list` and `fmq gc` (issue 14, item 4) through the built binary, on a directory that
//! holds live, dead, closed and old queues beside files that are not queues (which must
//! survive, unread past their first bytes): queues are found by their magic, not their
//! names, in the shared-memory directory (a private one here, `FMQ_SHM_DIR`) and under the
//! given directories; gc removes exactly the queues whose writer is gone and whose last
//! write is older than the limit.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{assert_ok, stdout, text, FMQ};

struct Env {
    shm: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            shm: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(FMQ);
        c.args(args).env("FMQ_SHM_DIR", self.shm.path());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input).unwrap();
        c.wait_with_output().unwrap()
    }

    fn youngest(&self, q: &str) -> u64 {
        let o = self.run(&["info", q, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["youngest_id"].as_u64().unwrap()
    }

    /// A writer process that holds the queue open (waiting on stdin) after one message.
    fn live_writer(&self, q: &str) -> Child {
        let before = self.youngest(q);
        let mut c = self
            .cmd(&["write", q])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        c.stdin.as_mut().unwrap().write_all(b"live\n").unwrap();
        c.stdin.as_mut().unwrap().flush().unwrap();
        for _ in 0..500 {
            let o = self.run(&["info", q, "--json"]);
            let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            if v["youngest_id"] == before + 1 && v["writer"]["open"] == true {
                return c;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
        panic!("the writer of {q} never wrote");
    }
}

fn list_json(env: &Env, dir: &Path) -> Vec<serde_json::Value> {
    let o = env.run(&["list", dir.to_str().unwrap(), "--json"]);
    assert_ok(&o);
    serde_json::from_str::<serde_json::Value>(&stdout(&o))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// A queue whose only message was written `age_s` seconds ago (the time comes with the
/// json input, as a copy keeps it).
fn aged_queue(env: &Env, q: &str, age_s: i64) {
    assert_ok(&env.run(&["create", q, "--slots", "8", "--size", "64K"]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let line = format!(
        "{{\"data_b64\":\"b2xk\",\"time_ns\":{}}}\n",
        now - age_s * 1_000_000_000
    );
    assert_ok(&env.run_stdin(&["write", q, "--input", "json"], line.as_bytes()));
}

/// Files that are not queues, with the bytes they must keep.
fn plant_foreign(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let planted = vec![
        (dir.join("notes.stat"), b"my notes, not a queue\n".to_vec()),
        (dir.join("data.buf"), vec![7u8; 100]),
        // The magic, then garbage: found, reported unreadable, never removed.
        (
            dir.join("fake.stat"),
            b"\x89FMQ\r\n\x1a\ngarbage after the magic".to_vec(),
        ),
    ];
    for (p, b) in &planted {
        std::fs::write(p, b).unwrap();
    }
    let fifo = dir.join("pipe.stat");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success(), "mkfifo");
    planted
}

#[test]
fn list_finds_queues_by_magic_with_writer_state_and_ignores_every_other_file() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("deep")).unwrap();
    let closed = d.join("closed").to_str().unwrap().to_string();
    let nested = d.join("deep/nested").to_str().unwrap().to_string();
    let live = d.join("live").to_str().unwrap().to_string();
    for q in [&closed, &nested, &live] {
        assert_ok(&env.run(&["create", q, "--slots", "8", "--size", "64K"]));
    }
    assert_ok(&env.run(&["write", &closed, "a", "b"]));
    assert_ok(&env.run(&["create", "shm:seg", "--slots", "8", "--size", "64K"]));
    let planted = plant_foreign(d);
    std::os::unix::fs::symlink(format!("{closed}.stat"), d.join("link.stat")).unwrap();
    let mut w = env.live_writer(&live);

    let rows = list_json(&env, d);
    let by_queue = |q: &str| {
        rows.iter()
            .find(|r| r["queue"] == q)
            .unwrap_or_else(|| panic!("{q} not listed: {rows:?}"))
            .clone()
    };
    let names: Vec<&str> = rows.iter().map(|r| r["queue"].as_str().unwrap()).collect();
    let fake = d.join("fake").to_str().unwrap().to_string();
    let mut want = vec![
        closed.as_str(),
        nested.as_str(),
        live.as_str(),
        "shm:seg",
        fake.as_str(),
    ];
    want.sort();
    let mut got = names.clone();
    got.sort();
    assert_eq!(
        got, want,
        "the queues, the fake, no notes, no fifo, no symlink"
    );
    assert_eq!(by_queue(&closed)["youngest_id"], 2);
    assert_eq!(by_queue(&closed)["writer"]["open"], false);
    let l = by_queue(&live);
    assert_eq!(
        (&l["writer"]["open"], &l["writer"]["alive"]),
        (&true.into(), &true.into())
    );
    assert_eq!(l["writer"]["pid"], w.id());
    assert_eq!(by_queue("shm:seg")["backend"], "shm");
    assert!(by_queue(&fake)["error"].is_string());
    assert!(by_queue(&closed)["last_write_age_s"].as_f64().unwrap() < 60.0);

    let o = env.run(&["list", d.to_str().unwrap()]);
    assert_ok(&o);
    let table = stdout(&o);
    assert!(table.starts_with("QUEUE"), "{table}");
    let live_line = table.lines().find(|l| l.starts_with(&live)).unwrap();
    assert!(
        live_line.contains(&format!("pid {} live", w.id())),
        "{live_line}"
    );

    w.kill().unwrap();
    w.wait().unwrap();
    let l = list_json(&env, d)
        .into_iter()
        .find(|r| r["queue"] == live.as_str())
        .unwrap();
    assert_eq!(
        (&l["writer"]["open"], &l["writer"]["alive"]),
        (&true.into(), &false.into())
    );
    for (p, b) in &planted {
        assert_eq!(&std::fs::read(p).unwrap(), b, "{p:?} changed");
    }
    let o = env.run(&["list", "/nonexistent-fmq-dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("is not a directory"));
}

#[test]
fn gc_removes_only_queues_whose_writer_is_gone_and_whose_last_write_is_old_enough() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let q = |n: &str| d.join(n).to_str().unwrap().to_string();
    let (old_closed, old_dead, old_live, fresh_closed) = (
        q("old_closed"),
        q("old_dead"),
        q("old_live"),
        q("fresh_closed"),
    );
    aged_queue(&env, &old_closed, 3 * 86_400);
    aged_queue(&env, &old_dead, 3 * 86_400);
    aged_queue(&env, &old_live, 3 * 86_400);
    aged_queue(&env, &fresh_closed, 60);
    aged_queue(&env, "shm:oldseg", 3 * 86_400);
    let planted = plant_foreign(d);
    // A writer SIGKILLed while it held the queue, just after it wrote: its mark stays, its
    // pid is gone, its last write is new.
    let mut dead = env.live_writer(&old_dead);
    dead.kill().unwrap();
    dead.wait().unwrap();
    let mut live = env.live_writer(&old_live);

    let o = env.run(&[
        "gc",
        d.to_str().unwrap(),
        "--dead",
        "--older-than",
        "1d",
        "--dry-run",
    ]);
    assert_ok(&o);
    let would: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(would.len(), 2, "{would:?}");
    assert!(would
        .iter()
        .any(|l| l.starts_with(&format!("would remove {old_closed} "))));
    assert!(would
        .iter()
        .any(|l| l.starts_with("would remove shm:oldseg ")));
    assert!(
        Path::new(&format!("{old_closed}.stat")).exists(),
        "dry run removes nothing"
    );

    // old_dead's last write is its dead writer's line, just now: too young at 1d, gone at 0s.
    let o = env.run(&["gc", d.to_str().unwrap(), "--dead", "--older-than", "1d"]);
    assert_ok(&o);
    assert!(!Path::new(&format!("{old_closed}.stat")).exists());
    assert!(!env.shm.path().join("oldseg").exists());
    for kept in [&old_dead, &old_live, &fresh_closed] {
        assert!(
            Path::new(&format!("{kept}.stat")).exists(),
            "{kept} removed"
        );
    }
    let o = env.run(&["gc", d.to_str().unwrap(), "--dead", "--older-than", "0s"]);
    assert_ok(&o);
    let removed = stdout(&o);
    assert!(
        removed.contains(&format!("removed {old_dead} (writer pid ")),
        "{removed}"
    );
    assert!(
        removed.contains(&format!("removed {fresh_closed} ")),
        "{removed}"
    );
    assert!(
        Path::new(&format!("{old_live}.stat")).exists(),
        "a live writer's queue is never removed"
    );
    for (p, b) in &planted {
        assert_eq!(&std::fs::read(p).unwrap(), b, "{p:?} changed");
    }
    assert!(d.join("pipe.stat").exists());
    live.kill().unwrap();
    live.wait().unwrap();

    let o = env.run(&["gc", d.to_str().unwrap(), "--older-than", "0s"]);
    assert_eq!(o.status.code(), Some(2), "--dead is required");
    let o = env.run(&["gc", "--dead", "--older-than", "soon"]);
    assert_eq!(o.status.code(), Some(2));
}
