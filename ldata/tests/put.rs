//! `fmq_ldata::put` and `latest` on real directories: LROSE's own files (the read-only
//! fixtures of `../shared/lrose-fixtures/ldata`, copied first) are read and reproduced byte
//! for byte; a put moves its file into place, appends one event and rewrites LROSE's files
//! without ever leaving a moment with no XML file; a cross-device move is refused with the
//! file untouched; eight producers at once lose no event.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fmq_ldata::{
    latest, put, LdataError, LdataInfo, PutOptions, ASCII_FILE, EVENT_QUEUE, XML_FILE,
};

/// The LROSE-written ldata directory, copied into `into`; `None` (and a loud SKIP) when the
/// fixtures are not beside the repository.
fn lrose_fixture(into: &Path) -> Option<PathBuf> {
    let src = std::env::var_os("FMQ_LROSE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/lrose-fixtures")
        })
        .join("ldata");
    if !src.is_dir() {
        eprintln!(
            "SKIP: the LROSE fixtures are not at {} (set FMQ_LROSE_FIXTURES)",
            src.display()
        );
        return None;
    }
    let dst = into.join("ldata");
    std::fs::create_dir(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    Some(dst)
}

#[test]
fn lrose_xml_and_ascii_are_read_and_written_byte_for_byte_as_lrose_does() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(dir) = lrose_fixture(tmp.path()) else {
        return;
    };
    let xml = std::fs::read_to_string(dir.join(XML_FILE)).unwrap();
    let info = LdataInfo::parse_lrose_xml(&xml).unwrap();
    assert_eq!(info.unix_time, 1_767_269_040);
    assert_eq!(info.rel_data_path, "20260101/120400.mdv");
    assert_eq!(
        (info.file_ext.as_str(), info.data_type.as_str()),
        ("mdv", "mdv")
    );
    assert_eq!(
        (info.user_info1.as_str(), info.user_info2.as_str()),
        ("info1-4", "none")
    );
    assert_eq!(info.writer, "lrose_probe");
    assert!(!info.is_forecast);
    assert_eq!(
        info.to_lrose_xml(),
        xml,
        "our XML is LROSE's, line for line"
    );
    let ascii = std::fs::read_to_string(dir.join(ASCII_FILE)).unwrap();
    assert_eq!(info.to_lrose_ascii(), ascii, "our ASCII file is LROSE's");
    // A directory only LROSE wrote: the latest event is what its XML says.
    assert_eq!(latest(&dir).unwrap(), Some(info));
}

#[test]
fn a_put_into_an_lrose_directory_leaves_lroses_queue_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(dir) = lrose_fixture(tmp.path()) else {
        return;
    };
    let theirs = [
        "_latest_data_info.stat",
        "_latest_data_info.buf",
        "_latest_data_info.lock",
    ];
    let before: Vec<Vec<u8>> = theirs
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect();
    let info = LdataInfo::new(1_767_269_100, "20260101/120500.mdv");
    let p = put(&dir, &info, &PutOptions::default()).unwrap();
    assert_eq!(p.id, 1);
    assert_eq!(p.info.max_time, 1_767_269_100);
    for (n, b) in theirs.iter().zip(&before) {
        assert_eq!(&std::fs::read(dir.join(n)).unwrap(), b, "{n} changed");
    }
    assert!(dir.join(format!("{EVENT_QUEUE}.stat")).exists());
    let xml = std::fs::read_to_string(dir.join(XML_FILE)).unwrap();
    assert_eq!(LdataInfo::parse_lrose_xml(&xml).unwrap(), p.info);
    assert_eq!(latest(&dir).unwrap(), Some(p.info));
}

