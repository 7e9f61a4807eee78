//! The cross-process rigs: the bench process writes, `fmq-bench-child` processes read. fmq
//! on shared memory or files; iceoryx2 publish/subscribe (lossless: no safe overflow,
//! publisher `Block`); a pipe per reader (length-prefixed messages); a Unix SOCK_SEQPACKET
//! socket pair per reader (one datagram per message).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use iceoryx2::prelude::*;

use crate::child::{ice_service, sp_send, write_full, PIPE_STOP};
use crate::config::{self, slots_for, Ring};
use crate::flow::Window;
use crate::rig::Rig;
use crate::spawn::{inheritable_pipe, inheritable_seqpacket, Children};

/// Where an fmq queue lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `shm:NAME` (`/dev/shm`).
    Shm,
    /// Files `.stat`/`.buf` in the scratch directory (a real disk).
    File,
}

/// A fresh queue spec for a backend.
pub fn queue_spec(backend: Backend) -> String {
    let name = config::unique("q");
    match backend {
        Backend::Shm => format!("shm:{name}"),
        Backend::File => config::scratch_dir().join(name).display().to_string(),
    }
}

/// Creates a queue for `ring` and `size` messages.
pub fn create_queue(spec: &str, ring: Ring, size: usize) -> fmq::Writer {
    create_queue_slots(spec, ring, slots_for(ring, size))
}

/// Creates a queue for `ring` with `slots` slots.
pub fn create_queue_slots(spec: &str, ring: Ring, slots: u32) -> fmq::Writer {
    let opts = fmq::CreateOptions {
        slots_count: slots,
        buf_size_bytes: ring.buf_size_bytes,
        replace: true,
        ..fmq::CreateOptions::default()
    };
    fmq::Writer::create(spec, &opts).unwrap_or_else(|e| panic!("create {spec}: {e}"))
}

/// fmq between processes.
pub struct FmqProc {
    writer: Option<fmq::Writer>,
    spec: String,
    payload: Vec<u8>,
    window: Window,
    children: Option<Children>,
    readers: usize,
    /// Flush every this many messages (0: never).
    flush_every: u64,
    /// Messages per `write_batch` (1: `write` each).
    batch: usize,
}

impl FmqProc {
    /// A queue on `backend` with `readers` reader processes (wait strategy `wait`), the
    /// ring written once before they attach.
    pub fn new(
        exe: &str,
        backend: Backend,
        readers: usize,
        size: usize,
        ring: Ring,
        wait: &str,
    ) -> FmqProc {
        FmqProc::with_slots(
            exe,
            backend,
            readers,
            size,
            ring,
            slots_for(ring, size),
            wait,
        )
    }

    /// The same with `slots` slots.
    pub fn with_slots(
        exe: &str,
        backend: Backend,
        readers: usize,
        size: usize,
        ring: Ring,
        slots: u32,
        wait: &str,
    ) -> FmqProc {
        let spec = queue_spec(backend);
        let mut writer = create_queue_slots(&spec, ring, slots);
        let payload = config::payload(size);
        let slots = u64::from(slots);
        let lap = (ring.buf_size_bytes / size as u64).max(slots);
        for _ in 0..lap {
            writer.write(1, 0, &payload).expect("prefill");
        }
        let mut children = Children::new();
        for i in 0..readers {
            children.spawn(
                exe,
                "fmq-read",
                &[
                    format!("spec={spec}"),
                    format!("i={i}"),
                    format!("wait={wait}"),
                    format!("readers={readers}"),
                ],
            );
        }
        let cap = (ring.buf_size_bytes / size as u64).min(slots);
        FmqProc {
            writer: Some(writer),
            spec,
            payload,
            window: Window::new(readers, cap / 2, 0),
            children: Some(children),
            readers,
            flush_every: 0,
            batch: 1,
        }
    }

    /// The same rig, publishing `n` messages per `write_batch` (one commit, one wake).
    /// `n` must not exceed the window (half the messages the ring holds).
    pub fn batched(mut self, n: usize) -> FmqProc {
        self.batch = n.max(1);
        self
    }

    /// The same rig, calling `flush()` every `n` messages.
    pub fn flushing(mut self, n: u64) -> FmqProc {
        self.flush_every = n;
        self
    }
}

impl Rig for FmqProc {
    fn run(&mut self, n: u64) -> Duration {
        let ctl = &self.children.as_ref().expect("children").ctl;
        let w = self.writer.as_mut().expect("writer");
        let start = Instant::now();
        if self.batch > 1 {
            // One time stamp per run: the batch API takes prepared messages.
            let msgs = vec![fmq::NewMessage::new(1, 0, &self.payload); self.batch];
            let mut left = n;
            while left > 0 {
                let k = left.min(self.batch as u64);
                for _ in 0..k {
                    self.window.admit(ctl);
                }
                w.write_batch(&msgs[..k as usize]).expect("write_batch");
                left -= k;
            }
            self.window.drain(ctl);
            return start.elapsed();
        }
        for _ in 0..n {
            self.window.admit(ctl);
            w.write(1, 0, &self.payload).expect("write");
            if self.flush_every != 0 && self.window.sent().is_multiple_of(self.flush_every) {
                w.flush().expect("flush");
            }
        }
        self.window.drain(ctl);
        start.elapsed()
    }
    fn finish(mut self: Box<Self>) {
        let children = self.children.take().expect("children");
        let missed: u64 = (0..self.readers).map(|i| children.ctl.missed(i)).sum();
        children.finish();
        drop(self);
        assert_eq!(missed, 0, "lossless fmq run lost messages");
    }
}

