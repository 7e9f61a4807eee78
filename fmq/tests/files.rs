//! Bad input: corrupt, foreign, truncated, mismatched, symlinked and random queue files give
//! clear errors, never panics or hangs (DESIGN invariant 6); `check` reports damage;
//! `FMQ_USE_FILE_LOCKING` (process-global, so tested in child processes).

mod common;

use std::io::Write as _;
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use fmq::{
    AdminError, AttachError, CorruptReason, CreateError, CreateOptions, Locking, MessageId,
    OpenError, ReadError, ReadTimeoutError, Reader, ReaderOptions, RecoverError, StartAt,
    TryReadError, WaitStrategy, Writer, WriterOptions,
};
use fmq_core::Part;

/// Line 0 of the header (bytes 0..64) as words.
fn line0(path: &Path) -> [u64; 8] {
    let bytes = peek(path, 0, 64);
    let mut w = [0u64; 8];
    for (i, c) in bytes.chunks_exact(8).enumerate() {
        w[i] = u64::from_le_bytes(c.try_into().unwrap());
    }
    w
}

/// Rewrites line 0 with `edit`, then (if `fix_crc`) stores a layout CRC that matches it.
fn rewrite_line0(path: &Path, fix_crc: bool, edit: impl FnOnce(&mut [u64; 8])) {
    let mut w = line0(path);
    edit(&mut w);
    if fix_crc {
        let crc = fmq_core::header::layout_crc(&w);
        w[7] = (w[7] & 0xffff_ffff) | (u64::from(crc) << 32);
    }
    let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
    patch(path, 0, &bytes);
}

/// A closed queue with `n` messages of [`payload_for`].
fn make_queue(b: Backend, test: &str, slots: u32, buf: u64, n: u64) -> TestQueue {
    let q = TestQueue::new(b, test);
    let mut w = Writer::create(&q.spec, &small(slots, buf)).unwrap();
    for id in 1..=n {
        let (t, s) = types_for(id);
        w.write(t, s, &payload_for(id)).unwrap();
    }
    q
}

fn attach_error_of_reader(spec: &str) -> AttachError {
    match Reader::open(spec, &ReaderOptions::default()).unwrap_err() {
        OpenError::Attach { queue, reason } => {
            assert_eq!(queue, spec);
            reason
        }
        other => panic!("expected Attach, got {other:?}"),
    }
}

fn attach_error_of_writer(spec: &str) -> AttachError {
    match Writer::open(spec, &WriterOptions::default()).unwrap_err() {
        OpenError::Recover {
            reason: RecoverError::Attach(e),
            ..
        } => e,
        other => panic!("expected Recover(Attach), got {other:?}"),
    }
}

fn both(f: impl Fn(Backend)) {
    f(Backend::Shm);
    f(Backend::File);
}

#[test]
fn bad_stat_magic_is_refused_with_attach_bad_magic() {
    let _serial = quiet_test();
    both(|b| {
        let q = make_queue(b, "bad_magic", 16, 4096, 3);
        patch(&q.stat_file(), off::MAGIC, b"NOTFMQ!!");
        let found = u64::from_le_bytes(*b"NOTFMQ!!");
        assert_eq!(
            attach_error_of_reader(&q.spec),
            AttachError::BadMagic { found }
        );
        assert_eq!(
            attach_error_of_writer(&q.spec),
            AttachError::BadMagic { found }
        );
        let err = Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "queue {}: not an fmq queue: bad magic {found:#018x}",
                q.spec
            )
        );
        assert!(matches!(
            fmq::info(&q.spec),
            Err(AdminError::Open(OpenError::Attach {
                reason: AttachError::BadMagic { .. },
                ..
            }))
        ));
        let report = fmq::check(&q.spec).unwrap();
        assert_eq!(report.problems.len(), 1, "{b:?}: {report:?}");
        assert!(report.problems[0].contains("bad magic"), "{report:?}");

        patch(&q.stat_file(), off::MAGIC, &[0; 8]);
        assert_eq!(attach_error_of_reader(&q.spec), AttachError::NotFormatted);
    });
}

#[test]
fn future_version_with_a_valid_layout_crc_is_refused_as_unsupported_version() {
    let _serial = quiet_test();
    both(|b| {
        let q = make_queue(b, "future", 16, 4096, 3);
        rewrite_line0(&q.stat_file(), true, |w| {
            w[1] = (w[1] & !0xffff_ffff) | 3; // version 3, byte-order mark kept
        });
        let want = AttachError::UnsupportedVersion {
            found: 3,
            supported: 2,
        };
        assert_eq!(attach_error_of_reader(&q.spec), want);
        assert_eq!(attach_error_of_writer(&q.spec), want);
        let err = Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("unsupported queue format version 3 (this build reads version 2)"),
            "{err}"
        );
    });
}

#[test]
fn future_version_is_reported_before_the_layout_checksum_is_checked() {
    let _serial = quiet_test();
    // A later format may checksum its header differently, so a newer file must be called
    // newer, not corrupt: patching only the version (CRC now stale) still names the version.
    both(|b| {
        let q = make_queue(b, "future_stale_crc", 16, 4096, 1);
        patch(&q.stat_file(), off::VERSION, &3u32.to_le_bytes());
        assert_eq!(
            attach_error_of_reader(&q.spec),
            AttachError::UnsupportedVersion {
                found: 3,
                supported: 2
            }
        );
    });
}

