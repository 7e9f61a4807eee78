//! The reader path on a read-only mapping: std defines only small `Relaxed` loads on
//! read-only memory, so every access an unregistered reader makes to the region must be one
//! (`docs/safety.md`, "Read-only mappings"). Built only with `--cfg fmq_sim`, whose atomics
//! facade records, per thread, every access inside a watched range that is not a `Relaxed`
//! load, with its call site (`core/src/sync.rs`, `audit`). Run by `ci/sim.sh`:
//!
//! ```text
//! CARGO_TARGET_DIR=target-sim RUSTFLAGS="--cfg fmq_sim" cargo test -p fmq-core --test read_only_audit
//! ```
#![cfg(fmq_sim)]

use fmq_core::header::word as hw;
use fmq_core::slot::word as sw;
use fmq_core::sync::{audit, Ordering};
use fmq_core::{
    AttachError, Config, CorruptReason, HeapRegion, LagPolicy, Layout, MessageId, ReadError,
    Reader, ReaderConfig, Region, StartAt, Writer,
};

const SLOTS: u32 = 8;
const BUF: u64 = 512;

fn config(creation_time_ns: u64) -> Config {
    Config {
        slots_count: SLOTS,
        buf_size_bytes: BUF,
        creation_time_ns,
        ..Config::default()
    }
}

fn payload(id: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (id as u8).wrapping_add(i as u8)).collect()
}

/// Runs `f` with both parts of `region` watched as read-only on this thread.
fn read_only<T>(region: &HeapRegion, f: impl FnOnce() -> T) -> T {
    audit::watch(region.stat_words());
    audit::watch(region.buf_words());
    let out = f();
    audit::unwatch();
    out
}

/// Word `w` of the slot of message `id`.
fn slot_word(region: &HeapRegion, id: u64, w: usize) -> &fmq_core::sync::AtomicU64 {
    let layout = Layout::from_config(&config(0)).unwrap();
    &region.stat_words()[layout.slot_first_word(layout.slot_index(id)) + w]
}

/// Reads until `Empty`, returning the ids read and the errors met.
fn drain(reader: &mut Reader<&HeapRegion>) -> (Vec<u64>, Vec<ReadError>) {
    let (mut ids, mut errors) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; BUF as usize];
    for _ in 0..100 {
        match reader.try_read(&mut buf) {
            Ok(meta) => ids.push(meta.id.0),
            Err(ReadError::Empty) => return (ids, errors),
            Err(e) => errors.push(e),
        }
    }
    panic!("the reader never got to Empty");
}

fn assert_no_violations(loads_at_least: u64) {
    let (violations, loads) = audit::take();
    let list: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
    assert!(
        list.is_empty(),
        "the reader path made {} accesses a read-only mapping does not allow:\n{}",
        list.len(),
        list.join("\n")
    );
    assert!(
        loads >= loads_at_least,
        "the audit watched {loads} Relaxed loads: the wrong memory?"
    );
}

