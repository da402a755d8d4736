//! fs4's locking API for WASI guests: [`FileExt`] and [`TryLockError`] with
//! the names and signatures of fs4 1.x's `fs_std::FileExt`, over
//! [`FileLockExt`].
//!
//! fs4 has no `FileExt` for WASI. Code written against it switches by
//! changing one import:
//!
//! ```text
//! - use fs4::fs_std::FileExt;
//! - use fs4::TryLockError;
//! + use portalocker_guest::fs4::{FileExt, TryLockError};
//! ```
//!
//! Call the methods as `FileExt::lock(&file)`, as fs4 code must already do
//! since Rust 1.89: `file.lock()` in method syntax is std's inherent
//! `File::lock`, which returns `Unsupported` on WASI. `allocate` and
//! `allocated_size` are not here (they are no locking).

use std::fmt;
use std::io;

use crate::{ErrorKind, FileLockExt, Mode};

/// The error of [`FileExt::try_lock`] and [`FileExt::try_lock_shared`], as
/// fs4's (and `std::fs::TryLockError`).
#[derive(Debug)]
pub enum TryLockError {
    /// The lock could not be taken because of an error.
    Error(io::Error),
    /// The lock is held elsewhere in a conflicting mode.
    WouldBlock,
}

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::Error(err) => err.fmt(f),
            TryLockError::WouldBlock => {
                f.write_str("try_lock failed because the operation would block")
            }
        }
    }
}

impl std::error::Error for TryLockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryLockError::Error(err) => Some(err),
            TryLockError::WouldBlock => None,
        }
    }
}

impl From<TryLockError> for io::Error {
    fn from(err: TryLockError) -> Self {
        match err {
            TryLockError::Error(err) => err,
            TryLockError::WouldBlock => io::Error::from(io::ErrorKind::WouldBlock),
        }
    }
}

impl From<crate::Error> for TryLockError {
    fn from(err: crate::Error) -> Self {
        if err.kind() == ErrorKind::AlreadyLocked {
            TryLockError::WouldBlock
        } else {
            TryLockError::Error(err.into())
        }
    }
}

/// fs4's `FileExt` locking methods, for every type with a file descriptor
/// (`std::fs::File` first of all).
///
/// # Examples
///
/// ```no_run
/// use std::fs::File;
///
/// use portalocker_guest::fs4::{FileExt, TryLockError};
///
/// # fn main() -> std::io::Result<()> {
/// let file = File::create("app.lock")?;
/// match FileExt::try_lock(&file) {
///     Ok(()) => FileExt::unlock(&file)?,
///     Err(TryLockError::WouldBlock) => println!("another instance runs"),
///     Err(TryLockError::Error(err)) => return Err(err),
/// }
/// # Ok(())
/// # }
/// ```
pub trait FileExt {
    /// Takes a shared lock, waiting while it is held exclusively elsewhere.
    ///
    /// # Errors
    ///
    /// As [`FileLockExt::lock_file`], converted to [`io::Error`].
    fn lock_shared(&self) -> io::Result<()>;

    /// Takes an exclusive lock, waiting while it is held elsewhere.
    ///
    /// # Errors
    ///
    /// As [`FileLockExt::lock_file`], converted to [`io::Error`].
    fn lock(&self) -> io::Result<()>;

    /// Takes a shared lock if that is possible at once.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] when it is held exclusively elsewhere,
    /// [`TryLockError::Error`] for the errors of [`FileLockExt::try_lock_file`].
    fn try_lock_shared(&self) -> Result<(), TryLockError>;

    /// Takes an exclusive lock if that is possible at once.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] when it is held elsewhere,
    /// [`TryLockError::Error`] for the errors of [`FileLockExt::try_lock_file`].
    fn try_lock(&self) -> Result<(), TryLockError>;

    /// Releases the lock.
    ///
    /// # Errors
    ///
    /// As [`FileLockExt::unlock_file`], converted to [`io::Error`].
    fn unlock(&self) -> io::Result<()>;
}

impl<T: FileLockExt> FileExt for T {
    fn lock_shared(&self) -> io::Result<()> {
        Ok(self.lock_file(Mode::Shared)?)
    }

    fn lock(&self) -> io::Result<()> {
        Ok(self.lock_file(Mode::Exclusive)?)
    }

    fn try_lock_shared(&self) -> Result<(), TryLockError> {
        Ok(self.try_lock_file(Mode::Shared)?)
    }

    fn try_lock(&self) -> Result<(), TryLockError> {
        Ok(self.try_lock_file(Mode::Exclusive)?)
    }

    fn unlock(&self) -> io::Result<()> {
        Ok(self.unlock_file()?)
    }
}
