//! The simulated kernel: its fault model, and nothing else.
//!
//! # Namespace
//! One file system of absolute paths: a flat map `path -> entry`, an entry being a directory,
//! a symbolic link (with its target) or a regular file (an inode id). `/` exists. Relative
//! paths are taken from `/`; `.` and `..` are resolved lexically. Symbolic links are never
//! followed: a symbolic link as any component of a path given to `open` (the final one
//! included) fails with `ELOOP`, and as a non-final component of any other call too (a
//! stricter kernel than Linux, which follows them there: fmq never relies on it). `read_dir`
//! lists the names of a directory sorted (determinism).
//!
//! # Inodes
//! An inode has an id (`ino`; `dev` is the constant [`DEV`]), an owner uid, a mode (kept, not
//! enforced), a length in bytes and its data words, `Arc<[AtomicU64]>`, `ceil(len / 8)` of them
//! (byte `i` is byte `i % 8`, little-endian, of word `i / 8`, as a mapping on x86-64 sees it).
//! [`map`](fmq::__sim::Os::map) returns those words themselves: every mapping of an inode
//! shares them, as the page cache does. When a file grows past its words a new array is
//! allocated and copied, and older mappings keep the old one (fmq never resizes a mapped
//! file). A mapping of more than the file's length fails with `EINVAL` (a real one would
//! raise `SIGBUS` when the missing pages are touched). An inode is freed when it has no name,
//! no open file description, no mapping and no entry of the metadata log since boot.
//!
//! # Permissions
//! Only two rules: opening for writing a file whose uid is not the caller's effective uid
//! fails with `EACCES` unless the caller is root (uid 0), and every directory is sticky, as
//! `/tmp` is: `unlink` or `rename` of another user's entry (source, or target replaced) fails
//! with `EPERM` unless the caller is root. Mode bits are otherwise ignored.
//!
//! # Open file descriptions and locks
//! An open file description (OFD) has an inode, read/write access and an owner process;
//! descriptors name OFDs (`dup` shares one) and are private to their process (another
//! process's descriptor is `EBADF`). `flock`: at most one OFD per inode holds it (another one
//! gets `EWOULDBLOCK`, the holder again succeeds). OFD byte locks (`F_OFD_SETLK`, write locks
//! of one byte, which need a writable OFD: `EBADF` otherwise): `(inode, offset) -> OFD`;
//! another OFD holding it gets `EAGAIN`; a query answers `Held` only if *another* OFD holds
//! it. Closing the last descriptor of an OFD releases its `flock` and byte locks. A process's
//! death closes all its descriptors at once.
//!
//! # Space
//! The capacity in bytes is a configuration value; used bytes are the sum of the lengths of
//! the inodes not freed. Growing a file (`pwrite`, `ftruncate`, `fallocate`) past it fails
//! with `ENOSPC`; `free_bytes` is capacity minus used.
//!
//! # Durability
//! Every namespace change since boot (a name bound to an entry: create, `link`, `link_fd`,
//! `mkdir`, symlink; `unlink`; `rename`) is appended to a metadata log, of which a prefix is
//! durable. `fsync_dir` makes the whole log durable, whatever the directory: ext4 commits its
//! journal as a whole, so an `fsync` of one directory also commits every earlier metadata
//! change of the file system. An inode has a durable copy of its words and length as of its
//! last `fsync` (a new inode's is empty, of length 0); `fsync` makes the data and length
//! durable; `msync` the data of the pages (4096 bytes) the range touches, not the length.
//!
//! A **power loss**: every process dies; the namespace becomes the one of the last boot with
//! the durable log applied, plus a random prefix of the rest of the log: journaled metadata
//! reaches the disk in order (ext4's `data=ordered` journal; a later change never survives
//! without every earlier one). Every surviving inode's length becomes either its durable or
//! its current length, and each of its pages, independently, either its durable or its
//! current contents (write-back of dirty pages in any order); the durable copies become the
//! new contents. Every open file description, descriptor and lock is gone; inodes without a
//! name are gone; old mappings keep words nobody will ever read again. Everything under
//! [`TMPFS`] (`/dev/shm`, a tmpfs: memory) is gone, the directory itself stays.
//!
//! # Processes
//! A pid (from 100 up; never reused, unless the configuration says `pid_reuse`: then a new
//! process may get a dead process's pid, which is what makes pids untrustworthy), an effective
//! uid, alive or dead. A dead process's calls have no effect: every fallible call fails with
//! `EIO` (`close` does nothing), `sleep` returns at once, `pid`, `euid`, the clocks and
//! `random_u64` still answer; the store hook drops its stores to mapped words.
//!
//! # Clocks
//! The monotonic clock advances 1 µs per call of any process and by `d` per `sleep(d)` (one
//! clock for all: a sleeper lets time pass for everyone); the wall clock is the monotonic one
//! plus an offset which, if configured, steps back by up to 1 s with a small probability per
//! call (an NTP step). Randomness comes from the seed only.
//!
//! # Errors
//! Real errnos (`io::Error::from_raw_os_error`): `ENOENT`, `EEXIST` (`O_CREAT | O_EXCL` or a
//! link onto an existing name, `mkdir_all` over a file), `ELOOP`, `EISDIR`, `ENOTDIR`,
//! `ENOTEMPTY`, `EBADF`, `EINVAL` (`link_fd` of a descriptor whose file has a name, a bad
//! access mode, `readlink` of a non-link), `ENOSPC`, `EACCES`, `EPERM` (sticky directories, a
//! hard link to a directory), `EIO` (dead caller).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fmq::__sim::{Fd, Kind, LockQuery, Meta};
use fmq_core::sync::AtomicU64;

