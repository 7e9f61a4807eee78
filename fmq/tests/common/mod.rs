//! Shared helpers of the fmq integration tests: queues with unique names on both backends
//! (removed when dropped), deterministic payloads, byte patching of queue files, a seeded
//! xorshift, and re-executing the test binary as a child process.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fmq::{
    CreateOptions, MessageMeta, ReadError, ReadTimeoutError, Reader, ReaderOptions, StartAt,
    TryReadError,
};

/// A second: the generous timeout for reads that must succeed.
pub const SEC: Duration = Duration::from_secs(1);

/// Header byte offsets (format 2, `docs/file-format.md`).
pub mod off {
    pub const MAGIC: u64 = 0;
    pub const VERSION: u64 = 8;
    pub const BYTE_ORDER_MARK: u64 = 12;
    pub const SLOTS_COUNT: u64 = 16;
    pub const CREATION_TIME: u64 = 40;
    pub const GENERATION: u64 = 48;
    pub const LAYOUT_CRC: u64 = 60;
    pub const WRITER_PID: u64 = 64;
    pub const WRITER_OPEN: u64 = 68;
    pub const YOUNGEST_ID: u64 = 128;
    pub const OLDEST_ID: u64 = 136;
    pub const WRITE_POS: u64 = 144;
    pub const SLEEPERS: u64 = 192;
    pub const HEADER: u64 = 256;
    pub const SLOT: u64 = 64;
    /// Slot field offsets within a slot.
    pub const SLOT_STAMP: u64 = 0;
    pub const SLOT_BUF_POS: u64 = 8;
    pub const SLOT_STORED_LEN: u64 = 16;
    /// Bytes of the `.buf` file's own header.
    pub const BUF_HEADER: u64 = 64;
}

/// A pid that cannot exist (above any `pid_max`).
pub const DEAD_PID: u32 = 2_000_000_000;

/// The two backends every behaviour test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `shm:NAME`, a segment in `/dev/shm`.
    Shm,
    /// `DIR/NAME`, files `NAME.stat` and `NAME.buf` in a temporary directory.
    File,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A queue spec unique to this process and test, whose files are removed on drop.
pub struct TestQueue {
    pub spec: String,
    pub backend: Backend,
    dir: Option<tempfile::TempDir>,
}

impl TestQueue {
    /// A fresh spec (nothing is created).
    pub fn new(backend: Backend, test: &str) -> TestQueue {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        match backend {
            Backend::Shm => TestQueue {
                spec: format!("shm:fmq-test-{}-{test}-{n}", std::process::id()),
                backend,
                dir: None,
            },
            Backend::File => {
                let dir = tempfile::tempdir().expect("tempdir");
                let spec = dir.path().join(format!("{test}-{n}"));
                TestQueue {
                    spec: spec.to_str().expect("utf-8 temp path").to_string(),
                    backend,
                    dir: Some(dir),
                }
            }
        }
    }

    /// The temporary directory (file backend), or a new one for shm tests that need files.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    fn qpath(&self) -> fmq::QueuePath {
        fmq::QueuePath::parse(&self.spec).expect("valid spec")
    }

    /// The file holding the header: `.stat`, or the segment.
    pub fn stat_file(&self) -> PathBuf {
        self.qpath().data_files()[0].to_path_buf()
    }

    /// The file holding the message buffer: `.buf`, or the segment.
    pub fn buf_file(&self) -> PathBuf {
        let q = self.qpath();
        q.data_files().last().expect("a data file").to_path_buf()
    }

    /// The lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.qpath().lock_path().to_path_buf()
    }

    /// Offset, in [`TestQueue::buf_file`], of buffer byte 0 for a queue of `slots` slots.
    pub fn buf_offset(&self, slots: u32) -> u64 {
        match self.backend {
            Backend::Shm => off::HEADER + off::SLOT * u64::from(slots),
            Backend::File => off::BUF_HEADER,
        }
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        let _ = fmq::force_remove(&self.spec);
        if self.backend == Backend::Shm {
            let q = self.qpath();
            for f in q.data_files() {
                let _ = std::fs::remove_file(f);
            }
            let _ = std::fs::remove_file(q.lock_path());
        }
    }
}

