//! Shared test helpers: the `VecDeque` oracle that states LROSE's capacity rule, and payload
//! generators. The oracle is written from the spec, not from the writer's code.
#![allow(dead_code)]

use std::collections::VecDeque;

use fmq_core::{Config, HeapRegion, Layout};

/// One message as the oracle remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OMsg {
    pub id: u64,
    pub start: u64,
    pub padded: u64,
    pub msg_type: i32,
    pub subtype: i32,
    pub time_ns: i64,
    pub payload: Vec<u8>,
}

/// The queue as a `VecDeque`: at most `slots` messages, all inside one buffer lap, each
/// placed contiguously (padding at the buffer's end), oldest retired first.
#[derive(Clone, Debug)]
pub struct Oracle {
    pub slots: u64,
    pub buf: u64,
    pub next_id: u64,
    pub write_pos: u64,
    pub msgs: VecDeque<OMsg>,
}

impl Oracle {
    pub fn new(slots: u32, buf: u64) -> Self {
        Oracle {
            slots: slots.into(),
            buf,
            next_id: 1,
            write_pos: 0,
            msgs: VecDeque::new(),
        }
    }

    pub fn write(&mut self, msg_type: i32, subtype: i32, time_ns: i64, payload: &[u8]) -> u64 {
        let id = self.next_id;
        let padded = (payload.len() as u64).div_ceil(8) * 8;
        assert!(padded <= self.buf);
        let phys = self.write_pos % self.buf;
        let start = if phys + padded > self.buf {
            self.write_pos + self.buf - phys
        } else {
            self.write_pos
        };
        let end = start + padded;
        // Bytes [start, end) reuse the physical bytes of stream range [start-buf, end-buf).
        while let Some(front) = self.msgs.front() {
            let slot_taken = id - front.id >= self.slots;
            let bytes_reused = front.start < end.saturating_sub(self.buf);
            if slot_taken || bytes_reused {
                self.msgs.pop_front();
            } else {
                break;
            }
        }
        self.msgs.push_back(OMsg {
            id,
            start,
            padded,
            msg_type,
            subtype,
            time_ns,
            payload: payload.to_vec(),
        });
        self.write_pos = end;
        self.next_id += 1;
        id
    }

    pub fn oldest(&self) -> u64 {
        self.msgs.front().map_or(self.next_id, |m| m.id)
    }

    pub fn youngest(&self) -> u64 {
        self.next_id - 1
    }

    pub fn get(&self, id: u64) -> Option<&OMsg> {
        let first = self.msgs.front()?.id;
        self.msgs.get(id.checked_sub(first)? as usize)
    }
}

/// Deterministic payload bytes for a message.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn config(slots: u32, buf: u64) -> Config {
    Config {
        slots_count: slots,
        buf_size_bytes: buf,
        creation_time_ns: 1_000,
        readers_max: 0,
        reader_timeout_ms: 0,
        ..Config::default()
    }
}

pub fn region(cfg: &Config) -> HeapRegion {
    HeapRegion::new(&Layout::from_config(cfg).unwrap())
}
