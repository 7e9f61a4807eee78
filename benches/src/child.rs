//! The roles a child process plays (`fmq-bench-child ROLE key=value...`): a reader for the
//! throughput scenarios, or an echo for the latency ping-pong, for fmq and for each
//! cross-process peer. Every reader copies each payload into a buffer of its own (fmq's
//! reader must; the peers are made to do the same work) and counts it in the control block.

use std::collections::HashMap;
use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use iceoryx2::prelude::*;

use crate::ctl::Ctl;
use crate::flow::Idle;

/// Parsed `key=value` arguments.
pub struct Args(HashMap<String, String>);

impl Args {
    /// Parses `key=value` words.
    pub fn parse<I: IntoIterator<Item = String>>(it: I) -> Args {
        Args(
            it.into_iter()
                .filter_map(|a| a.split_once('=').map(|(k, v)| (k.into(), v.into())))
                .collect(),
        )
    }
    /// A string argument.
    pub fn s(&self, k: &str) -> &str {
        self.0
            .get(k)
            .unwrap_or_else(|| panic!("missing argument {k}="))
    }
    /// A numeric argument.
    pub fn n(&self, k: &str) -> usize {
        self.s(k).parse().unwrap_or_else(|_| panic!("bad {k}="))
    }
    /// Adopts the inherited descriptor whose number is argument `k`.
    ///
    /// # Safety
    ///
    /// As [`crate::spawn::inherited`]: the number names a descriptor this process inherited
    /// for its role, which nothing else in the process owns; it is adopted once.
    unsafe fn fd(&self, k: &str) -> OwnedFd {
        // SAFETY:
        // 1. This function's contract is `inherited`'s, passed on to the caller.
        unsafe { crate::spawn::inherited(self.n(k)) }
    }
}

/// The fmq wait strategy named `spin` or `futex` (no spinning at all: every wait sleeps).
pub fn wait_strategy(name: &str) -> fmq::WaitStrategy {
    match name {
        "spin" => fmq::WaitStrategy::spin(),
        "futex" => fmq::WaitStrategy {
            spin_for: Duration::ZERO,
            ..fmq::WaitStrategy::default()
        },
        _ => fmq::WaitStrategy::default(),
    }
}

/// Runs the role named by the first argument.
///
/// # Safety
///
/// Every descriptor argument of the role (`fd=`, `fd_in=`, `fd_out=`) is the number of an
/// open descriptor that this process inherited for the role and that nothing else in the
/// process owns or uses: the role adopts it (and closes it when it returns). The child binary,
/// started by [`crate::spawn::Children::spawn`] with the numbers of the inheritable ends,
/// calls this once from `main`; no other code may.
pub unsafe fn run(role: &str, a: &Args) {
    // SAFETY:
    // 1. This function's contract: each descriptor argument names an inherited descriptor
    //    owned by nobody else, and each role below adopts each of its arguments once.
    let fd = |k: &str| unsafe { a.fd(k) };
    match role {
        "fmq-read" => fmq_read(a),
        "ice-read" => ice_read(a),
        "pipe-read" => pipe_read(a, fd("fd")),
        "sp-read" => sp_read(a, fd("fd")),
        "fmq-echo" => fmq_echo(a),
        "ice-echo" => ice_echo(a),
        "pipe-echo" => pipe_echo(a, fd("fd_in"), fd("fd_out")),
        "sp-echo" => sp_echo(a, fd("fd")),
        "line-echo" => line_echo(a),
        other => panic!("unknown role {other}"),
    }
}

fn fmq_read(a: &Args) {
    let ctl = Ctl::open(a.s("ctl"));
    let i = a.n("i");
    let opts = fmq::ReaderOptions {
        wait: wait_strategy(a.s("wait")),
        ..fmq::ReaderOptions::default()
    };
    let mut r = fmq::Reader::open(a.s("spec"), &opts).expect("open fmq reader");
    let spin = a.s("wait") == "spin";
    let (mut taken, mut missed) = (0u64, 0u64);
    let mut idle = Idle::new(a.n("readers"));
    ctl.ready();
    loop {
        // `None`: nothing came (try_read found none, or read_timeout timed out).
        let res = if spin {
            match r.try_read() {
                Ok(m) => Ok(Some(m)),
                Err(fmq::TryReadError::Empty) => Ok(None),
                Err(fmq::TryReadError::Failed(e)) => Err(e),
            }
        } else {
            match r.read_timeout(Duration::from_millis(50)) {
                Ok(m) => Ok(Some(m)),
                Err(fmq::ReadTimeoutError::TimedOut) => Ok(None),
                Err(fmq::ReadTimeoutError::Failed(e)) => Err(e),
            }
        };
        match res {
            Ok(Some(m)) => {
                black_box(m.payload);
                idle.reset();
                taken += 1;
                ctl.set_taken(i, taken);
            }
            Ok(None) => {
                if ctl.stopped() {
                    return;
                }
                idle.wait();
            }
            Err(fmq::ReadError::Lagged(lag)) => {
                missed += lag.missed_count;
                ctl.set_missed(i, missed);
            }
            Err(e) => panic!("fmq reader: {e}"),
        }
    }
}

