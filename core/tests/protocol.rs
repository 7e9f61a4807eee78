//! Behaviour of the writer and reader, one property per test: errors for bad configs and
//! messages, attach validation (one error variant each), lag policies, seeks, generation
//! changes, batches, zero-copy reads, and recovery from a writer that died at each kind of
//! point in its store sequence (DESIGN invariant 7).

use fmq_core::header::word as hw;
use fmq_core::slot::word as sw;
use fmq_core::{
    AttachError, ConfigError, FormatError, HeapRegion, LagPolicy, Layout, MessageId, NewMessage,
    Part, ReadError, Reader, ReaderConfig, Region, StartAt, WriteError, Writer,
};
use fmq_testkit::{config, noise, region};
use std::sync::atomic::Ordering::Relaxed;

fn oldest_reader(r: &HeapRegion) -> Reader<&HeapRegion> {
    Reader::attach(
        r,
        ReaderConfig {
            start: StartAt::Oldest,
            ..Default::default()
        },
    )
    .unwrap()
}

fn read_all(r: &mut Reader<&HeapRegion>) -> Vec<Result<(u64, Vec<u8>), ReadError>> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        match r.try_read_message() {
            Err(ReadError::Empty) => break,
            x => out.push(x.map(|m| (m.meta.id.0, m.payload))),
        }
    }
    out
}

fn ok_ids(v: &[Result<(u64, Vec<u8>), ReadError>]) -> Vec<u64> {
    v.iter()
        .filter_map(|x| x.as_ref().ok().map(|(id, _)| *id))
        .collect()
}

#[test]
fn config_errors_are_clear() {
    assert_eq!(Layout::new(0, 1024), Err(ConfigError::ZeroSlots));
    assert_eq!(
        Layout::new(4, 56),
        Err(ConfigError::BufferTooSmall {
            buf_size_bytes: 56,
            min: 64
        })
    );
    assert_eq!(
        Layout::new(4, 1001),
        Err(ConfigError::BufferNotWordMultiple {
            buf_size_bytes: 1001
        })
    );
    assert_eq!(
        ConfigError::BufferTooSmall {
            buf_size_bytes: 56,
            min: 64
        }
        .to_string(),
        "buffer too small: 56 < 64 bytes"
    );
    let cfg = config(4, 1024);
    let small = HeapRegion::with_sizes(256, 1024);
    assert_eq!(
        Writer::format(&small, &cfg).unwrap_err(),
        FormatError::RegionTooSmall {
            part: Part::Stat,
            needed: 256 + 4 * 64,
            actual: 256
        }
    );
}

#[test]
fn message_larger_than_buffer_is_refused_and_nothing_is_published() {
    let cfg = config(4, 128);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let e = w.write(0, 0, 0, &[0u8; 129]).unwrap_err();
    assert_eq!(e, WriteError::MessageTooLarge { len: 129, max: 128 });
    assert_eq!(e.to_string(), "message too large: 129 > 128 bytes");
    assert_eq!(w.youngest_id(), MessageId(0));
    // An exact fit is fine, and a batch with one bad message writes nothing.
    w.write(0, 0, 0, &[1u8; 128]).unwrap();
    let big = [0u8; 200];
    let batch = [
        NewMessage::new(0, 0, 0, b"ok"),
        NewMessage::new(0, 0, 0, &big),
    ];
    assert!(w.write_batch(&batch).is_err());
    assert_eq!(w.youngest_id(), MessageId(1));
}

#[test]
fn uncompressed_message_with_wrong_raw_len_is_refused() {
    let cfg = config(4, 128);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let mut m = NewMessage::new(0, 0, 0, b"abc");
    m.raw_len = 10;
    assert_eq!(
        w.write_message(&m),
        Err(WriteError::RawLenMismatch {
            raw_len: 10,
            len: 3
        })
    );
    m.flags = 0x80;
    assert_eq!(
        w.write_message(&m),
        Err(WriteError::UnknownFlags { flags: 0x80 })
    );
    let c = NewMessage::new(0, 0, 0, b"abc").compressed(1000);
    w.write_message(&c).unwrap();
    let mut r = oldest_reader(&reg);
    let got = r.try_read_message().unwrap();
    assert!(got.meta.is_compressed());
    assert_eq!(got.meta.raw_len, 1000);
}

