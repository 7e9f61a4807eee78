//! Fault injection: the `fmq` tool under libfiu's `fiu-run -x` (the `fiu-utils` package,
//! installed by `ci/setup.sh`), whose POSIX preload library makes glibc's `open`, `read`,
//! `pread`, `write`, `pwrite`, `ftruncate`, `fsync`, `fdatasync`, `rename`, `unlink`,
//! `mmap`, `munmap`, `msync`, ... fail at random with a valid errno. Rust's std and the
//! `libc` crate call those through glibc, so the wrappers intercept fmq's own calls.
//!
//! For each of `create`, `write` (arguments and stdin lines), `read --from oldest --format
//! json`, `check`, `clear` and `remove`, on both backends (files in a temporary directory,
//! shared memory moved into a tmpfs directory by `FMQ_SHM_DIR`), every run asserts the
//! issue's rule ("Nothing lost, no one in", Tests):
//!
//! 1. the exit code is 0, 1 or 2 (never 101 panic, 134 abort, a signal such as SIGBUS or
//!    SIGSEGV);
//! 2. a failure prints exactly one line on stderr, starting with `fmq: `, and nothing shows a
//!    panic or a backtrace;
//! 3. afterwards, without faults, the queue passes `fmq check`, or the next `fmq write`
//!    recovers it and then `fmq check` passes; read-only commands (`read`, `check`) leave it
//!    passing `check` as it was; a failed `create` leaves nothing behind (or a whole queue
//!    that passes `check`, when only its report failed); a `remove` leaves the whole queue
//!    or nothing;
//! 4. nothing acknowledged is lost: every message present before the run, and every message
//!    of a `write` that exited 0, is read back exactly, in order (the queues are big enough
//!    that nothing wraps); a `read` that exited 0 printed every message.
//!
//! One limit, stated rather than hidden: the error line itself goes out through `write(2)`,
//! so under the `write` fault set (stdout, stderr and the lock file's pid) a failure may
//! leave stderr empty; that set asserts "at most one line", the other sets exactly one.
//! A run that the Rust runtime aborts before `main` (its alternate signal stack is the
//! process's first `mmap`: "failed to allocate an alternative stack") never ran fmq's code
//! and is counted apart, never as a pass or a failure.
//!
//! Budget: `FMQ_FAULT_RUNS` runs per command, backend and fault set (default 16, so
//! 16 x 2 x 4 = 128 per test). `FMQ_FAULT_SEED` fixes the seed; every failure prints it
//! and the run's `FIU_PRNG_SEED`, probability and command; `docs/testing.md`, "Fault
//! injection", says how to reproduce one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

const FMQ: &str = env!("CARGO_BIN_EXE_fmq");

/// Runs per command, backend and fault set when `FMQ_FAULT_RUNS` is not set.
const DEFAULT_RUNS: u64 = 16;

/// Failures the test finds and that are not fixed yet (none today: the stdout/stderr
/// panics, the lock and temporary files a failed create left, the half-made queue of a
/// failed create --force and the half-removed queue of a failed remove were fixed with the
/// issue "Nothing lost, no one in"), listed so that the rest of the test runs. A broken rule is KNOWN when
/// its command and fault set match (an empty list matches any) and its text contains every
/// needle; it is then printed with its count and does not fail the test. Every other broken
/// rule fails it. Remove an entry once its defect is fixed: the test then holds the fix.
const FMQ_FAULT_KNOWN: &[Known] = &[];

/// One entry of [`FMQ_FAULT_KNOWN`].
struct Known {
    commands: &'static [&'static str],
    sets: &'static [&'static str],
    needles: &'static [&'static str],
    defect: &'static str,
}

/// The known defect a broken rule is, if any.
fn known_defect(cmd: Cmd, set: &FaultSet, broken: &str) -> Option<&'static str> {
    FMQ_FAULT_KNOWN
        .iter()
        .find(|k| {
            (k.commands.is_empty() || k.commands.contains(&cmd.name()))
                && (k.sets.is_empty() || k.sets.contains(&set.name))
                && k.needles.iter().all(|n| broken.contains(n))
        })
        .map(|k| k.defect)
}