#[test]
fn layout_field_changed_without_fixing_the_crc_fails_the_header_checksum() {
    let _serial = quiet_test();
    both(|b| {
        let q = make_queue(b, "crc", 16, 4096, 3);
        let original = line0(&q.stat_file());
        // creation time, then the slot count (which also sizes the stat part)
        for (offset, bytes) in [
            (off::CREATION_TIME, 12345u64.to_le_bytes().to_vec()),
            (off::SLOTS_COUNT, 8u32.to_le_bytes().to_vec()),
            (off::SLOTS_COUNT, 4096u32.to_le_bytes().to_vec()),
        ] {
            rewrite_line0(&q.stat_file(), false, |w| *w = original);
            patch(&q.stat_file(), offset, &bytes);
            assert!(
                matches!(
                    attach_error_of_reader(&q.spec),
                    AttachError::HeaderChecksum { .. }
                ),
                "{b:?}: patch at {offset}"
            );
            assert!(matches!(
                attach_error_of_writer(&q.spec),
                AttachError::HeaderChecksum { .. }
            ));
        }
        rewrite_line0(&q.stat_file(), false, |w| *w = original);
        assert!(Reader::open(&q.spec, &ReaderOptions::default()).is_ok());
    });
}

#[test]
fn foreign_byte_order_mark_is_refused() {
    let _serial = quiet_test();
    both(|b| {
        let q = make_queue(b, "bom", 16, 4096, 1);
        patch(
            &q.stat_file(),
            off::BYTE_ORDER_MARK,
            &0x0102_0304u32.to_be_bytes(),
        );
        assert_eq!(
            attach_error_of_reader(&q.spec),
            AttachError::ForeignByteOrder { found: 0x0403_0201 }
        );
    });
}

#[test]
fn unknown_compression_codec_is_refused_with_unknown_codec() {
    let _serial = quiet_test();
    both(|b| {
        let q = make_queue(b, "codec", 16, 4096, 1);
        rewrite_line0(&q.stat_file(), true, |w| {
            w[4] = (w[4] & 0xffff_ffff) | (2u64 << 32); // queue_flags: codec 2
        });
        match Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err() {
            OpenError::UnknownCodec { codec, .. } => assert_eq!(codec, 2),
            other => panic!("expected UnknownCodec, got {other:?}"),
        }
        assert!(matches!(
            Writer::open(&q.spec, &WriterOptions::default()),
            Err(OpenError::UnknownCodec { codec: 2, .. })
        ));
    });
}

#[test]
fn writer_refused_for_an_unknown_codec_leaves_the_header_unchanged() {
    let _serial = quiet_test();
    both(|b| {
        let q = make_queue(b, "codec_untouched", 16, 4096, 1);
        rewrite_line0(&q.stat_file(), true, |w| {
            w[4] = (w[4] & 0xffff_ffff) | (2u64 << 32);
        });
        let before = std::fs::read(q.stat_file()).unwrap();
        assert!(matches!(
            Writer::open(&q.spec, &WriterOptions::default()),
            Err(OpenError::UnknownCodec { codec: 2, .. })
        ));
        let after = std::fs::read(q.stat_file()).unwrap();
        let changed: Vec<usize> = (0..before.len())
            .filter(|&i| before[i] != after[i])
            .collect();
        assert!(changed.is_empty(), "{b:?}: bytes changed at {changed:?}");
    });
}

#[test]
fn writer_open_of_a_missing_queue_is_not_found_and_leaves_no_lock_file() {
    let _serial = quiet_test();
    both(|b| {
        let q = TestQueue::new(b, "missing");
        assert!(matches!(
            Writer::open(&q.spec, &WriterOptions::default()),
            Err(OpenError::NotFound { .. })
        ));
        assert!(
            !q.lock_file().exists(),
            "{b:?}: {} left behind",
            q.lock_file().display()
        );
    });
}

#[test]
fn zero_length_data_files_are_refused_with_empty_file() {
    let _serial = quiet_test();
    for b in [Backend::Shm, Backend::File] {
        let files = match b {
            Backend::Shm => vec![true],
            Backend::File => vec![true, false],
        };
        for stat in files {
            let q = make_queue(b, "empty", 16, 4096, 1);
            let file = if stat { q.stat_file() } else { q.buf_file() };
            set_len(&file, 0);
            for err in [
                Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err(),
                Writer::open(&q.spec, &WriterOptions::default()).unwrap_err(),
                admin_open(fmq::info(&q.spec).unwrap_err()),
            ] {
                match err {
                    OpenError::EmptyFile { file: f } => assert_eq!(f, file),
                    other => panic!("{b:?}: expected EmptyFile, got {other:?}"),
                }
            }
            let report = fmq::check(&q.spec).unwrap();
            assert!(!report.is_healthy());
            // Refused without `replace`; a create with it replaces the damaged queue.
            assert!(matches!(
                Writer::create(&q.spec, &small(16, 4096)),
                Err(CreateError::AlreadyExists { .. })
            ));
            let forced = CreateOptions {
                replace: true,
                ..small(16, 4096)
            };
            Writer::create(&q.spec, &forced)
                .unwrap()
                .write(0, 0, b"x")
                .unwrap();
            let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
            assert_eq!(drain(&mut r), vec![(1, b"x".to_vec())]);
        }
    }
}

fn is_size_error(e: &OpenError) -> bool {
    matches!(
        e,
        OpenError::BadFileSize { .. }
            | OpenError::Attach {
                reason: AttachError::RegionTooSmall { .. },
                ..
            }
            | OpenError::Recover {
                reason: RecoverError::Attach(AttachError::RegionTooSmall { .. }),
                ..
            }
    )
}

