//! Scenario: throughput in one process (heap region), the writer alone and with 1, 2 and 4
//! reader threads, at every message size, against the in-process peers: the `disruptor`
//! crate (one event poller per reader), `bus`, `tokio::sync::broadcast` and
//! crossbeam-channel (one bounded channel per reader). Plus fmq with one reader over rings
//! that fit in L2, in L3 and that are far larger.
//!
//! Every comparison is lossless: fmq and tokio never block their writer, so the harness's
//! window (`fmq_benches::flow`) holds the writer back; the run panics if a reader lost a
//! message. Every reader copies each payload into a buffer of its own.
//! One criterion iteration = one message taken by every reader.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use fmq_benches::config::{self, peer_capacity, RING_HUGE, RING_L2, RING_L3, SIZES};
use fmq_benches::flow::{Counters, Idle, Window};
use fmq_benches::irig::FmqHeap;
use fmq_benches::rig::{self, Rig};

const READERS: [usize; 4] = [0, 1, 2, 4];

/// The event of the disruptor ring: a preallocated buffer and the length used.
struct Event {
    len: usize,
    data: Box<[u8]>,
}

struct Disruptor<P: disruptor::Producer<Event>> {
    producer: Option<P>,
    payload: Vec<u8>,
    window: Window,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
}

fn spawn_poller(
    mut poller: disruptor::EventPoller<Event, disruptor::SingleProducerBarrier>,
    i: usize,
    size: usize,
    counters: Arc<Counters>,
    readers: usize,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; size];
        let mut taken = 0u64;
        let mut idle = Idle::new(readers);
        loop {
            match poller.poll() {
                Ok(mut events) => {
                    for e in &mut events {
                        buf[..e.len].copy_from_slice(&e.data[..e.len]);
                        black_box(&buf);
                        taken += 1;
                    }
                    drop(events);
                    idle.reset();
                    counters.set(i, taken);
                }
                Err(disruptor::Polling::NoEvents) => idle.wait(),
                Err(disruptor::Polling::Shutdown) => return,
            }
        }
    })
}

fn disruptor_rig(readers: usize, size: usize, cap: usize) -> Box<dyn Rig> {
    let factory = move || Event {
        len: 0,
        data: vec![0u8; size].into_boxed_slice(),
    };
    let counters = Arc::new(Counters::new(readers));
    let c = || counters.clone();
    let b = disruptor::build_single_producer(cap, factory, disruptor::BusySpin);
    let (p0, b) = b.event_poller();
    let mut threads = vec![spawn_poller(p0, 0, size, c(), readers)];
    if readers == 1 {
        return Box::new(Disruptor {
            producer: Some(b.build()),
            payload: config::payload(size),
            window: Window::unbounded(readers),
            counters: counters.clone(),
            threads,
        });
    }
    let (p1, b) = b.event_poller();
    threads.push(spawn_poller(p1, 1, size, c(), readers));
    if readers == 2 {
        return Box::new(Disruptor {
            producer: Some(b.build()),
            payload: config::payload(size),
            window: Window::unbounded(readers),
            counters: counters.clone(),
            threads,
        });
    }
    let (p2, b) = b.event_poller();
    let (p3, b) = b.event_poller();
    threads.push(spawn_poller(p2, 2, size, c(), readers));
    threads.push(spawn_poller(p3, 3, size, c(), readers));
    Box::new(Disruptor {
        producer: Some(b.build()),
        payload: config::payload(size),
        window: Window::unbounded(readers),
        counters: counters.clone(),
        threads,
    })
}

impl<P: disruptor::Producer<Event>> Rig for Disruptor<P> {
    fn run(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        let producer = self.producer.as_mut().expect("producer");
        let payload = &self.payload;
        for _ in 0..n {
            producer.publish(|e| {
                e.data[..payload.len()].copy_from_slice(payload);
                e.len = payload.len();
            });
            self.window.admit(&*self.counters);
        }
        self.window.drain(&*self.counters);
        start.elapsed()
    }
    fn finish(mut self: Box<Self>) {
        drop(self.producer.take());
        for t in self.threads.drain(..) {
            t.join().expect("poller");
        }
    }
}

/// A writer that hands each reader thread its messages through some channel; the reader
/// threads count what they took.
struct Channel<S> {
    send: S,
    payload: Vec<u8>,
    window: Window,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
}