/// A named group of libfiu failure points, each enabled with the run's probability.
struct FaultSet {
    name: &'static str,
    points: &'static [&'static str],
    /// The error line itself goes through `write(2)` and may be lost.
    stderr_may_be_lost: bool,
}

const FAULT_SETS: &[FaultSet] = &[
    FaultSet {
        name: "open",
        points: &["posix/io/oc/open"],
        stderr_may_be_lost: false,
    },
    FaultSet {
        name: "mmap",
        points: &[
            "posix/mm/mmap",
            "posix/mm/munmap",
            "posix/mm/msync",
            "posix/mm/madvise",
        ],
        stderr_may_be_lost: false,
    },
    FaultSet {
        name: "io",
        points: &[
            "posix/io/rw/read",
            "posix/io/rw/read/reduce",
            "posix/io/rw/pread",
            "posix/io/rw/pread/reduce",
            "posix/io/rw/readv",
            "posix/io/rw/preadv",
            "posix/io/rw/pwrite",
            "posix/io/rw/pwrite/reduce",
            "posix/io/rw/pwritev",
            "posix/io/rw/ftruncate",
            "posix/io/rw/truncate",
            "posix/io/sync/fsync",
            "posix/io/sync/fdatasync",
            "linux/io/sync_file_range",
            // EIO, not a random errno: a caller rightly reads ENOENT from these as "already
            // done", which a real file system would only say if it were true.
            "posix/io/dir/rename,failinfo=5",
            "posix/io/dir/unlink,failinfo=5",
            "posix/io/dir/opendir",
            "posix/io/dir/readdir",
            "posix/io/oc/close",
        ],
        stderr_may_be_lost: false,
    },
    FaultSet {
        name: "write",
        points: &[
            "posix/io/rw/write",
            "posix/io/rw/write/reduce",
            "posix/io/rw/writev",
            "posix/io/rw/writev/reduce",
        ],
        stderr_may_be_lost: true,
    },
];

/// Probabilities a run draws from: rare faults reach deep into a command, frequent ones
/// hit its first calls.
const PROBABILITIES: &[f64] = &[0.02, 0.05, 0.1, 0.25, 0.5];

/// Messages in every template queue, written before the faulty run.
const BEFORE: &[&str] = &["before-0", "before-1", "before-2", "before-3", "before-4"];
/// Messages of a faulty `write` run.
const RUN_MSGS: &[&str] = &["run-0", "run-1", "run-2", "run-3", "run-4"];
const RECOVER_MSG: &str = "recovered";

#[derive(Clone, Copy, Debug)]
enum Backend {
    File,
    Shm,
}

impl Backend {
    const ALL: [Backend; 2] = [Backend::File, Backend::Shm];

    /// The queue spec, inside `dir` (shared memory: `FMQ_SHM_DIR=dir`).
    fn queue(self, dir: &Path) -> String {
        match self {
            Backend::File => dir.join("q").to_str().unwrap().to_string(),
            Backend::Shm => "shm:q".to_string(),
        }
    }

