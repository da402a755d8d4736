//! Unix: the cache directory and its entries must be private. The directory
//! is opened with `O_NOFOLLOW | O_DIRECTORY` and must be this user's and
//! writable by nobody else; every directory above it must belong to this
//! user or to root and be writable by nobody else unless it is sticky (as
//! `/tmp` is), so nobody else can move the cache away and put theirs in
//! its place. Entries must be regular files of this user's, mode 0600, with
//! one link (a hard link from elsewhere could be changed through its other
//! name).

use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use cap_primitives::fs::{OpenOptions, OpenOptionsExt as _};

/// Why a cache directory is not used.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The directory could not be created or opened.
    #[error("cannot open `{}`: {source}", path.display())]
    Open {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The directory is a symbolic link.
    #[error("`{}` is a symbolic link", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// The directory is another user's, or others may write to it.
    #[error("`{}` must belong to you and be writable by nobody else", path.display())]
    NotPrivate {
        /// The directory.
        path: PathBuf,
    },
    /// A directory above it is another user's, or others may write to it.
    #[error(
        "`{}` is writable by others or another user's: they could replace the cache inside it",
        path.display()
    )]
    UnsafeParent {
        /// The directory above the cache.
        path: PathBuf,
    },
}

/// The sticky bit of a directory's mode (`S_ISVTX`): only an entry's owner
/// may rename or remove it.
const STICKY: u32 = 0o1000;

/// This process's effective user.
fn me() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks `dir` (canonical) and every directory above it.
fn check_ancestors(dir: &Path) -> Result<(), Refusal> {
    for ancestor in dir.ancestors() {
        let metadata = std::fs::symlink_metadata(ancestor).map_err(|source| Refusal::Open {
            path: ancestor.to_path_buf(),
            source,
        })?;
        let owner_ok = metadata.uid() == me() || metadata.uid() == 0;
        let sticky = metadata.mode() & STICKY != 0;
        if !owner_ok || (metadata.mode() & 0o022 != 0 && !sticky) {
            return Err(Refusal::UnsafeParent {
                path: ancestor.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// `path` canonical, or, if it does not exist, its nearest existing
/// ancestor canonical.
fn nearest_existing(path: &Path) -> Result<PathBuf, Refusal> {
    let mut candidate = path;
    loop {
        match std::fs::canonicalize(candidate) {
            Ok(real) => return Ok(real),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                candidate = match candidate.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent,
                    _ => Path::new("."),
                };
            }
            Err(source) => {
                return Err(Refusal::Open {
                    path: candidate.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// Creates (readable and writable by this user only) and opens the cache
/// directory `dir`, after checking the directories above it; checks the
/// directory itself on the descriptor.
pub(super) fn open_dir(dir: &Path) -> Result<File, Refusal> {
    let open_error = |source| Refusal::Open {
        path: dir.to_path_buf(),
        source,
    };
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // Nothing is created where others could meddle.
    check_ancestors(&nearest_existing(parent)?)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(open_error)?;
    let parent = std::fs::canonicalize(parent).map_err(open_error)?;
    check_ancestors(&parent)?;
    let name = dir.file_name().ok_or_else(|| Refusal::NotPrivate {
        path: dir.to_path_buf(),
    })?;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
        .open(parent.join(name))
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => Refusal::Symlink {
                path: dir.to_path_buf(),
            },
            _ => open_error(source),
        })?;
    let metadata = opened.metadata().map_err(open_error)?;
    if metadata.uid() != me() || metadata.mode() & 0o022 != 0 {
        return Err(Refusal::NotPrivate {
            path: dir.to_path_buf(),
        });
    }
    Ok(opened)
}

/// Checks that the open entry `file` is a regular file of this user's, mode
/// 0600, with one link; says what is wrong otherwise.
pub(super) fn check_entry(file: &File) -> Result<(), String> {
    let metadata = file.metadata().map_err(|err| err.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".to_owned());
    }
    if metadata.uid() != me() {
        return Err(format!("owned by user {}", metadata.uid()));
    }
    if metadata.mode() & 0o777 != 0o600 {
        return Err(format!("mode {:o}, not 600", metadata.mode() & 0o777));
    }
    if metadata.nlink() != 1 {
        return Err(format!("{} links to it", metadata.nlink()));
    }
    Ok(())
}

/// Makes `options` create a file readable and writable by this user only.
pub(super) fn private_file(options: &mut OpenOptions) {
    options.mode(0o600);
}

/// Makes `options` open without waiting: an entry that is a FIFO would
/// otherwise block the open until somebody writes to it; this way
/// [`check_entry`] gets to refuse it.
pub(super) fn without_blocking(options: &mut OpenOptions) {
    options.custom_flags(libc::O_NONBLOCK);
}