#[test]
fn truncated_stat_buf_or_segment_is_an_error_not_a_panic() {
    let _serial = quiet_test();
    const SLOTS: u32 = 16;
    const BUF: u64 = 4096;
    let stat_len = 256 + 64 * u64::from(SLOTS);
    for b in [Backend::Shm, Backend::File] {
        let q = make_queue(b, "truncated", SLOTS, BUF, 5);
        let stat_bytes = std::fs::read(q.stat_file()).unwrap();
        let buf_bytes = std::fs::read(q.buf_file()).unwrap();
        let cases: Vec<(bool, u64)> = match b {
            Backend::Shm => [
                1,
                7,
                100,
                255,
                256,
                300,
                stat_len - 1,
                stat_len,
                stat_len + 100,
            ]
            .into_iter()
            .chain([stat_len + BUF - 8, stat_len + BUF - 1])
            .map(|n| (true, n))
            .collect(),
            Backend::File => [1, 7, 100, 255, 256, 300, stat_len - 8, stat_len - 1]
                .into_iter()
                .map(|n| (true, n))
                .chain(
                    [1, 63, 64, 100, 64 + BUF - 8, 64 + BUF - 1]
                        .into_iter()
                        .map(|n| (false, n)),
                )
                .collect(),
        };
        for (stat, len) in cases {
            std::fs::write(q.stat_file(), &stat_bytes).unwrap();
            std::fs::write(q.buf_file(), &buf_bytes).unwrap();
            let file = if stat { q.stat_file() } else { q.buf_file() };
            set_len(&file, len);
            let ctx = format!("{b:?} {} truncated to {len}", file.display());
            let r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err();
            assert!(is_size_error(&r), "{ctx}: reader got {r:?}");
            let w = Writer::open(&q.spec, &WriterOptions::default()).unwrap_err();
            assert!(is_size_error(&w), "{ctx}: writer got {w:?}");
            let i = admin_open(fmq::info(&q.spec).unwrap_err());
            assert!(is_size_error(&i), "{ctx}: info got {i:?}");
            let s = admin_open(fmq::slots(&q.spec).unwrap_err());
            assert!(is_size_error(&s), "{ctx}: slots got {s:?}");
            let report = fmq::check(&q.spec).unwrap();
            assert!(!report.is_healthy(), "{ctx}: check says healthy");
            if !stat && len < 64 {
                assert!(
                    matches!(r, OpenError::BadFileSize { needed: 64, .. }),
                    "{ctx}"
                );
            }
            if !stat && len >= 64 {
                assert!(
                    matches!(
                        r,
                        OpenError::Attach {
                            reason: AttachError::RegionTooSmall {
                                part: Part::Buf,
                                ..
                            },
                            ..
                        }
                    ),
                    "{ctx}: {r:?}"
                );
            }
        }
    }
}

#[test]
fn buf_file_of_another_queue_is_refused_as_mismatched_files() {
    let _serial = quiet_test();
    let a = make_queue(Backend::File, "mine", 16, 4096, 2);
    std::thread::sleep(Duration::from_millis(2)); // distinct creation times, generations
    let other = make_queue(Backend::File, "other", 16, 4096, 2);
    let gen = |q: &TestQueue| fmq::info(&q.spec).unwrap().header.generation;
    let (gen_a, gen_other) = (gen(&a), gen(&other));
    assert_ne!(gen_a, gen_other);
    std::fs::copy(other.buf_file(), a.buf_file()).unwrap();
    for err in [
        Reader::open(&a.spec, &ReaderOptions::default()).unwrap_err(),
        Writer::open(&a.spec, &WriterOptions::default()).unwrap_err(),
        admin_open(fmq::info(&a.spec).unwrap_err()),
    ] {
        match err {
            OpenError::MismatchedFiles {
                queue,
                stat_generation,
                buf_generation,
            } => assert_eq!(
                (queue.as_str(), stat_generation, buf_generation),
                (a.spec.as_str(), gen_a, gen_other)
            ),
            other => panic!("expected MismatchedFiles, got {other:?}"),
        }
    }
    let report = fmq::check(&a.spec).unwrap();
    assert!(
        report.problems[0].contains("belongs to another queue"),
        "{report:?}"
    );
}

#[test]
fn buf_file_with_bad_magic_is_refused_as_bad_buf_header() {
    let _serial = quiet_test();
    let q = make_queue(Backend::File, "buf_magic", 16, 4096, 2);
    patch(&q.buf_file(), 0, b"garbage!");
    for err in [
        Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err(),
        Writer::open(&q.spec, &WriterOptions::default()).unwrap_err(),
    ] {
        match err {
            OpenError::BadBufHeader { file } => assert_eq!(file, q.buf_file()),
            other => panic!("expected BadBufHeader, got {other:?}"),
        }
    }
    assert!(!fmq::check(&q.spec).unwrap().is_healthy());
}

#[test]
fn bad_queue_names_are_refused_with_bad_name() {
    let _serial = quiet_test();
    for spec in ["", "shm:", "shm:a/b", "dir/", "..", "/"] {
        assert!(
            matches!(
                Reader::open(spec, &ReaderOptions::default()),
                Err(OpenError::BadName(_))
            ),
            "{spec:?}"
        );
        assert!(matches!(
            Writer::create(spec, &small(16, 4096)),
            Err(CreateError::Open(OpenError::BadName(_)))
        ));
    }
}

/// What [`exercise`] got through.
#[derive(Debug, Default)]
struct Reached {
    reader_opened: u64,
    messages_read: u64,
    corrupt_reported: u64,
    writer_opened: u64,
}

