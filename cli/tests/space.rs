//! The `fmq` tool on small or limited file systems: a queue that does not fit is refused
//! with one line (shared memory names `--shm-size`), a create over `ulimit -f` fails with
//! one line and leaves no temporary file, and the demo sizes its queue to the shm
//! directory. Small file systems are tmpfs mounts (root only: SKIP banner otherwise).

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{SmallFs, FMQ};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn one_error_line(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn create_refuses_a_queue_larger_than_the_free_space_with_one_line() {
    let Some(fs) = SmallFs::mount("8m") else {
        return;
    };
    let d = fs.path();
    let q = d.join("q");
    let o = Command::new(FMQ)
        .args(["create", q.to_str().unwrap(), "--size", "16M"])
        .output()
        .unwrap();
    let err = one_error_line(&o);
    assert!(
        err.contains(&format!("not enough space in {} for queue", d.display()))
            && err.contains("need 16843072 bytes, free 8388608"),
        "{err}"
    );
    // Shared memory: the line names the container's shm-size option.
    let o = Command::new(FMQ)
        .args(["create", "shm:big", "--size", "16M"])
        .env("FMQ_SHM_DIR", d)
        .output()
        .unwrap();
    let err = one_error_line(&o);
    assert!(err.contains("shm-size"), "{err}");
    assert_eq!(names(d), Vec::<String>::new(), "nothing left behind");
}

#[test]
fn create_over_the_file_size_limit_fails_with_one_line_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("q");
    let o = Command::new("prlimit")
        .args(["--fsize=1000000", "--", FMQ, "create", q.to_str().unwrap()])
        .args(["--size", "8M"])
        .output()
        .unwrap();
    let err = one_error_line(&o);
    assert!(err.contains("file size limit of 1000000"), "{err}");
    assert_eq!(names(dir.path()), Vec::<String>::new());
}

#[test]
fn demo_on_a_small_shm_dir_shrinks_its_buffer_to_fit_or_says_so() {
    let Some(fs) = SmallFs::mount("12m") else {
        return;
    };
    let d = fs.path();
    let o = Command::new(FMQ)
        .args(["demo", "--seconds", "1", "--readers", "1"])
        .env("FMQ_SHM_DIR", d)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        err.contains("not enough space") && err.contains("buffer instead"),
        "{err}"
    );
    assert!(out.contains("result     ok"), "{out}");
    assert_eq!(names(d), Vec::<String>::new(), "the demo removed its queue");
    drop(fs);
    let Some(tiny) = SmallFs::mount("2m") else {
        return;
    };
    let o = Command::new(FMQ)
        .args(["demo", "--seconds", "1", "--readers", "1"])
        .env("FMQ_SHM_DIR", tiny.path())
        .output()
        .unwrap();
    let err = one_error_line(&o);
    assert!(err.contains("not enough space"), "{err}");
}
