//! Fuzz target `mutating_reader`: a real queue, written and read while the fuzzer overwrites
//! its words.

use fmq_core::header::HEADER_WORDS;
use fmq_core::slot::SLOT_WORDS;
use fmq_core::{
    HeapRegion, LagPolicy, MessageId, MessageMeta, NewMessage, ReadError, Reader, ReaderConfig,
    Region, StartAt, Writer,
};

use super::{format, get, len_from, read_any, set, small_queue, Input};
use crate::payload::noise;

/// The queue, everything ever written to it, and which slots the fuzzer touched.
struct Hostile<'r> {
    reg: &'r HeapRegion,
    w: Writer<&'r HeapRegion>,
    buf: u64,
    slots: u64,
    /// Message `id` is `written[id - 1]` (type, payload).
    written: Vec<(i32, Vec<u8>)>,
    /// Per slot: whether the fuzzer overwrote one of its words.
    touched: Vec<bool>,
    /// Two readers (both lag policies) and the last id each returned.
    readers: [(Reader<&'r HeapRegion>, u64); 2],
    scratch: Vec<u8>,
}

/// Fuzz target `mutating_reader`: a real queue, written and read while the fuzzer overwrites
/// its words.
///
/// Input: slots byte, buffer byte, how many messages to write first, then operations: a
/// mutation (word index over stat part and buffer, and a value: raw, one bit flipped, a small
/// delta, a boundary value, a copy of another word, a small id), a read by one of two readers
/// (four kinds), a write, a batch. At most 600 operations.
pub fn mutating_reader(data: &[u8]) {
    let mut input = Input::new(data);
    let (slots, buf) = small_queue(&mut input);
    let (reg, cfg) = format(slots, buf);
    let w = Writer::format(&reg, &cfg).expect("format");
    let mut h = Hostile {
        reg: &reg,
        w,
        buf,
        slots: slots.into(),
        written: Vec::new(),
        touched: vec![false; slots as usize],
        readers: [LagPolicy::ResumeAtOldest, LagPolicy::ResumeAtYoungest].map(|p| {
            let config = ReaderConfig {
                start: StartAt::Id(MessageId(1)),
                lag_policy: p,
            };
            (Reader::attach(&reg, config).expect("attach"), 0u64)
        }),
        scratch: vec![0u8; buf as usize],
    };
    for _ in 0..input.u8() % 24 {
        let v = input.u8();
        h.write(v);
    }
    for _ in 0..600 {
        if input.is_empty() {
            break;
        }
        match input.u8() % 8 {
            0..=2 => h.mutate(&mut input),
            3..=5 => h.read(&mut input),
            6 => {
                let v = input.u8();
                h.write(v);
            }
            _ => h.batch(&mut input),
        }
    }
}

impl Hostile<'_> {
    /// One write of type `v` and a length from `v`; its id comes from the writer's own state.
    fn write(&mut self, v: u8) {
        let id = self.written.len() as u64 + 1;
        let p = noise(id, len_from(v, self.buf));
        let t = i32::from(v);
        let got = self
            .w
            .write(t, -t, id as i64, &p)
            .expect("the writer's checks use its own state");
        assert_eq!(
            got,
            MessageId(id),
            "the writer's ids come from its own state"
        );
        self.written.push((t, p));
    }

    fn batch(&mut self, input: &mut Input<'_>) {
        let n = input.u8() % 5;
        let first = self.written.len() as u64 + 1;
        let ps: Vec<(i32, Vec<u8>)> = (0..n)
            .map(|k| {
                let v = input.u8();
                let p = noise(first + u64::from(k), len_from(v, self.buf));
                (i32::from(v), p)
            })
            .collect();
        let msgs: Vec<NewMessage<'_>> = ps
            .iter()
            .enumerate()
            .map(|(k, (t, p))| NewMessage::new(*t, -*t, (first + k as u64) as i64, p))
            .collect();
        self.w.write_batch(&msgs).expect("batch");
        self.written.extend(ps);
    }

    /// The word at index `i` over the stat part then the buffer: its part and index there.
    fn locate(&self, i: usize) -> (&[fmq_core::sync::AtomicU64], usize) {
        let stat_words = self.reg.stat_words().len();
        if i < stat_words {
            (self.reg.stat_words(), i)
        } else {
            (self.reg.buf_words(), i - stat_words)
        }
    }

    /// Overwrites one word of the region with a hostile value.
    fn mutate(&mut self, input: &mut Input<'_>) {
        let stat_words = self.reg.stat_words().len();
        let total = stat_words + self.reg.buf_words().len();
        let i = usize::from(input.u16()) % total;
        let (words, at) = self.locate(i);
        let orig = get(words, at);
        let v = match input.u8() % 6 {
            0 => input.u64(),
            1 => orig ^ (1 << (input.u8() % 64)),
            2 => orig.wrapping_add(input.u8() as i8 as i64 as u64),
            3 => {
                let (buf, n) = (self.buf, self.written.len() as u64);
                let pick = [
                    0,
                    1,
                    buf - 8,
                    buf,
                    buf + 8,
                    u64::from(u32::MAX),
                    1 << 32,
                    i64::MAX as u64,
                    1 << 63,
                    u64::MAX / 4,
                    u64::MAX - 1,
                    u64::MAX,
                    n,
                    n + 1,
                ];
                pick[usize::from(input.u8()) % pick.len()]
            }
            4 => {
                let (other, j) = self.locate(usize::from(input.u16()) % total);
                get(other, j)
            }
            _ => u64::from(input.u8()),
        };
        set(words, at, v);
        if i < stat_words && i >= HEADER_WORDS {
            self.touched[(i - HEADER_WORDS) / SLOT_WORDS] = true;
        }
    }

    /// One read by one of the readers, with a buffer the size of the buffer: a
    /// `BufferTooSmall` would mean an unchecked length.
    fn read(&mut self, input: &mut Input<'_>) {
        let which = usize::from(input.u8() & 1);
        let kind = input.u8();
        let kind = if kind % 4 == 3 { 0 } else { kind };
        let (r, _) = &mut self.readers[which];
        let want = r.position().0;
        let res = read_any(r, kind, 0, &mut self.scratch);
        assert!(
            r.position().0 >= want,
            "invariant 4: a reader never goes back"
        );
        match res {
            Ok((meta, bytes)) => self.check_message(which, want, &meta, &bytes),
            Err(ReadError::Lagged {
                missed_count,
                resumed_at,
            }) => {
                assert_eq!(want.checked_add(missed_count), Some(resumed_at.0));
                assert!(resumed_at.0 > want, "a lag moves forward");
                assert_eq!(r.position(), resumed_at);
            }
            Err(ReadError::BufferTooSmall { needed }) => {
                panic!("invariant 6: BufferTooSmall({needed}) with a buffer-sized buffer")
            }
            Err(
                ReadError::Empty | ReadError::Corrupt { .. } | ReadError::GenerationChanged { .. },
            ) => {}
            Err(e @ ReadError::Unregistered { .. }) => {
                panic!("{e:?} for a reader that never registered")
            }
        }
    }

    /// A message returned: in bounds, the id wanted, strictly increasing; from a slot the
    /// fuzzer never touched, exactly the message written with that id.
    fn check_message(&mut self, which: usize, want: u64, meta: &MessageMeta, bytes: &[u8]) {
        let id = meta.id.0;
        assert!(
            meta.len as u64 <= self.buf && bytes.len() == meta.len,
            "invariant 6: length {} within the buffer",
            meta.len
        );
        let last = &mut self.readers[which].1;
        assert!(id > *last, "invariant 4: ids strictly increase ({id})");
        assert_eq!(id, want, "the read returns the id wanted");
        *last = id;
        if self.touched[(id % self.slots) as usize] {
            return;
        }
        // An untouched slot holds what the writer stored; a payload changed under it fails
        // the CRC (a forged one would need a CRC32C collision).
        let (t, p) = usize::try_from(id - 1)
            .ok()
            .and_then(|k| self.written.get(k))
            .unwrap_or_else(|| panic!("invariant 2: id {id} never written"));
        assert_eq!(bytes, &p[..], "invariant 2: payload of {id}");
        assert_eq!(
            (meta.msg_type, meta.subtype, meta.time_ns),
            (*t, -*t, id as i64),
            "invariant 2: metadata of {id}"
        );
    }
}
