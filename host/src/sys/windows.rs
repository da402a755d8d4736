//! Windows: no file identity yet (waiters then poll, and the temporary
//! lock's identity check only sees that the path exists), plain opens, and
//! no open errors with a meaning of their own.

use std::fs::File;
use std::io;
use std::path::Path;

use cap_primitives::fs::{FollowSymlinks, OpenOptions};

use crate::bindings::portalocker::filelock::types::LockError;

/// A file's identity; none is read on Windows yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId(());

impl FileId {
    /// The identity of the open `file`: not known here.
    pub(crate) fn of(_file: &File) -> Option<FileId> {
        None
    }
}

/// Whether `path` inside `dir` names the open file: without identities to
/// compare, only whether the path still exists.
pub(crate) fn names(dir: &File, path: &Path, _file: &File) -> bool {
    cap_primitives::fs::stat(dir, path, FollowSymlinks::No).is_ok()
}

/// Directories are not flushed on Windows (NTFS journals its metadata, and
/// flushing needs a directory handle opened for writing).
pub(crate) fn sync_dir(_dir: &File, _path: &Path) -> io::Result<()> {
    Ok(())
}

/// Whether `err` is `ERROR_TOO_MANY_OPEN_FILES`.
pub(crate) fn too_many_files(err: &io::Error) -> bool {
    err.raw_os_error() == Some(4)
}

/// Opens on Windows never wait for a peer: nothing to add.
pub(crate) fn never_block(_options: &mut OpenOptions) {}

/// No Windows open error has a meaning beyond its kind.
pub(crate) fn open_error(_err: &io::Error) -> Option<LockError> {
    None
}

/// Whether `file` is a regular file.
pub(crate) fn is_regular(file: &File) -> bool {
    file.metadata().is_ok_and(|metadata| metadata.is_file())
}

/// What a lock call that may block came back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// The lock is held.
    Acquired,
    /// The wait was interrupted; nothing is held.
    Interrupted,
}

/// Waiting in the kernel is not implemented on Windows: waiters poll.
pub(crate) fn flock_blocking(_file: &File, _exclusive: bool) -> io::Result<Blocked> {
    Err(io::ErrorKind::Unsupported.into())
}

/// A thread that could be interrupted; never used on Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Thread;

impl Thread {
    /// The calling thread.
    pub(crate) fn current() -> Thread {
        Thread
    }
}

/// There are no signals to take on Windows.
pub(crate) fn take_signal(_signal: i32) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Never reached: no signal is ever taken on Windows.
pub(crate) fn prepare_thread(_signal: i32, _own: bool) -> bool {
    false
}

/// Never reached: no signal is ever taken on Windows.
pub(crate) fn interrupt(_thread: Thread, _signal: i32) {}