#[test]
fn attach_refuses_each_kind_of_bad_header_with_its_own_error() {
    let cfg = config(4, 256);
    let fresh = || {
        let reg = region(&cfg);
        drop(Writer::format(&reg, &cfg).unwrap());
        reg
    };
    let rc = ReaderConfig::default();
    let blank = region(&cfg);
    assert_eq!(
        Reader::attach(&blank, rc).unwrap_err(),
        AttachError::NotFormatted
    );

    let reg = fresh();
    reg.stat_words()[hw::MAGIC].store(0x1234, Relaxed);
    assert_eq!(
        Reader::attach(&reg, rc).unwrap_err(),
        AttachError::BadMagic { found: 0x1234 }
    );

    let reg = fresh();
    reg.stat_words()[hw::VERSION_BOM].store(fmq_core::header::pack(2, 0x0403_0201), Relaxed);
    assert_eq!(
        Reader::attach(&reg, rc).unwrap_err(),
        AttachError::ForeignByteOrder { found: 0x0403_0201 }
    );

    let reg = fresh();
    reg.stat_words()[hw::VERSION_BOM].store(fmq_core::header::pack(3, 0x0102_0304), Relaxed);
    let e = Reader::attach(&reg, rc).unwrap_err();
    assert_eq!(
        e,
        AttachError::UnsupportedVersion {
            found: 3,
            supported: 2
        }
    );
    assert!(e.to_string().contains("version 3"));

    let reg = fresh();
    reg.stat_words()[hw::BUF_SIZE].store(1 << 20, Relaxed);
    assert!(matches!(
        Reader::attach(&reg, rc),
        Err(AttachError::HeaderChecksum { .. })
    ));

    // A region smaller than the (valid) header says: truncated.
    let big = config(4, 4096);
    let reg = region(&big);
    drop(Writer::format(&reg, &big).unwrap());
    let short = HeapRegion::with_sizes(256 + 4 * 64, 1024);
    for (d, s) in short.stat_words().iter().zip(reg.stat_words()) {
        d.store(s.load(Relaxed), Relaxed);
    }
    assert_eq!(
        Reader::attach(&short, rc).unwrap_err(),
        AttachError::RegionTooSmall {
            part: Part::Buf,
            needed: 4096,
            actual: 1024
        }
    );
    let tiny = HeapRegion::with_sizes(100, 64);
    assert!(matches!(
        Reader::attach(&tiny, rc),
        Err(AttachError::RegionTooSmall {
            part: Part::Stat,
            needed: 256,
            actual: 104
        })
    ));
}

#[test]
fn overrun_reader_gets_exact_missed_count_and_resumes_at_oldest() {
    let cfg = config(4, 4096);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let mut r = oldest_reader(&reg);
    for i in 0..10u8 {
        w.write(0, 0, 0, &[i; 10]).unwrap();
    }
    // Slots hold 7..=10; the reader wanted 1.
    assert_eq!(
        r.try_read_message().unwrap_err(),
        ReadError::Lagged {
            missed_count: 6,
            resumed_at: MessageId(7)
        }
    );
    assert_eq!(ok_ids(&read_all(&mut r)), vec![7, 8, 9, 10]);
}

#[test]
fn overrun_reader_with_youngest_policy_skips_to_the_youngest() {
    let cfg = config(4, 4096);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let rc = ReaderConfig {
        start: StartAt::Oldest,
        lag_policy: LagPolicy::ResumeAtYoungest,
    };
    let mut r = Reader::attach(&reg, rc).unwrap();
    for _ in 0..10 {
        w.write(0, 0, 0, b"x").unwrap();
    }
    assert_eq!(
        r.try_read_message().unwrap_err(),
        ReadError::Lagged {
            missed_count: 9,
            resumed_at: MessageId(10)
        }
    );
    assert_eq!(ok_ids(&read_all(&mut r)), vec![10]);
}