/// Opens (or creates, with the same settings as the bench) the iceoryx2 byte-slice service:
/// lossless (`enable_safe_overflow(false)`, publishers `Block`), `buffer` samples per
/// subscriber.
pub fn ice_service(
    node: &Node<ipc::Service>,
    name: &str,
    buffer: usize,
) -> iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()> {
    set_log_level(LogLevel::Error);
    node.service_builder(&name.try_into().expect("service name"))
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .subscriber_max_buffer_size(buffer)
        .history_size(0)
        .max_subscribers(8)
        .max_publishers(2)
        .open_or_create()
        .expect("iceoryx2 service")
}

fn ice_read(a: &Args) {
    let ctl = Ctl::open(a.s("ctl"));
    let i = a.n("i");
    let node = NodeBuilder::new()
        .create::<ipc::Service>()
        .expect("iceoryx2 node");
    let service = ice_service(&node, a.s("service"), a.n("buffer"));
    let sub = service
        .subscriber_builder()
        .buffer_size(a.n("buffer"))
        .create()
        .expect("iceoryx2 subscriber");
    let mut buf = vec![0u8; a.n("size")];
    let mut taken = 0u64;
    let mut idle = Idle::new(a.n("readers"));
    ctl.ready();
    loop {
        match sub.receive().expect("iceoryx2 receive") {
            Some(sample) => {
                let p = sample.payload();
                buf[..p.len()].copy_from_slice(p);
                black_box(&buf);
                idle.reset();
                taken += 1;
                ctl.set_taken(i, taken);
            }
            None => {
                if ctl.stopped() {
                    return;
                }
                idle.wait();
            }
        }
    }
}

/// Reads exactly `buf.len()` bytes from `fd`; false at end of file.
pub fn read_full(fd: BorrowedFd<'_>, buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY:
        // 1. `buf[done..]` is a valid, writable byte range of the stated length.
        // 2. `fd` is an open descriptor, borrowed for the call.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[done..].as_mut_ptr().cast(),
                buf.len() - done,
            )
        };
        if n == 0 {
            return false;
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            panic!("read: {e}");
        }
        done += n as usize;
    }
    true
}

/// Writes all of `buf` to `fd`.
pub fn write_full(fd: BorrowedFd<'_>, buf: &[u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY:
        // 1. `buf[done..]` is a valid byte range of the stated length.
        // 2. `fd` is an open descriptor, borrowed for the call.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                buf[done..].as_ptr().cast(),
                buf.len() - done,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            panic!("write: {e}");
        }
        done += n as usize;
    }
}

/// The length prefix that tells a pipe reader to stop.
pub const PIPE_STOP: u32 = u32::MAX;

fn pipe_read(a: &Args, fd: OwnedFd) {
    let ctl = Ctl::open(a.s("ctl"));
    let (i, fd) = (a.n("i"), fd.as_fd());
    let mut buf = vec![0u8; a.n("size")];
    let mut taken = 0u64;
    ctl.ready();
    loop {
        let mut len = [0u8; 4];
        if !read_full(fd, &mut len) {
            return;
        }
        let len = u32::from_le_bytes(len);
        if len == PIPE_STOP {
            return;
        }
        read_full(fd, &mut buf[..len as usize]);
        black_box(&buf);
        taken += 1;
        ctl.set_taken(i, taken);
    }
}

/// Sends one datagram on a SOCK_SEQPACKET socket.
pub fn sp_send(fd: BorrowedFd<'_>, buf: &[u8]) {
    loop {
        // SAFETY:
        // 1. `buf` is a valid byte range of the stated length.
        // 2. `fd` is an open descriptor, borrowed for the call.
        let n = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            panic!("send {} bytes: {e}", buf.len());
        }
    }
}

