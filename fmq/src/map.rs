//! Memory-mapped regions: where file and shared-memory bytes become `&[AtomicU64]`.
//!
//! This module and `wait.rs` hold the fmq crate's `unsafe` (see `docs/safety.md`). A
//! [`MappedRegion`] maps a queue's files with `MAP_SHARED` and hands the protocol its two
//! parts as slices of `AtomicU64`: every access to the shared bytes, in every process, is then
//! an 8-byte atomic, so there is no data race (DESIGN invariant 3).
//!
//! * Shared memory: one segment, the stat part at offset 0 and the buffer right after it
//!   (offset `256 + 64 * slots_count + 64 * readers_max`, a multiple of 64).
//! * Files: `NAME.stat` whole, and `NAME.buf` from byte 64: the first 64 bytes of `.buf` are a
//!   buffer header (magic `\x89FMB\r\n\x1a\n`, the queue's generation, the buffer size), so
//!   a `.buf` that belongs to another queue, or to an earlier formatting, is refused.
//!
//! Sizes come from the header, which is not trusted: the split is computed only from values
//! that fit in the file, and `Layout::from_header` then checks every size against the real
//! mapping (DESIGN invariant 6). A file truncated by another program while mapped would fault
//! on access (SIGBUS); fmq itself never shrinks a queue file in place (re-creation replaces
//! the files by rename), readers re-check sizes whenever they wait ([`MappedRegion::check`]),
//! and the CLI turns a stray SIGBUS into a one-line error (`crate::install_sigbus_guard`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use fmq_core::header::{word as hw, Header, HEADER_WORDS, MAGIC};
use fmq_core::slot::SLOT_SIZE_BYTES;
use fmq_core::sync::{AtomicU64, Ordering};
use fmq_core::{FlushStep, Region};
use memmap2::{MmapOptions, MmapRaw};

use crate::error::{OpenError, ReadError};
use crate::path::{Backend, QueuePath};

/// `\x89FMB\r\n\x1a\n`: the magic of a `.buf` file's 64-byte header.
pub const BUF_MAGIC: u64 = u64::from_le_bytes(*b"\x89FMB\r\n\x1a\n");
/// Bytes before the message buffer in a `.buf` file.
pub const BUF_HEADER_SIZE_BYTES: u64 = 64;

/// One mapped file and what it was when opened.
struct Mapped {
    path: PathBuf,
    file: File,
    map: MmapRaw,
    dev: u64,
    ino: u64,
}

/// A queue's files, memory-mapped, as a [`Region`].
pub struct MappedRegion {
    maps: Vec<Mapped>,
    /// (map index, byte offset, words) of the stat part.
    stat: (usize, usize, usize),
    /// (map index, byte offset, words) of the buffer.
    buf: (usize, usize, usize),
    writable: bool,
    shared_memory: bool,
}

impl std::fmt::Debug for MappedRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedRegion")
            .field(
                "files",
                &self.maps.iter().map(|m| &m.path).collect::<Vec<_>>(),
            )
            .field("writable", &self.writable)
            .finish()
    }
}

fn open_file(path: &Path, writable: bool) -> Result<File, OpenError> {
    let access = if writable {
        libc::O_RDWR
    } else {
        libc::O_RDONLY
    };
    crate::safepath::open(path, access | libc::O_NONBLOCK, 0)
        .map_err(|e| OpenError::io("open", path, e))
}

