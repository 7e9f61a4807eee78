//! Fuzz target `ops_vs_oracle`: a small queue driven by the input, checked against
//! [`QueueOracle`] after every operation.

use fmq_core::{
    HeapRegion, LagPolicy, MessageId, NewMessage, ReadError, Reader, ReaderConfig, StartAt, Writer,
};

use super::{format, len_from, read_any, small_queue, Input};
use crate::capacity::Expect;
use crate::payload::noise;
use crate::QueueOracle;

/// A reader and what the oracle says about it.
struct Tracked<'r> {
    reader: Reader<&'r HeapRegion>,
    policy: LagPolicy,
    /// The id its next read returns (or waits for).
    cursor: u64,
    /// The last id it returned (or the one before its seek point).
    last: u64,
}

/// The queue under test, its oracle and its readers.
struct Ops<'r> {
    reg: &'r HeapRegion,
    /// Always `Some` between operations (taken while a recovery replaces it).
    w: Option<Writer<&'r HeapRegion>>,
    o: QueueOracle,
    readers: Vec<Tracked<'r>>,
    scratch: Vec<u8>,
    buf: u64,
    seed: u64,
    epoch: u64,
}

/// Fuzz target `ops_vs_oracle`: a small queue driven by the input, checked against the oracle
/// after every operation.
///
/// Input: slots byte, buffer byte, then operations, one selector byte each followed by its
/// arguments: write, batch, read (four kinds), seek, recover the writer (clean close or
/// "crash"), attach a reader, and a full scan by a fresh reader. At most 400 operations.
pub fn ops_vs_oracle(data: &[u8]) {
    let mut input = Input::new(data);
    let (slots, buf) = small_queue(&mut input);
    let (reg, cfg) = format(slots, buf);
    let w = Writer::format(&reg, &cfg).expect("format");
    let mut ops = Ops {
        reg: &reg,
        epoch: w.epoch(),
        w: Some(w),
        o: QueueOracle::new(slots, buf),
        readers: Vec::new(),
        scratch: vec![0u8; buf as usize],
        buf,
        seed: 0,
    };
    ops.readers.push(Tracked {
        reader: ops.attach(StartAt::Oldest, LagPolicy::ResumeAtOldest),
        policy: LagPolicy::ResumeAtOldest,
        cursor: 1,
        last: 0,
    });
    for _ in 0..400 {
        if input.is_empty() {
            break;
        }
        match input.u8() % 10 {
            0..=2 => ops.write(&mut input),
            3 => ops.batch(&mut input),
            4 | 5 => ops.read(&mut input),
            6 => ops.seek(&mut input),
            7 => ops.recover(input.u8() & 1 == 1),
            8 => ops.new_reader(&mut input),
            _ => ops.scan(),
        }
        ops.check_writer();
    }
}

