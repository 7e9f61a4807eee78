//! Blocking (archive) mode and the reader registry (DESIGN invariant 9), in one process:
//! the writer never retires a message a live registered reader has not read, whether the
//! slot ring or the buffer wraps first; unregistered readers hold nothing back; dropped,
//! released and re-registered records behave.

use fmq_core::header::{word as hw, QUEUE_FLAG_BLOCKING};
use fmq_core::registry::DROPPED;
use fmq_core::{
    AttachError, Config, ConfigError, HeapRegion, Layout, MessageId, ReadError, Reader,
    ReaderConfig, Region, RegisterError, StartAt, WriteError, Writer,
};
use std::sync::atomic::Ordering::Relaxed;

fn blocking(slots: u32, buf: u64, readers_max: u32) -> (HeapRegion, Config) {
    let config = Config {
        slots_count: slots,
        buf_size_bytes: buf,
        queue_flags: QUEUE_FLAG_BLOCKING,
        creation_time_ns: 1,
        readers_max,
        reader_timeout_ms: 0,
    };
    let region = HeapRegion::new(&Layout::from_config(&config).unwrap());
    (region, config)
}

fn reader(region: &HeapRegion, start: StartAt) -> Reader<&HeapRegion> {
    Reader::attach(
        region,
        ReaderConfig {
            start,
            ..Default::default()
        },
    )
    .unwrap()
}

fn read_id(r: &mut Reader<&HeapRegion>) -> Result<u64, ReadError> {
    let mut buf = [0u8; 256];
    r.try_read(&mut buf).map(|m| m.id.0)
}

#[test]
fn slot_ring_wrap_waits_for_a_registered_reader_and_resumes_when_it_reads() {
    let (region, config) = blocking(4, 4096, 2);
    let mut w = Writer::format(&region, &config).unwrap();
    let mut r = reader(&region, StartAt::Oldest);
    assert_eq!(r.register(b"slow", 7, 100).unwrap(), MessageId(1));
    for id in 1..=4 {
        assert_eq!(w.write(1, 0, 0, b"m").unwrap(), MessageId(id));
    }
    // The fifth message reuses message 1's slot, which the reader has not read.
    assert_eq!(
        w.write(1, 0, 0, b"m"),
        Err(WriteError::Blocked {
            reader: 0,
            cursor: 1,
            needed: 2
        })
    );
    assert_eq!(
        (w.youngest_id(), w.oldest_id()),
        (MessageId(4), MessageId(1)),
        "a blocked write changes nothing"
    );
    assert_eq!(read_id(&mut r), Ok(1));
    assert_eq!(w.write(1, 0, 0, b"m").unwrap(), MessageId(5));
    assert_eq!(
        w.write(1, 0, 0, b"m"),
        Err(WriteError::Blocked {
            reader: 0,
            cursor: 2,
            needed: 3
        })
    );
    // The registered reader loses nothing.
    for want in 2..=5 {
        assert_eq!(read_id(&mut r), Ok(want));
    }
}

#[test]
fn buffer_wrap_waits_for_a_registered_reader_too() {
    // 64 slots but a 256-byte buffer: the buffer wraps first.
    let (region, config) = blocking(64, 256, 1);
    let mut w = Writer::format(&region, &config).unwrap();
    let mut r = reader(&region, StartAt::Oldest);
    r.register(b"r", 1, 0).unwrap();
    let big = [9u8; 100];
    assert_eq!(w.write(1, 0, 0, &big).unwrap(), MessageId(1));
    assert_eq!(w.write(1, 0, 0, &big).unwrap(), MessageId(2));
    // A third 104-byte message needs message 1's bytes.
    assert!(matches!(
        w.write(1, 0, 0, &big),
        Err(WriteError::Blocked {
            reader: 0,
            cursor: 1,
            ..
        })
    ));
    assert_eq!(read_id(&mut r), Ok(1));
    assert_eq!(w.write(1, 0, 0, &big).unwrap(), MessageId(3));
    assert_eq!(read_id(&mut r), Ok(2));
    assert_eq!(read_id(&mut r), Ok(3));
}

