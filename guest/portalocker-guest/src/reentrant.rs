//! Reentrant locks, portalocker's `RLock`.

use wasip2::filesystem::types::Descriptor;

use crate::bindings::portalocker::filelock::path_lock;
use crate::bindings::portalocker::filelock::types::LockOptions;
use crate::lock::lock_error;
use crate::{Error, Mode};

/// A reentrant lock: the same object acquired k times needs k releases, and
/// the file is unlocked only after the last. Another `ReentrantLock` (or any
/// other lock) on the same path contends as usual. Make one with
/// [`Lock::reentrant`](crate::Lock::reentrant); dropping it releases the lock
/// whatever the count.
#[derive(Debug)]
pub struct ReentrantLock {
    inner: path_lock::ReentrantLock,
    path: String,
    mode: Mode,
}

impl ReentrantLock {
    pub(crate) fn open(
        dir: &Descriptor,
        relative: &str,
        options: LockOptions,
        path: &str,
        mode: Mode,
    ) -> Result<Self, Error> {
        let inner = path_lock::ReentrantLock::open(dir, relative, options)
            .map_err(|e| lock_error(e, path, mode))?;
        Ok(ReentrantLock {
            inner,
            path: path.to_owned(),
            mode,
        })
    }

    /// Acquires once more; the first acquisition locks the file, waiting as
    /// the lock's timeout says.
    ///
    /// # Errors
    ///
    /// As [`Lock::acquire`](crate::Lock::acquire), for the first acquisition.
    pub fn acquire(&self) -> Result<(), Error> {
        self.inner
            .acquire()
            .map_err(|e| lock_error(e, &self.path, self.mode))
    }

    /// Gives back one acquisition; the last unlocks the file.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotHeld`](crate::ErrorKind::NotHeld) when nothing is held.
    pub fn release(&self) -> Result<(), Error> {
        self.inner
            .release()
            .map_err(|e| lock_error(e, &self.path, self.mode))
    }

    /// How many acquisitions are held now.
    pub fn count(&self) -> u32 {
        self.inner.count()
    }
}
