//! Every Unix: file identity by device and inode, non-blocking opens, and
//! the open errors with a meaning of their own.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use cap_primitives::fs::{FollowSymlinks, MetadataExt as _, OpenOptions, OpenOptionsExt};

use crate::bindings::portalocker::filelock::types::LockError;

/// A file's identity: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the open `file`.
    pub(crate) fn of(file: &File) -> Option<FileId> {
        let metadata = file.metadata().ok()?;
        Some(FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        })
    }
}

/// Whether `path` inside the directory `dir` names the open `file` now (the
/// same device and inode; a symbolic link at the path is not followed).
pub(crate) fn names(dir: &File, path: &Path, file: &File) -> bool {
    let (Ok(named), Some(held)) = (
        cap_primitives::fs::stat(dir, path, FollowSymlinks::No),
        FileId::of(file),
    ) else {
        return false;
    };
    named.dev() == held.dev && named.ino() == held.ino
}

/// Opens FIFOs and devices without waiting for a peer, and never makes a
/// terminal the host's controlling terminal. For regular files these flags
/// change nothing.
pub(crate) fn never_block(options: &mut OpenOptions) {
    options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
}

/// The guest's error for an open that failed with an error only Unix gives
/// a meaning of its own.
pub(crate) fn open_error(err: &io::Error) -> Option<LockError> {
    match err.raw_os_error()? {
        // A symbolic link loop, or a final symbolic link when following is off.
        libc::ELOOP => Some(LockError::BadPath),
        // Opening a FIFO for writing without blocking, with no reader.
        libc::ENXIO => Some(LockError::NotLockable),
        _ => None,
    }
}