#[test]
fn buffer_wrap_retires_messages_before_the_slot_ring_wraps() {
    // 64 slots but a 256-byte buffer: 100-byte messages (104 padded) fit two at a time.
    let cfg = config(64, 256);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let mut r = oldest_reader(&reg);
    for i in 0..5u64 {
        w.write(0, 0, 0, &noise(i, 100)).unwrap();
    }
    assert_eq!(w.oldest_id(), MessageId(4));
    assert_eq!(
        r.try_read_message().unwrap_err(),
        ReadError::Lagged {
            missed_count: 3,
            resumed_at: MessageId(4)
        }
    );
    let got = read_all(&mut r);
    assert_eq!(ok_ids(&got), vec![4, 5]);
    assert_eq!(got[1].as_ref().unwrap().1, noise(4, 100));
}

#[test]
fn reader_starting_at_end_sees_only_new_messages_and_empty_otherwise() {
    let cfg = config(8, 1024);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    w.write(0, 0, 0, b"old").unwrap();
    let mut r = Reader::attach(&reg, ReaderConfig::default()).unwrap();
    assert_eq!(r.try_read_message().unwrap_err(), ReadError::Empty);
    w.write(5, 6, 7, b"new").unwrap();
    let m = r.try_read_message().unwrap();
    assert_eq!(
        (m.meta.id, m.meta.msg_type, m.meta.subtype, m.meta.time_ns),
        (MessageId(2), 5, 6, 7)
    );
    assert_eq!(m.payload, b"new");
    assert_eq!(r.seek(StartAt::Youngest), MessageId(2));
    assert_eq!(r.seek(StartAt::Oldest), MessageId(1));
    assert_eq!(r.seek(StartAt::Id(MessageId(2))), MessageId(2));
    assert_eq!(ok_ids(&read_all(&mut r)), vec![2]);
}

#[test]
fn too_small_buffer_consumes_nothing() {
    let cfg = config(8, 1024);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let mut r = oldest_reader(&reg);
    w.write(0, 0, 0, &[9u8; 20]).unwrap();
    let mut small = [0u8; 19];
    assert_eq!(
        r.try_read(&mut small),
        Err(ReadError::BufferTooSmall { needed: 20 })
    );
    let mut ok = [0u8; 20];
    assert_eq!(r.try_read(&mut ok).unwrap().id, MessageId(1));
}

#[test]
fn zero_copy_read_returns_closure_result_only_for_valid_messages() {
    let cfg = config(2, 1024);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let mut r = oldest_reader(&reg);
    w.write(0, 0, 0, b"hello world, zero copy").unwrap();
    let (meta, sum) = r
        .read_with(|p| {
            let mut part = [0u8; 5];
            assert_eq!(p.copy_range_to(6, &mut part), 5);
            assert_eq!(&part, b"world");
            (0..p.len())
                .map(|i| u32::from(p.byte(i).unwrap()))
                .sum::<u32>()
        })
        .unwrap();
    assert_eq!(meta.id, MessageId(1));
    assert_eq!(
        sum,
        b"hello world, zero copy"
            .iter()
            .map(|&b| u32::from(b))
            .sum::<u32>()
    );
    for _ in 0..3 {
        w.write(0, 0, 0, b"x").unwrap();
    }
    let mut ran = false;
    let e = r.read_with(|_| ran = true).unwrap_err();
    assert_eq!(
        e,
        ReadError::Lagged {
            missed_count: 1,
            resumed_at: MessageId(3)
        }
    );
    assert!(
        !ran,
        "the closure never runs for a message that is already gone"
    );
}

