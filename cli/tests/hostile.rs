//! A hostile day, as real processes of the built `fmq` binary live it (the issue "Nothing
//! lost, no one in"): lock files removed or planted under a live writer, two names for one
//! segment, lock and data names that collide, files that are not queues, a second local
//! user's symbolic links and lock files, readers in another pid namespace, read-only file
//! systems, and locking turned off. Each test names the property it checks; the ones that
//! need root (a second user, mounts, pid namespaces) print a loud SKIP when not root.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{
    assert_error, assert_ok, fmq, fmq_with as fmq_env, skip_unless_root, stderr, stdout, SmallFs,
    FMQ,
};

/// The second local user of the tests (`nobody`).
const OTHER_UID: u32 = 65534;

/// Creates a blocking shm queue `q` in the shm directory `env` names, with extra options.
fn create_blocking(q: &str, env: &[(&str, &str)], extra: &[&str]) {
    let mut args = vec!["create", q, "--blocking", "--readers-max", "2"];
    args.extend_from_slice(extra);
    assert_ok(&fmq_env(&args, env));
}

/// A child process that is SIGKILLed and reaped when dropped, also when the test fails.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A temporary directory that the second user can use too (mode 0777, not sticky).
fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// A command run as the second user.
fn as_other(program: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={OTHER_UID}"),
        &format!("--regid={OTHER_UID}"),
        "--clear-groups",
        program,
    ]);
    c
}

/// A writer process fed line by line: `fmq write Q` with its stdin kept open.
struct SlowWriter {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl SlowWriter {
    fn start(queue: &str, env: &[(&str, &str)]) -> SlowWriter {
        let mut c = Command::new(FMQ);
        c.args(["write", queue])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn fmq write");
        let stdin = child.stdin.take();
        SlowWriter { child, stdin }
    }

