//! Scenario: cost per message as the slot table grows from 1e3 to 1e6 slots (64-byte
//! messages, a buffer of 64 bytes per slot so that buffer and slot ring wrap together): the
//! writer alone and with one reader thread (heap region), and with one reader process
//! (shared memory). DESIGN §8 wants it flat.
//! One criterion iteration = one message taken by every reader.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use fmq_benches::config::{self, Ring};
use fmq_benches::irig::FmqHeap;
use fmq_benches::rig;
use fmq_benches::xrig::{Backend, FmqProc};

const EXE: &str = env!("CARGO_BIN_EXE_fmq-bench-child");
const SIZE: usize = 64;

fn slots(c: &mut Criterion) {
    let mut g = rig::Group::new(c, "slots");
    for slots in [1_000u32, 10_000, 100_000, 1_000_000] {
        let ring = Ring {
            name: "ring-slots",
            buf_size_bytes: u64::from(slots) * SIZE as u64,
        };
        let p = |r: usize| format!("r{r}_s{SIZE}_slots{slots}");
        g.bench("fmq-heap", &p(0), || {
            Box::new(FmqHeap::with_slots(0, SIZE, ring, slots))
        });
        g.bench("fmq-heap", &p(1), || {
            Box::new(FmqHeap::with_slots(1, SIZE, ring, slots))
        });
        g.bench("fmq-shm", &p(1), || {
            Box::new(FmqProc::with_slots(
                EXE,
                Backend::Shm,
                1,
                SIZE,
                ring,
                slots,
                "spin",
            ))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config::criterion();
    targets = slots
}
criterion_main!(benches);
