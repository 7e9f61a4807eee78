//! Hostile memory (DESIGN invariant 6): every header word, every slot word and buffer words
//! are overwritten in turn with hostile values; attach, every read path and recovery must
//! return an error or a correct message, never panic, never read out of bounds, never hand
//! back bytes that were not written as that message.

use fmq_core::{HeapRegion, MessageId, ReadError, Reader, ReaderConfig, Region, StartAt, Writer};
use fmq_testkit::{config, noise, region, QueueOracle};
use std::sync::atomic::Ordering::Relaxed;

const SLOTS: u32 = 4;
const BUF: u64 = 256;

/// A queue that has wrapped both ways, and the oracle of what it holds.
fn build() -> (HeapRegion, QueueOracle) {
    let cfg = config(SLOTS, BUF);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let mut o = QueueOracle::new(SLOTS, BUF);
    for (i, len) in [10usize, 100, 3, 0, 64, 90, 17, 8].into_iter().enumerate() {
        let p = noise(i as u64, len);
        w.write(i as i32, -(i as i32), i as i64 * 10, &p).unwrap();
        o.write(i as i32, -(i as i32), i as i64 * 10, &p);
    }
    drop(w);
    (reg, o)
}

fn hostile_values(orig: u64) -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        7,
        8,
        BUF - 8,
        BUF,
        BUF + 8,
        u64::from(u32::MAX),
        1 << 32,
        i64::MAX as u64,
        1 << 63,
        u64::MAX - 7,
        u64::MAX,
        orig.wrapping_add(1),
        orig.wrapping_sub(1),
        orig.wrapping_add(BUF),
        orig.wrapping_add(u64::from(SLOTS)),
    ];
    for bit in [0, 3, 8, 31, 32, 40, 63] {
        v.push(orig ^ (1 << bit));
    }
    let mut x = orig ^ 0x5DEE_CE66_D1CE_5EED;
    for _ in 0..4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x);
    }
    v
}

/// Every message a reader returns must be the oracle's message with that id.
fn check_reads(reg: &HeapRegion, o: &QueueOracle, what: &str) {
    // Under Miri (slow) one start position and fewer reads still walk every read path.
    let starts: &[StartAt] = if cfg!(miri) {
        &[StartAt::Oldest]
    } else {
        &[
            StartAt::Oldest,
            StartAt::Youngest,
            StartAt::Id(MessageId(1)),
        ]
    };
    let steps = if cfg!(miri) { 12 } else { 64 };
    for &start in starts {
        let Ok(mut r) = Reader::attach(
            reg,
            ReaderConfig {
                start,
                ..Default::default()
            },
        ) else {
            return;
        };
        let mut buf = vec![0u8; BUF as usize];
        let mut last = 0;
        for step in 0..steps {
            let res = match step % 3 {
                0 => r.try_read(&mut buf).map(|m| (m, buf[..m.len].to_vec())),
                1 => r.read_with(|p| p.to_vec()),
                _ => r.try_read_message().map(|m| (m.meta, m.payload)),
            };
            match res {
                Ok((meta, bytes)) => {
                    let m = o.get(meta.id.0).unwrap_or_else(|| {
                        panic!("{what}: returned id {} that is not present", meta.id)
                    });
                    assert!(meta.id.0 > last, "{what}: ids must increase");
                    last = meta.id.0;
                    assert_eq!(bytes, m.payload, "{what}: payload of {}", meta.id);
                    assert_eq!(
                        (meta.msg_type, meta.subtype, meta.time_ns),
                        (m.msg_type, m.subtype, m.time_ns),
                        "{what}: metadata of {}",
                        meta.id
                    );
                }
                Err(ReadError::Empty) | Err(ReadError::GenerationChanged { .. }) => break,
                Err(ReadError::Corrupt { .. }) | Err(ReadError::Lagged { .. }) => {}
                Err(ReadError::BufferTooSmall { needed }) => {
                    panic!("{what}: BufferTooSmall({needed}) with a buffer-sized buffer")
                }
                Err(e @ ReadError::Unregistered { .. }) => {
                    panic!("{what}: {e:?} for a reader that never registered")
                }
            }
        }
    }
}

/// Recovery on a corrupt region must not panic; if it succeeds, new messages must read back.
fn check_recovery(reg: &HeapRegion, what: &str) {
    if let Ok((mut w, _)) = Writer::recover(reg) {
        let Ok(mut r) = Reader::attach(reg, ReaderConfig::default()) else {
            panic!("{what}: recovered but readers cannot attach");
        };
        let id = match w.write(1, 2, 3, b"after") {
            Ok(id) => id,
            Err(_) => return, // counters exhausted by a hostile commit line: a clear error
        };
        let m = r
            .try_read_message()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            (m.meta.id, m.payload.as_slice()),
            (id, &b"after"[..]),
            "{what}"
        );
    }
}