    fn line(&mut self, s: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{s}").unwrap();
        stdin.flush().unwrap();
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn finish(mut self) -> Output {
        drop(self.stdin.take());
        self.child.wait_with_output().unwrap()
    }
}

/// Waits until `queue` holds at least `count` messages (read from the oldest).
fn wait_for_messages(queue: &str, count: usize, env: &[(&str, &str)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = fmq_env(&["read", queue, "--from", "oldest"], env);
        if o.status.success() && stdout(&o).lines().count() >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{queue} never got {count} messages"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_all(queue: &str, env: &[(&str, &str)]) -> Vec<String> {
    let o = fmq_env(&["read", queue, "--from", "oldest"], env);
    assert_ok(&o);
    stdout(&o).lines().map(str::to_string).collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---- 1. The lock is the queue's, not a path's -------------------------------------------

#[test]
fn removing_the_lock_file_of_a_live_writer_does_not_let_a_second_writer_in() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q");
    let q = path_str(&q);
    assert_ok(&fmq(&["create", q, "--slots", "64", "--size", "64K"]));
    let mut first = SlowWriter::start(q, &[]);
    first.line("first-1");
    wait_for_messages(q, 1, &[]);
    std::fs::remove_file(format!("{q}.lock")).unwrap();
    // The second writer makes a fresh lock file and locks it; the queue's writer token on
    // the data still belongs to the first.
    let second = fmq(&["write", q, "second-1"]);
    assert_error(
        &second,
        &format!("already open for writing by pid {}", first.pid()),
    );
    first.line("first-2");
    let out = first.finish();
    assert_ok(&out);
    assert_eq!(read_all(q, &[]), ["first-1", "first-2"]);
    // Every message kept its id: nobody recovered the queue under the live writer.
    let o = fmq(&["check", q]);
    assert_ok(&o);
}

#[test]
fn a_writer_whose_lock_file_was_replaced_between_open_and_flock_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q");
    let q = path_str(&q);
    assert_ok(&fmq(&["create", q, "--slots", "64", "--size", "64K"]));
    // The slow writer opens q.lock, then waits 600 ms before its flock; meanwhile the queue
    // is removed (its lock file with it) and created again, and another writer takes it.
    let mut slow = SlowWriter::start(q, &[("FMQ_TEST_DELAY_BEFORE_FLOCK_MS", "600")]);
    std::thread::sleep(Duration::from_millis(150));
    assert_ok(&fmq(&["remove", q]));
    assert_ok(&fmq(&["create", q, "--slots", "64", "--size", "64K"]));
    let mut current = SlowWriter::start(q, &[]);
    current.line("current-1");
    wait_for_messages(q, 1, &[]);
    // The slow writer locked an inode that no longer has the name: it must notice, start
    // again on the new lock file, and be refused.
    slow.line("slow-1");
    let slow_out = slow.finish();
    assert_error(
        &slow_out,
        &format!("already open for writing by pid {}", current.pid()),
    );
    current.line("current-2");
    assert_ok(&current.finish());
    assert_eq!(read_all(q, &[]), ["current-1", "current-2"]);
}

// ---- 2. One segment, one writer, however it is named ----------------------------------

#[test]
fn two_directories_naming_one_shmem_key_admit_one_writer() {
    let shm = tempfile::tempdir().unwrap();
    let env = [("FMQ_SHM_DIR", path_str(shm.path()))];
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let q1 = d1.path().join("shmem_77");
    let q2 = d2.path().join("shmem_77");
    let (q1, q2) = (path_str(&q1), path_str(&q2));
    assert_ok(&fmq_env(
        &["create", q1, "--slots", "64", "--size", "64K"],
        &env,
    ));
    let mut first = SlowWriter::start(q1, &env);
    first.line("one");
    wait_for_messages(q2, 1, &env);
    let second = fmq_env(&["write", q2, "two"], &env);
    assert_error(
        &second,
        &format!("already open for writing by pid {}", first.pid()),
    );
    assert_ok(&first.finish());
    assert_eq!(read_all(q2, &env), ["one"]);
}

#[test]
fn a_symlink_and_a_hard_link_to_a_queue_meet_the_same_writer() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q");
    let q = path_str(&q);
    assert_ok(&fmq(&["create", q, "--slots", "64", "--size", "64K"]));
    let other = tempfile::tempdir().unwrap();
    for ext in ["stat", "buf"] {
        std::fs::hard_link(format!("{q}.{ext}"), other.path().join(format!("h.{ext}"))).unwrap();
    }
    let h = other.path().join("h");
    let mut first = SlowWriter::start(q, &[]);
    first.line("one");
    wait_for_messages(q, 1, &[]);
    let second = fmq(&["write", path_str(&h), "two"]);
    assert_error(
        &second,
        &format!("already open for writing by pid {}", first.pid()),
    );
    assert_ok(&first.finish());
}

// ---- 3. Lock files and data live in names that cannot collide -------------------------

#[test]
fn a_shm_queue_name_ending_in_lock_is_refused_and_creates_nothing() {
    let shm = tempfile::tempdir().unwrap();
    let env = [("FMQ_SHM_DIR", path_str(shm.path()))];
    let o = fmq_env(&["create", "shm:radar.lock"], &env);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot end in .lock"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(shm.path()).unwrap().count(), 0);
    // The queue whose lock file that name would have been is untouched by its creation.
    assert_ok(&fmq_env(
        &["create", "shm:radar", "--slots", "16", "--size", "16K"],
        &env,
    ));
    assert_ok(&fmq_env(&["write", "shm:radar", "x"], &env));
    assert_eq!(read_all("shm:radar", &env), ["x"]);
}

#[test]
fn a_file_at_the_lock_path_that_is_not_a_lock_file_is_never_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q");
    let q = path_str(&q);
    let lock = format!("{q}.lock");
    std::fs::write(&lock, b"precious data that is not a pid\n").unwrap();
    for args in [vec!["create", q], vec!["create", q, "--force"]] {
        assert_error(&fmq(&args), "is not an fmq lock file");
    }
    assert_eq!(
        std::fs::read(&lock).unwrap(),
        b"precious data that is not a pid\n"
    );
    assert!(!Path::new(&format!("{q}.stat")).exists());
}

// ---- 4. Only fmq's files are destroyed -------------------------------------------------

#[test]
fn remove_refuses_files_that_do_not_carry_fmqs_magic() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("data");
    let q = path_str(&q);
    for ext in ["stat", "buf", "lock"] {
        std::fs::write(format!("{q}.{ext}"), format!("the user's {ext}\n")).unwrap();
    }
    for args in [vec!["remove", q], vec!["remove", q, "--force"]] {
        assert_error(&fmq(&args), "is not an fmq queue file");
    }
    for ext in ["stat", "buf", "lock"] {
        assert_eq!(
            std::fs::read_to_string(format!("{q}.{ext}")).unwrap(),
            format!("the user's {ext}\n")
        );
    }
    // In the shm directory: any file is not a segment.
    let shm = tempfile::tempdir().unwrap();
    let env = [("FMQ_SHM_DIR", path_str(shm.path()))];
    std::fs::write(shm.path().join("notes"), b"not a queue").unwrap();
    assert_error(
        &fmq_env(&["remove", "shm:notes", "--force"], &env),
        "is not an fmq queue file",
    );
    assert_eq!(
        std::fs::read(shm.path().join("notes")).unwrap(),
        b"not a queue"
    );
    // A real queue is removed, lock file and all.
    assert_ok(&fmq_env(
        &["create", "shm:real", "--slots", "16", "--size", "16K"],
        &env,
    ));
    assert_ok(&fmq_env(&["remove", "shm:real"], &env));
    let left: Vec<_> = std::fs::read_dir(shm.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["notes"]);
}

