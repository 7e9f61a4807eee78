//! Creating and re-creating queues on real file systems (issue "Nothing lost, no one in"):
//! space is reserved at create and a queue that does not fit is refused with one line; a
//! failed create leaves nothing behind; a data file larger than its layout is refused; a
//! replacing create (`CreateOptions::replace`, the CLI's `create --force`) swaps `.stat` and
//! `.buf` as a pair, so readers, `check` and a create stopped at any step (a crash: the
//! process aborts) see the complete old queue or the complete new one. Small file systems are
//! tmpfs mounts (root only: the tests say SKIP loudly otherwise). Every test here holds
//! `SERIAL`: the create fault hook is process-global.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use fmq::__test::{set_create_fault, CreateFault, CreateStep};
use fmq::{CreateError, CreateOptions, OpenError, Reader, Writer, WriterOptions};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "\n******** SKIP: cannot mount a {size} tmpfs (needs root): space tests not run ********\n"
            );
            if std::env::var_os("CI").is_some() {
                panic!("SKIP under CI, which runs as root: cannot mount a {size} tmpfs");
            }
            return None;
        }
        Some(SmallFs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Every name in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

struct FaultGuard;

impl FaultGuard {
    fn set(f: CreateFault) -> FaultGuard {
        set_create_fault(Some(f));
        FaultGuard
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        set_create_fault(None);
    }
}

fn big(slots_count: u32, buf: u64) -> CreateOptions {
    small(slots_count, buf)
}

#[test]
fn create_refuses_a_queue_larger_than_the_free_space_with_one_line() {
    let _s = serial();
    let Some(fs) = SmallFs::mount("8m") else {
        return;
    };
    let spec = fs.path().join("q");
    let spec = spec.to_str().unwrap();
    let err = Writer::create(spec, &big(1024, 16 << 20)).unwrap_err();
    let needed = 256 + 64 * 1024 + 64 + (16 << 20);
    match &err {
        CreateError::NoSpace {
            needed: n, free, ..
        } => {
            assert_eq!(*n, needed);
            assert_eq!(*free, 8 << 20);
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "not enough space in {} for queue {spec}: need {needed} bytes, free {}",
            fs.path().display(),
            8 << 20
        )
    );
    assert_eq!(
        names(fs.path()),
        Vec::<String>::new(),
        "nothing left behind"
    );
    // A queue that fits is created, and every byte of it is reserved.
    let mut w = Writer::create(spec, &big(16, 4 << 20)).unwrap();
    w.write(0, 0, b"fits").unwrap();
    let used = (8u64 << 20) - free_bytes(fs.path());
    assert!(used >= 4 << 20, "space reserved: {used}");
}

/// Free bytes of a file system (`df`'s "Avail", 1-byte blocks).

#[test]
fn create_that_runs_out_of_space_while_reserving_leaves_no_data_or_temp_file_and_says_so() {
    let _s = serial();
    let Some(fs) = SmallFs::mount("8m") else {
        return;
    };
    let _f = FaultGuard::set(CreateFault::SkipSpaceCheck);
    for (name, opts) in [
        ("stat", big(200_000, 64 << 10)), // the .stat does not fit
        ("buf", big(16, 16 << 20)),       // the .buf does not fit
    ] {
        let spec = fs.path().join(name);
        let spec = spec.to_str().unwrap();
        let before = free_bytes(fs.path());
        let err = Writer::create(spec, &opts).unwrap_err();
        assert!(
            matches!(err, CreateError::NoSpace { .. }),
            "{name}: expected NoSpace, got {err:?}"
        );
        assert!(
            err.to_string().starts_with(&format!(
                "not enough space in {} for queue {spec}: need ",
                fs.path().display()
            )),
            "{err}"
        );
        // The lock file is the lock module's (created before the reservation failed).
        let left: Vec<String> = names(fs.path())
            .into_iter()
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        assert_eq!(left, Vec::<String>::new(), "{name}: nothing left behind");
        // All but the lock file's page is free again.
        let free = free_bytes(fs.path());
        assert!(
            free + 4096 >= before,
            "{name}: space given back: {free} of {before}"
        );
    }
}

#[test]
fn a_data_file_larger_than_its_layout_is_refused_by_open_and_reported_by_check() {
    let _s = serial();
    for (b, part) in [
        (Backend::File, "buf"),
        (Backend::File, "stat"),
        (Backend::Shm, "segment"),
    ] {
        let q = TestQueue::new(b, "larger");
        let mut w = Writer::create(&q.spec, &small(16, 64 << 10)).unwrap();
        w.write(0, 0, b"x").unwrap();
        drop(w);
        let file = if part == "stat" {
            q.stat_file()
        } else {
            q.buf_file()
        };
        let needed = std::fs::metadata(&file).unwrap().len();
        let huge = 1u64 << 40; // 1 TiB, sparse
        set_len(&file, huge);
        let ctx = format!("{b:?} {part}");
        let errs = [
            Reader::open(&q.spec, &fmq::ReaderOptions::default()).unwrap_err(),
            Writer::open(&q.spec, &WriterOptions::default()).unwrap_err(),
            admin_open(fmq::info(&q.spec).unwrap_err()),
            admin_open(fmq::slots(&q.spec).unwrap_err()),
        ];
        for e in errs {
            match &e {
                OpenError::BadFileSize {
                    file: f,
                    len,
                    needed: n,
                } => assert_eq!((f, *len, *n), (&file, huge, needed), "{ctx}"),
                other => panic!("{ctx}: expected BadFileSize, got {other:?}"),
            }
        }
        let report = fmq::check(&q.spec).unwrap();
        assert!(!report.is_healthy(), "{ctx}: check says healthy");
        assert!(
            report.problems[0].contains(&format!("has {huge} bytes but its header needs {needed}")),
            "{ctx}: {report:?}"
        );
        set_len(&file, needed);
        assert!(fmq::check(&q.spec).unwrap().is_healthy(), "{ctx}");
    }
}

/// Old messages of the crash-point tests.
const OLD: [&[u8]; 3] = [b"old one", b"old two", b"old three"];

fn make_old(spec: &str) {
    let mut w = Writer::create(spec, &small(16, 4096)).unwrap();
    for m in OLD {
        w.write(0, 0, m).unwrap();
    }
}

/// The payloads a reader from the oldest finds, and whether `check` says healthy.
fn contents(spec: &str) -> (Vec<Vec<u8>>, bool) {
    let mut r = Reader::open(spec, &from(fmq::StartAt::Oldest))
        .unwrap_or_else(|e| panic!("open after the stop: {e}"));
    let got = drain(&mut r).into_iter().map(|(_, d)| d).collect();
    let report = fmq::check(spec).unwrap();
    (got, report.is_healthy())
}

fn old_contents() -> Vec<Vec<u8>> {
    OLD.iter().map(|m| m.to_vec()).collect()
}

/// Names in the queue's directory other than its three files.
fn leftovers(dir: &Path, name: &str) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| {
            ![".stat", ".buf", ".lock"]
                .map(|e| format!("{name}{e}"))
                .contains(n)
        })
        .collect()
}

