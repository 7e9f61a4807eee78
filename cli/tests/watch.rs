//! `fmq ldata watch`, `read` and `status` (issue 15, item 2) through the built binary, with
//! real producer and watcher processes: file names that a shell would split or run reach
//! the program as one argument; a slow watcher makes producers wait (nothing overrun);
//! a watcher SIGKILLed mid-command resumes at its first unfinished event (at least once,
//! none missed); failure policies; SIGTERM lets the running command finish; a watcher that
//! was gone while producers overran the queue names exactly the events it lost.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_ok, fmq, stdout, text, FMQ};

fn put(dir: &Path, rel: &str) {
    assert_ok(&fmq(&["ldata", "put", dir.to_str().unwrap(), rel]));
}

/// A watcher whose program appends its argument, NUL-terminated, to `out` (sh is the
/// program; the path is its positional argument, never parsed by it).
fn watcher(dir: &Path, name: &str, out: &Path, extra: &[&str], script: &str) -> Child {
    let mut args = vec!["ldata", "watch", dir.to_str().unwrap(), "--name", name];
    args.extend_from_slice(extra);
    let sh = format!("{script}; printf '%s\\0' \"$1\" >> '{}'", out.display());
    args.extend_from_slice(&["--", "sh", "-c", &sh, "sh", "{path}"]);
    Command::new(FMQ)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn seen(out: &Path) -> Vec<String> {
    std::fs::read(out)
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn term(c: &mut Child) -> std::process::Output {
    let pid = rustix::process::Pid::from_raw(c.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the watcher did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    use std::io::Read;
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    std::process::Output {
        status: c.wait().unwrap(),
        stdout: Vec::new(),
        stderr: err.into_bytes(),
    }
}

/// The watcher's saved cursor (0 before it saved one).
fn cursor(dir: &Path, name: &str) -> u64 {
    std::fs::read_to_string(dir.join(format!("_fmq_ldata.watch.{name}")))
        .map_or(0, |s| s.trim().parse().unwrap())
}

#[test]
fn hostile_file_names_reach_the_program_as_one_verbatim_argument() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let out = tmp.path().join("out");
    let names = [
        "plain.nc",
        "with space.nc",
        "semi;colon.nc",
        "$(touch PWNED).nc",
        "new\nline.nc",
        "`tick`&amp<.nc",
    ];
    put(&dir, names[0]);
    let mut w = watcher(&dir, "w", &out, &["--from", "oldest"], "true");
    for n in &names[1..] {
        put(&dir, n);
    }
    wait_until("every event run", || seen(&out).len() == names.len());
    let o = term(&mut w);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let want: Vec<String> = names
        .iter()
        .map(|n| dir.join(n).to_string_lossy().into_owned())
        .collect();
    assert_eq!(seen(&out), want);
    assert!(!dir.join("PWNED").exists() && !tmp.path().join("PWNED").exists());
    assert_eq!(cursor(&dir, "w"), names.len() as u64 + 1);
}

#[test]
fn a_slow_watcher_makes_producers_wait_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A small event queue: 4 slots, so producers must wait for the watcher.
    assert_ok(&fmq(&[
        "create",
        dir.join("_fmq_ldata").to_str().unwrap(),
        "--blocking",
        "--slots",
        "4",
        "--size",
        "64K",
        "--readers-max",
        "4",
        "--reader-timeout",
        "0",
    ]));
    let out = tmp.path().join("out");
    let mut w = watcher(dir, "slow", &out, &["--from", "oldest"], "sleep 0.05");
    wait_until("registered", || {
        stdout(&fmq(&["ldata", "status", dir.to_str().unwrap()])).contains("registered, pid")
    });
    let started = Instant::now();
    for i in 0..20 {
        put(dir, &format!("f{i:02}.nc"));
    }
    let waited = started.elapsed();
    wait_until("all 20 run", || seen(&out).len() == 20);
    let o = term(&mut w);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let want: Vec<String> = (0..20)
        .map(|i| {
            dir.join(format!("f{i:02}.nc"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(seen(&out), want, "in order, each once");
    // 20 events through 4 slots behind a 50 ms command: the producers waited (no time is
    // asserted beyond that the waiting happened at all, which a lossy queue would not do).
    assert!(
        waited >= Duration::from_millis(500),
        "producers did not wait: {waited:?}"
    );
}

#[test]
fn a_killed_watcher_resumes_at_its_first_unfinished_event() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let out = tmp.path().join("out");
    let marker = tmp.path().join("started");
    for i in 0..5 {
        put(&dir, &format!("e{i}.nc"));
    }
    // The third command hangs: SIGKILL the watcher while it runs.
    let script = format!(
        "case \"$1\" in *e2.nc) touch '{}'; [ -e '{}.ok' ] || sleep 30;; esac",
        marker.display(),
        marker.display()
    );
    let mut w = watcher(&dir, "k", &out, &["--from", "oldest"], &script);
    wait_until("the third command runs", || marker.exists());
    w.kill().unwrap();
    w.wait().unwrap();
    assert_eq!(seen(&out).len(), 2, "e0 and e1 done");
    assert_eq!(
        cursor(&dir, "k"),
        3,
        "the cursor names e2, the unfinished one"
    );
    // Restart: e2 runs again (at least once), then e3 and e4.
    std::fs::write(format!("{}.ok", marker.display()), b"").unwrap();
    let mut w = watcher(&dir, "k", &out, &[], &script);
    wait_until("the rest run", || seen(&out).len() == 5);
    let o = term(&mut w);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let names: Vec<String> = seen(&out)
        .iter()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["e0.nc", "e1.nc", "e2.nc", "e3.nc", "e4.nc"]);
    assert_eq!(cursor(&dir, "k"), 6);
}

#[test]
fn failure_policies_stop_skip_and_retry_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for i in 0..3 {
        put(dir, &format!("p{i}.nc"));
    }
    let fail_p1 = "case \"$1\" in *p1.nc) exit 3;; esac";
    // stop: ends with status 1, cursor at the failed event.
    let out = tmp.path().join("stop");
    let mut w = watcher(
        dir,
        "stopper",
        &out,
        &["--from", "oldest", "--on-fail", "stop"],
        fail_p1,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = w.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "stop policy did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    assert_eq!(cursor(dir, "stopper"), 2);
    // skip: every event taken, the failure in the status.
    let out = tmp.path().join("skip");
    let mut w = watcher(
        dir,
        "skipper",
        &out,
        &["--from", "oldest", "--on-fail", "skip"],
        fail_p1,
    );
    wait_until("skipped past", || cursor(dir, "skipper") == 4);
    let o = term(&mut w);
    assert!(
        text(&o.stderr).contains("event 2 (p1.nc) failed after 1 attempt(s)"),
        "{}",
        text(&o.stderr)
    );
    let s = fmq(&["ldata", "status", dir.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&s)).unwrap();
    let skipper = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "skipper")
        .unwrap();
    assert_eq!(skipper["failures"][0]["id"], 2);
    // retry:2: three attempts, then skipped.
    let out = tmp.path().join("retry");
    let count = tmp.path().join("count");
    let script = format!(
        "case \"$1\" in *p1.nc) echo x >> '{}'; exit 3;; esac",
        count.display()
    );
    let mut w = watcher(
        dir,
        "retrier",
        &out,
        &["--from", "oldest", "--on-fail", "retry:2"],
        &script,
    );
    wait_until("retried and skipped", || cursor(dir, "retrier") == 4);
    term(&mut w);
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3);
}

#[test]
fn sigterm_lets_the_running_command_finish_and_saves_the_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    put(dir, "long.nc");
    let out = tmp.path().join("out");
    let marker = tmp.path().join("running");
    // The command traps SIGTERM and still finishes its work.
    let script = format!(
        "touch '{}'; trap 'sleep 0.3' TERM; sleep 1 & wait",
        marker.display()
    );
    let mut w = watcher(dir, "t", &out, &["--from", "oldest"], &script);
    wait_until("the command runs", || marker.exists());
    let o = term(&mut w);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(seen(&out).len(), 1, "the command finished");
    assert_eq!(cursor(dir, "t"), 2);
}