/// Opens, inspects, reads and recovers whatever `spec` holds; everything may fail, nothing
/// may panic, and a writer that does open must leave a queue whose next message reads back.
fn exercise(spec: &str, reached: &mut Reached) {
    let _ = fmq::info(spec);
    let _ = fmq::slots(spec);
    let _ = fmq::check(spec);
    let opts = ReaderOptions {
        start: StartAt::Oldest,
        wait: WaitStrategy::poll(Duration::from_millis(1)),
        ..ReaderOptions::default()
    };
    if let Ok(mut r) = Reader::open(spec, &opts) {
        reached.reader_opened += 1;
        for _ in 0..40 {
            match r.try_read() {
                Ok(_) => reached.messages_read += 1,
                Err(TryReadError::Empty) => break,
                Err(TryReadError::Failed(ReadError::Corrupt { .. })) => {
                    reached.corrupt_reported += 1
                }
                Err(TryReadError::Failed(e)) if !e.is_fatal() => {}
                Err(_) => break,
            }
        }
    }
    if let Ok(mut w) = Writer::open(spec, &WriterOptions::default()) {
        reached.writer_opened += 1;
        if let Ok(id) = w.write(1, 2, b"after recovery") {
            let mut r = Reader::open(spec, &from(StartAt::Youngest)).unwrap();
            let (m, data) = try_read_owned(&mut r).unwrap();
            assert_eq!((m.id, data.as_slice()), (id, &b"after recovery"[..]));
        }
    }
}

#[test]
fn random_garbage_and_mutated_queue_files_give_errors_never_panics() {
    let _serial = quiet_test();
    let seed = time_seed();
    println!("seed {seed:#x}");
    let mut x = seed;
    let mut rnd = move |n: u64| xorshift(&mut x) % n.max(1);
    for b in [Backend::Shm, Backend::File] {
        let q = make_queue(b, "garbage", 8, 1024, 20);
        let stat_t = std::fs::read(q.stat_file()).unwrap();
        let buf_t = std::fs::read(q.buf_file()).unwrap();
        let mut reached = Reached::default();
        let interesting = [0, 1, 7, 8, 12, 13, 20, 21, 1024, u64::MAX, 1 << 62, 1 << 40];
        for case in 0..100 {
            let mode = rnd(10);
            let (mut stat, mut buf) = (stat_t.clone(), buf_t.clone());
            match mode {
                0..=3 => {
                    let n = [rnd(64), rnd(600), rnd(3000)][rnd(3) as usize] as usize;
                    stat = (0..n).map(|_| rnd(256) as u8).collect();
                    if n >= 8 && rnd(2) == 0 {
                        stat[..8].copy_from_slice(&stat_t[..8]);
                    }
                    let n = [rnd(64), rnd(600), rnd(3000)][rnd(3) as usize] as usize;
                    buf = (0..n).map(|_| rnd(256) as u8).collect();
                    if n >= 8 && rnd(2) == 0 {
                        buf[..8].copy_from_slice(&buf_t[..8]);
                    }
                }
                4..=7 => {
                    for _ in 0..1 + rnd(16) {
                        let i = 64 + rnd(stat.len() as u64 - 64) as usize;
                        stat[i] ^= 1 << rnd(8);
                        if b == Backend::File {
                            let i = 64 + rnd(buf.len() as u64 - 64) as usize;
                            buf[i] ^= 1 << rnd(8);
                        }
                    }
                }
                _ => {
                    for _ in 0..1 + rnd(3) {
                        let words = (256 + 8 * 64) / 8; // header and slot table
                        let i = 8 * rnd(words) as usize;
                        let v = if rnd(2) == 0 {
                            interesting[rnd(interesting.len() as u64) as usize]
                        } else {
                            rnd(u64::MAX)
                        };
                        stat[i..i + 8].copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
            match b {
                Backend::Shm => std::fs::write(q.stat_file(), &stat).unwrap(),
                Backend::File => {
                    std::fs::write(q.stat_file(), &stat).unwrap();
                    std::fs::write(q.buf_file(), &buf).unwrap();
                }
            }
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| exercise(&q.spec, &mut reached))) {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("seed {seed:#x}, {b:?}, case {case}, mode {mode}: panicked: {msg}");
            }
        }
        println!("{b:?}: {reached:?}");
        // The mutations must reach past the header checks, or this test checks little.
        assert!(
            reached.reader_opened > 10 && reached.writer_opened > 10,
            "seed {seed:#x}, {b:?}: {reached:?}"
        );
        assert!(
            reached.corrupt_reported > 0,
            "seed {seed:#x}, {b:?}: {reached:?}"
        );
    }
}

#[test]
fn check_reports_flipped_payload_bytes_and_readers_skip_only_that_message() {
    let _serial = quiet_test();
    both(|b| {
        const SLOTS: u32 = 16;
        let q = make_queue(b, "flipped", SLOTS, 4096, 5);
        let slots = fmq::slots(&q.spec).unwrap();
        let pos = slots[3].buf_pos;
        assert_eq!(slots[3].stamp, 3);
        let at = q.buf_offset(SLOTS) + pos + 9;
        let byte = peek(&q.buf_file(), at, 1)[0];
        patch(&q.buf_file(), at, &[byte ^ 0x40]);

        let report = fmq::check(&q.spec).unwrap();
        assert_eq!(report.problems.len(), 1, "{b:?}: {report:?}");
        assert!(
            report.problems[0].contains("message 3 is corrupt"),
            "{report:?}"
        );
        assert_eq!(report.messages_checked, 4);

        let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
        let mut got = Vec::new();
        loop {
            match try_read_owned(&mut r) {
                Ok((m, data)) => {
                    assert_eq!(data, payload_for(m.id.0));
                    got.push(m.id.0);
                }
                Err(TryReadError::Failed(ReadError::Corrupt {
                    id,
                    reason: CorruptReason::ChecksumMismatch { .. },
                })) => {
                    assert_eq!(id, MessageId(3));
                    got.push(0);
                }
                Err(TryReadError::Empty) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(got, vec![1, 2, 0, 4, 5]);
    });
}

#[test]
fn check_reports_corrupt_slot_metadata() {
    let _serial = quiet_test();
    both(|b| {
        const SLOTS: u32 = 16;
        let q = make_queue(b, "slot_meta", SLOTS, 4096, 5);
        let slot = |i: u64| off::HEADER + off::SLOT * i;
        // Message 2's length points past the buffer; slot 4 claims a stamp of another slot.
        patch(
            &q.stat_file(),
            slot(2) + off::SLOT_STORED_LEN,
            &(1u64 << 40).to_le_bytes(),
        );
        patch(
            &q.stat_file(),
            slot(4) + off::SLOT_STAMP,
            &7u64.to_le_bytes(),
        );
        let report = fmq::check(&q.spec).unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("slot 4")),
            "{b:?}: {report:?}"
        );
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("message 2 is corrupt") && p.contains("outside")),
            "{b:?}: {report:?}"
        );
        let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
        assert_eq!(try_read_owned(&mut r).unwrap().0.id, MessageId(1));
        assert!(matches!(
            r.try_read(),
            Err(TryReadError::Failed(ReadError::Corrupt {
                id: MessageId(2),
                reason: CorruptReason::SlotOutOfBounds { .. }
            }))
        ));
        assert_eq!(try_read_owned(&mut r).unwrap().0.id, MessageId(3));
        assert!(matches!(
            r.try_read(),
            Err(TryReadError::Failed(ReadError::Corrupt {
                id: MessageId(4),
                reason: CorruptReason::StampMismatch { found: 7 }
            }))
        ));
        assert_eq!(try_read_owned(&mut r).unwrap().0.id, MessageId(5));
    });
}