const ENTRY: &str = "create_child_entry";

#[test]
#[ignore = "child-process entry point of the crash-point test"]
fn create_child_entry() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("crash") {
        return;
    }
    let step = match env("FMQ_TEST_STEP").as_str() {
        "1" => CreateStep::Named,
        "2" => CreateStep::BackedUp,
        "3" => CreateStep::BufRenamed,
        "4" => CreateStep::StatRenamed,
        _ => CreateStep::BackupRemoved,
    };
    set_create_fault(Some(CreateFault::CrashAfter(step)));
    let opts = CreateOptions {
        replace: true,
        ..small(32, 8192)
    };
    let r = Writer::create(env("FMQ_TEST_SPEC"), &opts);
    say(&format!("NOT STOPPED {r:?}"));
}

/// A file-backed queue holding the old messages (`make_old`), its directory and its name.
fn old_file_queue(tag: &str) -> (TestQueue, PathBuf, String) {
    let q = TestQueue::new(Backend::File, tag);
    let dir = q.dir().unwrap().to_path_buf();
    let name = Path::new(&q.spec)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    make_old(&q.spec);
    (q, dir, name)
}

#[test]
fn create_replace_stopped_at_any_step_leaves_the_old_or_the_new_queue_complete() {
    let _s = serial();
    let _spawn = spawning_test();
    for step in 1..=5u32 {
        let (q, dir, name) = old_file_queue("crash");
        let mut child = ChildProc::spawn(
            child_command(ENTRY, "crash")
                .env("FMQ_TEST_STEP", step.to_string())
                .env("FMQ_TEST_SPEC", &q.spec),
        );
        let (status, out, err) = child.finish(Duration::from_secs(20));
        assert!(
            !status.success() && !out.contains("NOT STOPPED"),
            "step {step}: the child did not stop: {status}\n{out}\n{err}"
        );
        // Before any writer repairs it: readers and check see one complete queue.
        let expect_new = step >= 4;
        let (got, healthy) = contents(&q.spec);
        assert!(healthy, "step {step}: check after the stop");
        if expect_new {
            assert_eq!(got, Vec::<Vec<u8>>::new(), "step {step}: the new queue");
            assert_eq!(
                Reader::open(&q.spec, &from(fmq::StartAt::Oldest))
                    .unwrap()
                    .layout()
                    .slots_count(),
                32
            );
        } else {
            assert_eq!(got, old_contents(), "step {step}: the old queue");
        }
        // The next writer repairs whatever is half done and removes the leftovers.
        let mut w = Writer::open(&q.spec, &WriterOptions::default()).unwrap();
        assert_eq!(leftovers(&dir, &name), Vec::<String>::new(), "step {step}");
        w.write(0, 0, b"after").unwrap();
        drop(w);
        let (got, healthy) = contents(&q.spec);
        assert!(healthy, "step {step}: check after the repair");
        let mut want = if expect_new { vec![] } else { old_contents() };
        want.push(b"after".to_vec());
        assert_eq!(got, want, "step {step}: after the repair");
    }
}