use crate::rng::Rng;

/// The device number of the one simulated file system.
pub const DEV: u64 = 0xF5_0000;
/// The page size of `msync` and of power-loss write-back.
pub const PAGE: u64 = 4096;
const PAGE_WORDS: usize = (PAGE / 8) as usize;

pub(super) type Ino = u64;

pub(super) fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// Who makes a call: the process's slot in the process table, its pid and effective uid.
#[derive(Clone, Copy, Debug)]
pub(super) struct Caller {
    pub slot: usize,
    pub pid: u32,
    pub uid: u32,
    pub alive: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    Dir { ino: Ino, uid: u32 },
    Symlink { ino: Ino, uid: u32, target: PathBuf },
    File(Ino),
}

struct Inode {
    uid: u32,
    #[allow(dead_code)] // kept, not enforced (the fault model ignores mode bits)
    mode: u32,
    len: u64,
    words: Arc<[AtomicU64]>,
    durable: Vec<u64>,
    durable_len: u64,
    tmpfile: bool,
}

struct Ofd {
    ino: Ino,
    readable: bool,
    writable: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Link(PathBuf, Entry),
    Unlink(PathBuf),
    Rename(PathBuf, PathBuf),
}

type Namespace = BTreeMap<PathBuf, Entry>;

/// The file system, the open file descriptions, the descriptors and the locks.
/// Directories that are tmpfs mounts: their contents do not survive a power loss.
pub const TMPFS: &[&str] = &["/dev/shm"];

pub(super) struct Fs {
    base: Namespace,
    ns: Namespace,
    /// The namespace changes not durable yet, in order.
    log: Vec<Op>,
    inodes: BTreeMap<Ino, Inode>,
    next_ino: Ino,
    ofds: BTreeMap<u64, Ofd>,
    next_ofd: u64,
    fds: BTreeMap<Fd, (usize, u64)>,
    next_fd: Fd,
    flocks: BTreeMap<Ino, u64>,
    byte_locks: BTreeMap<(Ino, u64), u64>,
    capacity: u64,
}

fn words_for(len: u64) -> io::Result<usize> {
    usize::try_from(len.div_ceil(8)).map_err(|_| errno(libc::EFBIG))
}

fn zeroed(n: usize) -> Arc<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

// ORDERING (every load and store of inode words in this file): Relaxed. The kernel's
// accesses are serialized by the kernel's mutex, and only one simulated process runs at a
// time, handing over through that mutex, which orders them with the processes' own accesses.
fn read_bytes(words: &[AtomicU64], offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let pos = offset + i as u64;
        // ORDERING: Relaxed: see above (serialized by the kernel's mutex and the baton).
        let word = words[(pos / 8) as usize].load(Ordering::Relaxed);
        *b = word.to_le_bytes()[(pos % 8) as usize];
    }
}

fn write_bytes(words: &[AtomicU64], offset: u64, data: &[u8]) {
    let (mut pos, mut i) = (offset, 0);
    while i < data.len() {
        let (w, shift) = ((pos / 8) as usize, (pos % 8) as usize);
        let n = (8 - shift).min(data.len() - i);
        // ORDERING: Relaxed: see above (serialized by the kernel's mutex and the baton).
        let mut bytes = words[w].load(Ordering::Relaxed).to_le_bytes();
        bytes[shift..shift + n].copy_from_slice(&data[i..i + n]);
        words[w].store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        pos += n as u64;
        i += n;
    }
}

