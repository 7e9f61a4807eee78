//! Queue names (DESIGN §2): which files or shared-memory segment a queue spec means.
//!
//! * `DIR/NAME`: a file-backed queue, `DIR/NAME.stat` + `DIR/NAME.buf`, lock `DIR/NAME.lock`.
//! * `DIR/shmem_KEY` (LROSE's convention, e.g. `/tmp/fmq/ts/shmem_10002`): shared memory, the
//!   segment `/dev/shm/fmq.shmem_KEY`, lock `DIR/shmem_KEY.lock`. Like LROSE's System V keys,
//!   the key names one segment per host whatever the directory.
//! * `shm:NAME`: shared memory, the segment `/dev/shm/NAME`, lock `/dev/shm/NAME.lock`.
//!
//! `FMQ_SHM_DIR` moves the segments out of `/dev/shm` (any tmpfs works; tests use it).
//!
//! Lock files and queue data never share a name: every lock file ends in `.lock`, no data
//! file does (`.stat`, `.buf`, and a `shm:` name ending in `.lock` is refused), so creating
//! one queue can never truncate another's segment. [`QueuePath::resolve`] also resolves the
//! directory without following other users' symbolic links (`crate::safepath`).

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a queue lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// One shared-memory segment: the stat part, then the buffer.
    SharedMemory {
        /// The segment's file (in `/dev/shm`).
        segment: PathBuf,
    },
    /// Two memory-mapped files.
    File {
        /// `NAME.stat`: header and slot table.
        stat: PathBuf,
        /// `NAME.buf`: a 64-byte buffer header, then the message buffer.
        buf: PathBuf,
    },
}

/// A queue's name: the files (or shared-memory segment) and the lock file a spec names.
///
/// | spec | data | lock |
/// |---|---|---|
/// | `DIR/NAME` | `DIR/NAME.stat`, `DIR/NAME.buf` | `DIR/NAME.lock` |
/// | `DIR/shmem_KEY` | segment `/dev/shm/fmq.shmem_KEY` | `DIR/shmem_KEY.lock` |
/// | `shm:NAME` | segment `/dev/shm/NAME` | `/dev/shm/NAME.lock` |
///
/// `FMQ_SHM_DIR` moves the segments out of `/dev/shm`. Every function that takes a queue
/// takes anything that is [`IntoQueuePath`]: a `QueuePath`, a `&str`, a `String`, a `&Path`
/// or a `PathBuf`.
///
/// ```
/// use fmq::QueuePath;
///
/// let q = QueuePath::parse("/data/radar/moments")?;
/// assert!(!q.is_shared_memory());
/// assert_eq!(q.lock_path(), std::path::Path::new("/data/radar/moments.lock"));
/// assert!(QueuePath::parse("shm:demo")?.is_shared_memory());
/// assert!(QueuePath::parse("dir/").is_err());
/// # Ok::<(), fmq::BadQueueName>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuePath {
    spec: String,
    backend: Backend,
    lock: PathBuf,
}

/// A queue spec that names no queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadQueueName {
    /// The spec as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for BadQueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad queue name {:?}: {}", self.spec, self.reason)
    }
}

impl std::error::Error for BadQueueName {}

/// The directory holding shared-memory segments: `$FMQ_SHM_DIR`, else `/dev/shm`.
pub(crate) fn shm_dir() -> PathBuf {
    match std::env::var_os("FMQ_SHM_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from("/dev/shm"),
    }
}

fn valid_component(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0')
        && name.len() <= 200
}

impl QueuePath {
    /// Parses a queue spec.
    pub fn parse(spec: &str) -> Result<QueuePath, BadQueueName> {
        let bad = |reason| BadQueueName {
            spec: spec.to_string(),
            reason,
        };
        if let Some(name) = spec.strip_prefix("shm:") {
            if !valid_component(name) {
                return Err(bad("a shm:NAME needs a NAME without '/'"));
            }
            if name.ends_with(".lock") {
                return Err(bad(
                    "a shm:NAME cannot end in .lock (that name is the lock file of another queue)",
                ));
            }
            let dir = shm_dir();
            return Ok(QueuePath {
                spec: spec.to_string(),
                backend: Backend::SharedMemory {
                    segment: dir.join(name),
                },
                lock: dir.join(format!("{name}.lock")),
            });
        }
        let path = Path::new(spec);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("the last path component must be a UTF-8 name"))?;
        if !valid_component(name) || spec.ends_with('/') {
            return Err(bad("the last path component must be a name"));
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        let lock = dir.join(format!("{name}.lock"));
        let backend = match name.strip_prefix("shmem_") {
            Some(key) if !key.is_empty() => Backend::SharedMemory {
                segment: shm_dir().join(format!("fmq.shmem_{key}")),
            },
            _ => Backend::File {
                stat: dir.join(format!("{name}.stat")),
                buf: dir.join(format!("{name}.buf")),
            },
        };
        Ok(QueuePath {
            spec: spec.to_string(),
            backend,
            lock,
        })
    }

