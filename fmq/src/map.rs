//! Memory-mapped regions: where file and shared-memory bytes become `&[AtomicU64]`.
//!
//! The mapping itself is `sys::Map` (`sys.rs`, with `wait.rs` the home of the crate's
//! `unsafe`, see `docs/safety.md`). A [`MappedRegion`] maps a queue's files with `MAP_SHARED` and hands the protocol its two
//! parts as slices of `AtomicU64`: every access to the shared bytes, in every process, is then
//! an 8-byte atomic, so there is no data race (DESIGN invariant 3).
//!
//! * Shared memory: one segment, the stat part at offset 0 and the buffer right after it
//!   (offset `256 + 64 * slots_count + 64 * readers_max`, a multiple of 64).
//! * Files: `NAME.stat` whole, and `NAME.buf` from byte 64: the first 64 bytes of `.buf` are a
//!   buffer header (magic `\x89FMB\r\n\x1a\n`, the queue's generation, the buffer size), so
//!   a `.buf` that belongs to another queue, or to an earlier formatting, is refused.
//!
//! Sizes come from the header, which is not trusted: it is read with `pread` first, only a
//! valid header sizes the mapping, exactly what its layout needs is mapped (a larger file is
//! refused, so a 1 TiB `.buf` is never mapped whole), and `Layout::from_header` then checks
//! every size against the real mapping (DESIGN invariant 6). New queues are created
//! unnamed, reserved in full (`posix_fallocate`), and swapped into place as a pair with a
//! backup of the old `.buf` (`docs/design.md`, "Re-creating a queue"). A file truncated by another program while mapped would fault
//! on access (SIGBUS); fmq itself never shrinks a queue file in place (re-creation replaces
//! the files by rename), readers re-check sizes whenever they wait ([`MappedRegion::check`]),
//! and the CLI turns a stray SIGBUS into a one-line error (`crate::install_sigbus_guard`).

use std::path::{Path, PathBuf};

use fmq_core::header::{word as hw, Header, MAGIC};
use fmq_core::slot::SLOT_SIZE_BYTES;
use fmq_core::sync::{AtomicU64, Ordering};
use fmq_core::{FlushStep, Region};

use crate::sys::{self, words, File, Map};

use crate::error::{CreateError, OpenError, ReadError};
use crate::path::{Backend, QueuePath};

/// `\x89FMB\r\n\x1a\n`: the magic of a `.buf` file's 64-byte header.
pub const BUF_MAGIC: u64 = u64::from_le_bytes(*b"\x89FMB\r\n\x1a\n");
/// Bytes before the message buffer in a `.buf` file.
pub const BUF_HEADER_SIZE_BYTES: u64 = 64;

