//! What the `fmq` tool's process tests share: running the built binary, reading its
//! output, the one-line error rule (exit 1, one `fmq: error:` line, no panic), waiting for
//! a child with a limit, and the root check with its loud SKIP.

#![allow(dead_code)] // each test file uses its own part

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const FMQ: &str = env!("CARGO_BIN_EXE_fmq");

/// Runs `fmq ARGS` to completion.
pub fn fmq(args: &[&str]) -> Output {
    fmq_with(args, &[])
}

/// Runs `fmq ARGS` with extra environment variables.
pub fn fmq_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(FMQ);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run fmq")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

pub fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

/// Exit status 1 with exactly one line on stderr, naming `needle`, and no panic text.
pub fn assert_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stderr: {err}\nstdout: {}",
        stdout(o)
    );
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("fmq: error: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// Starts `fmq ARGS` with piped stdin, stdout and stderr.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(FMQ)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fmq")
}

/// Waits for `c` to exit, killing it and failing the test after `limit`.
pub fn wait_exit(c: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn is_root() -> bool {
    // The owner of /proc/self is this process's effective uid.
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0
}

/// Prints a loud SKIP banner and returns true when `test` cannot run here (not root);
/// under CI, which runs as root, a SKIP fails instead.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! SKIP: {test} needs root \
         (a second user, mounts or pid namespaces); CI runs as root\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    if std::env::var_os("CI").is_some() {
        panic!("SKIP of {test} under CI, which runs as root");
    }
    true
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped. `None`, after a
/// loud SKIP banner, where it cannot be mounted (not root); under CI, which runs as root,
/// that fails the test instead.
pub struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    pub fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("\n******** SKIP: cannot mount a {size} tmpfs (needs root) ********\n");
            if std::env::var_os("CI").is_some() {
                panic!("SKIP under CI, which runs as root: cannot mount a {size} tmpfs");
            }
            return None;
        }
        Some(SmallFs { dir })
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