    /// The queue's data files in its directory (the lock file aside).
    fn data_files(self) -> &'static [&'static str] {
        match self {
            Backend::File => &["q.stat", "q.buf"],
            Backend::Shm => &["q"],
        }
    }

    fn tmp_root(self) -> &'static str {
        match self {
            Backend::File => "/tmp",
            Backend::Shm => "/dev/shm",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmd {
    Create,
    WriteArgs,
    WriteStdin,
    Read,
    Check,
    Clear,
    Remove,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Cmd::Create => "create",
            Cmd::WriteArgs => "write (args)",
            Cmd::WriteStdin => "write (stdin)",
            Cmd::Read => "read",
            Cmd::Check => "check",
            Cmd::Clear => "clear",
            Cmd::Remove => "remove",
        }
    }

    fn args(self, q: &str) -> Vec<String> {
        let mut a: Vec<String> = match self {
            Cmd::Create => vec!["create", q, "--slots", "64", "--size", "64K"],
            Cmd::WriteArgs => vec!["write", q, "--type", "7"],
            Cmd::WriteStdin => vec!["write", q],
            Cmd::Read => vec!["read", q, "--from", "oldest", "--format", "json"],
            Cmd::Check => vec!["check", q],
            Cmd::Clear => vec!["clear", q],
            Cmd::Remove => vec!["remove", q],
        }
        .into_iter()
        .map(String::from)
        .collect();
        if self == Cmd::WriteArgs {
            a.extend(RUN_MSGS.iter().map(|m| m.to_string()));
        }
        a
    }

    fn stdin(self) -> Vec<u8> {
        match self {
            Cmd::WriteStdin => RUN_MSGS
                .iter()
                .map(|m| format!("{m}\n"))
                .collect::<String>(),
            _ => String::new(),
        }
        .into_bytes()
    }

    fn writes(self) -> bool {
        matches!(self, Cmd::WriteArgs | Cmd::WriteStdin)
    }

    fn read_only(self) -> bool {
        matches!(self, Cmd::Read | Cmd::Check)
    }
}

/// splitmix64: one seed gives every run its own reproducible numbers.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn base_seed() -> u64 {
    match std::env::var("FMQ_FAULT_SEED") {
        Ok(s) => s.parse().expect("FMQ_FAULT_SEED must be a number"),
        Err(_) => mix(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64),
    }
}

fn runs() -> u64 {
    match std::env::var("FMQ_FAULT_RUNS") {
        Ok(s) => s.parse().expect("FMQ_FAULT_RUNS must be a number"),
        Err(_) => DEFAULT_RUNS,
    }
}

/// `fiu-run` is on PATH; if not, a loud banner, and under CI (which installs it) a failure.
fn fiu_available() -> bool {
    let ok = Command::new("fiu-run")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
        && Path::new("/usr/lib/fiu/fiu_posix_preload.so").exists();
    if !ok {
        let banner = "#".repeat(78);
        // Straight to the process's stderr, not eprintln!: the test harness would swallow
        // the banner of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "{banner}\n# SKIP: fault injection did not run: `fiu-run` (Debian package fiu-utils)\n\
             # is not installed. ./ci/setup.sh installs it (ci/deps.txt).\n{banner}"
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: fiu-utils is installed by ci/setup.sh, so a SKIP here is a failure"
        );
    }
    ok
}