impl<'r> Ops<'r> {
    fn w(&mut self) -> &mut Writer<&'r HeapRegion> {
        self.w.as_mut().expect("a writer between operations")
    }

    fn attach(&self, start: StartAt, lag_policy: LagPolicy) -> Reader<&'r HeapRegion> {
        Reader::attach(self.reg, ReaderConfig { start, lag_policy }).expect("attach")
    }

    fn write(&mut self, input: &mut Input<'_>) {
        self.seed += 1;
        let seed = self.seed;
        let t = i32::from(input.u8()) - 100;
        let p = noise(seed, len_from(input.u8(), self.buf));
        let id = self
            .w()
            .write(t, t.wrapping_neg(), seed as i64, &p)
            .expect("write");
        let want = self.o.write(t, t.wrapping_neg(), seed as i64, &p);
        assert_eq!(id, MessageId(want));
    }

    fn batch(&mut self, input: &mut Input<'_>) {
        let n = input.u8() % 8;
        let ps: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                self.seed += 1;
                noise(self.seed, len_from(input.u8(), self.buf))
            })
            .collect();
        let base = self.seed - ps.len() as u64;
        let time = |i: usize| (base + i as u64 + 1) as i64;
        let msgs: Vec<NewMessage<'_>> = ps
            .iter()
            .enumerate()
            .map(|(i, p)| NewMessage::new(7, i as i32, time(i), p))
            .collect();
        let last = self.w().write_batch(&msgs).expect("write_batch");
        let mut olast = None;
        for (i, p) in ps.iter().enumerate() {
            olast = Some(MessageId(self.o.write(7, i as i32, time(i), p)));
        }
        assert_eq!(last, olast, "write_batch returns the last id");
    }

    fn read(&mut self, input: &mut Input<'_>) {
        let r = usize::from(input.u8()) % self.readers.len();
        let kind = input.u8();
        let small = usize::from(input.u8() % 24);
        let t = &mut self.readers[r];
        let exp = self.o.expect(t.cursor, t.policy);
        let got = read_any(&mut t.reader, kind, small, &mut self.scratch);
        match (exp, got) {
            (Expect::Msg(id), Err(ReadError::BufferTooSmall { needed })) if kind % 4 == 3 => {
                let len = self.o.get(id).expect("present").payload.len();
                assert_eq!(needed, len, "BufferTooSmall names the length");
                assert!(needed > small, "BufferTooSmall only if it is");
                assert_eq!(t.reader.position(), MessageId(id), "nothing consumed");
            }
            (exp, got) => match self.o.check_read(t.cursor, exp, &got) {
                Ok(next) => {
                    if let Ok((meta, _)) = &got {
                        assert!(meta.id.0 > t.last, "invariant 4: ids strictly increase");
                        t.last = meta.id.0;
                    }
                    t.cursor = next;
                }
                Err(e) => panic!("reader {r}: {e}"),
            },
        }
    }

    /// A start point from two input bytes (any id up to two past the next).
    fn start_at(&self, kind: u8, x: u8) -> StartAt {
        match kind % 4 {
            0 => StartAt::Oldest,
            1 => StartAt::Youngest,
            2 => StartAt::End,
            _ => StartAt::Id(MessageId(u64::from(x) % (self.o.next_id() + 2) + 1)),
        }
    }

    fn seek(&mut self, input: &mut Input<'_>) {
        let r = usize::from(input.u8()) % self.readers.len();
        let (kind, x) = (input.u8(), input.u8());
        let to = self.start_at(kind, x);
        let exp = self.o.start_id(to);
        let t = &mut self.readers[r];
        assert_eq!(t.reader.seek(to), MessageId(exp), "seek {to:?}");
        t.cursor = exp;
        t.last = exp - 1;
    }

    /// The writer goes away, cleanly or not (its mark stays set), and a new one recovers the
    /// queue: nothing may change but the epoch.
    fn recover(&mut self, crash: bool) {
        let old = self.w.take().expect("a writer");
        if crash {
            std::mem::forget(old);
        } else {
            drop(old);
        }
        let (w, report) = Writer::recover(self.reg).expect("recover a sound queue");
        self.w = Some(w);
        let o = &self.o;
        assert_eq!(
            report.youngest_id,
            MessageId(o.youngest()),
            "recovery: youngest"
        );
        assert_eq!(report.oldest_id, MessageId(o.oldest()), "recovery: oldest");
        assert_eq!(report.dropped_count, 0, "recovery drops nothing sound");
        assert_eq!(report.stamps_cleared_count, 0, "no stale stamps");
        assert_eq!(report.writer_was_open, crash, "the mark says who closed");
        assert_eq!(report.epoch, self.epoch + 1, "the epoch is bumped");
        self.epoch = report.epoch;
    }

    fn new_reader(&mut self, input: &mut Input<'_>) {
        let (kind, x) = (input.u8(), input.u8());
        let policy = if kind & 4 != 0 {
            LagPolicy::ResumeAtYoungest
        } else {
            LagPolicy::ResumeAtOldest
        };
        let start = self.start_at(kind, x);
        let cursor = self.o.start_id(start);
        let t = Tracked {
            reader: self.attach(start, policy),
            policy,
            cursor,
            last: cursor - 1,
        };
        assert_eq!(
            t.reader.position(),
            MessageId(cursor),
            "attach at {start:?}"
        );
        if self.readers.len() < 4 {
            self.readers.push(t);
        } else {
            self.readers[usize::from(x) % 4] = t;
        }
    }

    /// Every message the oracle holds is readable, in order, then Empty.
    fn scan(&mut self) {
        let mut r = self.attach(StartAt::Oldest, LagPolicy::ResumeAtOldest);
        for m in self.o.messages() {
            let got = r.try_read(&mut self.scratch);
            let meta = got.unwrap_or_else(|e| panic!("scan: message {}: {e:?}", m.id));
            if let Err(e) = self.o.check(m.id, &meta, &self.scratch[..meta.len]) {
                panic!("scan: {e}");
            }
        }
        let end = r.try_read(&mut self.scratch);
        assert_eq!(end, Err(ReadError::Empty), "scan: end");
    }

    fn check_writer(&mut self) {
        let (oldest, youngest, pos) = (self.o.oldest(), self.o.youngest(), self.o.write_pos());
        let w = self.w();
        assert_eq!(w.oldest_id(), MessageId(oldest), "writer's oldest id");
        assert_eq!(w.youngest_id(), MessageId(youngest), "writer's youngest id");
        assert_eq!(w.write_pos(), pos, "writer's write position");
    }
}
