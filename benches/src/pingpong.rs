//! The latency ping-pong between the bench process and one echo process: the bench sends a
//! message, the child sends it back on a second channel, and one-way latency is half the
//! round trip (no clock is shared between processes). The physical limit is measured the
//! same way: one cache line bounced between the two processes.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

use iceoryx2::prelude::*;

use crate::child::{
    ice_service, read_full, sp_recv, sp_send, wait_strategy, write_full, PIPE_STOP,
};
use crate::config;
use crate::spawn::{inheritable_pipe, inheritable_seqpacket, Children};
use crate::xrig::{create_queue, queue_spec, Backend};

/// One round trip at a time.
pub trait PingPong {
    /// Sends one message and waits for its echo.
    fn round_trip(&mut self);
    /// Stops the echo process.
    fn finish(self: Box<Self>);
}

/// fmq: queue `ping` written by the bench, `pong` by the echo process.
pub struct FmqPing {
    writer: fmq::Writer,
    reader: fmq::Reader,
    payload: Vec<u8>,
    specs: [String; 2],
    children: Option<Children>,
}

impl FmqPing {
    /// Readers on both sides wait with `wait` (`spin` or `futex`).
    pub fn new(exe: &str, backend: Backend, size: usize, wait: &str) -> FmqPing {
        let ring = config::RING_L2;
        let (ping, pong) = (queue_spec(backend), queue_spec(backend));
        let writer = create_queue(&ping, ring, size);
        drop(create_queue(&pong, ring, size));
        let mut children = Children::new();
        children.spawn(
            exe,
            "fmq-echo",
            &[
                format!("in={ping}"),
                format!("out={pong}"),
                format!("wait={wait}"),
            ],
        );
        let opts = fmq::ReaderOptions {
            wait: wait_strategy(wait),
            ..fmq::ReaderOptions::default()
        };
        let reader = fmq::Reader::open(&pong, &opts).expect("open pong");
        FmqPing {
            writer,
            reader,
            payload: config::payload(size),
            specs: [ping, pong],
            children: Some(children),
        }
    }
}

impl PingPong for FmqPing {
    fn round_trip(&mut self) {
        self.writer.write(1, 0, &self.payload).expect("ping");
        self.reader
            .read_timeout(Duration::from_secs(5))
            .expect("pong");
    }
    fn finish(mut self: Box<Self>) {
        self.children.take().expect("children").finish();
        for s in &self.specs {
            let _ = fmq::force_remove(s);
        }
    }
}

/// iceoryx2: service `ping` published by the bench, `pong` by the echo process; both sides
/// poll `receive()` (spin).
pub struct IcePing {
    publisher: iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>,
    subscriber: iceoryx2::port::subscriber::Subscriber<ipc::Service, [u8], ()>,
    payload: Vec<u8>,
    children: Option<Children>,
    _services:
        [iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>;
            2],
    _node: Node<ipc::Service>,
}

impl IcePing {
    /// Both services lossless, buffers of 4.
    pub fn new(exe: &str, size: usize) -> IcePing {
        let node = NodeBuilder::new().create::<ipc::Service>().expect("node");
        let (ping, pong) = (config::unique("iping"), config::unique("ipong"));
        let sping = ice_service(&node, &ping, 4);
        let spong = ice_service(&node, &pong, 4);
        let publisher = sping
            .publisher_builder()
            .initial_max_slice_len(size)
            .unable_to_deliver_strategy(UnableToDeliverStrategy::Block)
            .create()
            .expect("publisher");
        let subscriber = spong
            .subscriber_builder()
            .buffer_size(4)
            .create()
            .expect("subscriber");
        let mut children = Children::new();
        children.spawn(
            exe,
            "ice-echo",
            &[
                format!("in={ping}"),
                format!("out={pong}"),
                format!("size={size}"),
            ],
        );
        IcePing {
            publisher,
            subscriber,
            payload: config::payload(size),
            children: Some(children),
            _services: [sping, spong],
            _node: node,
        }
    }
}