/// Create options for a small queue.
pub fn small(slots_count: u32, buf_size_bytes: u64) -> CreateOptions {
    CreateOptions {
        slots_count,
        buf_size_bytes,
        ..CreateOptions::default()
    }
}

/// Reader options starting at `start`, otherwise default.
pub fn from(start: StartAt) -> ReaderOptions {
    ReaderOptions {
        start,
        ..ReaderOptions::default()
    }
}

/// xorshift64: a tiny deterministic generator.
pub fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A seed from the clock (never zero).
pub fn time_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    (t ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

/// The payload of message `id`: 8 to 135 bytes of the test kit's generated payload.
pub fn payload_for(id: u64) -> Vec<u8> {
    let len = 8 + (id.wrapping_mul(2_654_435_761) % 128) as usize;
    let mut v = vec![0; len];
    fmq_testkit::payload::fill_payload(id, &mut v);
    v
}

/// The type and subtype of message `id` in the tests that write [`payload_for`].
pub fn types_for(id: u64) -> (i32, i32) {
    ((id % 5) as i32, -((id % 3) as i32))
}

/// `n` bytes that LZ4 cannot shrink (the test kit's noise).
pub fn incompressible(n: usize, seed: u64) -> Vec<u8> {
    fmq_testkit::payload::noise(seed, n)
}

/// Reads one message into owned values, waiting at most `timeout`.
pub fn read_owned(
    r: &mut Reader,
    timeout: Duration,
) -> Result<(MessageMeta, Vec<u8>), ReadTimeoutError> {
    r.read_timeout(timeout)
        .map(|m| (m.meta, m.payload.to_vec()))
}

/// Like [`read_owned`] without waiting.
pub fn try_read_owned(r: &mut Reader) -> Result<(MessageMeta, Vec<u8>), TryReadError> {
    r.try_read().map(|m| (m.meta, m.payload.to_vec()))
}

/// The result of a read that may find nothing ([`Reader::read_timeout`],
/// [`Reader::try_read`]), with "nothing came" (`TimedOut`, `Empty`) as `Ok(None)`: the form
/// the accounting helpers take from either.
pub trait ReadOutcome<T> {
    fn outcome(self) -> Result<Option<T>, ReadError>;
}

impl<T> ReadOutcome<T> for Result<T, ReadTimeoutError> {
    fn outcome(self) -> Result<Option<T>, ReadError> {
        match self {
            Ok(m) => Ok(Some(m)),
            Err(ReadTimeoutError::TimedOut) => Ok(None),
            Err(ReadTimeoutError::Failed(e)) => Err(e),
        }
    }
}

impl<T> ReadOutcome<T> for Result<T, TryReadError> {
    fn outcome(self) -> Result<Option<T>, ReadError> {
        match self {
            Ok(m) => Ok(Some(m)),
            Err(TryReadError::Empty) => Ok(None),
            Err(TryReadError::Failed(e)) => Err(e),
        }
    }
}

/// Reads every message present now (until `Empty`), returning ids and payloads; panics on
/// any other error.
pub fn drain(r: &mut Reader) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        match try_read_owned(r) {
            Ok((meta, data)) => out.push((meta.id.0, data)),
            Err(TryReadError::Empty) => return out,
            Err(e) => panic!("unexpected read error: {e:?}"),
        }
    }
}

/// Exact accounting of one reader: every id is either received (in order, with the right
/// payload) or reported missed, exactly once.
#[derive(Debug, Default)]
pub struct Accounting {
    /// The id the next successful read must return.
    pub next: u64,
    pub received: u64,
    pub missed: u64,
    pub lag_events: u64,
}

impl Accounting {
    pub fn starting_at(next: u64) -> Accounting {
        Accounting {
            next,
            ..Accounting::default()
        }
    }