#[test]
fn from_file_moves_the_file_into_place_and_max_time_never_goes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("radar");
    std::fs::create_dir(&dir).unwrap();
    let src = tmp.path().join("incoming.nc");
    std::fs::write(&src, b"volume bytes").unwrap();
    let opts = PutOptions {
        from_file: Some(src.clone()),
        ..PutOptions::default()
    };
    let mut info = LdataInfo::new(2_000, "20260101/vol.nc");
    info.writer = "radar-ingest".into();
    let p = put(&dir, &info, &opts).unwrap();
    assert!(!src.exists(), "moved, not copied");
    assert_eq!(
        std::fs::read(dir.join("20260101/vol.nc")).unwrap(),
        b"volume bytes"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("20260101"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("fmq-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(p.info.max_time, 2_000);
    // An older file after it: max_time stays.
    let p = put(
        &dir,
        &LdataInfo::new(1_000, "20260101/old.nc"),
        &PutOptions::default(),
    )
    .unwrap();
    assert_eq!((p.id, p.info.max_time), (2, 2_000));
    let ascii = std::fs::read_to_string(dir.join(ASCII_FILE)).unwrap();
    assert!(ascii.starts_with("1000 1970 1 1 0 16 40 \n"), "{ascii:?}");
}

#[test]
fn a_move_across_file_systems_is_refused_and_the_file_stays() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("SKIP: no /dev/shm for a second file system");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tempfile::Builder::new()
        .prefix("fmq-ldata-")
        .tempfile_in(shm)
        .unwrap();
    std::fs::write(src.path(), b"elsewhere").unwrap();
    let same_fs = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(shm).unwrap().dev() == std::fs::metadata(tmp.path()).unwrap().dev()
    };
    if same_fs {
        eprintln!("SKIP: /dev/shm and the temp dir are one file system here");
        return;
    }
    let opts = PutOptions {
        from_file: Some(src.path().to_path_buf()),
        ..PutOptions::default()
    };
    let e = put(tmp.path(), &LdataInfo::new(1, "x.nc"), &opts).unwrap_err();
    assert!(matches!(e, LdataError::CrossDevice { .. }), "{e}");
    assert!(e.to_string().contains("different file systems"), "{e}");
    assert_eq!(std::fs::read(src.path()).unwrap(), b"elsewhere");
    assert!(!tmp.path().join("x.nc").exists());
    assert!(
        !tmp.path().join(format!("{EVENT_QUEUE}.stat")).exists(),
        "no event for it"
    );
}

#[test]
fn bad_directories_and_paths_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let o = PutOptions::default();
    let missing = tmp.path().join("nope");
    assert!(matches!(
        put(&missing, &LdataInfo::new(1, "a"), &o),
        Err(LdataError::NotADirectory(_))
    ));
    for bad in ["", "../escape.nc", "/abs.nc", "a/../../b"] {
        let e = put(tmp.path(), &LdataInfo::new(1, bad), &o).unwrap_err();
        assert!(matches!(e, LdataError::BadPath(_)), "{bad:?}: {e}");
    }
}

#[test]
fn eight_producers_at_once_lose_no_event_and_the_xml_never_disappears() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Arc::new(tmp.path().to_path_buf());
    // A reader of the XML file the whole time: LROSE's unlink-then-rename would show it gone.
    let stop = Arc::new(AtomicBool::new(false));
    put(&dir, &LdataInfo::new(1, "first.nc"), &PutOptions::default()).unwrap();
    let watcher = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            // ORDERING: Relaxed: a stop flag, nothing published with it.
            while !stop.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(dir.join(XML_FILE))
                    .expect("the XML file is always there");
                LdataInfo::parse_lrose_xml(&text).expect("and always whole");
                reads += 1;
            }
            reads
        })
    };
    let producers: Vec<_> = (0..8)
        .map(|p| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let mut info = LdataInfo::new(10_000 + i, &format!("p{p}/{i}.nc"));
                    info.writer = format!("producer-{p}");
                    let opts = PutOptions {
                        lock_wait: Duration::from_secs(60),
                        ..PutOptions::default()
                    };
                    put(&dir, &info, &opts).expect("each put waits its turn");
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    // ORDERING: Relaxed: see the watcher.
    stop.store(true, Ordering::Relaxed);
    let reads = watcher.join().unwrap();
    assert!(reads > 0);
    let mut r = fmq::Reader::open(
        fmq_ldata::event_queue(&dir),
        &fmq::ReaderOptions {
            start: fmq::StartAt::Oldest,
            ..fmq::ReaderOptions::default()
        },
    )
    .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    while let Ok(m) = r.try_read() {
        let info: LdataInfo = serde_json::from_slice(m.payload).unwrap();
        assert!(
            seen.insert(info.rel_data_path.clone()),
            "{} twice",
            info.rel_data_path
        );
    }
    assert_eq!(seen.len(), 1 + 8 * 25, "every event, once");
}