/// `fmq ARGS` without faults, in the run's shared-memory directory.
fn fmq(dir: &Path, args: &[&str]) -> Output {
    Command::new(FMQ)
        .args(args)
        .env("FMQ_SHM_DIR", dir)
        .stdin(Stdio::null())
        .output()
        .expect("run fmq")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(o: &Output) -> String {
    format!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// A template queue with `BEFORE` in it; `stale` leaves a dead writer's mark (SIGKILL).
fn make_template(backend: Backend, stale: bool) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("fmq-fault-template-")
        .tempdir_in(backend.tmp_root())
        .unwrap();
    let q = backend.queue(dir.path());
    let o = fmq(
        dir.path(),
        &["create", &q, "--slots", "64", "--size", "64K"],
    );
    assert!(o.status.success(), "template create: {}", describe(&o));
    let mut args = vec!["write", q.as_str()];
    args.extend(BEFORE);
    let o = fmq(dir.path(), &args);
    assert!(o.status.success(), "template write: {}", describe(&o));
    if stale {
        let mut w = Command::new(FMQ)
            .args(["write", &q])
            .env("FMQ_SHM_DIR", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The writer holds the queue open (its mark set) until stdin ends; wait for the
        // mark, then kill it.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info = fmq(dir.path(), &["info", &q]);
            if text(&info.stdout).contains("open by pid") {
                break;
            }
            assert!(Instant::now() < deadline, "writer mark never set");
            std::thread::sleep(Duration::from_millis(5));
        }
        w.kill().unwrap();
        w.wait().unwrap();
        let info = fmq(dir.path(), &["info", &q]);
        assert!(
            text(&info.stdout).contains("which is gone"),
            "no stale mark"
        );
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The payloads of `fmq read --from oldest --format json` output, or why it is not that.
fn payloads(stdout: &[u8]) -> Result<Vec<String>, String> {
    let mut v = Vec::new();
    for line in text(stdout).lines() {
        let j: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("not json: {line:?}: {e}"))?;
        let b64 = j["data_b64"]
            .as_str()
            .ok_or_else(|| format!("no data_b64: {line:?}"))?;
        let data = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("bad base64 in {line:?}: {e}"))?;
        v.push(text(&data));
    }
    Ok(v)
}

/// One faulty run: what to run and how to reproduce it.
struct Run {
    cmd: Cmd,
    backend: Backend,
    set: &'static FaultSet,
    probability: f64,
    fiu_seed: u32,
    stale: bool,
}

impl Run {
    fn fiu_args(&self) -> Vec<String> {
        let mut a = vec!["-x".to_string(), "-f".to_string(), String::new()];
        for p in self.set.points {
            a.push("-c".into());
            a.push(format!(
                "enable_random name={p},probability={}",
                self.probability
            ));
        }
        a
    }

    fn repro(&self, q: &str) -> String {
        let mut s = format!("FIU_PRNG_SEED={} FMQ_SHM_DIR=DIR fiu-run", self.fiu_seed);
        for a in self.fiu_args() {
            if a.is_empty() || a.contains(' ') {
                let _ = write!(s, " '{a}'");
            } else {
                let _ = write!(s, " {a}");
            }
        }
        let _ = write!(s, " fmq {}", self.cmd.args(q).join(" "));
        if self.cmd == Cmd::WriteStdin {
            s.push_str(" < (run-0..run-4, one a line)");
        }
        s
    }

    fn exec(&self, dir: &Path, q: &str) -> Output {
        let mut c = Command::new("fiu-run")
            .args(self.fiu_args())
            .arg(FMQ)
            .args(self.cmd.args(q))
            .env("FMQ_SHM_DIR", dir)
            .env("FIU_PRNG_SEED", self.fiu_seed.to_string())
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fiu-run");
        let input = self.cmd.stdin();
        let mut stdin = c.stdin.take().unwrap();
        // A failed write may exit before it reads stdin: a broken pipe is its business.
        let _ = stdin.write_all(&input);
        drop(stdin);
        c.wait_with_output().unwrap()
    }
}

/// What happened to one run: a pass, a startup abort outside fmq, or the rules it broke.
enum Verdict {
    Pass { failed: bool },
    RuntimeStartup,
    Fail(Vec<String>),
}

/// Rules 1 and 2: the exit code and stderr of the faulty run.
fn judge_output(run: &Run, o: &Output) -> Result<(), String> {
    let err = text(&o.stderr);
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        if err.contains(bad) {
            return Err(format!("stderr shows a panic ({bad:?})"));
        }
    }
    let code = match (o.status.code(), o.status.signal()) {
        (Some(c @ 0..=2), _) => c,
        (Some(c), _) => return Err(format!("exit code {c}")),
        (None, s) => return Err(format!("killed by signal {s:?}")),
    };
    if code == 0 {
        return Ok(());
    }
    // The failure is one line; warnings the command printed before it failed (a dead
    // writer's mark it found, a recovery it made) are their own lines and say so.
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("fmq: warning: "))
        .collect();
    // Under write faults the lines themselves may be cut short anywhere (a warning cut
    // before its end runs into the error line), or lost.
    let ok = match lines.len() {
        1 => lines[0].starts_with("fmq: ") || run.set.stderr_may_be_lost,
        0 => run.set.stderr_may_be_lost,
        _ => false,
    };
    if !ok {
        return Err(format!(
            "exit {code} without exactly one \"fmq: \" line besides warnings on stderr ({} lines)",
            lines.len()
        ));
    }
    Ok(())
}