/// The low `len % 8` bytes of the last word of a file of `len` bytes (all of it if aligned).
fn tail_mask(len: u64) -> u64 {
    match len % 8 {
        0 => u64::MAX,
        r => (1u64 << (8 * r)) - 1,
    }
}

fn norm(path: &Path) -> io::Result<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::Prefix(_) => return Err(errno(libc::ENOENT)),
        }
    }
    Ok(out)
}

fn apply(ns: &mut Namespace, op: &Op) {
    match op {
        Op::Link(p, e) => {
            ns.insert(p.clone(), e.clone());
        }
        Op::Unlink(p) => {
            ns.remove(p);
        }
        Op::Rename(from, to) => {
            if from == to {
                return;
            }
            let Some(e) = ns.remove(from) else { return };
            ns.remove(to);
            if matches!(e, Entry::Dir { .. }) {
                let under: Vec<PathBuf> =
                    ns.keys().filter(|k| k.starts_with(from)).cloned().collect();
                for k in under {
                    if let (Some(v), Ok(rest)) = (ns.remove(&k), k.strip_prefix(from)) {
                        ns.insert(to.join(rest), v);
                    }
                }
            }
            ns.insert(to.clone(), e);
        }
    }
}

impl Fs {
    pub(super) fn new(capacity: u64) -> Fs {
        let mut ns = Namespace::new();
        ns.insert(PathBuf::from("/"), Entry::Dir { ino: 1, uid: 0 });
        Fs {
            base: ns.clone(),
            ns,
            log: Vec::new(),
            inodes: BTreeMap::new(),
            next_ino: 2,
            ofds: BTreeMap::new(),
            next_ofd: 1,
            fds: BTreeMap::new(),
            next_fd: 3,
            flocks: BTreeMap::new(),
            byte_locks: BTreeMap::new(),
            capacity,
        }
    }

    fn commit(&mut self, op: Op) {
        apply(&mut self.ns, &op);
        self.log.push(op);
    }

    /// The whole log durable (a journal commit; also what the harness's helpers do).
    /// (The durable log is folded into the boot namespace: a power loss replays it anyway.)
    pub(super) fn sync_all_metadata(&mut self) {
        for op in self.log.drain(..) {
            apply(&mut self.base, &op);
        }
    }

