//! Scenario: throughput between processes. The bench process writes; 1, 2 or 4 reader
//! processes (`fmq-bench-child`) read, each copying every payload into its own buffer; or
//! the writer runs alone. fmq on shared memory (`shm:`) and on files, against iceoryx2
//! publish/subscribe (lossless), a pipe per reader and a Unix SOCK_SEQPACKET socket per
//! reader, at every message size. Plus fmq on shared memory with one reader over rings that
//! fit in L2, in L3 and that are far larger.
//!
//! Lossless throughout: fmq's writer is held back by the harness window
//! (`fmq_benches::flow`) and the run fails if a reader lost a message.
//! One criterion iteration = one message taken by every reader.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use fmq_benches::config::{self, RING_HUGE, RING_L2, RING_L3, SIZES};
use fmq_benches::rig;
use fmq_benches::xrig::{Backend, FdProc, FmqProc, IceProc};

const EXE: &str = env!("CARGO_BIN_EXE_fmq-bench-child");
const READERS: [usize; 4] = [0, 1, 2, 4];

fn throughput_xproc(c: &mut Criterion) {
    let mut g = rig::Group::new(c, "throughput_xproc");
    for size in SIZES {
        for readers in READERS {
            let p = rig::param(readers, size, RING_L3.name);
            g.bench("fmq-shm", &p, || {
                Box::new(FmqProc::new(
                    EXE,
                    Backend::Shm,
                    readers,
                    size,
                    RING_L3,
                    "spin",
                ))
            });
            g.bench("fmq-file", &p, || {
                Box::new(FmqProc::new(
                    EXE,
                    Backend::File,
                    readers,
                    size,
                    RING_L3,
                    "spin",
                ))
            });
            if readers == 0 {
                continue;
            }
            if size <= 4 << 10 {
                g.bench("fmq-shm-batch32", &p, || {
                    Box::new(
                        FmqProc::new(EXE, Backend::Shm, readers, size, RING_L3, "spin").batched(32),
                    )
                });
            }
            g.bench("iceoryx2", &p, || {
                Box::new(IceProc::new(EXE, readers, size, RING_L3))
            });
            g.bench("pipe", &p, || {
                Box::new(FdProc::new(EXE, false, readers, size))
            });
            g.bench("seqpacket", &p, || {
                Box::new(FdProc::new(EXE, true, readers, size))
            });
        }
    }
    g.finish();
    let mut g = rig::Group::new(c, "rings_xproc");
    for ring in [RING_L2, RING_L3, RING_HUGE] {
        for size in [64, 4 << 10, 64 << 10] {
            let p = rig::param(1, size, ring.name);
            g.bench("fmq-shm", &p, || {
                Box::new(FmqProc::new(EXE, Backend::Shm, 1, size, ring, "spin"))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config::criterion();
    targets = throughput_xproc
}
criterion_main!(benches);