/// Whether a create without faults, after a failed one, succeeds and leaves exactly the
/// queue's files and its lock file (it removed every hidden leftover).
fn next_create_cleans_up(run: &Run, dir: &Path, q: &str) -> bool {
    if !fmq(dir, &["create", q, "--slots", "64", "--size", "64K"])
        .status
        .success()
    {
        return false;
    }
    let mut want: Vec<String> = run
        .backend
        .data_files()
        .iter()
        .map(|f| f.to_string())
        .collect();
    want.push("q.lock".into());
    want.sort();
    let mut got = entries(dir);
    got.sort();
    got == want
}

/// Rules 3 and 4: the queue after the run, without faults.
fn judge_queue(run: &Run, dir: &Path, q: &str, o: &Output) -> Result<(), String> {
    let ok = o.status.success();
    let present = entries(dir);
    match run.cmd {
        Cmd::Create if !ok => {
            let data: Vec<&String> = present
                .iter()
                .filter(|f| f.as_str() != "q.lock" && !f.contains(".tmp."))
                .collect();
            // A create that failed after publishing (only its report failed) leaves a whole
            // queue: that is allowed, a half-made one is not.
            return if present.is_empty() {
                Ok(())
            } else if data.is_empty() && run.set.name == "io" && next_create_cleans_up(run, dir, q)
            {
                // Its clean-up's own unlink was failed too: what is left is a lock file and
                // hidden temporary names, which the next create reuses or removes.
                Ok(())
            } else if data.is_empty() {
                Err(format!(
                    "a failed create left its lock or temporary files behind: {present:?}"
                ))
            } else if fmq(dir, &["check", q]).status.success() {
                Ok(())
            } else if run.set.name == "io"
                && !data.iter().any(|f| f.as_str() == "q.stat")
                && next_create_cleans_up(run, dir, q)
            {
                // A new .buf whose .stat never got its name, and whose removal was failed
                // too: no queue exists (nothing was acknowledged), and the next create
                // replaces it.
                Ok(())
            } else {
                Err(format!(
                    "a failed create left data files that fail check behind: {present:?}"
                ))
            };
        }
        Cmd::Remove if !present.is_empty() => {
            let data = run.backend.data_files();
            let whole = data.iter().all(|f| present.iter().any(|p| p == f));
            let none = !data.iter().any(|f| present.iter().any(|p| p == f));
            if ok {
                return Err(format!("remove exited 0 but left {present:?}"));
            }
            // Gone as a queue (its first data file, `.stat` or the segment, is gone): what
            // is left must be named by the error line, and the next create cleans it up.
            let gone = !present.iter().any(|p| p == data[0]);
            if gone
                && text(&o.stderr).contains("could not be deleted")
                && next_create_cleans_up(run, dir, q)
            {
                return Ok(());
            }
            if none {
                return Err(format!("a failed remove left only {present:?}"));
            }
            if !whole {
                return Err(format!(
                    "a failed remove left the queue half-removed (neither whole nor gone): \
                     {present:?}"
                ));
            }
        }
        Cmd::Remove => return Ok(()),
        _ => {}
    }
    let mut recovered = false;
    let check = fmq(dir, &["check", q]);
    if !check.status.success() {
        if run.cmd.read_only() {
            return Err(format!(
                "a read-only command left a queue that fails check: {}",
                describe(&check)
            ));
        }
        if run.cmd == Cmd::Create {
            return Err(format!(
                "create exited 0 but check fails: {}",
                describe(&check)
            ));
        }
        let w = fmq(dir, &["write", q, RECOVER_MSG]);
        if !w.status.success() {
            return Err(format!(
                "check fails ({}) and the next writer cannot recover: {}",
                describe(&check),
                describe(&w)
            ));
        }
        let again = fmq(dir, &["check", q]);
        if !again.status.success() {
            return Err(format!(
                "check fails after the next writer recovered: {}",
                describe(&again)
            ));
        }
        recovered = true;
    }
    let read = fmq(dir, &["read", q, "--from", "oldest", "--format", "json"]);
    if !read.status.success() {
        return Err(format!("read after the run failed: {}", describe(&read)));
    }
    let got = payloads(&read.stdout)?;
    let before: &[&str] = if run.cmd == Cmd::Create { &[] } else { BEFORE };
    let mut want: Vec<String> = before.iter().map(|m| m.to_string()).collect();
    if !got.starts_with(&want) {
        return Err(format!(
            "messages present before the run lost: read {got:?}"
        ));
    }
    // A write that failed may have published a prefix of its messages; one that exited 0,
    // all of them.
    let mut rest = &got[want.len()..];
    if run.cmd.writes() {
        let n = RUN_MSGS
            .iter()
            .zip(rest)
            .take_while(|(a, b)| **a == b.as_str())
            .count();
        if ok && n != RUN_MSGS.len() {
            return Err(format!(
                "write exited 0 but only {n} of its messages are there: read {got:?}"
            ));
        }
        want.extend(RUN_MSGS[..n].iter().map(|m| m.to_string()));
        rest = &rest[n..];
    }
    let tail_ok = match rest {
        [] => !recovered,
        [r] => recovered && r == RECOVER_MSG,
        _ => false,
    };
    if !tail_ok {
        return Err(format!(
            "unexpected messages: read {got:?}, wanted {want:?}"
        ));
    }
    if run.cmd == Cmd::Read && ok {
        let printed = payloads(&o.stdout)?;
        if printed != BEFORE {
            return Err(format!("read exited 0 but printed {printed:?}"));
        }
    }
    Ok(())
}