#[test]
fn check_reports_a_corrupt_header_as_a_problem() {
    let _serial = quiet_test();
    both(|b| {
        let q = make_queue(b, "header", 16, 4096, 3);
        patch(&q.stat_file(), off::CREATION_TIME, &1u64.to_le_bytes());
        let report = fmq::check(&q.spec).unwrap();
        assert!(!report.is_healthy());
        assert!(report.problems[0].contains("layout checksum"), "{report:?}");

        let q = make_queue(b, "commit", 16, 4096, 3);
        patch(&q.stat_file(), off::OLDEST_ID, &0u64.to_le_bytes());
        let report = fmq::check(&q.spec).unwrap();
        assert!(
            report.problems[0].contains("commit line"),
            "{b:?}: {report:?}"
        );
        assert!(matches!(
            Writer::open(&q.spec, &WriterOptions::default()),
            Err(OpenError::Recover {
                reason: RecoverError::CommitOutOfRange { oldest_id: 0, .. },
                ..
            })
        ));
    });
}

#[test]
fn symlinked_lock_file_is_refused_and_its_target_untouched() {
    let _serial = quiet_test();
    both(|b| {
        let q = make_queue(b, "lock_link", 16, 4096, 1);
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let _ = std::fs::remove_file(q.lock_file());
        symlink(&victim, q.lock_file()).unwrap();
        let forced = CreateOptions {
            replace: true,
            ..small(16, 4096)
        };
        for err in [
            Writer::open(&q.spec, &WriterOptions::default()).unwrap_err(),
            create_open(Writer::create(&q.spec, &forced).unwrap_err()),
            admin_open(fmq::clear(&q.spec).unwrap_err()),
            admin_open(fmq::remove(&q.spec).unwrap_err()),
        ] {
            match &err {
                OpenError::Symlink { file } => assert_eq!(file, &q.lock_file()),
                other => panic!("{b:?}: expected Symlink, got {other:?}"),
            }
            assert_eq!(
                err.to_string(),
                format!(
                    "refusing to follow the symbolic link {}",
                    q.lock_file().display()
                )
            );
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        std::fs::remove_file(q.lock_file()).unwrap();
        assert!(
            Writer::open(&q.spec, &WriterOptions::default()).is_ok(),
            "works again without the link"
        );
    });
}

#[test]
fn symlinked_data_file_is_refused_with_symlink() {
    let _serial = quiet_test();
    for b in [Backend::Shm, Backend::File] {
        let files = match b {
            Backend::Shm => vec![true],
            Backend::File => vec![true, false],
        };
        for stat in files {
            let q = make_queue(b, "data_link", 16, 4096, 1);
            let file = if stat { q.stat_file() } else { q.buf_file() };
            let dir = tempfile::tempdir().unwrap();
            let real = dir.path().join("real");
            std::fs::copy(&file, &real).unwrap();
            std::fs::remove_file(&file).unwrap();
            symlink(&real, &file).unwrap();
            for err in [
                Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err(),
                Writer::open(&q.spec, &WriterOptions::default()).unwrap_err(),
                admin_open(fmq::info(&q.spec).unwrap_err()),
            ] {
                match err {
                    OpenError::Symlink { file: f } => assert_eq!(f, file),
                    other => panic!("{b:?}: expected Symlink, got {other:?}"),
                }
            }
            // A forced create neither writes through the link nor replaces it: a link is
            // not fmq's to destroy.
            let before = std::fs::read(&real).unwrap();
            let forced = CreateOptions {
                replace: true,
                ..small(16, 4096)
            };
            match Writer::create(&q.spec, &forced).unwrap_err() {
                CreateError::Open(OpenError::Symlink { file: f }) => assert_eq!(f, file),
                other => panic!("{b:?}: expected Symlink, got {other:?}"),
            }
            assert_eq!(
                std::fs::read(&real).unwrap(),
                before,
                "link target untouched"
            );
            assert!(std::fs::symlink_metadata(&file)
                .unwrap()
                .file_type()
                .is_symlink());
        }
    }
}

#[test]
fn stat_file_that_is_a_fifo_gives_an_error_instead_of_blocking() {
    let _serial = spawning_test();
    both(|b| {
        let q = make_queue(b, "fifo", 16, 4096, 1);
        let file = q.stat_file();
        std::fs::remove_file(&file).unwrap();
        let st = std::process::Command::new("mkfifo")
            .arg(&file)
            .status()
            .unwrap();
        assert!(st.success());
        let (tx, rx) = mpsc::channel();
        let spec = q.spec.clone();
        std::thread::spawn(move || {
            let poll = ReaderOptions {
                wait: WaitStrategy::poll(Duration::from_millis(1)),
                ..ReaderOptions::default()
            };
            let errs = [
                fmq::info(&spec).is_err(),
                fmq::check(&spec).is_err(),
                Reader::open(&spec, &poll).is_err(),
                Reader::open(&spec, &ReaderOptions::default()).is_err(),
                Writer::open(&spec, &WriterOptions::default()).is_err(),
            ];
            let _ = tx.send(errs);
        });
        match rx.recv_timeout(Duration::from_secs(3)) {
            Ok(errs) => assert_eq!(errs, [true; 5], "{b:?}: a FIFO is not a queue"),
            Err(_) => {
                // Unblock the stuck open by opening the write end, then fail.
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&file);
                panic!("{b:?}: opening a queue whose data file is a FIFO blocked");
            }
        }
    });
}