    /// Applies one read result of a queue written with [`payload_for`] / [`types_for`].
    /// Returns `false` for `Empty`/`TimedOut`; panics on anything else unexpected.
    pub fn apply(&mut self, r: impl ReadOutcome<(MessageMeta, Vec<u8>)>, ctx: &str) -> bool {
        match r.outcome() {
            Ok(Some((meta, data))) => {
                let id = meta.id.0;
                assert_eq!(id, self.next, "{ctx}: ids must follow on without gaps");
                assert_eq!(data, payload_for(id), "{ctx}: payload of id {id}");
                let (t, s) = types_for(id);
                assert_eq!(
                    (meta.msg_type, meta.subtype),
                    (t, s),
                    "{ctx}: types of {id}"
                );
                self.received += 1;
                self.next = id + 1;
                true
            }
            Err(ReadError::Lagged(fmq::Lag {
                missed_count,
                resumed_at,
            })) => {
                assert!(missed_count > 0, "{ctx}: a lag misses something");
                assert_eq!(
                    resumed_at.0,
                    self.next + missed_count,
                    "{ctx}: missed_count must be exactly the gap to where the reader resumes"
                );
                self.missed += missed_count;
                self.lag_events += 1;
                self.next = resumed_at.0;
                true
            }
            Ok(None) => false,
            Err(e) => panic!("{ctx}: unexpected read error at id {}: {e:?}", self.next),
        }
    }
}

/// Writes `bytes` at `offset` of `path`.
pub fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {path:?}: {e}"));
    f.write_all_at(bytes, offset).expect("patch");
}

/// Reads `n` bytes at `offset` of `path`.
pub fn peek(path: &Path, offset: u64, n: usize) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {path:?}: {e}"));
    let mut v = vec![0; n];
    f.read_exact_at(&mut v, offset).expect("peek");
    v
}

/// Reads a little-endian u64 at `offset`.
pub fn peek_u64(path: &Path, offset: u64) -> u64 {
    u64::from_le_bytes(peek(path, offset, 8).try_into().expect("8 bytes"))
}

/// Sets a file's length.
pub fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .unwrap_or_else(|e| panic!("set_len {path:?}: {e}"));
}

/// A child role's setting from its environment (the parent always sets it).
pub fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} not set"))
}

/// A child's line to its parent, flushed at once.
pub fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    // Leading newline: the harness may have printed "test NAME ... " without one.
    writeln!(out, "\n{line}").unwrap();
    out.flush().unwrap();
}

/// The env var that tells a re-executed test binary which child role to play.
pub const CHILD_ENV: &str = "FMQ_TEST_CHILD";

/// A command that re-runs this test binary with only the (ignored) test `entry`, which
/// plays the child role `mode`.
pub fn child_command(entry: &str, mode: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("current_exe"));
    c.args([
        "--exact",
        entry,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, mode)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

/// Reads the child's stdout until a line holding `prefix`; returns what follows it.
pub fn wait_for_line(out: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("read child stdout");
        assert!(n > 0, "child exited before printing {prefix:?}");
        // The harness may have printed "test NAME ... " on the same line first.
        if let Some(at) = line.find(prefix) {
            return line[at + prefix.len()..].trim().to_string();
        }
    }
}

/// The `RESULT ...` line of a finished child's stdout.
pub fn result_line(stdout: &str) -> Option<&str> {
    stdout
        .lines()
        .find_map(|l| l.find("RESULT ").map(|at| &l[at + "RESULT ".len()..]))
        .map(str::trim)
}

/// A `key=value` field of a result line, parsed.
pub fn field<T: std::str::FromStr>(line: &str, key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("bad {key} in {line:?}: {e:?}"))
}