#[test]
fn unregistered_readers_hold_nothing_back_and_are_overrun() {
    let (region, config) = blocking(4, 4096, 2);
    let mut w = Writer::format(&region, &config).unwrap();
    let mut plain = reader(&region, StartAt::Oldest);
    for id in 1..=10 {
        assert_eq!(w.write(1, 0, 0, b"m").unwrap(), MessageId(id));
    }
    assert_eq!(
        read_id(&mut plain),
        Err(ReadError::Lagged {
            missed_count: 6,
            resumed_at: MessageId(7)
        })
    );
}

#[test]
fn a_released_registration_stops_blocking_and_frees_its_record() {
    let (region, config) = blocking(2, 4096, 1);
    let mut w = Writer::format(&region, &config).unwrap();
    let mut r = reader(&region, StartAt::Oldest);
    r.register(b"a", 1, 0).unwrap();
    let mut other = reader(&region, StartAt::Oldest);
    assert_eq!(
        other.register(b"b", 2, 0),
        Err(RegisterError::RegistryFull { readers_max: 1 })
    );
    assert_eq!(
        r.register(b"a", 1, 0),
        Err(RegisterError::AlreadyRegistered { index: 0 })
    );
    w.write(1, 0, 0, b"1").unwrap();
    w.write(1, 0, 0, b"2").unwrap();
    assert!(matches!(
        w.write(1, 0, 0, b"3"),
        Err(WriteError::Blocked { .. })
    ));
    drop(r);
    assert_eq!(w.write(1, 0, 0, b"3").unwrap(), MessageId(3));
    assert_eq!(other.register(b"b", 2, 0), Ok(MessageId(2)));
}

#[test]
fn a_dropped_reader_is_told_and_may_register_again() {
    let (region, config) = blocking(2, 4096, 1);
    let mut w = Writer::format(&region, &config).unwrap();
    let mut r = reader(&region, StartAt::Oldest);
    r.register(b"stuck", 4242, 5).unwrap();
    let rec = w.reader_record(0).unwrap();
    assert_eq!(
        (
            rec.is_live(),
            rec.pid(),
            rec.name(),
            rec.cursor,
            rec.heartbeat_ns
        ),
        (true, 4242, &b"stuck"[..], 1, 5)
    );
    w.write(1, 0, 0, b"1").unwrap();
    w.write(1, 0, 0, b"2").unwrap();
    let Err(WriteError::Blocked { reader: index, .. }) = w.write(1, 0, 0, b"3") else {
        panic!("not blocked")
    };
    assert!(
        !w.drop_reader(index, rec.owner ^ 1),
        "a stale owner is not dropped"
    );
    assert!(w.drop_reader(index, rec.owner));
    assert_eq!(region.stat_words()[hw::READERS_DROPPED].load(Relaxed), 1);
    assert_eq!(w.reader_record(0).unwrap().owner, rec.owner | DROPPED);
    assert_eq!(w.write(1, 0, 0, b"3").unwrap(), MessageId(3));
    assert_eq!(read_id(&mut r), Err(ReadError::Unregistered { index: 0 }));
    assert_eq!(r.registration(), None);
    // Unregistered, it reads on, and is overrun like any reader.
    assert_eq!(
        read_id(&mut r),
        Err(ReadError::Lagged {
            missed_count: 1,
            resumed_at: MessageId(2)
        })
    );
    assert_eq!(read_id(&mut r), Ok(2));
    assert_eq!(r.register(b"again", 4242, 9), Ok(MessageId(3)));
    assert!(w.reader_record(0).unwrap().is_live());
}

#[test]
fn a_registration_starts_no_lower_than_the_writers_retire_intent() {
    let (region, config) = blocking(4, 4096, 2);
    let mut w = Writer::format(&region, &config).unwrap();
    for _ in 1..=6 {
        w.write(1, 0, 0, b"m").unwrap();
    }
    // No reader registered: the writer retired ids 1 and 2 after announcing each.
    assert_eq!(region.stat_words()[hw::RETIRE_INTENT].load(Relaxed), 3);
    let mut r = reader(&region, StartAt::Id(MessageId(1)));
    assert_eq!(
        r.register(b"late", 1, 0),
        Ok(MessageId(3)),
        "ids below the intent may be retired regardless of this reader"
    );
    for want in 3..=6 {
        assert_eq!(read_id(&mut r), Ok(want));
    }
    // Ids 7..=10 retire 3..=6, all read; id 11 would retire 7, which it has not read.
    for id in 7..=10 {
        assert_eq!(w.write(1, 0, 0, b"m").unwrap(), MessageId(id));
    }
    assert!(matches!(
        w.write(1, 0, 0, b"m"),
        Err(WriteError::Blocked { cursor: 7, .. })
    ));
}

