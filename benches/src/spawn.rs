//! Starting and stopping the child processes of a cross-process scenario.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::ctl::Ctl;

/// Child processes sharing one control block.
pub struct Children {
    /// The control block (created by the bench, removed on drop).
    pub ctl: Ctl,
    /// Its name in `/dev/shm`.
    pub ctl_name: String,
    procs: Vec<Child>,
}

impl Children {
    /// A new control block and no children yet.
    pub fn new() -> Children {
        let ctl_name = crate::config::unique("ctl");
        Children {
            ctl: Ctl::create(&ctl_name),
            ctl_name,
            procs: Vec::new(),
        }
    }

    /// Starts `exe ROLE args... ctl=NAME` and waits until it says it is ready.
    pub fn spawn(&mut self, exe: &str, role: &str, args: &[String]) {
        let want = self.procs.len() as u64 + 1;
        let child = Command::new(exe)
            .arg(role)
            .args(args)
            .arg(format!("ctl={}", self.ctl_name))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {exe}: {e}"));
        self.procs.push(child);
        let start = Instant::now();
        while self.ctl.ready_count() < want {
            for p in &mut self.procs {
                if let Ok(Some(status)) = p.try_wait() {
                    panic!("child {role} exited early: {status}");
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "child {role} not ready after 30 s"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Asks every child to stop (the caller sends in-band stop messages first where a
    /// child blocks in a read) and waits for them; kills one that does not stop in 10 s.
    pub fn finish(mut self) {
        self.ctl.stop();
        for mut p in std::mem::take(&mut self.procs) {
            let start = Instant::now();
            loop {
                match p.try_wait() {
                    Ok(Some(_)) => break,
                    _ if start.elapsed() > Duration::from_secs(10) => {
                        let _ = p.kill();
                        let _ = p.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        }
    }
}

impl Default for Children {
    fn default() -> Self {
        Children::new()
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.ctl.stop();
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

/// A pipe whose ends child processes inherit (no `O_CLOEXEC`), with a 1 MiB kernel buffer:
/// `(read end, write end)`. Pass a child the number of an end (`as_raw_fd`), then drop the
/// end the bench does not use.
pub fn inheritable_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0 as RawFd; 2];
    // SAFETY:
    // 1. `fds` is a valid array of two ints for the kernel to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), 0) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    let (rd, wr) = (adopt(fds[0]), adopt(fds[1]));
    // SAFETY:
    // 1. `wr` is the pipe end just created and owned here; F_SETPIPE_SZ only resizes its
    //    buffer (failure leaves the default 64 KiB, which is fine).
    unsafe { libc::fcntl(wr.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    (rd, wr)
}

/// A connected SOCK_SEQPACKET pair that children inherit, with send buffers large enough
/// for `max_msg` bytes (SO_SNDBUFFORCE as root; else the default cap applies).
pub fn inheritable_seqpacket(max_msg: usize) -> (OwnedFd, OwnedFd) {
    let mut fds = [0 as RawFd; 2];
    // SAFETY:
    // 1. `fds` is a valid array of two ints for the kernel to fill.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "socketpair: {}", std::io::Error::last_os_error());
    let pair = (adopt(fds[0]), adopt(fds[1]));
    let want = (2 * max_msg + 65536).max(212_992) as libc::c_int;
    for fd in [&pair.0, &pair.1] {
        for opt in [libc::SO_SNDBUFFORCE, libc::SO_RCVBUFFORCE] {
            // SAFETY:
            // 1. `fd` is the socket just created and owned here, and `want` a valid c_int
            //    that outlives the call; failure (not root) leaves the default buffer size.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&want as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
    }
    pair
}

/// Takes ownership of a descriptor the kernel has just returned to this function's caller.
fn adopt(fd: RawFd) -> OwnedFd {
    assert!(fd >= 0, "the kernel returned descriptor {fd}");
    // SAFETY:
    // 1. `fd` was just returned by a successful pipe2/socketpair in this process: it is open,
    //    and nothing else owns it (the raw number is dropped by the caller after this).
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Takes ownership of the descriptor a parent passed to this child process by number (a
/// `key=N` argument). A number that is not open panics (checked with `F_GETFD`).
///
/// # Safety
///
/// `fd` names a descriptor this process inherited and that nothing else in the process owns
/// or uses, and it is adopted once (the child roles adopt their descriptors at start-up).
pub unsafe fn inherited(fd: usize) -> OwnedFd {
    let fd = RawFd::try_from(fd).unwrap_or_else(|_| panic!("descriptor {fd} out of range"));
    // SAFETY:
    // 1. F_GETFD only reads the descriptor's flags; on a number that is not open it fails
    //    with EBADF and touches nothing.
    let rc = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(
        rc >= 0,
        "inherited descriptor {fd}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY:
    // 1. `fd` is open (checked above), and by this function's contract nothing else in the
    //    process owns it and it is adopted once: it has exactly one owner from here on.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
