//! fmq in one process: a heap region, the writer on the bench thread, readers as threads
//! polling `try_read` (each copies the payload into its own buffer). Lossless through the
//! harness window; `finish` fails if a reader lost a message.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fmq_core::{Config, HeapRegion, Layout, ReadError, Reader, ReaderConfig, Writer};

use crate::config::{self, slots_for, Ring};
use crate::flow::{Counters, Idle, Window};
use crate::rig::Rig;

/// fmq over a heap region, readers as threads polling `try_read`.
pub struct FmqHeap {
    writer: Writer<Arc<HeapRegion>>,
    payload: Vec<u8>,
    window: Window,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
}

impl FmqHeap {
    /// `readers` reader threads over a ring, with the default slot count for the size.
    pub fn new(readers: usize, size: usize, ring: Ring) -> FmqHeap {
        FmqHeap::with_slots(readers, size, ring, slots_for(ring, size))
    }

    /// The same with `slots` slots.
    pub fn with_slots(readers: usize, size: usize, ring: Ring, slots: u32) -> FmqHeap {
        let config = Config {
            slots_count: slots,
            buf_size_bytes: ring.buf_size_bytes,
            ..Config::default()
        };
        let region = Arc::new(HeapRegion::new(
            &Layout::from_config(&config).expect("layout"),
        ));
        let mut writer = Writer::format(region.clone(), &config).expect("format");
        let payload = config::payload(size);
        // Touch the whole ring once (first-lap page faults are not the steady state).
        let lap = (ring.buf_size_bytes / size as u64).max(config.slots_count as u64);
        for _ in 0..lap {
            writer.write(1, 0, 0, &payload).expect("prefill");
        }
        let counters = Arc::new(Counters::new(readers));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..readers)
            .map(|i| {
                let (counters, stop) = (counters.clone(), stop.clone());
                // Attached here, before the first message, not inside the thread: a thread
                // that started late would begin at a later end and never count the messages
                // written before it attached.
                let mut r =
                    Reader::attach(region.clone(), ReaderConfig::default()).expect("attach");
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; size];
                    let (mut taken, mut missed) = (0u64, 0u64);
                    let mut idle = Idle::new(readers);
                    // ORDERING: Relaxed: a stop request; nothing is published with it.
                    while !stop.load(Ordering::Relaxed) {
                        match r.try_read(&mut buf) {
                            Ok(_) => {
                                black_box(&buf);
                                idle.reset();
                                taken += 1;
                                counters.set(i, taken);
                            }
                            Err(ReadError::Empty) => idle.wait(),
                            Err(ReadError::Lagged { missed_count, .. }) => missed += missed_count,
                            Err(e) => panic!("reader: {e}"),
                        }
                    }
                    missed
                })
            })
            .collect();
        let cap = (ring.buf_size_bytes / size as u64).min(config.slots_count as u64);
        FmqHeap {
            writer,
            payload,
            window: Window::new(readers, cap / 2, 0),
            counters,
            stop,
            threads,
        }
    }
}

impl Rig for FmqHeap {
    fn run(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            self.window.admit(&*self.counters);
            self.writer.write(1, 0, 0, &self.payload).expect("write");
        }
        self.window.drain(&*self.counters);
        start.elapsed()
    }
    fn finish(self: Box<Self>) {
        // ORDERING: Relaxed: see the readers' loop.
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let missed = t.join().expect("reader thread");
            assert_eq!(missed, 0, "lossless run lost messages");
        }
    }
}