#[test]
fn every_header_and_slot_word_corrupted_gives_error_or_correct_message() {
    let (template, o) = build();
    let words = template.stat_words().len();
    let mut trials = 0;
    for i in 0..words {
        let orig = template.stat_words()[i].load(Relaxed);
        let mut values = hostile_values(orig);
        if cfg!(miri) {
            // Miri is slow: one hostile value per word, a different kind for each word.
            values = vec![values[i % values.len()]];
        }
        for v in values {
            let (reg, _) = build();
            reg.stat_words()[i].store(v, Relaxed);
            let what = format!("stat word {i} = {v:#x} (was {orig:#x})");
            check_reads(&reg, &o, &what);
            check_recovery(&reg, &what);
            trials += 1;
        }
    }
    assert!(
        trials > if cfg!(miri) { 50 } else { 1000 },
        "{trials} trials"
    );
}

#[test]
fn corrupted_buffer_bytes_are_caught_by_the_checksum() {
    let (template, o) = build();
    let step = if cfg!(miri) { 11 } else { 1 };
    for i in (0..template.buf_words().len()).step_by(step) {
        let orig = template.buf_words()[i].load(Relaxed);
        for v in [orig ^ 1, orig ^ (1 << 63), !orig, 0, u64::MAX] {
            if v == orig {
                continue;
            }
            let (reg, _) = build();
            reg.buf_words()[i].store(v, Relaxed);
            check_reads(&reg, &o, &format!("buffer word {i} = {v:#x}"));
        }
    }
}

#[test]
fn corrupt_payload_of_a_present_message_is_reported_not_returned() {
    let (reg, o) = build();
    let m = o.get(o.youngest()).unwrap().clone();
    let word = ((m.start % BUF) / 8) as usize;
    reg.buf_words()[word].fetch_xor(0xff, Relaxed);
    let mut r = Reader::attach(
        &reg,
        ReaderConfig {
            start: StartAt::Youngest,
            ..Default::default()
        },
    )
    .unwrap();
    match r.try_read_message() {
        Err(ReadError::Corrupt { id, .. }) => assert_eq!(id, MessageId(m.id)),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(
        r.try_read_message().unwrap_err(),
        ReadError::Empty,
        "the reader moved past it"
    );
}

#[test]
fn random_garbage_regions_never_panic() {
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let rounds = if cfg!(miri) { 2 } else { 2000 };
    for _ in 0..rounds {
        let (reg, o) = build();
        for _ in 0..(next() % 8 + 1) {
            let n = reg.stat_words().len() as u64 + reg.buf_words().len() as u64;
            let k = (next() % n) as usize;
            let v = next();
            if k < reg.stat_words().len() {
                reg.stat_words()[k].store(v, Relaxed);
            } else {
                reg.buf_words()[k - reg.stat_words().len()].store(v, Relaxed);
            }
        }
        check_reads(&reg, &o, "random garbage");
        check_recovery(&reg, "random garbage");
    }
}

/// A commit line at the top of the id range sends readers to ids that no writer publishes
/// (found by the `region_bytes` fuzz target, `fuzz/regressions/region_bytes/`): a reader at
/// `u64::MAX` returned a forged message there, stepped to `u64::MAX.saturating_add(1)`, the
/// same id, and returned it again (invariant 4); and `fmq check`, reading up to the commit
/// point, could never pass it. Readers now wait below `MAX_MESSAGE_ID` and the inspection
/// that `fmq check` uses calls such a commit line corrupt.
#[test]
fn reader_never_returns_an_id_twice_at_the_top_of_the_id_range() {
    use fmq_core::crc::{message_crc, trailer};
    use fmq_core::header::{pack, word as hw, Header, HEADER_WORDS};
    use fmq_core::slot::{word as sw, SLOT_WORDS};
    use fmq_core::MAX_MESSAGE_ID;
    use fmq_core::{inspect, Layout};

    // Two slots: message 1 and the forged message u64::MAX (odd) share slot 1.
    let cfg = config(2, 64);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    w.write(5, 6, 7, b"forged").unwrap();
    drop(w);
    let stat = reg.stat_words();
    let slot1 = HEADER_WORDS + SLOT_WORDS;
    let crc = message_crc(b"forged", &trailer(u64::MAX, 6, 6, 7, 5, 6, 0));
    stat[slot1 + sw::FLAGS_CRC].store(pack(0, crc), Relaxed);
    stat[slot1 + sw::STAMP].store(u64::MAX, Relaxed);
    stat[hw::YOUNGEST_ID].store(u64::MAX, Relaxed);
    // Readers sent to u64::MAX by `seek`, and one reading up from just below it (what
    // `fmq check` does from the oldest id), never return an id there, and stop.
    stat[hw::OLDEST_ID].store(u64::MAX - 1, Relaxed);
    let starts = [
        StartAt::Youngest,
        StartAt::End,
        StartAt::Id(MessageId(u64::MAX)),
        StartAt::Oldest,
        StartAt::Id(MessageId(MAX_MESSAGE_ID)),
    ];
    for start in starts {
        let mut r = Reader::attach(
            &reg,
            ReaderConfig {
                start,
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..3 {
            assert_eq!(r.try_read_message(), Err(ReadError::Empty), "{start:?}");
        }
    }
    let layout = Layout::from_config(&cfg).unwrap();
    let h = Header::load(stat).unwrap();
    assert!(
        !inspect::commit_line_ok(&h, &layout),
        "fmq check reports it"
    );
}