impl PingPong for IcePing {
    fn round_trip(&mut self) {
        let s = self
            .publisher
            .loan_slice_uninit(self.payload.len())
            .expect("loan");
        s.write_from_slice(&self.payload).send().expect("send");
        loop {
            if let Some(s) = self.subscriber.receive().expect("receive") {
                std::hint::black_box(s.payload());
                return;
            }
            std::hint::spin_loop();
        }
    }
    fn finish(mut self: Box<Self>) {
        self.children.take().expect("children").finish();
    }
}

/// The bench's side of the channel to the echo process.
enum FdChannel {
    /// One SOCK_SEQPACKET socket, both directions.
    Seqpacket(OwnedFd),
    /// The write end of the ping pipe and the read end of the pong pipe.
    Pipes { out: OwnedFd, back: OwnedFd },
}

/// Two pipes (`seqpacket` false) or one SOCK_SEQPACKET socket pair.
pub struct FdPing {
    channel: FdChannel,
    frame: Vec<u8>,
    buf: Vec<u8>,
    children: Option<Children>,
}

impl FdPing {
    /// The echo process behind pipes or a socket.
    pub fn new(exe: &str, seqpacket: bool, size: usize) -> FdPing {
        let mut children = Children::new();
        let mut frame = config::payload(size);
        let channel = if seqpacket {
            let (mine, theirs) = inheritable_seqpacket(size);
            children.spawn(
                exe,
                "sp-echo",
                &[format!("fd={}", theirs.as_raw_fd()), format!("size={size}")],
            );
            drop(theirs);
            FdChannel::Seqpacket(mine)
        } else {
            let (ping_rd, ping_wr) = inheritable_pipe();
            let (pong_rd, pong_wr) = inheritable_pipe();
            children.spawn(
                exe,
                "pipe-echo",
                &[
                    format!("fd_in={}", ping_rd.as_raw_fd()),
                    format!("fd_out={}", pong_wr.as_raw_fd()),
                    format!("size={size}"),
                ],
            );
            drop((ping_rd, pong_wr));
            let mut f = (size as u32).to_le_bytes().to_vec();
            f.extend_from_slice(&frame);
            frame = f;
            FdChannel::Pipes {
                out: ping_wr,
                back: pong_rd,
            }
        };
        FdPing {
            channel,
            buf: vec![0u8; frame.len()],
            frame,
            children: Some(children),
        }
    }
}

impl PingPong for FdPing {
    fn round_trip(&mut self) {
        match &self.channel {
            FdChannel::Seqpacket(s) => {
                sp_send(s.as_fd(), &self.frame);
                sp_recv(s.as_fd(), &mut self.buf);
            }
            FdChannel::Pipes { out, back } => {
                write_full(out.as_fd(), &self.frame);
                read_full(back.as_fd(), &mut self.buf);
            }
        }
    }
    fn finish(mut self: Box<Self>) {
        match &self.channel {
            FdChannel::Seqpacket(s) => sp_send(s.as_fd(), b"S"),
            FdChannel::Pipes { out, .. } => write_full(out.as_fd(), &PIPE_STOP.to_le_bytes()),
        }
        let children = self.children.take().expect("children");
        // Closes the bench's ends before waiting for the echo process.
        drop(self);
        children.finish();
    }
}

/// The limit: one cache line bounced between two processes.
pub struct LinePing {
    children: Children,
    next: u64,
}

impl LinePing {
    /// The echo process spins on the control block's ping word.
    pub fn new(exe: &str) -> LinePing {
        let mut children = Children::new();
        children.spawn(exe, "line-echo", &[]);
        LinePing { children, next: 1 }
    }
}

impl PingPong for LinePing {
    fn round_trip(&mut self) {
        let ping = self.children.ctl.ping();
        // ORDERING: Release pairs with the echo's Acquire load (the measured hand-over).
        ping.store(self.next, Ordering::Release);
        // ORDERING: Acquire pairs with the echo's Release store of the reply.
        while ping.load(Ordering::Acquire) != self.next + 1 {
            std::hint::spin_loop();
        }
        self.next += 2;
    }
    fn finish(self: Box<Self>) {
        self.children.finish();
    }
}