#[test]
fn reformatted_queue_is_reported_as_generation_change() {
    let cfg = config(4, 256);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    w.write(0, 0, 0, b"a").unwrap();
    let mut r = oldest_reader(&reg);
    let g = r.generation();
    drop(w);
    let mut w2 = Writer::format(&reg, &cfg).unwrap();
    assert!(w2.generation() > g);
    // Even with the same ids written again, the reader notices.
    w2.write(0, 0, 0, b"b").unwrap();
    assert_eq!(
        r.try_read_message().unwrap_err(),
        ReadError::GenerationChanged {
            attached: g,
            current: w2.generation()
        }
    );
}

#[test]
fn batch_publishes_consecutive_ids_with_one_commit() {
    let cfg = config(4, 1024);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let ps: Vec<Vec<u8>> = (0..10).map(|i| noise(i, 30)).collect();
    let msgs: Vec<_> = ps.iter().map(|p| NewMessage::new(1, 2, 3, p)).collect();
    assert_eq!(w.write_batch(&msgs).unwrap(), Some(MessageId(10)));
    assert_eq!(w.write_batch(&[]).unwrap(), None);
    let mut r = oldest_reader(&reg);
    let got = read_all(&mut r);
    assert_eq!(ok_ids(&got), vec![7, 8, 9, 10]);
    assert_eq!(got[3].as_ref().unwrap().1, ps[9]);
}

// ---- recovery (DESIGN invariant 7) ----
//
// A dead writer's region is built by running a real writer and then replaying, by hand, the
// prefix of the store sequence of `Writer::put`/`retire` for one more message (the
// simulator of the verification issue does this for every store index).

struct Dead {
    reg: HeapRegion,
    published: Vec<Vec<u8>>,
}

/// Writes `n` messages of `len` bytes in a 4-slot, 512-byte queue, then stops the writer
/// without closing it (its mark stays open).
fn dead_after(n: u64, len: usize) -> Dead {
    let cfg = config(4, 512);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    w.set_pid(4242);
    let published: Vec<Vec<u8>> = (1..=n).map(|i| noise(i, len)).collect();
    for p in &published {
        w.write(0, 0, 0, p).unwrap();
    }
    std::mem::forget(w);
    Dead { reg, published }
}

fn slot_word(reg: &HeapRegion, id: u64, w: usize) -> &std::sync::atomic::AtomicU64 {
    &reg.stat_words()[32 + (id % 4) as usize * 8 + w]
}

fn recover_and_check(d: &Dead, expect_ids: std::ops::RangeInclusive<u64>) {
    let mut r = oldest_reader(&d.reg);
    let (mut w, rep) = Writer::recover(&d.reg).unwrap();
    assert!(rep.writer_was_open);
    assert_eq!(rep.previous_pid, 4242);
    assert_eq!(rep.dropped_count, 0);
    let got = read_all(&mut r);
    let ids = ok_ids(&got);
    assert_eq!(
        ids,
        expect_ids.clone().collect::<Vec<_>>(),
        "published messages stay readable"
    );
    for x in got.iter().flatten() {
        assert_eq!(x.1, d.published[(x.0 - 1) as usize]);
    }
    // The new writer continues with higher ids and readers follow.
    let id = w.write(0, 0, 0, b"after recovery").unwrap();
    assert_eq!(id, MessageId(d.published.len() as u64 + 1));
    let m = r.try_read_message().unwrap();
    assert_eq!(
        (m.meta.id, m.payload.as_slice()),
        (id, &b"after recovery"[..])
    );
}

#[test]
fn recovery_after_clean_stop_keeps_everything() {
    recover_and_check(&dead_after(6, 40), 3..=6);
}

#[test]
fn recovery_after_death_mid_retirement_finishes_the_retirement() {
    let d = dead_after(6, 40);
    // The next message (7) retires 3: `oldest_id` stored, stamp not yet cleared.
    d.reg.stat_words()[hw::OLDEST_ID].store(4, Relaxed);
    let (_, rep) = Writer::recover(&d.reg).unwrap();
    assert_eq!(rep.oldest_id, MessageId(4));
    assert_eq!(rep.stamps_cleared_count, 1);
    assert_eq!(slot_word(&d.reg, 3, sw::STAMP).load(Relaxed), 0);
}