#[test]
fn lock_file_that_is_a_fifo_does_not_block_info() {
    let _serial = spawning_test();
    let q = make_queue(Backend::File, "fifo_lock", 16, 4096, 1);
    let _ = std::fs::remove_file(q.lock_file());
    let st = std::process::Command::new("mkfifo")
        .arg(q.lock_file())
        .status()
        .unwrap();
    assert!(st.success());
    let (tx, rx) = mpsc::channel();
    let spec = q.spec.clone();
    std::thread::spawn(move || {
        let _ = tx.send(fmq::info(&spec).map(|i| i.lock_pid));
    });
    match rx.recv_timeout(Duration::from_secs(3)) {
        Ok(r) => assert_eq!(r.unwrap(), None, "a FIFO names no pid"),
        Err(_) => {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(q.lock_file());
            panic!("queue::info blocked on a FIFO lock file");
        }
    }
}

#[test]
fn data_file_truncated_while_a_reader_waits_gives_truncated() {
    let _serial = quiet_test();
    both(|b| {
        const SLOTS: u32 = 16;
        const BUF: u64 = 64 << 10;
        let q = make_queue(b, "shrink", SLOTS, BUF, 1);
        let mut r = Reader::open(&q.spec, &ReaderOptions::default()).unwrap();
        let file = q.buf_file();
        let mapped = std::fs::metadata(&file).unwrap().len();
        // Keep the first page (the whole stat part of a segment): the waiting reader only
        // touches the header, never the buffer, so the cut-off pages are never accessed.
        let new_len = 4096;
        let f = file.clone();
        let cutter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            set_len(&f, new_len);
        });
        let start = Instant::now();
        let err = r.read_timeout(Duration::from_secs(5)).unwrap_err();
        cutter.join().unwrap();
        assert_eq!(
            err,
            ReadTimeoutError::Failed(ReadError::Truncated {
                file: file.clone(),
                len: new_len,
                mapped
            }),
            "{b:?}"
        );
        let ReadTimeoutError::Failed(err) = err else {
            unreachable!()
        };
        assert!(err.is_fatal());
        assert!(start.elapsed() < Duration::from_secs(3));
        drop(r);
        let e = Reader::open(&q.spec, &ReaderOptions::default()).unwrap_err();
        assert!(is_size_error(&e), "{e:?}");
    });
}

#[test]
fn writer_that_died_between_stamp_and_commit_is_recovered_without_returning_its_message() {
    let _serial = quiet_test();
    // The state a writer leaves when it dies after stamping message 4's slot but before
    // publishing it: the slot says 4, the commit point says 3.
    both(|b| {
        const SLOTS: u32 = 16;
        let q = make_queue(b, "half_written", SLOTS, 4096, 4);
        let slots = fmq::slots(&q.spec).unwrap();
        let end3 = slots[3].buf_pos + slots[3].stored_len.div_ceil(8) * 8;
        let stat = q.stat_file();
        patch(&stat, off::YOUNGEST_ID, &3u64.to_le_bytes());
        patch(&stat, off::WRITE_POS, &end3.to_le_bytes());
        patch(&stat, off::WRITER_PID, &DEAD_PID.to_le_bytes());
        patch(&stat, off::WRITER_OPEN, &1u32.to_le_bytes());

        let mut r = Reader::open(&q.spec, &from(StartAt::Oldest)).unwrap();
        let got: Vec<u64> = drain(&mut r).into_iter().map(|(id, _)| id).collect();
        assert_eq!(
            got,
            vec![1, 2, 3],
            "{b:?}: the unpublished message is never returned"
        );

        let mut w = Writer::open(&q.spec, &WriterOptions::default()).unwrap();
        let rep = *w.recovery_report().unwrap();
        assert!(rep.writer_was_open);
        assert_eq!(rep.previous_pid, DEAD_PID);
        assert_eq!(
            (rep.youngest_id, rep.oldest_id),
            (MessageId(3), MessageId(1))
        );
        assert_eq!((rep.dropped_count, rep.stamps_cleared_count), (0, 1));
        assert_eq!(w.write(0, 0, b"the real 4").unwrap(), MessageId(4));
        assert_eq!(drain(&mut r), vec![(4, b"the real 4".to_vec())]);
        let report = fmq::check(&q.spec).unwrap();
        assert!(report.is_healthy(), "{report:?}");
    });
}