#[test]
fn create_force_refuses_to_replace_files_that_are_not_queues() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("data");
    let q = path_str(&q);
    std::fs::write(format!("{q}.stat"), b"the user's stat file").unwrap();
    assert_error(&fmq(&["create", q, "--force"]), "is not an fmq queue file");
    assert_eq!(
        std::fs::read(format!("{q}.stat")).unwrap(),
        b"the user's stat file"
    );
    assert!(
        !Path::new(&format!("{q}.lock")).exists(),
        "no lock file left behind"
    );
}

// ---- 5. Every jump of a reader is reported ---------------------------------------------

/// Checks a JSON read log: ids strictly increase, and every gap between two consecutive
/// messages is announced by a `missed` record of exactly that size (invariant 4).
fn assert_every_jump_reported(log: &str) -> (usize, u64) {
    let mut last: Option<u64> = None;
    let mut announced = 0u64;
    let mut messages = 0;
    let mut missed_total = 0;
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(m) = v.get("missed") {
            announced += m.as_u64().unwrap();
            missed_total += m.as_u64().unwrap();
            continue;
        }
        let id = v["id"].as_u64().unwrap();
        if let Some(prev) = last {
            assert_eq!(
                id - prev - 1,
                announced,
                "jump from id {prev} to {id} announced as {announced} missed\n{log}"
            );
        }
        announced = 0;
        last = Some(id);
        messages += 1;
    }
    (messages, missed_total)
}

#[test]
fn a_dropped_registered_reader_that_registers_again_reports_the_ids_it_skipped() {
    let shm = tempfile::tempdir().unwrap();
    let env = [("FMQ_SHM_DIR", path_str(shm.path()))];
    let q = "shm:archive";
    create_blocking(
        q,
        &env,
        &["--reader-timeout", "0.3", "--slots", "16", "--size", "64K"],
    );
    let mut c = Command::new(FMQ);
    c.args([
        "read",
        q,
        "--register",
        "archiver",
        "--follow",
        "--from",
        "oldest",
        "--format",
        "json",
        "--timeout",
        "3",
    ])
    .envs(env)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let reader = c.spawn().unwrap();
    let pid = reader.id() as libc::pid_t;
    // Registered before anything is written.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !stdout(&fmq_env(&["info", q, "--json"], &env)).contains("archiver") {
        assert!(Instant::now() < deadline, "reader never registered");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_ok(&fmq_env(&["write", q, "a1", "a2"], &env));
    std::thread::sleep(Duration::from_millis(200));
    // Stopped past the reader timeout: the writer drops it and overwrites what it had not
    // read; resumed, it learns it was dropped and registers again, further on.
    // SAFETY:
    // 1. kill takes no pointers; `pid` is our child's, which we have not waited for.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let lines: Vec<String> = (0..60).map(|i| format!("b{i}")).collect();
    let mut args = vec!["write", q];
    args.extend(lines.iter().map(String::as_str));
    let w = fmq_env(&args, &env);
    assert_ok(&w);
    assert!(stderr(&w).contains("unregistered reader"), "{}", stderr(&w));
    // SAFETY:
    // 1. as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    std::thread::sleep(Duration::from_millis(300));
    assert_ok(&fmq_env(&["write", q, "c1"], &env));
    let out = reader.wait_with_output().unwrap();
    let log = stdout(&out);
    let (messages, missed) = assert_every_jump_reported(&log);
    assert!(
        missed > 0,
        "the reader was overrun, so something was missed:\n{log}"
    );
    assert_eq!(
        messages as u64 + missed,
        63,
        "every id read or counted missed:\n{log}"
    );
}

// ---- 7. Another local user -------------------------------------------------------------

