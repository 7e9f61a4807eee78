//! loom models of formatting a region that readers may be looking at: a reader attaching
//! while the writer formats, and a reader of one generation while the queue is formatted
//! again (`fmq create --force` over a live queue) and written. The header is published by
//! the magic's Release store; a re-format bumps the generation before it touches any stamp.

#![cfg(fmq_loom)]

mod loom_common;

use std::sync::Arc;

use fmq_core::{AttachError, HeapRegion, Layout, ReadError, Reader, ReaderConfig, StartAt, Writer};
use fmq_model::config;
use loom::thread;
use loom_common::check;

/// A reader attaching while the region is formatted sees either no queue or the whole
/// header of the new one: never a magic with a stale layout, version or checksum.
#[test]
fn attach_racing_format_sees_the_whole_header_or_not_formatted() {
    check(
        "attach_racing_format_sees_the_whole_header_or_not_formatted",
        2,
        || {
            let cfg = config(1, 64);
            let region = Arc::new(HeapRegion::new(&Layout::from_config(&cfg).unwrap()));
            let r = Arc::clone(&region);
            let t = thread::spawn(move || match Reader::attach(r, ReaderConfig::default()) {
                Ok(reader) => {
                    assert_eq!(reader.layout().slots_count(), 1);
                    assert_eq!(reader.layout().buf_size_bytes(), 64);
                }
                Err(AttachError::NotFormatted) => {}
                Err(e) => panic!("attach during format: {e:?}"),
            });
            let w = Writer::format(Arc::clone(&region), &cfg).unwrap();
            t.join().unwrap();
            drop(w);
        },
    );
}

/// A reader of generation 1 while the region is formatted again and message 1 of
/// generation 2 is written into the same slot and bytes: it returns the old message whole,
/// or learns that the generation changed, or finds nothing yet; it never returns the new
/// generation's bytes as its own.
#[test]
fn reformat_under_a_reader_is_reported_as_a_new_generation_never_as_data() {
    check(
        "reformat_under_a_reader_is_reported_as_a_new_generation_never_as_data",
        2,
        || {
            let cfg = config(1, 64);
            let region = Arc::new(HeapRegion::new(&Layout::from_config(&cfg).unwrap()));
            let mut w = Writer::format(Arc::clone(&region), &cfg).unwrap();
            w.write(1, 0, 0, &[0x11; 8]).unwrap();
            drop(w);
            let mut reader = Reader::attach(
                Arc::clone(&region),
                ReaderConfig {
                    start: StartAt::Oldest,
                    ..ReaderConfig::default()
                },
            )
            .unwrap();
            let t = thread::spawn(move || {
                let mut buf = [0u8; 64];
                match reader.try_read(&mut buf) {
                    Ok(m) => assert_eq!(&buf[..m.len], &[0x11; 8], "{m:?}"),
                    Err(ReadError::Empty) | Err(ReadError::GenerationChanged { .. }) => {}
                    Err(e) => panic!("reader of the old generation: {e:?}"),
                }
            });
            let mut w = Writer::format(Arc::clone(&region), &cfg).unwrap();
            w.write(1, 0, 0, &[0x22; 8]).unwrap();
            t.join().unwrap();
        },
    );
}
