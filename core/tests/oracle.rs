//! Differential property test: the writer and several readers against the test kit's
//! `QueueOracle` (the capacity rule of `docs/design.md`, written once in `fmq-testkit`), for any sequence of writes (sizes 0 to the buffer size, exact fits and
//! wrap boundaries), batches, reads at different paces by readers with both lag policies,
//! zero-copy reads, too-small buffers and seeks.
//!
//! Invariants asserted (DESIGN §4): 2 (every message returned is exactly the one written:
//! bytes and metadata), 4 (per-reader ids strictly increase; `Lagged` carries the exact
//! missed count and resumes where the policy says), 6 (nothing out of bounds: any panic
//! fails the test). Cases: `PROPTEST_CASES`, default 10,000 (6 under Miri).

use fmq_core::{
    LagPolicy, MessageId, NewMessage, ReadError, Reader, ReaderConfig, StartAt, Writer,
};
use fmq_testkit::{config, noise, region, Expect, QueueOracle};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Size {
    Exact(u64),
    Frac(u8),
}

#[derive(Clone, Debug)]
enum Op {
    Write(Size, i32),
    Batch(Vec<Size>),
    Read(usize),
    ReadZeroCopy(usize),
    ReadSmall(usize, usize),
    Seek(usize, u8, u8),
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![
        4 => (0u64..40).prop_map(Size::Exact),
        2 => any::<u8>().prop_map(Size::Frac),
        1 => prop_oneof![Just(0u8), Just(255u8), Just(254u8), Just(128u8)].prop_map(Size::Frac),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (size(), any::<i32>()).prop_map(|(s, t)| Op::Write(s, t)),
        1 => prop::collection::vec(size(), 0..6).prop_map(Op::Batch),
        6 => (0usize..3).prop_map(Op::Read),
        2 => (0usize..3).prop_map(Op::ReadZeroCopy),
        1 => (0usize..3, 0usize..24).prop_map(|(r, n)| Op::ReadSmall(r, n)),
        1 => (0usize..3, 0u8..4, any::<u8>()).prop_map(|(r, k, x)| Op::Seek(r, k, x)),
    ]
}

fn len_of(s: &Size, buf: u64) -> usize {
    match *s {
        Size::Exact(n) => n.min(buf) as usize,
        // 0..=255 maps onto 0..=buf, so 255 is an exact fit and 254 is just below it.
        Size::Frac(f) => {
            if f == 255 {
                buf as usize
            } else if f == 254 {
                (buf - 1) as usize
            } else {
                (buf * u64::from(f) / 255) as usize
            }
        }
    }
}

fn cases() -> u32 {
    if cfg!(miri) {
        return 6;
    }
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn run(slots: u32, buf_words: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let buf = buf_words * 8;
    let cfg = config(slots, buf);
    let reg = region(&cfg);
    let mut w = Writer::format(&reg, &cfg).unwrap();
    let mut o = QueueOracle::new(slots, buf);
    let policies = [
        LagPolicy::ResumeAtOldest,
        LagPolicy::ResumeAtYoungest,
        LagPolicy::ResumeAtOldest,
    ];
    let mut readers: Vec<_> = policies
        .iter()
        .map(|&p| {
            Reader::attach(
                &reg,
                ReaderConfig {
                    start: StartAt::Oldest,
                    lag_policy: p,
                },
            )
            .unwrap()
        })
        .collect();
    let mut cursors = [1u64; 3];
    let mut last_id = [0u64; 3];
    let mut scratch = vec![0u8; buf as usize];
    let mut seed = 0u64;

    for op in ops {
        match op {
            Op::Write(s, t) => {
                seed += 1;
                let p = noise(seed, len_of(&s, buf));
                let id = w.write(t, t.wrapping_neg(), seed as i64, &p).unwrap();
                let oid = o.write(t, t.wrapping_neg(), seed as i64, &p);
                prop_assert_eq!(id, MessageId(oid));
            }
            Op::Batch(sizes) => {
                let ps: Vec<Vec<u8>> = sizes
                    .iter()
                    .map(|s| {
                        seed += 1;
                        noise(seed, len_of(s, buf))
                    })
                    .collect();
                let base = seed - ps.len() as u64;
                let msgs: Vec<NewMessage<'_>> = ps
                    .iter()
                    .enumerate()
                    .map(|(i, p)| NewMessage::new(7, i as i32, (base + i as u64 + 1) as i64, p))
                    .collect();
                let last = w.write_batch(&msgs).unwrap();
                let mut olast = None;
                for (i, p) in ps.iter().enumerate() {
                    olast = Some(MessageId(o.write(
                        7,
                        i as i32,
                        (base + i as u64 + 1) as i64,
                        p,
                    )));
                }
                prop_assert_eq!(last, olast);
            }
            Op::Read(r) | Op::ReadZeroCopy(r) | Op::ReadSmall(r, _) => {
                let policy = policies[r];
                let exp = o.expect(cursors[r], policy);
                let got = match op {
                    Op::Read(_) => readers[r].try_read(&mut scratch).map(|m| {
                        let p = scratch[..m.len].to_vec();
                        (m, p)
                    }),
                    Op::ReadZeroCopy(_) => readers[r].read_with(|p| p.to_vec()),
                    Op::ReadSmall(_, n) => {
                        let mut small = vec![0u8; n];
                        match readers[r].try_read(&mut small) {
                            Err(ReadError::BufferTooSmall { needed }) => {
                                // Nothing consumed: the oracle's message is still next.
                                match exp {
                                    Expect::Msg(id) => {
                                        prop_assert_eq!(needed, o.get(id).unwrap().payload.len());
                                        prop_assert!(needed > n);
                                    }
                                    _ => prop_assert!(false, "BufferTooSmall but no message"),
                                }
                                continue;
                            }
                            other => other.map(|m| {
                                let p = small[..m.len].to_vec();
                                (m, p)
                            }),
                        }
                    }
                    _ => unreachable!(),
                };
                let next = o
                    .check_read(cursors[r], exp, &got)
                    .map_err(|e| TestCaseError::fail(format!("reader {r}: {e}")))?;
                if let Ok((meta, _)) = &got {
                    prop_assert!(meta.id.0 > last_id[r], "ids must strictly increase");
                    last_id[r] = meta.id.0;
                }
                cursors[r] = next;
            }
            Op::Seek(r, kind, x) => {
                let to = match kind {
                    0 => StartAt::Oldest,
                    1 => StartAt::Youngest,
                    2 => StartAt::End,
                    _ => StartAt::Id(MessageId(u64::from(x) % (o.next_id() + 2) + 1)),
                };
                let pos = readers[r].seek(to);
                let exp = o.start_id(to);
                prop_assert_eq!(pos, MessageId(exp));
                cursors[r] = exp;
                last_id[r] = exp - 1;
            }
        }
        prop_assert_eq!(w.oldest_id(), MessageId(o.oldest()));
        prop_assert_eq!(w.youngest_id(), MessageId(o.youngest()));
        prop_assert_eq!(w.write_pos(), o.write_pos());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn readers_match_vecdeque_oracle_with_exact_lag(
        slots in 1u32..9,
        buf_words in 8u64..64,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        CASES_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        run(slots, buf_words, ops)?;
    }
}

static CASES_RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[test]
#[cfg_attr(miri, ignore = "runs the whole property again; too slow under Miri")]
fn oracle_runs_the_configured_number_of_cases() {
    readers_match_vecdeque_oracle_with_exact_lag();
    assert!(CASES_RUN.load(std::sync::atomic::Ordering::Relaxed) >= cases());
}