impl<S: FnMut(&[u8]) + 'static> Rig for Channel<S> {
    fn run(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            self.window.admit(&*self.counters);
            (self.send)(&self.payload);
        }
        self.window.drain(&*self.counters);
        start.elapsed()
    }
    fn finish(self: Box<Self>) {
        drop(self.send);
        for t in self.threads {
            t.join().expect("reader");
        }
    }
}

fn channel_rig<S: FnMut(&[u8]) + 'static>(
    send: S,
    size: usize,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
    window: Window,
) -> Box<dyn Rig> {
    Box::new(Channel {
        send,
        payload: config::payload(size),
        window,
        counters,
        threads,
    })
}

fn bus_rig(readers: usize, size: usize, cap: usize) -> Box<dyn Rig> {
    let mut bus = bus::Bus::<Vec<u8>>::new(cap);
    let counters = Arc::new(Counters::new(readers));
    let threads = (0..readers)
        .map(|i| {
            let mut rx = bus.add_rx();
            let counters = counters.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; size];
                let mut taken = 0;
                while let Ok(v) = rx.recv() {
                    buf[..v.len()].copy_from_slice(&v);
                    black_box(&buf);
                    taken += 1;
                    counters.set(i, taken);
                }
            })
        })
        .collect();
    let send = move |p: &[u8]| bus.broadcast(p.to_vec());
    channel_rig(send, size, counters, threads, Window::unbounded(readers))
}

fn tokio_rig(readers: usize, size: usize, cap: usize) -> Box<dyn Rig> {
    let (tx, _) = tokio::sync::broadcast::channel::<Arc<[u8]>>(cap);
    let counters = Arc::new(Counters::new(readers));
    let threads = (0..readers)
        .map(|i| {
            let mut rx = tx.subscribe();
            let counters = counters.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; size];
                let mut taken = 0;
                loop {
                    match rx.blocking_recv() {
                        Ok(v) => {
                            buf[..v.len()].copy_from_slice(&v);
                            black_box(&buf);
                            taken += 1;
                            counters.set(i, taken);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        Err(e) => panic!("tokio broadcast lost messages: {e}"),
                    }
                }
            })
        })
        .collect();
    let send = move |p: &[u8]| {
        let _ = tx.send(Arc::from(p));
    };
    // tokio's broadcast never blocks its sender: the harness window keeps it lossless.
    let window = Window::new(readers, (cap / 2) as u64, 0);
    channel_rig(send, size, counters, threads, window)
}

fn crossbeam_rig(readers: usize, size: usize, cap: usize) -> Box<dyn Rig> {
    let counters = Arc::new(Counters::new(readers));
    let mut senders = Vec::new();
    let threads = (0..readers)
        .map(|i| {
            let (tx, rx) = crossbeam_channel::bounded::<Arc<[u8]>>(cap);
            senders.push(tx);
            let counters = counters.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; size];
                let mut taken = 0;
                while let Ok(v) = rx.recv() {
                    buf[..v.len()].copy_from_slice(&v);
                    black_box(&buf);
                    taken += 1;
                    counters.set(i, taken);
                }
            })
        })
        .collect();
    let send = move |p: &[u8]| {
        let msg: Arc<[u8]> = Arc::from(p);
        for tx in &senders {
            tx.send(msg.clone()).expect("send");
        }
    };
    channel_rig(send, size, counters, threads, Window::unbounded(readers))
}

fn throughput_inproc(c: &mut Criterion) {
    let mut g = rig::Group::new(c, "throughput_inproc");
    for size in SIZES {
        for readers in READERS {
            let p = rig::param(readers, size, RING_L3.name);
            g.bench("fmq-heap", &p, || {
                Box::new(FmqHeap::new(readers, size, RING_L3))
            });
            if readers == 0 {
                continue;
            }
            let cap = peer_capacity(RING_L3, size);
            g.bench("disruptor", &p, || disruptor_rig(readers, size, cap));
            g.bench("bus", &p, || bus_rig(readers, size, cap));
            g.bench("tokio-broadcast", &p, || tokio_rig(readers, size, cap));
            g.bench("crossbeam-channel", &p, || {
                crossbeam_rig(readers, size, cap)
            });
        }
    }
    g.finish();
    let mut g = rig::Group::new(c, "rings_inproc");
    for ring in [RING_L2, RING_L3, RING_HUGE] {
        for size in [64, 4 << 10, 64 << 10] {
            let p = rig::param(1, size, ring.name);
            g.bench("fmq-heap", &p, || Box::new(FmqHeap::new(1, size, ring)));
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config::criterion();
    targets = throughput_inproc
}
criterion_main!(benches);