#[test]
fn recovery_never_publishes_the_message_in_flight() {
    for stage in 0..3 {
        let d = dead_after(6, 40);
        // Message 7 retires 3 ...
        d.reg.stat_words()[hw::OLDEST_ID].store(4, Relaxed);
        slot_word(&d.reg, 3, sw::STAMP).store(0, Relaxed);
        if stage >= 1 {
            // ... writes its slot's metadata ...
            slot_word(&d.reg, 7, sw::BUF_POS).store(9999, Relaxed);
            slot_word(&d.reg, 7, sw::STORED_LEN).store(40, Relaxed);
        }
        if stage >= 2 {
            // ... and its stamp, but dies before the commit store.
            slot_word(&d.reg, 7, sw::STAMP).store(7, Relaxed);
        }
        let mut r = oldest_reader(&d.reg);
        let (mut w, rep) = Writer::recover(&d.reg).unwrap();
        assert_eq!(rep.youngest_id, MessageId(6));
        let got = read_all(&mut r);
        assert_eq!(ok_ids(&got), vec![4, 5, 6], "stage {stage}");
        let id = w.write(0, 0, 0, b"new seven").unwrap();
        assert_eq!(id, MessageId(7));
        let m = r.try_read_message().unwrap();
        assert_eq!(
            m.payload, b"new seven",
            "stage {stage}: id 7 is the new message"
        );
    }
}

#[test]
fn recovery_drops_an_uncommitted_batch() {
    let cfg = config(8, 1024);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    w.write(0, 0, 0, b"one").unwrap();
    let ps = [b"two".as_slice(), b"three".as_slice()];
    let msgs: Vec<_> = ps.iter().map(|p| NewMessage::new(0, 0, 0, p)).collect();
    w.write_batch(&msgs).unwrap();
    std::mem::forget(w);
    // Pretend the batch's commit store never happened.
    reg.stat_words()[hw::YOUNGEST_ID].store(1, Relaxed);
    let mut r = oldest_reader(&reg);
    let (_, rep) = Writer::recover(&reg).unwrap();
    assert_eq!(rep.stamps_cleared_count, 2);
    assert_eq!(ok_ids(&read_all(&mut r)), vec![1]);
}

#[test]
fn recovery_refuses_a_corrupt_commit_line() {
    let d = dead_after(3, 8);
    d.reg.stat_words()[hw::OLDEST_ID].store(100, Relaxed);
    assert!(matches!(
        Writer::recover(&d.reg),
        Err(fmq_core::RecoverError::CommitOutOfRange {
            youngest_id: 3,
            oldest_id: 100
        })
    ));
}

#[test]
fn recovery_drops_inconsistent_published_slots_instead_of_serving_them() {
    let d = dead_after(6, 40);
    // Corrupt message 4's position so that it overlaps message 5.
    slot_word(&d.reg, 4, sw::BUF_POS).store(u64::from(u32::MAX), Relaxed);
    let mut r = oldest_reader(&d.reg);
    let (_, rep) = Writer::recover(&d.reg).unwrap();
    assert_eq!(rep.dropped_count, 2, "3 and 4 dropped");
    assert_eq!(rep.oldest_id, MessageId(5));
    assert_eq!(ok_ids(&read_all(&mut r)), vec![5, 6]);
}

#[test]
fn writer_mark_records_pid_and_open_flag() {
    let cfg = config(4, 256);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    w.set_pid(77);
    let h = fmq_core::Header::load(reg.stat_words()).unwrap();
    assert_eq!((h.writer_pid, h.writer_open, h.writer_epoch), (77, 1, 1));
    drop(w);
    let h = fmq_core::Header::load(reg.stat_words()).unwrap();
    assert_eq!((h.writer_pid, h.writer_open), (77, 0));
    let (w, rep) = Writer::recover(&reg).unwrap();
    assert!(!rep.writer_was_open);
    assert_eq!(w.epoch(), 2);
}