/// The Rust runtime's own abort before `main`: setting up the main thread's alternate signal
/// stack (`mmap`, then `mprotect` of its guard page) failed, so fmq's code never ran.
fn is_runtime_startup_abort(o: &Output) -> bool {
    let err = text(&o.stderr);
    o.status.signal() == Some(SIGABRT)
        && err.contains("/std/src/sys/pal/unix/stack_overflow.rs")
        && err.contains("fatal runtime error: initialization or cleanup bug")
        && !err.contains("fmq:")
        && o.stdout.is_empty()
}

const SIGABRT: i32 = 6;

fn one_run(run: &Run, templates: &Templates) -> Verdict {
    let dir = tempfile::Builder::new()
        .prefix("fmq-fault-run-")
        .tempdir_in(run.backend.tmp_root())
        .unwrap();
    if run.cmd != Cmd::Create {
        copy_dir(templates.get(run.backend, run.stale), dir.path());
    }
    let q = run.backend.queue(dir.path());
    let o = run.exec(dir.path(), &q);
    let startup = is_runtime_startup_abort(&o);
    let mut broken = Vec::new();
    if !startup {
        if let Err(e) = judge_output(run, &o) {
            broken.push(e);
        }
    }
    // The queue rules hold whatever the output was (after a startup abort: untouched).
    if let Err(e) = judge_queue(run, dir.path(), &q, &o) {
        broken.push(e);
    }
    if broken.is_empty() {
        return if startup {
            Verdict::RuntimeStartup
        } else {
            Verdict::Pass {
                failed: !o.status.success(),
            }
        };
    }
    let detail = format!(
        "\n      run: {}\n      repro: {}",
        describe(&o),
        run.repro(&q)
    );
    Verdict::Fail(broken.into_iter().map(|e| format!("{e}{detail}")).collect())
}

struct Templates {
    clean: [tempfile::TempDir; 2],
    stale: [tempfile::TempDir; 2],
}

impl Templates {
    fn new() -> Templates {
        Templates {
            clean: Backend::ALL.map(|b| make_template(b, false)),
            stale: Backend::ALL.map(|b| make_template(b, true)),
        }
    }

    fn get(&self, backend: Backend, stale: bool) -> &Path {
        let i = backend as usize;
        if stale {
            self.stale[i].path()
        } else {
            self.clean[i].path()
        }
    }
}

