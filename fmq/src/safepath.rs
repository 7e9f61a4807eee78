//! Paths that another local user cannot redirect (DESIGN §5; `docs/safety.md`, "Hostile
//! environment").
//!
//! A queue's files are named by the directory of its spec. Before fmq touches anything there,
//! [`resolve_dir`] walks that directory one component at a time and follows a symbolic link
//! only if it belongs to this user or to root (a link planted by another user, the
//! `/tmp/fmq -> /etc` trick, is refused with the link and its owner named). The result is an
//! absolute path without symbolic links, and every later open of a queue file goes through
//! [`open`], which uses `openat2(RESOLVE_NO_SYMLINKS)` where the kernel has it (Linux 5.6):
//! a link swapped into the path after the walk fails the open with `ELOOP` instead of
//! redirecting it. Where `openat2` is missing the final component is still opened with
//! `O_NOFOLLOW`.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::sys;

/// Why a queue directory cannot be used.
#[derive(Debug)]
pub enum ResolveError {
    /// A symbolic link on the way belongs to another user.
    UntrustedSymlink {
        /// The link.
        link: PathBuf,
        /// Its owner.
        owner_uid: u32,
    },
    /// More than 40 symbolic links on the way (a loop).
    TooManyLinks {
        /// The directory being resolved.
        dir: PathBuf,
    },
    /// A system call failed.
    Io {
        /// The path it was about.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The effective uid of this process.
pub(crate) fn euid() -> u32 {
    sys::euid()
}

/// Resolves `dir` to an absolute path without symbolic links, following only links that
/// belong to this user or to root. Components that do not exist yet are appended as they
/// are (whoever creates them later goes through [`open`], which refuses links).
pub fn resolve_dir(dir: &Path) -> Result<PathBuf, ResolveError> {
    let start = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    let start = if start.is_absolute() {
        start
    } else {
        let cwd = sys::current_dir().map_err(|source| ResolveError::Io {
            path: start.clone(),
            source,
        })?;
        cwd.join(start)
    };
    let me = euid();
    // Components still to walk, last first.
    let mut todo: Vec<std::ffi::OsString> = Vec::new();
    push_components(&mut todo, &start);
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    let mut missing = false;
    while let Some(name) = todo.pop() {
        if name == "." {
            continue;
        }
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&name);
        if missing {
            resolved = candidate;
            continue;
        }
        match sys::symlink_metadata(&candidate) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing = true;
                resolved = candidate;
            }
            Err(source) => {
                return Err(ResolveError::Io {
                    path: candidate,
                    source,
                })
            }
            Ok(meta) if meta.is_symlink() => {
                if meta.uid != me && meta.uid != 0 {
                    return Err(ResolveError::UntrustedSymlink {
                        link: candidate,
                        owner_uid: meta.uid,
                    });
                }
                links += 1;
                if links > 40 {
                    return Err(ResolveError::TooManyLinks { dir: start });
                }
                let target = sys::read_link(&candidate).map_err(|source| ResolveError::Io {
                    path: candidate.clone(),
                    source,
                })?;
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                push_components(&mut todo, &target);
            }
            Ok(_) => resolved = candidate,
        }
    }
    Ok(resolved)
}

/// Pushes `path`'s components onto `todo` so that the first is popped first.
fn push_components(todo: &mut Vec<std::ffi::OsString>, path: &Path) {
    let parts: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::CurDir => Some(".".into()),
            Component::RootDir | Component::Prefix(_) => None,
        })
        .collect();
    todo.extend(parts.into_iter().rev());
}

/// Opens `path` (absolute, from [`resolve_dir`]) with `flags` (`O_CLOEXEC | O_NOFOLLOW` are
/// added) and `mode` for a created file, refusing symbolic links in every component where
/// the kernel can (`openat2`), and in the last one everywhere.
pub(crate) fn open(path: &Path, flags: libc::c_int, mode: u32) -> io::Result<sys::File> {
    sys::open(path, flags, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolving_a_relative_dir_gives_an_absolute_path_without_links() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, tmp.path().join("link")).unwrap();
        let got = resolve_dir(&tmp.path().join("link").join("not-yet")).unwrap();
        let want = std::fs::canonicalize(&real).unwrap().join("not-yet");
        assert_eq!(got, want);
    }

    #[test]
    fn open_refuses_a_symlink_in_a_directory_component() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(&real, tmp.path().join("link")).unwrap();
        let err = open(&tmp.path().join("link").join("f"), libc::O_RDONLY, 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
        assert!(open(&real.join("f"), libc::O_RDONLY, 0).is_ok());
    }
}