#[test]
fn an_unregistered_reader_only_makes_relaxed_loads_on_every_path() {
    let region = HeapRegion::new(&Layout::from_config(&config(10)).unwrap());
    let zeroed = HeapRegion::new(&Layout::from_config(&config(10)).unwrap());
    let _ = audit::take();

    // Attach errors: not formatted, bad magic.
    let e = read_only(&zeroed, || Reader::attach(&zeroed, ReaderConfig::default()));
    assert!(matches!(e, Err(AttachError::NotFormatted)), "{e:?}");
    zeroed.stat_words()[hw::MAGIC].store(0x1234, Ordering::Relaxed);
    let e = read_only(&zeroed, || Reader::attach(&zeroed, ReaderConfig::default()));
    assert!(matches!(e, Err(AttachError::BadMagic { .. })), "{e:?}");

    // An empty queue, then messages that wrap the buffer and the slot ring.
    let mut writer = Writer::format(&region, &config(10)).unwrap();
    let mut reader = read_only(&region, || {
        Reader::attach(&region, ReaderConfig::default()).unwrap()
    });
    let r = read_only(&region, || drain(&mut reader));
    assert_eq!(r, (vec![], vec![]));
    for id in 1..=30u64 {
        writer
            .write(1, 2, id as i64, &payload(id, (id as usize * 13) % 100))
            .unwrap();
    }
    let (oldest, youngest) = (writer.oldest_id().0, writer.youngest_id().0);
    assert!(oldest > 20 && youngest == 30, "{oldest} {youngest}");

    // Attach and seek to every StartAt; the reader that started at `End` before the writes
    // lagged behind all of them.
    read_only(&region, || {
        let starts = [
            (StartAt::Oldest, oldest),
            (StartAt::Youngest, youngest),
            (StartAt::End, youngest + 1),
            (StartAt::Id(MessageId(oldest + 1)), oldest + 1),
            (StartAt::Id(MessageId(1)), 1),
            (StartAt::Id(MessageId(youngest + 5)), youngest + 5),
        ];
        for (start, at) in starts {
            let r = Reader::attach(
                &region,
                ReaderConfig {
                    start,
                    ..Default::default()
                },
            );
            assert_eq!(r.unwrap().position().0, at, "{start:?}");
            assert_eq!(reader.seek(start).0, at, "{start:?}");
        }
        assert_eq!(reader.youngest_id().0, youngest);
        reader.seek(StartAt::Id(MessageId(2)));
        let (ids, errors) = drain(&mut reader);
        assert_eq!(ids, (oldest..=youngest).collect::<Vec<_>>());
        assert!(
            matches!(errors[..], [ReadError::Lagged { missed_count, .. }] if missed_count == oldest - 2),
            "{errors:?}"
        );
        // The other ways to read: in place, owned, into a buffer too small.
        reader.seek(StartAt::Oldest);
        let (meta, len) = reader.read_with(|p| (p.byte(0), p.len())).unwrap();
        assert_eq!((meta.id.0, len.1), (oldest, meta.len));
        assert_eq!(reader.try_read_message().unwrap().meta.id.0, oldest + 1);
        let e = reader.try_read(&mut [0u8; 0]);
        assert!(matches!(e, Err(ReadError::BufferTooSmall { .. })), "{e:?}");
    });

    // Lag under both policies: the writer overruns readers parked at the oldest.
    let mut at_youngest = read_only(&region, || {
        let c = ReaderConfig {
            start: StartAt::Oldest,
            lag_policy: LagPolicy::ResumeAtYoungest,
        };
        Reader::attach(&region, c).unwrap()
    });
    read_only(&region, || reader.seek(StartAt::Oldest));
    for id in 31..=60u64 {
        writer.write(1, 2, 0, &payload(id, 40)).unwrap();
    }
    read_only(&region, || {
        let mut buf = [0u8; BUF as usize];
        let e = reader.try_read(&mut buf);
        assert!(matches!(e, Err(ReadError::Lagged { .. })), "{e:?}");
        let e = at_youngest.try_read(&mut buf);
        assert!(
            matches!(e, Err(ReadError::Lagged { resumed_at, .. }) if resumed_at.0 == 60),
            "{e:?}"
        );
        drain(&mut reader);
    });

    // A corrupt slot of each kind: out of bounds, bad checksum, wrong stamp; then a corrupt
    // commit line.
    let id = writer.write(1, 2, 0, &payload(61, 24)).unwrap().0;
    slot_word(&region, id, sw::STORED_LEN).store(BUF * 4, Ordering::Relaxed);
    let id = writer.write(1, 2, 0, &payload(62, 24)).unwrap().0;
    slot_word(&region, id, sw::TIME).store(7, Ordering::Relaxed);
    let id = writer.write(1, 2, 0, &payload(63, 24)).unwrap().0;
    slot_word(&region, id, sw::STAMP).store(id + 8, Ordering::Relaxed);
    read_only(&region, || {
        let (ids, errors) = drain(&mut reader);
        assert_eq!(ids, vec![] as Vec<u64>);
        let reasons: Vec<_> = errors
            .iter()
            .map(|e| match e {
                ReadError::Corrupt { reason, .. } => *reason,
                e => panic!("{e:?}"),
            })
            .collect();
        assert!(
            matches!(
                reasons[..],
                [
                    CorruptReason::SlotOutOfBounds { .. },
                    CorruptReason::ChecksumMismatch { .. },
                    CorruptReason::StampMismatch { .. }
                ]
            ),
            "{reasons:?}"
        );
    });
    let saved = region.stat_words()[hw::OLDEST_ID].load(Ordering::Relaxed);
    region.stat_words()[hw::OLDEST_ID].store(0, Ordering::Relaxed);
    read_only(&region, || {
        reader.seek(StartAt::Id(MessageId(2)));
        let e = reader.try_read(&mut [0u8; 64]);
        assert!(
            matches!(
                e,
                Err(ReadError::Corrupt {
                    reason: CorruptReason::CommitOutOfRange { .. },
                    ..
                })
            ),
            "{e:?}"
        );
    });
    region.stat_words()[hw::OLDEST_ID].store(saved, Ordering::Relaxed);

    // A re-format (new generation) under attached readers: on the empty path, on the
    // mismatch path and after a copy.
    read_only(&region, || reader.seek(StartAt::End));
    let mut mid = read_only(&region, || {
        let c = ReaderConfig {
            start: StartAt::Youngest,
            ..Default::default()
        };
        Reader::attach(&region, c).unwrap()
    });
    let mut early = read_only(&region, || {
        let c = ReaderConfig {
            start: StartAt::Id(MessageId(2)),
            ..Default::default()
        };
        Reader::attach(&region, c).unwrap()
    });
    drop(writer);
    let mut writer = Writer::format(&region, &config(20)).unwrap();
    read_only(&region, || {
        let e = reader.try_read(&mut [0u8; 64]);
        assert!(
            matches!(e, Err(ReadError::GenerationChanged { .. })),
            "{e:?}"
        );
        let e = mid.try_read(&mut [0u8; 64]);
        assert!(
            matches!(e, Err(ReadError::GenerationChanged { .. })),
            "{e:?}"
        );
    });
    for id in 1..=3u64 {
        writer.write(1, 2, 0, &payload(id, 8)).unwrap();
    }
    read_only(&region, || {
        let e = reader.try_read(&mut [0u8; 64]);
        assert!(
            matches!(e, Err(ReadError::GenerationChanged { .. })),
            "{e:?}"
        );
        // Id 2 exists again, in the new generation: found by the check after the copy.
        let e = early.try_read(&mut [0u8; 64]);
        assert!(
            matches!(e, Err(ReadError::GenerationChanged { .. })),
            "{e:?}"
        );
        let mut fresh = Reader::attach(
            &region,
            ReaderConfig {
                start: StartAt::Oldest,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(drain(&mut fresh), (vec![1, 2, 3], vec![]));
    });
    drop(reader);
    drop(mid);
    drop(early);
    drop(at_youngest);
    assert_no_violations(400);
}

/// The audit is not vacuous: a writer's stores and an `Acquire` load inside a watched range
/// are reported, with their call sites; a `Relaxed` load is not.
#[test]
fn the_audit_reports_stores_and_non_relaxed_loads_with_their_call_sites() {
    let region = HeapRegion::new(&Layout::from_config(&config(10)).unwrap());
    let mut writer = Writer::format(&region, &config(10)).unwrap();
    let _ = audit::take();
    read_only(&region, || {
        writer.write(1, 2, 3, b"hello").unwrap();
        region.stat_words()[hw::YOUNGEST_ID].load(Ordering::Acquire);
        region.stat_words()[hw::YOUNGEST_ID].load(Ordering::Relaxed);
    });
    // Outside the watch nothing is recorded.
    writer.write(1, 2, 3, b"hello").unwrap();
    region.stat_words()[hw::YOUNGEST_ID].load(Ordering::Acquire);
    let (violations, loads) = audit::take();
    assert!(loads >= 1);
    let stores = violations
        .iter()
        .filter(|v| matches!(v.op, audit::Op::Store(_)) && v.at.file().ends_with("writer.rs"))
        .count();
    assert!(stores >= 4, "{violations:?}");
    let acquires: Vec<_> = violations
        .iter()
        .filter(|v| v.op == audit::Op::Load(Ordering::Acquire))
        .collect();
    assert_eq!(acquires.len(), 1, "{violations:?}");
    assert!(acquires[0].at.file().ends_with("read_only_audit.rs"));
}