#[test]
fn a_blocked_batch_publishes_the_messages_before_the_wait() {
    let (region, config) = blocking(4, 4096, 1);
    let mut w = Writer::format(&region, &config).unwrap();
    let mut r = reader(&region, StartAt::Oldest);
    r.register(b"r", 1, 0).unwrap();
    let msgs: Vec<_> = (0..6)
        .map(|_| fmq_core::NewMessage::new(1, 0, 0, b"b"))
        .collect();
    assert!(matches!(
        w.write_batch(&msgs),
        Err(WriteError::Blocked { cursor: 1, .. })
    ));
    assert_eq!(w.youngest_id(), MessageId(4), "four fit, and are published");
    for want in 1..=4 {
        assert_eq!(read_id(&mut r), Ok(want));
    }
    assert_eq!(w.write_batch(&msgs[4..]).unwrap(), Some(MessageId(6)));
    assert_eq!(read_id(&mut r), Ok(5));
}

#[test]
fn a_recovering_writer_keeps_waiting_for_registered_readers() {
    let (region, config) = blocking(2, 4096, 1);
    let mut w = Writer::format(&region, &config).unwrap();
    let mut r = reader(&region, StartAt::Oldest);
    r.register(b"r", 1, 0).unwrap();
    w.write(1, 0, 0, b"1").unwrap();
    w.write(1, 0, 0, b"2").unwrap();
    drop(w);
    let (mut w, _) = Writer::recover(&region).unwrap();
    assert!(w.is_blocking());
    assert!(matches!(
        w.write(1, 0, 0, b"3"),
        Err(WriteError::Blocked { cursor: 1, .. })
    ));
    assert_eq!(read_id(&mut r), Ok(1));
    assert_eq!(w.write(1, 0, 0, b"3").unwrap(), MessageId(3));
}

#[test]
fn blocking_mode_needs_a_registry_and_the_registry_is_bounded() {
    let mut config = Config {
        queue_flags: QUEUE_FLAG_BLOCKING,
        ..Config::default()
    };
    assert_eq!(
        Layout::from_config(&config),
        Err(ConfigError::BlockingWithoutReaders)
    );
    config.readers_max = fmq_core::MAX_READERS + 1;
    assert!(matches!(
        Layout::from_config(&config),
        Err(ConfigError::TooManyReaders { .. })
    ));
    // Without a registry, registering is refused.
    let plain = Config {
        slots_count: 4,
        buf_size_bytes: 256,
        ..Config::default()
    };
    let region = HeapRegion::new(&Layout::from_config(&plain).unwrap());
    drop(Writer::format(&region, &plain).unwrap());
    let mut r = reader(&region, StartAt::End);
    assert_eq!(r.register(b"x", 1, 0), Err(RegisterError::NoRegistry));
}

#[test]
fn a_registry_bigger_than_the_region_is_refused_at_attach() {
    let (region, config) = blocking(4, 4096, 2);
    drop(Writer::format(&region, &config).unwrap());
    // The same layout claims more records than the stat part holds: recompute the header
    // checksum so that only the size check can refuse it.
    let words = region.stat_words();
    let mut line0 = [0u64; 8];
    for (i, w) in line0.iter_mut().enumerate() {
        *w = words[i].load(Relaxed);
    }
    line0[hw::LAYOUT_CRC] = fmq_core::header::pack(3, 0);
    let crc = fmq_core::header::layout_crc(&line0);
    words[hw::LAYOUT_CRC].store(fmq_core::header::pack(3, crc), Relaxed);
    assert!(matches!(
        Reader::attach(&region, ReaderConfig::default()),
        Err(AttachError::RegionTooSmall { .. })
    ));
}