    fn alloc_ino(&mut self) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        ino
    }

    fn new_inode(&mut self, uid: u32, mode: u32, tmpfile: bool) -> Ino {
        let ino = self.alloc_ino();
        self.inodes.insert(
            ino,
            Inode {
                uid,
                mode,
                len: 0,
                words: zeroed(0),
                durable: Vec::new(),
                durable_len: 0,
                tmpfile,
            },
        );
        ino
    }

    /// The normalized path and its entry, after checking every proper ancestor is a directory.
    fn lookup(&self, path: &Path) -> io::Result<(PathBuf, Option<Entry>)> {
        let p = norm(path)?;
        let mut ancestors: Vec<&Path> = p.ancestors().skip(1).collect();
        ancestors.reverse();
        for a in ancestors {
            match self.ns.get(a) {
                Some(Entry::Dir { .. }) => {}
                Some(Entry::Symlink { .. }) => return Err(errno(libc::ELOOP)),
                Some(Entry::File(_)) => return Err(errno(libc::ENOTDIR)),
                None => return Err(errno(libc::ENOENT)),
            }
        }
        let e = self.ns.get(&p).cloned();
        Ok((p, e))
    }

    fn lookup_dir(&self, path: &Path) -> io::Result<PathBuf> {
        match self.lookup(path)? {
            (p, Some(Entry::Dir { .. })) => Ok(p),
            (_, Some(Entry::Symlink { .. })) => Err(errno(libc::ELOOP)),
            (_, Some(Entry::File(_))) => Err(errno(libc::ENOTDIR)),
            (_, None) => Err(errno(libc::ENOENT)),
        }
    }

    fn inode(&self, ino: Ino) -> io::Result<&Inode> {
        self.inodes.get(&ino).ok_or_else(|| errno(libc::EIO))
    }

    fn entry_uid(&self, e: &Entry) -> u32 {
        match e {
            Entry::Dir { uid, .. } | Entry::Symlink { uid, .. } => *uid,
            Entry::File(ino) => self.inodes.get(ino).map_or(0, |i| i.uid),
        }
    }

    fn meta(&self, e: &Entry) -> io::Result<Meta> {
        Ok(match e {
            Entry::Dir { ino, uid } => Meta {
                dev: DEV,
                ino: *ino,
                len: PAGE,
                uid: *uid,
                kind: Kind::Dir,
            },
            Entry::Symlink { ino, uid, target } => Meta {
                dev: DEV,
                ino: *ino,
                len: target.as_os_str().len() as u64,
                uid: *uid,
                kind: Kind::Symlink,
            },
            Entry::File(ino) => {
                let i = self.inode(*ino)?;
                Meta {
                    dev: DEV,
                    ino: *ino,
                    len: i.len,
                    uid: i.uid,
                    kind: Kind::File,
                }
            }
        })
    }

    fn has_name(&self, ino: Ino) -> bool {
        self.ns.values().any(|e| *e == Entry::File(ino))
    }

    /// Frees the inodes nothing refers to any more (but `also`).
    fn gc(&mut self, also: Option<Ino>) {
        let mut keep: BTreeSet<Ino> = also.into_iter().collect();
        for e in self.ns.values().chain(self.base.values()) {
            if let Entry::File(ino) = e {
                keep.insert(*ino);
            }
        }
        for op in &self.log {
            if let Op::Link(_, Entry::File(ino)) = op {
                keep.insert(*ino);
            }
        }
        keep.extend(self.ofds.values().map(|o| o.ino));
        self.inodes
            .retain(|ino, i| keep.contains(ino) || Arc::strong_count(&i.words) > 1);
    }

    fn used(&self) -> u64 {
        self.inodes.values().map(|i| i.len).sum()
    }

    fn set_len(&mut self, ino: Ino, len: u64) -> io::Result<()> {
        let old = self.inode(ino)?.len;
        if len > old {
            self.gc(Some(ino));
            let used = self.used();
            if used - old + len > self.capacity {
                return Err(errno(libc::ENOSPC));
            }
        }
        let need = words_for(len)?;
        let Some(inode) = self.inodes.get_mut(&ino) else {
            return Err(errno(libc::EIO));
        };
        if need > inode.words.len() {
            let old_words = &inode.words;
            // ORDERING: Relaxed, as every kernel access to inode words (see `read_bytes`).
            let fresh: Arc<[AtomicU64]> = (0..need)
                .map(|w| AtomicU64::new(old_words.get(w).map_or(0, |x| x.load(Ordering::Relaxed))))
                .collect();
            inode.words = fresh;
        } else if len < old {
            // Bytes past the new end read as zero if the file grows again.
            let first = (len / 8) as usize;
            let last = words_for(old)?;
            for w in first..last.min(inode.words.len()) {
                let keep = if w == first && len % 8 != 0 {
                    tail_mask(len)
                } else {
                    0
                };
                // ORDERING: Relaxed, as every kernel access to inode words (see `read_bytes`).
                let v = inode.words[w].load(Ordering::Relaxed);
                inode.words[w].store(v & keep, Ordering::Relaxed);
            }
        }
        inode.len = len;
        Ok(())
    }

    fn new_fd(&mut self, c: &Caller, ino: Ino, readable: bool, writable: bool) -> Fd {
        let ofd = self.next_ofd;
        self.next_ofd += 1;
        self.ofds.insert(
            ofd,
            Ofd {
                ino,
                readable,
                writable,
            },
        );
        let fd = self.next_fd;
        self.next_fd += 1;
        self.fds.insert(fd, (c.slot, ofd));
        fd
    }

    fn ofd(&self, c: &Caller, fd: Fd) -> io::Result<(u64, &Ofd)> {
        match self.fds.get(&fd) {
            Some(&(owner, ofd)) if owner == c.slot => self
                .ofds
                .get(&ofd)
                .map(|o| (ofd, o))
                .ok_or_else(|| errno(libc::EBADF)),
            _ => Err(errno(libc::EBADF)),
        }
    }

    pub(super) fn open(
        &mut self,
        c: &Caller,
        path: &Path,
        flags: i32,
        mode: u32,
    ) -> io::Result<Fd> {
        let (readable, writable) = match flags & libc::O_ACCMODE {
            libc::O_RDONLY => (true, false),
            libc::O_WRONLY => (false, true),
            libc::O_RDWR => (true, true),
            _ => return Err(errno(libc::EINVAL)),
        };
        let (p, e) = self.lookup(path)?;
        if flags & libc::O_TMPFILE == libc::O_TMPFILE {
            match e {
                Some(Entry::Dir { .. }) => {}
                Some(Entry::Symlink { .. }) => return Err(errno(libc::ELOOP)),
                Some(Entry::File(_)) => return Err(errno(libc::ENOTDIR)),
                None => return Err(errno(libc::ENOENT)),
            }
            if !writable {
                return Err(errno(libc::EINVAL));
            }
            let ino = self.new_inode(c.uid, mode, true);
            return Ok(self.new_fd(c, ino, readable, writable));
        }
        let ino = match e {
            Some(Entry::Symlink { .. }) => return Err(errno(libc::ELOOP)),
            Some(Entry::Dir { .. }) => return Err(errno(libc::EISDIR)),
            Some(Entry::File(ino)) => {
                if flags & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL {
                    return Err(errno(libc::EEXIST));
                }
                if writable && self.inode(ino)?.uid != c.uid && c.uid != 0 {
                    return Err(errno(libc::EACCES));
                }
                if writable && flags & libc::O_TRUNC != 0 {
                    self.set_len(ino, 0)?;
                }
                ino
            }
            None => {
                if flags & libc::O_CREAT == 0 {
                    return Err(errno(libc::ENOENT));
                }
                let ino = self.new_inode(c.uid, mode, false);
                self.commit(Op::Link(p, Entry::File(ino)));
                ino
            }
        };
        Ok(self.new_fd(c, ino, readable, writable))
    }

    pub(super) fn close(&mut self, c: &Caller, fd: Fd) {
        if let Some(&(owner, ofd)) = self.fds.get(&fd) {
            if owner == c.slot {
                self.fds.remove(&fd);
                self.release_if_unused(ofd);
            }
        }
    }

    fn release_if_unused(&mut self, ofd: u64) {
        if self.fds.values().all(|&(_, o)| o != ofd) {
            self.ofds.remove(&ofd);
            self.flocks.retain(|_, o| *o != ofd);
            self.byte_locks.retain(|_, o| *o != ofd);
        }
    }

    /// A process died: all its descriptors close at once.
    pub(super) fn close_all(&mut self, slot: usize) {
        let mine: Vec<(Fd, u64)> = self
            .fds
            .iter()
            .filter(|(_, &(o, _))| o == slot)
            .map(|(&fd, &(_, ofd))| (fd, ofd))
            .collect();
        for (fd, _) in &mine {
            self.fds.remove(fd);
        }
        for (_, ofd) in mine {
            self.release_if_unused(ofd);
        }
    }

    pub(super) fn dup(&mut self, c: &Caller, fd: Fd) -> io::Result<Fd> {
        let (ofd, _) = self.ofd(c, fd)?;
        let new = self.next_fd;
        self.next_fd += 1;
        self.fds.insert(new, (c.slot, ofd));
        Ok(new)
    }

    pub(super) fn fstat(&self, c: &Caller, fd: Fd) -> io::Result<Meta> {
        let (_, o) = self.ofd(c, fd)?;
        self.meta(&Entry::File(o.ino))
    }

    pub(super) fn lstat(&self, path: &Path) -> io::Result<Meta> {
        match self.lookup(path)? {
            (_, Some(e)) => self.meta(&e),
            (_, None) => Err(errno(libc::ENOENT)),
        }
    }

    pub(super) fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        match self.lookup(path)? {
            (_, Some(Entry::Symlink { target, .. })) => Ok(target),
            (_, Some(_)) => Err(errno(libc::EINVAL)),
            (_, None) => Err(errno(libc::ENOENT)),
        }
    }

    pub(super) fn pread(
        &self,
        c: &Caller,
        fd: Fd,
        buf: &mut [u8],
        offset: u64,
    ) -> io::Result<usize> {
        let (_, o) = self.ofd(c, fd)?;
        if !o.readable {
            return Err(errno(libc::EBADF));
        }
        let i = self.inode(o.ino)?;
        if offset >= i.len {
            return Ok(0);
        }
        let n = (i.len - offset).min(buf.len() as u64) as usize;
        read_bytes(&i.words, offset, &mut buf[..n]);
        Ok(n)
    }

    pub(super) fn pwrite(&mut self, c: &Caller, fd: Fd, buf: &[u8], offset: u64) -> io::Result<()> {
        let (_, o) = self.ofd(c, fd)?;
        if !o.writable {
            return Err(errno(libc::EBADF));
        }
        let ino = o.ino;
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or_else(|| errno(libc::EFBIG))?;
        if end > self.inode(ino)?.len {
            self.set_len(ino, end)?;
        }
        write_bytes(&self.inode(ino)?.words, offset, buf);
        Ok(())
    }

    pub(super) fn ftruncate(&mut self, c: &Caller, fd: Fd, len: u64) -> io::Result<()> {
        let (_, o) = self.ofd(c, fd)?;
        if !o.writable {
            return Err(errno(libc::EINVAL));
        }
        let ino = o.ino;
        self.set_len(ino, len)
    }

    pub(super) fn fallocate(&mut self, c: &Caller, fd: Fd, len: u64) -> io::Result<()> {
        let (_, o) = self.ofd(c, fd)?;
        if !o.writable {
            return Err(errno(libc::EBADF));
        }
        let ino = o.ino;
        if len > self.inode(ino)?.len {
            self.set_len(ino, len)?;
        }
        Ok(())
    }

    pub(super) fn fsync(&mut self, c: &Caller, fd: Fd) -> io::Result<()> {
        let (_, o) = self.ofd(c, fd)?;
        let ino = o.ino;
        self.fsync_inode(ino)
    }

    pub(super) fn fsync_inode(&mut self, ino: Ino) -> io::Result<()> {
        let Some(i) = self.inodes.get_mut(&ino) else {
            return Err(errno(libc::EIO));
        };
        let n = words_for(i.len)?;
        // ORDERING: Relaxed, as every kernel access to inode words (see `read_bytes`).
        i.durable = i.words[..n]
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect();
        i.durable_len = i.len;
        Ok(())
    }

    pub(super) fn fsync_dir(&mut self, dir: &Path) -> io::Result<()> {
        self.lookup_dir(dir)?;
        self.sync_all_metadata();
        Ok(())
    }

    pub(super) fn flock_exclusive(&mut self, c: &Caller, fd: Fd) -> io::Result<()> {
        let (ofd, o) = self.ofd(c, fd)?;
        let ino = o.ino;
        match self.flocks.get(&ino) {
            Some(&holder) if holder != ofd => Err(errno(libc::EWOULDBLOCK)),
            _ => {
                self.flocks.insert(ino, ofd);
                Ok(())
            }
        }
    }

    pub(super) fn ofd_lock_byte(&mut self, c: &Caller, fd: Fd, offset: u64) -> io::Result<()> {
        let (ofd, o) = self.ofd(c, fd)?;
        if !o.writable {
            return Err(errno(libc::EBADF));
        }
        let key = (o.ino, offset);
        match self.byte_locks.get(&key) {
            Some(&holder) if holder != ofd => Err(errno(libc::EAGAIN)),
            _ => {
                self.byte_locks.insert(key, ofd);
                Ok(())
            }
        }
    }

    pub(super) fn ofd_unlock_byte(&mut self, c: &Caller, fd: Fd, offset: u64) -> io::Result<()> {
        let (ofd, o) = self.ofd(c, fd)?;
        let key = (o.ino, offset);
        if self.byte_locks.get(&key) == Some(&ofd) {
            self.byte_locks.remove(&key);
        }
        Ok(())
    }

    pub(super) fn ofd_query_byte(&self, c: &Caller, fd: Fd, offset: u64) -> io::Result<LockQuery> {
        let (ofd, o) = self.ofd(c, fd)?;
        Ok(match self.byte_locks.get(&(o.ino, offset)) {
            Some(&holder) if holder != ofd => LockQuery::Held,
            _ => LockQuery::Free,
        })
    }

    fn sticky_denies(&self, c: &Caller, e: &Entry) -> bool {
        c.uid != 0 && self.entry_uid(e) != c.uid
    }

    pub(super) fn rename(&mut self, c: &Caller, from: &Path, to: &Path) -> io::Result<()> {
        let (pf, src) = self.lookup(from)?;
        let (pt, dst) = self.lookup(to)?;
        let Some(src) = src else {
            return Err(errno(libc::ENOENT));
        };
        if self.sticky_denies(c, &src) {
            return Err(errno(libc::EPERM));
        }
        if pf == pt {
            return Ok(());
        }
        let src_dir = matches!(src, Entry::Dir { .. });
        if src_dir && pt.starts_with(&pf) {
            return Err(errno(libc::EINVAL));
        }
        if let Some(dst) = &dst {
            if let (Entry::File(a), Entry::File(b)) = (&src, dst) {
                if a == b {
                    return Ok(()); // two names of one inode: POSIX says nothing happens
                }
            }
            if self.sticky_denies(c, dst) {
                return Err(errno(libc::EPERM));
            }
            match (src_dir, matches!(dst, Entry::Dir { .. })) {
                (true, false) => return Err(errno(libc::ENOTDIR)),
                (false, true) => return Err(errno(libc::EISDIR)),
                (true, true) if self.ns.keys().any(|k| k.parent() == Some(&pt)) => {
                    return Err(errno(libc::ENOTEMPTY));
                }
                _ => {}
            }
        }
        self.commit(Op::Rename(pf, pt));
        Ok(())
    }

    pub(super) fn unlink(&mut self, c: &Caller, path: &Path) -> io::Result<()> {
        match self.lookup(path)? {
            (_, None) => Err(errno(libc::ENOENT)),
            (_, Some(Entry::Dir { .. })) => Err(errno(libc::EISDIR)),
            (_, Some(e)) if self.sticky_denies(c, &e) => Err(errno(libc::EPERM)),
            (p, Some(_)) => {
                self.commit(Op::Unlink(p));
                Ok(())
            }
        }
    }

    pub(super) fn link(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let (_, src) = self.lookup(from)?;
        let (pt, dst) = self.lookup(to)?;
        match (src, dst) {
            (None, _) => Err(errno(libc::ENOENT)),
            (Some(Entry::Dir { .. }), _) => Err(errno(libc::EPERM)),
            (Some(_), Some(_)) => Err(errno(libc::EEXIST)),
            (Some(e), None) => {
                self.commit(Op::Link(pt, e));
                Ok(())
            }
        }
    }

    pub(super) fn link_fd(&mut self, c: &Caller, fd: Fd, to: &Path) -> io::Result<()> {
        let (_, o) = self.ofd(c, fd)?;
        let ino = o.ino;
        if self.has_name(ino) {
            return Err(errno(libc::EINVAL));
        }
        if !self.inode(ino)?.tmpfile {
            return Err(errno(libc::ENOENT));
        }
        match self.lookup(to)? {
            (_, Some(_)) => Err(errno(libc::EEXIST)),
            (pt, None) => {
                self.commit(Op::Link(pt, Entry::File(ino)));
                Ok(())
            }
        }
    }

    pub(super) fn mkdir_all(&mut self, uid: u32, path: &Path) -> io::Result<()> {
        let p = norm(path)?;
        let mut chain: Vec<PathBuf> = p.ancestors().map(Path::to_path_buf).collect();
        chain.reverse();
        let last = chain.len() - 1;
        for (i, a) in chain.into_iter().enumerate() {
            match self.ns.get(&a) {
                Some(Entry::Dir { .. }) => {}
                Some(Entry::Symlink { .. }) => return Err(errno(libc::ELOOP)),
                Some(Entry::File(_)) if i == last => return Err(errno(libc::EEXIST)),
                Some(Entry::File(_)) => return Err(errno(libc::ENOTDIR)),
                None => {
                    let ino = self.alloc_ino();
                    self.commit(Op::Link(a, Entry::Dir { ino, uid }));
                }
            }
        }
        Ok(())
    }

    pub(super) fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        Ok(self.children(path)?.into_iter().map(|(n, _)| n).collect())
    }

    fn children(&self, path: &Path) -> io::Result<Vec<(OsString, Entry)>> {
        let p = self.lookup_dir(path)?;
        let mut out: Vec<(OsString, Entry)> = self
            .ns
            .iter()
            .filter(|(k, _)| k.parent() == Some(p.as_path()))
            .filter_map(|(k, e)| k.file_name().map(|n| (n.to_os_string(), e.clone())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    pub(super) fn free_bytes(&mut self, path: &Path) -> io::Result<u64> {
        self.lookup(path)?;
        self.gc(None);
        Ok(self.capacity.saturating_sub(self.used()))
    }

    pub(super) fn map(
        &self,
        c: &Caller,
        fd: Fd,
        len: usize,
        writable: bool,
    ) -> io::Result<Arc<[AtomicU64]>> {
        let (_, o) = self.ofd(c, fd)?;
        if !o.readable || (writable && !o.writable) {
            return Err(errno(libc::EACCES));
        }
        let i = self.inode(o.ino)?;
        if len == 0 || len as u64 > i.len {
            return Err(errno(libc::EINVAL));
        }
        Ok(Arc::clone(&i.words))
    }

    pub(super) fn msync(&mut self, c: &Caller, fd: Fd, offset: u64, len: u64) -> io::Result<()> {
        let (_, o) = self.ofd(c, fd)?;
        let ino = o.ino;
        let end = offset.checked_add(len).ok_or_else(|| errno(libc::ENOMEM))?;
        let Some(i) = self.inodes.get_mut(&ino) else {
            return Err(errno(libc::EIO));
        };
        let first = usize::try_from(offset / PAGE).map_err(|_| errno(libc::ENOMEM))? * PAGE_WORDS;
        let last =
            usize::try_from(end.div_ceil(PAGE)).map_err(|_| errno(libc::ENOMEM))? * PAGE_WORDS;
        let last = last.min(words_for(i.len)?).min(i.words.len());
        if first < last && i.durable.len() < last {
            i.durable.resize(last, 0);
        }
        for w in first..last {
            // ORDERING: Relaxed, as every kernel access to inode words (see `read_bytes`).
            i.durable[w] = i.words[w].load(Ordering::Relaxed);
        }
        Ok(())
    }

    /// The power loss of the module doc, on the file system (the processes are the caller's).
    pub(super) fn power_loss(&mut self, rng: &mut Rng) {
        // `log` holds the non-durable changes only (see `sync_all_metadata`).
        let keep = rng.below(self.log.len() as u64 + 1) as usize;
        let mut ns = std::mem::take(&mut self.base);
        for op in &self.log[..keep] {
            apply(&mut ns, op);
        }
        ns.retain(|path, _| {
            !TMPFS
                .iter()
                .any(|t| path.parent().is_some_and(|p| p.starts_with(t)))
        });
        self.base = ns.clone();
        self.ns = ns;
        self.log.clear();
        self.ofds.clear();
        self.fds.clear();
        self.flocks.clear();
        self.byte_locks.clear();
        let named: BTreeSet<Ino> = self
            .ns
            .values()
            .filter_map(|e| {
                if let Entry::File(i) = e {
                    Some(*i)
                } else {
                    None
                }
            })
            .collect();
        self.inodes.retain(|ino, _| named.contains(ino));
        for i in self.inodes.values_mut() {
            let len = if rng.below(2) == 0 {
                i.durable_len
            } else {
                i.len
            };
            let n = len.div_ceil(8) as usize; // at most the current or durable words: fits
            let mut data = vec![0u64; n];
            for (page, chunk) in data.chunks_mut(PAGE_WORDS).enumerate() {
                let durable = rng.below(2) == 0;
                for (k, slot) in chunk.iter_mut().enumerate() {
                    let w = page * PAGE_WORDS + k;
                    *slot = if durable {
                        i.durable.get(w).copied().unwrap_or(0)
                    } else {
                        // ORDERING: Relaxed, as every kernel access to inode words.
                        i.words.get(w).map_or(0, |x| x.load(Ordering::Relaxed))
                    };
                }
            }
            if let Some(last) = data.last_mut() {
                *last &= tail_mask(len);
            }
            i.words = data.iter().map(|&v| AtomicU64::new(v)).collect();
            i.durable = data;
            i.len = len;
            i.durable_len = len;
        }
    }

    // ---- the harness's direct helpers ----

    pub(super) fn create_file(&mut self, path: &Path, uid: u32, bytes: &[u8]) -> io::Result<()> {
        let (p, e) = self.lookup(path)?;
        if e.is_some() {
            return Err(errno(libc::EEXIST));
        }
        let ino = self.new_inode(uid, 0o600, false);
        if let Err(e) = self.set_len(ino, bytes.len() as u64) {
            self.inodes.remove(&ino);
            return Err(e);
        }
        write_bytes(&self.inode(ino)?.words, 0, bytes);
        self.fsync_inode(ino)?;
        self.commit(Op::Link(p, Entry::File(ino)));
        self.sync_all_metadata();
        Ok(())
    }

    pub(super) fn symlink(&mut self, target: &Path, path: &Path, uid: u32) -> io::Result<()> {
        let (p, e) = self.lookup(path)?;
        if e.is_some() {
            return Err(errno(libc::EEXIST));
        }
        let ino = self.alloc_ino();
        self.commit(Op::Link(
            p,
            Entry::Symlink {
                ino,
                uid,
                target: target.to_path_buf(),
            },
        ));
        self.sync_all_metadata();
        Ok(())
    }

    pub(super) fn list(&self, dir: &Path) -> io::Result<Vec<(OsString, Meta)>> {
        self.children(dir)?
            .into_iter()
            .map(|(n, e)| Ok((n, self.meta(&e)?)))
            .collect()
    }

    pub(super) fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        match self.lookup(path).ok()? {
            (_, Some(Entry::File(ino))) => {
                let i = self.inodes.get(&ino)?;
                let mut out = vec![0u8; usize::try_from(i.len).ok()?];
                read_bytes(&i.words, 0, &mut out);
                Some(out)
            }
            _ => None,
        }
    }
}