#[test]
fn a_failed_step_of_create_replace_keeps_the_old_queue_and_leaves_no_temporary_file() {
    let _s = serial();
    for step in [
        CreateStep::Named,
        CreateStep::BackedUp,
        CreateStep::BufRenamed,
        CreateStep::StatRenamed,
    ] {
        let (q, dir, name) = old_file_queue("fail");
        let f = FaultGuard::set(CreateFault::Fail(step));
        let opts = CreateOptions {
            replace: true,
            ..small(32, 8192)
        };
        let err = Writer::create(&q.spec, &opts).unwrap_err();
        drop(f);
        assert!(
            err.to_string().contains("injected failure"),
            "{step:?}: {err}"
        );
        assert_eq!(leftovers(&dir, &name), Vec::<String>::new(), "{step:?}");
        let (got, healthy) = contents(&q.spec);
        assert!(healthy, "{step:?}");
        assert_eq!(got, old_contents(), "{step:?}: the old queue is intact");
        // And its writer goes on.
        Writer::open(&q.spec, &WriterOptions::default())
            .unwrap()
            .write(0, 0, b"more")
            .unwrap();
    }
    // A fresh create that fails leaves nothing but the lock file.
    let q = TestQueue::new(Backend::File, "fresh");
    let dir = q.dir().unwrap().to_path_buf();
    let f = FaultGuard::set(CreateFault::Fail(CreateStep::StatRenamed));
    Writer::create(&q.spec, &small(16, 4096)).unwrap_err();
    drop(f);
    let left: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

#[test]
fn readers_and_check_during_a_create_replace_loop_see_a_complete_queue_never_a_mismatch() {
    let _s = serial();
    let q = TestQueue::new(Backend::File, "loop");
    make_old(&q.spec);
    let spec = q.spec.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let creator = {
        let (spec, stop) = (spec.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            let opts = CreateOptions {
                replace: true,
                ..small(16, 4096)
            };
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut w = Writer::create(&spec, &opts).unwrap();
                w.write(0, 0, b"fresh").unwrap();
                n += 1;
            }
            n
        })
    };
    let start = Instant::now();
    let (mut checks, mut opens) = (0u64, 0u64);
    let mut problems: Vec<String> = Vec::new();
    while start.elapsed() < Duration::from_millis(1500) {
        match fmq::check(&spec) {
            Ok(report) => problems.extend(report.problems),
            Err(e) => problems.push(format!("check: {e}")),
        }
        checks += 1;
        match Reader::open(&spec, &from(fmq::StartAt::Oldest)) {
            Ok(_) => opens += 1,
            Err(e) => problems.push(format!("open: {e}")),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let creates = creator.join().unwrap();
    assert!(
        creates > 20 && checks > 20,
        "{creates} creates, {checks} checks"
    );
    assert_eq!(
        problems,
        Vec::<String>::new(),
        "{checks} checks, {opens} opens, {creates} creates"
    );
}
