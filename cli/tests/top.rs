//! `fmq top` (issue 14, item 4) in a real terminal: tmux runs it in a detached session of a
//! fixed size; the test sends keys (`send-keys`) and reads the screen (`capture-pane`): the
//! queues appear with their writer, a busy queue's rate is above zero, `s` sorts by rate,
//! Enter shows one queue with its registered readers, Esc goes back, `q` quits with status
//! 0. Outside a terminal it refuses in one line.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_ok, text, FMQ};

/// A tmux server of this test's own (`-L`), killed at the end.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(tag: &str) -> Tmux {
        Tmux {
            socket: format!("fmq-top-{tag}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn screen(&self) -> String {
        text(&self.run(&["capture-pane", "-p", "-t", "top"]).stdout)
    }

    /// Waits until the screen satisfies `ok`, or fails showing the last screen.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: never on screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "top"];
        a.extend_from_slice(keys);
        assert!(self.run(&a).status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn fmq_env(shm: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(FMQ);
    c.args(args).env("FMQ_SHM_DIR", shm);
    c
}

/// A writer that writes a line every 5 ms until dropped.
struct Busy {
    child: Child,
    feeder: Option<std::thread::JoinHandle<()>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Busy {
    fn start(shm: &std::path::Path, q: &str) -> Busy {
        let mut child = fmq_env(shm, &["write", q])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let feeder = std::thread::spawn(move || {
            let mut i = 0u64;
            // ORDERING: Relaxed: a stop flag, nothing published with it.
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                if writeln!(stdin, "message {i}").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Busy {
            child,
            feeder: Some(feeder),
            stop,
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // ORDERING: Relaxed: see the feeder.
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
        let _ = self.child.wait();
    }
}

#[test]
fn top_shows_queues_live_sorts_drills_into_one_and_quits_in_tmux() {
    let shm = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let busy = dir.path().join("busy").to_str().unwrap().to_string();
    let idle = dir.path().join("idle").to_str().unwrap().to_string();
    let archive = dir.path().join("archive").to_str().unwrap().to_string();
    for (q, extra) in [
        (&busy, vec![]),
        (&idle, vec![]),
        (&archive, vec!["--blocking"]),
    ] {
        let mut a = vec!["create", q.as_str(), "--slots", "256", "--size", "1M"];
        a.extend(extra);
        assert_ok(&fmq_env(shm.path(), &a).output().unwrap());
    }
    assert_ok(
        &fmq_env(shm.path(), &["write", &idle, "one"])
            .output()
            .unwrap(),
    );
    let mut reader = fmq_env(
        shm.path(),
        &["read", &archive, "--register", "archiver", "--follow"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let _busy = Busy::start(shm.path(), &busy);

    let t = Tmux::new("live");
    // The exit status goes to a file: tmux's #{pane_dead_status} is empty when the pane's
    // process is traced (ci/test.sh runs this under strace -f).
    let status_file = dir.path().join("top-status");
    let cmd = format!(
        "FMQ_SHM_DIR='{}' '{FMQ}' top '{}' --interval 0.2; echo $? > '{}'",
        shm.path().display(),
        dir.path().display(),
        status_file.display()
    );
    let o = t.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "40",
        "sh",
        "-c",
        &cmd,
    ]);
    assert!(o.status.success(), "tmux new-session: {o:?}");
    t.run(&["set-option", "-t", "top", "remain-on-exit", "on"]);

    // The busy queue's row: its writer lives and its rate is above zero.
    let s = t.wait_for("the busy queue with a rate", |s| {
        s.lines().any(|l| {
            l.contains(&busy) && l.contains(" live") && {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.iter()
                    .position(|c| *c == "live")
                    .and_then(|i| cols.get(i + 1))
                    .and_then(|r| r.parse::<f64>().ok())
                    .is_some_and(|r| r > 0.0)
            }
        })
    });
    assert!(s.contains(&idle) && s.contains("closed"), "{s}");
    assert!(s.contains("sorted by name"), "{s}");
    assert!(s.contains(&archive) && s.contains("(1 readers)"), "{s}");

    t.keys(&["s"]);
    let s = t.wait_for("sorted by msg/s", |s| s.contains("sorted by msg/s"));
    let first = s
        .lines()
        .find(|l| l.contains(dir.path().to_str().unwrap()))
        .unwrap();
    assert!(first.contains(&busy), "the busiest queue first:\n{s}");

    // The selection stays on its queue when the order changes; Home goes to the first row,
    // Enter shows the busy queue alone.
    t.keys(&["Home"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("the busy queue's page", |s| {
        s.contains(&format!("queue    {busy}"))
    });
    assert!(
        s.contains("messages/s") && s.contains("readers  0 registered"),
        "{s}"
    );
    t.keys(&["Escape"]);
    t.wait_for("the table again", |s| {
        s.contains("QUEUE") && s.contains("sorted by")
    });

    // Back to name order; archive sorts first; its page lists the registered reader.
    t.keys(&["s", "s", "s"]);
    t.wait_for("sorted by name", |s| s.contains("sorted by name"));
    t.keys(&["Home"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("the archive's page", |s| {
        s.contains(&format!("queue    {archive}"))
    });
    assert!(
        s.contains("readers  1 registered") && s.contains("archiver") && s.contains("live"),
        "{s}"
    );

    t.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(st) = std::fs::read_to_string(&status_file) {
            if st.ends_with('\n') {
                break st;
            }
        }
        assert!(Instant::now() < deadline, "fmq top did not quit on q");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.trim(), "0", "fmq top's exit status");
    let _ = reader.kill();
    let _ = reader.wait();
}

#[test]
fn top_outside_a_terminal_refuses_in_one_line() {
    let o = Command::new(FMQ)
        .args(["top"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("needs a terminal") && err.contains("fmq list --json"),
        "{err}"
    );
}