#[test]
fn a_directory_symlink_planted_by_another_user_is_not_followed() {
    if skip_unless_root("a_directory_symlink_planted_by_another_user_is_not_followed") {
        return;
    }
    let shared = shared_dir();
    let target = tempfile::tempdir().unwrap(); // root's, where root would never write a queue
    let link = shared.path().join("fmq");
    let st = as_other("ln")
        .args(["-s", path_str(target.path()), path_str(&link)])
        .status()
        .unwrap();
    assert!(st.success());
    let q = link.join("q");
    for args in [
        vec!["create", path_str(&q)],
        vec!["write", path_str(&q), "x"],
    ] {
        assert_error(&fmq(&args), "a symbolic link owned by uid 65534");
    }
    assert_eq!(
        std::fs::read_dir(target.path()).unwrap().count(),
        0,
        "nothing written there"
    );
}

#[test]
fn a_lock_file_another_user_planted_and_holds_is_reported_as_theirs_not_as_a_writer() {
    if skip_unless_root(
        "a_lock_file_another_user_planted_and_holds_is_reported_as_theirs_not_as_a_writer",
    ) {
        return;
    }
    let shared = shared_dir();
    let q = shared.path().join("q");
    let lock = shared.path().join("q.lock");
    // The other user writes a pid of its choosing and holds a flock on it.
    let mut holder = as_other("sh")
        .args([
            "-c",
            &format!("echo 1 > {0}; exec flock {0} sleep 30", path_str(&lock)),
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&lock).map_or(true, |s| s.trim() != "1") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let o = fmq(&["create", path_str(&q)]);
    assert_error(&o, "belongs to uid 65534");
    assert!(!stderr(&o).contains("by pid 1"), "{}", stderr(&o));
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn a_writer_refuses_a_queue_another_user_owns() {
    if skip_unless_root("a_writer_refuses_a_queue_another_user_owns") {
        return;
    }
    let shared = shared_dir();
    let q = shared.path().join("theirs");
    let st = as_other(FMQ)
        .args(["create", path_str(&q)])
        .status()
        .unwrap();
    assert!(st.success());
    let o = fmq(&["write", path_str(&q), "root was here"]);
    assert_error(&o, "belongs to uid 65534");
    // Reading it stays allowed, and finds nothing written.
    assert!(read_all(path_str(&q), &[]).is_empty());
}

#[test]
fn write_and_clear_touch_no_lock_file_beside_a_stat_file_that_is_not_a_queue() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("x");
    let q = path_str(&q);
    std::fs::write(format!("{q}.stat"), vec![7u8; 4096]).unwrap();
    std::fs::write(format!("{q}.buf"), vec![7u8; 4096]).unwrap();
    // No lock file yet: none may be left behind.
    for args in [vec!["write", q, "m"], vec!["clear", q]] {
        let o = fmq(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            !Path::new(&format!("{q}.lock")).exists(),
            "{args:?} left a lock file"
        );
    }
    // A pid file from an earlier writer: never rewritten for files that are not a queue.
    std::fs::write(format!("{q}.lock"), b"12345\n").unwrap();
    for args in [vec!["write", q, "m"], vec!["clear", q]] {
        let o = fmq(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(
            std::fs::read(format!("{q}.lock")).unwrap(),
            b"12345\n",
            "{args:?}"
        );
    }
}

// ---- 8. Liveness by a kernel-held token, not a pid -------------------------------------

/// Waits until `queue`'s `fmq info --json` lists `count` live registered readers.
fn wait_registered(queue: &str, count: usize, env: &[(&str, &str)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = fmq_env(&["info", queue, "--json"], env);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_default();
        let live = v["readers"]
            .as_array()
            .map_or(0, |rs| rs.iter().filter(|r| r["state"] == "live").count());
        if live >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never {count} live readers: {}",
            stdout(&o)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_registered_reader_in_another_pid_namespace_is_detected_as_dead() {
    if skip_unless_root("a_killed_registered_reader_in_another_pid_namespace_is_detected_as_dead") {
        return;
    }
    let shm = tempfile::tempdir().unwrap();
    let env = [("FMQ_SHM_DIR", path_str(shm.path()))];
    let q = "shm:ns";
    // No heartbeat timeout: only the reader's death can release the writer.
    create_blocking(
        q,
        &env,
        &["--reader-timeout", "0", "--slots", "8", "--size", "16K"],
    );
    // In its own pid namespace the reader is pid 1, which always exists out here.
    let mut reader = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--kill-child",
            FMQ,
            "read",
            q,
            "--register",
            "ns",
            "--follow",
        ])
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_registered(q, 1, &env);
    let info = stdout(&fmq_env(&["info", q, "--json"], &env));
    assert!(
        info.contains("\"pid\": 1") || info.contains("\"pid\":1"),
        "{info}"
    );
    reader.kill().unwrap();
    reader.wait().unwrap();
    let lines: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    let mut args = vec!["write", q, "--timeout", "5"];
    args.extend(lines.iter().map(String::as_str));
    let w = fmq_env(&args, &env);
    assert_ok(&w);
    assert!(stderr(&w).contains("its process is gone"), "{}", stderr(&w));
}

#[test]
fn records_of_dead_registered_readers_are_reclaimed_at_registration() {
    let shm = tempfile::tempdir().unwrap();
    let env = [("FMQ_SHM_DIR", path_str(shm.path()))];
    let q = "shm:reclaim";
    create_blocking(q, &env, &["--slots", "16", "--size", "16K"]);
    // Two registered readers die with no writer around to notice: both records stay
    // claimed by owners that are gone.
    let mut readers = Vec::new();
    for name in ["r1", "r2"] {
        readers.push(Reap(
            Command::new(FMQ)
                .args(["read", q, "--register", name, "--follow"])
                .envs(env)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
    }
    wait_registered(q, 2, &env);
    drop(readers); // SIGKILLed and reaped
    let info = stdout(&fmq_env(&["info", q, "--json"], &env));
    assert_eq!(info.matches("\"state\":\"dead\"").count(), 2, "{info}");
    // A third registers in a dead one's record, and the writer then waits for it alone.
    let mut r3 = Reap(
        Command::new(FMQ)
            .args([
                "read",
                q,
                "--register",
                "r3",
                "--follow",
                "--count",
                "1",
                "--timeout",
                "5",
            ])
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_registered(q, 1, &env);
    assert_ok(&fmq_env(&["write", q, "hello"], &env));
    let mut out = String::new();
    BufReader::new(r3.0.stdout.take().unwrap())
        .read_line(&mut out)
        .unwrap();
    assert_eq!(out.trim(), "hello");
}

// ---- 9. Read-only file systems ---------------------------------------------------------

#[test]
fn a_reader_on_a_read_only_file_system_reads_through_a_read_only_mapping() {
    if skip_unless_root("a_reader_on_a_read_only_file_system_reads_through_a_read_only_mapping") {
        return;
    }
    let Some(dir) = SmallFs::mount("4m") else {
        return;
    };
    let q = dir.path().join("q");
    let q = path_str(&q);
    assert_ok(&fmq(&["create", q, "--slots", "16", "--size", "64K"]));
    assert_ok(&fmq(&["write", q, "one", "two"]));
    let st = Command::new("mount")
        .args(["-o", "remount,ro", path_str(dir.path())])
        .status()
        .unwrap();
    assert!(st.success(), "remount read-only");
    assert_eq!(read_all(q, &[]), ["one", "two"]);
    assert_ok(&fmq(&["check", q]));
}

// ---- 10. Locking off does not make a live writer's mark stale ---------------------------

#[test]
fn clear_with_locking_off_refuses_to_reset_a_live_writers_mark() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q");
    let q = path_str(&q);
    let off = [("FMQ_USE_FILE_LOCKING", "FALSE")];
    assert_ok(&fmq(&["create", q, "--slots", "16", "--size", "16K"]));
    let mut w = SlowWriter::start(q, &off);
    w.line("one");
    wait_for_messages(q, 1, &[]);
    let o = fmq_env(&["clear", q], &off);
    assert_error(&o, &format!("already open for writing by pid {}", w.pid()));
    let info = stdout(&fmq(&["info", q, "--json"]));
    assert!(info.contains(&w.pid().to_string()), "mark kept: {info}");
    assert_ok(&w.finish());
}

#[test]
fn remove_of_a_queue_this_user_cannot_read_is_a_permission_error_not_a_foreign_file() {
    if skip_unless_root(
        "remove_of_a_queue_this_user_cannot_read_is_a_permission_error_not_a_foreign_file",
    ) {
        return;
    }
    // Root's queue, mode 0600, in a directory the second user may write: the remover cannot
    // open the files to look for fmq's magic, which says nothing about whether they are
    // fmq's (before, it reported "is not an fmq queue file").
    let shared = shared_dir();
    let q = shared.path().join("roots");
    assert_ok(&fmq(&["create", path_str(&q), "--mode", "0600"]));
    let o = as_other(FMQ)
        .args(["remove", path_str(&q)])
        .output()
        .unwrap();
    assert_error(&o, "Permission denied (os error 13)");
    assert!(
        !stderr(&o).contains("not an fmq queue file"),
        "{}",
        stderr(&o)
    );
    assert!(q.with_extension("stat").exists(), "the queue is untouched");
}