#[test]
fn check_treats_the_leftovers_of_a_dead_writer_as_warnings_not_corruption() {
    let _serial = quiet_test();
    both(|b| {
        const SLOTS: u32 = 16;
        // (1) Died between stamping message 4 and committing it.
        let q = make_queue(b, "dead_stamp", SLOTS, 4096, 4);
        patch(&q.stat_file(), off::YOUNGEST_ID, &3u64.to_le_bytes());
        patch(&q.stat_file(), off::WRITER_PID, &DEAD_PID.to_le_bytes());
        patch(&q.stat_file(), off::WRITER_OPEN, &1u32.to_le_bytes());
        let report = fmq::check(&q.spec).unwrap();
        assert!(report.is_healthy(), "{b:?} in-flight stamp: {report:?}");

        // (2) Died inside a retirement: `oldest_id` already advanced past message 1, whose
        // stamp was not cleared yet (and the next message was not published).
        let q = make_queue(b, "dead_retire", SLOTS, 4096, 4);
        patch(&q.stat_file(), off::OLDEST_ID, &2u64.to_le_bytes());
        patch(&q.stat_file(), off::WRITER_PID, &DEAD_PID.to_le_bytes());
        patch(&q.stat_file(), off::WRITER_OPEN, &1u32.to_le_bytes());
        let report = fmq::check(&q.spec).unwrap();
        assert!(
            report.is_healthy(),
            "{b:?} unfinished retirement: {report:?}"
        );
        let w = Writer::open(&q.spec, &WriterOptions::default()).unwrap();
        assert_eq!(w.recovery_report().unwrap().stamps_cleared_count, 1);
    });
}

/// Found by the `region_bytes` fuzz target (`fuzz/regressions/region_bytes/`): a commit line
/// at the top of the id range (not covered by the layout checksum) sent check's reader to
/// `u64::MAX`, where `id + 1` saturates: it reported the same id as corrupt forever, and
/// `check` never returned. Now the commit line is reported and readers stop below the bound.
#[test]
fn check_of_a_commit_line_at_the_top_of_the_id_range_terminates_and_reports_it() {
    let _serial = quiet_test();
    both(|b| {
        let q = make_queue(b, "top_ids", 4, 4096, 2);
        patch(&q.stat_file(), off::YOUNGEST_ID, &u64::MAX.to_le_bytes());
        patch(
            &q.stat_file(),
            off::OLDEST_ID,
            &(u64::MAX - 1).to_le_bytes(),
        );
        let (tx, rx) = mpsc::channel();
        let spec = q.spec.clone();
        std::thread::spawn(move || {
            let _ = tx.send(fmq::check(&spec).map(|r| r.problems));
        });
        let problems = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{b:?}: check did not return"))
            .unwrap();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("commit line out of range")),
            "{b:?}: {problems:?}"
        );
    });
}

// ---- FMQ_USE_FILE_LOCKING, in child processes (the variable is process-global) ----

const ENTRY: &str = "child_process_entry";

fn outcome(r: Result<&Writer, &OpenError>) -> String {
    match r {
        Ok(w) => format!("ok(held={})", w.holds_lock()),
        Err(OpenError::Locked { pid: Some(p), .. }) => format!("locked(pid={p})"),
        Err(OpenError::BadLockingEnv { value }) => format!("bad_env({value})"),
        Err(e) => format!("error({e:?})"),
    }
}

/// [`outcome`] of a create: its opening part's errors read as the open's.
fn create_outcome(r: &Result<Writer, CreateError>) -> String {
    match r {
        Ok(w) => outcome(Ok(w)),
        Err(CreateError::Open(e)) => outcome(Err(e)),
        Err(e) => format!("error({e:?})"),
    }
}

/// Child role `locking`: opens the existing queue at `FMQ_TEST_SPEC` as its writer twice,
/// and creates a new queue beside it, each time asking for the locking in
/// `FMQ_TEST_REQUESTED`; prints the three outcomes (the environment decides them).
fn locking_child() {
    let spec = std::env::var("FMQ_TEST_SPEC").unwrap();
    let requested = match std::env::var("FMQ_TEST_REQUESTED").as_deref() {
        Ok("off") => Locking::Off,
        _ => Locking::On,
    };
    let writer = WriterOptions {
        locking: requested,
        ..WriterOptions::default()
    };
    let opts = CreateOptions {
        writer,
        ..small(16, 4096)
    };
    let first = Writer::open(&spec, &writer);
    let second = Writer::open(&spec, &writer);
    let created = Writer::create(format!("{spec}-new"), &opts);
    let bad_env_text = match &first {
        Err(e @ OpenError::BadLockingEnv { .. }) => e.to_string(),
        _ => String::new(),
    };
    println!(
        "\nRESULT first={} second={} create={} pid={}",
        outcome(first.as_ref()),
        outcome(second.as_ref()),
        create_outcome(&created),
        std::process::id()
    );
    if !bad_env_text.is_empty() {
        println!("MESSAGE {bad_env_text}");
    }
    std::io::stdout().flush().unwrap();
}

#[test]
#[ignore = "child-process entry point, run by the FMQ_USE_FILE_LOCKING tests"]
fn child_process_entry() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("locking") => locking_child(),
        Ok(other) => panic!("unknown child role {other}"),
        Err(_) => {} // run by hand with --ignored: nothing to do
    }
}

/// Runs the locking child with `FMQ_USE_FILE_LOCKING=value`; returns its RESULT line (with
/// `CHILD` standing for its pid) and its stdout.
fn run_locking_child(value: Option<&str>, requested: &str) -> (String, String) {
    let q = make_queue(Backend::File, "locking_env", 16, 4096, 1);
    let mut cmd = child_command(ENTRY, "locking");
    match value {
        Some(v) => cmd.env("FMQ_USE_FILE_LOCKING", v),
        None => cmd.env_remove("FMQ_USE_FILE_LOCKING"),
    };
    let mut child = cmd
        .env("FMQ_TEST_SPEC", &q.spec)
        .env("FMQ_TEST_REQUESTED", requested)
        .spawn()
        .unwrap();
    let status = wait_with_deadline(&mut child, Duration::from_secs(20));
    let (out, err) = collect_output(&mut child);
    assert!(status.success(), "child failed: {status}\n{out}\n{err}");
    let line = result_line(&out)
        .unwrap_or_else(|| panic!("no RESULT line:\n{out}\n{err}"))
        .to_string();
    let pid: u32 = field(&line, "pid");
    assert_eq!(pid, child.id());
    (line.replace(&pid.to_string(), "CHILD"), out)
}