fn map_file(path: &Path, file: File, writable: bool) -> Result<Mapped, OpenError> {
    let meta = file
        .metadata()
        .map_err(|e| OpenError::io("stat", path, e))?;
    if !meta.is_file() {
        return Err(OpenError::io(
            "map",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let len = meta.len();
    if len == 0 {
        return Err(OpenError::EmptyFile { file: path.into() });
    }
    let len_usize = usize::try_from(len).map_err(|_| OpenError::BadFileSize {
        file: path.into(),
        len,
        needed: usize::MAX as u64,
    })?;
    let opts = {
        let mut o = MmapOptions::new();
        o.len(len_usize);
        o
    };
    let map = if writable {
        opts.map_raw(&file)
    } else {
        opts.map_raw_read_only(&file)
    }
    .map_err(|e| OpenError::io("map", path, e))?;
    Ok(Mapped {
        path: path.into(),
        file,
        dev: meta.dev(),
        ino: meta.ino(),
        map,
    })
}

/// The words of `map` from byte `offset`, `words` long. The caller has checked
/// `offset % 64 == 0` and `offset + 8 * words <= map.len()`.
fn words(map: &MmapRaw, offset: usize, words: usize) -> &[AtomicU64] {
    assert!(offset % 64 == 0 && offset + words * 8 <= map.len());
    let ptr = map.as_ptr().wrapping_add(offset).cast::<AtomicU64>();
    // SAFETY:
    // 1. Alignment: mmap returns a page-aligned address and `offset` is a multiple of 64 (the
    //    assert above), so `ptr` is aligned for `AtomicU64` (8).
    // 2. Bounds: `offset + 8 * words <= map.len()` (the assert), so the slice lies inside the
    //    mapping, which `map` keeps alive for as long as the returned borrow of `map` lives
    //    (a `MappedRegion` never unmaps or remaps while borrowed).
    // 3. Validity: `AtomicU64` has the size and alignment of `u64` and every bit pattern is a
    //    valid value; it has interior mutability, so a shared slice over memory that other
    //    processes change is sound as long as every access is atomic, which the protocol
    //    guarantees in every process (DESIGN invariant 3).
    // 4. Read-only mappings are only loaded from: fmq's readers never store to them (the
    //    wake flag is set only when the region is writable).
    unsafe { std::slice::from_raw_parts(ptr, words) }
}

impl Region for MappedRegion {
    fn stat_words(&self) -> &[AtomicU64] {
        let (m, off, n) = self.stat;
        words(&self.maps[m].map, off, n)
    }
    fn buf_words(&self) -> &[AtomicU64] {
        let (m, off, n) = self.buf;
        words(&self.maps[m].map, off, n)
    }
}

/// The stat-part size the header's slot count and registry size imply, if it fits in `avail`
/// bytes.
fn stat_len_from_header(stat: &[AtomicU64], avail: u64) -> Option<u64> {
    let h = Header::load(stat)?;
    if h.magic != MAGIC {
        return None;
    }
    let len = u64::from(h.slots_count)
        .checked_mul(u64::from(SLOT_SIZE_BYTES))?
        .checked_add(HEADER_WORDS as u64 * 8)?
        .checked_add(
            u64::from(h.readers_max)
                .checked_mul(u64::from(fmq_core::layout::READER_RECORD_SIZE_BYTES))?,
        )?;
    (len <= avail).then_some(len)
}

impl MappedRegion {
    /// Maps an existing queue. `writable` maps it read-write (writers; readers that want to
    /// sleep on the futex); otherwise read-only.
    pub fn open(queue: &QueuePath, writable: bool) -> Result<MappedRegion, OpenError> {
        let not_found = |e: &OpenError| matches!(e, OpenError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
        let r = match queue.backend() {
            Backend::SharedMemory { segment } => {
                let file = open_file(segment, writable);
                let file = match file {
                    Err(e) if not_found(&e) => {
                        return Err(OpenError::NotFound {
                            queue: queue.spec().into(),
                        })
                    }
                    other => other?,
                };
                MappedRegion::from_segment(map_file(segment, file, writable)?, writable)
            }
            Backend::File { stat, buf } => {
                let stat_file = match open_file(stat, writable) {
                    Err(e) if not_found(&e) => {
                        return Err(OpenError::NotFound {
                            queue: queue.spec().into(),
                        })
                    }
                    other => other?,
                };
                let stat_map = map_file(stat, stat_file, writable)?;
                let buf_map = map_file(buf, open_file(buf, writable)?, writable)?;
                MappedRegion::from_files(queue, stat_map, buf_map, writable)?
            }
        };
        Ok(r)
    }

    fn from_segment(m: Mapped, writable: bool) -> MappedRegion {
        let len = m.map.len() as u64;
        let all_words = (len / 8) as usize;
        let stat_len = stat_len_from_header(words(&m.map, 0, all_words), len);
        let (stat, buf) = match stat_len {
            Some(s) => {
                let buf_words = ((len - s) / 8) as usize;
                ((0, 0, (s / 8) as usize), (0, s as usize, buf_words))
            }
            // Not a valid header: give the protocol everything as the stat part, so that
            // attach reports exactly what is wrong with it.
            None => ((0, 0, all_words), (0, 0, 0)),
        };
        MappedRegion {
            maps: vec![m],
            stat,
            buf,
            writable,
            shared_memory: true,
        }
    }

    fn from_files(
        queue: &QueuePath,
        stat: Mapped,
        buf: Mapped,
        writable: bool,
    ) -> Result<MappedRegion, OpenError> {
        let stat_words = stat.map.len() / 8;
        let buf_len = buf.map.len() as u64;
        if buf_len < BUF_HEADER_SIZE_BYTES {
            return Err(OpenError::BadFileSize {
                file: buf.path.clone(),
                len: buf_len,
                needed: BUF_HEADER_SIZE_BYTES,
            });
        }
        let bh = words(&buf.map, 0, 8);
        // ORDERING: Relaxed: the buffer header is written before the files are renamed into
        // place, and the rename and this process's open order it before this load.
        let (buf_magic, buf_generation) =
            (bh[0].load(Ordering::Relaxed), bh[1].load(Ordering::Relaxed));
        if buf_magic != BUF_MAGIC {
            return Err(OpenError::BadBufHeader { file: buf.path });
        }
        if let Some(h) = Header::load(words(&stat.map, 0, stat_words)) {
            if h.magic == MAGIC && h.generation != buf_generation {
                return Err(OpenError::MismatchedFiles {
                    queue: queue.spec().into(),
                    stat_generation: h.generation,
                    buf_generation,
                });
            }
        }
        let buf_words = ((buf_len - BUF_HEADER_SIZE_BYTES) / 8) as usize;
        Ok(MappedRegion {
            maps: vec![stat, buf],
            stat: (0, 0, stat_words),
            buf: (1, BUF_HEADER_SIZE_BYTES as usize, buf_words),
            writable,
            shared_memory: false,
        })
    }

    /// Creates new data files for `queue` under temporary names in their final directory,
    /// sized for `stat_len` + `buf_len` bytes, zeroed and mapped read-write. The caller
    /// formats the region, then calls [`MappedRegion::publish`].
    pub(crate) fn create_temp(
        queue: &QueuePath,
        stat_len: u64,
        buf_len: u64,
        mode: u32,
    ) -> Result<(MappedRegion, Vec<(PathBuf, PathBuf)>), OpenError> {
        let create = |final_path: &Path, len: u64| -> Result<(Mapped, PathBuf), OpenError> {
            let dir = final_path.parent().unwrap_or(Path::new(""));
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| OpenError::io("create directory", dir, e))?;
            }
            let name = final_path.file_name().unwrap_or_default().to_string_lossy();
            let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)
                .map_err(|e| OpenError::io("create", &tmp, e))?;
            file.set_len(len)
                .map_err(|e| OpenError::io("size", &tmp, e))?;
            let mut m = map_file(&tmp, file, true)?;
            // Named by its final path from the start: `check` compares that path's inode,
            // which the rename in `publish` keeps.
            m.path = final_path.to_path_buf();
            Ok((m, tmp))
        };
        match queue.backend() {
            Backend::SharedMemory { segment } => {
                let (m, tmp) = create(segment, stat_len + buf_len)?;
                let region = MappedRegion {
                    maps: vec![m],
                    stat: (0, 0, (stat_len / 8) as usize),
                    buf: (0, stat_len as usize, (buf_len / 8) as usize),
                    writable: true,
                    shared_memory: true,
                };
                Ok((region, vec![(tmp, segment.clone())]))
            }
            Backend::File { stat, buf } => {
                let (sm, stmp) = create(stat, stat_len)?;
                let (bm, btmp) = match create(buf, BUF_HEADER_SIZE_BYTES + buf_len) {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = std::fs::remove_file(&stmp);
                        return Err(e);
                    }
                };
                let region = MappedRegion {
                    maps: vec![sm, bm],
                    stat: (0, 0, (stat_len / 8) as usize),
                    buf: (1, BUF_HEADER_SIZE_BYTES as usize, (buf_len / 8) as usize),
                    writable: true,
                    shared_memory: false,
                };
                // `.buf` is renamed into place before `.stat`, so a reader that opens the new
                // `.stat` also finds the new `.buf`.
                Ok((region, vec![(btmp, buf.clone()), (stmp, stat.clone())]))
            }
        }
    }

    /// Writes the `.buf` header (file-backed queues) naming `generation`.
    pub(crate) fn write_buf_header(&self, generation: u64) {
        if self.shared_memory {
            return;
        }
        let bh = words(&self.maps[1].map, 0, 8);
        // ORDERING: Relaxed: the files are not visible to anyone until `publish` renames them.
        bh[1].store(generation, Ordering::Relaxed);
        // ORDERING: Relaxed: as above.
        bh[2].store(self.buf.2 as u64 * 8, Ordering::Relaxed);
        // ORDERING: Relaxed: as above.
        bh[0].store(BUF_MAGIC, Ordering::Relaxed);
    }

    /// Makes new files durable (file-backed queues) and renames them into place, in order.
    pub(crate) fn publish(&self, renames: &[(PathBuf, PathBuf)]) -> Result<(), OpenError> {
        if !self.shared_memory {
            self.flush()
                .map_err(|e| OpenError::io("sync", &self.maps[0].path, e))?;
        }
        for (i, (tmp, dst)) in renames.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, dst) {
                for (t, _) in &renames[i..] {
                    let _ = std::fs::remove_file(t);
                }
                return Err(OpenError::io("rename", tmp, e));
            }
        }
        if !self.shared_memory {
            if let Some(dir) = renames[0].1.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        Ok(())
    }

    /// `msync` of the buffer, then of the stat part (DESIGN invariant 8: a commit point that
    /// reaches the disk never names bytes that did not). A no-op for shared memory.
    pub fn flush(&self) -> std::io::Result<()> {
        self.sync(FlushStep::Buf)?;
        self.sync(FlushStep::Stat)
    }

    /// `msync` of one part (`fmq_core::Writer::flush_with` calls it in its order). A no-op
    /// for shared memory.
    pub fn sync(&self, step: FlushStep) -> std::io::Result<()> {
        if self.shared_memory {
            return Ok(());
        }
        match step {
            FlushStep::Buf => self.maps[1].map.flush(),
            FlushStep::Stat => self.maps[0].map.flush(),
            // memmap2 rounds the range out to whole pages: the header's page.
            FlushStep::Header => self.maps[0]
                .map
                .flush_range(0, fmq_core::header::HEADER_SIZE_BYTES as usize),
        }
    }

    /// The first data file (the segment or `.stat`): the file that carries the writer's and
    /// the registered readers' tokens (`crate::lock`).
    pub(crate) fn token_file(&self) -> &File {
        &self.maps[0].file
    }

    /// Whether the mapping is writable.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Whether this is a shared-memory segment.
    pub fn is_shared_memory(&self) -> bool {
        self.shared_memory
    }

    /// The mapped files.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.maps.iter().map(|m| m.path.as_path())
    }

    /// Checks that the files mapped are still the queue's files and still as large as
    /// mapped: `Removed` if a path is gone, `Replaced` if it names another file now,
    /// `Truncated` if a file shrank (reading on would fault).
    pub fn check(&self) -> Result<(), ReadError> {
        for m in &self.maps {
            match std::fs::symlink_metadata(&m.path) {
                Err(_) => return Err(ReadError::Removed),
                Ok(meta) if meta.dev() != m.dev || meta.ino() != m.ino => {
                    return Err(ReadError::Replaced)
                }
                Ok(_) => {}
            }
            let len = m.file.metadata().map(|meta| meta.len()).unwrap_or(0);
            if len < m.map.len() as u64 {
                return Err(ReadError::Truncated {
                    file: m.path.clone(),
                    len,
                    mapped: m.map.len() as u64,
                });
            }
        }
        Ok(())
    }

    /// The commit word (`youngest_id`), whose low 32 bits are the futex readers sleep on.
    pub(crate) fn commit_word(&self) -> Option<&AtomicU64> {
        self.stat_words().get(hw::YOUNGEST_ID)
    }

    /// The wake flag (`sleepers`).
    pub(crate) fn sleepers_word(&self) -> Option<&AtomicU64> {
        self.stat_words().get(hw::SLEEPERS)
    }
}