/// Waits for a child with a deadline, killing it (by its own handle) if it overstays.
pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child {} did not finish within {deadline:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads a child's whole stdout and stderr after it has been waited for (or while it
/// runs to its end).
pub fn collect_output(child: &mut Child) -> (String, String) {
    use std::io::Read;
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    (out, err)
}

/// A child process that is SIGKILLed (by its own handle) and reaped if still running when
/// dropped, so a failing test leaves no process behind.
pub struct ChildProc {
    pub child: Child,
    out: BufReader<ChildStdout>,
}

impl ChildProc {
    /// Spawns `cmd` (whose stdout must be piped).
    pub fn spawn(cmd: &mut Command) -> ChildProc {
        let mut child = cmd.spawn().expect("spawn child");
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        ChildProc { child, out }
    }

    /// Its pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line holding `prefix`; returns what follows it.
    pub fn wait_line(&mut self, prefix: &str) -> String {
        wait_for_line(&mut self.out, prefix)
    }

    /// Like [`ChildProc::wait_line`], but `None` if the child's stdout ends first (the
    /// caller can then [`ChildProc::finish`] it and show its stderr).
    pub fn try_wait_line(&mut self, prefix: &str) -> Option<String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.out.read_line(&mut line).expect("read child stdout") == 0 {
                return None;
            }
            if let Some(at) = line.find(prefix) {
                return Some(line[at + prefix.len()..].trim().to_string());
            }
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) -> std::process::ExitStatus {
        self.child.kill().expect("kill child");
        self.child.wait().expect("wait child")
    }

    /// Waits (up to `deadline`) for the child to end; returns its status, the rest of its
    /// stdout and its stderr.
    pub fn finish(&mut self, deadline: Duration) -> (std::process::ExitStatus, String, String) {
        use std::io::Read;
        let status = wait_with_deadline(&mut self.child, deadline);
        let mut out = String::new();
        let _ = self.out.read_to_string(&mut out);
        let mut err = String::new();
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        (status, out, err)
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Spawning a process copies all of this process's descriptors, the writer locks of other
/// threads included, into the child until it execs (close-on-exec only acts at exec): a
/// writer dropped and re-opened on another thread inside that window finds its own lock
/// still held (`Locked` naming our pid). Tests that spawn processes hold this exclusively;
/// the other tests of the same binary share it.
static SPAWN: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// For a test that spawns processes: no other test of this binary runs meanwhile.
pub fn spawning_test() -> std::sync::RwLockWriteGuard<'static, ()> {
    SPAWN
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// For a test that spawns nothing: runs alongside the others that spawn nothing.
pub fn quiet_test() -> std::sync::RwLockReadGuard<'static, ()> {
    SPAWN
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The [`fmq::OpenError`] inside an admin error (`info`, `check`, `clear`, `remove`); panics
/// on any other.
pub fn admin_open(e: fmq::AdminError) -> fmq::OpenError {
    match e {
        fmq::AdminError::Open(e) => e,
        other => panic!("expected AdminError::Open, got {other:?}"),
    }
}

/// The [`fmq::OpenError`] inside a create error; panics on any other.
pub fn create_open(e: fmq::CreateError) -> fmq::OpenError {
    match e {
        fmq::CreateError::Open(e) => e,
        other => panic!("expected CreateError::Open, got {other:?}"),
    }
}

/// Whether process `pid` exists and is not a zombie (from `/proc/PID/stat`: its state, the
/// field after the parenthesised command name, is not `Z` or `X`).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|at| stat[at + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z" | "X"))
}

/// Free bytes of the file system holding `dir` (`df`'s "Avail", 1-byte blocks).
pub fn free_bytes(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `read_timeout(timeout)` on a reader with nothing to read times out, no sooner than
/// `timeout` and within 1.5 s more (a loaded CI machine); returns how long it took.
pub fn assert_times_out_in(r: &mut fmq::Reader, timeout: Duration, ctx: &str) -> Duration {
    let start = std::time::Instant::now();
    assert_eq!(
        r.read_timeout(timeout).unwrap_err(),
        fmq::ReadTimeoutError::TimedOut,
        "{ctx}"
    );
    let took = start.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(1500),
        "{ctx}: read_timeout({timeout:?}) returned after {took:?}"
    );
    took
}