/// How long [`MappedRegion::open_settled`] waits for a mismatched pair to become complete.
pub const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// One mapped file and what it was when opened.
struct Mapped {
    path: PathBuf,
    /// Another name of the same file that `check` accepts: the hidden backup of an old
    /// `.buf` that a reader uses while a re-creation is half done (`docs/design.md`,
    /// "Re-creating a queue").
    also: Option<PathBuf>,
    file: File,
    map: Map,
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

/// Maps `file`: exactly `needed` bytes when the header gave the sizes (a larger file is
/// refused, `BadFileSize`; a smaller one is mapped whole so that attach reports how much is
/// missing), else at most `cap` bytes (enough for attach to say what is wrong with the
/// header). A huge file is never mapped whole.
fn map_file(
    path: &Path,
    file: File,
    writable: bool,
    needed: Option<u64>,
    cap: u64,
) -> Result<Mapped, OpenError> {
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
    let len = meta.len;
    if len == 0 {
        return Err(OpenError::EmptyFile { file: path.into() });
    }
    let map_len = match needed {
        Some(n) if len > n => {
            return Err(OpenError::BadFileSize {
                file: path.into(),
                len,
                needed: n,
            })
        }
        Some(_) => len,
        None => len.min(cap),
    };
    let len_usize = usize::try_from(map_len).map_err(|_| OpenError::BadFileSize {
        file: path.into(),
        len,
        needed: usize::MAX as u64,
    })?;
    let map = Map::new(&file, len_usize, writable).map_err(|e| OpenError::io("map", path, e))?;
    Ok(Mapped {
        path: path.into(),
        also: None,
        file,
        dev: meta.dev,
        ino: meta.ino,
        map,
    })
}

/// Up to `n` bytes from the start of `file` (fewer if it is shorter), as little-endian
/// words; read with `pread`, before anything is mapped.
fn head_words(file: &File, n: usize) -> Vec<u64> {
    let mut bytes = vec![0u8; n * 8];
    let mut got = 0;
    while got < bytes.len() {
        match file.read_at(&mut bytes[got..], got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    bytes[..got - got % 8]
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

/// The (stat part, buffer) sizes that a header's line 0 implies, if it is a valid header of
/// this format (magic, byte order, version, layout CRC, allowed sizes): nothing is sized
/// from a header that attach would refuse.
fn sizes_from_line0(words: &[u64]) -> Option<(u64, u64)> {
    let line0: [u64; 8] = words.get(..8)?.try_into().ok()?;
    if line0[hw::MAGIC] != MAGIC {
        return None;
    }
    let (version, bom) = fmq_core::header::unpack(line0[hw::VERSION_BOM]);
    let (readers_max, crc) = fmq_core::header::unpack(line0[hw::LAYOUT_CRC]);
    if version != fmq_core::header::FORMAT_VERSION
        || bom != fmq_core::header::BYTE_ORDER_MARK
        || crc != fmq_core::header::layout_crc(&line0)
    {
        return None;
    }
    let (slots_count, slot_size) = fmq_core::header::unpack(line0[hw::SLOTS]);
    let (header_size, _) = fmq_core::header::unpack(line0[hw::HEADER_SIZE_FLAGS]);
    if slot_size != SLOT_SIZE_BYTES || header_size != fmq_core::header::HEADER_SIZE_BYTES {
        return None;
    }
    let layout = fmq_core::Layout::new(slots_count, line0[hw::BUF_SIZE])
        .and_then(|l| l.with_readers_max(readers_max))
        .ok()?;
    Some((layout.stat_size_bytes(), layout.buf_size_bytes()))
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
    let len = fmq_core::Layout::stat_size_bytes_for(h.slots_count, h.readers_max);
    (len <= avail).then_some(len)
}

impl MappedRegion {
    /// Maps an existing queue. `writable` maps it read-write (writers; readers that want to
    /// sleep on the futex); otherwise read-only.
    pub fn open(queue: &QueuePath, writable: bool) -> Result<MappedRegion, OpenError> {
        let not_found = |e: &OpenError| matches!(e, OpenError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound);
        let r = match queue.backend() {
            Backend::SharedMemory { segment } => {
                let file = match open_file(segment, writable) {
                    Err(e) if not_found(&e) => {
                        return Err(OpenError::NotFound {
                            queue: queue.spec().into(),
                        })
                    }
                    other => other?,
                };
                let sizes = sizes_from_line0(&head_words(&file, 8));
                let needed = sizes.map(|(s, b)| s + b);
                let cap = u64::from(fmq_core::header::HEADER_SIZE_BYTES);
                MappedRegion::from_segment(
                    map_file(segment, file, writable, needed, cap)?,
                    writable,
                )
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
                let stat_head = head_words(&stat_file, 8);
                let sizes = sizes_from_line0(&stat_head);
                let stat_generation = sizes.and(stat_head.get(hw::GENERATION).copied());
                let cap = u64::from(fmq_core::header::HEADER_SIZE_BYTES);
                let stat_map = map_file(stat, stat_file, writable, sizes.map(|s| s.0), cap)?;
                let (buf_file, backup) = open_buf(buf, stat_generation, writable)?;
                let buf_path = backup.as_deref().unwrap_or(buf);
                let mut buf_map = map_file(
                    buf_path,
                    buf_file,
                    writable,
                    sizes.map(|s| BUF_HEADER_SIZE_BYTES + s.1),
                    BUF_HEADER_SIZE_BYTES,
                )?;
                if let Some(b) = backup {
                    buf_map.path = buf.clone();
                    buf_map.also = Some(b);
                }
                MappedRegion::from_files(queue, stat_map, buf_map, writable)?
            }
        };
        Ok(r)
    }

    /// [`MappedRegion::open`], retried for up to [`SETTLE_TIMEOUT`] while the `.stat` and
    /// `.buf` are of different generations and no backup completes the pair: a re-creation
    /// (`create --force`) in another process is between its renames and its backup
    /// removal, and the pair is complete again within moments.
    pub fn open_settled(
        open: impl Fn() -> Result<MappedRegion, OpenError>,
    ) -> Result<MappedRegion, OpenError> {
        let start = sys::monotonic_ns();
        let settle_ns = SETTLE_TIMEOUT.as_nanos() as u64;
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            match open() {
                Err(OpenError::MismatchedFiles { .. })
                    if sys::monotonic_ns().saturating_sub(start) < settle_ns =>
                {
                    sys::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
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

    /// Creates new data files for `queue` in their final directory, unnamed (`O_TMPFILE`)
    /// or under unpredictable temporary names, with their space reserved
    /// (`posix_fallocate`, else one byte written per page), zeroed and mapped read-write.
    /// The caller formats the region, then calls [`MappedRegion::publish`]. On any error
    /// nothing is left behind; the returned [`NewFiles`] unlinks its temporary names if it
    /// is dropped before `publish` finishes.
    pub(crate) fn create_temp(
        queue: &QueuePath,
        stat_len: u64,
        buf_len: u64,
        mode: u32,
    ) -> Result<(MappedRegion, NewFiles), CreateError> {
        let needed = stat_len + BUF_HEADER_SIZE_BYTES + buf_len;
        let create = |final_path: &Path, len: u64| -> Result<(Mapped, NewFile), CreateError> {
            let new = NewFile::create(queue, final_path, len, needed, mode)?;
            let file = new
                .file
                .try_clone()
                .map_err(|e| OpenError::io("duplicate", final_path, e))?;
            // Named by its final path from the start: `check` compares that path's inode,
            // which the link and rename in `publish` keep.
            let m = map_file(final_path, file, true, Some(len), len)?;
            Ok((m, new))
        };
        match queue.backend() {
            Backend::SharedMemory { segment } => {
                let (m, new) = create(segment, stat_len + buf_len)?;
                let region = MappedRegion {
                    maps: vec![m],
                    stat: (0, 0, (stat_len / 8) as usize),
                    buf: (0, stat_len as usize, (buf_len / 8) as usize),
                    writable: true,
                    shared_memory: true,
                };
                Ok((region, NewFiles { files: vec![new] }))
            }
            Backend::File { stat, buf } => {
                let (sm, snew) = create(stat, stat_len)?;
                let (bm, bnew) = create(buf, BUF_HEADER_SIZE_BYTES + buf_len)?;
                let region = MappedRegion {
                    maps: vec![sm, bm],
                    stat: (0, 0, (stat_len / 8) as usize),
                    buf: (1, BUF_HEADER_SIZE_BYTES as usize, (buf_len / 8) as usize),
                    writable: true,
                    shared_memory: false,
                };
                Ok((
                    region,
                    NewFiles {
                        files: vec![snew, bnew],
                    },
                ))
            }
        }
    }

    /// Writes the `.buf` header (file-backed queues) naming `generation`.
    pub(crate) fn write_buf_header(&self, generation: u64) {
        if self.shared_memory {
            return;
        }
        let bh = words(&self.maps[1].map, 0, 8);
        // ORDERING: Relaxed: the files are not visible to anyone until `publish` names them.
        bh[1].store(generation, Ordering::Relaxed);
        // ORDERING: Relaxed: as above.
        bh[2].store(self.buf.2 as u64 * 8, Ordering::Relaxed);
        // ORDERING: Relaxed: as above.
        bh[0].store(BUF_MAGIC, Ordering::Relaxed);
    }

    /// Makes the new files durable, names them, and moves them into place: a segment by one
    /// rename; a `.stat` + `.buf` pair so that every crash point leaves the complete old
    /// queue or the complete new one (`docs/design.md`, "Re-creating a queue"): the old
    /// `.buf` is hard-linked to its backup name `.NAME.buf.<generation>`, the new `.buf` is
    /// renamed into place (readers of the old `.stat` now use the backup), then the new
    /// `.stat`, then the backup is removed. A failed `.stat` rename puts the old `.buf`
    /// back. The caller holds the writer lock and, when `replacing`, the old queue's writer
    /// token (no writer lives on it, none can start, no other creator can replace it).
    ///
    /// Without an old queue (`replacing` false) nothing is ever replaced, whatever the lock
    /// file does (a removed lock file lets two creators past it; the file simulator found
    /// them both succeeding, the second silently replacing the first's live queue): the new
    /// segment or `.stat` is *linked* into place, which fails if the name exists
    /// ([`CreateError::AlreadyExists`]); a pair's `.buf` goes first to its backup name
    /// `.NAME.buf.<generation>`, which readers and `repair` already follow from a `.stat` of
    /// that generation, and is renamed to `.buf` once the `.stat` is in place.
    pub(crate) fn publish(
        &self,
        queue: &QueuePath,
        mut new: NewFiles,
        replacing: bool,
        generation: u64,
    ) -> Result<(), CreateError> {
        for (m, f) in self.maps.iter().zip(&new.files) {
            m.map
                .flush()
                .and_then(|()| f.file.sync_all())
                .map_err(|e| OpenError::io("sync", &f.final_path, e))?;
        }
        step(CreateStep::Named)?;
        for f in &mut new.files {
            f.name()?;
        }
        crash_after(CreateStep::Named);
        match (queue.backend(), replacing) {
            (Backend::SharedMemory { .. }, true) => {
                step(CreateStep::BufRenamed)?;
                new.files[0].rename()?;
                crash_after(CreateStep::BufRenamed);
            }
            (Backend::SharedMemory { segment }, false) => {
                step(CreateStep::BufRenamed)?;
                new.files[0]
                    .link_to(segment)
                    .map_err(|e| link_error(queue, segment, e))?;
                crash_after(CreateStep::BufRenamed);
            }
            (Backend::File { stat, buf }, true) => replace_pair(stat, buf, &mut new)?,
            (Backend::File { stat, buf }, false) => {
                let backup = backup_path(buf, generation);
                step(CreateStep::BufRenamed)?;
                new.files[1]
                    .link_to(&backup)
                    .map_err(|e| OpenError::io("link", &backup, e))?;
                crash_after(CreateStep::BufRenamed);
                let linked = step(CreateStep::StatRenamed)
                    .map_err(CreateError::from)
                    .and_then(|()| {
                        new.files[0]
                            .link_to(stat)
                            .map_err(|e| link_error(queue, stat, e))
                    });
                if let Err(e) = linked {
                    let _ = sys::remove_file(&backup);
                    return Err(e);
                }
                crash_after(CreateStep::StatRenamed);
                // The `.stat` names this generation: from here its `.buf` is found under the
                // backup name, and a failure leaves it there for the next writer's repair.
                if step(CreateStep::BackupRemoved).is_ok() {
                    let _ = sys::rename(&backup, buf);
                }
                crash_after(CreateStep::BackupRemoved);
            }
        }
        if let Some(dir) = new.files.first().map(|f| f.dir.clone()) {
            sys::sync_dir(&dir);
        }
        Ok(())
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

    /// The inode of the first data file.
    #[cfg(fmq_sim)]
    pub(crate) fn data_ino(&self) -> u64 {
        self.maps[0].ino
    }

    /// Whether the mapping is writable.
    pub fn is_writable(&self) -> bool {
        self.writable
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
            let same = |p: &Path| {
                sys::symlink_metadata(p).map(|meta| meta.dev == m.dev && meta.ino == m.ino)
            };
            match same(&m.path) {
                Ok(true) => {}
                // A reader of an old `.stat` that maps the backup of its `.buf` during a
                // re-creation: still the queue's file while the backup name exists.
                _ if m.also.as_deref().is_some_and(|b| same(b).unwrap_or(false)) => {}
                Err(_) => return Err(ReadError::Removed),
                Ok(false) => return Err(ReadError::Replaced),
            }
            let len = m.file.metadata().map(|meta| meta.len).unwrap_or(0);
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

/// Opens the `.buf` file to pair with a `.stat` of generation `stat_generation`: `NAME.buf`,
/// or, when that names another generation, the backup `.NAME.buf.<generation>` that a
/// re-creation keeps of the old `.buf` while it swaps the pair (with its name).
fn open_buf(
    buf: &Path,
    stat_generation: Option<u64>,
    writable: bool,
) -> Result<(File, Option<PathBuf>), OpenError> {
    let file = open_file(buf, writable);
    let Some(g) = stat_generation else {
        return Ok((file?, None));
    };
    // Another generation's `.buf`, or none yet (a create links the `.stat` before it renames
    // the `.buf` from its backup name into place).
    let missing = matches!(&file, Err(OpenError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound);
    let other = file
        .as_ref()
        .is_ok_and(|f| buf_generation_of(f).is_some_and(|bg| bg != g));
    if missing || other {
        let backup = backup_path(buf, g);
        if let Ok(b) = open_file(&backup, writable) {
            if buf_generation_of(&b) == Some(g) {
                return Ok((b, Some(backup)));
            }
        }
    }
    Ok((file?, None))
}

/// The highest generation the queue's files name now (its header's, a `.buf`'s, a backup's
/// is not counted: `repair` has put it back first), if any: a re-creation's generation goes
/// above it even when the wall clock stepped back since the old queue was made.
pub(crate) fn current_generation(queue: &QueuePath) -> Option<u64> {
    let stat_generation =
        |path: &Path| open_for_inspection(path).and_then(|f| stat_generation_of(&f));
    match queue.backend() {
        Backend::File { stat, buf } => {
            let buf_generation = open_for_inspection(buf).and_then(|f| buf_generation_of(&f));
            stat_generation(stat).max(buf_generation)
        }
        Backend::SharedMemory { segment } => stat_generation(segment),
    }
}

/// The generation a `.buf` file's header names, if it has fmq's buffer magic.
fn buf_generation_of(file: &File) -> Option<u64> {
    match head_words(file, 2)[..] {
        [magic, generation] if magic == BUF_MAGIC => Some(generation),
        _ => None,
    }
}

/// The generation of a `.stat` file with a valid header.
fn stat_generation_of(file: &File) -> Option<u64> {
    let head = head_words(file, 8);
    sizes_from_line0(&head).and(head.get(hw::GENERATION).copied())
}

fn open_for_inspection(path: &Path) -> Option<File> {
    open_file(path, false).ok()
}

/// `.NAME.buf.<generation>`: the backup of a `.buf` kept while a re-creation swaps the pair.
fn backup_path(buf: &Path, generation: u64) -> PathBuf {
    let name = buf.file_name().unwrap_or_default().to_string_lossy();
    dir_of(buf).join(format!(".{name}.{generation}"))
}

/// A failed link into place: a name that exists now means another creator got there first.
fn link_error(queue: &QueuePath, to: &Path, e: std::io::Error) -> CreateError {
    match e.kind() {
        std::io::ErrorKind::AlreadyExists => CreateError::AlreadyExists {
            queue: queue.spec().into(),
        },
        _ => OpenError::io("link", to, e).into(),
    }
}

/// Makes the names of the queue's data files durable (`fsync` of their directory): a
/// writer that recovers a queue whose creator died between its renames and its own
/// directory sync would otherwise flush messages into files that a power loss can take away
/// whole (found by the file-layer simulator, `docs/testing.md`). A no-op for a segment in
/// shared memory, which no power loss keeps anyway.
pub(crate) fn sync_names(queue: &QueuePath) {
    if let Backend::File { stat, .. } = queue.backend() {
        sys::sync_dir(dir_of(stat));
    }
}

/// The directory holding `path` (`.` for a bare name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A fresh unpredictable name `.FILE.tmp.<128 random bits>` beside `final_path`.
fn temp_path(final_path: &Path) -> PathBuf {
    let bits = [sys::random_u64(), sys::random_u64()];
    let name = final_path.file_name().unwrap_or_default().to_string_lossy();
    dir_of(final_path).join(format!(".{name}.tmp.{:016x}{:016x}", bits[0], bits[1]))
}

/// A data file being created: unnamed (`O_TMPFILE`), or, where the file system refuses
/// that, under an unpredictable temporary name that is unlinked on every error path (and
/// when dropped before it was renamed into place).
pub(crate) struct NewFile {
    file: File,
    final_path: PathBuf,
    dir: PathBuf,
    /// The temporary name, once it has one; `None` again after the rename into place.
    named: Option<PathBuf>,
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if let Some(p) = self.named.take() {
            let _ = sys::remove_file(&p);
        }
    }
}

impl NewFile {
    /// Creates the file in `final_path`'s directory and reserves `len` bytes; `needed` is
    /// the whole queue's size, for the error line.
    fn create(
        queue: &QueuePath,
        final_path: &Path,
        len: u64,
        needed: u64,
        mode: u32,
    ) -> Result<NewFile, CreateError> {
        let dir = dir_of(final_path).to_path_buf();
        sys::create_dir_all(&dir).map_err(|e| OpenError::io("create directory", &dir, e))?;
        // Through `safepath::open`: no symbolic link in the (resolved) directory can
        // redirect the new file.
        let unnamed = crate::safepath::open(&dir, libc::O_RDWR | libc::O_TMPFILE, mode);
        let new = match unnamed {
            Ok(file) => NewFile {
                file,
                final_path: final_path.into(),
                dir,
                named: None,
            },
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) =>
            {
                let tmp = temp_path(final_path);
                let file =
                    crate::safepath::open(&tmp, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, mode)
                        .map_err(|e| OpenError::io("create", &tmp, e))?;
                NewFile {
                    file,
                    final_path: final_path.into(),
                    dir,
                    named: Some(tmp),
                }
            }
            Err(e) => return Err(OpenError::io("create a file in", &dir, e).into()),
        };
        if let Err(e) = new.file.reserve(len) {
            let dir = new.dir.clone();
            drop(new); // frees what was reserved before `free` is measured
            return Err(space_error(queue, &dir, final_path, needed, len, e));
        }
        Ok(new)
    }

    /// Gives an unnamed file its temporary name.
    fn name(&mut self) -> Result<(), OpenError> {
        if self.named.is_some() {
            return Ok(());
        }
        let mut tries = 0;
        loop {
            let tmp = temp_path(&self.final_path);
            match self.file.link_unnamed(&tmp) {
                Ok(()) => {
                    self.named = Some(tmp);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 3 => {
                    tries += 1;
                }
                Err(e) => return Err(OpenError::io("link", &tmp, e)),
            }
        }
    }

    /// Links the file (it has its temporary name) to `to`, failing if `to` exists; the
    /// temporary name goes when this is dropped.
    fn link_to(&mut self, to: &Path) -> std::io::Result<()> {
        let Some(tmp) = self.named.as_ref() else {
            return Err(std::io::Error::other("the new file has no name"));
        };
        sys::hard_link(tmp, to)
    }

    /// Renames the file into place; from then on it is the queue's, not ours to unlink.
    fn rename(&mut self) -> Result<(), OpenError> {
        let Some(tmp) = self.named.as_ref() else {
            return Err(OpenError::io(
                "rename",
                &self.final_path,
                std::io::Error::other("the new file has no name"),
            ));
        };
        sys::rename(tmp, &self.final_path).map_err(|e| OpenError::io("rename", tmp, e))?;
        self.named = None;
        Ok(())
    }
}

/// The new files of a create, in the order of [`MappedRegion::create_temp`]'s region
/// (`.stat`, `.buf`; or the segment).
pub(crate) struct NewFiles {
    files: Vec<NewFile>,
}

/// Free bytes for files in `dir` or its nearest existing ancestor (`statvfs`: available
/// blocks times the fragment size).
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut at = dir;
    while sys::symlink_metadata(at).is_err() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = Path::new(".");
                break;
            }
        }
    }
    sys::free_bytes(at)
}

/// The process's file size limit (`RLIMIT_FSIZE`, `ulimit -f`), if any.
fn file_size_limit() -> Option<u64> {
    sys::file_size_limit()
}

/// Where a queue's data files go, and their sizes: (path, bytes).
fn data_file_sizes(queue: &QueuePath, stat_len: u64, buf_len: u64) -> Vec<(&Path, u64)> {
    match queue.backend() {
        Backend::SharedMemory { segment } => vec![(segment.as_path(), stat_len + buf_len)],
        Backend::File { stat, buf } => vec![
            (stat.as_path(), stat_len),
            (buf.as_path(), BUF_HEADER_SIZE_BYTES + buf_len),
        ],
    }
}

/// The quick check before a create takes the lock or writes anything: every file within
/// the file size limit, the whole queue within the free space of its directory. The
/// reservation in [`MappedRegion::create_temp`] is the real guard and fails the same way.
pub(crate) fn check_space(
    queue: &QueuePath,
    stat_len: u64,
    buf_len: u64,
) -> Result<(), CreateError> {
    let files = data_file_sizes(queue, stat_len, buf_len);
    if let Some(limit) = file_size_limit() {
        if let Some((file, len)) = files.iter().find(|(_, len)| *len > limit) {
            return Err(CreateError::FileSizeLimit {
                queue: queue.spec().into(),
                file: file.to_path_buf(),
                needed: *len,
                limit,
            });
        }
    }
    if fault_is(CreateFault::SkipSpaceCheck) {
        return Ok(());
    }
    let needed: u64 = files.iter().map(|(_, len)| len).sum();
    let dir = dir_of(files[0].0);
    if let Ok(free) = free_bytes(dir) {
        if needed > free {
            return Err(no_space(queue, dir, needed, free));
        }
    }
    Ok(())
}

fn no_space(queue: &QueuePath, dir: &Path, needed: u64, free: u64) -> CreateError {
    CreateError::NoSpace {
        queue: queue.spec().into(),
        dir: dir.into(),
        needed,
        free,
        shared_memory: matches!(queue.backend(), Backend::SharedMemory { .. }),
    }
}

/// The error of a failed reservation: the space line for `ENOSPC`, the limit for `EFBIG`.
fn space_error(
    queue: &QueuePath,
    dir: &Path,
    file: &Path,
    needed: u64,
    len: u64,
    e: std::io::Error,
) -> CreateError {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => {
            no_space(queue, dir, needed, free_bytes(dir).unwrap_or(0))
        }
        Some(libc::EFBIG) => CreateError::FileSizeLimit {
            queue: queue.spec().into(),
            file: file.into(),
            needed: len,
            limit: file_size_limit().unwrap_or(len.saturating_sub(1)),
        },
        _ => OpenError::io("reserve space for", file, e).into(),
    }
}

/// Swaps a new `.stat` + `.buf` pair (`new.files`: stat, buf, both named) into place. See
/// [`MappedRegion::publish`]; every step is a crash point of `fmq/tests/create.rs`.
fn replace_pair(stat: &Path, buf: &Path, new: &mut NewFiles) -> Result<(), OpenError> {
    // The backup is needed only if the old files are a complete queue.
    let old = open_for_inspection(stat)
        .and_then(|f| stat_generation_of(&f))
        .filter(|g| open_for_inspection(buf).and_then(|f| buf_generation_of(&f)) == Some(*g));
    let backup = match old {
        Some(g) => {
            step(CreateStep::BackedUp)?;
            let b = backup_path(buf, g);
            let _ = sys::remove_file(&b);
            sys::hard_link(buf, &b).map_err(|e| OpenError::io("back up", buf, e))?;
            crash_after(CreateStep::BackedUp);
            Some(b)
        }
        None => None,
    };
    let drop_backup = |b: &Option<PathBuf>| {
        if let Some(b) = b {
            let _ = sys::remove_file(b);
        }
    };
    if let Err(e) = step(CreateStep::BufRenamed).and_then(|()| new.files[1].rename()) {
        drop_backup(&backup);
        return Err(e);
    }
    crash_after(CreateStep::BufRenamed);
    if let Err(e) = step(CreateStep::StatRenamed).and_then(|()| new.files[0].rename()) {
        // Put the old `.buf` back (one rename), or take the lone new one away.
        match &backup {
            Some(b) => {
                let _ = sys::rename(b, buf);
            }
            None if open_for_inspection(stat).is_none() => {
                let _ = sys::remove_file(buf);
            }
            None => {}
        }
        return Err(e);
    }
    crash_after(CreateStep::StatRenamed);
    // A failure here leaves a stale backup, which the next writer removes.
    if step(CreateStep::BackupRemoved).is_ok() {
        drop_backup(&backup);
    }
    crash_after(CreateStep::BackupRemoved);
    Ok(())
}

/// Under the writer lock, before a writer opens or re-creates a queue: finishes what a
/// re-creation that died left (a `.stat` whose `.buf` is only in its backup gets it back),
/// then removes stale backups and temporary files of the queue (nobody else can be
/// creating it while the lock is held).
pub(crate) fn repair(queue: &QueuePath) {
    let files: Vec<&Path> = queue.data_files().to_vec();
    if let Backend::File { stat, buf } = queue.backend() {
        let stat_generation = open_for_inspection(stat).and_then(|f| stat_generation_of(&f));
        let buf_generation = open_for_inspection(buf).and_then(|f| buf_generation_of(&f));
        if let Some(g) = stat_generation.filter(|g| buf_generation != Some(*g)) {
            let b = backup_path(buf, g);
            if open_for_inspection(&b).and_then(|f| buf_generation_of(&f)) == Some(g) {
                let _ = sys::rename(&b, buf);
            }
        }
    }
    let Some(first) = files.first() else {
        return;
    };
    let dir = dir_of(first);
    let Ok(entries) = sys::read_dir(dir) else {
        return;
    };
    let prefixes: Vec<String> = files
        .iter()
        .map(|f| format!(".{}.", f.file_name().unwrap_or_default().to_string_lossy()))
        .collect();
    for entry in entries {
        let name = entry.to_string_lossy();
        let leftover = prefixes.iter().any(|p| {
            name.strip_prefix(p.as_str()).is_some_and(|rest| {
                rest.starts_with("tmp.")
                    || (!rest.is_empty() && rest.bytes().all(|c| c.is_ascii_digit()))
            })
        });
        if leftover {
            let _ = sys::remove_file(&dir.join(&entry));
        }
    }
}

/// The steps of a create at which a test can stop or fail it ([`__set_create_fault`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateStep {
    /// 1: the new files were given their temporary names.
    Named = 1,
    /// 2: the old `.buf` was hard-linked to its backup name.
    BackedUp = 2,
    /// 3: the new `.buf` (or segment) was renamed into place.
    BufRenamed = 3,
    /// 4: the new `.stat` was renamed into place.
    StatRenamed = 4,
    /// 5: the backup was removed.
    BackupRemoved = 5,
}

/// A fault a test injects into creates ([`__set_create_fault`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateFault {
    /// Abort the process right after the step (a crash: nothing is cleaned up).
    CrashAfter(CreateStep),
    /// The step fails with an I/O error instead (the error path runs).
    Fail(CreateStep),
    /// Skip the free-space pre-check, so the reservation meets the full file system.
    SkipSpaceCheck,
}

static CREATE_FAULT: std::sync::Mutex<Option<CreateFault>> = std::sync::Mutex::new(None);

/// Test hook: inject `fault` into every later create of this process (`None`: none).
#[doc(hidden)]
pub fn __set_create_fault(fault: Option<CreateFault>) {
    *CREATE_FAULT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = fault;
}

fn fault_is(f: CreateFault) -> bool {
    *CREATE_FAULT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        == Some(f)
}

/// Before a step: fails it if a test asked so.
fn step(s: CreateStep) -> Result<(), OpenError> {
    if fault_is(CreateFault::Fail(s)) {
        return Err(OpenError::io(
            "create",
            Path::new("(test)"),
            std::io::Error::other(format!("injected failure at step {}", s as u32)),
        ));
    }
    Ok(())
}

/// After a step: aborts the process if a test asked so.
fn crash_after(s: CreateStep) {
    if fault_is(CreateFault::CrashAfter(s)) {
        std::process::abort();
    }
}