/// Runs `cmd` under every fault set on both backends and fails listing every unknown
/// failure, with the seed.
fn fault_test(cmd: Cmd) {
    if !fiu_available() {
        return;
    }
    let seed = base_seed();
    let runs = runs();
    let start = Instant::now();
    let templates = Templates::new();
    let mut failures: Vec<String> = Vec::new();
    let mut known: BTreeMap<&str, u64> = BTreeMap::new();
    let mut stats: BTreeMap<String, [u64; 3]> = BTreeMap::new(); // ok, failed cleanly, startup
    let mut total_failed = 0;
    for backend in Backend::ALL {
        for (si, set) in FAULT_SETS.iter().enumerate() {
            for i in 0..runs {
                let r =
                    mix(seed
                        ^ mix((cmd as u64) << 48 | (backend as u64) << 40 | (si as u64) << 32 | i));
                let run = Run {
                    cmd,
                    backend,
                    set,
                    probability: PROBABILITIES[(r % PROBABILITIES.len() as u64) as usize],
                    fiu_seed: (r >> 32) as u32 & 0x7fff_ffff,
                    stale: match cmd {
                        Cmd::Create => false,
                        Cmd::Clear => true,
                        _ => i % 2 == 1,
                    },
                };
                let key = format!("{backend:?}/{}", set.name);
                let s = stats.entry(key).or_default();
                match one_run(&run, &templates) {
                    Verdict::Pass { failed: false } => s[0] += 1,
                    Verdict::Pass { failed: true } => {
                        s[1] += 1;
                        total_failed += 1;
                    }
                    Verdict::RuntimeStartup => s[2] += 1,
                    Verdict::Fail(broken) => {
                        for e in broken {
                            match known_defect(cmd, set, &e) {
                                Some(defect) => *known.entry(defect).or_default() += 1,
                                None => failures.push(format!(
                                    "  {} on {backend:?} under {} faults (p={}, {}): {e}",
                                    cmd.name(),
                                    set.name,
                                    run.probability,
                                    if run.stale { "stale mark" } else { "clean" },
                                )),
                            }
                        }
                        total_failed += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "fault injection, {}: seed {seed}, {runs} runs per backend and fault set, {:.1} s",
        cmd.name(),
        start.elapsed().as_secs_f64()
    );
    for (k, [ok, failed, startup]) in &stats {
        eprintln!(
            "  {k:12} succeeded {ok}, failed cleanly {failed}, runtime startup aborts {startup}"
        );
    }
    for (defect, n) in &known {
        eprintln!("  KNOWN ({n} runs): {defect}");
    }
    assert!(
        failures.is_empty(),
        "{} of the runs of {} broke the rule (FMQ_FAULT_SEED={seed} reproduces the run):\n{}",
        failures.len(),
        cmd.name(),
        failures.join("\n")
    );
    // Faults that never fire test nothing: with these probabilities some run must fail.
    assert!(
        runs < 3 || total_failed > 0,
        "no run of {} failed: are the faults injected at all? (seed {seed})",
        cmd.name()
    );
}

#[test]
fn create_under_random_faults_fails_with_one_line_and_leaves_nothing_or_succeeds() {
    fault_test(Cmd::Create);
}

#[test]
fn write_args_under_random_faults_fails_with_one_line_or_keeps_every_message() {
    fault_test(Cmd::WriteArgs);
}

#[test]
fn write_stdin_under_random_faults_fails_with_one_line_or_keeps_every_message() {
    fault_test(Cmd::WriteStdin);
}

#[test]
fn read_under_random_faults_fails_with_one_line_or_prints_every_message() {
    fault_test(Cmd::Read);
}

#[test]
fn check_under_random_faults_fails_with_one_line_or_succeeds_and_changes_nothing() {
    fault_test(Cmd::Check);
}

#[test]
fn clear_under_random_faults_fails_with_one_line_or_succeeds_leaving_a_recoverable_queue() {
    fault_test(Cmd::Clear);
}

#[test]
fn remove_under_random_faults_fails_with_one_line_leaving_the_whole_queue_or_nothing() {
    fault_test(Cmd::Remove);
}