#[test]
fn a_watcher_gone_while_the_queue_was_overrun_names_exactly_what_it_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_ok(&fmq(&[
        "create",
        dir.join("_fmq_ldata").to_str().unwrap(),
        "--blocking",
        "--slots",
        "4",
        "--size",
        "64K",
        "--readers-max",
        "4",
        "--reader-timeout",
        "0",
    ]));
    let out = tmp.path().join("out");
    put(dir, "a0.nc");
    let mut w = watcher(dir, "g", &out, &["--from", "oldest"], "true");
    wait_until("a0 run", || seen(&out).len() == 1);
    term(&mut w);
    // Gone: ten more events through a 4-slot queue overwrite events 2..=7.
    for i in 1..=10 {
        put(dir, &format!("a{i}.nc"));
    }
    let mut w = watcher(dir, "g", &out, &[], "true");
    wait_until("the present ones run", || seen(&out).len() == 5);
    let o = term(&mut w);
    let err = text(&o.stderr);
    assert!(err.contains("lost events 2..=7 (6 events"), "{err}");
    let names: Vec<String> = seen(&out)
        .iter()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["a0.nc", "a7.nc", "a8.nc", "a9.nc", "a10.nc"]);
    let r = fmq(&["ldata", "read", dir.to_str().unwrap(), "--format", "json"]);
    assert_ok(&r);
    assert_eq!(stdout(&r).lines().count(), 4, "the 4 events present");
    let r = fmq(&["ldata", "read", dir.to_str().unwrap(), "--from", "youngest"]);
    assert_ok(&r);
    let latest = stdout(&r);
    assert!(
        latest.starts_with("11  ") && latest.contains("a10.nc") && latest.lines().count() == 1,
        "{latest}"
    );
}

#[test]
fn read_on_a_directory_only_lrose_wrote_reports_its_latest_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("_latest_data_info.xml"),
        "<latest_data_info>\n  <unix_time>1767269040</unix_time>\n  <rel_data_path>20260101/120400.mdv</rel_data_path>\n  <data_type>mdv</data_type>\n  <writer>lrose_probe</writer>\n</latest_data_info>\n",
    )
    .unwrap();
    let o = fmq(&["ldata", "read", tmp.path().to_str().unwrap()]);
    assert_ok(&o);
    assert_eq!(
        stdout(&o),
        "lrose  2026-01-01T12:04:00  20260101/120400.mdv  type mdv  writer lrose_probe\n"
    );
}