/// Receives one datagram; returns its length.
pub fn sp_recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> usize {
    loop {
        // SAFETY:
        // 1. `buf` is a valid, writable byte range of the stated length.
        // 2. `fd` is an open descriptor, borrowed for the call.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return n as usize;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            panic!("recv: {e}");
        }
    }
}

fn sp_read(a: &Args, fd: OwnedFd) {
    let ctl = Ctl::open(a.s("ctl"));
    let (i, fd) = (a.n("i"), fd.as_fd());
    let mut buf = vec![0u8; a.n("size").max(2)];
    let mut taken = 0u64;
    ctl.ready();
    loop {
        let n = sp_recv(fd, &mut buf);
        if n <= 1 {
            return;
        }
        black_box(&buf);
        taken += 1;
        ctl.set_taken(i, taken);
    }
}

fn fmq_echo(a: &Args) {
    let ctl = Ctl::open(a.s("ctl"));
    let opts = fmq::ReaderOptions {
        wait: wait_strategy(a.s("wait")),
        ..fmq::ReaderOptions::default()
    };
    let mut r = fmq::Reader::open(a.s("in"), &opts).expect("open ping queue");
    let mut w = fmq::Writer::open(a.s("out"), &fmq::WriterOptions::default())
        .expect("open pong queue as writer");
    ctl.ready();
    loop {
        match r.read_timeout(Duration::from_millis(50)) {
            Ok(m) => {
                w.write(1, 0, m.payload).expect("echo");
            }
            Err(fmq::ReadTimeoutError::TimedOut) => {
                if ctl.stopped() {
                    return;
                }
            }
            Err(e) => panic!("echo reader: {e}"),
        }
    }
}

fn ice_echo(a: &Args) {
    let ctl = Ctl::open(a.s("ctl"));
    let node = NodeBuilder::new()
        .create::<ipc::Service>()
        .expect("iceoryx2 node");
    let ping = ice_service(&node, a.s("in"), 4);
    let pong = ice_service(&node, a.s("out"), 4);
    let sub = ping
        .subscriber_builder()
        .buffer_size(4)
        .create()
        .expect("subscriber");
    let publ = pong
        .publisher_builder()
        .initial_max_slice_len(a.n("size"))
        .unable_to_deliver_strategy(UnableToDeliverStrategy::Block)
        .create()
        .expect("publisher");
    ctl.ready();
    loop {
        match sub.receive().expect("receive") {
            Some(s) => {
                let p = s.payload();
                let out = publ.loan_slice_uninit(p.len()).expect("loan");
                let out = out.write_from_slice(p);
                out.send().expect("send");
            }
            None => {
                if ctl.stopped() {
                    return;
                }
                std::hint::spin_loop();
            }
        }
    }
}

fn pipe_echo(a: &Args, fd_in: OwnedFd, fd_out: OwnedFd) {
    let ctl = Ctl::open(a.s("ctl"));
    let (fd_in, fd_out) = (fd_in.as_fd(), fd_out.as_fd());
    let mut buf = vec![0u8; a.n("size") + 4];
    ctl.ready();
    loop {
        if !read_full(fd_in, &mut buf[..4]) {
            return;
        }
        let len = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes"));
        if len == PIPE_STOP {
            return;
        }
        read_full(fd_in, &mut buf[4..4 + len as usize]);
        write_full(fd_out, &buf[..4 + len as usize]);
    }
}

fn sp_echo(a: &Args, fd: OwnedFd) {
    let ctl = Ctl::open(a.s("ctl"));
    let fd = fd.as_fd();
    let mut buf = vec![0u8; a.n("size").max(2)];
    ctl.ready();
    loop {
        let n = sp_recv(fd, &mut buf);
        if n <= 1 {
            return;
        }
        sp_send(fd, &buf[..n]);
    }
}

fn line_echo(a: &Args) {
    use std::sync::atomic::Ordering;
    let ctl = Ctl::open(a.s("ctl"));
    let ping = ctl.ping();
    ctl.ready();
    let mut spins = 0u32;
    loop {
        // ORDERING: Acquire pairs with the bench's Release store of an odd value (nothing
        // else is published; it is the cost of the line's round trip that is measured).
        let v = ping.load(Ordering::Acquire);
        if v % 2 == 1 {
            // ORDERING: Release pairs with the bench's Acquire load of the reply.
            ping.store(v + 1, Ordering::Release);
            spins = 0;
        } else {
            spins += 1;
            if spins.is_multiple_of(4096) && ctl.stopped() {
                return;
            }
            std::hint::spin_loop();
        }
    }
}