impl Drop for FmqProc {
    /// Stops any reader still running and removes the queue (its segment or files and its
    /// lock file), also when the rig is dropped without `finish` (a panic).
    fn drop(&mut self) {
        drop(self.children.take());
        drop(self.writer.take());
        let _ = fmq::force_remove(&self.spec);
    }
}

/// The subscriber buffer of the iceoryx2 service: the same number of messages as fmq's ring
/// holds, at most 4096 (iceoryx2 preallocates `buffer` samples per subscriber).
pub fn ice_buffer(ring: Ring, size: usize) -> usize {
    (ring.buf_size_bytes / size as u64).clamp(2, 4096) as usize
}

/// iceoryx2 publish/subscribe, lossless.
pub struct IceProc {
    publisher: Option<iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>>,
    _service:
        iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>,
    _node: Node<ipc::Service>,
    payload: Vec<u8>,
    window: Window,
    children: Option<Children>,
}

impl IceProc {
    /// A service with `readers` subscriber processes.
    pub fn new(exe: &str, readers: usize, size: usize, ring: Ring) -> IceProc {
        let node = NodeBuilder::new()
            .create::<ipc::Service>()
            .expect("iceoryx2 node");
        let name = config::unique("ice");
        let buffer = ice_buffer(ring, size);
        let service = ice_service(&node, &name, buffer);
        let publisher = service
            .publisher_builder()
            .initial_max_slice_len(size)
            .unable_to_deliver_strategy(UnableToDeliverStrategy::Block)
            .create()
            .expect("iceoryx2 publisher");
        let mut children = Children::new();
        for i in 0..readers {
            children.spawn(
                exe,
                "ice-read",
                &[
                    format!("service={name}"),
                    format!("i={i}"),
                    format!("size={size}"),
                    format!("buffer={buffer}"),
                    format!("readers={readers}"),
                ],
            );
        }
        IceProc {
            publisher: Some(publisher),
            _service: service,
            _node: node,
            payload: config::payload(size),
            window: Window::unbounded(readers),
            children: Some(children),
        }
    }
}

impl Rig for IceProc {
    fn run(&mut self, n: u64) -> Duration {
        let ctl = &self.children.as_ref().expect("children").ctl;
        let p = self.publisher.as_ref().expect("publisher");
        let start = Instant::now();
        for _ in 0..n {
            self.window.admit(ctl);
            let s = p.loan_slice_uninit(self.payload.len()).expect("loan");
            s.write_from_slice(&self.payload).send().expect("send");
        }
        self.window.drain(ctl);
        start.elapsed()
    }
    fn finish(mut self: Box<Self>) {
        let children = self.children.take().expect("children");
        children.finish();
        drop(self.publisher.take());
    }
}

/// One pipe or one SOCK_SEQPACKET socket per reader process.
pub struct FdProc {
    fds: Vec<OwnedFd>,
    seqpacket: bool,
    frame: Vec<u8>,
    window: Window,
    children: Option<Children>,
}

impl FdProc {
    /// `readers` reader processes, each behind its own pipe (`seqpacket` false) or socket.
    pub fn new(exe: &str, seqpacket: bool, readers: usize, size: usize) -> FdProc {
        let mut children = Children::new();
        let mut fds = Vec::new();
        for i in 0..readers {
            let (rd, wr) = if seqpacket {
                inheritable_seqpacket(size)
            } else {
                inheritable_pipe()
            };
            let role = if seqpacket { "sp-read" } else { "pipe-read" };
            children.spawn(
                exe,
                role,
                &[
                    format!("fd={}", rd.as_raw_fd()),
                    format!("i={i}"),
                    format!("size={size}"),
                ],
            );
            drop(rd);
            fds.push(wr);
        }
        let mut frame = config::payload(size);
        if !seqpacket {
            let mut f = (size as u32).to_le_bytes().to_vec();
            f.extend_from_slice(&frame);
            frame = f;
        }
        FdProc {
            fds,
            seqpacket,
            frame,
            window: Window::unbounded(readers),
            children: Some(children),
        }
    }
}

impl Rig for FdProc {
    fn run(&mut self, n: u64) -> Duration {
        let ctl = &self.children.as_ref().expect("children").ctl;
        let start = Instant::now();
        for _ in 0..n {
            self.window.admit(ctl);
            for fd in &self.fds {
                if self.seqpacket {
                    sp_send(fd.as_fd(), &self.frame);
                } else {
                    write_full(fd.as_fd(), &self.frame);
                }
            }
        }
        self.window.drain(ctl);
        start.elapsed()
    }
    fn finish(mut self: Box<Self>) {
        for fd in std::mem::take(&mut self.fds) {
            if self.seqpacket {
                sp_send(fd.as_fd(), b"S");
            } else {
                write_full(fd.as_fd(), &PIPE_STOP.to_le_bytes());
            }
            drop(fd);
        }
        self.children.take().expect("children").finish();
    }
}