#[test]
fn locking_env_false_or_zero_lets_a_second_writer_open() {
    let _serial = spawning_test();
    for value in ["FALSE", "0", "false"] {
        let (line, _) = run_locking_child(Some(value), "on");
        assert_eq!(
            line, "first=ok(held=false) second=ok(held=false) create=ok(held=false) pid=CHILD",
            "FMQ_USE_FILE_LOCKING={value}"
        );
    }
}

#[test]
fn locking_env_bogus_value_makes_opening_fail_with_bad_locking_env() {
    let _serial = spawning_test();
    let (line, out) = run_locking_child(Some("BOGUS"), "on");
    assert_eq!(
        line,
        "first=bad_env(BOGUS) second=bad_env(BOGUS) create=bad_env(BOGUS) pid=CHILD"
    );
    assert!(
        out.contains(
            "MESSAGE FMQ_USE_FILE_LOCKING must be FALSE, 0, TRUE, 1 or BEST_EFFORT, not \"BOGUS\""
        ),
        "{out}"
    );
}

#[test]
fn locking_env_best_effort_on_a_normal_fs_still_refuses_a_second_writer() {
    let _serial = spawning_test();
    let (line, _) = run_locking_child(Some("BEST_EFFORT"), "on");
    assert_eq!(
        line,
        "first=ok(held=true) second=locked(pid=CHILD) create=ok(held=true) pid=CHILD"
    );
}

#[test]
fn locking_env_true_overrides_a_program_that_asked_for_no_locking() {
    let _serial = spawning_test();
    for value in ["TRUE", "1"] {
        let (line, _) = run_locking_child(Some(value), "off");
        assert_eq!(
            line, "first=ok(held=true) second=locked(pid=CHILD) create=ok(held=true) pid=CHILD",
            "FMQ_USE_FILE_LOCKING={value}"
        );
    }
}

#[test]
fn locking_off_requested_by_the_program_allows_a_second_writer_without_env() {
    // The same child without the variable: the control for the override test above.
    let _serial = spawning_test();
    let (line, _) = run_locking_child(None, "off");
    assert_eq!(
        line,
        "first=ok(held=false) second=ok(held=false) create=ok(held=false) pid=CHILD"
    );
}

/// Found by the file-layer simulator (`fmq-sim --files`): the writer's pid goes into the lock
/// file without an `fsync` (it is only shown to people), so a power loss can leave the new
/// length with zeros for bytes; the next writer took that for another program's file and
/// refused the queue for good ("exists and is not an fmq lock file").
#[test]
fn a_lock_file_a_power_loss_left_as_nul_bytes_does_not_lock_the_queue_out() {
    both(|b| {
        let q = make_queue(b, "nul_lock", 4, 1024, 2);
        std::fs::write(q.lock_file(), b"\0\0\0\0\0\0").unwrap();
        let w = Writer::open(&q.spec, &WriterOptions::default())
            .expect("a lock file of NUL bytes is a lock file whose pid was lost");
        assert_eq!(w.youngest_id().0, 2, "nothing lost");
        drop(w);
        // A file that is not a lock file is still refused and left alone.
        std::fs::write(q.lock_file(), b"\0notes\0").unwrap();
        assert!(matches!(
            Writer::open(&q.spec, &WriterOptions::default()),
            Err(OpenError::NotALockFile { .. })
        ));
        assert_eq!(std::fs::read(q.lock_file()).unwrap(), b"\0notes\0");
    });
}

/// Issue 13, item 16 (the settle fix): a reader that opens while another process's
/// `create --force` is between its renames (the new `.buf` in place, the old `.stat` still
/// there, no backup left to pair it with) waits for the pair, and reads the new queue,
/// instead of calling the queue corrupt. With `open_settled`'s wait taken out
/// (`sim/reverts/settle.patch`) the open fails at once with `MismatchedFiles`.
#[test]
fn a_reader_opening_during_a_re_creation_waits_for_the_pair_instead_of_calling_it_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let q = dir.path().join("q");
    let q2 = other.path().join("q");
    let opts = fmq::CreateOptions {
        slots_count: 8,
        buf_size_bytes: 4096,
        ..fmq::CreateOptions::default()
    };
    fmq::Writer::create(&q, &opts)
        .unwrap()
        .write(1, 0, b"old")
        .unwrap();
    std::thread::sleep(Duration::from_millis(2));
    fmq::Writer::create(&q2, &opts)
        .unwrap()
        .write(1, 0, b"new")
        .unwrap();
    let at = |p: &Path, ext: &str| p.with_extension(ext);
    // Half a re-creation: the new .buf renamed into place, the .stat not yet.
    std::fs::copy(at(&q2, "buf"), at(&q, "buf.incoming")).unwrap();
    std::fs::rename(at(&q, "buf.incoming"), at(&q, "buf")).unwrap();
    std::fs::copy(at(&q2, "stat"), at(&q, "stat.incoming")).unwrap();
    let q_stat = at(&q, "stat");
    let incoming = at(&q, "stat.incoming");
    let finisher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        std::fs::rename(incoming, q_stat).unwrap();
    });
    let started = Instant::now();
    let opts = fmq::ReaderOptions {
        start: fmq::StartAt::Oldest,
        ..fmq::ReaderOptions::default()
    };
    let r = fmq::Reader::open(&q, &opts);
    finisher.join().unwrap();
    let mut r = r.unwrap_or_else(|e| panic!("took the re-creation for corruption: {e}"));
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "it waited for the pair"
    );
    assert_eq!(r.try_read().unwrap().payload, b"new");
}
