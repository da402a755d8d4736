//! Temporary lock files, portalocker's `TemporaryFileLock`.

use crate::bindings::portalocker::filelock::path_lock;
use crate::lock::lock_error;
use crate::{Error, Mode};

/// A held lock on a lock file that exists only while it is held: removed on
/// [`release`](Self::release) or drop, safely with any number of contenders
/// (see the WIT `temporary-lock`), and only while its path still names the
/// file held (a file somebody else put there meanwhile is left alone). It
/// excludes portalocker's `TemporaryFileLock` on the same path. Make one
/// with [`Lock::acquire_temporary`](crate::Lock::acquire_temporary).
#[must_use = "if unused the lock will immediately unlock"]
#[derive(Debug)]
pub struct TemporaryLock {
    inner: path_lock::TemporaryLock,
    path: String,
    mode: Mode,
}

impl TemporaryLock {
    pub(crate) fn new(inner: path_lock::TemporaryLock, path: &str, mode: Mode) -> Self {
        TemporaryLock {
            inner,
            path: path.to_owned(),
            mode,
        }
    }

    /// Removes the lock file (if it is still the one held) and releases the
    /// lock.
    ///
    /// # Errors
    ///
    /// An `Io` error if the file could not be removed (the lock is released
    /// all the same).
    pub fn release(self) -> Result<(), Error> {
        self.inner
            .release()
            .map_err(|e| lock_error(e, &self.path, self.mode))
    }
}
