//! Whole-file locks: `flock(2)` on Unix, `LockFileEx` on Windows, on the
//! open file itself (see `sys::try_lock_file`).
//!
//! The lock belongs to the open file, so two open files of the same path
//! conflict even in one process, and every guest of a host is a separate
//! locker. POSIX `fcntl`/`lockf` record locks are never used: they belong
//! to the whole process, so every guest in one host would share them.
//! Locking an open file that holds the lock already converts it (or, in the
//! held mode, changes nothing), and one release ends it, on every platform.

use std::fs::File;
use std::io;
use std::sync::Arc;

use super::{Attempt, Blocked, LockKey, Lockable};
use crate::bindings::portalocker::filelock::types::LockMode;
use crate::sys::{self, FileId};

/// The whole-file lock of one open file: what the wait engine waits for.
pub(crate) struct WholeFile {
    file: Arc<File>,
    /// The first byte locked where the platform locks bytes (Windows).
    start: u64,
}

impl WholeFile {
    /// The whole-file lock of `file`.
    pub(crate) fn of(file: &Arc<File>) -> WholeFile {
        WholeFile::from(file, 0)
    }

    /// The lock of `file` that starts at byte `start` where the platform
    /// locks bytes: on Windows, where locks are mandatory, the bytes before
    /// it stay readable to other handles (a PID file's record). On Unix
    /// `flock` locks the open file, whatever `start` says. Releasing it is
    /// [`WholeFile::of`]'s release.
    pub(crate) fn from(file: &Arc<File>, start: u64) -> WholeFile {
        WholeFile {
            file: Arc::clone(file),
            start,
        }
    }

    /// The whole-file lock of `file`, shared with a wait.
    pub(crate) fn shared(file: &Arc<File>) -> Arc<WholeFile> {
        Arc::new(WholeFile::of(file))
    }
}

impl Lockable for WholeFile {
    fn key(&self) -> Option<LockKey> {
        FileId::of(&self.file).map(LockKey::File)
    }

    fn try_lock(&self, mode: LockMode) -> io::Result<Attempt> {
        sys::try_lock_file(&self.file, mode, self.start)
    }

    /// Regular files only: a FIFO, a device or a socket is only ever tried
    /// without waiting.
    fn blocks_in_kernel(&self) -> bool {
        sys::is_regular(&self.file)
    }

    fn lock_blocking(&self, mode: LockMode) -> io::Result<Blocked> {
        sys::flock_blocking(&self.file, mode == LockMode::Exclusive)
    }

    fn unlock(&self) -> io::Result<()> {
        sys::unlock_file(&self.file)
    }

    /// The open file's `Arc`: every `WholeFile` of it is the same lock.
    fn open_file(&self) -> usize {
        Arc::as_ptr(&self.file).cast::<()>().addr()
    }
}

#[cfg(test)]
#[path = "whole_file_tests.rs"]
mod tests;