    /// Parses a queue spec and resolves its directory to an absolute path without symbolic
    /// links, following only links that belong to this user or to root (DESIGN §5): another
    /// local user cannot redirect a queue's files with a planted link.
    pub(crate) fn resolved(&self) -> Result<QueuePath, crate::error::OpenError> {
        use crate::safepath::{resolve_dir, ResolveError};
        let lexical = self;
        let map_err = |e: ResolveError| match e {
            ResolveError::UntrustedSymlink { link, owner_uid } => {
                crate::error::OpenError::UntrustedSymlink { link, owner_uid }
            }
            ResolveError::TooManyLinks { dir } => crate::error::OpenError::io(
                "resolve",
                dir,
                std::io::Error::from_raw_os_error(libc::ELOOP),
            ),
            ResolveError::Io { path, source } => {
                crate::error::OpenError::io("resolve", path, source)
            }
        };
        let rebase = |p: &Path| -> Result<PathBuf, crate::error::OpenError> {
            let dir = resolve_dir(p.parent().unwrap_or(Path::new(""))).map_err(map_err)?;
            Ok(dir.join(p.file_name().unwrap_or_default()))
        };
        let backend = match &lexical.backend {
            Backend::SharedMemory { segment } => Backend::SharedMemory {
                segment: rebase(segment)?,
            },
            Backend::File { stat, buf } => Backend::File {
                stat: rebase(stat)?,
                buf: rebase(buf)?,
            },
        };
        Ok(QueuePath {
            spec: lexical.spec.clone(),
            backend,
            lock: rebase(&lexical.lock)?,
        })
    }

    /// The spec as given.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// The backend and its data files.
    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The writer's lock file.
    pub fn lock_path(&self) -> &Path {
        &self.lock
    }

    /// Whether this is a shared-memory queue.
    pub fn is_shared_memory(&self) -> bool {
        matches!(self.backend, Backend::SharedMemory { .. })
    }

    /// The data files: the segment, or `.stat` then `.buf`.
    pub fn data_files(&self) -> Vec<&Path> {
        match &self.backend {
            Backend::SharedMemory { segment } => vec![segment],
            Backend::File { stat, buf } => vec![stat, buf],
        }
    }

    /// The directory that holds the lock file (created by writers when missing).
    pub(crate) fn lock_dir(&self) -> &Path {
        self.lock.parent().unwrap_or(Path::new(""))
    }
}

impl std::str::FromStr for QueuePath {
    type Err = BadQueueName;

    fn from_str(spec: &str) -> Result<QueuePath, BadQueueName> {
        QueuePath::parse(spec)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What names a queue: a [`QueuePath`], or a spec (`&str`, `String`, `&Path`, `PathBuf`)
/// that parses into one. Sealed: fmq decides what a queue name is.
pub trait IntoQueuePath: sealed::Sealed {
    /// The queue path this names.
    fn into_queue_path(self) -> Result<QueuePath, BadQueueName>;
}

macro_rules! into_queue_path_by_str {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl IntoQueuePath for $t {
            fn into_queue_path(self) -> Result<QueuePath, BadQueueName> {
                QueuePath::parse(self.as_ref())
            }
        }
    )*};
}
into_queue_path_by_str!(&str, String, &String);

macro_rules! into_queue_path_by_path {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl IntoQueuePath for $t {
            fn into_queue_path(self) -> Result<QueuePath, BadQueueName> {
                let path: &Path = self.as_ref();
                match path.to_str() {
                    Some(spec) => QueuePath::parse(spec),
                    None => Err(BadQueueName {
                        spec: path.to_string_lossy().into_owned(),
                        reason: "a queue path must be UTF-8",
                    }),
                }
            }
        }
    )*};
}
into_queue_path_by_path!(&Path, PathBuf, &PathBuf);

impl sealed::Sealed for QueuePath {}
impl IntoQueuePath for QueuePath {
    fn into_queue_path(self) -> Result<QueuePath, BadQueueName> {
        Ok(self)
    }
}

impl sealed::Sealed for &QueuePath {}
impl IntoQueuePath for &QueuePath {
    fn into_queue_path(self) -> Result<QueuePath, BadQueueName> {
        Ok(self.clone())
    }
}

/// Parses and resolves a queue name, the first step of every operation.
pub(crate) fn resolve(queue: impl IntoQueuePath) -> Result<QueuePath, crate::error::OpenError> {
    queue.into_queue_path()?.resolved()
}

impl fmt::Display for QueuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shmem_key_component_names_a_shared_memory_segment_and_a_lock_beside_the_path() {
        let q = QueuePath::parse("/tmp/fmq/ts/shmem_10002").unwrap();
        match q.backend() {
            Backend::SharedMemory { segment } => {
                assert!(segment.ends_with("fmq.shmem_10002"), "{segment:?}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(q.lock_path(), Path::new("/tmp/fmq/ts/shmem_10002.lock"));
    }

    #[test]
    fn plain_name_is_file_backed_with_stat_buf_and_lock() {
        let q = QueuePath::parse("dir/radar").unwrap();
        assert_eq!(
            q.backend(),
            &Backend::File {
                stat: "dir/radar.stat".into(),
                buf: "dir/radar.buf".into()
            }
        );
        assert_eq!(q.lock_path(), Path::new("dir/radar.lock"));
    }

    #[test]
    fn shm_spec_puts_segment_and_lock_in_the_shm_dir() {
        let q = QueuePath::parse("shm:demo").unwrap();
        assert!(q.is_shared_memory());
        assert_eq!(q.lock_path().file_name().unwrap(), "demo.lock");
    }

    #[test]
    fn names_without_a_final_component_are_refused() {
        for spec in ["", "shm:", "shm:a/b", "dir/", "..", "/", "shm:a.lock"] {
            assert!(QueuePath::parse(spec).is_err(), "{spec:?} accepted");
        }
    }
}
